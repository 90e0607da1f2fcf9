/*-------------------------------------------------------------------------
 *
 * gguf.h
 *	  Reader for GGUF v2/v3 model files (ggml docs/gguf.md).
 *
 * gguf_open() parses and checks a whole GGUF file held in memory (normally
 * a read-only mmap) and builds an index of its metadata and tensors.
 * Nothing is copied except keys and tensor names (NUL-terminated, for
 * lookups and messages): string values, arrays and tensor data are
 * pointers into the caller's buffer, which must outlive the GgufFile.
 *
 * Checks (any failure returns an error and no GgufFile):
 *	- magic "GGUF", version 2 or 3 (1 and big-endian files: unsupported);
 *	- KV and tensor counts <= 2^20 and small enough for the bytes left;
 *	- keys 1..65535 bytes of printable ASCII, unique;
 *	- value types 0..12; bool bytes 0 or 1; string lengths within the
 *	  file; array element counts within the file; arrays of arrays are
 *	  rejected as unsupported (ggml does not read them either);
 *	- general.alignment, if present, an integer power of two <= 2^30
 *	  (default 32);
 *	- tensor names 1..256 bytes without NUL, unique; 1..4 dimensions, each
 *	  >= 1; a known ggml type (unknown or removed ids: unsupported); ne[0]
 *	  a multiple of the block size; element count and byte size without
 *	  overflow; data offset a multiple of the alignment; data inside the
 *	  file; no two tensors' data overlap.
 * Malformed files give PGI_ERR_CORRUPT, well-formed files using features
 * we do not read give PGI_ERR_UNSUPPORTED, and allocation failure gives
 * PGI_ERR_NOMEM.  The message names the key or tensor at fault; the detail
 * says which rule it broke.
 *
 * Memory: the index takes at most a few times the size of the file's
 * header (about 72 bytes per key, 88 per tensor, 8 per string-array
 * element, each of which takes at least 8 bytes of file), allocated in a
 * handful of blocks; opening is one pass over the header plus sorting.
 *
 * Values in the file are little-endian and read byte by byte, so the
 * reader works on any host; tensor data is returned as raw bytes.
 *
 * src/core/formats/gguf.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GGUF_H
#define GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"
#include "core/kernels/quant.h"

#define GGUF_MAX_KV			(1 << 20)
#define GGUF_MAX_TENSORS	(1 << 20)
#define GGUF_MAX_KEY_LEN	65535
#define GGUF_MAX_NAME_LEN	256
#define GGUF_MAX_DIMS		4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT	(1 << 30)

/* Metadata value types */
typedef enum GgufType
{
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT = 13
} GgufType;

/* One metadata key-value pair */
typedef struct GgufKV
{
	const char *key;			/* NUL-terminated copy */
	size_t		key_len;
	GgufType	type;			/* value type; GGUF_TYPE_ARRAY for arrays */
	GgufType	arr_type;		/* element type, for arrays */
	uint64_t	n;				/* array element count; 1 for scalars */
	const uint8_t *raw;			/* scalar value bytes, or the first array
								 * element, in the file */
	/* decoded scalar (by type: u for unsigned, i for signed, f for floats) */
	union
	{
		uint64_t	u;
		int64_t		i;
		double		f;
		bool		b;
	}			v;
	const char *str;			/* string value in the file, NOT
								 * NUL-terminated */
	uint64_t	str_len;
	const uint8_t *const *items;	/* string arrays: element i's length
									 * prefix in the file */
} GgufKV;

/* One tensor */
typedef struct GgufTensor
{
	const char *name;			/* NUL-terminated copy */
	uint32_t	type;			/* GgmlType id */
	int			n_dims;			/* 1..4 */
	uint64_t	ne[GGUF_MAX_DIMS];	/* ne[0] varies fastest; unused dims 1 */
	uint64_t	n_elements;
	uint64_t	n_bytes;
	uint64_t	offset;			/* of the data, from the start of the file */
	const uint8_t *data;		/* points into the caller's buffer */
} GgufTensor;

typedef struct GgufFile GgufFile;

/* Parse data[0..len-1]; on success *out must be released with gguf_free */
extern PgiStatus gguf_open(const uint8_t *data, size_t len, GgufFile **out,
						   PgiError *err);
extern void gguf_free(GgufFile *f);

/* File-level facts */
extern uint32_t gguf_version(const GgufFile *f);
extern uint64_t gguf_alignment(const GgufFile *f);
extern uint64_t gguf_data_offset(const GgufFile *f);	/* start of tensor data */
extern const char *gguf_type_name(GgufType t);

/* Metadata, in file order or by key (NULL if absent) */
extern size_t gguf_n_kv(const GgufFile *f);
extern const GgufKV *gguf_kv(const GgufFile *f, size_t i);
extern const GgufKV *gguf_find_kv(const GgufFile *f, const char *key);

/*
 * Typed getters.  A missing key or a value of the wrong type or out of
 * range gives PGI_ERR_CORRUPT with a message naming the key (use
 * gguf_find_kv first for optional keys).  Coercions:
 *	- gguf_get_u32 / gguf_get_u64 / gguf_get_i64: any integer type
 *	  (UINT8..INT64) whose value fits the target; never bool or floats;
 *	- gguf_get_f32: FLOAT32, FLOAT64 (rounded to float; finite values must
 *	  stay finite) and any integer type (rounded to nearest float);
 *	- gguf_get_bool: BOOL only;
 *	- gguf_get_str: STRING only; *s points into the file and is NOT
 *	  NUL-terminated: use *len.
 */
extern PgiStatus gguf_get_u32(const GgufFile *f, const char *key,
							  uint32_t *out, PgiError *err);
extern PgiStatus gguf_get_u64(const GgufFile *f, const char *key,
							  uint64_t *out, PgiError *err);
extern PgiStatus gguf_get_i64(const GgufFile *f, const char *key,
							  int64_t *out, PgiError *err);
extern PgiStatus gguf_get_f32(const GgufFile *f, const char *key,
							  float *out, PgiError *err);
extern PgiStatus gguf_get_bool(const GgufFile *f, const char *key,
							   bool *out, PgiError *err);
extern PgiStatus gguf_get_str(const GgufFile *f, const char *key,
							  const char **s, size_t *len, PgiError *err);

/*
 * Arrays.  gguf_get_arr finds an array whose elements are of type
 * elem_type (GGUF_TYPE_COUNT: any type); then, for element i < kv->n:
 *	- gguf_arr_str: string elements; returns a pointer into the file (not
 *	  NUL-terminated) and sets *len; NULL if i is out of range or the
 *	  elements are not strings;
 *	- gguf_arr_i64: integer elements of any width (a UINT64 above
 *	  INT64_MAX fails);
 *	- gguf_arr_f64: FLOAT32, FLOAT64 or integer elements, as double;
 * the last two return false on a range or type mismatch.  kv->raw points
 * at the packed little-endian elements of numeric arrays (unaligned).
 */
extern PgiStatus gguf_get_arr(const GgufFile *f, const char *key,
							  GgufType elem_type, const GgufKV **out,
							  PgiError *err);
extern const char *gguf_arr_str(const GgufKV *kv, uint64_t i, size_t *len);
extern bool gguf_arr_i64(const GgufKV *kv, uint64_t i, int64_t *out);
extern bool gguf_arr_f64(const GgufKV *kv, uint64_t i, double *out);

/* Tensors, in file order or by name (NULL if absent) */
extern size_t gguf_n_tensors(const GgufFile *f);
extern const GgufTensor *gguf_tensor(const GgufFile *f, size_t i);
extern const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name);

#endif							/* GGUF_H */
