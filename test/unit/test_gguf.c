/*
 * test_gguf.c
 *	  Unit tests of the GGUF reader (src/core/formats/gguf.c).
 *
 * References, none of them our C code:
 *	- test/unit/fixtures/tiny*.gguf and their .expect files, written by
 *	  gen_fixtures.py (Python struct + numpy): every key and value, every
 *	  tensor's shape, type, absolute offset and size, and the dequantised
 *	  values of the F32/F16/BF16/Q8_0/Q4_0/Q5_0 tensors;
 *	- hand-built hostile files below, each expected to fail with a stated
 *	  status and a message naming the key or tensor;
 *	- the shared model files (../shared/models), checked against their
 *	  README (architecture, hyperparameters, tensor type mix) and, for
 *	  stories260K, against the weights in the llama2.c checkpoint
 *	  stories260K.bin; skipped when absent.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/kernels/quant.h"
#include "unit.h"

#define SHARED "../shared/models/"

/* Decode lower-case hex ("-" is empty) into out; returns length */
static size_t
unhex(const char *s, uint8_t *out)
{
	size_t		n = 0;

	if (strcmp(s, "-") == 0)
		return 0;
	for (; s[0] && s[1]; s += 2)
	{
		unsigned	b;

		sscanf(s, "%2x", &b);
		out[n++] = (uint8_t) b;
	}
	return n;
}

/* Same float, NaN matching NaN */
static int
same_float(double want, float got)
{
	if (isnan(want))
		return isnan(got);
	return (float) want == got && !signbit(want) == !signbit(got);
}

/* Walk everything an opened file exposes; returns 1 if all is consistent */
static int
walk(const GgufFile *f, size_t len)
{
	int			ok = 1;

	for (size_t i = 0; i < gguf_n_kv(f); i++)
	{
		const GgufKV *kv = gguf_kv(f, i);

		ok &= gguf_find_kv(f, kv->key) == kv;
		if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING)
			for (uint64_t j = 0; j < kv->n; j++)
			{
				size_t		n;
				const char *s = gguf_arr_str(kv, j, &n);

				ok &= s != NULL && n <= len;
			}
	}
	for (size_t i = 0; i < gguf_n_tensors(f); i++)
	{
		const GgufTensor *t = gguf_tensor(f, i);

		ok &= gguf_find_tensor(f, t->name) == t;
		ok &= t->offset + t->n_bytes <= len && t->offset % gguf_alignment(f) == 0;
	}
	return ok;
}

/* Compare an opened file with an .expect file written by gen_fixtures.py */
static void
check_expect(const char *path)
{
	char		epath[256];
	size_t		len;
	uint8_t    *data = read_file(path, &len);
	FILE	   *ef;
	GgufFile   *f;
	PgiError	err;
	char	   *line = NULL;
	size_t		cap = 0;
	size_t		kv_index = 0;
	uint8_t    *bytes = malloc(1 << 16);
	float	   *vals = malloc(sizeof(float) * 4096);

	snprintf(epath, sizeof(epath), "%s.expect", path);
	ef = fopen(epath, "r");
	if (data == NULL || ef == NULL)
	{
		CHECK(0, "cannot read fixture %s (run from the repository root)", path);
		return;
	}
	CHECK(gguf_open(data, len, &f, &err) == PGI_OK, "%s: %s / %s", path, err.msg, err.detail);
	if (f == NULL)
		return;
	CHECK(walk(f, len), "%s: walk", path);

	while (getline(&line, &cap, ef) > 0)
	{
		char	   *save;
		char	   *kind = strtok_r(line, " \n", &save);
		char	   *name = strtok_r(NULL, " \n", &save);
		char	   *a = strtok_r(NULL, " \n", &save);

		if (kind == NULL || name == NULL)
			continue;
		if (strcmp(kind, "version") == 0)
			CHECK(gguf_version(f) == strtoul(name, NULL, 10), "%s version", path);
		else if (strcmp(kind, "n_kv") == 0)
			CHECK(gguf_n_kv(f) == strtoul(name, NULL, 10), "%s n_kv %zu", path, gguf_n_kv(f));
		else if (strcmp(kind, "n_tensors") == 0)
			CHECK(gguf_n_tensors(f) == strtoul(name, NULL, 10), "%s n_tensors", path);
		else if (strcmp(kind, "alignment") == 0)
			CHECK(gguf_alignment(f) == strtoul(name, NULL, 10), "%s alignment", path);
		else if (strcmp(kind, "data_offset") == 0)
			CHECK(gguf_data_offset(f) == strtoull(name, NULL, 10), "%s data_offset %llu",
				  path, (unsigned long long) gguf_data_offset(f));
		else if (strcmp(kind, "size") == 0)
			CHECK(len == strtoull(name, NULL, 10), "%s size", path);
		else if (strcmp(kind, "kv") == 0)
		{
			const GgufKV *kv = gguf_find_kv(f, name);
			int			type = atoi(a);
			char	   *v = strtok_r(NULL, " \n", &save);
			int			ok;

			CHECK(kv != NULL && kv == gguf_kv(f, kv_index), "%s: key %s in file order", path, name);
			kv_index++;
			if (kv == NULL)
				continue;
			ok = (int) kv->type == type && kv->n == 1;
			if (type == GGUF_TYPE_STRING)
			{
				size_t		n = unhex(v, bytes);

				ok = ok && kv->str_len == n && memcmp(kv->str, bytes, n) == 0;
			}
			else if (type == GGUF_TYPE_FLOAT32 || type == GGUF_TYPE_FLOAT64)
				ok = ok && kv->v.f == strtod(v, NULL);
			else if (type == GGUF_TYPE_BOOL)
				ok = ok && kv->v.b == (atoi(v) != 0);
			else if (type == GGUF_TYPE_INT8 || type == GGUF_TYPE_INT16 ||
					 type == GGUF_TYPE_INT32 || type == GGUF_TYPE_INT64)
				ok = ok && kv->v.i == strtoll(v, NULL, 10);
			else
				ok = ok && kv->v.u == strtoull(v, NULL, 10);
			CHECK(ok, "%s: key %s value", path, name);
		}
		else if (strcmp(kind, "arr") == 0)
		{
			const GgufKV *kv = gguf_find_kv(f, name);
			int			et = atoi(a);
			uint64_t	n = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			int			ok;

			CHECK(kv != NULL && kv == gguf_kv(f, kv_index), "%s: key %s in file order", path, name);
			kv_index++;
			if (kv == NULL)
				continue;
			ok = kv->type == GGUF_TYPE_ARRAY && (int) kv->arr_type == et && kv->n == n;
			for (uint64_t i = 0; ok && i < n; i++)
			{
				char	   *v = strtok_r(NULL, " \n", &save);

				if (et == GGUF_TYPE_STRING)
				{
					size_t		sl,
								bl = unhex(v, bytes);
					const char *s = gguf_arr_str(kv, i, &sl);

					ok = s != NULL && sl == bl && memcmp(s, bytes, bl) == 0;
				}
				else if (et == GGUF_TYPE_FLOAT32 || et == GGUF_TYPE_FLOAT64)
				{
					double		d;

					ok = gguf_arr_f64(kv, i, &d) && d == strtod(v, NULL);
				}
				else if (et == GGUF_TYPE_BOOL)
					ok = kv->raw[i] == (uint8_t) atoi(v);
				else if (et == GGUF_TYPE_UINT64)
				{
					uint64_t	u = 0;

					for (int b = 7; b >= 0; b--)
						u = (u << 8) | kv->raw[8 * i + (uint64_t) b];
					ok = u == strtoull(v, NULL, 10);
				}
				else
				{
					int64_t		x;

					ok = gguf_arr_i64(kv, i, &x) && x == strtoll(v, NULL, 10);
				}
			}
			CHECK(ok, "%s: array %s", path, name);
		}
		else if (strcmp(kind, "tensor") == 0)
		{
			const GgufTensor *t = gguf_find_tensor(f, name);
			uint32_t	type = (uint32_t) atoi(a);
			int			n_dims = atoi(strtok_r(NULL, " \n", &save));
			uint64_t	ne[4],
						off,
						nbytes;
			int			nvals,
						ok;

			for (int d = 0; d < 4; d++)
				ne[d] = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			off = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			nbytes = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			nvals = atoi(strtok_r(NULL, " \n", &save));
			CHECK(t != NULL, "%s: tensor %s found", path, name);
			if (t == NULL)
				continue;
			ok = t->type == type && t->n_dims == n_dims && t->offset == off &&
				t->n_bytes == nbytes && t->data == data + off;
			for (int d = 0; d < 4; d++)
				ok = ok && t->ne[d] == ne[d];
			CHECK(ok, "%s: tensor %s type/shape/offset/size", path, name);
			if (nvals > 0 && nvals <= 4096)
			{
				PgiStatus	st = quant_dequantize(t->type, t->data, (size_t) t->n_elements,
												  vals, &err);
				int			same = st == PGI_OK && (uint64_t) nvals == t->n_elements;

				for (int i = 0; same && i < nvals; i++)
				{
					double		want = strtod(strtok_r(NULL, " \n", &save), NULL);

					same = same_float(want, vals[i]);
					if (!same)
						fprintf(stderr, "  value %d: got %a want %a\n", i, vals[i], want);
				}
				CHECK(same, "%s: tensor %s values", path, name);
			}
		}
	}
	gguf_free(f);
	fclose(ef);
	free(line);
	free(bytes);
	free(vals);
	free(data);
}

/* Typed getters and coercion rules, on values gen_fixtures.py wrote */
static void
check_getters(void)
{
	size_t		len;
	uint8_t    *data = read_file("test/unit/fixtures/tiny.gguf", &len);
	GgufFile   *f;
	PgiError	err;
	uint32_t	u32;
	uint64_t	u64;
	int64_t		i64;
	float		f32;
	bool		b;
	const char *s;
	size_t		n;
	const GgufKV *kv;
	double		d;

	if (data == NULL || gguf_open(data, len, &f, &err) != PGI_OK)
	{
		CHECK(0, "tiny.gguf does not open");
		free(data);
		return;
	}
	CHECK(gguf_get_u32(f, "llama.block_count", &u32, &err) == PGI_OK && u32 == 2, "u32");
	CHECK(gguf_get_u32(f, "llama.embedding_length", &u32, &err) == PGI_OK && u32 == 4,
		  "u64 4 coerces to u32");
	CHECK(gguf_get_u32(f, "test.u8", &u32, &err) == PGI_OK && u32 == 200, "u8 coerces to u32");
	CHECK(gguf_get_u32(f, "test.u64", &u32, &err) == PGI_ERR_CORRUPT &&
		  strstr(err.msg, "test.u64") != NULL, "u64 2^63+5 does not fit u32: %s", err.msg);
	CHECK(gguf_get_u64(f, "test.u64", &u64, &err) == PGI_OK && u64 == 9223372036854775813ULL,
		  "u64");
	CHECK(gguf_get_i64(f, "test.u64", &i64, &err) == PGI_ERR_CORRUPT, "u64 above INT64_MAX");
	CHECK(gguf_get_i64(f, "test.i32_neg", &i64, &err) == PGI_OK && i64 == -1, "i32 -1");
	CHECK(gguf_get_u32(f, "test.i32_neg", &u32, &err) == PGI_ERR_CORRUPT, "negative to u32");
	CHECK(gguf_get_u64(f, "test.i8", &u64, &err) == PGI_ERR_CORRUPT, "negative to u64");
	CHECK(gguf_get_i64(f, "test.i64", &i64, &err) == PGI_OK && i64 == -4611686018427387904LL,
		  "i64");
	CHECK(gguf_get_i64(f, "test.u32", &i64, &err) == PGI_OK && i64 == 4000000000LL, "u32 as i64");
	CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &f32, &err) == PGI_OK &&
		  f32 == 1e-5f, "f32");
	CHECK(gguf_get_f32(f, "test.f64", &f32, &err) == PGI_OK && f32 == 2.7182817f, "f64 to f32");
	CHECK(gguf_get_f32(f, "test.f64_big", &f32, &err) == PGI_ERR_CORRUPT,
		  "1e300 does not fit a float");
	CHECK(gguf_get_f32(f, "test.i16", &f32, &err) == PGI_OK && f32 == -30000.0f, "int to f32");
	CHECK(gguf_get_f32(f, "general.name", &f32, &err) == PGI_ERR_CORRUPT, "string to f32");
	CHECK(gguf_get_bool(f, "test.bool_t", &b, &err) == PGI_OK && b, "bool true");
	CHECK(gguf_get_bool(f, "test.bool_f", &b, &err) == PGI_OK && !b, "bool false");
	CHECK(gguf_get_bool(f, "test.u8", &b, &err) == PGI_ERR_CORRUPT, "u8 is not a bool");
	CHECK(gguf_get_u32(f, "test.bool_t", &u32, &err) == PGI_ERR_CORRUPT, "bool is not an int");
	CHECK(gguf_get_str(f, "general.architecture", &s, &n, &err) == PGI_OK &&
		  n == 5 && memcmp(s, "llama", 5) == 0, "string");
	CHECK(gguf_get_str(f, "general.empty", &s, &n, &err) == PGI_OK && n == 0, "empty string");
	CHECK(gguf_get_str(f, "test.u8", &s, &n, &err) == PGI_ERR_CORRUPT &&
		  strstr(err.detail, "uint8") != NULL, "u8 is not a string: %s", err.detail);
	CHECK(gguf_get_u32(f, "no.such.key", &u32, &err) == PGI_ERR_CORRUPT &&
		  strstr(err.msg, "no.such.key") != NULL && strstr(err.msg, "missing") != NULL,
		  "missing key: %s", err.msg);
	CHECK(gguf_get_u32(f, "test.arr_u8", &u32, &err) == PGI_ERR_CORRUPT, "array is not a scalar");
	CHECK(gguf_find_kv(f, "no.such.key") == NULL, "find missing");
	CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL, "find missing tensor");
	CHECK(gguf_find_tensor(f, "q8.weight") != NULL, "find tensor");

	CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, &err) == PGI_OK &&
		  kv->n == 38, "string array");
	if (kv)
	{
		s = gguf_arr_str(kv, 1, &n);
		CHECK(s && n == 3 && memcmp(s, "<s>", 3) == 0, "token 1");
		s = gguf_arr_str(kv, 33, &n);
		CHECK(s && n == 9 && memcmp(s, "\xe2\x96\x81h\xc3\xa9llo", 9) == 0, "token 33 UTF-8");
		s = gguf_arr_str(kv, 37, &n);
		CHECK(s && n == 300 && s[0] == 'x' && s[299] == 'x', "token 37, 300 bytes");
		CHECK(gguf_arr_str(kv, 38, &n) == NULL, "token 38 out of range");
		CHECK(!gguf_arr_i64(kv, 0, &i64), "strings are not integers");
	}
	CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_UINT32, &kv, &err) == PGI_ERR_CORRUPT,
		  "wrong element type");
	CHECK(gguf_get_arr(f, "general.name", GGUF_TYPE_COUNT, &kv, &err) == PGI_ERR_CORRUPT,
		  "scalar is not an array");
	CHECK(gguf_get_arr(f, "test.arr_u64", GGUF_TYPE_COUNT, &kv, &err) == PGI_OK, "any array");
	if (kv)
	{
		CHECK(!gguf_arr_i64(kv, 0, &i64), "2^64-1 is not an int64");
		CHECK(gguf_arr_i64(kv, 1, &i64) && i64 == 7, "u64 element 7");
		CHECK(gguf_arr_f64(kv, 0, &d) && d == 18446744073709551615.0, "u64 element as double");
	}
	CHECK(gguf_get_arr(f, "test.arr_f32", GGUF_TYPE_FLOAT32, &kv, &err) == PGI_OK &&
		  gguf_arr_f64(kv, 1, &d) && d == -1.25 && !gguf_arr_f64(kv, 3, &d), "f32 array");
	CHECK(gguf_get_arr(f, "test.arr_str_empty", GGUF_TYPE_STRING, &kv, &err) == PGI_OK &&
		  kv->n == 0 && gguf_arr_str(kv, 0, &n) == NULL, "empty string array");
	gguf_free(f);

	/* every proper prefix is an error, never a crash */
	{
		int			bad = 0;

		for (size_t cut = 0; cut < len; cut++)
		{
			GgufFile   *g;
			uint8_t    *copy = malloc(cut ? cut : 1);

			memcpy(copy, data, cut);
			if (gguf_open(copy, cut, &g, &err) == PGI_OK)
			{
				bad++;
				gguf_free(g);
			}
			else if (err.status == PGI_OK || err.msg[0] == '\0')
				bad++;
			free(copy);
		}
		CHECK(bad == 0, "%d of %zu truncated prefixes were accepted or gave no message", bad, len);
	}

	/* every single-bit flip in the header: an error or a consistent file */
	{
		int			bad = 0,
					accepted = 0;
		size_t		hdr = 2496;

		for (size_t i = 0; i < hdr && i < len; i++)
			for (int bit = 0; bit < 8; bit++)
			{
				GgufFile   *g;

				data[i] ^= (uint8_t) (1 << bit);
				if (gguf_open(data, len, &g, &err) == PGI_OK)
				{
					accepted++;
					bad += !walk(g, len);
					gguf_free(g);
				}
				else if (err.msg[0] == '\0')
					bad++;
				data[i] ^= (uint8_t) (1 << bit);
			}
		CHECK(bad == 0, "%d inconsistent results over header bit flips", bad);
		printf("gguf: %d of %zu header bit flips still open (string bytes, padding, values)\n",
			   accepted, hdr * 8);
	}
	free(data);
}

/* ------------------------------------------------------------ hostile files */

typedef struct Buf
{
	uint8_t    *p;
	size_t		n;
	size_t		cap;
} Buf;

/* Append raw bytes */
static void
put(Buf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap)
	{
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

/* Append a little-endian u32 */
static void
put_u32(Buf *b, uint32_t v)
{
	uint8_t		x[4] = {v, v >> 8, v >> 16, v >> 24};

	put(b, x, 4);
}

/* Append a little-endian u64 */
static void
put_u64(Buf *b, uint64_t v)
{
	put_u32(b, (uint32_t) v);
	put_u32(b, (uint32_t) (v >> 32));
}

/* Append a GGUF string */
static void
put_str(Buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

/* Start a file: magic, version and counts */
static void
header(Buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	b->n = 0;
	put(b, "GGUF", 4);
	put_u32(b, version);
	put_u64(b, n_tensors);
	put_u64(b, n_kv);
}

/* Append a uint32 pair */
static void
kv_u32(Buf *b, const char *key, uint32_t v)
{
	put_str(b, key);
	put_u32(b, GGUF_TYPE_UINT32);
	put_u32(b, v);
}

/* Append a string pair */
static void
kv_str(Buf *b, const char *key, const char *v)
{
	put_str(b, key);
	put_u32(b, GGUF_TYPE_STRING);
	put_str(b, v);
}

/* A tensor info with up to 4 dims */
static void
tinfo(Buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
	  uint64_t offset)
{
	put_str(b, name);
	put_u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		put_u64(b, ne[d]);
	put_u32(b, type);
	put_u64(b, offset);
}

/* Pad with zeros to a multiple of a, then add n data bytes */
static void
pad_data(Buf *b, size_t a, size_t n)
{
	static const uint8_t zero[64];

	while (b->n % a)
		put(b, zero, 1);
	while (n > 0)
	{
		size_t		k = n < 64 ? n : 64;

		put(b, zero, k);
		n -= k;
	}
}

/* Open b and expect status st with needle in the message */
static void
expect(const Buf *b, PgiStatus st, const char *needle, const char *what)
{
	GgufFile   *f = NULL;
	PgiError	err;
	PgiStatus	got;

	memset(&err, 0, sizeof(err));
	got = gguf_open(b->p, b->n, &f, &err);
	CHECK(got == st && (st == PGI_OK || err.status == st) &&
		  (needle == NULL || strstr(err.msg, needle) != NULL) &&
		  (st == PGI_OK || (err.msg[0] != '\0' && err.detail[0] != '\0')),
		  "%s: got %d '%s' / '%s', want %d with '%s'", what, got, err.msg, err.detail,
		  st, needle ? needle : "");
	if (got == PGI_OK)
	{
		CHECK(f != NULL && walk(f, b->n), "%s: walk", what);
		gguf_free(f);
	}
	else
		CHECK(f == NULL, "%s: no file on error", what);
}

/* Hand-built malformed and edge-case files */
static void
check_hostile(void)
{
	Buf			b = {0};
	uint64_t	ne[4] = {8, 1, 1, 1};
	uint64_t	big[4] = {(uint64_t) 1 << 32, (uint64_t) 1 << 32, 1, 1};

	/* header */
	b.n = 0;
	put(&b, "GGU", 3);
	expect(&b, PGI_ERR_CORRUPT, "not a GGUF file", "3 bytes");
	header(&b, 3, 0, 0);
	memcpy(b.p, "GGUX", 4);
	expect(&b, PGI_ERR_CORRUPT, "not a GGUF file", "bad magic");
	header(&b, 0, 0, 0);
	expect(&b, PGI_ERR_CORRUPT, "version 0", "version 0");
	header(&b, 1, 0, 0);
	expect(&b, PGI_ERR_UNSUPPORTED, "version 1", "version 1");
	header(&b, 4, 0, 0);
	expect(&b, PGI_ERR_UNSUPPORTED, "version 4", "version 4");
	header(&b, 0x03000000, 0, 0);
	expect(&b, PGI_ERR_UNSUPPORTED, "big-endian", "big-endian version");
	header(&b, 3, 0, 0);
	b.n -= 1;
	expect(&b, PGI_ERR_CORRUPT, "truncated", "short header");
	header(&b, 3, 0, 0);
	expect(&b, PGI_OK, NULL, "empty v3 file");
	header(&b, 2, 0, 1);
	kv_str(&b, "general.architecture", "llama");
	expect(&b, PGI_OK, NULL, "v2, one key, no tensors, no padding");

	/* counts */
	header(&b, 3, 0, (uint64_t) 1 << 40);
	expect(&b, PGI_ERR_CORRUPT, "metadata count", "huge KV count");
	header(&b, 3, 0, 3);
	kv_u32(&b, "a", 1);
	kv_u32(&b, "b", 1);
	expect(&b, PGI_ERR_CORRUPT, "metadata count", "KV count beyond the bytes left");
	header(&b, 3, 0, 2);
	kv_u32(&b, "a.long.key.name", 1);
	kv_u32(&b, "b", 1);
	b.n -= 2;
	expect(&b, PGI_ERR_CORRUPT, "\"b\" is truncated", "KV truncated");
	header(&b, 3, (uint64_t) 1 << 21, 0);
	expect(&b, PGI_ERR_CORRUPT, "tensor count", "huge tensor count");
	header(&b, 3, 1000, 0);
	pad_data(&b, 32, 64);
	expect(&b, PGI_ERR_CORRUPT, "tensor count", "tensor count beyond the bytes left");

	/* keys and values */
	header(&b, 3, 0, 1);
	put_u64(&b, (uint64_t) 1 << 63);
	put(&b, "key.bytes....", 13);
	expect(&b, PGI_ERR_CORRUPT, "key length", "huge key length");
	header(&b, 3, 0, 1);
	put_u64(&b, 0);
	put_u32(&b, GGUF_TYPE_UINT8);
	put(&b, "\0\0", 2);
	expect(&b, PGI_ERR_CORRUPT, "key length", "empty key");
	header(&b, 3, 0, 1);
	kv_u32(&b, "caf\xc3\xa9", 1);
	expect(&b, PGI_ERR_CORRUPT, "0xc3", "non-ASCII key");
	header(&b, 3, 0, 1);
	put_str(&b, "x.type");
	put_u32(&b, 13);
	put_u32(&b, 0);
	expect(&b, PGI_ERR_CORRUPT, "\"x.type\" has unknown value type 13", "value type 13");
	header(&b, 3, 0, 1);
	put_str(&b, "x.s");
	put_u32(&b, GGUF_TYPE_STRING);
	put_u64(&b, 100);
	put(&b, "abc", 3);
	expect(&b, PGI_ERR_CORRUPT, "\"x.s\" has an invalid string length", "string past the end");
	header(&b, 3, 0, 1);
	put_str(&b, "x.b");
	put_u32(&b, GGUF_TYPE_BOOL);
	put(&b, "\2", 1);
	expect(&b, PGI_ERR_CORRUPT, "\"x.b\" is not a valid bool", "bool 2");
	header(&b, 3, 0, 2);
	kv_u32(&b, "dup", 1);
	kv_u32(&b, "dup", 2);
	expect(&b, PGI_ERR_CORRUPT, "\"dup\" appears more than once", "duplicate key");

	/* arrays */
	header(&b, 3, 0, 1);
	put_str(&b, "x.nested");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u64(&b, 1);
	put_u32(&b, GGUF_TYPE_UINT8);
	put_u64(&b, 1);
	put(&b, "\1", 1);
	expect(&b, PGI_ERR_UNSUPPORTED, "\"x.nested\" is an array of arrays", "nested array");
	header(&b, 3, 0, 1);
	put_str(&b, "x.arr");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, 99);
	put_u64(&b, 1);
	expect(&b, PGI_ERR_CORRUPT, "\"x.arr\" is an array of unknown type 99", "array type 99");
	header(&b, 3, 0, 1);
	put_str(&b, "x.arr");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, GGUF_TYPE_UINT64);
	put_u64(&b, (uint64_t) 1 << 62);
	put_u64(&b, 1);
	expect(&b, PGI_ERR_CORRUPT, "\"x.arr\" has an invalid array length", "huge u64 array");
	header(&b, 3, 0, 1);
	put_str(&b, "x.arr");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, GGUF_TYPE_STRING);
	put_u64(&b, 3);
	put_str(&b, "a");
	put_str(&b, "b");
	expect(&b, PGI_ERR_CORRUPT, "\"x.arr\" has an invalid array length", "string array short");
	header(&b, 3, 0, 1);
	put_str(&b, "x.arr");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, GGUF_TYPE_STRING);
	put_u64(&b, 2);
	put_str(&b, "a");
	put_u64(&b, 1000);
	put(&b, "0123456789", 10);
	expect(&b, PGI_ERR_CORRUPT, "\"x.arr\" element 1 has an invalid string length",
		   "string element past the end");
	header(&b, 3, 0, 1);
	put_str(&b, "x.arr");
	put_u32(&b, GGUF_TYPE_ARRAY);
	put_u32(&b, GGUF_TYPE_BOOL);
	put_u64(&b, 3);
	put(&b, "\1\0\7", 3);
	expect(&b, PGI_ERR_CORRUPT, "element 2 is not a valid bool", "bool array 7");

	/* alignment */
	header(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", 3);
	expect(&b, PGI_ERR_CORRUPT, "invalid value 3", "alignment 3");
	header(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", 0);
	expect(&b, PGI_ERR_CORRUPT, "invalid value 0", "alignment 0");
	header(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", (uint32_t) 1 << 31);
	expect(&b, PGI_ERR_CORRUPT, "general.alignment", "alignment 2^31");
	header(&b, 3, 0, 1);
	kv_str(&b, "general.alignment", "32");
	expect(&b, PGI_ERR_CORRUPT, "type string", "alignment as a string");
	header(&b, 3, 0, 1);
	put_str(&b, "general.alignment");
	put_u32(&b, GGUF_TYPE_INT32);
	put_u32(&b, (uint32_t) -32);
	expect(&b, PGI_ERR_CORRUPT, "general.alignment", "alignment -32");

	/* a valid file with alignment 64 (u64 key) and two tensors */
	header(&b, 3, 2, 1);
	put_str(&b, "general.alignment");
	put_u32(&b, GGUF_TYPE_UINT64);
	put_u64(&b, 64);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 64);
	tinfo(&b, "b", 1, ne, GGML_TYPE_F16, 0);
	pad_data(&b, 64, 96);
	expect(&b, PGI_OK, NULL, "alignment 64, two tensors");
	{
		GgufFile   *f;
		PgiError	err;

		if (gguf_open(b.p, b.n, &f, &err) == PGI_OK)
		{
			const GgufTensor *a = gguf_find_tensor(f, "a");
			const GgufTensor *t = gguf_find_tensor(f, "b");

			CHECK(gguf_alignment(f) == 64 && gguf_data_offset(f) % 64 == 0 &&
				  a->offset == gguf_data_offset(f) + 64 && a->n_bytes == 32 &&
				  t->offset == gguf_data_offset(f) && t->n_bytes == 16 &&
				  a->data == b.p + a->offset, "alignment 64 offsets");
			gguf_free(f);
		}
	}
	/* the same with offset 32: not a multiple of 64 */
	header(&b, 3, 1, 1);
	put_str(&b, "general.alignment");
	put_u32(&b, GGUF_TYPE_UINT8);
	put(&b, "\x40", 1);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 32);
	pad_data(&b, 64, 128);
	expect(&b, PGI_ERR_CORRUPT, "\"a\" has offset 32, not a multiple of 64", "unaligned offset");

	/* tensor infos */
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 0, ne, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "\"t\" has 0 dimensions", "0 dims");
	header(&b, 3, 1, 0);
	put_str(&b, "t");
	put_u32(&b, 5);
	for (int i = 0; i < 5; i++)
		put_u64(&b, 1);
	put_u32(&b, 0);
	put_u64(&b, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "\"t\" has 5 dimensions", "5 dims");
	{
		uint64_t	zero[2] = {8, 0};

		header(&b, 3, 1, 0);
		tinfo(&b, "t", 2, zero, GGML_TYPE_F32, 0);
		pad_data(&b, 32, 32);
		expect(&b, PGI_ERR_CORRUPT, "\"t\" has invalid dimension 1: 0", "dim 0");
	}
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 3, big, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "\"t\" has too many elements", "element count overflow");
	{
		uint64_t	huge[2] = {(uint64_t) 1 << 62, 1};

		header(&b, 3, 1, 0);
		tinfo(&b, "t", 2, huge, GGML_TYPE_F32, 0);
		pad_data(&b, 32, 32);
		expect(&b, PGI_ERR_CORRUPT, "\"t\" is too large", "byte size overflow");
		huge[0] = (uint64_t) 1 << 40;
		header(&b, 3, 1, 0);
		tinfo(&b, "t", 2, huge, GGML_TYPE_F32, 0);
		pad_data(&b, 32, 32);
		expect(&b, PGI_ERR_CORRUPT, "past the end of the file", "4 TiB tensor in a small file");
	}
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, 4, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_UNSUPPORTED, "\"t\" has unsupported ggml type 4", "removed type 4");
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, 99, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_UNSUPPORTED, "ggml type 99", "type 99");
	{
		uint64_t	ne33[1] = {33};

		header(&b, 3, 1, 0);
		tinfo(&b, "q", 1, ne33, GGML_TYPE_Q8_0, 0);
		pad_data(&b, 32, 64);
		expect(&b, PGI_ERR_CORRUPT, "\"q\" of type Q8_0 has row length 33", "Q8_0 row of 33");
	}
	header(&b, 3, 1, 0);
	tinfo(&b, "", 1, ne, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "invalid name length 0", "empty tensor name");
	{
		char		longname[300];

		memset(longname, 'n', 299);
		longname[299] = '\0';
		header(&b, 3, 1, 0);
		tinfo(&b, longname, 1, ne, GGML_TYPE_F32, 0);
		pad_data(&b, 32, 32);
		expect(&b, PGI_ERR_CORRUPT, "invalid name length 299", "299-byte tensor name");
	}
	header(&b, 3, 1, 0);
	put_u64(&b, 3);
	put(&b, "a\0b", 3);
	put_u32(&b, 1);
	put_u64(&b, 8);
	put_u32(&b, 0);
	put_u64(&b, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "NUL", "tensor name with NUL");
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, GGML_TYPE_F32, 0);
	expect(&b, PGI_ERR_CORRUPT, "data is missing", "no data section");
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 31);
	expect(&b, PGI_ERR_CORRUPT, "\"t\" data (32 bytes at offset 0) is past the end",
		   "data one byte short");
	header(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, GGML_TYPE_F32, (uint64_t) -32);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "past the end", "offset wraps around");

	/* overlap and duplicates */
	header(&b, 3, 2, 0);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 0);
	tinfo(&b, "b", 1, ne, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 32);
	expect(&b, PGI_ERR_CORRUPT, "overlap", "same offset");
	{
		uint64_t	ne16[1] = {16};

		header(&b, 3, 2, 0);
		tinfo(&b, "a", 1, ne16, GGML_TYPE_F32, 0);
		tinfo(&b, "b", 1, ne, GGML_TYPE_F32, 32);
		pad_data(&b, 32, 96);
		expect(&b, PGI_ERR_CORRUPT, "\"a\" and \"b\" overlap", "partial overlap");
	}
	header(&b, 3, 2, 0);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 0);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 32);
	pad_data(&b, 32, 64);
	expect(&b, PGI_ERR_CORRUPT, "\"a\" appears more than once", "duplicate tensor name");
	header(&b, 3, 2, 0);
	tinfo(&b, "a", 1, ne, GGML_TYPE_F32, 32);
	tinfo(&b, "b", 1, ne, GGML_TYPE_F32, 0);
	pad_data(&b, 32, 64);
	expect(&b, PGI_OK, NULL, "adjacent tensors in reverse order");
	free(b.p);
}

/* ------------------------------------------------------------ shared models */

/* Count tensors of each type */
static void
count_types(const GgufFile *f, int *counts)
{
	memset(counts, 0, sizeof(int) * GGML_TYPE_COUNT);
	for (size_t i = 0; i < gguf_n_tensors(f); i++)
		counts[gguf_tensor(f, i)->type]++;
}

/* Check a string array element */
static int
token_is(const GgufKV *kv, uint64_t i, const char *want)
{
	size_t		n;
	const char *s = gguf_arr_str(kv, i, &n);

	return s != NULL && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Check a u32 key */
static void
check_u32(const GgufFile *f, const char *key, uint32_t want)
{
	uint32_t	v = 0;
	PgiError	err;

	CHECK(gguf_get_u32(f, key, &v, &err) == PGI_OK && v == want, "%s = %u, want %u", key, v, want);
}

/* stories260K.gguf: README facts, and weights equal to the llama2.c checkpoint */
static void
check_stories(void)
{
	size_t		len,
				blen;
	uint8_t    *data = read_file(SHARED "stories260K/stories260K.gguf", &len);
	uint8_t    *bin = read_file(SHARED "stories260K/stories260K.bin", &blen);
	GgufFile   *f;
	PgiError	err;
	const GgufKV *tokens;
	const char *s;
	size_t		n;
	int			counts[GGML_TYPE_COUNT];
	float		eps;

	if (data == NULL || bin == NULL)
	{
		printf("skip: " SHARED "stories260K not found\n");
		free(data);
		free(bin);
		return;
	}
	CHECK(gguf_open(data, len, &f, &err) == PGI_OK, "stories260K: %s", err.msg);
	if (f == NULL)
		return;
	CHECK(walk(f, len), "stories260K walk");
	CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32, "stories260K version/alignment");
	CHECK(gguf_get_str(f, "general.architecture", &s, &n, &err) == PGI_OK &&
		  n == 5 && memcmp(s, "llama", 5) == 0, "stories260K architecture");
	CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s, &n, &err) == PGI_OK &&
		  n == 5 && memcmp(s, "llama", 5) == 0, "stories260K tokenizer model");
	/* README: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, ctx 128 in the GGUF */
	check_u32(f, "llama.embedding_length", 64);
	check_u32(f, "llama.feed_forward_length", 172);
	check_u32(f, "llama.block_count", 5);
	check_u32(f, "llama.attention.head_count", 8);
	check_u32(f, "llama.attention.head_count_kv", 4);
	check_u32(f, "llama.context_length", 128);
	check_u32(f, "tokenizer.ggml.bos_token_id", 1);
	check_u32(f, "tokenizer.ggml.eos_token_id", 2);
	CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err) == PGI_OK &&
		  eps == 1e-5f, "stories260K rms eps");
	CHECK(gguf_find_kv(f, "tokenizer.ggml.add_bos_token") == NULL, "README: no add_bos key");
	CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err) == PGI_OK &&
		  tokens->n == 512, "stories260K 512 tokens");
	if (tokens)
		CHECK(token_is(tokens, 0, "<unk>") && token_is(tokens, 1, "<s>") &&
			  token_is(tokens, 2, "</s>") && token_is(tokens, 3, "<0x00>") &&
			  token_is(tokens, 258, "<0xFF>"), "stories260K special and byte tokens");

	/* all F32: 5 layers x 9 + token_embd, output_norm, output */
	count_types(f, counts);
	CHECK(gguf_n_tensors(f) == 48 && counts[GGML_TYPE_F32] == 48, "stories260K 48 F32 tensors");
	{
		const GgufTensor *emb = gguf_find_tensor(f, "token_embd.weight");
		const GgufTensor *out = gguf_find_tensor(f, "output.weight");
		const GgufTensor *wk = gguf_find_tensor(f, "blk.0.attn_k.weight");
		const GgufTensor *down = gguf_find_tensor(f, "blk.4.ffn_down.weight");
		const GgufTensor *fin = gguf_find_tensor(f, "output_norm.weight");
		const GgufTensor *norm = gguf_find_tensor(f, "blk.0.attn_norm.weight");
		/* llama2.c layout: 7 x int32 header, tok_emb[512*64], rms_att[5*64] */
		const uint8_t *bin_emb = bin + 28;
		const uint8_t *bin_rms_att = bin_emb + 512 * 64 * 4;
		/* ... wq, wk, wv, wo, rms_ffn, w1, w2, w3, then rms_final */
		size_t		final_at = 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 5 * 32 * 64 +
										5 * 64 * 64 + 5 * 64 + 3 * 5 * 172 * 64);

		CHECK(emb && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->n_bytes == 512 * 64 * 4,
			  "token_embd shape (64, 512)");
		CHECK(wk && wk->ne[0] == 64 && wk->ne[1] == 32, "attn_k shape (64, 32): GQA");
		CHECK(down && down->ne[0] == 172 && down->ne[1] == 64, "ffn_down shape (172, 64)");
		CHECK(emb && memcmp(emb->data, bin_emb, emb->n_bytes) == 0,
			  "token_embd equals the .bin tok_emb");
		CHECK(norm && memcmp(norm->data, bin_rms_att, 64 * 4) == 0,
			  "blk.0.attn_norm equals the .bin rms_att[0]");
		CHECK(fin && final_at + 256 <= blen && memcmp(fin->data, bin + final_at, 256) == 0,
			  "output_norm equals the .bin rms_final");
		CHECK(out && emb && out->n_bytes == emb->n_bytes &&
			  memcmp(out->data, emb->data, emb->n_bytes) == 0,
			  "README: output.weight is a copy of token_embd.weight");
	}
	gguf_free(f);
	free(data);
	free(bin);
}

/* rand15M-*.gguf: README tensor type mix and hyperparameters */
static void
check_rand15m(const char *file, int n_q8, int n_q4_0, int n_q5_0, int n_q4_k, int n_q6_k)
{
	char		path[256];
	size_t		len;
	uint8_t    *data;
	GgufFile   *f;
	PgiError	err;
	int			counts[GGML_TYPE_COUNT];
	const GgufKV *tokens;

	snprintf(path, sizeof(path), SHARED "rand15M-quant/%s", file);
	data = read_file(path, &len);
	if (data == NULL)
	{
		printf("skip: %s not found\n", path);
		return;
	}
	CHECK(gguf_open(data, len, &f, &err) == PGI_OK, "%s: %s", file, err.msg);
	if (f == NULL)
		return;
	CHECK(walk(f, len), "%s walk", file);
	check_u32(f, "llama.embedding_length", 288);
	check_u32(f, "llama.feed_forward_length", 768);
	check_u32(f, "llama.block_count", 6);
	check_u32(f, "llama.attention.head_count", 6);
	check_u32(f, "llama.attention.head_count_kv", 6);
	check_u32(f, "llama.rope.dimension_count", 48);
	check_u32(f, "llama.context_length", 128);
	check_u32(f, "tokenizer.ggml.bos_token_id", 1);
	check_u32(f, "tokenizer.ggml.eos_token_id", 2);
	check_u32(f, "tokenizer.ggml.unknown_token_id", 0);
	CHECK(gguf_find_kv(f, "general.alignment") == NULL && gguf_alignment(f) == 32,
		  "%s: README: no general.alignment, 32", file);
	CHECK(gguf_find_tensor(f, "output.weight") == NULL, "%s: README: tied, no output.weight", file);
	CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err) == PGI_OK &&
		  tokens->n == 32000, "%s: 32000 tokens", file);
	if (tokens)
		CHECK(token_is(tokens, 1, "<s>") && token_is(tokens, 2, "</s>") &&
			  token_is(tokens, 13, "<0x0A>") && token_is(tokens, 30143, "\xef\xbb\xbf"),
			  "%s: tokens 1, 2, 13 and 30143 (U+FEFF, kept byte for byte)", file);
	count_types(f, counts);
	CHECK(gguf_n_tensors(f) == 56 && counts[GGML_TYPE_F32] == 13 &&
		  counts[GGML_TYPE_Q8_0] == n_q8 && counts[GGML_TYPE_Q4_0] == n_q4_0 &&
		  counts[GGML_TYPE_Q5_0] == n_q5_0 && counts[GGML_TYPE_Q4_K] == n_q4_k &&
		  counts[GGML_TYPE_Q6_K] == n_q6_k,
		  "%s: tensor types F32 %d Q8_0 %d Q4_0 %d Q5_0 %d Q4_K %d Q6_K %d", file,
		  counts[GGML_TYPE_F32], counts[GGML_TYPE_Q8_0], counts[GGML_TYPE_Q4_0],
		  counts[GGML_TYPE_Q5_0], counts[GGML_TYPE_Q4_K], counts[GGML_TYPE_Q6_K]);
	{
		const GgufTensor *emb = gguf_find_tensor(f, "token_embd.weight");

		CHECK(emb && emb->type == GGML_TYPE_Q8_0 && emb->ne[0] == 288 && emb->ne[1] == 32000 &&
			  emb->n_bytes == 32000ULL * 9 * 34, "%s: token_embd Q8_0 (288, 32000)", file);
	}
	if (n_q4_k)
	{
		const GgufTensor *d0 = gguf_find_tensor(f, "blk.0.ffn_down.weight");
		const GgufTensor *d2 = gguf_find_tensor(f, "blk.2.ffn_down.weight");
		const GgufTensor *v2 = gguf_find_tensor(f, "blk.2.attn_v.weight");

		CHECK(d0 && d0->type == GGML_TYPE_Q4_K && d0->ne[0] == 768 && d0->n_bytes == 288 * 3 * 144,
			  "README: blk.0.ffn_down Q4_K");
		CHECK(d2 && d2->type == GGML_TYPE_Q6_K && d2->n_bytes == 288 * 3 * 210,
			  "README: blk.2.ffn_down Q6_K");
		CHECK(v2 && v2->type == GGML_TYPE_Q8_0, "README: blk.2.attn_v Q8_0");
	}
	gguf_free(f);
	free(data);
}

int
main(void)
{
	check_expect("test/unit/fixtures/tiny.gguf");
	check_expect("test/unit/fixtures/tiny_v2.gguf");
	check_getters();
	check_hostile();
	check_stories();
	check_rand15m("rand15M-Q8_0.gguf", 43, 0, 0, 0, 0);
	check_rand15m("rand15M-Q4_0.gguf", 1, 42, 0, 0, 0);
	check_rand15m("rand15M-Q4_K_M.gguf", 3, 0, 34, 4, 2);
	return UNIT_DONE("gguf");
}
