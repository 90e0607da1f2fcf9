/*-------------------------------------------------------------------------
 *
 * generate.c
 *	  SQL functions of the decoders: generate() and generate_tokens().
 *
 * A call encodes the prompt (BOS first when the model's tokenizer says
 * so), runs it through the decoder in passes of at most
 * GEN_PREFILL_TOKENS tokens, then decodes one token per pass until EOS, a
 * stop string, max_tokens or the end of the context.  The KV cache is the
 * call's own, sized for the prompt plus max_tokens and refused (54000) when
 * it would pass pg_infer.kv_cache_limit.  Interrupts are checked between
 * layers and between tokens; all memory is in a per-call context.
 *
 * Text: the generated ids are decoded together with the prompt's, so that
 * spaces and multi-byte characters split over tokens come out right; a
 * piece is the text a token adds, an incomplete UTF-8 sequence being held
 * back until the token that completes it, and bytes that never form valid
 * UTF-8 (or NUL) become U+FFFD.
 *
 * src/pg/infer/generate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "core/kernels/par.h"
#include "core/models/llama.h"
#include "core/models/sampler.h"
#include "pg/infer/blas.h"
#include "pg/infer/chat.h"
#include "pg/infer/generate.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"

#define GEN_PREFILL_TOKENS 256

int			pgi_kv_cache_limit = 1024;	/* MB */

/* What a call asks for */
typedef struct GenArgs
{
	int32		max_tokens;
	float		temperature;
	int32		top_k;
	float		top_p;
	bool		has_seed;
	int64		seed;
	int			n_stop;
	char	  **stop;
} GenArgs;

/* One generated token, as generate_tokens() returns it */
typedef struct GenToken
{
	int32		pos;
	int32		id;
	char	   *piece;
	float		logprob;
} GenToken;

/* Interrupt check between layers: may longjmp out of the core */
static void
CheckInterrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

void
GenerateInit(void)
{
	DefineCustomIntVariable("pg_infer.kv_cache_limit",
							"Largest key/value cache one generate() call may allocate",
							"The cache holds the prompt and max_tokens positions of every layer.",
							&pgi_kv_cache_limit, 1024, 1, INT_MAX / 2, PGC_SUSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
}

/* ERROR unless the model is a decoder */
static void
RequireDecoder(const LoadedModel *m)
{
	if (m->pm.arch != PGIM_ARCH_LLAMA)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" cannot generate text", m->name),
				 errdetail("generate() runs LLaMA-family decoders (GGUF llama, qwen2).")));
}

/*
 * Arguments 2.. of generate(model, prompt, max_tokens, temperature, top_k,
 * top_p, seed, stop), as v[i] / isnull[i] (i = 0..7)
 */
static GenArgs
ReadArgValues(const Datum *v, const bool *isnull)
{
	GenArgs		a = {0};

	a.max_tokens = isnull[2] ? 128 : DatumGetInt32(v[2]);
	a.temperature = isnull[3] ? 0.0f : (float) DatumGetFloat8(v[3]);
	a.top_k = isnull[4] ? 0 : DatumGetInt32(v[4]);
	a.top_p = isnull[5] ? 1.0f : (float) DatumGetFloat8(v[5]);
	a.has_seed = !isnull[6];
	a.seed = a.has_seed ? DatumGetInt64(v[6]) : 0;
	if (a.max_tokens < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must not be negative")));
	if (!(a.temperature >= 0.0f && a.temperature <= 100.0f))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be between 0 and 100")));
	if (a.top_k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_k must not be negative")));
	if (!(a.top_p > 0.0f && a.top_p <= 1.0f))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_p must be greater than 0 and at most 1")));
	if (!isnull[7])
	{
		ArrayType  *arr = DatumGetArrayTypeP(v[7]);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		a.stop = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!nulls[i] && VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) > 0)
				a.stop[a.n_stop++] = TextDatumGetCString(elems[i]);
	}
	return a;
}

/* The same from a call */
static GenArgs
ReadArgs(FunctionCallInfo fcinfo)
{
	Datum		v[GENERATE_NARGS];
	bool		isnull[GENERATE_NARGS];

	for (int i = 0; i < GENERATE_NARGS; i++)
	{
		isnull[i] = PG_ARGISNULL(i);
		v[i] = isnull[i] ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	return ReadArgValues(v, isnull);
}

/* Length of the longest prefix of s[0..len) not ending inside a UTF-8 sequence */
static int
CompleteUtf8(const char *s, int len)
{
	int			i = len;

	/* step back over at most 3 continuation bytes to the lead byte */
	for (int back = 0; back < 4 && i > 0; back++)
	{
		unsigned char c = (unsigned char) s[i - 1];

		if ((c & 0xC0) != 0x80)
		{
			int			need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
				(c & 0xF8) == 0xF0 ? 4 : 1;

			return len - (i - 1) < need ? i - 1 : len;
		}
		i--;
	}
	return len;
}

/* s[0..len) as valid UTF-8 text: invalid bytes and NUL become U+FFFD */
static char *
CleanText(const char *s, int len)
{
	StringInfoData buf;
	int			i = 0;

	initStringInfo(&buf);
	while (i < len)
	{
		int			l = pg_utf_mblen((const unsigned char *) s + i);

		if (s[i] != '\0' && i + l <= len && pg_utf8_islegal((const unsigned char *) s + i, l))
		{
			appendBinaryStringInfo(&buf, s + i, l);
			i += l;
		}
		else
		{
			appendStringInfoString(&buf, "\xEF\xBF\xBD");
			i++;
		}
	}
	return buf.data;
}

/*
 * Where the first stop string starts in text (-1: none), looking only at
 * matches that end at or after byte from (the text before it was searched
 * already): each step costs the new piece, not the whole text
 */
static int
FindStop(const GenArgs *a, const char *text, int from)
{
	int			at = -1;

	for (int i = 0; i < a->n_stop; i++)
	{
		int			sl = (int) strlen(a->stop[i]);
		int			start = Max(0, from - sl + 1);
		const char *p = strstr(text + start, a->stop[i]);

		if (p && (at < 0 || p - text < at))
			at = (int) (p - text);
	}
	return at;
}

/* One sequence being generated */
typedef struct GenRow
{
	int32	   *ids;			/* prompt (BOS first when the model wants it), then generated */
	int			np;				/* prompt tokens */
	int			cap;			/* positions of its key/value cache */
	int			n_gen;
	bool		done;
	Sampler		smp;
	char	   *prefix;			/* the prompt decoded */
	int			prefix_len;
	StringInfoData raw;			/* generated bytes, as decoding prompt + ids gives them */
	StringInfoData text;		/* generated text, clean */
	int			emitted;		/* bytes of the raw generated text already in pieces */
	GenToken   *toks;
} GenRow;

/*
 * The prompt's ids: a text encoded (BOS first when the model's tokenizer
 * says so), or a conversation (jsonb) under the model's chat template
 */
static int32 *
PromptIds(LoadedModel *m, struct varlena *prompt, bool chat, int *np)
{
	bool		bos = m->pm.meta.add_bos && m->pm.meta.bos_id >= 0;
	int			n;
	int32	   *pids,
			   *ids;

	if (chat)
		return ChatPromptIds(m, DatumGetJsonbP(PointerGetDatum(prompt)), np);
	pids = TokenizerEncode(m->tok, VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), &n);
	ids = palloc(sizeof(int32) * (n + 1));
	if (bos)
		ids[0] = m->pm.meta.bos_id;
	memcpy(ids + bos, pids, sizeof(int32) * n);
	pfree(pids);
	*np = n + bos;
	return ids;
}

/*
 * Encode prompt and check it against the context and the cache limit;
 * false (raise false) or ERROR (raise true) when it cannot be generated
 */
static bool
GenPrepare(LoadedModel *m, const GenArgs *a, struct varlena *prompt, bool chat, bool raise,
		   GenRow *row)
{
	const LlamaConfig *c = &m->pm.llama_config;
	int			np;
	int32	   *pids = PromptIds(m, prompt, chat, &np);
	double		kv_mb;

	memset(row, 0, sizeof(*row));
	row->ids = palloc(sizeof(int32) * ((int64) np + a->max_tokens + 1));
	memcpy(row->ids, pids, sizeof(int32) * np);
	pfree(pids);
	row->np = np;
	if (row->np == 0)
	{
		if (!raise)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the prompt is empty and model \"%s\" has no BOS token to start from", m->name)));
	}
	if (row->np >= m->ctx_len)
	{
		if (!raise)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the prompt has %d tokens; model \"%s\" has a context of %d", row->np, m->name,
						m->ctx_len),
				 errhint("Shorten the prompt, or register the model with a larger \"context_length\" if it was trained with one.")));
	}
	row->cap = Min((int64) row->np + a->max_tokens, (int64) m->ctx_len);
	kv_mb = (double) llama_kv_floats(c, row->cap) * sizeof(float) / (1024.0 * 1024.0);
	if (kv_mb > pgi_kv_cache_limit)
	{
		if (!raise)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("generating %d tokens after a prompt of %d needs a key/value cache of %.0f MB",
						row->cap - row->np, row->np, kv_mb),
				 errhint("Lower max_tokens, shorten the prompt, or raise pg_infer.kv_cache_limit (now %d MB).",
						 pgi_kv_cache_limit)));
	}
	row->smp.temperature = a->temperature;
	row->smp.top_k = a->top_k;
	row->smp.top_p = a->top_p;
	row->smp.state = a->has_seed ? (uint64) a->seed : pg_prng_uint64(&pg_global_prng_state);
	if (a->temperature > 0.0f)
	{
		row->smp.order = palloc(sizeof(int32) * c->vocab);
		row->smp.probs = palloc(sizeof(float) * c->vocab);
	}
	row->prefix = TokenizerDecodeBytes(m->tok, row->ids, row->np, &row->prefix_len);
	initStringInfo(&row->raw);
	initStringInfo(&row->text);
	row->toks = palloc(sizeof(GenToken) * (a->max_tokens + 1));
	row->done = a->max_tokens == 0;
	return true;
}

/* Cut the text at a stop string: drop the tokens that only spelled it */
static void
GenCut(GenRow *row, int at)
{
	int			start = row->text.len;

	while (row->n_gen > 0)
	{
		start -= (int) strlen(row->toks[row->n_gen - 1].piece);
		if (start < at)
		{
			row->toks[row->n_gen - 1].piece[at - start] = '\0';
			break;
		}
		row->n_gen--;
	}
	row->text.data[at] = '\0';
	row->text.len = at;
}

/* Tokens decoded before the newest one to find the bytes it adds */
#define GEN_DECODE_WINDOW 8

/*
 * Extend row->raw by the bytes the newest id adds.  Decoding is
 * concatenation but for a token's context (SentencePiece drops the space of
 * the first piece of a text; a character's bytes can span byte tokens), so
 * the last GEN_DECODE_WINDOW ids are decoded with and without the newest and
 * the difference taken: constant work per token.  Where the shorter decode
 * is not a prefix of the longer, everything is decoded again (after the
 * prompt's text, as before this window existed).
 */
static void
GenExtendRaw(LoadedModel *m, GenRow *row)
{
	int			t = row->np + row->n_gen;
	int			s = Max(0, t - 1 - GEN_DECODE_WINDOW);
	int			la,
				lb,
				all_len;
	char	   *a = TokenizerDecodeBytes(m->tok, row->ids + s, t - 1 - s, &la);
	char	   *b = TokenizerDecodeBytes(m->tok, row->ids + s, t - s, &lb);
	char	   *raw,
			   *all;

	if (lb >= la && memcmp(a, b, la) == 0)
	{
		appendBinaryStringInfo(&row->raw, b + la, lb - la);
		pfree(a);
		pfree(b);
		return;
	}
	pfree(a);
	pfree(b);
	raw = all = TokenizerDecodeBytes(m->tok, row->ids, t, &all_len);
	if (all_len >= row->prefix_len && memcmp(all, row->prefix, row->prefix_len) == 0)
		all += row->prefix_len, all_len -= row->prefix_len;
	else
	{
		pfree(raw);
		raw = all = TokenizerDecodeBytes(m->tok, row->ids + row->np, row->n_gen, &all_len);
	}
	resetStringInfo(&row->raw);
	appendBinaryStringInfo(&row->raw, all, all_len);
	pfree(raw);
}

/*
 * Take the next token of row from its logits: sample, append, extend the
 * text, and decide whether the row is done
 */
static void
GenAccept(LoadedModel *m, const GenArgs *a, GenRow *row, const float *logits)
{
	int32		next;
	float		lp;
	int			done,
				searched;
	PgiError	err = {0};

	if (sampler_next(&row->smp, logits, m->pm.llama_config.vocab, &next, &lp, &err) != PGI_OK)
		PgiReport(&err);
	if (next == m->pm.meta.eos_id)
	{
		row->done = true;
		return;
	}
	row->ids[row->np + row->n_gen] = next;
	row->toks[row->n_gen].pos = row->np + row->n_gen;
	row->toks[row->n_gen].id = next;
	row->toks[row->n_gen].logprob = lp;
	row->n_gen++;

	/* the text this token adds */
	GenExtendRaw(m, row);
	done = row->n_gen == a->max_tokens ? row->raw.len : CompleteUtf8(row->raw.data, row->raw.len);
	if (done < row->emitted)
		done = row->emitted;
	row->toks[row->n_gen - 1].piece = CleanText(row->raw.data + row->emitted, done - row->emitted);
	searched = row->text.len;
	appendStringInfoString(&row->text, row->toks[row->n_gen - 1].piece);
	row->emitted = done;
	if (a->n_stop > 0)
	{
		int			at = FindStop(a, row->text.data, searched);

		if (at >= 0)
		{
			GenCut(row, at);
			row->done = true;
		}
	}
	if (row->n_gen == a->max_tokens || row->np + row->n_gen >= row->cap)
		row->done = true;
}

/*
 * Generate the n rows together: their prompts packed into passes of at most
 * GEN_PREFILL_TOKENS tokens, then one pass per step for every row still
 * going, so each weight matrix is read once per step for all of them.  A
 * row's tokens, logits and text are exactly those of generating it alone
 * (its computation never depends on the other rows of a pass).
 */
static void
GenRun(LoadedModel *m, const GenArgs *a, GenRow *rows, int n)
{
	const LlamaConfig *c = &m->pm.llama_config;
	LlamaRuntime rt = {CheckInterrupts, NULL};
	LlamaKv    *kv = palloc0(sizeof(LlamaKv) * n);
	int			max_cap = 1;
	int			pass = Max(GEN_PREFILL_TOKENS, n);
	int32	   *ids = palloc(sizeof(int32) * pass);
	int32	   *seq = palloc(sizeof(int32) * pass);
	uint8	   *want = palloc(pass);
	int		   *owner = palloc(sizeof(int) * pass);	/* row of each wanted logits row */
	float	   *logits = palloc_extended(sizeof(float) * c->vocab * pass, MCXT_ALLOC_HUGE);
	void	   *scratch;
	PgiError	err = {0};
	int			r = 0,
				t = 0;

	for (int i = 0; i < n; i++)
	{
		kv[i].data = palloc_extended(llama_kv_floats(c, rows[i].cap) * sizeof(float), MCXT_ALLOC_HUGE);
		kv[i].cap = rows[i].cap;
		max_cap = Max(max_cap, rows[i].cap);
	}
	scratch = palloc_extended(llama_scratch_bytes(c, pass, max_cap), MCXT_ALLOC_HUGE);
	par_set_threads(pgi_threads);

	/* the prompts: token t of row r, packed */
	while (r < n)
	{
		int			k = 0,
					nw = 0;

		while (r < n && k < GEN_PREFILL_TOKENS)
		{
			ids[k] = rows[r].ids[t];
			seq[k] = r;
			want[k] = t == rows[r].np - 1;
			if (want[k])
				owner[nw++] = r;
			k++;
			if (++t == rows[r].np)
				r++, t = 0;
		}
		if (llama_forward(c, &m->pm.llama_weights, &rt, k, ids, seq, kv, want, scratch, logits,
						  &err) != PGI_OK)
			PgiReport(&err);
		for (int w = 0; w < nw; w++)
			if (!rows[owner[w]].done)
				GenAccept(m, a, &rows[owner[w]], logits + (size_t) w * c->vocab);
	}
	/* one pass per step for the rows still going */
	for (;;)
	{
		int			k = 0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
			if (!rows[i].done)
			{
				ids[k] = rows[i].ids[rows[i].np + rows[i].n_gen - 1];
				seq[k] = i;
				owner[k++] = i;
			}
		if (k == 0)
			break;
		if (llama_forward(c, &m->pm.llama_weights, &rt, k, ids, seq, kv, NULL, scratch, logits,
						  &err) != PGI_OK)
			PgiReport(&err);
		for (int w = 0; w < k; w++)
			GenAccept(m, a, &rows[owner[w]], logits + (size_t) w * c->vocab);
	}
	for (int i = 0; i < n; i++)
		pfree(kv[i].data);
	pfree(scratch);
	pfree(logits);
}

/* Generate from model for prompt, alone (ERROR when it cannot) */
static GenRow *
Generate(const char *model, struct varlena *prompt, bool chat, const GenArgs *a)
{
	LoadedModel *m = ModelGet(model);
	GenRow	   *row = palloc(sizeof(GenRow));

	RequireDecoder(m);
	GenPrepare(m, a, prompt, chat, true, row);
	GenRun(m, a, row, 1);
	return row;
}

void
GenerateRows(const char *model, const Datum *args, const bool *argnull, bool chat,
			 struct varlena **prompts, int n, text **out)
{
	LoadedModel *m = ModelGet(model);
	GenArgs		a;
	GenRow	   *rows = palloc(sizeof(GenRow) * n);
	int		   *which = palloc(sizeof(int) * n);
	int			k = 0;
	double		mb = 0;

	RequireDecoder(m);
	a = ReadArgValues(args, argnull);
	for (int i = 0; i < n; i++)
	{
		out[i] = NULL;
		if (prompts[i] != NULL && GenPrepare(m, &a, prompts[i], chat, false, &rows[k]))
			which[k++] = i;
	}
	/* in groups whose caches stay within pg_infer.kv_cache_limit together */
	for (int g0 = 0, g1; g0 < k; g0 = g1)
	{
		mb = 0;
		for (g1 = g0; g1 < k; g1++)
		{
			double		row_mb = (double) llama_kv_floats(&m->pm.llama_config, rows[g1].cap) *
				sizeof(float) / (1024.0 * 1024.0);

			if (g1 > g0 && mb + row_mb > pgi_kv_cache_limit)
				break;
			mb += row_mb;
		}
		GenRun(m, &a, rows + g0, g1 - g0);
	}
	for (int i = 0; i < k; i++)
		out[which[i]] = cstring_to_text(rows[i].text.data);
}

text *
GenerateOne(const char *model, const Datum *args, const bool *argnull, bool chat,
			struct varlena *prompt)
{
	GenArgs		a = ReadArgValues(args, argnull);

	return cstring_to_text(Generate(model, prompt, chat, &a)->text.data);
}

/* generate(model, prompt text | messages jsonb, max_tokens, ...) -> text */
static Datum
GenerateText(FunctionCallInfo fcinfo, bool chat)
{
	MemoryContext cxt,
				old;
	GenArgs		a;
	GenRow	   *row;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer generate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	a = ReadArgs(fcinfo);
	row = Generate(TextDatumGetCString(PG_GETARG_DATUM(0)),
				   (struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1)), chat, &a);
	MemoryContextSwitchTo(old);
	result = cstring_to_text(row->text.data);
	MemoryContextDelete(cxt);
	PG_RETURN_TEXT_P(result);
}

/* generate_tokens(...) -> TABLE(pos, token_id, piece, logprob) */
static Datum
GenerateTokens(FunctionCallInfo fcinfo, bool chat)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt,
				old;
	GenArgs		a;
	GenRow	   *row;
	GenToken   *toks;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer generate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	a = ReadArgs(fcinfo);
	row = Generate(TextDatumGetCString(PG_GETARG_DATUM(0)),
				   (struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1)), chat, &a);
	toks = row->toks;
	MemoryContextSwitchTo(old);
	for (int i = 0; i < row->n_gen; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false};

		values[0] = Int32GetDatum(toks[i].pos);
		values[1] = Int32GetDatum(toks[i].id);
		values[2] = CStringGetTextDatum(toks[i].piece);
		values[3] = Float4GetDatum(toks[i].logprob);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgi_generate);
PG_FUNCTION_INFO_V1(pgi_generate_chat);
PG_FUNCTION_INFO_V1(pgi_generate_tokens);
PG_FUNCTION_INFO_V1(pgi_generate_tokens_chat);

Datum
pgi_generate(PG_FUNCTION_ARGS)
{
	return GenerateText(fcinfo, false);
}

Datum
pgi_generate_chat(PG_FUNCTION_ARGS)
{
	return GenerateText(fcinfo, true);
}

Datum
pgi_generate_tokens(PG_FUNCTION_ARGS)
{
	return GenerateTokens(fcinfo, false);
}

Datum
pgi_generate_tokens_chat(PG_FUNCTION_ARGS)
{
	return GenerateTokens(fcinfo, true);
}
