/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Classification from SQL: heads trained in the database
 *	  (train_classifier, classify, classify_scores), zero-shot labels by
 *	  embedding similarity, and the embed / classify row triggers.
 *
 * A trained head is a row of the extension's table pg_infer_heads: its
 * labels, its weights (per label: dims weights then the bias, for the raw
 * embedding) and the name and sha256 of the embedding model it was trained
 * on.  Heads are cached per backend and re-read when the registry's
 * invalidation says something changed (the heads table's trigger sends it).
 * A head whose embedding model now has other content is refused.
 *
 * src/pg/infer/classify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <time.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "core/models/softmax_head.h"
#include "pg/infer/classify.h"
#include "pg/infer/embed.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"
#include "pg/vector/vector.h"

#define FIT_BATCH	256			/* texts embedded per pass while training */

/* A trained head, cached in TopMemoryContext */
typedef struct Head
{
	char		name[64];
	uint64		generation;		/* RegistryGeneration() when read */
	char	   *model;			/* embedding model */
	char		sha256[72];		/* its content when trained */
	int			k;
	int			d;
	char	  **labels;			/* [k] */
	float	   *w;				/* (k, d + 1) */
	struct Head *next;
} Head;

static Head *heads = NULL;

/* ---------------------------------------------------------------------
 * Heads
 * ---------------------------------------------------------------------
 */

static void
HeadFree(Head *h)
{
	for (int i = 0; i < h->k; i++)
		pfree(h->labels[i]);
	pfree(h->labels);
	pfree(h->w);
	pfree(h->model);
	pfree(h);
}

/* Read head name from the table; NULL when there is none */
static Head *
HeadRead(const char *name)
{
	char	   *sql = psprintf("SELECT embedding_model, embedding_sha256, labels, dims, weights "
							   "FROM %s.pg_infer_heads WHERE name OPERATOR(pg_catalog.=) $1",
							   quote_identifier(ExtensionSchemaName()));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	Head	   *h = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the trained heads");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ArrayType  *labels = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));
		int			d = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		ArrayType  *w = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull));
		Datum	   *le;
		bool	   *ln;
		int			k;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		deconstruct_array(labels, TEXTOID, -1, false, TYPALIGN_INT, &le, &ln, &k);
		if (k < 2 || d < 1 || ARR_NDIM(w) != 1 || ARR_HASNULL(w) ||
			ArrayGetNItems(ARR_NDIM(w), ARR_DIMS(w)) != (int64) k * (d + 1))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("trained head \"%s\" is malformed", name)));
		h = palloc0(sizeof(Head));
		strlcpy(h->name, name, sizeof(h->name));
		h->model = SPI_getvalue(tup, desc, 1);
		strlcpy(h->sha256, SPI_getvalue(tup, desc, 2), sizeof(h->sha256));
		h->k = k;
		h->d = d;
		h->labels = palloc(sizeof(char *) * k);
		for (int i = 0; i < k; i++)
			h->labels[i] = TextDatumGetCString(le[i]);
		h->w = palloc(sizeof(float) * (size_t) k * (d + 1));
		memcpy(h->w, ARR_DATA_PTR(w), sizeof(float) * (size_t) k * (d + 1));
		h->generation = RegistryGeneration();
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return h;
}

/* The head called name (cached), NULL when there is none */
static Head *
HeadGet(const char *name)
{
	Head	  **p = &heads;
	Head	   *h;

	for (; *p; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0)
		{
			if ((*p)->generation == RegistryGeneration())
				return *p;
			h = *p;
			*p = h->next;
			HeadFree(h);
			break;
		}
	if ((h = HeadRead(name)) != NULL)
	{
		h->next = heads;
		heads = h;
	}
	return h;
}

/* ERROR unless the head's embedding model still has the content it was trained on */
static void
HeadCheckModel(const Head *h)
{
	LoadedModel *m = ModelGet(h->model);

	if (strcmp(m->sha256, h->sha256) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("head \"%s\" was trained on other content of model \"%s\"", h->name, h->model),
				 errdetail("Trained on sha256 %s; the model is now %s.", h->sha256, m->sha256),
				 errhint("Train the head again with train_classifier().")));
	if (m->pm.arch != PGIM_ARCH_USE && m->pm.config.hidden != h->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("head \"%s\" has %d inputs, model \"%s\" embeds in %d", h->name, h->d, h->model,
						m->pm.config.hidden)));
}

/* A classifier: a head trained in the database, or a model's own head */
typedef struct Classifier
{
	Head	   *head;			/* trained head, or NULL */
	const char *model;			/* model with a sequence head (head NULL) */
	int			k;
	char	  **labels;
	int			problem;		/* BertProblem */
} Classifier;

/* The labels of a model's own head, palloc'd */
char **
ModelLabels(LoadedModel *m)
{
	int			k = m->pm.config.n_labels;
	const char **p = palloc(sizeof(char *) * k);
	size_t	   *l = palloc(sizeof(size_t) * k);
	char	  **out = palloc(sizeof(char *) * k);
	PgiError	err = {0};

	if (pgim_labels(&m->pm, p, l, &err) != PGI_OK)
		PgiReport(&err);
	for (int i = 0; i < k; i++)
		out[i] = pnstrdup(p[i], l[i]);
	return out;
}

/* The classifier called name, or ERROR saying what name is instead */
static Classifier
GetClassifier(const char *name)
{
	Classifier	c = {0};
	LoadedModel *m;

	if ((c.head = HeadGet(name)) != NULL)
	{
		HeadCheckModel(c.head);
		c.k = c.head->k;
		c.labels = c.head->labels;
		c.problem = BERT_PROBLEM_SINGLE;
		return c;
	}
	m = ModelGet(name);			/* ERROR when it does not exist at all */
	if (m->pm.arch == PGIM_ARCH_BERT && m->pm.config.head == BERT_HEAD_SEQUENCE)
	{
		c.model = pstrdup(name);
		c.k = m->pm.config.n_labels;
		c.labels = ModelLabels(m);
		c.problem = m->pm.config.problem;
		return c;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("model \"%s\" has no classification head", name),
			 errhint("Train one on its embeddings with train_classifier(), or label by similarity with classify(model, text, labels).")));
	return c;
}

/*
 * Scores (n, k) of texts under c in one pass: probabilities (softmax; a
 * sigmoid per label for multi-label heads; the raw output for regression);
 * have[i] false for a NULL text or one that must be evaluated alone
 */
static void
ClassifierScores(const Classifier *c, text **texts, int n, float *scores, bool *have)
{
	if (c->head != NULL)
	{
		Head	   *h = c->head;
		Vector	  **v = palloc(sizeof(Vector *) * Max(n, 1));

		EmbedRows(h->model, NULL, texts, n, v);
		for (int i = 0; i < n; i++)
		{
			have[i] = v[i] != NULL && v[i]->dim == h->d;
			if (have[i])
				head_probs(h->w, h->d, h->k, v[i]->x, 1, scores + (size_t) i * h->k);
			if (v[i])
				pfree(v[i]);
		}
		pfree(v);
		return;
	}
	HeadLogitsRows(c->model, texts, n, scores, have);
	for (int i = 0; i < n; i++)
	{
		float	   *z = scores + (size_t) i * c->k;
		double		mx = -INFINITY,
					sum = 0;

		if (!have[i] || c->problem == BERT_PROBLEM_REGRESSION)
			continue;
		if (c->problem == BERT_PROBLEM_MULTI)
		{
			for (int j = 0; j < c->k; j++)
				z[j] = (float) (1.0 / (1.0 + exp(-(double) z[j])));
			continue;
		}
		for (int j = 0; j < c->k; j++)
			mx = Max(mx, z[j]);
		for (int j = 0; j < c->k; j++)
			sum += exp(z[j] - mx);
		for (int j = 0; j < c->k; j++)
			z[j] = (float) (exp(z[j] - mx) / sum);
	}
}

/* Scores of one text (k floats), ERROR as the row would raise it */
static float *
OneScores(const Classifier *c, text *input)
{
	float	   *p = palloc(sizeof(float) * c->k);
	bool		have = false;

	ClassifierScores(c, &input, 1, p, &have);
	if (!have)
	{
		if (c->head)
			(void) EmbedOne(c->head->model, input, NULL);	/* raises the row's ERROR */
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the text could not be classified")));
	}
	return p;
}

/* Index of the largest of x[0..n) (the first on ties) */
static int
ArgMax(const float *x, int n)
{
	int			best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* (label, score) rows sorted by score, descending (label order on ties) */
static void
ReturnScores(FunctionCallInfo fcinfo, char **labels, const float *score, int k)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int		   *order = palloc(sizeof(int) * k);

	for (int i = 0; i < k; i++)
		order[i] = i;
	/* insertion sort: stable, k is small */
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && score[order[j]] > score[order[j - 1]]; j--)
		{
			int			t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(labels[order[i]]);
		values[1] = Float4GetDatum(score[order[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

PG_FUNCTION_INFO_V1(pgi_classify);

/* classify(model, input) -> text: the most likely label */
Datum
pgi_classify(PG_FUNCTION_ARGS)
{
	Classifier	c = GetClassifier(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	float	   *p = OneScores(&c, PG_GETARG_TEXT_PP(1));

	PG_RETURN_TEXT_P(cstring_to_text(c.labels[ArgMax(p, c.k)]));
}

void
ClassifyRows(const char *model, text **texts, int n, text **out)
{
	Classifier	c = GetClassifier(model);
	float	   *p = palloc_extended(sizeof(float) * (size_t) Max(n, 1) * c.k, MCXT_ALLOC_HUGE);
	bool	   *have = palloc(sizeof(bool) * Max(n, 1));

	ClassifierScores(&c, texts, n, p, have);
	for (int i = 0; i < n; i++)
		out[i] = have[i] ? cstring_to_text(c.labels[ArgMax(p + (size_t) i * c.k, c.k)]) : NULL;
	pfree(p);
	pfree(have);
}

text *
ClassifyOne(const char *model, text *input)
{
	Classifier	c = GetClassifier(model);
	float	   *p = OneScores(&c, input);

	return cstring_to_text(c.labels[ArgMax(p, c.k)]);
}

PG_FUNCTION_INFO_V1(pgi_classify_scores);

/* classify_scores(model, input) -> TABLE(label, score): probabilities */
Datum
pgi_classify_scores(PG_FUNCTION_ARGS)
{
	Classifier	c;
	float	   *p;

	InitMaterializedSRF(fcinfo, 0);
	c = GetClassifier(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	p = OneScores(&c, PG_GETARG_TEXT_PP(1));
	ReturnScores(fcinfo, c.labels, p, c.k);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgi_rerank);

/*
 * rerank(model, query, docs) -> TABLE(idx, score): a cross-encoder's
 * relevance of each document to the query, best first (1-based idx; NULL
 * documents get no row).  Score: the sigmoid of a one-label model's output
 * (as sentence-transformers' CrossEncoder and the text-classification
 * pipeline apply it), else the softmax probability of the last label.
 */
Datum
pgi_rerank(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	char	   *model;
	ArrayType  *arr;
	Datum	   *de;
	bool	   *dn;
	int			n,
				m = 0,
				k;
	text	  **docs;
	int		   *idx;
	float	   *z,
			   *score;
	LoadedModel *lm;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arr = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("rerank() takes a one-dimensional array of documents")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &de, &dn, &n);
	lm = ModelGet(model);
	if (lm->pm.arch != PGIM_ARCH_BERT || lm->pm.config.head != BERT_HEAD_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" is not a cross-encoder", model),
				 errdetail("rerank() runs models with a sequence-classification head over (query, document) pairs.")));
	k = lm->pm.config.n_labels;
	docs = palloc(sizeof(text *) * Max(n, 1));
	idx = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!dn[i])
		{
			docs[m] = DatumGetTextPP(de[i]);
			idx[m++] = i + 1;
		}
	z = palloc_extended(sizeof(float) * (size_t) Max(m, 1) * k, MCXT_ALLOC_HUGE);
	score = palloc(sizeof(float) * Max(m, 1));
	HeadLogitsPairs(model, PG_GETARG_TEXT_PP(1), docs, m, z);
	for (int i = 0; i < m; i++)
	{
		const float *zi = z + (size_t) i * k;

		if (k == 1)
			score[i] = (float) (1.0 / (1.0 + exp(-(double) zi[0])));
		else
		{
			double		mx = -INFINITY,
						sum = 0;

			for (int j = 0; j < k; j++)
				mx = Max(mx, zi[j]);
			for (int j = 0; j < k; j++)
				sum += exp(zi[j] - mx);
			score[i] = (float) (exp(zi[k - 1] - mx) / sum);
		}
	}
	/* best first; ties in document order (insertion sort on indexes: stable) */
	for (int i = 1; i < m; i++)
		for (int j = i; j > 0 && score[j] > score[j - 1]; j--)
		{
			float		ts = score[j];
			int			ti = idx[j];

			score[j] = score[j - 1];
			idx[j] = idx[j - 1];
			score[j - 1] = ts;
			idx[j - 1] = ti;
		}
	for (int i = 0; i < m; i++)
	{
		Datum		values[2] = {Int32GetDatum(idx[i]), Float4GetDatum(score[i])};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Zero-shot labels
 * ---------------------------------------------------------------------
 */

/* Label embeddings of one call site, kept across rows in fn_extra */
typedef struct ZeroShot
{
	char	   *model;
	uint64		generation;
	text	   *template;
	ArrayType  *labels_arr;
	int			k;
	char	  **labels;
	Vector	  **emb;			/* [k], L2-normalised */
} ZeroShot;

/* The template with every "{}" replaced by label */
static text *
Fill(const char *tmpl, const char *label)
{
	StringInfoData b;
	const char *p = tmpl,
			   *q;

	initStringInfo(&b);
	while ((q = strstr(p, "{}")) != NULL)
	{
		appendBinaryStringInfo(&b, p, q - p);
		appendStringInfoString(&b, label);
		p = q + 2;
	}
	appendStringInfoString(&b, p);
	return cstring_to_text_with_len(b.data, b.len);
}

static void
Normalize(float *x, int d)
{
	double		s = 0;

	for (int i = 0; i < d; i++)
		s += (double) x[i] * x[i];
	s = sqrt(s);
	if (s > 0)
		for (int i = 0; i < d; i++)
			x[i] = (float) (x[i] / s);
}

/* The labels' embeddings for this call (cached while arguments repeat) */
static ZeroShot *
ZeroShotLabels(FunctionCallInfo fcinfo, const char *model, ArrayType *arr, text *tmpl)
{
	ZeroShot   *z = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	Datum	   *le;
	bool	   *ln;
	int			k;
	char	   *t;
	text	  **texts;

	if (z != NULL && strcmp(z->model, model) == 0 && z->generation == RegistryGeneration() &&
		VARSIZE_ANY(z->template) == VARSIZE_ANY(tmpl) &&
		memcmp(z->template, tmpl, VARSIZE_ANY(tmpl)) == 0 &&
		VARSIZE(z->labels_arr) == VARSIZE(arr) && memcmp(z->labels_arr, arr, VARSIZE(arr)) == 0)
		return z;
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("labels must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &le, &ln, &k);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("zero-shot classification needs at least one label")));
	t = text_to_cstring(tmpl);
	if (strstr(t, "{}") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the template must contain {} where the label goes")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	z = palloc0(sizeof(ZeroShot));
	z->model = pstrdup(model);
	z->generation = RegistryGeneration();
	z->template = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(tmpl));
	z->labels_arr = (ArrayType *) PG_DETOAST_DATUM_COPY(PointerGetDatum(arr));
	z->k = k;
	z->labels = palloc(sizeof(char *) * k);
	z->emb = palloc(sizeof(Vector *) * k);
	texts = palloc(sizeof(text *) * k);
	for (int i = 0; i < k; i++)
	{
		if (ln[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("labels must not be NULL")));
		z->labels[i] = TextDatumGetCString(le[i]);
		texts[i] = Fill(t, z->labels[i]);
	}
	EmbedRows(model, NULL, texts, k, z->emb);
	for (int i = 0; i < k; i++)
	{
		if (z->emb[i] == NULL)
			z->emb[i] = EmbedOne(model, texts[i], NULL);	/* raises its ERROR */
		Normalize(z->emb[i]->x, z->emb[i]->dim);
	}
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = z;
	return z;
}

/* Cosine similarity of input to every label */
static float *
ZeroShotScores(FunctionCallInfo fcinfo, ZeroShot **zp)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ZeroShot   *z = ZeroShotLabels(fcinfo, model, PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_TEXT_PP(3));
	Vector	   *v = EmbedOne(model, PG_GETARG_TEXT_PP(1), NULL);
	float	   *s = palloc(sizeof(float) * z->k);

	Normalize(v->x, v->dim);
	for (int i = 0; i < z->k; i++)
	{
		double		dot = 0;

		for (int j = 0; j < v->dim; j++)
			dot += (double) v->x[j] * z->emb[i]->x[j];
		s[i] = (float) dot;
	}
	*zp = z;
	return s;
}

PG_FUNCTION_INFO_V1(pgi_classify_zero_shot);

/* classify(model, input, labels, template) -> the most similar label */
Datum
pgi_classify_zero_shot(PG_FUNCTION_ARGS)
{
	ZeroShot   *z;
	float	   *s = ZeroShotScores(fcinfo, &z);

	PG_RETURN_TEXT_P(cstring_to_text(z->labels[ArgMax(s, z->k)]));
}

PG_FUNCTION_INFO_V1(pgi_classify_scores_zero_shot);

/* classify_scores(model, input, labels, template) -> TABLE(label, cosine) */
Datum
pgi_classify_scores_zero_shot(PG_FUNCTION_ARGS)
{
	ZeroShot   *z;
	float	   *s;

	InitMaterializedSRF(fcinfo, 0);
	s = ZeroShotScores(fcinfo, &z);
	ReturnScores(fcinfo, z->labels, s, z->k);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Training
 * ---------------------------------------------------------------------
 */

/* What train_classifier's options say */
typedef struct FitOptions
{
	double		c;
	double		test_fraction;
	int64		seed;
	int			max_iter;
	bool		balanced;
	Jsonb	   *class_weight;	/* {"label": weight} or NULL */
} FitOptions;

static double
OptNumber(Jsonb *jb, const char *key, double dflt, double lo, double hi, bool lo_open)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
	double		x;

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key)));
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(lo_open ? x > lo : x >= lo) || !(x <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be %s %g and at most %g", key, lo_open ? "greater than" : "at least",
						lo, hi)));
	return x;
}

static FitOptions
ReadFitOptions(Jsonb *jb)
{
	static const char *const known[] = {"C", "test_fraction", "seed", "max_iter", "class_weight",
	"force", NULL};
	FitOptions	o = {0};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	JsonbValue *cw;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_classifier options must be a JSON object")));
	it = JsonbIteratorInit(&jb->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (r == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			bool		ok = false;

			for (int i = 0; known[i]; i++)
				ok |= strcmp(known[i], key) == 0;
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown train_classifier option \"%s\"", key),
						 errhint("Options are C, test_fraction, seed, max_iter, class_weight and force.")));
		}
	o.c = OptNumber(jb, "C", 1.0, 0, 1e12, true);
	o.test_fraction = OptNumber(jb, "test_fraction", 0.2, 0, 0.9, false);
	o.seed = (int64) OptNumber(jb, "seed", 0, -9.2e18, 9.2e18, false);
	o.max_iter = (int) OptNumber(jb, "max_iter", 1000, 1, 100000, false);
	cw = getKeyJsonValueFromContainer(&jb->root, "class_weight", strlen("class_weight"), NULL);
	if (cw != NULL && cw->type == jbvString && cw->val.string.len == 8 &&
		memcmp(cw->val.string.val, "balanced", 8) == 0)
		o.balanced = true;
	else if (cw != NULL && cw->type == jbvBinary && JsonContainerIsObject(cw->val.binary.data))
		o.class_weight = JsonbValueToJsonb(cw);
	else if (cw != NULL && cw->type != jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"class_weight\" must be \"balanced\", null or an object of label weights")));
	return o;
}

/* Training rows, grown as the query's rows arrive */
typedef struct Rows
{
	int			n;
	int			cap;
	int			d;
	float	   *x;				/* (cap, d) */
	char	  **label;			/* [cap] */
	int			skipped;		/* NULL text or label */
} Rows;

static void
RowsAdd(Rows *r, const Vector *v, char *label)
{
	if (r->d == 0)
		r->d = v->dim;
	if (r->n == r->cap)
	{
		int			cap = r->cap ? r->cap * 2 : 1024;

		if ((double) cap * r->d > 250e6)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many training rows: at most %d of %d dimensions", (int) (250e6 / r->d), r->d)));
		r->x = r->x ? repalloc_huge(r->x, sizeof(float) * (size_t) cap * r->d)
			: palloc_extended(sizeof(float) * (size_t) cap * r->d, MCXT_ALLOC_HUGE);
		r->label = r->label ? repalloc(r->label, sizeof(char *) * cap) : palloc(sizeof(char *) * cap);
		r->cap = cap;
	}
	memcpy(r->x + (size_t) r->n * r->d, v->x, sizeof(float) * r->d);
	r->label[r->n++] = label;
}

/* Run query (as the caller) and embed its (text, label) rows */
static void
ReadRows(const char *model, const char *query, Rows *r)
{
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext outer = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if ((plan = SPI_prepare(query, 0, NULL)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_classifier: the query is not valid: %s", SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_classifier: the query must return rows (text, label)")));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		text	   *texts[FIT_BATCH];
		char	   *labels[FIT_BATCH];
		Vector	   *vecs[FIT_BATCH];
		int			n = 0;
		MemoryContext old;

		SPI_cursor_fetch(portal, true, FIT_BATCH);
		if (SPI_processed == 0)
			break;
		if (SPI_tuptable->tupdesc->natts < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("train_classifier: the query must return two columns, the text and its label")));
		old = MemoryContextSwitchTo(outer);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *t = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			char	   *l = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			if (t == NULL || l == NULL)
			{
				r->skipped++;
				continue;
			}
			texts[n] = cstring_to_text(t);
			labels[n++] = l;
		}
		EmbedRows(model, NULL, texts, n, vecs);
		for (int i = 0; i < n; i++)
		{
			if (vecs[i] == NULL)
				vecs[i] = EmbedOne(model, texts[i], NULL);
			RowsAdd(r, vecs[i], labels[i]);
			pfree(vecs[i]);
			pfree(texts[i]);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

static int
CmpStr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted distinct labels; y[i] their indexes */
static char **
LabelIndex(const Rows *r, int32 *y, int *k)
{
	char	  **s = palloc(sizeof(char *) * Max(r->n, 1));
	int			m = 0;

	memcpy(s, r->label, sizeof(char *) * r->n);
	qsort(s, r->n, sizeof(char *), CmpStr);
	for (int i = 0; i < r->n; i++)
		if (m == 0 || strcmp(s[m - 1], s[i]) != 0)
			s[m++] = s[i];
	for (int i = 0; i < r->n; i++)
	{
		char	  **hit = bsearch(&r->label[i], s, m, sizeof(char *), CmpStr);

		y[i] = (int32) (hit - s);
	}
	*k = m;
	return s;
}

static int
Interrupted(void *arg)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

static double
Seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void
JsonLabel(StringInfo b, const char *label)
{
	escape_json(b, label);
}

/* Held-out (or training) metrics as JSON text into b */
static void
Metrics(StringInfo b, char **labels, int k, const int32 *y, const int *pred, const uint8 *use, int n)
{
	int64	   *cm = palloc0(sizeof(int64) * k * k);
	int64		total = 0,
				right = 0,
				majority = 0;
	double		f1sum = 0;

	for (int i = 0; i < n; i++)
		if (use[i])
		{
			cm[(size_t) y[i] * k + pred[i]]++;
			total++;
			right += y[i] == pred[i];
		}
	appendStringInfo(b, "{\"rows\": " INT64_FORMAT ", \"accuracy\": %.6f", total,
					 total ? (double) right / total : 0.0);
	appendStringInfoString(b, ", \"per_class\": {");
	for (int c = 0; c < k; c++)
	{
		int64		tp = cm[(size_t) c * k + c],
					sup = 0,
					predicted = 0;
		double		p,
					r,
					f1;

		for (int j = 0; j < k; j++)
		{
			sup += cm[(size_t) c * k + j];
			predicted += cm[(size_t) j * k + c];
		}
		majority = Max(majority, sup);
		p = predicted ? (double) tp / predicted : 0;
		r = sup ? (double) tp / sup : 0;
		f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
		f1sum += f1;
		if (c > 0)
			appendStringInfoString(b, ", ");
		JsonLabel(b, labels[c]);
		appendStringInfo(b, ": {\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": " INT64_FORMAT "}",
						 p, r, f1, sup);
	}
	appendStringInfo(b, "}, \"macro_f1\": %.6f, \"majority_accuracy\": %.6f, \"confusion\": [",
					 f1sum / k, total ? (double) majority / total : 0.0);
	for (int c = 0; c < k; c++)
	{
		appendStringInfoString(b, c ? ", [" : "[");
		for (int j = 0; j < k; j++)
			appendStringInfo(b, "%s" INT64_FORMAT, j ? ", " : "", cm[(size_t) c * k + j]);
		appendStringInfoChar(b, ']');
	}
	appendStringInfoString(b, "]}");
}

/* Class weights from the options, over the training rows */
static double *
ClassWeights(const FitOptions *o, char **labels, int k, const int32 *y, const uint8 *test, int n)
{
	double	   *cw;

	if (!o->balanced && o->class_weight == NULL)
		return NULL;
	cw = palloc(sizeof(double) * k);
	if (o->balanced)
	{
		int64	   *cnt = palloc0(sizeof(int64) * k);
		int64		ntrain = 0;

		for (int i = 0; i < n; i++)
			if (!test[i])
				cnt[y[i]]++, ntrain++;
		for (int c = 0; c < k; c++)
			cw[c] = cnt[c] ? (double) ntrain / ((double) k * cnt[c]) : 1.0;
		return cw;
	}
	for (int c = 0; c < k; c++)
	{
		JsonbValue *v = getKeyJsonValueFromContainer(&o->class_weight->root, labels[c],
													 strlen(labels[c]), NULL);

		cw[c] = 1.0;
		if (v != NULL)
		{
			if (v->type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class weight of \"%s\" must be a number", labels[c])));
			cw[c] = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
			if (!(cw[c] > 0 && cw[c] < 1e6))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class weight of \"%s\" must be positive", labels[c])));
		}
	}
	return cw;
}

PG_FUNCTION_INFO_V1(pgi_fit_head);

/*
 * pg_infer._fit_head(embedding_model, query, options, OUT labels text[],
 * OUT dims int, OUT weights real[], OUT embedding_sha256 text, OUT metrics
 * jsonb): embed query's (text, label) rows, hold out a stratified part,
 * fit a softmax head on the rest
 */
Datum
pgi_fit_head(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	FitOptions	o = ReadFitOptions(PG_GETARG_JSONB_P(2));
	LoadedModel *m = ModelGet(model);
	char		sha[72];
	Rows		r = {0};
	int32	   *y;
	int			k,
				ntrain = 0,
				ntest = 0;
	char	  **labels;
	uint8	   *test,
			   *train;
	float	   *xt,
			   *w,
			   *probs;
	int32	   *yt;
	int		   *pred;
	double	   *cw;
	double		t0 = Seconds(),
				t1,
				t2;
	HeadFitOptions ho;
	HeadFitResult res;
	PgiError	err = {0};
	PgiStatus	st;
	StringInfoData js;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false};
	Datum	   *ld,
			   *wd;

	strlcpy(sha, m->sha256, sizeof(sha));
	ReadRows(model, query, &r);
	t1 = Seconds();
	if (r.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_classifier: the query returned no rows with a text and a label")));
	y = palloc(sizeof(int32) * r.n);
	labels = LabelIndex(&r, y, &k);
	if (k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_classifier needs rows of at least two labels")));
	test = palloc(r.n);
	train = palloc(r.n);
	head_split(y, r.n, k, o.test_fraction, (uint64) o.seed, test);
	xt = palloc_extended(sizeof(float) * (size_t) r.n * r.d, MCXT_ALLOC_HUGE);
	yt = palloc(sizeof(int32) * r.n);
	for (int i = 0; i < r.n; i++)
	{
		train[i] = !test[i];
		ntest += test[i];
		if (!test[i])
		{
			memcpy(xt + (size_t) ntrain * r.d, r.x + (size_t) i * r.d, sizeof(float) * r.d);
			yt[ntrain++] = y[i];
		}
	}
	cw = ClassWeights(&o, labels, k, y, test, r.n);
	ho = (HeadFitOptions) {.c = o.c, .max_iter = o.max_iter, .tol = 1e-6, .class_weight = cw,
	.cancel = Interrupted};
	w = palloc(sizeof(float) * (size_t) k * (r.d + 1));
	st = head_fit(xt, yt, ntrain, r.d, k, &ho, w, &res, &err);
	CHECK_FOR_INTERRUPTS();
	if (st != PGI_OK)
		PgiReport(&err);
	t2 = Seconds();

	/* predictions of every row, metrics of the held-out and the training rows */
	probs = palloc_extended(sizeof(float) * (size_t) r.n * k, MCXT_ALLOC_HUGE);
	head_probs(w, r.d, k, r.x, r.n, probs);
	pred = palloc(sizeof(int) * r.n);
	for (int i = 0; i < r.n; i++)
		pred[i] = ArgMax(probs + (size_t) i * k, k);
	initStringInfo(&js);
	appendStringInfo(&js, "{\"labels\": %d, \"rows\": %d, \"train_rows\": %d, \"test_rows\": %d, "
					 "\"skipped_rows\": %d, \"dims\": %d, \"iterations\": %d, \"converged\": %s, "
					 "\"loss\": %.9g, \"loss_start\": %.9g, \"loss_decreased_every_iteration\": %s, "
					 "\"embedding_seconds\": %.3f, \"training_seconds\": %.3f, \"classes\": [",
					 k, r.n, ntrain, ntest, r.skipped, r.d, res.iterations,
					 res.converged ? "true" : "false", res.loss, res.loss_first,
					 res.monotone ? "true" : "false", t1 - t0, t2 - t1);
	for (int c = 0; c < k; c++)
	{
		if (c > 0)
			appendStringInfoString(&js, ", ");
		JsonLabel(&js, labels[c]);
	}
	appendStringInfoString(&js, "], \"test\": ");
	if (ntest > 0)
		Metrics(&js, labels, k, y, pred, test, r.n);
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, ", \"train\": ");
	Metrics(&js, labels, k, y, pred, train, r.n);
	appendStringInfoString(&js, ", \"options\": ");
	appendStringInfo(&js, "{\"C\": %.9g, \"test_fraction\": %.9g, \"seed\": " INT64_FORMAT
					 ", \"max_iter\": %d, \"class_weight\": %s}}",
					 o.c, o.test_fraction, o.seed, o.max_iter,
					 o.balanced ? "\"balanced\"" : o.class_weight ? JsonbToCString(NULL, &o.class_weight->root, 0) : "null");

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_fit_head must return a record");
	desc = BlessTupleDesc(desc);
	ld = palloc(sizeof(Datum) * k);
	for (int c = 0; c < k; c++)
		ld[c] = CStringGetTextDatum(labels[c]);
	wd = palloc(sizeof(Datum) * (size_t) k * (r.d + 1));
	for (size_t i = 0; i < (size_t) k * (r.d + 1); i++)
		wd[i] = Float4GetDatum(w[i]);
	values[0] = PointerGetDatum(construct_array(ld, k, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = Int32GetDatum(r.d);
	values[2] = PointerGetDatum(construct_array(wd, k * (r.d + 1), FLOAT4OID, 4, true, TYPALIGN_INT));
	values[3] = CStringGetTextDatum(sha);
	values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* ---------------------------------------------------------------------
 * Triggers
 * ---------------------------------------------------------------------
 */

/* Whether two text datums hold the same bytes */
static bool
SameText(Datum a, Datum b)
{
	text	   *x = DatumGetTextPP(a);
	text	   *y = DatumGetTextPP(b);

	return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
		memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

/* The extension's vector type */
static Oid
VectorTypeOid(void)
{
	Oid			nsp = get_namespace_oid(ExtensionSchemaName(), false);

	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("vector"),
						   ObjectIdGetDatum(nsp));
}

/* Column number of name in rel (ERROR when absent) */
static int
TriggerColumn(Relation rel, const char *name, const char *which)
{
	int			att = SPI_fnumber(RelationGetDescr(rel), name);

	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" of the trigger does not exist in table \"%s\"", which, name,
						RelationGetRelationName(rel))));
	return att;
}

/*
 * The row to store: target computed from source by fn, on INSERT and when
 * an UPDATE changed source (NULL source: NULL target)
 */
static Datum
RowTrigger(FunctionCallInfo fcinfo, const char *fname, Oid target_type,
		   Datum (*compute) (const char *model, text *input))
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	char	  **args;
	int			src,
				dst;
	HeapTuple	row;
	bool		isnull;
	Datum		v;
	Datum		out = (Datum) 0;
	bool		outnull = true;
	TupleDesc	desc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", fname)));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger", fname)));
	if (td->tg_trigger->tgnargs != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s() takes three arguments: model, source column, target column", fname)));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	args = td->tg_trigger->tgargs;
	src = TriggerColumn(rel, args[1], "source");
	dst = TriggerColumn(rel, args[2], "target");
	if (getBaseType(TupleDescAttr(desc, src - 1)->atttypid) != TEXTOID &&
		getBaseType(TupleDescAttr(desc, src - 1)->atttypid) != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("source column \"%s\" must be of type text", args[1])));
	if (getBaseType(TupleDescAttr(desc, dst - 1)->atttypid) != target_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" must be of type %s", args[2], format_type_be(target_type))));
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		bool		oldnull;
		Datum		old = heap_getattr(td->tg_trigtuple, src, desc, &oldnull);

		v = heap_getattr(row, src, desc, &isnull);
		/* the source did not change: keep the row as it is */
		if (isnull == oldnull && (isnull || SameText(old, v)))
			return PointerGetDatum(row);
	}
	v = heap_getattr(row, src, desc, &isnull);
	if (!isnull)
	{
		out = compute(args[0], DatumGetTextPP(v));
		outnull = false;
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(row, desc, 1, &dst, &out, &outnull));
}

static Datum
EmbedDatum(const char *model, text *input)
{
	return PointerGetDatum(EmbedOne(model, input, NULL));
}

static Datum
ClassifyDatum(const char *model, text *input)
{
	return PointerGetDatum(ClassifyOne(model, input));
}

PG_FUNCTION_INFO_V1(pgi_embed_trigger);

Datum
pgi_embed_trigger(PG_FUNCTION_ARGS)
{
	return RowTrigger(fcinfo, "embed_trigger", VectorTypeOid(), EmbedDatum);
}

PG_FUNCTION_INFO_V1(pgi_classify_trigger);

Datum
pgi_classify_trigger(PG_FUNCTION_ARGS)
{
	return RowTrigger(fcinfo, "classify_trigger", TEXTOID, ClassifyDatum);
}
