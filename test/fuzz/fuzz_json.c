/*
 * fuzz_json.c
 *	  libFuzzer target for the JSON parser (src/core/formats/json.c).
 *
 * Any byte string is parsed.  An accepted document must:
 *	- print (canonical form: document order, integers exact, other numbers
 *	  as %.17g) and parse back to the same canonical text;
 *	- find every object member again by key (pointer-equal), which checks
 *	  the sorted index of large objects;
 *	- have strings whose length matches their bytes and whose byte after
 *	  the end is the terminating NUL.
 * A rejected document leaves no JsonDoc and a message.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Buf
{
	char	   *p;
	size_t		n;
	size_t		cap;
} Buf;

/* Append bytes */
static void
put(Buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap)
	{
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* A JSON string literal with the minimal escapes */
static void
put_str(Buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];

		if (c == '"' || c == '\\')
		{
			esc[0] = '\\';
			esc[1] = (char) c;
			put(b, esc, 2);
		}
		else if (c < 0x20)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(b, esc, 6);
		}
		else
			put(b, &s[i], 1);
	}
	put(b, "\"", 1);
}

/* Print v canonically and check its invariants */
static void
canon(Buf *b, const JsonValue *v)
{
	char		num[64];
	int64_t		i;
	double		d;
	bool		bv;
	size_t		n;
	const char *s;

	switch (json_type(v))
	{
		case JSON_NULL:
			put(b, "null", 4);
			break;
		case JSON_BOOL:
			json_bool(v, &bv);
			put(b, bv ? "true" : "false", bv ? 4 : 5);
			break;
		case JSON_NUMBER:
			/* %.17g of a double round-trips; integers print exactly */
			if (json_int(v, &i))
				snprintf(num, sizeof(num), "%" PRId64, i);
			else
			{
				json_num(v, &d);
				snprintf(num, sizeof(num), "%.17g", d);
				if (strchr(num, '.') == NULL && strchr(num, 'e') == NULL &&
					strchr(num, 'n') == NULL)
					strcat(num, ".0");	/* keep it a non-integer literal */
			}
			put(b, num, strlen(num));
			break;
		case JSON_STRING:
			s = json_str(v, &n);
			if (s[n] != '\0')
				abort();
			put_str(b, s, n);
			break;
		case JSON_ARRAY:
			put(b, "[", 1);
			for (size_t k = 0; k < json_size(v); k++)
			{
				if (k)
					put(b, ",", 1);
				canon(b, json_at(v, k));
			}
			put(b, "]", 1);
			if (json_at(v, json_size(v)) != NULL)
				abort();
			break;
		case JSON_OBJECT:
			put(b, "{", 1);
			for (size_t k = 0; k < json_size(v); k++)
			{
				const JsonMember *m = json_member(v, k);

				if (json_getn(v, m->key, m->key_len) != &m->value || m->key[m->key_len] != '\0')
					abort();
				if (k)
					put(b, ",", 1);
				put_str(b, m->key, m->key_len);
				put(b, ":", 1);
				canon(b, &m->value);
			}
			put(b, "}", 1);
			break;
		default:
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	JsonDoc    *doc = NULL,
			   *doc2 = NULL;
	PgiError	err;
	Buf			a = {0},
				b = {0};

	memset(&err, 0, sizeof(err));
	if (json_parse((const char *) data, size, &doc, &err) != PGI_OK)
	{
		if (doc != NULL || err.status == PGI_OK || err.msg[0] == '\0')
			abort();
		return 0;
	}
	canon(&a, json_root(doc));
	if (json_parse(a.p, a.n, &doc2, &err) != PGI_OK)
	{
		fprintf(stderr, "reparse failed: %s / %s\n%s\n", err.msg, err.detail, a.p);
		abort();
	}
	canon(&b, json_root(doc2));
	if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0)
	{
		fprintf(stderr, "round trip differs:\n%s\n%s\n", a.p, b.p);
		abort();
	}
	json_free(doc);
	json_free(doc2);
	free(a.p);
	free(b.p);
	return 0;
}
