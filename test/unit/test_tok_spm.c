/*
 * test_tok_spm.c
 *	  Unit tests of SentencePiece tokenisation (src/core/tokenizers/tok_spm_proto.c,
 *	  src/core/tokenizers/tok_spm_shim.cpp).
 *
 * References, none of them our C code:
 *	- hand-worked segmentations of a twelve-piece vocabulary under BPE
 *	  (merge the best-scoring adjacent pair whose union is a piece) and
 *	  unigram (best total score), checked once against Python's
 *	  sentencepiece on the same bytes;
 *	- hand-built hostile models (bad wire format, bad piece types, broken
 *	  normaliser tries that make libsentencepiece itself read out of
 *	  bounds), each expected to fail with a stated status;
 *	- a hand-built GGUF vocabulary and its keys;
 *	- the shared model files (../shared/models), against the token ids in
 *	  their READMEs (llama2.c run.c and llama.cpp); skipped when absent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/tokenizers/tok_spm.h"
#include "unit.h"

#define SHARED "../shared/models/"
#define N_SMALL 12

/* The small vocabulary: piece, score, type */
static const char *const small_pieces[N_SMALL] = {
	"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "c", "ab",
	"\xe2\x96\x81" "ab", "abc", "\xe2\x96\x81" "abc", "\xe2\x96\x81" "c"
};
static const float small_scores[N_SMALL] = {0, 0, 0, -1, -2, -3, -4, -5, -6, -7, -7.5f, -9};
static const int32_t small_types[N_SMALL] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* Pieces, lengths, scores and types of a vocabulary under construction */
typedef struct Vocab
{
	const char *pieces[N_SMALL + 256];
	size_t		lens[N_SMALL + 256];
	float		scores[N_SMALL + 256];
	int32_t		types[N_SMALL + 256];
	char		bytes[256][7];
	TokSpmVocab v;
} Vocab;

/* Fill vo with the small vocabulary, plus the 256 byte pieces if asked */
static void
small_vocab(Vocab *vo, TokSpmModelType type, bool bytes)
{
	size_t		n = N_SMALL;

	memset(vo, 0, sizeof(*vo));
	for (size_t i = 0; i < N_SMALL; i++)
	{
		vo->pieces[i] = small_pieces[i];
		vo->lens[i] = strlen(small_pieces[i]);
		vo->scores[i] = small_scores[i];
		vo->types[i] = small_types[i];
	}
	for (int b = 0; bytes && b < 256; b++, n++)
	{
		snprintf(vo->bytes[b], sizeof(vo->bytes[b]), "<0x%02X>", b);
		vo->pieces[n] = vo->bytes[b];
		vo->lens[n] = 6;
		vo->scores[n] = 0;
		vo->types[n] = TOK_SPM_BYTE;
	}
	vo->v.n = n;
	vo->v.pieces = vo->pieces;
	vo->v.piece_lens = vo->lens;
	vo->v.scores = vo->scores;
	vo->v.types = vo->types;
	vo->v.model_type = type;
	vo->v.unk_id = 0;
	vo->v.bos_id = 1;
	vo->v.eos_id = 2;
	vo->v.pad_id = -1;
	vo->v.byte_fallback = bytes;
	vo->v.add_dummy_prefix = true;
	vo->v.remove_extra_whitespaces = false;
}

/* Build and open a vocabulary; NULL (and a failed check) on error */
static TokSpm *
open_vocab(const TokSpmVocab *v)
{
	uint8_t    *proto;
	size_t		len;
	TokSpm	   *sp = NULL;
	PgiError	err;

	if (tok_spm_proto_build(v, &proto, &len, &err) != PGI_OK)
	{
		CHECK(false, "build: %s", err.msg);
		return NULL;
	}
	if (tok_spm_open(proto, len, &sp, &err) != PGI_OK)
		CHECK(false, "open: %s (%s)", err.msg, err.detail);
	free(proto);
	return sp;
}

/* Does encoding text give exactly want[0..n-1]? */
static bool
encodes_to(const TokSpm *sp, const char *text, size_t len, const int32_t *want, size_t n)
{
	int32_t    *ids;
	size_t		n_ids;
	PgiError	err;
	bool		ok;

	if (tok_spm_encode(sp, text, len, &ids, &n_ids, &err) != PGI_OK)
		return false;
	ok = n_ids == n && (n == 0 || memcmp(ids, want, n * sizeof(int32_t)) == 0);
	if (!ok)
	{
		fprintf(stderr, "  \"%.*s\" gave", (int) len, text);
		for (size_t i = 0; i < n_ids; i++)
			fprintf(stderr, " %d", (int) ids[i]);
		fputc('\n', stderr);
	}
	free(ids);
	return ok;
}

#define ENCODES(sp, s, ...) \
	encodes_to((sp), (s), strlen(s), (const int32_t[]) {__VA_ARGS__}, \
			   sizeof((const int32_t[]) {__VA_ARGS__}) / sizeof(int32_t))

/* Does decoding ids give exactly text? */
static bool
decodes_to(const TokSpm *sp, const int32_t *ids, size_t n, const char *text)
{
	char	   *out;
	size_t		len;
	PgiError	err;
	bool		ok;

	if (tok_spm_decode(sp, ids, n, &out, &len, &err) != PGI_OK)
		return false;
	ok = len == strlen(text) && memcmp(out, text, len) == 0 && out[len] == '\0';
	if (!ok)
		fprintf(stderr, "  decoded \"%s\"\n", out);
	free(out);
	return ok;
}

/* Writer round trip: what tok_spm_proto_build wrote, checked and used */
static void
test_writer_round_trip(void)
{
	Vocab		vo;
	uint8_t    *proto;
	size_t		len;
	TokSpmInfo	info;
	PgiError	err;
	TokSpm	   *sp;

	small_vocab(&vo, TOK_SPM_BPE, false);
	CHECK(tok_spm_proto_build(&vo.v, &proto, &len, &err) == PGI_OK, "build: %s", err.msg);
	CHECK(tok_spm_proto_check(proto, len, &info, &err) == PGI_OK, "check: %s", err.msg);
	CHECK(info.n_pieces == N_SMALL && info.model_type == TOK_SPM_BPE &&
		  info.unk_id == 0 && info.bos_id == 1 && info.eos_id == 2 && info.pad_id == -1,
		  "checked info");
	CHECK(info.add_dummy_prefix && !info.remove_extra_whitespaces &&
		  info.escape_whitespaces && !info.byte_fallback && !info.has_charsmap,
		  "checked flags");
	free(proto);

	sp = open_vocab(&vo.v);
	if (sp == NULL)
		return;
	CHECK(tok_spm_n_pieces(sp) == N_SMALL, "n_pieces");
	for (int32_t i = 0; i < N_SMALL; i++)
	{
		size_t		n;
		const char *p = tok_spm_id_to_piece(sp, i, &n);

		CHECK(p != NULL && n == strlen(small_pieces[i]) && memcmp(p, small_pieces[i], n) == 0,
			  "id_to_piece %d", (int) i);
		CHECK(tok_spm_piece_to_id(sp, small_pieces[i], strlen(small_pieces[i])) == i,
			  "piece_to_id %d", (int) i);
	}
	{
		size_t		n;

		CHECK(tok_spm_id_to_piece(sp, N_SMALL, &n) == NULL && tok_spm_id_to_piece(sp, -1, &n) == NULL,
			  "id_to_piece out of range");
	}
	CHECK(tok_spm_piece_to_id(sp, "zz", 2) == -1, "piece_to_id of an absent piece");
	CHECK(tok_spm_piece_to_id(sp, "", 0) == -1, "piece_to_id of nothing");

	/* BPE: ab (-5), then the dummy-prefixed ▁ab (-6) over abc (-7), then ▁abc */
	CHECK(ENCODES(sp, "abc", 10), "BPE abc");
	CHECK(ENCODES(sp, "ab c", 8, 11), "BPE ab c");
	CHECK(ENCODES(sp, "cab", 11, 7), "BPE cab");
	CHECK(ENCODES(sp, "x", 3, 0), "BPE unknown character");
	CHECK(encodes_to(sp, "", 0, NULL, 0), "empty text, no ids");
	CHECK(ENCODES(sp, "<s>", 3, 0), "<s> in text is not BOS (unknown runs are one <unk>)");
	CHECK(decodes_to(sp, (const int32_t[]) {10, 8, 11}, 3, "abc ab c"), "decode");
	CHECK(decodes_to(sp, (const int32_t[]) {1, 10, 2}, 3, "abc"), "decode drops controls");
	CHECK(decodes_to(sp, NULL, 0, ""), "decode nothing");
	tok_spm_free(sp);
}

/* The same pieces as a unigram model, and without the dummy prefix */
static void
test_unigram_and_flags(void)
{
	Vocab		vo;
	TokSpm	   *sp;

	small_vocab(&vo, TOK_SPM_UNIGRAM, false);
	sp = open_vocab(&vo.v);
	if (sp != NULL)
	{
		/* ▁abc -7.5 beats ▁+abc -8 and ▁ab+c -10 */
		CHECK(ENCODES(sp, "abc", 10), "unigram abc");
		/* ▁+c+ab -10 beats ▁c+ab -14 (BPE took ▁c: it merges, not scores) */
		CHECK(ENCODES(sp, "cab", 3, 6, 7), "unigram cab");
		CHECK(tok_spm_info(sp)->model_type == TOK_SPM_UNIGRAM, "unigram info");
		tok_spm_free(sp);
	}

	small_vocab(&vo, TOK_SPM_BPE, false);
	vo.v.add_dummy_prefix = false;
	sp = open_vocab(&vo.v);
	if (sp != NULL)
	{
		CHECK(ENCODES(sp, "abc", 9), "no dummy prefix: abc");
		CHECK(ENCODES(sp, "ab c", 7, 11), "no dummy prefix: ab c");
		CHECK(!tok_spm_info(sp)->add_dummy_prefix, "no dummy prefix info");
		tok_spm_free(sp);
	}

	small_vocab(&vo, TOK_SPM_BPE, false);
	vo.v.remove_extra_whitespaces = true;
	sp = open_vocab(&vo.v);
	if (sp != NULL)
	{
		CHECK(ENCODES(sp, "  ab   c  ", 8, 11), "extra spaces removed");
		tok_spm_free(sp);
	}
	small_vocab(&vo, TOK_SPM_BPE, false);
	sp = open_vocab(&vo.v);
	if (sp != NULL)
	{
		CHECK(ENCODES(sp, " ab  c", 3, 8, 3, 11), "extra spaces kept");
		tok_spm_free(sp);
	}
}

/* Byte fallback, and text that is not valid UTF-8 */
static void
test_bytes(void)
{
	Vocab		vo;
	TokSpm	   *sp;
	int32_t		b0 = N_SMALL;

	small_vocab(&vo, TOK_SPM_BPE, true);
	sp = open_vocab(&vo.v);
	if (sp == NULL)
		return;
	CHECK(tok_spm_info(sp)->byte_fallback, "byte_fallback info");
	CHECK(ENCODES(sp, "\xc3\xa9", 3, b0 + 0xc3, b0 + 0xa9), "é as bytes");
	CHECK(ENCODES(sp, "a\xc3\xa9", 3, 4, b0 + 0xc3, b0 + 0xa9), "aé");
	/* an invalid byte is U+FFFD, that is EF BF BD */
	CHECK(ENCODES(sp, "a\xff" "b", 3, 4, b0 + 0xef, b0 + 0xbf, b0 + 0xbd, 5), "a 0xff b");
	CHECK(ENCODES(sp, "\xed\xa0\x80", 3, b0 + 0xef, b0 + 0xbf, b0 + 0xbd, b0 + 0xef,
				  b0 + 0xbf, b0 + 0xbd, b0 + 0xef, b0 + 0xbf, b0 + 0xbd), "a surrogate is 3 bad bytes");
	CHECK(ENCODES(sp, "\xc3", 3, b0 + 0xef, b0 + 0xbf, b0 + 0xbd), "truncated sequence");
	CHECK(encodes_to(sp, "a\0b", 3, (const int32_t[]) {3, 4, b0, 5}, 4), "NUL is a byte");
	CHECK(decodes_to(sp, (const int32_t[]) {3, b0 + 0xc3, b0 + 0xa9}, 3, "\xc3\xa9"), "decode é");
	CHECK(decodes_to(sp, (const int32_t[]) {b0 + 0xff}, 1, "\xef\xbf\xbd"),
		  "a lone invalid byte decodes to U+FFFD");
	tok_spm_free(sp);
}

/* Limits and bad arguments */
static void
test_limits(void)
{
	Vocab		vo;
	TokSpm	   *sp;
	PgiError	err;
	int32_t    *ids;
	size_t		n;
	char	   *text;
	char	   *big;

	small_vocab(&vo, TOK_SPM_BPE, false);
	sp = open_vocab(&vo.v);
	if (sp == NULL)
		return;
	CHECK(tok_spm_decode(sp, (const int32_t[]) {4, N_SMALL}, 2, &text, &n, &err) == PGI_ERR_PARAM &&
		  text == NULL, "decode id past the vocabulary");
	CHECK(tok_spm_decode(sp, (const int32_t[]) {-1}, 1, &text, &n, &err) == PGI_ERR_PARAM,
		  "decode negative id");
	big = malloc((size_t) TOK_SPM_MAX_TEXT + 1);
	if (big != NULL)
	{
		memset(big, 'a', (size_t) TOK_SPM_MAX_TEXT + 1);
		CHECK(tok_spm_encode(sp, big, (size_t) TOK_SPM_MAX_TEXT + 1, &ids, &n, &err) == PGI_ERR_LIMIT &&
			  ids == NULL, "text too long");
		free(big);
	}
	CHECK(tok_spm_encode(sp, NULL, 3, &ids, &n, &err) == PGI_ERR_PARAM, "NULL text");
	tok_spm_free(sp);
	tok_spm_free(NULL);
}

/* A protobuf writer for hostile models */
typedef struct Bytes
{
	uint8_t		b[1 << 18];
	size_t		n;
} Bytes;

/* Append a varint */
static void
b_varint(Bytes *o, uint64_t v)
{
	do
	{
		o->b[o->n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

/* Append a length-delimited field */
static void
b_field(Bytes *o, uint32_t num, const void *p, size_t len)
{
	b_varint(o, (uint64_t) num << 3 | 2);
	b_varint(o, len);
	memcpy(o->b + o->n, p, len);
	o->n += len;
}

/* Append the small BPE vocabulary's proto */
static void
b_small(Bytes *o)
{
	Vocab		vo;
	uint8_t    *proto;
	size_t		len;
	PgiError	err;

	small_vocab(&vo, TOK_SPM_BPE, false);
	if (tok_spm_proto_build(&vo.v, &proto, &len, &err) != PGI_OK)
		abort();
	memcpy(o->b + o->n, proto, len);
	o->n += len;
	free(proto);
}

/* Status of opening o, and no processor unless it is PGI_OK */
static PgiStatus
open_status(const Bytes *o)
{
	TokSpm	   *sp = NULL;
	PgiError	err;
	PgiStatus	st = tok_spm_open(o->b, o->n, &sp, &err);

	if ((st == PGI_OK) != (sp != NULL) || (st != PGI_OK && err.msg[0] == '\0'))
		return (PgiStatus) -1;
	tok_spm_free(sp);
	return st;
}

/* Open small BPE bytes with one extra top-level field appended */
static PgiStatus
with_extra(const uint8_t *field, size_t len)
{
	static Bytes o;

	o.n = 0;
	b_small(&o);
	memcpy(o.b + o.n, field, len);
	o.n += len;
	return open_status(&o);
}

/* Malformed and hostile model bytes */
static void
test_corrupt_protos(void)
{
	static Bytes o;
	size_t		full;
	size_t		n_ok = 0;
	PgiError	err;
	TokSpm	   *sp;

	o.n = 0;
	CHECK(open_status(&o) == PGI_ERR_CORRUPT, "empty model");
	memcpy(o.b, "not a model at all", 18);
	o.n = 18;
	CHECK(open_status(&o) == PGI_ERR_CORRUPT, "text");

	/* every truncation is refused or, cut at a field boundary, still sane */
	o.n = 0;
	b_small(&o);
	full = o.n;
	for (size_t cut = 0; cut < full; cut++)
	{
		PgiStatus	st;

		o.n = cut;
		st = open_status(&o);
		CHECK(st == PGI_OK || st == PGI_ERR_CORRUPT, "truncated at %zu: %d", cut, (int) st);
		n_ok += st == PGI_OK;
	}
	CHECK(n_ok <= N_SMALL + 2, "only cuts between fields accepted (%zu)", n_ok);

	CHECK(with_extra((const uint8_t[]) {0x0a, 0x05, 0x0a, 0x03, 'x', 'y', 'z', 0x18}, 8) ==
		  PGI_ERR_CORRUPT, "piece cut inside");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x05, 0x0a, 0x01, 'q', 0x18, 0x09}, 7) ==
		  PGI_ERR_CORRUPT, "piece type 9");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x02, 0x18, 0x01}, 4) ==
		  PGI_ERR_CORRUPT, "piece without text");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x03, 0x0d, 'q', 0x00}, 5) ==
		  PGI_ERR_CORRUPT, "piece text with a fixed32 wire type");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x03, 0x0a, 0x01, 0x00}, 5) ==
		  PGI_ERR_CORRUPT, "NUL piece (libsentencepiece would throw and leak)");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x03, 0x0a, 0x01, 0xff}, 5) ==
		  PGI_ERR_CORRUPT, "piece that is not UTF-8");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x05, 0x0a, 0x03, 0xed, 0xa0, 0x80}, 7) ==
		  PGI_ERR_CORRUPT, "piece with a surrogate");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x03, 0x0a, 0x01, 'a'}, 5) ==
		  PGI_ERR_CORRUPT, "duplicate piece (refused by libsentencepiece)");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x0a, 0x0a, 0x06, '<', '0', 'x', '4', '1', '>', 0x18, 0x06}, 12) ==
		  PGI_ERR_CORRUPT, "byte piece without byte fallback");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0x05, 0x0a, 0x01, 'q', 0x18, 0x02}, 7) ==
		  PGI_ERR_CORRUPT, "second unknown piece");
	CHECK(with_extra((const uint8_t[]) {0x12, 0x02, 0x18, 0x07}, 4) ==
		  PGI_ERR_CORRUPT, "model_type 7");
	CHECK(with_extra((const uint8_t[]) {0x12, 0x02, 0x18, 0x03}, 4) == PGI_OK,
		  "model_type 3 (word) is fine");
	CHECK(with_extra((const uint8_t[]) {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6) ==
		  PGI_ERR_CORRUPT, "length past the end");
	CHECK(with_extra((const uint8_t[]) {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 11) ==
		  PGI_ERR_CORRUPT, "varint longer than 64 bits");
	CHECK(with_extra((const uint8_t[]) {0x0b, 0x0c}, 2) == PGI_ERR_CORRUPT, "group");
	CHECK(with_extra((const uint8_t[]) {0x00, 0x00}, 2) == PGI_ERR_CORRUPT, "field number 0");
	CHECK(with_extra((const uint8_t[]) {0x08, 0x01}, 2) == PGI_ERR_CORRUPT,
		  "pieces field as a varint");
	CHECK(with_extra((const uint8_t[]) {0xb8, 0x06, 0x01, 0xfa, 0x0c, 0x01, 'z'}, 7) == PGI_OK,
		  "unknown fields are skipped");
	/* a piece with an empty text, as a whole message */
	o.n = 0;
	b_field(&o, 1, (const uint8_t[]) {0x0a, 0x00, 0x18, 0x02}, 4);
	CHECK(open_status(&o) == PGI_ERR_CORRUPT, "empty piece text");
	/* no unknown piece: libsentencepiece refuses */
	o.n = 0;
	b_field(&o, 1, (const uint8_t[]) {0x0a, 0x01, 'a'}, 3);
	CHECK(open_status(&o) == PGI_ERR_CORRUPT, "no unknown piece");
	CHECK(tok_spm_open(o.b, (size_t) TOK_SPM_MAX_PROTO + 1, &sp, &err) == PGI_ERR_LIMIT && sp == NULL,
		  "model too large");
	CHECK(tok_spm_proto_check(o.b, 0, NULL, &err) == PGI_ERR_CORRUPT, "check: no pieces");
}

/* darts-clone unit with a label, leaf flag and offset (offset < 2^21) */
static uint32_t
unit(uint32_t label, bool leaf, uint32_t offset)
{
	return label | (leaf ? 0x100u : 0) | offset << 10;
}

/* Little-endian store */
static void
st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/*
 * A precompiled_charsmap for "A", "AA", ... (depth keys) each mapped to
 * "a" (a leaf on every node when leaves, else only at the end): node k
 * has its children at base 256 * (k + 1); every unused unit gets a label
 * no lookup matches.  Returns the blob length.
 */
static size_t
make_charsmap(uint8_t *blob, int depth, bool leaves)
{
	uint32_t	n_units = 256 * (uint32_t) (depth + 2);
	uint8_t    *trie = blob + 4;

	st32(blob, n_units * 4);
	for (uint32_t p = 0; p < n_units; p++)
		st32(trie + p * 4, ((p & 0xff) ^ 1) | 0x80000000u);
	st32(trie, unit(0, false, 256));	/* root: base 256 */
	for (int k = 0; k < depth; k++)
	{
		uint32_t	base = 256 * (uint32_t) (k + 1);
		uint32_t	pos = base ^ 'A';
		uint32_t	child = base + 256;
		bool		leaf = leaves || k == depth - 1;

		st32(trie + pos * 4, unit('A', leaf, pos ^ child));
		if (leaf)
			st32(trie + child * 4, 0x80000000u | 0);	/* value 0: "a" */
	}
	memcpy(trie + n_units * 4, "a\0", 2);
	return 4 + n_units * 4 + 2;
}

/* Small BPE model with a normalizer_spec carrying blob */
static PgiStatus
open_with_charsmap(const uint8_t *blob, size_t len, TokSpm **out)
{
	static Bytes o;
	static uint8_t spec[1 << 17];
	size_t		n = 0;
	PgiError	err;

	o.n = 0;
	b_small(&o);
	/* a second normalizer_spec merges into the first */
	spec[n++] = 0x12;
	{
		uint64_t	v = len;

		do
		{
			spec[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			v >>= 7;
		} while (v);
	}
	memcpy(spec + n, blob, len);
	n += len;
	b_field(&o, 3, spec, n);
	*out = NULL;
	return tok_spm_open(o.b, o.n, out, &err);
}

/* Normaliser tries: a good one works, broken ones are refused */
static void
test_charsmaps(void)
{
	static uint8_t blob[1 << 17];
	size_t		len;
	TokSpm	   *sp;

	len = make_charsmap(blob, 1, false);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_OK, "one-rule charsmap");
	if (sp != NULL)
	{
		CHECK(tok_spm_info(sp)->has_charsmap, "has_charsmap");
		CHECK(ENCODES(sp, "Abc", 10) && ENCODES(sp, "AbA", 8, 4), "A is normalised to a");
		tok_spm_free(sp);
	}
	len = make_charsmap(blob, 32, true);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_OK, "32 nested rules");
	tok_spm_free(sp);
	len = make_charsmap(blob, 33, true);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT && sp == NULL,
		  "33 nested rules overflow the library's result array");
	len = make_charsmap(blob, 40, false);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_OK, "a deep rule");
	tok_spm_free(sp);

	len = make_charsmap(blob, 1, false);
	st32(blob + 4, unit(0, false, 1 << 20));
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "root outside the trie");
	len = make_charsmap(blob, 1, false);
	st32(blob + 4 + 512 * 4, 0x80000000u | 5);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "leaf value past the strings");
	len = make_charsmap(blob, 1, false);
	blob[len - 1] = 'x';
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "strings without a NUL");
	len = make_charsmap(blob, 1, false);
	st32(blob + 4 + (256 ^ 'A') * 4, unit('A', true, (256 ^ 'A') ^ 256));
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "a cycle through a leaf");
	len = make_charsmap(blob, 1, false);
	st32(blob, (uint32_t) len);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "trie longer than the map");
	st32(blob, 255 * 4);
	CHECK(open_with_charsmap(blob, len, &sp) == PGI_ERR_CORRUPT, "trie under 256 units");
	CHECK(open_with_charsmap(blob, 3, &sp) == PGI_ERR_CORRUPT, "map shorter than its header");
	CHECK(open_with_charsmap(blob, 0, &sp) == PGI_OK, "empty map is identity");
	tok_spm_free(sp);
}

/* A GGUF file writer for vocabularies */
typedef struct Gguf
{
	uint8_t		b[1 << 16];
	size_t		n;
	uint64_t	n_kv;
} Gguf;

/* Append little-endian bytes of v */
static void
g_le(Gguf *g, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		g->b[g->n++] = (uint8_t) (v >> (8 * i));
}

/* Append a GGUF string */
static void
g_str(Gguf *g, const char *s)
{
	g_le(g, strlen(s), 8);
	memcpy(g->b + g->n, s, strlen(s));
	g->n += strlen(s);
}

/* Append a key and its type */
static void
g_key(Gguf *g, const char *key, uint32_t type)
{
	g_str(g, key);
	g_le(g, type, 4);
	g->n_kv++;
}

/* Start a GGUF file with the small vocabulary, minus the keys in skip */
static void
g_small(Gguf *g, const char *model, const char *skip)
{
	g->n = 0;
	g->n_kv = 0;
	memcpy(g->b, "GGUF", 4);
	g->n = 4;
	g_le(g, 3, 4);
	g_le(g, 0, 8);				/* tensors */
	g_le(g, 0, 8);				/* kv count, patched by g_finish */
	g_key(g, "tokenizer.ggml.model", GGUF_TYPE_STRING);
	g_str(g, model);
	g_key(g, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
	g_le(g, GGUF_TYPE_STRING, 4);
	g_le(g, N_SMALL, 8);
	for (int i = 0; i < N_SMALL; i++)
		g_str(g, small_pieces[i]);
	g_key(g, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY);
	g_le(g, GGUF_TYPE_FLOAT32, 4);
	g_le(g, N_SMALL, 8);
	for (int i = 0; i < N_SMALL; i++)
	{
		uint32_t	u;

		memcpy(&u, &small_scores[i], 4);
		g_le(g, u, 4);
	}
	if (strstr(skip, "types") == NULL)
	{
		g_key(g, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
		g_le(g, GGUF_TYPE_INT32, 4);
		g_le(g, N_SMALL, 8);
		for (int i = 0; i < N_SMALL; i++)
			g_le(g, (uint32_t) small_types[i], 4);
	}
	if (strstr(skip, "unk") == NULL)
	{
		g_key(g, "tokenizer.ggml.unknown_token_id", GGUF_TYPE_UINT32);
		g_le(g, 0, 4);
	}
	g_key(g, "tokenizer.ggml.bos_token_id", GGUF_TYPE_UINT32);
	g_le(g, 1, 4);
	g_key(g, "tokenizer.ggml.eos_token_id", GGUF_TYPE_UINT32);
	g_le(g, 2, 4);
	g_key(g, "tokenizer.ggml.padding_token_id", GGUF_TYPE_UINT32);
	g_le(g, UINT32_MAX, 4);
}

/* Patch the kv count and open the file as a SentencePiece vocabulary */
static PgiStatus
g_open(Gguf *g, TokSpm **sp)
{
	GgufFile   *f;
	PgiError	err;
	PgiStatus	st;

	for (int i = 0; i < 8; i++)
		g->b[16 + i] = (uint8_t) (g->n_kv >> (8 * i));
	*sp = NULL;
	if (gguf_open(g->b, g->n, &f, &err) != PGI_OK)
	{
		CHECK(false, "gguf_open: %s", err.msg);
		return (PgiStatus) -1;
	}
	st = tok_spm_open_gguf(f, sp, &err);
	gguf_free(f);
	return st;
}

/* GGUF "llama" vocabularies: special ids, flags, refusals */
static void
test_gguf(void)
{
	static Gguf g;
	TokSpm	   *sp;
	const TokSpmInfo *info;

	g_small(&g, "llama", "");
	CHECK(g_open(&g, &sp) == PGI_OK, "small GGUF vocabulary");
	if (sp != NULL)
	{
		info = tok_spm_info(sp);
		CHECK(info->unk_id == 0 && info->bos_id == 1 && info->eos_id == 2 && info->pad_id == -1,
			  "GGUF special ids (padding uint32 -1 is none)");
		CHECK(info->add_bos == 1 && info->add_eos == 0, "llama.cpp's add_bos/add_eos defaults");
		CHECK(info->model_type == TOK_SPM_BPE && info->add_dummy_prefix &&
			  !info->remove_extra_whitespaces && !info->byte_fallback, "GGUF model flags");
		CHECK(ENCODES(sp, "abc", 10) && ENCODES(sp, "ab  c", 8, 3, 11), "GGUF vocabulary encodes");
		tok_spm_free(sp);
	}

	g_small(&g, "llama", "");
	g_key(&g, "tokenizer.ggml.add_space_prefix", GGUF_TYPE_BOOL);
	g_le(&g, 0, 1);
	g_key(&g, "tokenizer.ggml.add_bos_token", GGUF_TYPE_BOOL);
	g_le(&g, 0, 1);
	g_key(&g, "tokenizer.ggml.add_eos_token", GGUF_TYPE_BOOL);
	g_le(&g, 1, 1);
	CHECK(g_open(&g, &sp) == PGI_OK, "GGUF with flags");
	if (sp != NULL)
	{
		info = tok_spm_info(sp);
		CHECK(info->add_bos == 0 && info->add_eos == 1 && !info->add_dummy_prefix, "GGUF flags read");
		CHECK(ENCODES(sp, "abc", 9), "add_space_prefix false");
		tok_spm_free(sp);
	}

	g_small(&g, "gpt2", "");
	CHECK(g_open(&g, &sp) == PGI_ERR_UNSUPPORTED && sp == NULL, "gpt2 vocabulary refused");
	g_small(&g, "llama", "types unk");
	CHECK(g_open(&g, &sp) == PGI_ERR_UNSUPPORTED, "no unknown token at all");
	g_small(&g, "llama", "unk");
	CHECK(g_open(&g, &sp) == PGI_OK, "unknown token found by type");
	tok_spm_free(sp);
	g_small(&g, "llama", "types");
	CHECK(g_open(&g, &sp) == PGI_OK, "no token types: unk from the key");
	if (sp != NULL)
	{
		/* <s> is then a normal piece, still reported as BOS by the key */
		CHECK(tok_spm_info(sp)->bos_id == 1, "bos from the key");
		tok_spm_free(sp);
	}
	g_small(&g, "llama", "types");
	g_key(&g, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
	g_le(&g, GGUF_TYPE_INT32, 4);
	g_le(&g, N_SMALL - 1, 8);
	for (int i = 0; i < N_SMALL - 1; i++)
		g_le(&g, 1, 4);
	CHECK(g_open(&g, &sp) == PGI_ERR_CORRUPT, "token_type shorter than tokens");
	g_small(&g, "llama", "types");
	g_key(&g, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
	g_le(&g, GGUF_TYPE_INT32, 4);
	g_le(&g, N_SMALL, 8);
	for (int i = 0; i < N_SMALL; i++)
		g_le(&g, i == 5 ? 9 : (uint32_t) small_types[i], 4);
	CHECK(g_open(&g, &sp) == PGI_ERR_CORRUPT, "token type 9");
	g_small(&g, "llama", "types");
	g_key(&g, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
	g_le(&g, GGUF_TYPE_INT32, 4);
	g_le(&g, N_SMALL, 8);
	for (int i = 0; i < N_SMALL; i++)
		g_le(&g, i == 6 ? 2 : (uint32_t) small_types[i], 4);
	CHECK(g_open(&g, &sp) == PGI_OK, "a second UNKNOWN token is demoted");
	if (sp != NULL)
	{
		CHECK(tok_spm_info(sp)->unk_id == 0 && ENCODES(sp, "c", 11), "demoted token");
		tok_spm_free(sp);
	}
	g_small(&g, "llama", "unk");
	g_key(&g, "tokenizer.ggml.unknown_token_id", GGUF_TYPE_UINT32);
	g_le(&g, N_SMALL, 4);
	CHECK(g_open(&g, &sp) == PGI_ERR_CORRUPT, "unknown id out of range");
}

/* Encode with BOS (as the READMEs list ids) and compare */
static bool
encodes_with_bos(const TokSpm *sp, const char *text, const int32_t *want, size_t n)
{
	return n > 0 && want[0] == tok_spm_info(sp)->bos_id &&
		encodes_to(sp, text, strlen(text), want + 1, n - 1);
}

#define ENCODES_BOS(sp, s, ...) \
	encodes_with_bos((sp), (s), (const int32_t[]) {__VA_ARGS__}, \
					 sizeof((const int32_t[]) {__VA_ARGS__}) / sizeof(int32_t))

/* Open a shared GGUF vocabulary; NULL (with a skip line) if absent */
static TokSpm *
open_shared_gguf(const char *path, uint8_t **data, GgufFile **f)
{
	size_t		len;
	TokSpm	   *sp = NULL;
	PgiError	err;

	*f = NULL;
	if ((*data = read_file(path, &len)) == NULL)
	{
		printf("skip: %s not found\n", path);
		return NULL;
	}
	CHECK(gguf_open(*data, len, f, &err) == PGI_OK, "%s: %s", path, err.msg);
	if (*f != NULL)
		CHECK(tok_spm_open_gguf(*f, &sp, &err) == PGI_OK, "%s: %s", path, err.msg);
	return sp;
}

/* The shared models, against their READMEs */
static void
test_shared(void)
{
	uint8_t    *data;
	size_t		len;
	TokSpm	   *sp = NULL;
	GgufFile   *f;
	PgiError	err;
	static const char *const rand15m[] = {"Q8_0", "Q4_0", "Q4_K_M"};

	if ((data = read_file(SHARED "stories260K/tok512.model", &len)) == NULL)
		printf("skip: " SHARED "stories260K/tok512.model not found\n");
	else
	{
		CHECK(tok_spm_open(data, len, &sp, &err) == PGI_OK, "tok512.model: %s", err.msg);
		if (sp != NULL)
		{
			const TokSpmInfo *i = tok_spm_info(sp);

			CHECK(i->n_pieces == 512 && i->unk_id == 0 && i->bos_id == 1 && i->eos_id == 2 &&
				  i->pad_id == -1 && i->model_type == TOK_SPM_BPE && i->byte_fallback &&
				  i->remove_extra_whitespaces && i->add_bos == -1, "tok512.model info");
			CHECK(ENCODES_BOS(sp, "Once upon a time", 1, 403, 407, 261, 378), "tok512 P02");
			CHECK(ENCODES_BOS(sp, "One day, Lily met a Shoggoth", 1, 385, 328, 432, 317, 284, 316,
							  261, 301, 415, 414, 428, 428, 309, 415), "tok512 P03");
			tok_spm_free(sp);
		}
		free(data);
	}

	sp = open_shared_gguf(SHARED "stories260K/stories260K.gguf", &data, &f);
	if (sp != NULL)
	{
		const TokSpmInfo *i = tok_spm_info(sp);

		CHECK(i->n_pieces == 512 && i->bos_id == 1 && i->eos_id == 2 && i->unk_id == 0 &&
			  i->pad_id == -1 && i->add_bos == 1 && i->byte_fallback && !i->remove_extra_whitespaces,
			  "stories260K.gguf info");
		CHECK(ENCODES_BOS(sp, "Once upon a time", 1, 403, 407, 261, 378), "stories260K P02");
		CHECK(ENCODES_BOS(sp, "The little bird", 1, 291, 376, 268, 315, 418), "stories260K P05");
		CHECK(ENCODES_BOS(sp, "She was very happy because", 1, 338, 286, 399, 393, 329, 429, 412,
						  425, 372), "stories260K P07");
		CHECK(ENCODES_BOS(sp, "The sun was shining and", 1, 291, 262, 379, 286, 262, 415, 271, 299,
						  269), "stories260K P09");
		CHECK(encodes_to(sp, "", 0, NULL, 0), "stories260K P01 (empty prompt)");
		CHECK(decodes_to(sp, (const int32_t[]) {1, 403, 407, 261, 378, 432, 13}, 7,
						 "Once upon a time,\n"), "stories260K decode with a byte token");
		tok_spm_free(sp);
	}
	gguf_free(f);
	free(data);

	for (int k = 0; k < 3; k++)
	{
		char		path[256];

		snprintf(path, sizeof(path), SHARED "rand15M-quant/rand15M-%s.gguf", rand15m[k]);
		sp = open_shared_gguf(path, &data, &f);
		if (sp != NULL)
		{
			CHECK(tok_spm_n_pieces(sp) == 32000 && tok_spm_info(sp)->bos_id == 1, "%s info", path);
			CHECK(ENCODES_BOS(sp, "Once upon a time", 1, 9038, 2501, 263, 931), "%s prompt 1", path);
			CHECK(ENCODES_BOS(sp, "The little dog", 1, 450, 2217, 11203), "%s prompt 3", path);
			tok_spm_free(sp);
		}
		gguf_free(f);
		free(data);
	}
}

int
main(void)
{
	test_writer_round_trip();
	test_unigram_and_flags();
	test_bytes();
	test_limits();
	test_corrupt_protos();
	test_charsmaps();
	test_gguf();
	test_shared();
	return UNIT_DONE("tok_spm");
}
