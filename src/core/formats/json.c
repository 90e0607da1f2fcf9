/*-------------------------------------------------------------------------
 *
 * json.c
 *	  A small strict JSON parser building a read-only DOM.
 *
 * Recursive descent over a (pointer, length) buffer, never reading past
 * its end (the input need not be NUL-terminated).  Children of an open
 * array or object are pushed on a stack; when the container closes, they
 * are copied into one contiguous block of the arena, so a finished value
 * never moves and every container's children are adjacent.  Strings are
 * unescaped into the arena (an unescaped string is never longer than its
 * source, so the arena grows by at most the input size for strings).
 *
 * Objects with more than SMALL_OBJECT members get a sorted index of their
 * members (uint32 positions, stored right after the member array); it
 * serves both the duplicate-key check and binary-search lookups.  Smaller
 * objects are checked and searched linearly.
 *
 * src/core/formats/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_OBJECT	8
#define ARENA_FIRST		(64 * 1024)
#define ARENA_MAX		(4 * 1024 * 1024)

/* One arena block; data follows the header */
typedef struct ArenaChunk
{
	struct ArenaChunk *next;
	size_t		used;
	size_t		cap;
	/* keep the data 16-byte aligned */
	size_t		pad;
} ArenaChunk;

typedef struct Arena
{
	ArenaChunk *head;
	size_t		next_size;
} Arena;

struct JsonDoc
{
	JsonValue	root;
	Arena		arena;
};

typedef struct Parser
{
	const unsigned char *start;
	const unsigned char *p;
	const unsigned char *end;
	Arena	   *arena;
	JsonValue  *vstack;			/* elements of open arrays */
	size_t		vtop;
	size_t		vcap;
	JsonMember *mstack;			/* members of open objects */
	size_t		mtop;
	size_t		mcap;
	int			depth;
	PgiError   *err;
	PgiStatus	status;
} Parser;

static const char *const type_names[] = {
	"null", "boolean", "number", "string", "array", "object"
};

/* Name a JSON type */
const char *
json_type_name(JsonType t)
{
	if ((unsigned) t > JSON_OBJECT)
		return "unknown";
	return type_names[t];
}

/* Allocate n bytes (8-byte aligned) from the arena */
static void *
arena_alloc(Arena *a, size_t n)
{
	ArenaChunk *c = a->head;
	void	   *p;

	n = (n + 7) & ~(size_t) 7;
	if (c == NULL || c->cap - c->used < n)
	{
		size_t		cap = a->next_size ? a->next_size : ARENA_FIRST;

		if (cap < n)
			cap = n;
		if (cap > SIZE_MAX - sizeof(ArenaChunk))
			return NULL;
		c = malloc(sizeof(ArenaChunk) + cap);
		if (c == NULL)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		if (a->next_size < ARENA_MAX)
			a->next_size = a->next_size ? a->next_size * 2 : ARENA_FIRST * 2;
	}
	p = (char *) (c + 1) + c->used;
	c->used += n;
	return p;
}

/* Free every arena block */
static void
arena_free(Arena *a)
{
	ArenaChunk *c = a->head;

	while (c != NULL)
	{
		ArenaChunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
}

static bool fail(Parser *ps, PgiStatus status, const unsigned char *at,
				 const char *fmt,...) __attribute__((format(printf, 4, 5)));

/* Record an error at position at; always returns false */
static bool
fail(Parser *ps, PgiStatus status, const unsigned char *at, const char *fmt,...)
{
	va_list		ap;
	size_t		line = 1,
				col = 1;
	static const char prefix[] = "invalid JSON: ";

	ps->status = status;
	if (ps->err == NULL)
		return false;
	if (at > ps->end)
		at = ps->end;
	for (const unsigned char *q = ps->start; q < at; q++)
	{
		if (*q == '\n')
		{
			line++;
			col = 1;
		}
		else
			col++;
	}
	ps->err->status = status;
	memcpy(ps->err->msg, prefix, sizeof(prefix));
	va_start(ap, fmt);
	vsnprintf(ps->err->msg + sizeof(prefix) - 1, sizeof(ps->err->msg) - sizeof(prefix) + 1,
			  fmt, ap);
	va_end(ap);
	snprintf(ps->err->detail, sizeof(ps->err->detail),
			 "The error is at byte %zu (line %zu, column %zu).",
			 (size_t) (at - ps->start), line, col);
	return false;
}

/* Out of memory; always returns false */
static bool
fail_nomem(Parser *ps)
{
	ps->status = PGI_ERR_NOMEM;
	if (ps->err)
	{
		ps->err->status = PGI_ERR_NOMEM;
		snprintf(ps->err->msg, sizeof(ps->err->msg), "out of memory parsing JSON");
		ps->err->detail[0] = '\0';
	}
	return false;
}

/* Skip JSON whitespace */
static void
skip_ws(Parser *ps)
{
	while (ps->p < ps->end &&
		   (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/*
 * Length of the valid UTF-8 sequence starting at s (at most n bytes
 * available), or 0 if it is invalid (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80,
				hi = 0xBF;
	size_t		len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Parse 4 hex digits; -1 if invalid */
static long
hex4(const unsigned char *s)
{
	long		v = 0;

	for (int i = 0; i < 4; i++)
	{
		unsigned char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Encode code point cp as UTF-8 at o; returns bytes written */
static size_t
utf8_put(unsigned char *o, unsigned long cp)
{
	if (cp < 0x80)
	{
		o[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		o[0] = (unsigned char) (0xC0 | (cp >> 6));
		o[1] = (unsigned char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		o[0] = (unsigned char) (0xE0 | (cp >> 12));
		o[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char) (0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char) (0xF0 | (cp >> 18));
	o[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Parse the string at ps->p (a '"') into the arena */
static bool
parse_string(Parser *ps, const char **out, uint32_t *out_len)
{
	const unsigned char *src = ps->p + 1;
	const unsigned char *q = src;
	const unsigned char *end;
	unsigned char *buf,
			   *o;
	bool		escapes = false;

	/* find the closing quote; reject raw control characters */
	while (q < ps->end && *q != '"')
	{
		if (*q == '\\')
		{
			escapes = true;
			q += 2;
			continue;
		}
		if (*q < 0x20)
			return fail(ps, PGI_ERR_CORRUPT, q,
						"control character 0x%02x in a string", *q);
		q++;
	}
	if (q >= ps->end)
		return fail(ps, PGI_ERR_CORRUPT, ps->p, "unterminated string");
	end = q;

	buf = arena_alloc(ps->arena, (size_t) (end - src) + 1);
	if (buf == NULL)
		return fail_nomem(ps);
	o = buf;
	while (src < end)
	{
		unsigned char c = *src;

		if (c == '\\')
		{
			unsigned char e = src[1];	/* exists: end is a quote */

			switch (e)
			{
				case '"':
				case '\\':
				case '/':
					*o++ = e;
					break;
				case 'b':
					*o++ = '\b';
					break;
				case 'f':
					*o++ = '\f';
					break;
				case 'n':
					*o++ = '\n';
					break;
				case 'r':
					*o++ = '\r';
					break;
				case 't':
					*o++ = '\t';
					break;
				case 'u':
					{
						long		cp,
									lo;

						if (end - src < 6 || (cp = hex4(src + 2)) < 0)
							return fail(ps, PGI_ERR_CORRUPT, src,
										"invalid \\u escape");
						if (cp >= 0xDC00 && cp <= 0xDFFF)
							return fail(ps, PGI_ERR_CORRUPT, src,
										"lone low surrogate \\u%04lx", cp);
						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							if (end - src < 12 || src[6] != '\\' || src[7] != 'u' ||
								(lo = hex4(src + 8)) < 0xDC00 || lo > 0xDFFF)
								return fail(ps, PGI_ERR_CORRUPT, src,
											"lone high surrogate \\u%04lx", cp);
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							src += 6;
						}
						o += utf8_put(o, (unsigned long) cp);
						src += 6;
						continue;
					}
				default:
					return fail(ps, PGI_ERR_CORRUPT, src, "invalid escape");
			}
			src += 2;
		}
		else if (c < 0x80)
			*o++ = *src++;
		else
		{
			size_t		k = utf8_seq(src, (size_t) (end - src));

			if (k == 0)
				return fail(ps, PGI_ERR_CORRUPT, src, "invalid UTF-8 in a string");
			memcpy(o, src, k);
			o += k;
			src += k;
		}
		/* a string without escapes copies fast */
		if (!escapes)
		{
			while (src < end && *src < 0x80)
				*o++ = *src++;
		}
	}
	*o = '\0';
	*out = (const char *) buf;
	*out_len = (uint32_t) (o - buf);
	ps->p = end + 1;
	return true;
}

/* Parse a number at ps->p */
static bool
parse_number(Parser *ps, JsonValue *out)
{
	const unsigned char *s = ps->p;
	const unsigned char *q = s;
	bool		neg = false,
				integral = true;
	char		small[64];
	char	   *buf;
	size_t		n;
	double		d;
	char	   *endp;

	if (*q == '-')
	{
		neg = true;
		q++;
	}
	if (q < ps->end && *q == '0')
		q++;
	else if (q < ps->end && *q >= '1' && *q <= '9')
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	else
		return fail(ps, PGI_ERR_CORRUPT, s, "invalid number");
	if (q < ps->end && *q == '.')
	{
		q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return fail(ps, PGI_ERR_CORRUPT, s, "invalid number: no digits after '.'");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
		integral = false;
	}
	if (q < ps->end && (*q == 'e' || *q == 'E'))
	{
		q++;
		if (q < ps->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return fail(ps, PGI_ERR_CORRUPT, s, "invalid number: no digits in the exponent");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
		integral = false;
	}
	ps->p = q;
	out->type = JSON_NUMBER;

	if (integral)
	{
		/* accumulate negatively so INT64_MIN fits */
		int64_t		v = 0;
		bool		ok = true;

		for (const unsigned char *c = s + (neg ? 1 : 0); c < q && ok; c++)
			ok = !__builtin_mul_overflow(v, 10, &v) &&
				!__builtin_sub_overflow(v, (int64_t) (*c - '0'), &v);
		if (ok && !neg && v == INT64_MIN)
			ok = false;
		if (ok)
		{
			out->is_int = 1;
			out->u.i = neg ? v : -v;
			return true;
		}
	}

	n = (size_t) (q - s);
	buf = n < sizeof(small) ? small : malloc(n + 1);
	if (buf == NULL)
		return fail_nomem(ps);
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	d = strtod(buf, &endp);
	if (buf != small)
		free(buf);
	if (errno == ERANGE && isinf(d))
		return fail(ps, PGI_ERR_RANGE, s, "number out of range for double");
	out->is_int = 0;
	out->u.d = d;
	return true;
}

/* Push a finished value on the element stack */
static bool
push_value(Parser *ps, const JsonValue *v)
{
	if (ps->vtop == ps->vcap)
	{
		size_t		cap = ps->vcap ? ps->vcap * 2 : 64;
		JsonValue  *p = realloc(ps->vstack, cap * sizeof(JsonValue));

		if (p == NULL)
			return fail_nomem(ps);
		ps->vstack = p;
		ps->vcap = cap;
	}
	ps->vstack[ps->vtop++] = *v;
	return true;
}

/* Push a finished member on the member stack */
static bool
push_member(Parser *ps, const JsonMember *m)
{
	if (ps->mtop == ps->mcap)
	{
		size_t		cap = ps->mcap ? ps->mcap * 2 : 64;
		JsonMember *p = realloc(ps->mstack, cap * sizeof(JsonMember));

		if (p == NULL)
			return fail_nomem(ps);
		ps->mstack = p;
		ps->mcap = cap;
	}
	ps->mstack[ps->mtop++] = *m;
	return true;
}

/* Compare two keys bytewise, shorter first on a common prefix */
static int
key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int			c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return (al > bl) - (al < bl);
}

/* Sort member positions idx[0..n-1] by key (bottom-up merge sort) */
static bool
sort_members(const JsonMember *m, uint32_t *idx, size_t n)
{
	uint32_t   *tmp = malloc(n * sizeof(uint32_t));
	uint32_t   *src = idx,
			   *dst = tmp;

	if (tmp == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t) i;
	for (size_t w = 1; w < n; w *= 2)
	{
		for (size_t lo = 0; lo < n; lo += 2 * w)
		{
			size_t		mid = lo + w < n ? lo + w : n;
			size_t		hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t		i = lo,
						j = mid,
						k = lo;

			while (i < mid && j < hi)
			{
				const JsonMember *a = &m[src[i]];
				const JsonMember *b = &m[src[j]];

				if (key_cmp(a->key, a->key_len, b->key, b->key_len) <= 0)
					dst[k++] = src[i++];
				else
					dst[k++] = src[j++];
			}
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		{
			uint32_t   *t = src;

			src = dst;
			dst = t;
		}
	}
	if (src != idx)
		memcpy(idx, src, n * sizeof(uint32_t));
	free(tmp);
	return true;
}

static bool parse_value(Parser *ps, JsonValue *out);

/* Parse an array at ps->p (a '[') */
static bool
parse_array(Parser *ps, JsonValue *out)
{
	size_t		base = ps->vtop;
	size_t		n;
	JsonValue  *items;

	if (++ps->depth > JSON_MAX_DEPTH)
		return fail(ps, PGI_ERR_LIMIT, ps->p,
					"nesting deeper than %d levels", JSON_MAX_DEPTH);
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']')
		ps->p++;
	else
	{
		for (;;)
		{
			JsonValue	v;

			if (!parse_value(ps, &v) || !push_value(ps, &v))
				return false;
			skip_ws(ps);
			if (ps->p >= ps->end)
				return fail(ps, PGI_ERR_CORRUPT, ps->p, "unterminated array");
			if (*ps->p == ',')
			{
				ps->p++;
				continue;
			}
			if (*ps->p == ']')
			{
				ps->p++;
				break;
			}
			return fail(ps, PGI_ERR_CORRUPT, ps->p, "expected ',' or ']' in an array");
		}
	}
	n = ps->vtop - base;
	memset(out, 0, sizeof(*out));
	out->type = JSON_ARRAY;
	out->n = (uint32_t) n;
	if (n > 0)
	{
		items = arena_alloc(ps->arena, n * sizeof(JsonValue));
		if (items == NULL)
			return fail_nomem(ps);
		memcpy(items, ps->vstack + base, n * sizeof(JsonValue));
		out->u.items = items;
	}
	ps->vtop = base;
	ps->depth--;
	return true;
}

/* Parse an object at ps->p (a '{') */
static bool
parse_object(Parser *ps, JsonValue *out)
{
	const unsigned char *start = ps->p;
	size_t		base = ps->mtop;
	size_t		n;
	JsonMember *members;

	if (++ps->depth > JSON_MAX_DEPTH)
		return fail(ps, PGI_ERR_LIMIT, ps->p,
					"nesting deeper than %d levels", JSON_MAX_DEPTH);
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}')
		ps->p++;
	else
	{
		for (;;)
		{
			JsonMember	m;

			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, PGI_ERR_CORRUPT, ps->p, "expected a string key in an object");
			if (!parse_string(ps, &m.key, &m.key_len))
				return false;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, PGI_ERR_CORRUPT, ps->p, "expected ':' after an object key");
			ps->p++;
			if (!parse_value(ps, &m.value) || !push_member(ps, &m))
				return false;
			skip_ws(ps);
			if (ps->p >= ps->end)
				return fail(ps, PGI_ERR_CORRUPT, ps->p, "unterminated object");
			if (*ps->p == ',')
			{
				ps->p++;
				continue;
			}
			if (*ps->p == '}')
			{
				ps->p++;
				break;
			}
			return fail(ps, PGI_ERR_CORRUPT, ps->p, "expected ',' or '}' in an object");
		}
	}
	n = ps->mtop - base;
	memset(out, 0, sizeof(*out));
	out->type = JSON_OBJECT;
	out->n = (uint32_t) n;
	if (n > 0)
	{
		size_t		bytes = n * sizeof(JsonMember) +
			(n > SMALL_OBJECT ? n * sizeof(uint32_t) : 0);

		members = arena_alloc(ps->arena, bytes);
		if (members == NULL)
			return fail_nomem(ps);
		memcpy(members, ps->mstack + base, n * sizeof(JsonMember));
		out->u.members = members;
		if (n <= SMALL_OBJECT)
		{
			for (size_t i = 1; i < n; i++)
				for (size_t j = 0; j < i; j++)
					if (key_cmp(members[i].key, members[i].key_len,
								members[j].key, members[j].key_len) == 0)
						return fail(ps, PGI_ERR_CORRUPT, start,
									"duplicate key \"%.64s\" in an object", members[i].key);
		}
		else
		{
			uint32_t   *idx = (uint32_t *) (members + n);

			if (!sort_members(members, idx, n))
				return fail_nomem(ps);
			for (size_t i = 1; i < n; i++)
			{
				const JsonMember *a = &members[idx[i - 1]];
				const JsonMember *b = &members[idx[i]];

				if (key_cmp(a->key, a->key_len, b->key, b->key_len) == 0)
					return fail(ps, PGI_ERR_CORRUPT, start,
								"duplicate key \"%.64s\" in an object", b->key);
			}
		}
	}
	ps->mtop = base;
	ps->depth--;
	return true;
}

/* Match a literal word */
static bool
parse_word(Parser *ps, const char *word, size_t n)
{
	if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, PGI_ERR_CORRUPT, ps->p, "invalid literal");
	ps->p += n;
	return true;
}

/* Parse any value after optional whitespace */
static bool
parse_value(Parser *ps, JsonValue *out)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, PGI_ERR_CORRUPT, ps->p, "unexpected end of input");
	memset(out, 0, sizeof(*out));
	switch (*ps->p)
	{
		case '{':
			return parse_object(ps, out);
		case '[':
			return parse_array(ps, out);
		case '"':
			out->type = JSON_STRING;
			return parse_string(ps, &out->u.s, &out->n);
		case 't':
			out->type = JSON_BOOL;
			out->boolean = 1;
			return parse_word(ps, "true", 4);
		case 'f':
			out->type = JSON_BOOL;
			return parse_word(ps, "false", 5);
		case 'n':
			out->type = JSON_NULL;
			return parse_word(ps, "null", 4);
		default:
			if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
				return parse_number(ps, out);
			if (*ps->p >= 0x20 && *ps->p < 0x7F)
				return fail(ps, PGI_ERR_CORRUPT, ps->p, "unexpected character '%c'", *ps->p);
			return fail(ps, PGI_ERR_CORRUPT, ps->p, "unexpected byte 0x%02x", *ps->p);
	}
}

/* Parse a JSON document */
PgiStatus
json_parse(const char *data, size_t len, JsonDoc **out, PgiError *err)
{
	JsonDoc    *doc;
	Parser		ps;
	bool		ok;

	*out = NULL;
	if (err)
		err->status = PGI_OK;
	if (len >= JSON_MAX_INPUT)
	{
		if (err)
		{
			err->status = PGI_ERR_LIMIT;
			snprintf(err->msg, sizeof(err->msg), "JSON input of %zu bytes is too large", len);
			snprintf(err->detail, sizeof(err->detail), "The limit is %zu bytes.",
					 JSON_MAX_INPUT - 1);
		}
		return PGI_ERR_LIMIT;
	}
	doc = calloc(1, sizeof(JsonDoc));
	if (doc == NULL)
	{
		if (err)
		{
			err->status = PGI_ERR_NOMEM;
			snprintf(err->msg, sizeof(err->msg), "out of memory parsing JSON");
			err->detail[0] = '\0';
		}
		return PGI_ERR_NOMEM;
	}
	memset(&ps, 0, sizeof(ps));
	ps.start = (const unsigned char *) (data ? data : "");
	ps.p = ps.start;
	ps.end = ps.start + (data ? len : 0);
	ps.arena = &doc->arena;
	ps.err = err;

	if (ps.end - ps.p >= 3 && ps.p[0] == 0xEF && ps.p[1] == 0xBB && ps.p[2] == 0xBF)
		ps.p += 3;
	ok = parse_value(&ps, &doc->root);
	if (ok)
	{
		skip_ws(&ps);
		if (ps.p != ps.end)
			ok = fail(&ps, PGI_ERR_CORRUPT, ps.p, "unexpected data after the top-level value");
	}
	free(ps.vstack);
	free(ps.mstack);
	if (!ok)
	{
		json_free(doc);
		return ps.status;
	}
	*out = doc;
	return PGI_OK;
}

/* Release a document */
void
json_free(JsonDoc *doc)
{
	if (doc == NULL)
		return;
	arena_free(&doc->arena);
	free(doc);
}

/* The top-level value */
const JsonValue *
json_root(const JsonDoc *doc)
{
	return &doc->root;
}

/* Member lookup with an explicit key length */
const JsonValue *
json_getn(const JsonValue *obj, const char *key, size_t key_len)
{
	const JsonMember *m;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	m = obj->u.members;
	if (obj->n <= SMALL_OBJECT)
	{
		for (uint32_t i = 0; i < obj->n; i++)
			if (key_cmp(m[i].key, m[i].key_len, key, key_len) == 0)
				return &m[i].value;
	}
	else
	{
		const uint32_t *idx = (const uint32_t *) (m + obj->n);
		size_t		lo = 0,
					hi = obj->n;

		while (lo < hi)
		{
			size_t		mid = lo + (hi - lo) / 2;
			const JsonMember *x = &m[idx[mid]];
			int			c = key_cmp(key, key_len, x->key, x->key_len);

			if (c == 0)
				return &x->value;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	return NULL;
}

/* Member lookup by NUL-terminated key */
const JsonValue *
json_get(const JsonValue *obj, const char *key)
{
	return json_getn(obj, key, strlen(key));
}

/* Number of elements or members */
size_t
json_size(const JsonValue *v)
{
	if (v == NULL || (v->type != JSON_ARRAY && v->type != JSON_OBJECT))
		return 0;
	return v->n;
}

/* Array element i */
const JsonValue *
json_at(const JsonValue *arr, size_t i)
{
	if (arr == NULL || arr->type != JSON_ARRAY || i >= arr->n)
		return NULL;
	return &arr->u.items[i];
}

/* Object member i, in document order */
const JsonMember *
json_member(const JsonValue *obj, size_t i)
{
	if (obj == NULL || obj->type != JSON_OBJECT || i >= obj->n)
		return NULL;
	return &obj->u.members[i];
}

/* Boolean value */
bool
json_bool(const JsonValue *v, bool *out)
{
	if (v == NULL || v->type != JSON_BOOL)
		return false;
	*out = v->boolean != 0;
	return true;
}

/* Integer value (integer literals within int64 only) */
bool
json_int(const JsonValue *v, int64_t *out)
{
	if (v == NULL || v->type != JSON_NUMBER || !v->is_int)
		return false;
	*out = v->u.i;
	return true;
}

/* Any number, as double */
bool
json_num(const JsonValue *v, double *out)
{
	if (v == NULL || v->type != JSON_NUMBER)
		return false;
	*out = v->is_int ? (double) v->u.i : v->u.d;
	return true;
}

/* String value */
const char *
json_str(const JsonValue *v, size_t *len)
{
	if (v == NULL || v->type != JSON_STRING)
		return NULL;
	if (len)
		*len = v->n;
	return v->u.s;
}
