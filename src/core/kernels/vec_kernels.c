/*-------------------------------------------------------------------------
 *
 * vec_kernels.c
 *	  Distance kernels with run-time dispatch.
 *
 * Each kernel has three bodies: portable C (four independent partial sums,
 * which the compiler may vectorise), AVX2+FMA and AVX-512F intrinsics with
 * four vector accumulators to hide FMA latency.  The best body the CPU
 * supports is chosen on first use via __builtin_cpu_supports; no global
 * -mavx flags are needed, so the library still loads on older x86-64 and
 * builds on other architectures (where only the portable body exists).
 *
 * Sums are in float, like pgvector; the summation order differs from a
 * sequential loop, so results agree with a double-precision reference to
 * a relative error of about n * 2^-24, not bit for bit.
 *
 * src/core/kernels/vec_kernels.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/vec_kernels.h"

#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VK_X86 1
#include <immintrin.h>
#endif

typedef float (*vk_pair_fn) (const float *, const float *, int);
typedef void (*vk_cos_fn) (const float *, const float *, int,
						   float *, float *, float *);

typedef struct VkTable
{
	vk_pair_fn	l2sq;
	vk_pair_fn	dot;
	vk_pair_fn	l1;
	vk_cos_fn	cos_parts;
} VkTable;

/* ---------------------------------------------------------------- portable */

/* Portable squared L2 */
static float
l2sq_portable(const float *a, const float *b, int n)
{
	float		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		float		d0 = a[i] - b[i],
					d1 = a[i + 1] - b[i + 1],
					d2 = a[i + 2] - b[i + 2],
					d3 = a[i + 3] - b[i + 3];

		s0 += d0 * d0;
		s1 += d1 * d1;
		s2 += d2 * d2;
		s3 += d3 * d3;
	}
	for (; i < n; i++)
	{
		float		d = a[i] - b[i];

		s0 += d * d;
	}
	return (s0 + s1) + (s2 + s3);
}

/* Portable inner product */
static float
dot_portable(const float *a, const float *b, int n)
{
	float		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

/* Portable L1 */
static float
l1_portable(const float *a, const float *b, int n)
{
	float		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += fabsf(a[i] - b[i]);
		s1 += fabsf(a[i + 1] - b[i + 1]);
		s2 += fabsf(a[i + 2] - b[i + 2]);
		s3 += fabsf(a[i + 3] - b[i + 3]);
	}
	for (; i < n; i++)
		s0 += fabsf(a[i] - b[i]);
	return (s0 + s1) + (s2 + s3);
}

/* Portable dot and both squared norms */
static void
cos_parts_portable(const float *a, const float *b, int n,
				   float *dot, float *na, float *nb)
{
	float		d0 = 0,
				d1 = 0,
				a0 = 0,
				a1 = 0,
				b0 = 0,
				b1 = 0;
	int			i = 0;

	for (; i + 2 <= n; i += 2)
	{
		d0 += a[i] * b[i];
		d1 += a[i + 1] * b[i + 1];
		a0 += a[i] * a[i];
		a1 += a[i + 1] * a[i + 1];
		b0 += b[i] * b[i];
		b1 += b[i + 1] * b[i + 1];
	}
	for (; i < n; i++)
	{
		d0 += a[i] * b[i];
		a0 += a[i] * a[i];
		b0 += b[i] * b[i];
	}
	*dot = d0 + d1;
	*na = a0 + a1;
	*nb = b0 + b1;
}

static const VkTable vk_portable = {
	l2sq_portable, dot_portable, l1_portable, cos_parts_portable
};

#ifdef VK_X86

/* ------------------------------------------------------------------- AVX2 */

#define AVX2 __attribute__((target("avx2,fma")))

/* Horizontal sum of 8 floats */
AVX2 static inline float
hsum256(__m256 v)
{
	__m128		lo = _mm256_castps256_ps128(v);
	__m128		hi = _mm256_extractf128_ps(v, 1);
	__m128		s = _mm_add_ps(lo, hi);

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

/* Load the first r (< 8) floats of p, zero the rest */
AVX2 static inline __m256
load_tail256(const float *p, int r)
{
	static const int ramp[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
	__m256i		mask = _mm256_loadu_si256((const __m256i *) (ramp + 8 - r));

	return _mm256_maskload_ps(p, mask);
}

/* AVX2 squared L2 */
AVX2 static float
l2sq_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps(),
				s2 = _mm256_setzero_ps(),
				s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));

		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		s0 = _mm256_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__m256		d = _mm256_sub_ps(load_tail256(a + i, n - i), load_tail256(b + i, n - i));

		s1 = _mm256_fmadd_ps(d, d, s1);
	}
	return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* AVX2 inner product */
AVX2 static float
dot_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps(),
				s2 = _mm256_setzero_ps(),
				s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < n)
		s1 = _mm256_fmadd_ps(load_tail256(a + i, n - i), load_tail256(b + i, n - i), s1);
	return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* |x| for 8 floats */
AVX2 static inline __m256
abs256(__m256 x)
{
	return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

/* AVX2 L1 */
AVX2 static float
l1_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps(),
				s1 = _mm256_setzero_ps(),
				s2 = _mm256_setzero_ps(),
				s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_add_ps(s0, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i))));
		s1 = _mm256_add_ps(s1, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8))));
		s2 = _mm256_add_ps(s2, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16))));
		s3 = _mm256_add_ps(s3, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24))));
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_add_ps(s0, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i))));
	if (i < n)
		s1 = _mm256_add_ps(s1, abs256(_mm256_sub_ps(load_tail256(a + i, n - i), load_tail256(b + i, n - i))));
	return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* AVX2 dot and squared norms */
AVX2 static void
cos_parts_avx2(const float *a, const float *b, int n,
			   float *dot, float *na, float *nb)
{
	__m256		d0 = _mm256_setzero_ps(),
				d1 = _mm256_setzero_ps(),
				a0 = _mm256_setzero_ps(),
				a1 = _mm256_setzero_ps(),
				b0 = _mm256_setzero_ps(),
				b1 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		__m256		x0 = _mm256_loadu_ps(a + i),
					x1 = _mm256_loadu_ps(a + i + 8),
					y0 = _mm256_loadu_ps(b + i),
					y1 = _mm256_loadu_ps(b + i + 8);

		d0 = _mm256_fmadd_ps(x0, y0, d0);
		d1 = _mm256_fmadd_ps(x1, y1, d1);
		a0 = _mm256_fmadd_ps(x0, x0, a0);
		a1 = _mm256_fmadd_ps(x1, x1, a1);
		b0 = _mm256_fmadd_ps(y0, y0, b0);
		b1 = _mm256_fmadd_ps(y1, y1, b1);
	}
	for (; i < n; i += 8)
	{
		__m256		x = (n - i >= 8) ? _mm256_loadu_ps(a + i) : load_tail256(a + i, n - i);
		__m256		y = (n - i >= 8) ? _mm256_loadu_ps(b + i) : load_tail256(b + i, n - i);

		d0 = _mm256_fmadd_ps(x, y, d0);
		a0 = _mm256_fmadd_ps(x, x, a0);
		b0 = _mm256_fmadd_ps(y, y, b0);
	}
	*dot = hsum256(_mm256_add_ps(d0, d1));
	*na = hsum256(_mm256_add_ps(a0, a1));
	*nb = hsum256(_mm256_add_ps(b0, b1));
}

static const VkTable vk_avx2 = {
	l2sq_avx2, dot_avx2, l1_avx2, cos_parts_avx2
};

/* ---------------------------------------------------------------- AVX-512 */

#define AVX512 __attribute__((target("avx512f")))

/* Mask of the first r (< 16) lanes */
#define TAIL16(r) ((__mmask16) ((1u << (r)) - 1u))

/* AVX-512 squared L2 */
AVX512 static float
l2sq_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps(),
				s2 = _mm512_setzero_ps(),
				s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));

		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));

		s0 = _mm512_fmadd_ps(d, d, s0);
	}
	if (i < n)
	{
		__mmask16	m = TAIL16(n - i);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));

		s1 = _mm512_fmadd_ps(d, d, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* AVX-512 inner product */
AVX512 static float
dot_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps(),
				s2 = _mm512_setzero_ps(),
				s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < n)
	{
		__mmask16	m = TAIL16(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* |x| for 16 floats (AVX-512F has no andnot_ps; use integer ops) */
AVX512 static inline __m512
abs512(__m512 x)
{
	return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x),
												_mm512_set1_epi32(0x7fffffff)));
}

/* AVX-512 L1 */
AVX512 static float
l1_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps(),
				s1 = _mm512_setzero_ps(),
				s2 = _mm512_setzero_ps(),
				s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_add_ps(s0, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i))));
		s1 = _mm512_add_ps(s1, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16))));
		s2 = _mm512_add_ps(s2, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32))));
		s3 = _mm512_add_ps(s3, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48))));
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_add_ps(s0, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i))));
	if (i < n)
	{
		__mmask16	m = TAIL16(n - i);

		s1 = _mm512_add_ps(s1, abs512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
													_mm512_maskz_loadu_ps(m, b + i))));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* AVX-512 dot and squared norms */
AVX512 static void
cos_parts_avx512(const float *a, const float *b, int n,
				 float *dot, float *na, float *nb)
{
	__m512		d0 = _mm512_setzero_ps(),
				d1 = _mm512_setzero_ps(),
				a0 = _mm512_setzero_ps(),
				a1 = _mm512_setzero_ps(),
				b0 = _mm512_setzero_ps(),
				b1 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m512		x0 = _mm512_loadu_ps(a + i),
					x1 = _mm512_loadu_ps(a + i + 16),
					y0 = _mm512_loadu_ps(b + i),
					y1 = _mm512_loadu_ps(b + i + 16);

		d0 = _mm512_fmadd_ps(x0, y0, d0);
		d1 = _mm512_fmadd_ps(x1, y1, d1);
		a0 = _mm512_fmadd_ps(x0, x0, a0);
		a1 = _mm512_fmadd_ps(x1, x1, a1);
		b0 = _mm512_fmadd_ps(y0, y0, b0);
		b1 = _mm512_fmadd_ps(y1, y1, b1);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = (n - i >= 16) ? (__mmask16) 0xffff : TAIL16(n - i);
		__m512		x = _mm512_maskz_loadu_ps(m, a + i);
		__m512		y = _mm512_maskz_loadu_ps(m, b + i);

		d0 = _mm512_fmadd_ps(x, y, d0);
		a0 = _mm512_fmadd_ps(x, x, a0);
		b0 = _mm512_fmadd_ps(y, y, b0);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
	*na = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
	*nb = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1));
}

static const VkTable vk_avx512 = {
	l2sq_avx512, dot_avx512, l1_avx512, cos_parts_avx512
};
#endif							/* VK_X86 */

/* ---------------------------------------------------------------- dispatch */

static const VkTable *vk_table = NULL;
static VkIsa vk_isa = VK_ISA_PORTABLE;

/* Best ISA the running CPU supports */
VkIsa
vk_best_isa(void)
{
#ifdef VK_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return VK_ISA_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return VK_ISA_AVX2;
#endif
	return VK_ISA_PORTABLE;
}

/* Select isa, or the best supported one below it */
VkIsa
vk_set_isa(VkIsa isa)
{
	VkIsa		best = vk_best_isa();

	if (isa > best)
		isa = best;
#ifdef VK_X86
	if (isa == VK_ISA_AVX512)
		vk_table = &vk_avx512;
	else if (isa == VK_ISA_AVX2)
		vk_table = &vk_avx2;
	else
#endif
		vk_table = &vk_portable;
	vk_isa = isa;
	return isa;
}

/* The dispatch table, resolved on first use */
static inline const VkTable *
vk(void)
{
	if (vk_table == NULL)
		vk_set_isa(vk_best_isa());
	return vk_table;
}

VkIsa
vk_current_isa(void)
{
	vk();
	return vk_isa;
}

const char *
vk_isa_name(VkIsa isa)
{
	switch (isa)
	{
		case VK_ISA_AVX512:
			return "avx512f";
		case VK_ISA_AVX2:
			return "avx2+fma";
		case VK_ISA_PORTABLE:
			break;
	}
	return "portable";
}

/*
 * Below VK_SHORT elements a vector body does less work than its set-up and
 * horizontal sum, so short vectors take the portable loop directly.
 */
#define VK_SHORT 8

float
vk_l2sq(const float *a, const float *b, int n)
{
	float		s = 0;

	if (n >= VK_SHORT)
		return vk()->l2sq(a, b, n);
	for (int i = 0; i < n; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return s;
}

float
vk_dot(const float *a, const float *b, int n)
{
	float		s = 0;

	if (n >= VK_SHORT)
		return vk()->dot(a, b, n);
	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

float
vk_l1(const float *a, const float *b, int n)
{
	float		s = 0;

	if (n >= VK_SHORT)
		return vk()->l1(a, b, n);
	for (int i = 0; i < n; i++)
		s += fabsf(a[i] - b[i]);
	return s;
}

void
vk_cos_parts(const float *a, const float *b, int n,
			 float *dot, float *na, float *nb)
{
	float		d = 0,
				x = 0,
				y = 0;

	if (n >= VK_SHORT)
	{
		vk()->cos_parts(a, b, n, dot, na, nb);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		d += a[i] * b[i];
		x += a[i] * a[i];
		y += b[i] * b[i];
	}
	*dot = d;
	*na = x;
	*nb = y;
}

/* Cosine distance with pgvector's rounding: sqrt of the product of norms */
double
vk_cosine_distance(const float *a, const float *b, int n)
{
	float		dot,
				na,
				nb;
	double		sim;

	vk_cos_parts(a, b, n, &dot, &na, &nb);
	sim = (double) dot / sqrt((double) na * (double) nb);
	/* Keep in range; NaN (a zero vector) passes through */
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	return 1.0 - sim;
}

/* L2 norm accumulated in double */
double
vk_norm(const float *a, int n)
{
	double		s0 = 0,
				s1 = 0;
	int			i = 0;

	for (; i + 2 <= n; i += 2)
	{
		s0 += (double) a[i] * (double) a[i];
		s1 += (double) a[i + 1] * (double) a[i + 1];
	}
	if (i < n)
		s0 += (double) a[i] * (double) a[i];
	return sqrt(s0 + s1);
}
