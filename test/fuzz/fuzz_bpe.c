/*
 * fuzz_bpe.c
 *	  libFuzzer target for the byte-level BPE tokenizer (src/core/tokenizers/tok_bpe*.c).
 *
 * The first byte picks the mode and the options; the rest is the input.
 *
 * Text mode (first byte % 4 == 0): the input is text for a tokenizer
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
 * CLIP text mode (1): the same over a CLIP-style tokenizer (normalizer
 * NFC (a toy one composing e + U+0301) + whitespace runs + lower case, in
 * one of two orders; Split with CLIP's pattern, Removed and inverted;
 * end_of_word_suffix "</w>"); the mode byte adds ignore_merges, holes in
 * the byte + "</w>" tokens with unk_token and byte_fallback, added tokens,
 * or Split Isolated with add_prefix_space.  Without those four the decoding
 * must be the normalized text's words, each followed by "</w>", where the
 * words are the matches of CLIP's pattern (tok_bpe_match) in the output of
 * tok_bpe_normalize: nothing lost, the suffix exactly at word ends.
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
static TokBpe *clip_tokenizers[32];

/* Merges of the CLIP-style tokenizer: plain ones and ones ending a word */
static const char *const clip_merges[][2] = {
	{"i", "n"}, {"in", "g</w>"}, {"t", "h"}, {"th", "e</w>"}, {"'", "s</w>"}, {"c", "a"},
	{"ca", "t</w>"}, {"a", "t</w>"}, {"p", "h"}, {"o", "t"}, {"ph", "ot"}, {"phot", "o</w>"},
	{"\xc3\x83", "\xc2\xa9</w>"}, {"e", "r</w>"}, {"h", "e</w>"}, {"h", "e"}, {"l", "l"}, {"ll", "o</w>"},
	{"he", "llo</w>"}, {"a", "n"}, {"an", "d</w>"}, {"o", "f</w>"},
};
#define N_CLIP_MERGES ((int) (sizeof(clip_merges) / sizeof(clip_merges[0])))

/* CLIP's special tokens: <|startoftext|> normalized, as in its files */
static const TokBpeAdded clip_added[] = {
	{"<|startoftext|>", 15, true, true, false, false, false},
	{"<|endoftext|>", 13, true, false, false, false, false},
	{"[X]", 3, false, true, false, false, true},
	{"<mask>", 6, true, false, true, true, false},
};

/* A toy NFC: composes e + U+0301 into U+00E9 and nothing else */
static int64_t
toy_nfc(void *arg, const uint32_t *in, size_t n, uint32_t *out, size_t cap)
{
	size_t		m = 0;

	(void) arg;
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	c = in[i];

		if (c == 'e' && i + 1 < n && in[i + 1] == 0x301)
		{
			c = 0xE9;
			i++;
		}
		if (m < cap)
			out[m] = c;
		m++;
	}
	return (int64_t) m;
}

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

/*
 * The CLIP-style tokenizer for mode bits k (0..31), built once: bit 0
 * ignore_merges; bit 1 no byte + "</w>" tokens for bytes >= 0x80, with
 * unk_token and byte_fallback over a few <0xNN>; bit 2 added tokens; bit
 * 3 Split Isolated and add_prefix_space; bit 4 the normalizer steps in
 * another order
 */
static TokBpe *
clip_tokenizer(int k)
{
	static char bytes[512][12];
	static char results[64][32];
	static const char *const extras[] = {"<|startoftext|>", "<|endoftext|>", "<0x3C>", "<0x2F>",
	"<0x77>", "<0x3E>", "<0xC2>", "<0xC3>", "<0xA9>"};
	const char *tokens[512 + 64 + 16];
	size_t		lens[512 + 64 + 16];
	int32_t		ids[512 + 64 + 16];
	const char *ml[N_CLIP_MERGES],
			   *mr[N_CLIP_MERGES];
	size_t		mll[N_CLIP_MERGES],
				mrl[N_CLIP_MERGES];
	TokBpeOptions opts = {toy_nfc, NULL};
	TokBpeSpec	s;
	PgiError	err;
	int			n = 0,
				n_merges = 0;

	if (clip_tokenizers[k])
		return clip_tokenizers[k];
	for (int b = 0; b < 512; b++)
	{
		size_t		len = (size_t) tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), bytes[b]);

		if (b >= 256)
		{
			if (((k >> 1) & 1) && b - 256 >= 0x80)
				continue;
			memcpy(bytes[b] + len, "</w>", 4);
			len += 4;
		}
		tokens[n] = bytes[b];
		lens[n] = len;
		ids[n++] = b;
	}
	for (int r = 0; r < N_CLIP_MERGES; r++)
	{
		/* with holes, a merge of a missing byte + "</w>" token goes too */
		if (((k >> 1) & 1) && (uint8_t) clip_merges[r][1][0] >= 0x80)
			continue;
		snprintf(results[r], sizeof(results[r]), "%s%s", clip_merges[r][0], clip_merges[r][1]);
		tokens[n] = results[r];
		lens[n] = strlen(results[r]);
		ids[n++] = 512 + r;
		ml[n_merges] = clip_merges[r][0];
		mr[n_merges] = clip_merges[r][1];
		mll[n_merges] = strlen(ml[n_merges]);
		mrl[n_merges] = strlen(mr[n_merges]);
		n_merges++;
	}
	for (int i = 0; i < (((k >> 1) & 1) ? 9 : 2); i++)
	{
		tokens[n] = extras[i];
		lens[n] = strlen(extras[i]);
		ids[n++] = 512 + N_CLIP_MERGES + i;
	}
	tok_bpe_spec_init(&s);
	s.tokens = tokens;
	s.lens = lens;
	s.ids = ids;
	s.n_tokens = n;
	s.merge_left = ml;
	s.merge_left_lens = mll;
	s.merge_right = mr;
	s.merge_right_lens = mrl;
	s.n_merges = n_merges;
	s.unk_token = "<|endoftext|>";
	s.unk_len = 13;
	s.end_of_word_suffix = "</w>";
	s.suffix_len = 4;
	s.ignore_merges = k & 1;
	s.byte_fallback = (k >> 1) & 1;
	s.n_norms = 3;
	s.norms[0] = ((k >> 4) & 1) ? TOK_BPE_NORM_LOWERCASE : TOK_BPE_NORM_NFC;
	s.norms[1] = TOK_BPE_NORM_SPACES;
	s.norms[2] = ((k >> 4) & 1) ? TOK_BPE_NORM_NFC : TOK_BPE_NORM_LOWERCASE;
	s.steps[0] = (TokBpeStep) {((k >> 3) & 1) ? TOK_BPE_STEP_SPLIT : TOK_BPE_STEP_KEEP, TOK_BPE_PAT_CLIP, false};
	s.n_steps = 1;
	s.add_prefix_space = (k >> 3) & 1;
	s.added = clip_added;
	s.n_added = ((k >> 2) & 1) ? (int32_t) (sizeof(clip_added) / sizeof(clip_added[0])) : 2;
	s.bos_id = 512 + N_CLIP_MERGES;
	s.eos_id = s.bos_id + 1;
	s.add_bos = s.add_eos = true;
	if (tok_bpe_new(&s, &opts, &clip_tokenizers[k], &err) != PGI_OK)
		fail(err.msg);
	return clip_tokenizers[k];
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

/*
 * CLIP's invariant (see the file header): decode(encode(text)) is the
 * words of the normalized text, each followed by "</w>".  Only for text
 * that holds no special token (which would be cut out before the
 * normalizer, or matched after it) and is valid UTF-8.  k: the mode bits.
 */
static void
check_clip_words(const TokBpe *bpe, int k, const char *text, size_t len)
{
	static const TokBpeNormKind steps[2][3] = {
		{TOK_BPE_NORM_NFC, TOK_BPE_NORM_SPACES, TOK_BPE_NORM_LOWERCASE},
		{TOK_BPE_NORM_LOWERCASE, TOK_BPE_NORM_SPACES, TOK_BPE_NORM_NFC},
	};
	TokBpeNormalizer nz = {steps[0], 3, toy_nfc, NULL};
	TokBpeIds	ids = {0};
	PgiError	err;
	char	   *norm,
			   *dec,
			   *want;
	size_t		norm_len,
				dec_len,
				n = 0,
				want_len = 0;
	uint32_t   *cps;
	uint8_t    *cls;

	if (memmem(text, len, "<|endoftext|>", 13) || !valid_utf8(text, len))
		return;
	nz.steps = steps[(k >> 4) & 1];
	if (tok_bpe_normalize(&nz, text, len, &norm, &norm_len, &err) != PGI_OK)
		fail(err.msg);
	if (memmem(norm, norm_len, "<|startoftext|>", 15))
	{
		free(norm);
		return;
	}
	cps = malloc((norm_len + 1) * sizeof(uint32_t));
	cls = malloc(norm_len + 1);
	want = malloc(5 * norm_len + 1);
	if (tok_utf8_to_cps(norm, norm_len, cps, &n, &err) != PGI_OK)
		fail("normalized text is not valid UTF-8");
	tok_bpe_classify(cps, n, cls);
	for (size_t p = 0; p < n;)
	{
		size_t		k = tok_bpe_match(TOK_BPE_PAT_CLIP, cps, cls, n, p);

		if (k == 0)
		{
			p++;
			continue;
		}
		for (size_t i = p; i < p + k; i++)
			want_len += (size_t) tok_utf8_encode(cps[i], want + want_len);
		memcpy(want + want_len, "</w>", 4);
		want_len += 4;
		p += k;
	}
	if (tok_bpe_encode(bpe, text, len, &ids, &err) != PGI_OK ||
		tok_bpe_decode(bpe, ids.ids, ids.len, false, &dec, &dec_len, &err) != PGI_OK)
		fail(err.msg);
	if (dec_len != want_len || memcmp(dec, want, want_len) != 0)
		fail("CLIP: decode(encode(x)) is not the normalized words with </w>");
	free(dec);
	free(ids.ids);
	free(want);
	free(cls);
	free(cps);
	free(norm);
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
			{
				int			k = (m >> 2) & 31;

				/* round trip unless a prefix space is added or tokens strip */
				bpe = tokenizer(k);
				check_text(bpe, text, size, !((k >> 3) & 1) && !((k >> 4) & 1));
				check_ids(bpe, data + 1, size);
				break;
			}
		case 1:
			{
				int			k = (m >> 2) & 31;

				bpe = clip_tokenizer(k);
				check_text(bpe, text, size, false);
				if ((k & 15) == 0)
					check_clip_words(bpe, k, text, size);
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
