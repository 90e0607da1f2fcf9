/*-------------------------------------------------------------------------
 *
 * sampler.c
 *	  Next-token choice (see sampler.h).
 *
 * src/core/models/sampler.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>

#include "core/models/sampler.h"

double
sampler_uniform(Sampler *s)
{
	/* splitmix64 */
	uint64_t	z = (s->state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

/* Order by probability, descending; ties by id */
static const float *sort_probs;

static int
by_prob(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;

	if (sort_probs[x] != sort_probs[y])
		return sort_probs[x] > sort_probs[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

PgiStatus
sampler_next(Sampler *s, const float *logits, int32_t vocab, int32_t *token, float *logprob,
			 PgiError *err)
{
	int32_t		best = 0;
	double		sum = 0.0;
	int32_t		n;
	double		cum,
				r;

	for (int32_t i = 1; i < vocab; i++)
		if (logits[i] > logits[best])
			best = i;
	for (int32_t i = 0; i < vocab; i++)
		sum += exp((double) logits[i] - logits[best]);
	if (!isfinite(logits[best]) || !isfinite(sum))
		return pgi_error(err, PGI_ERR_DATA, NULL, "the model produced logits that are not finite");
	if (s->temperature <= 0.0f)
	{
		*token = best;
		*logprob = (float) -log(sum);
		return PGI_OK;
	}

	/* probabilities at the temperature, most likely first */
	for (int32_t i = 0; i < vocab; i++)
	{
		s->order[i] = i;
		s->probs[i] = (float) exp(((double) logits[i] - logits[best]) / s->temperature);
	}
	sort_probs = s->probs;
	qsort(s->order, (size_t) vocab, sizeof(int32_t), by_prob);
	n = s->top_k > 0 && s->top_k < vocab ? s->top_k : vocab;
	cum = 0.0;
	for (int32_t i = 0; i < n; i++)
		cum += s->probs[s->order[i]];
	/* top-p: the smallest prefix reaching top_p of the remaining mass */
	if (s->top_p < 1.0f)
	{
		double		c = 0.0;

		for (int32_t i = 0; i < n; i++)
		{
			c += s->probs[s->order[i]];
			if (c >= s->top_p * cum)
			{
				n = i + 1;
				cum = c;
				break;
			}
		}
	}
	r = sampler_uniform(s) * cum;
	*token = s->order[n - 1];
	for (int32_t i = 0; i < n; i++)
	{
		r -= s->probs[s->order[i]];
		if (r < 0.0)
		{
			*token = s->order[i];
			break;
		}
	}
	*logprob = (float) (((double) logits[*token] - logits[best]) - log(sum));
	return PGI_OK;
}
