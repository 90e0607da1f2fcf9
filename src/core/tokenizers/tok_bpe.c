/*-------------------------------------------------------------------------
 *
 * tok_bpe.c
 *	  Byte-level BPE tokenizer, as Hugging Face tokenizers does it (see
 *	  tok_bpe.h for the pipeline).
 *
 * Tables, all built once:
 *	- the vocabulary: one block of NUL-terminated strings and an
 *	  open-addressing hash table (FNV-1a, linear probing) from string to
 *	  entry; per id, its vocabulary string and its added-token content;
 *	- the merges: an open-addressing table from the id pair (a, b) to
 *	  (rank, id of a+b); for a pair listed twice the later line wins, as
 *	  in Hugging Face's HashMap;
 *	- the added tokens: two byte tries (tokens matched in the raw text,
 *	  tokens matched in the normalized text, by their normalized content)
 *	  walked from every position for the leftmost-longest match, as
 *	  Hugging Face's Aho-Corasick automaton finds; the cost is the length
 *	  of the text times the longest added token at worst; per id, a
 *	  normalized token's normalized content, which decoding gives;
 *	- byte_id[b]: the id of the one-character token spelling byte b, and
 *	  byte_eow_id[b] the id of that character followed by the
 *	  end_of_word_suffix.
 *
 * Encoding a word: its bytes become symbols (ids) in a doubly linked
 * array, the last one spelled with the suffix; every adjacent pair with a
 * merge goes into a binary min-heap ordered by (rank, position).  Popping
 * an entry merges its pair if the left symbol is alive, has a right
 * neighbour, and that pair still merges into the entry's id (Hugging
 * Face's staleness test: it compares the result id, not the rank); the
 * new pairs with the neighbours are pushed.  Each merge pushes at most two
 * entries, so a word of n symbols costs O(n log n) and at most 3n heap
 * slots.
 *
 * src/core/tokenizers/tok_bpe.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_bpe_unicode.h"
#include "core/tokenizers/tok_unicode.h"

#define FNV_BASIS	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

/* Largest input: PostgreSQL's text limit; keeps every size below overflow */
#define BPE_MAX_INPUT TOK_BPE_MAX_INPUT

/* Highest code point of the byte-to-unicode map (256 + 67 remapped bytes) */
#define BYTE_CHAR_MAX 0x143

/* Per-id flags */
#define F_VOCAB		0x01		/* has a vocabulary string */
#define F_ADDED		0x02		/* is an added token */
#define F_SPECIAL	0x04		/* its string is a special token (decode skips) */
#define F_LSTRIP	0x08
#define F_RSTRIP	0x10
#define F_SINGLE	0x20

#define NO_ID		(-1)

/* A string -> value hash table over strings held elsewhere */
typedef struct StrEntry
{
	const char *s;
	size_t		len;
	uint64_t	hash;
	int32_t		value;
} StrEntry;

typedef struct StrMap
{
	StrEntry   *entries;
	int32_t		n;
	int32_t    *slots;			/* entry index, -1 when empty */
	size_t		mask;
} StrMap;

/* (left id, right id) -> (rank, merged id) */
typedef struct MergeSlot
{
	uint64_t	key;			/* UINT64_MAX when empty */
	uint32_t	rank;
	int32_t		id;
} MergeSlot;

/* A byte trie of added tokens */
typedef struct TrieNode
{
	int32_t		child;			/* first child, -1 if none */
	int32_t		sibling;		/* next sibling, -1 if none */
	int32_t		id;				/* token ending here, -1 if none */
	uint8_t		byte;
} TrieNode;

typedef struct Trie
{
	TrieNode   *nodes;
	int32_t		n;
	int32_t		cap;
	int32_t		n_patterns;
} Trie;

struct TokBpe
{
	TokBpeInfo	info;
	int32_t		n_ids;
	char	   *blob;			/* vocabulary strings, then added contents */
	const char **voc_str;		/* per id, NULL if none */
	uint32_t   *voc_len;
	const char **add_str;		/* per id, NULL if not an added token */
	uint32_t   *add_len;
	char	  **norm_str;		/* per id, malloc'd: a normalized added token's
								 * normalized content when it differs, or NULL */
	uint32_t   *norm_len;
	uint8_t    *flags;			/* per id, F_* */
	StrMap		vocab;			/* string -> id */
	StrMap		added;			/* added token content -> id */
	int16_t		char_byte[BYTE_CHAR_MAX + 1];	/* byte-to-unicode inverse, -1 */
	MergeSlot  *merges;
	size_t		merge_mask;
	int32_t		byte_id[256];
	int32_t		byte_eow_id[256];	/* byte character + suffix, with a suffix */
	int32_t		fallback_id[256];	/* "<0xNN>" */
	int32_t		unk_id;
	bool		fuse_unk;
	bool		byte_fallback;
	bool		ignore_merges;
	char		suffix[TOK_BPE_MAX_SUFFIX];	/* end_of_word_suffix */
	size_t		suffix_len;		/* 0: none */
	bool		suffix_fallback;	/* every suffix byte has a <0xNN> token */
	Trie		raw_trie;		/* added tokens matched before normalization */
	Trie		norm_trie;		/* ... and after it */
	TokBpeNormKind norm_steps[TOK_BPE_MAX_NORMS];
	TokBpeNormalizer norm;		/* over norm_steps; no step: no normalizer */
	TokBpeStep	steps[TOK_BPE_MAX_STEPS];
	int			n_steps;
	bool		add_prefix_space;
	bool		use_regex;
};

/* ---------------------------------------------------------------- helpers */

/* FNV-1a of s[0..len), continuing from h */
static inline uint64_t
fnv(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		h ^= (uint8_t) s[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* Smallest power of two >= 2n (at least 16) */
static size_t
table_size(size_t n)
{
	size_t		s = 16;

	while (s < 2 * n)
		s <<= 1;
	return s;
}

/* The code point GPT-2 spells byte b with */
uint32_t
tok_bpe_byte_char(uint8_t b)
{
	uint32_t	n = 0;

	/* printable Latin-1 stands for itself; the rest is 256, 257, ... in order */
	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
		return b;
	for (uint32_t c = 0; c < b; c++)
		if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
			n++;
	return 256 + n;
}

/* ---------------------------------------------------------------- StrMap */

/* Allocate a map for up to n entries */
static bool
strmap_init(StrMap *m, size_t n)
{
	size_t		size = table_size(n);

	m->entries = malloc((n ? n : 1) * sizeof(StrEntry));
	m->slots = malloc(size * sizeof(int32_t));
	m->n = 0;
	m->mask = size - 1;
	if (m->entries == NULL || m->slots == NULL)
		return false;
	memset(m->slots, 0xff, size * sizeof(int32_t));
	return true;
}

static void
strmap_free(StrMap *m)
{
	free(m->entries);
	free(m->slots);
	m->entries = NULL;
	m->slots = NULL;
}

/* Slot of a key whose hash is h: the entry's slot, or the empty one */
static size_t
strmap_slot(const StrMap *m, uint64_t h, const char *a, size_t alen,
			const char *b, size_t blen)
{
	size_t		i = (size_t) h & m->mask;

	for (;;)
	{
		int32_t		e = m->slots[i];
		const StrEntry *en;

		if (e < 0)
			return i;
		en = &m->entries[e];
		if (en->hash == h && en->len == alen + blen &&
			memcmp(en->s, a, alen) == 0 && (blen == 0 || memcmp(en->s + alen, b, blen) == 0))
			return i;
		i = (i + 1) & m->mask;
	}
}

/* Value of the concatenation a+b, or NO_ID */
static int32_t
strmap_get2(const StrMap *m, const char *a, size_t alen, const char *b, size_t blen)
{
	uint64_t	h = fnv(fnv(FNV_BASIS, a, alen), b, blen);
	int32_t		e = m->slots[strmap_slot(m, h, a, alen, b, blen)];

	return e < 0 ? NO_ID : m->entries[e].value;
}

static inline int32_t
strmap_get(const StrMap *m, const char *s, size_t len)
{
	return strmap_get2(m, s, len, NULL, 0);
}

/* Set key s (kept by reference) to value; returns the previous value or NO_ID */
static int32_t
strmap_put(StrMap *m, const char *s, size_t len, int32_t value)
{
	uint64_t	h = fnv(FNV_BASIS, s, len);
	size_t		i = strmap_slot(m, h, s, len, NULL, 0);
	int32_t		old;

	if (m->slots[i] >= 0)
	{
		old = m->entries[m->slots[i]].value;
		m->entries[m->slots[i]].value = value;
		return old;
	}
	m->entries[m->n] = (StrEntry) {s, len, h, value};
	m->slots[i] = m->n++;
	return NO_ID;
}

/* ---------------------------------------------------------------- merges */

static inline size_t
merge_hash(uint64_t key, size_t mask)
{
	return (size_t) ((key * 0x9E3779B97F4A7C15ULL) >> 17) & mask;
}

/* The merge of (a, b), or NULL */
static inline const MergeSlot *
merge_get(const TokBpe *bpe, int32_t a, int32_t b)
{
	uint64_t	key = ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;
	size_t		i = merge_hash(key, bpe->merge_mask);

	for (;;)
	{
		const MergeSlot *s = &bpe->merges[i];

		if (s->key == key)
			return s;
		if (s->key == UINT64_MAX)
			return NULL;
		i = (i + 1) & bpe->merge_mask;
	}
}

/* Set the merge of (a, b), replacing an earlier one */
static void
merge_put(TokBpe *bpe, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
	uint64_t	key = ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;
	size_t		i = merge_hash(key, bpe->merge_mask);

	while (bpe->merges[i].key != UINT64_MAX && bpe->merges[i].key != key)
		i = (i + 1) & bpe->merge_mask;
	bpe->merges[i] = (MergeSlot) {key, rank, id};
}

/* ---------------------------------------------------------------- tries */

/* Add s[0..len) with token id to the trie; false when out of memory */
static bool
trie_add(Trie *t, const char *s, size_t len, int32_t id)
{
	int32_t		node = 0;

	if (t->n == 0)
	{
		t->cap = 64;
		t->nodes = malloc(t->cap * sizeof(TrieNode));
		if (t->nodes == NULL)
			return false;
		t->nodes[0] = (TrieNode) {-1, -1, -1, 0};
		t->n = 1;
	}
	for (size_t i = 0; i < len; i++)
	{
		uint8_t		c = (uint8_t) s[i];
		int32_t		k = t->nodes[node].child;

		while (k >= 0 && t->nodes[k].byte != c)
			k = t->nodes[k].sibling;
		if (k < 0)
		{
			if (t->n == t->cap)
			{
				TrieNode   *grown;

				if (t->cap > INT32_MAX / 2)
					return false;
				grown = realloc(t->nodes, (size_t) t->cap * 2 * sizeof(TrieNode));
				if (grown == NULL)
					return false;
				t->nodes = grown;
				t->cap *= 2;
			}
			k = t->n++;
			t->nodes[k] = (TrieNode) {-1, t->nodes[node].child, -1, c};
			t->nodes[node].child = k;
		}
		node = k;
	}
	t->nodes[node].id = id;
	t->n_patterns++;
	return true;
}

/* Longest token of the trie starting at s[0..len): its length (0: none) and *id */
static size_t
trie_longest(const Trie *t, const char *s, size_t len, int32_t *id)
{
	int32_t		node = 0;
	size_t		best = 0;

	for (size_t i = 0; i < len; i++)
	{
		int32_t		k = t->nodes[node].child;

		while (k >= 0 && t->nodes[k].byte != (uint8_t) s[i])
			k = t->nodes[k].sibling;
		if (k < 0)
			break;
		node = k;
		if (t->nodes[node].id >= 0)
		{
			best = i + 1;
			*id = t->nodes[node].id;
		}
	}
	return best;
}

/* ---------------------------------------------------------------- building */

void
tok_bpe_spec_init(TokBpeSpec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->use_regex = true;
	spec->bos_id = spec->eos_id = spec->pad_id = NO_ID;
}

void
tok_bpe_free(TokBpe *bpe)
{
	if (bpe == NULL)
		return;
	free(bpe->blob);
	free(bpe->voc_str);
	free(bpe->voc_len);
	free(bpe->add_str);
	free(bpe->add_len);
	for (int32_t id = 0; bpe->norm_str && id < bpe->n_ids; id++)
		free(bpe->norm_str[id]);
	free(bpe->norm_str);
	free(bpe->norm_len);
	free(bpe->flags);
	strmap_free(&bpe->vocab);
	strmap_free(&bpe->added);
	free(bpe->merges);
	free(bpe->raw_trie.nodes);
	free(bpe->norm_trie.nodes);
	free(bpe);
}

/* Whether two added tokens are equal in every field (Hugging Face's PartialEq) */
static bool
added_equal(const TokBpeAdded *a, const TokBpeAdded *b)
{
	return a->len == b->len && memcmp(a->content, b->content, a->len) == 0 &&
		a->special == b->special && a->normalized == b->normalized &&
		a->lstrip == b->lstrip && a->rstrip == b->rstrip && a->single_word == b->single_word;
}

/* The name of a pre-tokenizer configuration, for TokBpeInfo */
static const char *
pre_name(const TokBpe *bpe)
{
	if (bpe->n_steps == 0 && bpe->use_regex && !bpe->add_prefix_space)
		return "gpt2";
	if (bpe->n_steps == 1 && !bpe->use_regex && !bpe->add_prefix_space &&
		bpe->steps[0].kind == TOK_BPE_STEP_SPLIT)
		return bpe->steps[0].pattern == TOK_BPE_PAT_LLAMA3 ? "llama3" :
			bpe->steps[0].pattern == TOK_BPE_PAT_QWEN2 ? "qwen2" : "custom";
	if (bpe->n_steps == 1 && bpe->use_regex && !bpe->add_prefix_space &&
		bpe->steps[0].kind == TOK_BPE_STEP_DIGITS && bpe->steps[0].individual_digits)
		return "smollm";
	if (bpe->n_steps == 1 && bpe->use_regex && !bpe->add_prefix_space &&
		bpe->steps[0].kind == TOK_BPE_STEP_KEEP && bpe->steps[0].pattern == TOK_BPE_PAT_CLIP)
		return "clip";
	return "custom";
}

/*
 * The added vocabulary, as Hugging Face's AddedVocabulary::add_tokens
 * assigns it: tokens in order; empty ones and exact repeats ignored; the
 * id of a content already added or in the vocabulary is kept, others get
 * the next free id after the vocabulary.  The token last set on an id
 * gives its options and how it is matched (build_tries).
 */
typedef struct AddedPlan
{
	int32_t    *ids;			/* per spec->added entry, NO_ID if ignored */
	int32_t    *owner;			/* per id: index of the token last set on it */
	int32_t		n_ids;			/* ids used, vocabulary included */
	StrMap		special_set;	/* contents of special tokens */
} AddedPlan;

static void
plan_free(AddedPlan *p)
{
	free(p->ids);
	free(p->owner);
	strmap_free(&p->special_set);
}

/*
 * Build the plan over the model's vocabulary (its entry count is Hugging
 * Face's get_vocab_size; vocab_end is its largest id + 1)
 */
static PgiStatus
plan_added(const TokBpeSpec *spec, const StrMap *vocab, int32_t vocab_end,
		   AddedPlan *p, PgiError *err)
{
	int32_t		n = spec->n_added;
	StrMap		added_map;
	int32_t		max_added = NO_ID;
	size_t		owner_cap = (size_t) vocab_end + (size_t) n + 1;

	memset(p, 0, sizeof(*p));
	p->ids = malloc((n ? n : 1) * sizeof(int32_t));
	p->owner = malloc(owner_cap * sizeof(int32_t));
	if (!strmap_init(&added_map, n) || !strmap_init(&p->special_set, n) ||
		p->ids == NULL || p->owner == NULL)
	{
		plan_free(p);
		strmap_free(&added_map);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the added tokens");
	}
	for (size_t i = 0; i < owner_cap; i++)
		p->owner[i] = NO_ID;
	p->n_ids = vocab_end;
	for (int32_t k = 0; k < n; k++)
	{
		const TokBpeAdded *t = &spec->added[k];
		int32_t		id;

		p->ids[k] = NO_ID;
		if (t->len == 0)
			continue;
		if (t->special && strmap_get(&p->special_set, t->content, t->len) == NO_ID)
			strmap_put(&p->special_set, t->content, t->len, k);
		id = strmap_get(&added_map, t->content, t->len);
		if (id != NO_ID && p->owner[id] >= 0 && added_equal(&spec->added[p->owner[id]], t))
			continue;
		if (id == NO_ID)
			id = strmap_get(vocab, t->content, t->len);
		if (id == NO_ID)
		{
			int32_t		vsize = vocab->n;

			if (max_added == NO_ID)
				id = vsize;
			else
				id = (max_added >= vsize || vsize == 0) ? max_added + 1 : vsize;
		}
		if ((size_t) id >= owner_cap)
		{
			plan_free(p);
			strmap_free(&added_map);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "added token id %d out of range", id);
		}
		strmap_put(&added_map, t->content, t->len, id);
		if (id > max_added)
			max_added = id;
		p->ids[k] = id;
		p->owner[id] = k;
		if (id + 1 > p->n_ids)
			p->n_ids = id + 1;
	}
	strmap_free(&added_map);
	return PGI_OK;
}

/* Check an optional id for the caller */
static PgiStatus
check_id(int32_t id, int32_t n_ids, const char *what, PgiError *err)
{
	if (id < NO_ID || id >= n_ids)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "%s id %d is not in the vocabulary (%d ids)",
						 what, id, n_ids);
	return PGI_OK;
}

/*
 * The string an id decodes from: a normalized added token's normalized
 * content (Hugging Face's simple_id_to_token), else as tok_bpe_id_to_token
 */
static const char *
decode_token(const TokBpe *bpe, int32_t id, size_t *len)
{
	if (bpe->norm_str && bpe->norm_str[id])
	{
		*len = bpe->norm_len[id];
		return bpe->norm_str[id];
	}
	return tok_bpe_id_to_token(bpe, id, len);
}

/*
 * The normalized contents of the normalized added tokens, as Hugging
 * Face's AddedVocabulary::add_tokens caches them: in file order, for each
 * token not ignored, its content through the normalizer when that changes
 * it (a later token on the same id replaces the entry, none removes it)
 */
static PgiStatus
normalize_added(TokBpe *bpe, const TokBpeSpec *spec, const AddedPlan *plan, PgiError *err)
{
	if (bpe->norm.n_steps == 0)
		return PGI_OK;
	bpe->norm_str = calloc(bpe->n_ids + 1, sizeof(char *));
	bpe->norm_len = calloc(bpe->n_ids + 1, sizeof(uint32_t));
	if (bpe->norm_str == NULL || bpe->norm_len == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the added tokens");
	for (int32_t k = 0; k < spec->n_added; k++)
	{
		const TokBpeAdded *t = &spec->added[k];
		int32_t		id = plan->ids[k];
		char	   *norm;
		size_t		norm_len;
		PgiStatus	st;

		if (id == NO_ID || !t->normalized)
			continue;
		if ((st = tok_bpe_normalize(&bpe->norm, t->content, t->len, &norm, &norm_len, err)) != PGI_OK)
			return st;
		if (norm_len > UINT32_MAX || (norm_len == t->len && memcmp(norm, t->content, norm_len) == 0))
		{
			free(norm);
			continue;
		}
		free(bpe->norm_str[id]);
		bpe->norm_str[id] = norm;
		bpe->norm_len[id] = (uint32_t) norm_len;
	}
	return PGI_OK;
}

/*
 * The tries of the added tokens, one pattern per id from the token last
 * set on it (AddedVocabulary::refresh_added_tokens): its content in the raw
 * trie, or in the normalized one its normalized content; false when out of
 * memory
 */
static bool
build_tries(TokBpe *bpe, const TokBpeSpec *spec, const AddedPlan *plan)
{
	for (int32_t id = 0; id < bpe->n_ids; id++)
	{
		const TokBpeAdded *t;
		size_t		len;
		const char *pat;

		if (!(bpe->flags[id] & F_ADDED))
			continue;
		t = &spec->added[plan->owner[id]];
		if (!t->normalized)
		{
			if (!trie_add(&bpe->raw_trie, t->content, t->len, id))
				return false;
			continue;
		}
		pat = decode_token(bpe, id, &len);
		if (len > 0 && !trie_add(&bpe->norm_trie, pat, len, id))
			return false;
	}
	return true;
}

/* Check the pre-tokenizer steps, the normalizer and the suffix of spec */
static PgiStatus
check_options(const TokBpeSpec *spec, const TokBpeOptions *opts, PgiError *err)
{
	for (int i = 0; i < spec->n_steps; i++)
		if ((spec->steps[i].kind != TOK_BPE_STEP_SPLIT && spec->steps[i].kind != TOK_BPE_STEP_DIGITS &&
			 spec->steps[i].kind != TOK_BPE_STEP_KEEP) ||
			(unsigned) spec->steps[i].pattern >= TOK_BPE_PAT_COUNT)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid pre-tokenizer step %d", i);
	if (spec->n_norms < 0 || spec->n_norms > TOK_BPE_MAX_NORMS)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid number of normalizer steps (%d)", spec->n_norms);
	for (int i = 0; i < spec->n_norms; i++)
	{
		if ((unsigned) spec->norms[i] >= TOK_BPE_NORM_COUNT)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid normalizer step %d", i);
		if (spec->norms[i] == TOK_BPE_NORM_NFC && (opts == NULL || opts->nfc == NULL))
			return pgi_error(err, PGI_ERR_UNSUPPORTED, "The caller supplied no NFC normaliser.",
							 "the tokenizer's NFC normalizer is not available");
	}
	if (spec->end_of_word_suffix == NULL && spec->suffix_len > 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "end_of_word_suffix is NULL");
	if (spec->suffix_len > TOK_BPE_MAX_SUFFIX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "end_of_word_suffix longer than %d bytes (%zu)",
						 TOK_BPE_MAX_SUFFIX, spec->suffix_len);
	if (spec->suffix_len > 0 &&
		tok_utf8_validate(spec->end_of_word_suffix, spec->suffix_len, NULL) != PGI_OK)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "end_of_word_suffix is not valid UTF-8");
	return PGI_OK;
}

/* Set the per-byte ids: byte character, with the suffix, <0xNN> */
static void
set_byte_ids(TokBpe *bpe)
{
	for (int i = 0; i <= BYTE_CHAR_MAX; i++)
		bpe->char_byte[i] = -1;
	for (int b = 0; b < 256; b++)
	{
		char		u[TOK_UTF8_MAX];
		char		hex[8];
		int			n = tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), u);

		bpe->char_byte[tok_bpe_byte_char((uint8_t) b)] = (int16_t) b;
		bpe->byte_id[b] = strmap_get(&bpe->vocab, u, (size_t) n);
		bpe->byte_eow_id[b] = bpe->suffix_len ?
			strmap_get2(&bpe->vocab, u, (size_t) n, bpe->suffix, bpe->suffix_len) : bpe->byte_id[b];
		snprintf(hex, sizeof(hex), "<0x%02X>", b);
		bpe->fallback_id[b] = strmap_get(&bpe->vocab, hex, 6);
	}
	bpe->suffix_fallback = true;
	for (size_t i = 0; i < bpe->suffix_len; i++)
		bpe->suffix_fallback &= bpe->fallback_id[(uint8_t) bpe->suffix[i]] != NO_ID;
}

PgiStatus
tok_bpe_new(const TokBpeSpec *spec, const TokBpeOptions *opts, TokBpe **out, PgiError *err)
{
	TokBpe	   *bpe;
	AddedPlan	plan;
	size_t		blob_len = 0,
				pos = 0;
	int32_t		vocab_end = 0;
	PgiStatus	st;

	*out = NULL;
	if (spec == NULL || spec->n_tokens < 0 || spec->n_merges < 0 || spec->n_added < 0 ||
		spec->n_steps < 0 || spec->n_steps > TOK_BPE_MAX_STEPS ||
		(spec->n_tokens > 0 && (spec->tokens == NULL || spec->lens == NULL)) ||
		(spec->n_merges > 0 && (spec->merge_left == NULL || spec->merge_right == NULL ||
								spec->merge_left_lens == NULL || spec->merge_right_lens == NULL)) ||
		(spec->n_added > 0 && spec->added == NULL))
		return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid byte-level BPE specification");
	if ((st = check_options(spec, opts, err)) != PGI_OK)
		return st;
	if (spec->n_tokens >= TOK_BPE_MAX_IDS || spec->n_added >= TOK_BPE_MAX_IDS)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "byte-level BPE vocabulary too large (more than %d tokens)",
						 TOK_BPE_MAX_IDS);

	/* sizes, and the checks that need no tables */
	for (int32_t i = 0; i < spec->n_tokens; i++)
	{
		int32_t		id = spec->ids ? spec->ids[i] : i;

		if (spec->tokens[i] == NULL && spec->lens[i] > 0)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "vocabulary entry %d is NULL", i);
		if (id < 0 || id >= TOK_BPE_MAX_IDS)
			return pgi_error(err, id < 0 ? PGI_ERR_CORRUPT : PGI_ERR_LIMIT, NULL,
							 "vocabulary id %d out of range", id);
		if (spec->lens[i] > UINT32_MAX || tok_utf8_validate(spec->tokens[i], spec->lens[i], NULL) != PGI_OK)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "vocabulary entry %d is not valid UTF-8", id);
		if (id + 1 > vocab_end)
			vocab_end = id + 1;
		blob_len += spec->lens[i] + 1;
		if (blob_len > BPE_MAX_INPUT * 4)
			return pgi_error(err, PGI_ERR_LIMIT, NULL, "byte-level BPE vocabulary too large");
	}
	for (int32_t k = 0; k < spec->n_added; k++)
	{
		const TokBpeAdded *t = &spec->added[k];

		if ((t->content == NULL && t->len > 0) || t->len > UINT32_MAX ||
			tok_utf8_validate(t->content, t->len, NULL) != PGI_OK)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "added token %d is not valid UTF-8", k);
		blob_len += t->len + 1;
	}
	/* per-id tables are sized by the largest id: refuse ids far beyond the count */
	if ((size_t) vocab_end > 2 * (size_t) spec->n_tokens + 65536)
		return pgi_error(err, PGI_ERR_LIMIT, "Vocabulary ids may leave at most as many gaps as there are tokens, plus 65536.",
						 "byte-level BPE vocabulary ids too sparse (id %d for %d tokens)",
						 vocab_end - 1, spec->n_tokens);
	if (spec->unk_token && tok_utf8_validate(spec->unk_token, spec->unk_len, NULL) != PGI_OK)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "unk_token is not valid UTF-8");

	bpe = calloc(1, sizeof(TokBpe));
	if (bpe == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the tokenizer");
	bpe->blob = malloc(blob_len ? blob_len : 1);
	if (bpe->blob == NULL || !strmap_init(&bpe->vocab, spec->n_tokens) ||
		!strmap_init(&bpe->added, spec->n_added))
	{
		tok_bpe_free(bpe);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the tokenizer");
	}

	/* the vocabulary: a later duplicate string takes the string over */
	for (int32_t i = 0; i < spec->n_tokens; i++)
	{
		char	   *s = bpe->blob + pos;

		if (spec->lens[i])
			memcpy(s, spec->tokens[i], spec->lens[i]);
		s[spec->lens[i]] = '\0';
		pos += spec->lens[i] + 1;
		strmap_put(&bpe->vocab, s, spec->lens[i], spec->ids ? spec->ids[i] : i);
	}

	/* the added tokens' ids, then the per-id tables */
	st = plan_added(spec, &bpe->vocab, vocab_end, &plan, err);
	if (st != PGI_OK)
	{
		tok_bpe_free(bpe);
		return st;
	}
	bpe->n_ids = plan.n_ids;
	bpe->voc_str = calloc(bpe->n_ids + 1, sizeof(char *));
	bpe->voc_len = calloc(bpe->n_ids + 1, sizeof(uint32_t));
	bpe->add_str = calloc(bpe->n_ids + 1, sizeof(char *));
	bpe->add_len = calloc(bpe->n_ids + 1, sizeof(uint32_t));
	bpe->flags = calloc(bpe->n_ids + 1, 1);
	bpe->merges = malloc(table_size(spec->n_merges) * sizeof(MergeSlot));
	if (bpe->voc_str == NULL || bpe->voc_len == NULL || bpe->add_str == NULL ||
		bpe->add_len == NULL || bpe->flags == NULL || bpe->merges == NULL)
	{
		plan_free(&plan);
		tok_bpe_free(bpe);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the tokenizer");
	}
	/* id -> string: entries in map order, so the last string given an id wins */
	for (int32_t e = 0; e < bpe->vocab.n; e++)
	{
		const StrEntry *en = &bpe->vocab.entries[e];

		bpe->voc_str[en->value] = en->s;
		bpe->voc_len[en->value] = (uint32_t) en->len;
		bpe->flags[en->value] |= F_VOCAB;
	}
	for (int32_t k = 0; k < spec->n_added; k++)
	{
		const TokBpeAdded *t = &spec->added[k];
		char	   *s = bpe->blob + pos;

		if (t->len)
			memcpy(s, t->content, t->len);
		s[t->len] = '\0';
		pos += t->len + 1;
		if (plan.ids[k] != NO_ID && plan.owner[plan.ids[k]] == k)
		{
			int32_t		id = plan.ids[k];

			bpe->add_str[id] = s;
			bpe->add_len[id] = (uint32_t) t->len;
			strmap_put(&bpe->added, s, t->len, id);
			bpe->flags[id] = (uint8_t) ((bpe->flags[id] & F_VOCAB) | F_ADDED |
										(t->lstrip ? F_LSTRIP : 0) |
										(t->rstrip ? F_RSTRIP : 0) |
										(t->single_word ? F_SINGLE : 0));
		}
	}
	/* options */
	memcpy(bpe->norm_steps, spec->norms, sizeof(bpe->norm_steps));
	bpe->norm.steps = bpe->norm_steps;
	bpe->norm.n_steps = spec->n_norms;
	if (opts)
	{
		bpe->norm.nfc = opts->nfc;
		bpe->norm.nfc_arg = opts->nfc_arg;
	}
	if ((st = normalize_added(bpe, spec, &plan, err)) != PGI_OK)
	{
		plan_free(&plan);
		tok_bpe_free(bpe);
		return st;
	}
	/* decode skips every id whose decoded string is a special token's content */
	for (int32_t id = 0; id < bpe->n_ids; id++)
	{
		size_t		len;
		const char *s = decode_token(bpe, id, &len);

		if (s && strmap_get(&plan.special_set, s, len) != NO_ID)
			bpe->flags[id] |= F_SPECIAL;
	}
	if (spec->suffix_len)
		memcpy(bpe->suffix, spec->end_of_word_suffix, spec->suffix_len);
	bpe->suffix_len = spec->suffix_len;
	bpe->fuse_unk = spec->fuse_unk;
	bpe->byte_fallback = spec->byte_fallback;
	bpe->ignore_merges = spec->ignore_merges;
	memcpy(bpe->steps, spec->steps, sizeof(bpe->steps));
	bpe->n_steps = spec->n_steps;
	bpe->add_prefix_space = spec->add_prefix_space;
	bpe->use_regex = spec->use_regex;
	bpe->unk_id = NO_ID;
	if (spec->unk_token)
	{
		bpe->unk_id = strmap_get(&bpe->vocab, spec->unk_token, spec->unk_len);
		if (bpe->unk_id == NO_ID)
		{
			plan_free(&plan);
			tok_bpe_free(bpe);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "unk_token \"%.*s\" is not in the vocabulary",
							 (int) (spec->unk_len > 64 ? 64 : spec->unk_len), spec->unk_token);
		}
	}
	set_byte_ids(bpe);

	/* merges: parts and result must be in the vocabulary */
	bpe->merge_mask = table_size(spec->n_merges) - 1;
	for (size_t i = 0; i <= bpe->merge_mask; i++)
		bpe->merges[i].key = UINT64_MAX;
	for (int32_t r = 0; r < spec->n_merges; r++)
	{
		const char *l = spec->merge_left[r],
				   *rt = spec->merge_right[r];
		size_t		ll = spec->merge_left_lens[r],
					rl = spec->merge_right_lens[r];
		int32_t		a = (l || !ll) ? strmap_get(&bpe->vocab, l, ll) : NO_ID;
		int32_t		b = (rt || !rl) ? strmap_get(&bpe->vocab, rt, rl) : NO_ID;
		int32_t		m = (a != NO_ID && b != NO_ID) ? strmap_get2(&bpe->vocab, l, ll, rt, rl) : NO_ID;

		if (m == NO_ID)
		{
			plan_free(&plan);
			tok_bpe_free(bpe);
			return pgi_error(err, PGI_ERR_CORRUPT, "Every merge's parts and their concatenation must be vocabulary entries.",
							 "merge %d (\"%.*s\" \"%.*s\") uses a token that is not in the vocabulary",
							 r, (int) (ll > 40 ? 40 : ll), l ? l : "", (int) (rl > 40 ? 40 : rl), rt ? rt : "");
		}
		merge_put(bpe, a, b, (uint32_t) r, m);
	}

	if (!build_tries(bpe, spec, &plan))
	{
		plan_free(&plan);
		tok_bpe_free(bpe);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the added tokens");
	}
	plan_free(&plan);

	/* what the caller needs */
	bpe->info.n_ids = bpe->n_ids;
	bpe->info.n_merges = spec->n_merges;
	bpe->info.unk_id = bpe->unk_id;
	bpe->info.ignore_merges = bpe->ignore_merges;
	for (int i = 0; i < spec->n_norms; i++)
	{
		bpe->info.nfc |= spec->norms[i] == TOK_BPE_NORM_NFC;
		bpe->info.lowercase |= spec->norms[i] == TOK_BPE_NORM_LOWERCASE;
	}
	bpe->info.suffix = bpe->suffix_len > 0;
	bpe->info.pre = pre_name(bpe);
	if ((st = check_id(spec->bos_id, bpe->n_ids, "BOS", err)) != PGI_OK ||
		(st = check_id(spec->eos_id, bpe->n_ids, "EOS", err)) != PGI_OK ||
		(st = check_id(spec->pad_id, bpe->n_ids, "padding", err)) != PGI_OK)
	{
		tok_bpe_free(bpe);
		return st;
	}
	bpe->info.bos_id = spec->bos_id;
	bpe->info.eos_id = spec->eos_id;
	bpe->info.pad_id = spec->pad_id;
	bpe->info.add_bos = spec->add_bos && spec->bos_id >= 0;
	bpe->info.add_eos = spec->add_eos && spec->eos_id >= 0;
	*out = bpe;
	return PGI_OK;
}

/* ---------------------------------------------------------------- lookups */

int32_t
tok_bpe_token_to_id(const TokBpe *bpe, const char *token, size_t len)
{
	/* added tokens first, as AddedVocabulary::token_to_id */
	int32_t		id = strmap_get(&bpe->added, token, len);

	return id != NO_ID ? id : strmap_get(&bpe->vocab, token, len);
}

const char *
tok_bpe_id_to_token(const TokBpe *bpe, int32_t id, size_t *len)
{
	if (id < 0 || id >= bpe->n_ids)
		return NULL;
	if (bpe->flags[id] & F_ADDED)
	{
		if (len)
			*len = bpe->add_len[id];
		return bpe->add_str[id];
	}
	if (bpe->flags[id] & F_VOCAB)
	{
		if (len)
			*len = bpe->voc_len[id];
		return bpe->voc_str[id];
	}
	return NULL;
}

bool
tok_bpe_is_special(const TokBpe *bpe, int32_t id)
{
	return id >= 0 && id < bpe->n_ids && (bpe->flags[id] & F_SPECIAL);
}

const TokBpeInfo *
tok_bpe_info(const TokBpe *bpe)
{
	return &bpe->info;
}

/* ---------------------------------------------------------------- encoding */

/* Work buffers of one encode call */
typedef struct EncCtx
{
	const TokBpe *bpe;
	TokBpeIds  *out;
	PgiError   *err;
	/* pre-tokenization of one piece */
	uint32_t   *cps;
	uint8_t    *cls;
	size_t	   *offs;			/* byte offset of each code point, +1 */
	size_t	   *ranges[2];		/* word ranges [a, b), ping-pong */
	size_t		cap;			/* code points the buffers hold */
	/* one word with a prefix space */
	uint32_t   *pcps;
	uint8_t    *pcls;
	size_t	   *poffs;
	char	   *pbytes;
	/* BPE of one word */
	int32_t    *sym_id;
	int32_t    *sym_prev;
	int32_t    *sym_next;
	uint8_t    *sym_dead;
	struct HeapItem *heap;
	char	   *mapped;			/* byte-level spelling, 2 bytes per byte at most */
	size_t		wcap;			/* bytes a word may have */
} EncCtx;

typedef struct HeapItem
{
	uint32_t	rank;
	uint32_t	pos;
	int32_t		id;
} HeapItem;

/* Free the work buffers (the pointers are overwritten or cleared next) */
static void
ctx_free_buffers(EncCtx *c)
{
	free(c->cps);
	free(c->cls);
	free(c->offs);
	free(c->ranges[0]);
	free(c->ranges[1]);
	free(c->pcps);
	free(c->pcls);
	free(c->poffs);
	free(c->pbytes);
	free(c->sym_id);
	free(c->sym_prev);
	free(c->sym_next);
	free(c->sym_dead);
	free(c->heap);
	free(c->mapped);
}

static void
ctx_free(EncCtx *c)
{
	ctx_free_buffers(c);
	memset(c, 0, sizeof(*c));
}

/* Make the buffers hold a piece of n bytes (so at most n code points) */
static PgiStatus
ctx_reserve(EncCtx *c, size_t n)
{
	size_t		cp = n + 2;
	size_t		w = n + 2;		/* a word: the piece plus a prefix space */
	/* symbols: byte_fallback may give two per byte, plus the suffix's bytes */
	size_t		nsym = 2 * w + c->bpe->suffix_len;

	if (cp <= c->cap)
		return PGI_OK;
	ctx_free_buffers(c);
	c->cps = malloc(cp * sizeof(uint32_t));
	c->cls = malloc(cp);
	c->offs = malloc((cp + 1) * sizeof(size_t));
	c->ranges[0] = malloc(2 * cp * sizeof(size_t));
	c->ranges[1] = malloc(2 * cp * sizeof(size_t));
	c->pcps = malloc(cp * sizeof(uint32_t));
	c->pcls = malloc(cp);
	c->poffs = malloc((cp + 1) * sizeof(size_t));
	c->pbytes = malloc(w);
	/* 3 heap entries per symbol */
	c->sym_id = malloc(nsym * sizeof(int32_t));
	c->sym_prev = malloc(nsym * sizeof(int32_t));
	c->sym_next = malloc(nsym * sizeof(int32_t));
	c->sym_dead = malloc(nsym);
	c->heap = malloc(3 * nsym * sizeof(HeapItem));
	c->mapped = malloc(2 * w + 1);
	c->cap = cp;
	c->wcap = w;
	if (!c->cps || !c->cls || !c->offs || !c->ranges[0] || !c->ranges[1] || !c->pcps ||
		!c->pcls || !c->poffs || !c->pbytes || !c->sym_id || !c->sym_prev || !c->sym_next ||
		!c->sym_dead || !c->heap || !c->mapped)
	{
		c->cap = 0;
		return pgi_error(c->err, PGI_ERR_NOMEM, NULL, "out of memory tokenizing");
	}
	return PGI_OK;
}

/* Append one id */
static PgiStatus
emit(EncCtx *c, int32_t id)
{
	TokBpeIds  *o = c->out;

	if (o->len == o->cap)
	{
		size_t		cap = o->cap ? o->cap * 2 : 64;
		int32_t    *grown = realloc(o->ids, cap * sizeof(int32_t));

		if (grown == NULL)
			return pgi_error(c->err, PGI_ERR_NOMEM, NULL, "out of memory tokenizing");
		o->ids = grown;
		o->cap = cap;
	}
	o->ids[o->len++] = id;
	return PGI_OK;
}

/* Heap order: rank, then position */
static inline bool
heap_less(const HeapItem *a, const HeapItem *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push(HeapItem *h, size_t *n, HeapItem it)
{
	size_t		i = (*n)++;

	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (!heap_less(&it, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = it;
}

static HeapItem
heap_pop(HeapItem *h, size_t *n)
{
	HeapItem	top = h[0];
	HeapItem	last = h[--(*n)];
	size_t		i = 0;

	for (;;)
	{
		size_t		l = 2 * i + 1,
					m;

		if (l >= *n)
			break;
		m = (l + 1 < *n && heap_less(&h[l + 1], &h[l])) ? l + 1 : l;
		if (!heap_less(&h[m], &last))
			break;
		h[i] = h[m];
		i = m;
	}
	if (*n > 0)
		h[i] = last;
	return top;
}

/* Push the merge of symbols (left, right) if there is one */
static inline void
push_pair(EncCtx *c, size_t *nheap, int32_t left, int32_t right)
{
	const MergeSlot *m;

	if (left < 0 || right < 0)
		return;
	m = merge_get(c->bpe, c->sym_id[left], c->sym_id[right]);
	if (m)
		heap_push(c->heap, nheap, (HeapItem) {m->rank, (uint32_t) left, m->id});
}

/* The byte-level spelling of w[0..n) into c->mapped; returns its length */
static size_t
map_bytes(EncCtx *c, const uint8_t *w, size_t n)
{
	size_t		len = 0;

	for (size_t i = 0; i < n; i++)
		len += (size_t) tok_utf8_encode(tok_bpe_byte_char(w[i]), c->mapped + len);
	return len;
}

/*
 * byte_fallback for the symbol of byte b (with the suffix when last): the
 * <0xNN> tokens of its spelling's UTF-8 appended to the symbols; false,
 * appending nothing, when one of them is not in the vocabulary
 */
static bool
add_fallback(EncCtx *c, uint8_t b, bool last, int32_t *nsym)
{
	const TokBpe *bpe = c->bpe;
	char		u[TOK_UTF8_MAX];
	int			k = tok_utf8_encode(tok_bpe_byte_char(b), u);

	if (last && !bpe->suffix_fallback)
		return false;
	for (int j = 0; j < k; j++)
		if (bpe->fallback_id[(uint8_t) u[j]] == NO_ID)
			return false;
	for (int j = 0; j < k; j++)
		c->sym_id[(*nsym)++] = bpe->fallback_id[(uint8_t) u[j]];
	for (size_t j = 0; last && j < bpe->suffix_len; j++)
		c->sym_id[(*nsym)++] = bpe->fallback_id[(uint8_t) bpe->suffix[j]];
	return true;
}

/* The BPE model over one word of n >= 1 bytes: append its ids */
static PgiStatus
bpe_word(EncCtx *c, const uint8_t *w, size_t n)
{
	const TokBpe *bpe = c->bpe;
	int32_t		nsym = 0;
	bool		unk_pending = false;
	size_t		nheap = 0;
	PgiStatus	st;

	if (n == 0)
		return PGI_OK;
	if (bpe->ignore_merges)
	{
		int32_t		id = strmap_get(&bpe->vocab, c->mapped, map_bytes(c, w, n));

		if (id != NO_ID)
			return emit(c, id);
	}
	/* one symbol per byte (byte-level character; the last with the suffix) */
	for (size_t i = 0; i < n; i++)
	{
		bool		last = i + 1 == n && bpe->suffix_len > 0;
		int32_t		id = last ? bpe->byte_eow_id[w[i]] : bpe->byte_id[w[i]];

		if (id != NO_ID)
		{
			if (unk_pending)
			{
				c->sym_id[nsym++] = bpe->unk_id;
				unk_pending = false;
			}
			c->sym_id[nsym++] = id;
			continue;
		}
		/* as Hugging Face, the fallback tokens go before a pending unknown symbol */
		if (bpe->byte_fallback && add_fallback(c, w[i], last, &nsym))
			continue;
		if (bpe->unk_id != NO_ID)
		{
			if (unk_pending && !bpe->fuse_unk)
				c->sym_id[nsym++] = bpe->unk_id;
			unk_pending = true;
		}
		/* no unk_token: the character is dropped */
	}
	if (unk_pending)
		c->sym_id[nsym++] = bpe->unk_id;
	if (nsym == 0)
		return PGI_OK;
	for (int32_t i = 0; i < nsym; i++)
	{
		c->sym_prev[i] = i - 1;
		c->sym_next[i] = i + 1 < nsym ? i + 1 : -1;
		c->sym_dead[i] = 0;
	}
	for (int32_t i = 0; i + 1 < nsym; i++)
		push_pair(c, &nheap, i, i + 1);
	while (nheap > 0)
	{
		HeapItem	top = heap_pop(c->heap, &nheap);
		int32_t		p = (int32_t) top.pos;
		int32_t		r;
		const MergeSlot *m;

		if (c->sym_dead[p] || c->sym_next[p] < 0)
			continue;
		r = c->sym_next[p];
		m = merge_get(bpe, c->sym_id[p], c->sym_id[r]);
		if (m == NULL || m->id != top.id)
			continue;			/* stale entry */
		c->sym_id[p] = top.id;
		c->sym_next[p] = c->sym_next[r];
		c->sym_dead[r] = 1;
		if (c->sym_next[r] >= 0)
			c->sym_prev[c->sym_next[r]] = p;
		push_pair(c, &nheap, c->sym_prev[p], p);
		push_pair(c, &nheap, p, c->sym_next[p]);
	}
	for (int32_t i = 0; i >= 0; i = c->sym_next[i])
		if ((st = emit(c, c->sym_id[i])) != PGI_OK)
			return st;
	return PGI_OK;
}

/*
 * ByteLevel over one word cps[a..b) (bytes text[offs[a]..offs[b])): the
 * prefix space, the GPT-2 split, the byte-level model
 */
static PgiStatus
byte_level_word(EncCtx *c, const char *text, size_t a, size_t b)
{
	const TokBpe *bpe = c->bpe;
	const uint32_t *cps = c->cps + a;
	const uint8_t *cls = c->cls + a;
	const size_t *offs = c->offs + a;
	const char *bytes = text;
	size_t		n = b - a;
	PgiStatus	st;

	if (bpe->add_prefix_space && cps[0] != ' ')
	{
		/* a copy of the word with a space in front */
		size_t		blen = offs[n] - offs[0];

		c->pcps[0] = ' ';
		c->pcls[0] = TOK_BPE_C_S;
		memcpy(c->pcps + 1, cps, n * sizeof(uint32_t));
		memcpy(c->pcls + 1, cls, n);
		c->pbytes[0] = ' ';
		memcpy(c->pbytes + 1, text + offs[0], blen);
		c->poffs[0] = 0;
		for (size_t i = 0; i <= n; i++)
			c->poffs[i + 1] = offs[i] - offs[0] + 1;
		cps = c->pcps;
		cls = c->pcls;
		offs = c->poffs;
		bytes = c->pbytes;
		n++;
	}
	if (!bpe->use_regex)
		return bpe_word(c, (const uint8_t *) bytes + offs[0], offs[n] - offs[0]);
	for (size_t p = 0; p < n;)
	{
		size_t		len = tok_bpe_match(TOK_BPE_PAT_GPT2, cps, cls, n, p);
		size_t		q = p + (len ? len : 1);

		/* with no match, the unmatched characters up to the next match form a piece */
		if (len == 0)
			while (q < n && tok_bpe_match(TOK_BPE_PAT_GPT2, cps, cls, n, q) == 0)
				q++;
		st = bpe_word(c, (const uint8_t *) bytes + offs[p], offs[q] - offs[p]);
		if (st != PGI_OK)
			return st;
		p = q;
	}
	return PGI_OK;
}

/*
 * One pre-tokenizer step over the word ranges src[0..n) into dst; returns
 * the count.  SPLIT keeps the text between matches as words, KEEP drops it.
 */
static size_t
pre_step(const EncCtx *c, const TokBpeStep *step, const size_t *src, size_t n, size_t *dst)
{
	size_t		m = 0;

	for (size_t w = 0; w < n; w++)
	{
		size_t		a = src[2 * w],
					b = src[2 * w + 1];
		const uint32_t *cps = c->cps + a;
		const uint8_t *cls = c->cls + a;
		size_t		len = b - a;
		size_t		gap = 0;
		bool		keep_gaps = step->kind != TOK_BPE_STEP_KEEP;

		for (size_t p = 0; p < len;)
		{
			size_t		q;

			if (step->kind != TOK_BPE_STEP_DIGITS)
			{
				size_t		k = tok_bpe_match(step->pattern, cps, cls, len, p);

				if (k == 0)
				{
					p++;
					continue;
				}
				q = p + k;
			}
			else
			{
				/* Digits: numeric characters one by one or in runs (Isolated / Contiguous) */
				if (!(cls[p] & TOK_BPE_C_N))
				{
					p++;
					continue;
				}
				q = p + 1;
				if (!step->individual_digits)
					while (q < len && (cls[q] & TOK_BPE_C_N))
						q++;
			}
			if (gap < p && keep_gaps)
			{
				dst[2 * m] = a + gap;
				dst[2 * m + 1] = a + p;
				m++;
			}
			dst[2 * m] = a + p;
			dst[2 * m + 1] = a + q;
			m++;
			p = gap = q;
		}
		if (gap < len && keep_gaps)
		{
			dst[2 * m] = a + gap;
			dst[2 * m + 1] = b;
			m++;
		}
	}
	return m;
}

/* Pre-tokenize and encode text[0..len) (normalized, no added tokens left) */
static PgiStatus
encode_plain(EncCtx *c, const char *text, size_t len)
{
	size_t		n = 0,
				nw;
	int			cur = 0;
	PgiStatus	st;

	if (len == 0)
		return PGI_OK;
	if ((st = ctx_reserve(c, len)) != PGI_OK)
		return st;
	for (size_t i = 0; i < len;)
	{
		uint32_t	cp;
		int			k = tok_utf8_decode((const uint8_t *) text + i, len - i, &cp);

		if (k == 0)				/* validated by the caller */
			return pgi_error(c->err, PGI_ERR_DATA, NULL, "invalid UTF-8 after normalization");
		c->offs[n] = i;
		c->cps[n++] = cp;
		i += (size_t) k;
	}
	c->offs[n] = len;
	tok_bpe_classify(c->cps, n, c->cls);
	c->ranges[0][0] = 0;
	c->ranges[0][1] = n;
	nw = 1;
	for (int s = 0; s < c->bpe->n_steps; s++)
	{
		nw = pre_step(c, &c->bpe->steps[s], c->ranges[cur], nw, c->ranges[1 - cur]);
		cur = 1 - cur;
	}
	for (size_t w = 0; w < nw; w++)
		if ((st = byte_level_word(c, text, c->ranges[cur][2 * w], c->ranges[cur][2 * w + 1])) != PGI_OK)
			return st;
	return PGI_OK;
}

/* Rust regex \w: Alphabetic, marks, Nd, Pc, Join_Control (Alphabetic approximated) */
static bool
is_word_char(uint32_t cp)
{
	TokUnicodeCategory cat = tok_bpe_category(cp);

	if (TOK_UC_IS_LETTER(cat) || TOK_UC_IS_MARK(cat) || cat == TOK_UC_ND ||
		cat == TOK_UC_NL || cat == TOK_UC_PC || cp == 0x200C || cp == 0x200D)
		return true;
	/* Other_Alphabetic symbols: circled and squared Latin letters */
	return (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
		(cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

/* Start of the code point that ends at s[end] (exclusive) */
static size_t
prev_char(const char *s, size_t end)
{
	size_t		i = end - 1;

	while (i > 0 && ((uint8_t) s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

/* Code point at s[i] (valid UTF-8) */
static uint32_t
char_at(const char *s, size_t len, size_t i, int *k)
{
	uint32_t	cp = 0;
	int			n = tok_utf8_decode((const uint8_t *) s + i, len - i, &cp);

	if (k)
		*k = n ? n : 1;
	return cp;
}

typedef PgiStatus (*PieceFn) (EncCtx *c, const char *s, size_t len);

/*
 * Split s[0..len) at the added tokens of trie, as AddedVocabulary's
 * find_matches: leftmost-longest matches left to right, the search going
 * on after each match (a rejected single_word match included), lstrip and
 * rstrip widening a match over White_Space; the ids of the matches are
 * emitted and the text between them goes to fn.
 */
static PgiStatus
split_added(EncCtx *c, const Trie *trie, const char *s, size_t len, PieceFn fn)
{
	const TokBpe *bpe = c->bpe;
	size_t		start_offset = 0,
				pos = 0;
	PgiStatus	st;

	if (trie->n_patterns == 0)
		return fn(c, s, len);
	while (pos < len)
	{
		size_t		start = pos,
					stop = 0,
					mlen = 0;
		int32_t		id = NO_ID;

		for (; start < len; start++)
		{
			if (((uint8_t) s[start] & 0xC0) == 0x80)
				continue;
			mlen = trie_longest(trie, s + start, len - start, &id);
			if (mlen)
				break;
		}
		if (mlen == 0)
			break;
		stop = start + mlen;
		pos = stop;
		if (bpe->flags[id] & F_SINGLE)
		{
			bool		word_before = start > 0 && is_word_char(char_at(s, len, prev_char(s, start), NULL));
			bool		word_after = stop < len && is_word_char(char_at(s, len, stop, NULL));

			if (word_before || word_after)
				continue;
		}
		if (bpe->flags[id] & F_LSTRIP)
		{
			size_t		ns = start;

			while (ns > 0)
			{
				size_t		pc = prev_char(s, ns);

				if (!tok_unicode_is_whitespace(char_at(s, len, pc, NULL)))
					break;
				ns = pc;
			}
			start = ns > start_offset ? ns : start_offset;
		}
		if (bpe->flags[id] & F_RSTRIP)
		{
			int			k;

			while (stop < len && tok_unicode_is_whitespace(char_at(s, len, stop, &k)))
				stop += (size_t) k;
		}
		if (start_offset < start && (st = fn(c, s + start_offset, start - start_offset)) != PGI_OK)
			return st;
		if ((st = emit(c, id)) != PGI_OK)
			return st;
		start_offset = stop;
	}
	if (start_offset < len)
		return fn(c, s + start_offset, len - start_offset);
	return PGI_OK;
}

/* A piece after the normalized added tokens: pre-tokenizer and model */
static PgiStatus
piece_normalized(EncCtx *c, const char *s, size_t len)
{
	return split_added(c, &c->bpe->norm_trie, s, len, encode_plain);
}

/* A piece between raw added tokens: normalize, then the normalized added tokens */
static PgiStatus
piece_raw(EncCtx *c, const char *s, size_t len)
{
	char	   *norm;
	size_t		norm_len;
	PgiStatus	st;

	if (c->bpe->norm.n_steps == 0)
		return piece_normalized(c, s, len);
	if ((st = tok_bpe_normalize(&c->bpe->norm, s, len, &norm, &norm_len, c->err)) != PGI_OK)
		return st;
	st = piece_normalized(c, norm, norm_len);
	free(norm);
	return st;
}

PgiStatus
tok_bpe_encode(const TokBpe *bpe, const char *text, size_t len, TokBpeIds *out, PgiError *err)
{
	EncCtx		c;
	size_t		old_len = out->len;
	PgiStatus	st;

	if (len >= BPE_MAX_INPUT)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "text too long to tokenize (%zu bytes)", len);
	if ((st = tok_utf8_validate(text, len, err)) != PGI_OK)
		return st;
	memset(&c, 0, sizeof(c));
	c.bpe = bpe;
	c.out = out;
	c.err = err;
	st = split_added(&c, &bpe->raw_trie, text, len, piece_raw);
	ctx_free(&c);
	if (st != PGI_OK)
		out->len = old_len;
	return st;
}

/* ---------------------------------------------------------------- decoding */

/* Byte that GPT-2 spells with cp, or -1 */
static inline int
char_byte(const TokBpe *bpe, uint32_t cp)
{
	return cp <= BYTE_CHAR_MAX ? bpe->char_byte[cp] : -1;
}

/*
 * Length of the invalid sequence at s[0..n) (n >= 1, s[0] not starting a
 * valid character), as Rust's UTF-8 validation counts it: the longest
 * prefix of a well-formed sequence, at least one byte.
 */
static size_t
invalid_len(const uint8_t *s, size_t n)
{
	uint8_t		b0 = s[0],
				lo = 0x80,
				hi = 0xBF;
	size_t		need;

	if (b0 >= 0xC2 && b0 <= 0xDF)
		need = 2;
	else if (b0 >= 0xE0 && b0 <= 0xEF)
	{
		need = 3;
		if (b0 == 0xE0)
			lo = 0xA0;
		else if (b0 == 0xED)
			hi = 0x9F;
	}
	else if (b0 >= 0xF0 && b0 <= 0xF4)
	{
		need = 4;
		if (b0 == 0xF0)
			lo = 0x90;
		else if (b0 == 0xF4)
			hi = 0x8F;
	}
	else
		return 1;
	if (n < 2 || s[1] < lo || s[1] > hi)
		return 1;
	for (size_t i = 2; i < need; i++)
		if (n <= i || s[i] < 0x80 || s[i] > 0xBF)
			return i;
	return need;				/* not reached for an invalid sequence */
}

PgiStatus
tok_bpe_decode(const TokBpe *bpe, const int32_t *ids, size_t n_ids, bool skip_special,
			   char **out, size_t *out_len, PgiError *err)
{
	size_t		cap = 16,
				len = 0,
				olen = 0;
	uint8_t    *bytes;
	char	   *res;

	*out = NULL;
	for (size_t i = 0; i < n_ids; i++)
	{
		size_t		tl;

		if (ids[i] < 0 || ids[i] >= bpe->n_ids)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "token id %d is out of range (0 .. %d)",
							 ids[i], bpe->n_ids - 1);
		if (decode_token(bpe, ids[i], &tl))
		{
			cap += tl;
			if (cap > BPE_MAX_INPUT)
				return pgi_error(err, PGI_ERR_LIMIT, NULL, "decoded text too long");
		}
	}
	bytes = malloc(cap);
	if (bytes == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory decoding");
	for (size_t i = 0; i < n_ids; i++)
	{
		size_t		tl,
					start = len;
		const char *t = decode_token(bpe, ids[i], &tl);
		bool		mapped = true;

		if (t == NULL || (skip_special && (bpe->flags[ids[i]] & F_SPECIAL)))
			continue;
		/* every character a byte-level one: those bytes; else the token's own */
		for (size_t k = 0; k < tl && mapped;)
		{
			uint32_t	cp;
			int			n = tok_utf8_decode((const uint8_t *) t + k, tl - k, &cp);
			int			b = n ? char_byte(bpe, cp) : -1;

			if (b < 0)
				mapped = false;
			else
				bytes[len++] = (uint8_t) b;
			k += n ? (size_t) n : 1;
		}
		if (!mapped)
		{
			len = start;
			memcpy(bytes + len, t, tl);
			len += tl;
		}
	}
	/* from_utf8_lossy: U+FFFD (3 bytes) for each invalid sequence, at least 1 byte */
	res = malloc(3 * len + 1);
	if (res == NULL)
	{
		free(bytes);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory decoding");
	}
	for (size_t i = 0; i < len;)
	{
		uint32_t	cp;
		int			k = tok_utf8_decode(bytes + i, len - i, &cp);

		if (k > 0)
		{
			memcpy(res + olen, bytes + i, (size_t) k);
			olen += (size_t) k;
			i += (size_t) k;
		}
		else
		{
			memcpy(res + olen, "\xEF\xBF\xBD", 3);
			olen += 3;
			i += invalid_len(bytes + i, len - i);
		}
	}
	res[olen] = '\0';
	free(bytes);
	*out = res;
	*out_len = olen;
	return PGI_OK;
}
