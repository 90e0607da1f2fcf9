/*-------------------------------------------------------------------------
 *
 * tok_wordpiece.c
 *	  WordPiece tokenizer (BERT family), as Hugging Face tokenizers does it.
 *
 * The vocabulary lives in one block of NUL-terminated strings with an
 * open-addressing hash table over it (FNV-1a, linear probing).  Lookups of
 * continuation pieces hash the prefix first and then the piece, so no
 * "##" + piece string is ever built.
 *
 * Encoding works on code points: the text is decoded once, each
 * normalisation step rewrites the array (clean_text and
 * handle_chinese_chars into one buffer, NFD through the caller's callback
 * into the other, mark stripping in place, lowercasing back into the
 * first), then words are cut out and matched.  For the matching, a word is
 * turned back into UTF-8 and, at each position, the FNV hashes of all its
 * prefixes up to the longest vocabulary entry are computed in one pass; the
 * hash table is probed from the longest prefix down, accepting only ends
 * on a character boundary, which is Hugging Face's "longest substring in
 * the vocabulary" without its quadratic string building.
 *
 * src/core/tokenizers/tok_wordpiece.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_wordpiece.h"

#include <stdlib.h>
#include <string.h>

#define FNV_BASIS	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

/* Largest input: PostgreSQL's text limit; keeps every size below overflow */
#define WP_MAX_INPUT ((size_t) 1 << 30)

#define WP_SHADOWED 0x01		/* a later duplicate took the token */
#define WP_SPECIAL	0x02

struct TokWordPiece
{
	int32_t		n_tokens;
	char	   *blob;			/* the tokens, NUL-terminated, back to back */
	size_t	   *offs;			/* token i starts at blob + offs[i] */
	size_t	   *lens;
	uint64_t   *hashes;			/* FNV-1a of each token */
	uint8_t    *flags;			/* WP_SHADOWED, WP_SPECIAL */
	int32_t    *slots;			/* hash table of ids, -1 when empty */
	size_t		mask;			/* slots - 1 (a power of two minus one) */
	size_t		max_token_len;
	int32_t		unk_id;
	char	   *prefix;
	size_t		prefix_len;
	uint64_t	prefix_hash;
	int32_t    *special_ids;
	int32_t		n_special;
	uint8_t		special_first[32];	/* bitmap of special tokens' first bytes */
	bool		clean_text;
	bool		chinese;
	bool		strip_accents;
	bool		lowercase;
	bool		cleanup;
	int32_t		max_chars;
	TokNfdFn	nfd;
	void	   *nfd_arg;
};

/* A growing code point array */
typedef struct CpBuf
{
	uint32_t   *p;
	size_t		n;
	size_t		cap;
} CpBuf;

/* Work buffers of one encode call */
typedef struct EncodeState
{
	CpBuf		a;
	CpBuf		b;
	char	   *word;			/* UTF-8 of the current word */
	size_t		word_cap;
	uint64_t   *hs;				/* prefix hashes, max_token_len entries */
	/* offsets only: the input code point each normalised one came from */
	CpBuf		src;
	uint32_t	base;			/* code points of the input before the segment */
	uint32_t	n_words;		/* words so far */
} EncodeState;

/* FNV-1a over bytes, continuing from h */
static inline uint64_t
fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t) s[i]) * FNV_PRIME;
	return h;
}

/* Spread a hash over the table's low bits */
static inline size_t
slot_of(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t) h;
}

/* Id of the token spelled pre + s with hash h, or -1 */
static int32_t
lookup(const TokWordPiece *wp, uint64_t h, const char *pre, size_t pre_len,
	   const char *s, size_t n)
{
	size_t		i = slot_of(h) & wp->mask;

	for (;;)
	{
		int32_t		id = wp->slots[i];
		const char *t;

		if (id < 0)
			return -1;
		t = wp->blob + wp->offs[id];
		if (wp->hashes[id] == h && wp->lens[id] == pre_len + n &&
			memcmp(t, pre, pre_len) == 0 && memcmp(t + pre_len, s, n) == 0)
			return id;
		i = (i + 1) & wp->mask;
	}
}

/* Put token id into the hash table; a duplicate's earlier id is shadowed */
static void
insert(TokWordPiece *wp, int32_t id)
{
	size_t		i = slot_of(wp->hashes[id]) & wp->mask;

	for (;;)
	{
		int32_t		other = wp->slots[i];

		if (other < 0)
		{
			wp->slots[i] = id;
			return;
		}
		if (wp->hashes[other] == wp->hashes[id] && wp->lens[other] == wp->lens[id] &&
			memcmp(wp->blob + wp->offs[other], wp->blob + wp->offs[id], wp->lens[id]) == 0)
		{
			wp->flags[other] |= WP_SHADOWED;
			wp->slots[i] = id;
			return;
		}
		i = (i + 1) & wp->mask;
	}
}

/* Hugging Face's defaults */
void
tok_wordpiece_config_default(TokWordPieceConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->clean_text = true;
	cfg->handle_chinese_chars = true;
	cfg->strip_accents = -1;
	cfg->lowercase = true;
	cfg->unk_token = "[UNK]";
	cfg->continuing_prefix = "##";
	cfg->max_input_chars_per_word = 100;
	cfg->decode_cleanup = true;
}

/* Copy the vocabulary into wp's block and index it */
static PgiStatus
load_vocab(TokWordPiece *wp, const char *const *tokens, const size_t *lens, PgiError *err)
{
	size_t		total = 0;
	size_t		slots = 2;
	int32_t		n = wp->n_tokens;
	PgiError	bad;

	for (int32_t i = 0; i < n; i++)
	{
		if (tokens[i] == NULL && lens[i] > 0)
			return pgi_error(err, PGI_ERR_PARAM, NULL, "vocabulary token %d is NULL", i);
		if (lens[i] > WP_MAX_INPUT || total > WP_MAX_INPUT)
			return pgi_error(err, PGI_ERR_LIMIT, NULL, "vocabulary is too large");
		if (tok_utf8_validate(tokens[i], lens[i], &bad) != PGI_OK)
			return pgi_error(err, PGI_ERR_DATA, bad.msg,
							 "vocabulary token %d is not valid UTF-8", i);
		total += lens[i] + 1;
	}
	while (slots < (size_t) n * 2)
		slots *= 2;
	wp->blob = malloc(total ? total : 1);
	wp->offs = malloc(sizeof(size_t) * (size_t) n);
	wp->lens = malloc(sizeof(size_t) * (size_t) n);
	wp->hashes = malloc(sizeof(uint64_t) * (size_t) n);
	wp->flags = calloc((size_t) n, 1);
	wp->slots = malloc(sizeof(int32_t) * slots);
	if (!wp->blob || !wp->offs || !wp->lens || !wp->hashes || !wp->flags || !wp->slots)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	wp->mask = slots - 1;
	memset(wp->slots, 0xFF, sizeof(int32_t) * slots);
	total = 0;
	for (int32_t i = 0; i < n; i++)
	{
		if (lens[i] > 0)
			memcpy(wp->blob + total, tokens[i], lens[i]);
		wp->blob[total + lens[i]] = '\0';
		wp->offs[i] = total;
		wp->lens[i] = lens[i];
		wp->hashes[i] = fnv(FNV_BASIS, tokens[i], lens[i]);
		if (lens[i] > wp->max_token_len)
			wp->max_token_len = lens[i];
		total += lens[i] + 1;
		insert(wp, i);
	}
	return PGI_OK;
}

/* Check and copy the options */
static PgiStatus
load_config(TokWordPiece *wp, const TokWordPieceConfig *cfg, PgiError *err)
{
	const char *unk = cfg->unk_token ? cfg->unk_token : "[UNK]";
	const char *prefix = cfg->continuing_prefix ? cfg->continuing_prefix : "##";

	wp->clean_text = cfg->clean_text;
	wp->chinese = cfg->handle_chinese_chars;
	wp->lowercase = cfg->lowercase;
	wp->strip_accents = cfg->strip_accents < 0 ? cfg->lowercase : cfg->strip_accents != 0;
	wp->cleanup = cfg->decode_cleanup;
	wp->nfd = cfg->nfd;
	wp->nfd_arg = cfg->nfd_arg;
	if (cfg->max_input_chars_per_word < 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL,
						 "max_input_chars_per_word must not be negative");
	wp->max_chars = cfg->max_input_chars_per_word;
	if (wp->strip_accents && wp->nfd == NULL)
		return pgi_error(err, PGI_ERR_PARAM, NULL,
						 "stripping accents needs an NFD normaliser");
	wp->unk_id = tok_wordpiece_token_to_id(wp, unk, strlen(unk));
	if (wp->unk_id < 0)
		return pgi_error(err, PGI_ERR_DATA,
						 "Words that match no vocabulary entry become the unknown token.",
						 "unknown token \"%s\" is not in the vocabulary", unk);
	wp->prefix_len = strlen(prefix);
	wp->prefix = malloc(wp->prefix_len + 1);
	if (wp->prefix == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	memcpy(wp->prefix, prefix, wp->prefix_len + 1);
	wp->prefix_hash = fnv(FNV_BASIS, prefix, wp->prefix_len);
	if (cfg->n_special_tokens < 0 || (cfg->n_special_tokens > 0 && cfg->special_tokens == NULL))
		return pgi_error(err, PGI_ERR_PARAM, NULL, "invalid special token list");
	wp->special_ids = malloc(sizeof(int32_t) * ((size_t) cfg->n_special_tokens + 1));
	if (wp->special_ids == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int32_t i = 0; i < cfg->n_special_tokens; i++)
	{
		const char *s = cfg->special_tokens[i];
		int32_t		id = s ? tok_wordpiece_token_to_id(wp, s, strlen(s)) : -1;

		if (s == NULL || s[0] == '\0')
			return pgi_error(err, PGI_ERR_PARAM, NULL, "special token %d is empty", i);
		if (id < 0)
			return pgi_error(err, PGI_ERR_DATA, NULL,
							 "special token \"%s\" is not in the vocabulary", s);
		wp->special_ids[wp->n_special++] = id;
		wp->flags[id] |= WP_SPECIAL;
		wp->special_first[(uint8_t) s[0] >> 3] |= (uint8_t) (1u << ((uint8_t) s[0] & 7));
	}
	return PGI_OK;
}

/* Build a tokenizer; see tok_wordpiece.h */
PgiStatus
tok_wordpiece_new(const char *const *tokens, const size_t *lens, int32_t n_tokens,
				  const TokWordPieceConfig *cfg, TokWordPiece **out, PgiError *err)
{
	TokWordPiece *wp;
	TokWordPieceConfig def;
	PgiStatus	st;

	*out = NULL;
	if (cfg == NULL)
	{
		tok_wordpiece_config_default(&def);
		cfg = &def;
	}
	if (n_tokens <= 0 || tokens == NULL || lens == NULL)
		return pgi_error(err, PGI_ERR_DATA, NULL, "WordPiece vocabulary is empty");
	wp = calloc(1, sizeof(*wp));
	if (wp == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	wp->n_tokens = n_tokens;
	st = load_vocab(wp, tokens, lens, err);
	if (st == PGI_OK)
		st = load_config(wp, cfg, err);
	if (st != PGI_OK)
	{
		tok_wordpiece_free(wp);
		return st;
	}
	*out = wp;
	return PGI_OK;
}

/* Free a tokenizer */
void
tok_wordpiece_free(TokWordPiece *wp)
{
	if (wp == NULL)
		return;
	free(wp->blob);
	free(wp->offs);
	free(wp->lens);
	free(wp->hashes);
	free(wp->flags);
	free(wp->slots);
	free(wp->prefix);
	free(wp->special_ids);
	free(wp);
}

/* Id of a token */
int32_t
tok_wordpiece_token_to_id(const TokWordPiece *wp, const char *token, size_t len)
{
	return lookup(wp, fnv(FNV_BASIS, token, len), "", 0, token, len);
}

/* Token of an id */
const char *
tok_wordpiece_id_to_token(const TokWordPiece *wp, int32_t id, size_t *len)
{
	if (id < 0 || id >= wp->n_tokens || (wp->flags[id] & WP_SHADOWED))
		return NULL;
	if (len)
		*len = wp->lens[id];
	return wp->blob + wp->offs[id];
}

/* Vocabulary size (ids are 0 .. size-1) */
int32_t
tok_wordpiece_vocab_size(const TokWordPiece *wp)
{
	return wp->n_tokens;
}

/* Id of the unknown token */
int32_t
tok_wordpiece_unk_id(const TokWordPiece *wp)
{
	return wp->unk_id;
}

/* Whether id is a special token */
bool
tok_wordpiece_is_special(const TokWordPiece *wp, int32_t id)
{
	return id >= 0 && id < wp->n_tokens && (wp->flags[id] & WP_SPECIAL);
}

/* Make room for extra more code points */
static bool
cp_reserve(CpBuf *b, size_t extra)
{
	size_t		need = b->n + extra;
	uint32_t   *p;

	if (need <= b->cap)
		return true;
	if (need > SIZE_MAX / 2 / sizeof(uint32_t))
		return false;
	need = need < 64 ? 64 : need + need / 2;
	p = realloc(b->p, need * sizeof(uint32_t));
	if (p == NULL)
		return false;
	b->p = p;
	b->cap = need;
	return true;
}

/* Append one id (its offsets, if wanted, are set by the caller) */
static bool
push_id(TokWordPieceIds *out, int32_t id)
{
	if (out->len == out->cap)
	{
		size_t		cap = out->cap < 32 ? 32 : out->cap * 2;
		int32_t    *p;

		if (cap > SIZE_MAX / 2 / sizeof(uint32_t))
			return false;
		if (out->want_offsets)
		{
			uint32_t   *o = realloc(out->offs, cap * 2 * sizeof(uint32_t));

			if (o == NULL)
				return false;
			out->offs = o;
			o = realloc(out->words, cap * sizeof(uint32_t));
			if (o == NULL)
				return false;
			out->words = o;
		}
		p = realloc(out->ids, cap * sizeof(int32_t));
		if (p == NULL)
			return false;
		out->ids = p;
		out->cap = cap;
	}
	if (out->want_offsets)
		out->offs[2 * out->len] = out->offs[2 * out->len + 1] = out->words[out->len] = 0;
	out->ids[out->len++] = id;
	return true;
}

/* Set the span of ids [from, out->len) */
static void
set_span(TokWordPieceIds *out, size_t from, uint32_t start, uint32_t end)
{
	if (!out->want_offsets)
		return;
	for (size_t i = from; i < out->len; i++)
	{
		out->offs[2 * i] = start;
		out->offs[2 * i + 1] = end;
	}
}

/* Ids [from, out->len) are word number word */
static void
set_word(TokWordPieceIds *out, size_t from, uint32_t word)
{
	if (!out->want_offsets)
		return;
	for (size_t i = from; i < out->len; i++)
		out->words[i] = word;
}

/* clean_text and handle_chinese_chars of one code point: 0 to 3 into out */
static int
clean_one(const TokWordPiece *wp, uint32_t cp, uint32_t out[3])
{
	if (wp->clean_text)
	{
		if (cp == 0 || cp == 0xFFFD || tok_unicode_bert_is_control(cp))
			return 0;
		if (tok_unicode_is_whitespace(cp))
			cp = ' ';
	}
	if (wp->chinese && tok_unicode_is_cjk(cp))
	{
		out[0] = ' ';
		out[1] = cp;
		out[2] = ' ';
		return 3;
	}
	out[0] = cp;
	return 1;
}

/* clean_text and handle_chinese_chars: in[0..n) into out */
static bool
clean_and_space(const TokWordPiece *wp, const uint32_t *in, size_t n, CpBuf *out)
{
	out->n = 0;
	if (!cp_reserve(out, wp->chinese ? 3 * n : n))
		return false;
	for (size_t i = 0; i < n; i++)
		out->n += (size_t) clean_one(wp, in[i], out->p + out->n);
	return true;
}

/* NFD of in[0..n) (no NUL, no kept code point) appended to out */
static PgiStatus
nfd_run(const TokWordPiece *wp, const uint32_t *in, size_t n, CpBuf *out, PgiError *err)
{
	size_t		guess = 2 * n + 8;

	for (int attempt = 0; attempt < 2; attempt++)
	{
		int64_t		m;

		if (!cp_reserve(out, guess))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		m = wp->nfd(wp->nfd_arg, in, n, out->p + out->n, out->cap - out->n);
		if (m < 0)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "Unicode normalization failed");
		if ((uint64_t) m <= out->cap - out->n)
		{
			out->n += (size_t) m;
			return PGI_OK;
		}
		guess = (size_t) m;
	}
	return pgi_error(err, PGI_ERR_DATA, NULL,
					 "Unicode normalization returned inconsistent lengths");
}

/*
 * NFD of in into out.  The callback sees the runs between NULs and the
 * code points the reference's NFD leaves alone as starters (U+11938, marks
 * newer than its Unicode 9.0 data): copying those and normalising the runs
 * around them separately is exactly what the reference computes, and
 * splitting at a NUL changes nothing.  Runs below U+00C0 are copied, since
 * NFD leaves them alone.
 */
static PgiStatus
nfd_all(const TokWordPiece *wp, const CpBuf *in, CpBuf *out, PgiError *err)
{
	size_t		i = 0;

	out->n = 0;
	while (i < in->n)
	{
		size_t		j = i;
		bool		high = false;

		while (j < in->n && in->p[j] != 0 && !tok_unicode_bert_nfd_keep(in->p[j]))
			high |= in->p[j++] >= 0xC0;
		if (high)
		{
			PgiStatus	st = nfd_run(wp, in->p + i, j - i, out, err);

			if (st != PGI_OK)
				return st;
		}
		else
		{
			if (!cp_reserve(out, j - i))
				return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
			memcpy(out->p + out->n, in->p + i, (j - i) * sizeof(uint32_t));
			out->n += j - i;
		}
		if (j < in->n)
		{
			if (!cp_reserve(out, 1))
				return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
			out->p[out->n++] = in->p[j++];
		}
		i = j;
	}
	return PGI_OK;
}

/* Drop non-spacing marks, in place */
static void
drop_marks(CpBuf *b)
{
	size_t		k = 0;

	for (size_t i = 0; i < b->n; i++)
		if (!tok_unicode_bert_is_nonspacing_mark(b->p[i]))
			b->p[k++] = b->p[i];
	b->n = k;
}

/* Full lowercase of in into out */
static bool
lower_all(const CpBuf *in, CpBuf *out)
{
	out->n = 0;
	for (size_t i = 0; i < in->n; i++)
	{
		uint32_t	low[TOK_UNICODE_LOWER_MAX];
		int			m = tok_unicode_full_lower(in->p[i], low);

		if (!cp_reserve(out, (size_t) m))
			return false;
		for (int k = 0; k < m; k++)
			out->p[out->n++] = low[k];
	}
	return true;
}

/*
 * BertNormalizer over in[0..n); the result is left in st->a.  Buffers swap
 * roles between steps so that no step copies more than it must.
 */
static PgiStatus
normalize_cps(const TokWordPiece *wp, const uint32_t *in, size_t n, EncodeState *st,
			  PgiError *err)
{
	CpBuf		tmp;

	if (!clean_and_space(wp, in, n, &st->a))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	if (wp->strip_accents)
	{
		PgiStatus	s = nfd_all(wp, &st->a, &st->b, err);

		if (s != PGI_OK)
			return s;
		drop_marks(&st->b);
		tmp = st->a;
		st->a = st->b;
		st->b = tmp;
	}
	if (wp->lowercase)
	{
		if (!lower_all(&st->a, &st->b))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		tmp = st->a;
		st->a = st->b;
		st->b = tmp;
	}
	return PGI_OK;
}

/*
 * Offsets: the input code point (st->base + index into in) that each code
 * point normalize_cps left in st->a came from, into st->src.  The same
 * steps one input character at a time: NFD of a run is the concatenation
 * of its characters' decompositions with combining marks reordered, so the
 * lengths agree and only the order of marks of one character sequence can
 * differ (their spans are neighbours either way).
 */
static PgiStatus
track_sources(const TokWordPiece *wp, const uint32_t *in, size_t n, EncodeState *st,
			  PgiError *err)
{
	st->src.n = 0;
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	one[3];
		uint32_t	dec[64];
		int64_t		m = 0;
		int			k = clean_one(wp, in[i], one);

		for (int j = 0; j < k; j++)
		{
			if (wp->strip_accents && one[j] >= 0xC0 && !tok_unicode_bert_nfd_keep(one[j]))
			{
				m = wp->nfd(wp->nfd_arg, &one[j], 1, dec, 64);
				if (m < 0 || m > 64)
					return pgi_error(err, PGI_ERR_NOMEM, NULL, "Unicode normalization failed");
			}
			else
			{
				dec[0] = one[j];
				m = 1;
			}
			for (int64_t d = 0; d < m; d++)
			{
				uint32_t	low[TOK_UNICODE_LOWER_MAX];
				int			c = 1;

				if (wp->strip_accents && tok_unicode_bert_is_nonspacing_mark(dec[d]))
					continue;
				if (wp->lowercase)
					c = tok_unicode_full_lower(dec[d], low);
				if (!cp_reserve(&st->src, (size_t) c))
					return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
				while (c-- > 0)
					st->src.p[st->src.n++] = st->base + (uint32_t) i;
			}
		}
	}
	if (st->src.n != st->a.n)
		return pgi_error(err, PGI_ERR_DATA, NULL,
						 "token offsets: normalised text of %zu code points, tracked %zu",
						 st->a.n, st->src.n);
	return PGI_OK;
}

/*
 * Offsets of the ids a word (normalised code points src[0..n)) became,
 * out->ids[from..]: each piece's bytes in the word, from the tokens'
 * lengths; an unknown word (or pieces that do not add up) spans the word
 */
static void
word_spans(const TokWordPiece *wp, const uint32_t *src, size_t n, const char *w, size_t len,
		   TokWordPieceIds *out, size_t from)
{
	size_t		b = 0,
				c = 0;

	set_span(out, from, src[0], src[n - 1] + 1);
	if (out->len - from == 1 && out->ids[from] == wp->unk_id)
		return;
	for (size_t i = from; i < out->len; i++)
	{
		size_t		pl = i == from ? 0 : wp->prefix_len;
		size_t		e;
		size_t		c0 = c;

		if (wp->lens[out->ids[i]] < pl)
			return;
		e = b + wp->lens[out->ids[i]] - pl;
		if (e > len || e == b)
			return;
		while (b < e)			/* count the piece's code points */
		{
			b++;
			while (b < len && ((uint8_t) w[b] & 0xC0) == 0x80)
				b++;
			c++;
		}
		if (b != e)
			return;
		out->offs[2 * i] = src[c0];
		out->offs[2 * i + 1] = src[c - 1] + 1;
	}
}

/* Greedy longest-match-first over one word w[0..len) */
static bool
match_word(const TokWordPiece *wp, const char *w, size_t len, uint64_t *hs,
		   TokWordPieceIds *out)
{
	size_t		n0 = out->len;
	size_t		start = 0;

	while (start < len)
	{
		bool		first = start == 0;
		size_t		room = first ? wp->max_token_len :
			(wp->max_token_len > wp->prefix_len ? wp->max_token_len - wp->prefix_len : 0);
		size_t		end_max = len - start < room ? len : start + room;
		uint64_t	h = first ? FNV_BASIS : wp->prefix_hash;
		int32_t		id = -1;
		size_t		end;

		for (size_t i = start; i < end_max; i++)
		{
			h = (h ^ (uint8_t) w[i]) * FNV_PRIME;
			hs[i - start] = h;
		}
		for (end = end_max; end > start; end--)
		{
			if (end < len && ((uint8_t) w[end] & 0xC0) == 0x80)
				continue;		/* not a character boundary */
			id = lookup(wp, hs[end - start - 1], first ? "" : wp->prefix,
						first ? 0 : wp->prefix_len, w + start, end - start);
			if (id >= 0)
				break;
		}
		if (id < 0)
		{
			out->len = n0;
			return push_id(out, wp->unk_id);
		}
		if (!push_id(out, id))
			return false;
		start = end;
	}
	return true;
}

/* Tokenize the word cps[0..n) (src: their input code points, or NULL) */
static PgiStatus
encode_word(const TokWordPiece *wp, const uint32_t *cps, const uint32_t *src, size_t n,
			EncodeState *st, TokWordPieceIds *out, PgiError *err)
{
	size_t		len = 0;
	size_t		from = out->len;

	if (n > (size_t) wp->max_chars)
	{
		if (!push_id(out, wp->unk_id))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		if (src)
			set_span(out, from, src[0], src[n - 1] + 1);
		set_word(out, from, st->n_words++);
		return PGI_OK;
	}
	if (n * TOK_UTF8_MAX > st->word_cap)
	{
		char	   *p = realloc(st->word, n * TOK_UTF8_MAX);

		if (p == NULL)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		st->word = p;
		st->word_cap = n * TOK_UTF8_MAX;
	}
	for (size_t i = 0; i < n; i++)
		len += (size_t) tok_utf8_encode(cps[i], st->word + len);
	if (!match_word(wp, st->word, len, st->hs, out))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	if (src)
		word_spans(wp, src, n, st->word, len, out, from);
	set_word(out, from, st->n_words++);
	return PGI_OK;
}

/* BertPreTokenizer then WordPiece over cps[0..n) */
static PgiStatus
encode_words(const TokWordPiece *wp, const uint32_t *cps, size_t n, EncodeState *st,
			 TokWordPieceIds *out, PgiError *err)
{
	size_t		start = 0;

	for (size_t i = 0; i <= n; i++)
	{
		bool		ws = i == n || tok_unicode_is_whitespace(cps[i]);
		bool		punct = !ws && tok_unicode_bert_is_punct(cps[i]);
		PgiStatus	s;

		const uint32_t *src = out->want_offsets ? st->src.p : NULL;

		if (!ws && !punct)
			continue;
		if (i > start && (s = encode_word(wp, cps + start, src ? src + start : NULL, i - start,
										  st, out, err)) != PGI_OK)
			return s;
		if (punct && (s = encode_word(wp, cps + i, src ? src + i : NULL, 1, st, out, err)) != PGI_OK)
			return s;
		start = i + 1;
	}
	return PGI_OK;
}

/* Normalize and tokenize text[0..len) (valid UTF-8, no special token) */
static PgiStatus
encode_segment(const TokWordPiece *wp, const char *text, size_t len, EncodeState *st,
			   TokWordPieceIds *out, PgiError *err)
{
	size_t		n;
	PgiStatus	s;

	if (len == 0)
		return PGI_OK;
	/* b holds the decoded text until clean_and_space has read it */
	st->b.n = 0;
	if (!cp_reserve(&st->b, len))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	s = tok_utf8_to_cps(text, len, st->b.p, &n, err);
	if (s == PGI_OK)
	{
		uint32_t   *decoded = st->b.p;

		/* clean_and_space writes to a, so b's array stays intact for it */
		s = normalize_cps(wp, decoded, n, st, err);
		/* normalize_cps may have left the decoded text in b: decode again */
		if (s == PGI_OK && out->want_offsets)
		{
			st->b.n = 0;
			if (!cp_reserve(&st->b, len))
				return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
			if ((s = tok_utf8_to_cps(text, len, st->b.p, &n, err)) == PGI_OK)
				s = track_sources(wp, st->b.p, n, st, err);
		}
	}
	if (s == PGI_OK)
		s = encode_words(wp, st->a.p, st->a.n, st, out, err);
	return s;
}

/* Longest special token at text[0..len), -1 if none */
static int32_t
match_special(const TokWordPiece *wp, const char *text, size_t len, size_t *mlen)
{
	uint8_t		c = (uint8_t) text[0];
	int32_t		best = -1;

	*mlen = 0;
	if (!(wp->special_first[c >> 3] & (1u << (c & 7))))
		return -1;
	for (int32_t i = 0; i < wp->n_special; i++)
	{
		int32_t		id = wp->special_ids[i];
		size_t		n = wp->lens[id];

		if (n <= len && n > *mlen && memcmp(text, wp->blob + wp->offs[id], n) == 0)
		{
			best = id;
			*mlen = n;
		}
	}
	return best;
}

/* Code points in valid UTF-8 s[0..len) */
static uint32_t
cp_count(const char *s, size_t len)
{
	uint32_t	n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((uint8_t) s[i] & 0xC0) != 0x80;
	return n;
}

/* Free an encode call's buffers */
static void
state_free(EncodeState *st)
{
	free(st->a.p);
	free(st->b.p);
	free(st->word);
	free(st->hs);
	free(st->src.p);
}

/* Encode; see tok_wordpiece.h */
PgiStatus
tok_wordpiece_encode(const TokWordPiece *wp, const char *text, size_t len,
					 TokWordPieceIds *out, PgiError *err)
{
	EncodeState st;
	size_t		n0 = out->len;
	size_t		seg = 0;
	PgiStatus	s;

	if (len > WP_MAX_INPUT)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "text is too long to tokenize");
	s = tok_utf8_validate(text, len, err);
	if (s != PGI_OK)
		return s;
	memset(&st, 0, sizeof(st));
	st.hs = malloc(sizeof(uint64_t) * (wp->max_token_len + 1));
	if (st.hs == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; i < len && s == PGI_OK;)
	{
		size_t		mlen;
		int32_t		id = wp->n_special ? match_special(wp, text + i, len - i, &mlen) : -1;

		if (id < 0)
		{
			i++;
			continue;
		}
		s = encode_segment(wp, text + seg, i - seg, &st, out, err);
		st.base += cp_count(text + seg, i - seg);
		if (s == PGI_OK && !push_id(out, id))
			s = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		if (s == PGI_OK)
		{
			set_span(out, out->len - 1, st.base, st.base + cp_count(text + i, mlen));
			set_word(out, out->len - 1, st.n_words++);
		}
		st.base += cp_count(text + i, mlen);
		i += mlen;
		seg = i;
	}
	if (s == PGI_OK)
		s = encode_segment(wp, text + seg, len - seg, &st, out, err);
	state_free(&st);
	if (s != PGI_OK)
		out->len = n0;
	return s;
}

/* The normalizer alone; see tok_wordpiece.h */
PgiStatus
tok_wordpiece_normalize(const TokWordPiece *wp, const char *text, size_t len,
						char **out, size_t *out_len, PgiError *err)
{
	EncodeState st;
	PgiStatus	s;
	char	   *buf = NULL;
	size_t		n = 0;

	*out = NULL;
	if (len > WP_MAX_INPUT)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "text is too long to normalize");
	memset(&st, 0, sizeof(st));
	if (!cp_reserve(&st.b, len + 1))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	s = tok_utf8_to_cps(text, len, st.b.p, &n, err);
	if (s == PGI_OK)
		s = normalize_cps(wp, st.b.p, n, &st, err);
	if (s == PGI_OK)
	{
		buf = malloc(st.a.n * TOK_UTF8_MAX + 1);
		if (buf == NULL)
			s = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	if (s == PGI_OK)
	{
		n = 0;
		for (size_t i = 0; i < st.a.n; i++)
			n += (size_t) tok_utf8_encode(st.a.p[i], buf + n);
		buf[n] = '\0';
		*out = buf;
		*out_len = n;
	}
	state_free(&st);
	return s;
}

/* A growing byte string */
typedef struct TextBuf
{
	char	   *p;
	size_t		n;
	size_t		cap;
} TextBuf;

/* Append bytes, keeping a NUL after them */
static bool
text_put(TextBuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap)
	{
		size_t		cap = (b->n + n + 1) * 2;
		char	   *p;

		if (b->n + n + 1 > WP_MAX_INPUT * 2)
			return false;
		p = realloc(b->p, cap);
		if (p == NULL)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return true;
}

/*
 * Hugging Face's WordPiece decoder cleanup, applied to one piece: each
 * replacement in turn over the whole piece, left to right.  No replacement
 * is longer than its pattern, so it works in place.
 */
static size_t
cleanup_piece(char *s, size_t n)
{
	static const char *const pairs[][2] = {
		{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
		{" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
		{" 've", "'ve"}, {" 're", "'re"},
	};

	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++)
	{
		size_t		pl = strlen(pairs[k][0]);
		size_t		rl = strlen(pairs[k][1]);
		size_t		r = 0,
					w = 0;

		while (r < n)
		{
			if (n - r >= pl && memcmp(s + r, pairs[k][0], pl) == 0)
			{
				memmove(s + w, pairs[k][1], rl);
				w += rl;
				r += pl;
			}
			else
				s[w++] = s[r++];
		}
		n = w;
	}
	return n;
}

/* Append token id as the count-th piece of the decoded text */
static bool
decode_piece(const TokWordPiece *wp, int32_t id, size_t count, TextBuf *b, char *tmp)
{
	const char *t = wp->blob + wp->offs[id];
	size_t		n = wp->lens[id];
	size_t		k = 0;

	if (count > 0)
	{
		if (n >= wp->prefix_len && memcmp(t, wp->prefix, wp->prefix_len) == 0)
		{
			t += wp->prefix_len;
			n -= wp->prefix_len;
		}
		else
			tmp[k++] = ' ';
	}
	memcpy(tmp + k, t, n);
	k += n;
	if (wp->cleanup)
		k = cleanup_piece(tmp, k);
	return text_put(b, tmp, k);
}

/* Decode; see tok_wordpiece.h */
PgiStatus
tok_wordpiece_decode(const TokWordPiece *wp, const int32_t *ids, size_t n_ids,
					 bool skip_special, char **out, size_t *out_len, PgiError *err)
{
	TextBuf		b = {0};
	char	   *tmp;
	size_t		count = 0;

	*out = NULL;
	tmp = malloc(wp->max_token_len + 2);
	if (tmp == NULL || !text_put(&b, "", 0))
	{
		free(tmp);
		free(b.p);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	for (size_t i = 0; i < n_ids; i++)
	{
		int32_t		id = ids[i];

		if (id < 0 || id >= wp->n_tokens)
		{
			free(tmp);
			free(b.p);
			return pgi_error(err, PGI_ERR_PARAM, NULL,
							 "token id %d is out of range: the vocabulary has %d tokens",
							 id, wp->n_tokens);
		}
		if ((wp->flags[id] & WP_SHADOWED) || (skip_special && (wp->flags[id] & WP_SPECIAL)))
			continue;
		if (!decode_piece(wp, id, count++, &b, tmp))
		{
			free(tmp);
			free(b.p);
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		}
	}
	free(tmp);
	*out = b.p;
	*out_len = b.n;
	return PGI_OK;
}

/* Undo llama.cpp's phantom-space spelling; see tok_wordpiece.h */
PgiStatus
tok_wordpiece_vocab_from_gguf(const char *const *tokens, const size_t *lens,
							  const int32_t *types, int32_t n_tokens,
							  TokWordPieceVocab *out, PgiError *err)
{
	static const char phantom[] = "\xe2\x96\x81";	/* U+2581 */
	size_t		total = 0;
	char	   *blob;

	memset(out, 0, sizeof(*out));
	if (n_tokens <= 0 || tokens == NULL || lens == NULL)
		return pgi_error(err, PGI_ERR_DATA, NULL, "WordPiece vocabulary is empty");
	for (int32_t i = 0; i < n_tokens; i++)
	{
		if (lens[i] > WP_MAX_INPUT || total > WP_MAX_INPUT)
			return pgi_error(err, PGI_ERR_LIMIT, NULL, "vocabulary is too large");
		total += lens[i] + 3;
	}
	out->tokens = malloc(sizeof(char *) * (size_t) n_tokens);
	out->lens = malloc(sizeof(size_t) * (size_t) n_tokens);
	blob = malloc(total);
	if (out->tokens == NULL || out->lens == NULL || blob == NULL)
	{
		free(blob);
		tok_wordpiece_vocab_free(out);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	total = 0;
	for (int32_t i = 0; i < n_tokens; i++)
	{
		const char *t = tokens[i];
		size_t		n = lens[i];
		char	   *d = blob + total;
		size_t		k = 0;
		bool		control = types != NULL && types[i] == TOK_GGUF_TOKEN_CONTROL;
		bool		bracket = n >= 2 && t[0] == '[' && t[n - 1] == ']';

		if (!control && n >= 3 && memcmp(t, phantom, 3) == 0)
		{
			t += 3;
			n -= 3;
		}
		else if (!control && !bracket)
		{
			d[k++] = '#';
			d[k++] = '#';
		}
		if (n > 0)
			memcpy(d + k, t, n);
		k += n;
		d[k] = '\0';
		out->tokens[i] = d;
		out->lens[i] = k;
		total += k + 1;
	}
	out->n_tokens = n_tokens;
	return PGI_OK;
}

/* Free a converted vocabulary */
void
tok_wordpiece_vocab_free(TokWordPieceVocab *v)
{
	if (v->tokens != NULL && v->n_tokens > 0)
		free(v->tokens[0]);
	free(v->tokens);
	free(v->lens);
	memset(v, 0, sizeof(*v));
}
