/*
 * test_par.c
 *	  par_for: every index of every job is run exactly once, for 1..4
 *	  threads, job sizes 0..300, and jobs issued back to back (the case
 *	  where a late worker meets the next job).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/kernels/par.h"
#include "unit.h"

static atomic_int hits[512];

/* par_for body: count each index */
static void
count(void *arg, int b, int e)
{
	(void) arg;
	for (int i = b; i < e; i++)
		atomic_fetch_add(&hits[i], 1);
}

int
main(void)
{
	for (int threads = 1; threads <= 4; threads++)
	{
		int			bad = 0;

		par_set_threads(threads);
		CHECK(par_threads() == threads, "par_threads");
		for (int rep = 0; rep < 2000; rep++)
		{
			int			n = (rep * 37) % 301;

			for (int i = 0; i < n; i++)
				atomic_store(&hits[i], 0);
			par_for(n, count, NULL);
			for (int i = 0; i < n; i++)
				if (atomic_load(&hits[i]) != 1)
					bad++;
		}
		CHECK(bad == 0, "%d threads: %d indexes not run exactly once", threads, bad);
	}
	par_set_threads(0);
	CHECK(par_threads() == 1, "thread count clamped to 1");
	par_set_threads(1000);
	CHECK(par_threads() == PAR_MAX_THREADS, "thread count clamped to the maximum");
	par_set_threads(1);
	return UNIT_DONE("par");
}
