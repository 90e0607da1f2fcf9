/*
 * test_softmax_head.c
 *	  Unit tests of the softmax head trainer (src/core/models/softmax_head.c).
 *
 * References, none of them our C code:
 *	- fixtures/softmax_head.json, written by gen_fixtures.py: seeded data sets
 *	  with the class probabilities of scikit-learn's
 *	  LogisticRegression(C, multinomial, lbfgs, tol 1e-10) fitted on the
 *	  StandardScaler'd features (the objective head_fit minimises), skipped
 *	  with a notice when scikit-learn was not installed;
 *	- by construction: a separable set is fitted to 100% training accuracy
 *	  with a decreasing objective; the same input gives the same bits; the
 *	  split keeps every class and its size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/models/softmax_head.h"
#include "unit.h"

static uint64_t rng_state = 12345;

static double
uniform(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double) (rng_state >> 11) / 9007199254740992.0;
}

static void
check_separable(void)
{
	enum {N = 300, D = 16, K = 3};
	static float x[N * D];
	static int32_t y[N];
	static float w[K * (D + 1)], w2[K * (D + 1)], probs[N * K];
	HeadFitOptions o = {.c = 1e4, .max_iter = 300, .tol = 1e-8};
	HeadFitResult r, r2;
	PgiError	err = {0};
	int			right = 0;

	for (int i = 0; i < N; i++)
	{
		y[i] = i % K;
		for (int j = 0; j < D; j++)
			x[i * D + j] = (float) (uniform() - 0.5 + (j == y[i] ? 3.0 : 0.0));
	}
	CHECK(head_fit(x, y, N, D, K, &o, w, &r, &err) == PGI_OK, "fit: %s", err.msg);
	head_probs(w, D, K, x, N, probs);
	for (int i = 0; i < N; i++)
	{
		int			best = 0;

		for (int c = 1; c < K; c++)
			if (probs[i * K + c] > probs[i * K + best])
				best = c;
		right += best == y[i];
	}
	CHECK(right == N, "separable: %d of %d right", right, N);
	CHECK(r.monotone && r.loss < r.loss_first && r.iterations >= 1,
		  "objective decreased every iteration (%g -> %g in %d)", r.loss_first, r.loss, r.iterations);
	CHECK(head_fit(x, y, N, D, K, &o, w2, &r2, &err) == PGI_OK && memcmp(w, w2, sizeof(w)) == 0 &&
		  r2.iterations == r.iterations, "the same input gives the same bits");
}

static void
check_errors(void)
{
	float		x[4] = {1, 2, 3, NAN},
				w[6];
	int32_t		y[2] = {0, 1},
				bad[2] = {0, 2};
	HeadFitOptions o = {.c = 1, .max_iter = 10, .tol = 1e-6};
	HeadFitResult r;
	PgiError	err = {0};

	CHECK(head_fit(x, bad, 2, 2, 2, &o, w, &r, &err) == PGI_ERR_PARAM, "label out of range");
	CHECK(head_fit(x, y, 2, 2, 1, &o, w, &r, &err) == PGI_ERR_PARAM, "one class");
	CHECK(head_fit(x, y, 2, 2, 2, &o, w, &r, &err) == PGI_ERR_DATA, "NaN feature");
	o.c = 0;
	x[3] = 4;
	CHECK(head_fit(x, y, 2, 2, 2, &o, w, &r, &err) == PGI_ERR_PARAM, "C = 0");
}

static void
check_split(void)
{
	enum {N = 103};
	int32_t		y[N];
	uint8_t		t[N],
				t2[N];
	int			per[3] = {0},
				test[3] = {0};

	for (int i = 0; i < N; i++)
		y[i] = i < 50 ? 0 : i < 100 ? 1 : 2;
	head_split(y, N, 3, 0.2, 7, t);
	head_split(y, N, 3, 0.2, 7, t2);
	for (int i = 0; i < N; i++)
	{
		per[y[i]]++;
		test[y[i]] += t[i];
	}
	CHECK(test[0] == 10 && test[1] == 10 && test[2] == 1, "stratified: %d %d %d", test[0], test[1], test[2]);
	CHECK(memcmp(t, t2, N) == 0, "same seed, same split");
	head_split(y, N, 3, 0.2, 8, t2);
	CHECK(memcmp(t, t2, N) != 0, "another seed, another split");
	head_split(y, N, 3, 0.99, 7, t2);
	CHECK(t2[100] + t2[101] + t2[102] == 2, "a class keeps a training row");
}

static double
num(const JsonValue *v)
{
	double		d = NAN;

	if (v != NULL)
		json_num(v, &d);
	return d;
}

/* scikit-learn's probabilities on the fixture's data sets */
static void
check_sklearn(void)
{
	size_t		len;
	uint8_t    *buf = read_file("build/unit/softmax_head.json", &len);
	JsonDoc    *doc;
	PgiError	err = {0};
	const JsonValue *sets;

	if (buf == NULL)
	{
		printf("softmax_head: skip scikit-learn reference (build/unit/softmax_head.json absent)\n");
		return;
	}
	CHECK(json_parse((const char *) buf, len, &doc, &err) == PGI_OK, "fixture parses");
	sets = json_get(json_root(doc), "sets");
	for (size_t s = 0; s < json_size(sets); s++)
	{
		const JsonValue *set = json_at(sets, s);
		int			n = (int) num(json_get(set, "n")),
					d = (int) num(json_get(set, "d")),
					k = (int) num(json_get(set, "k"));
		const JsonValue *jx = json_get(set, "x"),
				   *jy = json_get(set, "y"),
				   *jp = json_get(set, "probs"),
				   *jcw = json_get(set, "class_weight");
		float	   *x = malloc(sizeof(float) * n * d),
				   *w = malloc(sizeof(float) * k * (d + 1)),
				   *pr = malloc(sizeof(float) * n * k);
		int32_t    *y = malloc(sizeof(int32_t) * n);
		double		cw[64],
					worst = 0;
		HeadFitOptions o = {.c = num(json_get(set, "C")), .max_iter = 2000, .tol = 1e-9};
		HeadFitResult r;

		for (int i = 0; i < n * d; i++)
			x[i] = (float) num(json_at(jx, i));
		for (int i = 0; i < n; i++)
			y[i] = (int32_t) num(json_at(jy, i));
		if (jcw != NULL && json_size(jcw) > 0)
		{
			for (int c = 0; c < k; c++)
				cw[c] = num(json_at(jcw, c));
			o.class_weight = cw;
		}
		CHECK(head_fit(x, y, n, d, k, &o, w, &r, &err) == PGI_OK, "set %zu fits", s);
		head_probs(w, d, k, x, n, pr);
		for (int i = 0; i < n * k; i++)
			worst = fmax(worst, fabs(pr[i] - num(json_at(jp, i))));
		printf("  set %zu: worst %.2e, %d iterations\n", s, worst, r.iterations);
		CHECK(worst < 2e-4 && r.monotone, "set %zu (n %d, d %d, k %d, C %g): probabilities within %.1e of scikit-learn's (%d iterations)",
			  s, n, d, k, o.c, worst, r.iterations);
		free(x);
		free(w);
		free(pr);
		free(y);
	}
	json_free(doc);
	free(buf);
}

int
main(void)
{
	check_separable();
	check_errors();
	check_split();
	check_sklearn();
	return UNIT_DONE("softmax_head");
}
