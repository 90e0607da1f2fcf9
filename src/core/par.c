/*-------------------------------------------------------------------------
 *
 * par.c
 *	  Worker threads for data-parallel loops (see par.h).
 *
 * Protocol: the caller publishes a job (fn, arg, n, thread count) and
 * increments the generation; each worker runs its range for a generation
 * it has not seen and increments done.  Workers that see no new
 * generation spin for ~SPIN_ROUNDS polls, then sleep on the condition
 * variable until the next generation is broadcast.
 *
 * src/core/par.c
 *
 *-------------------------------------------------------------------------
 */
#include "par.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#define SPIN_ROUNDS 20000

typedef struct Pool
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_uint generation;
	atomic_int	done;
	atomic_int	sleepers;
	/* the current job */
	par_fn		fn;
	void	   *arg;
	int			n;
	int			nthreads;		/* threads of this job, caller included */
	int			started;		/* workers running */
} Pool;

static Pool pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};
static int	wanted = 1;

/* Range of thread t of nt over [0, n) */
static void
range(int n, int t, int nt, int *b, int *e)
{
	*b = (int) ((long long) n * t / nt);
	*e = (int) ((long long) n * (t + 1) / nt);
}

/* Wait for a generation after seen: spin, then sleep */
static unsigned
wait_generation(unsigned seen)
{
	unsigned	g;

	for (int i = 0; i < SPIN_ROUNDS; i++)
	{
		if ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) != seen)
			return g;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	pthread_mutex_lock(&pool.lock);
	atomic_fetch_add(&pool.sleepers, 1);
	while ((g = atomic_load(&pool.generation)) == seen)
		pthread_cond_wait(&pool.wake, &pool.lock);
	atomic_fetch_sub(&pool.sleepers, 1);
	pthread_mutex_unlock(&pool.lock);
	return g;
}

/* Worker thread t (1..): run its range of each job */
static void *
worker(void *p)
{
	int			t = (int) (intptr_t) p;
	unsigned	seen = 0;

	for (;;)
	{
		int			b,
					e;

		seen = wait_generation(seen);
		if (t < pool.nthreads)
		{
			range(pool.n, t, pool.nthreads, &b, &e);
			if (b < e)
				pool.fn(pool.arg, b, e);
		}
		atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
	}
	return NULL;
}

/* Start workers up to n - 1; returns the threads available (caller included) */
static int
ensure_workers(int n)
{
	sigset_t	all,
				old;

	if (pool.started >= n - 1)
		return n;
	/* workers must never run the backend's signal handlers */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (pool.started < n - 1)
	{
		pthread_t	th;

		if (pthread_create(&th, NULL, worker, (void *) (intptr_t) (pool.started + 1)) != 0)
			break;
		pthread_detach(th);
		pool.started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pool.started + 1;
}

void
par_set_threads(int n)
{
	wanted = n < 1 ? 1 : n > PAR_MAX_THREADS ? PAR_MAX_THREADS : n;
}

int
par_threads(void)
{
	return wanted;
}

void
par_for(int n, par_fn fn, void *arg)
{
	int			nt = wanted < n ? wanted : n;
	int			b,
				e;

	if (nt > 1)
		nt = ensure_workers(nt);
	if (nt <= 1)
	{
		if (n > 0)
			fn(arg, 0, n);
		return;
	}
	pool.fn = fn;
	pool.arg = arg;
	pool.n = n;
	pool.nthreads = nt;
	atomic_store(&pool.done, 0);
	atomic_fetch_add(&pool.generation, 1);	/* seq_cst: ordered before the sleepers load */
	if (atomic_load(&pool.sleepers) > 0)
	{
		pthread_mutex_lock(&pool.lock);
		pthread_cond_broadcast(&pool.wake);
		pthread_mutex_unlock(&pool.lock);
	}
	range(n, 0, nt, &b, &e);
	fn(arg, b, e);
	/*
	 * every started worker reports, including those with no range; yield
	 * after a short spin, since on a busy server a worker may be waiting
	 * for a CPU
	 */
	for (int i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < pool.started; i++)
	{
		if (i < 4000)
		{
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
		else
			sched_yield();
	}
}
