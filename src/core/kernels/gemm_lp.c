/*-------------------------------------------------------------------------
 *
 * gemm_lp.c
 *	  C += X W^T with bfloat16 or int8 packed weights (see gemm_lp.h).
 *
 * The kernels have gemm.c's shape: for each panel of 32 output columns,
 * rows of X 8 at a time, an 8 x 32 block of accumulators in registers;
 * per step one load of the panel's weights for 2 (bf16) or 4 (int8)
 * inputs and one broadcast per row.  vdpbf16ps does twice the
 * multiply-adds of an fp32 FMA per instruction, vpdpbusd four times.
 *
 * src/core/kernels/gemm_lp.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/gemm_lp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/fp16.h"
#include "core/kernels/gemm_epilogue.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LP_X86 1
#include <immintrin.h>
#endif

#define MR 8					/* rows of X per kernel step */
#define ROW_BLOCK 64			/* rows of X kept in L1 across panels */

/* ---------------------------------------------------------------- helpers */

/* float to bfloat16 bits, round to nearest even (NaN stays NaN) */
static inline uint16_t
to_bf16(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	if ((u & 0x7FFFFFFFu) > 0x7F800000u)
		return (uint16_t) ((u >> 16) | 0x40);
	u += 0x7FFFu + ((u >> 16) & 1);
	return (uint16_t) (u >> 16);
}

/* Whether the low-precision kernels may use AVX-512 (gemm_force_isa) */
static int
lp_avx512_allowed(void)
{
	const char *isa = gemm_isa();

	return strcmp(isa, "avx512") == 0;
}

/* ---------------------------------------------------------------- bf16 */

void
gemm_pack_bf16(const float *w, int64_t n, int64_t k, uint16_t *dst)
{
	int64_t		panels = (n + GEMM_NR - 1) / GEMM_NR;
	int64_t		pairs = (k + 1) / 2;

	for (int64_t p = 0; p < panels; p++)
	{
		uint16_t   *panel = dst + (size_t) p * GEMM_NR * (size_t) pairs * 2;

		for (int64_t kp = 0; kp < pairs; kp++)
			for (int j = 0; j < GEMM_NR; j++)
				for (int e = 0; e < 2; e++)
				{
					int64_t		row = p * GEMM_NR + j;
					int64_t		kk = 2 * kp + e;

					panel[(kp * GEMM_NR + j) * 2 + e] =
						row < n && kk < k ? to_bf16(w[row * k + kk]) : 0;
				}
	}
}

/* One row of X to bfloat16 pairs (the last pair's high half 0 when k is odd) */
static void
bf16_row_portable(const float *xr, int k, uint32_t *o)
{
	for (int kp = 0; kp < (k + 1) / 2; kp++)
	{
		uint32_t	lo = to_bf16(xr[2 * kp]);
		uint32_t	hi = 2 * kp + 1 < k ? to_bf16(xr[2 * kp + 1]) : 0;

		o[kp] = lo | hi << 16;
	}
}

#ifdef LP_X86
#define AVX512BW __attribute__((target("avx512f,avx512bw")))

/* The same, 32 floats per step, with to_bf16's integer rounding */
AVX512BW static void
bf16_row_avx512(const float *xr, int k, uint32_t *o)
{
	int			kk = 0;
	const __m512i bias = _mm512_set1_epi32(0x7FFF);
	const __m512i one = _mm512_set1_epi32(1);
	const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
	const __m512i inf = _mm512_set1_epi32(0x7F800000);
	const __m512i quiet = _mm512_set1_epi32(0x400000);

	for (; kk + 32 <= k; kk += 32)
	{
		__m512i		v[2];

		for (int h = 0; h < 2; h++)
		{
			__m512i		u = _mm512_loadu_si512(xr + kk + 16 * h);
			__mmask16	nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absmask), inf);
			__m512i		r = _mm512_add_epi32(u, _mm512_add_epi32(bias,
															   _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));

			r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, quiet));
			v[h] = _mm512_srli_epi32(r, 16);
		}
		/* 32 values of 16 bits, in order: pairs (2i, 2i + 1) land in uint32 i */
		_mm512_storeu_si512(o + kk / 2,
							_mm512_permutex2var_epi16(v[0],
													  _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48,
																	   46, 44, 42, 40, 38, 36, 34, 32,
																	   30, 28, 26, 24, 22, 20, 18, 16,
																	   14, 12, 10, 8, 6, 4, 2, 0),
													  v[1]));
	}
	bf16_row_portable(xr + kk, k - kk, o + kk / 2);
}
#endif

void
gemm_bf16_rows(const float *x, int ldx, int m, int k, uint32_t *xb)
{
	int			pairs = (k + 1) / 2;
	void		(*row) (const float *, int, uint32_t *) = bf16_row_portable;

#ifdef LP_X86
	if (lp_avx512_allowed() && __builtin_cpu_supports("avx512bw"))
		row = bf16_row_avx512;
#endif
	for (int i = 0; i < m; i++)
		row(x + (size_t) i * ldx, k, xb + (size_t) i * pairs);
}

static inline float
bf16_lo(uint32_t v)
{
	return bf16_to_fp32((uint16_t) (v & 0xFFFF));
}

static inline float
bf16_hi(uint32_t v)
{
	return bf16_to_fp32((uint16_t) (v >> 16));
}

/* One panel, portable: per pair, acc += odd product, then even (vdpbf16ps's order) */
static void
bf16_panel_portable(const uint32_t *xb, int pairs, const uint16_t *panel, float *c, int ldc,
					int m, int ncols, const float *bias, int beta)
{
	for (int i = 0; i < m; i++)
	{
		float		acc[GEMM_NR] = {0};
		const uint32_t *xr = xb + (size_t) i * pairs;

		for (int kp = 0; kp < pairs; kp++)
		{
			float		x0 = bf16_lo(xr[kp]);
			float		x1 = bf16_hi(xr[kp]);
			const uint16_t *wk = panel + (size_t) kp * GEMM_NR * 2;

			for (int j = 0; j < GEMM_NR; j++)
			{
				acc[j] = fmaf(x1, bf16_to_fp32(wk[2 * j + 1]), acc[j]);
				acc[j] = fmaf(x0, bf16_to_fp32(wk[2 * j]), acc[j]);
			}
		}
		gemm_store_scalar(c + (size_t) i * ldc, bias, beta, ncols, acc);
	}
}

#ifdef LP_X86
#define BF16 __attribute__((target("avx512f,avx512bf16")))

/* One panel, 8 rows at a time, 8 x 32 float accumulators */
BF16 static void
bf16_panel_avx512(const uint32_t *xb, int pairs, const uint16_t *panel, float *c, int ldc,
				  int m, int ncols, const float *bias, int beta)
{
	__mmask16	m0 = (__mmask16) (ncols >= 16 ? 0xFFFF : (1u << ncols) - 1);
	__mmask16	m1 = (__mmask16) (ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);

	for (int i0 = 0; i0 < m; i0 += MR)
	{
		const uint32_t *xr[MR];
		__m512		a0[MR],
					a1[MR];
		int			rows = m - i0 < MR ? m - i0 : MR;

		for (int i = 0; i < MR; i++)
		{
			xr[i] = xb + (size_t) (i0 + (i < rows ? i : rows - 1)) * pairs;
			a0[i] = _mm512_setzero_ps();
			a1[i] = _mm512_setzero_ps();
		}
		for (int kp = 0; kp < pairs; kp++)
		{
			__m512bh	w0 = (__m512bh) _mm512_loadu_si512(panel + (size_t) kp * GEMM_NR * 2);
			__m512bh	w1 = (__m512bh) _mm512_loadu_si512(panel + (size_t) kp * GEMM_NR * 2 + 32);

#pragma GCC unroll 8
			for (int i = 0; i < MR; i++)
			{
				__m512bh	b = (__m512bh) _mm512_set1_epi32((int) xr[i][kp]);

				a0[i] = _mm512_dpbf16_ps(a0[i], b, w0);
				a1[i] = _mm512_dpbf16_ps(a1[i], b, w1);
			}
		}
		for (int i = 0; i < rows; i++)
		{
			float	   *cr = c + (size_t) (i0 + i) * ldc;

			gemm_store16(cr, bias, beta, m0, a0[i]);
			if (m1)
				gemm_store16(cr + 16, bias ? bias + 16 : NULL, beta, m1, a1[i]);
		}
	}
}
#endif

typedef void (*bf16_fn) (const uint32_t *xb, int pairs, const uint16_t *panel, float *c,
						 int ldc, int m, int ncols, const float *bias, int beta);

static bf16_fn
bf16_choose(const char **name)
{
#ifdef LP_X86
	if (lp_avx512_allowed() && __builtin_cpu_supports("avx512bf16"))
	{
		*name = "avx512bf16";
		return bf16_panel_avx512;
	}
#endif
	*name = "portable";
	return bf16_panel_portable;
}

const char *
gemm_bf16_isa(void)
{
	const char *name;

	(void) bf16_choose(&name);
	return name;
}

void
gemm_bf16_range(const uint32_t *xb, const uint16_t *wp, float *c, int ldc,
				int m, int n, int k, int p0, int p1, const float *bias, int beta)
{
	const char *name;
	bf16_fn		fn = bf16_choose(&name);
	int			pairs = (k + 1) / 2;

	for (int r0 = 0; r0 < m; r0 += ROW_BLOCK)
	{
		int			rows = m - r0 < ROW_BLOCK ? m - r0 : ROW_BLOCK;

		for (int p = p0; p < p1; p++)
		{
			int			ncols = n - p * GEMM_NR < GEMM_NR ? n - p * GEMM_NR : GEMM_NR;

			fn(xb + (size_t) r0 * pairs, pairs, wp + (size_t) p * GEMM_NR * pairs * 2,
			   c + (size_t) r0 * ldc + (size_t) p * GEMM_NR, ldc, rows, ncols,
			   bias ? bias + (size_t) p * GEMM_NR : NULL, beta);
		}
	}
}

/* ---------------------------------------------------------------- int8 */

/* Round to nearest even, as the vector conversion does */
static inline int
round_even(float v)
{
	return (int) nearbyintf(v);
}

/*
 * Quantise n values to q (|q| <= 127); returns the scale (0 for all zeros).
 * The scale is max|v| / 127 and q = round(v * (127 / max|v|)).
 */
static float
quantise_block(const float *v, int n, int8_t *q)
{
	float		amax = 0;
	float		inv;

	for (int i = 0; i < n; i++)
		amax = fmaxf(amax, fabsf(v[i]));
	if (!(amax > 0))
	{
		memset(q, 0, (size_t) n);
		return 0;
	}
	inv = 127.0f / amax;
	for (int i = 0; i < n; i++)
		q[i] = (int8_t) round_even(v[i] * inv);
	return amax / 127.0f;
}

void
gemm_pack_i8_q(const int8_t *q, const float *scales, int64_t n, int64_t k, int kb, uint8_t *dst)
{
	int64_t		panels = (n + GEMM_NR - 1) / GEMM_NR;
	int64_t		kpad = gemm_i8_kpad(k, kb);
	int64_t		nb = kpad / kb;
	size_t		pbytes = gemm_i8_panel_bytes(k, kb);

	for (int64_t p = 0; p < panels; p++)
	{
		uint8_t    *panel = dst + (size_t) p * pbytes;
		int8_t	   *pq = (int8_t *) panel;
		float	   *ps = (float *) (panel + (size_t) kpad * GEMM_NR);
		int32_t    *pc = (int32_t *) (ps + nb * GEMM_NR);

		for (int j = 0; j < GEMM_NR; j++)
		{
			int64_t		row = p * GEMM_NR + j;

			for (int64_t b = 0; b < nb; b++)
			{
				int32_t		sum = 0;

				for (int64_t kk = b * kb; kk < (b + 1) * kb; kk++)
				{
					int8_t		v = row < n && kk < k ? q[row * k + kk] : 0;

					pq[((kk / 4) * GEMM_NR + j) * 4 + kk % 4] = v;
					sum += v;
				}
				ps[b * GEMM_NR + j] = row < n ? scales[row * nb + b] : 0.0f;
				pc[b * GEMM_NR + j] = 128 * sum;
			}
		}
	}
}

int
gemm_pack_i8(const float *w, int64_t n, int64_t k, int kb, uint8_t *dst)
{
	int64_t		nb = gemm_i8_kpad(k, kb) / kb;
	int64_t		panels = (n + GEMM_NR - 1) / GEMM_NR;
	size_t		pbytes = gemm_i8_panel_bytes(k, kb);
	int8_t	   *q = malloc((size_t) GEMM_NR * (size_t) k);
	float	   *s = malloc(sizeof(float) * GEMM_NR * (size_t) nb);

	if (q == NULL || s == NULL)
	{
		free(q);
		free(s);
		return 0;
	}
	/* one panel's 32 rows at a time: quantise, then lay out */
	for (int64_t p = 0; p < panels; p++)
	{
		int64_t		rows = n - p * GEMM_NR < GEMM_NR ? n - p * GEMM_NR : GEMM_NR;

		for (int64_t j = 0; j < rows; j++)
			for (int64_t b = 0; b < nb; b++)
			{
				int64_t		len = (b + 1) * kb <= k ? kb : k - b * kb;

				s[j * nb + b] = quantise_block(w + (p * GEMM_NR + j) * k + b * kb, (int) len,
											   q + j * k + b * kb);
			}
		gemm_pack_i8_q(q, s, rows, k, kb, dst + (size_t) p * pbytes);
	}
	free(q);
	free(s);
	return 1;
}

/* One block of a row of X: o[0..kb) = q + 128 (zero past len); returns the scale */
static float
i8_block_portable(const float *xr, int len, int kb, uint8_t *o)
{
	float		amax = 0;
	float		inv;

	for (int kk = 0; kk < len; kk++)
		amax = fmaxf(amax, fabsf(xr[kk]));
	inv = amax > 0 ? 127.0f / amax : 0.0f;
	for (int kk = 0; kk < kb; kk++)
		o[kk] = (uint8_t) (128 + (kk < len ? round_even(xr[kk] * inv) : 0));
	return amax > 0 ? amax / 127.0f : 0.0f;
}

#ifdef LP_X86
/* The same, 16 floats per step (the conversion rounds to nearest even) */
AVX512BW static float
i8_block_avx512(const float *xr, int len, int kb, uint8_t *o)
{
	__m512		vmax = _mm512_setzero_ps();
	float		amax,
				inv;
	int			kk;

	for (kk = 0; kk + 16 <= len; kk += 16)
		vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(xr + kk)));
	amax = _mm512_reduce_max_ps(vmax);
	for (; kk < len; kk++)
		amax = fmaxf(amax, fabsf(xr[kk]));
	if (!(amax > 0))
	{
		memset(o, 128, (size_t) kb);
		return 0.0f;
	}
	inv = 127.0f / amax;
	for (kk = 0; kk + 16 <= len; kk += 16)
	{
		__m512i		q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xr + kk),
														 _mm512_set1_ps(inv)));

		_mm_storeu_si128((__m128i *) (o + kk),
						 _mm512_cvtepi32_epi8(_mm512_add_epi32(q, _mm512_set1_epi32(128))));
	}
	for (; kk < kb; kk++)
		o[kk] = (uint8_t) (128 + (kk < len ? round_even(xr[kk] * inv) : 0));
	return amax / 127.0f;
}
#endif

void
gemm_i8_rows(const float *x, int ldx, int m, int k, int kb, uint8_t *xq, float *xs)
{
	int64_t		kpad = gemm_i8_kpad(k, kb);
	int64_t		nb = kpad / kb;
	float		(*block) (const float *, int, int, uint8_t *) = i8_block_portable;

#ifdef LP_X86
	if (lp_avx512_allowed() && __builtin_cpu_supports("avx512bw"))
		block = i8_block_avx512;
#endif
	for (int i = 0; i < m; i++)
	{
		const float *xr = x + (size_t) i * ldx;

		for (int64_t b = 0; b < nb; b++)
		{
			int64_t		len = (b + 1) * kb <= k ? kb : (k > b * kb ? k - b * kb : 0);

			xs[(size_t) i * nb + b] = block(xr + b * kb, (int) len, kb,
											xq + (size_t) i * kpad + b * kb);
		}
	}
}

/* One panel, portable: exact integer sums per block, then one fma per block */
static void
i8_panel_portable(const uint8_t *xq, const float *xs, int64_t kpad, int kb,
				  const uint8_t *panel, float *c, int ldc, int m, int ncols,
				  const float *bias, int beta)
{
	int64_t		nb = kpad / kb;
	const int8_t *pq = (const int8_t *) panel;
	const float *ps = (const float *) (panel + (size_t) kpad * GEMM_NR);
	const int32_t *pc = (const int32_t *) (ps + nb * GEMM_NR);

	for (int i = 0; i < m; i++)
	{
		const uint8_t *xr = xq + (size_t) i * kpad;
		float	   *cr = c + (size_t) i * ldc;
		float		acc[GEMM_NR];

		for (int j = 0; j < GEMM_NR; j++)
			acc[j] = 0;
		for (int64_t b = 0; b < nb; b++)
		{
			int32_t		sum[GEMM_NR];
			float		sx = xs[(size_t) i * nb + b];

			for (int j = 0; j < GEMM_NR; j++)
				sum[j] = -pc[b * GEMM_NR + j];
			for (int64_t kk = b * kb; kk < (b + 1) * kb; kk++)
				for (int j = 0; j < GEMM_NR; j++)
					sum[j] += (int32_t) xr[kk] * pq[((kk / 4) * GEMM_NR + j) * 4 + kk % 4];
			for (int j = 0; j < GEMM_NR; j++)
				acc[j] = fmaf((float) sum[j], ps[b * GEMM_NR + j] * sx, acc[j]);
		}
		gemm_store_scalar(cr, bias, beta, ncols, acc);
	}
}

#ifdef LP_X86
#define VNNI __attribute__((target("avx512f,avx512vnni")))

/*
 * One panel with one block per row (one scale per row), 8 rows at a time:
 * 8 x 32 int32 sums (started at -corr) in registers, then one fused
 * multiply-add each into float
 */
VNNI static void
i8_panel_avx512(const uint8_t *xq, const float *xs, int64_t kpad, int kb,
				const uint8_t *panel, float *c, int ldc, int m, int ncols,
				const float *bias, int beta)
{
	const float *ps = (const float *) (panel + (size_t) kpad * GEMM_NR);
	const int32_t *pc = (const int32_t *) (ps + GEMM_NR);
	__mmask16	m0 = (__mmask16) (ncols >= 16 ? 0xFFFF : (1u << ncols) - 1);
	__mmask16	m1 = (__mmask16) (ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);
	__m512i		c0 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(pc));
	__m512i		c1 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(pc + 16));
	__m512		s0 = _mm512_loadu_ps(ps);
	__m512		s1 = _mm512_loadu_ps(ps + 16);

	(void) kb;					/* = kpad */
	for (int i0 = 0; i0 < m; i0 += MR)
	{
		const uint8_t *xr[MR];
		int			rows = m - i0 < MR ? m - i0 : MR;
		__m512i		a0[MR],
					a1[MR];

		for (int i = 0; i < MR; i++)
		{
			xr[i] = xq + (size_t) (i0 + (i < rows ? i : rows - 1)) * kpad;
			a0[i] = c0;
			a1[i] = c1;
		}
		for (int64_t q = 0; q < kpad / 4; q++)
		{
			__m512i		w0 = _mm512_loadu_si512(panel + q * GEMM_NR * 4);
			__m512i		w1 = _mm512_loadu_si512(panel + q * GEMM_NR * 4 + 64);

#pragma GCC unroll 8
			for (int i = 0; i < MR; i++)
			{
				int32_t		xv;
				__m512i		bx;

				memcpy(&xv, xr[i] + q * 4, 4);
				bx = _mm512_set1_epi32(xv);
				a0[i] = _mm512_dpbusd_epi32(a0[i], bx, w0);
				a1[i] = _mm512_dpbusd_epi32(a1[i], bx, w1);
			}
		}
		for (int i = 0; i < rows; i++)
		{
			__m512		sx = _mm512_set1_ps(xs[i0 + i]);
			float	   *cr = c + (size_t) (i0 + i) * ldc;

			/* the portable code's fma, from zero */
			gemm_store16(cr, bias, beta, m0,
						 _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[i]), _mm512_mul_ps(s0, sx),
										 _mm512_setzero_ps()));
			if (m1)
				gemm_store16(cr + 16, bias ? bias + 16 : NULL, beta, m1,
							 _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[i]), _mm512_mul_ps(s1, sx),
											 _mm512_setzero_ps()));
		}
	}
}

#define MRB 6					/* rows per step with several blocks */

/*
 * One panel with several blocks per row, 6 rows at a time: per block the
 * 6 x 32 int32 sums, then float accumulators, all in registers (24 of the
 * 32 vector registers)
 */
VNNI static void
i8_panel_avx512_blocks(const uint8_t *xq, const float *xs, int64_t kpad, int kb,
					   const uint8_t *panel, float *c, int ldc, int m, int ncols,
					   const float *bias, int beta)
{
	int64_t		nb = kpad / kb;
	const float *ps = (const float *) (panel + (size_t) kpad * GEMM_NR);
	const int32_t *pc = (const int32_t *) (ps + nb * GEMM_NR);
	__mmask16	m0 = (__mmask16) (ncols >= 16 ? 0xFFFF : (1u << ncols) - 1);
	__mmask16	m1 = (__mmask16) (ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);

	for (int i0 = 0; i0 < m; i0 += MRB)
	{
		const uint8_t *xr[MRB];
		const float *sr[MRB];
		int			rows = m - i0 < MRB ? m - i0 : MRB;
		__m512		f0[MRB],
					f1[MRB];

		for (int i = 0; i < MRB; i++)
		{
			int			r = i0 + (i < rows ? i : rows - 1);

			xr[i] = xq + (size_t) r * kpad;
			sr[i] = xs + (size_t) r * nb;
			f0[i] = _mm512_setzero_ps();
			f1[i] = _mm512_setzero_ps();
		}
		for (int64_t b = 0; b < nb; b++)
		{
			__m512i		a0[MRB],
						a1[MRB];
			__m512i		c0 = _mm512_sub_epi32(_mm512_setzero_si512(),
											  _mm512_loadu_si512(pc + b * GEMM_NR));
			__m512i		c1 = _mm512_sub_epi32(_mm512_setzero_si512(),
											  _mm512_loadu_si512(pc + b * GEMM_NR + 16));
			__m512		s0 = _mm512_loadu_ps(ps + b * GEMM_NR);
			__m512		s1 = _mm512_loadu_ps(ps + b * GEMM_NR + 16);
			const uint8_t *wq = panel + (size_t) b * kb * GEMM_NR;

			for (int i = 0; i < MRB; i++)
			{
				a0[i] = c0;
				a1[i] = c1;
			}
			for (int64_t q = 0; q < kb / 4; q++)
			{
				__m512i		w0 = _mm512_loadu_si512(wq + q * GEMM_NR * 4);
				__m512i		w1 = _mm512_loadu_si512(wq + q * GEMM_NR * 4 + 64);
				int64_t		off = b * kb + q * 4;

#pragma GCC unroll 6
				for (int i = 0; i < MRB; i++)
				{
					int32_t		xv;
					__m512i		bx;

					memcpy(&xv, xr[i] + off, 4);
					bx = _mm512_set1_epi32(xv);
					a0[i] = _mm512_dpbusd_epi32(a0[i], bx, w0);
					a1[i] = _mm512_dpbusd_epi32(a1[i], bx, w1);
				}
			}
#pragma GCC unroll 6
			for (int i = 0; i < MRB; i++)
			{
				__m512		sx = _mm512_set1_ps(sr[i][b]);

				f0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[i]), _mm512_mul_ps(s0, sx), f0[i]);
				f1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[i]), _mm512_mul_ps(s1, sx), f1[i]);
			}
		}
		for (int i = 0; i < rows; i++)
		{
			float	   *cr = c + (size_t) (i0 + i) * ldc;

			gemm_store16(cr, bias, beta, m0, f0[i]);
			if (m1)
				gemm_store16(cr + 16, bias ? bias + 16 : NULL, beta, m1, f1[i]);
		}
	}
}
#endif

typedef void (*i8_fn) (const uint8_t *xq, const float *xs, int64_t kpad, int kb,
					   const uint8_t *panel, float *c, int ldc, int m, int ncols,
					   const float *bias, int beta);

static i8_fn
i8_choose(int blocks, const char **name)
{
#ifdef LP_X86
	if (lp_avx512_allowed() && __builtin_cpu_supports("avx512vnni"))
	{
		*name = "avx512vnni";
		return blocks ? i8_panel_avx512_blocks : i8_panel_avx512;
	}
#endif
	*name = "portable";
	return i8_panel_portable;
}

const char *
gemm_i8_isa(void)
{
	const char *name;

	(void) i8_choose(0, &name);
	return name;
}

void
gemm_i8_range(const uint8_t *xq, const float *xs, const uint8_t *wp, float *c, int ldc,
			  int m, int n, int k, int kb, int p0, int p1, const float *bias, int beta)
{
	const char *name;
	int64_t		kpad = gemm_i8_kpad(k, kb);
	int64_t		nb = kpad / kb;
	i8_fn		fn = i8_choose(nb > 1, &name);
	size_t		pbytes = gemm_i8_panel_bytes(k, kb);

	for (int r0 = 0; r0 < m; r0 += ROW_BLOCK)
	{
		int			rows = m - r0 < ROW_BLOCK ? m - r0 : ROW_BLOCK;

		for (int p = p0; p < p1; p++)
		{
			int			ncols = n - p * GEMM_NR < GEMM_NR ? n - p * GEMM_NR : GEMM_NR;

			fn(xq + (size_t) r0 * kpad, xs + (size_t) r0 * nb, kpad, kb,
			   wp + (size_t) p * pbytes, c + (size_t) r0 * ldc + (size_t) p * GEMM_NR, ldc,
			   rows, ncols, bias ? bias + (size_t) p * GEMM_NR : NULL, beta);
		}
	}
}

/* ---------------------------------------------------------------- formats */

size_t
gemm_format_bytes(GemmFormat f, int64_t n, int64_t k)
{
	switch (f.type)
	{
		case GEMM_F32:
			return gemm_packed_floats(n, k) * sizeof(float);
		case GEMM_BF16:
			return gemm_bf16_packed_bytes(n, k);
		case GEMM_I8:
			if (!gemm_i8_valid(k, gemm_format_kb(f, k)))
				return 0;
			return gemm_i8_packed_bytes(n, k, gemm_format_kb(f, k));
	}
	return 0;
}

int
gemm_format_pack(GemmFormat f, const float *w, int64_t n, int64_t k, void *dst)
{
	switch (f.type)
	{
		case GEMM_F32:
			gemm_pack(w, n, k, (float *) dst);
			return 1;
		case GEMM_BF16:
			gemm_pack_bf16(w, n, k, (uint16_t *) dst);
			return 1;
		case GEMM_I8:
			return gemm_pack_i8(w, n, k, gemm_format_kb(f, k), (uint8_t *) dst);
	}
	return 0;
}

const char *
gemm_format_name(GemmFormat f)
{
	return f.type == GEMM_BF16 ? "bf16" : f.type == GEMM_I8 ? "int8" : "f32";
}

/* Bytes of one converted row of X */
static size_t
lp_row_bytes(GemmFormat f, int64_t k)
{
	int			kb = gemm_format_kb(f, k);

	if (f.type == GEMM_BF16)
		return (size_t) ((k + 1) / 2) * 4;
	return (size_t) gemm_i8_kpad(k, kb) + (size_t) (gemm_i8_kpad(k, kb) / kb) * sizeof(float);
}

int
gemm_lp_rows(GemmFormat f, int64_t k, size_t bytes)
{
	size_t		r;

	if (f.type == GEMM_F32)
		return 1 << 30;
	r = bytes / lp_row_bytes(f, k);
	return r > (1 << 30) ? 1 << 30 : (int) r;
}

void
gemm_lp_convert(GemmFormat f, const float *x, int ldx, int m, int k, void *work, int r0, int r1)
{
	int			kb = gemm_format_kb(f, k);
	int64_t		kpad = gemm_i8_kpad(k, kb);

	if (f.type == GEMM_BF16)
		gemm_bf16_rows(x + (size_t) r0 * ldx, ldx, r1 - r0, k,
					   (uint32_t *) work + (size_t) r0 * ((k + 1) / 2));
	else if (f.type == GEMM_I8)
		gemm_i8_rows(x + (size_t) r0 * ldx, ldx, r1 - r0, k, kb,
					 (uint8_t *) work + (size_t) r0 * kpad,
					 (float *) ((uint8_t *) work + (size_t) m * kpad) + (size_t) r0 * (kpad / kb));
}

void
gemm_lp_range(GemmFormat f, const float *x, int ldx, const void *work, const void *w, float *c,
			  int ldc, int m, int n, int k, int p0, int p1, const float *bias, int beta)
{
	int			kb = gemm_format_kb(f, k);

	if (f.type == GEMM_BF16)
		gemm_bf16_range((const uint32_t *) work, (const uint16_t *) w, c, ldc, m, n, k, p0, p1,
						bias, beta);
	else if (f.type == GEMM_I8)
		gemm_i8_range((const uint8_t *) work,
					  (const float *) ((const uint8_t *) work + (size_t) m * gemm_i8_kpad(k, kb)),
					  (const uint8_t *) w, c, ldc, m, n, k, kb, p0, p1, bias, beta);
	else
		gemm_packed_range_ep(x, ldx, (const float *) w, c, ldc, m, n, k, p0, p1, bias, beta);
}
