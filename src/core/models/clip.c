/*-------------------------------------------------------------------------
 *
 * clip.c
 *	  CLIP vision and text towers over packed batches (see clip.h).
 *
 * Per block, with x (T, h) the T tokens of the batch:
 *	hb = LN1(x);  qkv = hb Wqkv^T + b							(T, 3h)
 *	per sequence, head j: ctx_j = softmax(Q_j K_j^T / sqrt(dh) [+ causal]) V_j
 *	x += ctx Wo^T + bo;  hb = LN2(x)
 *	u = act(hb W1^T + b1);  x += u W2^T + b2					(T, ffn)
 * Biases are written into the output before each product accumulates.
 *
 * src/core/models/clip.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/clip.h"

#include <math.h>
#include <string.h>

#include "core/kernels/nn_kernels.h"


static PgiStatus
tower_check(const ClipTowerConfig *t, const char *what, PgiError *err)
{
	if (t->n_layers < 1 || t->n_layers > CLIP_MAX_LAYERS)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP %s tower must have 1 to %d layers, not %d",
						 what, CLIP_MAX_LAYERS, t->n_layers);
	if (t->hidden < 1 || t->hidden > CLIP_MAX_HIDDEN || t->n_heads < 1 || t->hidden % t->n_heads != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP %s tower: invalid width %d with %d heads",
						 what, t->hidden, t->n_heads);
	if (t->ffn < 1 || t->ffn > CLIP_MAX_FFN)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP %s tower: invalid intermediate size %d",
						 what, t->ffn);
	if (t->act != CLIP_ACT_QUICK_GELU && t->act != CLIP_ACT_GELU)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP %s tower: unsupported activation", what);
	if (!(t->ln_eps > 0 && t->ln_eps < 1))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP %s tower: invalid layer_norm_eps", what);
	return PGI_OK;
}

PgiStatus
clip_config_check(const ClipConfig *c, PgiError *err)
{
	PgiStatus	st;

	if (!c->has_vision && !c->has_text)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP model has neither tower");
	if (c->proj_dim < 1 || c->proj_dim > CLIP_MAX_HIDDEN)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "CLIP projection_dim %d is invalid", c->proj_dim);
	if (!isfinite(c->logit_scale) || fabsf(c->logit_scale) > 100)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "CLIP logit_scale is invalid");
	if (c->has_vision)
	{
		const ClipTowerConfig *v = &c->vision;

		if ((st = tower_check(v, "vision", err)) != PGI_OK)
			return st;
		if (v->image_size < 1 || v->image_size > CLIP_MAX_IMAGE || v->patch_size < 1 ||
			v->image_size % v->patch_size != 0 || clip_vision_tokens(v) > CLIP_MAX_POS)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
							 "CLIP vision tower: image_size %d must be a multiple of patch_size %d (at most %d px, %d patches)",
							 v->image_size, v->patch_size, CLIP_MAX_IMAGE, CLIP_MAX_POS - 1);
	}
	if (c->has_text)
	{
		const ClipTowerConfig *t = &c->text;

		if ((st = tower_check(t, "text", err)) != PGI_OK)
			return st;
		if (t->vocab < 1 || t->vocab > CLIP_MAX_VOCAB || t->max_pos < 2 || t->max_pos > CLIP_MAX_POS ||
			t->eos_id < 0 || t->eos_id >= t->vocab)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
							 "CLIP text tower: invalid vocabulary %d, positions %d or eos id %d",
							 t->vocab, t->max_pos, t->eos_id);
	}
	return PGI_OK;
}

int32_t
clip_vision_tokens(const ClipTowerConfig *v)
{
	int32_t		g = v->patch_size > 0 ? v->image_size / v->patch_size : 0;

	return 1 + g * g;
}

/* Per-token work buffers of a tower: x, hb, qkv, ctx (6h) and u (ffn) */
static size_t
tower_floats(const ClipTowerConfig *t, size_t T, size_t max_len)
{
	return T * (size_t) (6 * t->hidden + t->ffn) + max_len * max_len;
}

size_t
clip_vision_scratch_floats(const ClipConfig *c, int32_t n)
{
	const ClipTowerConfig *v = &c->vision;
	size_t		T = (size_t) n * clip_vision_tokens(v);
	size_t		patches = (size_t) n * (clip_vision_tokens(v) - 1) * 3 * v->patch_size * v->patch_size;

	/* x and the block's buffers, patches, pooled rows (n, h), n lengths */
	return tower_floats(v, T, (size_t) clip_vision_tokens(v)) + patches + (size_t) n * v->hidden + n;
}

size_t
clip_text_scratch_floats(const ClipConfig *c, int64_t total, int32_t max_len)
{
	return tower_floats(&c->text, (size_t) total, (size_t) max_len) + (size_t) total * c->text.hidden;
}

/* x[i] = x[i] * sigmoid(1.702 x[i]), with the vectorised exp of nn_kernels */
static void
quick_gelu(float *x, size_t n)
{
	float		e[1024];

	for (size_t i0 = 0; i0 < n; i0 += 1024)
	{
		size_t		k = n - i0 < 1024 ? n - i0 : 1024;

		for (size_t i = 0; i < k; i++)
			e[i] = -1.702f * x[i0 + i];
		nn_exp(e, k);
		for (size_t i = 0; i < k; i++)
			x[i0 + i] = x[i0 + i] / (1.0f + e[i]);
	}
}

/* Each row of y (rows, n) += bias */
static void
add_rows(float *y, size_t rows, int n, const float *bias)
{
	for (size_t t = 0; t < rows; t++)
		for (int i = 0; i < n; i++)
			y[t * n + i] += bias[i];
}

/* Work buffers of a tower pass */
typedef struct Work
{
	float	   *hb;				/* (T, h) */
	float	   *qkv;			/* (T, 3h) */
	float	   *ctx;			/* (T, h) */
	float	   *u;				/* (T, ffn) */
	float	   *scores;			/* (L, L) */
} Work;

/* Carve a tower's buffers (after x) out of scratch; returns the first float after */
static float *
work_init(const ClipTowerConfig *c, size_t T, size_t max_len, float *scratch, Work *w)
{
	w->hb = scratch;
	w->qkv = w->hb + T * c->hidden;
	w->ctx = w->qkv + T * 3 * c->hidden;
	w->u = w->ctx + T * c->hidden;
	w->scores = w->u + T * c->ffn;
	return w->scores + max_len * max_len;
}

/* One pre-LN block over the T rows of x */
static void
clip_block(const ClipTowerConfig *c, const ClipLayer *l, const BertRuntime *rt,
		   const int32_t *lens, int32_t n_seqs, size_t T, int causal, float *x, Work *w)
{
	int			h = c->hidden;
	int			f = c->ffn;
	size_t		t0 = 0;

	memcpy(w->hb, x, sizeof(float) * T * h);
	nn_layernorm_rows(w->hb, T, (size_t) h, l->ln1_w, l->ln1_b, c->ln_eps);
	nn_fill_rows(w->qkv, T, (size_t) 3 * h, l->qkv_b);
	bert_linear(rt, T, 3 * h, h, w->hb, l->qkv_w, w->qkv);
	for (int32_t s = 0; s < n_seqs; s++)
	{
		bert_attend(rt, c->hidden, c->n_heads, w->qkv, w->ctx, w->scores, t0, lens[s], causal);
		t0 += (size_t) lens[s];
	}
	add_rows(x, T, h, l->out_b);
	bert_linear(rt, T, h, h, w->ctx, l->out_w, x);

	memcpy(w->hb, x, sizeof(float) * T * h);
	nn_layernorm_rows(w->hb, T, (size_t) h, l->ln2_w, l->ln2_b, c->ln_eps);
	nn_fill_rows(w->u, T, (size_t) f, l->fc1_b);
	bert_linear(rt, T, f, h, w->hb, l->fc1_w, w->u);
	if (c->act == CLIP_ACT_GELU)
		nn_gelu(w->u, T * (size_t) f);
	else
		quick_gelu(w->u, T * (size_t) f);
	add_rows(x, T, h, l->fc2_b);
	bert_linear(rt, T, h, f, w->u, l->fc2_w, x);
}

/* pooled (n, h) -> out (n, proj_dim) = pooled P^T, L2-normalised; PGI_ERR_DATA if not finite */
static PgiStatus
project(const ClipConfig *c, const BertRuntime *rt, const float *proj, int h,
		const float *pooled, int32_t n, float *out, PgiError *err)
{
	int			d = c->proj_dim;

	memset(out, 0, sizeof(float) * (size_t) n * d);
	bert_linear(rt, (size_t) n, d, h, pooled, proj, out);
	for (int32_t s = 0; s < n; s++)
	{
		float	   *o = out + (size_t) s * d;
		double		ss = 0;

		for (int i = 0; i < d; i++)
			ss += (double) o[i] * o[i];
		if (!isfinite(ss))
			return pgi_error(err, PGI_ERR_DATA, "The model's weights overflow single precision.",
							 "the model produced a non-finite value");
		if (ss > 0)
		{
			float		inv = (float) (1.0 / sqrt(ss));

			for (int i = 0; i < d; i++)
				o[i] *= inv;
		}
	}
	return PGI_OK;
}

/* Patch rows of image b: A (np, 3*P*P), each row (channel, row, column) */
static void
extract_patches(const ClipTowerConfig *v, const float *img, float *a)
{
	int			S = v->image_size,
				P = v->patch_size,
				g = S / P;
	size_t		K = (size_t) 3 * P * P;

	for (int gy = 0; gy < g; gy++)
		for (int gx = 0; gx < g; gx++)
		{
			float	   *row = a + (size_t) (gy * g + gx) * K;

			for (int ch = 0; ch < 3; ch++)
				for (int i = 0; i < P; i++)
					memcpy(row + (size_t) ch * P * P + (size_t) i * P,
						   img + (size_t) ch * S * S + (size_t) (gy * P + i) * S + gx * P,
						   sizeof(float) * P);
		}
}

PgiStatus
clip_vision_forward(const ClipConfig *c, const ClipVisionWeights *w, const BertRuntime *rt,
					const float *pixels, int32_t n, float *scratch, float *out, PgiError *err)
{
	const ClipTowerConfig *v = &c->vision;
	int			h = v->hidden;
	int32_t		T1 = clip_vision_tokens(v);
	int32_t		np = T1 - 1;
	size_t		K = (size_t) 3 * v->patch_size * v->patch_size;
	size_t		T = (size_t) n * T1;
	size_t		plane = (size_t) 3 * v->image_size * v->image_size;
	float	   *x = scratch;
	Work		wk;
	float	   *patches,
			   *pooled;
	int32_t    *lens;

	if (!c->has_vision)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "model has no vision tower");
	if (n < 1)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "a batch needs at least one image");
	if (T * (size_t) (3 * h) > (size_t) INT32_MAX || T * (size_t) v->ffn > (size_t) INT32_MAX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "batch of %d images is too large", n);
	for (size_t i = 0; i < (size_t) n * plane; i++)
		if (!isfinite(pixels[i]))
			return pgi_error(err, PGI_ERR_DATA, NULL, "pixel values must be finite");
	patches = work_init(v, T, (size_t) T1, x + T * h, &wk);
	pooled = patches + (size_t) n * np * K;
	lens = (int32_t *) (pooled + (size_t) n * h);	/* every image: T1 tokens */
	for (int32_t b = 0; b < n; b++)
		lens[b] = T1;

	for (int32_t b = 0; b < n; b++)
	{
		float	   *rows = x + (size_t) b * T1 * h;

		for (int i = 0; i < h; i++)
			rows[i] = w->class_embd[i] + w->pos_embd[i];
		memcpy(rows + h, w->pos_embd + h, sizeof(float) * (size_t) np * h);
		extract_patches(v, pixels + (size_t) b * plane, patches + (size_t) b * np * K);
		bert_linear(rt, (size_t) np, h, (int) K, patches + (size_t) b * np * K, w->patch_w, rows + h);
	}
	nn_layernorm_rows(x, T, (size_t) h, w->pre_ln_w, w->pre_ln_b, v->ln_eps);
	for (int32_t l = 0; l < v->n_layers; l++)
	{
		if (rt->check)
			rt->check(rt->check_arg);
		clip_block(v, &w->layers[l], rt, lens, n, T, 0, x, &wk);
	}
	for (int32_t b = 0; b < n; b++)
		memcpy(pooled + (size_t) b * h, x + (size_t) b * T1 * h, sizeof(float) * h);
	nn_layernorm_rows(pooled, (size_t) n, (size_t) h, w->post_ln_w, w->post_ln_b, v->ln_eps);
	return project(c, rt, w->proj, h, pooled, n, out, err);
}

/* Row of sequence s's pooled token: the first EOS, or the highest id (legacy) */
static int32_t
eos_row(const ClipTowerConfig *t, const int32_t *ids, int32_t len)
{
	int32_t		best = 0;

	for (int32_t i = 0; i < len; i++)
	{
		if (t->pool_argmax)
		{
			if (ids[i] > ids[best])
				best = i;
		}
		else if (ids[i] == t->eos_id)
			return i;
	}
	return best;
}

PgiStatus
clip_text_forward(const ClipConfig *c, const ClipTextWeights *w, const BertRuntime *rt,
				  const int32_t *ids, const int32_t *lens, int32_t n_seqs, float *scratch,
				  float *out, PgiError *err)
{
	const ClipTowerConfig *t = &c->text;
	int			h = t->hidden;
	size_t		T = 0;
	int32_t		max_len = 0;
	float	   *x = scratch;
	float	   *pooled;
	Work		wk;
	size_t		row = 0;

	if (!c->has_text)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "model has no text tower");
	if (n_seqs < 1)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "a batch needs at least one sequence");
	for (int32_t s = 0; s < n_seqs; s++)
	{
		if (lens[s] < 1 || lens[s] > t->max_pos)
			return pgi_error(err, PGI_ERR_LIMIT, NULL,
							 "sequence of %d tokens does not fit the model's %d positions",
							 lens[s], t->max_pos);
		T += (size_t) lens[s];
		max_len = lens[s] > max_len ? lens[s] : max_len;
	}
	if (T * (size_t) (3 * h) > (size_t) INT32_MAX || T * (size_t) t->ffn > (size_t) INT32_MAX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "batch of %zu tokens is too large", T);
	for (size_t i = 0; i < T; i++)
		if (ids[i] < 0 || ids[i] >= t->vocab)
			return pgi_error(err, PGI_ERR_DATA, NULL, "token id %d is outside the vocabulary (size %d)",
							 ids[i], t->vocab);
	pooled = work_init(t, T, (size_t) max_len, x + T * h, &wk);
	for (int32_t s = 0; s < n_seqs; s++)
		for (int32_t p = 0; p < lens[s]; p++, row++)
		{
			const float *te = w->tok_embd + (size_t) ids[row] * h;
			const float *pe = w->pos_embd + (size_t) p * h;

			for (int i = 0; i < h; i++)
				x[row * h + i] = te[i] + pe[i];
		}
	for (int32_t l = 0; l < t->n_layers; l++)
	{
		if (rt->check)
			rt->check(rt->check_arg);
		clip_block(t, &w->layers[l], rt, lens, n_seqs, T, 1, x, &wk);
	}
	row = 0;
	for (int32_t s = 0; s < n_seqs; s++)
	{
		int32_t		r = eos_row(t, ids + row, lens[s]);

		memcpy(pooled + (size_t) s * h, x + (row + r) * h, sizeof(float) * h);
		row += (size_t) lens[s];
	}
	nn_layernorm_rows(pooled, (size_t) n_seqs, (size_t) h, w->final_ln_w, w->final_ln_b, t->ln_eps);
	return project(c, rt, w->proj, h, pooled, n_seqs, out, err);
}
