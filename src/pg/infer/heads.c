/*-------------------------------------------------------------------------
 *
 * heads.c
 *	  Token heads of Hugging Face BERT models from SQL: named entities
 *	  (extract_entities, BertForTokenClassification) and extractive
 *	  question answering (answer, BertForQuestionAnswering).
 *
 * Both follow what Hugging Face's pipelines document:
 *	- extract_entities is the token-classification pipeline with
 *	  aggregation_strategy "simple": each token (not [CLS] / [SEP]) takes
 *	  its most probable label (softmax), consecutive tokens of one entity
 *	  type join a group unless a token's label starts with "B-", groups of
 *	  "O" are dropped, a group's score is the mean of its tokens' scores;
 *	- answer is the question-answering pipeline with its defaults
 *	  (align_to_words, no impossible answer): [CLS] question [SEP] context
 *	  [SEP] (token types 0 / 1), contexts too long for one pass cut into
 *	  windows of min(384, the model's length) tokens overlapping by
 *	  min(128, half of that) (half the context's room in a window when that
 *	  is not less, where Hugging Face fails); in each
 *	  window the question and [SEP]s are masked, start and end logits go
 *	  through a softmax ([CLS] included, then set to 0), a span (s, e) with
 *	  s <= e < s + max_answer_len scores p_start(s) * p_end(e); each
 *	  window's top_k spans are widened to whole words; answers whose texts
 *	  are equal ignoring case add their scores; the top_k best.
 * Offsets are characters of the input (code points, 0-based, end
 * exclusive), as Python's str and the pipelines count them: the entity or
 * answer is substr(input, start + 1, "end" - start).
 *
 * src/pg/infer/heads.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/models/bert.h"
#include "core/tokenizers/tok_unicode.h"
#include "pg/infer/classify.h"
#include "pg/infer/embed.h"
#include "pg/models/models.h"

PG_FUNCTION_INFO_V1(pgi_extract_entities);
PG_FUNCTION_INFO_V1(pgi_answer);

#define QA_MAX_SEQ		384		/* the pipeline's max_seq_len */
#define QA_STRIDE		128		/* and doc_stride */
#define QA_MASKED		(-10000.0)	/* logit of a token that cannot be in an answer */
#define QA_MAX_TOP_K	1000

/* The model called name, with the given head (ERROR otherwise) */
static LoadedModel *
HeadModel(const char *name, int head, const char *fn, const char *what)
{
	LoadedModel *m = ModelGet(name);

	if (m->pm.arch != PGIM_ARCH_BERT || m->pm.config.head != head)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has no %s head", name, what),
				 errdetail("%s() runs Hugging Face models whose config.json names %s.", fn,
						   head == BERT_HEAD_TOKEN ? "BertForTokenClassification" :
						   "BertForQuestionAnswering")));
	return m;
}

/* Byte offset of each character of s[0..len) (UTF-8), and len at [n] */
static int *
CharStarts(const char *s, int len, int *n_chars)
{
	int		   *at = palloc(sizeof(int) * (len + 1));
	int			n = 0;

	for (int i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			at[n++] = i;
	at[n] = len;
	*n_chars = n;
	return at;
}

/* The characters [start, end) of s as text */
static text *
Slice(const char *s, const int *at, int n_chars, uint32 start, uint32 end)
{
	start = Min(start, (uint32) n_chars);
	end = Min(Max(end, start), (uint32) n_chars);
	return cstring_to_text_with_len(s + at[start], at[end] - at[start]);
}

/* Softmax of x[0..k) into p (float64); the index of the largest, lowest on ties */
static int
Softmax(const float *x, int k, double *p)
{
	double		mx = -INFINITY,
				sum = 0;
	int			best = 0;

	for (int j = 0; j < k; j++)
		if (x[j] > mx)
		{
			mx = x[j];
			best = j;
		}
	for (int j = 0; j < k; j++)
		sum += (p[j] = exp((double) x[j] - mx));
	for (int j = 0; j < k; j++)
		p[j] /= sum;
	return best;
}

/* A label's B/I marker and entity type, as the pipeline's get_tag reads it */
static const char *
Tag(const char *label, bool *begin)
{
	*begin = strncmp(label, "B-", 2) == 0;
	if (*begin || strncmp(label, "I-", 2) == 0)
		return label + 2;
	return label;
}

/* ids [CLS] pieces [SEP] of text with pieces' offsets; ERROR or cut when too long */
static int32 *
EncodeWithOffsets(LoadedModel *m, text *t, bool truncate, int *n, uint32 **offs)
{
	const PgimMeta *meta = &m->pm.meta;
	int			np;
	uint32	   *words;
	int32	   *pieces = TokenizerEncodeOffsets(m->tok, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &np,
												offs, &words);
	int32	   *ids;

	if (meta->max_tokens > 0 && np + 2 > meta->max_tokens)
	{
		if (!truncate)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("input of %d tokens is longer than model \"%s\" accepts (%d)",
							np + 2, m->name, meta->max_tokens),
					 errhint("Pass truncate => true to label the first %d tokens.",
							 meta->max_tokens - 2)));
		np = Max(meta->max_tokens - 2, 0);
	}
	ids = palloc(sizeof(int32) * (np + 2));
	ids[0] = meta->cls_id;
	memcpy(ids + 1, pieces, sizeof(int32) * np);
	ids[np + 1] = meta->sep_id;
	*n = np + 2;
	return ids;
}

/* One entity group being built */
typedef struct EntityGroup
{
	const char *type;
	uint32		start;
	uint32		end;
	double		score_sum;
	int			tokens;
} EntityGroup;

static void
EmitGroup(Tuplestorestate *ts, TupleDesc desc, const EntityGroup *g, const char *s, const int *at,
		  int n_chars)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (g->tokens == 0 || strcmp(g->type, "O") == 0)
		return;
	values[0] = PointerGetDatum(Slice(s, at, n_chars, g->start, g->end));
	values[1] = CStringGetTextDatum(g->type);
	values[2] = Int32GetDatum((int32) g->start);
	values[3] = Int32GetDatum((int32) g->end);
	values[4] = Float4GetDatum((float4) (g->score_sum / g->tokens));
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * extract_entities(model text, input text, truncate boolean)
 *	-> TABLE(entity text, label text, start int, "end" int, score real)
 */
Datum
pgi_extract_entities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *input = PG_GETARG_TEXT_PP(1);
	bool		truncate = PG_NARGS() > 2 && PG_GETARG_BOOL(2);
	LoadedModel *m;
	char	  **labels;
	int			k,
				n,
				n_chars;
	int32	   *ids;
	uint32	   *offs;
	float	   *logits;
	double	   *p;
	int		   *at;
	EntityGroup		g = {NULL, 0, 0, 0, 0};

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	m = HeadModel(model, BERT_HEAD_TOKEN, "extract_entities", "token-classification");
	k = m->pm.config.n_labels;
	labels = ModelLabels(m);
	ids = EncodeWithOffsets(m, input, truncate, &n, &offs);
	logits = palloc(sizeof(float) * (size_t) n * k);
	p = palloc(sizeof(double) * k);
	TokenHeadLogits(m, ids, NULL, n, logits);
	at = CharStarts(VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), &n_chars);

	/* tokens 1 .. n-2: the pieces, between [CLS] and [SEP] */
	for (int t = 1; t < n - 1; t++)
	{
		int			best = Softmax(logits + (size_t) t * k, k, p);
		bool		begin;
		const char *type = Tag(labels[best], &begin);
		uint32		s0 = offs[2 * (t - 1)],
					e0 = offs[2 * (t - 1) + 1];

		if (g.tokens > 0 && strcmp(type, g.type) == 0 && !begin)
		{
			g.end = e0;
			g.score_sum += p[best];
			g.tokens++;
			continue;
		}
		EmitGroup(rsinfo->setResult, rsinfo->setDesc, &g, VARDATA_ANY(input), at, n_chars);
		g.type = type;
		g.start = s0;
		g.end = e0;
		g.score_sum = p[best];
		g.tokens = 1;
	}
	EmitGroup(rsinfo->setResult, rsinfo->setDesc, &g, VARDATA_ANY(input), at, n_chars);
	return (Datum) 0;
}

/* A span of tokens of one window and its score */
typedef struct Cand
{
	int			s;
	int			e;
	double		score;
} Cand;

/* Whether a ranks before b: higher score, then lower start, then lower end */
static bool
CandBefore(const Cand *a, const Cand *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	if (a->s != b->s)
		return a->s < b->s;
	return a->e < b->e;
}

/* Put c into best[0..*n) (sorted, at most cap) */
static void
CandOffer(Cand *best, int *n, int cap, Cand c)
{
	int			i;

	if (*n == cap && !CandBefore(&c, &best[*n - 1]))
		return;
	if (*n < cap)
		(*n)++;
	for (i = *n - 1; i > 0 && CandBefore(&c, &best[i - 1]); i--)
		best[i] = best[i - 1];
	best[i] = c;
}

/* An answer: characters [start, end) of the context */
typedef struct Answer
{
	uint32		start;
	uint32		end;
	double		score;
	uint32	   *folded;			/* its text lower-cased, code points */
	int			n_folded;
} Answer;

/* The answers so far */
typedef struct Answers
{
	Answer	   *a;
	int			n;
	int			cap;
	const char *context;		/* UTF-8 */
	const int  *at;				/* byte offset of each character */
	int			n_chars;
} Answers;

/* Characters [start, end) of the context, full lower case */
static uint32 *
Folded(const Answers *as, uint32 start, uint32 end, int *n)
{
	uint32	   *out = palloc(sizeof(uint32) * TOK_UNICODE_LOWER_MAX * Max(end - start, 1));

	*n = 0;
	for (uint32 c = start; c < end; c++)
	{
		uint32_t	cp,
					low[TOK_UNICODE_LOWER_MAX];
		size_t		k;
		PgiError	err;
		int			m;

		if (tok_utf8_to_cps(as->context + as->at[c], as->at[c + 1] - as->at[c], &cp, &k, &err) != PGI_OK ||
			k != 1)
			cp = 0xFFFD;
		m = tok_unicode_full_lower(cp, low);
		for (int j = 0; j < m; j++)
			out[(*n)++] = low[j];
	}
	return out;
}

/*
 * Add an answer; one whose text equals an earlier one's ignoring case adds
 * its score to that one (as the pipeline merges them)
 */
static void
AddAnswer(Answers *as, uint32 start, uint32 end, double score)
{
	int			nf;
	uint32	   *f = Folded(as, start, end, &nf);

	for (int i = 0; i < as->n; i++)
		if (as->a[i].n_folded == nf && memcmp(as->a[i].folded, f, sizeof(uint32) * nf) == 0)
		{
			as->a[i].score += score;
			pfree(f);
			return;
		}
	if (as->n == as->cap)
	{
		as->cap = Max(16, 2 * as->cap);
		as->a = as->a ? repalloc(as->a, sizeof(Answer) * as->cap) : palloc(sizeof(Answer) * as->cap);
	}
	as->a[as->n].start = start;
	as->a[as->n].end = end;
	as->a[as->n].score = score;
	as->a[as->n].folded = f;
	as->a[as->n].n_folded = nf;
	as->n++;
}

/*
 * One window: context pieces c[c0 .. c0+clen) after the question.  Its
 * top_k spans of up to max_len tokens, each widened to the words of its
 * first and last token (within the window), become answers.
 */
static void
AnswerWindow(LoadedModel *m, const int32 *q, int nq, const int32 *c, const uint32 *coffs,
			 const uint32 *cwords, int c0, int clen, int max_len, int top_k, Answers *as)
{
	const PgimMeta *meta = &m->pm.meta;
	int			n = nq + clen + 3;
	int			first = nq + 2;		/* the window's first context token */
	int32	   *ids = palloc(sizeof(int32) * n);
	int32	   *types = palloc(sizeof(int32) * n);
	float	   *logits = palloc(sizeof(float) * 2 * n);
	float	   *ls = palloc(sizeof(float) * n);
	float	   *le = palloc(sizeof(float) * n);
	double	   *ps = palloc(sizeof(double) * n);
	double	   *pe = palloc(sizeof(double) * n);
	Cand	   *best = palloc(sizeof(Cand) * top_k);
	int			n_best = 0;

	ids[0] = meta->cls_id;
	memcpy(ids + 1, q, sizeof(int32) * nq);
	ids[nq + 1] = meta->sep_id;
	memcpy(ids + first, c + c0, sizeof(int32) * clen);
	ids[n - 1] = meta->sep_id;
	for (int t = 0; t < n; t++)
		types[t] = t < first ? 0 : 1;
	TokenHeadLogits(m, ids, types, n, logits);
	/* the question and [SEP]s masked; [CLS] takes part, then counts 0 */
	for (int t = 0; t < n; t++)
	{
		bool		open = t == 0 || (t >= first && t < first + clen);

		ls[t] = open ? logits[2 * t] : QA_MASKED;
		le[t] = open ? logits[2 * t + 1] : QA_MASKED;
	}
	(void) Softmax(ls, n, ps);
	(void) Softmax(le, n, pe);
	for (int s = 0; s < clen; s++)
		for (int e = s; e < clen && e < s + max_len; e++)
		{
			Cand		x = {s, e, ps[first + s] * pe[first + e]};

			if (x.score > 0)
				CandOffer(best, &n_best, top_k, x);
		}
	for (int i = 0; i < n_best; i++)
	{
		uint32		ws = cwords[c0 + best[i].s],
					we = cwords[c0 + best[i].e],
					a = UINT32_MAX,
					b = 0;

		for (int t = c0; t < c0 + clen; t++)
		{
			if (cwords[t] == ws)
				a = Min(a, coffs[2 * t]);
			if (cwords[t] == we)
				b = Max(b, coffs[2 * t + 1]);
		}
		AddAnswer(as, a, b, best[i].score);
	}
	pfree(ids);
	pfree(types);
	pfree(logits);
	pfree(ls);
	pfree(le);
	pfree(ps);
	pfree(pe);
	pfree(best);
}

/*
 * answer(model text, question text, context text, top_k int, max_answer_len int)
 *	-> TABLE(answer text, start int, "end" int, score real)
 */
Datum
pgi_answer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *question = PG_GETARG_TEXT_PP(1);
	text	   *context = PG_GETARG_TEXT_PP(2);
	int32		top_k = PG_GETARG_INT32(3);
	int32		max_len = PG_GETARG_INT32(4);
	LoadedModel *m;
	int			nq,
				nc,
				max_seq,
				stride,
				room;
	int32	   *q,
			   *c;
	uint32	   *coffs,
			   *cwords;
	Answers		as = {NULL, 0, 0, NULL, NULL, 0};

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (top_k < 1 || top_k > QA_MAX_TOP_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_k must be between 1 and %d", QA_MAX_TOP_K)));
	if (max_len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_answer_len must be at least 1")));
	m = HeadModel(model, BERT_HEAD_QA, "answer", "question-answering");
	if (m->pm.config.n_types < 2)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has one token type, so it cannot read a question with a context",
						model)));
	q = TokenizerEncode(m->tok, VARDATA_ANY(question), VARSIZE_ANY_EXHDR(question), &nq);
	c = TokenizerEncodeOffsets(m->tok, VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context), &nc,
							   &coffs, &cwords);
	max_seq = m->pm.meta.max_tokens > 0 ? Min(QA_MAX_SEQ, m->pm.meta.max_tokens) : QA_MAX_SEQ;
	room = max_seq - nq - 3;
	if (room < 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("question of %d tokens leaves no room for the context in model \"%s\" (%d tokens)",
						nq, model, max_seq),
				 errhint("Ask a question of at most %d tokens.", max_seq - 4)));
	/*
	 * the pipeline's overlap; when a long question leaves no more room than
	 * that (where Hugging Face fails), half the room, so windows advance
	 */
	stride = Min(QA_STRIDE, max_seq / 2);
	if (stride >= room)
		stride = room / 2;
	as.context = VARDATA_ANY(context);
	as.at = CharStarts(VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context), &as.n_chars);

	/* windows of room context tokens, each starting room - stride after the last */
	for (int c0 = 0;; c0 += room - stride)
	{
		int			clen = Min(room, nc - c0);

		CHECK_FOR_INTERRUPTS();
		AnswerWindow(m, q, nq, c, coffs, cwords, c0, clen, max_len, top_k, &as);
		if (c0 + clen >= nc)
			break;
	}

	/* best first; equal scores in the order found (insertion sort: stable) */
	for (int i = 1; i < as.n; i++)
		for (int j = i; j > 0 && as.a[j].score > as.a[j - 1].score; j--)
		{
			Answer		t = as.a[j];

			as.a[j] = as.a[j - 1];
			as.a[j - 1] = t;
		}
	for (int i = 0; i < Min(as.n, top_k); i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = PointerGetDatum(Slice(as.context, as.at, as.n_chars, as.a[i].start, as.a[i].end));
		values[1] = Int32GetDatum((int32) as.a[i].start);
		values[2] = Int32GetDatum((int32) as.a[i].end);
		values[3] = Float4GetDatum((float4) as.a[i].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
