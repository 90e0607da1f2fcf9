/*
 * test_json.c
 *	  Unit tests of the JSON parser (src/core/formats/json.c).
 *
 * References, none of them our C code:
 *	- fixtures/json_cases.txt: tricky documents with the canonical form of
 *	  Python's json.loads result (or "must fail"), with our stated rules
 *	  applied by gen_fixtures.py (duplicate keys, lone surrogates,
 *	  NaN/Infinity, double overflow and nesting deeper than 64 fail);
 *	  the test prints our DOM in the same canonical form and compares bytes;
 *	- hand-written expectations for error classes, positions and the
 *	  accessors;
 *	- a 150,000-entry vocabulary built here, whose lookups are known by
 *	  construction.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/formats/json.h"
#include "unit.h"

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

/* Append a C string */
static void
puts_(Buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Canonical string: escape only '"', '\\' and bytes below 0x20 */
static void
canon_str(Buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];

		if (c == '"')
			puts_(b, "\\\"");
		else if (c == '\\')
			puts_(b, "\\\\");
		else if (c < 0x20)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			puts_(b, esc);
		}
		else
			put(b, (const char *) &s[i], 1);
	}
	put(b, "\"", 1);
}

/* The canonical form gen_fixtures.py's canon() prints */
static void
canon(Buf *b, const JsonValue *v)
{
	char		num[64];
	bool		bv;
	int64_t		i;
	double		d;
	size_t		n;
	const char *s;

	switch (json_type(v))
	{
		case JSON_NULL:
			puts_(b, "null");
			break;
		case JSON_BOOL:
			json_bool(v, &bv);
			puts_(b, bv ? "true" : "false");
			break;
		case JSON_NUMBER:
			if (json_int(v, &i))
				snprintf(num, sizeof(num), "%" PRId64, i);
			else
			{
				json_num(v, &d);
				snprintf(num, sizeof(num), "f%.17g", d);
			}
			puts_(b, num);
			break;
		case JSON_STRING:
			s = json_str(v, &n);
			canon_str(b, s, n);
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
			break;
		case JSON_OBJECT:
			put(b, "{", 1);
			for (size_t k = 0; k < json_size(v); k++)
			{
				const JsonMember *m = json_member(v, k);

				if (k)
					put(b, ",", 1);
				canon_str(b, m->key, m->key_len);
				put(b, ":", 1);
				canon(b, &m->value);
			}
			put(b, "}", 1);
			break;
	}
}

/* Decode hex ("-" is empty) into a malloc'd buffer */
static char *
unhex(const char *s, size_t *n)
{
	size_t		len = strcmp(s, "-") == 0 ? 0 : strlen(s) / 2;
	char	   *out = malloc(len + 1);

	for (size_t i = 0; i < len; i++)
	{
		unsigned	x;

		sscanf(s + 2 * i, "%2x", &x);
		out[i] = (char) x;
	}
	out[len] = '\0';
	*n = len;
	return out;
}

/* The generated cases against Python's json module */
static void
check_cases(void)
{
	FILE	   *f = fopen("test/unit/fixtures/json_cases.txt", "r");
	char	   *line = NULL;
	size_t		cap = 0;
	int			n = 0,
				n_ok = 0;

	if (f == NULL)
	{
		CHECK(0, "cannot read fixtures/json_cases.txt (run from the repository root)");
		return;
	}
	while (getline(&line, &cap, f) > 0)
	{
		char	   *save;
		char	   *in_hex = strtok_r(line, " \n", &save);
		char	   *want_hex = strtok_r(NULL, " \n", &save);
		size_t		in_len,
					want_len;
		char	   *in,
				   *want;
		JsonDoc    *doc;
		PgiError	err;
		PgiStatus	st;

		if (in_hex == NULL || in_hex[0] == '#' || want_hex == NULL)
			continue;
		in = unhex(in_hex, &in_len);
		n++;
		memset(&err, 0, sizeof(err));
		st = json_parse(in, in_len, &doc, &err);
		if (strcmp(want_hex, "!") == 0)
		{
			CHECK(st != PGI_OK && doc == NULL && err.status == st && err.msg[0] != '\0',
				  "case %d must fail: '%.60s'", n, in);
		}
		else
		{
			Buf			b = {0};

			n_ok++;
			want = unhex(want_hex, &want_len);
			CHECK(st == PGI_OK, "case %d must parse: '%.60s': %s / %s", n, in, err.msg, err.detail);
			if (st == PGI_OK)
			{
				canon(&b, json_root(doc));
				CHECK(b.n == want_len && memcmp(b.p, want, want_len) == 0,
					  "case %d '%.60s': got %s, want %s", n, in, b.p, want);
				json_free(doc);
			}
			free(b.p);
			free(want);
		}
		free(in);
	}
	free(line);
	fclose(f);
	CHECK(n > 150 && n_ok > 100, "json_cases.txt has %d cases, %d valid", n, n_ok);
}

/* Parse s and expect status st with needle in msg or detail */
static void
expect(const char *s, PgiStatus st, const char *needle)
{
	JsonDoc    *doc;
	PgiError	err;
	PgiStatus	got;

	memset(&err, 0, sizeof(err));
	got = json_parse(s, strlen(s), &doc, &err);
	CHECK(got == st && (needle == NULL || strstr(err.msg, needle) || strstr(err.detail, needle)),
		  "'%.40s': got %d '%s' / '%s', want %d with '%s'", s, got, err.msg, err.detail, st,
		  needle ? needle : "");
	json_free(doc);
}

/* Error classes, positions and accessors */
static void
check_rules(void)
{
	JsonDoc    *doc;
	PgiError	err;
	const JsonValue *r;
	int64_t		i;
	double		d;
	bool		bv;
	size_t		n;
	const char *s;
	char	   *deep;

	expect("[1e400]", PGI_ERR_RANGE, "out of range");
	expect("{\n  \"a\": x}", PGI_ERR_CORRUPT, "line 2, column 8");
	expect("{\"a\":1,\"b\":2,\"a\":3}", PGI_ERR_CORRUPT, "duplicate key \"a\"");
	expect("\"\\ud800\"", PGI_ERR_CORRUPT, "lone high surrogate");
	expect("[1,]", PGI_ERR_CORRUPT, "byte 3");
	expect("\xef\xbb\xbf[1]", PGI_OK, NULL);
	expect("\xef\xbb\xbf\xef\xbb\xbf[1]", PGI_ERR_CORRUPT, "0xef");
	expect("", PGI_ERR_CORRUPT, "unexpected end");

	/* depth: 64 nested containers parse, 65 do not */
	deep = malloc(200);
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	CHECK(json_parse(deep, 128, &doc, &err) == PGI_OK, "64 levels");
	json_free(doc);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	CHECK(json_parse(deep, 130, &doc, &err) == PGI_ERR_LIMIT && err.status == PGI_ERR_LIMIT &&
		  strstr(err.msg, "64") != NULL, "65 levels: %s", err.msg);
	/* deep garbage: no recursion beyond the limit */
	memset(deep, '[', 200);
	CHECK(json_parse(deep, 200, &doc, &err) == PGI_ERR_LIMIT, "200 open brackets");
	free(deep);

	/* the input need not be NUL-terminated: parse a prefix of a buffer */
	CHECK(json_parse("[12]34", 4, &doc, &err) == PGI_OK && json_size(json_root(doc)) == 1,
		  "length-bounded input");
	json_free(doc);
	CHECK(json_parse("123", 2, &doc, &err) == PGI_OK && json_int(json_root(doc), &i) && i == 12,
		  "number cut by the length");
	json_free(doc);
	CHECK(json_parse("\"ab\"", 3, &doc, &err) == PGI_ERR_CORRUPT, "string cut by the length");

	/* accessors */
	s = "{\"n\":null,\"t\":true,\"i\":-42,\"big\":9223372036854775808,\"f\":2.5,"
		"\"s\":\"a\\u0000b\",\"arr\":[1,\"x\",[]],\"obj\":{\"k\":1}}";
	CHECK(json_parse(s, strlen(s), &doc, &err) == PGI_OK, "accessor doc: %s", err.msg);
	r = json_root(doc);
	CHECK(json_type(r) == JSON_OBJECT && json_size(r) == 8, "root object of 8");
	CHECK(json_type(json_get(r, "n")) == JSON_NULL, "null");
	CHECK(json_bool(json_get(r, "t"), &bv) && bv, "true");
	CHECK(!json_bool(json_get(r, "n"), &bv), "null is not a bool");
	CHECK(json_int(json_get(r, "i"), &i) && i == -42, "int -42");
	CHECK(!json_int(json_get(r, "big"), &i) && json_num(json_get(r, "big"), &d) &&
		  d == 9223372036854775808.0, "2^63 is a double, not an int64");
	CHECK(!json_int(json_get(r, "f"), &i) && json_num(json_get(r, "f"), &d) && d == 2.5,
		  "2.5 is not an integer");
	CHECK(json_num(json_get(r, "i"), &d) && d == -42.0, "int as double");
	s = json_str(json_get(r, "s"), &n);
	CHECK(s && n == 3 && s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && s[3] == '\0',
		  "\\u0000 inside a string, length 3");
	CHECK(json_str(json_get(r, "i"), &n) == NULL, "number is not a string");
	CHECK(json_size(json_get(r, "arr")) == 3 &&
		  json_type(json_at(json_get(r, "arr"), 1)) == JSON_STRING &&
		  json_at(json_get(r, "arr"), 3) == NULL, "array access");
	CHECK(json_get(json_get(r, "obj"), "k") != NULL && json_get(json_get(r, "obj"), "K") == NULL,
		  "nested lookup, case-sensitive");
	CHECK(json_get(r, "missing") == NULL && json_get(json_get(r, "arr"), "x") == NULL &&
		  json_get(NULL, "x") == NULL, "missing lookups");
	CHECK(json_member(r, 0) && strcmp(json_member(r, 0)->key, "n") == 0 &&
		  strcmp(json_member(r, 7)->key, "obj") == 0 && json_member(r, 8) == NULL,
		  "members in document order");
	CHECK(strcmp(json_type_name(JSON_OBJECT), "object") == 0, "type name");
	json_free(doc);

	/* keys with NUL bytes: json_getn finds them, json_get stops at the NUL */
	s = "{\"a\\u0000b\":1,\"a\":2}";
	CHECK(json_parse(s, strlen(s), &doc, &err) == PGI_OK, "NUL key doc");
	CHECK(json_int(json_getn(json_root(doc), "a\0b", 3), &i) && i == 1 &&
		  json_int(json_get(json_root(doc), "a"), &i) && i == 2, "NUL key lookup");
	json_free(doc);

	/* every proper prefix of an object is an error */
	{
		const char *full = "{\"model\": {\"vocab\": {\"a\": 0, \"\\u00e9\": 1}, "
			"\"merges\": [\"a b\", \"c d\"], \"x\": [1.5e-3, -0, true, null]}}";
		int			bad = 0;

		for (size_t cut = 0; cut < strlen(full); cut++)
		{
			char	   *copy = malloc(cut + 1);

			memcpy(copy, full, cut);
			if (json_parse(copy, cut, &doc, &err) == PGI_OK)
			{
				bad++;
				json_free(doc);
			}
			free(copy);
		}
		CHECK(bad == 0, "%d proper prefixes accepted", bad);
		CHECK(json_parse(full, strlen(full), &doc, &err) == PGI_OK, "full document");
		json_free(doc);
	}
}

/* A tokenizer-sized vocabulary: no quadratic parse, O(log n) lookups */
static void
check_big(void)
{
	enum
	{
		N = 150000
	};
	Buf			b = {0};
	char		tmp[64];
	JsonDoc    *doc;
	PgiError	err;
	const JsonValue *vocab;
	const JsonValue *merges;
	struct timespec t0,
				t1,
				t2;
	int			bad = 0;

	puts_(&b, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
	for (int i = 0; i < N; i++)
	{
		/* shuffled key order: i * 7919 mod N is a permutation */
		int			k = (int) (((int64_t) i * 7919) % N);

		snprintf(tmp, sizeof(tmp), "%s\"tok%d\\u00e9\":%d", i ? "," : "", k, k);
		puts_(&b, tmp);
	}
	puts_(&b, "},\"merges\":[");
	for (int i = 0; i < N; i++)
	{
		snprintf(tmp, sizeof(tmp), "%s\"t%d t%d\"", i ? "," : "", i, i + 1);
		puts_(&b, tmp);
	}
	puts_(&b, "]}}");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(json_parse(b.p, b.n, &doc, &err) == PGI_OK, "big vocabulary: %s", err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (doc == NULL)
	{
		free(b.p);
		return;
	}
	vocab = json_get(json_get(json_root(doc), "model"), "vocab");
	merges = json_get(json_get(json_root(doc), "model"), "merges");
	CHECK(json_size(vocab) == N && json_size(merges) == N, "big: sizes");
	for (int k = 0; k < N; k++)
	{
		int64_t		v = -1;

		snprintf(tmp, sizeof(tmp), "tok%d\xc3\xa9", k);
		if (!json_int(json_get(vocab, tmp), &v) || v != k)
			bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	CHECK(bad == 0, "big: %d of %d lookups wrong", bad, N);
	snprintf(tmp, sizeof(tmp), "tok%d", N);
	CHECK(json_get(vocab, tmp) == NULL && json_get(vocab, "tok1") == NULL, "big: absent keys");
	CHECK(strcmp(json_str(json_at(merges, N - 1), NULL), "t149999 t150000") == 0, "big: last merge");
	printf("json: %.1f MB with %d vocab entries + %d merges parsed in %.1f ms, %d lookups in %.1f ms\n",
		   b.n / 1e6, N, N,
		   (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, N,
		   (t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
	json_free(doc);
	free(b.p);
}

int
main(void)
{
	check_cases();
	check_rules();
	check_big();
	return UNIT_DONE("json");
}
