/*
 * fuzz_wordpiece.c
 *	  libFuzzer target for the WordPiece tokenizer (src/core/tokenizers/tok_wordpiece.c)
 *	  and the UTF-8 / Unicode helpers it uses (src/core/tokenizers/tok_unicode.c).
 *
 * The first byte picks the mode and the options; the rest is the input.
 *
 * Text mode (first byte even): the input is text for a tokenizer over a
 * small fixed vocabulary.  Invariants:
 *	- valid UTF-8 never fails; invalid UTF-8 fails with PGI_ERR_DATA, a
 *	  message, and the id array as it was;
 *	- every id is in the vocabulary, there are at most 4 per input byte,
 *	  and the ids already in the array stay;
 *	- the normalized text and the decodings are valid UTF-8, and decoding
 *	  with special tokens skipped is never longer;
 *	- a text made only of special tokens gives exactly their ids.
 *
 * Vocabulary mode (first byte odd): the input, split at '\n', is a
 * vocabulary in llama.cpp's GGUF spelling; it is converted back and, when
 * it has "[UNK]", a tokenizer is built and run over a fixed text with the
 * same invariants; otherwise construction must fail cleanly.
 *
 * NFD comes from PostgreSQL's unicode_normalize() (libpgcommon).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_wordpiece.h"
#include "pgcommon/pg_unicode_norm.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vocab[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a", "b", "##b", "ab",
	"!", ",", ".", "'", "\xe4\xb8\xad", "caf\xc3\xa9", "cafe", "##s", "the", "##\xcc\x81",
	"i\xcc\x87", "\xc3\xa9", "##\xc3\xa9", "x", "##x", "\xe2\x96\x81", "hello", "a",
};
#define N_VOCAB ((int32_t) (sizeof(vocab) / sizeof(vocab[0])))

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* Fail loudly */
static _Noreturn void
fail(const char *what)
{
	fprintf(stderr, "fuzz_wordpiece: %s\n", what);
	abort();
}

/* Options from the mode byte */
static void
options(uint8_t m, TokWordPieceConfig *cfg)
{
	tok_wordpiece_config_default(cfg);
	cfg->lowercase = (m >> 1) & 1;
	cfg->strip_accents = (int) ((m >> 2) % 3) - 1;
	cfg->clean_text = (m >> 4) & 1;
	cfg->handle_chinese_chars = (m >> 5) & 1;
	cfg->max_input_chars_per_word = (m >> 6) == 0 ? 3 : 100;
	cfg->special_tokens = specials;
	cfg->n_special_tokens = (m >> 7) ? 5 : 0;
	cfg->nfd = pg_unicode_nfd;
}


/*
 * Offsets: the same ids as without them; every span inside the input's
 * code points, non-empty, starting no earlier than the previous id's;
 * word numbers non-decreasing from 0 by steps of at most one
 */
static void
check_offsets(const TokWordPiece *wp, const char *text, size_t len, const int32_t *want, size_t n)
{
	TokWordPieceIds o = {0};
	PgiError	err;
	uint32_t	n_cps = 0;

	for (size_t i = 0; i < len; i++)
		n_cps += ((uint8_t) text[i] & 0xC0) != 0x80;
	o.want_offsets = true;
	if (tok_wordpiece_encode(wp, text, len, &o, &err) != PGI_OK)
		fail(err.msg);
	if (o.len != n || (n && memcmp(o.ids, want, n * sizeof(int32_t)) != 0))
		fail("ids with offsets differ");
	for (size_t i = 0; i < n; i++)
	{
		if (o.offs[2 * i] >= o.offs[2 * i + 1] || o.offs[2 * i + 1] > n_cps)
			fail("span out of the input");
		if (i > 0 && o.offs[2 * i] < o.offs[2 * i - 2])
			fail("spans go backwards");
		if (o.words[i] > (i ? o.words[i - 1] + 1 : 0) || (i && o.words[i] < o.words[i - 1]))
			fail("word numbers");
	}
	free(o.ids);
	free(o.offs);
	free(o.words);
}

/* Check the invariants of one tokenizer over text */
static void
check_text(const TokWordPiece *wp, const char *text, size_t len)
{
	TokWordPieceIds ids = {0};
	PgiError	err;
	PgiStatus	st;
	bool		valid = tok_utf8_validate(text, len, &err) == PGI_OK;
	int32_t		n = tok_wordpiece_vocab_size(wp);
	char	   *norm = NULL,
			   *dec = NULL,
			   *skip = NULL;
	size_t		norm_len,
				dec_len,
				skip_len;

	/* one id already there must survive */
	ids.ids = malloc(sizeof(int32_t));
	ids.cap = 1;
	ids.len = 1;
	ids.ids[0] = 12345;
	st = tok_wordpiece_encode(wp, text, len, &ids, &err);
	if (!valid)
	{
		if (st != PGI_ERR_DATA || err.msg[0] == '\0' || ids.len != 1 || ids.ids[0] != 12345)
			fail("invalid UTF-8 not rejected cleanly");
		free(ids.ids);
		return;
	}
	if (st != PGI_OK)
		fail(err.msg);
	if (ids.ids[0] != 12345 || ids.len - 1 > 4 * len)
		fail("id array prefix or length");
	for (size_t i = 1; i < ids.len; i++)
		if (ids.ids[i] < 0 || ids.ids[i] >= n)
			fail("id out of range");
	if (tok_wordpiece_normalize(wp, text, len, &norm, &norm_len, &err) != PGI_OK ||
		tok_utf8_validate(norm, norm_len, &err) != PGI_OK || norm[norm_len] != '\0')
		fail("normalize");
	if (tok_wordpiece_decode(wp, ids.ids + 1, ids.len - 1, false, &dec, &dec_len, &err) != PGI_OK ||
		tok_utf8_validate(dec, dec_len, &err) != PGI_OK ||
		tok_wordpiece_decode(wp, ids.ids + 1, ids.len - 1, true, &skip, &skip_len, &err) != PGI_OK ||
		tok_utf8_validate(skip, skip_len, &err) != PGI_OK || skip_len > dec_len)
		fail("decode");
	check_offsets(wp, text, len, ids.ids + 1, ids.len - 1);
	free(norm);
	free(dec);
	free(skip);
	free(ids.ids);
}

/* Specials alone map to their ids */
static void
check_specials(const TokWordPiece *wp)
{
	static const char text[] = "[CLS][SEP][MASK][PAD][UNK]";
	static const int32_t want[] = {2, 3, 4, 0, 1};
	TokWordPieceIds ids = {0};
	PgiError	err;

	if (tok_wordpiece_encode(wp, text, sizeof(text) - 1, &ids, &err) != PGI_OK ||
		ids.len != 5 || memcmp(ids.ids, want, sizeof(want)) != 0)
		fail("special tokens");
	free(ids.ids);
}

/* Text mode */
static void
run_text(uint8_t m, const uint8_t *data, size_t size)
{
	size_t		lens[64];
	TokWordPieceConfig cfg;
	TokWordPiece *wp;
	PgiError	err;

	for (int32_t i = 0; i < N_VOCAB; i++)
		lens[i] = strlen(vocab[i]);
	options(m, &cfg);
	if (tok_wordpiece_new(vocab, lens, N_VOCAB, &cfg, &wp, &err) != PGI_OK)
		fail(err.msg);
	check_text(wp, (const char *) data, size);
	if (cfg.n_special_tokens)
		check_specials(wp);
	tok_wordpiece_free(wp);
}

/* Vocabulary mode */
static void
run_vocab(uint8_t m, const uint8_t *data, size_t size)
{
	static const char text[] = "Hello, caf\xc3\xa9 a\xcc\x81 ab [CLS] \xe4\xb8\xad x!";
	const char **toks = malloc(sizeof(char *) * (size + 1));
	size_t	   *lens = malloc(sizeof(size_t) * (size + 1));
	int32_t    *types = malloc(sizeof(int32_t) * (size + 1));
	int32_t		n = 0;
	size_t		start = 0;
	TokWordPieceVocab v;
	TokWordPieceConfig cfg;
	TokWordPiece *wp;
	PgiError	err;
	bool		has_unk = false;

	for (size_t i = 0; i <= size; i++)
	{
		if (i < size && data[i] != '\n')
			continue;
		toks[n] = (const char *) data + start;
		lens[n] = i - start;
		types[n] = (n % 7 == 0) ? TOK_GGUF_TOKEN_CONTROL : 1;
		n++;
		start = i + 1;
	}
	if (tok_wordpiece_vocab_from_gguf(toks, lens, (m & 2) ? types : NULL, n, &v, &err) != PGI_OK)
		fail(err.msg);
	for (int32_t i = 0; i < v.n_tokens; i++)
		has_unk |= v.lens[i] == 5 && memcmp(v.tokens[i], "[UNK]", 5) == 0;
	options(m, &cfg);
	cfg.n_special_tokens = 0;
	if (tok_wordpiece_new((const char *const *) v.tokens, v.lens, v.n_tokens, &cfg, &wp, &err) == PGI_OK)
	{
		if (!has_unk)
			fail("built without [UNK]");
		check_text(wp, text, sizeof(text) - 1);
		check_text(wp, (const char *) data, size);
		tok_wordpiece_free(wp);
	}
	else if (err.msg[0] == '\0' || wp != NULL)
		fail("construction failed without a message");
	tok_wordpiece_vocab_free(&v);
	free(toks);
	free(lens);
	free(types);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		run_vocab(data[0], data + 1, size - 1);
	else
		run_text(data[0], data + 1, size - 1);
	return 0;
}
