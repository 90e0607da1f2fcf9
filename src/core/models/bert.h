/*-------------------------------------------------------------------------
 *
 * bert.h
 *	  BERT-family encoder (BertModel: MiniLM, bge, e5, gte) forward pass.
 *
 * Semantics are Hugging Face's BertModel: word + absolute position + token
 * type (0, or per token for text pairs) embeddings, LayerNorm, then n_layers post-LayerNorm
 * blocks (multi-head self-attention, residual, LayerNorm; dense, GELU
 * (erf), dense, residual, LayerNorm).
 *
 * A batch is a list of sequences packed one after the other, WITHOUT
 * padding: row t of every activation matrix is one real token, the linear
 * layers run as one sgemm over all tokens of the batch, and attention runs
 * per sequence over its own length.  That gives exactly what a padded
 * batch with an attention mask gives for the real tokens, with no work
 * wasted on padding.
 *
 * Weights are read-only float32 arrays (normally pointers into a shared
 * mapping, see pgim.h); the matrices of the linear layers, (out, in) as
 * in PyTorch's nn.Linear, are in gemm_pack's panel layout (gemm.h);
 * embeddings are row-major.  The forward pass allocates nothing: the caller provides
 * scratch memory of bert_scratch_floats() floats, so a caller can abandon
 * a pass between layers (the check callback may longjmp) without leaking.
 *
 * src/core/models/bert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef BERT_H
#define BERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels/gemm_lp.h"
#include "core/pgi_status.h"

#define BERT_MAX_LAYERS		128
#define BERT_MAX_HIDDEN		16384
#define BERT_MAX_FFN		65536
#define BERT_MAX_VOCAB		(1 << 22)
#define BERT_MAX_POS		32768
#define BERT_MAX_TYPES		16

/* cblas_sgemm's signature, CBLAS enums as ints (row-major only) */
typedef void (*PgiSgemmFn) (int order, int transa, int transb, int m, int n, int k,
							float alpha, const float *a, int lda, const float *b, int ldb,
							float beta, float *c, int ldc);

#define PGI_CBLAS_ROW_MAJOR	101
#define PGI_CBLAS_NO_TRANS	111
#define PGI_CBLAS_TRANS		112

typedef struct BertConfig
{
	int32_t		n_layers;
	int32_t		hidden;			/* model width */
	int32_t		n_heads;		/* hidden % n_heads == 0 */
	int32_t		ffn;			/* intermediate size */
	int32_t		vocab;
	int32_t		max_pos;		/* max_position_embeddings */
	int32_t		n_types;		/* type_vocab_size */
	float		ln_eps;			/* layer_norm_eps */
	int32_t		head;			/* BertHead */
	int32_t		n_labels;		/* classifier outputs (BERT_HEAD_QA: 2) */
	int32_t		problem;		/* BertProblem: how logits become scores */
	int32_t		pooler;			/* BERT_HEAD_SEQUENCE: 1 the pooler (dense +
								 * tanh on [CLS]) feeds the classifier (Hugging
								 * Face; llama.cpp's cls.weight), 0 [CLS] does
								 * (llama.cpp's BERT files: cls.output only) */
} BertConfig;

/* A task head on top of the encoder (Hugging Face's Bert*For* classes) */
typedef enum BertHead
{
	BERT_HEAD_NONE = 0,
	BERT_HEAD_SEQUENCE = 1,		/* BertForSequenceClassification: pooler
								 * (dense + tanh on [CLS]) and classifier */
	BERT_HEAD_TOKEN = 2,		/* BertForTokenClassification: classifier
								 * on every token's last hidden state */
	BERT_HEAD_QA = 3			/* BertForQuestionAnswering: qa_outputs on
								 * every token: start and end logits */
} BertHead;

/* config.json problem_type */
typedef enum BertProblem
{
	BERT_PROBLEM_SINGLE = 0,	/* softmax over the labels */
	BERT_PROBLEM_MULTI = 1,		/* a sigmoid per label */
	BERT_PROBLEM_REGRESSION = 2 /* the raw output (one label) */
} BertProblem;

#define BERT_MAX_LABELS 100000

typedef struct BertLayer
{
	const float *qkv_w;			/* (3*hidden, hidden) packed: query, key, value rows */
	const float *qkv_b;			/* (3*hidden) */
	const float *out_w;			/* (hidden, hidden) packed: attention output dense */
	const float *out_b;			/* (hidden) */
	const float *ln1_w;			/* (hidden) attention output LayerNorm */
	const float *ln1_b;			/* (hidden) */
	const float *up_w;			/* (ffn, hidden) packed: intermediate dense */
	const float *up_b;			/* (ffn) */
	const float *down_w;		/* (hidden, ffn) packed: output dense */
	const float *down_b;		/* (hidden) */
	const float *ln2_w;			/* (hidden) output LayerNorm */
	const float *ln2_b;			/* (hidden) */
} BertLayer;

typedef struct BertWeights
{
	const float *tok_embd;		/* (vocab, hidden) */
	const float *pos_embd;		/* (max_pos, hidden) */
	const float *type_embd;		/* (n_types, hidden) */
	const float *embd_ln_w;		/* (hidden) */
	const float *embd_ln_b;		/* (hidden) */
	BertLayer	layers[BERT_MAX_LAYERS];	/* (n_layers) used */
	/* BERT_HEAD_SEQUENCE */
	const float *pool_w;		/* (hidden, hidden) packed: pooler dense */
	const float *pool_b;		/* (hidden) */
	/* every head: classifier (BERT_HEAD_QA: qa_outputs, start then end) */
	const float *cls_w;			/* (n_labels, hidden) packed */
	const float *cls_b;			/* (n_labels) */
} BertWeights;

/* How the forward pass reaches BLAS and its caller */
typedef struct BertRuntime
{
	PgiSgemmFn	sgemm;
	/* called between layers (may be NULL; may longjmp out) */
	void		(*check) (void *arg);
	void	   *check_arg;
	/* matrix products are split into blocks of this many token rows, with
	 * check called between blocks (0: no split) */
	int			block_rows;
	/* the weight matrices' format (gemm_lp.h; {0}: float32 panels) */
	GemmFormat	wfmt;
	/* bf16 / int8: work memory of GEMM_LP_WORK_BYTES for converted rows */
	void	   *lp_work;
} BertRuntime;

typedef enum BertPooling
{
	BERT_POOL_MEAN = 0,
	BERT_POOL_CLS,
	BERT_POOL_MAX,
	BERT_POOL_LAST
} BertPooling;

/*
 * C (T, n) += A (T, k) W^T with W (n, k) packed in rt->wfmt (gemm_pack,
 * gemm_format_pack): in blocks of rt->block_rows rows with rt->check
 * between them, each block's rows converted (bf16, int8) and its output
 * panels multiplied, both split over the threads of par.h (also used by
 * other encoders)
 */
extern void bert_linear(const BertRuntime *rt, size_t T, int n, int k, const float *a,
						const float *w, float *c);

/* The same with the epilogue C = ((beta ? C : 0) + bias) + A W^T (gemm_epilogue.h) */
extern void bert_linear_ep(const BertRuntime *rt, size_t T, int n, int k, const float *a,
						   const float *w, const float *bias, int beta, float *c);

/*
 * Self-attention of one sequence of len tokens starting at row t0: ctx
 * (rows t0.., h) from qkv (T, 3h) holding q, k, v per row, n_heads heads;
 * scores holds len * len floats; causal masks the future (decoder-style
 * text towers, e.g. CLIP's)
 */
extern void bert_attend(const BertRuntime *rt, int h, int n_heads, const float *qkv, float *ctx,
						float *scores, size_t t0, int32_t len, int causal);

/*
 * Self-attention of n_seqs sequences packed in qkv (T, 3h), scores scaled
 * by scale: ctx (T, h), (sequence, head) pairs split over the threads; a
 * sequence may be empty; 0 when a thread's buffer could not be allocated
 * (out of memory)
 */
extern int	bert_attend_all(int h, int n_heads, const float *qkv, float *ctx,
							const int32_t *lens, int32_t n_seqs, int causal, float scale);

/* GELU of x (T, n), and LayerNorm of its rows, split over the threads (par.h) by rows */
extern void bert_gelu(float *x, size_t T, size_t n);
extern void bert_layernorm(float *x, size_t T, size_t n, const float *w, const float *b,
						   float eps);

/* Check a configuration's sizes and limits */
extern PgiStatus bert_config_check(const BertConfig *c, PgiError *err);

/* Floats of scratch memory a batch of total_tokens, longest max_len, needs */
extern size_t bert_scratch_floats(const BertConfig *c, int64_t total_tokens, int32_t max_len);

/*
 * Run the encoder over n_seqs sequences: ids holds lens[0] + ... tokens,
 * back to back.  hidden_out (total_tokens, hidden) receives the last
 * hidden state.  Every id must be < vocab and every length 1..max_pos.
 */
extern PgiStatus bert_forward(const BertConfig *c, const BertWeights *w,
							  const BertRuntime *rt, const int32_t *ids,
							  const int32_t *lens, int32_t n_seqs, float *scratch,
							  float *hidden_out, PgiError *err);

/* The same with token types (types[t] < n_types; NULL: all 0), for text pairs */
extern PgiStatus bert_forward_types(const BertConfig *c, const BertWeights *w,
									const BertRuntime *rt, const int32_t *ids,
									const int32_t *types, const int32_t *lens, int32_t n_seqs,
									float *scratch, float *hidden_out, PgiError *err);

/*
 * The sequence head: logits (n_seqs, n_labels) of each sequence's first
 * ([CLS]) row of hidden (total_tokens, hidden): classifier(tanh(pooler(h)));
 * scratch holds 2 * n_seqs * hidden floats
 */
extern void bert_sequence_logits(const BertConfig *c, const BertWeights *w,
								 const BertRuntime *rt, const float *hidden,
								 const int32_t *lens, int32_t n_seqs, float *scratch,
								 float *logits);

/*
 * The token heads (BERT_HEAD_TOKEN, BERT_HEAD_QA): logits (T, n_labels) of
 * every row of hidden (T, hidden)
 */
extern void bert_token_logits(const BertConfig *c, const BertWeights *w,
							  const BertRuntime *rt, const float *hidden, size_t T,
							  float *logits);

/*
 * Pool each sequence's rows of hidden (total_tokens, dim) into out
 * (n_seqs, dim), then L2-normalise each output row if normalize.
 */
extern void bert_pool(const float *hidden, const int32_t *lens, int32_t n_seqs,
					  int32_t dim, BertPooling pooling, int normalize, float *out);

#endif							/* BERT_H */
