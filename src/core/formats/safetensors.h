/*-------------------------------------------------------------------------
 *
 * safetensors.h
 *	  Reader for Hugging Face safetensors files and their shard index.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes
 * of JSON, then the data buffer.  The JSON object maps each tensor name to
 * {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * (offsets relative to the data buffer, shape row-major: the last
 * dimension varies fastest), plus an optional "__metadata__" object of
 * string values.
 *
 * safetensors_open() checks (any failure returns an error, no file):
 *	- 8 + N <= file length, N <= 100,000,000 (the reference
 *	  implementation's limit), the header starts with '{' and is valid
 *	  JSON by the rules of json.h (duplicate tensor names are therefore
 *	  rejected);
 *	- every entry has a known dtype (unknown names, including sub-byte
 *	  types: PGI_ERR_UNSUPPORTED naming the dtype), a shape of 0..8
 *	  non-negative integers, and data_offsets of two integers with
 *	  begin <= end <= data length and end - begin == product(shape) *
 *	  dtype size (no overflow);
 *	- the tensors' byte ranges, sorted, tile the data buffer exactly: no
 *	  overlap, no gap, nothing after the last tensor (the reference
 *	  implementation's rule, which keeps polyglot files out);
 *	- names contain no NUL byte; __metadata__, if present, is an object
 *	  whose values are strings.
 * Malformed files give PGI_ERR_CORRUPT, unknown dtypes
 * PGI_ERR_UNSUPPORTED.
 *
 * Every known dtype is accepted by safetensors_open, since its layout can
 * be checked (BERT checkpoints often carry an I64 position_ids buffer
 * next to float weights); a loader calls safetensors_check_float() on
 * each tensor it uses, which accepts F32, F16 and BF16 and rejects the
 * others with PGI_ERR_UNSUPPORTED naming the tensor and the dtype.
 *
 * Nothing is copied: names point into the parsed header, data into the
 * caller's buffer, which must outlive the SafetensorsFile.
 *
 * src/core/formats/safetensors.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/formats/json.h"
#include "core/pgi_status.h"

#define ST_MAX_DIMS		8
#define ST_MAX_HEADER	100000000

typedef enum SafetensorsDtype
{
	ST_BOOL = 0,
	ST_U8,
	ST_I8,
	ST_F8_E5M2,
	ST_F8_E4M3,
	ST_F8_E8M0,
	ST_I16,
	ST_U16,
	ST_F16,
	ST_BF16,
	ST_I32,
	ST_U32,
	ST_F32,
	ST_F64,
	ST_I64,
	ST_U64,
	ST_DTYPE_COUNT
} SafetensorsDtype;

typedef struct SafetensorsTensor
{
	const char *name;			/* NUL-terminated */
	size_t		name_len;
	SafetensorsDtype dtype;
	int			n_dims;			/* 0 (scalar) .. 8 */
	uint64_t	shape[ST_MAX_DIMS]; /* row-major; unused entries 0 */
	uint64_t	n_elements;
	uint64_t	n_bytes;
	uint64_t	offset;			/* of the data, from the start of the file */
	const uint8_t *data;		/* points into the caller's buffer */
} SafetensorsTensor;

typedef struct SafetensorsFile SafetensorsFile;

/* Parse data[0..len-1]; on success *out must be released with safetensors_free */
extern PgiStatus safetensors_open(const uint8_t *data, size_t len,
								  SafetensorsFile **out, PgiError *err);
extern void safetensors_free(SafetensorsFile *f);

/* Tensors in header order, or by name (NULL if absent) */
extern size_t safetensors_n_tensors(const SafetensorsFile *f);
extern const SafetensorsTensor *safetensors_tensor(const SafetensorsFile *f, size_t i);
extern const SafetensorsTensor *safetensors_find(const SafetensorsFile *f,
												 const char *name);
/* File offset of the data buffer (8 + header length) */
extern uint64_t safetensors_data_offset(const SafetensorsFile *f);

/* The __metadata__ object (NULL if absent) and one of its strings */
extern const JsonValue *safetensors_metadata(const SafetensorsFile *f);
extern const char *safetensors_meta_str(const SafetensorsFile *f, const char *key);

extern const char *safetensors_dtype_name(SafetensorsDtype d);
extern size_t safetensors_dtype_size(SafetensorsDtype d);

/* PGI_OK for F32/F16/BF16 tensors, PGI_ERR_UNSUPPORTED naming t otherwise */
extern PgiStatus safetensors_check_float(const SafetensorsTensor *t, PgiError *err);

/*
 * model.safetensors.index.json: {"metadata": {"total_size": N, ...},
 * "weight_map": {"tensor name": "shard file name", ...}}.  Shard names must
 * be plain file names (no '/', '\\' or NUL, not "." or "..", at most 255
 * bytes), so a loader can join them to the model directory safely.
 */
typedef struct SafetensorsIndexEntry
{
	const char *tensor;			/* NUL-terminated */
	const char *file;			/* NUL-terminated shard file name */
	size_t		file_index;		/* into safetensors_index_file() */
} SafetensorsIndexEntry;

typedef struct SafetensorsIndex SafetensorsIndex;

extern PgiStatus safetensors_index_parse(const char *data, size_t len,
										 SafetensorsIndex **out, PgiError *err);
extern void safetensors_index_free(SafetensorsIndex *ix);
/* Entries in document order */
extern size_t safetensors_index_n_entries(const SafetensorsIndex *ix);
extern const SafetensorsIndexEntry *safetensors_index_entry(const SafetensorsIndex *ix,
															size_t i);
/* Distinct shard files, sorted by name */
extern size_t safetensors_index_n_files(const SafetensorsIndex *ix);
extern const char *safetensors_index_file(const SafetensorsIndex *ix, size_t i);
/* Shard holding a tensor, NULL if not listed */
extern const char *safetensors_index_lookup(const SafetensorsIndex *ix,
											const char *tensor);
/* metadata.total_size, false if absent */
extern bool safetensors_index_total_size(const SafetensorsIndex *ix, uint64_t *out);

#endif							/* SAFETENSORS_H */
