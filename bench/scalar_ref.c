/*
 * scalar_ref.c
 *	  Plain sequential loops, compiled with -O2 -fno-tree-vectorize by the
 *	  Makefile: the baseline bench/vector_distance compares the kernels with.
 */
#include <math.h>

float		scalar_l2sq(const float *a, const float *b, int n);
float		scalar_dot(const float *a, const float *b, int n);
float		scalar_l1(const float *a, const float *b, int n);
double		scalar_cosine(const float *a, const float *b, int n);

float
scalar_l2sq(const float *a, const float *b, int n)
{
	float		s = 0;

	for (int i = 0; i < n; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return s;
}

float
scalar_dot(const float *a, const float *b, int n)
{
	float		s = 0;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

float
scalar_l1(const float *a, const float *b, int n)
{
	float		s = 0;

	for (int i = 0; i < n; i++)
		s += fabsf(a[i] - b[i]);
	return s;
}

double
scalar_cosine(const float *a, const float *b, int n)
{
	float		d = 0,
				na = 0,
				nb = 0;

	for (int i = 0; i < n; i++)
	{
		d += a[i] * b[i];
		na += a[i] * a[i];
		nb += b[i] * b[i];
	}
	return 1.0 - d / sqrt((double) na * nb);
}
