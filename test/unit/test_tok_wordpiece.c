/*
 * test_tok_wordpiece.c
 *	  Unit tests of the Unicode tables (src/core/tokenizers/tok_unicode.c) and the
 *	  WordPiece tokenizer (src/core/tokenizers/tok_wordpiece.c).
 *
 * Every expectation below is worked out by hand from Hugging Face's
 * BertNormalizer / BertPreTokenizer / WordPiece / WordPiece decoder rules
 * (see src/core/tokenizers/tok_wordpiece.h) and the Unicode data; the comment next to
 * each case gives the derivation.  NFD comes from PostgreSQL's
 * unicode_normalize() (libpgcommon), as in the server.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_unicode.h"
#include "core/tokenizers/tok_wordpiece.h"
#include "unit.h"
#include "pgcommon/pg_unicode_norm.h"

/* The test vocabulary (ids are positions) */
static const char *const vocab[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",	/* 0-4 */
	"hello", "world", "un", "##aff", "##able",	/* 5-9 */
	"!", ",", ".", "cafe", "caf\xc3\xa9",	/* 10-14: café precomposed */
	"##s", "\xe4\xb8\xad", "\xe5\x9b\xbd", "a", "##a",	/* 15-19: 中 国 */
	"b", "##b", "'", "t", "don",	/* 20-24 */
	"i", "i\xcc\x87", "hello", "Hello", "##llo",	/* 25-29: i + U+0307; hello again */
	"he", "\xe2\x96\x81x",		/* 30-31: "▁x" */
};
#define N_VOCAB ((int32_t) (sizeof(vocab) / sizeof(vocab[0])))

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* Build a tokenizer over the test vocabulary */
static TokWordPiece *
make(int lowercase, int strip, bool chinese, bool clean, bool with_specials)
{
	size_t		lens[64];
	TokWordPieceConfig cfg;
	TokWordPiece *wp = NULL;
	PgiError	err;

	for (int32_t i = 0; i < N_VOCAB; i++)
		lens[i] = strlen(vocab[i]);
	tok_wordpiece_config_default(&cfg);
	cfg.lowercase = lowercase;
	cfg.strip_accents = strip;
	cfg.handle_chinese_chars = chinese;
	cfg.clean_text = clean;
	cfg.nfd = pg_unicode_nfd;
	if (with_specials)
	{
		cfg.special_tokens = specials;
		cfg.n_special_tokens = 5;
	}
	if (tok_wordpiece_new(vocab, lens, N_VOCAB, &cfg, &wp, &err) != PGI_OK)
	{
		fprintf(stderr, "tok_wordpiece_new: %s\n", err.msg);
		exit(1);
	}
	return wp;
}

/* Encode text and compare with the expected ids (terminated by -99) */
static void
expect(const TokWordPiece *wp, const char *text, size_t len, const int32_t *want,
	   const char *what)
{
	TokWordPieceIds ids = {0};
	PgiError	err;
	size_t		n = 0;
	bool		same;

	while (want[n] != -99)
		n++;
	if (tok_wordpiece_encode(wp, text, len, &ids, &err) != PGI_OK)
	{
		CHECK(false, "%s: encode failed: %s", what, err.msg);
		free(ids.ids);
		return;
	}
	same = ids.len == n && (n == 0 || memcmp(ids.ids, want, n * sizeof(int32_t)) == 0);
	if (!same)
	{
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < ids.len; i++)
			fprintf(stderr, " %d", ids.ids[i]);
		fprintf(stderr, "\n");
	}
	CHECK(same, "%s", what);
	free(ids.ids);
}

#define EXPECT(wp, text, what, ...) \
	do { \
		static const int32_t want_[] = {__VA_ARGS__, -99}; \
		expect((wp), (text), strlen(text), want_, (what)); \
	} while (0)

#define EXPECT_NONE(wp, text, what) \
	do { \
		static const int32_t want_[] = {-99}; \
		expect((wp), (text), strlen(text), want_, (what)); \
	} while (0)

/* Decode ids and compare with the expected text */
static void
expect_decode(const TokWordPiece *wp, const int32_t *ids, size_t n, bool skip,
			  const char *want, const char *what)
{
	char	   *out = NULL;
	size_t		len = 0;
	PgiError	err;

	if (tok_wordpiece_decode(wp, ids, n, skip, &out, &len, &err) != PGI_OK)
	{
		CHECK(false, "%s: decode failed: %s", what, err.msg);
		return;
	}
	CHECK(len == strlen(want) && strcmp(out, want) == 0, "%s: got \"%s\"", what, out);
	free(out);
}

/* Unicode categories and predicates */
static void
test_unicode(void)
{
	static const struct
	{
		uint32_t	cp;
		TokUnicodeCategory cat;
	}			cats[] = {
		{'A', TOK_UC_LU}, {'a', TOK_UC_LL}, {0x01C5, TOK_UC_LT}, {0x02B0, TOK_UC_LM},
		{0x05D0, TOK_UC_LO}, {0x0300, TOK_UC_MN}, {0x0903, TOK_UC_MC}, {0x20DD, TOK_UC_ME},
		{'7', TOK_UC_ND}, {0x2160, TOK_UC_NL}, {0x00B2, TOK_UC_NO}, {'_', TOK_UC_PC},
		{'-', TOK_UC_PD}, {'(', TOK_UC_PS}, {')', TOK_UC_PE}, {0x00AB, TOK_UC_PI},
		{0x00BB, TOK_UC_PF}, {'!', TOK_UC_PO}, {'+', TOK_UC_SM}, {0x20AC, TOK_UC_SC},
		{'^', TOK_UC_SK}, {0x00A9, TOK_UC_SO}, {' ', TOK_UC_ZS}, {0x2028, TOK_UC_ZL},
		{0x2029, TOK_UC_ZP}, {0x0000, TOK_UC_CC}, {0x200B, TOK_UC_CF}, {0xD800, TOK_UC_CS},
		{0xE000, TOK_UC_CO}, {0x0378, TOK_UC_CN}, {0x10FFFF, TOK_UC_CN},
		{0x110000, TOK_UC_CN}, {0x1F600, TOK_UC_SO}, {0x4E2D, TOK_UC_LO},
		{0x0E01, TOK_UC_LO}, {0xAC00, TOK_UC_LO}, {0x0915, TOK_UC_LO},
	};
	uint32_t	low[TOK_UNICODE_LOWER_MAX];

	for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++)
		CHECK(tok_unicode_category(cats[i].cp) == cats[i].cat, "category of U+%04X is %s, not %s",
			  (unsigned) cats[i].cp, tok_unicode_category_name(tok_unicode_category(cats[i].cp)),
			  tok_unicode_category_name(cats[i].cat));
	CHECK(strcmp(tok_unicode_version, "14.0.0") == 0, "Unicode version %s", tok_unicode_version);

	/* BERT whitespace: White_Space; not U+001F (Python's isspace says yes) */
	CHECK(tok_unicode_is_whitespace('\t') && tok_unicode_is_whitespace(0x3000) &&
		  tok_unicode_is_whitespace(0x2028) && tok_unicode_is_whitespace(0x00A0), "whitespace");
	CHECK(!tok_unicode_is_whitespace(0x200B) && !tok_unicode_is_whitespace(0x1F), "not whitespace");
	/* control: Cc/Cf/Co minus tab, LF, CR */
	CHECK(tok_unicode_bert_is_control(0x01) && tok_unicode_bert_is_control(0x200B) &&
		  tok_unicode_bert_is_control(0xE000) && tok_unicode_bert_is_control(0x0B), "control");
	CHECK(!tok_unicode_bert_is_control('\t') && !tok_unicode_bert_is_control('\n') &&
		  !tok_unicode_bert_is_control('\r') && !tok_unicode_bert_is_control('a'), "not control");
	/* punctuation: ASCII symbols count, Unicode symbols do not */
	CHECK(tok_unicode_bert_is_punct('$') && tok_unicode_bert_is_punct('^') &&
		  tok_unicode_bert_is_punct('`') && tok_unicode_bert_is_punct(0x3002) &&
		  tok_unicode_bert_is_punct(0x00BF), "punctuation");
	CHECK(!tok_unicode_bert_is_punct(0x20AC) && !tok_unicode_bert_is_punct('a') &&
		  !tok_unicode_bert_is_punct(0x00A9), "not punctuation");
	/* Hugging Face's Unicode 8.0 categories: U+2E43 (Po since 9.0) is not punct */
	CHECK(!tok_unicode_bert_is_punct(0x2E43) && tok_unicode_bert_is_punct(0x166D), "legacy punct");
	CHECK(tok_unicode_bert_is_nonspacing_mark(0x0301) && !tok_unicode_bert_is_nonspacing_mark(0x0903),
		  "marks");
	CHECK(tok_unicode_is_cjk(0x4E2D) && tok_unicode_is_cjk(0xF900) && !tok_unicode_is_cjk(0x3042) &&
		  !tok_unicode_is_cjk(0xAC00) && !tok_unicode_is_cjk(0x2B81F + 1), "cjk");

	/* lowercase */
	CHECK(tok_unicode_simple_lower('A') == 'a' && tok_unicode_simple_lower('a') == 'a', "lower ASCII");
	CHECK(tok_unicode_simple_lower(0x03A3) == 0x03C3, "lower sigma");
	CHECK(tok_unicode_simple_lower(0x1E9E) == 0x00DF, "lower capital sharp s");
	CHECK(tok_unicode_simple_lower(0x0130) == 'i', "simple lower of U+0130");
	CHECK(tok_unicode_simple_lower(0x0410) == 0x0430, "lower Cyrillic");
	CHECK(tok_unicode_simple_lower(0xA7CB) == 0x0264, "lower from Unicode 16");
	CHECK(tok_unicode_full_lower(0x0130, low) == 2 && low[0] == 'i' && low[1] == 0x0307,
		  "full lower of U+0130");
	CHECK(tok_unicode_full_lower('Q', low) == 1 && low[0] == 'q', "full lower of Q");
}

/* UTF-8 decoding and validation */
static void
test_utf8(void)
{
	static const char *const bad[] = {
		"\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xe2\x82", "\xff", "\xc3",
	};
	uint32_t	cp;
	char		buf[4];
	PgiError	err;

	CHECK(tok_utf8_decode((const uint8_t *) "\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC, "euro");
	CHECK(tok_utf8_decode((const uint8_t *) "\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10FFFF,
		  "max");
	CHECK(tok_utf8_decode((const uint8_t *) "\xe2\x82\xac", 2, &cp) == 0, "truncated by len");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tok_utf8_validate(bad[i], strlen(bad[i]), &err) == PGI_ERR_DATA, "bad %zu", i);
	CHECK(tok_utf8_validate("ab\xc3\xa9z\xc3(", 7, &err) == PGI_ERR_DATA &&
		  strstr(err.msg, "byte offset 5") != NULL && strstr(err.msg, "c3 28") != NULL,
		  "message: %s", err.msg);
	CHECK(tok_utf8_validate("", 0, &err) == PGI_OK, "empty is valid");
	CHECK(tok_utf8_encode(0x1F600, buf) == 4 && memcmp(buf, "\xf0\x9f\x98\x80", 4) == 0, "encode");
	CHECK(tok_utf8_encode(0x7F, buf) == 1 && tok_utf8_encode(0x80, buf) == 2 &&
		  tok_utf8_encode(0xFFFF, buf) == 3, "encode lengths");
}

/* Uncased BERT (bert-base-uncased's settings) */
static void
test_uncased(void)
{
	TokWordPiece *wp = make(true, -1, true, true, false);
	char		word[128];

	/* "hello" twice in the vocabulary: the last id (27) wins */
	EXPECT(wp, "Hello, World!", "punctuation splits", 27, 11, 6, 10);
	EXPECT(wp, "unaffable", "longest match first", 7, 8, 9);
	/* NFD: C a f e U+0301, drop the mark, lowercase: "cafe" */
	EXPECT(wp, "Caf\xc3\xa9", "accent stripped", 13);
	EXPECT(wp, "CAFE\xcc\x81S", "combining accent stripped", 13, 15);
	EXPECT(wp, "cafe cafes", "continuation", 13, 13, 15);
	/* U+0130: NFD is I U+0307; the mark goes, I lowercases to i */
	EXPECT(wp, "\xc4\xb0", "dotted capital I", 25);
	/* CJK ideographs become words of their own */
	EXPECT(wp, "\xe4\xb8\xad\xe5\x9b\xbd", "chinese", 16, 17);
	EXPECT(wp, "a\xe4\xb8\xad" "b", "chinese inside a word", 18, 16, 20);
	EXPECT(wp, "aaa", "repeated continuation", 18, 19, 19);
	EXPECT(wp, "a,b.", "each punctuation char is a word", 18, 11, 20, 12);
	EXPECT(wp, "!!", "punctuation run", 10, 10);
	EXPECT(wp, "don't", "apostrophe", 24, 22, 23);
	/* control characters vanish, joining the word around them */
	EXPECT(wp, "a\x01" "b", "control removed", 18, 21);
	EXPECT(wp, "a\xe2\x80\x8b" "b", "zero width space removed", 18, 21);
	EXPECT(wp, "a\xef\xbf\xbd" "b", "U+FFFD removed", 18, 21);
	EXPECT(wp, "a\xc2\xa0" "b\t\r\nb\xe3\x80\x80" "a", "unusual spaces", 18, 20, 20, 18);
	EXPECT(wp, "zzz", "no match: unknown", 1);
	EXPECT(wp, "hellox", "no continuation: unknown", 1);
	EXPECT(wp, "helllo", "he + ##llo is not tried once hell.. fails", 1);
	EXPECT(wp, "hello", "exact word", 27);
	EXPECT_NONE(wp, "", "empty");
	EXPECT_NONE(wp, " \t\n ", "only whitespace");
	EXPECT(wp, "[CLS]", "no special tokens configured: [ cls ]", 1, 1, 1);
	/* "▁x" is a vocabulary word; U+2581 is a symbol (So), not a separator */
	EXPECT(wp, "\xe2\x96\x81x", "U+2581 in a word", 31);

	/* max_input_chars_per_word = 100: a + 99 x ##a, then [UNK] */
	memset(word, 'a', 101);
	word[101] = '\0';
	{
		TokWordPieceIds ids = {0};
		PgiError	err;

		CHECK(tok_wordpiece_encode(wp, word, 100, &ids, &err) == PGI_OK && ids.len == 100 &&
			  ids.ids[0] == 18 && ids.ids[99] == 19, "100 chars: %zu ids", ids.len);
		ids.len = 0;
		CHECK(tok_wordpiece_encode(wp, word, 101, &ids, &err) == PGI_OK && ids.len == 1 &&
			  ids.ids[0] == 1, "101 chars: unknown");
		/* the count is in code points: 60 x U+00E1 (120 bytes) strip to 60 a */
		ids.len = 0;
		for (int i = 0; i < 60; i++)
			memcpy(word + 2 * i, "\xc3\xa1", 2);
		CHECK(tok_wordpiece_encode(wp, word, 120, &ids, &err) == PGI_OK && ids.len == 60,
			  "code points, not bytes");
		/* invalid UTF-8: an error, and out is left as it was */
		ids.len = 1;
		CHECK(tok_wordpiece_encode(wp, "ok \xff", 4, &ids, &err) == PGI_ERR_DATA && ids.len == 1 &&
			  strstr(err.msg, "UTF-8") != NULL, "invalid UTF-8: %s", err.msg);
		free(ids.ids);
	}
	tok_wordpiece_free(wp);
}

/* Cased, without accent stripping, and other switches */
static void
test_options(void)
{
	TokWordPiece *wp = make(false, 0, true, true, false);
	TokWordPiece *lo = make(true, 0, true, true, false);
	TokWordPiece *raw = make(true, -1, false, false, false);
	TokWordPiece *sp = make(true, -1, true, true, true);

	EXPECT(wp, "Hello hello", "cased", 28, 27);
	EXPECT(wp, "caf\xc3\xa9", "accents kept", 14);
	EXPECT(wp, "cafe\xcc\x81", "decomposed accent kept: no match", 1);
	/* lowercase without stripping: U+0130 becomes i U+0307 (full mapping) */
	EXPECT(lo, "\xc4\xb0", "full lowercase", 26);
	EXPECT(lo, "CAF\xc3\x89", "lowercase keeps the accent", 14);
	/* no clean_text: the control character stays inside the word */
	EXPECT(raw, "a\x01" "b", "control kept", 1);
	EXPECT(raw, "a\tb", "whitespace still splits", 18, 20);
	/* no handle_chinese_chars: 中国 is one word, 中 + ##国 is not in the vocabulary */
	EXPECT(raw, "\xe4\xb8\xad\xe5\x9b\xbd", "chinese not split", 1);
	/* NUL with clean_text off: kept (not whitespace, not punctuation) */
	{
		TokWordPieceIds ids = {0};
		PgiError	err;

		CHECK(tok_wordpiece_encode(raw, "a\0\xc3\xa1", 4, &ids, &err) == PGI_OK && ids.len == 1 &&
			  ids.ids[0] == 1, "NUL inside a word");
		free(ids.ids);
	}
	/* special tokens are matched in the raw text, before normalisation */
	EXPECT(sp, "[CLS]Hello[SEP]", "specials", 2, 27, 3);
	EXPECT(sp, "[cls] [SEP][SEP", "lowercase is not special", 1, 1, 1, 3, 1, 1);
	EXPECT(sp, "a[MASK]b", "special inside a word", 18, 4, 20);
	tok_wordpiece_free(wp);
	tok_wordpiece_free(lo);
	tok_wordpiece_free(raw);
	tok_wordpiece_free(sp);
}

/* Decoding */
static void
test_decode(void)
{
	TokWordPiece *wp = make(true, -1, true, true, true);
	static const int32_t a[] = {27, 11, 6, 10};
	static const int32_t b[] = {7, 8, 9};
	static const int32_t c[] = {2, 27, 3, 0};
	static const int32_t d[] = {5, 6};
	static const int32_t e[] = {24, 22, 23};
	static const int32_t f[] = {15, 13};
	static const int32_t bad[] = {6, 32};
	char	   *out;
	size_t		len;
	PgiError	err;

	expect_decode(wp, a, 4, false, "hello, world!", "cleanup before , and !");
	expect_decode(wp, b, 3, false, "unaffable", "continuations glued");
	expect_decode(wp, c, 4, false, "[CLS] hello [SEP] [PAD]", "specials kept");
	expect_decode(wp, c, 4, true, "hello", "specials skipped");
	expect_decode(wp, d, 2, false, "world", "shadowed id skipped");
	/* cleanup works per piece: " '" has no " ' " in it */
	expect_decode(wp, e, 3, false, "don ' t", "apostrophe per piece");
	expect_decode(wp, f, 2, false, "##s cafe", "first piece keeps its prefix");
	expect_decode(wp, NULL, 0, false, "", "nothing");
	CHECK(tok_wordpiece_decode(wp, bad, 2, false, &out, &len, &err) == PGI_ERR_PARAM && out == NULL,
		  "id out of range");

	CHECK(tok_wordpiece_token_to_id(wp, "hello", 5) == 27, "duplicate: last id wins");
	CHECK(tok_wordpiece_id_to_token(wp, 5, &len) == NULL, "shadowed id has no token");
	CHECK(tok_wordpiece_id_to_token(wp, 6, &len) != NULL && len == 5, "world");
	CHECK(tok_wordpiece_id_to_token(wp, -1, &len) == NULL &&
		  tok_wordpiece_id_to_token(wp, N_VOCAB, &len) == NULL, "out of range");
	CHECK(tok_wordpiece_token_to_id(wp, "##aff", 5) == 8 && tok_wordpiece_token_to_id(wp, "aff", 3) == -1,
		  "token_to_id");
	CHECK(tok_wordpiece_vocab_size(wp) == N_VOCAB && tok_wordpiece_unk_id(wp) == 1, "sizes");
	CHECK(tok_wordpiece_is_special(wp, 3) && !tok_wordpiece_is_special(wp, 6), "is_special");
	tok_wordpiece_free(wp);
}

/* The normalizer alone */
static void
test_normalize(void)
{
	TokWordPiece *wp = make(true, -1, true, true, false);
	char	   *out;
	size_t		len;
	PgiError	err;

	CHECK(tok_wordpiece_normalize(wp, "\xc3\x89t\xc3\xa9\t\xe4\xb8\xad!", 10, &out, &len, &err) == PGI_OK &&
		  strcmp(out, "ete  \xe4\xb8\xad !") == 0, "normalize: \"%s\"", out);
	free(out);

	/*
	 * U+1AC1 and U+1DFA (Unicode 14 marks) are unknown to the reference's
	 * Unicode 8.0 Mn table and 9.0 NFD data: they stay, in their order, and
	 * only U+0323 goes (real NFD would put U+1DFA, class 218, first)
	 */
	CHECK(tok_wordpiece_normalize(wp, "a\xe1\xab\x81\xcc\xa3\xe1\xb7\xba", 9, &out, &len, &err) == PGI_OK &&
		  strcmp(out, "a\xe1\xab\x81\xe1\xb7\xba") == 0, "new marks keep their order");
	free(out);
	/* U+11938 has a decomposition since Unicode 13 only: the reference keeps it */
	CHECK(tok_wordpiece_normalize(wp, "\xf0\x91\xa4\xb8", 4, &out, &len, &err) == PGI_OK &&
		  strcmp(out, "\xf0\x91\xa4\xb8") == 0, "U+11938 not decomposed");
	free(out);
	/* U+00C5 (Å) decomposes: A + U+030A, the ring goes */
	CHECK(tok_wordpiece_normalize(wp, "\xc3\x85ngstr\xc3\xb6m", 10, &out, &len, &err) == PGI_OK &&
		  strcmp(out, "angstrom") == 0, "Angstrom: \"%s\"", out);
	free(out);
	tok_wordpiece_free(wp);
}

/* Construction errors */
static void
test_errors(void)
{
	static const char *const v[] = {"[UNK]", "a", "\xff"};
	size_t		lens[] = {5, 1, 1};
	TokWordPieceConfig cfg;
	TokWordPiece *wp;
	PgiError	err;
	static const char *const nope[] = {"[NOPE]"};

	tok_wordpiece_config_default(&cfg);
	cfg.nfd = pg_unicode_nfd;
	CHECK(tok_wordpiece_new(v, lens, 0, &cfg, &wp, &err) == PGI_ERR_DATA && wp == NULL &&
		  strstr(err.msg, "empty") != NULL, "empty vocabulary");
	CHECK(tok_wordpiece_new(v + 1, lens + 1, 1, &cfg, &wp, &err) == PGI_ERR_DATA && wp == NULL &&
		  strstr(err.msg, "[UNK]") != NULL, "unknown token missing: %s", err.msg);
	CHECK(tok_wordpiece_new(v, lens, 3, &cfg, &wp, &err) == PGI_ERR_DATA && wp == NULL &&
		  strstr(err.msg, "token 2") != NULL, "invalid UTF-8 token: %s", err.msg);
	cfg.nfd = NULL;
	CHECK(tok_wordpiece_new(v, lens, 2, &cfg, &wp, &err) == PGI_ERR_PARAM && wp == NULL,
		  "no NFD to strip accents");
	cfg.strip_accents = 0;
	CHECK(tok_wordpiece_new(v, lens, 2, &cfg, &wp, &err) == PGI_OK && wp != NULL,
		  "no NFD needed without stripping");
	tok_wordpiece_free(wp);
	cfg.special_tokens = nope;
	cfg.n_special_tokens = 1;
	CHECK(tok_wordpiece_new(v, lens, 2, &cfg, &wp, &err) == PGI_ERR_DATA && wp == NULL,
		  "special token missing");
	cfg.n_special_tokens = 0;
	cfg.max_input_chars_per_word = -1;
	CHECK(tok_wordpiece_new(v, lens, 2, &cfg, &wp, &err) == PGI_ERR_PARAM && wp == NULL,
		  "negative max chars");
	cfg.max_input_chars_per_word = 0;
	CHECK(tok_wordpiece_new(v, lens, 2, &cfg, &wp, &err) == PGI_OK, "max chars 0");
	EXPECT(wp, "a a", "max chars 0: every word unknown", 0, 0);
	tok_wordpiece_free(wp);
}

/* llama.cpp's GGUF spelling back to Hugging Face's */
static void
test_gguf(void)
{
	static const char *const g[] = {
		"[PAD]", "\xe2\x96\x81hello", "llo", "[unused1]", "\xe2\x96\x81[PAD5]", "\xe2\x96\x81",
		"\xe2\x96\x81\xe2\x96\x81x", "\xe2\x96\x81!", "!",
	};
	static const char *const want[] = {
		"[PAD]", "hello", "##llo", "[unused1]", "[PAD5]", "", "\xe2\x96\x81x", "!", "##!",
	};
	static const int32_t types[] = {3, 1, 1, 1, 5, 1, 1, 1, 1};
	size_t		lens[9];
	TokWordPieceVocab v;
	PgiError	err;
	bool		ok = true;

	for (int i = 0; i < 9; i++)
		lens[i] = strlen(g[i]);
	CHECK(tok_wordpiece_vocab_from_gguf(g, lens, types, 9, &v, &err) == PGI_OK && v.n_tokens == 9,
		  "convert");
	for (int i = 0; i < 9; i++)
		ok &= v.lens[i] == strlen(want[i]) && strcmp(v.tokens[i], want[i]) == 0;
	CHECK(ok, "converted tokens");
	tok_wordpiece_vocab_free(&v);
	/* without token types, control tokens are recognised by their brackets */
	CHECK(tok_wordpiece_vocab_from_gguf(g, lens, NULL, 9, &v, &err) == PGI_OK &&
		  strcmp(v.tokens[0], "[PAD]") == 0 && strcmp(v.tokens[2], "##llo") == 0, "no types");
	tok_wordpiece_vocab_free(&v);
	CHECK(tok_wordpiece_vocab_from_gguf(g, lens, NULL, 0, &v, &err) == PGI_ERR_DATA, "empty");
}

/* A large input stays linear: 4 MB of 200-char words, then of short words */
static void
test_large(void)
{
	TokWordPiece *wp = make(true, -1, true, true, false);
	size_t		n = 201 * 20000;
	char	   *text = malloc(4 << 20);
	TokWordPieceIds ids = {0};
	PgiError	err;

	for (size_t i = 0; i < n; i++)
		text[i] = (i % 201 == 200) ? ' ' : 'a';
	CHECK(tok_wordpiece_encode(wp, text, n, &ids, &err) == PGI_OK && ids.len == n / 201,
		  "long words: %zu ids", ids.len);
	n = 4 << 20;
	for (size_t i = 0; i < n; i++)
		text[i] = "ab, "[i % 4];
	ids.len = 0;
	CHECK(tok_wordpiece_encode(wp, text, n, &ids, &err) == PGI_OK && ids.len == n / 4 * 3 &&
		  ids.ids[0] == 18 && ids.ids[1] == 21 && ids.ids[2] == 11, "short words: %zu ids", ids.len);
	free(ids.ids);
	free(text);
	tok_wordpiece_free(wp);
}

/* Encode with offsets; compare ids and (start, end) code point spans */
static void
expect_spans(const TokWordPiece *wp, const char *text, const int32_t *want, size_t n,
			 const char *what)
{
	TokWordPieceIds ids = {0};
	PgiError	err;
	bool		same;
	TokWordPieceIds plain = {0};

	ids.want_offsets = true;
	if (tok_wordpiece_encode(wp, text, strlen(text), &ids, &err) != PGI_OK ||
		tok_wordpiece_encode(wp, text, strlen(text), &plain, &err) != PGI_OK)
	{
		CHECK(false, "%s: encode failed: %s", what, err.msg);
		free(ids.ids);
		free(ids.offs);
		free(ids.words);
		free(plain.ids);
		return;
	}
	same = ids.len == n && plain.len == n;
	for (size_t i = 0; same && i < n; i++)
		same = ids.ids[i] == want[3 * i] && plain.ids[i] == want[3 * i] &&
			ids.offs[2 * i] == (uint32_t) want[3 * i + 1] &&
			ids.offs[2 * i + 1] == (uint32_t) want[3 * i + 2];
	if (!same)
	{
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < ids.len; i++)
			fprintf(stderr, " %d(%u,%u)", ids.ids[i], ids.offs[2 * i], ids.offs[2 * i + 1]);
		fprintf(stderr, "\n");
	}
	CHECK(same, "%s", what);
	free(ids.ids);
	free(ids.offs);
	free(ids.words);
	free(plain.ids);
}

#define SPANS(wp, text, what, ...) \
	do { \
		static const int32_t want_[] = {__VA_ARGS__}; \
		expect_spans((wp), (text), want_, sizeof(want_) / sizeof(want_[0]) / 3, (what)); \
	} while (0)

/*
 * Offsets (id, start, end) in code points of the input: pieces of a word,
 * accents stripped and case folded (the span of the original character),
 * an unknown word, punctuation, CJK, specials, dropped control characters
 */
static void
test_offsets(void)
{
	TokWordPiece *wp = make(1, -1, true, true, true);

	SPANS(wp, "Hello unaffable!", "pieces and punctuation",
		  27, 0, 5, 7, 6, 8, 8, 8, 11, 9, 11, 15, 10, 15, 16);
	SPANS(wp, "  CAF\xc3\x89S \xe4\xb8\xad\xe5\x9b\xbd", "accents, CJK: code points, not bytes",
		  13, 2, 6, 15, 6, 7, 16, 8, 9, 17, 9, 10);
	SPANS(wp, "[CLS] zzz\x01 world [SEP]", "specials, an unknown word, a dropped control",
		  2, 0, 5, 1, 6, 9, 6, 11, 16, 3, 17, 22);
	SPANS(wp, "\xc3\xa9" "a", "a precomposed accent stripped: its own span",
		  1, 0, 2);
	tok_wordpiece_free(wp);
}

int
main(void)
{
	test_offsets();
	test_unicode();
	test_utf8();
	test_uncased();
	test_options();
	test_decode();
	test_normalize();
	test_errors();
	test_gguf();
	test_large();
	return UNIT_DONE("tok_wordpiece");
}
