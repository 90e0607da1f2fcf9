/*
 * test_vec_parse.c
 *	  Unit tests of the vector text parser (src/core/formats/vec_parse.c).
 *
 * Expected values are written by hand from the grammar (pgvector's rules):
 * accepted literals with their exact float values, and for each rejected
 * literal the rule it breaks.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "core/formats/vec_parse.h"

static float buf[VEC_MAX_DIM];

/* Parse s and expect success with the given values */
static void
expect_ok(const char *s, int n, const float *want)
{
	VecParseResult r = vec_parse(s, buf, VEC_MAX_DIM);
	int			same = r.error == VEC_PARSE_OK && r.dim == n;

	for (int i = 0; same && i < n; i++)
		same = memcmp(&buf[i], &want[i], sizeof(float)) == 0;
	CHECK(same, "parse '%s': error %d dim %d, want ok dim %d", s, r.error, r.dim, n);
}

/* Parse s and expect error e */
static void
expect_err(const char *s, VecParseError e)
{
	VecParseResult r = vec_parse(s, buf, VEC_MAX_DIM);

	CHECK(r.error == e, "parse '%s': error %d, want %d", s, r.error, e);
}

int
main(void)
{
	/* accepted forms */
	expect_ok("[1,2,3]", 3, (float[]) {1, 2, 3});
	expect_ok(" [ 1 , 2 , 3 ] ", 3, (float[]) {1, 2, 3});
	expect_ok("\t\n[\r1\v,\f2]\n", 2, (float[]) {1, 2});
	expect_ok("[-1.5e2]", 1, (float[]) {-150});
	expect_ok("[.5,-.25,+4]", 3, (float[]) {0.5f, -0.25f, 4});
	expect_ok("[0x1p-2]", 1, (float[]) {0.25f});
	expect_ok("[0.1]", 1, (float[]) {0.1f});
	expect_ok("[3.4028235e38]", 1, (float[]) {3.4028235e38f});
	expect_ok("[-0]", 1, (float[]) {-0.0f});
	expect_ok("[1e-45]", 1, (float[]) {1e-45f});	/* denormal */
	expect_ok("[1e-50]", 1, (float[]) {0.0f});	/* underflow to zero: accepted */

	/* rejected forms */
	expect_err("", VEC_PARSE_NO_OPEN);
	expect_err("1,2", VEC_PARSE_NO_OPEN);
	expect_err("(1,2)", VEC_PARSE_NO_OPEN);
	expect_err("[]", VEC_PARSE_EMPTY);
	expect_err("[ ]", VEC_PARSE_EMPTY);
	expect_err("[", VEC_PARSE_SYNTAX);
	expect_err("[1", VEC_PARSE_SYNTAX);
	expect_err("[1,", VEC_PARSE_SYNTAX);
	expect_err("[1,]", VEC_PARSE_SYNTAX);
	expect_err("[,1]", VEC_PARSE_SYNTAX);
	expect_err("[1,,2]", VEC_PARSE_SYNTAX);
	expect_err("[1 2]", VEC_PARSE_SYNTAX);
	expect_err("[1;2]", VEC_PARSE_SYNTAX);
	expect_err("[x]", VEC_PARSE_SYNTAX);
	expect_err("[1,2]x", VEC_PARSE_JUNK);
	expect_err("[1,2]]", VEC_PARSE_JUNK);
	expect_err("[1] [2]", VEC_PARSE_JUNK);
	expect_err("[NaN]", VEC_PARSE_NAN);
	expect_err("[1,-nan]", VEC_PARSE_NAN);
	expect_err("[inf]", VEC_PARSE_INF);
	expect_err("[-Infinity]", VEC_PARSE_INF);
	expect_err("[1e39]", VEC_PARSE_OUT_OF_RANGE);
	expect_err("[-3.5e38]", VEC_PARSE_OUT_OF_RANGE);

	/* the out-of-range token is reported exactly */
	{
		VecParseResult r = vec_parse("[1, 1e999 ,2]", buf, VEC_MAX_DIM);

		CHECK(r.token_len == 5 && strncmp(r.token, "1e999", 5) == 0,
			  "out-of-range token '%.*s'", (int) r.token_len, r.token ? r.token : "");
	}

	/* status classes */
	CHECK(vec_parse_status(VEC_PARSE_SYNTAX) == PGI_ERR_SYNTAX, "syntax class");
	CHECK(vec_parse_status(VEC_PARSE_JUNK) == PGI_ERR_SYNTAX, "junk class");
	CHECK(vec_parse_status(VEC_PARSE_NAN) == PGI_ERR_DATA, "nan class");
	CHECK(vec_parse_status(VEC_PARSE_EMPTY) == PGI_ERR_DATA, "empty class");
	CHECK(vec_parse_status(VEC_PARSE_TOO_MANY) == PGI_ERR_LIMIT, "limit class");
	CHECK(vec_parse_status(VEC_PARSE_OUT_OF_RANGE) == PGI_ERR_RANGE, "range class");

	/* dimension limit: exactly VEC_MAX_DIM parses, one more does not */
	{
		size_t		cap = (size_t) (VEC_MAX_DIM + 1) * 2 + 3;
		char	   *s = malloc(cap);
		char	   *p = s;
		VecParseResult r;

		*p++ = '[';
		for (int i = 0; i < VEC_MAX_DIM; i++)
		{
			if (i)
				*p++ = ',';
			*p++ = (char) ('0' + i % 10);
		}
		strcpy(p, "]");
		r = vec_parse(s, buf, VEC_MAX_DIM);
		CHECK(r.error == VEC_PARSE_OK && r.dim == VEC_MAX_DIM && buf[VEC_MAX_DIM - 1] == 9.0f,
			  "16000 dims: error %d dim %d", r.error, r.dim);
		strcpy(p, ",1]");
		r = vec_parse(s, buf, VEC_MAX_DIM);
		CHECK(r.error == VEC_PARSE_TOO_MANY, "16001 dims: error %d", r.error);
		/* a smaller caller limit is honoured too */
		r = vec_parse("[1,2,3]", buf, 2);
		CHECK(r.error == VEC_PARSE_TOO_MANY, "maxdim 2: error %d", r.error);
		free(s);
	}

	/* text written with %.9g reads back bit-exactly (random values) */
	{
		unsigned	seed = 12345;
		int			bad = 0;

		for (int t = 0; t < 10000; t++)
		{
			char		s[64];
			float		v;
			uint32_t	bits;

			seed = seed * 1103515245u + 12345u;
			bits = seed ^ (seed << 13);
			memcpy(&v, &bits, sizeof v);
			if (!isfinite(v))
				continue;
			snprintf(s, sizeof s, "[%.9g]", v);
			if (vec_parse(s, buf, 1).error != VEC_PARSE_OK ||
				memcmp(&buf[0], &v, sizeof v) != 0)
				bad++;
		}
		CHECK(bad == 0, "%d of 10000 random floats did not round-trip", bad);
	}

	return UNIT_DONE("vec_parse");
}
