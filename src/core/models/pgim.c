/*-------------------------------------------------------------------------
 *
 * pgim.c
 *	  Build and open prepared-model files (see pgim.h).
 *
 * src/core/models/pgim.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/clip_load.h"
#include "core/models/llama_load.h"
#include "core/models/pgim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm.h"
#include "core/kernels/quant.h"

/* One float32 array of the weights section */
typedef struct Slot
{
	uint64_t	off;			/* from the start of the weights section */
	int64_t		rows;
	int64_t		cols;			/* 1-D tensors: rows = 1 */
	int			packed;			/* a matrix of a linear layer, stored in the
								 * model's GemmFormat (gemm_lp.h) */
} Slot;

/* Layer slots holding matrices multiplied by gemm_packed */
static const int packed_slot[12] = {1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0};

#define SLOTS_GLOBAL	5
#define SLOTS_LAYER		12
#define SLOTS_HEAD		4		/* BERT_HEAD_SEQUENCE: pooler w, b, classifier w, b;
								 * the token heads: the last two only */
#define MAX_SLOTS		(SLOTS_GLOBAL + SLOTS_LAYER * BERT_MAX_LAYERS + SLOTS_HEAD)

/* Kind of the head's slots, after the layers' */
#define KIND_HEAD		(SLOTS_GLOBAL + SLOTS_LAYER)

/* Slot i's kind (0..SLOTS_GLOBAL-1, then a layer slot, then KIND_HEAD + j) and layer */
static int
slot_kind(const BertConfig *c, int i, int *layer)
{
	int			head0 = SLOTS_GLOBAL + SLOTS_LAYER * c->n_layers;

	*layer = -1;
	if (i < SLOTS_GLOBAL)
		return i;
	if (i >= head0)
		return KIND_HEAD + (i - head0) + (c->pooler ? 0 : 2);
	*layer = (i - SLOTS_GLOBAL) / SLOTS_LAYER;
	return SLOTS_GLOBAL + (i - SLOTS_GLOBAL) % SLOTS_LAYER;
}

_Static_assert(sizeof(PgimHeader) <= PGIM_HEADER_SIZE, "PgimHeader must fit its reserved size");

/* Round up to PGIM_ALIGN bytes */
static uint64_t
align_up(uint64_t x)
{
	return (x + PGIM_ALIGN - 1) & ~(uint64_t) (PGIM_ALIGN - 1);
}

/*
 * The header fields every prepared file has: magic, version, arch, sha256,
 * meta, and the sections in order (weights at PGIM_HEADER_SIZE, then the
 * vocabulary, then the blob, each 64-byte aligned), which give the size
 */
static void
header_init(PgimHeader *hd, PgimArch arch, uint64_t weights_len, uint64_t vocab_len,
			uint64_t blob_len, const char *sha256, const PgimMeta *meta)
{
	memcpy(hd->magic, PGIM_MAGIC, 8);
	hd->version = PGIM_VERSION;
	hd->arch = arch;
	/* sha256 may carry the precision: "<sha256>.<precision>" (the file's key) */
	snprintf(hd->key, sizeof(hd->key), "%s", sha256 ? sha256 : "");
	snprintf(hd->sha256, sizeof(hd->sha256), "%.*s", (int) strcspn(hd->key, "."), hd->key);
	hd->meta = *meta;
	hd->weights_off = PGIM_HEADER_SIZE;
	hd->weights_len = weights_len;
	hd->vocab_off = PGIM_HEADER_SIZE + weights_len;
	hd->vocab_len = vocab_len;
	hd->blob_off = hd->vocab_off + align_up(vocab_len);
	hd->blob_len = blob_len;
	hd->file_size = hd->blob_off + align_up(blob_len);
}

/*
 * The weights' layout: slot i of the fixed order (globals, then per layer
 * qkv_w, qkv_b, out_w, out_b, ln1_w, ln1_b, up_w, up_b, down_w, down_b,
 * ln2_w, ln2_b); returns the section size.  Sizes are bounded by
 * bert_config_check (at most ~2^46 bytes), so no overflow.
 */
static uint64_t
bert_layout(const BertConfig *c, GemmFormat fmt, Slot *slots, int *n_slots)
{
	int64_t		h = c->hidden,
				f = c->ffn;
	int64_t		shapes[SLOTS_LAYER][2] = {
		{3 * h, h}, {1, 3 * h}, {h, h}, {1, h}, {1, h}, {1, h},
		{f, h}, {1, f}, {h, f}, {1, h}, {1, h}, {1, h}
	};
	int64_t		globals[SLOTS_GLOBAL][2] = {
		{c->vocab, h}, {c->max_pos, h}, {c->n_types, h}, {1, h}, {1, h}
	};
	uint64_t	off = 0;
	int			n = 0;

	for (int i = 0; i < SLOTS_GLOBAL; i++, n++)
	{
		slots[n].off = off;
		slots[n].rows = globals[i][0];
		slots[n].cols = globals[i][1];
		slots[n].packed = 0;
		off = align_up(off + (uint64_t) (globals[i][0] * globals[i][1]) * 4);
	}
	for (int l = 0; l < c->n_layers; l++)
		for (int i = 0; i < SLOTS_LAYER; i++, n++)
		{
			slots[n].off = off;
			slots[n].rows = shapes[i][0];
			slots[n].cols = shapes[i][1];
			slots[n].packed = packed_slot[i];
			off = align_up(off + (packed_slot[i] ?
								  (uint64_t) gemm_format_bytes(fmt, shapes[i][0], shapes[i][1]) :
								  (uint64_t) (shapes[i][0] * shapes[i][1]) * 4));
		}
	if (c->head != BERT_HEAD_NONE)
	{
		int64_t		hs[SLOTS_HEAD][2] = {{h, h}, {1, h}, {c->n_labels, h}, {1, c->n_labels}};
		static const int hpacked[SLOTS_HEAD] = {1, 0, 1, 0};

		for (int i = c->pooler ? 0 : 2; i < SLOTS_HEAD; i++, n++)
		{
			slots[n].off = off;
			slots[n].rows = hs[i][0];
			slots[n].cols = hs[i][1];
			slots[n].packed = hpacked[i];
			/* heads stay float32 (gemm_lp.h) */
			off = align_up(off + (hpacked[i] ? (uint64_t) gemm_format_bytes((GemmFormat) {0}, hs[i][0], hs[i][1]) :
								  (uint64_t) (hs[i][0] * hs[i][1]) * 4));
		}
	}
	*n_slots = n;
	return off;
}

/* A weight format pg_infer can pack matrices of widths up to max_k in */
PgiStatus
pgim_format_check(GemmFormat fmt, int64_t max_k, PgiError *err)
{
	if (fmt.type < GEMM_F32 || fmt.type > GEMM_I8 || fmt.kb < 0 || fmt.kb % 4 != 0 ||
		fmt.kb > GEMM_I8_MAX_K)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid weight format %d (block %d)",
						 fmt.type, fmt.kb);
	if (fmt.type == GEMM_I8 && gemm_i8_kpad(max_k, gemm_format_kb(fmt, max_k)) > GEMM_I8_MAX_K)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "int8 weights support layers of at most %d inputs, not %lld",
						 GEMM_I8_MAX_K, (long long) max_k);
	return PGI_OK;
}

PgiStatus
pgim_bert_weights_size(const BertConfig *c, GemmFormat fmt, uint64_t *bytes, PgiError *err)
{
	Slot		slots[MAX_SLOTS];
	Slot	   *s = slots;
	int			n;
	PgiStatus	st = bert_config_check(c, err);

	if (st != PGI_OK ||
		(st = pgim_format_check(fmt, c->ffn > c->hidden ? c->ffn : c->hidden, err)) != PGI_OK)
		return st;
	*bytes = bert_layout(c, fmt, s, &n);
	return PGI_OK;
}

PgiStatus
pgim_file_size(const BertConfig *c, GemmFormat fmt, uint64_t vocab_len, uint64_t blob_len,
			   uint64_t *bytes, PgiError *err)
{
	uint64_t	w;
	PgiStatus	st = pgim_bert_weights_size(c, fmt, &w, err);

	if (st != PGI_OK)
		return st;
	if (vocab_len > ((uint64_t) 1 << 40) || blob_len > ((uint64_t) 1 << 40))
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "tokenizer data too large");
	*bytes = PGIM_HEADER_SIZE + w + align_up(vocab_len) + align_up(blob_len);
	return PGI_OK;
}

/* Source names of a slot's tensors (up to 3, for qkv): returns the count */
static int
slot_names(const char *naming, const char *prefix, int head, int slot, int layer,
		   char names[3][160])
{
	static const char *const gg_global[] = {
		"token_embd.weight", "position_embd.weight", "token_types.weight",
		"token_embd_norm.weight", "token_embd_norm.bias"
	};
	static const char *const hf_global[] = {
		"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
		"embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
		"embeddings.LayerNorm.bias"
	};
	static const char *const gg_layer[SLOTS_LAYER][3] = {
		{"attn_q.weight", "attn_k.weight", "attn_v.weight"},
		{"attn_q.bias", "attn_k.bias", "attn_v.bias"},
		{"attn_output.weight"}, {"attn_output.bias"},
		{"attn_output_norm.weight"}, {"attn_output_norm.bias"},
		{"ffn_up.weight"}, {"ffn_up.bias"}, {"ffn_down.weight"}, {"ffn_down.bias"},
		{"layer_output_norm.weight"}, {"layer_output_norm.bias"}
	};
	static const char *const hf_layer[SLOTS_LAYER][3] = {
		{"attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight"},
		{"attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias"},
		{"attention.output.dense.weight"}, {"attention.output.dense.bias"},
		{"attention.output.LayerNorm.weight"}, {"attention.output.LayerNorm.bias"},
		{"intermediate.dense.weight"}, {"intermediate.dense.bias"},
		{"output.dense.weight"}, {"output.dense.bias"},
		{"output.LayerNorm.weight"}, {"output.LayerNorm.bias"}
	};
	static const char *const hf_head[SLOTS_HEAD] = {
		"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"
	};
	static const char *const hf_qa[2] = {"qa_outputs.weight", "qa_outputs.bias"};
	static const char *const gg_head[SLOTS_HEAD] = {
		"cls.weight", "cls.bias", "cls.output.weight", "cls.output.bias"
	};
	int			gguf = strcmp(naming, "gguf") == 0;
	int			n = 0;

	if (slot >= KIND_HEAD)
	{
		/* the pooler is the encoder's (under its prefix), the classifier is not */
		int			j = slot - KIND_HEAD;

		if (gguf)
			snprintf(names[0], 160, "%s", gg_head[j]);
		else
			snprintf(names[0], 160, "%s%s", j < 2 ? prefix : "",
					 head == BERT_HEAD_QA ? hf_qa[j - 2] : hf_head[j]);
		return 1;
	}
	if (slot < SLOTS_GLOBAL)
	{
		if (gguf)
			snprintf(names[0], 160, "%s", gg_global[slot]);
		else
			snprintf(names[0], 160, "%s%s", prefix, hf_global[slot]);
		return 1;
	}
	for (int i = 0; i < 3; i++)
	{
		const char *leaf = gguf ? gg_layer[slot - SLOTS_GLOBAL][i] : hf_layer[slot - SLOTS_GLOBAL][i];

		if (leaf == NULL)
			break;
		if (gguf)
			snprintf(names[n++], 160, "blk.%d.%s", layer, leaf);
		else
			snprintf(names[n++], 160, "%sencoder.layer.%d.%s", prefix, layer, leaf);
	}
	return n;
}

/* Copy one source tensor of rows x cols values into dst as float32 */
static PgiStatus
load_tensor(PgimFindFn find, void *arg, const char *name, int64_t rows, int64_t cols,
			float *dst, PgiError *err)
{
	PgimTensor	t;
	int			found = 0;
	int64_t		n = 1;
	PgiStatus	st = find(arg, name, &t, &found, err);

	if (st != PGI_OK)
		return st;
	if (!found)
		return pgi_error(err, PGI_ERR_CORRUPT, "Every tensor of the architecture must be present.",
						 "model has no tensor \"%s\"", name);
	for (int i = 0; i < t.n_dims; i++)
		n *= t.shape[i];
	if (!((t.n_dims == 2 && t.shape[0] == rows && t.shape[1] == cols) ||
		  (rows == 1 && t.n_dims == 1 && t.shape[0] == cols)))
	{
		if (rows == 1)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "tensor \"%s\" should have shape (%lld), not %d-D with %lld values",
							 name, (long long) cols, t.n_dims, (long long) n);
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "tensor \"%s\" should have shape (%lld, %lld), not %d-D with %lld values",
						 name, (long long) rows, (long long) cols, t.n_dims, (long long) n);
	}
	if ((st = quant_dequantize(t.type, t.data, (size_t) n, dst, err)) != PGI_OK)
	{
		return pgi_error(err, st, NULL, "tensor \"%s\" of type %s cannot be read: %s",
						 name, quant_type_name(t.type), err ? err->msg : "");
	}
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(dst[i]))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "tensor \"%s\" holds a NaN or infinite value", name);
	return PGI_OK;
}

/* "bert." when the checkpoint's tensors carry that prefix (BertFor* heads) */
static PgiStatus
hf_prefix(PgimFindFn find, void *arg, const char **prefix, PgiError *err)
{
	PgimTensor	t;
	int			found = 0;
	PgiStatus	st = find(arg, "embeddings.word_embeddings.weight", &t, &found, err);

	*prefix = "";
	if (st != PGI_OK || found)
		return st;
	if ((st = find(arg, "bert.embeddings.word_embeddings.weight", &t, &found, err)) != PGI_OK)
		return st;
	if (found)
		*prefix = "bert.";
	return PGI_OK;
}

PgiStatus
pgim_build_bert(uint8_t *dst, uint64_t dst_len, const BertConfig *c, const PgimMeta *meta,
				const char *naming, PgimFindFn find, void *find_arg,
				const uint8_t *vocab, uint64_t vocab_len,
				const uint8_t *blob, uint64_t blob_len, const char *sha256, PgiError *err)
{
	Slot		slots[MAX_SLOTS];
	PgimHeader *hd = (PgimHeader *) dst;
	uint64_t	total,
				wlen;
	int			n_slots;
	const char *prefix = "";
	PgiStatus	st;

	if ((st = pgim_file_size(c, meta->wfmt, vocab_len, blob_len, &total, err)) != PGI_OK)
		return st;
	if (dst_len != total)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer has the wrong size");
	if (strcmp(naming, "hf") == 0 && (st = hf_prefix(find, find_arg, &prefix, err)) != PGI_OK)
		return st;
	memset(dst, 0, PGIM_HEADER_SIZE);
	wlen = bert_layout(c, meta->wfmt, slots, &n_slots);
	for (int i = 0; i < n_slots; i++)
	{
		char		names[3][160];
		int			layer;
		int			kind = slot_kind(c, i, &layer);
		int			n = slot_names(naming, prefix, c->head, kind, layer, names);
		float	   *slot = (float *) (dst + PGIM_HEADER_SIZE + slots[i].off);
		float	   *out = slot;
		int64_t		rows = slots[i].rows / n;	/* qkv: three source tensors */
		int64_t		cols = slots[i].cols;

		if (slots[i].rows == 1 && n == 3)
		{
			rows = 1;
			cols = slots[i].cols / 3;
		}
		/* a packed matrix is loaded row-major first, then packed */
		if (slots[i].packed &&
			(out = malloc(sizeof(float) * (size_t) (slots[i].rows * slots[i].cols))) == NULL)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory preparing model weights");
		for (int j = 0; j < n; j++)
		{
			st = load_tensor(find, find_arg, names[j], rows, cols, out + j * rows * cols, err);
			if (st != PGI_OK)
			{
				if (out != slot)
					free(out);
				return st;
			}
		}
		if (out != slot)
		{
			int			ok = gemm_format_pack(kind >= KIND_HEAD ? (GemmFormat) {0} : meta->wfmt,
											  out, slots[i].rows, slots[i].cols, slot);

			free(out);
			if (!ok)
				return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory preparing model weights");
		}
	}
	header_init(hd, PGIM_ARCH_BERT, wlen, vocab_len, blob_len, sha256, meta);
	hd->config = *c;
	if (vocab_len)
		memcpy(dst + hd->vocab_off, vocab, vocab_len);
	if (blob_len)
		memcpy(dst + hd->blob_off, blob, blob_len);
	return PGI_OK;
}

/* Check one source tensor's presence, shape and type without reading it */
static PgiStatus
check_tensor(PgimFindFn find, void *arg, const char *name, int64_t rows, int64_t cols,
			 PgiError *err)
{
	PgimTensor	t;
	int			found = 0;
	const GgmlTypeInfo *ti;
	PgiStatus	st = find(arg, name, &t, &found, err);

	if (st != PGI_OK)
		return st;
	if (!found)
		return pgi_error(err, PGI_ERR_CORRUPT, "Every tensor of the architecture must be present.",
						 "model has no tensor \"%s\"", name);
	if (!((t.n_dims == 2 && t.shape[0] == rows && t.shape[1] == cols) ||
		  (rows == 1 && t.n_dims == 1 && t.shape[0] == cols)))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "tensor \"%s\" should have shape (%lld, %lld)",
						 name, (long long) rows, (long long) cols);
	ti = quant_type_info(t.type);
	if (ti == NULL || !ti->dequant)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "tensor \"%s\" has type %s, which pg_infer does not read",
						 name, quant_type_name(t.type));
	return PGI_OK;
}

PgiStatus
pgim_check_bert(const BertConfig *c, const char *naming, PgimFindFn find, void *find_arg,
				PgiError *err)
{
	Slot		slots[MAX_SLOTS];
	int			n_slots;
	const char *prefix = "";
	PgiStatus	st;

	if ((st = bert_config_check(c, err)) != PGI_OK)
		return st;
	if (strcmp(naming, "hf") == 0 && (st = hf_prefix(find, find_arg, &prefix, err)) != PGI_OK)
		return st;
	bert_layout(c, (GemmFormat) {0}, slots, &n_slots);
	for (int i = 0; i < n_slots; i++)
	{
		char		names[3][160];
		int			layer;
		int			kind = slot_kind(c, i, &layer);
		int			n = slot_names(naming, prefix, c->head, kind, layer, names);
		int64_t		rows = slots[i].rows / n;
		int64_t		cols = slots[i].cols;

		if (slots[i].rows == 1 && n == 3)
		{
			rows = 1;
			cols = slots[i].cols / 3;
		}
		for (int j = 0; j < n; j++)
			if ((st = check_tensor(find, find_arg, names[j], rows, cols, err)) != PGI_OK)
				return st;
	}
	return PGI_OK;
}

uint64_t
pgim_tokenizer_file_size(uint64_t vocab_len, uint64_t blob_len)
{
	return PGIM_HEADER_SIZE + align_up(vocab_len) + align_up(blob_len);
}

void
pgim_build_tokenizer(uint8_t *dst, const PgimMeta *meta, const uint8_t *vocab,
					 uint64_t vocab_len, const uint8_t *blob, uint64_t blob_len,
					 const char *sha256)
{
	PgimHeader *hd = (PgimHeader *) dst;

	memset(dst, 0, PGIM_HEADER_SIZE);
	header_init(hd, PGIM_ARCH_TOKENIZER, 0, vocab_len, blob_len, sha256, meta);
	if (vocab_len)
		memcpy(dst + hd->vocab_off, vocab, vocab_len);
	if (blob_len)
		memcpy(dst + hd->blob_off, blob, blob_len);
}

PgiStatus
pgim_use_file_size(const UseConfig *c, GemmFormat fmt, uint64_t *bytes, PgiError *err)
{
	uint64_t	w;
	PgiStatus	st = use_weights_size(c, fmt, &w, err);

	if (st == PGI_OK)
		*bytes = PGIM_HEADER_SIZE + w;
	return st;
}

PgiStatus
pgim_build_use(uint8_t *dst, uint64_t dst_len, const UseSource *src, const PgimMeta *meta,
			   const char *sha256, PgiError *err)
{
	PgimHeader *hd = (PgimHeader *) dst;
	const UseConfig *c = use_source_config(src);
	uint64_t	size;
	PgiStatus	st;

	if ((st = pgim_use_file_size(c, meta->wfmt, &size, err)) != PGI_OK)
		return st;
	if (size != dst_len)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer has the wrong size");
	memset(dst, 0, PGIM_HEADER_SIZE);
	if ((st = use_pack(src, meta->wfmt, dst + PGIM_HEADER_SIZE, size - PGIM_HEADER_SIZE,
					   err)) != PGI_OK)
		return st;
	header_init(hd, PGIM_ARCH_USE, size - PGIM_HEADER_SIZE, 0, 0, sha256, meta);
	hd->use_config = *c;
	return PGI_OK;
}

/* Point w's fields into the weights section */
static void
bind_weights(const BertConfig *c, GemmFormat fmt, const uint8_t *base, BertWeights *w)
{
	Slot		slots[MAX_SLOTS];
	int			n;
	const float *p[MAX_SLOTS];

	bert_layout(c, fmt, slots, &n);
	for (int i = 0; i < n; i++)
		p[i] = (const float *) (base + slots[i].off);
	memset(w, 0, sizeof(*w));
	w->tok_embd = p[0];
	w->pos_embd = p[1];
	w->type_embd = p[2];
	w->embd_ln_w = p[3];
	w->embd_ln_b = p[4];
	if (c->pooler)
	{
		const float *const *q = p + SLOTS_GLOBAL + c->n_layers * SLOTS_LAYER;

		w->pool_w = q[0];
		w->pool_b = q[1];
		w->cls_w = q[2];
		w->cls_b = q[3];
	}
	else if (c->head != BERT_HEAD_NONE)
	{
		const float *const *q = p + SLOTS_GLOBAL + c->n_layers * SLOTS_LAYER;

		w->cls_w = q[0];
		w->cls_b = q[1];
	}
	for (int l = 0; l < c->n_layers; l++)
	{
		const float *const *q = p + SLOTS_GLOBAL + l * SLOTS_LAYER;
		BertLayer  *L = &w->layers[l];

		L->qkv_w = q[0];
		L->qkv_b = q[1];
		L->out_w = q[2];
		L->out_b = q[3];
		L->ln1_w = q[4];
		L->ln1_b = q[5];
		L->up_w = q[6];
		L->up_b = q[7];
		L->down_w = q[8];
		L->down_b = q[9];
		L->ln2_w = q[10];
		L->ln2_b = q[11];
	}
}

PgiStatus
pgim_llama_file_size(const GgufFile *g, const LlamaConfig *c, uint64_t blob_len, uint64_t *bytes,
					 PgiError *err)
{
	uint64_t	w;
	PgiStatus	st = llama_weights_size(g, c, &w, err);

	if (st == PGI_OK)
		*bytes = PGIM_HEADER_SIZE + w + align_up(blob_len);
	return st;
}

PgiStatus
pgim_build_llama(uint8_t *dst, uint64_t dst_len, const GgufFile *g, const LlamaConfig *c,
				 const PgimMeta *meta, const uint8_t *blob, uint64_t blob_len, const char *sha256,
				 int (*cancel) (void *), void *cancel_arg, PgiError *err)
{
	PgimHeader *hd = (PgimHeader *) dst;
	uint64_t	w,
				size;
	PgiStatus	st;

	if ((st = llama_weights_size(g, c, &w, err)) != PGI_OK)
		return st;
	size = PGIM_HEADER_SIZE + w + align_up(blob_len);
	if (size != dst_len)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer has the wrong size");
	memset(dst, 0, PGIM_HEADER_SIZE);
	if ((st = llama_pack(g, c, dst + PGIM_HEADER_SIZE, w, cancel, cancel_arg, err)) != PGI_OK)
		return st;
	header_init(hd, PGIM_ARCH_LLAMA, w, 0, blob_len, sha256, meta);
	hd->llama_config = *c;
	if (blob_len)
		memcpy(dst + hd->blob_off, blob, blob_len);
	return PGI_OK;
}

PgiStatus
pgim_clip_file_size(const ClipConfig *c, uint64_t blob_len, uint64_t *bytes, PgiError *err)
{
	uint64_t	w;
	PgiStatus	st = clip_weights_size(c, &w, err);

	if (st != PGI_OK)
		return st;
	if (blob_len > ((uint64_t) 1 << 40))
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "tokenizer data too large");
	*bytes = PGIM_HEADER_SIZE + w + align_up(blob_len);
	return PGI_OK;
}

PgiStatus
pgim_build_clip(uint8_t *dst, uint64_t dst_len, const ClipPrep *prep, const PgimMeta *meta,
				PgimFindFn find, void *find_arg, const uint8_t *blob, uint64_t blob_len,
				const char *sha256, PgiError *err)
{
	PgimHeader *hd = (PgimHeader *) dst;
	uint64_t	w,
				size;
	ClipPrep	p = *prep;
	PgiStatus	st;

	if ((st = pgim_clip_file_size(&prep->config, blob_len, &size, err)) != PGI_OK)
		return st;
	if (size != dst_len)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer has the wrong size");
	w = size - PGIM_HEADER_SIZE - align_up(blob_len);
	memset(dst, 0, PGIM_HEADER_SIZE);
	if ((st = clip_pack(&p.config, find, find_arg, dst + PGIM_HEADER_SIZE, w,
						&p.config.logit_scale, err)) != PGI_OK)
		return st;
	header_init(hd, PGIM_ARCH_CLIP, w, 0, blob_len, sha256, meta);
	hd->clip = p;
	if (blob_len)
		memcpy(dst + hd->blob_off, blob, blob_len);
	return PGI_OK;
}

/* Check and bind a CLIP prepared file */
static PgiStatus
open_clip(const uint8_t *data, uint64_t len, PgimModel *out, PgiError *err)
{
	const PgimHeader *hd = (const PgimHeader *) data;
	ClipPrep	p = hd->clip;
	uint64_t	size;
	PgiStatus	st;

	memset(out, 0, sizeof(*out));
	/* strings of the header must be terminated before anyone reads them */
	p.text_model[sizeof(p.text_model) - 1] = '\0';
	p.text_sha256[sizeof(p.text_sha256) - 1] = '\0';
	if ((st = pgim_clip_file_size(&p.config, hd->blob_len, &size, err)) != PGI_OK)
		return st;
	if (p.config.has_vision && (st = image_prep_check(&p.image, err)) != PGI_OK)
		return st;
	if (hd->file_size != len || size != len || hd->weights_off != PGIM_HEADER_SIZE ||
		hd->vocab_len != 0 || hd->blob_off != PGIM_HEADER_SIZE + hd->weights_len ||
		hd->blob_off + align_up(hd->blob_len) != len)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model file is truncated or inconsistent");
	if ((st = clip_bind(&p.config, data + PGIM_HEADER_SIZE, hd->weights_len, &out->clip_weights,
						err)) != PGI_OK)
		return st;
	if (p.config.has_text && (hd->meta.bos_id >= p.config.text.vocab || hd->meta.eos_id >= p.config.text.vocab ||
							  hd->meta.max_tokens < 2 || hd->meta.max_tokens > p.config.text.max_pos))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "prepared model file has inconsistent tokenizer settings");
	out->header = hd;
	out->arch = PGIM_ARCH_CLIP;
	out->clip = p;
	out->meta = hd->meta;
	out->vocab = data + hd->vocab_off;
	out->blob = data + hd->blob_off;
	out->blob_len = hd->blob_len;
	return PGI_OK;
}

/* Check and bind a decoder's prepared file */
static PgiStatus
open_llama(const uint8_t *data, uint64_t len, PgimModel *out, PgiError *err)
{
	const PgimHeader *hd = (const PgimHeader *) data;
	PgiStatus	st;

	memset(out, 0, sizeof(*out));
	if (hd->file_size != len || hd->weights_off != PGIM_HEADER_SIZE ||
		hd->weights_len > len - PGIM_HEADER_SIZE || hd->vocab_len != 0 ||
		hd->blob_off != PGIM_HEADER_SIZE + hd->weights_len || hd->blob_len > len - hd->blob_off ||
		hd->blob_off + align_up(hd->blob_len) != len)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model file is truncated or inconsistent");
	if ((st = llama_bind(&hd->llama_config, data + PGIM_HEADER_SIZE, hd->weights_len,
						 &out->llama_weights, err)) != PGI_OK)
		return st;
	if (hd->meta.bos_id >= hd->llama_config.vocab || hd->meta.eos_id >= hd->llama_config.vocab)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "prepared model file has inconsistent tokenizer settings");
	out->header = hd;
	out->arch = PGIM_ARCH_LLAMA;
	out->llama_config = hd->llama_config;
	out->meta = hd->meta;
	out->vocab = data + hd->vocab_off;
	out->vocab_len = 0;
	out->blob = data + hd->blob_off;
	out->blob_len = hd->blob_len;
	return PGI_OK;
}

PgiStatus
pgim_open(const uint8_t *data, uint64_t len, PgimModel *out, PgiError *err)
{
	const PgimHeader *hd = (const PgimHeader *) data;
	uint64_t	total,
				wlen;
	PgiStatus	st;

	if (len < PGIM_HEADER_SIZE || memcmp(hd->magic, PGIM_MAGIC, 8) != 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "not a prepared model file");
	if (hd->version != PGIM_VERSION ||
		(hd->arch != PGIM_ARCH_BERT && hd->arch != PGIM_ARCH_TOKENIZER && hd->arch != PGIM_ARCH_USE &&
		 hd->arch != PGIM_ARCH_LLAMA && hd->arch != PGIM_ARCH_CLIP))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "prepared model file has version %u, architecture %u",
						 hd->version, hd->arch);
	if (hd->arch == PGIM_ARCH_LLAMA)
		return open_llama(data, len, out, err);
	if (hd->arch == PGIM_ARCH_CLIP)
		return open_clip(data, len, out, err);
	if (hd->arch == PGIM_ARCH_USE)
	{
		uint64_t	size;

		memset(out, 0, sizeof(*out));
		if ((st = pgim_use_file_size(&hd->use_config, hd->meta.wfmt, &size, err)) != PGI_OK)
			return st;
		if (hd->file_size != len || size != len || hd->weights_off != PGIM_HEADER_SIZE ||
			hd->weights_len != len - PGIM_HEADER_SIZE)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "prepared model file is truncated or inconsistent");
		out->header = hd;
		out->arch = PGIM_ARCH_USE;
		out->meta = hd->meta;
		out->use_config = hd->use_config;
		return use_bind(&out->use_config, hd->meta.wfmt, data + PGIM_HEADER_SIZE, hd->weights_len,
						&out->use_weights, err);
	}
	if (hd->arch == PGIM_ARCH_TOKENIZER)
	{
		if (hd->vocab_len > len || hd->blob_len > len ||
			hd->file_size != len || pgim_tokenizer_file_size(hd->vocab_len, hd->blob_len) != len ||
			hd->vocab_off != PGIM_HEADER_SIZE || hd->blob_off != PGIM_HEADER_SIZE + align_up(hd->vocab_len))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "prepared model file is truncated or inconsistent");
		memset(out, 0, sizeof(*out));
		out->header = hd;
		out->arch = PGIM_ARCH_TOKENIZER;
		out->meta = hd->meta;
		out->vocab = data + hd->vocab_off;
		out->vocab_len = hd->vocab_len;
		out->blob = data + hd->blob_off;
		out->blob_len = hd->blob_len;
		return PGI_OK;
	}
	if ((st = pgim_file_size(&hd->config, hd->meta.wfmt, hd->vocab_len, hd->blob_len, &total,
							 err)) != PGI_OK)
		return st;
	if ((st = pgim_bert_weights_size(&hd->config, hd->meta.wfmt, &wlen, err)) != PGI_OK)
		return st;
	if (hd->file_size != len || total != len || hd->weights_off != PGIM_HEADER_SIZE ||
		hd->weights_len != wlen || hd->vocab_off != PGIM_HEADER_SIZE + wlen ||
		hd->blob_off != hd->vocab_off + align_up(hd->vocab_len))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "prepared model file is truncated or inconsistent");
	{
		int64_t		nv = hd->vocab_len >= 4 ? (int64_t) *(const uint32_t *) (data + hd->vocab_off) : 0;
		const PgimMeta *m = &hd->meta;

		/* the ids the runtime indexes with must be in the vocabulary */
		if (nv != hd->config.vocab || m->cls_id < 0 || m->cls_id >= nv || m->sep_id < 0 ||
			m->sep_id >= nv || m->unk_id < 0 || m->unk_id >= nv || m->pad_id >= nv ||
			m->mask_id >= nv || m->max_tokens < 2 || m->max_tokens > hd->config.max_pos)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "prepared model file has inconsistent tokenizer settings");
	}
	memset(out, 0, sizeof(*out));
	out->header = hd;
	out->arch = PGIM_ARCH_BERT;
	out->config = hd->config;
	out->meta = hd->meta;
	bind_weights(&hd->config, hd->meta.wfmt, data + PGIM_HEADER_SIZE, &out->weights);
	out->vocab = data + hd->vocab_off;
	out->vocab_len = hd->vocab_len;
	out->blob = data + hd->blob_off;
	out->blob_len = hd->blob_len;
	return PGI_OK;
}

/* Read a little u32 at p */
static uint32_t
get_u32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
}

uint32_t
pgim_vocab_count(const PgimModel *m)
{
	return m->vocab_len >= 4 ? get_u32(m->vocab) : 0;
}

PgiStatus
pgim_vocab_tokens(const PgimModel *m, const char **tokens, size_t *lens, PgiError *err)
{
	uint32_t	n = pgim_vocab_count(m);
	uint64_t	pos = 4;

	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	l;

		if (pos + 4 > m->vocab_len)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model vocabulary is truncated");
		l = get_u32(m->vocab + pos);
		pos += 4;
		if (l > m->vocab_len - pos)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model vocabulary is truncated");
		tokens[i] = (const char *) m->vocab + pos;
		lens[i] = l;
		pos += l;
	}
	return PGI_OK;
}

PgiStatus
pgim_labels(const PgimModel *m, const char **labels, size_t *lens, PgiError *err)
{
	uint32_t	n = pgim_vocab_count(m);
	uint64_t	pos = 4;

	for (uint32_t i = 0; i < n; i++)
	{
		if (pos + 4 > m->vocab_len || get_u32(m->vocab + pos) > m->vocab_len - pos - 4)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model vocabulary is truncated");
		pos += 4 + get_u32(m->vocab + pos);
	}
	if (pos + 4 > m->vocab_len || get_u32(m->vocab + pos) != (uint32_t) m->config.n_labels)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model has no labels for its head");
	pos += 4;
	for (int32_t i = 0; i < m->config.n_labels; i++)
	{
		uint32_t	l;

		if (pos + 4 > m->vocab_len || (l = get_u32(m->vocab + pos)) > m->vocab_len - pos - 4)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model labels are truncated");
		labels[i] = (const char *) m->vocab + pos + 4;
		lens[i] = l;
		pos += 4 + l;
	}
	return PGI_OK;
}
