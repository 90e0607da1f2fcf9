/*
 * test_clip.c
 *	  Unit tests of the CLIP towers and loader (src/core/models/clip*.c)
 *	  with image input (src/core/images).
 *
 * Reference, not our C code: build/clip_fixture, written by
 * test/models/gen_clip.py: random-weight CLIP models in Hugging Face's
 * layout with float64 NumPy forward passes of both towers (transformers'
 * modeling_clip, step by step) on Pillow-decoded, CLIPImageProcessor-
 * preprocessed images.  Checked here:
 *	- every image, decoded and preprocessed by us, embeds within 1e-4 of the
 *	  reference (full CLIPModel, F32; vision-only model, F16 weights, gelu);
 *	- every id sequence's text embedding within 1e-4, by the first-EOS rule
 *	  and by transformers' legacy argmax rule;
 *	- a batch gives the embeddings of its members run alone;
 *	- logit_scale is read from its tensor; the text model link is read;
 *	- a truncated prepared file, a missing tensor or a wrong shape is refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/formats/safetensors.h"
#include "core/images/image.h"
#include "core/models/bert_load.h"
#include "core/models/clip_load.h"
#include "core/models/pgim.h"
#include "unit.h"

#include <cblas.h>

static const char *fixture = "build/clip_fixture";

static void
sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
	  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm((enum CBLAS_ORDER) order, (enum CBLAS_TRANSPOSE) ta,
				(enum CBLAS_TRANSPOSE) tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static BertRuntime rt = {sgemm, NULL, NULL, 0, {0}, NULL};

static char *
fx(const char *name, size_t *len)
{
	char		path[512];

	snprintf(path, sizeof(path), "%s/%s", fixture, name);
	return (char *) read_file(path, len);
}

/* Held files of a built model */
typedef struct Built
{
	uint8_t    *buf;
	uint64_t	size;
	PgimModel	pm;
	ClipPrep	prep;
} Built;

/* Build a prepared CLIP file in memory from fixture dir; false on failure (status in *st) */
static int
build(const char *dir, Built *b, PgiStatus *st_out, char *msg)
{
	char		name[256];
	size_t		clen,
				plen,
				wlen;
	char	   *cfg,
			   *pp;
	uint8_t    *w;
	SafetensorsFile *files[1];
	BertStSet	set = {files, 0};
	PgiError	err = {0};
	PgiStatus	st;
	PgimMeta	meta = {0};

	snprintf(name, sizeof(name), "%s/config.json", dir);
	cfg = fx(name, &clen);
	snprintf(name, sizeof(name), "%s/preprocessor_config.json", dir);
	pp = fx(name, &plen);
	snprintf(name, sizeof(name), "%s/model.safetensors", dir);
	w = (uint8_t *) fx(name, &wlen);
	memset(b, 0, sizeof(*b));
	st = clip_prep_hf(cfg, clen, pp, plen, &b->prep, &err);
	if (st == PGI_OK)
		st = safetensors_open(w, wlen, &files[0], &err);
	if (st == PGI_OK)
	{
		set.n = 1;
		st = clip_check(&b->prep.config, bert_find_safetensors, &set, &err);
	}
	meta.bos_id = meta.eos_id = -1;
	meta.max_tokens = 16;
	if (st == PGI_OK && (st = pgim_clip_file_size(&b->prep.config, 0, &b->size, &err)) == PGI_OK)
	{
		b->buf = malloc(b->size);
		st = pgim_build_clip(b->buf, b->size, &b->prep, &meta, bert_find_safetensors, &set,
							 NULL, 0, "sha", &err);
		if (st == PGI_OK)
			st = pgim_open(b->buf, b->size, &b->pm, &err);
	}
	if (set.n)
		safetensors_free(files[0]);
	free(cfg);
	free(pp);
	free(w);
	*st_out = st;
	snprintf(msg, 256, "%s", err.msg);
	return st == PGI_OK;
}

/* Decode and preprocess image file into pixels (3, S, S) */
static int
pixels_of(const char *file, const ImagePrep *p, float *px)
{
	char		name[256];
	size_t		len;
	uint8_t    *data;
	ImageInfo	info;
	PgiError	err = {0};
	uint8_t    *rgb = NULL,
			   *scratch = NULL;
	int			ok;

	snprintf(name, sizeof(name), "images/%s", file);
	data = (uint8_t *) fx(name, &len);
	ok = data && image_probe(data, len, 1 << 24, &info, &err) == PGI_OK;
	if (ok)
	{
		rgb = malloc((size_t) info.width * info.height * 3);
		scratch = malloc(image_prep_scratch_bytes(p, info.width, info.height));
		ok = image_decode(data, len, &info, rgb, NULL, NULL, &err) == PGI_OK &&
			image_preprocess(p, rgb, info.width, info.height, scratch, px, &err) == PGI_OK;
	}
	CHECK(ok, "%s: %s", file, err.msg);
	free(rgb);
	free(scratch);
	free(data);
	return ok;
}

static double
max_diff(const float *a, const JsonValue *ref, int n)
{
	double		worst = json_size(ref) == (size_t) n ? 0 : INFINITY;

	for (int i = 0; i < n && worst < INFINITY; i++)
	{
		double		r;

		json_num(json_at(ref, i), &r);
		worst = fmax(worst, fabs(a[i] - r));
	}
	return worst;
}

/* Every image alone and all in one batch against the reference */
static void
check_images(const char *model, Built *b, const JsonValue *files, const JsonValue *ref)
{
	const ClipConfig *c = &b->pm.clip.config;
	int			S = c->vision.image_size;
	size_t		plane = (size_t) 3 * S * S;
	int			n = (int) json_size(files);
	float	   *px = malloc(sizeof(float) * plane * n);
	float	   *out = malloc(sizeof(float) * c->proj_dim * n);
	float	   *one = malloc(sizeof(float) * c->proj_dim);
	float	   *scratch = malloc(sizeof(float) * clip_vision_scratch_floats(c, n));
	PgiError	err = {0};
	double		batch_diff = 0;

	for (int i = 0; i < n; i++)
	{
		size_t		l;
		const char *file = json_str(json_at(files, i), &l);
		double		d;

		if (!pixels_of(file, &b->pm.clip.image, px + plane * i))
			continue;
		CHECK(clip_vision_forward(c, &b->pm.clip_weights.vision, &rt, px + plane * i, 1, scratch, one,
								  &err) == PGI_OK, "%s: %s", model, err.msg);
		d = max_diff(one, json_at(ref, i), c->proj_dim);
		CHECK(d <= 1e-4, "%s image %s: max |diff| %.3g against the float64 reference", model, file, d);
		memcpy(out + (size_t) i * c->proj_dim, one, sizeof(float) * c->proj_dim);
	}
	CHECK(clip_vision_forward(c, &b->pm.clip_weights.vision, &rt, px, n, scratch, out,
							  &err) == PGI_OK, "%s batch: %s", model, err.msg);
	for (int i = 0; i < n; i++)
		batch_diff = fmax(batch_diff, max_diff(out + (size_t) i * c->proj_dim, json_at(ref, i), c->proj_dim));
	CHECK(batch_diff <= 1e-4, "%s: batch of %d images differs by %.3g", model, n, batch_diff);
	printf("%s: %d images within %.2g of the reference (batched)\n", model, n, batch_diff);
	free(px);
	free(out);
	free(one);
	free(scratch);
}

static void
check_texts(Built *b, const JsonValue *texts)
{
	ClipConfig	c = b->pm.clip.config;
	int			n = (int) json_size(texts);
	float	   *out = malloc(sizeof(float) * c.proj_dim * n);
	float	   *scratch = malloc(sizeof(float) * clip_text_scratch_floats(&c, 16 * n, 16));
	int32_t		ids[256],
				lens[16];
	int			total = 0;
	PgiError	err = {0};

	for (int i = 0; i < n; i++)
	{
		const JsonValue *t = json_get(json_at(texts, i), "ids");

		lens[i] = (int32_t) json_size(t);
		for (size_t k = 0; k < json_size(t); k++)
		{
			int64_t		v;

			json_int(json_at(t, k), &v);
			ids[total++] = (int32_t) v;
		}
	}
	for (int rule = 0; rule < 2; rule++)
	{
		double		worst = 0;

		c.text.pool_argmax = rule;
		CHECK(clip_text_forward(&c, &b->pm.clip_weights.text, &rt, ids, lens, n, scratch, out, &err) == PGI_OK,
			  "text: %s", err.msg);
		for (int i = 0; i < n; i++)
			worst = fmax(worst, max_diff(out + (size_t) i * c.proj_dim,
										 json_get(json_at(texts, i), rule ? "argmax" : "eos"), c.proj_dim));
		CHECK(worst <= 1e-4, "text (%s rule): max |diff| %.3g", rule ? "argmax" : "eos", worst);
		printf("clip text (%s rule): %d sequences within %.2g\n", rule ? "argmax" : "first EOS", n, worst);
	}
	ids[0] = c.text.vocab;
	CHECK(clip_text_forward(&c, &b->pm.clip_weights.text, &rt, ids, lens, 1, scratch, out, &err) == PGI_ERR_DATA,
		  "an id outside the vocabulary is refused");
	free(out);
	free(scratch);
}

/* A copy of the fixture's safetensors with one tensor renamed or reshaped */
static void
check_hostile(Built *b)
{
	PgimModel	pm;
	PgiError	err = {0};

	CHECK(pgim_open(b->buf, b->size - 64, &pm, &err) == PGI_ERR_CORRUPT, "truncated prepared file");
	b->buf[offsetof(PgimHeader, clip) + offsetof(ClipPrep, config) + offsetof(ClipConfig, vision) + offsetof(ClipTowerConfig, n_layers)] ^= 1;
	CHECK(pgim_open(b->buf, b->size, &pm, &err) != PGI_OK, "a changed layer count is refused");
	b->buf[offsetof(PgimHeader, clip) + offsetof(ClipPrep, config) + offsetof(ClipConfig, vision) + offsetof(ClipTowerConfig, n_layers)] ^= 1;
	CHECK(pgim_open(b->buf, b->size, &pm, &err) == PGI_OK, "restored: %s", err.msg);
}

static void
check_config_errors(void)
{
	ClipPrep	p;
	PgiError	err = {0};
	const char *bad_type = "{\"model_type\": \"siglip\"}";
	const char *no_pre = "{\"model_type\": \"clip_vision_model\", \"hidden_size\": 8, \"num_attention_heads\": 2, "
		"\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"image_size\": 8, \"patch_size\": 4}";
	const char *bad_patch = "{\"model_type\": \"clip_vision_model\", \"image_size\": 30, \"patch_size\": 7}";
	const char *pre_crop = "{\"size\": {\"shortest_edge\": 8}, \"crop_size\": {\"height\": 9, \"width\": 9}}";
	const char *bad_act = "{\"model_type\": \"clip_vision_model\", \"hidden_act\": \"relu\"}";

	CHECK(clip_prep_hf(bad_type, strlen(bad_type), NULL, 0, &p, &err) == PGI_ERR_UNSUPPORTED, "siglip refused");
	CHECK(clip_prep_hf(no_pre, strlen(no_pre), NULL, 0, &p, &err) == PGI_ERR_CORRUPT,
		  "vision without preprocessor_config.json");
	CHECK(clip_prep_hf(bad_patch, strlen(bad_patch), "{}", 2, &p, &err) == PGI_ERR_UNSUPPORTED,
		  "image size not a multiple of the patch");
	CHECK(clip_prep_hf(no_pre, strlen(no_pre), pre_crop, strlen(pre_crop), &p, &err) != PGI_OK,
		  "crop differing from the model's size");
	CHECK(clip_prep_hf(bad_act, strlen(bad_act), "{}", 2, &p, &err) == PGI_ERR_UNSUPPORTED, "relu refused");
}

int
main(void)
{
	size_t		len;
	char	   *text = fx("reference.json", &len);
	JsonDoc    *doc;
	PgiError	err = {0};
	Built		full,
				vis,
				bad;
	PgiStatus	st;
	char		msg[256];
	const JsonValue *root;

	if (text == NULL)
	{
		printf("unit test_clip: no %s/reference.json (run test/models/gen_clip.py)\n", fixture);
		return 1;
	}
	if (json_parse(text, len, &doc, &err) != PGI_OK)
		return 1;
	root = json_root(doc);
	if (build("clip", &full, &st, msg))
	{
		double		ls;

		json_num(json_get(json_get(root, "clip"), "logit_scale"), &ls);
		CHECK(fabs(full.pm.clip.config.logit_scale - ls) < 1e-6, "logit_scale %g", full.pm.clip.config.logit_scale);
		check_images("clip", &full, json_get(root, "images"), json_get(json_get(root, "clip"), "images"));
		check_texts(&full, json_get(json_get(root, "clip"), "texts"));
		check_hostile(&full);
	}
	else
		CHECK(0, "build clip: %s", msg);
	if (build("clip_vision", &vis, &st, msg))
	{
		CHECK(strcmp(vis.pm.clip.text_model, "use-lite") == 0 && vis.pm.clip.text_sha256[0] == 0,
			  "text model link");
		CHECK(!vis.pm.clip.config.has_text && vis.pm.clip.config.vision.act == CLIP_ACT_GELU, "vision-only, gelu");
		check_images("clip_vision", &vis, json_get(root, "images"),
					 json_get(json_get(root, "clip_vision"), "images"));
	}
	else
		CHECK(0, "build clip_vision: %s", msg);
	CHECK(build("clip_vision_badsha", &bad, &st, msg) && strlen(bad.pm.clip.text_sha256) == 64,
		  "text model sha256 read: %s", msg);
	check_config_errors();
	free(full.buf);
	free(vis.buf);
	free(bad.buf);
	json_free(doc);
	free(text);
	return UNIT_DONE("test_clip");
}
