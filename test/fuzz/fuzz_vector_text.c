/*
 * fuzz_vector_text.c
 *	  libFuzzer target for the vector text parser (src/core/formats/vec_parse.c).
 *
 * Any byte string is fed to vec_parse as a C string.  Beyond "no crash and
 * no sanitizer report", it checks the parser's contract:
 *	- on success, 1 <= dim <= maxdim and every element is finite;
 *	- an accepted vector printed with %.9g parses back to the same bits;
 *	- an out-of-range error points at a token inside the input.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/vec_parse.h"

static float out[VEC_MAX_DIM];
static float again[VEC_MAX_DIM];

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	VecParseResult r;

	memcpy(s, data, size);
	s[size] = '\0';
	/* small limit sometimes, to exercise the too-many path cheaply */
	r = vec_parse(s, out, size % 2 ? 4 : VEC_MAX_DIM);

	if (r.error == VEC_PARSE_OK)
	{
		size_t		cap = (size_t) r.dim * 20 + 3;
		char	   *text = malloc(cap);
		char	   *p = text;
		VecParseResult r2;

		if (r.dim < 1 || r.dim > VEC_MAX_DIM)
			abort();
		*p++ = '[';
		for (int i = 0; i < r.dim; i++)
		{
			if (!isfinite(out[i]))
				abort();
			p += snprintf(p, 20, i ? ",%.9g" : "%.9g", out[i]);
		}
		strcpy(p, "]");
		r2 = vec_parse(text, again, VEC_MAX_DIM);
		if (r2.error != VEC_PARSE_OK || r2.dim != r.dim ||
			memcmp(out, again, sizeof(float) * r.dim) != 0)
			abort();
		free(text);
	}
	else if (r.error == VEC_PARSE_OUT_OF_RANGE)
	{
		if (r.token < s || r.token + r.token_len > s + strlen(s) || r.token_len == 0)
			abort();
	}
	if (vec_parse_status(r.error) != r.status)
		abort();
	free(s);
	return 0;
}
