/*
 * fuzz_use_load.c
 *	  libFuzzer target for the Universal Sentence Encoder Lite loader
 *	  (src/core/models/use_load.c), its forward pass and its tokenizer
 *	  (src/core/tokenizers/tok_unigram.c).
 *
 * The first byte picks the mode; the rest is the input.
 *
 * Model mode (first byte even): the input is model.json, then optionally
 * "\n--vocab--\n" and vocab.json.  Shards are made up from the manifest:
 * each group's declared size (at most 2 MB), split over its paths, every
 * 4-byte word the little-endian integer 16 (a tiny finite float, and a
 * max length of 16); bit 1 of the mode byte cuts the last shard short.
 * Invariants: loading fails cleanly or succeeds; on success the section
 * packs and binds, the tokenizer builds, and a forward pass over a text's
 * tokens gives finite output.
 *
 * Text mode (first byte odd): bit 1 clear: the input is text for a
 * tokenizer over a small fixed vocabulary; bit 1 set: the input, split at
 * '\n', is the vocabulary (after the 6 reserved pieces) for a fixed text.
 * Invariants: valid UTF-8 never fails and invalid UTF-8 fails with
 * PGI_ERR_DATA leaving the ids alone; ids are in the vocabulary, never
 * reserved ids 1..5, with no two unknowns in a row; decoding succeeds.
 *
 * NFKC comes from PostgreSQL's unicode_normalize() (libpgcommon).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/tokenizers/tok_unigram.h"
#include "core/models/use_lite.h"
#include "core/models/use_load.h"
#include "pgcommon/pg_unicode_norm.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n--vocab--\n"
#define MAX_BLOB ((uint64_t) 2 << 20)

static const char *const vocab[] = {
	"\xef\xbf\xbd", "<s>", "</s>", "extra_token_id_1", "extra_token_id_2", "extra_token_id_3",
	"\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "a", ":", "\xe2\x96\x81:", ")", "ab",
	"\xf0\x9f\x98\x80", "a\xf0\x9f\x98\x80", "abcdefghijklmnop", "\xc3\xa9", "e", ".",
};
static const double scores[] = {
	0, 0, 0, 0, 0, 0, -2, -3, -3.5, -4, -2.5, 0, 0, -6, -2, -1, -7, -6.5, -2, -5, -3, -1.5,
};
#define N_VOCAB ((int32_t) (sizeof(vocab) / sizeof(vocab[0])))

/* Fail loudly */
static _Noreturn void
fail(const char *what)
{
	fprintf(stderr, "fuzz_use_load: %s\n", what);
	abort();
}

/* Check the invariants of one encode call */
static void
check_encode(const TokUnigram *tok, const char *text, size_t len)
{
	TokUnigramIds ids = {0};
	PgiError	err;
	PgiStatus	st;
	int32_t		n = tok_unigram_vocab_size(tok);
	char	   *dec;
	size_t		dec_len;

	ids.ids = malloc(sizeof(int32_t));
	ids.ids[0] = 42;
	ids.len = 1;
	ids.cap = 1;
	st = tok_unigram_encode(tok, text, len, &ids, &err);
	if (tok_utf8_validate(text, len, NULL) != PGI_OK)
	{
		if (st != PGI_ERR_DATA || ids.len != 1 || ids.ids[0] != 42)
			fail("invalid UTF-8 not refused cleanly");
	}
	else if (st != PGI_OK)
		fail("valid UTF-8 refused");
	for (size_t i = 1; i < ids.len; i++)
	{
		if (ids.ids[i] < 0 || ids.ids[i] >= n || (ids.ids[i] >= 1 && ids.ids[i] < 6))
			fail("id out of range or reserved");
		if (i > 1 && ids.ids[i] == 0 && ids.ids[i - 1] == 0)
			fail("two unknown ids in a row");
	}
	if (tok_unigram_decode(tok, ids.ids + 1, ids.len - 1, &dec, &dec_len, &err) != PGI_OK)
		fail("decode failed");
	if (tok_utf8_validate(dec, dec_len, NULL) != PGI_OK)
		fail("decode gave invalid UTF-8");
	free(dec);
	free(ids.ids);
}

/* Text mode */
static void
run_text(uint8_t mode, const uint8_t *data, size_t size)
{
	TokUnigramConfig cfg = {6, pg_unicode_nfkc, NULL};
	TokUnigram *tok = NULL;
	PgiError	err;

	if ((mode & 2) == 0)
	{
		const char *p[N_VOCAB];
		uint32_t	l[N_VOCAB];

		for (int i = 0; i < N_VOCAB; i++)
		{
			p[i] = vocab[i];
			l[i] = (uint32_t) strlen(vocab[i]);
		}
		if (tok_unigram_new(p, l, scores, N_VOCAB, &cfg, &tok, &err) != PGI_OK)
			fail("fixed vocabulary refused");
		check_encode(tok, (const char *) data, size);
	}
	else
	{
		const char *p[256];
		uint32_t	l[256];
		double		s[256];
		int32_t		n = 6;
		size_t		a = 0;

		for (int i = 0; i < 6; i++)
		{
			p[i] = vocab[i];
			l[i] = (uint32_t) strlen(vocab[i]);
			s[i] = 0;
		}
		while (a <= size && n < 256)
		{
			size_t		b = a;

			while (b < size && data[b] != '\n')
				b++;
			p[n] = (const char *) data + a;
			l[n] = (uint32_t) (b - a);
			s[n] = (n % 7 == 0) ? 0 : -(double) (n % 13) / 3;
			n++;
			a = b + 1;
		}
		if (tok_unigram_new(p, l, s, n, &cfg, &tok, &err) != PGI_OK)
			return;
		check_encode(tok, "ab a\xf0\x9f\x98\x80 :) \xef\xbd\x81\xc3\xa9\te.",
					 strlen("ab a\xf0\x9f\x98\x80 :) \xef\xbd\x81\xc3\xa9\te."));
		check_encode(tok, (const char *) data, size);
	}
	tok_unigram_free(tok);
}

/* Total declared bytes of each manifest group, and its shard count */
static bool
group_sizes(const char *mj, size_t mj_len, uint64_t *bytes, int *n_paths, int max_groups,
			int *n_groups)
{
	JsonDoc    *doc;
	const JsonValue *g;
	bool		ok = true;

	if (json_parse(mj, mj_len, &doc, NULL) != PGI_OK)
		return false;
	g = json_get(json_root(doc), "weightsManifest");
	*n_groups = 0;
	for (size_t i = 0; g && i < json_size(g) && ok; i++)
	{
		const JsonValue *ws = json_get(json_at(g, i), "weights");
		const JsonValue *ps = json_get(json_at(g, i), "paths");
		uint64_t	total = 0;

		if ((int) i >= max_groups)
		{
			ok = false;
			break;
		}
		for (size_t j = 0; ws && j < json_size(ws) && total <= MAX_BLOB; j++)
		{
			const JsonValue *sh = json_get(json_at(ws, j), "shape");
			uint64_t	numel = 4;

			for (size_t d = 0; sh && d < json_size(sh) && numel <= MAX_BLOB; d++)
			{
				int64_t		v = 0;

				json_int(json_at(sh, d), &v);
				numel *= v > 0 ? (uint64_t) v : 0;
			}
			total += numel;
		}
		bytes[i] = total;
		n_paths[i] = (int) json_size(ps);
		ok = total <= MAX_BLOB && n_paths[i] <= 64;
		(*n_groups)++;
	}
	json_free(doc);
	return ok;
}

/* Model mode */
static void
run_model(uint8_t mode, const uint8_t *data, size_t size)
{
	const char *mj = (const char *) data;
	size_t		mj_len = size;
	const char *vj = "[]";
	size_t		vj_len = 2;
	uint64_t	gbytes[8];
	int			gpaths[8],
				n_groups,
				n_shards = 0;
	const uint8_t *shards[8 * 64];
	size_t		lens[8 * 64];
	static uint8_t *blob;
	char	  **paths;
	int			n_paths;
	UseSource  *src = NULL;
	PgiError	err;

	for (size_t i = 0; i + strlen(SEP) <= size; i++)
		if (memcmp(data + i, SEP, strlen(SEP)) == 0)
		{
			mj_len = i;
			vj = (const char *) data + i + strlen(SEP);
			vj_len = size - i - strlen(SEP);
			break;
		}
	if (use_tfjs_shard_paths(mj, mj_len, &paths, &n_paths, &err) == PGI_OK)
	{
		for (int i = 0; i < n_paths; i++)
			if (paths[i][0] == '.' || strchr(paths[i], '/') != NULL)
				fail("unsafe shard path accepted");
		use_tfjs_paths_free(paths, n_paths);
	}
	if (!group_sizes(mj, mj_len, gbytes, gpaths, 8, &n_groups) || n_groups == 0)
	{
		/* still drive the loader over the text */
		if (use_load_tfjs(mj, mj_len, shards, lens, 0, vj, vj_len, &src, &err) == PGI_OK)
			fail("a model without weights loaded");
		return;
	}
	if (blob == NULL)
	{
		/* every word the little-endian int32 16, once */
		blob = malloc(MAX_BLOB);
		for (uint64_t i = 0; i < MAX_BLOB; i++)
			blob[i] = i % 4 == 0 ? 16 : 0;
	}
	for (int g = 0; g < n_groups; g++)
	{
		uint64_t	left = gbytes[g];

		for (int p = 0; p < gpaths[g]; p++)
		{
			/* whole words, so the pattern stays aligned across shards */
			uint64_t	take = p == gpaths[g] - 1 ? left :
				(left / (uint64_t) (gpaths[g] - p)) & ~(uint64_t) 3;

			shards[n_shards] = blob;
			lens[n_shards++] = (size_t) take;
			left -= take;
		}
	}
	if ((mode & 2) && n_shards > 0 && lens[n_shards - 1] > 0)
		lens[n_shards - 1]--;
	if (use_load_tfjs(mj, mj_len, shards, lens, n_shards, vj, vj_len, &src, &err) == PGI_OK)
	{
		const UseConfig *c = use_source_config(src);
		uint64_t	bytes;
		uint8_t    *section;
		UseWeights	w;
		TokUnigram *tok;
		TokUnigramIds ids = {0};
		BertRuntime rt = {NULL, NULL, NULL, 5, {0}, NULL};

		if (use_weights_size(c, (GemmFormat) {0}, &bytes, &err) != PGI_OK)
			fail("loaded config refused by use_weights_size");
		section = aligned_alloc(64, (bytes + 63) & ~(uint64_t) 63);
		if (use_pack(src, (GemmFormat) {0}, section, bytes, &err) != PGI_OK ||
			use_bind(c, (GemmFormat) {0}, section, bytes, &w, &err) != PGI_OK)
			fail("pack or bind of a loaded model failed");
		if (use_tokenizer_from_weights(c, &w, pg_unicode_nfkc, NULL, &tok, &err) == PGI_OK)
		{
			if (tok_unigram_encode(tok, "ab a:) e.", 9, &ids, &err) != PGI_OK)
				fail("encode failed");
			tok_unigram_free(tok);
		}
		if (c->d_model <= 1024 && c->ffn <= 4096)
		{
			int32_t		len = (int32_t) (ids.len < (size_t) c->max_tokens ? ids.len :
										 (size_t) c->max_tokens);
			float	   *scratch = malloc(use_scratch_floats(c, len, len) * sizeof(float));
			float	   *out = malloc((size_t) c->d_model * sizeof(float));

			if (use_forward(c, &w, &rt, ids.ids, &len, 1, scratch, out, &err) == PGI_OK)
				for (int i = 0; i < c->d_model; i++)
					if (!(out[i] - out[i] == 0))
						fail("non-finite embedding");
			free(scratch);
			free(out);
		}
		free(ids.ids);
		free(section);
		use_source_free(src);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		run_text(data[0], data + 1, size - 1);
	else
		run_model(data[0], data + 1, size - 1);
	return 0;
}
