/*-------------------------------------------------------------------------
 *
 * tok_bpe_norm.c
 *	  Normalizers of byte-level BPE tokenizers: NFC through the caller's
 *	  callback, whitespace runs to one space, lower case (see
 *	  tok_bpe_norm.h).
 *
 * Each step reads valid UTF-8 and writes a new malloc'd string; the steps
 * run one after the other over the whole text, as Hugging Face's Sequence
 * normalizer does.  Only NFC needs more than one character at a time, and
 * it is cut into chunks where NFC cannot join characters (nfc_boundary), so
 * every step is linear in the length of the text.
 *
 * src/core/tokenizers/tok_bpe_norm.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_bpe_norm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/tok_unicode.h"

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
nfc_run(const TokBpeNormalizer *nz, const uint32_t *cps, size_t n, uint32_t **tmp, size_t *tmp_cap,
		OutBuf *b, PgiError *err)
{
	int64_t		m = nz->nfc(nz->nfc_arg, cps, n, *tmp, *tmp_cap);

	if (m < 0)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	if ((size_t) m > *tmp_cap)
	{
		uint32_t   *grown = realloc(*tmp, (size_t) m * sizeof(uint32_t));

		if (grown == NULL)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
		*tmp = grown;
		*tmp_cap = (size_t) m;
		m = nz->nfc(nz->nfc_arg, cps, n, *tmp, *tmp_cap);
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
	if (b->len >= TOK_BPE_MAX_INPUT)
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
nfc_text(const TokBpeNormalizer *nz, const char *s, size_t len, char **out, size_t *out_len,
		 PgiError *err)
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
				st = nfc_run(nz, cps + chunk, j - chunk, &tmp, &tmp_cap, &b, err);
				chunk = j;
			}
		}
		else
		{
			if (chunk < i)
				st = nfc_run(nz, cps + chunk, i - chunk, &tmp, &tmp_cap, &b, err);
			for (size_t k = i; k < j && st == PGI_OK; k++)
				if (!out_cp(&b, cps[k]))
					st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
			chunk = j;
		}
		i = j;
	}
	if (st == PGI_OK && chunk < n)
		st = nfc_run(nz, cps + chunk, n - chunk, &tmp, &tmp_cap, &b, err);
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


/* ---------------------------------------------------------------- spaces, lower case */

/* The code point at s[i] into *cp and its length; 0 for invalid UTF-8 */
static inline int
next_char(const char *s, size_t len, size_t i, uint32_t *cp)
{
	if ((uint8_t) s[i] < 0x80)
	{
		*cp = (uint8_t) s[i];
		return 1;
	}
	return tok_utf8_decode((const uint8_t *) s + i, len - i, cp);
}

/* Replace(Regex "\s+", " "): every maximal White_Space run becomes one space */
static PgiStatus
spaces_text(const char *s, size_t len, char **out, size_t *out_len, PgiError *err)
{
	char	   *o = malloc(len + 1);
	size_t		n = 0;
	bool		in_run = false;

	if (o == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	for (size_t i = 0; i < len;)
	{
		uint32_t	cp;
		int			k = next_char(s, len, i, &cp);

		if (k == 0)
		{
			free(o);
			return pgi_error(err, PGI_ERR_DATA, NULL, "invalid UTF-8 in normalized text");
		}
		if (tok_unicode_is_whitespace(cp))
		{
			if (!in_run)
				o[n++] = ' ';
			in_run = true;
		}
		else
		{
			memcpy(o + n, s + i, (size_t) k);
			n += (size_t) k;
			in_run = false;
		}
		i += (size_t) k;
	}
	o[n] = '\0';
	*out = o;
	*out_len = n;
	return PGI_OK;
}

/* Lowercase: each character's full lowercase mapping (char::to_lowercase) */
static PgiStatus
lower_text(const char *s, size_t len, char **out, size_t *out_len, PgiError *err)
{
	OutBuf		b = {NULL, 0, len + TOK_UTF8_MAX + 1};

	b.s = malloc(b.cap);
	if (b.s == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
	for (size_t i = 0; i < len;)
	{
		uint32_t	cp,
					lower[TOK_UNICODE_LOWER_MAX];
		int			k = next_char(s, len, i, &cp);
		int			m;
		bool		ok = true;

		if (k == 0)
		{
			free(b.s);
			return pgi_error(err, PGI_ERR_DATA, NULL, "invalid UTF-8 in normalized text");
		}
		i += (size_t) k;
		if (cp < 0x80)
		{
			/* ASCII: room is kept for a whole code point, so one byte fits */
			ok = out_cp(&b, (cp >= 'A' && cp <= 'Z') ? cp + ('a' - 'A') : cp);
		}
		else
		{
			m = tok_unicode_full_lower(cp, lower);
			for (int j = 0; j < m && ok; j++)
				ok = out_cp(&b, lower[j]);
		}
		if (!ok)
		{
			free(b.s);
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
		}
	}
	if (b.len >= TOK_BPE_MAX_INPUT)
	{
		free(b.s);
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "normalized text too long");
	}
	b.s[b.len] = '\0';
	*out = b.s;
	*out_len = b.len;
	return PGI_OK;
}

/* ---------------------------------------------------------------- the sequence */

PgiStatus
tok_bpe_normalize(const TokBpeNormalizer *nz, const char *s, size_t len, char **out,
				  size_t *out_len, PgiError *err)
{
	char	   *cur = NULL;
	size_t		cur_len = len;

	*out = NULL;
	for (int i = 0; i < nz->n_steps; i++)
	{
		const char *in = cur ? cur : s;
		char	   *next = NULL;
		size_t		next_len = 0;
		PgiStatus	st;

		switch (nz->steps[i])
		{
			case TOK_BPE_NORM_NFC:
				st = nz->nfc ? nfc_text(nz, in, cur_len, &next, &next_len, err) :
					pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "no NFC normaliser");
				break;
			case TOK_BPE_NORM_SPACES:
				st = spaces_text(in, cur_len, &next, &next_len, err);
				break;
			case TOK_BPE_NORM_LOWERCASE:
				st = lower_text(in, cur_len, &next, &next_len, err);
				break;
			default:
				st = pgi_error(err, PGI_ERR_PARAM, NULL, "invalid normalizer step %d", (int) nz->steps[i]);
				break;
		}
		free(cur);
		if (st != PGI_OK)
			return st;
		cur = next;
		cur_len = next_len;
	}
	if (cur == NULL)
	{
		/* no step: a copy */
		cur = malloc(len + 1);
		if (cur == NULL)
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory normalizing text");
		if (len)
			memcpy(cur, s, len);
		cur[len] = '\0';
	}
	*out = cur;
	*out_len = cur_len;
	return PGI_OK;
}
