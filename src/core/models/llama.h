/*-------------------------------------------------------------------------
 *
 * llama.h
 *	  LLaMA-family decoders (GGUF architectures "llama" and "qwen2"):
 *	  configuration, weights, KV cache and the forward pass.
 *
 * Per layer (pre-norm):  h = x + Wo . attention(rope(Wq n), rope(Wk n), Wv n)
 *                        x = h + Wdown . (silu(Wgate m) * (Wup m))
 * with n = rmsnorm(x) * attn_norm, m = rmsnorm(h) * ffn_norm,
 * rmsnorm(x) = x / sqrt(mean(x^2) + eps); causal attention with grouped
 * queries (query head j reads KV head j / (n_heads / n_kv_heads)), scale
 * 1/sqrt(head_dim).  RoPE rotates pairs of the first rope_dim values of
 * each head by pos * theta_i, theta_i = base^(-2i/rope_dim) / factor_i:
 * adjacent pairs (2i, 2i+1) for "llama" (GGUF stores Q and K permuted for
 * it), halves (i, i + rope_dim/2) for "qwen2" (NEOX).  Qwen2 adds biases
 * to q, k and v.  The output matrix is the token embedding when tied.
 *
 * Weights stay in their ggml types (qdot.h); a forward pass runs a batch
 * of tokens, each with its own sequence (KV cache) and position, so the
 * same call processes a prompt (many tokens of one sequence, causal) or
 * one decoding step of many sequences (one token each): every weight
 * matrix is read once per call, whatever the number of tokens.  The pass
 * allocates nothing; scratch memory comes from the caller.
 *
 * src/core/models/llama.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LLAMA_H
#define LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels/qdot.h"
#include "core/pgi_status.h"

#define LLAMA_MAX_LAYERS	128
#define LLAMA_MAX_DIM		32768
#define LLAMA_MAX_FFN		131072
#define LLAMA_MAX_HEADS		256
#define LLAMA_MAX_HEAD_DIM	1024
#define LLAMA_MAX_VOCAB		(1 << 22)
#define LLAMA_MAX_CTX		(1 << 20)

typedef enum LlamaArch
{
	LLAMA_ARCH_LLAMA = 1,
	LLAMA_ARCH_QWEN2 = 2
} LlamaArch;

typedef enum LlamaRope
{
	LLAMA_ROPE_NORM = 0,		/* adjacent pairs */
	LLAMA_ROPE_NEOX = 1			/* halves */
} LlamaRope;

typedef struct LlamaConfig
{
	int32_t		arch;			/* LlamaArch */
	int32_t		n_layers;
	int32_t		dim;			/* model width */
	int32_t		n_heads;
	int32_t		n_kv_heads;		/* n_heads % n_kv_heads == 0 */
	int32_t		head_dim;
	int32_t		ffn;			/* hidden size of the SwiGLU */
	int32_t		vocab;
	int32_t		ctx_len;		/* context length the file states */
	int32_t		rope_dim;		/* rotated values per head (even, <= head_dim) */
	int32_t		rope_style;		/* LlamaRope */
	float		rope_base;		/* theta */
	float		rope_scale;		/* linear scaling: positions times this (1: none) */
	float		norm_eps;
	int32_t		tied;			/* output matrix = token embedding */
	int32_t		qkv_bias;		/* q, k, v have biases (qwen2) */
	int32_t		rope_freqs;		/* per-pair frequency factors (Llama 3.1) */
	int32_t		reserved[15];
} LlamaConfig;

typedef struct LlamaLayer
{
	const float *attn_norm;		/* (dim) */
	QMat		wq;				/* (n_heads*head_dim, dim) */
	QMat		wk;				/* (n_kv_heads*head_dim, dim) */
	QMat		wv;				/* (n_kv_heads*head_dim, dim) */
	const float *bq;			/* (n_heads*head_dim) or NULL */
	const float *bk;			/* (n_kv_heads*head_dim) or NULL */
	const float *bv;			/* (n_kv_heads*head_dim) or NULL */
	QMat		wo;				/* (dim, n_heads*head_dim) */
	const float *ffn_norm;		/* (dim) */
	QMat		w_gate;			/* (ffn, dim) */
	QMat		w_up;			/* (ffn, dim) */
	QMat		w_down;			/* (dim, ffn) */
} LlamaLayer;

typedef struct LlamaWeights
{
	QMat		tok_embd;		/* (vocab, dim): rows looked up, and the output when tied */
	const float *out_norm;		/* (dim) */
	QMat		output;			/* (vocab, dim) */
	const float *rope_freqs;	/* (rope_dim/2) or NULL */
	int			streaming;		/* matrices over QDOT_STREAMING_BYTES in all (qdot.h) */
	LlamaLayer	layers[LLAMA_MAX_LAYERS];	/* (n_layers) used */
} LlamaWeights;

/*
 * The KV cache of one sequence: for each layer, cap positions of
 * n_kv_heads*head_dim keys, then as many values.  Positions below len are
 * filled.
 */
typedef struct LlamaKv
{
	float	   *data;			/* (n_layers, 2, cap, n_kv_heads*head_dim) */
	int32_t		cap;
	int32_t		len;
} LlamaKv;

/* How the forward pass reaches threads and its caller */
typedef struct LlamaRuntime
{
	/* called between layers (may be NULL; may longjmp out) */
	void		(*check) (void *arg);
	void	   *check_arg;
} LlamaRuntime;

/* Check a configuration's sizes and limits */
extern PgiStatus llama_config_check(const LlamaConfig *c, PgiError *err);

/* Floats of KV cache for cap positions */
extern size_t llama_kv_floats(const LlamaConfig *c, int32_t cap);

/* Bytes of scratch memory for a batch of n tokens attending to <= max_pos positions */
extern size_t llama_scratch_bytes(const LlamaConfig *c, int32_t n, int32_t max_pos);

/*
 * One forward pass over n tokens: token t has id ids[t] and goes to
 * sequence kv[seq[t]] at position kv[seq[t]]->len (then len grows by one);
 * tokens of one sequence must be consecutive.  For each t with want[t]
 * set (all when want is NULL), the logits (vocab floats) are written to
 * logits, one row after the other, in token order.
 */
extern PgiStatus llama_forward(const LlamaConfig *c, const LlamaWeights *w,
							   const LlamaRuntime *rt, int32_t n, const int32_t *ids,
							   const int32_t *seq, LlamaKv *kv, const uint8_t *want,
							   void *scratch, float *logits, PgiError *err);

#endif							/* LLAMA_H */
