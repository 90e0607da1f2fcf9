/*-------------------------------------------------------------------------
 *
 * par.c
 *	  Worker threads for data-parallel loops (see par.h).
 *
 * A job is a range [0, n) cut into small chunks; the caller and the
 * workers take chunks from a shared counter until none is left, so the
 * work is balanced dynamically.  That matters on a database server, where
 * the other cores are often busy: a worker that is not scheduled in time
 * simply takes no chunk, and the caller does the work itself instead of
 * waiting for it (a static split would stall every product for a time
 * slice).
 *
 * Protocol: the caller writes the job, opens it (closed = 0) and bumps the
 * generation.  A worker that sees a new generation registers (active++),
 * then checks closed: if the job is still open it takes chunks, else it
 * backs out; either way it deregisters.  The caller, having run out of
 * chunks, closes the job and waits until active is 0.  Both sides write
 * their flag before reading the other's (sequentially consistent atomics),
 * so a worker either is seen by the caller or sees the job closed.
 * Workers that see no new generation spin for a while, then sleep on a
 * condition variable.
 *
 * src/core/kernels/par.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/par.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SPIN_ROUNDS 20000

typedef struct Pool
{
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_uint generation;
	atomic_int	sleepers;
	atomic_int	active;			/* workers inside the current job */
	atomic_int	closed;			/* the current job takes no more workers */
	atomic_int	next;			/* first chunk not taken */
	/* the current job */
	par_fn		fn;
	void	   *arg;
	int			n;
	int			grain;
	int			started;		/* workers running */
} Pool;

static Pool pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.closed = 1,
};
static int	wanted = 1;

/* Pause in a spin loop */
static inline void
relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Take chunks of the current job until none is left */
static void
run_chunks(void)
{
	for (;;)
	{
		int			b = atomic_fetch_add(&pool.next, pool.grain);

		if (b >= pool.n)
			return;
		pool.fn(pool.arg, b, b + pool.grain < pool.n ? b + pool.grain : pool.n);
	}
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
		relax();
	}
	pthread_mutex_lock(&pool.lock);
	atomic_fetch_add(&pool.sleepers, 1);
	while ((g = atomic_load(&pool.generation)) == seen)
		pthread_cond_wait(&pool.wake, &pool.lock);
	atomic_fetch_sub(&pool.sleepers, 1);
	pthread_mutex_unlock(&pool.lock);
	return g;
}

/* Worker thread: join each job that is still open */
static void *
worker(void *p)
{
	unsigned	seen = 0;

	(void) p;
	for (;;)
	{
		seen = wait_generation(seen);
		atomic_fetch_add(&pool.active, 1);
		if (!atomic_load(&pool.closed))
			run_chunks();
		atomic_fetch_sub(&pool.active, 1);
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

		if (pthread_create(&th, NULL, worker, NULL) != 0)
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

	if (nt > 1)
		nt = ensure_workers(nt);
	if (nt <= 1)
	{
		if (n > 0)
			fn(arg, 0, n);
		return;
	}
	/* about four chunks per thread: balance without much counter traffic */
	pool.fn = fn;
	pool.arg = arg;
	pool.n = n;
	pool.grain = n / (4 * nt) > 0 ? n / (4 * nt) : 1;
	atomic_store(&pool.next, 0);
	atomic_store(&pool.closed, 0);
	atomic_fetch_add(&pool.generation, 1);	/* seq_cst: before the sleepers load */
	if (atomic_load(&pool.sleepers) > 0)
	{
		pthread_mutex_lock(&pool.lock);
		pthread_cond_broadcast(&pool.wake);
		pthread_mutex_unlock(&pool.lock);
	}
	run_chunks();
	atomic_store(&pool.closed, 1);
	/* wait for the chunks workers are still running */
	for (int i = 0; atomic_load(&pool.active) > 0; i++)
	{
		if (i < 4000)
			relax();
		else
			sched_yield();
	}
}
