/*-------------------------------------------------------------------------
 *
 * gemm_epilogue.h
 *	  How the packed-panel kernels (gemm.c, gemm_lp.c) write a row of their
 *	  accumulators into C, shared so that every kernel rounds alike:
 *		C[j] = ((beta ? C[j] : 0) + (bias ? bias[j] : 0)) + acc[j]
 *	  beta = 1 without bias is the plain C += X W^T; beta = 0 with a bias
 *	  writes a linear layer's output without a pass to fill C first; beta = 1
 *	  with a bias adds a layer's output and bias to a residual in place.
 *	  (Internal to src/core/kernels.)
 *
 * src/core/kernels/gemm_epilogue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GEMM_EPILOGUE_H
#define GEMM_EPILOGUE_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* 16 columns (mask m) of a row */
__attribute__((target("avx512f"))) static inline void
gemm_store16(float *cr, const float *bias, int beta, __mmask16 m, __m512 acc)
{
	__m512		base = beta ? _mm512_maskz_loadu_ps(m, cr) : _mm512_setzero_ps();

	if (bias)
		base = _mm512_add_ps(base, _mm512_maskz_loadu_ps(m, bias));
	_mm512_mask_storeu_ps(cr, m, _mm512_add_ps(base, acc));
}
#endif

/* ncols columns of a row from acc[] */
static inline void
gemm_store_scalar(float *cr, const float *bias, int beta, int ncols, const float *acc)
{
	for (int j = 0; j < ncols; j++)
		cr[j] = ((beta ? cr[j] : 0.0f) + (bias ? bias[j] : 0.0f)) + acc[j];
}

#endif							/* GEMM_EPILOGUE_H */
