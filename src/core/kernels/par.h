/*-------------------------------------------------------------------------
 *
 * par.h
 *	  A small pool of worker threads for data-parallel loops.
 *
 * par_for(n, fn, arg) splits [0, n) into one contiguous range per thread
 * and returns when every range is done; the calling thread runs the first
 * range itself.  Workers only run fn: they never call back into the
 * caller's runtime (in a PostgreSQL backend: no palloc, no ereport, no
 * CHECK_FOR_INTERRUPTS), and they block every signal, so the backend's
 * signal handlers always run in the backend's own thread.  Between loops
 * the workers spin briefly (a forward pass issues many short loops) and
 * then sleep on a condition variable.
 *
 * The pool is created on first use with the size set by par_set_threads
 * (default 1: no threads, fn runs inline).  Not reentrant: one par_for at
 * a time, from one thread.
 *
 * src/core/kernels/par.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAR_H
#define PAR_H

#define PAR_MAX_THREADS 64

typedef void (*par_fn) (void *arg, int begin, int end);

/* Use n threads in total (1..PAR_MAX_THREADS, including the caller) */
extern void par_set_threads(int n);

/* Threads par_for uses */
extern int	par_threads(void);

/* Run fn over [0, n) split across the threads; returns when all are done */
extern void par_for(int n, par_fn fn, void *arg);

#endif							/* PAR_H */
