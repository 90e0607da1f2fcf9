/*
 * fuzz_bpe.c
 *	  libFuzzer target for the byte-level BPE tokenizer (src/core/tokenizers/tok_bpe*.c).
 *
 * The first byte picks the mode and the options; the rest is the input.
 *
 * Text mode (first byte % 4 == 0 or 1): the input is text for a tokenizer
 * over a small fixed vocabulary (GPT-2's 256 byte characters, a few dozen
 * merges, added tokens with every option); the mode byte chooses the
 * pre-tokenizer (GPT-2, Llama 3, Qwen2, SmolLM), ignore_merges,
 * add_prefix_space and whether added tokens strip spaces.  Invariants:
 *	- valid UTF-8 never fails; invalid UTF-8 fails with PGI_ERR_DATA and
 *	  the id array as it was;
 *	- every id is below n_ids, and the ids already in the array stay;
 *	- decode(encode(x)) == x when no prefix space is added and no added
 *	  token strips spaces or has non-ASCII content (the alphabet is
 *	  complete, so nothing is dropped);
 *	- any id sequence (taken from the input) decodes to valid UTF-8.
 * tokenizer.json mode (2): the input is a tokenizer.json; when it builds,
 * a fixed text and the input itself are encoded and decoded with the same
 * invariants (round trip not required: the vocabulary may lack bytes).
 * GGUF mode (3): the input is a GGUF file, read by tok_bpe_from_gguf.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_bpe.h"
#include "core/tokenizers/tok_unicode.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Merges over the byte alphabet, in rank order ("Ġ" is U+0120); no two
 * give the same token (a duplicate would shift the added tokens' ids onto
 * a vocabulary id, as Hugging Face does, and break the round trip) */
static const char *const merges[][2] = {
	{"\xc4\xa0", "t"}, {"h", "e"}, {"\xc4\xa0t", "he"}, {"l", "l"}, {"e", "ll"},
	{"h", "ell"}, {"hell", "o"}, {"l", "o"}, {"i", "n"}, {"in", "g"}, {"\xc4\xa0", "a"},
	{"\xc4\xa0" "a", "n"}, {"\xc4\xa0" "an", "d"}, {"'", "s"}, {"1", "2"}, {"12", "3"},
	{"\xc3\x83", "\xc2\xa9"},	/* é's bytes C3 A9 as byte-level characters: Ã © */
	{"\xc4\xa0", "\xc4\xa0"}, {"\xc4\x8a", "\xc4\x8a"}, {"e", "r"}, {"\xc4\xa0", "w"},
	{"\xc4\xa0w", "or"}, {"o", "r"}, {"\xc4\xa0wor", "ld"}, {"l", "d"}, {"t", "h"},
	{"th", "e"}, {"\xc4\xa0the", "re"}, {"r", "e"},
};
#define N_MERGES ((int) (sizeof(merges) / sizeof(merges[0])))

/* Added tokens that keep decode(encode(x)) == x ... */
static const TokBpeAdded added_plain[] = {
	{"<|endoftext|>", 13, true, false, false, false, false},
	{"<mask>", 6, true, false, false, false, false},
	{"[X]", 3, false, false, false, false, true},
	{"the", 3, false, true, false, false, false},
};

/* ... and those that do not: stripped spaces, a non-ASCII content */
static const TokBpeAdded added_strip[] = {
	{"<|endoftext|>", 13, true, false, false, false, false},
	{"<mask>", 6, true, false, true, true, false},
	{"[X]", 3, false, false, false, false, true},
	{"caf\xc3\xa9", 5, false, true, false, false, false},
	{"the", 3, false, true, false, true, false},
};

static TokBpe *tokenizers[32];

/* Fail loudly */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_bpe: %s\n", what);
	abort();
}

/* The tokenizer for mode bits m (0..31), built once */
static TokBpe *
tokenizer(int m)
{
	static char bytes[256][4];
	static char results[64][32];
	const char *tokens[256 + 64];
	size_t		lens[256 + 64];
	const char *ml[N_MERGES],
			   *mr[N_MERGES];
	size_t		mll[N_MERGES],
				mrl[N_MERGES];
	TokBpeSpec	s;
	PgiError	err;
	int			n = 0;
	static const char *const pres[] = {"gpt2", "llama-bpe", "qwen2", "smollm"};

	if (tokenizers[m])
		return tokenizers[m];
	for (int b = 0; b < 256; b++)
	{
		lens[n] = (size_t) tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), bytes[b]);
		tokens[n++] = bytes[b];
	}
	for (int r = 0; r < N_MERGES; r++)
	{
		snprintf(results[r], sizeof(results[r]), "%s%s", merges[r][0], merges[r][1]);
		tokens[n] = results[r];
		lens[n++] = strlen(results[r]);
		ml[r] = merges[r][0];
		mr[r] = merges[r][1];
		mll[r] = strlen(ml[r]);
		mrl[r] = strlen(mr[r]);
	}
	tok_bpe_spec_init(&s);
	if (tok_bpe_pre_from_name(pres[m & 3], strlen(pres[m & 3]), &s, &err) != PGI_OK)
		fail("pre_from_name");
	s.ignore_merges = (m >> 2) & 1;
	s.add_prefix_space = (m >> 3) & 1;
	s.tokens = tokens;
	s.lens = lens;
	s.n_tokens = n;
	s.merge_left = ml;
	s.merge_left_lens = mll;
	s.merge_right = mr;
	s.merge_right_lens = mrl;
	s.n_merges = N_MERGES;
	if ((m >> 4) & 1)
	{
		s.added = added_strip;
		s.n_added = (int32_t) (sizeof(added_strip) / sizeof(added_strip[0]));
	}
	else
	{
		s.added = added_plain;
		s.n_added = (int32_t) (sizeof(added_plain) / sizeof(added_plain[0]));
	}
	if (tok_bpe_new(&s, NULL, &tokenizers[m], &err) != PGI_OK)
		fail(err.msg);
	return tokenizers[m];
}

/* Whether s[0..len) is valid UTF-8 */
static bool
valid_utf8(const char *s, size_t len)
{
	return tok_utf8_validate(s, len, NULL) == PGI_OK;
}

/* Encode and decode text with bpe; check the invariants */
static void
check_text(const TokBpe *bpe, const char *text, size_t len, bool round_trip)
{
	TokBpeIds	ids = {0};
	PgiError	err;
	PgiStatus	st;
	int32_t		n_ids = tok_bpe_info(bpe)->n_ids;
	bool		valid = valid_utf8(text, len);
	char	   *dec;
	size_t		dec_len;

	/* a sentinel id that must survive */
	ids.ids = malloc(sizeof(int32_t));
	ids.cap = 1;
	ids.len = 1;
	ids.ids[0] = 12345;
	st = tok_bpe_encode(bpe, text, len, &ids, &err);
	if (ids.len < 1 || ids.ids[0] != 12345)
		fail("encode lost earlier ids");
	if (!valid)
	{
		if (st != PGI_ERR_DATA || ids.len != 1 || err.msg[0] == '\0')
			fail("invalid UTF-8 not rejected cleanly");
		free(ids.ids);
		return;
	}
	if (st != PGI_OK)
		fail(err.msg);
	for (size_t i = 1; i < ids.len; i++)
		if (ids.ids[i] < 0 || ids.ids[i] >= n_ids)
			fail("id out of range");
	if (tok_bpe_decode(bpe, ids.ids + 1, ids.len - 1, false, &dec, &dec_len, &err) != PGI_OK)
		fail(err.msg);
	if (!valid_utf8(dec, dec_len) || dec[dec_len] != '\0')
		fail("decoding is not valid UTF-8");
	if (round_trip && (dec_len != len || memcmp(dec, text, len) != 0))
		fail("decode(encode(x)) != x");
	free(dec);
	if (tok_bpe_decode(bpe, ids.ids + 1, ids.len - 1, true, &dec, &dec_len, &err) != PGI_OK ||
		!valid_utf8(dec, dec_len))
		fail("decoding without specials");
	free(dec);
	free(ids.ids);
}

/* Decode ids made of the input bytes: always valid UTF-8 */
static void
check_ids(const TokBpe *bpe, const uint8_t *data, size_t size)
{
	int32_t		n_ids = tok_bpe_info(bpe)->n_ids;
	size_t		n = size / 2;
	int32_t    *ids = malloc((n + 1) * sizeof(int32_t));
	char	   *dec;
	size_t		dec_len;
	PgiError	err;

	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t) ((data[2 * i] | data[2 * i + 1] << 8) % (n_ids ? n_ids : 1));
	if (n_ids > 0)
	{
		if (tok_bpe_decode(bpe, ids, n, false, &dec, &dec_len, &err) != PGI_OK)
			fail(err.msg);
		if (!valid_utf8(dec, dec_len))
			fail("decoding ids is not valid UTF-8");
		free(dec);
	}
	ids[0] = n_ids;
	if (n > 0 && tok_bpe_decode(bpe, ids, n, false, &dec, &dec_len, &err) != PGI_ERR_PARAM)
		fail("id out of range accepted");
	free(ids);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		m;
	const char *text;
	PgiError	err;
	TokBpe	   *bpe;

	if (size < 1)
		return 0;
	m = data[0];
	text = (const char *) data + 1;
	size--;
	switch (m & 3)
	{
		case 0:
		case 1:
			/* (bit 0 is free here: both values are text mode) */
			{
				int			k = (m >> 2) & 31;

				/* round trip unless a prefix space is added or tokens strip */
				bpe = tokenizer(k);
				check_text(bpe, text, size, !((k >> 3) & 1) && !((k >> 4) & 1));
				check_ids(bpe, data + 1, size);
				break;
			}
		case 2:
			if (tok_bpe_from_json_text(text, size, NULL, &bpe, &err) == PGI_OK)
			{
				check_text(bpe, "Hello world, it's 2024!\n  caf\xc3\xa9 \xe4\xb8\xad", 30, false);
				if (valid_utf8(text, size))
					check_text(bpe, text, size, false);
				check_ids(bpe, data + 1, size);
				tok_bpe_free(bpe);
			}
			else if (err.msg[0] == '\0')
				fail("error without a message");
			break;
		case 3:
			{
				GgufFile   *f;
				uint8_t    *copy = malloc(size ? size : 1);

				/* gguf_open wants its own buffer to outlive the file */
				memcpy(copy, text, size);
				if (gguf_open(copy, size, &f, &err) == PGI_OK)
				{
					if (tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_OK)
					{
						check_text(bpe, "Hello world, it's 2024!", 23, false);
						tok_bpe_free(bpe);
					}
					gguf_free(f);
				}
				free(copy);
				break;
			}
	}
	return 0;
}
