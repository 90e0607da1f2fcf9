/*
 * vector_distance.c
 *	  Nanoseconds per distance for each operator's kernel at 3, 128, 768 and
 *	  1536 dimensions, for every ISA the CPU supports, and the speed-up over
 *	  a scalar loop compiled without vectorisation (bench/scalar_ref.c).
 *
 *	  Usage: build/bench/vector_distance [seconds-per-cell, default 0.2]
 *
 * Each cell runs the kernel over a ring of vector pairs totalling about
 * 256 KiB (so the data sits in L2 like an index scan's hot set, rather than
 * one pair in registers or a stream from memory that would time the memory
 * bus) and reports the median of 5 timed rounds.  This prints figures,
 * never pass/fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/kernels/vec_kernels.h"

float		scalar_l2sq(const float *a, const float *b, int n);
float		scalar_dot(const float *a, const float *b, int n);
float		scalar_l1(const float *a, const float *b, int n);
double		scalar_cosine(const float *a, const float *b, int n);

#define RING 256

/* Pairs in the ring for n dimensions: about 256 KiB of data */
#define RING_FOR(n) ((32768 / (n)) < RING ? (32768 / (n)) : RING)

typedef double (*dist_fn) (const float *, const float *, int);

static double k_l2(const float *a, const float *b, int n) { return vk_l2sq(a, b, n); }
static double k_ip(const float *a, const float *b, int n) { return -vk_dot(a, b, n); }
static double k_cos(const float *a, const float *b, int n) { return vk_cosine_distance(a, b, n); }
static double k_l1(const float *a, const float *b, int n) { return vk_l1(a, b, n); }
static double s_l2(const float *a, const float *b, int n) { return scalar_l2sq(a, b, n); }
static double s_ip(const float *a, const float *b, int n) { return -scalar_dot(a, b, n); }
static double s_cos(const float *a, const float *b, int n) { return scalar_cosine(a, b, n); }
static double s_l1(const float *a, const float *b, int n) { return scalar_l1(a, b, n); }

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static volatile double sink;

/* Median ns per call of f over the ring */
static double
time_ns(dist_fn f, float **a, float **b, int n, double seconds)
{
	double		rounds[5];
	long		iters = 1000;
	long		ring = RING_FOR(n);

	/* calibrate so one round takes about seconds / 5 */
	for (;;)
	{
		double		t0 = now(),
					acc = 0;

		for (long i = 0; i < iters; i++)
			acc += f(a[i % ring], b[i % ring], n);
		sink = acc;
		if (now() - t0 > seconds / 20 || iters > (1L << 30))
			break;
		iters *= 2;
	}
	iters *= 4;
	for (int r = 0; r < 5; r++)
	{
		double		t0 = now(),
					acc = 0;

		for (long i = 0; i < iters; i++)
			acc += f(a[i % ring], b[i % ring], n);
		sink = acc;
		rounds[r] = (now() - t0) * 1e9 / iters;
	}
	qsort(rounds, 5, sizeof(double), cmp_double);
	return rounds[2];
}

int
main(int argc, char **argv)
{
	static const int dims[] = {3, 128, 768, 1536};
	static const struct
	{
		const char *op;
		dist_fn		kernel;
		dist_fn		scalar;
	}			ops[] = {
		{"<-> l2", k_l2, s_l2},
		{"<#> ip", k_ip, s_ip},
		{"<=> cos", k_cos, s_cos},
		{"<+> l1", k_l1, s_l1},
	};
	double		seconds = argc > 1 ? atof(argv[1]) : 0.2;
	VkIsa		best = vk_best_isa();
	float	   *a[RING],
			   *b[RING];

	srand(42);
	for (int i = 0; i < RING; i++)
	{
		a[i] = malloc(sizeof(float) * 1536);
		b[i] = malloc(sizeof(float) * 1536);
		for (int j = 0; j < 1536; j++)
		{
			a[i][j] = (float) rand() / RAND_MAX - 0.5f;
			b[i][j] = (float) rand() / RAND_MAX - 0.5f;
		}
	}

	printf("vector distance kernels: ns per distance (median of 5), best ISA here: %s\n",
		   vk_isa_name(best));
	printf("speed-up = scalar loop (-O2 -fno-tree-vectorize) / kernel\n\n");
	printf("%-8s %5s %10s", "op", "dims", "scalar_ns");
	for (int isa = 0; isa <= (int) best; isa++)
		printf(" %12s %7s", vk_isa_name((VkIsa) isa), "speedup");
	printf("\n");

	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
		for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
		{
			double		base = time_ns(ops[o].scalar, a, b, dims[d], seconds);

			printf("%-8s %5d %10.1f", ops[o].op, dims[d], base);
			for (int isa = 0; isa <= (int) best; isa++)
			{
				double		t;

				vk_set_isa((VkIsa) isa);
				t = time_ns(ops[o].kernel, a, b, dims[d], seconds);
				printf(" %12.1f %6.1fx", t, base / t);
			}
			printf("\n");
			fflush(stdout);
		}
	vk_set_isa(best);
	return 0;
}
