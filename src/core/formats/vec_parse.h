/*-------------------------------------------------------------------------
 *
 * vec_parse.h
 *	  Parser for the text form of a vector: '[1, 2.5, -3e2]'.
 *
 * src/core/formats/vec_parse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VEC_PARSE_H
#define VEC_PARSE_H

#include <stddef.h>

#include "core/pgi_status.h"

#define VEC_MAX_DIM 16000

/* Which rule the input broke; the glue words the message from this */
typedef enum VecParseError
{
	VEC_PARSE_OK = 0,
	VEC_PARSE_NO_OPEN,			/* does not start with '[' */
	VEC_PARSE_SYNTAX,			/* bad number or separator */
	VEC_PARSE_JUNK,				/* something after the closing ']' */
	VEC_PARSE_EMPTY,			/* '[]' */
	VEC_PARSE_TOO_MANY,			/* more than maxdim elements */
	VEC_PARSE_OUT_OF_RANGE,		/* a number overflows float4 */
	VEC_PARSE_NAN,				/* NaN element */
	VEC_PARSE_INF				/* infinite element */
} VecParseError;

typedef struct VecParseResult
{
	VecParseError error;
	PgiStatus	status;			/* status class of error */
	int			dim;			/* elements parsed (valid when OK) */
	const char *token;			/* offending number, for OUT_OF_RANGE */
	size_t		token_len;
} VecParseResult;

/*
 * Parse the NUL-terminated string s into out[0..maxdim-1].  Accepts optional
 * whitespace around brackets, numbers and commas, exactly as pgvector does.
 */
extern VecParseResult vec_parse(const char *s, float *out, int maxdim);

/* The status class of a parse error */
extern PgiStatus vec_parse_status(VecParseError e);

#endif							/* VEC_PARSE_H */
