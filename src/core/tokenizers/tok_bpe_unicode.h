/*-------------------------------------------------------------------------
 *
 * tok_bpe_unicode.h
 *	  General categories as the byte-level BPE reference sees them.
 *
 * Hugging Face tokenizers matches its pre-tokenizer patterns with
 * Oniguruma and its added tokens' \w with Rust's regex crate, both on
 * Unicode 16.0 tables; our tables (tok_unicode.h) are an older version.
 * tok_bpe_category() is tok_unicode_category() plus the code points
 * assigned since then as letters, numbers or marks (generated, see
 * tok_bpe_unicode.c), so that \p{L}, \p{N} and \w agree with the
 * reference on every code point.
 *
 * src/core/tokenizers/tok_bpe_unicode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_BPE_UNICODE_H
#define TOK_BPE_UNICODE_H

#include <stdint.h>

#include "core/tokenizers/tok_unicode.h"

extern TokUnicodeCategory tok_bpe_category(uint32_t cp);

#endif							/* TOK_BPE_UNICODE_H */
