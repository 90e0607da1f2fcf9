/*-------------------------------------------------------------------------
 *
 * embed.c
 *	  SQL functions of the text encoders: embed, tokenize, detokenize,
 *	  token_count.
 *
 * A call tokenizes its texts ([CLS] pieces [SEP], truncated to the model's
 * max_tokens unless truncate is false), packs them into forward passes of
 * at most pg_infer.max_batch_tokens tokens (bert.h: no padding), pools and
 * optionally normalises.  All memory is in a per-call context; the core
 * allocates nothing during a pass, so an interrupt (checked between layers
 * and between blocks of 256 token rows) leaves nothing behind.
 *
 * src/pg/infer/embed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/models/bert.h"
#include "core/models/clip.h"
#include "core/formats/json.h"
#include "core/kernels/par.h"
#include "core/models/use_lite.h"
#include "pg/infer/blas.h"
#include "pg/infer/embed.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"
#include "pg/vector/vector.h"

#define EMBED_BLOCK_ROWS 256

typedef struct EmbedOptions
{
	BertPooling pooling;
	bool		normalize;
	bool		truncate;
	bool		head;			/* the sequence head's logits, not an embedding */
} EmbedOptions;

/* A tokenized input: ids with specials */
typedef struct Encoded
{
	int32	   *ids;
	int			n;
	int32	   *types;			/* token types of a text pair; NULL: all 0 */
} Encoded;

static Encoded EncodeChecked(LoadedModel *m, text *t, bool truncate, bool *too_long);

/* Options from jsonb over the model's defaults */
static EmbedOptions
ParseOptions(Jsonb *jb, const LoadedModel *m)
{
	EmbedOptions o;
	JsonDoc    *doc;
	PgiError	err = {0};
	char	   *txt;
	const JsonValue *root;

	o.pooling = (BertPooling) m->pm.meta.pooling;
	o.normalize = m->pm.meta.normalize != 0;
	o.truncate = true;
	if (jb == NULL || (JB_ROOT_IS_OBJECT(jb) && JB_ROOT_COUNT(jb) == 0))
		return o;				/* the default '{}': no parsing per row */
	txt = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	if (json_parse(txt, strlen(txt), &doc, &err) != PGI_OK)
		PgiReport(&err);
	root = json_root(doc);
	if (json_type(root) != JSON_OBJECT)
	{
		json_free(doc);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embed options must be a JSON object")));
	}
	for (size_t i = 0; i < json_size(root); i++)
	{
		const JsonMember *mb = json_member(root, i);
		bool		b;
		size_t		l;
		const char *s;
		const char *bad = NULL;

		if (strcmp(mb->key, "normalize") == 0)
		{
			if (json_bool(&mb->value, &b))
				o.normalize = b;
			else
				bad = "normalize must be true or false";
		}
		else if (strcmp(mb->key, "truncate") == 0)
		{
			if (json_bool(&mb->value, &b))
				o.truncate = b;
			else
				bad = "truncate must be true or false";
		}
		else if (strcmp(mb->key, "pooling") == 0)
		{
			s = json_str(&mb->value, &l);
			if (s && strcmp(s, "mean") == 0)
				o.pooling = BERT_POOL_MEAN;
			else if (s && strcmp(s, "cls") == 0)
				o.pooling = BERT_POOL_CLS;
			else if (s && strcmp(s, "max") == 0)
				o.pooling = BERT_POOL_MAX;
			else if (s && strcmp(s, "last") == 0)
				o.pooling = BERT_POOL_LAST;
			else
				bad = "pooling must be \"mean\", \"cls\", \"max\" or \"last\"";
		}
		else
		{
			char	   *key = pstrdup(mb->key);

			json_free(doc);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown embed option \"%s\"", key),
					 errhint("Options are normalize, pooling and truncate.")));
		}
		if (bad)
		{
			json_free(doc);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid embed option: %s", bad)));
		}
	}
	json_free(doc);
	if ((m->pm.arch == PGIM_ARCH_USE || m->pm.arch == PGIM_ARCH_CLIP) &&
		(o.pooling != (BertPooling) m->pm.meta.pooling || !o.normalize))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has its own pooling and always returns unit-length vectors", m->name),
				 errhint("Only the truncate option applies to it.")));
	return o;
}

/*
 * The ids of one text with the model's special tokens: [CLS] pieces [SEP]
 * truncated to max_tokens (BERT), or BOS/EOS as the tokenizer says
 */
static Encoded
EncodeText(LoadedModel *m, text *t, bool truncate)
{
	return EncodeChecked(m, t, truncate, NULL);
}

/*
 * EncodeText for a row batch: false, instead of an ERROR, when the text is
 * too long and truncate is false (the row is then evaluated alone)
 */
static bool
EncodeFits(LoadedModel *m, text *t, bool truncate, Encoded *e)
{
	bool		too_long = false;

	*e = EncodeChecked(m, t, truncate, &too_long);
	return !too_long;
}

/* EncodeText; with too_long, an over-long text sets it instead of an ERROR */
static Encoded
EncodeChecked(LoadedModel *m, text *t, bool truncate, bool *too_long)
{
	const PgimMeta *meta = &m->pm.meta;
	Encoded		e;
	int			n;
	int32	   *pieces = TokenizerEncode(m->tok, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	bool		bert = m->pm.arch == PGIM_ARCH_BERT;
	bool		use = m->pm.arch == PGIM_ARCH_USE;	/* no special tokens */
	int			before = bert ? 1 : (!use && meta->add_bos ? 1 : 0);
	int			after = bert ? 1 : (!use && meta->add_eos ? 1 : 0);
	int			max = meta->max_tokens;

	if (max > 0 && max < before + after)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" allows %d tokens, fewer than its special tokens", m->name, max)));
	if (max > 0 && n + before + after > max)
	{
		if (!truncate && too_long != NULL)
		{
			pfree(pieces);
			*too_long = true;
			e.ids = NULL;
			e.types = NULL;
			e.n = 0;
			return e;
		}
		if (!truncate)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("input of %d tokens is longer than model \"%s\" accepts (%d)",
							n + before + after, m->name, max),
					 errhint("Pass '{\"truncate\": true}' to keep the first %d tokens.", max)));
		n = max - before - after;
	}
	e.n = n + before + after;
	e.types = NULL;
	e.ids = palloc(sizeof(int32) * Max(e.n, 1));
	if (before)
		e.ids[0] = bert ? meta->cls_id : meta->bos_id;
	memcpy(e.ids + before, pieces, sizeof(int32) * n);
	if (after)
		e.ids[before + n] = bert ? meta->sep_id : meta->eos_id;
	pfree(pieces);
	return e;
}

/* Width of a model's embeddings */
static int
ModelDims(const LoadedModel *m)
{
	if (m->pm.arch == PGIM_ARCH_CLIP)
		return m->pm.clip.config.proj_dim;
	return m->pm.arch == PGIM_ARCH_USE ? m->pm.use_config.d_model : m->pm.config.hidden;
}

/*
 * The model that embeds text for m: m itself, or for an image encoder
 * whose text side is another model (its config's "pg_infer".text_model),
 * that model, checked to be the one the image tower was trained against
 * and to have the same width
 */
static LoadedModel *
TextEncoder(LoadedModel *m)
{
	const ClipPrep *p = &m->pm.clip;
	LoadedModel *t;
	char		name[sizeof(p->text_model)];
	char		sha[sizeof(p->text_sha256)];
	int			dims = p->config.proj_dim;

	if (m->pm.arch != PGIM_ARCH_CLIP || p->config.has_text)
		return m;
	if (p->text_model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" embeds images only", m->name),
				 errhint("Use embed_image(); a vision-only model names its text model in config.json (\"pg_infer\": {\"text_model\": ...}).")));
	/* copies: ModelGet may release m's mapping when it loads another model */
	strlcpy(name, p->text_model, sizeof(name));
	strlcpy(sha, p->text_sha256, sizeof(sha));
	t = ModelGet(name);
	if (sha[0] != '\0' && strcmp(t->sha256, sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" was trained against text model \"%s\" with sha256 %s", m->name, name, sha),
				 errdetail("\"%s\" is registered with sha256 %s: its embeddings are not in the same space.",
						   name, t->sha256)));
	if (t->pm.arch == PGIM_ARCH_CLIP || ModelDims(t) != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("text model \"%s\" of model \"%s\" does not give %d-dimensional embeddings",
						name, m->name, dims)));
	return t;
}

/* ERROR unless the model computes embeddings */
static void
RequireEncoder(const LoadedModel *m)
{
	if (m->pm.arch == PGIM_ARCH_CLIP && m->pm.clip.config.has_text)
		return;
	if (m->pm.arch != PGIM_ARCH_BERT && m->pm.arch != PGIM_ARCH_USE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" is not an embedding model pg_infer can run", m->name),
				 errdetail("Only its tokenizer is available: tokenize(), detokenize(), token_count().")));
}

/* Interrupt check between layers: may longjmp out of the core */
static void
CheckInterrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Work memory of forward passes, kept between calls: per-row calls would
 * otherwise map and fault in fresh pages each time (malloc'd, not palloc'd,
 * so it survives; an error leaves it for the next call)
 */
static float *workBuf = NULL;
static size_t workCap = 0;

/* At least n floats of work memory */
static float *
WorkMemory(size_t n)
{
	if (n > workCap)
	{
		float	   *p = malloc(n * sizeof(float));

		if (p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("A forward pass needs %zu bytes of work memory.", n * sizeof(float))));
		free(workBuf);
		workBuf = p;
		workCap = n;
	}
	return workBuf;
}

/*
 * A forward pass's runtime for model m: BLAS for attention, interrupts
 * checked between layers and row blocks, and the model's weight format
 * with work memory for converted rows (kept for the backend's life:
 * GEMM_LP_WORK_BYTES)
 */
static BertRuntime
EncoderRuntime(const LoadedModel *m)
{
	static void *lpWork = NULL;
	BertRuntime rt = {BlasGet()->sgemm, CheckInterrupts, NULL, EMBED_BLOCK_ROWS, {0}, NULL};

	rt.wfmt = m->pm.meta.wfmt;
	if (rt.wfmt.type != GEMM_F32)
	{
		if (lpWork == NULL && (lpWork = malloc(GEMM_LP_WORK_BYTES)) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("A forward pass in %s needs %zu bytes of work memory.",
							   gemm_format_name(rt.wfmt), GEMM_LP_WORK_BYTES)));
		rt.lp_work = lpWork;
	}
	return rt;
}

/* Embed enc[0..n-1] into out (n, hidden), in passes of max_batch_tokens */
static void
EmbedEncoded(LoadedModel *m, Encoded *enc, int n, const EmbedOptions *o, float *out)
{
	const BertConfig *c = &m->pm.config;
	bool		use = m->pm.arch == PGIM_ARCH_USE;
	bool		clip = m->pm.arch == PGIM_ARCH_CLIP;
	const ClipConfig *cc = &m->pm.clip.config;
	int			dims = o->head ? c->n_labels : ModelDims(m);
	BertRuntime rt = EncoderRuntime(m);
	int			i = 0;

	/* the budget, within what one pass can index (bert_forward's limit) */
	int64		widest = use ? 4 * (int64) dims :
		clip ? Max(6 * (int64) cc->text.hidden, (int64) cc->text.ffn) :
		Max(3 * (int64) c->hidden, (int64) c->ffn);
	int64		cap = Min((int64) pgi_max_batch_tokens, (int64) (INT32_MAX / 2) / widest);

	par_set_threads(pgi_threads);
	while (i < n)
	{
		int			j = i;
		int64		total = 0;
		int32		max_len = 0;
		int32	   *ids;
		int32	   *types = NULL;
		int32	   *lens;
		float	   *scratch;
		float	   *hidden;
		PgiError	err = {0};

		/* as many sequences as fit the token budget (at least one) */
		while (j < n && (j == i || (total + enc[j].n <= cap && j - i < 4096)))
		{
			total += enc[j].n;
			max_len = Max(max_len, enc[j].n);
			j++;
		}
		ids = palloc(sizeof(int32) * Max(total, 1));
		lens = palloc(sizeof(int32) * (j - i));
		for (int k = i; k < j; k++)
			if (enc[k].types != NULL && types == NULL)
				types = palloc0(sizeof(int32) * Max(total, 1));
		total = 0;
		for (int k = i; k < j; k++)
		{
			memcpy(ids + total, enc[k].ids, sizeof(int32) * enc[k].n);
			if (types && enc[k].types)
				memcpy(types + total, enc[k].types, sizeof(int32) * enc[k].n);
			lens[k - i] = enc[k].n;
			total += enc[k].n;
		}
		if (clip)
		{
			scratch = WorkMemory(clip_text_scratch_floats(cc, total, max_len));
			if (clip_text_forward(cc, &m->pm.clip_weights.text, &rt, ids, lens, j - i, scratch,
								  out + (size_t) i * dims, &err) != PGI_OK)
				PgiReport(&err);
		}
		else if (use)
		{
			scratch = WorkMemory(use_scratch_floats(&m->pm.use_config, total, max_len));
			if (use_forward(&m->pm.use_config, &m->pm.use_weights, &rt, ids, lens, j - i,
							scratch, out + (size_t) i * dims, &err) != PGI_OK)
				PgiReport(&err);
		}
		else
		{
			scratch = WorkMemory(bert_scratch_floats(c, total, max_len) + (size_t) total * c->hidden +
								 (size_t) 2 * (j - i) * c->hidden);
			hidden = scratch + bert_scratch_floats(c, total, max_len);
			if (bert_forward_types(c, &m->pm.weights, &rt, ids, types, lens, j - i, scratch, hidden,
								   &err) != PGI_OK)
				PgiReport(&err);
			if (o->head)
				bert_sequence_logits(c, &m->pm.weights, &rt, hidden, lens, j - i,
									 hidden + (size_t) total * c->hidden, out + (size_t) i * dims);
			else
				bert_pool(hidden, lens, j - i, c->hidden, o->pooling, o->normalize,
						  out + (size_t) i * c->hidden);
		}
		pfree(ids);
		pfree(lens);
		if (types)
			pfree(types);
		i = j;
	}
	/* do not keep a big batch's work memory for the life of the backend */
	if (workCap > ((size_t) 64 << 20) / sizeof(float))
	{
		free(workBuf);
		workBuf = NULL;
		workCap = 0;
	}
}

void
TokenHeadLogits(LoadedModel *m, const int32 *ids, const int32 *types, int n, float *logits)
{
	const BertConfig *c = &m->pm.config;
	BertRuntime rt = EncoderRuntime(m);
	int32		len = n;
	float	   *scratch;
	float	   *hidden;
	PgiError	err = {0};

	Assert(m->pm.arch == PGIM_ARCH_BERT &&
		   (c->head == BERT_HEAD_TOKEN || c->head == BERT_HEAD_QA));
	par_set_threads(pgi_threads);
	scratch = WorkMemory(bert_scratch_floats(c, n, n) + (size_t) n * c->hidden);
	hidden = scratch + bert_scratch_floats(c, n, n);
	if (bert_forward_types(c, &m->pm.weights, &rt, ids, types, &len, 1, scratch, hidden,
						   &err) != PGI_OK)
		PgiReport(&err);
	bert_token_logits(c, &m->pm.weights, &rt, hidden, (size_t) n, logits);
}

/* A vector from floats */
static Vector *
MakeVector(const float *x, int dim)
{
	Vector	   *v = InitVector(dim);

	memcpy(v->x, x, sizeof(float) * dim);
	return v;
}

/* Embed one text with a model given by name */
Vector *
EmbedOne(const char *model, text *input, Jsonb *options)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer embed",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = TextEncoder(ModelGet(model));
	EmbedOptions o;
	Encoded		e;
	float	   *out;
	Vector	   *v;

	RequireEncoder(m);
	o = ParseOptions(options, m);
	e = EncodeText(m, input, o.truncate);
	out = palloc(sizeof(float) * ModelDims(m));

	EmbedEncoded(m, &e, 1, &o, out);
	MemoryContextSwitchTo(old);
	v = MakeVector(out, ModelDims(m));
	MemoryContextDelete(cxt);
	return v;
}

/*
 * Encode the texts one pass can take (not NULL; not too long when truncate
 * is off) and run them: *x (nreal, width), in the current context, with
 * row[k] the index of the text of output row k; returns nreal
 */
static int
RunRows(LoadedModel *m, const EmbedOptions *o, text **texts, int n, int width, int *row,
		float **x)
{
	Encoded    *enc = palloc(sizeof(Encoded) * Max(n, 1));
	int			nreal = 0;

	for (int i = 0; i < n; i++)
		if (texts[i] != NULL && EncodeFits(m, texts[i], o->truncate, &enc[nreal]))
			row[nreal++] = i;
	*x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * (size_t) Max(nreal, 1) * width);
	if (nreal > 0)
		EmbedEncoded(m, enc, nreal, o, *x);
	return nreal;
}

/*
 * Embeddings of texts[0..n-1] in one pass, for the executor's row batches
 * (batch.c).  out[i] is NULL where texts[i] is NULL, and where evaluating
 * that row alone would raise an ERROR (too long with truncate false): the
 * caller evaluates such a row by itself (EmbedOne), so the error comes from
 * that row, in row order, as without batching.  Results are palloc'd in
 * the current context.
 */
void
EmbedRows(const char *model, Jsonb *options, text **texts, int n, Vector **out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer embed rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = TextEncoder(ModelGet(model));
	EmbedOptions o;
	int		   *row = palloc(sizeof(int) * Max(n, 1));
	int			nreal;
	int			dims = ModelDims(m);
	float	   *x;

	RequireEncoder(m);
	o = ParseOptions(options, m);
	for (int i = 0; i < n; i++)
		out[i] = NULL;
	nreal = RunRows(m, &o, texts, n, dims, row, &x);
	MemoryContextSwitchTo(old);
	for (int k = 0; k < nreal; k++)
		out[row[k]] = MakeVector(x + (size_t) k * dims, dims);
	MemoryContextDelete(cxt);
}

/*
 * [CLS] a [SEP] b [SEP] with token types 0 then 1, truncated to max_tokens
 * as Hugging Face's "longest_first" does: with n1 <= n2 the pieces of the
 * shorter and longer text and room the positions left, the longer keeps
 * max(n1, room - n1); when both are still too long, the first gets
 * room / 2 and the second the rest (the longer the odd one when swapped)
 */
static Encoded
EncodePair(LoadedModel *m, text *a, text *b)
{
	const PgimMeta *meta = &m->pm.meta;
	int			na,
				nb;
	int32	   *pa = TokenizerEncode(m->tok, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), &na);
	int32	   *pb = TokenizerEncode(m->tok, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &nb);
	int			room = meta->max_tokens - 3;
	Encoded		e;

	if (room < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" allows %d tokens, fewer than a text pair's special tokens", m->name,
						meta->max_tokens)));
	if (na + nb > room)
	{
		bool		swap = na > nb;
		int			n1 = swap ? nb : na,
					n2;

		n2 = n1 > room ? n1 : Max(n1, room - n1);
		if (n1 + n2 > room)
		{
			n1 = room / 2;
			n2 = n1 + room % 2;
		}
		na = swap ? n2 : n1;
		nb = swap ? n1 : n2;
	}
	e.n = na + nb + 3;
	e.ids = palloc(sizeof(int32) * e.n);
	e.types = palloc(sizeof(int32) * e.n);
	e.ids[0] = meta->cls_id;
	memcpy(e.ids + 1, pa, sizeof(int32) * na);
	e.ids[1 + na] = meta->sep_id;
	memcpy(e.ids + 2 + na, pb, sizeof(int32) * nb);
	e.ids[2 + na + nb] = meta->sep_id;
	for (int i = 0; i < e.n; i++)
		e.types[i] = i < na + 2 ? 0 : 1;
	pfree(pa);
	pfree(pb);
	return e;
}

bool
HeadLogitsPairs(const char *model, text *query, text **docs, int n, float *logits)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer rerank",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = ModelGet(model);
	EmbedOptions o;
	Encoded    *enc = palloc(sizeof(Encoded) * Max(n, 1));

	if (m->pm.arch != PGIM_ARCH_BERT || m->pm.config.head != BERT_HEAD_SEQUENCE)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return false;
	}
	if (m->pm.config.n_types < 2)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has one token type, so it cannot read text pairs", model)));
	o = ParseOptions(NULL, m);
	o.head = true;
	for (int i = 0; i < n; i++)
		enc[i] = EncodePair(m, query, docs[i]);
	MemoryContextSwitchTo(old);
	if (n > 0)
		EmbedEncoded(m, enc, n, &o, logits);
	MemoryContextDelete(cxt);
	return true;
}

bool
HeadLogitsRows(const char *model, text **texts, int n, float *logits, bool *have)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer head rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LoadedModel *m = ModelGet(model);
	EmbedOptions o;
	int		   *row = palloc(sizeof(int) * Max(n, 1));
	int			nreal,
				k;
	float	   *x;

	if (m->pm.arch != PGIM_ARCH_BERT || m->pm.config.head != BERT_HEAD_SEQUENCE)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return false;
	}
	k = m->pm.config.n_labels;
	o = ParseOptions(NULL, m);
	o.head = true;
	for (int i = 0; i < n; i++)
		have[i] = false;
	nreal = RunRows(m, &o, texts, n, k, row, &x);
	for (int j = 0; j < nreal; j++)
	{
		memcpy(logits + (size_t) row[j] * k, x + (size_t) j * k, sizeof(float) * k);
		have[row[j]] = true;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return true;
}

/* The last embedding a call site computed (fn_extra) */
typedef struct LastEmbed
{
	char	   *model;
	uint64		generation;		/* RegistryGeneration() then */
	text	   *input;
	Jsonb	   *options;		/* NULL: none */
	Vector	   *result;
} LastEmbed;

/*
 * EmbedOne, remembering the last result of this call site: a query that
 * calls embed() with the same arguments for every row (a constant text in
 * the target list of an index scan ordered by it) embeds it once
 */
static Vector *
EmbedRemembered(FunctionCallInfo fcinfo, const char *model, text *input, Jsonb *options)
{
	LastEmbed  *l = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	Vector	   *v;

	if (l != NULL && strcmp(l->model, model) == 0 && l->generation == RegistryGeneration() &&
		VARSIZE_ANY_EXHDR(l->input) == VARSIZE_ANY_EXHDR(input) &&
		memcmp(VARDATA_ANY(l->input), VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input)) == 0 &&
		((l->options == NULL && options == NULL) ||
		 (l->options != NULL && options != NULL && VARSIZE(l->options) == VARSIZE(options) &&
		  memcmp(l->options, options, VARSIZE(options)) == 0)))
		return (Vector *) PG_DETOAST_DATUM_COPY(PointerGetDatum(l->result));
	v = EmbedOne(model, input, options);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (l == NULL)
		l = fcinfo->flinfo->fn_extra = palloc0(sizeof(LastEmbed));
	else
	{
		pfree(l->model);
		pfree(l->input);
		if (l->options)
			pfree(l->options);
		pfree(l->result);
	}
	l->model = pstrdup(model);
	l->generation = RegistryGeneration();
	l->input = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(input));
	l->options = options ? (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(options)) : NULL;
	l->result = (Vector *) PG_DETOAST_DATUM_COPY(PointerGetDatum(v));
	MemoryContextSwitchTo(old);
	return v;
}

PG_FUNCTION_INFO_V1(pgi_embed);

/* embed(model text, input text, options jsonb) */
Datum
pgi_embed(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *input = PG_GETARG_TEXT_PP(1);
	Jsonb	   *options = PG_NARGS() > 2 ? PG_GETARG_JSONB_P(2) : NULL;

	PG_RETURN_POINTER(EmbedRemembered(fcinfo, model, input, options));
}

PG_FUNCTION_INFO_V1(pgi_embed_default);

/* embed(input text): the model named by pg_infer.default_model */
Datum
pgi_embed_default(PG_FUNCTION_ARGS)
{
	if (pgi_default_model == NULL || pgi_default_model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_infer.default_model is not set")));
	PG_RETURN_POINTER(EmbedRemembered(fcinfo, pgi_default_model, PG_GETARG_TEXT_PP(0), NULL));
}

PG_FUNCTION_INFO_V1(pgi_embed_batch);

/* embed(model text, inputs text[], options jsonb) -> vector[]: one batch */
Datum
pgi_embed_batch(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Jsonb	   *options = PG_NARGS() > 2 ? PG_GETARG_JSONB_P(2) : NULL;
	Oid			vectype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	text	  **texts;
	Vector	  **vecs;
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embed() takes a one-dimensional text array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	texts = palloc(sizeof(text *) * Max(n, 1));
	vecs = palloc(sizeof(Vector *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		texts[i] = nulls[i] ? NULL : DatumGetTextPP(elems[i]);
	/* NULL texts give NULL vectors, in place; a text left out raises its ERROR */
	EmbedRows(model, options, texts, n, vecs);
	for (int i = 0; i < n; i++)
	{
		if (texts[i] != NULL && vecs[i] == NULL)
			vecs[i] = EmbedOne(model, texts[i], options);
		elems[i] = PointerGetDatum(vecs[i]);
	}
	dims[0] = n;
	get_typlenbyvalalign(vectype, &typlen, &typbyval, &typalign);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, n > 0 ? 1 : 0, dims, lbs, vectype,
											 typlen, typbyval, typalign));
}

PG_FUNCTION_INFO_V1(pgi_tokenize);

/* tokenize(model, text) -> int[]: ids with the model's special tokens */
Datum
pgi_tokenize(PG_FUNCTION_ARGS)
{
	LoadedModel *m = TextEncoder(ModelGet(text_to_cstring(PG_GETARG_TEXT_PP(0))));
	Encoded		e = EncodeText(m, PG_GETARG_TEXT_PP(1), true);
	Datum	   *d = palloc(sizeof(Datum) * e.n);

	for (int i = 0; i < e.n; i++)
		d[i] = Int32GetDatum(e.ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, e.n, INT4OID, 4, true, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(pgi_token_count);

/* token_count(model, text): tokens with specials, before truncation */
Datum
pgi_token_count(PG_FUNCTION_ARGS)
{
	LoadedModel *m = TextEncoder(ModelGet(text_to_cstring(PG_GETARG_TEXT_PP(0))));
	text	   *t = PG_GETARG_TEXT_PP(1);
	int			n;
	int32	   *ids = TokenizerEncode(m->tok, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	int			specials = m->pm.arch == PGIM_ARCH_BERT ? 2 :
		(m->pm.meta.add_bos ? 1 : 0) + (m->pm.meta.add_eos ? 1 : 0);

	pfree(ids);
	PG_RETURN_INT32(n + specials);
}

PG_FUNCTION_INFO_V1(pgi_detokenize);

/* detokenize(model, int[]) -> text */
Datum
pgi_detokenize(PG_FUNCTION_ARGS)
{
	LoadedModel *m = TextEncoder(ModelGet(text_to_cstring(PG_GETARG_TEXT_PP(0))));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int32	   *ids;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("detokenize() takes a one-dimensional integer array")));
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	ids = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("token ids must not be NULL")));
		ids[i] = DatumGetInt32(elems[i]);
	}
	PG_RETURN_TEXT_P(cstring_to_text(TokenizerDecode(m->tok, ids, n)));
}
