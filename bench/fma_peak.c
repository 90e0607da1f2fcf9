/*
 * bench/fma_peak.c: the core's fp32 FMA throughput (GFLOP/s), the ceiling
 * any fp32 matrix product can reach: 16 independent chains of fused
 * multiply-adds on the widest vectors the CPU has (AVX-512, else AVX2),
 * on as many threads as asked.  Prints "<isa> <GFLOP/s>".
 *
 *   fma_peak [threads]
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 100000000L

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static void *
run512(void *out)
{
	__m512		a[16];
	__m512		b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-8f);
	float		s = 0;

	for (int i = 0; i < 16; i++)
		a[i] = _mm512_set1_ps((float) i);
	for (long k = 0; k < ITERS; k++)
#pragma GCC unroll 16
		for (int i = 0; i < 16; i++)
			a[i] = _mm512_fmadd_ps(a[i], b, c);
	for (int i = 0; i < 16; i++)
		s += _mm512_reduce_add_ps(a[i]);
	*(float *) out = s;
	return NULL;
}

__attribute__((target("avx2,fma"))) static void *
run256(void *out)
{
	__m256		a[16];
	__m256		b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-8f);
	float		v[8], s = 0;

	for (int i = 0; i < 16; i++)
		a[i] = _mm256_set1_ps((float) i);
	for (long k = 0; k < ITERS; k++)
#pragma GCC unroll 16
		for (int i = 0; i < 16; i++)
			a[i] = _mm256_fmadd_ps(a[i], b, c);
	for (int i = 0; i < 16; i++)
	{
		_mm256_storeu_ps(v, a[i]);
		for (int j = 0; j < 8; j++)
			s += v[j];
	}
	*(float *) out = s;
	return NULL;
}

int
main(int argc, char **argv)
{
	int			threads = argc > 1 ? atoi(argv[1]) : 1;
	int			wide = __builtin_cpu_supports("avx512f");
	pthread_t	th[64];
	float		out[64];
	double		t;

	if (threads < 1 || threads > 64)
		threads = 1;
	t = now();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, wide ? run512 : run256, &out[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t = now() - t;
	printf("%s %.1f\n", wide ? "avx512" : "avx2",
		   threads * (double) ITERS * 16 * (wide ? 32 : 16) / t / 1e9);
	return out[0] == 12345.0f;	/* keep the sums alive */
}
