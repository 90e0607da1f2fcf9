/*-------------------------------------------------------------------------
 *
 * softmax_head.h
 *	  Classification heads trained in the database: multinomial logistic
 *	  regression (softmax) over embeddings, with L2 regularisation, fitted
 *	  by L-BFGS with a backtracking (Armijo) line search, so the objective
 *	  decreases at every iteration; deterministic (no randomness, one
 *	  thread, fixed order of every sum).
 *
 * Objective, as scikit-learn's LogisticRegression(multi_class="multinomial",
 * C=c) states it, on standardised features z = (x - mean) / std:
 *	  J(W, b) = sum_i cw[y_i] * -log softmax(W z_i + b)[y_i] + |W|^2 / (2 c)
 * (the bias is not regularised).  The result is folded back onto the raw
 * features, so a head is applied to an embedding as it comes:
 *	  logits = W' x + b'.
 *
 * src/core/models/softmax_head.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_SOFTMAX_HEAD_H
#define PGI_SOFTMAX_HEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pgi_status.h"

typedef struct HeadFitOptions
{
	double		c;				/* inverse regularisation strength, > 0 */
	int			max_iter;		/* L-BFGS iterations, >= 1 */
	double		tol;			/* converged when max |gradient| <= tol * n */
	const double *class_weight; /* [k] per class (NULL: all 1) */
	int			(*cancel) (void *arg);	/* non-zero: stop (may also not return) */
	void	   *cancel_arg;
} HeadFitOptions;

typedef struct HeadFitResult
{
	int			iterations;
	bool		converged;
	double		loss;			/* final objective */
	double		loss_first;		/* objective at the start (W = 0, b = 0) */
	bool		monotone;		/* every iteration decreased the objective */
} HeadFitResult;

/*
 * Fit a head on x (n, d) row-major with labels y[i] in 0..k-1 (k >= 2):
 * w (k, d + 1) gets, per class, d weights then the bias, for raw x.
 * PGI_ERR_PARAM for bad sizes or labels, PGI_ERR_NOMEM, PGI_ERR_DATA for
 * a non-finite input; PGI_ERR_IO when cancelled.
 */
extern PgiStatus head_fit(const float *x, const int32_t *y, int n, int d, int k,
						  const HeadFitOptions *o, float *w, HeadFitResult *res, PgiError *err);

/* Class probabilities of the rows x (n, d) under w (k, d + 1): probs (n, k) */
extern void head_probs(const float *w, int d, int k, const float *x, int n, float *probs);

/*
 * A stratified split: test[i] = 1 for round(fraction * count) rows of each
 * class (at most count - 1, so every class keeps a training row), chosen by
 * a seeded shuffle (splitmix64); the same seed gives the same split
 */
extern void head_split(const int32_t *y, int n, int k, double fraction, uint64_t seed,
					   uint8_t *test);

#endif							/* PGI_SOFTMAX_HEAD_H */
