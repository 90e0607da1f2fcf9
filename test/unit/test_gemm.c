/*
 * test_gemm.c
 *	  The packed-panel matrix product (gemm.h) against a float64 reference,
 *	  and row independence: a row multiplied alone gets exactly the floats it
 *	  gets among others (the decoder relies on it: a sequence decoded with
 *	  other rows generates the same tokens as alone), on every kernel.
 */
#include <math.h>
#include <string.h>

#include "core/kernels/gemm.h"
#include "unit.h"

#define M 11
#define N 70
#define K 37

int
main(void)
{
	static float x[M][K],
				w[N][K],
				wp[((N + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * K];
	const char *isas[] = {"avx512", "avx2", "portable"};
	unsigned	seed = 12345;

	for (int i = 0; i < M; i++)
		for (int k = 0; k < K; k++)
		{
			seed = seed * 1103515245u + 12345u;
			x[i][k] = (float) ((int) (seed >> 9) % 2001 - 1000) / 997.0f;
		}
	for (int j = 0; j < N; j++)
		for (int k = 0; k < K; k++)
		{
			seed = seed * 1103515245u + 12345u;
			w[j][k] = (float) ((int) (seed >> 9) % 2001 - 1000) / 1013.0f;
		}
	gemm_pack(&w[0][0], N, K, wp);

	for (int s = 0; s < 3; s++)
	{
		static float all[M][N],
					one[M][N];
		double		maxerr = 0;
		int			same = 1;

		if (!gemm_force_isa(isas[s]))
		{
			printf("gemm: %s kernel not available here, skipped\n", isas[s]);
			continue;
		}
		memset(all, 0, sizeof(all));
		memset(one, 0, sizeof(one));
		gemm_packed(&x[0][0], K, wp, &all[0][0], N, M, N, K);
		for (int i = 0; i < M; i++)
			gemm_packed(&x[i][0], K, wp, &one[i][0], N, 1, N, K);
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
			{
				double		ref = 0;

				for (int k = 0; k < K; k++)
					ref += (double) x[i][k] * w[j][k];
				if (fabs(all[i][j] - ref) > maxerr)
					maxerr = fabs(all[i][j] - ref);
				same &= memcmp(&all[i][j], &one[i][j], sizeof(float)) == 0;
			}
		CHECK(maxerr < 1e-4, "gemm %s: max |C - float64| %.2e", isas[s], maxerr);
		CHECK(same, "gemm %s: rows alone differ from rows together", isas[s]);
		printf("gemm %-8s: %d x %d x %d, max |C - float64| %.2e, rows alone bit-identical: %s\n",
			   isas[s], M, N, K, maxerr, same ? "yes" : "no");
	}
	gemm_force_isa(NULL);
	return UNIT_DONE("gemm");
}
