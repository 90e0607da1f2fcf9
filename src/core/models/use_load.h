/*-------------------------------------------------------------------------
 *
 * use_load.h
 *	  Universal Sentence Encoder Lite: loading the TF.js files of the npm
 *	  package (model.json, its weight shards, vocab.json) and the prepared
 *	  weights section the forward pass (use_lite.h) reads.
 *
 * Loading: model.json's weightsManifest lists groups; each group has
 * "paths" (its shard files) and "weights" (name, shape, dtype), packed back
 * to back in manifest order over the group's shards concatenated.  The
 * caller reads the shard files named by use_tfjs_shard_paths() and passes
 * them as a LIST of buffers, in that order (groups one after the other,
 * each group's paths in order); tensors may cross shard boundaries, the
 * loader copies across them.  Every tensor the forward pass needs is found
 * BY NAME, and its dtype (float32; int32 for the max length), shape and
 * byte range are checked; each group's manifest size must equal its
 * shards' total length.  The dimensions (vocabulary rows, embedding and
 * model width, FFN size) come from the shapes, so small test models in the
 * same layout load too; 4 heads is part of the architecture.  Any
 * inconsistency is PGI_ERR_CORRUPT; allocation never exceeds the size of
 * the inputs by more than a constant factor.
 *
 * vocab.json: an array of [piece, score] pairs, id = index; a null score
 * is 0 (JavaScript's null + x == x).  Duplicates are kept as they are (the
 * tokenizer lets the last one win).
 *
 * Prepared section (use_weights_size / use_pack / use_bind), host byte
 * order, every array 64-byte aligned, offsets from the section start:
 *	header (USE_HEADER_SIZE): "PGIUSE01", u32 version, u32 header size,
 *		   the UseConfig (bind checks it equals the caller's)
 *	emb, inv_ts, layer 0, layer 1, res, tanh (see UseWeights, in that
 *		   order); matrices in gemm_pack's panel layout (gemm.h), as
 *		   (out, in): TF.js stores [in, out], use_pack transposes
 *	vocabulary: scores (double, n_pieces), piece_off (u32, n_pieces + 1),
 *		   piece bytes (vocab_bytes), so the tokenizer can be built from
 *		   the section alone (use_tokenizer_from_weights)
 *
 * src/core/models/use_load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef USE_LOAD_H
#define USE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/kernels/gemm_lp.h"
#include "core/pgi_status.h"
#include "core/tokenizers/tok_unigram.h"

#define USE_N_LAYERS		2
#define USE_N_HEADS			4
#define USE_N_RESERVED		6	/* ids 0..5 are never matched */
#define USE_MAX_VOCAB		(1 << 20)
#define USE_MAX_DIM			8192
#define USE_MAX_FFN			65536
#define USE_MAX_TOKENS_LIMIT 4096
#define USE_HEADER_SIZE		128
#define USE_SECTION_VERSION 1

typedef struct UseConfig
{
	int32_t		vocab_rows;		/* embedding rows (8002) */
	int32_t		n_pieces;		/* vocab.json entries (8000), <= vocab_rows */
	int32_t		d_emb;			/* embedding width, layer 0 attention width (256) */
	int32_t		d_model;		/* model width after layer 0 (512) */
	int32_t		n_heads;		/* 4 */
	int32_t		ffn;			/* FFN inner size (1536) */
	int32_t		max_tokens;		/* ClipToMaxLength (128) */
	float		ln_eps;			/* LayerNorm epsilon (1e-6) */
	float		l2_eps;			/* output L2 epsilon on the squared norm (1e-12) */
	float		q_scale[USE_N_LAYERS];	/* query scale per layer (1/8, 1/sqrt(128)) */
	int32_t		n_timing;		/* timing-signal frequencies, d_emb / 2 (128) */
	uint32_t	vocab_bytes;	/* total bytes of the pieces (59412) */
} UseConfig;

typedef struct UseLayer
{
	const float *ln_att_g;		/* (d_in) attention pre-norm scale; d_in = d_emb
								 * for layer 0, d_model for layer 1 */
	const float *ln_att_b;		/* (d_in) */
	const float *qkv_w;			/* (3*d_in, d_in) packed: q, k, v rows */
	const float *qkv_b;			/* (3*d_in) */
	const float *out_w;			/* (d_model, d_in) packed: attention output */
	const float *out_b;			/* (d_model) */
	const float *ln_ffn_g;		/* (d_model) FFN pre-norm scale */
	const float *ln_ffn_b;		/* (d_model) */
	const float *up_w;			/* (ffn, d_model) packed: conv1 */
	const float *up_b;			/* (ffn) */
	const float *down_w;		/* (d_model, ffn) packed: conv2 */
	const float *down_b;		/* (d_model) */
} UseLayer;

typedef struct UseWeights
{
	const float *emb;			/* (vocab_rows, d_emb) row-major */
	const float *inv_ts;		/* (n_timing) timing-signal inverse timescales */
	UseLayer	layers[USE_N_LAYERS];
	const float *res_w;			/* (d_model, d_emb) packed: layer 0 residual projection */
	const float *res_b;			/* (d_model) */
	const float *tanh_w;		/* (d_model, d_model) packed: output head */
	const float *tanh_b;		/* (d_model) */
	const double *scores;		/* (n_pieces) piece scores, null as 0 */
	const uint32_t *piece_off;	/* (n_pieces + 1) offsets into piece_bytes */
	const char *piece_bytes;	/* (vocab_bytes) the pieces, UTF-8, back to back */
} UseWeights;

typedef struct UseSource UseSource;

/*
 * The shard file names of model.json, in the order use_load_tfjs wants the
 * buffers: *paths is a malloc'd array of *n malloc'd NUL-terminated names
 * (free with use_tfjs_paths_free).  A name with '/', '\\', a leading '.',
 * or a control character is PGI_ERR_CORRUPT, so it can be joined to the
 * model directory safely.
 */
extern PgiStatus use_tfjs_shard_paths(const char *model_json, size_t model_json_len,
									  char ***paths, int *n, PgiError *err);
extern void use_tfjs_paths_free(char **paths, int n);

/*
 * Parse and validate the TF.js files: shards[i] holds shard_lens[i] bytes
 * of shard i (see above).  On success *out holds copies of everything
 * needed (the inputs may be freed).
 */
extern PgiStatus use_load_tfjs(const char *model_json, size_t model_json_len,
							   const uint8_t *const *shards, const size_t *shard_lens,
							   int n_shards, const char *vocab_json, size_t vocab_json_len,
							   UseSource **out, PgiError *err);
extern void use_source_free(UseSource *s);
extern const UseConfig *use_source_config(const UseSource *s);

/* Vocabulary piece i (UTF-8, not NUL-terminated, *len bytes) and its score; NULL if out of range */
extern const char *use_source_piece(const UseSource *s, int32_t i, size_t *len, double *score);

/* Check a configuration's sizes and limits (use_weights_size and use_bind do) */
extern PgiStatus use_config_check(const UseConfig *c, PgiError *err);

/* Bytes of the prepared section for c (a multiple of 64) */
extern PgiStatus use_weights_size(const UseConfig *c, GemmFormat fmt, uint64_t *bytes,
								  PgiError *err);

/* Write the prepared section into dst (64-byte aligned, dst_len >= use_weights_size) */
extern PgiStatus use_pack(const UseSource *s, GemmFormat fmt, uint8_t *dst, uint64_t dst_len,
						  PgiError *err);

/*
 * Point w's fields into section (64-byte aligned, as use_pack wrote it for
 * the same config); checks the header, the size and the vocabulary offsets.
 */
extern PgiStatus use_bind(const UseConfig *c, GemmFormat fmt, const uint8_t *section, uint64_t len,
						  UseWeights *w, PgiError *err);

/* The tokenizer (ids 0..5 reserved) over a bound section's vocabulary */
extern PgiStatus use_tokenizer_from_weights(const UseConfig *c, const UseWeights *w,
											TokNfkcFn nfkc, void *nfkc_arg,
											TokUnigram **out, PgiError *err);

/* The same over a loaded source's vocabulary */
extern PgiStatus use_tokenizer_from_source(const UseSource *s, TokNfkcFn nfkc,
										   void *nfkc_arg, TokUnigram **out,
										   PgiError *err);

#endif							/* USE_LOAD_H */
