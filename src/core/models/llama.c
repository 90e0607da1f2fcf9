/*-------------------------------------------------------------------------
 *
 * llama.c
 *	  Forward pass of LLaMA-family decoders (see llama.h).
 *
 * Structure after llama2.c's run.c: rmsnorm, rope, attention and the
 * SwiGLU as small functions over a batch of token rows; the linear layers
 * are qdot_matmul over the weight rows (quantised, F16, BF16), or gemm.h's
 * packed-panel product (F32 weights, packed when the model is prepared),
 * split across the threads of par.h (the threads only run the products:
 * no callbacks into the caller).
 *
 * src/core/models/llama.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "core/kernels/gemm.h"
#include "core/kernels/nn_kernels.h"
#include "core/kernels/par.h"
#include "core/kernels/qdot.h"
#include "core/kernels/quant.h"
#include "core/kernels/vec_kernels.h"
#include "core/models/llama.h"

/* ------------------------------------------------------------ config */

PgiStatus
llama_config_check(const LlamaConfig *c, PgiError *err)
{
	if (c->arch != LLAMA_ARCH_LLAMA && c->arch != LLAMA_ARCH_QWEN2)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "unknown decoder architecture %d", c->arch);
	if (c->n_layers < 1 || c->n_layers > LLAMA_MAX_LAYERS ||
		c->dim < 1 || c->dim > LLAMA_MAX_DIM ||
		c->n_heads < 1 || c->n_heads > LLAMA_MAX_HEADS ||
		c->n_kv_heads < 1 || c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0 ||
		c->head_dim < 2 || c->head_dim > LLAMA_MAX_HEAD_DIM || c->head_dim % 2 != 0 ||
		c->ffn < 1 || c->ffn > LLAMA_MAX_FFN ||
		c->vocab < 1 || c->vocab > LLAMA_MAX_VOCAB ||
		c->ctx_len < 1 || c->ctx_len > LLAMA_MAX_CTX ||
		c->rope_dim < 2 || c->rope_dim > c->head_dim || c->rope_dim % 2 != 0)
		return pgi_error(err, PGI_ERR_CORRUPT,
						 "Layers, width, heads, head size, feed-forward size, vocabulary, context and "
						 "rotary dimensions must be positive, within limits and consistent.",
						 "decoder configuration out of range: %d layers, width %d, %d heads "
						 "(%d key/value) of %d, feed-forward %d, vocabulary %d, context %d, rope %d",
						 c->n_layers, c->dim, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn,
						 c->vocab, c->ctx_len, c->rope_dim);
	if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f) ||
		!(c->rope_base > 1.0f && c->rope_base < 1e12f) ||
		!(c->rope_scale > 0.0f && c->rope_scale <= 1.0f))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "decoder configuration out of range: norm epsilon %g, rope base %g, "
						 "rope scale %g", (double) c->norm_eps, (double) c->rope_base,
						 (double) c->rope_scale);
	return PGI_OK;
}

size_t
llama_kv_floats(const LlamaConfig *c, int32_t cap)
{
	return (size_t) c->n_layers * 2 * (size_t) cap * (size_t) c->n_kv_heads * c->head_dim;
}

/* The largest activation row (bytes) any linear layer of c needs */
static size_t
act_bytes(const LlamaConfig *c)
{
	int			widest = c->dim > c->ffn ? c->dim : c->ffn;
	int			q = c->n_heads * c->head_dim;

	if (q > widest)
		widest = q;
	/* float rows are the largest form */
	return (size_t) widest * sizeof(float);
}

/* Scratch layout: float arrays, then positions, then quantised activations */
typedef struct Scratch
{
	float	   *x;				/* (n, dim) residual stream */
	float	   *xb;				/* (n, dim) normed */
	float	   *q;				/* (n, n_heads*head_dim) */
	float	   *k;				/* (n, kv_dim) */
	float	   *v;				/* (n, kv_dim) */
	float	   *att;			/* (n, n_heads*head_dim) attention output */
	float	   *hb;				/* (n, ffn) gate */
	float	   *hb2;			/* (n, ffn) up */
	float	   *rope;			/* (rope_dim) cos, sin pairs of one position */
	float	   *out;			/* (n, dim) linear output before the residual add */
	int32_t    *pos;			/* (n) */
	uint8_t    *act;			/* n activation rows */
} Scratch;

/* Carve the scratch memory; returns its size (buf NULL: size only) */
static size_t
scratch_layout(const LlamaConfig *c, int32_t n, int32_t max_pos, void *buf, Scratch *s)
{
	size_t		qd = (size_t) c->n_heads * c->head_dim;
	size_t		kvd = (size_t) c->n_kv_heads * c->head_dim;
	/* attention scores live in per-thread buffers (attend_all), not here */
	size_t		counts[10] = {
		(size_t) n * c->dim, (size_t) n * c->dim, (size_t) n * qd, (size_t) n * kvd,
		(size_t) n * kvd, (size_t) n * qd, (size_t) n * c->ffn, (size_t) n * c->ffn,
		(size_t) c->rope_dim, (size_t) n * c->dim
	};
	float	  **slots[10];
	size_t		off = 0;

	(void) max_pos;

	if (s)
	{
		float	  **p[10] = {&s->x, &s->xb, &s->q, &s->k, &s->v, &s->att, &s->hb, &s->hb2,
		&s->rope, &s->out};

		memcpy(slots, p, sizeof(slots));
	}
	for (int i = 0; i < 10; i++)
	{
		if (s && buf)
			*slots[i] = (float *) ((char *) buf + off);
		off += ((counts[i] * sizeof(float) + 63) / 64) * 64;
	}
	if (s && buf)
		s->pos = (int32_t *) ((char *) buf + off);
	off += (((size_t) n * sizeof(int32_t) + 63) / 64) * 64;
	if (s && buf)
		s->act = (uint8_t *) buf + off;
	off += (size_t) n * act_bytes(c);
	return off;
}

size_t
llama_scratch_bytes(const LlamaConfig *c, int32_t n, int32_t max_pos)
{
	return scratch_layout(c, n, max_pos, NULL, NULL);
}

/* ------------------------------------------------------------ kernels */

/* One linear layer: out (n, w->rows) = x (n, w->cols) . W^T */
typedef struct LinearJob
{
	const QMat *w;
	const uint8_t *act;
	int			n;
	float	   *out;
	int			streaming;
} LinearJob;

/* Weight rows per chunk handed to a thread */
#define LINEAR_CHUNK 16

static void
linear_rows(void *arg, int begin, int end)
{
	LinearJob  *j = arg;
	int			r0 = begin * LINEAR_CHUNK;
	int			r1 = end * LINEAR_CHUNK;

	if (r1 > j->w->rows)
		r1 = j->w->rows;
	qdot_matmul(j->w, j->act, j->n, j->out, j->w->rows, r0, r1, j->streaming);
}

typedef struct PanelJob
{
	const QMat *w;
	const float *x;
	int			n;
	float	   *out;
} PanelJob;

/* Panels [begin, end) of an F32 matrix: out[:, 32 begin .. 32 end) */
static void
panel_rows(void *arg, int begin, int end)
{
	PanelJob   *j = arg;
	int			c0 = begin * GEMM_NR;
	int			c1 = end * GEMM_NR < j->w->rows ? end * GEMM_NR : j->w->rows;

	for (int i = 0; i < j->n; i++)
		memset(j->out + (size_t) i * j->w->rows + c0, 0, sizeof(float) * (c1 - c0));
	gemm_packed_range(j->x, j->w->cols, (const float *) j->w->data, j->out, j->w->rows,
					  j->n, j->w->rows, j->w->cols, begin, end);
}

/*
 * out (n, rows) = x (n, cols) W^T.  F32 weights are gemm panels: each
 * output is one chain of fused multiply-adds over k whatever n is, so a
 * row decoded with others gets the same floats as alone.  Other types: x
 * quantised into act as w's type needs, then qdot.
 */
static void
linear(const QMat *w, const float *x, int n, uint8_t *act, float *out, int streaming)
{
	if (w->panels)
	{
		PanelJob	job = {w, x, n, out};

		par_for((w->rows + GEMM_NR - 1) / GEMM_NR, panel_rows, &job);
	}
	else
	{
		LinearJob	job = {w, act, n, out, streaming};

		qdot_quantize(qdot_act(w->type), x, w->cols, n, w->cols, act);
		par_for((w->rows + LINEAR_CHUNK - 1) / LINEAR_CHUNK, linear_rows, &job);
	}
}

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * g, for n rows of d */
static void
rmsnorm(float *out, const float *x, const float *g, int n, int d, float eps)
{
	for (int t = 0; t < n; t++)
	{
		const float *xr = x + (size_t) t * d;
		float	   *o = out + (size_t) t * d;
		double		ss = 0.0;
		float		scale;

		for (int i = 0; i < d; i++)
			ss += (double) xr[i] * xr[i];
		scale = (float) (1.0 / sqrt(ss / d + (double) eps));
		for (int i = 0; i < d; i++)
			o[i] = xr[i] * scale * g[i];
	}
}

/* cos/sin of the rotation angles of position pos: rope[2i], rope[2i+1] */
static void
rope_angles(const LlamaConfig *c, const LlamaWeights *w, int32_t pos, float *rope)
{
	double		p = (double) pos * c->rope_scale;

	for (int i = 0; i < c->rope_dim / 2; i++)
	{
		double		theta = pow((double) c->rope_base, -2.0 * i / c->rope_dim);

		if (w->rope_freqs)
			theta /= w->rope_freqs[i];
		rope[2 * i] = (float) cos(p * theta);
		rope[2 * i + 1] = (float) sin(p * theta);
	}
}

/* Rotate the first rope_dim values of each of n_heads heads of x */
static void
rope_apply(const LlamaConfig *c, const float *rope, float *x, int n_heads)
{
	int			half = c->rope_dim / 2;

	for (int h = 0; h < n_heads; h++)
	{
		float	   *v = x + (size_t) h * c->head_dim;

		for (int i = 0; i < half; i++)
		{
			int			a = c->rope_style == LLAMA_ROPE_NEOX ? i : 2 * i;
			int			b = c->rope_style == LLAMA_ROPE_NEOX ? i + half : 2 * i + 1;
			float		x0 = v[a],
						x1 = v[b];
			float		cs = rope[2 * i],
						sn = rope[2 * i + 1];

			v[a] = x0 * cs - x1 * sn;
			v[b] = x0 * sn + x1 * cs;
		}
	}
}

/* Add bias b (d) to n rows of x, when there is one */
static void
add_bias(float *x, const float *b, int n, int d)
{
	if (b == NULL)
		return;
	for (int t = 0; t < n; t++)
		for (int i = 0; i < d; i++)
			x[(size_t) t * d + i] += b[i];
}

/* Key (kv 0) or value (kv 1) row of position p of layer l in a cache */
static inline float *
kv_row(const LlamaConfig *c, const LlamaKv *kv, int l, int which, int32_t p)
{
	size_t		kvd = (size_t) c->n_kv_heads * c->head_dim;

	return kv->data + (((size_t) l * 2 + which) * (size_t) kv->cap + (size_t) p) * kvd;
}

/*
 * Attention of one head of one token: query qh (head_dim) over positions
 * 0..pos of its cache (keys and values at koff in each cache row), into oh
 * (head_dim), with scores (pos + 1) as scratch.  Each score is one dot
 * product, the weights a softmax (nn_kernels.h's exp), the output the
 * weighted sum of the values in position order: the same arithmetic for a
 * token whatever else is in the batch, so rows decoded together match.
 * An AVX2 body for head sizes that are multiples of 8 up to 128 (four
 * keys at a time, the output in registers), a portable one otherwise.
 */
/* scores[0..n) become exp(score - max score); returns 1 / their sum */
static float
softmax_weights(float *scores, int32_t n)
{
	float		max = -INFINITY,
				sum = 0.0f;

	for (int32_t p = 0; p < n; p++)
		max = scores[p] > max ? scores[p] : max;
	for (int32_t p = 0; p < n; p++)
		scores[p] -= max;
	nn_exp(scores, (size_t) n);
	for (int32_t p = 0; p < n; p++)
		sum += scores[p];
	return 1.0f / sum;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LLAMA_AVX2 __attribute__((target("avx2,fma")))

LLAMA_AVX2 static inline float
hsum256(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

LLAMA_AVX2 static void
attend_head_avx2(const LlamaConfig *c, const LlamaKv *kv, int l, int32_t pos,
				 const float *qh, size_t koff, float *scores, float *oh)
{
	int			hd = c->head_dim;
	float		scale = 1.0f / sqrtf((float) hd);
	float		inv;
	__m256		acc[16];
	int32_t		p = 0;

	for (; p + 4 <= pos + 1; p += 4)
	{
		const float *k0 = kv_row(c, kv, l, 0, p) + koff,
				   *k1 = kv_row(c, kv, l, 0, p + 1) + koff,
				   *k2 = kv_row(c, kv, l, 0, p + 2) + koff,
				   *k3 = kv_row(c, kv, l, 0, p + 3) + koff;
		__m256		a0 = _mm256_setzero_ps(),
					a1 = _mm256_setzero_ps(),
					a2 = _mm256_setzero_ps(),
					a3 = _mm256_setzero_ps();

		for (int d = 0; d < hd; d += 8)
		{
			__m256		qv = _mm256_loadu_ps(qh + d);

			a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
			a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
			a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
			a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
		}
		scores[p] = hsum256(a0) * scale;
		scores[p + 1] = hsum256(a1) * scale;
		scores[p + 2] = hsum256(a2) * scale;
		scores[p + 3] = hsum256(a3) * scale;
	}
	for (; p <= pos; p++)
	{
		const float *k0 = kv_row(c, kv, l, 0, p) + koff;
		__m256		a0 = _mm256_setzero_ps();

		for (int d = 0; d < hd; d += 8)
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), _mm256_loadu_ps(k0 + d), a0);
		scores[p] = hsum256(a0) * scale;
	}
	inv = softmax_weights(scores, pos + 1);
	for (int d = 0; d < hd / 8; d++)
		acc[d] = _mm256_setzero_ps();
	for (p = 0; p <= pos; p++)
	{
		const float *v = kv_row(c, kv, l, 1, p) + koff;
		__m256		w = _mm256_set1_ps(scores[p] * inv);

		for (int d = 0; d < hd / 8; d++)
			acc[d] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * d), acc[d]);
	}
	for (int d = 0; d < hd / 8; d++)
		_mm256_storeu_ps(oh + 8 * d, acc[d]);
}
#endif

static void
attend_head_portable(const LlamaConfig *c, const LlamaKv *kv, int l, int32_t pos,
					 const float *qh, size_t koff, float *scores, float *oh)
{
	int			hd = c->head_dim;
	float		scale = 1.0f / sqrtf((float) hd);
	float		inv;

	for (int32_t p = 0; p <= pos; p++)
	{
		const float *k = kv_row(c, kv, l, 0, p) + koff;
		float		dot = 0.0f;

		for (int d = 0; d < hd; d++)
			dot += qh[d] * k[d];
		scores[p] = dot * scale;
	}
	inv = softmax_weights(scores, pos + 1);
	memset(oh, 0, sizeof(float) * hd);
	for (int32_t p = 0; p <= pos; p++)
	{
		const float *v = kv_row(c, kv, l, 1, p) + koff;
		float		w = scores[p] * inv;

		for (int d = 0; d < hd; d++)
			oh[d] += w * v[d];
	}
}

/* Scores scratch of the calling thread (worker threads too), grown as needed */
static _Thread_local float *tl_scores;
static _Thread_local size_t tl_cap;

static float *
scores_buffer(size_t n)
{
	if (n > tl_cap)
	{
		float	   *b = realloc(tl_scores, n * sizeof(float));

		if (b == NULL)
			return NULL;
		tl_scores = b;
		tl_cap = n;
	}
	return tl_scores;
}

typedef struct AttendJob
{
	const LlamaConfig *c;
	const LlamaKv *kv;			/* caches, by sequence */
	int			l;
	const int32_t *seq;
	const int32_t *pos;
	const float *q;				/* (n, n_heads*head_dim) */
	float	   *att;			/* (n, n_heads*head_dim) */
	bool		avx2;
	atomic_int	failed;			/* a scores buffer could not be had */
} AttendJob;

/* Tasks [begin, end) of (token, head) pairs, token-major */
static void
attend_tasks(void *arg, int begin, int end)
{
	AttendJob  *j = arg;
	const LlamaConfig *c = j->c;
	int			group = c->n_heads / c->n_kv_heads;
	size_t		qd = (size_t) c->n_heads * c->head_dim;

	for (int i = begin; i < end; i++)
	{
		int			t = i / c->n_heads,
					h = i % c->n_heads;
		float	   *scores = scores_buffer((size_t) j->pos[t] + 1);
		const float *qh = j->q + t * qd + (size_t) h * c->head_dim;
		float	   *oh = j->att + t * qd + (size_t) h * c->head_dim;
		size_t		koff = (size_t) (h / group) * c->head_dim;

		if (scores == NULL)
		{
			atomic_store(&j->failed, 1);
			continue;
		}
#ifdef LLAMA_AVX2
		if (j->avx2)
		{
			attend_head_avx2(c, &j->kv[j->seq[t]], j->l, j->pos[t], qh, koff, scores, oh);
			continue;
		}
#endif
		attend_head_portable(c, &j->kv[j->seq[t]], j->l, j->pos[t], qh, koff, scores, oh);
	}
}

/*
 * Causal attention of the batch's n tokens (token t sees its sequence's
 * positions 0..pos[t]), (token, head) pairs spread over the threads.
 * False when memory for the scores ran out.
 */
static bool
attend_all(const LlamaConfig *c, const LlamaKv *kv, int l, int32_t n, const int32_t *seq,
		   const int32_t *pos, const float *q, float *att)
{
	AttendJob	job = {.c = c, .kv = kv, .l = l, .seq = seq, .pos = pos, .q = q, .att = att};

	job.avx2 = strcmp(nn_kernels_isa(), "avx2") == 0 && c->head_dim % 8 == 0 &&
		c->head_dim <= 128;
	atomic_init(&job.failed, 0);
	par_for(n * c->n_heads, attend_tasks, &job);
	return atomic_load(&job.failed) == 0;
}

/* silu(gate) * up, in place in gate */
static void
swiglu(float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		float		g = gate[i];

		gate[i] = g / (1.0f + expf(-g)) * up[i];
	}
}

/* x (n, dim) = rows ids of the token embedding */
static void
embed_tokens(const LlamaConfig *c, const LlamaWeights *w, const int32_t *ids, int32_t n,
			 float *x)
{
	for (int32_t t = 0; t < n; t++)
	{
		float	   *xt = x + (size_t) t * c->dim;

		if (w->tok_embd.panels)
		{
			/* row id of panel id / 32: every 32nd value from its column */
			const float *p = (const float *) w->tok_embd.data +
				(size_t) (ids[t] / GEMM_NR) * GEMM_NR * c->dim + ids[t] % GEMM_NR;

			for (int k = 0; k < c->dim; k++)
				xt[k] = p[(size_t) k * GEMM_NR];
		}
		else
			qdot_row(&w->tok_embd, ids[t], xt);
	}
}

/* One decoder layer over the batch; false when attention ran out of memory */
static bool
layer_forward(const LlamaConfig *c, const LlamaWeights *w, int l, int32_t n,
			  const int32_t *seq, LlamaKv *kv, Scratch *s)
{
	const LlamaLayer *L = &w->layers[l];
	int			qd = c->n_heads * c->head_dim;
	int			kvd = c->n_kv_heads * c->head_dim;

	/* q, k, v of every token; rotate q and k; append k, v to the caches */
	rmsnorm(s->xb, s->x, L->attn_norm, n, c->dim, c->norm_eps);
	linear(&L->wq, s->xb, n, s->act, s->q, w->streaming);
	linear(&L->wk, s->xb, n, s->act, s->k, w->streaming);
	linear(&L->wv, s->xb, n, s->act, s->v, w->streaming);
	add_bias(s->q, L->bq, n, qd);
	add_bias(s->k, L->bk, n, kvd);
	add_bias(s->v, L->bv, n, kvd);
	for (int32_t t = 0; t < n; t++)
	{
		rope_angles(c, w, s->pos[t], s->rope);
		rope_apply(c, s->rope, s->q + (size_t) t * qd, c->n_heads);
		rope_apply(c, s->rope, s->k + (size_t) t * kvd, c->n_kv_heads);
		memcpy(kv_row(c, &kv[seq[t]], l, 0, s->pos[t]), s->k + (size_t) t * kvd,
			   sizeof(float) * kvd);
		memcpy(kv_row(c, &kv[seq[t]], l, 1, s->pos[t]), s->v + (size_t) t * kvd,
			   sizeof(float) * kvd);
	}
	if (!attend_all(c, kv, l, n, seq, s->pos, s->q, s->att))
		return false;
	linear(&L->wo, s->att, n, s->act, s->out, w->streaming);
	for (size_t i = 0; i < (size_t) n * c->dim; i++)
		s->x[i] += s->out[i];

	/* feed-forward */
	rmsnorm(s->xb, s->x, L->ffn_norm, n, c->dim, c->norm_eps);
	linear(&L->w_gate, s->xb, n, s->act, s->hb, w->streaming);
	linear(&L->w_up, s->xb, n, s->act, s->hb2, w->streaming);
	swiglu(s->hb, s->hb2, (size_t) n * c->ffn);
	linear(&L->w_down, s->hb, n, s->act, s->out, w->streaming);
	for (size_t i = 0; i < (size_t) n * c->dim; i++)
		s->x[i] += s->out[i];
	return true;
}

PgiStatus
llama_forward(const LlamaConfig *c, const LlamaWeights *w, const LlamaRuntime *rt,
			  int32_t n, const int32_t *ids, const int32_t *seq, LlamaKv *kv,
			  const uint8_t *want, void *scratch, float *logits, PgiError *err)
{
	Scratch		s;
	int32_t		max_pos = 0;
	int32_t		n_out = 0;

	/* positions: each token follows its sequence's cache and earlier tokens */
	for (int32_t t = 0; t < n; t++)
	{
		int32_t		p = kv[seq[t]].len;

		for (int32_t u = 0; u < t; u++)
			if (seq[u] == seq[t])
				p++;
		if (ids[t] < 0 || ids[t] >= c->vocab)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "token id %d is outside the vocabulary (0..%d)",
							 ids[t], c->vocab - 1);
		if (p >= kv[seq[t]].cap)
			return pgi_error(err, PGI_ERR_LIMIT, NULL,
							 "position %d is past the key/value cache of %d positions",
							 p, kv[seq[t]].cap);
		if (p + 1 > max_pos)
			max_pos = p + 1;
	}
	scratch_layout(c, n, max_pos, scratch, &s);
	for (int32_t t = 0; t < n; t++)
	{
		int32_t		p = kv[seq[t]].len;

		for (int32_t u = 0; u < t; u++)
			if (seq[u] == seq[t])
				p++;
		s.pos[t] = p;
	}

	embed_tokens(c, w, ids, n, s.x);
	for (int l = 0; l < c->n_layers; l++)
	{
		if (rt && rt->check)
			rt->check(rt->check_arg);
		if (!layer_forward(c, w, l, n, seq, kv, &s))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory for attention scores");
	}
	for (int32_t t = 0; t < n; t++)
		if (s.pos[t] + 1 > kv[seq[t]].len)
			kv[seq[t]].len = s.pos[t] + 1;

	/* final norm and logits of the wanted rows, packed */
	for (int32_t t = 0; t < n; t++)
		if (want == NULL || want[t])
		{
			memmove(s.x + (size_t) n_out * c->dim, s.x + (size_t) t * c->dim,
					sizeof(float) * c->dim);
			n_out++;
		}
	if (n_out > 0)
	{
		rmsnorm(s.xb, s.x, w->out_norm, n_out, c->dim, c->norm_eps);
		linear(&w->output, s.xb, n_out, s.act, logits, w->streaming);
	}
	return PGI_OK;
}
