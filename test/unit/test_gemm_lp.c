/*
 * test_gemm_lp.c
 *	  The reduced-precision products (gemm_lp.h) against float64 references:
 *	  - bf16: equal, to float rounding, to the float64 product of the inputs
 *	    rounded to bfloat16 (round to nearest even, checked bit by bit
 *	    against an independent rounding), and within the bfloat16 bound of
 *	    the exact product;
 *	  - int8: equal, to float rounding, to the float64 product of the
 *	    dequantised values; each quantised value within half a step of the
 *	    input; the result within the bound those steps give; a GGUF-style
 *	    Q8_0 matrix packed from its blocks gives the same result as packed
 *	    from its dequantised floats;
 *	  - every kernel the CPU has (AVX-512 BF16 / VNNI, portable) gives the
 *	    same floats for int8 (exact integer sums), and bf16 within 1e-6.
 * Shapes cover odd K, N past a panel, one block and several, and rows left
 * over from the 8- and 6-row steps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm_lp.h"
#include "unit.h"

static unsigned seed = 4242;

static float
frand(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float) ((int) (seed >> 9) % 20001 - 10000) / 10000.0f;
}

/* bfloat16 rounding, written from the definition: nearest, ties to even */
static double
bf16_ref(float f)
{
	double		v = f;
	int			e;
	double		m,
				step,
				lo,
				hi;

	if (f == 0)
		return 0;
	m = frexp(fabs(v), &e);		/* |v| = m 2^e, m in [0.5, 1) */
	(void) m;
	step = ldexp(1.0, e - 8);	/* 8 significant bits */
	lo = floor(fabs(v) / step) * step;
	hi = lo + step;
	if (fabs(v) - lo < hi - fabs(v))
		return copysign(lo, v);
	if (fabs(v) - lo > hi - fabs(v))
		return copysign(hi, v);
	return copysign(fmod(lo / step, 2) == 0 ? lo : hi, v);
}

typedef struct Shape
{
	int			m,
				n,
				k,
				kb;				/* int8 block (0: per row) */
} Shape;

static void
run_bf16(const Shape *s, const float *x, const float *w, float *out)
{
	uint16_t   *wp = malloc(gemm_bf16_packed_bytes(s->n, s->k));
	uint32_t   *xb = malloc(sizeof(uint32_t) * (size_t) s->m * ((s->k + 1) / 2));

	gemm_pack_bf16(w, s->n, s->k, wp);
	gemm_bf16_rows(x, s->k, s->m, s->k, xb);
	memset(out, 0, sizeof(float) * (size_t) s->m * s->n);
	gemm_bf16_range(xb, wp, out, s->n, s->m, s->n, s->k, 0, (s->n + GEMM_NR - 1) / GEMM_NR, NULL, 1);
	free(wp);
	free(xb);
}

static void
check_bf16(const Shape *s, const float *x, const float *w)
{
	float	   *c = malloc(sizeof(float) * (size_t) s->m * s->n);
	float	   *cp = malloc(sizeof(float) * (size_t) s->m * s->n);
	double		worst_r = 0,
				worst_b = 0,
				worst_p = 0;

	gemm_force_isa(NULL);
	run_bf16(s, x, w, c);
	for (int i = 0; i < s->m; i++)
		for (int j = 0; j < s->n; j++)
		{
			double		r = 0,
						exact = 0,
						absdot = 0;

			for (int k = 0; k < s->k; k++)
			{
				r += bf16_ref(x[i * s->k + k]) * bf16_ref(w[j * s->k + k]);
				exact += (double) x[i * s->k + k] * w[j * s->k + k];
				absdot += fabs((double) x[i * s->k + k] * w[j * s->k + k]);
			}
			/* float accumulation of exact bf16 products */
			worst_r = fmax(worst_r, fabs(c[i * s->n + j] - r) / (absdot * s->k * 6e-8 + 1e-30));
			/* two roundings of 2^-9 relative each per product */
			worst_b = fmax(worst_b, fabs(c[i * s->n + j] - exact) / (absdot * (2.0 / 512 + 1e-6)));
		}
	CHECK(worst_r <= 1.0, "bf16 %dx%dx%d: off the float64 product of bf16 inputs (%.2f of the bound)",
		  s->m, s->n, s->k, worst_r);
	CHECK(worst_b <= 1.0, "bf16 %dx%dx%d: outside the bf16 bound of the exact product (%.2f)",
		  s->m, s->n, s->k, worst_b);
	if (gemm_force_isa("portable"))
	{
		run_bf16(s, x, w, cp);
		for (int i = 0; i < s->m * s->n; i++)
			worst_p = fmax(worst_p, fabs(c[i] - cp[i]) / (fabs(cp[i]) + 1e-3));
		CHECK(worst_p <= 1e-6, "bf16 %dx%dx%d: %s and portable differ (%.2e)", s->m, s->n, s->k,
			  gemm_bf16_isa(), worst_p);
	}
	gemm_force_isa(NULL);
	free(c);
	free(cp);
}

static void
run_i8(const Shape *s, int kb, const uint8_t *wp, const float *x, float *out)
{
	int64_t		kpad = gemm_i8_kpad(s->k, kb);
	uint8_t    *xq = malloc((size_t) s->m * kpad);
	float	   *xs = malloc(sizeof(float) * (size_t) s->m * (kpad / kb));

	gemm_i8_rows(x, s->k, s->m, s->k, kb, xq, xs);
	memset(out, 0, sizeof(float) * (size_t) s->m * s->n);
	gemm_i8_range(xq, xs, wp, out, s->n, s->m, s->n, s->k, kb, 0, (s->n + GEMM_NR - 1) / GEMM_NR, NULL, 1);
	free(xq);
	free(xs);
}

/*
 * v quantised per block as gemm_lp.h defines it, in single precision:
 * scale = amax / 127, q = round-to-nearest-even(v * (127 / amax))
 */
static void
quant_ref(const float *v, int k, int kb, double *deq, double *step)
{
	for (int b = 0; b < k; b += kb)
	{
		float		amax = 0;
		int			e = b + kb < k ? b + kb : k;

		for (int i = b; i < e; i++)
			amax = fmaxf(amax, fabsf(v[i]));
		for (int i = b; i < e; i++)
		{
			float		sc = amax / 127.0f;
			float		inv = 127.0f / amax;
			volatile float p = v[i] * inv;	/* one float product, as the kernels round it */

			deq[i] = amax > 0 ? nearbyint(p) * (double) sc : 0;
			step[i] = (double) amax / 127 * (1 + 1e-6);
		}
	}
}

static void
check_i8(const Shape *s, const float *x, const float *w)
{
	int			kb = s->kb > 0 ? s->kb : (s->k + 3) / 4 * 4;
	uint8_t    *wp = malloc(gemm_i8_packed_bytes(s->n, s->k, kb));
	float	   *c = malloc(sizeof(float) * (size_t) s->m * s->n);
	float	   *cp = malloc(sizeof(float) * (size_t) s->m * s->n);
	double	   *xd = malloc(sizeof(double) * (size_t) s->m * s->k),
			   *xstep = malloc(sizeof(double) * (size_t) s->m * s->k),
			   *wd = malloc(sizeof(double) * (size_t) s->n * s->k),
			   *wstep = malloc(sizeof(double) * (size_t) s->n * s->k);
	double		worst_d = 0,
				worst_b = 0;
	int			same = 1;

	CHECK(gemm_pack_i8(w, s->n, s->k, kb, wp), "int8 pack ran out of memory");
	gemm_force_isa(NULL);
	run_i8(s, kb, wp, x, c);
	for (int i = 0; i < s->m; i++)
		quant_ref(x + (size_t) i * s->k, s->k, kb, xd + (size_t) i * s->k, xstep + (size_t) i * s->k);
	for (int j = 0; j < s->n; j++)
		quant_ref(w + (size_t) j * s->k, s->k, kb, wd + (size_t) j * s->k, wstep + (size_t) j * s->k);
	for (int i = 0; i < s->m; i++)
		for (int j = 0; j < s->n; j++)
		{
			double		d = 0,
						exact = 0,
						bound = 0,
						absdot = 0;

			for (int k = 0; k < s->k; k++)
			{
				double		xv = x[i * s->k + k],
							wv = w[j * s->k + k];

				d += xd[i * s->k + k] * wd[j * s->k + k];
				exact += xv * wv;
				absdot += fabs(xd[i * s->k + k] * wd[j * s->k + k]);
				bound += fabs(xv) * wstep[j * s->k + k] / 2 + fabs(wv) * xstep[i * s->k + k] / 2 +
					xstep[i * s->k + k] * wstep[j * s->k + k] / 4;
			}
			worst_d = fmax(worst_d, fabs(c[i * s->n + j] - d) / (absdot * 1e-6 + 1e-30));
			worst_b = fmax(worst_b, fabs(c[i * s->n + j] - exact) / (bound * (1 + 1e-5) + 1e-30));
		}
	CHECK(worst_d <= 1.0, "int8 %dx%dx%d kb %d: off the float64 product of the dequantised values (%.2f)",
		  s->m, s->n, s->k, kb, worst_d);
	CHECK(worst_b <= 1.0, "int8 %dx%dx%d kb %d: outside the quantisation bound (%.2f)",
		  s->m, s->n, s->k, kb, worst_b);
	if (gemm_force_isa("portable"))
	{
		run_i8(s, kb, wp, x, cp);
		for (int i = 0; i < s->m * s->n; i++)
			same &= memcmp(&c[i], &cp[i], sizeof(float)) == 0;
		CHECK(same, "int8 %dx%dx%d kb %d: %s and portable differ", s->m, s->n, s->k, kb,
			  gemm_i8_isa());
	}
	gemm_force_isa(NULL);
	free(wp);
	free(c);
	free(cp);
	free(xd);
	free(xstep);
	free(wd);
	free(wstep);
}

/* A Q8_0-style matrix packed from its blocks = packed from its dequantised floats */
static void
check_q8(void)
{
	enum
	{
	QN = 40, QK = 96, QB = 32, QM = 5};
	static int8_t q[QN * QK];
	static float sc[QN * (QK / QB)],
				wf[QN * QK],
				x[QM * QK],
				c1[QM * QN],
				c2[QM * QN];
	uint8_t    *p1 = malloc(gemm_i8_packed_bytes(QN, QK, QB));
	uint8_t    *p2 = malloc(gemm_i8_packed_bytes(QN, QK, QB));
	Shape		s = {QM, QN, QK, QB};

	for (int r = 0; r < QN; r++)
		for (int b = 0; b < QK / QB; b++)
		{
			sc[r * (QK / QB) + b] = 0.001f * (1 + (r * 7 + b) % 13);
			for (int i = 0; i < QB; i++)
			{
				int			v = (int) (frand() * 127);

				q[r * QK + b * QB + i] = (int8_t) (i == 3 ? 127 : v);	/* a full-scale value per block */
				wf[r * QK + b * QB + i] = q[r * QK + b * QB + i] * sc[r * (QK / QB) + b];
			}
		}
	for (int i = 0; i < QM * QK; i++)
		x[i] = frand();
	gemm_pack_i8_q(q, sc, QN, QK, QB, p1);
	CHECK(gemm_pack_i8(wf, QN, QK, QB, p2), "int8 pack ran out of memory");
	run_i8(&s, QB, p1, x, c1);
	run_i8(&s, QB, p2, x, c2);
	{
		double		worst = 0;

		for (int i = 0; i < QM * QN; i++)
			worst = fmax(worst, fabs(c1[i] - c2[i]) / (fabs(c1[i]) + 1e-3));
		CHECK(worst <= 1e-6, "Q8_0 blocks packed directly and from floats differ (%.2e)", worst);
	}
	free(p1);
	free(p2);
}

/*
 * The epilogue (gemm_epilogue.h), every format and kernel: C = ((beta ? C :
 * 0) + bias) + P, bit for bit, with P the product written from zero
 */
static void
check_epilogue(void)
{
	enum
	{
	EM = 13, EN = 70, EK = 100};
	static float x[EM * EK],
				w[EN * EK],
				bias[EN],
				c0[EM * EN],
				p[EM * EN],
				c[EM * EN];
	GemmFormat	fmts[] = {{GEMM_F32, 0}, {GEMM_BF16, 0}, {GEMM_I8, 0}, {GEMM_I8, 32}};
	const char *isas[] = {NULL, "avx2", "portable"};
	void	   *work = malloc(GEMM_LP_WORK_BYTES);

	for (int i = 0; i < EM * EK; i++)
		x[i] = frand();
	for (int i = 0; i < EN * EK; i++)
		w[i] = frand();
	for (int i = 0; i < EN; i++)
		bias[i] = frand() * 3;
	for (int i = 0; i < EM * EN; i++)
		c0[i] = frand() * 5;
	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
	{
		void	   *wp = malloc(gemm_format_bytes(fmts[f], EN, EK));

		CHECK(gemm_format_pack(fmts[f], w, EN, EK, wp), "pack");
		for (int s = 0; s < 3; s++)
		{
			int			ok = 1;

			if (isas[s] && !gemm_force_isa(isas[s]))
				continue;
			gemm_lp_convert(fmts[f], x, EK, EM, EK, work, 0, EM);
			memset(p, 0xff, sizeof(p));
			gemm_lp_range(fmts[f], x, EK, work, wp, p, EN, EM, EN, EK, 0, 3, NULL, 0);
			for (int mode = 0; mode < 3; mode++)
			{
				const float *b = mode == 2 ? NULL : bias;
				int			beta = mode != 0;

				memcpy(c, c0, sizeof(c));
				gemm_lp_range(fmts[f], x, EK, work, wp, c, EN, EM, EN, EK, 0, 3, b, beta);
				for (int i = 0; i < EM; i++)
					for (int j = 0; j < EN; j++)
					{
						float		want = ((beta ? c0[i * EN + j] : 0.0f) + (b ? b[j] : 0.0f)) +
							p[i * EN + j];

						ok &= memcmp(&want, &c[i * EN + j], sizeof(float)) == 0;
					}
			}
			CHECK(ok, "epilogue of %s on the %s kernel: not ((beta ? C : 0) + bias) + product",
				  gemm_format_name(fmts[f]), isas[s] ? isas[s] : "best");
			gemm_force_isa(NULL);
		}
		free(wp);
	}
	free(work);
}

int
main(void)
{
	static const Shape shapes[] = {
		{1, 1, 1, 0}, {3, 33, 7, 0}, {8, 32, 64, 0}, {11, 70, 37, 0}, {13, 96, 256, 64},
		{6, 40, 192, 32}, {20, 65, 300, 128}, {9, 100, 384, 0}, {7, 64, 1536, 64}
	};
	GemmFormat	f32 = {GEMM_F32, 0},
				bf = {GEMM_BF16, 0},
				i8 = {GEMM_I8, 0},
				i8b = {GEMM_I8, 64};

	printf("gemm_lp kernels: bf16 %s, int8 %s\n", gemm_bf16_isa(), gemm_i8_isa());
	for (size_t t = 0; t < sizeof(shapes) / sizeof(shapes[0]); t++)
	{
		const Shape *s = &shapes[t];
		float	   *x = malloc(sizeof(float) * (size_t) s->m * s->k);
		float	   *w = malloc(sizeof(float) * (size_t) s->n * s->k);

		for (int i = 0; i < s->m * s->k; i++)
			x[i] = frand() * (i % 17 == 0 ? 8.0f : 1.0f);	/* some outliers */
		for (int i = 0; i < s->n * s->k; i++)
			w[i] = frand() * 0.1f;
		if (t == 1)
			memset(x, 0, sizeof(float) * (size_t) s->k);	/* an all-zero row */
		check_bf16(s, x, w);
		check_i8(s, x, w);
		free(x);
		free(w);
	}
	check_q8();
	check_epilogue();

	/* bfloat16 rounding: ties to even, NaN kept, overflow to infinity */
	{
		float		v[] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f, 3.0e38f, 1e-30f};
		uint16_t	p[2 * GEMM_NR];
		int			ok = 1;

		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		{
			gemm_pack_bf16(&v[i], 1, 1, p);
			ok &= (double) (*(float *) &(uint32_t) {(uint32_t) p[0] << 16}) == bf16_ref(v[i]) ||
				(isinf(bf16_ref(v[i])) && p[0] == 0x7F80);
		}
		CHECK(ok, "bf16 rounding differs from round-to-nearest-even");
	}

	/* formats: sizes, validity */
	CHECK(gemm_format_bytes(f32, 70, 37) == gemm_packed_floats(70, 37) * sizeof(float),
		  "f32 format size");
	CHECK(gemm_format_bytes(bf, 70, 37) == 96 * 19 * 4, "bf16 format size");
	CHECK(gemm_format_bytes(i8, 70, 37) == 3 * (40 * 32 + 32 * 8), "int8 per-row size");
	CHECK(gemm_format_bytes(i8b, 70, 100) == 3 * (128 * 32 + 2 * 32 * 8), "int8 block size");
	CHECK(gemm_format_bytes((GemmFormat) {GEMM_I8, 6}, 4, 8) == 0, "int8 block of 6 refused");
	CHECK(gemm_format_bytes(i8, 4, GEMM_I8_MAX_K + 1) == 0, "int8 K past the exact-sum limit refused");
	CHECK(gemm_lp_rows(bf, 768, GEMM_LP_WORK_BYTES) >= 1024 &&
		  gemm_lp_rows(i8, GEMM_I8_MAX_K, GEMM_LP_WORK_BYTES) >= 1,
		  "work memory holds enough rows");
	return UNIT_DONE("gemm_lp");
}
