/*-------------------------------------------------------------------------
 *
 * nn_kernels.h
 *	  Element-wise and row-wise kernels of transformer layers: exp, GELU,
 *	  LayerNorm, softmax.
 *
 * The matrix products go to BLAS; these are the rest of a layer.  Each has
 * an AVX2+FMA body and a portable body, chosen at run time (as in
 * vec_kernels.c).  exp and erf are computed with our own polynomial
 * approximations (relative error below 3e-7 for exp, absolute error below
 * 2e-7 for erf over the whole float range), because calling libm's expf /
 * erff per element would cost more than the matrix products of a short
 * sequence.
 *
 * src/core/kernels/nn_kernels.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stddef.h>

/* x[i] = GELU(x[i]) = x/2 * (1 + erf(x / sqrt(2))), in place */
extern void nn_gelu(float *x, size_t n);

/* x[i] = exp(x[i]) (vectorised; used by softmax) */
extern void nn_exp(float *x, size_t n);

/* Each row of x (rows, n): softmax in place */
extern void nn_softmax_rows(float *x, size_t rows, size_t n);

/* Each row of x (rows, n): LayerNorm in place with weight w (n), bias b (n) */
extern void nn_layernorm_rows(float *x, size_t rows, size_t n, const float *w,
							  const float *b, float eps);

/* Each row of y (rows, n) = bias (n) (bias NULL: zeros) */
extern void nn_fill_rows(float *y, size_t rows, size_t n, const float *bias);

/* Each row of y (rows, n) = x row + bias (n) */
extern void nn_add_bias_rows(float *y, const float *x, size_t rows, size_t n,
							 const float *bias);

/* Name of the body in use ("avx512", "avx2" or "portable"), for tests and reports */
extern const char *nn_kernels_isa(void);

/*
 * Force the bodies for tests: 0 the best the CPU has (AVX-512, AVX2),
 * 1 portable, 2 AVX2 at most; returns the previous setting
 */
extern int	nn_kernels_force_portable(int on);

#endif							/* NN_KERNELS_H */
