/*-------------------------------------------------------------------------
 *
 * tok_unigram.c
 *	  SentencePiece-unigram tokenizer of USE Lite (see tok_unigram.h).
 *
 * The vocabulary lives in one byte buffer; an open-addressing hash table
 * maps every piece, and every code-point prefix of a piece, to an entry
 * holding the id to match (last non-reserved duplicate, or -1 for a bare
 * prefix), its score, and the id token_to_id returns.  The lattice scan
 * at a start extends the key one code point at a time and stops at the
 * first key that is not in the table.
 *
 * src/core/tokenizers/tok_unigram.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_unigram.h"

#include <stdlib.h>
#include <string.h>

#define UNI_SPACE_MARK	0x2581	/* ▁ */
#define FNV_BASIS		UINT64_C(14695981039346656037)
#define FNV_PRIME		UINT64_C(1099511628211)

typedef struct UniEntry
{
	uint32_t	off;			/* key: bytes[off .. off+len) */
	uint32_t	len;			/* 0: empty slot */
	int32_t		match_id;		/* piece matched by the lattice, -1: prefix only */
	int32_t		tok_id;			/* token_to_id, -1: prefix only */
	double		score;			/* of match_id */
} UniEntry;

struct TokUnigram
{
	int32_t		n;
	int32_t		n_reserved;
	int32_t		max_cps;		/* longest piece, code points */
	TokNfkcFn	nfkc;
	void	   *nfkc_arg;
	char	   *bytes;			/* all pieces back to back */
	uint32_t   *piece_off;		/* (n + 1) */
	uint8_t    *utf16_len;		/* (n): UTF-16 units of each piece, >= 1 */
	UniEntry   *table;
	size_t		mask;			/* table size - 1 */
};

/* FNV-1a over s[0..len), continuing from h */
static inline uint64_t
fnv_extend(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t) s[i]) * FNV_PRIME;
	return h;
}

/* Slot of key (bytes of length len, hash h): the entry or the empty slot */
static size_t
uni_slot(const TokUnigram *t, const char *key, size_t len, uint64_t h)
{
	size_t		i = (size_t) (h ^ (h >> 29)) & t->mask;

	for (;;)
	{
		const UniEntry *e = &t->table[i];

		if (e->len == 0)
			return i;
		if (e->len == len && memcmp(t->bytes + e->off, key, len) == 0)
			return i;
		i = (i + 1) & t->mask;
	}
}

/* Report a vocabulary error */
static PgiStatus
bad_piece(PgiError *err, int32_t id, const char *what)
{
	return pgi_error(err, PGI_ERR_DATA, NULL, "unigram vocabulary piece %d %s", id, what);
}

PgiStatus
tok_unigram_new(const char *const *pieces, const uint32_t *lens, const double *scores,
				int32_t n, const TokUnigramConfig *cfg, TokUnigram **out, PgiError *err)
{
	TokUnigram *t;
	size_t		total = 0,
				n_keys = 0,
				cap = 16;
	int32_t		n_reserved = cfg ? cfg->n_reserved : 0;

	*out = NULL;
	if (n < 1 || n > TOK_UNIGRAM_MAX_VOCAB)
		return pgi_error(err, PGI_ERR_DATA, NULL,
						 "unigram vocabulary must have 1 to %d pieces, not %d",
						 TOK_UNIGRAM_MAX_VOCAB, n);
	if (n_reserved < 0 || n_reserved > n)
		return pgi_error(err, PGI_ERR_PARAM, NULL,
						 "invalid number of reserved ids %d", n_reserved);
	for (int32_t i = 0; i < n; i++)
	{
		const uint8_t *p = (const uint8_t *) pieces[i];
		size_t		cps = 0;

		if (lens[i] > 0 && p == NULL)
			return bad_piece(err, i, "is missing");
		if (tok_utf8_validate((const char *) p, lens[i], err) != PGI_OK)
			return bad_piece(err, i, "is not valid UTF-8");
		for (size_t b = 0; b < lens[i]; b++)
			cps += (p[b] & 0xC0) != 0x80;
		if (cps > TOK_UNIGRAM_MAX_PIECE_CPS)
			return bad_piece(err, i, "is longer than 64 code points");
		if (!(scores[i] - scores[i] == 0))
			return bad_piece(err, i, "has a score that is not finite");
		total += lens[i];
		n_keys += cps;
	}
	if (total >= UINT32_MAX)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "unigram vocabulary is too large");
	while (cap < 2 * n_keys + 2)
		cap *= 2;

	t = calloc(1, sizeof(TokUnigram));
	if (t == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	t->n = n;
	t->n_reserved = n_reserved;
	t->nfkc = cfg ? cfg->nfkc : NULL;
	t->nfkc_arg = cfg ? cfg->nfkc_arg : NULL;
	t->bytes = malloc(total + 1);
	t->piece_off = malloc(((size_t) n + 1) * sizeof(uint32_t));
	t->utf16_len = malloc((size_t) n);
	t->table = calloc(cap, sizeof(UniEntry));
	t->mask = cap - 1;
	if (!t->bytes || !t->piece_off || !t->utf16_len || !t->table)
	{
		tok_unigram_free(t);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}

	total = 0;
	for (int32_t i = 0; i < n; i++)
	{
		const char *p = t->bytes + total;
		uint64_t	h = FNV_BASIS;
		size_t		b = 0;
		int			units = 0;
		int			cps = 0;

		t->piece_off[i] = (uint32_t) total;
		if (lens[i] > 0)
			memcpy(t->bytes + total, pieces[i], lens[i]);
		/* one key per code-point prefix; the whole piece is the last */
		while (b < lens[i])
		{
			uint32_t	cp;
			int			cl = tok_utf8_decode((const uint8_t *) p + b, lens[i] - b, &cp);
			size_t		slot;

			h = fnv_extend(h, p + b, (size_t) cl);
			b += (size_t) cl;
			units += cp > 0xFFFF ? 2 : 1;
			cps++;
			slot = uni_slot(t, p, b, h);
			if (t->table[slot].len == 0)
			{
				t->table[slot].off = (uint32_t) total;
				t->table[slot].len = (uint32_t) b;
				t->table[slot].match_id = -1;
				t->table[slot].tok_id = -1;
			}
			if (b == lens[i])
			{
				t->table[slot].tok_id = i;
				if (i >= n_reserved)
				{
					t->table[slot].match_id = i;
					t->table[slot].score = scores[i];
				}
			}
		}
		if (cps > t->max_cps)
			t->max_cps = cps;
		/* an empty piece 0 still steps back by one position */
		t->utf16_len[i] = (uint8_t) (units > 0 ? units : 1);
		total += lens[i];
	}
	t->piece_off[n] = (uint32_t) total;
	t->bytes[total] = 0;
	*out = t;
	return PGI_OK;
}

void
tok_unigram_free(TokUnigram *tok)
{
	if (tok == NULL)
		return;
	free(tok->bytes);
	free(tok->piece_off);
	free(tok->utf16_len);
	free(tok->table);
	free(tok);
}

/* Make room for need more ids in out */
static int
ids_reserve(TokUnigramIds *out, size_t need)
{
	size_t		cap = out->cap ? out->cap : 16;
	int32_t    *p;

	if (out->len + need <= out->cap)
		return 1;
	while (cap < out->len + need)
	{
		if (cap > SIZE_MAX / 2 / sizeof(int32_t))
			return 0;
		cap *= 2;
	}
	p = realloc(out->ids, cap * sizeof(int32_t));
	if (p == NULL)
		return 0;
	out->ids = p;
	out->cap = cap;
	return 1;
}

/* Code-point buffers of one encode call */
typedef struct UniWork
{
	uint32_t   *in;				/* decoded text */
	uint32_t   *norm;			/* "▁" + NFKC(text), spaces marked */
	size_t		n_norm;
	size_t		cap_norm;
	uint32_t   *tmp;			/* normaliser output */
	size_t		cap_tmp;
} UniWork;

/* Grow a code-point buffer to hold at least need */
static int
cps_grow(uint32_t **buf, size_t *cap, size_t need)
{
	size_t		c = *cap ? *cap : 64;
	uint32_t   *p;

	if (need <= *cap)
		return 1;
	while (c < need)
	{
		if (c > SIZE_MAX / 2 / sizeof(uint32_t))
			return 0;
		c *= 2;
	}
	p = realloc(*buf, c * sizeof(uint32_t));
	if (p == NULL)
		return 0;
	*buf = p;
	*cap = c;
	return 1;
}

/* Append cps[0..n) to w->norm, U+0020 becoming U+2581 */
static int
norm_append(UniWork *w, const uint32_t *cps, size_t n)
{
	if (!cps_grow(&w->norm, &w->cap_norm, w->n_norm + n))
		return 0;
	for (size_t i = 0; i < n; i++)
		w->norm[w->n_norm++] = cps[i] == 0x20 ? UNI_SPACE_MARK : cps[i];
	return 1;
}

/* NFKC of one NUL-free run in[0..n) appended to w->norm */
static PgiStatus
normalize_run(const TokUnigram *t, UniWork *w, const uint32_t *in, size_t n, PgiError *err)
{
	bool		plain = true;
	int64_t		m;

	for (size_t i = 0; i < n && plain; i++)
		plain = in[i] < 0xA0;
	if (plain || t->nfkc == NULL)
		return norm_append(w, in, n) ? PGI_OK :
			pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	if (!cps_grow(&w->tmp, &w->cap_tmp, n * 3 + 16))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int attempt = 0;; attempt++)
	{
		m = t->nfkc(t->nfkc_arg, in, n, w->tmp, w->cap_tmp);
		if (m < 0)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "Unicode normalisation failed");
		if ((uint64_t) m <= w->cap_tmp)
			break;
		if (attempt > 0 || !cps_grow(&w->tmp, &w->cap_tmp, (size_t) m))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "Unicode normalisation failed");
	}
	for (int64_t i = 0; i < m; i++)
		if (w->tmp[i] > TOK_UNICODE_MAX || (w->tmp[i] >= 0xD800 && w->tmp[i] <= 0xDFFF))
			return pgi_error(err, PGI_ERR_DATA, NULL,
							 "Unicode normaliser returned an invalid code point");
	return norm_append(w, w->tmp, (size_t) m) ? PGI_OK :
		pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
}

/* The lattice, Viterbi and backtrack over w->norm; appends to out */
static PgiStatus
viterbi(const TokUnigram *t, const UniWork *w, TokUnigramIds *out, PgiError *err)
{
	size_t		n = w->n_norm;
	char	   *s;
	size_t	   *off;
	double	   *best;
	int32_t    *words;
	int32_t    *rev;
	size_t		n_rev = 0;
	PgiStatus	st = PGI_OK;

	if (n > SIZE_MAX / 32)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "text is too long");
	s = malloc(n * TOK_UTF8_MAX + 1);
	off = malloc((n + 1) * sizeof(size_t));
	best = calloc(n + 1, sizeof(double));
	words = calloc(n + 1, sizeof(int32_t));
	rev = malloc((n + 1) * sizeof(int32_t));
	if (!s || !off || !best || !words || !rev)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto done;
	}
	off[0] = 0;
	for (size_t i = 0; i < n; i++)
		off[i + 1] = off[i] + (size_t) tok_utf8_encode(w->norm[i], s + off[i]);

	/*
	 * Starts in ascending order: each end sees its candidates in ascending
	 * start order, and best[i] is final when start i is reached.
	 */
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	h = FNV_BASIS;
		bool		any = false;

		for (size_t k = 1; k <= (size_t) t->max_cps && i + k <= n; k++)
		{
			size_t		slot;
			const UniEntry *e;

			h = fnv_extend(h, s + off[i + k - 1], off[i + k] - off[i + k - 1]);
			slot = uni_slot(t, s + off[i], off[i + k] - off[i], h);
			e = &t->table[slot];
			if (e->len == 0)
				break;			/* no piece continues this way */
			if (e->match_id >= 0)
			{
				double		sc = e->score + best[i];

				any = true;
				if (best[i + k] == 0 || sc >= best[i + k])
				{
					best[i + k] = sc;
					words[i + k] = e->match_id;
				}
			}
		}
		if (!any)
		{
			/* the unknown candidate (i, 1, score 0, id 0) */
			double		sc = best[i];

			if (best[i + 1] == 0 || sc >= best[i + 1])
			{
				best[i + 1] = sc;
				words[i + 1] = 0;
			}
		}
	}

	/* backtrack by UTF-16 lengths, collapsing runs of unknowns */
	for (size_t it = n; it > 0;)
	{
		int32_t		id = words[it];
		size_t		step = t->utf16_len[id];

		if (!(id == 0 && n_rev > 0 && rev[n_rev - 1] == 0))
			rev[n_rev++] = id;
		it = it > step ? it - step : 0;
	}
	if (!ids_reserve(out, n_rev))
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n_rev; i++)
		out->ids[out->len++] = rev[n_rev - 1 - i];

done:
	free(s);
	free(off);
	free(best);
	free(words);
	free(rev);
	return st;
}

PgiStatus
tok_unigram_encode(const TokUnigram *tok, const char *text, size_t len,
				   TokUnigramIds *out, PgiError *err)
{
	UniWork		w = {0};
	size_t		n_in = 0;
	PgiStatus	st;
	uint32_t	mark = UNI_SPACE_MARK;

	if (len > 0 && text == NULL)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "text is missing");
	if (len == 0)
		return PGI_OK;
	if (len > SIZE_MAX / 32)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "text is too long");
	w.in = malloc(len * sizeof(uint32_t));
	if (w.in == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	st = tok_utf8_to_cps(text, len, w.in, &n_in, err);
	if (st != PGI_OK)
		goto done;

	/* "▁" first; dropped again below if NFKC gives nothing */
	if (!norm_append(&w, &mark, 1))
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto done;
	}
	for (size_t a = 0; a < n_in;)
	{
		size_t		b = a;

		while (b < n_in && w.in[b] != 0)
			b++;
		if (b > a && (st = normalize_run(tok, &w, w.in + a, b - a, err)) != PGI_OK)
			goto done;
		if (b < n_in)
		{
			/* a NUL is a starter of its own: keep it */
			if (!norm_append(&w, w.in + b, 1))
			{
				st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
				goto done;
			}
			b++;
		}
		a = b;
	}
	if (w.n_norm > 1)
		st = viterbi(tok, &w, out, err);

done:
	free(w.in);
	free(w.norm);
	free(w.tmp);
	return st;
}

PgiStatus
tok_unigram_decode(const TokUnigram *tok, const int32_t *ids, size_t n_ids,
				   char **out, size_t *out_len, PgiError *err)
{
	size_t		total = 0,
				o = 0;
	char	   *buf;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	for (size_t i = 0; i < n_ids; i++)
	{
		if (ids[i] < 0 || ids[i] >= tok->n)
			return pgi_error(err, PGI_ERR_PARAM, NULL,
							 "token id %d is outside the vocabulary (size %d)",
							 ids[i], tok->n);
		total += tok->piece_off[ids[i] + 1] - tok->piece_off[ids[i]];
	}
	buf = malloc(total + 1);
	if (buf == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (size_t i = 0; i < n_ids; i++)
	{
		const char *p = tok->bytes + tok->piece_off[ids[i]];
		size_t		l = tok->piece_off[ids[i] + 1] - tok->piece_off[ids[i]];

		for (size_t b = 0; b < l;)
		{
			/* U+2581 is E2 96 81 */
			if (b + 3 <= l && (uint8_t) p[b] == 0xE2 && (uint8_t) p[b + 1] == 0x96 &&
				(uint8_t) p[b + 2] == 0x81)
			{
				buf[o++] = ' ';
				b += 3;
			}
			else
				buf[o++] = p[b++];
		}
	}
	if (o > 0 && buf[0] == ' ')
	{
		memmove(buf, buf + 1, o - 1);
		o--;
	}
	buf[o] = 0;
	*out = buf;
	if (out_len)
		*out_len = o;
	return PGI_OK;
}

int32_t
tok_unigram_token_to_id(const TokUnigram *tok, const char *piece, size_t len)
{
	size_t		slot;

	if (len == 0 || len > UINT32_MAX)
		return -1;
	slot = uni_slot(tok, piece, len, fnv_extend(FNV_BASIS, piece, len));
	return tok->table[slot].len ? tok->table[slot].tok_id : -1;
}

const char *
tok_unigram_id_to_token(const TokUnigram *tok, int32_t id, size_t *len)
{
	if (id < 0 || id >= tok->n)
		return NULL;
	if (len)
		*len = tok->piece_off[id + 1] - tok->piece_off[id];
	return tok->bytes + tok->piece_off[id];
}

int32_t
tok_unigram_vocab_size(const TokUnigram *tok)
{
	return tok->n;
}
