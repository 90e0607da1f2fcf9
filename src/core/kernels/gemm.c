/*-------------------------------------------------------------------------
 *
 * gemm.c
 *	  C += X W^T with pre-packed weight panels (see gemm.h).
 *
 * For each panel of GEMM_NR output columns, rows of X are taken MR at a
 * time; the kernel keeps an MR x GEMM_NR block of C in registers and, for
 * each k, loads the panel's GEMM_NR weights once and broadcasts one X value
 * per row.  A panel (k x 32 floats: 48 kB for k = 384, 192 kB for k = 1536)
 * stays in L2 while all row blocks pass over it.  Rows past m in the last
 * block re-read the last valid row and are not stored; columns past n
 * multiply the zero padding of the panel and are not stored.
 *
 * src/core/kernels/gemm.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/gemm.h"
#include "core/kernels/gemm_epilogue.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#include <immintrin.h>
#endif

typedef void (*panel_fn) (const float *x, int ldx, const float *panel, float *c, int ldc,
						  int m, int ncols, int k, const float *bias, int beta);

void
gemm_pack(const float *w, int64_t n, int64_t k, float *dst)
{
	int64_t		panels = (n + GEMM_NR - 1) / GEMM_NR;

	for (int64_t p = 0; p < panels; p++)
	{
		float	   *panel = dst + (size_t) p * GEMM_NR * (size_t) k;

		for (int64_t kk = 0; kk < k; kk++)
			for (int j = 0; j < GEMM_NR; j++)
			{
				int64_t		row = p * GEMM_NR + j;

				panel[kk * GEMM_NR + j] = row < n ? w[row * k + kk] : 0.0f;
			}
	}
}

/* ---------------------------------------------------------------- portable */

/* One panel: c[:, 0..ncols) += x W_panel^T */
static void
panel_portable(const float *x, int ldx, const float *panel, float *c, int ldc,
			   int m, int ncols, int k, const float *bias, int beta)
{
	for (int i = 0; i < m; i++)
	{
		float		acc[GEMM_NR] = {0};
		const float *xr = x + (size_t) i * ldx;

		for (int kk = 0; kk < k; kk++)
		{
			float		xv = xr[kk];
			const float *wk = panel + (size_t) kk * GEMM_NR;

			for (int j = 0; j < GEMM_NR; j++)
				acc[j] += xv * wk[j];
		}
		gemm_store_scalar(c + (size_t) i * ldc, bias, beta, ncols, acc);
	}
}

#ifdef GEMM_X86
/* ---------------------------------------------------------------- AVX-512 */
#define AVX512 __attribute__((target("avx512f")))
#define MR512 8

/* One panel, 8 rows at a time, 8 x 32 accumulators */
AVX512 static void
panel_avx512(const float *x, int ldx, const float *panel, float *c, int ldc,
			 int m, int ncols, int k, const float *bias, int beta)
{
	__mmask16	m0 = (__mmask16) (ncols >= 16 ? 0xFFFF : (1u << ncols) - 1);
	__mmask16	m1 = (__mmask16) (ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);

	for (int i0 = 0; i0 < m; i0 += MR512)
	{
		const float *xr[MR512];
		__m512		a0[MR512],
					a1[MR512];
		int			rows = m - i0 < MR512 ? m - i0 : MR512;

		for (int i = 0; i < MR512; i++)
		{
			xr[i] = x + (size_t) (i0 + (i < rows ? i : rows - 1)) * ldx;
			a0[i] = _mm512_setzero_ps();
			a1[i] = _mm512_setzero_ps();
		}
		for (int kk = 0; kk < k; kk++)
		{
			__m512		w0 = _mm512_loadu_ps(panel + (size_t) kk * GEMM_NR);
			__m512		w1 = _mm512_loadu_ps(panel + (size_t) kk * GEMM_NR + 16);

#pragma GCC unroll 8
			for (int i = 0; i < MR512; i++)
			{
				__m512		b = _mm512_set1_ps(xr[i][kk]);

				a0[i] = _mm512_fmadd_ps(b, w0, a0[i]);
				a1[i] = _mm512_fmadd_ps(b, w1, a1[i]);
			}
		}
		for (int i = 0; i < rows; i++)
		{
			float	   *cr = c + (size_t) (i0 + i) * ldc;

			gemm_store16(cr, bias, beta, m0, a0[i]);
			if (m1)
				gemm_store16(cr + 16, bias ? bias + 16 : NULL, beta, m1, a1[i]);
		}
	}
}

/* ---------------------------------------------------------------- AVX2 */
#define AVX2 __attribute__((target("avx2,fma")))
#define MR256 4

/* 16 columns of a panel (half), 4 rows at a time, 4 x 16 accumulators */
AVX2 static void
half_avx2(const float *x, int ldx, const float *panel, float *c, int ldc,
		  int m, int ncols, int k, const float *bias, int beta)
{
	for (int i0 = 0; i0 < m; i0 += MR256)
	{
		const float *xr[MR256];
		__m256		a0[MR256],
					a1[MR256];
		int			rows = m - i0 < MR256 ? m - i0 : MR256;

		for (int i = 0; i < MR256; i++)
		{
			xr[i] = x + (size_t) (i0 + (i < rows ? i : rows - 1)) * ldx;
			a0[i] = _mm256_setzero_ps();
			a1[i] = _mm256_setzero_ps();
		}
		for (int kk = 0; kk < k; kk++)
		{
			__m256		w0 = _mm256_loadu_ps(panel + (size_t) kk * GEMM_NR);
			__m256		w1 = _mm256_loadu_ps(panel + (size_t) kk * GEMM_NR + 8);

#pragma GCC unroll 4
			for (int i = 0; i < MR256; i++)
			{
				__m256		b = _mm256_broadcast_ss(xr[i] + kk);

				a0[i] = _mm256_fmadd_ps(b, w0, a0[i]);
				a1[i] = _mm256_fmadd_ps(b, w1, a1[i]);
			}
		}
		for (int i = 0; i < rows; i++)
		{
			float		tmp[16];
			float	   *cr = c + (size_t) (i0 + i) * ldc;

			_mm256_storeu_ps(tmp, a0[i]);
			_mm256_storeu_ps(tmp + 8, a1[i]);
			gemm_store_scalar(cr, bias, beta, ncols < 16 ? ncols : 16, tmp);
		}
	}
}

/* One panel as two halves of 16 columns */
AVX2 static void
panel_avx2(const float *x, int ldx, const float *panel, float *c, int ldc,
		   int m, int ncols, int k, const float *bias, int beta)
{
	half_avx2(x, ldx, panel, c, ldc, m, ncols, k, bias, beta);
	if (ncols > 16)
		half_avx2(x, ldx, panel + 16, c + 16, ldc, m, ncols - 16, k, bias ? bias + 16 : NULL, beta);
}
#endif

/* ---------------------------------------------------------------- dispatch */

static const char *forced = NULL;

/* The panel kernel for this CPU */
static panel_fn
choose(const char **name)
{
#ifdef GEMM_X86
	if ((forced == NULL || strcmp(forced, "avx512") == 0) && __builtin_cpu_supports("avx512f"))
	{
		*name = "avx512";
		return panel_avx512;
	}
	if ((forced == NULL || strcmp(forced, "avx2") == 0) &&
		__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		*name = "avx2";
		return panel_avx2;
	}
#endif
	*name = "portable";
	return panel_portable;
}

const char *
gemm_isa(void)
{
	const char *name;

	(void) choose(&name);
	return name;
}

int
gemm_force_isa(const char *isa)
{
	const char *name;

	forced = isa;
	if (isa == NULL)
		return 1;
	(void) choose(&name);
	if (strcmp(name, isa) != 0)
	{
		forced = NULL;
		return 0;
	}
	return 1;
}

void
gemm_packed_range(const float *x, int ldx, const float *wp, float *c, int ldc,
				  int m, int n, int k, int p0, int p1)
{
	gemm_packed_range_ep(x, ldx, wp, c, ldc, m, n, k, p0, p1, NULL, 1);
}

void
gemm_packed_range_ep(const float *x, int ldx, const float *wp, float *c, int ldc,
					 int m, int n, int k, int p0, int p1, const float *bias, int beta)
{
	const char *name;
	panel_fn	fn = choose(&name);

	/* the hardware runs out of rows of X in L1 past ~64: block the rows */
	for (int r0 = 0; r0 < m; r0 += 64)
	{
		int			rows = m - r0 < 64 ? m - r0 : 64;

		for (int p = p0; p < p1; p++)
		{
			int			ncols = n - p * GEMM_NR < GEMM_NR ? n - p * GEMM_NR : GEMM_NR;

			fn(x + (size_t) r0 * ldx, ldx, wp + (size_t) p * GEMM_NR * k,
			   c + (size_t) r0 * ldc + (size_t) p * GEMM_NR, ldc, rows, ncols, k,
			   bias ? bias + (size_t) p * GEMM_NR : NULL, beta);
		}
	}
}

void
gemm_packed(const float *x, int ldx, const float *wp, float *c, int ldc, int m, int n, int k)
{
	gemm_packed_range(x, ldx, wp, c, ldc, m, n, k, 0, (n + GEMM_NR - 1) / GEMM_NR);
}
