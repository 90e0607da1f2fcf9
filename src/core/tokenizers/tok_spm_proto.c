/*-------------------------------------------------------------------------
 *
 * tok_spm_proto.c
 *	  Checking and writing serialized sentencepiece.ModelProto bytes.
 *
 * The protobuf wire format, by hand: a message is a sequence of fields,
 * each a varint tag (field number << 3 | wire type) and a value: 0 varint,
 * 1 eight bytes, 2 a varint length and that many bytes, 5 four bytes
 * (3 and 4, groups, are not used by ModelProto and are rejected).  The
 * field numbers are those of sentencepiece_model.proto:
 *
 *	ModelProto: 1 pieces (repeated SentencePiece), 2 trainer_spec,
 *		3 normalizer_spec, 4 self_test_data, 5 denormalizer_spec
 *	SentencePiece: 1 piece (string), 2 score (float), 3 type (enum)
 *	TrainerSpec: 3 model_type, 4 vocab_size, 24 treat_whitespace_as_suffix,
 *		35 byte_fallback, 40..43 unk/bos/eos/pad id (int32),
 *		45..48 unk/bos/eos/pad piece (string)
 *	NormalizerSpec: 1 name, 2 precompiled_charsmap (bytes),
 *		3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces
 *
 * Checking walks every field once, never past the end of its message, and
 * rejects what libsentencepiece would mishandle.  Its one dangerous input
 * is precompiled_charsmap: a little-endian uint32 trie size, a darts-clone
 * double array of that many bytes (uint32 units), then NUL-terminated
 * replacement strings.  The library looks bytes of the text up in the
 * array and reads a replacement string at a leaf's value, with no bounds
 * checks, and keeps at most 32 matches per lookup while reading as many
 * as it counted (a longer chain of nested rules overruns its stack array).
 * check_charsmap walks the whole trie from its root and requires every
 * unit a lookup can read to be inside the array, no cycle (darts-clone
 * shares common suffixes, so the trie is a DAG), at most 32 leaves along
 * any path, and every leaf's value to point at a NUL-terminated string
 * inside the map.  A model whose trie fails any of these made
 * libsentencepiece 0.1.97 crash in our tests.
 *
 * Pieces must be UTF-8 without NUL: the library keys its piece tries by C
 * string and throws from deep inside on an empty key, leaking.
 *
 * Writing a vocabulary (tok_spm_proto_build) emits the pieces, a
 * trainer_spec with the model type, byte fallback and special ids and
 * pieces, and an identity normaliser_spec.  tok_spm_proto_from_gguf feeds
 * it a llama.cpp vocabulary.
 *
 * src/core/tokenizers/tok_spm_proto.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_spm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_VARINT		0
#define WIRE_FIXED64	1
#define WIRE_LEN		2
#define WIRE_FIXED32	5

#define DARTS_MAX_RESULTS	32	/* matches libsentencepiece keeps per lookup */

/* A bounded reader over one message */
typedef struct PbReader
{
	const uint8_t *p;
	const uint8_t *end;
} PbReader;

/* One field: its number, wire type and value */
typedef struct PbField
{
	uint32_t	num;
	int			wire;
	uint64_t	u;				/* varint and fixed values */
	const uint8_t *data;		/* length-delimited values */
	size_t		len;
} PbField;

/* A growing output buffer; oom is sticky */
typedef struct PbBuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} PbBuf;

/* Read a varint of at most 10 bytes */
static bool
pb_varint(PbReader *r, uint64_t *v)
{
	uint64_t	x = 0;

	for (int shift = 0; shift < 70; shift += 7)
	{
		uint8_t		b;

		if (r->p >= r->end)
			return false;
		b = *r->p++;
		if (shift == 63 && b > 1)
			return false;		/* more than 64 bits */
		x |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*v = x;
			return true;
		}
	}
	return false;
}

/* Read the next field; false on malformed or truncated input */
static bool
pb_field(PbReader *r, PbField *f)
{
	uint64_t	tag;

	if (!pb_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return false;
	f->num = (uint32_t) (tag >> 3);
	f->wire = (int) (tag & 7);
	f->data = NULL;
	f->len = 0;
	f->u = 0;
	switch (f->wire)
	{
		case WIRE_VARINT:
			return pb_varint(r, &f->u);
		case WIRE_FIXED64:
			if (r->end - r->p < 8)
				return false;
			for (int i = 7; i >= 0; i--)
				f->u = (f->u << 8) | r->p[i];
			r->p += 8;
			return true;
		case WIRE_FIXED32:
			if (r->end - r->p < 4)
				return false;
			for (int i = 3; i >= 0; i--)
				f->u = (f->u << 8) | r->p[i];
			r->p += 4;
			return true;
		case WIRE_LEN:
			if (!pb_varint(r, &f->u) || f->u > (uint64_t) (r->end - r->p))
				return false;
			f->data = r->p;
			f->len = (size_t) f->u;
			r->p += f->len;
			return true;
		default:
			return false;		/* groups and reserved wire types */
	}
}

/* Fail unless field f has wire type wire */
static PgiStatus
want_wire(const PbField *f, int wire, const char *what, PgiError *err)
{
	if (f->wire != wire)
		return pgi_error(err, PGI_ERR_CORRUPT,
						 "A SentencePiece model field has the wrong protobuf wire type.",
						 "invalid SentencePiece model: %s has wire type %d, not %d",
						 what, f->wire, wire);
	return PGI_OK;
}

/* Little-endian uint32 at p */
static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 |
		(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* darts-clone unit fields */
static bool
unit_has_leaf(uint32_t u)
{
	return ((u >> 8) & 1) == 1;
}

static uint32_t
unit_label(uint32_t u)
{
	return u & (0x80000000u | 0xffu);
}

static uint32_t
unit_offset(uint32_t u)
{
	return (u >> 10) << ((u & (1u << 9)) >> 6);
}

/* A trie node being walked: children are at base ^ byte */
typedef struct TrieFrame
{
	uint32_t	base;
	uint32_t	next;			/* next byte to try */
	uint32_t	leaves;			/* most leaves on a path below, so far */
	uint32_t	edge_leaf;		/* 1 if the edge into this node has a leaf */
} TrieFrame;

/* Fail with a charsmap message */
static PgiStatus
bad_charsmap(PgiError *err, const char *where, const char *why)
{
	return pgi_error(err, PGI_ERR_CORRUPT, why,
					 "invalid SentencePiece model: broken %s precompiled_charsmap",
					 where);
}

/*
 * Check a node whose children start at base: every unit a lookup of any
 * byte reads (base ^ 0..255, the same 256-unit block) must be inside.
 */
static bool
block_inside(uint32_t base, uint32_t n_units)
{
	return (base | 0xffu) < n_units;
}

/* Walk state shared by the steps of check_charsmap */
typedef struct TrieWalk
{
	const uint8_t *trie;
	uint32_t	n_units;
	size_t		last_nul;		/* of the strings; n_strs if none */
	size_t		n_strs;
	uint8_t    *state;			/* per base: 0 new, 1 on the stack, 2 done */
	uint8_t    *most;			/* per finished base: most leaves below */
	TrieFrame  *stack;
	size_t		top;
	size_t		cap;
} TrieWalk;

/*
 * Try byte c at the node on top of the stack: follow the edge if there is
 * one, pushing a new node or folding in a finished one.  Returns NULL or
 * the reason the map is broken.
 */
static const char *
walk_edge(TrieWalk *w, uint32_t c)
{
	TrieFrame  *fr = &w->stack[w->top - 1];
	uint32_t	pos = fr->base ^ c;
	uint32_t	u = le32(w->trie + (size_t) pos * 4);
	uint32_t	child;
	uint32_t	leaf;

	if (unit_label(u) != c)
		return NULL;
	child = pos ^ unit_offset(u);
	leaf = unit_has_leaf(u) ? 1 : 0;
	if (!block_inside(child, w->n_units))
		return "A trie node points outside the trie.";
	if (leaf)
	{
		uint32_t	value = le32(w->trie + (size_t) child * 4) & 0x7fffffffu;

		if (w->last_nul == w->n_strs || value > w->last_nul)
			return "A replacement string is outside the map or not NUL-terminated.";
	}
	if (w->state[child] == 1)
		return "The trie has a cycle.";
	if (w->state[child] == 2)
	{
		if (leaf + w->most[child] > fr->leaves)
			fr->leaves = leaf + w->most[child];
		return fr->leaves > DARTS_MAX_RESULTS ? "A trie path has more than 32 rules." : NULL;
	}
	if (w->top == w->cap)
	{
		TrieFrame  *bigger = realloc(w->stack, 2 * w->cap * sizeof(TrieFrame));

		if (bigger == NULL)
			return "";			/* out of memory */
		w->stack = bigger;
		w->cap *= 2;
	}
	w->state[child] = 1;
	w->stack[w->top].base = child;
	w->stack[w->top].next = 0;
	w->stack[w->top].leaves = 0;
	w->stack[w->top].edge_leaf = leaf;
	w->top++;
	return NULL;
}

/*
 * Walk the trie depth first from the root.  darts-clone shares the nodes
 * of common suffixes, so the trie is a DAG: each node is walked once, and
 * the most leaves on a path below it are kept for the other parents.
 */
static const char *
walk_trie(TrieWalk *w)
{
	uint32_t	root = unit_offset(le32(w->trie));

	if (!block_inside(root, w->n_units))
		return "The trie root points outside the trie.";
	w->state[root] = 1;
	w->stack[0].base = root;
	w->stack[0].next = 0;
	w->stack[0].leaves = 0;
	w->stack[0].edge_leaf = 0;
	w->top = 1;
	while (w->top > 0)
	{
		TrieFrame  *fr = &w->stack[w->top - 1];

		if (fr->next < 256)
		{
			const char *why = walk_edge(w, fr->next++);

			if (why != NULL)
				return why;
			continue;
		}
		/* node finished: fold it into its parent */
		w->state[fr->base] = 2;
		w->most[fr->base] = (uint8_t) fr->leaves;
		w->top--;
		if (w->top > 0)
		{
			TrieFrame  *parent = &w->stack[w->top - 1];
			uint32_t	via = fr->edge_leaf + fr->leaves;

			if (via > parent->leaves)
				parent->leaves = via;
			if (parent->leaves > DARTS_MAX_RESULTS)
				return "A trie path has more than 32 rules.";
		}
	}
	return NULL;
}

/* Check a precompiled_charsmap (see the file header) */
static PgiStatus
check_charsmap(const uint8_t *blob, size_t len, const char *where, PgiError *err)
{
	TrieWalk	w;
	uint32_t	trie_size;
	const char *why;

	if (len == 0)
		return PGI_OK;			/* identity */
	if (len > TOK_SPM_MAX_CHARSMAP)
		return pgi_error(err, PGI_ERR_LIMIT, NULL,
						 "SentencePiece %s precompiled_charsmap is too large (%zu bytes, at most %d)",
						 where, len, TOK_SPM_MAX_CHARSMAP);
	if (len <= 4)
		return bad_charsmap(err, where, "It is shorter than its header.");
	trie_size = le32(blob);
	if (trie_size > len - 4)
		return bad_charsmap(err, where, "Its trie is longer than the map.");
	memset(&w, 0, sizeof(w));
	w.trie = blob + 4;
	w.n_units = trie_size / 4;
	w.n_strs = len - 4 - trie_size;
	if (w.n_units < 256)
		return bad_charsmap(err, where, "Its trie has fewer than 256 units.");
	w.last_nul = w.n_strs;
	for (size_t i = w.n_strs; i > 0; i--)
		if (w.trie[trie_size + i - 1] == 0)
		{
			w.last_nul = i - 1;
			break;
		}
	w.state = calloc(w.n_units, 1);
	w.most = calloc(w.n_units, 1);
	w.cap = 256;
	w.stack = malloc(w.cap * sizeof(TrieFrame));
	why = (w.state && w.most && w.stack) ? walk_trie(&w) : "";
	free(w.state);
	free(w.most);
	free(w.stack);
	if (why != NULL && why[0] == '\0')
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory checking a SentencePiece model");
	if (why != NULL)
		return bad_charsmap(err, where, why);
	return PGI_OK;
}

/*
 * Is s[0..n-1] valid UTF-8 (no overlong forms, surrogates or > U+10FFFF)
 * without NUL?  libsentencepiece keys its piece tries by C string: a NUL
 * in a piece throws from inside the library, leaking what it had built.
 */
static bool
piece_text_ok(const uint8_t *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		uint8_t		c = s[i];
		size_t		len;
		uint32_t	cp;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
			(len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* Check one ModelProto.SentencePiece */
static PgiStatus
check_piece(const uint8_t *data, size_t len, size_t index, PgiError *err)
{
	PbReader	r = {data, data + len};
	PbField		f;
	bool		has_piece = false;
	PgiStatus	st;

	while (r.p < r.end)
	{
		if (!pb_field(&r, &f))
			return pgi_error(err, PGI_ERR_CORRUPT, "The protobuf encoding is malformed.",
							 "invalid SentencePiece model: piece %zu is malformed", index);
		if (f.num == 1)
		{
			if ((st = want_wire(&f, WIRE_LEN, "a piece's text", err)) != PGI_OK)
				return st;
			if (!piece_text_ok(f.data, f.len))
				return pgi_error(err, PGI_ERR_CORRUPT, "Pieces are UTF-8 text without NUL.",
								 "invalid SentencePiece model: piece %zu is not valid UTF-8 text",
								 index);
			has_piece = f.len > 0;
		}
		else if (f.num == 2)
		{
			if ((st = want_wire(&f, WIRE_FIXED32, "a piece's score", err)) != PGI_OK)
				return st;
		}
		else if (f.num == 3)
		{
			if ((st = want_wire(&f, WIRE_VARINT, "a piece's type", err)) != PGI_OK)
				return st;
			if (f.u < TOK_SPM_NORMAL || f.u > TOK_SPM_BYTE)
				return pgi_error(err, PGI_ERR_CORRUPT, "Piece types are 1 to 6.",
								 "invalid SentencePiece model: piece %zu has type %llu",
								 index, (unsigned long long) f.u);
		}
	}
	if (!has_piece)
		return pgi_error(err, PGI_ERR_CORRUPT, "Every piece must have a non-empty text.",
						 "invalid SentencePiece model: piece %zu is empty", index);
	return PGI_OK;
}

/* Read a special id (int32, two's complement in a varint) */
static int32_t
varint_int32(uint64_t u)
{
	return (int32_t) (uint32_t) (u & 0xffffffffu);
}

/* Check a TrainerSpec and note what encoding depends on */
static PgiStatus
check_trainer_spec(const uint8_t *data, size_t len, TokSpmInfo *info, PgiError *err)
{
	PbReader	r = {data, data + len};
	PbField		f;
	PgiStatus	st;

	while (r.p < r.end)
	{
		if (!pb_field(&r, &f))
			return pgi_error(err, PGI_ERR_CORRUPT, "The protobuf encoding is malformed.",
							 "invalid SentencePiece model: trainer_spec is malformed");
		switch (f.num)
		{
			case 3:
				if ((st = want_wire(&f, WIRE_VARINT, "trainer_spec.model_type", err)) != PGI_OK)
					return st;
				if (f.u < TOK_SPM_UNIGRAM || f.u > TOK_SPM_CHAR)
					return pgi_error(err, PGI_ERR_CORRUPT,
									 "Model types are 1 (unigram) to 4 (char).",
									 "invalid SentencePiece model: model_type %llu",
									 (unsigned long long) f.u);
				info->model_type = (TokSpmModelType) f.u;
				break;
			case 24:
			case 35:
				if ((st = want_wire(&f, WIRE_VARINT, "a trainer_spec flag", err)) != PGI_OK)
					return st;
				if (f.num == 24)
					info->treat_whitespace_as_suffix = f.u != 0;
				else
					info->byte_fallback = f.u != 0;
				break;
			case 40:
			case 41:
			case 42:
			case 43:
				if ((st = want_wire(&f, WIRE_VARINT, "a trainer_spec id", err)) != PGI_OK)
					return st;
				if (f.num == 40)
					info->unk_id = varint_int32(f.u);
				else if (f.num == 41)
					info->bos_id = varint_int32(f.u);
				else if (f.num == 42)
					info->eos_id = varint_int32(f.u);
				else
					info->pad_id = varint_int32(f.u);
				break;
			default:
				break;
		}
	}
	return PGI_OK;
}

/* Check a NormalizerSpec (or the denormalizer's) */
static PgiStatus
check_normalizer_spec(const uint8_t *data, size_t len, const char *where,
					  TokSpmInfo *info, PgiError *err)
{
	PbReader	r = {data, data + len};
	PbField		f;
	PgiStatus	st;

	while (r.p < r.end)
	{
		if (!pb_field(&r, &f))
			return pgi_error(err, PGI_ERR_CORRUPT, "The protobuf encoding is malformed.",
							 "invalid SentencePiece model: %s is malformed", where);
		if (f.num == 2)
		{
			if ((st = want_wire(&f, WIRE_LEN, "precompiled_charsmap", err)) != PGI_OK)
				return st;
			if ((st = check_charsmap(f.data, f.len, where, err)) != PGI_OK)
				return st;
			if (info != NULL)
			{
				info->has_charsmap = f.len > 0;
				info->charsmap_len = f.len;
			}
		}
		else if (f.num >= 3 && f.num <= 5)
		{
			if ((st = want_wire(&f, WIRE_VARINT, "a normalizer_spec flag", err)) != PGI_OK)
				return st;
			if (info == NULL)
				continue;
			if (f.num == 3)
				info->add_dummy_prefix = f.u != 0;
			else if (f.num == 4)
				info->remove_extra_whitespaces = f.u != 0;
			else
				info->escape_whitespaces = f.u != 0;
		}
	}
	return PGI_OK;
}

/* Fill info with the ModelProto defaults */
static void
info_defaults(TokSpmInfo *info)
{
	memset(info, 0, sizeof(*info));
	info->model_type = TOK_SPM_UNIGRAM;
	info->unk_id = 0;
	info->bos_id = 1;
	info->eos_id = 2;
	info->pad_id = -1;
	info->add_bos = -1;
	info->add_eos = -1;
	info->add_dummy_prefix = true;
	info->remove_extra_whitespaces = true;
	info->escape_whitespaces = true;
}

/* Check serialized ModelProto bytes; see tok_spm.h */
PgiStatus
tok_spm_proto_check(const uint8_t *proto, size_t len, TokSpmInfo *info_out,
					PgiError *err)
{
	PbReader	r;
	PbField		f;
	TokSpmInfo	info;
	size_t		n_pieces = 0;
	PgiStatus	st;

	info_defaults(&info);
	if (proto == NULL && len > 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "no SentencePiece model bytes");
	if (len > TOK_SPM_MAX_PROTO)
		return pgi_error(err, PGI_ERR_LIMIT, NULL,
						 "SentencePiece model is too large (%zu bytes, at most %d)",
						 len, TOK_SPM_MAX_PROTO);
	r.p = proto;
	r.end = proto + len;
	while (r.p < r.end)
	{
		if (!pb_field(&r, &f))
			return pgi_error(err, PGI_ERR_CORRUPT,
							 "The protobuf encoding is malformed or truncated.",
							 "invalid SentencePiece model: malformed at byte %zu",
							 (size_t) (r.p - proto));
		if (f.num >= 1 && f.num <= 5 &&
			(st = want_wire(&f, WIRE_LEN, "a ModelProto field", err)) != PGI_OK)
			return st;
		if (f.num == 1)
		{
			if (n_pieces == TOK_SPM_MAX_PIECES)
				return pgi_error(err, PGI_ERR_LIMIT, NULL,
								 "SentencePiece model has more than %d pieces",
								 TOK_SPM_MAX_PIECES);
			if ((st = check_piece(f.data, f.len, n_pieces, err)) != PGI_OK)
				return st;
			n_pieces++;
		}
		else if (f.num == 2)
			st = check_trainer_spec(f.data, f.len, &info, err);
		else if (f.num == 3)
			st = check_normalizer_spec(f.data, f.len, "normalizer_spec", &info, err);
		else if (f.num == 5)
			st = check_normalizer_spec(f.data, f.len, "denormalizer_spec", NULL, err);
		else
			st = PGI_OK;
		if (st != PGI_OK)
			return st;
	}
	if (n_pieces == 0)
		return pgi_error(err, PGI_ERR_CORRUPT, "A model needs at least one piece.",
						 "invalid SentencePiece model: no pieces");
	info.n_pieces = (int32_t) n_pieces;
	if (info_out != NULL)
		*info_out = info;
	return PGI_OK;
}

/* Make room for more bytes */
static bool
buf_reserve(PbBuf *b, size_t more)
{
	size_t		cap;
	uint8_t    *data;

	if (b->oom)
		return false;
	if (b->cap - b->len >= more)
		return true;
	if (more > SIZE_MAX / 2 - b->len)
	{
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	data = realloc(b->data, cap);
	if (data == NULL)
	{
		b->oom = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

/* Append raw bytes */
static void
put_raw(PbBuf *b, const void *p, size_t n)
{
	if (n == 0 || !buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append a varint */
static void
put_varint(PbBuf *b, uint64_t v)
{
	uint8_t		tmp[10];
	size_t		n = 0;

	do
	{
		tmp[n] = (uint8_t) (v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	put_raw(b, tmp, n);
}

/* Append a field tag */
static void
put_tag(PbBuf *b, uint32_t num, int wire)
{
	put_varint(b, (uint64_t) num << 3 | (uint64_t) wire);
}

/* Append a length-delimited field */
static void
put_bytes(PbBuf *b, uint32_t num, const void *p, size_t n)
{
	put_tag(b, num, WIRE_LEN);
	put_varint(b, n);
	put_raw(b, p, n);
}

/* Append an int32 or enum field (negative values take ten bytes) */
static void
put_int32(PbBuf *b, uint32_t num, int32_t v)
{
	put_tag(b, num, WIRE_VARINT);
	put_varint(b, (uint64_t) (int64_t) v);
}

/* Append a float field */
static void
put_float(PbBuf *b, uint32_t num, float v)
{
	uint32_t	u;
	uint8_t		le[4];

	memcpy(&u, &v, 4);
	for (int i = 0; i < 4; i++)
		le[i] = (uint8_t) (u >> (8 * i));
	put_tag(b, num, WIRE_FIXED32);
	put_raw(b, le, 4);
}

/* Check a vocabulary before writing it */
static PgiStatus
check_vocab(const TokSpmVocab *v, PgiError *err)
{
	int32_t		ids[4] = {v->unk_id, v->bos_id, v->eos_id, v->pad_id};
	size_t		n_unk = 0;

	if (v->n == 0 || v->pieces == NULL || v->piece_lens == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "vocabulary has no pieces");
	if (v->n > TOK_SPM_MAX_PIECES)
		return pgi_error(err, PGI_ERR_LIMIT, NULL,
						 "vocabulary has %zu pieces, at most %d are supported",
						 v->n, TOK_SPM_MAX_PIECES);
	if (v->model_type < TOK_SPM_UNIGRAM || v->model_type > TOK_SPM_CHAR)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "unknown SentencePiece model type %d",
						 (int) v->model_type);
	for (int k = 0; k < 4; k++)
		if (ids[k] < -1 || (ids[k] >= 0 && (size_t) ids[k] >= v->n))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "special token id %d is out of range (vocabulary of %zu)",
							 (int) ids[k], v->n);
	if (v->unk_id < 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "SentencePiece needs an unknown token.",
						 "vocabulary has no unknown token");
	for (size_t i = 0; i < v->n; i++)
	{
		int32_t		t = v->types ? v->types[i] : TOK_SPM_NORMAL;

		if (v->piece_lens[i] == 0 || v->pieces[i] == NULL)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "token %zu is empty", i);
		if (!piece_text_ok((const uint8_t *) v->pieces[i], v->piece_lens[i]))
			return pgi_error(err, PGI_ERR_CORRUPT, "SentencePiece pieces are UTF-8 text without NUL.",
							 "token %zu is not valid UTF-8 text", i);
		if (t < TOK_SPM_NORMAL || t > TOK_SPM_BYTE)
			return pgi_error(err, PGI_ERR_CORRUPT, "Token types are 1 to 6.",
							 "token %zu has type %d", i, (int) t);
		if (v->scores != NULL && isnan(v->scores[i]))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "token %zu has a NaN score", i);
		if (t == TOK_SPM_UNKNOWN)
			n_unk++;
	}
	if (n_unk != 1 || (v->types != NULL && v->types[v->unk_id] != TOK_SPM_UNKNOWN))
		return pgi_error(err, PGI_ERR_CORRUPT,
						 "Exactly one token, the unknown token, must have type UNKNOWN.",
						 "vocabulary has %zu tokens of type UNKNOWN", n_unk);
	return PGI_OK;
}

/* Append one special's id and piece to a trainer_spec */
static void
put_special(PbBuf *b, const TokSpmVocab *v, uint32_t id_field, uint32_t piece_field,
			int32_t id)
{
	put_int32(b, id_field, id);
	if (id >= 0)
		put_bytes(b, piece_field, v->pieces[id], v->piece_lens[id]);
}

/* Write a vocabulary as ModelProto bytes; see tok_spm.h */
PgiStatus
tok_spm_proto_build(const TokSpmVocab *v, uint8_t **out, size_t *out_len,
					PgiError *err)
{
	PbBuf		b = {0};
	PbBuf		sub = {0};
	PgiStatus	st;

	*out = NULL;
	*out_len = 0;
	if ((st = check_vocab(v, err)) != PGI_OK)
		return st;
	for (size_t i = 0; i < v->n && !b.oom && !sub.oom; i++)
	{
		sub.len = 0;
		put_bytes(&sub, 1, v->pieces[i], v->piece_lens[i]);
		put_float(&sub, 2, v->scores ? v->scores[i] : 0.0f);
		put_int32(&sub, 3, v->types ? v->types[i] : TOK_SPM_NORMAL);
		put_bytes(&b, 1, sub.data, sub.len);
		if (b.len > TOK_SPM_MAX_PROTO)
			break;
	}

	sub.len = 0;
	put_int32(&sub, 3, v->model_type);
	put_int32(&sub, 4, (int32_t) v->n);
	put_int32(&sub, 35, v->byte_fallback);
	put_special(&sub, v, 40, 45, v->unk_id);
	put_special(&sub, v, 41, 46, v->bos_id);
	put_special(&sub, v, 42, 47, v->eos_id);
	put_special(&sub, v, 43, 48, v->pad_id);
	put_bytes(&b, 2, sub.data, sub.len);

	sub.len = 0;
	put_bytes(&sub, 1, "identity", 8);
	put_int32(&sub, 3, v->add_dummy_prefix);
	put_int32(&sub, 4, v->remove_extra_whitespaces);
	put_int32(&sub, 5, 1);
	put_bytes(&b, 3, sub.data, sub.len);

	free(sub.data);
	if (b.oom || sub.oom)
	{
		free(b.data);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory writing a SentencePiece model");
	}
	if (b.len > TOK_SPM_MAX_PROTO)
	{
		free(b.data);
		return pgi_error(err, PGI_ERR_LIMIT, NULL,
						 "vocabulary is too large for a SentencePiece model (at most %d bytes)",
						 TOK_SPM_MAX_PROTO);
	}
	*out = b.data;
	*out_len = b.len;
	return PGI_OK;
}

/* Read an optional special token id key: -1 when absent or "none" */
static PgiStatus
gguf_special(const GgufFile *f, const char *key, size_t n, int32_t *id, PgiError *err)
{
	int64_t		v;
	PgiStatus	st;

	*id = -1;
	if (gguf_find_kv(f, key) == NULL)
		return PGI_OK;
	if ((st = gguf_get_i64(f, key, &v, err)) != PGI_OK)
		return st;
	if (v == -1 || v == (int64_t) UINT32_MAX)
		return PGI_OK;			/* llama.cpp writes uint32 -1 for "none" */
	if (v < 0 || (uint64_t) v >= n)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "GGUF key %s: token id %lld is out of range (vocabulary of %zu)",
						 key, (long long) v, n);
	*id = (int32_t) v;
	return PGI_OK;
}

/* Read an optional bool key, or dflt */
static PgiStatus
gguf_flag(const GgufFile *f, const char *key, bool dflt, bool *out, PgiError *err)
{
	*out = dflt;
	if (gguf_find_kv(f, key) == NULL)
		return PGI_OK;
	return gguf_get_bool(f, key, out, err);
}

/* The GGUF arrays of a vocabulary, with the memory they need */
typedef struct GgufVocab
{
	TokSpmVocab v;
	const char **pieces;
	size_t	   *lens;
	float	   *scores;
	int32_t    *types;
} GgufVocab;

/* Free what read_gguf_arrays allocated */
static void
gguf_vocab_free(GgufVocab *g)
{
	free(g->pieces);
	free(g->lens);
	free(g->scores);
	free(g->types);
}

/* Read tokens, scores and token types (the last two optional) */
static PgiStatus
read_gguf_arrays(const GgufFile *f, GgufVocab *g, PgiError *err)
{
	const GgufKV *tokens;
	const GgufKV *scores = NULL;
	const GgufKV *types = NULL;
	size_t		n;
	PgiStatus	st;

	if ((st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err)) != PGI_OK)
		return st;
	if (tokens->n == 0 || tokens->n > TOK_SPM_MAX_PIECES)
		return pgi_error(err, tokens->n ? PGI_ERR_LIMIT : PGI_ERR_CORRUPT, NULL,
						 "GGUF vocabulary has %llu tokens (1 to %d are supported)",
						 (unsigned long long) tokens->n, TOK_SPM_MAX_PIECES);
	n = (size_t) tokens->n;
	if (gguf_find_kv(f, "tokenizer.ggml.scores") != NULL &&
		(st = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_COUNT, &scores, err)) != PGI_OK)
		return st;
	if (gguf_find_kv(f, "tokenizer.ggml.token_type") != NULL &&
		(st = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_COUNT, &types, err)) != PGI_OK)
		return st;
	if ((scores && scores->n != n) || (types && types->n != n))
		return pgi_error(err, PGI_ERR_CORRUPT,
						 "tokenizer.ggml.scores and token_type must have one entry per token.",
						 "GGUF vocabulary arrays differ in length");

	g->pieces = malloc(n * sizeof(*g->pieces));
	g->lens = malloc(n * sizeof(*g->lens));
	g->scores = malloc(n * sizeof(*g->scores));
	g->types = malloc(n * sizeof(*g->types));
	if (!g->pieces || !g->lens || !g->scores || !g->types)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading a GGUF vocabulary");
	for (size_t i = 0; i < n; i++)
	{
		double		s = 0;
		int64_t		t = TOK_SPM_NORMAL;

		g->pieces[i] = gguf_arr_str(tokens, i, &g->lens[i]);
		if (g->pieces[i] == NULL || g->lens[i] == 0)
			return pgi_error(err, PGI_ERR_CORRUPT, "SentencePiece pieces must not be empty.",
							 "GGUF token %zu is empty", i);
		if (scores && (!gguf_arr_f64(scores, i, &s) || isnan(s)))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "GGUF tokenizer.ggml.scores[%zu] is not a number", i);
		if (types && !gguf_arr_i64(types, i, &t))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "GGUF tokenizer.ggml.token_type[%zu] is not an integer", i);
		if (t == 0)
			t = TOK_SPM_NORMAL; /* llama.cpp's "undefined" */
		if (t < TOK_SPM_NORMAL || t > TOK_SPM_BYTE)
			return pgi_error(err, PGI_ERR_CORRUPT, "Token types are 0 to 6.",
							 "GGUF token %zu has type %lld", i, (long long) t);
		g->scores[i] = (float) s;
		g->types[i] = (int32_t) t;
	}
	g->v.n = n;
	g->v.pieces = g->pieces;
	g->v.piece_lens = g->lens;
	g->v.scores = g->scores;
	g->v.types = g->types;
	return PGI_OK;
}

/*
 * Settle the unknown token: the unknown_token_id key if present (its
 * piece becomes UNKNOWN), else the first UNKNOWN piece.  SentencePiece
 * allows one UNKNOWN piece; other UNKNOWN pieces become CONTROL, which,
 * like an unknown token, encoding never produces from text.
 */
static PgiStatus
settle_unknown(GgufVocab *g, PgiError *err)
{
	for (size_t i = 0; i < g->v.n; i++)
	{
		if (g->types[i] != TOK_SPM_UNKNOWN)
			continue;
		if (g->v.unk_id < 0)
			g->v.unk_id = (int32_t) i;
		else if ((int32_t) i != g->v.unk_id)
			g->types[i] = TOK_SPM_CONTROL;
	}
	if (g->v.unk_id < 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "SentencePiece needs an unknown token: set tokenizer.ggml.unknown_token_id.",
						 "GGUF vocabulary has no unknown token");
	g->types[g->v.unk_id] = TOK_SPM_UNKNOWN;
	return PGI_OK;
}

/* Write a GGUF "llama" vocabulary as a ModelProto; see tok_spm.h */
PgiStatus
tok_spm_proto_from_gguf(const GgufFile *f, uint8_t **out, size_t *out_len,
						TokSpmInfo *info, PgiError *err)
{
	GgufVocab	g;
	const char *model;
	size_t		model_len;
	bool		add_space;
	bool		add_bos;
	bool		add_eos;
	PgiStatus	st;

	*out = NULL;
	*out_len = 0;
	memset(&g, 0, sizeof(g));
	if ((st = gguf_get_str(f, "tokenizer.ggml.model", &model, &model_len, err)) != PGI_OK)
		return st;
	if (model_len != 5 || memcmp(model, "llama", 5) != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Only tokenizer.ggml.model \"llama\" is a SentencePiece vocabulary.",
						 "GGUF tokenizer \"%.*s\" is not a SentencePiece vocabulary",
						 (int) (model_len > 64 ? 64 : model_len), model);
	if ((st = read_gguf_arrays(f, &g, err)) != PGI_OK ||
		(st = gguf_special(f, "tokenizer.ggml.unknown_token_id", g.v.n, &g.v.unk_id, err)) != PGI_OK ||
		(st = gguf_special(f, "tokenizer.ggml.bos_token_id", g.v.n, &g.v.bos_id, err)) != PGI_OK ||
		(st = gguf_special(f, "tokenizer.ggml.eos_token_id", g.v.n, &g.v.eos_id, err)) != PGI_OK ||
		(st = gguf_special(f, "tokenizer.ggml.padding_token_id", g.v.n, &g.v.pad_id, err)) != PGI_OK ||
		(st = gguf_flag(f, "tokenizer.ggml.add_space_prefix", true, &add_space, err)) != PGI_OK ||
		(st = gguf_flag(f, "tokenizer.ggml.add_bos_token", true, &add_bos, err)) != PGI_OK ||
		(st = gguf_flag(f, "tokenizer.ggml.add_eos_token", false, &add_eos, err)) != PGI_OK ||
		(st = settle_unknown(&g, err)) != PGI_OK)
	{
		gguf_vocab_free(&g);
		return st;
	}
	g.v.model_type = TOK_SPM_BPE;
	g.v.add_dummy_prefix = add_space;
	g.v.remove_extra_whitespaces = false;
	g.v.byte_fallback = false;
	for (size_t i = 0; i < g.v.n; i++)
		if (g.types[i] == TOK_SPM_BYTE)
			g.v.byte_fallback = true;
	st = tok_spm_proto_build(&g.v, out, out_len, err);
	if (st == PGI_OK && info != NULL)
	{
		info_defaults(info);
		info->n_pieces = (int32_t) g.v.n;
		info->model_type = TOK_SPM_BPE;
		info->unk_id = g.v.unk_id;
		info->bos_id = g.v.bos_id;
		info->eos_id = g.v.eos_id;
		info->pad_id = g.v.pad_id;
		info->add_bos = add_bos;
		info->add_eos = add_eos;
		info->byte_fallback = g.v.byte_fallback;
		info->add_dummy_prefix = add_space;
		info->remove_extra_whitespaces = false;
	}
	gguf_vocab_free(&g);
	return st;
}
