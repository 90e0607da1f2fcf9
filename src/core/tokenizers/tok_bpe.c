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
 *	  tokens matched in the normalized text) walked from every position
 *	  for the leftmost-longest match, as Hugging Face's Aho-Corasick
 *	  automaton finds; the cost is the length of the text times the
 *	  longest added token at worst;
 *	- byte_id[b]: the id of the one-character token spelling byte b.
 *
 * Encoding a word: its bytes become symbols (ids) in a doubly linked
 * array; every adjacent pair with a merge goes into a binary min-heap
 * ordered by (rank, position).  Popping an entry merges its pair if the
 * left symbol is alive, has a right neighbour, and that pair still merges
 * into the entry's id (Hugging Face's staleness test: it compares the
 * result id, not the rank); the new pairs with the neighbours are pushed.
 * Each merge pushes at most two entries, so a word of n bytes costs
 * O(n log n) and at most 3n heap slots.
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
#define BPE_MAX_INPUT ((size_t) 1 << 30)

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
	uint8_t    *flags;			/* per id, F_* */
	StrMap		vocab;			/* string -> id */
	StrMap		added;			/* added token content -> id */
	int16_t		char_byte[BYTE_CHAR_MAX + 1];	/* byte-to-unicode inverse, -1 */
	MergeSlot  *merges;
	size_t		merge_mask;
	int32_t		byte_id[256];
	int32_t		fallback_id[256];	/* "<0xNN>" */
	int32_t		unk_id;
	bool		fuse_unk;
	bool		byte_fallback;
	bool		ignore_merges;
	Trie		raw_trie;		/* added tokens matched before normalization */
	Trie		norm_trie;		/* ... and after it */
	bool		nfc;
	TokNfcFn	nfc_fn;
	void	   *nfc_arg;
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

/* NFC of s[0..len) (valid UTF-8) into a malloc'd string */
static PgiStatus nfc_text(const TokBpe *bpe, const char *s, size_t len, char **out,
						  size_t *out_len, PgiError *err);

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
	return "custom";
}

/*
 * The added vocabulary, as Hugging Face's AddedVocabulary::add_tokens
 * assigns it: tokens in order; empty ones and exact repeats ignored; the
 * id of a content already added or in the vocabulary is kept, others get
 * the next free id after the vocabulary.  The tokens are matched in the
 * order Hugging Face builds its automaton: special tokens first.
 */
typedef struct AddedPlan
{
	int32_t    *ids;			/* per spec->added entry, NO_ID if ignored */
	int32_t    *owner;			/* per id: index of the token last set on it */
	int32_t		n_ids;			/* ids used, vocabulary included */
	int32_t    *order;			/* matching order: specials then the others */
	int32_t		n_order;
	StrMap		special_set;	/* contents of special tokens */
} AddedPlan;

static void
plan_free(AddedPlan *p)
{
	free(p->ids);
	free(p->owner);
	free(p->order);
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
	int32_t    *specials,
			   *classic;
	int32_t		n_specials = 0,
				n_classic = 0;
	size_t		owner_cap = (size_t) vocab_end + (size_t) n + 1;

	memset(p, 0, sizeof(*p));
	p->ids = malloc((n ? n : 1) * sizeof(int32_t));
	p->owner = malloc(owner_cap * sizeof(int32_t));
	p->order = malloc((2 * (size_t) n + 1) * sizeof(int32_t));
	specials = malloc((n ? n : 1) * sizeof(int32_t));
	classic = malloc((n ? n : 1) * sizeof(int32_t));
	if (!strmap_init(&added_map, n) || !strmap_init(&p->special_set, n) ||
		p->ids == NULL || p->owner == NULL || p->order == NULL ||
		specials == NULL || classic == NULL)
	{
		plan_free(p);
		strmap_free(&added_map);
		free(specials);
		free(classic);
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
		{
			strmap_put(&p->special_set, t->content, t->len, k);
			specials[n_specials++] = k;
		}
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
			free(specials);
			free(classic);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "added token id %d out of range", id);
		}
		strmap_put(&added_map, t->content, t->len, id);
		if (id > max_added)
			max_added = id;
		p->ids[k] = id;
		p->owner[id] = k;
		if (id + 1 > p->n_ids)
			p->n_ids = id + 1;
		if (strmap_get(&p->special_set, t->content, t->len) == NO_ID)
			classic[n_classic++] = k;
	}
	/* matching order: specials, then the others; each knows its content's id */
	for (int32_t i = 0; i < n_specials; i++)
		p->order[p->n_order++] = specials[i];
	for (int32_t i = 0; i < n_classic; i++)
		p->order[p->n_order++] = classic[i];
	for (int32_t i = 0; i < p->n_order; i++)
	{
		const TokBpeAdded *t = &spec->added[p->order[i]];
		int32_t		id = strmap_get(&added_map, t->content, t->len);

		/* a special token ignored as a repeat still has its content's id */
		p->ids[p->order[i]] = id;
	}
	strmap_free(&added_map);
	free(specials);
	free(classic);
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
	for (int i = 0; i < spec->n_steps; i++)
		if ((spec->steps[i].kind != TOK_BPE_STEP_SPLIT && spec->steps[i].kind != TOK_BPE_STEP_DIGITS) ||
			(unsigned) spec->steps[i].pattern >= TOK_BPE_PAT_COUNT)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid pre-tokenizer step %d", i);
	if (spec->nfc && (opts == NULL || opts->nfc == NULL))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "The caller supplied no NFC normaliser.",
						 "the tokenizer's NFC normalizer is not available");
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
	/* decode skips every id whose string is a special token's content */
	for (int32_t id = 0; id < bpe->n_ids; id++)
	{
		size_t		len;
		const char *s = tok_bpe_id_to_token(bpe, id, &len);

		if (s && strmap_get(&plan.special_set, s, len) != NO_ID)
			bpe->flags[id] |= F_SPECIAL;
	}

	/* options */
	bpe->nfc = spec->nfc;
	if (opts)
	{
		bpe->nfc_fn = opts->nfc;
		bpe->nfc_arg = opts->nfc_arg;
	}
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
	for (int i = 0; i <= BYTE_CHAR_MAX; i++)
		bpe->char_byte[i] = -1;
	for (int b = 0; b < 256; b++)
	{
		char		u[TOK_UTF8_MAX];
		char		hex[8];
		int			n = tok_utf8_encode(tok_bpe_byte_char((uint8_t) b), u);

		bpe->char_byte[tok_bpe_byte_char((uint8_t) b)] = (int16_t) b;
		bpe->byte_id[b] = strmap_get(&bpe->vocab, u, (size_t) n);
		snprintf(hex, sizeof(hex), "<0x%02X>", b);
		bpe->fallback_id[b] = strmap_get(&bpe->vocab, hex, 6);
	}

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

	/* the added tokens' tries, in matching order */
	for (int32_t i = 0; i < plan.n_order; i++)
	{
		const TokBpeAdded *t = &spec->added[plan.order[i]];
		int32_t		id = plan.ids[plan.order[i]];
		bool		ok;

		if (id == NO_ID)
			continue;
		if (!t->normalized)
			ok = trie_add(&bpe->raw_trie, t->content, t->len, id);
		else if (bpe->nfc)
		{
			char	   *norm;
			size_t		norm_len;

			st = nfc_text(bpe, t->content, t->len, &norm, &norm_len, err);
			if (st != PGI_OK)
			{
				plan_free(&plan);
				tok_bpe_free(bpe);
				return st;
			}
			ok = norm_len == 0 || trie_add(&bpe->norm_trie, norm, norm_len, id);
			free(norm);
		}
		else
			ok = trie_add(&bpe->norm_trie, t->content, t->len, id);
		if (!ok)
		{
			plan_free(&plan);
			tok_bpe_free(bpe);
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory building the added tokens");
		}
	}
	plan_free(&plan);

	/* what the caller needs */
	bpe->info.n_ids = bpe->n_ids;
	bpe->info.n_merges = spec->n_merges;
	bpe->info.unk_id = bpe->unk_id;
	bpe->info.ignore_merges = bpe->ignore_merges;
	bpe->info.nfc = bpe->nfc;
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
	/* byte_fallback may give two symbols per byte; 3 heap entries per symbol */
	c->sym_id = malloc(2 * w * sizeof(int32_t));
	c->sym_prev = malloc(2 * w * sizeof(int32_t));
	c->sym_next = malloc(2 * w * sizeof(int32_t));
	c->sym_dead = malloc(2 * w);
	c->heap = malloc(6 * w * sizeof(HeapItem));
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
	/* one symbol per byte (byte-level character) */
	for (size_t i = 0; i < n; i++)
	{
		int32_t		id = bpe->byte_id[w[i]];

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
		if (bpe->byte_fallback)
		{
			char		u[TOK_UTF8_MAX];
			int			k = tok_utf8_encode(tok_bpe_byte_char(w[i]), u);
			bool		all = true;

			for (int j = 0; j < k; j++)
				all = all && bpe->fallback_id[(uint8_t) u[j]] != NO_ID;
			if (all)
			{
				/* as Hugging Face, before a pending unknown symbol */
				for (int j = 0; j < k; j++)
					c->sym_id[nsym++] = bpe->fallback_id[(uint8_t) u[j]];
				continue;
			}
		}
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

/* One pre-tokenizer step over the word ranges src[0..n) into dst; returns count */
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

		for (size_t p = 0; p < len;)
		{
			size_t		q;

			if (step->kind == TOK_BPE_STEP_SPLIT)
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
			if (gap < p)
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
		if (gap < len)
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

	if (!c->bpe->nfc)
		return piece_normalized(c, s, len);
	if ((st = nfc_text(c->bpe, s, len, &norm, &norm_len, c->err)) != PGI_OK)
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

/* ---------------------------------------------------------------- NFC */

/* A growing UTF-8 output buffer */
typedef struct OutBuf
{
	char	   *s;
	size_t		len;
	size_t		cap;
} OutBuf;

/* Append code point cp; false when out of memory */
static bool
out_cp(OutBuf *b, uint32_t cp)
{
	if (b->len + TOK_UTF8_MAX + 1 > b->cap)
	{
		size_t		cap = b->cap * 2 + TOK_UTF8_MAX + 1;
		char	   *grown = realloc(b->s, cap);

		if (grown == NULL)
			return false;
		b->s = grown;
		b->cap = cap;
	}
	b->len += (size_t) tok_utf8_encode(cp, b->s + b->len);
	return true;
}

/* Normalize cps[0..n) (n >= 1, no NUL) with the callback, appending to b */
static PgiStatus
nfc_run(const TokBpe *bpe, const uint32_t *cps, size_t n, uint32_t **tmp, size_t *tmp_cap,
		OutBuf *b, PgiError *err)
{
	int64_t		m = bpe->nfc_fn(bpe->nfc_arg, cps, n, *tmp, *tmp_cap);

	if (m < 0)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	if ((size_t) m > *tmp_cap)
	{
		uint32_t   *grown = realloc(*tmp, (size_t) m * sizeof(uint32_t));

		if (grown == NULL)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
		*tmp = grown;
		*tmp_cap = (size_t) m;
		m = bpe->nfc_fn(bpe->nfc_arg, cps, n, *tmp, *tmp_cap);
		if (m < 0 || (size_t) m > *tmp_cap)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "the NFC normaliser failed");
	}
	for (int64_t i = 0; i < m; i++)
	{
		uint32_t	cp = (*tmp)[i];

		if (cp == 0 || cp > TOK_UNICODE_MAX || (cp >= 0xD800 && cp <= 0xDFFF))
			return pgi_error(err, PGI_ERR_DATA, NULL, "the NFC normaliser returned U+%04X", cp);
		if (!out_cp(b, cp))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	}
	if (b->len >= BPE_MAX_INPUT)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "normalized text too long");
	return PGI_OK;
}

/*
 * Whether NFC never joins cp with what precedes it, so that NFC(a + b) is
 * NFC(a) + NFC(b) when b starts with cp: cp is a starter that is never the
 * second character of a canonical composition.  Below U+0300 every
 * character is; above, those second characters are combining marks and
 * the Hangul vowel and trailing jamo, and every character of another
 * category has canonical combining class 0 and decomposes (if at all) to
 * a starter of the same kind.
 */
static bool
nfc_boundary(uint32_t cp)
{
	if (cp < 0x300)
		return true;
	if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) ||
		(cp >= 0xD7B0 && cp <= 0xD7FF))
		return false;
	return !TOK_UC_IS_MARK(tok_unicode_category(cp));
}

#define NFC_CHUNK 256			/* code points per callback, normally */

/*
 * NFC of s[0..len) (valid UTF-8) into a malloc'd string.  The text is cut
 * before every nfc_boundary() code point; pieces made only of code points
 * below U+0300 (NUL included: the callback never sees one) are already
 * NFC and copied; the others are normalized by the callback in chunks of
 * about NFC_CHUNK code points, cut at boundaries, so that its cost stays
 * linear (PostgreSQL's frontend unicode_normalize() is slow on long runs).
 */
static PgiStatus
nfc_text(const TokBpe *bpe, const char *s, size_t len, char **out, size_t *out_len, PgiError *err)
{
	uint32_t   *cps,
			   *tmp = NULL;
	size_t		n = 0,
				tmp_cap = 0,
				chunk = 0;		/* start of the pending chunk */
	OutBuf		b = {NULL, 0, 0};
	PgiStatus	st;

	cps = malloc((len + 1) * sizeof(uint32_t));
	b.cap = len + TOK_UTF8_MAX + 1;
	b.s = malloc(b.cap);
	if (cps == NULL || b.s == NULL)
	{
		free(cps);
		free(b.s);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	}
	st = tok_utf8_to_cps(s, len, cps, &n, err);
	/* room for the usual case (NFC rarely grows a text): one call per chunk */
	tmp_cap = NFC_CHUNK * 2;
	tmp = malloc(tmp_cap * sizeof(uint32_t));
	if (tmp == NULL && st == PGI_OK)
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	for (size_t i = 0; i < n && st == PGI_OK;)
	{
		size_t		j = i + 1;
		bool		high = cps[i] >= 0x300;

		/* one piece: cps[i] and the code points up to the next boundary (a NUL alone) */
		while (cps[i] != 0 && j < n && !nfc_boundary(cps[j]))
			high |= cps[j++] >= 0x300;
		if (high)
		{
			/* joins the chunk, which is flushed once long enough */
			if (j - chunk >= NFC_CHUNK)
			{
				st = nfc_run(bpe, cps + chunk, j - chunk, &tmp, &tmp_cap, &b, err);
				chunk = j;
			}
		}
		else
		{
			if (chunk < i)
				st = nfc_run(bpe, cps + chunk, i - chunk, &tmp, &tmp_cap, &b, err);
			for (size_t k = i; k < j && st == PGI_OK; k++)
				if (!out_cp(&b, cps[k]))
					st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
			chunk = j;
		}
		i = j;
	}
	if (st == PGI_OK && chunk < n)
		st = nfc_run(bpe, cps + chunk, n - chunk, &tmp, &tmp_cap, &b, err);
	free(cps);
	free(tmp);
	if (st != PGI_OK)
	{
		free(b.s);
		return st;
	}
	b.s[b.len] = '\0';
	*out = b.s;
	*out_len = b.len;
	return PGI_OK;
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
		if (tok_bpe_id_to_token(bpe, ids[i], &tl))
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
		const char *t = tok_bpe_id_to_token(bpe, ids[i], &tl);
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
