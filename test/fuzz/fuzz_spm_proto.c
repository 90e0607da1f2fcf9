/*
 * fuzz_spm_proto.c
 *	  libFuzzer target for SentencePiece models (src/core/tokenizers/tok_spm_proto.c
 *	  and, through src/core/tokenizers/tok_spm_shim.cpp, libsentencepiece).
 *
 * The first byte picks a mode:
 *	- even: the rest is ModelProto bytes for tok_spm_open.  Beyond "no
 *	  crash, no sanitizer report, no huge allocation": a refused model
 *	  leaves no processor and a message; an accepted one encodes the input
 *	  and a few fixed strings to ids inside the vocabulary, decodes them,
 *	  and maps the first pieces to ids and back (to the same text).
 *	- odd: the rest is turned into vocabulary arrays (pieces, scores,
 *	  types, special ids, flags: what a GGUF file carries) for
 *	  tok_spm_proto_build.  Whatever it writes, tok_spm_proto_check must
 *	  accept; libsentencepiece may still refuse it (duplicate pieces, byte
 *	  pieces not named <0xNN>), but cleanly.
 * libsentencepiece itself is Debian's uninstrumented build: ASan sees its
 * heap use through the allocator but not its reads.  The reads the
 * library does not bound (the normaliser's trie, which a hostile model
 * uses to make it read out of bounds) are what tok_spm_proto_check
 * guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_spm.h"

#define MAX_FUZZ_PIECES 96

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Encode text, check the ids, decode them */
static void
round_trip(const TokSpm *sp, const char *text, size_t len)
{
	int32_t    *ids;
	size_t		n;
	char	   *out;
	size_t		out_len;
	PgiError	err;

	if (tok_spm_encode(sp, text, len, &ids, &n, &err) != PGI_OK)
	{
		/* the library's own consistency checks may refuse; cleanly */
		if (err.status != PGI_ERR_DATA || err.msg[0] == '\0')
			abort();
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= tok_spm_n_pieces(sp))
			abort();
	if (tok_spm_decode(sp, ids, n, &out, &out_len, &err) != PGI_OK || out[out_len] != '\0')
		abort();
	if (out_len > 0)
		sink ^= (uint8_t) out[out_len - 1];
	free(out);
	free(ids);
}

/* Use an accepted processor */
static void
exercise(const TokSpm *sp, const uint8_t *data, size_t size)
{
	static const char *const texts[] = {
		"", " ", "Hello  world ", "a\xff\xc3", "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		"<s></s><unk>", "\xe2\x96\x81\xe2\x96\x81x"
	};
	int32_t		n = tok_spm_n_pieces(sp);

	if (n <= 0 || n > TOK_SPM_MAX_PIECES)
		abort();
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		round_trip(sp, texts[i], strlen(texts[i]));
	round_trip(sp, (const char *) data, size > 512 ? 512 : size);
	for (int32_t i = 0; i < n && i < 256; i++)
	{
		size_t		len;
		const char *p = tok_spm_id_to_piece(sp, i, &len);

		if (p == NULL || len == 0)
			abort();
		int32_t		j = tok_spm_piece_to_id(sp, p, len);
		size_t		len2;
		const char *q = tok_spm_id_to_piece(sp, j, &len2);

		/*
		 * The same text may be a normal and a reserved (unknown, control,
		 * byte) piece; libsentencepiece answers the reserved one
		 */
		if (q == NULL || len2 != len || memcmp(p, q, len) != 0)
			abort();
	}
}

/* Mode even: the input is a model */
static void
fuzz_model(const uint8_t *data, size_t size)
{
	TokSpm	   *sp = NULL;
	PgiError	err;

	memset(&err, 0, sizeof(err));
	if (tok_spm_open(data, size, &sp, &err) != PGI_OK)
	{
		if (sp != NULL || err.msg[0] == '\0')
			abort();
		return;
	}
	exercise(sp, data, size);
	tok_spm_free(sp);
}

/* A bounded reader of the fuzz input */
typedef struct Input
{
	const uint8_t *p;
	const uint8_t *end;
} Input;

/* Next byte, 0 at the end */
static uint8_t
next(Input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

/* Mode odd: the input is vocabulary arrays */
static void
fuzz_vocab(const uint8_t *data, size_t size)
{
	Input		in = {data, data + size};
	const char *pieces[MAX_FUZZ_PIECES];
	size_t		lens[MAX_FUZZ_PIECES];
	float		scores[MAX_FUZZ_PIECES];
	int32_t		types[MAX_FUZZ_PIECES];
	char		names[MAX_FUZZ_PIECES][8];
	TokSpmVocab v;
	static const int32_t kinds[8] = {1, 1, 1, 3, 4, 5, 6, 1};
	uint8_t    *proto;
	size_t		len;
	uint8_t		flags;
	TokSpmInfo	info;
	TokSpm	   *sp = NULL;
	PgiError	err;

	memset(&v, 0, sizeof(v));
	v.n = 1 + next(&in) % MAX_FUZZ_PIECES;
	flags = next(&in);
	for (size_t i = 0; i < v.n; i++)
	{
		uint8_t		t = next(&in);
		size_t		want = 1 + next(&in) % 6;

		types[i] = kinds[t & 7];
		scores[i] = -(float) next(&in) / 8.0f;
		if (types[i] == TOK_SPM_BYTE || (t & 0x80))
		{
			/* a byte piece name, sometimes typed otherwise */
			snprintf(names[i], sizeof(names[i]), "<0x%02X>", next(&in));
			pieces[i] = names[i];
			lens[i] = 6;
		}
		else
		{
			pieces[i] = (const char *) in.p;
			lens[i] = (size_t) (in.end - in.p) < want ? (size_t) (in.end - in.p) : want;
			in.p += lens[i];
		}
	}
	v.pieces = pieces;
	v.piece_lens = lens;
	v.scores = (flags & 1) ? NULL : scores;
	v.types = types;
	v.model_type = 1 + (flags >> 1) % 4;
	v.unk_id = (int32_t) (next(&in) % v.n);
	types[v.unk_id] = TOK_SPM_UNKNOWN;
	v.bos_id = (flags & 8) ? (int32_t) (next(&in) % v.n) : -1;
	v.eos_id = (flags & 16) ? (int32_t) (next(&in) % v.n) : -1;
	v.pad_id = -1;
	v.add_dummy_prefix = (flags & 32) != 0;
	v.remove_extra_whitespaces = (flags & 64) != 0;
	for (size_t i = 0; i < v.n; i++)
		v.byte_fallback |= types[i] == TOK_SPM_BYTE;

	if (tok_spm_proto_build(&v, &proto, &len, &err) != PGI_OK)
	{
		if (proto != NULL || err.msg[0] == '\0')
			abort();
		return;
	}
	if (tok_spm_proto_check(proto, len, &info, &err) != PGI_OK ||
		info.n_pieces != (int32_t) v.n || info.model_type != v.model_type ||
		info.unk_id != v.unk_id || info.byte_fallback != v.byte_fallback ||
		info.add_dummy_prefix != v.add_dummy_prefix)
		abort();				/* the writer wrote what the checker refuses */
	if (tok_spm_open(proto, len, &sp, &err) == PGI_OK)
	{
		exercise(sp, in.p, (size_t) (in.end - in.p));
		tok_spm_free(sp);
	}
	else if (sp != NULL || err.msg[0] == '\0')
		abort();
	free(proto);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_model(data + 1, size - 1);
	else
		fuzz_vocab(data + 1, size - 1);
	return 0;
}
