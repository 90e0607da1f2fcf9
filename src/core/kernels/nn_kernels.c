/*-------------------------------------------------------------------------
 *
 * nn_kernels.c
 *	  Element-wise and row-wise kernels of transformer layers.
 *
 * exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for e^r (Cephes' expf coefficients) and 2^n built in the
 * exponent bits; inputs are clamped to [-87.33, 88.37], so the result is
 * always a normal float (softmax inputs after subtracting the row maximum
 * are <= 0, so the clamp only turns underflow into ~1e-38).
 *
 * GELU uses erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z = |u|, with
 * the Chebyshev fit of Numerical Recipes (fractional error < 1.2e-7), and
 * GELU(x) = x (1 - erfc(u)/2) for x >= 0 and x erfc(|u|)/2 for x < 0,
 * u = x / sqrt(2), which avoids the cancellation of 1 + erf(u) for
 * negative x.
 *
 * src/core/kernels/nn_kernels.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/nn_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NN_X86 1
#include <immintrin.h>
#endif

#define EXP_HI		88.3762626647949f
#define EXP_LO		(-87.3365447504f)
#define LOG2E		1.44269504088896341f
#define LN2_HI		0.693359375f
#define LN2_LO		(-2.12194440e-4f)
#define EXP_P0		1.9875691500E-4f
#define EXP_P1		1.3981999507E-3f
#define EXP_P2		8.3334519073E-3f
#define EXP_P3		4.1665795894E-2f
#define EXP_P4		1.6666665459E-1f
#define EXP_P5		5.0000001201E-1f

/* Numerical Recipes' erfc fit: erfc(z) = t exp(-z^2 + E0 + t (E1 + ...)) */
#define ERF_E0	(-1.26551223f)
#define ERF_E1	1.00002368f
#define ERF_E2	0.37409196f
#define ERF_E3	0.09678418f
#define ERF_E4	(-0.18628806f)
#define ERF_E5	0.27886807f
#define ERF_E6	(-1.13520398f)
#define ERF_E7	1.48851587f
#define ERF_E8	(-0.82215223f)
#define ERF_E9	0.17087277f

#define INV_SQRT2 0.70710678118654752f

static int	force_portable = 0;

/* ---------------------------------------------------------------- portable */

/* exp(x) by the same method as the vector body */
static inline float
exp_scalar(float x)
{
	float		n,
				r,
				p;
	int32_t		bits;
	float		scale;

	if (isnan(x))
		return x;				/* (overflowing weights; the caller reports it) */
	x = x > EXP_HI ? EXP_HI : (x < EXP_LO ? EXP_LO : x);
	n = rintf(x * LOG2E);
	r = x - n * LN2_HI - n * LN2_LO;
	p = EXP_P0;
	p = p * r + EXP_P1;
	p = p * r + EXP_P2;
	p = p * r + EXP_P3;
	p = p * r + EXP_P4;
	p = p * r + EXP_P5;
	p = p * r * r + r + 1.0f;
	bits = ((int32_t) n + 127) << 23;
	memcpy(&scale, &bits, sizeof(scale));
	return p * scale;
}

/* GELU of one value */
static inline float
gelu_scalar(float x)
{
	float		z = fabsf(x) * INV_SQRT2;
	float		t = 1.0f / (1.0f + 0.5f * z);
	float		p = ERF_E9;
	float		erfc_z;

	p = p * t + ERF_E8;
	p = p * t + ERF_E7;
	p = p * t + ERF_E6;
	p = p * t + ERF_E5;
	p = p * t + ERF_E4;
	p = p * t + ERF_E3;
	p = p * t + ERF_E2;
	p = p * t + ERF_E1;
	p = p * t + ERF_E0;
	erfc_z = t * exp_scalar(-z * z + p);
	return x >= 0 ? x * (1.0f - 0.5f * erfc_z) : 0.5f * x * erfc_z;
}

static void
exp_portable(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = exp_scalar(x[i]);
}

static void
gelu_portable(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = gelu_scalar(x[i]);
}

/* ---------------------------------------------------------------- AVX2 */
#ifdef NN_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* exp of 8 floats */
AVX2 static inline __m256
exp_avx2(__m256 x)
{
	__m256		n,
				r,
				p;
	__m256i		bits;

	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
	n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
						_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
	p = _mm256_set1_ps(EXP_P0);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P1));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
	p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* GELU of 8 floats */
AVX2 static inline __m256
gelu_avx2(__m256 x)
{
	__m256		sign_mask = _mm256_set1_ps(-0.0f);
	__m256		z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(INV_SQRT2));
	__m256		one = _mm256_set1_ps(1.0f);
	__m256		half = _mm256_set1_ps(0.5f);
	__m256		d = _mm256_fmadd_ps(half, z, one);
	__m256		r0 = _mm256_rcp_ps(d);	/* 1/d to 12 bits, then one Newton step */
	__m256		t = _mm256_mul_ps(r0, _mm256_fnmadd_ps(d, r0, _mm256_set1_ps(2.0f)));
	__m256		p = _mm256_set1_ps(ERF_E9);
	__m256		e,
				pos,
				neg;

	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E8));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E7));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E6));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E5));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E4));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E3));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E2));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E1));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_E0));
	e = _mm256_mul_ps(t, exp_avx2(_mm256_fnmadd_ps(z, z, p)));	/* erfc(z) */
	e = _mm256_mul_ps(e, half);
	pos = _mm256_mul_ps(x, _mm256_sub_ps(one, e));
	neg = _mm256_mul_ps(x, e);
	return _mm256_blendv_ps(pos, neg, x);	/* sign bit of x picks neg */
}

AVX2 static void
exp_avx2_arr(float *x, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, exp_avx2(_mm256_loadu_ps(x + i)));
	for (; i < n; i++)
		x[i] = exp_scalar(x[i]);
}

AVX2 static void
gelu_avx2_arr(float *x, size_t n)
{
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, gelu_avx2(_mm256_loadu_ps(x + i)));
	for (; i < n; i++)
		x[i] = gelu_scalar(x[i]);
}

/* ---------------------------------------------------------------- AVX-512 */
#define AVX512 __attribute__((target("avx512f")))

/* exp of 16 floats (exp_avx2's method) */
AVX512 static inline __m512
exp_avx512(__m512 x)
{
	__m512		n,
				r,
				p;
	__m512i		bits;

	x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
	n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
							 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
	p = _mm512_set1_ps(EXP_P0);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P1));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P2));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P3));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P4));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P5));
	p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
	return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/* GELU of 16 floats (gelu_avx2's method, 1/d to 14 bits then one Newton step) */
AVX512 static inline __m512
gelu_avx512(__m512 x)
{
	__m512		z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(INV_SQRT2));
	__m512		one = _mm512_set1_ps(1.0f);
	__m512		half = _mm512_set1_ps(0.5f);
	__m512		d = _mm512_fmadd_ps(half, z, one);
	__m512		r0 = _mm512_rcp14_ps(d);
	__m512		t = _mm512_mul_ps(r0, _mm512_fnmadd_ps(d, r0, _mm512_set1_ps(2.0f)));
	__m512		p = _mm512_set1_ps(ERF_E9);
	__m512		e;
	__mmask16	neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);

	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E8));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E7));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E6));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E5));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E4));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E3));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E2));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E1));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_E0));
	e = _mm512_mul_ps(_mm512_mul_ps(t, exp_avx512(_mm512_fnmadd_ps(z, z, p))), half);	/* erfc(z) / 2 */
	/* x >= 0: x (1 - e); x < 0: x e */
	return _mm512_mul_ps(x, _mm512_mask_blend_ps(neg, _mm512_sub_ps(one, e), e));
}

AVX512 static void
exp_avx512_arr(float *x, size_t n)
{
	size_t		i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, exp_avx512(_mm512_loadu_ps(x + i)));
	if (i < n)
	{
		__mmask16	m = (__mmask16) ((1u << (n - i)) - 1);

		_mm512_mask_storeu_ps(x + i, m, exp_avx512(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

AVX512 static void
gelu_avx512_arr(float *x, size_t n)
{
	size_t		i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, gelu_avx512(_mm512_loadu_ps(x + i)));
	if (i < n)
	{
		__mmask16	m = (__mmask16) ((1u << (n - i)) - 1);

		_mm512_mask_storeu_ps(x + i, m, gelu_avx512(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

/* Softmax of one row in place: max, exp(x - max) and its sum in 16 lanes */
AVX512 static void
softmax_avx512(float *row, size_t n)
{
	__m512		vmax = _mm512_set1_ps(-INFINITY);
	__m512		vsum = _mm512_setzero_ps();
	float		mx,
				inv;
	size_t		i;
	__mmask16	tail = (__mmask16) ((1u << (n % 16)) - 1);

	for (i = 0; i + 16 <= n; i += 16)
		vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(row + i));
	vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, row + i));
	mx = _mm512_reduce_max_ps(vmax);
	for (i = 0; i + 16 <= n; i += 16)
	{
		__m512		e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(row + i), _mm512_set1_ps(mx)));

		_mm512_storeu_ps(row + i, e);
		vsum = _mm512_add_ps(vsum, e);
	}
	if (tail)
	{
		__m512		e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + i), _mm512_set1_ps(mx)));

		_mm512_mask_storeu_ps(row + i, tail, e);
		vsum = _mm512_mask_add_ps(vsum, tail, vsum, e);
	}
	inv = 1.0f / _mm512_reduce_add_ps(vsum);
	for (i = 0; i + 16 <= n; i += 16)
		_mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), _mm512_set1_ps(inv)));
	if (tail)
		_mm512_mask_storeu_ps(row + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + i),
														   _mm512_set1_ps(inv)));
}

/* LayerNorm of one row: mean and variance summed in 16 lanes */
AVX512 static void
layernorm_avx512(float *row, size_t n, const float *w, const float *b, float eps)
{
	__m512		acc = _mm512_setzero_ps();
	float		mean,
				var,
				inv;
	size_t		i;
	__mmask16	tail = (__mmask16) ((1u << (n % 16)) - 1);

	for (i = 0; i + 16 <= n; i += 16)
		acc = _mm512_add_ps(acc, _mm512_loadu_ps(row + i));
	acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail, row + i));
	mean = _mm512_reduce_add_ps(acc) / (float) n;
	acc = _mm512_setzero_ps();
	for (i = 0; i + 16 <= n; i += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(row + i), _mm512_set1_ps(mean));

		acc = _mm512_fmadd_ps(d, d, acc);
	}
	{
		__m512		d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, row + i), _mm512_set1_ps(mean));

		acc = _mm512_fmadd_ps(d, d, acc);
	}
	var = _mm512_reduce_add_ps(acc) / (float) n;
	inv = 1.0f / sqrtf(var + eps);
	for (i = 0; i + 16 <= n; i += 16)
	{
		__m512		v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(row + i), _mm512_set1_ps(mean)),
									  _mm512_set1_ps(inv));

		_mm512_storeu_ps(row + i, _mm512_fmadd_ps(v, _mm512_loadu_ps(w + i), _mm512_loadu_ps(b + i)));
	}
	for (; i < n; i++)
		row[i] = (row[i] - mean) * inv * w[i] + b[i];
}
#endif

/* ---------------------------------------------------------------- dispatch */

/* Whether the AVX2 bodies may be used */
static int
use_avx2(void)
{
#ifdef NN_X86
	static int	has = -1;

	if (has < 0)
		has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return has && force_portable != 1;
#else
	return 0;
#endif
}

/* Whether the AVX-512 bodies may be used */
static int
use_avx512(void)
{
#ifdef NN_X86
	static int	has = -1;

	if (has < 0)
		has = __builtin_cpu_supports("avx512f");
	return has && force_portable == 0;
#else
	return 0;
#endif
}

const char *
nn_kernels_isa(void)
{
	return use_avx512() ? "avx512" : use_avx2() ? "avx2" : "portable";
}

int
nn_kernels_force_portable(int on)
{
	int			old = force_portable;

	force_portable = on;
	return old;
}

void
nn_exp(float *x, size_t n)
{
#ifdef NN_X86
	if (use_avx512())
	{
		exp_avx512_arr(x, n);
		return;
	}
	if (use_avx2())
	{
		exp_avx2_arr(x, n);
		return;
	}
#endif
	exp_portable(x, n);
}

void
nn_gelu(float *x, size_t n)
{
#ifdef NN_X86
	if (use_avx512())
	{
		gelu_avx512_arr(x, n);
		return;
	}
	if (use_avx2())
	{
		gelu_avx2_arr(x, n);
		return;
	}
#endif
	gelu_portable(x, n);
}

void
nn_softmax_rows(float *x, size_t rows, size_t n)
{
#ifdef NN_X86
	if (use_avx512() && n > 0)
	{
		for (size_t r = 0; r < rows; r++)
			softmax_avx512(x + r * n, n);
		return;
	}
#endif
	for (size_t r = 0; r < rows; r++)
	{
		float	   *row = x + r * n;
		float		mx = row[0];
		float		sum = 0;
		float		inv;

		for (size_t i = 1; i < n; i++)
			mx = row[i] > mx ? row[i] : mx;
		for (size_t i = 0; i < n; i++)
			row[i] -= mx;
		nn_exp(row, n);
		for (size_t i = 0; i < n; i++)
			sum += row[i];
		inv = 1.0f / sum;
		for (size_t i = 0; i < n; i++)
			row[i] *= inv;
	}
}

void
nn_layernorm_rows(float *x, size_t rows, size_t n, const float *w,
				  const float *b, float eps)
{
#ifdef NN_X86
	if (use_avx512())
	{
		for (size_t r = 0; r < rows; r++)
			layernorm_avx512(x + r * n, n, w, b, eps);
		return;
	}
#endif
	for (size_t r = 0; r < rows; r++)
	{
		float	   *row = x + r * n;
		float		s0 = 0,
					s1 = 0,
					s2 = 0,
					s3 = 0;
		float		mean,
					var,
					inv;
		size_t		i = 0;

		for (; i + 4 <= n; i += 4)
		{
			s0 += row[i];
			s1 += row[i + 1];
			s2 += row[i + 2];
			s3 += row[i + 3];
		}
		for (; i < n; i++)
			s0 += row[i];
		mean = ((s0 + s1) + (s2 + s3)) / (float) n;
		s0 = s1 = s2 = s3 = 0;
		for (i = 0; i + 4 <= n; i += 4)
		{
			float		d0 = row[i] - mean,
						d1 = row[i + 1] - mean,
						d2 = row[i + 2] - mean,
						d3 = row[i + 3] - mean;

			s0 += d0 * d0;
			s1 += d1 * d1;
			s2 += d2 * d2;
			s3 += d3 * d3;
		}
		for (; i < n; i++)
			s0 += (row[i] - mean) * (row[i] - mean);
		var = ((s0 + s1) + (s2 + s3)) / (float) n;
		inv = 1.0f / sqrtf(var + eps);
		for (i = 0; i < n; i++)
			row[i] = (row[i] - mean) * inv * w[i] + b[i];
	}
}

void
nn_fill_rows(float *y, size_t rows, size_t n, const float *bias)
{
	for (size_t r = 0; r < rows; r++)
	{
		if (bias)
			memcpy(y + r * n, bias, n * sizeof(float));
		else
			memset(y + r * n, 0, n * sizeof(float));
	}
}

void
nn_add_bias_rows(float *y, const float *x, size_t rows, size_t n, const float *bias)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t i = 0; i < n; i++)
			y[r * n + i] = x[r * n + i] + bias[i];
}
