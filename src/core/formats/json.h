/*-------------------------------------------------------------------------
 *
 * json.h
 *	  A small strict JSON (RFC 8259) parser building a read-only DOM.
 *
 * For the JSON files that come with models: config.json, tokenizer.json,
 * safetensors headers, model.safetensors.index.json, modules.json.
 *
 * Rules (the unit tests compare against Python's json module with these
 * rules applied):
 *	- input is UTF-8; a leading UTF-8 byte order mark is skipped; any
 *	  invalid UTF-8 inside a string (overlong forms, encoded surrogates,
 *	  code points above U+10FFFF, truncated sequences) is an error, and
 *	  outside strings only the JSON grammar's ASCII is allowed;
 *	- whitespace is space, tab, LF and CR only; nothing but whitespace may
 *	  follow the top-level value, which may be any value;
 *	- strings may not contain raw control characters (< 0x20); escapes are
 *	  \" \\ \/ \b \f \n \r \t and \uXXXX; a \uXXXX surrogate pair becomes
 *	  one 4-byte UTF-8 sequence; a lone surrogate is an error; \u0000 is
 *	  allowed and yields a NUL byte inside the string (strings carry a
 *	  length, and are also NUL-terminated for convenience);
 *	- numbers follow the JSON grammar (no leading zeros, no '+', no
 *	  NaN/Infinity); an integer literal (no fraction, no exponent) that
 *	  fits int64 is kept exactly with is_int set; every other number is a
 *	  double from strtod (correctly rounded; the server runs with
 *	  LC_NUMERIC=C); a magnitude that overflows double is an error
 *	  (PGI_ERR_RANGE), underflow to zero or a denormal is accepted;
 *	- duplicate keys in one object are an error (keys are compared after
 *	  unescaping), since a safetensors header or config with two values for
 *	  one name is ambiguous;
 *	- nesting deeper than JSON_MAX_DEPTH arrays/objects is an error
 *	  (PGI_ERR_LIMIT), as is an input of JSON_MAX_INPUT bytes or more.
 * Malformed input gives PGI_ERR_CORRUPT with the byte offset, line and
 * column in the detail.
 *
 * Memory: the DOM is built in a few large blocks freed by json_free.
 * Arrays and objects store their children contiguously, so json_at and
 * member iteration are O(1) per step; objects with more than 8 members
 * also keep a sorted index, so json_get is O(log n) (a 150k-entry
 * tokenizer vocabulary needs no caller-side hashing).  Total memory is
 * at most about 20 times the input length.
 *
 * src/core/formats/json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JSON_H
#define JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

#define JSON_MAX_DEPTH	64
#define JSON_MAX_INPUT	((size_t) 1 << 30)

typedef enum JsonType
{
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
} JsonType;

typedef struct JsonValue JsonValue;
typedef struct JsonMember JsonMember;

/* One value; read it through the accessors below */
struct JsonValue
{
	uint8_t		type;			/* JsonType */
	uint8_t		is_int;			/* number held exactly in u.i */
	uint8_t		boolean;		/* JSON_BOOL: true or false */
	uint32_t	n;				/* string bytes, array elements, members */
	union
	{
		double		d;			/* number, when !is_int */
		int64_t		i;			/* number, when is_int */
		const char *s;			/* string, NUL-terminated, n bytes */
		const JsonValue *items;
		const JsonMember *members;
	}			u;
};

/* One object member */
struct JsonMember
{
	const char *key;			/* NUL-terminated, key_len bytes */
	uint32_t	key_len;
	JsonValue	value;
};

typedef struct JsonDoc JsonDoc;

/* Parse data[0..len-1]; on success *out must be released with json_free */
extern PgiStatus json_parse(const char *data, size_t len, JsonDoc **out,
							PgiError *err);
extern void json_free(JsonDoc *doc);
extern const JsonValue *json_root(const JsonDoc *doc);

extern const char *json_type_name(JsonType t);
static inline JsonType
json_type(const JsonValue *v)
{
	return (JsonType) v->type;
}

/* Object member by key (NULL if v is not an object or has no such key) */
extern const JsonValue *json_get(const JsonValue *obj, const char *key);
extern const JsonValue *json_getn(const JsonValue *obj, const char *key,
								  size_t key_len);

/* Elements of an array or members of an object (0 for scalars) */
extern size_t json_size(const JsonValue *v);
/* Element i of an array, NULL if out of range or not an array */
extern const JsonValue *json_at(const JsonValue *arr, size_t i);
/* Member i of an object in document order, NULL if out of range */
extern const JsonMember *json_member(const JsonValue *obj, size_t i);

/*
 * Scalars: each returns false (leaving *out alone) when v has another
 * type.  json_int also fails for numbers that are not integer literals
 * within int64; json_num accepts every number.  json_str's result is
 * NUL-terminated; *len (may be NULL) counts bytes, and may exceed strlen
 * when the string contains \u0000.
 */
extern bool json_bool(const JsonValue *v, bool *out);
extern bool json_int(const JsonValue *v, int64_t *out);
extern bool json_num(const JsonValue *v, double *out);
extern const char *json_str(const JsonValue *v, size_t *len);

#endif							/* JSON_H */
