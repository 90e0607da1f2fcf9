/*-------------------------------------------------------------------------
 *
 * tok_bpe_norm.h
 *	  Normalizers of byte-level BPE tokenizers, as Hugging Face tokenizers
 *	  applies them (a tokenizer.json "normalizer", alone or a Sequence).
 *
 * A normalizer is a list of steps applied in order to the whole text, each
 * to the output of the one before:
 *
 *	NFC		Unicode canonical composition, computed by the caller's TokNfcFn
 *			(the server passes PostgreSQL's; see TokNfcFn below);
 *	SPACES	Replace(pattern {"Regex": "\s+"}, content " "): every maximal
 *			run of White_Space characters (Oniguruma's \s; the same 25
 *			code points as tok_unicode_is_whitespace) becomes one U+0020;
 *	LOWERCASE	Lowercase: each character on its own becomes its full
 *			lowercase mapping, what Rust's char::to_lowercase gives
 *			(tok_unicode_full_lower: U+0130 becomes "i" U+0307, and no
 *			context rule: a final capital sigma is still U+03C3).  The
 *			reference's tables agree with ours on every code point.
 *
 * CLIP's tokenizer.json has NFC, SPACES, LOWERCASE; any order is allowed.
 *
 * src/core/tokenizers/tok_bpe_norm.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_BPE_NORM_H
#define TOK_BPE_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

/* Largest text (bytes) a tokenizer takes, and a normalizer may produce */
#define TOK_BPE_MAX_INPUT	((size_t) 1 << 30)
/* Normalizer steps */
#define TOK_BPE_MAX_NORMS	8

typedef enum TokBpeNormKind
{
	TOK_BPE_NORM_NFC = 0,
	TOK_BPE_NORM_SPACES,		/* Replace(Regex "\s+", " ") */
	TOK_BPE_NORM_LOWERCASE,
	TOK_BPE_NORM_COUNT
} TokBpeNormKind;

/*
 * Unicode normalisation callback computing NFC, with the contract of
 * TokNfdFn in tok_unicode.h (n_in >= 1 scalar values, never U+0000;
 * returns the length m of NFC(in), writing it only when m <= out_cap; -1
 * when out of memory).  The core calls it only for pieces of about 256
 * code points, cut where NFC cannot join characters, that hold a code
 * point >= U+0300 (below which NFC changes nothing).
 */
typedef int64_t (*TokNfcFn) (void *arg, const uint32_t *in, size_t n_in,
							 uint32_t *out, size_t out_cap);

/* A normalizer: its steps in order, and the NFC callback if a step needs it */
typedef struct TokBpeNormalizer
{
	const TokBpeNormKind *steps;
	int			n_steps;
	TokNfcFn	nfc;
	void	   *nfc_arg;
} TokBpeNormalizer;

/*
 * Normalize s[0..len) (valid UTF-8) into a malloc'd, NUL-terminated string
 * *out of *out_len bytes.  Errors: out of memory (PGI_ERR_NOMEM), a result
 * of TOK_BPE_MAX_INPUT bytes or more (PGI_ERR_LIMIT), a callback that
 * returns something other than scalar values (PGI_ERR_DATA).
 */
extern PgiStatus tok_bpe_normalize(const TokBpeNormalizer *nz, const char *s, size_t len,
								   char **out, size_t *out_len, PgiError *err);

#endif							/* TOK_BPE_NORM_H */
