/*-------------------------------------------------------------------------
 *
 * clip.h
 *	  CLIP-style dual encoder (Hugging Face CLIPModel, and its vision half
 *	  CLIPVisionModelWithProjection): a vision transformer and a text
 *	  transformer projecting into one embedding space.
 *
 * Semantics are Hugging Face's modeling_clip:
 *	vision: patches of P x P pixels of the (3, S, S) image, flattened as
 *			(channel, row, column), times the patch embedding (a Conv2d with
 *			stride P and no bias, as one matrix product); a class token
 *			first; position embeddings added; pre_layrnorm; n_layers
 *			pre-LN blocks; post_layernorm of the class token; projection.
 *	text:	token + position embeddings; n_layers pre-LN blocks with a
 *			causal mask; final_layer_norm; the row of the EOS token (the
 *			first eos_token_id, or with the legacy eos_token_id 2, the
 *			highest id of the sequence, as transformers does); projection.
 *	block:	x += out(attn(LN1(x)));  x += fc2(act(fc1(LN2(x)))), act being
 *			quick_gelu (x * sigmoid(1.702 x)) or gelu (erf).
 * Outputs are L2-normalised (cosine similarity); logit_scale (the stored
 * log of CLIP's temperature) is kept for similarity scores.
 *
 * Sequences are packed without padding as in bert.h; the causal mask makes
 * the text tower's EOS row independent of anything after it, so packing
 * equals transformers' padded batches.  Linear weights (out, in) are in
 * gemm_pack's panel layout; the forward pass allocates nothing (scratch
 * from clip_*_scratch_floats) and calls rt->check between layers.
 *
 * src/core/models/clip.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIP_H
#define CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/images/image.h"
#include "core/models/bert.h"
#include "core/pgi_status.h"

#define CLIP_MAX_LAYERS		64
#define CLIP_MAX_HIDDEN		8192
#define CLIP_MAX_FFN		32768
#define CLIP_MAX_IMAGE		1024
#define CLIP_MAX_POS		4096
#define CLIP_MAX_VOCAB		(1 << 20)

typedef enum ClipAct
{
	CLIP_ACT_QUICK_GELU = 0,
	CLIP_ACT_GELU = 1
} ClipAct;

/* One transformer tower */
typedef struct ClipTowerConfig
{
	int32_t		n_layers;
	int32_t		hidden;
	int32_t		n_heads;
	int32_t		ffn;
	int32_t		act;			/* ClipAct */
	float		ln_eps;
	/* vision */
	int32_t		image_size;
	int32_t		patch_size;
	/* text */
	int32_t		vocab;
	int32_t		max_pos;
	int32_t		eos_id;
	int32_t		pool_argmax;	/* legacy eos_token_id 2: pool at the highest id */
} ClipTowerConfig;

typedef struct ClipConfig
{
	int32_t		has_vision;
	int32_t		has_text;
	int32_t		proj_dim;		/* projection_dim: the embeddings' width */
	float		logit_scale;	/* log temperature (0 when the file has none) */
	ClipTowerConfig vision;
	ClipTowerConfig text;
} ClipConfig;

typedef struct ClipLayer
{
	const float *ln1_w;			/* (hidden) */
	const float *ln1_b;			/* (hidden) */
	const float *qkv_w;			/* (3*hidden, hidden) packed: q, k, v rows */
	const float *qkv_b;			/* (3*hidden) */
	const float *out_w;			/* (hidden, hidden) packed */
	const float *out_b;			/* (hidden) */
	const float *ln2_w;			/* (hidden) */
	const float *ln2_b;			/* (hidden) */
	const float *fc1_w;			/* (ffn, hidden) packed */
	const float *fc1_b;			/* (ffn) */
	const float *fc2_w;			/* (hidden, ffn) packed */
	const float *fc2_b;			/* (hidden) */
} ClipLayer;

typedef struct ClipVisionWeights
{
	const float *patch_w;		/* (hidden, 3*P*P) packed: Conv2d weight flattened */
	const float *class_embd;	/* (hidden) */
	const float *pos_embd;		/* (1 + (S/P)^2, hidden) */
	const float *pre_ln_w;		/* (hidden) */
	const float *pre_ln_b;		/* (hidden) */
	ClipLayer	layers[CLIP_MAX_LAYERS];
	const float *post_ln_w;		/* (hidden) */
	const float *post_ln_b;		/* (hidden) */
	const float *proj;			/* (proj_dim, hidden) packed, no bias */
} ClipVisionWeights;

typedef struct ClipTextWeights
{
	const float *tok_embd;		/* (vocab, hidden) */
	const float *pos_embd;		/* (max_pos, hidden) */
	ClipLayer	layers[CLIP_MAX_LAYERS];
	const float *final_ln_w;	/* (hidden) */
	const float *final_ln_b;	/* (hidden) */
	const float *proj;			/* (proj_dim, hidden) packed, no bias */
} ClipTextWeights;

typedef struct ClipWeights
{
	ClipVisionWeights vision;
	ClipTextWeights text;
} ClipWeights;

/* A CLIP model's settings beyond its tensors (stored in the prepared header) */
typedef struct ClipPrep
{
	ClipConfig	config;
	ImagePrep	image;
	char		text_model[64];	/* vision-only: the model embedding text ("" none) */
	char		text_sha256[72];	/* its sha256 ("" unchecked) */
} ClipPrep;

/* Check a configuration's sizes and limits */
extern PgiStatus clip_config_check(const ClipConfig *c, PgiError *err);

/* Tokens per image: 1 + (S / P)^2 */
extern int32_t clip_vision_tokens(const ClipTowerConfig *v);

/* Floats of scratch memory for n images / for texts of total tokens */
extern size_t clip_vision_scratch_floats(const ClipConfig *c, int32_t n_images);
extern size_t clip_text_scratch_floats(const ClipConfig *c, int64_t total_tokens, int32_t max_len);

/*
 * Embed n images: pixels (n, 3, S, S) preprocessed (image.h) -> out
 * (n, proj_dim), L2-normalised
 */
extern PgiStatus clip_vision_forward(const ClipConfig *c, const ClipVisionWeights *w,
									 const BertRuntime *rt, const float *pixels, int32_t n,
									 float *scratch, float *out, PgiError *err);

/*
 * Embed n_seqs texts: ids holds lens[0] + ... tokens back to back (with
 * BOS / EOS as the tokenizer adds them) -> out (n_seqs, proj_dim),
 * L2-normalised
 */
extern PgiStatus clip_text_forward(const ClipConfig *c, const ClipTextWeights *w,
								   const BertRuntime *rt, const int32_t *ids,
								   const int32_t *lens, int32_t n_seqs, float *scratch,
								   float *out, PgiError *err);

#endif							/* CLIP_H */
