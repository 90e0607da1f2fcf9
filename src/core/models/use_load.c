/*-------------------------------------------------------------------------
 *
 * use_load.c
 *	  Universal Sentence Encoder Lite: TF.js files to a UseSource, and the
 *	  prepared weights section (see use_load.h).
 *
 * src/core/models/use_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/use_load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm_lp.h"
#include "core/formats/json.h"

#define USE_MAGIC		"PGIUSE01"
#define USE_ALIGN		64
#define MAX_SHAPE_DIMS	8

/* Tensor name prefixes of the TF.js graph (SPEC.md section 4) */
#define PFX_A	"module_apply_default/Encoder_en/KonaTransformer/Encode/"
#define PFX_M	"module/Encoder_en/KonaTransformer/Encode/"
#define PFX_S	PFX_A "TransformerStack/"
#define SFX_CP	"/ConcatPartitions/concat"

/* One float tensor of the source, TF.js layout ([in, out] for matrices) */
typedef struct SrcLayer
{
	float	   *ln_att_g,
			   *ln_att_b,
			   *qkv_w,			/* (d_in, 3*d_in) */
			   *qkv_b,
			   *out_w,			/* (d_in, d_model) */
			   *out_b,
			   *ln_ffn_g,
			   *ln_ffn_b,
			   *up_w,			/* (d_model, ffn) */
			   *up_b,
			   *down_w,			/* (ffn, d_model) */
			   *down_b;
} SrcLayer;

struct UseSource
{
	UseConfig	c;
	float	   *emb;			/* (vocab_rows, d_emb) */
	float	   *inv_ts;			/* (n_timing) */
	SrcLayer	layers[USE_N_LAYERS];
	float	   *res_w;			/* (d_emb, d_model) */
	float	   *res_b;
	float	   *tanh_w;			/* (d_model, d_model) */
	float	   *tanh_b;
	double	   *scores;			/* (n_pieces) */
	uint32_t   *piece_off;		/* (n_pieces + 1) */
	char	   *piece_bytes;	/* (vocab_bytes) */
};

/* A manifest entry */
typedef struct ManEntry
{
	const char *name;
	size_t		name_len;
	int			dtype;			/* 0 float32, 1 int32, 2 other */
	int			n_dims;
	int64_t		dims[MAX_SHAPE_DIMS];
	uint64_t	nbytes;
	uint64_t	offset;			/* within its group */
	int			group;
	int			quantized;
} ManEntry;

typedef struct Manifest
{
	ManEntry   *e;
	size_t		n;
	int			n_groups;
	int		   *group_first_shard;	/* (n_groups + 1) */
	uint64_t   *group_bytes;	/* (n_groups) */
} Manifest;

static void
manifest_free(Manifest *m)
{
	free(m->e);
	free(m->group_first_shard);
	free(m->group_bytes);
}

/* Parse a JSON file of the model; a malformed one is PGI_ERR_CORRUPT */
static PgiStatus
parse_json(const char *data, size_t len, const char *what, JsonDoc **doc, PgiError *err)
{
	PgiError	e = {0};
	PgiStatus	st;

	*doc = NULL;
	if (data == NULL)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "%s is missing", what);
	st = json_parse(data, len, doc, &e);
	if (st == PGI_OK)
		return PGI_OK;
	if (st == PGI_ERR_NOMEM)
		return pgi_error(err, st, NULL, "out of memory");
	return pgi_error(err, PGI_ERR_CORRUPT, e.detail[0] ? e.detail : NULL,
					 "%s is not valid JSON: %s", what, e.msg);
}

/* Check a shard file name from model.json */
static int
path_ok(const char *p, size_t len)
{
	if (len == 0 || len > 255 || p[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '/' || p[i] == '\\' || (unsigned char) p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* The weightsManifest array of a parsed model.json */
static PgiStatus
manifest_groups(const JsonValue *root, const JsonValue **groups, PgiError *err)
{
	const JsonValue *g = json_get(root, "weightsManifest");

	if (g == NULL || json_type(g) != JSON_ARRAY || json_size(g) == 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "model.json has no weightsManifest array");
	if (json_size(g) > 64)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "model.json has too many weight groups (%zu)", json_size(g));
	*groups = g;
	return PGI_OK;
}

/* Parse the manifest: entries, offsets, group shard ranges */
static PgiStatus
manifest_parse(const JsonValue *root, Manifest *m, PgiError *err)
{
	const JsonValue *groups;
	PgiStatus	st;
	size_t		n_entries = 0;
	int			n_shards = 0;

	memset(m, 0, sizeof(*m));
	if ((st = manifest_groups(root, &groups, err)) != PGI_OK)
		return st;
	m->n_groups = (int) json_size(groups);
	for (int g = 0; g < m->n_groups; g++)
	{
		const JsonValue *grp = json_at(groups, (size_t) g);
		const JsonValue *paths = json_get(grp, "paths");
		const JsonValue *ws = json_get(grp, "weights");

		if (paths == NULL || json_type(paths) != JSON_ARRAY || ws == NULL ||
			json_type(ws) != JSON_ARRAY)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "weight group %d of model.json lacks paths or weights", g);
		n_entries += json_size(ws);
		n_shards += (int) json_size(paths);
		if (n_shards > 4096)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "model.json lists too many shards");
	}
	m->e = calloc(n_entries ? n_entries : 1, sizeof(ManEntry));
	m->group_first_shard = calloc(json_size(groups) + 1, sizeof(int));
	m->group_bytes = calloc(json_size(groups), sizeof(uint64_t));
	if (!m->e || !m->group_first_shard || !m->group_bytes)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");

	for (int g = 0; g < m->n_groups; g++)
	{
		const JsonValue *grp = json_at(groups, (size_t) g);
		const JsonValue *ws = json_get(grp, "weights");
		uint64_t	off = 0;

		m->group_first_shard[g + 1] = m->group_first_shard[g] +
			(int) json_size(json_get(grp, "paths"));
		for (size_t i = 0; i < json_size(ws); i++)
		{
			const JsonValue *w = json_at(ws, i);
			const JsonValue *shape = json_get(w, "shape");
			const char *dtype = json_str(json_get(w, "dtype"), NULL);
			ManEntry   *e = &m->e[m->n];
			uint64_t	numel = 1;

			e->name = json_str(json_get(w, "name"), &e->name_len);
			if (e->name == NULL || dtype == NULL || shape == NULL ||
				json_type(shape) != JSON_ARRAY)
				return pgi_error(err, PGI_ERR_CORRUPT, NULL,
								 "weight %zu of model.json lacks a name, shape or dtype", i);
			if (json_size(shape) > MAX_SHAPE_DIMS)
				return pgi_error(err, PGI_ERR_CORRUPT, NULL,
								 "weight \"%.100s\" has too many dimensions", e->name);
			e->n_dims = (int) json_size(shape);
			for (int d = 0; d < e->n_dims; d++)
			{
				int64_t		v;

				if (!json_int(json_at(shape, (size_t) d), &v) || v < 0 || v > INT32_MAX)
					return pgi_error(err, PGI_ERR_CORRUPT, NULL,
									 "weight \"%.100s\" has an invalid shape", e->name);
				e->dims[d] = v;
				numel *= (uint64_t) v;
				if (numel > ((uint64_t) 1 << 40))
					return pgi_error(err, PGI_ERR_CORRUPT, NULL,
									 "weight \"%.100s\" is too large", e->name);
			}
			if (strcmp(dtype, "float32") == 0)
				e->dtype = 0;
			else if (strcmp(dtype, "int32") == 0)
				e->dtype = 1;
			else
				return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
								 "weight \"%.100s\" has unsupported dtype \"%.20s\"",
								 e->name, dtype);
			e->quantized = json_get(w, "quantization") != NULL;
			if (e->quantized)
				return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
								 "quantized TF.js weights are not supported (\"%.100s\")",
								 e->name);
			e->nbytes = numel * 4;
			e->offset = off;
			e->group = g;
			off += e->nbytes;
			m->n++;
		}
		m->group_bytes[g] = off;
	}
	return PGI_OK;
}

PgiStatus
use_tfjs_shard_paths(const char *model_json, size_t model_json_len, char ***paths,
					 int *n, PgiError *err)
{
	JsonDoc    *doc;
	const JsonValue *groups;
	PgiStatus	st;
	char	  **out = NULL;
	int			k = 0,
				total = 0;

	*paths = NULL;
	*n = 0;
	if ((st = parse_json(model_json, model_json_len, "model.json", &doc, err)) != PGI_OK)
		return st;
	if ((st = manifest_groups(json_root(doc), &groups, err)) != PGI_OK)
		goto fail;
	for (size_t g = 0; g < json_size(groups); g++)
	{
		const JsonValue *p = json_get(json_at(groups, g), "paths");

		if (p == NULL || json_type(p) != JSON_ARRAY)
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, NULL,
						   "weight group %zu of model.json has no paths", g);
			goto fail;
		}
		total += (int) json_size(p);
		if (total > 4096)
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, NULL, "model.json lists too many shards");
			goto fail;
		}
	}
	out = calloc((size_t) total + 1, sizeof(char *));
	if (out == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto fail;
	}
	for (size_t g = 0; g < json_size(groups); g++)
	{
		const JsonValue *p = json_get(json_at(groups, g), "paths");

		for (size_t i = 0; i < json_size(p); i++)
		{
			size_t		len;
			const char *s = json_str(json_at(p, i), &len);

			if (s == NULL || !path_ok(s, len))
			{
				st = pgi_error(err, PGI_ERR_CORRUPT, NULL,
							   "model.json names an invalid shard file \"%.100s\"",
							   s ? s : "(not a string)");
				goto fail;
			}
			out[k] = strdup(s);
			if (out[k++] == NULL)
			{
				st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
				goto fail;
			}
		}
	}
	json_free(doc);
	*paths = out;
	*n = k;
	return PGI_OK;

fail:
	use_tfjs_paths_free(out, k);
	json_free(doc);
	return st;
}

void
use_tfjs_paths_free(char **paths, int n)
{
	if (paths == NULL)
		return;
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* The loading context: manifest plus shard buffers */
typedef struct Loader
{
	Manifest	m;
	const uint8_t *const *shards;
	const size_t *shard_lens;
	PgiError   *err;
} Loader;

/* Manifest entry by exact name, NULL if absent */
static const ManEntry *
find_entry(const Loader *L, const char *name)
{
	size_t		len = strlen(name);

	for (size_t i = 0; i < L->m.n; i++)
		if (L->m.e[i].name_len == len && memcmp(L->m.e[i].name, name, len) == 0)
			return &L->m.e[i];
	return NULL;
}

/* Copy n bytes at offset off of group g's shards to dst */
static void
copy_group_bytes(const Loader *L, int g, uint64_t off, uint64_t n, uint8_t *dst)
{
	int			s = L->m.group_first_shard[g];

	if (n == 0)
		return;
	while (off >= L->shard_lens[s])
		off -= L->shard_lens[s++];
	while (n > 0)
	{
		uint64_t	take = L->shard_lens[s] - off;

		if (take > n)
			take = n;
		memcpy(dst, L->shards[s] + off, take);
		dst += take;
		n -= take;
		off = 0;
		s++;
	}
}

/*
 * Find tensor name (exactly once), check dtype and shape (dims; n_dims
 * entries), and copy it to a new host-order array of 4-byte values
 */
static PgiStatus
get_tensor(const Loader *L, const char *name, int dtype, int n_dims, const int64_t *dims,
		   void **out)
{
	const ManEntry *e = find_entry(L, name);
	uint8_t    *raw;
	uint32_t   *vals;
	uint64_t	numel;

	*out = NULL;
	if (e == NULL)
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "model.json has no weight \"%.180s\"", name);
	for (const ManEntry *o = e + 1; o < L->m.e + L->m.n; o++)
		if (o->name_len == e->name_len && memcmp(o->name, e->name, e->name_len) == 0)
			return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
							 "model.json lists weight \"%.180s\" twice", name);
	if (e->dtype != dtype)
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "weight \"%.180s\" must be %s", name, dtype ? "int32" : "float32");
	if (e->n_dims != n_dims)
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "weight \"%.180s\" has %d dimensions, expected %d",
						 name, e->n_dims, n_dims);
	for (int d = 0; d < n_dims; d++)
		if (e->dims[d] != dims[d])
			return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
							 "weight \"%.180s\" has dimension %d of size %lld, expected %lld",
							 name, d, (long long) e->dims[d], (long long) dims[d]);
	if (e->offset + e->nbytes > L->m.group_bytes[e->group])
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "weight \"%.180s\" lies past the end of the shards", name);
	numel = e->nbytes / 4;
	raw = malloc(e->nbytes ? e->nbytes : 4);
	if (raw == NULL)
		return pgi_error(L->err, PGI_ERR_NOMEM, NULL, "out of memory");
	copy_group_bytes(L, e->group, e->offset, e->nbytes, raw);
	/* little-endian bytes to host order, in place */
	vals = (uint32_t *) raw;
	for (uint64_t i = 0; i < numel; i++)
	{
		const uint8_t *b = raw + 4 * i;
		uint32_t	v = (uint32_t) b[0] | (uint32_t) b[1] << 8 |
			(uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;

		memcpy(&vals[i], &v, 4);
	}
	if (dtype == 0)
	{
		const float *f = (const float *) raw;

		for (uint64_t i = 0; i < numel; i++)
			if (!isfinite(f[i]))
			{
				free(raw);
				return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
								 "weight \"%.180s\" holds a NaN or infinity", name);
			}
	}
	*out = raw;
	return PGI_OK;
}

/* A float tensor by name with 0 to 4 dimensions (-1 ends the list) */
static PgiStatus
get_f(const Loader *L, const char *name, float **out, int64_t d0, int64_t d1,
	  int64_t d2, int64_t d3)
{
	int64_t		dims[4] = {d0, d1, d2, d3};
	int			n = 0;

	while (n < 4 && dims[n] >= 0)
		n++;
	return get_tensor(L, name, 0, n, dims, (void **) out);
}

/* A float scalar (shape []) by name */
static PgiStatus
get_scalar(const Loader *L, const char *name, int dtype, void *out)
{
	void	   *p;
	PgiStatus	st = get_tensor(L, name, dtype, 0, NULL, &p);

	if (st != PGI_OK)
		return st;
	memcpy(out, p, 4);
	free(p);
	return PGI_OK;
}

/* Dimensions from the shapes of a few anchor tensors */
static PgiStatus
read_dims(const Loader *L, UseConfig *c)
{
	const ManEntry *emb = find_entry(L, "module/Embeddings_en");
	const ManEntry *bt = find_entry(L, "module/Encoder_en/hidden_layers/tanh_layer_0/bias");
	const ManEntry *b1 = find_entry(L, PFX_A "Layer_0/TransformerLayer/FFN/conv1/bias" SFX_CP);

	if (emb == NULL || bt == NULL || b1 == NULL)
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "model.json is not a Universal Sentence Encoder Lite model: %s is missing",
						 emb == NULL ? "module/Embeddings_en" :
						 bt == NULL ? "the tanh layer bias" : "the FFN bias of layer 0");
	if (emb->n_dims != 2 || bt->n_dims != 1 || b1->n_dims != 1)
		return pgi_error(L->err, PGI_ERR_CORRUPT, NULL,
						 "the embedding, tanh bias or FFN bias has the wrong number of dimensions");
	c->vocab_rows = (int32_t) emb->dims[0];
	c->d_emb = (int32_t) emb->dims[1];
	c->d_model = (int32_t) bt->dims[0];
	c->ffn = (int32_t) b1->dims[0];
	c->n_heads = USE_N_HEADS;
	c->n_timing = c->d_emb / 2;
	return PGI_OK;
}

PgiStatus
use_config_check(const UseConfig *c, PgiError *err)
{
	if (c->vocab_rows < USE_N_RESERVED + 1 || c->vocab_rows > USE_MAX_VOCAB ||
		c->n_pieces < USE_N_RESERVED + 1 || c->n_pieces > c->vocab_rows)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "invalid USE vocabulary: %d pieces, %d embedding rows",
						 c->n_pieces, c->vocab_rows);
	if (c->n_heads != USE_N_HEADS || c->d_emb < 2 * USE_N_HEADS || c->d_emb > USE_MAX_DIM ||
		c->d_emb % (2 * USE_N_HEADS) != 0 || c->d_model < USE_N_HEADS ||
		c->d_model > USE_MAX_DIM || c->d_model % USE_N_HEADS != 0 ||
		c->ffn < 1 || c->ffn > USE_MAX_FFN || c->n_timing != c->d_emb / 2)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "invalid USE dimensions: embedding %d, model %d, FFN %d, %d heads",
						 c->d_emb, c->d_model, c->ffn, c->n_heads);
	if (c->max_tokens < 1 || c->max_tokens > USE_MAX_TOKENS_LIMIT)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "invalid USE max length %d",
						 c->max_tokens);
	if (!(c->ln_eps > 0 && c->ln_eps < 1) || !(c->l2_eps > 0 && c->l2_eps < 1) ||
		!(c->q_scale[0] > 0 && c->q_scale[0] <= 16) ||
		!(c->q_scale[1] > 0 && c->q_scale[1] <= 16))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "invalid USE constants: epsilons %g, %g, query scales %g, %g",
						 (double) c->ln_eps, (double) c->l2_eps,
						 (double) c->q_scale[0], (double) c->q_scale[1]);
	if (c->vocab_bytes > (uint32_t) INT32_MAX)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "USE vocabulary is too large");
	return PGI_OK;
}

/* Load the float tensors and constants of the graph */
static PgiStatus
load_weights(const Loader *L, UseSource *s)
{
	UseConfig  *c = &s->c;
	int64_t		E = c->d_emb,
				D = c->d_model,
				F = c->ffn;
	char		name[512];
	PgiStatus	st;
	int32_t		max_len;

#define GET(field, nm, a, b, cc, dd) \
	do { if ((st = get_f(L, (nm), &(field), (a), (b), (cc), (dd))) != PGI_OK) return st; } while (0)

	GET(s->emb, "module/Embeddings_en", c->vocab_rows, E, -1, -1);
	GET(s->inv_ts, PFX_S "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1",
		1, c->n_timing, -1, -1);
	for (int l = 0; l < USE_N_LAYERS; l++)
	{
		SrcLayer   *y = &s->layers[l];
		int64_t		din = l == 0 ? E : D;

#define NM(pfx, rest) (snprintf(name, sizeof(name), "%sLayer_%d/TransformerLayer/%s", (pfx), l, (rest)), name)
		GET(y->ln_att_g, NM(PFX_A, "layer_prepostprocess/layer_norm/layer_norm_scale" SFX_CP),
			din, -1, -1, -1);
		GET(y->ln_att_b, NM(PFX_A, "layer_prepostprocess/layer_norm/layer_norm_bias" SFX_CP),
			din, -1, -1, -1);
		GET(y->qkv_w, NM(PFX_M, "MultiheadAttention/qkv_transform_single/kernel/part_0"),
			1, 1, din, 3 * din);
		GET(y->qkv_b, NM(PFX_A, "MultiheadAttention/qkv_transform_single/bias" SFX_CP),
			3 * din, -1, -1, -1);
		GET(y->out_w, NM(PFX_M, "MultiheadAttention/output_transform_single/kernel/part_0"),
			1, 1, din, D);
		GET(y->out_b, NM(PFX_A, "MultiheadAttention/output_transform_single/bias" SFX_CP),
			D, -1, -1, -1);
		GET(y->ln_ffn_g, NM(PFX_A, "FFN/layer_prepostprocess/layer_norm/layer_norm_scale" SFX_CP),
			D, -1, -1, -1);
		GET(y->ln_ffn_b, NM(PFX_A, "FFN/layer_prepostprocess/layer_norm/layer_norm_bias" SFX_CP),
			D, -1, -1, -1);
		GET(y->up_w, NM(PFX_S, "FFN/conv1/Tensordot/Reshape_1"), D, F, -1, -1);
		GET(y->up_b, NM(PFX_A, "FFN/conv1/bias" SFX_CP), F, -1, -1, -1);
		GET(y->down_w, NM(PFX_S, "FFN/conv2/Tensordot/Reshape_1"), F, D, -1, -1);
		GET(y->down_b, NM(PFX_A, "FFN/conv2/bias" SFX_CP), D, -1, -1, -1);
		if ((st = get_scalar(L, NM(PFX_S, "MultiheadAttention/mul/y"), 0,
							 &c->q_scale[l])) != PGI_OK)
			return st;
#undef NM
	}
	GET(s->res_w, PFX_A "Layer_0/TransformerLayer/dense/kernel" SFX_CP, E, D, -1, -1);
	GET(s->res_b, PFX_A "Layer_0/TransformerLayer/dense/bias" SFX_CP, D, -1, -1, -1);
	GET(s->tanh_w, "module/Encoder_en/hidden_layers/tanh_layer_0/weights", D, D, -1, -1);
	GET(s->tanh_b, "module/Encoder_en/hidden_layers/tanh_layer_0/bias", D, -1, -1, -1);
#undef GET
	if ((st = get_scalar(L, PFX_S "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x",
						 0, &c->ln_eps)) != PGI_OK ||
		(st = get_scalar(L, "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y",
						 0, &c->l2_eps)) != PGI_OK ||
		(st = get_scalar(L, "module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y",
						 1, &max_len)) != PGI_OK)
		return st;
	c->max_tokens = max_len;
	return PGI_OK;
}

/* Parse vocab.json into s's vocabulary arrays */
static PgiStatus
load_vocab(const char *vocab_json, size_t len, UseSource *s, PgiError *err)
{
	JsonDoc    *doc;
	const JsonValue *root;
	PgiStatus	st;
	size_t		n,
				total = 0;

	if ((st = parse_json(vocab_json, len, "vocab.json", &doc, err)) != PGI_OK)
		return st;
	root = json_root(doc);
	n = json_size(root);
	if (json_type(root) != JSON_ARRAY || n < USE_N_RESERVED + 1 || n > (size_t) s->c.vocab_rows)
	{
		st = pgi_error(err, PGI_ERR_CORRUPT, NULL,
					   "vocab.json must be an array of %d to %d [piece, score] pairs",
					   USE_N_RESERVED + 1, s->c.vocab_rows);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
	{
		const JsonValue *e = json_at(root, i);
		size_t		l;

		if (json_type(e) != JSON_ARRAY || json_size(e) != 2 ||
			json_str(json_at(e, 0), &l) == NULL ||
			(json_type(json_at(e, 1)) != JSON_NUMBER && json_type(json_at(e, 1)) != JSON_NULL))
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, NULL,
						   "entry %zu of vocab.json is not a [piece, score] pair", i);
			goto done;
		}
		total += l;
	}
	if (total > (size_t) INT32_MAX)
	{
		st = pgi_error(err, PGI_ERR_CORRUPT, NULL, "vocab.json is too large");
		goto done;
	}
	s->scores = malloc(n * sizeof(double));
	s->piece_off = malloc((n + 1) * sizeof(uint32_t));
	s->piece_bytes = malloc(total + 1);
	if (!s->scores || !s->piece_off || !s->piece_bytes)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto done;
	}
	total = 0;
	for (size_t i = 0; i < n; i++)
	{
		const JsonValue *e = json_at(root, i);
		size_t		l;
		const char *p = json_str(json_at(e, 0), &l);
		double		sc = 0;

		/* null + x == x in JavaScript: a null score is 0 */
		if (json_type(json_at(e, 1)) == JSON_NUMBER)
			json_num(json_at(e, 1), &sc);
		s->scores[i] = sc;
		s->piece_off[i] = (uint32_t) total;
		memcpy(s->piece_bytes + total, p, l);
		total += l;
	}
	s->piece_off[n] = (uint32_t) total;
	s->c.n_pieces = (int32_t) n;
	s->c.vocab_bytes = (uint32_t) total;
	st = PGI_OK;

done:
	json_free(doc);
	return st;
}

PgiStatus
use_load_tfjs(const char *model_json, size_t model_json_len,
			  const uint8_t *const *shards, const size_t *shard_lens, int n_shards,
			  const char *vocab_json, size_t vocab_json_len, UseSource **out, PgiError *err)
{
	JsonDoc    *doc = NULL;
	Loader		L = {0};
	UseSource  *s = NULL;
	PgiStatus	st;

	*out = NULL;
	L.shards = shards;
	L.shard_lens = shard_lens;
	L.err = err;
	if ((st = parse_json(model_json, model_json_len, "model.json", &doc, err)) != PGI_OK)
		return st;
	if ((st = manifest_parse(json_root(doc), &L.m, err)) != PGI_OK)
		goto fail;
	if (n_shards != L.m.group_first_shard[L.m.n_groups])
	{
		st = pgi_error(err, PGI_ERR_CORRUPT, NULL,
					   "model.json lists %d shard files, %d were given",
					   L.m.group_first_shard[L.m.n_groups], n_shards);
		goto fail;
	}
	for (int g = 0; g < L.m.n_groups; g++)
	{
		uint64_t	have = 0;

		for (int i = L.m.group_first_shard[g]; i < L.m.group_first_shard[g + 1]; i++)
		{
			if (shard_lens[i] > 0 && shards[i] == NULL)
			{
				st = pgi_error(err, PGI_ERR_PARAM, NULL, "shard %d is missing", i);
				goto fail;
			}
			have += shard_lens[i];
		}
		if (have != L.m.group_bytes[g])
		{
			st = pgi_error(err, PGI_ERR_CORRUPT,
						   "A shard file is truncated, extended or missing.",
						   "weight group %d of model.json needs %llu bytes, its shards hold %llu",
						   g, (unsigned long long) L.m.group_bytes[g],
						   (unsigned long long) have);
			goto fail;
		}
	}
	s = calloc(1, sizeof(UseSource));
	if (s == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto fail;
	}
	if ((st = read_dims(&L, &s->c)) != PGI_OK)
		goto fail;
	/* dimension checks before any allocation sized by them */
	s->c.n_pieces = USE_N_RESERVED + 1;
	s->c.max_tokens = 1;
	s->c.ln_eps = s->c.l2_eps = 1e-6f;
	s->c.q_scale[0] = s->c.q_scale[1] = 1;
	if ((st = use_config_check(&s->c, err)) != PGI_OK ||
		(st = load_weights(&L, s)) != PGI_OK ||
		(st = load_vocab(vocab_json, vocab_json_len, s, err)) != PGI_OK ||
		(st = use_config_check(&s->c, err)) != PGI_OK)
		goto fail;
	manifest_free(&L.m);
	json_free(doc);
	*out = s;
	return PGI_OK;

fail:
	use_source_free(s);
	manifest_free(&L.m);
	json_free(doc);
	return st;
}

void
use_source_free(UseSource *s)
{
	if (s == NULL)
		return;
	free(s->emb);
	free(s->inv_ts);
	for (int l = 0; l < USE_N_LAYERS; l++)
	{
		SrcLayer   *y = &s->layers[l];

		free(y->ln_att_g);
		free(y->ln_att_b);
		free(y->qkv_w);
		free(y->qkv_b);
		free(y->out_w);
		free(y->out_b);
		free(y->ln_ffn_g);
		free(y->ln_ffn_b);
		free(y->up_w);
		free(y->up_b);
		free(y->down_w);
		free(y->down_b);
	}
	free(s->res_w);
	free(s->res_b);
	free(s->tanh_w);
	free(s->tanh_b);
	free(s->scores);
	free(s->piece_off);
	free(s->piece_bytes);
	free(s);
}

const UseConfig *
use_source_config(const UseSource *s)
{
	return &s->c;
}

const char *
use_source_piece(const UseSource *s, int32_t i, size_t *len, double *score)
{
	if (i < 0 || i >= s->c.n_pieces)
		return NULL;
	if (len)
		*len = s->piece_off[i + 1] - s->piece_off[i];
	if (score)
		*score = s->scores[i];
	return s->piece_bytes + s->piece_off[i];
}

/* ---- prepared section ---- */

/* Byte offsets of every array of the section */
typedef struct Layout
{
	uint64_t	emb,
				inv_ts;
	struct
	{
		uint64_t	ln_att_g,
					ln_att_b,
					qkv_w,
					qkv_b,
					out_w,
					out_b,
					ln_ffn_g,
					ln_ffn_b,
					up_w,
					up_b,
					down_w,
					down_b;
	}			l[USE_N_LAYERS];
	uint64_t	res_w,
				res_b,
				tanh_w,
				tanh_b,
				scores,
				piece_off,
				piece_bytes,
				total;
} Layout;

/* Reserve bytes at *pos (64-byte aligned) and return their offset */
static uint64_t
take(uint64_t *pos, uint64_t bytes)
{
	uint64_t	at = (*pos + USE_ALIGN - 1) & ~(uint64_t) (USE_ALIGN - 1);

	*pos = at + bytes;
	return at;
}

/* The section layout of a checked config */
static void
layout(const UseConfig *c, GemmFormat fmt, Layout *y)
{
	uint64_t	pos = USE_HEADER_SIZE;
	uint64_t	E = (uint64_t) c->d_emb,
				D = (uint64_t) c->d_model,
				F = (uint64_t) c->ffn;

#define FL(n) take(&pos, (uint64_t) (n) * sizeof(float))
#define PK(n, k) take(&pos, (uint64_t) gemm_format_bytes(fmt, (int64_t) (n), (int64_t) (k)))
	y->emb = FL((uint64_t) c->vocab_rows * E);
	y->inv_ts = FL(c->n_timing);
	for (int l = 0; l < USE_N_LAYERS; l++)
	{
		uint64_t	din = l == 0 ? E : D;

		y->l[l].ln_att_g = FL(din);
		y->l[l].ln_att_b = FL(din);
		y->l[l].qkv_w = PK(3 * din, din);
		y->l[l].qkv_b = FL(3 * din);
		y->l[l].out_w = PK(D, din);
		y->l[l].out_b = FL(D);
		y->l[l].ln_ffn_g = FL(D);
		y->l[l].ln_ffn_b = FL(D);
		y->l[l].up_w = PK(F, D);
		y->l[l].up_b = FL(F);
		y->l[l].down_w = PK(D, F);
		y->l[l].down_b = FL(D);
	}
	/* float32 whatever the format: the projection of the raw (not
	 * normalised) embeddings and the head (one row per text) */
	y->res_w = take(&pos, (uint64_t) gemm_packed_floats((int64_t) D, (int64_t) E) * sizeof(float));
	y->res_b = FL(D);
	y->tanh_w = take(&pos, (uint64_t) gemm_packed_floats((int64_t) D, (int64_t) D) * sizeof(float));
	y->tanh_b = FL(D);
#undef FL
#undef PK
	y->scores = take(&pos, (uint64_t) c->n_pieces * sizeof(double));
	y->piece_off = take(&pos, ((uint64_t) c->n_pieces + 1) * sizeof(uint32_t));
	y->piece_bytes = take(&pos, c->vocab_bytes);
	y->total = take(&pos, 0);
}

/* The widest input of a linear layer must fit the format (int8: GEMM_I8_MAX_K) */
static PgiStatus
use_format_check(const UseConfig *c, GemmFormat fmt, PgiError *err)
{
	int64_t		k = c->ffn;

	if (c->d_model > k)
		k = c->d_model;
	if (c->d_emb > k)
		k = c->d_emb;
	if (fmt.type < GEMM_F32 || fmt.type > GEMM_I8 || fmt.kb < 0 || fmt.kb % 4 != 0 ||
		(fmt.type == GEMM_I8 && gemm_i8_kpad(k, gemm_format_kb(fmt, k)) > GEMM_I8_MAX_K))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "weight format %s (block %d) cannot hold this model's layers",
						 gemm_format_name(fmt), fmt.kb);
	return PGI_OK;
}

PgiStatus
use_weights_size(const UseConfig *c, GemmFormat fmt, uint64_t *bytes, PgiError *err)
{
	Layout		y;
	PgiStatus	st = use_config_check(c, err);

	if (st != PGI_OK || (st = use_format_check(c, fmt, err)) != PGI_OK)
		return st;
	layout(c, fmt, &y);
	*bytes = y.total;
	return PGI_OK;
}

/* Pack a TF.js [k_in, n_out] matrix as gemm's (n_out, k_in) in format fmt at dst */
static PgiStatus
pack_in_out(const float *w, int64_t k_in, int64_t n_out, GemmFormat fmt, uint8_t *dst,
			PgiError *err)
{
	float	   *t = malloc((size_t) (k_in * n_out) * sizeof(float));
	int			ok;

	if (t == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int64_t i = 0; i < k_in; i++)
		for (int64_t j = 0; j < n_out; j++)
			t[j * k_in + i] = w[i * n_out + j];
	ok = gemm_format_pack(fmt, t, n_out, k_in, dst);
	free(t);
	return ok ? PGI_OK : pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
}

PgiStatus
use_pack(const UseSource *s, GemmFormat fmt, uint8_t *dst, uint64_t dst_len, PgiError *err)
{
	const UseConfig *c = &s->c;
	Layout		y;
	PgiStatus	st;
	uint32_t	version = USE_SECTION_VERSION,
				hsize = USE_HEADER_SIZE;
	int64_t		E = c->d_emb,
				D = c->d_model,
				F = c->ffn;

	if ((st = use_config_check(c, err)) != PGI_OK || (st = use_format_check(c, fmt, err)) != PGI_OK)
		return st;
	layout(c, fmt, &y);
	if (dst_len < y.total)
		return pgi_error(err, PGI_ERR_PARAM, NULL,
						 "USE weights need %llu bytes, %llu given",
						 (unsigned long long) y.total, (unsigned long long) dst_len);
	if (((uintptr_t) dst & (USE_ALIGN - 1)) != 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "USE weights section is not 64-byte aligned");
	memset(dst, 0, y.total);
	memcpy(dst, USE_MAGIC, 8);
	memcpy(dst + 8, &version, 4);
	memcpy(dst + 12, &hsize, 4);
	memcpy(dst + 16, c, sizeof(UseConfig));

#define CP(off, src, n) memcpy(dst + (off), (src), (size_t) (n) * sizeof(float))
#define PK(off, src, k, n) do { if ((st = pack_in_out((src), (k), (n), fmt, dst + (off), err)) != PGI_OK) return st; } while (0)
	CP(y.emb, s->emb, (int64_t) c->vocab_rows * E);
	CP(y.inv_ts, s->inv_ts, c->n_timing);
	for (int l = 0; l < USE_N_LAYERS; l++)
	{
		const SrcLayer *x = &s->layers[l];
		int64_t		din = l == 0 ? E : D;

		CP(y.l[l].ln_att_g, x->ln_att_g, din);
		CP(y.l[l].ln_att_b, x->ln_att_b, din);
		PK(y.l[l].qkv_w, x->qkv_w, din, 3 * din);
		CP(y.l[l].qkv_b, x->qkv_b, 3 * din);
		PK(y.l[l].out_w, x->out_w, din, D);
		CP(y.l[l].out_b, x->out_b, D);
		CP(y.l[l].ln_ffn_g, x->ln_ffn_g, D);
		CP(y.l[l].ln_ffn_b, x->ln_ffn_b, D);
		PK(y.l[l].up_w, x->up_w, D, F);
		CP(y.l[l].up_b, x->up_b, F);
		PK(y.l[l].down_w, x->down_w, F, D);
		CP(y.l[l].down_b, x->down_b, D);
	}
	fmt = (GemmFormat) {0};		/* res_w and tanh_w: float32 (layout) */
	PK(y.res_w, s->res_w, E, D);
	CP(y.res_b, s->res_b, D);
	PK(y.tanh_w, s->tanh_w, D, D);
	CP(y.tanh_b, s->tanh_b, D);
#undef CP
#undef PK
	memcpy(dst + y.scores, s->scores, (size_t) c->n_pieces * sizeof(double));
	memcpy(dst + y.piece_off, s->piece_off, ((size_t) c->n_pieces + 1) * sizeof(uint32_t));
	memcpy(dst + y.piece_bytes, s->piece_bytes, c->vocab_bytes);
	return PGI_OK;
}

PgiStatus
use_bind(const UseConfig *c, GemmFormat fmt, const uint8_t *section, uint64_t len, UseWeights *w,
		 PgiError *err)
{
	Layout		y;
	PgiStatus	st;
	uint32_t	version,
				hsize;
	const uint32_t *po;

	if ((st = use_config_check(c, err)) != PGI_OK || (st = use_format_check(c, fmt, err)) != PGI_OK)
		return st;
	layout(c, fmt, &y);
	if (len < y.total)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "USE weights section has %llu bytes, expected %llu",
						 (unsigned long long) len, (unsigned long long) y.total);
	if (((uintptr_t) section & (USE_ALIGN - 1)) != 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "USE weights section is not 64-byte aligned");
	memcpy(&version, section + 8, 4);
	memcpy(&hsize, section + 12, 4);
	if (memcmp(section, USE_MAGIC, 8) != 0 || version != USE_SECTION_VERSION ||
		hsize != USE_HEADER_SIZE || memcmp(section + 16, c, sizeof(UseConfig)) != 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "USE weights section header does not match the model configuration");
	po = (const uint32_t *) (section + y.piece_off);
	if (po[0] != 0 || po[c->n_pieces] != c->vocab_bytes)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "USE vocabulary offsets are corrupt");
	for (int32_t i = 0; i < c->n_pieces; i++)
		if (po[i + 1] < po[i])
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "USE vocabulary offsets are corrupt");

#define F(off) ((const float *) (section + (off)))
	w->emb = F(y.emb);
	w->inv_ts = F(y.inv_ts);
	for (int l = 0; l < USE_N_LAYERS; l++)
	{
		UseLayer   *x = &w->layers[l];

		x->ln_att_g = F(y.l[l].ln_att_g);
		x->ln_att_b = F(y.l[l].ln_att_b);
		x->qkv_w = F(y.l[l].qkv_w);
		x->qkv_b = F(y.l[l].qkv_b);
		x->out_w = F(y.l[l].out_w);
		x->out_b = F(y.l[l].out_b);
		x->ln_ffn_g = F(y.l[l].ln_ffn_g);
		x->ln_ffn_b = F(y.l[l].ln_ffn_b);
		x->up_w = F(y.l[l].up_w);
		x->up_b = F(y.l[l].up_b);
		x->down_w = F(y.l[l].down_w);
		x->down_b = F(y.l[l].down_b);
	}
	w->res_w = F(y.res_w);
	w->res_b = F(y.res_b);
	w->tanh_w = F(y.tanh_w);
	w->tanh_b = F(y.tanh_b);
#undef F
	w->scores = (const double *) (section + y.scores);
	w->piece_off = po;
	w->piece_bytes = (const char *) (section + y.piece_bytes);
	return PGI_OK;
}

/* A tokenizer over n pieces given as bytes + offsets */
static PgiStatus
tokenizer_over(int32_t n, const char *bytes, const uint32_t *off, const double *scores,
			   TokNfkcFn nfkc, void *nfkc_arg, TokUnigram **out, PgiError *err)
{
	const char **pieces = malloc((size_t) n * sizeof(char *));
	uint32_t   *lens = malloc((size_t) n * sizeof(uint32_t));
	TokUnigramConfig cfg = {USE_N_RESERVED, nfkc, nfkc_arg};
	PgiStatus	st;

	*out = NULL;
	if (pieces == NULL || lens == NULL)
	{
		free(pieces);
		free(lens);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	for (int32_t i = 0; i < n; i++)
	{
		pieces[i] = bytes + off[i];
		lens[i] = off[i + 1] - off[i];
	}
	st = tok_unigram_new(pieces, lens, scores, n, &cfg, out, err);
	free(pieces);
	free(lens);
	return st;
}

PgiStatus
use_tokenizer_from_weights(const UseConfig *c, const UseWeights *w, TokNfkcFn nfkc,
						   void *nfkc_arg, TokUnigram **out, PgiError *err)
{
	return tokenizer_over(c->n_pieces, w->piece_bytes, w->piece_off, w->scores,
						  nfkc, nfkc_arg, out, err);
}

PgiStatus
use_tokenizer_from_source(const UseSource *s, TokNfkcFn nfkc, void *nfkc_arg,
						  TokUnigram **out, PgiError *err)
{
	return tokenizer_over(s->c.n_pieces, s->piece_bytes, s->piece_off, s->scores,
						  nfkc, nfkc_arg, out, err);
}
