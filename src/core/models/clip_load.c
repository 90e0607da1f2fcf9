/*-------------------------------------------------------------------------
 *
 * clip_load.c
 *	  CLIP configuration, preprocessing and tensors from a Hugging Face
 *	  directory (see clip_load.h).
 *
 * One walk (clip_walk) lists every tensor in the weights section's order
 * with its source names, expected shape, stored size and the field of
 * ClipWeights it binds to; sizing, checking, packing and binding are
 * visitors of that walk, so the four can never disagree on the layout.
 *
 * src/core/models/clip_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/clip_load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/kernels/gemm.h"
#include "core/kernels/quant.h"

/* ------------------------------------------------------------ config.json */

/* Integer member, dflt when absent or null, -2 when not an integer */
static int64_t
get_int(const JsonValue *o, const char *k, int64_t dflt)
{
	const JsonValue *v = o ? json_get(o, k) : NULL;
	int64_t		i;

	if (v == NULL || json_type(v) == JSON_NULL)
		return dflt;
	return json_int(v, &i) ? i : -2;
}

static double
get_num(const JsonValue *o, const char *k, double dflt)
{
	const JsonValue *v = o ? json_get(o, k) : NULL;
	double		d;

	if (v == NULL || json_type(v) == JSON_NULL)
		return dflt;
	return json_num(v, &d) ? d : NAN;
}

static PgiStatus
get_act(const JsonValue *o, int32_t *act, PgiError *err)
{
	const JsonValue *v = o ? json_get(o, "hidden_act") : NULL;
	size_t		l;
	const char *s = v ? json_str(v, &l) : "quick_gelu";

	if (s && strcmp(s, "quick_gelu") == 0)
		*act = CLIP_ACT_QUICK_GELU;
	else if (s && strcmp(s, "gelu") == 0)
		*act = CLIP_ACT_GELU;
	else
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Supported: quick_gelu and gelu.",
						 "unsupported CLIP hidden_act \"%s\"", s ? s : "?");
	return PGI_OK;
}

/* A tower's common keys, over transformers' defaults for its class */
static PgiStatus
tower_from(const JsonValue *o, int vision, ClipTowerConfig *t, PgiError *err)
{
	t->n_layers = (int32_t) get_int(o, "num_hidden_layers", 12);
	t->hidden = (int32_t) get_int(o, "hidden_size", vision ? 768 : 512);
	t->n_heads = (int32_t) get_int(o, "num_attention_heads", vision ? 12 : 8);
	t->ffn = (int32_t) get_int(o, "intermediate_size", vision ? 3072 : 2048);
	t->ln_eps = (float) get_num(o, "layer_norm_eps", 1e-5);
	if (vision)
	{
		t->image_size = (int32_t) get_int(o, "image_size", 224);
		t->patch_size = (int32_t) get_int(o, "patch_size", 32);
		if (get_int(o, "num_channels", 3) != 3)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "only 3-channel (RGB) vision towers are supported");
	}
	else
	{
		int64_t		eos = get_int(o, "eos_token_id", 49407);

		t->vocab = (int32_t) get_int(o, "vocab_size", 49408);
		t->max_pos = (int32_t) get_int(o, "max_position_embeddings", 77);
		t->eos_id = (int32_t) eos;
		t->pool_argmax = eos == 2;	/* transformers' legacy rule */
	}
	return get_act(o, &t->act, err);
}

/* CLIPImageProcessor settings */
static PgiStatus
image_from(const JsonValue *o, const ClipTowerConfig *v, ImagePrep *p, PgiError *err)
{
	const JsonValue *size = json_get(o, "size");
	const JsonValue *crop = json_get(o, "crop_size");
	const JsonValue *mean = json_get(o, "image_mean");
	const JsonValue *std = json_get(o, "image_std");
	bool		b;
	const JsonValue *x;

	memset(p, 0, sizeof(*p));
	p->do_resize = !(x = json_get(o, "do_resize")) || !json_bool(x, &b) || b;
	p->do_center_crop = !(x = json_get(o, "do_center_crop")) || !json_bool(x, &b) || b;
	p->do_rescale = !(x = json_get(o, "do_rescale")) || !json_bool(x, &b) || b;
	p->do_normalize = !(x = json_get(o, "do_normalize")) || !json_bool(x, &b) || b;
	if ((x = json_get(o, "do_convert_rgb")) && json_bool(x, &b) && !b)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "preprocessor: do_convert_rgb false is not supported");
	/* size: {"shortest_edge": n}, or a bare integer (older files) */
	p->shortest_edge = (int32_t) (size && json_type(size) == JSON_OBJECT ?
								  get_int(size, "shortest_edge", -1) : get_int(o, "size", v->image_size));
	if (size && json_type(size) == JSON_OBJECT && json_get(size, "shortest_edge") == NULL)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "preprocessor: size must give shortest_edge");
	p->resample = (int32_t) get_int(o, "resample", IMAGE_BICUBIC);
	if (crop && json_type(crop) == JSON_OBJECT)
	{
		p->crop_height = (int32_t) get_int(crop, "height", -1);
		p->crop_width = (int32_t) get_int(crop, "width", -1);
	}
	else
		p->crop_height = p->crop_width = (int32_t) get_int(o, "crop_size", v->image_size);
	p->rescale_factor = get_num(o, "rescale_factor", 1 / 255.0);
	for (int i = 0; i < 3; i++)
	{
		static const float dmean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
		static const float dstd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
		double		d;

		p->mean[i] = dmean[i];
		p->std[i] = dstd[i];
		if (mean && json_size(mean) == 3 && json_num(json_at(mean, i), &d))
			p->mean[i] = (float) d;
		else if (mean)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "preprocessor: image_mean must hold 3 numbers");
		if (std && json_size(std) == 3 && json_num(json_at(std, i), &d))
			p->std[i] = (float) d;
		else if (std)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "preprocessor: image_std must hold 3 numbers");
	}
	p->out_height = p->out_width = v->image_size;
	return image_prep_check(p, err);
}

/* The "pg_infer" object of a vision-only model: its text model */
static PgiStatus
text_model_from(const JsonValue *root, ClipPrep *out, PgiError *err)
{
	const JsonValue *o = json_get(root, "pg_infer");
	const JsonValue *v;
	size_t		l;
	const char *s;

	if (o == NULL)
		return PGI_OK;
	if (json_type(o) != JSON_OBJECT)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: pg_infer must be an object");
	if ((v = json_get(o, "text_model")) != NULL)
	{
		if ((s = json_str(v, &l)) == NULL || l == 0 || l >= sizeof(out->text_model))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: pg_infer.text_model must be a model name");
		memcpy(out->text_model, s, l);
	}
	if ((v = json_get(o, "text_model_sha256")) != NULL)
	{
		if ((s = json_str(v, &l)) == NULL || l != 64)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: pg_infer.text_model_sha256 must be 64 hex digits");
		memcpy(out->text_sha256, s, l);
	}
	return PGI_OK;
}

static PgiStatus
parse_object(const char *text, size_t len, const char *what, JsonDoc **doc, PgiError *err)
{
	PgiStatus	st = json_parse(text, len, doc, err);

	if (st != PGI_OK)
		return pgi_error(err, st, NULL, "%s is not valid JSON: %s", what, err ? err->msg : "");
	if (json_type(json_root(*doc)) != JSON_OBJECT)
	{
		json_free(*doc);
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "%s is not a JSON object", what);
	}
	return PGI_OK;
}

PgiStatus
clip_prep_hf(const char *config, size_t config_len, const char *preproc, size_t preproc_len,
			 ClipPrep *out, PgiError *err)
{
	JsonDoc    *doc,
			   *pdoc = NULL;
	const JsonValue *root;
	const JsonValue *v;
	size_t		l;
	const char *type;
	PgiStatus	st;

	memset(out, 0, sizeof(*out));
	if ((st = parse_object(config, config_len, "config.json", &doc, err)) != PGI_OK)
		return st;
	root = json_root(doc);
	type = (v = json_get(root, "model_type")) ? json_str(v, &l) : NULL;
	if (type && strcmp(type, "clip") == 0)
	{
		const JsonValue *tc = json_get(root, "text_config");
		const JsonValue *vc = json_get(root, "vision_config");

		out->config.has_text = out->config.has_vision = 1;
		out->config.proj_dim = (int32_t) get_int(root, "projection_dim", 512);
		out->config.logit_scale = (float) get_num(root, "logit_scale_init_value", 2.6592);
		if ((st = tower_from(tc, 0, &out->config.text, err)) != PGI_OK ||
			(st = tower_from(vc, 1, &out->config.vision, err)) != PGI_OK)
			goto done;
	}
	else if (type && strcmp(type, "clip_vision_model") == 0)
	{
		out->config.has_vision = 1;
		out->config.proj_dim = (int32_t) get_int(root, "projection_dim", 512);
		if ((st = tower_from(root, 1, &out->config.vision, err)) != PGI_OK ||
			(st = text_model_from(root, out, err)) != PGI_OK)
			goto done;
	}
	else
	{
		st = pgi_error(err, PGI_ERR_UNSUPPORTED, "Supported: \"clip\" (CLIPModel) and \"clip_vision_model\" (CLIPVisionModelWithProjection).",
					   "unsupported CLIP model_type \"%s\"", type ? type : "(none)");
		goto done;
	}
	if ((st = clip_config_check(&out->config, err)) != PGI_OK)
		goto done;
	if (out->config.has_vision)
	{
		if (preproc == NULL)
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, "A model with a vision tower needs preprocessor_config.json.",
						   "model directory has no preprocessor_config.json");
			goto done;
		}
		if ((st = parse_object(preproc, preproc_len, "preprocessor_config.json", &pdoc, err)) != PGI_OK)
			goto done;
		st = image_from(json_root(pdoc), &out->config.vision, &out->image, err);
		json_free(pdoc);
	}
done:
	json_free(doc);
	return st;
}

/* ------------------------------------------------------------ the walk */

typedef struct Spec
{
	char		names[3][192];
	int			n_names;
	int			n_dims;			/* of each source tensor (0: a scalar) */
	int64_t		dims[4];
	int64_t		rows;			/* stored (n_names sources stacked) */
	int64_t		cols;
	int			packed;
	const float **field;
} Spec;

typedef PgiStatus (*VisitFn) (void *arg, const Spec *s, PgiError *err);

/* Bytes a spec takes in the section, 64-byte aligned */
static uint64_t
spec_bytes(const Spec *s)
{
	uint64_t	f = s->packed ? (uint64_t) gemm_packed_floats(s->rows, s->cols) :
		(uint64_t) (s->rows * s->cols);

	return (f * 4 + 63) & ~(uint64_t) 63;
}

/* A spec of one source tensor of the given dims, stored (rows, cols) */
static Spec
one(const char *name, int n_dims, int64_t d0, int64_t d1, int packed, const float **field)
{
	Spec		s = {0};

	snprintf(s.names[0], sizeof(s.names[0]), "%s", name);
	s.n_names = 1;
	s.n_dims = n_dims;
	s.dims[0] = d0;
	s.dims[1] = d1;
	s.rows = n_dims == 2 ? d0 : 1;
	s.cols = n_dims == 2 ? d1 : d0;
	s.packed = packed;
	s.field = field;
	return s;
}

#define VISIT(spec) do { Spec s_ = (spec); if ((st = fn(arg, &s_, err)) != PGI_OK) return st; } while (0)

/* The blocks of a tower under prefix ("vision_model." / "text_model.") */
static PgiStatus
walk_layers(const ClipTowerConfig *t, const char *prefix, ClipLayer *layers, VisitFn fn,
			void *arg, PgiError *err)
{
	int64_t		h = t->hidden,
				f = t->ffn;
	PgiStatus	st;

	for (int l = 0; l < t->n_layers; l++)
	{
		ClipLayer  *L = layers ? &layers[l] : NULL;
		char		p[96];
		char		n[160];
		Spec		qkv = {0},
					qkvb = {0};
		static const char *const qkv_names[3] = {"q_proj", "k_proj", "v_proj"};

#define F(field) (L ? &L->field : NULL)
#define N(leaf) (snprintf(n, sizeof(n), "%s%s", p, leaf), n)
		snprintf(p, sizeof(p), "%sencoder.layers.%d.", prefix, l);
		VISIT(one(N("layer_norm1.weight"), 1, h, 0, 0, F(ln1_w)));
		VISIT(one(N("layer_norm1.bias"), 1, h, 0, 0, F(ln1_b)));
		for (int i = 0; i < 3; i++)
		{
			snprintf(qkv.names[i], sizeof(qkv.names[i]), "%sself_attn.%s.weight", p, qkv_names[i]);
			snprintf(qkvb.names[i], sizeof(qkvb.names[i]), "%sself_attn.%s.bias", p, qkv_names[i]);
		}
		qkv.n_names = qkvb.n_names = 3;
		qkv.n_dims = 2;
		qkv.dims[0] = qkv.dims[1] = h;
		qkv.rows = 3 * h;
		qkv.cols = h;
		qkv.packed = 1;
		qkv.field = F(qkv_w);
		qkvb.n_dims = 1;
		qkvb.dims[0] = h;
		qkvb.rows = 1;
		qkvb.cols = 3 * h;
		qkvb.field = F(qkv_b);
		VISIT(qkv);
		VISIT(qkvb);
		VISIT(one(N("self_attn.out_proj.weight"), 2, h, h, 1, F(out_w)));
		VISIT(one(N("self_attn.out_proj.bias"), 1, h, 0, 0, F(out_b)));
		VISIT(one(N("layer_norm2.weight"), 1, h, 0, 0, F(ln2_w)));
		VISIT(one(N("layer_norm2.bias"), 1, h, 0, 0, F(ln2_b)));
		VISIT(one(N("mlp.fc1.weight"), 2, f, h, 1, F(fc1_w)));
		VISIT(one(N("mlp.fc1.bias"), 1, f, 0, 0, F(fc1_b)));
		VISIT(one(N("mlp.fc2.weight"), 2, h, f, 1, F(fc2_w)));
		VISIT(one(N("mlp.fc2.bias"), 1, h, 0, 0, F(fc2_b)));
#undef F
#undef N
	}
	return PGI_OK;
}

/* Every tensor of the model in section order (w NULL: fields not wanted) */
static PgiStatus
clip_walk(const ClipConfig *c, ClipWeights *w, VisitFn fn, void *arg, PgiError *err)
{
	PgiStatus	st;
	ClipVisionWeights *vw = w ? &w->vision : NULL;
	ClipTextWeights *tw = w ? &w->text : NULL;

	if (c->has_vision)
	{
		const ClipTowerConfig *v = &c->vision;
		int64_t		h = v->hidden,
					P = v->patch_size;
		Spec		patch = one("vision_model.embeddings.patch_embedding.weight", 2, h, 3 * P * P, 1,
								vw ? &vw->patch_w : NULL);

		/* a Conv2d weight (h, 3, P, P), stored as the (h, 3*P*P) matrix */
		patch.n_dims = 4;
		patch.dims[1] = 3;
		patch.dims[2] = patch.dims[3] = P;
		VISIT(patch);
		VISIT(one("vision_model.embeddings.class_embedding", 1, h, 0, 0, vw ? &vw->class_embd : NULL));
		VISIT(one("vision_model.embeddings.position_embedding.weight", 2, clip_vision_tokens(v), h, 0,
				  vw ? &vw->pos_embd : NULL));
		VISIT(one("vision_model.pre_layrnorm.weight", 1, h, 0, 0, vw ? &vw->pre_ln_w : NULL));
		VISIT(one("vision_model.pre_layrnorm.bias", 1, h, 0, 0, vw ? &vw->pre_ln_b : NULL));
		if ((st = walk_layers(v, "vision_model.", vw ? vw->layers : NULL, fn, arg, err)) != PGI_OK)
			return st;
		VISIT(one("vision_model.post_layernorm.weight", 1, h, 0, 0, vw ? &vw->post_ln_w : NULL));
		VISIT(one("vision_model.post_layernorm.bias", 1, h, 0, 0, vw ? &vw->post_ln_b : NULL));
		VISIT(one("visual_projection.weight", 2, c->proj_dim, h, 1, vw ? &vw->proj : NULL));
	}
	if (c->has_text)
	{
		const ClipTowerConfig *t = &c->text;
		int64_t		h = t->hidden;

		VISIT(one("text_model.embeddings.token_embedding.weight", 2, t->vocab, h, 0,
				  tw ? &tw->tok_embd : NULL));
		VISIT(one("text_model.embeddings.position_embedding.weight", 2, t->max_pos, h, 0,
				  tw ? &tw->pos_embd : NULL));
		if ((st = walk_layers(t, "text_model.", tw ? tw->layers : NULL, fn, arg, err)) != PGI_OK)
			return st;
		VISIT(one("text_model.final_layer_norm.weight", 1, h, 0, 0, tw ? &tw->final_ln_w : NULL));
		VISIT(one("text_model.final_layer_norm.bias", 1, h, 0, 0, tw ? &tw->final_ln_b : NULL));
		VISIT(one("text_projection.weight", 2, c->proj_dim, h, 1, tw ? &tw->proj : NULL));
	}
	return PGI_OK;
}

/* ------------------------------------------------------------ visitors */

static PgiStatus
visit_size(void *arg, const Spec *s, PgiError *err)
{
	*(uint64_t *) arg += spec_bytes(s);
	(void) err;
	return PGI_OK;
}

PgiStatus
clip_weights_size(const ClipConfig *c, uint64_t *bytes, PgiError *err)
{
	PgiStatus	st = clip_config_check(c, err);

	*bytes = 0;
	if (st != PGI_OK)
		return st;
	return clip_walk(c, NULL, visit_size, bytes, err);
}

typedef struct FindArg
{
	PgimFindFn	find;
	void	   *arg;
} FindArg;

/* Source tensor name, found, with the spec's shape and a readable type */
static PgiStatus
find_checked(const FindArg *fa, const Spec *s, const char *name, PgimTensor *t, PgiError *err)
{
	int			found = 0;
	int			ok;
	PgiStatus	st = fa->find(fa->arg, name, t, &found, err);
	const GgmlTypeInfo *ti;

	if (st != PGI_OK)
		return st;
	if (!found)
		return pgi_error(err, PGI_ERR_CORRUPT, "Every tensor of the architecture must be present.",
						 "model has no tensor \"%s\"", name);
	ok = t->n_dims == s->n_dims;
	for (int d = 0; ok && d < s->n_dims; d++)
		ok = t->shape[d] == s->dims[d];
	if (!ok)
	{
		char		want[96] = "";

		for (int d = 0; d < s->n_dims; d++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%lld", d ? ", " : "",
					 (long long) s->dims[d]);
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tensor \"%s\" should have shape (%s), not %d-D",
						 name, want, t->n_dims);
	}
	ti = quant_type_info(t->type);
	if (ti == NULL || !ti->dequant)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "tensor \"%s\" has type %s, which pg_infer does not read",
						 name, quant_type_name(t->type));
	return PGI_OK;
}

static PgiStatus
visit_check(void *arg, const Spec *s, PgiError *err)
{
	PgimTensor	t;
	PgiStatus	st;

	for (int i = 0; i < s->n_names; i++)
		if ((st = find_checked(arg, s, s->names[i], &t, err)) != PGI_OK)
			return st;
	return PGI_OK;
}

PgiStatus
clip_check(const ClipConfig *c, PgimFindFn find, void *find_arg, PgiError *err)
{
	FindArg		fa = {find, find_arg};
	PgiStatus	st = clip_config_check(c, err);

	if (st != PGI_OK)
		return st;
	return clip_walk(c, NULL, visit_check, &fa, err);
}

typedef struct PackArg
{
	FindArg		fa;
	uint8_t    *dst;
	uint64_t	len;
	uint64_t	off;
} PackArg;

static PgiStatus
visit_pack(void *arg, const Spec *s, PgiError *err)
{
	PackArg    *pa = arg;
	uint64_t	bytes = spec_bytes(s);
	size_t		each = (size_t) (s->rows * s->cols / s->n_names);
	float	   *slot = (float *) (pa->dst + pa->off);
	float	   *rm = slot;
	PgiStatus	st = PGI_OK;

	if (pa->off + bytes > pa->len)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer is too small");
	/* a packed matrix is read row-major first, then packed */
	if (s->packed && (rm = malloc(sizeof(float) * (size_t) (s->rows * s->cols))) == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory preparing model weights");
	for (int i = 0; i < s->n_names && st == PGI_OK; i++)
	{
		PgimTensor	t;

		if ((st = find_checked(&pa->fa, s, s->names[i], &t, err)) != PGI_OK)
			break;
		if ((st = quant_dequantize(t.type, t.data, each, rm + i * each, err)) != PGI_OK)
			break;
		for (size_t j = 0; j < each; j++)
			if (!isfinite(rm[i * each + j]))
			{
				st = pgi_error(err, PGI_ERR_CORRUPT, NULL, "tensor \"%s\" holds a NaN or infinite value",
							   s->names[i]);
				break;
			}
	}
	if (st == PGI_OK && s->packed)
		gemm_pack(rm, s->rows, s->cols, slot);
	if (rm != slot)
		free(rm);
	pa->off += bytes;
	return st;
}

PgiStatus
clip_pack(const ClipConfig *c, PgimFindFn find, void *find_arg, uint8_t *dst, uint64_t len,
		  float *logit_scale, PgiError *err)
{
	PackArg		pa = {{find, find_arg}, dst, len, 0};
	uint64_t	want;
	PgimTensor	t;
	int			found = 0;
	PgiStatus	st;

	if ((st = clip_weights_size(c, &want, err)) != PGI_OK)
		return st;
	if (want != len)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer has the wrong size");
	memset(dst, 0, len);
	if ((st = clip_walk(c, NULL, visit_pack, &pa, err)) != PGI_OK)
		return st;
	if ((st = find(find_arg, "logit_scale", &t, &found, err)) != PGI_OK)
		return st;
	if (found)
	{
		float		v;

		if ((t.n_dims != 0 && !(t.n_dims == 1 && t.shape[0] == 1)) ||
			quant_dequantize(t.type, t.data, 1, &v, err) != PGI_OK || !isfinite(v) || fabsf(v) > 100)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tensor \"logit_scale\" must be one finite number");
		*logit_scale = v;
	}
	return PGI_OK;
}

typedef struct BindArg
{
	const uint8_t *base;
	uint64_t	len;
	uint64_t	off;
} BindArg;

static PgiStatus
visit_bind(void *arg, const Spec *s, PgiError *err)
{
	BindArg    *ba = arg;
	uint64_t	bytes = spec_bytes(s);

	if (ba->off + bytes > ba->len)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model weights are truncated");
	*s->field = (const float *) (ba->base + ba->off);
	ba->off += bytes;
	return PGI_OK;
}

PgiStatus
clip_bind(const ClipConfig *c, const uint8_t *base, uint64_t len, ClipWeights *w, PgiError *err)
{
	BindArg		ba = {base, len, 0};
	PgiStatus	st;

	memset(w, 0, sizeof(*w));
	if ((st = clip_config_check(c, err)) != PGI_OK ||
		(st = clip_walk(c, w, visit_bind, &ba, err)) != PGI_OK)
		return st;
	if (ba.off != len)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model weights have the wrong size");
	return PGI_OK;
}
