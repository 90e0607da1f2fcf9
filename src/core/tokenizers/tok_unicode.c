/*-------------------------------------------------------------------------
 *
 * tok_unicode.c
 *	  UTF-8 decoding and Unicode property lookups for the tokenizers.
 *
 * Properties come from a two-stage table (tok_unicode_tables.c): the high
 * bits of a code point pick a block of 2^TOK_UC_SHIFT entries, the low bits
 * an entry of that block, which indexes a small table of distinct
 * (category, flags) pairs.  One lookup is two loads and no branch beyond
 * the range check.
 *
 * src/core/tokenizers/tok_unicode.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_unicode.h"

static const char *const category_names[TOK_UC_COUNT] = {
	"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
	"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
	"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co",
};

/* Decode one UTF-8 sequence; see tok_unicode.h */
int
tok_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint32_t	c;
	int			n;
	uint32_t	min;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		c &= 0x1F;
		min = 0x80;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		c &= 0x0F;
		min = 0x800;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		c &= 0x07;
		min = 0x10000;
	}
	else
		return 0;				/* continuation byte, C0, C1, F5..FF */
	if (len < (size_t) n)
		return 0;
	for (int i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > TOK_UNICODE_MAX || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* Encode one code point as UTF-8 */
int
tok_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Report invalid UTF-8 at byte offset pos */
static PgiStatus
invalid_utf8(const uint8_t *s, size_t len, size_t pos, PgiError *err)
{
	char		bytes[3 * TOK_UTF8_MAX + 1];
	size_t		n = len - pos < TOK_UTF8_MAX ? len - pos : TOK_UTF8_MAX;
	size_t		k = 0;

	for (size_t i = 0; i < n; i++)
	{
		static const char hex[] = "0123456789abcdef";

		if (i > 0)
			bytes[k++] = ' ';
		bytes[k++] = hex[s[pos + i] >> 4];
		bytes[k++] = hex[s[pos + i] & 0xF];
	}
	bytes[k] = '\0';
	return pgi_error(err, PGI_ERR_DATA,
					 "Text must be valid UTF-8; the bytes from the offset on are shown.",
					 "invalid UTF-8 byte sequence at byte offset %zu: %s", pos, bytes);
}

/* Validate UTF-8 */
PgiStatus
tok_utf8_validate(const char *s, size_t len, PgiError *err)
{
	const uint8_t *p = (const uint8_t *) s;
	size_t		i = 0;
	uint32_t	cp;

	while (i < len)
	{
		int			n;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		n = tok_utf8_decode(p + i, len - i, &cp);
		if (n == 0)
			return invalid_utf8(p, len, i, err);
		i += (size_t) n;
	}
	return PGI_OK;
}

/* Decode UTF-8 into code points */
PgiStatus
tok_utf8_to_cps(const char *s, size_t len, uint32_t *cps, size_t *n, PgiError *err)
{
	const uint8_t *p = (const uint8_t *) s;
	size_t		i = 0;
	size_t		k = 0;

	while (i < len)
	{
		int			m;

		if (p[i] < 0x80)
		{
			cps[k++] = p[i++];
			continue;
		}
		m = tok_utf8_decode(p + i, len - i, &cps[k]);
		if (m == 0)
			return invalid_utf8(p, len, i, err);
		k++;
		i += (size_t) m;
	}
	*n = k;
	return PGI_OK;
}

/* The (category | flags << 8) entry of cp */
static inline uint16_t
props(uint32_t cp)
{
	if (cp > TOK_UNICODE_MAX)
		return TOK_UC_CN;
	return tok_uc_props[tok_uc_stage2[((size_t) tok_uc_stage1[cp >> TOK_UC_SHIFT] << TOK_UC_SHIFT) |
									  (cp & ((1u << TOK_UC_SHIFT) - 1))]];
}

/* General category */
TokUnicodeCategory
tok_unicode_category(uint32_t cp)
{
	return (TokUnicodeCategory) (props(cp) & 0xFF);
}

/* Category name */
const char *
tok_unicode_category_name(TokUnicodeCategory c)
{
	return (unsigned) c < TOK_UC_COUNT ? category_names[c] : "??";
}

/* White_Space */
bool
tok_unicode_is_whitespace(uint32_t cp)
{
	return (props(cp) >> 8) & TOK_UF_WHITESPACE;
}

/* BERT control */
bool
tok_unicode_bert_is_control(uint32_t cp)
{
	return (props(cp) >> 8) & TOK_UF_BERT_CONTROL;
}

/* BERT punctuation */
bool
tok_unicode_bert_is_punct(uint32_t cp)
{
	return (props(cp) >> 8) & TOK_UF_BERT_PUNCT;
}

/* BERT accent (non-spacing mark) */
bool
tok_unicode_bert_is_nonspacing_mark(uint32_t cp)
{
	return (props(cp) >> 8) & TOK_UF_BERT_MN;
}

/* Left undecomposed by the reference's NFD */
bool
tok_unicode_bert_nfd_keep(uint32_t cp)
{
	return (props(cp) >> 8) & TOK_UF_NFD_KEEP;
}

/*
 * CJK ideographs as BERT defines them.  The sixth range starts at 0x2B920
 * in Hugging Face's code (the original BERT code has 0x2B820); we follow
 * Hugging Face.
 */
bool
tok_unicode_is_cjk(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) ||
		(cp >= 0x3400 && cp <= 0x4DBF) ||
		(cp >= 0x20000 && cp <= 0x2A6DF) ||
		(cp >= 0x2A700 && cp <= 0x2B73F) ||
		(cp >= 0x2B740 && cp <= 0x2B81F) ||
		(cp >= 0x2B920 && cp <= 0x2CEAF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) ||
		(cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Simple lowercase mapping: binary search of the pair table */
uint32_t
tok_unicode_simple_lower(uint32_t cp)
{
	size_t		lo = 0,
				hi = tok_uc_lower_count;

	if (cp < 0x80)
		return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		uint32_t	key = tok_uc_lower[2 * mid];

		if (key == cp)
			return tok_uc_lower[2 * mid + 1];
		if (key < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return cp;
}

/* Full, context-free lowercase mapping */
int
tok_unicode_full_lower(uint32_t cp, uint32_t out[TOK_UNICODE_LOWER_MAX])
{
	for (size_t i = 0; i < tok_uc_lower_full_count; i++)
	{
		if (tok_uc_lower_full[i].cp == cp)
		{
			for (int k = 0; k < tok_uc_lower_full[i].n; k++)
				out[k] = tok_uc_lower_full[i].lower[k];
			return tok_uc_lower_full[i].n;
		}
	}
	out[0] = tok_unicode_simple_lower(cp);
	return 1;
}
