/*
 * pg_unicode_norm.c
 *	  NFD / NFKC / NFC callbacks of the tokenizers over PostgreSQL's
 *	  unicode_normalize(), frontend flavour (unit tests, fuzzing, parity drivers).
 *
 * Built against the server headers (postgres_fe.h) and linked with
 * libpgcommon.a and libpgport.a, where unicode_normalize() mallocs its
 * result.  The backend adapter in src/pg does the same with palloc.  This
 * file lives outside test/unit/ proper so that `make unit` does not take it
 * for a test.
 *
 * test/unit/pgcommon/pg_unicode_norm.c
 */
#include "postgres_fe.h"

#include "common/unicode_norm.h"

#include "pg_unicode_norm.h"

/* form of in[0..n_in) into out, with the TokNfdFn contract */
static int64_t
normalize(UnicodeNormalizationForm form, const uint32_t *in, size_t n_in,
		  uint32_t *out, size_t out_cap)
{
	pg_wchar   *buf;
	pg_wchar   *res;
	size_t		m = 0;

	buf = malloc((n_in + 1) * sizeof(pg_wchar));
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < n_in; i++)
		buf[i] = in[i];
	buf[n_in] = 0;
	res = unicode_normalize(form, buf);
	free(buf);
	if (res == NULL)
		return -1;
	while (res[m] != 0)
		m++;
	if (m <= out_cap)
		for (size_t i = 0; i < m; i++)
			out[i] = res[i];
	free(res);
	return (int64_t) m;
}

/* NFD of in[0..n_in); see TokNfdFn */
int64_t
pg_unicode_nfd(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	(void) arg;
	return normalize(UNICODE_NFD, in, n_in, out, out_cap);
}

/* NFKC of in[0..n_in); see TokNfkcFn in tok_unigram.h */
int64_t
pg_unicode_nfkc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	(void) arg;
	return normalize(UNICODE_NFKC, in, n_in, out, out_cap);
}

/* NFC of in[0..n_in); see TokNfcFn in tok_bpe.h */
int64_t
pg_unicode_nfc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	(void) arg;
	return normalize(UNICODE_NFC, in, n_in, out, out_cap);
}
