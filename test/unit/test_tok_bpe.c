/*
 * test_tok_bpe.c
 *	  Unit tests of the byte-level BPE tokenizer (src/core/tokenizers/tok_bpe*.c).
 *
 * The expectations up to test_json are worked out by hand from Hugging Face
 * tokenizers' rules (see src/core/tokenizers/tok_bpe.h and tok_bpe_pre.h); the
 * comment next to each case gives the derivation.  The test vocabulary is
 * GPT-2's byte alphabet (token b is byte b's character, so id b is byte b)
 * plus the merges below, whose results get ids 256 up.  The CLIP cases
 * (normalizers, CLIP's pattern, end-of-word suffix) are values captured
 * from the reference by test/tokenizer/bpe/clip_unit_ref.js.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tokenizers/tok_bpe.h"
#include "core/tokenizers/tok_bpe_unicode.h"
#include "unit.h"

/* Merges in rank order; the result of merge r has id 256 + r */
static const char *const merges[][2] = {
	{"\xc4\xa0", "t"},			/* 0: "Ġ t" -> Ġt 256 */
	{"h", "e"},					/* 1: he 257 */
	{"\xc4\xa0t", "he"},		/* 2: Ġthe 258 */
	{"l", "l"},					/* 3: ll 259 */
	{"e", "ll"},				/* 4: ell 260 */
	{"h", "ell"},				/* 5: hell 261 */
	{"hell", "o"},				/* 6: hello 262 */
	{"l", "o"},					/* 7: lo 263 */
};
#define N_MERGES 8
#define ID_GT 256
#define ID_HE 257
#define ID_GTHE 258
#define ID_LL 259
#define ID_ELL 260
#define ID_HELLO 262
#define ID_LO 263

/* The vocabulary: 256 byte characters, merge results, extra tokens */
typedef struct Vocab
{
	char		buf[64][16];
	const char *tokens[512];
	size_t		lens[512];
	int32_t		n;
	const char *ml[N_MERGES],
			   *mr[N_MERGES];
	size_t		mll[N_MERGES],
				mrl[N_MERGES];
	char		bytes[256][4];
} Vocab;

/* Fill v: bytes (skipping those in `drop`), merges, then extras */
static void
vocab_init(Vocab *v, const char *drop, const char *const *extras, int n_extras)
{
	memset(v, 0, sizeof(*v));
	for (int b = 0; b < 256; b++)
	{
		int			k = tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), v->bytes[b]);

		v->tokens[v->n] = v->bytes[b];
		/* a dropped byte keeps its id but gets an unreachable spelling */
		v->lens[v->n++] = (drop && b && strchr(drop, b)) ? 0 : (size_t) k;
	}
	for (int r = 0; r < N_MERGES; r++)
	{
		snprintf(v->buf[r], sizeof(v->buf[r]), "%s%s", merges[r][0], merges[r][1]);
		v->tokens[v->n] = v->buf[r];
		v->lens[v->n++] = strlen(v->buf[r]);
		v->ml[r] = merges[r][0];
		v->mr[r] = merges[r][1];
		v->mll[r] = strlen(merges[r][0]);
		v->mrl[r] = strlen(merges[r][1]);
	}
	for (int i = 0; i < n_extras; i++)
	{
		v->tokens[v->n] = extras[i];
		v->lens[v->n++] = strlen(extras[i]);
	}
}

/* A spec over v, GPT-2 pre-tokenizer */
static void
spec_init(TokBpeSpec *s, const Vocab *v)
{
	tok_bpe_spec_init(s);
	s->tokens = v->tokens;
	s->lens = v->lens;
	s->n_tokens = v->n;
	s->merge_left = v->ml;
	s->merge_left_lens = v->mll;
	s->merge_right = v->mr;
	s->merge_right_lens = v->mrl;
	s->n_merges = N_MERGES;
}

/* Encode text and compare with the expected ids (terminated by -2) */
static void
check_ids(const TokBpe *bpe, const char *text, const int32_t *want, const char *what)
{
	TokBpeIds	ids = {0};
	PgiError	err;
	size_t		n = 0;
	bool		same;

	if (tok_bpe_encode(bpe, text, strlen(text), &ids, &err) != PGI_OK)
	{
		CHECK(false, "%s: encode failed: %s", what, err.msg);
		return;
	}
	while (want[n] != -2)
		n++;
	same = ids.len == n;
	for (size_t i = 0; same && i < n; i++)
		same = ids.ids[i] == want[i];
	if (!same)
	{
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < ids.len; i++)
			fprintf(stderr, " %d", ids.ids[i]);
		fprintf(stderr, "\n");
	}
	CHECK(same, "%s: ids of \"%s\"", what, text);
	free(ids.ids);
}

#define IDS(...) ((const int32_t[]) {__VA_ARGS__, -2})
#define NONE ((const int32_t[]) {-2})

/* Decode ids and compare with the expected text */
static void
check_decode(const TokBpe *bpe, const int32_t *ids, size_t n, bool skip, const char *want,
			 size_t want_len, const char *what)
{
	char	   *out;
	size_t		len;
	PgiError	err;

	if (tok_bpe_decode(bpe, ids, n, skip, &out, &len, &err) != PGI_OK)
	{
		CHECK(false, "%s: decode failed: %s", what, err.msg);
		return;
	}
	CHECK(len == want_len && memcmp(out, want, len) == 0 && out[len] == '\0',
		  "%s: decoded \"%s\"", what, out);
	free(out);
}

/* Split text with a pattern; pieces joined with '|' */
static void
check_split(TokBpePattern pat, const char *text, const char *want)
{
	uint32_t	cps[256];
	uint8_t		cls[256];
	size_t		n = 0,
				olen = 0;
	char		out[1024];
	PgiError	err;

	if (tok_utf8_to_cps(text, strlen(text), cps, &n, &err) != PGI_OK)
	{
		CHECK(false, "split: bad UTF-8");
		return;
	}
	tok_bpe_classify(cps, n, cls);
	for (size_t p = 0; p < n;)
	{
		size_t		k = tok_bpe_match(pat, cps, cls, n, p);

		if (k == 0)
			k = 1;				/* not expected with these patterns */
		if (p > 0)
			out[olen++] = '|';
		for (size_t i = p; i < p + k; i++)
			olen += (size_t) tok_utf8_encode(cps[i], out + olen);
		p += k;
	}
	out[olen] = '\0';
	CHECK(strcmp(out, want) == 0, "split %d \"%s\": got \"%s\", want \"%s\"", pat, text, out, want);
}

static void
test_byte_map(void)
{
	/* printable bytes are themselves; the other 68 are U+0100.. in byte order */
	CHECK(tok_bpe_byte_char('!') == '!' && tok_bpe_byte_char('~') == '~', "printable ASCII");
	CHECK(tok_bpe_byte_char(0) == 0x100, "NUL is U+0100");
	CHECK(tok_bpe_byte_char(' ') == 0x120, "space is U+0120 (G with dot)");
	CHECK(tok_bpe_byte_char('\n') == 0x10A, "LF is U+010A");
	CHECK(tok_bpe_byte_char(0x7F) == 0x121, "DEL follows the 33 C0 bytes and space");
	CHECK(tok_bpe_byte_char(0xA0) == 0x142, "NBSP byte");
	CHECK(tok_bpe_byte_char(0xAD) == 0x143, "soft hyphen byte is the last one");
	CHECK(tok_bpe_byte_char(0xA1) == 0xA1 && tok_bpe_byte_char(0xFF) == 0xFF, "Latin-1");
}

static void
test_patterns(void)
{
	/* GPT-2: contractions are lower case only; ' ?X+' runs; \s+(?!\S) */
	check_split(TOK_BPE_PAT_GPT2, "I'm here  now\n\n", "I|'m| here| | now|\n\n");
	check_split(TOK_BPE_PAT_GPT2, "it's", "it|'s");
	check_split(TOK_BPE_PAT_GPT2, "IT'S", "IT|'|S");
	check_split(TOK_BPE_PAT_GPT2, "we'll 're", "we|'ll| '|re");
	check_split(TOK_BPE_PAT_GPT2, " 1a 22!? ", " 1|a| 22|!?| ");
	check_split(TOK_BPE_PAT_GPT2, "   ", "   ");
	check_split(TOK_BPE_PAT_GPT2, "a\tb", "a|\t|b");
	check_split(TOK_BPE_PAT_GPT2, "a \t b", "a| \t| b");
	check_split(TOK_BPE_PAT_GPT2, "x\xc2\xa0y", "x|\xc2\xa0|y");	/* NBSP is \s */
	check_split(TOK_BPE_PAT_GPT2, "x\x1cy", "x|\x1c|y");	/* U+001C is not White_Space */
	check_split(TOK_BPE_PAT_GPT2, "caf\xc3\xa9s 3\xc2\xbd", "caf\xc3\xa9s| 3\xc2\xbd");
	check_split(TOK_BPE_PAT_GPT2, "cafe\xcc\x81", "cafe|\xcc\x81");	/* a mark is not \p{L} */
	/* Llama 3: case-insensitive contractions, 1-3 digits, CR/LF rules */
	check_split(TOK_BPE_PAT_LLAMA3, "IT'S we'LL", "IT|'S| we|'LL");
	check_split(TOK_BPE_PAT_LLAMA3, "'\xc5\xbf", "'\xc5\xbf");	/* U+017F folds to s */
	check_split(TOK_BPE_PAT_LLAMA3, "123456 7", "123|456| |7");
	check_split(TOK_BPE_PAT_LLAMA3, "12345", "123|45");
	check_split(TOK_BPE_PAT_LLAMA3, " hello\tworld", " hello|\tworld");
	check_split(TOK_BPE_PAT_LLAMA3, "a\n\n  b", "a|\n\n| | b");
	check_split(TOK_BPE_PAT_LLAMA3, "x!!\n\ny", "x|!!\n\n|y");
	check_split(TOK_BPE_PAT_LLAMA3, "  \n", "  \n");
	check_split(TOK_BPE_PAT_LLAMA3, " \n \n x", " \n \n| x");
	check_split(TOK_BPE_PAT_LLAMA3, "'hello", "'hello");
	check_split(TOK_BPE_PAT_LLAMA3, "\n\nabc", "\n\n|abc");
	check_split(TOK_BPE_PAT_LLAMA3, ".abc", ".abc");
	check_split(TOK_BPE_PAT_LLAMA3, "1abc", "1|abc");
	/* Qwen2: one digit at a time */
	check_split(TOK_BPE_PAT_QWEN2, "2024 is", "2|0|2|4| is");
	/* Unicode 16 letters (Egyptian hieroglyphs extended A), unassigned in our 14.0 tables */
	check_split(TOK_BPE_PAT_GPT2, "a\xf0\x93\x91\xa0" "b(", "a\xf0\x93\x91\xa0" "b|(");
	CHECK(tok_bpe_category(0x13460) == TOK_UC_LO && tok_bpe_category(0x31350) == TOK_UC_LO,
		  "Unicode 16 letters");
	CHECK(tok_bpe_category(0x0378) == TOK_UC_CN && tok_bpe_category('a') == TOK_UC_LL,
		  "unassigned stays Cn, assigned unchanged");
}

static void
test_model(void)
{
	Vocab		v;
	TokBpeSpec	s;
	TokBpe	   *bpe;
	PgiError	err;
	TokBpeIds	ids = {0};
	const char *extras[] = {"hello"};

	vocab_init(&v, NULL, NULL, 0);
	spec_init(&s, &v);
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build: %s", err.msg);
	CHECK(tok_bpe_info(bpe)->n_ids == 264 && strcmp(tok_bpe_info(bpe)->pre, "gpt2") == 0, "info");

	/*
	 * "hello": pairs (h,e) rank 1, (l,l) rank 3, (l,o) rank 7.  he first, then
	 * ll; (he,ll) and (ll,o) have no merge, the (l,o) entry is stale: he ll o.
	 * The merges to "hell" and "hello" are never reached.
	 */
	check_ids(bpe, "hello", IDS(ID_HE, ID_LL, 'o'), "rank order");
	/* " the": (Ġ,t) rank 0 -> Ġt; (h,e) rank 1 -> he; then (Ġt,he) rank 2 */
	check_ids(bpe, "hello the", IDS(ID_HE, ID_LL, 'o', ID_GTHE), "new pair pushed");
	/* "ell": (l,l) -> ll, then (e,ll) rank 4 */
	check_ids(bpe, "ell", IDS(ID_ELL), "ell");
	/* equal ranks: the leftmost pair first: llll -> ll ll; lll -> ll l */
	check_ids(bpe, "llll", IDS(ID_LL, ID_LL), "ties leftmost");
	check_ids(bpe, "lll", IDS(ID_LL, 'l'), "ties leftmost, odd");
	/* "llo": (l,l) rank 3 beats (l,o) rank 7 */
	check_ids(bpe, "llo", IDS(ID_LL, 'o'), "llo");
	/* "lo" alone */
	check_ids(bpe, "lo", IDS(ID_LO), "lo");
	/* GPT-2 split: "  the" is " " + " the"; bytes of é are c3 a9 */
	check_ids(bpe, "  the", IDS(' ', ID_GTHE), "space run");
	check_ids(bpe, "\xc3\xa9", IDS(0xC3, 0xA9), "two bytes");
	check_ids(bpe, "", NONE, "empty");
	/* invalid UTF-8: PGI_ERR_DATA, the array as it was */
	ids.len = 0;
	CHECK(tok_bpe_encode(bpe, "ab", 2, &ids, &err) == PGI_OK && ids.len == 2, "encode ab");
	CHECK(tok_bpe_encode(bpe, "a\xc3(", 3, &ids, &err) == PGI_ERR_DATA && ids.len == 2,
		  "invalid UTF-8 rejected, ids kept");
	free(ids.ids);

	/* lookups */
	CHECK(tok_bpe_token_to_id(bpe, "\xc4\xa0the", 5) == ID_GTHE, "token_to_id");
	CHECK(tok_bpe_token_to_id(bpe, "the", 3) == -1, "unknown token");
	{
		size_t		len;
		const char *t = tok_bpe_id_to_token(bpe, ID_GTHE, &len);

		CHECK(t && len == 5 && memcmp(t, "\xc4\xa0the", 5) == 0, "id_to_token");
		CHECK(tok_bpe_id_to_token(bpe, 264, &len) == NULL && tok_bpe_id_to_token(bpe, -1, &len) == NULL,
			  "id_to_token out of range");
	}

	/* decoding: byte-level characters back to bytes, then lossy UTF-8 */
	check_decode(bpe, IDS(ID_HE, ID_LL, 'o', ID_GTHE), 4, false, "hello the", 9, "round trip");
	check_decode(bpe, IDS(0xC3), 1, false, "\xef\xbf\xbd", 3, "lone lead byte");
	/* E2 82 is the start of a 3-byte sequence: one U+FFFD for both, then a */
	check_decode(bpe, IDS(0xE2, 0x82, 'a'), 3, false, "\xef\xbf\xbd" "a", 4, "truncated sequence");
	/* F0 80: 80 cannot follow F0 (overlong): two replacements */
	check_decode(bpe, IDS(0xF0, 0x80), 2, false, "\xef\xbf\xbd\xef\xbf\xbd", 6, "bad second byte");
	/* ED A0 80 is a surrogate: ED alone, then two stray continuation bytes */
	check_decode(bpe, IDS(0xED, 0xA0, 0x80), 3, false,
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, "surrogate");
	check_decode(bpe, IDS(0xF0, 0x9F, 0x98, 0x80), 4, false, "\xf0\x9f\x98\x80", 4, "emoji from bytes");
	{
		char	   *out;
		size_t		len;

		CHECK(tok_bpe_decode(bpe, IDS(264), 1, false, &out, &len, &err) == PGI_ERR_PARAM,
			  "decode out of range");
		CHECK(tok_bpe_decode(bpe, NULL, 0, false, &out, &len, &err) == PGI_OK && len == 0 && out[0] == 0,
			  "decode nothing");
		free(out);
	}
	tok_bpe_free(bpe);

	/* ignore_merges: a word that is a vocabulary entry is that entry */
	vocab_init(&v, NULL, extras, 1);
	spec_init(&s, &v);
	s.ignore_merges = true;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build ignore_merges: %s", err.msg);
	check_ids(bpe, "hello", IDS(264), "ignore_merges");
	check_ids(bpe, "hellos", IDS(ID_HE, ID_LL, 'o', 's'), "ignore_merges, not an entry");
	tok_bpe_free(bpe);

	/* add_prefix_space: every word gets a space, so "the" is Ġthe */
	vocab_init(&v, NULL, NULL, 0);
	spec_init(&s, &v);
	s.add_prefix_space = true;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build prefix: %s", err.msg);
	check_ids(bpe, "the", IDS(ID_GTHE), "prefix space added");
	check_ids(bpe, " the", IDS(ID_GTHE), "prefix space already there");
	tok_bpe_free(bpe);

	/* duplicate merge: the later line wins (rank 8 for (h,e)) */
	{
		const char *ml[N_MERGES + 1],
				   *mr[N_MERGES + 1];
		size_t		mll[N_MERGES + 1],
					mrl[N_MERGES + 1];

		vocab_init(&v, NULL, NULL, 0);
		spec_init(&s, &v);
		memcpy(ml, v.ml, sizeof(v.ml));
		memcpy(mr, v.mr, sizeof(v.mr));
		memcpy(mll, v.mll, sizeof(v.mll));
		memcpy(mrl, v.mrl, sizeof(v.mrl));
		ml[N_MERGES] = "h";
		mr[N_MERGES] = "e";
		mll[N_MERGES] = mrl[N_MERGES] = 1;
		s.merge_left = ml;
		s.merge_right = mr;
		s.merge_left_lens = mll;
		s.merge_right_lens = mrl;
		s.n_merges = N_MERGES + 1;
		CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build duplicate merge");
		/* (l,l) rank 3 now beats (h,e) rank 8, then (e,ll) rank 4: h ell -> hell -> hello */
		check_ids(bpe, "hello", IDS(ID_HELLO), "duplicate merge takes the later rank");
		tok_bpe_free(bpe);
	}

	/* a merge whose result is not in the vocabulary */
	{
		const char *ml[1] = {"x"},
				   *mr[1] = {"y"};
		size_t		l1[1] = {1};

		vocab_init(&v, NULL, NULL, 0);
		spec_init(&s, &v);
		s.merge_left = ml;
		s.merge_right = mr;
		s.merge_left_lens = l1;
		s.merge_right_lens = l1;
		s.n_merges = 1;
		CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_ERR_CORRUPT && bpe == NULL, "merge out of vocabulary");
	}
}

static void
test_unknown(void)
{
	Vocab		v;
	TokBpeSpec	s;
	TokBpe	   *bpe;
	PgiError	err;
	const char *extras[] = {"<unk>", "<0xC4>", "<0x80>"};

	/* 'z' and 'q' have no token; no unk_token: they are dropped */
	vocab_init(&v, "zq", NULL, 0);
	spec_init(&s, &v);
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build unk: %s", err.msg);
	check_ids(bpe, "azb", IDS('a', 'b'), "dropped");
	tok_bpe_free(bpe);

	/* unk_token, fused: one <unk> (id 264) per run */
	vocab_init(&v, "zq", extras, 1);
	spec_init(&s, &v);
	s.unk_token = "<unk>";
	s.unk_len = 5;
	s.fuse_unk = true;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build fuse: %s", err.msg);
	check_ids(bpe, "azqzb", IDS('a', 264, 'b'), "fused unk");
	CHECK(tok_bpe_info(bpe)->unk_id == 264, "unk id");
	tok_bpe_free(bpe);
	s.fuse_unk = false;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build unfused");
	check_ids(bpe, "azqzb", IDS('a', 264, 264, 264, 'b'), "unfused unk");
	tok_bpe_free(bpe);

	/*
	 * byte_fallback: NUL's character U+0100 (bytes c4 80) has no token, so
	 * it becomes <0xC4> <0x80> (265, 266); 'z' (one byte, no <0x7A>) is unk
	 */
	vocab_init(&v, "z", extras, 3);
	v.lens[0] = 0;
	spec_init(&s, &v);
	s.unk_token = "<unk>";
	s.unk_len = 5;
	s.byte_fallback = true;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build fallback: %s", err.msg);
	/* the GPT-2 split makes "z", NUL, "z" three words: <unk> <0xC4> <0x80> <unk> */
	check_ids(bpe, "z", IDS(264), "unk");
	{
		TokBpeIds	ids = {0};

		CHECK(tok_bpe_encode(bpe, "z\0z", 3, &ids, &err) == PGI_OK && ids.len == 4 &&
			  ids.ids[0] == 264 && ids.ids[1] == 265 && ids.ids[2] == 266 && ids.ids[3] == 264,
			  "byte fallback between unknown words");
		tok_bpe_free(bpe);

		/*
		 * One word (no regex): as in Hugging Face's merge_word, the fallback
		 * tokens are added at once while the first 'z' is still a pending
		 * <unk>, added when the next unknown character comes: <0xC4> <0x80>
		 * <unk> <unk>
		 */
		s.use_regex = false;
		CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build fallback, no regex");
		ids.len = 0;
		CHECK(tok_bpe_encode(bpe, "z\0z", 3, &ids, &err) == PGI_OK && ids.len == 4 &&
			  ids.ids[0] == 265 && ids.ids[1] == 266 && ids.ids[2] == 264 && ids.ids[3] == 264,
			  "byte fallback before a pending unk");
		free(ids.ids);
	}
	tok_bpe_free(bpe);

	/* an unk_token that is not in the vocabulary */
	vocab_init(&v, NULL, NULL, 0);
	spec_init(&s, &v);
	s.unk_token = "<unk>";
	s.unk_len = 5;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_ERR_CORRUPT, "unk_token missing");
}

/* A toy NFC: composes e + U+0301 into U+00E9 and nothing else */
static int64_t
toy_nfc(void *arg, const uint32_t *in, size_t n, uint32_t *out, size_t cap)
{
	size_t		m = 0;

	(*(int *) arg)++;
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

static void
test_added(void)
{
	Vocab		v;
	TokBpeSpec	s;
	TokBpe	   *bpe;
	PgiError	err;
	int			calls = 0;
	TokBpeOptions opts = {toy_nfc, &calls};
	TokBpeAdded added[] = {
		{"<|endoftext|>", 13, true, false, false, false, false},	/* 264 */
		{"<mask>", 6, true, false, true, false, false},	/* 265, lstrip */
		{"[X]", 3, false, false, false, false, true},	/* 266, single_word */
		{"caf\xc3\xa9", 5, false, true, false, false, false},	/* 267, normalized */
		{"he", 2, false, false, false, true, false},	/* the vocabulary's 257, rstrip */
		{"<|endoftext|>", 13, true, false, false, false, false},	/* repeat: ignored */
		{"", 0, true, false, false, false, false},	/* empty: ignored */
	};

	vocab_init(&v, NULL, NULL, 0);
	spec_init(&s, &v);
	s.added = added;
	s.n_added = 7;
	s.norms[0] = TOK_BPE_NORM_NFC;
	s.n_norms = 1;
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_ERR_UNSUPPORTED, "NFC without a callback");
	CHECK(tok_bpe_new(&s, &opts, &bpe, &err) == PGI_OK, "build added: %s", err.msg);
	CHECK(tok_bpe_info(bpe)->n_ids == 268, "ids after the vocabulary: %d", tok_bpe_info(bpe)->n_ids);
	CHECK(tok_bpe_token_to_id(bpe, "<|endoftext|>", 13) == 264 && tok_bpe_token_to_id(bpe, "[X]", 3) == 266,
		  "added ids");
	CHECK(tok_bpe_is_special(bpe, 264) && tok_bpe_is_special(bpe, 265) && !tok_bpe_is_special(bpe, 266),
		  "special flags");

	/* specials are cut out first; text around them is encoded on its own */
	check_ids(bpe, "a<|endoftext|>b", IDS('a', 264, 'b'), "special token");
	check_ids(bpe, "<|endoftext|><|endoftext|>", IDS(264, 264), "two specials");
	check_ids(bpe, "<|endoftext", IDS('<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't'), "broken special");
	/* lstrip: "  " before <mask> goes with it; " b" stays */
	check_ids(bpe, "a  <mask> b", IDS('a', 265, ' ', 'b'), "lstrip");
	/* single_word: "a[X]" is not a word of its own; " [X] " is */
	check_ids(bpe, " [X] ", IDS(' ', 266, ' '), "single word");
	check_ids(bpe, "a[X]", IDS('a', '[', 'X', ']'), "single word refused");
	/* rstrip: "he" takes the spaces after it */
	check_ids(bpe, "he  x", IDS(ID_HE, 'x'), "rstrip");
	/* normalized token: matched after NFC, in decomposed input too */
	calls = 0;
	check_ids(bpe, "cafe\xcc\x81!", IDS(267, '!'), "normalized added token");
	CHECK(calls == 1, "NFC called once for the run above U+0300 (%d)", calls);
	calls = 0;
	check_ids(bpe, "plain ascii", IDS('p', 'l', 'a', 'i', 'n', ' ', 'a', 's', 'c', 'i', 'i'),
			  "ascii needs no NFC");
	CHECK(calls == 0, "NFC not called for ASCII");
	/* decode: added contents through the byte-level decoder; skip specials */
	/* "café" is all byte-level characters: é stands for byte E9, alone invalid */
	check_decode(bpe, IDS('a', 264, 'b', 267), 4, false, "a<|endoftext|>bcaf\xef\xbf\xbd", 21,
				 "added contents decoded byte-level");
	check_decode(bpe, IDS('a', 264, 'b'), 3, true, "ab", 2, "skip specials");
	tok_bpe_free(bpe);
}

/* A GGUF file in memory */
typedef struct GgufBuf
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} GgufBuf;

static void
put(GgufBuf *b, const void *src, size_t n)
{
	if (b->len + n > b->cap)
	{
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void
put_u32(GgufBuf *b, uint32_t v)
{
	uint8_t		x[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};

	put(b, x, 4);
}

static void
put_u64(GgufBuf *b, uint64_t v)
{
	put_u32(b, (uint32_t) v);
	put_u32(b, (uint32_t) (v >> 32));
}

static void
put_str(GgufBuf *b, const char *s, size_t n)
{
	put_u64(b, n);
	put(b, s, n);
}

/* Build a GGUF with our test vocabulary; pre may be NULL */
static void
gguf_build(GgufBuf *b, const char *model, const char *pre, int with_bos, const Vocab *v)
{
	int			nkv = 4 + (pre != NULL) + 2 * with_bos;

	memset(b, 0, sizeof(*b));
	put(b, "GGUF", 4);
	put_u32(b, 3);
	put_u64(b, 0);
	put_u64(b, (uint64_t) nkv);
	put_str(b, "tokenizer.ggml.model", 20);
	put_u32(b, 8);
	put_str(b, model, strlen(model));
	if (pre)
	{
		put_str(b, "tokenizer.ggml.pre", 18);
		put_u32(b, 8);
		put_str(b, pre, strlen(pre));
	}
	put_str(b, "tokenizer.ggml.tokens", 21);
	put_u32(b, 9);
	put_u32(b, 8);
	put_u64(b, (uint64_t) v->n + 1);
	for (int i = 0; i < v->n; i++)
		put_str(b, v->tokens[i], v->lens[i]);
	put_str(b, "<s>", 3);		/* id 264, control */
	put_str(b, "tokenizer.ggml.token_type", 25);
	put_u32(b, 9);
	put_u32(b, 5);
	put_u64(b, (uint64_t) v->n + 1);
	for (int i = 0; i < v->n; i++)
		put_u32(b, 1);
	put_u32(b, 3);
	put_str(b, "tokenizer.ggml.merges", 21);
	put_u32(b, 9);
	put_u32(b, 8);
	put_u64(b, N_MERGES);
	for (int r = 0; r < N_MERGES; r++)
	{
		char		m[32];
		int			n = snprintf(m, sizeof(m), "%s %s", merges[r][0], merges[r][1]);

		put_str(b, m, (size_t) n);
	}
	if (with_bos)
	{
		put_str(b, "tokenizer.ggml.bos_token_id", 27);
		put_u32(b, 4);
		put_u32(b, 264);
		put_str(b, "tokenizer.ggml.add_bos_token", 28);
		put_u32(b, 7);
		put(b, "\0", 1);
	}
	put(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32 - b->len % 32);
}

static void
test_gguf(void)
{
	Vocab		v;
	GgufBuf		b;
	GgufFile   *f;
	TokBpe	   *bpe;
	PgiError	err;

	vocab_init(&v, NULL, NULL, 0);

	/* no pre-tokenizer key: GPT-2's */
	gguf_build(&b, "gpt2", NULL, 0, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK, "gguf_open: %s", err.msg);
	CHECK(tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_OK, "from_gguf: %s", err.msg);
	check_ids(bpe, "hello the<s>", IDS(ID_HE, ID_LL, 'o', ID_GTHE, 264), "gguf, control token");
	CHECK(tok_bpe_is_special(bpe, 264) && tok_bpe_info(bpe)->bos_id == -1, "gguf control is special");
	tok_bpe_free(bpe);
	gguf_free(f);
	free(b.p);

	/* llama-bpe: Llama 3 split, ignore_merges, add_bos (turned off by the key) */
	gguf_build(&b, "gpt2", "llama-bpe", 1, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK, "gguf_open llama-bpe");
	CHECK(tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_OK, "from_gguf llama-bpe: %s", err.msg);
	CHECK(strcmp(tok_bpe_info(bpe)->pre, "llama3") == 0 && tok_bpe_info(bpe)->ignore_merges &&
		  tok_bpe_info(bpe)->bos_id == 264 && !tok_bpe_info(bpe)->add_bos, "llama-bpe info");
	/* ignore_merges: "hello" is an entry (262); Llama 3 splits digits 3 by 3 */
	check_ids(bpe, "hello 1234", IDS(ID_HELLO, ' ', '1', '2', '3', '4'), "llama-bpe");
	tok_bpe_free(bpe);
	gguf_free(f);
	free(b.p);

	gguf_build(&b, "gpt2", "qwen2", 0, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK && tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_OK,
		  "qwen2");
	CHECK(strcmp(tok_bpe_info(bpe)->pre, "qwen2") == 0, "qwen2 info");
	tok_bpe_free(bpe);
	gguf_free(f);
	free(b.p);

	gguf_build(&b, "gpt2", "smollm", 0, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK && tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_OK,
		  "smollm");
	CHECK(strcmp(tok_bpe_info(bpe)->pre, "smollm") == 0, "smollm info");
	/* Digits first: " 12" is " ", "1", "2" */
	check_ids(bpe, "a 12", IDS('a', ' ', '1', '2'), "smollm digits");
	tok_bpe_free(bpe);
	gguf_free(f);
	free(b.p);

	gguf_build(&b, "gpt2", "no-such-pre", 0, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK &&
		  tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_ERR_UNSUPPORTED, "unknown pre");
	gguf_free(f);
	free(b.p);

	gguf_build(&b, "llama", NULL, 0, &v);
	CHECK(gguf_open(b.p, b.len, &f, &err) == PGI_OK &&
		  tok_bpe_from_gguf(f, NULL, &bpe, &err) == PGI_ERR_UNSUPPORTED, "not a gpt2 tokenizer");
	gguf_free(f);
	free(b.p);
}

/* Build from tokenizer.json text */
static PgiStatus
from_json(const char *text, TokBpe **bpe, PgiError *err)
{
	return tok_bpe_from_json_text(text, strlen(text), NULL, bpe, err);
}

static void
test_json(void)
{
	TokBpe	   *bpe;
	PgiError	err;
	char		buf[4096];
	const char *vocab = "\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 3, \"\xc4\xa0" "ab\": 4, \"c\": 5";
	const char *bl = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}";

	/* "a b" merges with a #version line; [a, b] merges */
	snprintf(buf, sizeof(buf),
			 "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 9, \"content\": \"<s>\", \"special\": true, "
			 "\"normalized\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false}], "
			 "\"normalizer\": null, \"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
			 "{\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
			 "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [6], \"tokens\": [\"<s>\"]}}}, "
			 "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
			 "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
			 "\"byte_fallback\": false, \"vocab\": {%s}, \"merges\": [\"#version: 0.2\", \"a b\", \"\xc4\xa0 ab\"]}}",
			 bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_OK, "json string merges: %s", err.msg);
	/* <s> gets id 6 (the vocabulary has 6 entries; the file's 9 is ignored) */
	check_ids(bpe, "ab ab<s>c", IDS(2, 4, 6, 5), "json encode");
	CHECK(tok_bpe_info(bpe)->add_bos && tok_bpe_info(bpe)->bos_id == 6, "TemplateProcessing BOS");
	tok_bpe_free(bpe);

	snprintf(buf, sizeof(buf),
			 "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
			 "\"pattern\": {\"Regex\": \"%s\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
			 "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}, "
			 "\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, "
			 "\"vocab\": {%s}, \"merges\": [[\"a\", \"b\"], [\"\xc4\xa0\", \"ab\"]]}}",
			 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
			 vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_OK, "json llama3: %s", err.msg);
	CHECK(bpe && strcmp(tok_bpe_info(bpe)->pre, "llama3") == 0 && tok_bpe_info(bpe)->ignore_merges,
		  "json llama3 info");
	tok_bpe_free(bpe);

	/* what is refused */
	snprintf(buf, sizeof(buf), "{\"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": %s, "
			 "\"decoder\": %s, \"model\": {\"vocab\": {%s}, \"merges\": []}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_UNSUPPORTED, "other normalizer");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
			 "\"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, %s]}, "
			 "\"decoder\": %s, \"model\": {\"vocab\": {%s}, \"merges\": []}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_UNSUPPORTED, "unknown Split pattern");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": {\"type\": \"BPEDecoder\"}, "
			 "\"model\": {\"vocab\": {%s}, \"merges\": []}}", bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_UNSUPPORTED, "other decoder");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"model\": {\"type\": \"WordPiece\", \"vocab\": {%s}, \"merges\": []}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_UNSUPPORTED, "not BPE");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"model\": {\"vocab\": {%s}, \"merges\": [\"a b c\"]}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_CORRUPT, "merge with two spaces");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"model\": {\"vocab\": {%s}, \"merges\": [\"a c\"]}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_CORRUPT, "merge result not in the vocabulary");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"model\": {\"dropout\": 0.1, \"vocab\": {%s}, \"merges\": []}}", bl, bl, vocab);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_UNSUPPORTED, "dropout");
	snprintf(buf, sizeof(buf), "{\"pre_tokenizer\": %s, \"decoder\": %s, "
			 "\"model\": {\"vocab\": {\"a\": 0, \"b\": 9000000}, \"merges\": []}}", bl, bl);
	CHECK(from_json(buf, &bpe, &err) == PGI_ERR_LIMIT, "ids too sparse");
	CHECK(from_json("{\"model\": {}}", &bpe, &err) == PGI_ERR_CORRUPT, "no vocabulary");
	CHECK(from_json("[1, 2]", &bpe, &err) == PGI_ERR_CORRUPT, "not an object");
	CHECK(from_json("{", &bpe, &err) == PGI_ERR_CORRUPT && bpe == NULL, "not JSON");
}

/* ---------------------------------------------------------------- CLIP */

/*
 * The CLIP cases compare with values captured from Hugging Face tokenizers
 * (npm tokenizers 0.23.2) by test/tokenizer/bpe/clip_unit_ref.js, which
 * builds the same tokenizer.json documents as clip_json() below.
 */

/* The normalizer's output, for two orders of the same steps */
static void
check_norm(const char *text, const char *want_spaces_lower, const char *want_lower_spaces)
{
	static const TokBpeNormKind orders[2][2] = {
		{TOK_BPE_NORM_SPACES, TOK_BPE_NORM_LOWERCASE},
		{TOK_BPE_NORM_LOWERCASE, TOK_BPE_NORM_SPACES},
	};

	for (int o = 0; o < 2; o++)
	{
		TokBpeNormalizer nz = {orders[o], 2, NULL, NULL};
		const char *want = o ? want_lower_spaces : want_spaces_lower;
		char	   *out;
		size_t		len;
		PgiError	err;

		if (tok_bpe_normalize(&nz, text, strlen(text), &out, &len, &err) != PGI_OK)
		{
			CHECK(false, "normalize \"%s\": %s", text, err.msg);
			continue;
		}
		CHECK(len == strlen(want) && memcmp(out, want, len) == 0 && out[len] == '\0',
			  "normalize \"%s\" (order %d): got \"%s\"", text, o, out);
		free(out);
	}
}

/* The pieces Split(CLIP, Removed, invert) keeps; joined with '|' */
static void
check_keep(const char *text, const char *want)
{
	uint32_t	cps[256];
	uint8_t		cls[256];
	size_t		n = 0,
				olen = 0;
	char		out[1024];
	PgiError	err;

	if (tok_utf8_to_cps(text, strlen(text), cps, &n, &err) != PGI_OK)
	{
		CHECK(false, "keep: bad UTF-8");
		return;
	}
	tok_bpe_classify(cps, n, cls);
	for (size_t p = 0; p < n;)
	{
		size_t		k = tok_bpe_match(TOK_BPE_PAT_CLIP, cps, cls, n, p);

		if (k == 0)
		{
			p++;				/* not a match: dropped */
			continue;
		}
		if (olen > 0)
			out[olen++] = '|';
		for (size_t i = p; i < p + k; i++)
			olen += (size_t) tok_utf8_encode(cps[i], out + olen);
		p += k;
	}
	out[olen] = '\0';
	CHECK(strcmp(out, want) == 0, "CLIP split \"%s\": got \"%s\", want \"%s\"", text, out, want);
}

/* Append s[0..n) to o as a JSON string; returns the new length */
static size_t
json_lit(char *o, size_t len, const char *s, size_t n)
{
	o[len++] = '"';
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '"' || s[i] == '\\')
			o[len++] = '\\';
		o[len++] = s[i];
	}
	o[len++] = '"';
	return len;
}

/* Merges of the CLIP test vocabulary; merge r gives id 512 + r */
static const char *const clip_merges[][2] = {
	{"i", "n"}, {"t", "h"}, {"th", "e</w>"}, {"in", "g</w>"}, {"'", "s</w>"},
	{"l", "l</w>"}, {"'", "ll</w>"}, {"p", "h"}, {"o", "t"}, {"ph", "ot"}, {"phot", "o</w>"},
	{"c", "a"}, {"ca", "t</w>"}, {"\xc4\xa0", "a</w>"},
};
#define CLIP_MERGES 14
#define CLIP_BOS (512 + CLIP_MERGES)
#define CLIP_EOS (CLIP_BOS + 1)

/* Parts of a CLIP test tokenizer.json that a case replaces (NULL: CLIP's) */
typedef struct ClipJson
{
	int			variant;		/* 1: unk, byte_fallback, ignore_merges (see clip_unit_ref.js) */
	const char *normalizer;
	const char *split;
	const char *prefix;			/* continuing_subword_prefix, a JSON value */
	const char *suffix;			/* end_of_word_suffix, a JSON value */
	const char *decoder;
} ClipJson;

/*
 * A CLIP-style tokenizer.json (malloc'd): byte b is id b, byte b + "</w>"
 * id 256 + b (variant 1: only below 0x80), merges, <|startoftext|>
 * (normalized) and <|endoftext|>; variant 1 adds "photo" and six <0xNN>
 */
static char *
clip_json(const ClipJson *cj)
{
	char	   *o = malloc(65536);
	size_t		len = 0;
	char		u[8];

	len += (size_t) sprintf(o + len, "{\"version\": \"1.0\", \"added_tokens\": ["
							"{\"id\": %d, \"content\": \"<|startoftext|>\", \"single_word\": false, \"lstrip\": false, "
							"\"rstrip\": false, \"normalized\": true, \"special\": true}, "
							"{\"id\": %d, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, "
							"\"rstrip\": false, \"normalized\": false, \"special\": true}], ",
							CLIP_BOS, CLIP_EOS);
	len += (size_t) sprintf(o + len, "\"normalizer\": %s, ", cj->normalizer ? cj->normalizer :
							"{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Replace\", "
							"\"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \" \"}, {\"type\": \"Lowercase\"}]}");
	len += (size_t) sprintf(o + len, "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [%s, "
							"{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
							"\"use_regex\": true}]}, ", cj->split ? cj->split :
							"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d|[\\\\p{L}]+|"
							"[\\\\p{N}]|[^\\\\s\\\\p{L}\\\\p{N}]+\"}, \"behavior\": \"Removed\", \"invert\": true}");
	len += (size_t) sprintf(o + len, "\"post_processor\": {\"type\": \"RobertaProcessing\", "
							"\"sep\": [\"<|endoftext|>\", %d], \"cls\": [\"<|startoftext|>\", %d], "
							"\"trim_offsets\": false, \"add_prefix_space\": false}, \"decoder\": %s, ",
							CLIP_EOS, CLIP_BOS, cj->decoder ? cj->decoder :
							"{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}");
	len += (size_t) sprintf(o + len, "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<|endoftext|>\", "
							"\"continuing_subword_prefix\": %s, \"end_of_word_suffix\": %s, \"fuse_unk\": false, "
							"\"byte_fallback\": %s, \"ignore_merges\": %s, \"vocab\": {",
							cj->prefix ? cj->prefix : "\"\"", cj->suffix ? cj->suffix : "\"</w>\"",
							cj->variant ? "true" : "false", cj->variant ? "true" : "false");
	for (int b = 0; b < 512; b++)
	{
		size_t		n = (size_t) tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), u);

		if (b >= 256 && cj->variant == 1 && b - 256 >= 0x80)
			continue;
		if (b >= 256)
		{
			memcpy(u + n, "</w>", 4);
			n += 4;
		}
		len = json_lit(o, len, u, n);
		len += (size_t) sprintf(o + len, ": %d, ", b);
	}
	for (int r = 0; r < CLIP_MERGES; r++)
	{
		char		m[32];

		snprintf(m, sizeof(m), "%s%s", clip_merges[r][0], clip_merges[r][1]);
		len = json_lit(o, len, m, strlen(m));
		len += (size_t) sprintf(o + len, ": %d, ", 512 + r);
	}
	if (cj->variant == 1)
		len += (size_t) sprintf(o + len, "\"photo\": %d, \"<0x3C>\": %d, \"<0x2F>\": %d, \"<0x77>\": %d, "
								"\"<0x3E>\": %d, \"<0xC2>\": %d, \"<0xA4>\": %d, ", CLIP_EOS + 1,
								CLIP_EOS + 2, CLIP_EOS + 3, CLIP_EOS + 4, CLIP_EOS + 5, CLIP_EOS + 6, CLIP_EOS + 7);
	len += (size_t) sprintf(o + len, "\"<|startoftext|>\": %d, \"<|endoftext|>\": %d}, \"merges\": [",
							CLIP_BOS, CLIP_EOS);
	for (int r = 0; r < CLIP_MERGES; r++)
	{
		len += (size_t) sprintf(o + len, "%s[", r ? ", " : "");
		len = json_lit(o, len, clip_merges[r][0], strlen(clip_merges[r][0]));
		len += (size_t) sprintf(o + len, ", ");
		len = json_lit(o, len, clip_merges[r][1], strlen(clip_merges[r][1]));
		len += (size_t) sprintf(o + len, "]");
	}
	len += (size_t) sprintf(o + len, "]}}");
	o[len] = '\0';
	return o;
}

/* Build a CLIP test tokenizer (NFC: the toy one, which composes e + U+0301) */
static PgiStatus
clip_build(const ClipJson *cj, TokBpe **bpe, PgiError *err)
{
	static int	calls;
	TokBpeOptions opts = {toy_nfc, &calls};
	char	   *text = clip_json(cj);
	PgiStatus	st = tok_bpe_from_json_text(text, strlen(text), &opts, bpe, err);

	free(text);
	return st;
}

/* A string, its reference ids and decodings with and without special tokens */
typedef struct ClipCase
{
	const char *text;
	const int32_t *ids;
	const char *dec;
	const char *skip;
} ClipCase;

static const ClipCase clip_cases[2][14] = {
	{
	{"A Photo OF a CAT", IDS(353, 522, 111, 358, 353, 524),
	 "a</w>photo</w>of</w>a</w>cat</w>", "a</w>photo</w>of</w>a</w>cat</w>"}, /* a</w> photo</w> o f</w> a</w> cat</w> */
	{"I'LL  be   there,\x09I'M", IDS(361, 518, 98, 357, 513, 101, 114, 357, 300, 361, 39, 365),
	 "i</w>'ll</w>be</w>there</w>,</w>i</w>'m</w>", "i</w>'ll</w>be</w>there</w>,</w>i</w>'m</w>"}, /* i</w> 'll</w> b e</w> th e r e</w> ,</w> i</w> ' m</w> */
	{"the cat's 'S", IDS(514, 524, 516, 516),
	 "the</w>cat</w>'s</w>'s</w>", "the</w>cat</w>'s</w>'s</w>"}, /* the</w> cat</w> 's</w> 's</w> */
	{"Ph\xc3\xb3to", IDS(519, 195, 179, 116, 367),
	 "ph\xc3\xb3to</w>", "ph\xc3\xb3to</w>"}, /* ph Ã ³ t o</w> */
	{"\xce\xa3\xce\x91\xce\xa3", IDS(207, 131, 206, 177, 207, 387),
	 "\xcf\x83\xce\xb1\xcf\x83</w>", "\xcf\x83\xce\xb1\xcf\x83</w>"}, /* Ï ĥ Î ± Ï ĥ</w> */
	{"\xc4\xb0", IDS(361, 204, 391),
	 "i</w>\xcc\x87</w>", "i</w>\xcc\x87</w>"}, /* i</w> Ì ĩ</w> */
	{"12 \xc2\xbd", IDS(305, 306, 194, 445),
	 "1</w>2</w>\xc2\xbd</w>", "1</w>2</w>\xc2\xbd</w>"}, /* 1</w> 2</w> Â ½</w> */
	{"cafe\xcc\x81", IDS(523, 102, 195, 425),
	 "caf\xc3\xa9</w>", "caf\xc3\xa9</w>"}, /* ca f Ã ©</w> */
	{"<|startoftext|>A photo<|endoftext|>", IDS(526, 353, 522, 527),
	 "<|startoftext|>a</w>photo</w><|endoftext|>", "a</w>photo</w>"}, /* <|startoftext|> a</w> photo</w> <|endoftext|> */
	{"<|STARTOFTEXT|>a  cat", IDS(526, 353, 524),
	 "<|startoftext|>a</w>cat</w>", "a</w>cat</w>"}, /* <|startoftext|> a</w> cat</w> */
	{"x\xe3\x80\x80\xe3\x80\x80 a\xc2\xa0", IDS(376, 353),
	 "x</w>a</w>", "x</w>a</w>"}, /* x</w> a</w> */
	{"a</w>", IDS(353, 60, 303, 375, 318),
	 "a</w></</w>w</w>></w>", "a</w></</w>w</w>></w>"}, /* a</w> < /</w> w</w> ></w> */
	{"x\xc3\xa4 \xc3\xa9", IDS(120, 195, 420, 195, 425),
	 "x\xc3\xa4</w>\xc3\xa9</w>", "x\xc3\xa4</w>\xc3\xa9</w>"}, /* x Ã ¤</w> Ã ©</w> */
	{"photo photos ing", IDS(522, 521, 111, 371, 515),
	 "photo</w>photos</w>ing</w>", "photo</w>photos</w>ing</w>"}, /* photo</w> phot o s</w> ing</w> */
	},
	{
	{"A Photo OF a CAT", IDS(97, 528, 111, 358, 97, 524),
	 "aphotoof</w>acat</w>", "aphotoof</w>acat</w>"}, /* a photo o f</w> a cat</w> */
	{"I'LL  be   there,\x09I'M", IDS(105, 518, 98, 357, 513, 101, 114, 357, 44, 105, 39, 365),
	 "i'll</w>be</w>there</w>,i'm</w>", "i'll</w>be</w>there</w>,i'm</w>"}, /* i 'll</w> b e</w> th e r e</w> , i ' m</w> */
	{"the cat's 'S", IDS(514, 524, 516, 516),
	 "the</w>cat</w>'s</w>'s</w>", "the</w>cat</w>'s</w>'s</w>"}, /* the</w> cat</w> 's</w> 's</w> */
	{"Ph\xc3\xb3to", IDS(519, 195, 179, 116, 367),
	 "ph\xc3\xb3to</w>", "ph\xc3\xb3to</w>"}, /* ph Ã ³ t o</w> */
	{"\xce\xa3\xce\x91\xce\xa3", IDS(207, 131, 206, 177, 207, 527),
	 "\xcf\x83\xce\xb1\xef\xbf\xbd<|endoftext|>", "\xcf\x83\xce\xb1\xef\xbf\xbd"}, /* Ï ĥ Î ± Ï <|endoftext|> */
	{"\xc4\xb0", IDS(105, 204, 527),
	 "i\xef\xbf\xbd<|endoftext|>", "i\xef\xbf\xbd"}, /* i Ì <|endoftext|> */
	{"12 \xc2\xbd", IDS(49, 50, 194, 527),
	 "12\xef\xbf\xbd<|endoftext|>", "12\xef\xbf\xbd"}, /* 1 2 Â <|endoftext|> */
	{"cafe\xcc\x81", IDS(523, 102, 195, 527),
	 "caf\xef\xbf\xbd<|endoftext|>", "caf\xef\xbf\xbd"}, /* ca f Ã <|endoftext|> */
	{"<|startoftext|>A photo<|endoftext|>", IDS(526, 97, 528, 527),
	 "<|startoftext|>aphoto<|endoftext|>", "aphoto"}, /* <|startoftext|> a photo <|endoftext|> */
	{"<|STARTOFTEXT|>a  cat", IDS(526, 97, 524),
	 "<|startoftext|>acat</w>", "acat</w>"}, /* <|startoftext|> a cat</w> */
	{"x\xe3\x80\x80\xe3\x80\x80 a\xc2\xa0", IDS(120, 97),
	 "xa", "xa"}, /* x a */
	{"a</w>", IDS(97, 60, 303, 119, 62),
	 "a</</w>w>", "a</</w>w>"}, /* a < /</w> w > */
	{"x\xc3\xa4 \xc3\xa9", IDS(120, 195, 533, 534, 529, 530, 531, 532, 195, 527),
	 "x\xef\xbf\xbd<0xC2><0xA4><0x3C><0x2F><0x77><0x3E>\xef\xbf\xbd<|endoftext|>", "x\xef\xbf\xbd<0xC2><0xA4><0x3C><0x2F><0x77><0x3E>\xef\xbf\xbd"}, /* x Ã <0xC2> <0xA4> <0x3C> <0x2F> <0x77> <0x3E> Ã <|endoftext|> */
	{"photo photos ing", IDS(528, 521, 111, 371, 515),
	 "photophotos</w>ing</w>", "photophotos</w>ing</w>"}, /* photo phot o s</w> ing</w> */
	},
};

static void
test_clip(void)
{
	TokBpe	   *bpe;
	PgiError	err;
	const TokBpeInfo *info;

	/* the normalizer steps */
	check_norm("  A\xc2\xa0\xc2\xa0\x42\x09\x0d\x0a\x43  ", " a b c ", " a b c ");
	check_norm("\xce\xa3\xce\x91\xce\xa3 \xc4\xb0 \xe1\xba\x9e \xc7\x85 \xe2\x85\xa8", "\xcf\x83\xce\xb1\xcf\x83 i\xcc\x87 \xc3\x9f \xc7\x86 \xe2\x85\xb8", "\xcf\x83\xce\xb1\xcf\x83 i\xcc\x87 \xc3\x9f \xc7\x86 \xe2\x85\xb8");
	check_norm("\xe3\x80\x80\xe2\x80\xa8x\xc2\x85\xe1\xa0\x8e\xe2\x80\x8by\x1c", " x \xe1\xa0\x8e\xe2\x80\x8by\x1c", " x \xe1\xa0\x8e\xe2\x80\x8by\x1c");
	check_norm("Caf\xc3\x89 \xe2\x84\xaa \xe2\x84\xa6", "caf\xc3\xa9 k \xcf\x89", "caf\xc3\xa9 k \xcf\x89");

	/* CLIP's pattern: contractions only lower case, one digit at a time, no whitespace */
	check_keep("i'LL be there", "i|'|LL|be|there");
	check_keep("it's 'S x'", "it|'s|'|S|x|'");
	check_keep("''s '' 're", "''|s|''|'re");
	check_keep("a1b22 \xc2\xbd\xe2\x85\xa7", "a|1|b|2|2|\xc2\xbd|\xe2\x85\xa7");
	check_keep("hello!!!  ...world?", "hello|!!!|...|world|?");
	check_keep("caf\xc3\xa9\xcc\x81s \xc3\xa9t\xc3\xa9", "caf\xc3\xa9|\xcc\x81|s|\xc3\xa9t\xc3\xa9");
	check_keep("\xe3\x80\x80x\xc2\xa0\x09y\x0a", "x|y");
	check_keep("a</w>b", "a|</|w|>|b");
	check_keep("don't'll've'd", "don|'t|'ll|'ve|'d");
	check_keep("\xe2\x80\x99s '\xc5\xbf", "\xe2\x80\x99|s|'|\xc5\xbf");
	check_keep("\xf0\x9f\x98\x80\xf0\x9f\x98\x80x\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80|x|\xf0\x9f\x98\x80");
	CHECK(strcmp(tok_bpe_pattern_regex(TOK_BPE_PAT_CLIP),
				 "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+") == 0, "CLIP regex");

	for (int v = 0; v < 2; v++)
	{
		ClipJson	cj = {v, NULL, NULL, NULL, NULL, NULL};

		if (clip_build(&cj, &bpe, &err) != PGI_OK)
		{
			CHECK(false, "CLIP variant %d: %s", v, err.msg);
			continue;
		}
		info = tok_bpe_info(bpe);
		CHECK(strcmp(info->pre, "clip") == 0 && info->nfc && info->lowercase && info->suffix &&
			  info->add_bos && info->bos_id == CLIP_BOS && info->add_eos && info->eos_id == CLIP_EOS &&
			  info->unk_id == CLIP_EOS && info->ignore_merges == (v == 1),
			  "CLIP variant %d info (pre %s, BOS %d, EOS %d)", v, info->pre, info->bos_id, info->eos_id);
		for (int i = 0; i < 14; i++)
		{
			const ClipCase *c = &clip_cases[v][i];
			size_t		n = 0;

			while (c->ids[n] != -2)
				n++;
			check_ids(bpe, c->text, c->ids, v ? "CLIP variant 1" : "CLIP");
			check_decode(bpe, c->ids, n, false, c->dec, strlen(c->dec), "CLIP decode");
			check_decode(bpe, c->ids, n, true, c->skip, strlen(c->skip), "CLIP decode, no specials");
		}
		tok_bpe_free(bpe);
	}
}

/* What a CLIP-style tokenizer.json may not change */
static void
test_clip_refused(void)
{
	static const struct
	{
		ClipJson	cj;
		PgiStatus	want;
		const char *what;
	}			cases[] = {
		{{0, "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s\"}, \"content\": \" \"}", NULL, NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "Replace with another pattern"},
		{{0, "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \"_\"}", NULL, NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "Replace with another content"},
		{{0, "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \" \"}", NULL, NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "Replace of a String"},
		{{0, "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"NFKC\"}]}", NULL, NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "NFKC in a Sequence"},
		{{0, "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}, "
			"{\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}, "
			"{\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}, {\"type\": \"Lowercase\"}]}", NULL, NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "more than 8 normalizer steps"},
		{{0, NULL, "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d|[\\\\p{L}]+|"
			"[\\\\p{N}]|[^\\\\s\\\\p{L}\\\\p{N}]+\"}, \"behavior\": \"Removed\", \"invert\": false}", NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "Split Removed without invert"},
		{{0, NULL, "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d|[\\\\p{L}]+|"
			"[\\\\p{N}]|[^\\\\s\\\\p{L}\\\\p{N}]+\"}, \"behavior\": \"MergedWithPrevious\", \"invert\": true}", NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "Split MergedWithPrevious"},
		{{0, NULL, "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[\\\\p{L}]+|[\\\\p{N}]\"}, \"behavior\": \"Removed\", "
			"\"invert\": true}", NULL, NULL, NULL},
		PGI_ERR_UNSUPPORTED, "another pattern, Removed and inverted"},
		{{0, NULL, NULL, "\"##\"", NULL, NULL},
		PGI_ERR_UNSUPPORTED, "a continuing_subword_prefix with the suffix"},
		{{0, NULL, NULL, "7", NULL, NULL},
		PGI_ERR_CORRUPT, "a continuing_subword_prefix that is not a string"},
		{{0, NULL, NULL, NULL, "false", NULL},
		PGI_ERR_CORRUPT, "an end_of_word_suffix that is not a string"},
		{{0, NULL, NULL, NULL, "\"</w></w></w></w></w></w></w></w></w></w></w></w></w></w></w></w></w>\"", NULL},
		PGI_ERR_LIMIT, "an end_of_word_suffix longer than 64 bytes"},
		{{0, NULL, NULL, NULL, NULL, "{\"type\": \"BPEDecoder\", \"suffix\": \"</w>\"}"},
		PGI_ERR_UNSUPPORTED, "the BPEDecoder"},
	};
	TokBpe	   *bpe;
	PgiError	err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		PgiStatus	st = clip_build(&cases[i].cj, &bpe, &err);

		CHECK(st == cases[i].want && bpe == NULL && err.msg[0], "refused: %s (status %d)", cases[i].what, st);
		if (st == PGI_OK)
			tok_bpe_free(bpe);
	}
}

/* CLIP-style variants that are accepted (ids from the reference) */
static void
test_clip_variants(void)
{
	TokBpe	   *bpe;
	PgiError	err;
	ClipJson	other_suffix = {0, NULL, NULL, NULL, "\"</x>\"", NULL};
	ClipJson	isolated = {0, NULL, "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d|"
		"[\\\\p{L}]+|[\\\\p{N}]|[^\\\\s\\\\p{L}\\\\p{N}]+\"}, \"behavior\": \"Isolated\", \"invert\": true}",
	NULL, NULL, NULL};

	/* a suffix no token has: every last symbol is unknown (<|endoftext|>) */
	CHECK(clip_build(&other_suffix, &bpe, &err) == PGI_OK, "suffix </x>: %s", err.msg);
	check_ids(bpe, "a cat", IDS(527, 523, 527), "suffix </x>");	/* <|endoftext|> ca <|endoftext|> */
	tok_bpe_free(bpe);
	/* Isolated ignores invert: the whitespace between CLIP's matches is a word */
	CHECK(clip_build(&isolated, &bpe, &err) == PGI_OK && strcmp(tok_bpe_info(bpe)->pre, "custom") == 0,
		  "Split Isolated, inverted: %s", err.msg);
	check_ids(bpe, "A  cat!", IDS(353, 288, 524, 289), "Split Isolated, inverted");	/* a</w> Ġ</w> cat</w> !</w> */
	tok_bpe_free(bpe);
}

static void
test_long_words(void)
{
	Vocab		v;
	TokBpeSpec	s;
	TokBpe	   *bpe;
	PgiError	err;
	TokBpeIds	ids = {0};
	size_t		n = 100000;
	char	   *text = malloc(n + 1);
	clock_t		t0;
	bool		all_ll = true;
	double		secs;

	vocab_init(&v, NULL, NULL, 0);
	spec_init(&s, &v);
	CHECK(tok_bpe_new(&s, NULL, &bpe, &err) == PGI_OK, "build long");
	/* 10^5 l's: one word, 50,000 "ll" (ties go left to right) */
	memset(text, 'l', n);
	t0 = clock();
	CHECK(tok_bpe_encode(bpe, text, n, &ids, &err) == PGI_OK && ids.len == n / 2, "long word");
	for (size_t i = 0; i < ids.len; i++)
		all_ll &= ids.ids[i] == ID_LL;
	CHECK(all_ll, "long word is all ll");
	/* "hello" repeated as one word: he ll o each time */
	for (size_t i = 0; i < n; i++)
		text[i] = "hello"[i % 5];
	ids.len = 0;
	CHECK(tok_bpe_encode(bpe, text, n, &ids, &err) == PGI_OK && ids.len == 3 * n / 5, "long hello word");
	/* 10^5 spaces then x: a run of 99,999 spaces and " x" */
	memset(text, ' ', n);
	text[n - 1] = 'x';
	ids.len = 0;
	CHECK(tok_bpe_encode(bpe, text, n, &ids, &err) == PGI_OK && ids.len == n, "long space run");
	secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0, "long words in %.2f s", secs);
	free(ids.ids);
	free(text);
	tok_bpe_free(bpe);
}

int
main(void)
{
	test_byte_map();
	test_patterns();
	test_model();
	test_unknown();
	test_added();
	test_gguf();
	test_json();
	test_clip();
	test_clip_refused();
	test_clip_variants();
	test_long_words();
	return UNIT_DONE("tok_bpe");
}
