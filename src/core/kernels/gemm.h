/*-------------------------------------------------------------------------
 *
 * gemm.h
 *	  Matrix products with pre-packed weights: C (M, N) += X (M, K) W^T.
 *
 * Why not BLAS for these: an encoder's linear layers multiply a few
 * token rows by large, constant weight matrices.  A BLAS sgemm packs the
 * weight matrix into its kernel's panel layout on every call; with 16
 * token rows that copy costs more than the arithmetic (measured: 56% of
 * the time of a 16-token MiniLM forward pass in OpenBLAS's packing
 * routine).  The weights never change, so pg_infer packs them once, when
 * the prepared model file is written, and multiplies with a kernel that
 * reads the panels directly.
 *
 * Packed layout of W (N, K): ceil(N / GEMM_NR) panels; panel p holds, for
 * each k, the GEMM_NR values W[p*GEMM_NR + j][k] (j = 0..GEMM_NR-1,
 * zero past N) contiguously: panel[p][k][j].
 *
 * Kernels: AVX-512F (8 rows x 32 columns of accumulators per step), AVX2
 * + FMA (4 x 16, twice per panel), portable C; chosen at run time.  The
 * work can be split over threads by panel ranges (gemm_packed_range), so
 * each thread writes disjoint columns of C.
 *
 * src/core/kernels/gemm.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GEMM_H
#define GEMM_H

#include <stddef.h>
#include <stdint.h>

#define GEMM_NR 32

/* Floats of the packed form of an (n, k) matrix */
static inline size_t
gemm_packed_floats(int64_t n, int64_t k)
{
	return (size_t) ((n + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * (size_t) k;
}

/* Pack w (n, k), row-major, into dst (gemm_packed_floats(n, k) floats) */
extern void gemm_pack(const float *w, int64_t n, int64_t k, float *dst);

/* C (m, n) += X (m, k) W^T, W packed; ldx, ldc in floats */
extern void gemm_packed(const float *x, int ldx, const float *wp, float *c, int ldc,
						int m, int n, int k);

/* The same for output columns of panels [p0, p1) only */
extern void gemm_packed_range(const float *x, int ldx, const float *wp, float *c, int ldc,
							  int m, int n, int k, int p0, int p1);

/*
 * The same with the epilogue of gemm_epilogue.h: C = ((beta ? C : 0) +
 * bias) + X W^T (bias of n floats, or NULL)
 */
extern void gemm_packed_range_ep(const float *x, int ldx, const float *wp, float *c, int ldc,
								 int m, int n, int k, int p0, int p1, const float *bias,
								 int beta);

/* Name of the kernel in use ("avx512", "avx2", "portable") */
extern const char *gemm_isa(void);

/* Force a kernel by name for tests (NULL: automatic); returns 0 if unknown */
extern int	gemm_force_isa(const char *isa);

#endif							/* GEMM_H */
