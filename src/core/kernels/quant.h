/*-------------------------------------------------------------------------
 *
 * quant.h
 *	  ggml tensor types: their block layouts, and dequantisation to float.
 *
 * A ggml tensor of type T stores its values in blocks of blck_size values,
 * each type_size bytes; a row of ne[0] values therefore takes
 * ne[0] / blck_size * type_size bytes (ne[0] must be a multiple of
 * blck_size).  The table in quant.c knows the size of every type that GGUF
 * files may hold (the ids are ggml's and never change), so a parser can
 * check any tensor's extent; dequantisation is implemented for the types
 * our models use: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K.
 *
 * Block layouts (all multi-byte fields little-endian, d/dmin are F16):
 *	Q8_0 (32 values, 34 bytes): d, int8 q[32];          x[j] = d * q[j]
 *	Q4_0 (32 values, 18 bytes): d, uint8 qs[16];
 *		x[j] = d * ((qs[j] & 15) - 8), x[j+16] = d * ((qs[j] >> 4) - 8)
 *	Q5_0 (32 values, 22 bytes): d, uint32 qh, uint8 qs[16]; as Q4_0 but
 *		each value has a fifth bit from qh (bit j for x[j], bit j+16 for
 *		x[j+16]) and the offset is 16
 *	Q4_K (256 values, 144 bytes): d, dmin, 12 bytes of 6-bit scales and
 *		mins for 8 sub-blocks of 32, 128 bytes of nibbles
 *	Q5_K (256 values, 176 bytes): as Q4_K plus qh[32], a fifth bit per value
 *	Q6_K (256 values, 210 bytes): ql[128], qh[64], int8 scales[16], d
 * These follow the GGUF specification (ggml docs/gguf.md) and ggml's
 * reference dequantisers; the unit tests compare them with values that
 * gguf-py and ggml produced for real files.
 *
 * src/core/kernels/quant.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef QUANT_H
#define QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

/* ggml type ids as stored in GGUF tensor infos (gaps were removed types) */
typedef enum GgmlType
{
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_IQ2_XXS = 16,
	GGML_TYPE_IQ2_XS = 17,
	GGML_TYPE_IQ3_XXS = 18,
	GGML_TYPE_IQ1_S = 19,
	GGML_TYPE_IQ4_NL = 20,
	GGML_TYPE_IQ3_S = 21,
	GGML_TYPE_IQ2_S = 22,
	GGML_TYPE_IQ4_XS = 23,
	GGML_TYPE_I8 = 24,
	GGML_TYPE_I16 = 25,
	GGML_TYPE_I32 = 26,
	GGML_TYPE_I64 = 27,
	GGML_TYPE_F64 = 28,
	GGML_TYPE_IQ1_M = 29,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_TQ1_0 = 34,
	GGML_TYPE_TQ2_0 = 35,
	GGML_TYPE_MXFP4 = 39,
	GGML_TYPE_COUNT = 40		/* one past the largest id */
} GgmlType;

/* Layout of one ggml type */
typedef struct GgmlTypeInfo
{
	const char *name;			/* "Q4_K" */
	uint32_t	blck_size;		/* values per block */
	uint32_t	type_size;		/* bytes per block */
	bool		dequant;		/* quant_dequantize() handles it */
} GgmlTypeInfo;

/* The layout of type id t, or NULL for an unknown or removed id */
extern const GgmlTypeInfo *quant_type_info(uint32_t t);

/* The name of type id t, or "unknown" */
extern const char *quant_type_name(uint32_t t);

/*
 * Convert n values of type t at src (blocks in file order, any alignment)
 * to float at dst.  n must be a multiple of the type's block size
 * (PGI_ERR_PARAM otherwise); types without a dequantiser give
 * PGI_ERR_UNSUPPORTED.  err may be NULL.
 */
extern PgiStatus quant_dequantize(uint32_t t, const void *src, size_t n,
								  float *dst, PgiError *err);

/* Per-type dequantisers: nb whole blocks from src to dst */
extern void dequant_f16(const uint8_t *src, float *dst, size_t n);
extern void dequant_bf16(const uint8_t *src, float *dst, size_t n);
extern void dequant_q8_0(const uint8_t *src, float *dst, size_t nb);
extern void dequant_q4_0(const uint8_t *src, float *dst, size_t nb);
extern void dequant_q5_0(const uint8_t *src, float *dst, size_t nb);
extern void dequant_q4_k(const uint8_t *src, float *dst, size_t nb);
extern void dequant_q5_k(const uint8_t *src, float *dst, size_t nb);
extern void dequant_q6_k(const uint8_t *src, float *dst, size_t nb);

#endif							/* QUANT_H */
