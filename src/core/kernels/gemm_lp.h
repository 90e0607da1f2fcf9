/*-------------------------------------------------------------------------
 *
 * gemm_lp.h
 *	  Matrix products with reduced-precision packed weights:
 *	  C (M, N) += X (M, K) W^T, W in bfloat16 or in int8 with scales.
 *
 * The layouts follow gemm.h's panels of GEMM_NR (32) output columns, with
 * the k axis grouped the way the CPU's dot-product instructions read it:
 *
 * bf16 (AVX-512 BF16, vdpbf16ps: per 32-bit lane, acc += a0 b0 + a1 b1):
 *	 panel p holds, for each pair kp of inputs (k = 2kp, 2kp + 1), the 32
 *	 columns' two values: panel[kp][j][2] (uint16, bfloat16 bits rounded to
 *	 nearest even; zero past N and past K).  X is rounded to bfloat16 the
 *	 same way, one pair per uint32 (gemm_bf16_rows), and every product is
 *	 accumulated in float32.
 *
 * int8 (AVX-512 VNNI, vpdpbusd: per 32-bit lane, acc += 4 u8 x s8):
 *	 W is cut along k into blocks of kb inputs (kb a multiple of 4; kb =
 *	 K rounded up to 4 gives one scale per row); each block of each row is
 *	 int8 with a float scale (w ~ scale * q, |q| <= 127).  X is quantised
 *	 the same way per row and block, at run time (gemm_i8_rows), and
 *	 stored offset by 128 as uint8, since the instruction multiplies
 *	 unsigned by signed bytes; the packed weights carry 128 * sum(q) per
 *	 column and block to take the offset back out.  A panel is one
 *	 contiguous run of bytes:
 *	   q	  [kpad / 4][32][4] int8	(kpad = K rounded up to kb)
 *	   scale  [nb][32] float			(nb = kpad / kb)
 *	   corr	  [nb][32] int32			(128 * sum of the block's q)
 *	 Per block the integer sums are exact; C += float(sum) * (scale_w *
 *	 scale_x), one fused multiply-add, in the same order on every path,
 *	 so the portable code gives the same floats as the VNNI kernel.
 *
 * Kernels: AVX-512 (BF16 / VNNI) where the CPU has them, portable C
 * otherwise; gemm_force_isa (gemm.h) forces "portable" for tests.
 *
 * src/core/kernels/gemm_lp.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GEMM_LP_H
#define GEMM_LP_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels/gemm.h"

/* ---------------------------------------------------------------- bf16 */

/* Bytes of the bf16 packed form of an (n, k) matrix */
static inline size_t
gemm_bf16_packed_bytes(int64_t n, int64_t k)
{
	return (size_t) ((n + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * (size_t) ((k + 1) / 2) * 4;
}

/* Pack w (n, k), row-major float32, into dst (gemm_bf16_packed_bytes) */
extern void gemm_pack_bf16(const float *w, int64_t n, int64_t k, uint16_t *dst);

/* X (m, k) rounded to bfloat16 pairs: xb (m, (k + 1) / 2) */
extern void gemm_bf16_rows(const float *x, int ldx, int m, int k, uint32_t *xb);

/*
 * C (m, n) = ((beta ? C : 0) + bias) + X W^T (gemm_epilogue.h; bias NULL:
 * none) for the output panels [p0, p1); xb from gemm_bf16_rows
 */
extern void gemm_bf16_range(const uint32_t *xb, const uint16_t *wp, float *c, int ldc,
							int m, int n, int k, int p0, int p1, const float *bias, int beta);

/* ---------------------------------------------------------------- int8 */

#define GEMM_I8_MAX_K 65536
#define GEMM_I8_DEFAULT_BLOCK 64	/* load_model's "int8" without "int8_block" */		/* int32 sums of 255 * 127 products stay exact */

/* k rounded up to a whole number of blocks of kb */
static inline int64_t
gemm_i8_kpad(int64_t k, int kb)
{
	return (k + kb - 1) / kb * kb;
}

/* Bytes of one panel, and of the packed form of an (n, k) matrix */
static inline size_t
gemm_i8_panel_bytes(int64_t k, int kb)
{
	int64_t		kpad = gemm_i8_kpad(k, kb);

	return (size_t) kpad * GEMM_NR + (size_t) (kpad / kb) * GEMM_NR * 8;
}

static inline size_t
gemm_i8_packed_bytes(int64_t n, int64_t k, int kb)
{
	return (size_t) ((n + GEMM_NR - 1) / GEMM_NR) * gemm_i8_panel_bytes(k, kb);
}

/* kb is valid: a positive multiple of 4, K within GEMM_I8_MAX_K */
static inline int
gemm_i8_valid(int64_t k, int kb)
{
	return kb >= 4 && kb % 4 == 0 && k >= 1 && gemm_i8_kpad(k, kb) <= GEMM_I8_MAX_K;
}

/*
 * Quantise w (n, k), row-major float32, per row and block of kb (absolute
 * maximum to 127, rounded to nearest even) and pack it into dst; returns 0
 * when out of memory (it needs 33 k bytes of work space)
 */
extern int	gemm_pack_i8(const float *w, int64_t n, int64_t k, int kb, uint8_t *dst);

/*
 * Pack weights already quantised: q (n, k) int8 and scales (n, kpad / kb)
 * (e.g. a GGUF Q8_0 tensor: kb 32, one float16 scale per block)
 */
extern void gemm_pack_i8_q(const int8_t *q, const float *scales, int64_t n, int64_t k, int kb,
						   uint8_t *dst);

/*
 * Quantise X (m, k) per row and block: xq (m, kpad) uint8 (q + 128, zero
 * past k), xs (m, kpad / kb) scales
 */
extern void gemm_i8_rows(const float *x, int ldx, int m, int k, int kb, uint8_t *xq, float *xs);

/* The same with int8 weights; xq, xs from gemm_i8_rows */
extern void gemm_i8_range(const uint8_t *xq, const float *xs, const uint8_t *wp, float *c,
						  int ldc, int m, int n, int k, int kb, int p0, int p1,
						  const float *bias, int beta);

/* ---------------------------------------------------------------- formats */

/*
 * A model's weight format, for the matrices of its linear layers: float32
 * panels (gemm.h), bfloat16 or int8 panels (above).  kb (int8): inputs
 * per scale, 0 for one scale per row (kb = K rounded up to 4).  Matrices
 * that see one row per text (pooling heads) stay float32: they cost
 * nothing and their error is not averaged over tokens.
 */
typedef enum GemmType
{
	GEMM_F32 = 0,
	GEMM_BF16 = 1,
	GEMM_I8 = 2
} GemmType;

typedef struct GemmFormat
{
	int32_t		type;			/* GemmType */
	int32_t		kb;
} GemmFormat;

/* The int8 block size of format f for inputs of width k (a block at least k long: one per row) */
static inline int
gemm_format_kb(GemmFormat f, int64_t k)
{
	int			row = (int) ((k + 3) / 4 * 4);

	return f.kb > 0 && f.kb < row ? f.kb : row;
}

/* Bytes of an (n, k) matrix in format f (0: the format cannot hold it) */
extern size_t gemm_format_bytes(GemmFormat f, int64_t n, int64_t k);

/* Pack w (n, k) row-major float32 in format f into dst; 0 when out of memory */
extern int	gemm_format_pack(GemmFormat f, const float *w, int64_t n, int64_t k, void *dst);

/* "f32", "bf16", "int8" */
extern const char *gemm_format_name(GemmFormat f);

/*
 * Bytes of work memory the products of format f need for the converted rows
 * of X: rows at a time, so that any k up to GEMM_I8_MAX_K fits
 */
#define GEMM_LP_WORK_BYTES ((size_t) 4 << 20)

/* Rows of X (width k) that fit work memory of `bytes` in format f */
extern int	gemm_lp_rows(GemmFormat f, int64_t k, size_t bytes);

/*
 * C (m, n) = ((beta ? C : 0) + bias) + X (m, k) W^T, W in format f: first
 * the rows of X converted into work (rows [r0, r1) of m per call, so
 * threads can share the work; nothing for GEMM_F32), then the output
 * panels [p0, p1) per call
 */
extern void gemm_lp_convert(GemmFormat f, const float *x, int ldx, int m, int k, void *work,
							int r0, int r1);
extern void gemm_lp_range(GemmFormat f, const float *x, int ldx, const void *work,
						  const void *w, float *c, int ldc, int m, int n, int k, int p0, int p1,
						  const float *bias, int beta);

/* Kernels in use ("avx512bf16" / "avx512vnni" or "portable") */
extern const char *gemm_bf16_isa(void);
extern const char *gemm_i8_isa(void);

#endif							/* GEMM_LP_H */
