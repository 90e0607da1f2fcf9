/*
 * pg_nfc.c
 *	  TokNfcFn over PostgreSQL's unicode_normalize(UNICODE_NFC), frontend
 *	  flavour, for the byte-level BPE parity driver (the server's adapter
 *	  does the same with palloc).
 *
 * Built against the server headers (postgres_fe.h) and linked with
 * libpgcommon.a and libpgport.a, where unicode_normalize() mallocs.
 *
 * test/tokenizer/bpe/pg_nfc.c
 */
#include "postgres_fe.h"

#include "common/unicode_norm.h"

#include "pg_nfc.h"

/* NFC of in[0..n_in); see TokNfcFn in src/core/tok_bpe.h */
int64_t
pg_unicode_nfc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	pg_wchar   *buf;
	pg_wchar   *res;
	size_t		m = 0;

	(void) arg;
	buf = malloc((n_in + 1) * sizeof(pg_wchar));
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < n_in; i++)
		buf[i] = in[i];
	buf[n_in] = 0;
	res = unicode_normalize(UNICODE_NFC, buf);
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
