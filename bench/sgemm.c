/*
 * sgemm.c
 *	  OpenBLAS sgemm throughput (GFLOP/s) for the shapes a transformer
 *	  encoder uses, with the kernels OpenBLAS picked (OPENBLAS_CORETYPE, if
 *	  set, decides).  bench/sgemm runs it once per core type, so the cost of
 *	  OpenBLAS's "Prescott" fallback on CPUs it does not know is visible.
 *	  Prints figures, never pass/fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

char	   *openblas_get_corename(void);
void		openblas_set_num_threads(int);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s of C(m,n) = A(m,k) B(k,n), best of 5 timed rounds of ~0.2 s */
static double
gflops(int m, int n, int k)
{
	float	   *a = malloc(sizeof(float) * m * k);
	float	   *b = malloc(sizeof(float) * k * n);
	float	   *c = malloc(sizeof(float) * m * n);
	double		best = 0;

	for (long i = 0; i < (long) m * k; i++)
		a[i] = (float) (i % 7) * 0.1f;
	for (long i = 0; i < (long) k * n; i++)
		b[i] = (float) (i % 5) * 0.1f;
	for (int r = 0; r < 5; r++)
	{
		int			reps = 0;
		double		t0 = now(),
					t;

		do
		{
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k,
						1.0f, a, k, b, k, 0.0f, c, n);
			reps++;
			t = now() - t0;
		} while (t < 0.2);
		if (2.0 * m * n * k * reps / t / 1e9 > best)
			best = 2.0 * m * n * k * reps / t / 1e9;
	}
	free(a);
	free(b);
	free(c);
	return best;
}

int
main(int argc, char **argv)
{
	int			threads = argc > 1 ? atoi(argv[1]) : 1;
	static const int shapes[][3] = {
		/* tokens x out x in: MiniLM-L6 (384 hidden, 1536 FFN), BERT-base (768, 3072) */
		{16, 384, 384}, {16, 1536, 384}, {512, 384, 384}, {512, 1536, 384},
		{4096, 768, 768}, {4096, 3072, 768}, {1024, 1024, 1024},
	};

	openblas_set_num_threads(threads);
	printf("core %-10s threads %d:", openblas_get_corename(), threads);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		printf("  %dx%dx%d %.1f", shapes[i][0], shapes[i][1], shapes[i][2],
			   gflops(shapes[i][0], shapes[i][1], shapes[i][2]));
	printf("  (GFLOP/s, m x n x k)\n");
	return 0;
}
