/*-------------------------------------------------------------------------
 *
 * qdot_x86.c
 *	  AVX2 (with FMA and F16C) kernels of the block dot products (qdot.h).
 *
 * The integer part of every block product is the portable kernels' exact
 * sum: unsigned or sign-adjusted weight bytes times int8 activations with
 * vpmaddubsw (pairs into int16, no overflow: |w| <= 63 for the 6-bit
 * types, 15 or 31 for the others, |a| <= 127), then vpmaddwd into int32,
 * scaled once per block in float.  K-quant minimums and Q6_K's offset of
 * 32 use the activation block's sums of 16.  Compiled for AVX2 through
 * target attributes and chosen at run time, so the extension still runs on
 * CPUs without it.
 *
 * src/core/kernels/qdot_x86.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/kernels/fp16.h"
#include "core/kernels/qdot.h"
#include "core/kernels/qdot_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Sum of the 8 floats of v */
AVX2 static inline float
hsum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* int32 lanes of sum over pairs of (u8 u) * (s8 s) */
AVX2 static inline __m256i
dot_u8s8(__m256i u, __m256i s)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for signed w: |w| times s with w's sign moved onto s */
AVX2 static inline __m256i
dot_s8s8(__m256i w, __m256i s)
{
	return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(s, w));
}

/* Scale of an activation block */
static inline float
act_d(const uint8_t *blk)
{
	float		d;

	memcpy(&d, blk, sizeof(d));
	return d;
}

/* 32 nibbles of 16 bytes: low nibbles first, then high ones */
AVX2 static inline __m256i
nibbles(const uint8_t *qs)
{
	__m128i		b = _mm_loadu_si128((const __m128i *) qs);
	__m256i		both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);

	return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Byte j is 0xFF where bit j of x is set */
AVX2 static inline __m256i
bits_to_bytes(uint32_t x)
{
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
											2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x((int64_t) 0x8040201008040201ull);
	__m256i		v = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t) x), spread);

	return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* 8 weights of each float type, at element j, as float */
AVX2 static inline __attribute__((always_inline)) __m256
f32x8(const uint8_t *w, int j)
{
	return _mm256_loadu_ps((const float *) w + j);
}

AVX2 static inline __attribute__((always_inline)) __m256
f16x8(const uint8_t *w, int j)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (w + 2 * (size_t) j)));
}

AVX2 static inline __attribute__((always_inline)) __m256
bf16x8(const uint8_t *w, int j)
{
	__m256i		v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) (w + 2 * (size_t) j)));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* One weight of each float type, at element j, as float (the tails) */
static inline float
f32_at(const uint8_t *w, int j)
{
	float		v;

	memcpy(&v, w + 4 * (size_t) j, sizeof(v));
	return v;
}

static inline float
f16_at(const uint8_t *w, int j)
{
	return fp16_to_fp32(fp16_read_le16(w + 2 * (size_t) j));
}

static inline float
bf16_at(const uint8_t *w, int j)
{
	return bf16_to_fp32(fp16_read_le16(w + 2 * (size_t) j));
}

/* Float rows . float activations: two accumulators of 8, then the tail */
#define FLOAT_DOT(type) \
AVX2 static float \
dot_##type(int n, const uint8_t *w, const uint8_t *a) \
{ \
	const float *x = (const float *) a; \
	__m256		acc0 = _mm256_setzero_ps(), \
				acc1 = _mm256_setzero_ps(); \
	float		tail = 0.0f; \
	int			j = 0; \
\
	for (; j + 16 <= n; j += 16) \
	{ \
		acc0 = _mm256_fmadd_ps(type##x8(w, j), _mm256_loadu_ps(x + j), acc0); \
		acc1 = _mm256_fmadd_ps(type##x8(w, j + 8), _mm256_loadu_ps(x + j + 8), acc1); \
	} \
	for (; j < n; j++) \
		tail += type##_at(w, j) * x[j]; \
	return hsum(_mm256_add_ps(acc0, acc1)) + tail; \
}
FLOAT_DOT(f32)
FLOAT_DOT(f16)
FLOAT_DOT(bf16)

/* Scale of a weight block (fp16) */
AVX2 static inline float
w_d(const uint8_t *p)
{
	return _cvtsh_ss(fp16_read_le16(p));
}

/*
 * One block of each quantised type: acc += float(integer block sum) * scale;
 * *mins collects what the K-quants subtract (their minimums)
 */
#define BLOCK_FMA(acc, sumi, d) \
	_mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d), (acc))

AVX2 static inline __attribute__((always_inline)) __m256
step_q8_0(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	__m256i		qw = _mm256_loadu_si256((const __m256i *) (w + 2));
	__m256i		qa = _mm256_loadu_si256((const __m256i *) (a + 4));

	(void) mins;
	return BLOCK_FMA(acc, dot_s8s8(qw, qa), w_d(w) * act_d(a));
}

AVX2 static inline __attribute__((always_inline)) __m256
step_q4_0(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	__m256i		qw = _mm256_sub_epi8(nibbles(w + 2), _mm256_set1_epi8(8));
	__m256i		qa = _mm256_loadu_si256((const __m256i *) (a + 4));

	(void) mins;
	return BLOCK_FMA(acc, dot_s8s8(qw, qa), w_d(w) * act_d(a));
}

AVX2 static inline __attribute__((always_inline)) __m256
step_q5_0(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	uint32_t	qh;
	__m256i		hi,
				qw,
				qa;

	(void) mins;
	memcpy(&qh, w + 2, sizeof(qh));
	hi = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
	qw = _mm256_sub_epi8(_mm256_or_si256(nibbles(w + 6), hi), _mm256_set1_epi8(16));
	qa = _mm256_loadu_si256((const __m256i *) (a + 4));
	return BLOCK_FMA(acc, dot_s8s8(qw, qa), w_d(w) * act_d(a));
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1) */
AVX2 static inline __attribute__((always_inline)) __m256
step_k45(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins, int q5)
{
	const uint8_t *qs = w + (q5 ? 48 : 16);
	const int8_t *qa = (const int8_t *) (a + 4);
	__m256i		qhv = q5 ? _mm256_loadu_si256((const __m256i *) (w + 16)) : _mm256_setzero_si256();
	uint8_t		sc[8],
				mn[8];
	__m256i		sumi = _mm256_setzero_si256();
	float		da = act_d(a);

	qdot_k_scales(w + 4, sc, mn);
	for (int g = 0; g < 4; g++)
	{
		__m256i		q = _mm256_loadu_si256((const __m256i *) (qs + 32 * g));
		__m256i		lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
		__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F));
		__m256i		p1,
					p2;

		if (q5)
		{
			__m256i		m1 = _mm256_set1_epi8((char) (1 << (2 * g)));
			__m256i		m2 = _mm256_set1_epi8((char) (1 << (2 * g + 1)));

			lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qhv, m1), m1),
													  _mm256_set1_epi8(0x10)));
			hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qhv, m2), m2),
													  _mm256_set1_epi8(0x10)));
		}
		p1 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *) (qa + 64 * g)));
		p2 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *) (qa + 64 * g + 32)));
		sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * g])));
		sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p2, _mm256_set1_epi16(sc[2 * g + 1])));
	}
	/* fused whatever -ffp-contract says: the VNNI tiles do the same fma */
	*mins = fmaf(w_d(w + 2) * da, (float) qdot_k_mins(a, mn), *mins);
	return BLOCK_FMA(acc, sumi, w_d(w) * da);
}

AVX2 static inline __attribute__((always_inline)) __m256
step_q4_k(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	return step_k45(w, a, acc, mins, 0);
}

AVX2 static inline __attribute__((always_inline)) __m256
step_q5_k(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	return step_k45(w, a, acc, mins, 1);
}

/*
 * Q6_K: each half of 128 values has 64 ql bytes and 32 qh bytes; value
 * l + 32k (k = 0..3) takes a nibble of ql[l] or ql[l+32] and two bits of
 * qh[l]; q - 32 is computed as q . a - 32 * sum(a) with the block's sums of
 * 16, whose index is also the scale's
 */
AVX2 static inline __attribute__((always_inline)) __m256
step_q6_k(const uint8_t *w, const uint8_t *a, __m256 acc, float *mins)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i m2 = _mm256_set1_epi8(0x03);
	const int8_t *sc = (const int8_t *) (w + 192);
	const int8_t *qa = (const int8_t *) (a + 4);
	int16_t		sums[16];
	int			offset = 0;
	__m256i		sumi = _mm256_setzero_si256();

	(void) mins;
	memcpy(sums, a + 4 + QDOT_A8K_BLOCK, sizeof(sums));
	for (int k = 0; k < 16; k++)
		offset += sc[k] * sums[k];
	for (int h = 0; h < 2; h++)
	{
		__m256i		l0 = _mm256_loadu_si256((const __m256i *) (w + 64 * h));
		__m256i		l1 = _mm256_loadu_si256((const __m256i *) (w + 64 * h + 32));
		__m256i		qh = _mm256_loadu_si256((const __m256i *) (w + 128 + 32 * h));
		__m256i		q[4];

		q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
							   _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
		q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
							   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
		q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
							   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
		q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
							   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
		for (int k = 0; k < 4; k++)
		{
			int			si = 8 * h + 2 * k;
			__m256i		p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *) (qa + 128 * h + 32 * k)));
			__m256i		s = _mm256_set_m128i(_mm_set1_epi16(sc[si + 1]), _mm_set1_epi16(sc[si]));

			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
		}
	}
	sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * offset, 0, 0, 0, 0, 0, 0, 0));
	return BLOCK_FMA(acc, sumi, w_d(w + 208) * act_d(a));
}

/* out[r] = sum of acc[r]'s lanes + extra[r], r < nr */
AVX2 static inline void
hsum_rows(const __m256 *acc, const float *extra, int nr, float *out)
{
	for (int r = 0; r < nr; r++)
		out[r] = hsum(acc[r]) - extra[r];
}

/*
 * Row groups of a block type: up to 4 weight rows against one activation
 * row, block by block, so each activation block is loaded once for the
 * rows and the 4 independent accumulators hide the FMA latency
 */
#define ROWS(type, QK, WB, AB) \
AVX2 static void \
rows_##type(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *a, float *out) \
{ \
	__m256		acc[QDOT_ROWS]; \
	float		mins[QDOT_ROWS] = {0}; \
	int			nb = n / (QK); \
\
	for (int r = 0; r < QDOT_ROWS; r++) \
		acc[r] = _mm256_setzero_ps(); \
	if (nr == QDOT_ROWS) \
		for (int b = 0; b < nb; b++) \
		{ \
			const uint8_t *ab = a + (size_t) b * (AB); \
			const uint8_t *wb = w + (size_t) b * (WB); \
\
			acc[0] = step_##type(wb, ab, acc[0], &mins[0]); \
			acc[1] = step_##type(wb + rb, ab, acc[1], &mins[1]); \
			acc[2] = step_##type(wb + 2 * rb, ab, acc[2], &mins[2]); \
			acc[3] = step_##type(wb + 3 * rb, ab, acc[3], &mins[3]); \
		} \
	else \
		for (int r = 0; r < nr; r++) \
			for (int b = 0; b < nb; b++) \
				acc[r] = step_##type(w + r * rb + (size_t) b * (WB), a + (size_t) b * (AB), \
									 acc[r], &mins[r]); \
	hsum_rows(acc, mins, nr, out); \
}
ROWS(q8_0, 32, 34, QDOT_A8_BYTES)
ROWS(q4_0, 32, 18, QDOT_A8_BYTES)
ROWS(q5_0, 32, 22, QDOT_A8_BYTES)
ROWS(q4_k, 256, 144, QDOT_A8K_BYTES)
ROWS(q5_k, 256, 176, QDOT_A8K_BYTES)
ROWS(q6_k, 256, 210, QDOT_A8K_BYTES)

/* Row groups of the float types: one row at a time */
#define FLOAT_ROWS(type) \
AVX2 static void \
rows_##type(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *a, float *out) \
{ \
	for (int r = 0; r < nr; r++) \
		out[r] = dot_##type(n, w + (size_t) r * rb, a); \
}
FLOAT_ROWS(f32)
FLOAT_ROWS(f16)
FLOAT_ROWS(bf16)

/*
 * One A8 block (qdot.c's quantize_a8_block, vectorised): amax of the 32
 * values, d = fp16(amax / 127), q = x * (127 / amax) rounded to nearest
 * even (vroundps), clamped; a NaN becomes 0 as in the portable code
 */
AVX2 static void
a8_block(const float *x, uint8_t *dst)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		v[4],
				m;
	__m128		m4;
	float		amax,
				d,
				id;
	__m256i		q[4],
				p01,
				p23,
				packed;

	for (int i = 0; i < 4; i++)
		v[i] = _mm256_loadu_ps(x + 8 * i);
	/* vmaxps returns its second operand for NaN: the running max ignores NaN */
	m = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_setzero_ps());
	for (int i = 1; i < 4; i++)
		m = _mm256_max_ps(_mm256_andnot_ps(sign, v[i]), m);
	m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
	m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
	amax = _mm_cvtss_f32(m4);
	d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, 0));
	id = amax != 0.0f ? 127.0f / amax : 0.0f;
	memcpy(dst, &d, sizeof(d));
	for (int i = 0; i < 4; i++)
	{
		__m256		y = _mm256_mul_ps(v[i], _mm256_set1_ps(id));

		/* NaN -> 0, then clamp to [-127, 127] */
		y = _mm256_and_ps(y, _mm256_cmp_ps(y, y, _CMP_ORD_Q));
		y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
		q[i] = _mm256_cvtps_epi32(_mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
	/* int32 -> int8 in order: packs interleave 128-bit lanes, a permute restores it */
	p01 = _mm256_packs_epi32(q[0], q[1]);
	p23 = _mm256_packs_epi32(q[2], q[3]);
	packed = _mm256_packs_epi16(p01, p23);
	packed = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *) (dst + 4), packed);
}

QdotA8Fn
qdot_avx2_a8(void)
{
	return qdot_avx2_kernels() ? a8_block : NULL;
}

/*
 * AVX-512 VNNI tiles (256-bit vpdpbusd, AVX512VL): 4 weight rows times up
 * to 4 activation rows per pass over the blocks, so each weight block is
 * loaded, unpacked and summed once for all of them.  vpdpbusd multiplies
 * unsigned by signed bytes, so the activations are shifted to a + 128
 * (their sign bit flipped) and each lane starts from -128 times the sum
 * of its 4 weight bytes, which makes the lane the exact sum of a * w over
 * the same 4 bytes as the row kernels' lanes; the float scaling, the
 * accumulation order and the final sum are the row kernels' too, so the
 * results are identical bit for bit.  AVX512BW lets the byte and word
 * instructions (vpmaddubsw, vpshufb) use all 32 vector registers, which
 * the 16 integer accumulators of a K-quant tile need; unrolled loops
 * (#pragma GCC unroll) keep those accumulators in registers.
 */
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
#define TILE_J 4

/* The 32 signed weights of a Q8_0 / Q4_0 / Q5_0 block */
VNNI static inline __attribute__((always_inline)) __m256i
wq_q8_0(const uint8_t *w)
{
	return _mm256_loadu_si256((const __m256i *) (w + 2));
}

VNNI static inline __attribute__((always_inline)) __m256i
wq_q4_0(const uint8_t *w)
{
	return _mm256_sub_epi8(nibbles(w + 2), _mm256_set1_epi8(8));
}

VNNI static inline __attribute__((always_inline)) __m256i
wq_q5_0(const uint8_t *w)
{
	uint32_t	qh;
	__m256i		hi;

	memcpy(&qh, w + 2, sizeof(qh));
	hi = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
	return _mm256_sub_epi8(_mm256_or_si256(nibbles(w + 6), hi), _mm256_set1_epi8(16));
}

/* One block pair: acc += float(exact integer dot of activation j and weight row r) * scale */
#define PAIR(r, j) \
	acc##r##j = BLOCK_FMA(acc##r##j, _mm256_dpbusd_epi32(c##r, a##j, w##r), dw##r * da##j)

#define TILE(type, WB) \
VNNI static void \
tile_##type(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *act, size_t arb, int m, \
			float *out, int ldo) \
{ \
	int			nb = n / 32; \
	int			j0 = 0; \
	const __m256i ones = _mm256_set1_epi8(1); \
	const __m256i flip = _mm256_set1_epi8((char) 0x80); \
	float		zero[QDOT_ROWS] = {0}; \
\
	for (; nr == QDOT_ROWS && j0 + TILE_J <= m; j0 += TILE_J) \
	{ \
		__m256		acc00 = _mm256_setzero_ps(), acc01 = acc00, acc02 = acc00, acc03 = acc00, \
					acc10 = acc00, acc11 = acc00, acc12 = acc00, acc13 = acc00, \
					acc20 = acc00, acc21 = acc00, acc22 = acc00, acc23 = acc00, \
					acc30 = acc00, acc31 = acc00, acc32 = acc00, acc33 = acc00; \
		const uint8_t *a0p = act + (size_t) j0 * arb; \
\
		for (int b = 0; b < nb; b++) \
		{ \
			const uint8_t *wb = w + (size_t) b * (WB); \
			const uint8_t *ab = a0p + (size_t) b * QDOT_A8_BYTES; \
			__m256i		w0 = wq_##type(wb), \
						w1 = wq_##type(wb + rb), \
						w2 = wq_##type(wb + 2 * rb), \
						w3 = wq_##type(wb + 3 * rb); \
			__m256i		c0 = _mm256_sub_epi32(_mm256_setzero_si256(), \
											  _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, w0), 7)), \
						c1 = _mm256_sub_epi32(_mm256_setzero_si256(), \
											  _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, w1), 7)), \
						c2 = _mm256_sub_epi32(_mm256_setzero_si256(), \
											  _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, w2), 7)), \
						c3 = _mm256_sub_epi32(_mm256_setzero_si256(), \
											  _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, w3), 7)); \
			float		dw0 = w_d(wb), \
						dw1 = w_d(wb + rb), \
						dw2 = w_d(wb + 2 * rb), \
						dw3 = w_d(wb + 3 * rb); \
			__m256i		a0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (ab + 4)), flip), \
						a1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (ab + arb + 4)), flip), \
						a2 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (ab + 2 * arb + 4)), flip), \
						a3 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (ab + 3 * arb + 4)), flip); \
			float		da0 = act_d(ab), \
						da1 = act_d(ab + arb), \
						da2 = act_d(ab + 2 * arb), \
						da3 = act_d(ab + 3 * arb); \
\
			PAIR(0, 0); PAIR(1, 0); PAIR(2, 0); PAIR(3, 0); \
			PAIR(0, 1); PAIR(1, 1); PAIR(2, 1); PAIR(3, 1); \
			PAIR(0, 2); PAIR(1, 2); PAIR(2, 2); PAIR(3, 2); \
			PAIR(0, 3); PAIR(1, 3); PAIR(2, 3); PAIR(3, 3); \
		} \
		{ \
			__m256		col0[QDOT_ROWS] = {acc00, acc10, acc20, acc30}, \
						col1[QDOT_ROWS] = {acc01, acc11, acc21, acc31}, \
						col2[QDOT_ROWS] = {acc02, acc12, acc22, acc32}, \
						col3[QDOT_ROWS] = {acc03, acc13, acc23, acc33}; \
\
			hsum_rows(col0, zero, QDOT_ROWS, out + (size_t) j0 * ldo); \
			hsum_rows(col1, zero, QDOT_ROWS, out + (size_t) (j0 + 1) * ldo); \
			hsum_rows(col2, zero, QDOT_ROWS, out + (size_t) (j0 + 2) * ldo); \
			hsum_rows(col3, zero, QDOT_ROWS, out + (size_t) (j0 + 3) * ldo); \
		} \
	} \
	/* the rest (fewer than 4 rows or activations): the row kernel */ \
	for (; j0 < m; j0++) \
		rows_##type(n, w, rb, nr, act + (size_t) j0 * arb, out + (size_t) j0 * ldo); \
}
TILE(q8_0, 34)
TILE(q4_0, 18)
TILE(q5_0, 22)

/*
 * K-quant tiles.  A block's lanes are the row kernel's: vpmaddubsw
 * multiplies unsigned weights by the activations in pairs and vpdpwssd
 * multiplies those by the sub-block's scale and adds them to the lane, as
 * vpmaddwd + vpaddd do there, so each int32 lane sums the same products.
 * Each weight block (values, 6-bit scales) is unpacked, and each
 * activation block's sums of 16 combined, once for the 4 x 4 pairs.
 * Several scalars the row kernel computes one at a time (minimums, Q6_K's
 * offsets, block scales) are computed 4 at a time here, with the same
 * operations per element, in the same order.
 */
#define TILE_PAIRS (QDOT_ROWS * TILE_J)

/* Broadcast int16 number i of each 128-bit half of v */
#define PICK16(i) ((short) (0x0100 + 0x0202 * (i)))

/* A block's scale (fp16) in 8 lanes, as w_d */
VNNI static inline __attribute__((always_inline)) __m256
w_d8(const uint8_t *p)
{
	return _mm256_cvtph_ps(_mm_set1_epi16((short) fp16_read_le16(p)));
}

/* BLOCK_FMA with the scale already in 8 lanes (the same product, rounded once) */
#define TILE_FMA(acc, sumi, d8) _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), (d8), (acc))

/* acc[r * TILE_J + j] at out[j * ldo + r], less extra[r * TILE_J + j] */
VNNI static inline void
tile_store(const __m256 *acc, const float *extra, float *out, int ldo)
{
	#pragma GCC unroll 16
	for (int j = 0; j < TILE_J; j++)
	{
		__m256		col[QDOT_ROWS];
		float		ex[QDOT_ROWS];

		#pragma GCC unroll 16
		for (int r = 0; r < QDOT_ROWS; r++)
		{
			col[r] = acc[r * TILE_J + j];
			ex[r] = extra[r * TILE_J + j];
		}
		hsum_rows(col, ex, QDOT_ROWS, out + (size_t) j * ldo);
	}
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1) */
VNNI static inline __attribute__((always_inline)) void
tile_k45(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *act, size_t arb, int m,
		 float *out, int ldo, int q5)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i bit4 = _mm256_set1_epi8(0x10);
	const size_t wbytes = q5 ? 176 : 144;
	int			nb = n / 256;
	int			j0 = 0;

	for (; nr == QDOT_ROWS && j0 + TILE_J <= m; j0 += TILE_J)
	{
		const uint8_t *a0 = act + (size_t) j0 * arb;
		__m256		acc[TILE_PAIRS];
		__m128		mins[QDOT_ROWS];
		float		extra[TILE_PAIRS];

		#pragma GCC unroll 16
		for (int p = 0; p < TILE_PAIRS; p++)
			acc[p] = _mm256_setzero_ps();
		#pragma GCC unroll 16
		for (int r = 0; r < QDOT_ROWS; r++)
			mins[r] = _mm_setzero_ps();
		for (int b = 0; b < nb; b++)
		{
			const uint8_t *wb = w + (size_t) b * wbytes;
			const uint8_t *ab = a0 + (size_t) b * QDOT_A8K_BYTES;
			__m128		da = _mm_setr_ps(act_d(ab), act_d(ab + arb), act_d(ab + 2 * arb),
										 act_d(ab + 3 * arb));
			__m256		daj[TILE_J];
			__m256i		sumi[TILE_PAIRS];
			__m128i		mn16[QDOT_ROWS],
						asum[TILE_J];
			uint32_t	scp[QDOT_ROWS][8];	/* sub-block scales, as int16 pairs */

			#pragma GCC unroll 16
			for (int j = 0; j < TILE_J; j++)
				daj[j] = _mm256_broadcast_ss((const float *) (ab + j * arb));
			#pragma GCC unroll 16
			for (int r = 0; r < QDOT_ROWS; r++)
			{
				uint8_t		sc[8],
							mn[8];
				__m256i		sv;

				qdot_k_scales(wb + r * rb + 4, sc, mn);
				sv = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) sc));
				_mm256_storeu_si256((__m256i *) scp[r], _mm256_or_si256(sv, _mm256_slli_epi32(sv, 16)));
				mn16[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *) mn));
			}
			#pragma GCC unroll 16
			for (int p = 0; p < TILE_PAIRS; p++)
				sumi[p] = _mm256_setzero_si256();
			#pragma GCC unroll 16
			for (int s = 0; s < 8; s++)
				#pragma GCC unroll 16
				for (int r = 0; r < QDOT_ROWS; r++)
				{
					const uint8_t *wr = wb + r * rb;
					__m256i		raw = _mm256_loadu_si256((const __m256i *) (wr + (q5 ? 48 : 16) + 32 * (s / 2)));
					__m256i		q = _mm256_and_si256(s & 1 ? _mm256_srli_epi16(raw, 4) : raw, m4);
					__m256i		scv = _mm256_set1_epi32((int) scp[r][s]);

					if (q5)
					{
						/* bit s of each qh byte, moved to bit 4 */
						__m256i		qh = _mm256_loadu_si256((const __m256i *) (wr + 16));
						__m256i		hb = s <= 4 ? _mm256_slli_epi16(qh, 4 - s) : _mm256_srli_epi16(qh, s - 4);

						q = _mm256_or_si256(q, _mm256_and_si256(hb, bit4));
					}
					#pragma GCC unroll 16
					for (int j = 0; j < TILE_J; j++)
					{
						__m256i		av = _mm256_loadu_si256((const __m256i *) (ab + j * arb + 4 + 32 * s));

						sumi[r * TILE_J + j] = _mm256_dpwssd_epi32(sumi[r * TILE_J + j],
																   _mm256_maddubs_epi16(q, av), scv);
					}
				}
			/* qdot_k_mins: mn[s] times the activations' sums of 32 (pairs of sums of 16) */
			#pragma GCC unroll 16
			for (int j = 0; j < TILE_J; j++)
			{
				const uint8_t *sums = ab + j * arb + 4 + QDOT_A8K_BLOCK;

				asum[j] = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *) sums),
										 _mm_loadu_si128((const __m128i *) (sums + 16)));
			}
			#pragma GCC unroll 16
			for (int r = 0; r < QDOT_ROWS; r++)
			{
				const uint8_t *wr = wb + r * rb;
				__m128i		mi = _mm_hadd_epi32(_mm_hadd_epi32(_mm_madd_epi16(mn16[r], asum[0]),
															   _mm_madd_epi16(mn16[r], asum[1])),
												_mm_hadd_epi32(_mm_madd_epi16(mn16[r], asum[2]),
															   _mm_madd_epi16(mn16[r], asum[3])));
				__m256		dw = w_d8(wr);

				#pragma GCC unroll 16
				for (int j = 0; j < TILE_J; j++)
					acc[r * TILE_J + j] = TILE_FMA(acc[r * TILE_J + j], sumi[r * TILE_J + j],
												   _mm256_mul_ps(dw, daj[j]));
				mins[r] = _mm_fmadd_ps(_mm_mul_ps(_mm_set1_ps(w_d(wr + 2)), da), _mm_cvtepi32_ps(mi),
									   mins[r]);
			}
		}
		#pragma GCC unroll 16
		for (int r = 0; r < QDOT_ROWS; r++)
			_mm_storeu_ps(extra + r * TILE_J, mins[r]);
		tile_store(acc, extra, out + (size_t) j0 * ldo, ldo);
	}
	/* the rest (fewer than 4 rows or activations): the row kernel */
	for (; j0 < m; j0++)
		(q5 ? rows_q5_k : rows_q4_k) (n, w, rb, nr, act + (size_t) j0 * arb, out + (size_t) j0 * ldo);
}

VNNI static void
tile_q4_k(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *act, size_t arb, int m,
		  float *out, int ldo)
{
	tile_k45(n, w, rb, nr, act, arb, m, out, ldo, 0);
}

VNNI static void
tile_q5_k(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *act, size_t arb, int m,
		  float *out, int ldo)
{
	tile_k45(n, w, rb, nr, act, arb, m, out, ldo, 1);
}

/*
 * Q6_K: as step_q6_k, each block's lanes start from 0 but lane 0, which
 * starts from -32 * (the scales . the activations' sums of 16)
 */
VNNI static void
tile_q6_k(int n, const uint8_t *w, size_t rb, int nr, const uint8_t *act, size_t arb, int m,
		  float *out, int ldo)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i m2 = _mm256_set1_epi8(0x03);
	const float zero[TILE_PAIRS] = {0};
	int			nb = n / 256;
	int			j0 = 0;

	for (; nr == QDOT_ROWS && j0 + TILE_J <= m; j0 += TILE_J)
	{
		const uint8_t *a0 = act + (size_t) j0 * arb;
		__m256		acc[TILE_PAIRS];

		#pragma GCC unroll 16
		for (int p = 0; p < TILE_PAIRS; p++)
			acc[p] = _mm256_setzero_ps();
		for (int b = 0; b < nb; b++)
		{
			const uint8_t *wb = w + (size_t) b * 210;
			const uint8_t *ab = a0 + (size_t) b * QDOT_A8K_BYTES;
			__m256		daj[TILE_J];
			__m256i		sumi[TILE_PAIRS],
						sums[TILE_J];

			#pragma GCC unroll 16
			for (int j = 0; j < TILE_J; j++)
			{
				daj[j] = _mm256_broadcast_ss((const float *) (ab + j * arb));
				sums[j] = _mm256_loadu_si256((const __m256i *) (ab + j * arb + 4 + QDOT_A8K_BLOCK));
			}
			#pragma GCC unroll 16
			for (int r = 0; r < QDOT_ROWS; r++)
			{
				__m256i		sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (wb + r * rb + 192)));
				__m256i		h = _mm256_hadd_epi32(_mm256_hadd_epi32(_mm256_madd_epi16(sc16, sums[0]),
																	_mm256_madd_epi16(sc16, sums[1])),
												  _mm256_hadd_epi32(_mm256_madd_epi16(sc16, sums[2]),
																	_mm256_madd_epi16(sc16, sums[3])));
				__m128i		off = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
				__m256i		neg = _mm256_castsi128_si256(_mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(off, 5)));

				#pragma GCC unroll 16
				for (int j = 0; j < TILE_J; j++)
					sumi[r * TILE_J + j] = _mm256_maskz_permutexvar_epi32(1, _mm256_set1_epi32(j), neg);
			}
			#pragma GCC unroll 16
			for (int half = 0; half < 2; half++)
			{
				__m256i		sch[QDOT_ROWS];

				#pragma GCC unroll 16
				for (int r = 0; r < QDOT_ROWS; r++)
					sch[r] = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *) (wb + r * rb + 192 + 8 * half))));
				#pragma GCC unroll 16
				for (int k = 0; k < 4; k++)
				{
					__m256i		q[QDOT_ROWS],
								scv[QDOT_ROWS];

					#pragma GCC unroll 16
					for (int r = 0; r < QDOT_ROWS; r++)
					{
						const uint8_t *wr = wb + r * rb;
						__m256i		l = _mm256_loadu_si256((const __m256i *) (wr + 64 * half + 32 * (k & 1)));
						__m256i		qh = _mm256_loadu_si256((const __m256i *) (wr + 128 + 32 * half));

						q[r] = _mm256_or_si256(_mm256_and_si256(k >= 2 ? _mm256_srli_epi16(l, 4) : l, m4),
											   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m2), 4));
						scv[r] = _mm256_shuffle_epi8(sch[r], _mm256_set_m128i(_mm_set1_epi16(PICK16(2 * k + 1)),
																			  _mm_set1_epi16(PICK16(2 * k))));
					}
					#pragma GCC unroll 16
					for (int j = 0; j < TILE_J; j++)
					{
						__m256i		av = _mm256_loadu_si256((const __m256i *) (ab + j * arb + 4 + 128 * half + 32 * k));

						#pragma GCC unroll 16
						for (int r = 0; r < QDOT_ROWS; r++)
							sumi[r * TILE_J + j] = _mm256_dpwssd_epi32(sumi[r * TILE_J + j],
																	   _mm256_maddubs_epi16(q[r], av), scv[r]);
					}
				}
			}
			#pragma GCC unroll 16
			for (int r = 0; r < QDOT_ROWS; r++)
			{
				__m256		dw = w_d8(wb + r * rb + 208);

				#pragma GCC unroll 16
				for (int j = 0; j < TILE_J; j++)
					acc[r * TILE_J + j] = TILE_FMA(acc[r * TILE_J + j], sumi[r * TILE_J + j],
												   _mm256_mul_ps(dw, daj[j]));
			}
		}
		tile_store(acc, zero, out + (size_t) j0 * ldo, ldo);
	}
	for (; j0 < m; j0++)
		rows_q6_k(n, w, rb, nr, act + (size_t) j0 * arb, out + (size_t) j0 * ldo);
}

static const QdotKernels avx2 = {
	"avx2", rows_f32, rows_f16, rows_bf16, rows_q8_0, rows_q4_0, rows_q5_0,
	rows_q4_k, rows_q5_k, rows_q6_k, NULL, NULL, NULL, NULL, NULL, NULL
};

static const QdotKernels vnni = {
	"avx512vnni", rows_f32, rows_f16, rows_bf16, rows_q8_0, rows_q4_0, rows_q5_0,
	rows_q4_k, rows_q5_k, rows_q6_k, tile_q8_0, tile_q4_0, tile_q5_0,
	tile_q4_k, tile_q5_k, tile_q6_k
};

const QdotKernels *
qdot_vnni_kernels(void)
{
	if (qdot_avx2_kernels() && __builtin_cpu_supports("avx512vnni") &&
		__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512f"))
		return &vnni;
	return NULL;
}

const QdotKernels *
qdot_avx2_kernels(void)
{
	/* every CPU with AVX2 has F16C (which clang's builtin cannot name) */
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return &avx2;
	return NULL;
}

#else							/* not x86 */

const QdotKernels *
qdot_avx2_kernels(void)
{
	return NULL;
}

const QdotKernels *
qdot_vnni_kernels(void)
{
	return NULL;
}

QdotA8Fn
qdot_avx2_a8(void)
{
	return NULL;
}

#endif
