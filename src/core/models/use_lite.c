/*-------------------------------------------------------------------------
 *
 * use_lite.c
 *	  Universal Sentence Encoder Lite forward pass over a packed batch
 *	  (see use_lite.h).
 *
 * Activations, T tokens of the batch (E = d_emb, D = d_model):
 *	x0 (T, E)	embeddings + timing signal
 *	z (T, D)	the residual stream; biases and residuals are written into
 *				it before each product, which then accumulates
 *	h (T, max(E, D))  LayerNorm output
 *	big (T, max(3D, ffn))  qkv, then the FFN's inner activations
 *	o (T, max(E, D))  attention heads, concatenated
 *
 * src/core/models/use_lite.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/use_lite.h"

#include <math.h>
#include <string.h>

#include "core/kernels/gemm.h"
#include "core/kernels/nn_kernels.h"
#include "core/kernels/par.h"


#define MAX2(a, b) ((a) > (b) ? (a) : (b))

size_t
use_scratch_floats(const UseConfig *c, int64_t total_tokens, int32_t max_len)
{
	size_t		t = total_tokens > 0 ? (size_t) total_tokens : 0;
	size_t		E = (size_t) c->d_emb,
				D = (size_t) c->d_model;
	size_t		wide = MAX2(E, D);
	size_t		big = MAX2(3 * D, (size_t) c->ffn);

	(void) max_len;				/* attention has per-thread buffers (bert.h) */
	return t * (E + D + 2 * wide + big) + (size_t) USE_HEAD_ROWS * D;
}

/* x0 (T, E) = Emb[id] + (Emb[id] + timing signal), float32 as the graph */
static void
embed_tokens(const UseConfig *c, const UseWeights *w, const int32_t *ids,
			 const int32_t *lens, int32_t n_seqs, float *x0)
{
	size_t		E = (size_t) c->d_emb;
	size_t		nt = (size_t) c->n_timing;
	size_t		t = 0;

	for (int32_t s = 0; s < n_seqs; s++)
		for (int32_t p = 0; p < lens[s]; p++, t++)
		{
			const float *e = w->emb + (size_t) ids[t] * E;
			float	   *row = x0 + t * E;

			for (size_t i = 0; i < nt; i++)
			{
				float		a = (float) p * w->inv_ts[i];
				float		sn = (float) sin((double) a);
				float		cs = (float) cos((double) a);

				row[i] = e[i] + (e[i] + sn);
				row[nt + i] = e[nt + i] + (e[nt + i] + cs);
			}
		}
}

/* dst (rows, n) = LayerNorm(src) */
static void
layer_norm(const float *src, float *dst, size_t rows, size_t n, const float *g,
		   const float *b, float eps)
{
	memcpy(dst, src, rows * n * sizeof(float));
	bert_layernorm(dst, rows, n, g, b, eps);
}

/*
 * Multi-head attention of layer l over h (T, din): o (T, din), the queries
 * scaled by the stored constant (bert_attend_all scales the keys instead:
 * the same scores); 0 when out of memory
 */
static int
attention(const UseConfig *c, const UseLayer *l, int layer, const BertRuntime *rt,
		  const int32_t *lens, int32_t n_seqs, size_t T, int din, const float *h,
		  float *qkv, float *o)
{
	bert_linear_ep(rt, T, 3 * din, din, h, l->qkv_w, l->qkv_b, 0, qkv);
	return bert_attend_all(din, c->n_heads, qkv, o, lens, n_seqs, 0, c->q_scale[layer]);
}

/* z (T, D) += relu(LN(z) W1 + b1) W2 + b2 */
static void
ffn(const UseConfig *c, const UseLayer *l, const BertRuntime *rt, size_t T, float *z,
	float *h, float *u)
{
	int			D = c->d_model;
	int			F = c->ffn;

	layer_norm(z, h, T, (size_t) D, l->ln_ffn_g, l->ln_ffn_b, c->ln_eps);
	bert_linear_ep(rt, T, F, D, h, l->up_w, l->up_b, 0, u);
	for (size_t i = 0; i < T * (size_t) F; i++)
		u[i] = u[i] > 0 ? u[i] : 0;
	bert_linear_ep(rt, T, D, F, u, l->down_w, l->down_b, 1, z);
}

PgiStatus
use_forward(const UseConfig *c, const UseWeights *w, const BertRuntime *rt,
			const int32_t *ids, const int32_t *lens, int32_t n_seqs, float *scratch,
			float *out, PgiError *err)
{
	size_t		T = 0;
	int32_t		max_len = 0;
	int			E = c->d_emb,
				D = c->d_model;
	size_t		wide = (size_t) MAX2(E, D);
	float	   *x0,
			   *z,
			   *h,
			   *big,
			   *o,
			   *head;
	BertRuntime r32 = *rt;

	r32.wfmt = (GemmFormat) {0};	/* res_w and tanh_w are float32 (use_load.c) */
	if (n_seqs < 1)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "a batch needs at least one sequence");
	for (int32_t s = 0; s < n_seqs; s++)
	{
		if (lens[s] < 0 || lens[s] > c->max_tokens)
			return pgi_error(err, PGI_ERR_LIMIT, NULL,
							 "sequence of %d tokens does not fit the model's %d positions",
							 lens[s], c->max_tokens);
		T += (size_t) lens[s];
		if (lens[s] > max_len)
			max_len = lens[s];
	}
	if (T * (size_t) MAX2(3 * D, c->ffn) > (size_t) INT32_MAX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "batch of %zu tokens is too large", T);
	for (size_t t = 0; t < T; t++)
		if (ids[t] < 0 || ids[t] >= c->vocab_rows)
			return pgi_error(err, PGI_ERR_DATA, NULL,
							 "token id %d is outside the vocabulary (size %d)",
							 ids[t], c->vocab_rows);

	x0 = scratch;
	z = x0 + T * (size_t) E;
	h = z + T * (size_t) D;
	o = h + T * wide;
	big = o + T * wide;
	head = big + T * (size_t) MAX2(3 * D, c->ffn);

	if (T > 0)
	{
		const UseLayer *l0 = &w->layers[0],
				   *l1 = &w->layers[1];
		size_t		t0 = 0;

		embed_tokens(c, w, ids, lens, n_seqs, x0);

		/* layer 0: z = Att0(LN(x0)) + x0 Wres + bres; z += FFN0(z) */
		if (rt->check)
			rt->check(rt->check_arg);
		layer_norm(x0, h, T, (size_t) E, l0->ln_att_g, l0->ln_att_b, c->ln_eps);
		if (!attention(c, l0, 0, rt, lens, n_seqs, T, E, h, big, o))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory for attention scores");
		bert_linear_ep(rt, T, D, E, o, l0->out_w, l0->out_b, 0, z);
		bert_linear_ep(&r32, T, D, E, x0, w->res_w, w->res_b, 1, z);
		ffn(c, l0, rt, T, z, h, big);

		/* layer 1: z += Att1(LN(z)); z += FFN1(z) */
		if (rt->check)
			rt->check(rt->check_arg);
		layer_norm(z, h, T, (size_t) D, l1->ln_att_g, l1->ln_att_b, c->ln_eps);
		if (!attention(c, l1, 1, rt, lens, n_seqs, T, D, h, big, o))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory for attention scores");
		bert_linear_ep(rt, T, D, D, o, l1->out_w, l1->out_b, 1, z);
		ffn(c, l1, rt, T, z, h, big);

		/* mean pooling into out */
		for (int32_t s = 0; s < n_seqs; s++)
		{
			float	   *m = out + (size_t) s * D;

			for (int i = 0; i < D; i++)
			{
				double		sum = 0;

				for (int32_t p = 0; p < lens[s]; p++)
					sum += z[(t0 + (size_t) p) * D + i];
				m[i] = lens[s] > 0 ? (float) (sum / lens[s]) : 0.0f;
			}
			t0 += (size_t) lens[s];
		}
	}
	else
		memset(out, 0, (size_t) n_seqs * (size_t) D * sizeof(float));
	/* finite weights can still overflow float32 (tanh would hide an Inf) */
	for (size_t i = 0; i < (size_t) n_seqs * (size_t) D; i++)
		if (!isfinite(out[i]))
			return pgi_error(err, PGI_ERR_DATA, "The model's weights overflow single precision.",
							 "the model produced a non-finite value");

	/* head: out = l2norm(tanh(m Wt + bt)), USE_HEAD_ROWS rows at a time */
	for (int32_t s0 = 0; s0 < n_seqs; s0 += USE_HEAD_ROWS)
	{
		int			rows = n_seqs - s0 < USE_HEAD_ROWS ? n_seqs - s0 : USE_HEAD_ROWS;
		float	   *m = out + (size_t) s0 * D;

		nn_fill_rows(head, (size_t) rows, (size_t) D, w->tanh_b);
		bert_linear(&r32, (size_t) rows, D, D, m, w->tanh_w, head);
		for (int r = 0; r < rows; r++)
		{
			float	   *u = head + (size_t) r * D;
			float	   *e = m + (size_t) r * D;
			double		ss = 0;
			float		inv;

			for (int i = 0; i < D; i++)
			{
				u[i] = tanhf(u[i]);
				ss += (double) u[i] * u[i];
			}
			inv = (float) (1.0 / sqrt(MAX2(ss, (double) c->l2_eps)));
			for (int i = 0; i < D; i++)
			{
				e[i] = u[i] * inv;
				if (!isfinite(e[i]))
					return pgi_error(err, PGI_ERR_DATA,
									 "The model's weights overflow single precision.",
									 "the model produced a non-finite value");
			}
		}
	}
	return PGI_OK;
}
