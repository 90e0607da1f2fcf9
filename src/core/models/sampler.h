/*-------------------------------------------------------------------------
 *
 * sampler.h
 *	  Choosing the next token from a decoder's logits: greedy, or sampled
 *	  with temperature, top-k and top-p from an explicit random state.
 *
 * Temperature 0 is greedy: the largest logit, the lowest id on ties.
 * Otherwise the logits are divided by the temperature, cut to the top_k
 * largest (0: all), turned into probabilities, cut to the smallest set of
 * most likely tokens whose probability reaches top_p (ties ordered by id),
 * and one token is drawn with a uniform number from the state (splitmix64
 * seeded by the caller), so a seed reproduces a run exactly.
 *
 * src/core/models/sampler.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stdint.h>

#include "core/pgi_status.h"

typedef struct Sampler
{
	float		temperature;	/* 0: greedy */
	int32_t		top_k;			/* 0: no cut */
	float		top_p;			/* 1: no cut */
	uint64_t	state;			/* random state */
	int32_t    *order;			/* (vocab) work space, from the caller */
	float	   *probs;			/* (vocab) work space, from the caller */
} Sampler;

/* The next uniform number in [0, 1) */
extern double sampler_uniform(Sampler *s);

/*
 * The next token from logits (vocab); *logprob gets its log-probability
 * under the model's own distribution (softmax of the raw logits).
 * PGI_ERR_DATA when the logits are not finite.
 */
extern PgiStatus sampler_next(Sampler *s, const float *logits, int32_t vocab, int32_t *token,
							  float *logprob, PgiError *err);

#endif							/* SAMPLER_H */
