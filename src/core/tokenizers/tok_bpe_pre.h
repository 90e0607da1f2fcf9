/*-------------------------------------------------------------------------
 *
 * tok_bpe_pre.h
 *	  Pre-tokenizer patterns of byte-level BPE tokenizers, as hand-written
 *	  matchers over code points (no regex library).
 *
 * Each pattern is one of the regular expressions that Hugging Face
 * tokenizer.json files (Split and ByteLevel pre-tokenizers) and llama.cpp
 * (tokenizer.ggml.pre) use, matched with the semantics of the engine the
 * reference runs them on (Oniguruma: leftmost-first alternation, greedy
 * quantifiers with backtracking):
 *
 *	GPT2	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+
 *			|\s+(?!\S)|\s+
 *	LLAMA3	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *			| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *	QWEN2	as LLAMA3 with \p{N} (one digit) for \p{N}{1,3}
 *	CLIP	's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *
 * \p{L} and \p{N} are the general categories L* and N* of the
 * reference's Unicode version (tok_bpe_unicode.h),
 * \s is the White_Space property, ' ' is U+0020 only, and the
 * case-insensitive contractions also accept U+017F (LATIN SMALL LETTER
 * LONG S), which Unicode case folding maps to 's'.
 *
 * A Split pre-tokenizer with behavior "Isolated" cuts a text at every
 * match found left to right (a search restarts after each match); text
 * between matches, if any, is a piece of its own.  With the GPT-2, Llama 3
 * and Qwen2 patterns every code point is covered by some alternative, so
 * there is none; CLIP's matches no whitespace, which its tokenizer.json
 * drops (Split with behavior "Removed" and invert: the matches are the
 * pieces, what lies between them goes).  CLIP's contractions are case
 * sensitive: its normalizer has lower-cased the text already.
 *
 * src/core/tokenizers/tok_bpe_pre.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_BPE_PRE_H
#define TOK_BPE_PRE_H

#include <stddef.h>
#include <stdint.h>

typedef enum TokBpePattern
{
	TOK_BPE_PAT_GPT2 = 0,
	TOK_BPE_PAT_LLAMA3,
	TOK_BPE_PAT_QWEN2,
	TOK_BPE_PAT_CLIP,
	TOK_BPE_PAT_COUNT
} TokBpePattern;

/* Character classes of one code point, as the patterns see it */
#define TOK_BPE_C_L		0x01		/* \p{L} */
#define TOK_BPE_C_N		0x02		/* \p{N} */
#define TOK_BPE_C_S		0x04		/* \s (White_Space) */
#define TOK_BPE_C_CRLF	0x08		/* \r or \n */

/* The pattern's text in tokenizer.json (a Split pre-tokenizer's Regex) */
extern const char *tok_bpe_pattern_regex(TokBpePattern pat);

/* Set cls[i] to the classes of cps[i], for i < n */
extern void tok_bpe_classify(const uint32_t *cps, size_t n, uint8_t *cls);

/*
 * Length in code points of the match of pat that starts exactly at p in
 * cps[0..n) (cls from tok_bpe_classify); 0 when none does (with CLIP's
 * pattern: at whitespace).  Never looks outside [p, n).
 */
extern size_t tok_bpe_match(TokBpePattern pat, const uint32_t *cps, const uint8_t *cls,
							size_t n, size_t p);

#endif							/* TOK_BPE_PRE_H */
