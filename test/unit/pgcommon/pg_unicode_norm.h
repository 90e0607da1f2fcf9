/*
 * pg_unicode_norm.h
 *	  TokNfdFn (NFD) and TokNfkcFn (NFKC) over PostgreSQL's
 *	  unicode_normalize() from libpgcommon, for
 *	  the unit tests, fuzz targets and parity driver of the tokenizers.
 *
 * test/unit/pgcommon/pg_unicode_norm.h
 */
#ifndef PG_UNICODE_NORM_H
#define PG_UNICODE_NORM_H

#include <stddef.h>
#include <stdint.h>

/* NFD of in[0..n_in) into out; a TokNfdFn (see src/core/tokenizers/tok_unicode.h) */
extern int64_t pg_unicode_nfd(void *arg, const uint32_t *in, size_t n_in,
							  uint32_t *out, size_t out_cap);

/* NFKC of in[0..n_in) into out; a TokNfkcFn (see src/core/tokenizers/tok_unigram.h) */
extern int64_t pg_unicode_nfkc(void *arg, const uint32_t *in, size_t n_in,
							   uint32_t *out, size_t out_cap);

/* NFC of in[0..n_in) into out; a TokNfcFn (see src/core/tokenizers/tok_bpe.h) */
extern int64_t pg_unicode_nfc(void *arg, const uint32_t *in, size_t n_in,
							  uint32_t *out, size_t out_cap);

#endif
