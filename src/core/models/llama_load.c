/*-------------------------------------------------------------------------
 *
 * llama_load.c
 *	  LLaMA-family decoders from GGUF files (see llama_load.h).
 *
 * Metadata keys follow llama.cpp's GGUF conventions, prefixed by the
 * architecture name: block_count, embedding_length, feed_forward_length,
 * context_length, attention.head_count, attention.head_count_kv,
 * attention.key_length, attention.layer_norm_rms_epsilon, rope.freq_base,
 * rope.dimension_count, rope.scaling.type / rope.scaling.factor (linear
 * only).  Tensors: token_embd, output_norm, output (absent when tied),
 * rope_freqs (Llama 3.1), and per layer blk.N.attn_norm, attn_q, attn_k,
 * attn_v (with .bias for qwen2), attn_output, ffn_norm, ffn_gate, ffn_up,
 * ffn_down.
 *
 * src/core/models/llama_load.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/gemm.h"
#include "core/kernels/qdot.h"
#include "core/kernels/quant.h"
#include "core/models/llama_load.h"

#define SLOTS_GLOBAL	4
#define SLOTS_LAYER		12
#define MAX_SLOTS		(SLOTS_GLOBAL + SLOTS_LAYER * LLAMA_MAX_LAYERS)

/* Which tensors a slot may be absent for */
typedef enum SlotKind
{
	SLOT_MATRIX,				/* kept in its ggml type */
	SLOT_VECTOR,				/* converted to float32 */
	SLOT_OPT_MATRIX,
	SLOT_OPT_VECTOR
} SlotKind;

/* What a slot must hold */
typedef struct SlotSpec
{
	char		name[64];
	SlotKind	kind;
	int64_t		rows;			/* 1 for vectors */
	int64_t		cols;
} SlotSpec;

static const char *const layer_names[SLOTS_LAYER] = {
	"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
	"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.weight",
	"ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"
};

/* The slots of c in the section's order; returns their number */
static int
llama_slots(const LlamaConfig *c, SlotSpec *s)
{
	int64_t		d = c->dim,
				qd = (int64_t) c->n_heads * c->head_dim,
				kvd = (int64_t) c->n_kv_heads * c->head_dim,
				f = c->ffn;
	SlotKind	bias = c->qkv_bias ? SLOT_VECTOR : SLOT_OPT_VECTOR;
	SlotSpec	layer[SLOTS_LAYER] = {
		{"", SLOT_VECTOR, 1, d}, {"", SLOT_MATRIX, qd, d}, {"", SLOT_MATRIX, kvd, d},
		{"", SLOT_MATRIX, kvd, d}, {"", bias, 1, qd}, {"", bias, 1, kvd}, {"", bias, 1, kvd},
		{"", SLOT_MATRIX, d, qd}, {"", SLOT_VECTOR, 1, d}, {"", SLOT_MATRIX, f, d},
		{"", SLOT_MATRIX, f, d}, {"", SLOT_MATRIX, d, f}
	};
	int			n = 0;

	s[n++] = (SlotSpec) {"token_embd.weight", SLOT_MATRIX, c->vocab, d};
	s[n++] = (SlotSpec) {"output_norm.weight", SLOT_VECTOR, 1, d};
	s[n++] = (SlotSpec) {"output.weight", SLOT_OPT_MATRIX, c->vocab, d};
	s[n++] = (SlotSpec) {"rope_freqs.weight", SLOT_OPT_VECTOR, 1, c->rope_dim / 2};
	for (int l = 0; l < c->n_layers; l++)
		for (int i = 0; i < SLOTS_LAYER; i++)
		{
			s[n] = layer[i];
			snprintf(s[n].name, sizeof(s[n].name), "blk.%d.%s", l, layer_names[i]);
			n++;
		}
	return n;
}

/* ------------------------------------------------------------ metadata */

/* "ARCH.suffix" */
static const char *
key(const LlamaConfig *c, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", c->arch == LLAMA_ARCH_QWEN2 ? "qwen2" : "llama", suffix);
	return buf;
}

/* A required positive integer key */
static PgiStatus
get_int(const GgufFile *g, const LlamaConfig *c, const char *suffix, int32_t *out, PgiError *err)
{
	char		k[96];
	uint32_t	v;
	PgiStatus	st;

	if ((st = gguf_get_u32(g, key(c, suffix, k, sizeof(k)), &v, err)) != PGI_OK)
		return st;
	if (v > INT32_MAX)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF key %s is out of range", k);
	*out = (int32_t) v;
	return PGI_OK;
}

/* An optional integer key */
static PgiStatus
opt_int(const GgufFile *g, const LlamaConfig *c, const char *suffix, int32_t dflt, int32_t *out,
		PgiError *err)
{
	char		k[96];

	if (gguf_find_kv(g, key(c, suffix, k, sizeof(k))) == NULL)
	{
		*out = dflt;
		return PGI_OK;
	}
	return get_int(g, c, suffix, out, err);
}

/* An optional float key */
static PgiStatus
opt_f32(const GgufFile *g, const LlamaConfig *c, const char *suffix, float dflt, float *out,
		PgiError *err)
{
	char		k[96];

	if (gguf_find_kv(g, key(c, suffix, k, sizeof(k))) == NULL)
	{
		*out = dflt;
		return PGI_OK;
	}
	return gguf_get_f32(g, k, out, err);
}

/* Rope scaling: linear (positions / factor) or none; others unsupported */
static PgiStatus
rope_scaling(const GgufFile *g, LlamaConfig *c, PgiError *err)
{
	char		k[96];
	const char *type = "none";
	size_t		tlen = 4;
	float		factor = 1.0f;
	PgiStatus	st;

	if (gguf_find_kv(g, key(c, "rope.scaling.type", k, sizeof(k))) != NULL &&
		(st = gguf_get_str(g, k, &type, &tlen, err)) != PGI_OK)
		return st;
	if ((st = opt_f32(g, c, "rope.scaling.factor", 1.0f, &factor, err)) != PGI_OK)
		return st;
	/* older files: rope.scale_linear */
	if (gguf_find_kv(g, key(c, "rope.scale_linear", k, sizeof(k))) != NULL)
	{
		if ((st = gguf_get_f32(g, k, &factor, err)) != PGI_OK)
			return st;
		type = "linear";
		tlen = 6;
	}
	if ((tlen == 4 && memcmp(type, "none", 4) == 0) || factor == 1.0f || factor == 0.0f)
		c->rope_scale = 1.0f;
	else if (tlen == 6 && memcmp(type, "linear", 6) == 0 && factor > 1.0f && factor < 1e6f)
		c->rope_scale = 1.0f / factor;
	else
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "pg_infer supports linear rope scaling and Llama 3.1's rope_freqs.",
						 "rope scaling \"%.*s\" with factor %g is not supported",
						 (int) (tlen > 32 ? 32 : tlen), type, (double) factor);
	return PGI_OK;
}

PgiStatus
llama_config_from_gguf(const GgufFile *g, LlamaConfig *c, PgiError *err)
{
	const char *arch;
	size_t		alen;
	const GgufTensor *te;
	PgiStatus	st;
	int32_t		key_len;

	memset(c, 0, sizeof(*c));
	if ((st = gguf_get_str(g, "general.architecture", &arch, &alen, err)) != PGI_OK)
		return st;
	if (alen == 5 && memcmp(arch, "llama", 5) == 0)
		c->arch = LLAMA_ARCH_LLAMA;
	else if (alen == 5 && memcmp(arch, "qwen2", 5) == 0)
		c->arch = LLAMA_ARCH_QWEN2;
	else
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Decoders of architecture llama and qwen2 are supported.",
						 "GGUF architecture \"%.*s\" cannot generate", (int) (alen > 64 ? 64 : alen), arch);
	c->rope_style = c->arch == LLAMA_ARCH_QWEN2 ? LLAMA_ROPE_NEOX : LLAMA_ROPE_NORM;
	if ((st = get_int(g, c, "block_count", &c->n_layers, err)) != PGI_OK ||
		(st = get_int(g, c, "embedding_length", &c->dim, err)) != PGI_OK ||
		(st = get_int(g, c, "feed_forward_length", &c->ffn, err)) != PGI_OK ||
		(st = get_int(g, c, "context_length", &c->ctx_len, err)) != PGI_OK ||
		(st = get_int(g, c, "attention.head_count", &c->n_heads, err)) != PGI_OK ||
		(st = opt_int(g, c, "attention.head_count_kv", c->n_heads, &c->n_kv_heads, err)) != PGI_OK)
		return st;
	if (c->n_heads < 1 || c->dim % c->n_heads != 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF width %d is not a multiple of %d heads",
						 c->dim, c->n_heads);
	if ((st = opt_int(g, c, "attention.key_length", c->dim / c->n_heads, &key_len, err)) != PGI_OK)
		return st;
	c->head_dim = key_len;
	if ((st = opt_int(g, c, "rope.dimension_count", c->head_dim, &c->rope_dim, err)) != PGI_OK ||
		(st = opt_f32(g, c, "rope.freq_base", 10000.0f, &c->rope_base, err)) != PGI_OK ||
		(st = opt_f32(g, c, "attention.layer_norm_rms_epsilon", 1e-5f, &c->norm_eps, err)) != PGI_OK ||
		(st = rope_scaling(g, c, err)) != PGI_OK)
		return st;
	te = gguf_find_tensor(g, "token_embd.weight");
	if (te == NULL || te->n_dims != 2 || te->ne[1] > LLAMA_MAX_VOCAB)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF decoder lacks a 2-D token_embd.weight");
	c->vocab = (int32_t) te->ne[1];
	c->tied = gguf_find_tensor(g, "output.weight") == NULL;
	c->rope_freqs = gguf_find_tensor(g, "rope_freqs.weight") != NULL;
	c->qkv_bias = gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
	return llama_config_check(c, err);
}

/* ------------------------------------------------------------ tensors */

/* Check one tensor against its slot; *t NULL when an optional one is absent */
static PgiStatus
check_slot(const GgufFile *g, const SlotSpec *s, const GgufTensor **t, PgiError *err)
{
	bool		matrix = s->kind == SLOT_MATRIX || s->kind == SLOT_OPT_MATRIX;
	const GgmlTypeInfo *info;

	*t = gguf_find_tensor(g, s->name);
	if (*t == NULL)
	{
		if (s->kind == SLOT_OPT_MATRIX || s->kind == SLOT_OPT_VECTOR)
			return PGI_OK;
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF decoder lacks tensor %s", s->name);
	}
	if ((int64_t) (*t)->ne[0] != s->cols || (int64_t) (*t)->ne[1] != s->rows ||
		(*t)->ne[2] != 1 || (*t)->ne[3] != 1 || (matrix ? (*t)->n_dims != 2 : (*t)->n_dims != 1))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "GGUF tensor %s has shape [%llu, %llu], expected [%lld, %lld]", s->name,
						 (unsigned long long) (*t)->ne[0], (unsigned long long) (*t)->ne[1],
						 (long long) s->cols, (long long) s->rows);
	info = quant_type_info((*t)->type);
	if (matrix ? !qdot_supported((*t)->type) :
		((*t)->type != GGML_TYPE_F32 && (*t)->type != GGML_TYPE_F16 && (*t)->type != GGML_TYPE_BF16))
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Matrices may be F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K or Q6_K; "
						 "vectors F32, F16 or BF16.",
						 "GGUF tensor %s has type %s, which pg_infer cannot run", s->name,
						 quant_type_name((*t)->type));
	if (info == NULL || s->cols % info->blck_size != 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF tensor %s is not whole blocks", s->name);
	return PGI_OK;
}

PgiStatus
llama_check_gguf(const GgufFile *g, LlamaConfig *c, PgiError *err)
{
	static SlotSpec s[MAX_SLOTS];
	int			n;
	PgiStatus	st;

	if ((st = llama_config_check(c, err)) != PGI_OK)
		return st;
	n = llama_slots(c, s);
	for (int i = 0; i < n; i++)
	{
		const GgufTensor *t;

		if ((st = check_slot(g, &s[i], &t, err)) != PGI_OK)
			return st;
	}
	return PGI_OK;
}

/* Round up to 64 bytes */
static uint64_t
align64(uint64_t x)
{
	return (x + 63) & ~(uint64_t) 63;
}

/* Bytes a present tensor takes in the section */
static uint64_t
slot_bytes(const SlotSpec *s, const GgufTensor *t)
{
	if ((s->kind == SLOT_MATRIX || s->kind == SLOT_OPT_MATRIX) && t->type == GGML_TYPE_F32)
		return (uint64_t) gemm_packed_floats(s->rows, s->cols) * sizeof(float);
	if (s->kind == SLOT_MATRIX || s->kind == SLOT_OPT_MATRIX)
		return t->n_bytes;
	return (uint64_t) s->cols * sizeof(float);
}

PgiStatus
llama_weights_size(const GgufFile *g, const LlamaConfig *c, uint64_t *bytes, PgiError *err)
{
	static SlotSpec s[MAX_SLOTS];
	int			n = llama_slots(c, s);
	uint64_t	off = align64((uint64_t) n * sizeof(LlamaSlot));
	PgiStatus	st;

	for (int i = 0; i < n; i++)
	{
		const GgufTensor *t;

		if ((st = check_slot(g, &s[i], &t, err)) != PGI_OK)
			return st;
		if (t)
			off += align64(slot_bytes(&s[i], t));
	}
	*bytes = off;
	return PGI_OK;
}

/* Pack the F32 matrix t (rows, cols) into gemm panels at dst */
static PgiStatus
pack_f32(const SlotSpec *s, const GgufTensor *t, float *dst, PgiError *err)
{
	size_t		n = (size_t) s->rows * (size_t) s->cols;
	float	   *w = malloc(n * sizeof(float));

	if (w == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory packing tensor %s", s->name);
	memcpy(w, t->data, n * sizeof(float));	/* GGUF data need not be float-aligned */
	gemm_pack(w, s->rows, s->cols, dst);
	free(w);
	return PGI_OK;
}

PgiStatus
llama_pack(const GgufFile *g, const LlamaConfig *c, uint8_t *dst, uint64_t dst_len,
		   int (*cancel) (void *), void *cancel_arg, PgiError *err)
{
	static SlotSpec s[MAX_SLOTS];
	int			n = llama_slots(c, s);
	LlamaSlot  *table = (LlamaSlot *) dst;
	uint64_t	off = align64((uint64_t) n * sizeof(LlamaSlot));
	PgiStatus	st;

	memset(dst, 0, off);
	for (int i = 0; i < n; i++)
	{
		const GgufTensor *t;
		uint64_t	b;

		if (cancel && cancel(cancel_arg))
			return pgi_error(err, PGI_ERR_IO, NULL, "model conversion interrupted");
		if ((st = check_slot(g, &s[i], &t, err)) != PGI_OK)
			return st;
		if (t == NULL)
			continue;
		b = slot_bytes(&s[i], t);
		if (off + b > dst_len)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "prepared model buffer is too small");
		table[i].present = 1;
		table[i].rows = (int32_t) s[i].rows;
		table[i].cols = (int32_t) s[i].cols;
		table[i].off = off;
		table[i].bytes = b;
		if ((s[i].kind == SLOT_MATRIX || s[i].kind == SLOT_OPT_MATRIX) && t->type == GGML_TYPE_F32)
		{
			/* F32 matrices as gemm panels: one kernel for 1 and many rows */
			table[i].type = t->type;
			table[i].present = LLAMA_SLOT_PANELS;
			if ((st = pack_f32(&s[i], t, (float *) (dst + off), err)) != PGI_OK)
				return st;
		}
		else if (s[i].kind == SLOT_MATRIX || s[i].kind == SLOT_OPT_MATRIX)
		{
			table[i].type = t->type;
			memcpy(dst + off, t->data, b);
		}
		else
		{
			table[i].type = GGML_TYPE_F32;
			if ((st = quant_dequantize(t->type, t->data, (size_t) s[i].cols, (float *) (dst + off),
									   err)) != PGI_OK)
				return st;
			for (int j = 0; j < s[i].cols; j++)
			{
				float		v = ((float *) (dst + off))[j];

				if (!(v - v == 0.0f))
					return pgi_error(err, PGI_ERR_DATA, NULL,
									 "GGUF tensor %s holds a value that is not finite", s[i].name);
			}
		}
		off += align64(b);
	}
	return PGI_OK;
}

/* Check slot i of a table and make its QMat */
static PgiStatus
bind_slot(const SlotSpec *s, const LlamaSlot *e, const uint8_t *section, uint64_t len, QMat *m,
		  PgiError *err)
{
	const GgmlTypeInfo *info = quant_type_info(e->type);
	bool		matrix = s->kind == SLOT_MATRIX || s->kind == SLOT_OPT_MATRIX;

	memset(m, 0, sizeof(*m));
	if (!e->present)
	{
		if (s->kind == SLOT_OPT_MATRIX || s->kind == SLOT_OPT_VECTOR)
			return PGI_OK;
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model lacks tensor %s", s->name);
	}
	if (info == NULL || e->rows != s->rows || e->cols != s->cols || e->cols % info->blck_size != 0 ||
		(matrix ? !qdot_supported(e->type) : e->type != GGML_TYPE_F32) ||
		(e->present == LLAMA_SLOT_PANELS && (!matrix || e->type != GGML_TYPE_F32)) ||
		(matrix && e->type == GGML_TYPE_F32 && e->present != LLAMA_SLOT_PANELS) ||
		e->off % 64 != 0 || e->off > len ||
		e->bytes != (e->present == LLAMA_SLOT_PANELS ?
					 (uint64_t) gemm_packed_floats(e->rows, e->cols) * sizeof(float) :
					 (uint64_t) e->rows * (e->cols / info->blck_size) * info->type_size) ||
		e->bytes > len - e->off)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model has a bad entry for tensor %s",
						 s->name);
	m->data = section + e->off;
	m->type = e->type;
	m->rows = e->rows;
	m->cols = e->cols;
	m->row_bytes = (size_t) (e->cols / info->blck_size) * info->type_size;
	m->panels = e->present == LLAMA_SLOT_PANELS;
	return PGI_OK;
}

PgiStatus
llama_bind(const LlamaConfig *c, const uint8_t *section, uint64_t len, LlamaWeights *w,
		   PgiError *err)
{
	static SlotSpec s[MAX_SLOTS];
	int			n;
	const LlamaSlot *table = (const LlamaSlot *) section;
	QMat		m[SLOTS_GLOBAL + SLOTS_LAYER];
	PgiStatus	st;

	if ((st = llama_config_check(c, err)) != PGI_OK)
		return st;
	n = llama_slots(c, s);
	if ((uint64_t) n * sizeof(LlamaSlot) > len)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model is truncated");
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < SLOTS_GLOBAL; i++)
		if ((st = bind_slot(&s[i], &table[i], section, len, &m[i], err)) != PGI_OK)
			return st;
	w->tok_embd = m[0];
	w->out_norm = (const float *) m[1].data;
	w->output = c->tied ? m[0] : m[2];
	w->rope_freqs = c->rope_freqs ? (const float *) m[3].data : NULL;
	if (w->output.data == NULL || (c->rope_freqs && w->rope_freqs == NULL))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "prepared model lacks its output tensors");
	for (int l = 0; l < c->n_layers; l++)
	{
		LlamaLayer *L = &w->layers[l];
		int			base = SLOTS_GLOBAL + l * SLOTS_LAYER;

		for (int i = 0; i < SLOTS_LAYER; i++)
			if ((st = bind_slot(&s[base + i], &table[base + i], section, len,
								&m[SLOTS_GLOBAL + i], err)) != PGI_OK)
				return st;
		L->attn_norm = (const float *) m[SLOTS_GLOBAL + 0].data;
		L->wq = m[SLOTS_GLOBAL + 1];
		L->wk = m[SLOTS_GLOBAL + 2];
		L->wv = m[SLOTS_GLOBAL + 3];
		L->bq = (const float *) m[SLOTS_GLOBAL + 4].data;
		L->bk = (const float *) m[SLOTS_GLOBAL + 5].data;
		L->bv = (const float *) m[SLOTS_GLOBAL + 6].data;
		L->wo = m[SLOTS_GLOBAL + 7];
		L->ffn_norm = (const float *) m[SLOTS_GLOBAL + 8].data;
		L->w_gate = m[SLOTS_GLOBAL + 9];
		L->w_up = m[SLOTS_GLOBAL + 10];
		L->w_down = m[SLOTS_GLOBAL + 11];
	}
	{
		size_t		total = w->output.row_bytes * (size_t) w->output.rows;

		for (int l = 0; l < c->n_layers; l++)
		{
			const LlamaLayer *L = &w->layers[l];
			const QMat *mats[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};

			for (int i = 0; i < 7; i++)
				total += mats[i]->row_bytes * (size_t) mats[i]->rows;
		}
		w->streaming = total > QDOT_STREAMING_BYTES;
	}
	return PGI_OK;
}

PgiStatus
llama_open_gguf(const uint8_t *data, size_t len, LlamaConfig *c, LlamaWeights *w,
				uint8_t **section, PgiError *err)
{
	GgufFile   *g;
	uint64_t	bytes;
	PgiStatus	st;

	*section = NULL;
	if ((st = gguf_open(data, len, &g, err)) != PGI_OK)
		return st;
	if ((st = llama_config_from_gguf(g, c, err)) == PGI_OK &&
		(st = llama_check_gguf(g, c, err)) == PGI_OK &&
		(st = llama_weights_size(g, c, &bytes, err)) == PGI_OK)
	{
		if ((*section = aligned_alloc(64, (bytes + 63) / 64 * 64)) == NULL)
			st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory for %llu bytes of weights",
						   (unsigned long long) bytes);
		else if ((st = llama_pack(g, c, *section, bytes, NULL, NULL, err)) == PGI_OK)
			st = llama_bind(c, *section, bytes, w, err);
		if (st != PGI_OK)
		{
			free(*section);
			*section = NULL;
		}
	}
	gguf_free(g);
	return st;
}

int64_t
llama_parameters(const LlamaConfig *c)
{
	int64_t		d = c->dim,
				qd = (int64_t) c->n_heads * c->head_dim,
				kvd = (int64_t) c->n_kv_heads * c->head_dim;
	int64_t		layer = 2 * d + d * qd * 2 + d * kvd * 2 + 3 * d * c->ffn +
		(c->qkv_bias ? qd + 2 * kvd : 0);

	return (int64_t) c->vocab * d * (c->tied ? 1 : 2) + d + layer * c->n_layers;
}
