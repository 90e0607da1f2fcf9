/*-------------------------------------------------------------------------
 *
 * blas.h
 *	  OpenBLAS, loaded at run time with the fastest kernels the CPU has.
 *
 * src/pg/infer/blas.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_BLAS_H
#define PGI_BLAS_H

/* cblas_sgemm's signature, with CBLAS enums as ints */
typedef void (*PgiSgemmFn) (int order, int transa, int transb, int m, int n, int k,
							float alpha, const float *a, int lda, const float *b, int ldb,
							float beta, float *c, int ldc);

typedef struct PgiBlas
{
	PgiSgemmFn	sgemm;
	const char *library;		/* file loaded */
	const char *core;			/* OpenBLAS's kernel set, e.g. "SkylakeX" */
	const char *config;			/* openblas_get_config() */
	const char *coretypeSource; /* "user" (OPENBLAS_CORETYPE was set), "pg_infer", "openblas" */
	const char *cpu;			/* what pg_infer detected: avx512 / avx2 / baseline */
} PgiBlas;

extern int	pgi_threads;

extern void BlasInit(void);

/* Load OpenBLAS in this process if not done yet (ERROR when missing) */
extern const PgiBlas *BlasGet(void);

#endif							/* PGI_BLAS_H */
