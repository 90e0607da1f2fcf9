/*
 * test_bert.c
 *	  The BERT encoder (bert.c, pgim.c, bert_load.c) against the float64
 *	  NumPy reference of test/models/bert_ref.py.
 *
 * Reads the fixture written by test/models/gen_bert.py (the Makefile runs
 * it into build/bert_fixture before the unit tests): builds a prepared
 * model from each source (HF F32 / F16 / sharded directories, GGUF F32 /
 * F16 / Q8_0), runs every reference case alone and all of them as one
 * packed batch, and compares the four poolings, raw and normalised, with
 * the reference computed from the same weights: max abs error 1e-4; Q8_0
 * also cosine >= 0.999 against the F32 reference.  Also checks the GELU
 * and exp kernels against libm in double precision.
 */
#include <math.h>
#include <string.h>

#include "core/models/bert.h"
#include "core/models/bert_load.h"
#include "core/formats/json.h"
#include "core/kernels/nn_kernels.h"
#include "core/kernels/par.h"
#include "core/models/pgim.h"
#include "unit.h"

#include <cblas.h>

static const char *fixture = "build/bert_fixture";

/* cblas_sgemm with int enums */
static void
sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
	  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm((enum CBLAS_ORDER) order, (enum CBLAS_TRANSPOSE) ta,
				(enum CBLAS_TRANSPOSE) tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* Read fixture file name, NUL-terminated */
static char *
fx(const char *name, size_t *len)
{
	char		path[512];

	snprintf(path, sizeof(path), "%s/%s", fixture, name);
	return (char *) read_file(path, len);
}

/* A prepared model built in memory from one source */
static uint8_t *
prepare(const char *source, PgimModel *pm)
{
	BertPrep	prep;
	PgiError	err = {0};
	uint8_t    *buf = NULL;
	uint64_t	size;
	PgiStatus	st;
	size_t		len;

	if (strstr(source, ".gguf"))
	{
		uint8_t    *data = (uint8_t *) fx(source, &len);
		GgufFile   *g;

		if (data == NULL || gguf_open(data, len, &g, &err) != PGI_OK)
		{
			CHECK(0, "open %s: %s", source, err.msg);
			return NULL;
		}
		st = bert_prep_gguf(g, &prep, &err);
		CHECK(st == PGI_OK, "prep %s: %s", source, err.msg);
		if (st == PGI_OK && pgim_file_size(&prep.config, prep.meta.wfmt, prep.vocab_len, 0, &size, &err) == PGI_OK)
		{
			buf = malloc(size);
			st = pgim_build_bert(buf, size, &prep.config, &prep.meta, "gguf", bert_find_gguf, g,
								 prep.vocab, prep.vocab_len, NULL, 0, "x", &err);
			CHECK(st == PGI_OK, "build %s: %s", source, err.msg);
			CHECK(pgim_open(buf, size, pm, &err) == PGI_OK, "open prepared %s: %s", source, err.msg);
		}
		bert_prep_free(&prep);
		gguf_free(g);
		free(data);
	}
	else
	{
		char		name[256];
		BertHfFiles f = {0};
		SafetensorsFile *files[2];
		uint8_t    *wdata[2] = {NULL, NULL};
		BertStSet	set = {files, 0};
		const char *shards[2];
		int			nshards = strstr(source, "sharded") ? 2 : 1;

		shards[0] = nshards == 2 ? "model-00001-of-00002.safetensors" : "model.safetensors";
		shards[1] = "model-00002-of-00002.safetensors";
#define LOAD(field, file) \
		snprintf(name, sizeof(name), "%s/%s", source, file); \
		f.field = fx(name, &f.field##_len);
		LOAD(config, "config.json");
		LOAD(tokenizer_json, "tokenizer.json");
		LOAD(modules, "modules.json");
		LOAD(pooling, "1_Pooling/config.json");
		LOAD(st_config, "sentence_bert_config.json");
#undef LOAD
		st = bert_prep_hf(&f, &prep, &err);
		CHECK(st == PGI_OK, "prep %s: %s", source, err.msg);
		for (int i = 0; i < nshards; i++)
		{
			snprintf(name, sizeof(name), "%s/%s", source, shards[i]);
			wdata[i] = (uint8_t *) fx(name, &len);
			CHECK(wdata[i] && safetensors_open(wdata[i], len, &files[i], &err) == PGI_OK,
				  "open %s: %s", name, err.msg);
			set.n++;
		}
		if (st == PGI_OK && pgim_file_size(&prep.config, prep.meta.wfmt, prep.vocab_len, 0, &size, &err) == PGI_OK)
		{
			buf = malloc(size);
			st = pgim_build_bert(buf, size, &prep.config, &prep.meta, "hf", bert_find_safetensors,
								 &set, prep.vocab, prep.vocab_len, NULL, 0, "x", &err);
			CHECK(st == PGI_OK, "build %s: %s", source, err.msg);
			CHECK(pgim_open(buf, size, pm, &err) == PGI_OK, "open prepared %s: %s", source, err.msg);
			CHECK(pm->meta.normalize == 1 && pm->meta.pooling == BERT_POOL_MEAN,
				  "%s: sentence-transformers pooling/normalize read", source);
		}
		for (int i = 0; i < set.n; i++)
			safetensors_free(files[i]);
		for (int i = 0; i < nshards; i++)
			free(wdata[i]);
		free((void *) f.config);
		free((void *) f.tokenizer_json);
		free((void *) f.modules);
		free((void *) f.pooling);
		free((void *) f.st_config);
		bert_prep_free(&prep);
	}
	return buf;
}

/* max |a - ref| over n values of a JSON array */
static double
max_err(const float *a, const JsonValue *ref, int n)
{
	double		m = 0;

	for (int i = 0; i < n; i++)
	{
		double		r;

		json_num(json_at(ref, i), &r);
		if (fabs(a[i] - r) > m || isnan(a[i]))
			m = isnan(a[i]) ? INFINITY : fabs(a[i] - r);
	}
	return m;
}

/* cosine of a with a JSON reference */
static double
cosine(const float *a, const JsonValue *ref, int n)
{
	double		d = 0,
				na = 0,
				nr = 0;

	for (int i = 0; i < n; i++)
	{
		double		r;

		json_num(json_at(ref, i), &r);
		d += a[i] * r;
		na += (double) a[i] * a[i];
		nr += r * r;
	}
	return d / sqrt(na * nr);
}

/* Run every case of the reference against one source */
static void
check_source(const JsonValue *cases, const char *source, const char *refkey, double tol)
{
	PgimModel	pm;
	uint8_t    *buf = prepare(source, &pm);
	static const char *const pools[] = {"mean", "cls", "max", "last"};
	BertRuntime rt = {sgemm, NULL, NULL, 3, {0}, NULL};	/* tiny row blocks: exercise the split */
	size_t		nc = json_size(cases);
	int			h;
	int32_t    *all_ids;
	int32_t    *all_lens;
	size_t		total = 0;
	double		worst = 0;
	double		worst_batch = 0;
	double		min_cos = 1;

	if (buf == NULL)
		return;
	h = pm.config.hidden;
	all_ids = malloc(sizeof(int32_t) * 64 * nc);
	all_lens = malloc(sizeof(int32_t) * nc);
	for (size_t c = 0; c < nc; c++)
	{
		const JsonValue *ids = json_get(json_at(cases, c), "ids");

		all_lens[c] = (int32_t) json_size(ids);
		for (size_t i = 0; i < json_size(ids); i++)
		{
			int64_t		v;

			json_int(json_at(ids, i), &v);
			all_ids[total++] = (int32_t) v;
		}
	}
	for (int pass = 0; pass < 2; pass++)
	{
		/* pass 0: each case alone; pass 1: all cases in one packed batch */
		size_t		off = 0;
		float	   *hidden = malloc(sizeof(float) * total * h);
		float	   *scratch = malloc(sizeof(float) * bert_scratch_floats(&pm.config, (int64_t) total, 64));
		float	   *pooled = malloc(sizeof(float) * nc * h);
		PgiError	err = {0};

		if (pass == 1)
			CHECK(bert_forward(&pm.config, &pm.weights, &rt, all_ids, all_lens, (int32_t) nc,
							   scratch, hidden, &err) == PGI_OK, "%s batch: %s", source, err.msg);
		for (int p = 0; p < 4; p++)
			for (int norm = 0; norm < 2; norm++)
			{
				off = 0;
				for (size_t c = 0; c < nc; c++)
				{
					const JsonValue *ref = json_get(json_at(cases, c), refkey);
					char		key[32];
					double		e;

					if (pass == 0)
					{
						CHECK(bert_forward(&pm.config, &pm.weights, &rt, all_ids + off, &all_lens[c], 1,
										   scratch, hidden, &err) == PGI_OK, "%s: %s", source, err.msg);
						bert_pool(hidden, &all_lens[c], 1, h, (BertPooling) p, norm, pooled + c * h);
					}
					else if (c == 0)
						bert_pool(hidden, all_lens, (int32_t) nc, h, (BertPooling) p, norm, pooled);
					snprintf(key, sizeof(key), "%s%s", pools[p], norm ? "_normalized" : "");
					e = max_err(pooled + c * h, json_get(ref, key), h);
					if (pass == 0)
						worst = e > worst ? e : worst;
					else
						worst_batch = e > worst_batch ? e : worst_batch;
					CHECK(e <= tol, "%s %s case %zu %s: max abs error %.3g > %.1g",
						  source, pass ? "batch" : "single", c, key, e, tol);
					if (strcmp(refkey, "reference_q8_0") == 0 && norm)
					{
						double		cs = cosine(pooled + c * h,
												json_get(json_get(json_at(cases, c), "reference"), key), h);

						min_cos = cs < min_cos ? cs : min_cos;
						CHECK(cs >= 0.999, "%s case %zu %s: cosine with F32 %.5f", source, c, key, cs);
					}
					off += (size_t) all_lens[c];
				}
			}
		free(hidden);
		free(scratch);
		free(pooled);
	}
	/* the batch on 2 threads: the same floats (products and attention are split by outputs) */
	{
		float	   *h1 = malloc(sizeof(float) * total * h),
				   *h2 = malloc(sizeof(float) * total * h);
		float	   *scratch = malloc(sizeof(float) * bert_scratch_floats(&pm.config, (int64_t) total, 64));
		PgiError	err = {0};
		int			ok;

		ok = bert_forward(&pm.config, &pm.weights, &rt, all_ids, all_lens, (int32_t) nc, scratch, h1,
						  &err) == PGI_OK;
		par_set_threads(2);
		ok &= bert_forward(&pm.config, &pm.weights, &rt, all_ids, all_lens, (int32_t) nc, scratch, h2,
						   &err) == PGI_OK;
		par_set_threads(1);
		CHECK(ok && memcmp(h1, h2, sizeof(float) * total * h) == 0,
			  "%s: a batch on 2 threads differs from 1 thread", source);
		free(h1);
		free(h2);
		free(scratch);
	}
	printf("bert %-26s vs %-16s max abs error single %.2e, batch %.2e%s",
		   source, refkey, worst, worst_batch, strcmp(refkey, "reference_q8_0") == 0 ? "" : "\n");
	if (strcmp(refkey, "reference_q8_0") == 0)
		printf(", min cosine vs F32 %.6f\n", min_cos);
	free(all_ids);
	free(all_lens);
	free(buf);
}

/* Hostile inputs of the forward pass */
static void
check_bad_inputs(void)
{
	PgimModel	pm;
	uint8_t    *buf = prepare("bert-f32.gguf", &pm);
	BertRuntime rt = {sgemm, NULL, NULL, 0, {0}, NULL};
	float	   *scratch,
			   *hidden;
	int32_t		ids[70] = {0};
	int32_t		len;
	PgiError	err = {0};

	if (buf == NULL)
		return;
	scratch = malloc(sizeof(float) * bert_scratch_floats(&pm.config, 70, 70));
	hidden = malloc(sizeof(float) * 70 * pm.config.hidden);
	len = 65;
	CHECK(bert_forward(&pm.config, &pm.weights, &rt, ids, &len, 1, scratch, hidden, &err) == PGI_ERR_LIMIT,
		  "65 tokens over 64 positions refused");
	len = 0;
	CHECK(bert_forward(&pm.config, &pm.weights, &rt, ids, &len, 1, scratch, hidden, &err) == PGI_ERR_LIMIT,
		  "empty sequence refused");
	len = 2;
	ids[1] = pm.config.vocab;
	CHECK(bert_forward(&pm.config, &pm.weights, &rt, ids, &len, 1, scratch, hidden, &err) == PGI_ERR_DATA,
		  "id past the vocabulary refused");
	ids[1] = -1;
	CHECK(bert_forward(&pm.config, &pm.weights, &rt, ids, &len, 1, scratch, hidden, &err) == PGI_ERR_DATA,
		  "negative id refused");
	/* a prepared file cut short is refused */
	CHECK(pgim_open(buf, pm.header->file_size - 1, &pm, &err) == PGI_ERR_CORRUPT,
		  "truncated prepared file refused");
	free(scratch);
	free(hidden);
	free(buf);
}

/* GELU and exp kernels against libm in double */
static void
check_kernels(void)
{
	static float x[20001],
				y[20001];
	double		worst_gelu = 0,
				worst_exp = 0;

	for (int portable = 0; portable < 3; portable++)	/* best, portable, AVX2 */
	{
		nn_kernels_force_portable(portable);
		for (int i = 0; i <= 20000; i++)
			x[i] = y[i] = -20.0f + i * 0.002f;
		nn_gelu(y, 20001);
		for (int i = 0; i <= 20000; i++)
		{
			double		r = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
			double		e = fabs(y[i] - r) / fmax(1.0, fabs(r));

			worst_gelu = e > worst_gelu ? e : worst_gelu;
		}
		for (int i = 0; i <= 20000; i++)
			y[i] = x[i] = -87.0f + i * 0.00875f;
		nn_exp(y, 20001);
		for (int i = 0; i <= 20000; i++)
		{
			double		r = exp((double) x[i]);
			double		e = fabs(y[i] - r) / r;

			worst_exp = e > worst_exp ? e : worst_exp;
		}
	}
	/* softmax of rows of 1..70 values (vector tails), every body */
	for (int portable = 0; portable < 3; portable++)
	{
		double		worst_sm = 0;

		nn_kernels_force_portable(portable);
		for (int n = 1; n <= 70; n++)
		{
			double		sum = 0;

			for (int i = 0; i < n; i++)
				x[i] = y[i] = (float) ((i * 37 + n * 11) % 23) * 0.7f - 8.0f;
			nn_softmax_rows(y, 1, (size_t) n);
			for (int i = 0; i < n; i++)
				sum += exp((double) x[i]);
			for (int i = 0; i < n; i++)
			{
				double		r = exp((double) x[i]) / sum;

				worst_sm = fmax(worst_sm, fabs(y[i] - r) / r);
			}
		}
		CHECK(worst_sm < 1e-6, "softmax (%s) relative error %.3g", nn_kernels_isa(), worst_sm);
	}
	nn_kernels_force_portable(0);
	CHECK(worst_gelu < 1e-6, "GELU error %.3g", worst_gelu);
	CHECK(worst_exp < 1e-6, "exp relative error %.3g", worst_exp);
	printf("kernels (%s, avx2, portable): GELU max error %.2e, exp max relative error %.2e\n",
		   nn_kernels_isa(), worst_gelu, worst_exp);
}

int
main(int argc, char **argv)
{
	size_t		len;
	char	   *text;
	JsonDoc    *doc;
	PgiError	err = {0};
	const JsonValue *cases;

	if (argc > 1)
		fixture = argv[1];
	check_kernels();
	text = fx("reference.json", &len);
	CHECK(text != NULL, "fixture %s/reference.json missing (run test/models/gen_bert.py)", fixture);
	if (text == NULL || json_parse(text, len, &doc, &err) != PGI_OK)
	{
		CHECK(0, "reference.json: %s", err.msg);
		return UNIT_DONE("bert");
	}
	cases = json_get(json_root(doc), "cases");
	check_source(cases, "hf", "reference", 1e-4);
	check_source(cases, "hf_sharded", "reference", 1e-4);
	check_source(cases, "hf_f16", "reference_hf_f16", 1e-4);
	check_source(cases, "bert-f32.gguf", "reference", 1e-4);
	check_source(cases, "bert-f16.gguf", "reference_f16", 1e-4);
	check_source(cases, "bert-q8_0.gguf", "reference_q8_0", 1e-4);
	/* the products split over worker threads give the same answers */
	par_set_threads(3);
	check_source(cases, "bert-f32.gguf", "reference", 1e-4);
	par_set_threads(1);
	check_bad_inputs();
	json_free(doc);
	free(text);
	return UNIT_DONE("bert");
}
