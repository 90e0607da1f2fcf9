/*-------------------------------------------------------------------------
 *
 * bert.c
 *	  BERT-family encoder forward pass over a packed batch (see bert.h).
 *
 * Per layer, with x (T, h) the T tokens of the batch:
 * (products with weights go to gemm_packed, attention products to sgemm)
 *	qkv = x Wqkv^T + bqkv							 (T, 3h)
 *	per sequence s, head j: S = Q_j K_j^T / sqrt(dh)  (L, L)
 *							 ctx_j = softmax(S) V_j	 (L, dh)
 *	x = LayerNorm(x + ctx Wo^T + bo)				 C = x + bo
 *	u = GELU(x Wup^T + bup)							 (T, ffn)
 *	x = LayerNorm(x + u Wdown^T + bdown)			 C = x + bdown
 * Biases and residuals are added by the products' epilogue (gemm_epilogue.h:
 * C = (residual + bias) + product), so no pass fills or updates the outputs.
 *
 * src/core/models/bert.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/bert.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm.h"
#include "core/kernels/nn_kernels.h"
#include "core/kernels/par.h"

#define ROW PGI_CBLAS_ROW_MAJOR
#define NT	PGI_CBLAS_NO_TRANS
#define TR	PGI_CBLAS_TRANS

PgiStatus
bert_config_check(const BertConfig *c, PgiError *err)
{
	if (c->n_layers < 1 || c->n_layers > BERT_MAX_LAYERS)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "a BERT model must have 1 to %d layers, not %d",
						 BERT_MAX_LAYERS, c->n_layers);
	if (c->hidden < 1 || c->hidden > BERT_MAX_HIDDEN || c->n_heads < 1 ||
		c->hidden % c->n_heads != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT width %d with %d attention heads",
						 c->hidden, c->n_heads);
	if (c->ffn < 1 || c->ffn > BERT_MAX_FFN)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT intermediate size %d", c->ffn);
	if (c->vocab < 1 || c->vocab > BERT_MAX_VOCAB)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT vocabulary size %d", c->vocab);
	if (c->max_pos < 2 || c->max_pos > BERT_MAX_POS)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT max_position_embeddings %d", c->max_pos);
	if (c->n_types < 1 || c->n_types > BERT_MAX_TYPES)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT type_vocab_size %d", c->n_types);
	if (!(c->ln_eps > 0 && c->ln_eps < 1))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT layer_norm_eps %g", (double) c->ln_eps);
	if (c->head < BERT_HEAD_NONE || c->head > BERT_HEAD_QA ||
		(c->head != BERT_HEAD_NONE && (c->n_labels < 1 || c->n_labels > BERT_MAX_LABELS)) ||
		(c->head == BERT_HEAD_QA && c->n_labels != 2) ||
		c->pooler < 0 || c->pooler > 1 || (c->pooler && c->head != BERT_HEAD_SEQUENCE) ||
		c->problem < BERT_PROBLEM_SINGLE || c->problem > BERT_PROBLEM_REGRESSION ||
		(c->problem == BERT_PROBLEM_REGRESSION && c->n_labels != 1))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "invalid BERT head %d with %d labels (problem %d)", c->head, c->n_labels,
						 c->problem);
	return PGI_OK;
}

size_t
bert_scratch_floats(const BertConfig *c, int64_t total_tokens, int32_t max_len)
{
	size_t		t = (size_t) total_tokens;

	/* qkv (T, 3h), ctx (T, h), ffn (T, ffn); attention has per-thread buffers */
	(void) max_len;
	return t * (size_t) (4 * c->hidden + c->ffn);
}

/*
 * C (T, n) += A (T, k) W^T, W (n, k) packed: in one product, or blocks of rows with
 * the interrupt check between them
 */
typedef struct LinearJob
{
	GemmFormat	f;
	const float *a;
	const void *work;
	const void *w;
	float	   *c;
	int			rows;
	int			n;
	int			k;
	const float *bias;
	int			beta;
} LinearJob;

/* par_for body: rows [r0, r1) of A converted to the weights' format */
static void
linear_convert(void *arg, int r0, int r1)
{
	LinearJob  *j = (LinearJob *) arg;

	gemm_lp_convert(j->f, j->a, j->k, j->rows, j->k, (void *) j->work, r0, r1);
}

/* par_for body: the panels [p0, p1) of a product */
static void
linear_panels(void *arg, int p0, int p1)
{
	LinearJob  *j = (LinearJob *) arg;

	gemm_lp_range(j->f, j->a, j->k, j->work, j->w, j->c, j->n, j->rows, j->n, j->k, p0, p1,
				  j->bias, j->beta);
}

void
bert_linear(const BertRuntime *rt, size_t T, int n, int k, const float *a,
			const float *w, float *c)
{
	bert_linear_ep(rt, T, n, k, a, w, NULL, 1, c);
}

void
bert_linear_ep(const BertRuntime *rt, size_t T, int n, int k, const float *a,
			   const float *w, const float *bias, int beta, float *c)
{
	size_t		step = rt->block_rows > 0 ? (size_t) rt->block_rows : T;
	size_t		fit = (size_t) gemm_lp_rows(rt->wfmt, k, GEMM_LP_WORK_BYTES);

	/* converted rows must fit the work memory */
	if (step > fit)
		step = fit;
	for (size_t t0 = 0; t0 < T; t0 += step)
	{
		LinearJob	job = {rt->wfmt, a + t0 * (size_t) k, rt->lp_work, w, c + t0 * (size_t) n,
		(int) (T - t0 < step ? T - t0 : step), n, k, bias, beta};

		if (t0 > 0 && rt->check)
			rt->check(rt->check_arg);
		if (rt->wfmt.type != GEMM_F32)
			par_for(job.rows, linear_convert, &job);
		/* output panels split over the threads (par.h) */
		par_for((n + GEMM_NR - 1) / GEMM_NR, linear_panels, &job);
	}
}

/* Row-parallel passes over activations (par.h): GELU, LayerNorm, x += bias */
typedef struct RowsJob
{
	float	   *x;
	size_t		n;
	const float *w;
	const float *b;
	float		eps;
} RowsJob;

static void
gelu_rows(void *arg, int r0, int r1)
{
	RowsJob    *j = (RowsJob *) arg;

	nn_gelu(j->x + (size_t) r0 * j->n, (size_t) (r1 - r0) * j->n);
}

static void
layernorm_rows(void *arg, int r0, int r1)
{
	RowsJob    *j = (RowsJob *) arg;

	nn_layernorm_rows(j->x + (size_t) r0 * j->n, (size_t) (r1 - r0), j->n, j->w, j->b, j->eps);
}

void
bert_gelu(float *x, size_t T, size_t n)
{
	RowsJob		j = {x, n, NULL, NULL, 0};

	par_for((int) T, gelu_rows, &j);
}

void
bert_layernorm(float *x, size_t T, size_t n, const float *w, const float *b, float eps)
{
	RowsJob		j = {x, n, w, b, eps};

	par_for((int) T, layernorm_rows, &j);
}

/* x (T, h) = word + position + token type (0 without types) embeddings, then LayerNorm */
static void
embed_tokens(const BertConfig *c, const BertWeights *w, const int32_t *ids, const int32_t *types,
			 const int32_t *lens, int32_t n_seqs, float *x)
{
	size_t		h = (size_t) c->hidden;
	size_t		t = 0;

	for (int32_t s = 0; s < n_seqs; s++)
	{
		for (int32_t p = 0; p < lens[s]; p++, t++)
		{
			const float *we = w->tok_embd + (size_t) ids[t] * h;
			const float *pe = w->pos_embd + (size_t) p * h;
			const float *te = w->type_embd + (types ? (size_t) types[t] * h : 0);
			float	   *row = x + t * h;

			for (size_t i = 0; i < h; i++)
				row[i] = we[i] + pe[i] + te[i];
		}
	}
	nn_layernorm_rows(x, t, h, w->embd_ln_w, w->embd_ln_b, c->ln_eps);
}

void
bert_attend(const BertRuntime *rt, int h, int n_heads, const float *qkv, float *ctx,
			float *scores, size_t t0, int32_t len, int causal)
{
	int			dh = h / n_heads;
	float		scale = 1.0f / sqrtf((float) dh);

	for (int j = 0; j < n_heads; j++)
	{
		const float *q = qkv + t0 * 3 * h + (size_t) j * dh;
		const float *k = q + h;
		const float *v = q + 2 * h;

		/* S (L, L) = scale * Q (L, dh) K^T (dh, L) */
		rt->sgemm(ROW, NT, TR, len, len, dh, scale, q, 3 * h, k, 3 * h,
				  0.0f, scores, len);
		if (causal)
			for (int32_t i = 0; i < len; i++)
			{
				/* row i sees positions 0..i */
				nn_softmax_rows(scores + (size_t) i * len, 1, (size_t) i + 1);
				memset(scores + (size_t) i * len + i + 1, 0, sizeof(float) * (len - i - 1));
			}
		else
			nn_softmax_rows(scores, (size_t) len, (size_t) len);
		/* ctx_j (L, dh) = S (L, L) V (L, dh) */
		rt->sgemm(ROW, NT, NT, len, dh, len, 1.0f, scores, len, v, 3 * h,
				  0.0f, ctx + t0 * h + (size_t) j * dh, h);
	}
}

/*
 * Self-attention of every sequence, (sequence, head) pairs split over the
 * threads (par.h).  Per pair, with L tokens and heads of dh:
 *	S (L, L) = Q (scale K)^T	K packed as gemm panels (scaled as packed;
 *								BERT: scale = 1 / sqrt(dh))
 *	S = softmax(S) by rows		(causal: row i over 0..i, zeros after)
 *	ctx_j (L, dh) = S V			V^T packed as gemm panels (rows of V are
 *								their panels' rows: a copy, no transpose)
 * Both products are gemm_packed (its kernels, this thread only); each
 * thread works in its own buffer (L^2 + 32 ceil(L/32) dh + 32 ceil(dh/32) L
 * floats, kept per thread and grown as needed).
 */
typedef struct AttendJob
{
	const float *qkv;			/* (T, 3h) */
	float	   *ctx;			/* (T, h) */
	const int32_t *lens;
	const size_t *t0;			/* first row of each sequence */
	int			h;
	int			n_heads;
	int			causal;
	float		scale;			/* of the scores */
	atomic_int	failed;			/* a thread's buffer could not be had */
} AttendJob;

static _Thread_local float *tl_attend;
static _Thread_local size_t tl_attend_cap;

static float *
attend_buffer(size_t n)
{
	if (n > tl_attend_cap)
	{
		float	   *b = realloc(tl_attend, n * sizeof(float));

		if (b == NULL)
			return NULL;
		tl_attend = b;
		tl_attend_cap = n;
	}
	return tl_attend;
}

static void
attend_pairs(void *arg, int p0, int p1)
{
	AttendJob  *j = (AttendJob *) arg;
	int			h = j->h;
	int			dh = h / j->n_heads;
	float		scale = j->scale;

	for (int p = p0; p < p1; p++)
	{
		int			s = p / j->n_heads,
					hd = p % j->n_heads;
		int			L = j->lens[s];
		int			lp = (L + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
		int			dp = (dh + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
		const float *q = j->qkv + j->t0[s] * 3 * (size_t) h + (size_t) hd * dh;
		const float *k = q + h;
		const float *v = q + 2 * h;
		float	   *buf = attend_buffer((size_t) L * L + (size_t) lp * dh + (size_t) dp * L);
		float	   *S,
				   *kp,
				   *vp;

		if (L == 0)
			continue;			/* an empty text (USE): no rows */
		if (buf == NULL)
		{
			atomic_store(&j->failed, 1);
			return;
		}
		S = buf;
		kp = S + (size_t) L * L;
		vp = kp + (size_t) lp * dh;
		/* K (L, dh) scaled, as panels: kp[panel][d][c] = scale K[panel*32 + c][d] */
		for (int pn = 0; pn < lp / GEMM_NR; pn++)
			for (int d = 0; d < dh; d++)
				for (int c = 0; c < GEMM_NR; c++)
				{
					int			r = pn * GEMM_NR + c;

					kp[((size_t) pn * dh + d) * GEMM_NR + c] =
						r < L ? scale * k[(size_t) r * 3 * h + d] : 0.0f;
				}
		gemm_packed_range_ep(q, 3 * h, kp, S, L, L, L, dh, 0, lp / GEMM_NR, NULL, 0);
		if (j->causal)
			for (int32_t i = 0; i < L; i++)
			{
				nn_softmax_rows(S + (size_t) i * L, 1, (size_t) i + 1);
				memset(S + (size_t) i * L + i + 1, 0, sizeof(float) * (size_t) (L - i - 1));
			}
		else
			nn_softmax_rows(S, (size_t) L, (size_t) L);
		/* V^T as panels: vp[panel][t][c] = V[t][panel*32 + c] */
		for (int pn = 0; pn < dp / GEMM_NR; pn++)
			for (int t = 0; t < L; t++)
			{
				int			w = dh - pn * GEMM_NR < GEMM_NR ? dh - pn * GEMM_NR : GEMM_NR;
				float	   *dst = vp + ((size_t) pn * L + t) * GEMM_NR;

				memcpy(dst, v + (size_t) t * 3 * h + pn * GEMM_NR, sizeof(float) * (size_t) w);
				if (w < GEMM_NR)
					memset(dst + w, 0, sizeof(float) * (size_t) (GEMM_NR - w));
			}
		gemm_packed_range_ep(S, L, vp, j->ctx + j->t0[s] * (size_t) h + (size_t) hd * dh, h,
							 L, dh, L, 0, dp / GEMM_NR, NULL, 0);
	}
}

int
bert_attend_all(int h, int n_heads, const float *qkv, float *ctx, const int32_t *lens,
				int32_t n_seqs, int causal, float scale)
{
	static _Thread_local size_t *t0;
	static _Thread_local int32_t t0_cap;
	AttendJob	job;
	size_t		row = 0;

	if (n_seqs > t0_cap)
	{
		size_t	   *b = realloc(t0, sizeof(size_t) * (size_t) n_seqs);

		if (b == NULL)
			return 0;
		t0 = b;
		t0_cap = n_seqs;
	}
	for (int32_t s = 0; s < n_seqs; s++)
	{
		t0[s] = row;
		row += (size_t) lens[s];
	}
	job.qkv = qkv;
	job.ctx = ctx;
	job.lens = lens;
	job.t0 = t0;
	job.h = h;
	job.n_heads = n_heads;
	job.causal = causal;
	job.scale = scale;
	atomic_init(&job.failed, 0);
	par_for(n_seqs * n_heads, attend_pairs, &job);
	return atomic_load(&job.failed) == 0;
}

/* One encoder block over the T tokens in x (T, h) */
static int
encoder_layer(const BertConfig *c, const BertLayer *l, const BertRuntime *rt,
			  const int32_t *lens, int32_t n_seqs, size_t T, float *x,
			  float *qkv, float *ctx, float *u)
{
	int			h = c->hidden;
	int			f = c->ffn;

	/* qkv (T, 3h) = x Wqkv^T + b */
	bert_linear_ep(rt, T, 3 * h, h, x, l->qkv_w, l->qkv_b, 0, qkv);

	if (!bert_attend_all(h, c->n_heads, qkv, ctx, lens, n_seqs, 0,
						 1.0f / sqrtf((float) (h / c->n_heads))))
		return 0;

	/* x = LN(x + ctx Wo^T + bo), accumulated in place */
	bert_linear_ep(rt, T, h, h, ctx, l->out_w, l->out_b, 1, x);
	bert_layernorm(x, T, (size_t) h, l->ln1_w, l->ln1_b, c->ln_eps);

	/* u = GELU(x Wup^T + bup) */
	bert_linear_ep(rt, T, f, h, x, l->up_w, l->up_b, 0, u);
	bert_gelu(u, T, (size_t) f);

	/* x = LN(x + u Wdown^T + bdown), accumulated in place */
	bert_linear_ep(rt, T, h, f, u, l->down_w, l->down_b, 1, x);
	bert_layernorm(x, T, (size_t) h, l->ln2_w, l->ln2_b, c->ln_eps);
	return 1;
}

PgiStatus
bert_forward(const BertConfig *c, const BertWeights *w, const BertRuntime *rt,
			 const int32_t *ids, const int32_t *lens, int32_t n_seqs, float *scratch,
			 float *hidden_out, PgiError *err)
{
	return bert_forward_types(c, w, rt, ids, NULL, lens, n_seqs, scratch, hidden_out, err);
}

PgiStatus
bert_forward_types(const BertConfig *c, const BertWeights *w, const BertRuntime *rt,
				   const int32_t *ids, const int32_t *types, const int32_t *lens, int32_t n_seqs,
				   float *scratch, float *hidden_out, PgiError *err)
{
	size_t		T = 0;
	int32_t		max_len = 0;
	float	   *qkv,
			   *ctx,
			   *u;

	if (n_seqs < 1)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "a batch needs at least one sequence");
	for (int32_t s = 0; s < n_seqs; s++)
	{
		if (lens[s] < 1 || lens[s] > c->max_pos)
			return pgi_error(err, PGI_ERR_LIMIT, NULL,
							 "sequence of %d tokens does not fit the model's %d positions",
							 lens[s], c->max_pos);
		T += (size_t) lens[s];
		if (lens[s] > max_len)
			max_len = lens[s];
	}
	if (T * (size_t) (3 * c->hidden) > (size_t) INT32_MAX ||
		T * (size_t) c->ffn > (size_t) INT32_MAX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "batch of %zu tokens is too large", T);
	for (size_t t = 0; t < T; t++)
		if (ids[t] < 0 || ids[t] >= c->vocab)
			return pgi_error(err, PGI_ERR_DATA, NULL,
							 "token id %d is outside the vocabulary (size %d)",
							 ids[t], c->vocab);
	for (size_t t = 0; types && t < T; t++)
		if (types[t] < 0 || types[t] >= c->n_types)
			return pgi_error(err, PGI_ERR_DATA, NULL,
							 "token type %d is outside the model's %d types", types[t], c->n_types);

	qkv = scratch;
	ctx = qkv + T * 3 * (size_t) c->hidden;
	u = ctx + T * (size_t) c->hidden;

	embed_tokens(c, w, ids, types, lens, n_seqs, hidden_out);
	for (int32_t l = 0; l < c->n_layers; l++)
	{
		if (rt->check)
			rt->check(rt->check_arg);
		if (!encoder_layer(c, &w->layers[l], rt, lens, n_seqs, T, hidden_out, qkv, ctx, u))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory for attention scores");
	}
	/* finite weights can still overflow float32: never return NaN or Inf */
	for (size_t i = 0; i < T * (size_t) c->hidden; i++)
		if (!isfinite(hidden_out[i]))
			return pgi_error(err, PGI_ERR_DATA, "The model's weights overflow single precision.",
							 "the model produced a non-finite value");
	return PGI_OK;
}

void
bert_pool(const float *hidden, const int32_t *lens, int32_t n_seqs, int32_t dim,
		  BertPooling pooling, int normalize, float *out)
{
	size_t		t0 = 0;

	for (int32_t s = 0; s < n_seqs; s++)
	{
		const float *rows = hidden + t0 * (size_t) dim;
		float	   *o = out + (size_t) s * dim;
		int32_t		len = lens[s];

		switch (pooling)
		{
			case BERT_POOL_CLS:
				memcpy(o, rows, (size_t) dim * sizeof(float));
				break;
			case BERT_POOL_LAST:
				memcpy(o, rows + (size_t) (len - 1) * dim, (size_t) dim * sizeof(float));
				break;
			case BERT_POOL_MAX:
				memcpy(o, rows, (size_t) dim * sizeof(float));
				for (int32_t t = 1; t < len; t++)
					for (int32_t i = 0; i < dim; i++)
						if (rows[(size_t) t * dim + i] > o[i])
							o[i] = rows[(size_t) t * dim + i];
				break;
			case BERT_POOL_MEAN:
			default:
				for (int32_t i = 0; i < dim; i++)
				{
					double		sum = 0;

					for (int32_t t = 0; t < len; t++)
						sum += rows[(size_t) t * dim + i];
					o[i] = (float) (sum / len);
				}
				break;
		}
		if (normalize)
		{
			double		ss = 0;

			for (int32_t i = 0; i < dim; i++)
				ss += (double) o[i] * o[i];
			if (ss > 0)
			{
				float		inv = (float) (1.0 / sqrt(ss));

				for (int32_t i = 0; i < dim; i++)
					o[i] *= inv;
			}
		}
		t0 += (size_t) len;
	}
}

void
bert_sequence_logits(const BertConfig *c, const BertWeights *w, const BertRuntime *rt,
					 const float *hidden, const int32_t *lens, int32_t n_seqs, float *scratch,
					 float *logits)
{
	int			h = c->hidden;
	float	   *cls = scratch;
	float	   *pooled = scratch + (size_t) n_seqs * h;
	size_t		row = 0;
	BertRuntime r32 = *rt;

	r32.wfmt = (GemmFormat) {0};	/* heads are float32 (gemm_lp.h) */

	for (int32_t s = 0; s < n_seqs; s++)
	{
		memcpy(cls + (size_t) s * h, hidden + row * h, sizeof(float) * h);
		row += lens[s];
	}
	if (!c->pooler)
		pooled = cls;
	else
	{
		for (int32_t s = 0; s < n_seqs; s++)
			memcpy(pooled + (size_t) s * h, w->pool_b, sizeof(float) * h);
		bert_linear(&r32, n_seqs, h, h, cls, w->pool_w, pooled);
		for (size_t i = 0; i < (size_t) n_seqs * h; i++)
			pooled[i] = tanhf(pooled[i]);
	}
	for (int32_t s = 0; s < n_seqs; s++)
		memcpy(logits + (size_t) s * c->n_labels, w->cls_b, sizeof(float) * c->n_labels);
	bert_linear(&r32, n_seqs, c->n_labels, h, pooled, w->cls_w, logits);
}

void
bert_token_logits(const BertConfig *c, const BertWeights *w, const BertRuntime *rt,
				  const float *hidden, size_t T, float *logits)
{
	BertRuntime r32 = *rt;

	r32.wfmt = (GemmFormat) {0};	/* heads are float32 (gemm_lp.h) */
	for (size_t t = 0; t < T; t++)
		memcpy(logits + t * c->n_labels, w->cls_b, sizeof(float) * c->n_labels);
	bert_linear(&r32, T, c->n_labels, c->hidden, hidden, w->cls_w, logits);
}
