/*-------------------------------------------------------------------------
 *
 * clip_load.h
 *	  Read a CLIP model's configuration, image preprocessing and tensors
 *	  from a Hugging Face directory, and lay its weights out for clip.h.
 *
 * config.json: model_type "clip" (CLIPModel: text_config, vision_config,
 * projection_dim; sub-config keys that are absent take transformers'
 * defaults), or "clip_vision_model" (CLIPVisionModelWithProjection: the
 * vision tower and visual_projection only).  A vision-only model may name
 * the model that embeds its text in a "pg_infer" object:
 *	"pg_infer": {"text_model": "use-lite", "text_model_sha256": "..."}
 * (embed(model, text) then runs that model, refusing when its sha256 is
 * not the one the image tower was trained against).
 * preprocessor_config.json: CLIPImageProcessor's settings (image.h).
 *
 * Weights section: the tensors in clip_walk's fixed order, each float32,
 * 64-byte aligned, linear weights packed (gemm.h); q, k and v of each
 * layer stacked into one (3h, h) matrix and one (3h) bias.
 *
 * src/core/models/clip_load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIP_LOAD_H
#define CLIP_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/models/clip.h"
#include "core/models/source_tensor.h"
#include "core/pgi_status.h"

/* Settings from config.json and preprocessor_config.json (required when there is a vision tower) */
extern PgiStatus clip_prep_hf(const char *config, size_t config_len, const char *preproc,
							  size_t preproc_len, ClipPrep *out, PgiError *err);

/* Bytes of the weights section */
extern PgiStatus clip_weights_size(const ClipConfig *c, uint64_t *bytes, PgiError *err);

/* Check every tensor's presence, shape and type (registration) */
extern PgiStatus clip_check(const ClipConfig *c, PgimFindFn find, void *find_arg, PgiError *err);

/*
 * Fill dst (clip_weights_size bytes) from the source: converted to float32,
 * checked finite, packed; cancel as in llama_pack.  *logit_scale from the
 * source's logit_scale tensor when it has one (else left alone).
 */
extern PgiStatus clip_pack(const ClipConfig *c, PgimFindFn find, void *find_arg, uint8_t *dst,
						   uint64_t len, float *logit_scale, PgiError *err);

/* Point w's fields into a weights section of len bytes */
extern PgiStatus clip_bind(const ClipConfig *c, const uint8_t *base, uint64_t len,
						   ClipWeights *w, PgiError *err);

#endif							/* CLIP_LOAD_H */
