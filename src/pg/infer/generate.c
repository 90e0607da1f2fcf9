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

/* Arguments 2.. of generate(model, prompt, max_tokens, temperature, top_k, top_p, seed, stop) */
static GenArgs
ReadArgs(FunctionCallInfo fcinfo)
{
	GenArgs		a = {0};

	a.max_tokens = PG_ARGISNULL(2) ? 128 : PG_GETARG_INT32(2);
	a.temperature = PG_ARGISNULL(3) ? 0.0f : (float) PG_GETARG_FLOAT8(3);
	a.top_k = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	a.top_p = PG_ARGISNULL(5) ? 1.0f : (float) PG_GETARG_FLOAT8(5);
	a.has_seed = !PG_ARGISNULL(6);
	a.seed = a.has_seed ? PG_GETARG_INT64(6) : 0;
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
	if (!PG_ARGISNULL(7))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(7);
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

/* Where the first stop string starts in text (-1: none) */
static int
FindStop(const GenArgs *a, const char *text)
{
	int			at = -1;

	for (int i = 0; i < a->n_stop; i++)
	{
		const char *p = strstr(text, a->stop[i]);

		if (p && (at < 0 || p - text < at))
			at = (int) (p - text);
	}
	return at;
}

/*
 * Generate from model for prompt; returns the tokens (*n_out) and the text.
 * Runs in the caller's memory context.
 */
static char *
Generate(const char *model, text *prompt, const GenArgs *a, GenToken **out, int *n_out)
{
	LoadedModel *m = ModelGet(model);
	const LlamaConfig *c;
	int			np;
	int32	   *ids;
	int32	   *pids;
	int			cap;
	double		kv_mb;
	LlamaKv		kv;
	LlamaRuntime rt = {CheckInterrupts, NULL};
	void	   *scratch;
	float	   *logits;
	Sampler		smp = {0};
	PgiError	err = {0};
	int			n_gen = 0;
	int			prefix_len;
	char	   *prefix;
	StringInfoData gen;			/* generated text, clean */
	int			emitted = 0;	/* bytes of the generated raw text already in pieces */
	GenToken   *toks;
	bool		stopped = false;

	RequireDecoder(m);
	c = &m->pm.llama_config;
	pids = TokenizerEncode(m->tok, VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), &np);
	ids = palloc(sizeof(int32) * (np + 1 + a->max_tokens + 1));
	if (m->pm.meta.add_bos && m->pm.meta.bos_id >= 0)
		ids[0] = m->pm.meta.bos_id;
	memcpy(ids + (m->pm.meta.add_bos && m->pm.meta.bos_id >= 0), pids, sizeof(int32) * np);
	np += m->pm.meta.add_bos && m->pm.meta.bos_id >= 0;
	if (np == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the prompt is empty and model \"%s\" has no BOS token to start from", model)));
	if (np >= m->ctx_len)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the prompt has %d tokens; model \"%s\" has a context of %d", np, model,
						m->ctx_len),
				 errhint("Shorten the prompt, or register the model with a larger \"context_length\" if it was trained with one.")));
	cap = Min((int64) np + a->max_tokens, (int64) m->ctx_len);
	kv_mb = (double) llama_kv_floats(c, cap) * sizeof(float) / (1024.0 * 1024.0);
	if (kv_mb > pgi_kv_cache_limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("generating %d tokens after a prompt of %d needs a key/value cache of %.0f MB",
						cap - np, np, kv_mb),
				 errhint("Lower max_tokens, shorten the prompt, or raise pg_infer.kv_cache_limit (now %d MB).",
						 pgi_kv_cache_limit)));
	kv.data = palloc_extended(llama_kv_floats(c, cap) * sizeof(float), MCXT_ALLOC_HUGE);
	kv.cap = cap;
	kv.len = 0;
	scratch = palloc_extended(llama_scratch_bytes(c, Min(np, GEN_PREFILL_TOKENS), cap),
							  MCXT_ALLOC_HUGE);
	logits = palloc(sizeof(float) * c->vocab);
	smp.temperature = a->temperature;
	smp.top_k = a->top_k;
	smp.top_p = a->top_p;
	smp.state = a->has_seed ? (uint64) a->seed : pg_prng_uint64(&pg_global_prng_state);
	if (a->temperature > 0.0f)
	{
		smp.order = palloc(sizeof(int32) * c->vocab);
		smp.probs = palloc(sizeof(float) * c->vocab);
	}
	par_set_threads(pgi_threads);

	/* the prompt, in passes of GEN_PREFILL_TOKENS */
	for (int t0 = 0; t0 < np; t0 += GEN_PREFILL_TOKENS)
	{
		int			n = Min(GEN_PREFILL_TOKENS, np - t0);
		int32	   *seq = palloc0(sizeof(int32) * n);
		uint8	   *want = palloc0(n);

		want[n - 1] = t0 + n == np;
		if (llama_forward(c, &m->pm.llama_weights, &rt, n, ids + t0, seq, &kv, want, scratch,
						  logits, &err) != PGI_OK)
			PgiReport(&err);
	}

	prefix = TokenizerDecodeBytes(m->tok, ids, np, &prefix_len);
	initStringInfo(&gen);
	toks = palloc(sizeof(GenToken) * (a->max_tokens + 1));
	while (n_gen < a->max_tokens && !stopped)
	{
		int32		next;
		float		lp;
		char	   *all;
		int			all_len,
					done;

		CHECK_FOR_INTERRUPTS();
		if (sampler_next(&smp, logits, c->vocab, &next, &lp, &err) != PGI_OK)
			PgiReport(&err);
		if (next == m->pm.meta.eos_id)
			break;
		ids[np + n_gen] = next;
		toks[n_gen].pos = np + n_gen;
		toks[n_gen].id = next;
		toks[n_gen].logprob = lp;
		n_gen++;

		/* the text this token adds */
		all = TokenizerDecodeBytes(m->tok, ids, np + n_gen, &all_len);
		if (all_len >= prefix_len && memcmp(all, prefix, prefix_len) == 0)
			all += prefix_len, all_len -= prefix_len;
		else
			all = TokenizerDecodeBytes(m->tok, ids + np, n_gen, &all_len);
		done = n_gen == a->max_tokens ? all_len : CompleteUtf8(all, all_len);
		if (done < emitted)
			done = emitted;
		toks[n_gen - 1].piece = CleanText(all + emitted, done - emitted);
		appendStringInfoString(&gen, toks[n_gen - 1].piece);
		emitted = done;
		if (a->n_stop > 0)
		{
			int			at = FindStop(a, gen.data);

			if (at >= 0)
			{
				/* cut the text at the stop string: drop the tokens that only
				 * spelled it, shorten the one it starts in */
				int			start = gen.len;

				while (n_gen > 0)
				{
					start -= (int) strlen(toks[n_gen - 1].piece);
					if (start < at)
					{
						toks[n_gen - 1].piece[at - start] = '\0';
						break;
					}
					n_gen--;
				}
				gen.data[at] = '\0';
				gen.len = at;
				stopped = true;
			}
		}
		if (stopped || n_gen == a->max_tokens || np + n_gen >= cap)
			break;
		{
			int32		seq = 0;

			if (llama_forward(c, &m->pm.llama_weights, &rt, 1, &next, &seq, &kv, NULL, scratch,
							  logits, &err) != PGI_OK)
				PgiReport(&err);
		}
	}
	*out = toks;
	*n_out = n_gen;
	return gen.data;
}

PG_FUNCTION_INFO_V1(pgi_generate);

/* generate(model, prompt, max_tokens, temperature, top_k, top_p, seed, stop) -> text */
Datum
pgi_generate(PG_FUNCTION_ARGS)
{
	MemoryContext cxt,
				old;
	GenArgs		a;
	GenToken   *toks;
	int			n;
	char	   *out;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer generate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	a = ReadArgs(fcinfo);
	out = Generate(TextDatumGetCString(PG_GETARG_DATUM(0)), PG_GETARG_TEXT_PP(1), &a, &toks, &n);
	MemoryContextSwitchTo(old);
	result = cstring_to_text(out);
	MemoryContextDelete(cxt);
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(pgi_generate_tokens);

/* generate_tokens(...) -> TABLE(pos, token_id, piece, logprob) */
Datum
pgi_generate_tokens(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt,
				old;
	GenArgs		a;
	GenToken   *toks;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer generate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	a = ReadArgs(fcinfo);
	(void) Generate(TextDatumGetCString(PG_GETARG_DATUM(0)), PG_GETARG_TEXT_PP(1), &a, &toks, &n);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < n; i++)
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
