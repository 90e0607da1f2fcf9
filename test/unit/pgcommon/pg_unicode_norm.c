/*
 * pg_unicode_norm.c
 *	  TokNfdFn over PostgreSQL's unicode_normalize(), frontend flavour.
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

/* NFD of in[0..n_in); see TokNfdFn */
int64_t
pg_unicode_nfd(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
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
	res = unicode_normalize(UNICODE_NFD, buf);
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

/* NFKC of in[0..n_in); see TokNfkcFn in tok_unigram.h */
int64_t
pg_unicode_nfkc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
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
	res = unicode_normalize(UNICODE_NFKC, buf);
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
