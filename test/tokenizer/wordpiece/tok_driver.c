/*
 * tok_driver.c
 *	  Parity driver for the WordPiece tokenizer: tokenizes strings with
 *	  src/core/tokenizers/tok_wordpiece.c and prints, for each, the ids, the
 *	  normalized text and both decodings, for parity.js to compare with
 *	  Hugging Face tokenizers.
 *
 * Usage: tok_driver CONFIG.json STRINGS.json
 *
 * CONFIG.json: {"vocab": [token, ...], "gguf": bool, "types": [int, ...] | null,
 *	 "lowercase": bool, "strip_accents": -1|0|1, "clean_text": bool,
 *	 "handle_chinese_chars": bool, "max_input_chars_per_word": int,
 *	 "unk_token": str, "continuing_prefix": str, "special_tokens": [str, ...]}
 * With "gguf", the vocabulary is in llama.cpp's spelling and goes through
 * tok_wordpiece_vocab_from_gguf() first.
 *
 * STRINGS.json: an array of strings.  Output: one JSON object per string
 * and line, {"ids": [...], "norm": str, "dec": str, "dec_skip": str}, or
 * {"error": str}.
 *
 * test/tokenizer/wordpiece/tok_driver.c
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/tokenizers/tok_wordpiece.h"
#include "pgcommon/pg_unicode_norm.h"

/* Print s[0..n) as a JSON string literal */
static void
print_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7F)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Exit with a message */
static void
die(const char *what, const PgiError *err)
{
	fprintf(stderr, "tok_driver: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
	exit(2);
}

/* A boolean member, or def */
static bool
get_bool(const JsonValue *o, const char *key, bool def)
{
	const JsonValue *v = json_get(o, key);
	bool		b;

	return (v && json_bool(v, &b)) ? b : def;
}

/* An integer member, or def */
static int64_t
get_int(const JsonValue *o, const char *key, int64_t def)
{
	const JsonValue *v = json_get(o, key);
	int64_t		i;

	return (v && json_int(v, &i)) ? i : def;
}

/* Read a whole file; NULL if it cannot be read */
static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf = NULL;
	size_t		cap = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		got;

		if (*len == cap)
		{
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			if (buf == NULL)
				break;
		}
		got = fread(buf + *len, 1, cap - *len, f);
		*len += got;
		if (got == 0)
			break;
	}
	fclose(f);
	return buf;
}

/* Read and parse a JSON file */
static JsonDoc *
load_json(const char *path, uint8_t **buf)
{
	size_t		len;
	JsonDoc    *doc;
	PgiError	err;

	*buf = read_all(path, &len);
	if (*buf == NULL)
		die(path, NULL);
	if (json_parse((const char *) *buf, len, &doc, &err) != PGI_OK)
		die(path, &err);
	return doc;
}

/* Build the tokenizer the configuration describes */
static TokWordPiece *
build(const JsonValue *cfgv)
{
	const JsonValue *vocab = json_get(cfgv, "vocab");
	const JsonValue *types = json_get(cfgv, "types");
	const JsonValue *specials = json_get(cfgv, "special_tokens");
	size_t		n = vocab ? json_size(vocab) : 0;
	const char **toks = calloc(n + 1, sizeof(char *));
	size_t	   *lens = calloc(n + 1, sizeof(size_t));
	int32_t    *tt = calloc(n + 1, sizeof(int32_t));
	const char *sp[64];
	TokWordPieceConfig cfg;
	TokWordPieceVocab conv = {0};
	TokWordPiece *wp;
	PgiError	err;

	for (size_t i = 0; i < n; i++)
	{
		int64_t		t = 1;

		toks[i] = json_str(json_at(vocab, i), &lens[i]);
		if (types && json_type(types) == JSON_ARRAY)
			json_int(json_at(types, i), &t);
		tt[i] = (int32_t) t;
	}
	tok_wordpiece_config_default(&cfg);
	cfg.lowercase = get_bool(cfgv, "lowercase", true);
	cfg.strip_accents = (int) get_int(cfgv, "strip_accents", -1);
	cfg.clean_text = get_bool(cfgv, "clean_text", true);
	cfg.handle_chinese_chars = get_bool(cfgv, "handle_chinese_chars", true);
	cfg.max_input_chars_per_word = (int32_t) get_int(cfgv, "max_input_chars_per_word", 100);
	if (json_get(cfgv, "unk_token"))
		cfg.unk_token = json_str(json_get(cfgv, "unk_token"), NULL);
	if (json_get(cfgv, "continuing_prefix"))
		cfg.continuing_prefix = json_str(json_get(cfgv, "continuing_prefix"), NULL);
	for (size_t i = 0; specials && i < json_size(specials) && i < 64; i++)
		sp[cfg.n_special_tokens++] = json_str(json_at(specials, i), NULL);
	cfg.special_tokens = sp;
	cfg.nfd = pg_unicode_nfd;
	if (get_bool(cfgv, "gguf", false))
	{
		if (tok_wordpiece_vocab_from_gguf(toks, lens, types ? tt : NULL, (int32_t) n,
										  &conv, &err) != PGI_OK)
			die("vocab_from_gguf", &err);
		if (tok_wordpiece_new((const char *const *) conv.tokens, conv.lens, conv.n_tokens,
							  &cfg, &wp, &err) != PGI_OK)
			die("tok_wordpiece_new", &err);
		tok_wordpiece_vocab_free(&conv);
	}
	else if (tok_wordpiece_new(toks, lens, (int32_t) n, &cfg, &wp, &err) != PGI_OK)
		die("tok_wordpiece_new", &err);
	free(toks);
	free(lens);
	free(tt);
	return wp;
}

/* Tokenize one string and print its line */
static void
run_one(const TokWordPiece *wp, const char *s, size_t n)
{
	TokWordPieceIds ids = {0};
	PgiError	err;
	char	   *norm = NULL,
			   *dec = NULL,
			   *dec_skip = NULL;
	size_t		norm_len,
				dec_len,
				skip_len;

	if (tok_wordpiece_encode(wp, s, n, &ids, &err) != PGI_OK ||
		tok_wordpiece_normalize(wp, s, n, &norm, &norm_len, &err) != PGI_OK ||
		tok_wordpiece_decode(wp, ids.ids, ids.len, false, &dec, &dec_len, &err) != PGI_OK ||
		tok_wordpiece_decode(wp, ids.ids, ids.len, true, &dec_skip, &skip_len, &err) != PGI_OK)
	{
		printf("{\"error\": ");
		print_str(err.msg, strlen(err.msg));
		printf("}\n");
	}
	else
	{
		printf("{\"ids\": [");
		for (size_t i = 0; i < ids.len; i++)
			printf(i ? ",%d" : "%d", ids.ids[i]);
		printf("], \"norm\": ");
		print_str(norm, norm_len);
		printf(", \"dec\": ");
		print_str(dec, dec_len);
		printf(", \"dec_skip\": ");
		print_str(dec_skip, skip_len);
		printf("}\n");
	}
	free(ids.ids);
	free(norm);
	free(dec);
	free(dec_skip);
}

int
main(int argc, char **argv)
{
	uint8_t    *cbuf,
			   *sbuf;
	JsonDoc    *cdoc,
			   *sdoc;
	const JsonValue *strs;
	TokWordPiece *wp;

	if (argc != 3)
	{
		fprintf(stderr, "usage: tok_driver CONFIG.json STRINGS.json\n");
		return 2;
	}
	cdoc = load_json(argv[1], &cbuf);
	sdoc = load_json(argv[2], &sbuf);
	wp = build(json_root(cdoc));
	strs = json_root(sdoc);
	for (size_t i = 0; i < json_size(strs); i++)
	{
		size_t		n;
		const char *s = json_str(json_at(strs, i), &n);

		run_one(wp, s ? s : "", s ? n : 0);
	}
	tok_wordpiece_free(wp);
	json_free(cdoc);
	json_free(sdoc);
	free(cbuf);
	free(sbuf);
	return 0;
}
