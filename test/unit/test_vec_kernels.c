/*
 * test_vec_kernels.c
 *	  Distance kernels against a double-precision scalar reference.
 *
 * For every ISA the CPU supports (portable, AVX2+FMA, AVX-512) and many
 * lengths (1, 3, 15, 16, 17, ..., 1536, 16000), random vectors are compared
 * with sums computed in double, sequentially.  The tolerance is relative to
 * the sum of absolute terms: float accumulation in blocks has an error of a
 * few units of 2^-24 times sqrt(n), far below 1e-6 * (1 + sqrt(n)).  Exact
 * single-element probes at every position catch a dropped or doubled tail
 * element, which a tolerance alone might miss at n = 16000.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "core/kernels/vec_kernels.h"

static const int lengths[] = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
100, 127, 128, 129, 384, 768, 1000, 1536, 4096, 16000};

/* xorshift in [-1, 1) */
static unsigned long long rng = 88172645463325252ULL;
static float
frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float) ((double) (rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Is got within tolerance of ref, given the sum of |terms| and n? */
static int
close_to(double got, double ref, double sumabs, int n)
{
	double		tol = 1e-6 * (1.0 + sqrt((double) n)) * (sumabs + 1e-30);

	return fabs(got - ref) <= tol;
}

/* Compare every kernel with the double reference for one length */
static void
check_random(int n, const char *isa)
{
	float	   *a = malloc(sizeof(float) * n);
	float	   *b = malloc(sizeof(float) * n);
	double		l2 = 0,
				dot = 0,
				l1 = 0,
				na = 0,
				nb = 0,
				absdot = 0;
	float		gd,
				ga,
				gb;

	for (int i = 0; i < n; i++)
	{
		a[i] = frand() * 10.0f;
		b[i] = frand() * 10.0f;
	}
	for (int i = 0; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		l2 += d * d;
		l1 += fabs(d);
		dot += (double) a[i] * b[i];
		absdot += fabs((double) a[i] * b[i]);
		na += (double) a[i] * a[i];
		nb += (double) b[i] * b[i];
	}

	CHECK(close_to(vk_l2sq(a, b, n), l2, l2, n), "%s l2sq n=%d: %.9g vs %.9g", isa, n, vk_l2sq(a, b, n), l2);
	CHECK(close_to(vk_dot(a, b, n), dot, absdot, n), "%s dot n=%d: %.9g vs %.9g", isa, n, vk_dot(a, b, n), dot);
	CHECK(close_to(vk_l1(a, b, n), l1, l1, n), "%s l1 n=%d: %.9g vs %.9g", isa, n, vk_l1(a, b, n), l1);
	vk_cos_parts(a, b, n, &gd, &ga, &gb);
	CHECK(close_to(gd, dot, absdot, n) && close_to(ga, na, na, n) && close_to(gb, nb, nb, n),
		  "%s cos_parts n=%d", isa, n);
	CHECK(fabs(vk_cosine_distance(a, b, n) - (1.0 - dot / sqrt(na * nb))) <= 1e-5 * (1 + sqrt((double) n)) * absdot / sqrt(na * nb),
		  "%s cosine n=%d: %.9g vs %.9g", isa, n, vk_cosine_distance(a, b, n), 1.0 - dot / sqrt(na * nb));
	CHECK(fabs(vk_norm(a, n) - sqrt(na)) <= 1e-12 * sqrt(na), "%s norm n=%d", isa, n);
	free(a);
	free(b);
}

/* Put 3 at a[k] and -1 at b[k] (all else zero): every kernel is exact */
static int
probe_one(float *a, float *b, int n, int k)
{
	float		d,
				x,
				y;
	int			bad;

	a[k] = 3.0f;
	b[k] = -1.0f;
	vk_cos_parts(a, b, n, &d, &x, &y);
	bad = vk_dot(a, b, n) != -3.0f || vk_l2sq(a, b, n) != 16.0f ||
		vk_l1(a, b, n) != 4.0f || d != -3.0f || x != 9.0f || y != 1.0f;
	a[k] = 0;
	b[k] = 0;
	return bad;
}

/* A single nonzero element at each position must count exactly once */
static int
probe_positions(int n)
{
	float	   *a = calloc(n, sizeof(float));
	float	   *b = calloc(n, sizeof(float));
	int			step = n > 200 ? 37 : 1;
	int			bad = 0;

	for (int k = 0; k < n; k += step)
		bad += probe_one(a, b, n, k);
	bad += probe_one(a, b, n, n - 1);	/* always the last element */
	free(a);
	free(b);
	return bad;
}

int
main(void)
{
	VkIsa		best = vk_best_isa();

	for (int isa = VK_ISA_PORTABLE; isa <= (int) best; isa++)
	{
		const char *name = vk_isa_name((VkIsa) isa);

		CHECK(vk_set_isa((VkIsa) isa) == (VkIsa) isa, "select %s", name);
		for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
		{
			int			bad;

			check_random(lengths[i], name);
			bad = probe_positions(lengths[i]);
			CHECK(bad == 0, "%s n=%d: %d positions counted wrongly", name, lengths[i], bad);
		}

		/* special values: zero vectors give NaN cosine, like pgvector */
		{
			float		z[3] = {0, 0, 0},
						v[3] = {1, 2, 3},
						w[3] = {-1, -2, -3};

			CHECK(isnan(vk_cosine_distance(z, v, 3)), "%s cosine of zero vector is NaN", name);
			CHECK(fabs(vk_cosine_distance(v, v, 3)) < 1e-7, "%s cosine(v,v) = 0", name);
			CHECK(fabs(vk_cosine_distance(v, w, 3) - 2.0) < 1e-7, "%s cosine(v,-v) = 2", name);
			CHECK(vk_l2sq(v, w, 3) == 56.0f, "%s l2sq exact small ints", name);
			CHECK(vk_norm(z, 3) == 0.0, "%s norm of zero", name);
		}
	}
	printf("kernels tested: portable..%s\n", vk_isa_name(best));
	vk_set_isa(best);
	return UNIT_DONE("vec_kernels");
}
