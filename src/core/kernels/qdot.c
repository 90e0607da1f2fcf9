/*-------------------------------------------------------------------------
 *
 * qdot.c
 *	  Matrix-vector products on ggml blocks (see qdot.h).
 *
 * Each weight type has a dot product of one weight row with one
 * activation row; qdot_matmul runs it for every (weight row, activation
 * row) pair, weight row by weight row.  The portable kernels below are the
 * definition; the AVX2 kernels (qdot_x86.c) compute the same integer
 * block sums and differ only in the order of the float additions.
 *
 * src/core/kernels/qdot.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "core/kernels/fp16.h"
#include "core/kernels/qdot.h"
#include "core/kernels/qdot_impl.h"
#include "core/kernels/quant.h"

/* ------------------------------------------------------------ activations */

/*
 * Round to the nearest integer, ties to even (as vroundps and ggml do),
 * within [-127, 127]: values beyond (from infinite or NaN activations,
 * which only hostile weights produce) are clamped, NaN gives 0
 */
static inline int
round_even(float x)
{
	if (!(x >= -127.0f))
		return x < 0.0f ? -127 : 0;
	if (!(x <= 127.0f))
		return 127;
	return (int) nearbyintf(x);
}

/* One A8 block: d = fp16(amax / 127), q = round(x * 127 / amax) */
static void
quantize_a8_block(const float *x, uint8_t *dst)
{
	float		amax = 0.0f;
	float		d,
				id;
	int8_t	   *q = (int8_t *) (dst + 4);

	for (int j = 0; j < QDOT_A8_BLOCK; j++)
	{
		float		ax = fabsf(x[j]);

		amax = ax > amax ? ax : amax;	/* NaN ignored, as fmaxf */
	}
	d = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
	id = amax != 0.0f ? 127.0f / amax : 0.0f;
	memcpy(dst, &d, sizeof(d));
	for (int j = 0; j < QDOT_A8_BLOCK; j++)
		q[j] = (int8_t) round_even(x[j] * id);
}

/*
 * One A8K block: the value of largest magnitude maps to -127, d = 1 /
 * (-127 / max); sums[k] = the sum of q[16k .. 16k+15]
 */
static void
quantize_a8k_block(const float *x, uint8_t *dst)
{
	float		amax = 0.0f,
				max = 0.0f,
				d = 0.0f;
	int8_t	   *q = (int8_t *) (dst + 4);
	int16_t		sums[16];

	for (int j = 0; j < QDOT_A8K_BLOCK; j++)
	{
		float		ax = fabsf(x[j]);

		if (ax > amax)
		{
			amax = ax;
			max = x[j];
		}
	}
	if (amax == 0.0f)
		memset(q, 0, QDOT_A8K_BLOCK);
	else
	{
		float		iscale = -127.0f / max;

		for (int j = 0; j < QDOT_A8K_BLOCK; j++)
		{
			q[j] = (int8_t) round_even(iscale * x[j]);
		}
		d = 1.0f / iscale;
	}
	for (int k = 0; k < 16; k++)
	{
		int			s = 0;

		for (int j = 0; j < 16; j++)
			s += q[16 * k + j];
		sums[k] = (int16_t) s;
	}
	memcpy(dst, &d, sizeof(d));
	memcpy(dst + 4 + QDOT_A8K_BLOCK, sums, sizeof(sums));
}

static QdotA8Fn a8_kernel(void);


/* Bytes of one activation row */
size_t
qdot_act_row_bytes(QdotAct a, int cols)
{
	switch (a)
	{
		case QDOT_A8:
			return (size_t) (cols / QDOT_A8_BLOCK) * QDOT_A8_BYTES;
		case QDOT_A8K:
			return (size_t) (cols / QDOT_A8K_BLOCK) * QDOT_A8K_BYTES;
		default:
			return (size_t) cols * sizeof(float);
	}
}

/* Quantise m rows for weights wanting form a */
void
qdot_quantize(QdotAct a, const float *x, int ldx, int m, int cols, uint8_t *dst)
{
	size_t		rb = qdot_act_row_bytes(a, cols);

	for (int i = 0; i < m; i++)
	{
		const float *row = x + (size_t) i * ldx;
		uint8_t    *out = dst + (size_t) i * rb;

		if (a == QDOT_A8)
		{
			QdotA8Fn	q = a8_kernel();

			for (int b = 0; b < cols / QDOT_A8_BLOCK; b++)
				q(row + b * QDOT_A8_BLOCK, out + b * QDOT_A8_BYTES);
		}
		else if (a == QDOT_A8K)
			for (int b = 0; b < cols / QDOT_A8K_BLOCK; b++)
				quantize_a8k_block(row + b * QDOT_A8K_BLOCK, out + b * QDOT_A8K_BYTES);
		else
			memcpy(out, row, rb);
	}
}

/* ------------------------------------------------------ portable kernels */

/* The scale of an activation block */
static inline float
act_d(const uint8_t *blk)
{
	float		d;

	memcpy(&d, blk, sizeof(d));
	return d;
}

static float
dot_f32(int n, const uint8_t *w, const uint8_t *a)
{
	const float *x = (const float *) a;
	float		wv,
				acc[8] = {0};

	for (int j = 0; j < n; j++)
	{
		memcpy(&wv, w + 4 * (size_t) j, sizeof(wv));
		acc[j & 7] += wv * x[j];
	}
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static float
dot_f16(int n, const uint8_t *w, const uint8_t *a)
{
	const float *x = (const float *) a;
	float		acc[8] = {0};

	for (int j = 0; j < n; j++)
		acc[j & 7] += fp16_to_fp32(fp16_read_le16(w + 2 * (size_t) j)) * x[j];
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static float
dot_bf16(int n, const uint8_t *w, const uint8_t *a)
{
	const float *x = (const float *) a;
	float		acc[8] = {0};

	for (int j = 0; j < n; j++)
		acc[j & 7] += bf16_to_fp32(fp16_read_le16(w + 2 * (size_t) j)) * x[j];
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Q8_0 (d, q[32]) . A8 */
static float
dot_q8_0(int n, const uint8_t *w, const uint8_t *a)
{
	float		acc = 0.0f;

	for (int b = 0; b < n / 32; b++, w += 34, a += QDOT_A8_BYTES)
	{
		const int8_t *qw = (const int8_t *) (w + 2);
		const int8_t *qa = (const int8_t *) (a + 4);
		int			sumi = 0;

		for (int j = 0; j < 32; j++)
			sumi += qw[j] * qa[j];
		acc += (float) sumi * (fp16_to_fp32(fp16_read_le16(w)) * act_d(a));
	}
	return acc;
}

/* Q4_0 (d, 16 bytes: low nibbles x[0..15], high x[16..31], offset 8) . A8 */
static float
dot_q4_0(int n, const uint8_t *w, const uint8_t *a)
{
	float		acc = 0.0f;

	for (int b = 0; b < n / 32; b++, w += 18, a += QDOT_A8_BYTES)
	{
		const uint8_t *qs = w + 2;
		const int8_t *qa = (const int8_t *) (a + 4);
		int			sumi = 0;

		for (int j = 0; j < 16; j++)
			sumi += ((qs[j] & 0x0F) - 8) * qa[j] + ((qs[j] >> 4) - 8) * qa[j + 16];
		acc += (float) sumi * (fp16_to_fp32(fp16_read_le16(w)) * act_d(a));
	}
	return acc;
}

/* Q5_0 (d, qh, 16 bytes; fifth bits from qh, offset 16) . A8 */
static float
dot_q5_0(int n, const uint8_t *w, const uint8_t *a)
{
	float		acc = 0.0f;

	for (int b = 0; b < n / 32; b++, w += 22, a += QDOT_A8_BYTES)
	{
		const uint8_t *qs = w + 6;
		const int8_t *qa = (const int8_t *) (a + 4);
		uint32_t	qh = (uint32_t) w[2] | ((uint32_t) w[3] << 8) |
			((uint32_t) w[4] << 16) | ((uint32_t) w[5] << 24);
		int			sumi = 0;

		for (int j = 0; j < 16; j++)
		{
			int			lo = (qs[j] & 0x0F) | (int) (((qh >> j) & 1) << 4);
			int			hi = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);

			sumi += (lo - 16) * qa[j] + (hi - 16) * qa[j + 16];
		}
		acc += (float) sumi * (fp16_to_fp32(fp16_read_le16(w)) * act_d(a));
	}
	return acc;
}

/*
 * Q4_K (d, dmin, scales[12], qs[128]) and Q5_K (the same with qh[32] before
 * qs, a fifth bit per value) . A8K: x = d*sc*q - dmin*m per sub-block of
 * 32, so the dot is d*sum(sc * q.a) - dmin*sum(m * sum(a))
 */
static float
dot_k45(int n, const uint8_t *w, const uint8_t *a, int q5)
{
	float		acc = 0.0f;
	size_t		bsize = q5 ? 176 : 144;

	for (int b = 0; b < n / 256; b++, w += bsize, a += QDOT_A8K_BYTES)
	{
		const uint8_t *qh = w + 16;
		const uint8_t *qs = w + (q5 ? 48 : 16);
		const int8_t *qa = (const int8_t *) (a + 4);
		uint8_t		sc[8],
					mn[8];
		int			sumi = 0;
		float		da = act_d(a);

		qdot_k_scales(w + 4, sc, mn);
		for (int g = 0; g < 4; g++)
		{
			int			s1 = 0,
						s2 = 0;

			for (int l = 0; l < 32; l++)
			{
				int			lo = qs[32 * g + l] & 0x0F;
				int			hi = qs[32 * g + l] >> 4;

				if (q5)
				{
					lo |= ((qh[l] >> (2 * g)) & 1) << 4;
					hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
				}
				s1 += lo * qa[64 * g + l];
				s2 += hi * qa[64 * g + 32 + l];
			}
			sumi += sc[2 * g] * s1 + sc[2 * g + 1] * s2;
		}
		acc += fp16_to_fp32(fp16_read_le16(w)) * da * (float) sumi -
			fp16_to_fp32(fp16_read_le16(w + 2)) * da * (float) qdot_k_mins(a, mn);
	}
	return acc;
}

static float
dot_q4_k(int n, const uint8_t *w, const uint8_t *a)
{
	return dot_k45(n, w, a, 0);
}

static float
dot_q5_k(int n, const uint8_t *w, const uint8_t *a)
{
	return dot_k45(n, w, a, 1);
}

/*
 * Q6_K (ql[128], qh[64], int8 scales[16], d) . A8K: x = d*scale*(q - 32),
 * one scale per 16 values; value order as in dequant_q6_k (quant.c)
 */
static float
dot_q6_k(int n, const uint8_t *w, const uint8_t *a)
{
	float		acc = 0.0f;

	for (int b = 0; b < n / 256; b++, w += 210, a += QDOT_A8K_BYTES)
	{
		const int8_t *qa = (const int8_t *) (a + 4);
		int			sumi = 0;

		for (int h = 0; h < 2; h++)
		{
			const uint8_t *ql = w + 64 * h;
			const uint8_t *qh = w + 128 + 32 * h;
			const int8_t *sc = (const int8_t *) (w + 192 + 8 * h);
			const int8_t *y = qa + 128 * h;

			for (int part = 0; part < 2; part++)
			{
				int			s[4] = {0};

				for (int l = 16 * part; l < 16 * part + 16; l++)
				{
					s[0] += (((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32) * y[l];
					s[1] += (((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32) * y[l + 32];
					s[2] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * y[l + 64];
					s[3] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * y[l + 96];
				}
				sumi += sc[part] * s[0] + sc[part + 2] * s[1] + sc[part + 4] * s[2] +
					sc[part + 6] * s[3];
			}
		}
		acc += fp16_to_fp32(fp16_read_le16(w + 208)) * act_d(a) * (float) sumi;
	}
	return acc;
}

/* ------------------------------------------------------------- dispatch */

/* Row-group kernels (qdot_impl.h) over the one-row products above */
#define ROWS(type) \
static void \
rows_##type(int n, const uint8_t *w, size_t row_bytes, int nr, const uint8_t *a, float *out) \
{ \
	for (int r = 0; r < nr; r++) \
		out[r] = dot_##type(n, w + (size_t) r * row_bytes, a); \
}
ROWS(f32)
ROWS(f16)
ROWS(bf16)
ROWS(q8_0)
ROWS(q4_0)
ROWS(q5_0)
ROWS(q4_k)
ROWS(q5_k)
ROWS(q6_k)

static const QdotKernels portable = {
	"portable", rows_f32, rows_f16, rows_bf16, rows_q8_0, rows_q4_0, rows_q5_0,
	rows_q4_k, rows_q5_k, rows_q6_k, NULL, NULL, NULL, NULL, NULL, NULL
};

static const QdotKernels *forced = NULL;

/* The kernels in use: the best the CPU runs, unless a test forced others */
static const QdotKernels *
kernels(void)
{
	static const QdotKernels *best = NULL;

	if (forced)
		return forced;
	if (best == NULL)
	{
		const QdotKernels *k = qdot_vnni_kernels();

		if (k == NULL)
			k = qdot_avx2_kernels();
		best = k ? k : &portable;
	}
	return best;
}

/* The A8 quantiser of the kernels in use (same results on every path) */
static QdotA8Fn
a8_kernel(void)
{
	QdotA8Fn	q = kernels() != &portable ? qdot_avx2_a8() : NULL;	/* also with the VNNI tiles */

	return q ? q : quantize_a8_block;
}

const char *
qdot_isa(void)
{
	return kernels()->name;
}

int
qdot_force_isa(const char *isa)
{
	if (isa == NULL)
		forced = NULL;
	else if (strcmp(isa, "portable") == 0)
		forced = &portable;
	else if (strcmp(isa, "avx2") == 0 && qdot_avx2_kernels() != NULL)
		forced = qdot_avx2_kernels();
	else if (strcmp(isa, "avx512vnni") == 0 && qdot_vnni_kernels() != NULL)
		forced = qdot_vnni_kernels();
	else
		return 0;
	return 1;
}

bool
qdot_supported(uint32_t type)
{
	switch (type)
	{
		case GGML_TYPE_F32:
		case GGML_TYPE_F16:
		case GGML_TYPE_BF16:
		case GGML_TYPE_Q8_0:
		case GGML_TYPE_Q4_0:
		case GGML_TYPE_Q5_0:
		case GGML_TYPE_Q4_K:
		case GGML_TYPE_Q5_K:
		case GGML_TYPE_Q6_K:
			return true;
		default:
			return false;
	}
}

QdotAct
qdot_act(uint32_t type)
{
	switch (type)
	{
		case GGML_TYPE_Q8_0:
		case GGML_TYPE_Q4_0:
		case GGML_TYPE_Q5_0:
			return QDOT_A8;
		case GGML_TYPE_Q4_K:
		case GGML_TYPE_Q5_K:
		case GGML_TYPE_Q6_K:
			return QDOT_A8K;
		default:
			return QDOT_FLOAT;
	}
}

/* The dot product of a type */
static QdotFn
dot_fn(const QdotKernels *k, uint32_t type)
{
	switch (type)
	{
		case GGML_TYPE_F32:
			return k->f32;
		case GGML_TYPE_F16:
			return k->f16;
		case GGML_TYPE_BF16:
			return k->bf16;
		case GGML_TYPE_Q8_0:
			return k->q8_0;
		case GGML_TYPE_Q4_0:
			return k->q4_0;
		case GGML_TYPE_Q5_0:
			return k->q5_0;
		case GGML_TYPE_Q4_K:
			return k->q4_k;
		case GGML_TYPE_Q5_K:
			return k->q5_k;
		case GGML_TYPE_Q6_K:
			return k->q6_k;
		default:
			return NULL;
	}
}

/* The tile of a type, or NULL */
static QdotTileFn
tile_fn(const QdotKernels *k, uint32_t type)
{
	switch (type)
	{
		case GGML_TYPE_Q8_0:
			return k->tile_q8_0;
		case GGML_TYPE_Q4_0:
			return k->tile_q4_0;
		case GGML_TYPE_Q5_0:
			return k->tile_q5_0;
		case GGML_TYPE_Q4_K:
			return k->tile_q4_k;
		case GGML_TYPE_Q5_K:
			return k->tile_q5_k;
		case GGML_TYPE_Q6_K:
			return k->tile_q6_k;
		default:
			return NULL;
	}
}

void
qdot_matmul(const QMat *w, const uint8_t *act, int m, float *out, int ldo, int r0, int r1,
			int streaming)
{
	QdotFn		rows = dot_fn(kernels(), w->type);
	QdotTileFn	tile = tile_fn(kernels(), w->type);
	size_t		arb = qdot_act_row_bytes(qdot_act(w->type), w->cols);


	/*
	 * A group of weight rows stays in cache while every activation row
	 * passes.  One activation row (a decoding step) of a model bigger than
	 * the caches (streaming) goes row by row instead: reading 4 rows side by
	 * side streams memory at less than half the rate (measured: 42M-shaped
	 * Q8_0, 137 vs 316 tokens/s).  Each row's arithmetic is the same either
	 * way, so results never depend on it.
	 */
	int			group = m == 1 && streaming ? 1 : QDOT_ROWS;

	/* several activation rows: tiles that read each weight block once for all */
	if (m > 1 && tile != NULL)
	{
		for (int r = r0; r < r1; r += QDOT_ROWS)
			tile(w->cols, w->data + (size_t) r * w->row_bytes, w->row_bytes,
				 r1 - r < QDOT_ROWS ? r1 - r : QDOT_ROWS, act, arb, m, out + r, ldo);
		return;
	}

	for (int r = r0; r < r1; r += group)
	{
		const uint8_t *wr = w->data + (size_t) r * w->row_bytes;
		int			nr = r1 - r < group ? r1 - r : group;
		float		res[QDOT_ROWS];

		for (int i = 0; i < m; i++)
		{
			rows(w->cols, wr, w->row_bytes, nr, act + (size_t) i * arb, res);
			for (int j = 0; j < nr; j++)
				out[(size_t) i * ldo + r + j] = res[j];
		}
	}
}

void
qdot_row(const QMat *w, int r, float *out)
{
	const uint8_t *wr = w->data + (size_t) r * w->row_bytes;

	(void) quant_dequantize(w->type, wr, (size_t) w->cols, out, NULL);
}
