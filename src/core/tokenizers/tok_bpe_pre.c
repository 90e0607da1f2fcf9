/*-------------------------------------------------------------------------
 *
 * tok_bpe_pre.c
 *	  Hand-written matchers for the pre-tokenizer patterns of byte-level
 *	  BPE (see tok_bpe_pre.h for the patterns).
 *
 * Each matcher tries the alternatives in order at one position and
 * returns the first that matches, resolving quantifiers as a backtracking
 * engine would.  The only non-obvious cases:
 *
 *	\s+(?!\S)	the greedy run of whitespace [p, q) is kept whole when it
 *				ends the text; otherwise its last character is given back
 *				so that the next one is whitespace, which fails when the run
 *				is one character long (then \s+ takes that one character);
 *	\s*[\r\n]+	the greedy \s* gives back characters until a CR or LF
 *				follows: the match ends just after the LAST CR/LF of the
 *				whitespace run, and fails when the run has none;
 *	X?\p{L}+	the optional character is taken only when a letter follows
 *				it; since X excludes letters, this cannot steal from the
 *				letter run;
 *	CLIP		no alternative needs backtracking: the first one that
 *				matches one character wins and its run is greedy ("'x" is
 *				the other-run "'", "''s" is "''" then "s"), and whitespace
 *				matches nothing.
 *
 * Every step moves forward, so a match costs its own length plus one
 * character of lookahead; splitting a text is linear.
 *
 * src/core/tokenizers/tok_bpe_pre.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_bpe_pre.h"

#include "core/tokenizers/tok_bpe_unicode.h"

static const char *const pattern_regex[TOK_BPE_PAT_COUNT] = {
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	"'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
};

#define C_OTHER(c)	(((c) & (TOK_BPE_C_L | TOK_BPE_C_N | TOK_BPE_C_S)) == 0)

/* The pattern's regular expression as tokenizer.json spells it */
const char *
tok_bpe_pattern_regex(TokBpePattern pat)
{
	return (unsigned) pat < TOK_BPE_PAT_COUNT ? pattern_regex[pat] : NULL;
}

/* Classes of each code point */
void
tok_bpe_classify(const uint32_t *cps, size_t n, uint8_t *cls)
{
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	c = cps[i];
		uint8_t		k = 0;

		if (c < 0x80)
		{
			/* ASCII fast path: same answers as the tables */
			if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
				k = TOK_BPE_C_L;
			else if (c >= '0' && c <= '9')
				k = TOK_BPE_C_N;
			else if (c == ' ' || (c >= 0x09 && c <= 0x0D))
				k = TOK_BPE_C_S | ((c == '\r' || c == '\n') ? TOK_BPE_C_CRLF : 0);
		}
		else
		{
			TokUnicodeCategory cat = tok_bpe_category(c);

			if (TOK_UC_IS_LETTER(cat))
				k = TOK_BPE_C_L;
			else if (TOK_UC_IS_NUMBER(cat))
				k = TOK_BPE_C_N;
			if (tok_unicode_is_whitespace(c))
				k |= TOK_BPE_C_S;
		}
		cls[i] = k;
	}
}

/* End of the run of code points having any of the classes in mask, from p */
static inline size_t
run_end(const uint8_t *cls, size_t n, size_t p, uint8_t mask)
{
	while (p < n && (cls[p] & mask))
		p++;
	return p;
}

/* End of the run of "other" code points ([^\s\p{L}\p{N}]) from p */
static inline size_t
other_end(const uint8_t *cls, size_t n, size_t p)
{
	while (p < n && C_OTHER(cls[p]))
		p++;
	return p;
}

/* A contraction letter, ASCII lower case, or 0; folds case when asked */
static inline uint32_t
contraction_letter(uint32_t c, bool fold)
{
	if (fold)
	{
		if (c == 0x017F)		/* LATIN SMALL LETTER LONG S folds to 's' */
			return 's';
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
	}
	return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d (optionally case-insensitive): length or 0 */
static size_t
match_contraction(const uint32_t *cps, size_t n, size_t p, bool fold)
{
	uint32_t	a,
				b;

	if (cps[p] != '\'' || p + 1 >= n)
		return 0;
	a = contraction_letter(cps[p + 1], fold);
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (p + 2 >= n)
		return 0;
	b = contraction_letter(cps[p + 2], fold);
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* \s+(?!\S)|\s+ at p, where cls[p] is whitespace */
static size_t
match_space_run(const uint8_t *cls, size_t n, size_t p)
{
	size_t		q = run_end(cls, n, p, TOK_BPE_C_S);

	if (q == n)
		return q - p;
	if (q - p > 1)
		return q - 1 - p;
	return 1;
}

/* GPT-2 */
static size_t
match_gpt2(const uint32_t *cps, const uint8_t *cls, size_t n, size_t p)
{
	size_t		len = match_contraction(cps, n, p, false);
	size_t		s;

	if (len)
		return len;
	/* " ?" is taken only when the class after it matches (else backtrack) */
	s = (cps[p] == ' ' && p + 1 < n) ? p + 1 : p;
	if (cls[s] & TOK_BPE_C_L)
		return run_end(cls, n, s, TOK_BPE_C_L) - p;
	if (cls[s] & TOK_BPE_C_N)
		return run_end(cls, n, s, TOK_BPE_C_N) - p;
	if (C_OTHER(cls[s]))
		return other_end(cls, n, s) - p;
	/* s == p + 1 here only if cps[p] is a space, so cls[p] is whitespace */
	if (cls[p] & TOK_BPE_C_S)
		return match_space_run(cls, n, p);
	return 0;
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1) */
static size_t
match_llama3(const uint32_t *cps, const uint8_t *cls, size_t n, size_t p, size_t max_digits)
{
	size_t		len = match_contraction(cps, n, p, true);
	size_t		s;

	if (len)
		return len;
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (cls[p] & TOK_BPE_C_L)
		return run_end(cls, n, p, TOK_BPE_C_L) - p;
	if (!(cls[p] & (TOK_BPE_C_CRLF | TOK_BPE_C_N)) && p + 1 < n && (cls[p + 1] & TOK_BPE_C_L))
		return run_end(cls, n, p + 1, TOK_BPE_C_L) - p;
	/* \p{N}{1,max} */
	if (cls[p] & TOK_BPE_C_N)
	{
		size_t		q = p + 1;

		while (q < n && q - p < max_digits && (cls[q] & TOK_BPE_C_N))
			q++;
		return q - p;
	}
	/* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
	s = (cps[p] == ' ' && p + 1 < n) ? p + 1 : p;
	if (C_OTHER(cls[s]))
		return run_end(cls, n, other_end(cls, n, s), TOK_BPE_C_CRLF) - p;
	if (cls[p] & TOK_BPE_C_S)
	{
		/* \s*[\r\n]+: up to the last CR/LF of the whitespace run */
		size_t		q = run_end(cls, n, p, TOK_BPE_C_S);

		for (size_t k = q; k > p; k--)
			if (cls[k - 1] & TOK_BPE_C_CRLF)
				return k - p;
		return match_space_run(cls, n, p);
	}
	return 0;
}

/* CLIP: contraction, letter run, one digit, run of others; whitespace: none */
static size_t
match_clip(const uint32_t *cps, const uint8_t *cls, size_t n, size_t p)
{
	size_t		len = match_contraction(cps, n, p, false);

	if (len)
		return len;
	if (cls[p] & TOK_BPE_C_L)
		return run_end(cls, n, p, TOK_BPE_C_L) - p;
	if (cls[p] & TOK_BPE_C_N)
		return 1;
	if (C_OTHER(cls[p]))
		return other_end(cls, n, p) - p;
	return 0;
}

/* Length of the match of pat at p, 0 if none */
size_t
tok_bpe_match(TokBpePattern pat, const uint32_t *cps, const uint8_t *cls, size_t n, size_t p)
{
	if (p >= n)
		return 0;
	switch (pat)
	{
		case TOK_BPE_PAT_GPT2:
			return match_gpt2(cps, cls, n, p);
		case TOK_BPE_PAT_LLAMA3:
			return match_llama3(cps, cls, n, p, 3);
		case TOK_BPE_PAT_QWEN2:
			return match_llama3(cps, cls, n, p, 1);
		case TOK_BPE_PAT_CLIP:
			return match_clip(cps, cls, n, p);
		default:
			return 0;
	}
}
