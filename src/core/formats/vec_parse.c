/*-------------------------------------------------------------------------
 *
 * vec_parse.c
 *	  Parser for the text form of a vector.
 *
 * Grammar (whitespace = space, \t, \n, \r, \v, \f, allowed where shown by _):
 *
 *		_ '[' _ number _ ( ',' _ number _ )* ']' _ NUL
 *
 * Numbers are read with strtof(), like float4in, so "1e3", ".5", "0x1p-2",
 * "nan" and "inf" are all numbers; NaN and infinities are then rejected, and
 * a literal that overflows float4 is an out-of-range error.  Underflow to a
 * denormal or zero is accepted, as float4in did before PostgreSQL 12 and as
 * pgvector does.  The server runs with LC_NUMERIC=C, so strtof is not
 * locale-dependent here.
 *
 * src/core/formats/vec_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/vec_parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* Whitespace as pgvector and array_in define it */
static int
vec_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/* Skip whitespace */
static const char *
skip_space(const char *p)
{
	while (vec_isspace(*p))
		p++;
	return p;
}

/* Map a parse error to its status class */
PgiStatus
vec_parse_status(VecParseError e)
{
	switch (e)
	{
		case VEC_PARSE_OK:
			return PGI_OK;
		case VEC_PARSE_NO_OPEN:
		case VEC_PARSE_SYNTAX:
		case VEC_PARSE_JUNK:
			return PGI_ERR_SYNTAX;
		case VEC_PARSE_EMPTY:
		case VEC_PARSE_NAN:
		case VEC_PARSE_INF:
			return PGI_ERR_DATA;
		case VEC_PARSE_TOO_MANY:
			return PGI_ERR_LIMIT;
		case VEC_PARSE_OUT_OF_RANGE:
			return PGI_ERR_RANGE;
	}
	return PGI_ERR_SYNTAX;
}

/* Fill a result for error e */
static VecParseResult
fail(VecParseError e, int dim)
{
	VecParseResult r;

	r.error = e;
	r.status = vec_parse_status(e);
	r.dim = dim;
	r.token = NULL;
	r.token_len = 0;
	return r;
}

/* Parse one vector literal; see the grammar at the top of the file */
VecParseResult
vec_parse(const char *s, float *out, int maxdim)
{
	const char *p = skip_space(s);
	int			dim = 0;

	if (*p != '[')
		return fail(VEC_PARSE_NO_OPEN, 0);
	p = skip_space(p + 1);
	if (*p == ']')
		return fail(VEC_PARSE_EMPTY, 0);

	for (;;)
	{
		char	   *end;
		float		v;

		if (dim == maxdim)
			return fail(VEC_PARSE_TOO_MANY, dim);
		p = skip_space(p);
		if (*p == '\0')
			return fail(VEC_PARSE_SYNTAX, dim);

		errno = 0;
		v = strtof(p, &end);
		if (end == p)
			return fail(VEC_PARSE_SYNTAX, dim);
		if (errno == ERANGE && isinf(v))
		{
			VecParseResult r = fail(VEC_PARSE_OUT_OF_RANGE, dim);

			r.token = p;
			r.token_len = (size_t) (end - p);
			return r;
		}
		if (isnan(v))
			return fail(VEC_PARSE_NAN, dim);
		if (isinf(v))
			return fail(VEC_PARSE_INF, dim);
		out[dim++] = v;

		p = skip_space(end);
		if (*p == ',')
			p++;
		else if (*p == ']')
			break;
		else
			return fail(VEC_PARSE_SYNTAX, dim);
	}

	p = skip_space(p + 1);
	if (*p != '\0')
		return fail(VEC_PARSE_JUNK, dim);

	{
		VecParseResult r = fail(VEC_PARSE_OK, dim);

		return r;
	}
}
