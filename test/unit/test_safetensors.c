/*
 * test_safetensors.c
 *	  Unit tests of the safetensors reader (src/core/formats/safetensors.c).
 *
 * References, none of them our C code:
 *	- fixtures/tiny.safetensors(.expect) and
 *	  fixtures/model.safetensors.index.json(.expect), written by
 *	  gen_fixtures.py with Python's json and numpy: dtypes, shapes,
 *	  absolute offsets, sizes, values and metadata;
 *	- hand-built hostile headers below, each with its expected status and
 *	  a message naming the tensor.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/fp16.h"
#include "core/formats/safetensors.h"
#include "unit.h"

/* Decode hex into out; returns length */
static size_t
unhex(const char *s, char *out)
{
	size_t		n = 0;

	for (; s[0] && s[1]; s += 2)
	{
		unsigned	b;

		sscanf(s, "%2x", &b);
		out[n++] = (char) b;
	}
	out[n] = '\0';
	return n;
}

/* Walk an opened file; 1 if consistent */
static int
walk(const SafetensorsFile *f, const uint8_t *data, size_t len)
{
	int			ok = 1;
	uint64_t	total = 0;

	for (size_t i = 0; i < safetensors_n_tensors(f); i++)
	{
		const SafetensorsTensor *t = safetensors_tensor(f, i);

		ok &= safetensors_find(f, t->name) == t;
		ok &= t->offset >= safetensors_data_offset(f) && t->offset + t->n_bytes <= len;
		ok &= t->data == data + t->offset;
		ok &= t->n_bytes == t->n_elements * safetensors_dtype_size(t->dtype);
		total += t->n_bytes;
	}
	return ok && total == len - safetensors_data_offset(f);
}

/* The fixture against its .expect file */
static void
check_fixture(void)
{
	size_t		len;
	uint8_t    *data = read_file("test/unit/fixtures/tiny.safetensors", &len);
	FILE	   *ef = fopen("test/unit/fixtures/tiny.safetensors.expect", "r");
	SafetensorsFile *f;
	PgiError	err;
	char	   *line = NULL;
	size_t		cap = 0;
	char		buf[256];

	if (data == NULL || ef == NULL)
	{
		CHECK(0, "cannot read tiny.safetensors fixtures (run from the repository root)");
		return;
	}
	CHECK(safetensors_open(data, len, &f, &err) == PGI_OK, "tiny.safetensors: %s", err.msg);
	if (f == NULL)
		return;
	CHECK(walk(f, data, len), "tiny.safetensors walk");
	while (getline(&line, &cap, ef) > 0)
	{
		char	   *save;
		char	   *kind = strtok_r(line, " \n", &save);
		char	   *a = strtok_r(NULL, " \n", &save);
		char	   *b = strtok_r(NULL, " \n", &save);

		if (kind == NULL || a == NULL)
			continue;
		if (strcmp(kind, "n_tensors") == 0)
			CHECK(safetensors_n_tensors(f) == strtoul(a, NULL, 10), "n_tensors");
		else if (strcmp(kind, "data_offset") == 0)
			CHECK(safetensors_data_offset(f) == strtoull(a, NULL, 10), "data_offset");
		else if (strcmp(kind, "size") == 0)
			CHECK(len == strtoull(a, NULL, 10), "size");
		else if (strcmp(kind, "meta") == 0)
		{
			const char *v = safetensors_meta_str(f, a);

			unhex(b, buf);
			CHECK(v != NULL && strcmp(v, buf) == 0, "metadata %s", a);
		}
		else if (strcmp(kind, "tensor") == 0)
		{
			const SafetensorsTensor *t = safetensors_find(f, a);
			int			n_dims = atoi(strtok_r(NULL, " \n", &save));
			uint64_t	shape[8] = {0};
			uint64_t	off,
						nbytes;
			int			nvals,
						ok,
						same = 1;

			for (int d = 0; d < (n_dims ? n_dims : 1); d++)
			{
				char	   *x = strtok_r(NULL, " \n", &save);

				if (n_dims)
					shape[d] = strtoull(x, NULL, 10);
			}
			off = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			nbytes = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
			nvals = atoi(strtok_r(NULL, " \n", &save));
			CHECK(t != NULL, "tensor %s found", a);
			if (t == NULL)
				continue;
			ok = strcmp(safetensors_dtype_name(t->dtype), b) == 0 && t->n_dims == n_dims &&
				t->offset == off && t->n_bytes == nbytes && t->data == data + off &&
				t->n_elements == (uint64_t) nvals;
			for (int d = 0; d < 8; d++)
				ok = ok && t->shape[d] == shape[d];
			CHECK(ok, "tensor %s dtype/shape/offset/size", a);
			for (int i = 0; i < nvals && same && ok; i++)
			{
				char	   *x = strtok_r(NULL, " \n", &save);
				const uint8_t *p = t->data;

				if (t->dtype == ST_I64)
				{
					int64_t		v;

					memcpy(&v, p + 8 * i, 8);
					same = v == strtoll(x, NULL, 10);
				}
				else
				{
					float		got,
								want = (float) strtod(x, NULL);

					if (t->dtype == ST_F32)
						memcpy(&got, p + 4 * i, 4);
					else if (t->dtype == ST_F16)
						got = fp16_to_fp32(fp16_read_le16(p + 2 * i));
					else
						got = bf16_to_fp32(fp16_read_le16(p + 2 * i));
					same = got == want && !signbit(got) == !signbit(want);
				}
			}
			CHECK(same, "tensor %s values", a);
		}
	}
	{
		const SafetensorsTensor *pos = safetensors_find(f, "embeddings.position_ids");

		CHECK(pos && safetensors_check_float(pos, &err) == PGI_ERR_UNSUPPORTED &&
			  err.status == PGI_ERR_UNSUPPORTED &&
			  strstr(err.msg, "embeddings.position_ids") && strstr(err.msg, "I64"),
			  "check_float on I64: %s", err.msg);
		CHECK(safetensors_check_float(safetensors_find(f, "bf"), &err) == PGI_OK &&
			  safetensors_check_float(safetensors_find(f, "encoder.layer.0.w"), &err) == PGI_OK,
			  "check_float on BF16 and F16");
		CHECK(safetensors_find(f, "__metadata__") == NULL && safetensors_find(f, "nope") == NULL,
			  "metadata is not a tensor");
		CHECK(safetensors_meta_str(f, "nope") == NULL, "missing metadata key");
	}
	safetensors_free(f);

	/* every proper prefix fails; bit flips fail or stay consistent */
	{
		int			bad = 0,
					accepted = 0;

		for (size_t cut = 0; cut < len; cut++)
		{
			uint8_t    *copy = malloc(cut ? cut : 1);

			memcpy(copy, data, cut);
			if (safetensors_open(copy, cut, &f, &err) == PGI_OK)
			{
				bad++;
				safetensors_free(f);
			}
			else if (err.msg[0] == '\0')
				bad++;
			free(copy);
		}
		CHECK(bad == 0, "%d truncated prefixes accepted", bad);
		bad = 0;
		for (size_t i = 0; i < len; i++)
			for (int bit = 0; bit < 8; bit++)
			{
				data[i] ^= (uint8_t) (1 << bit);
				if (safetensors_open(data, len, &f, &err) == PGI_OK)
				{
					accepted++;
					bad += !walk(f, data, len);
					safetensors_free(f);
				}
				else if (err.msg[0] == '\0')
					bad++;
				data[i] ^= (uint8_t) (1 << bit);
			}
		CHECK(bad == 0, "%d inconsistent results over bit flips", bad);
		printf("safetensors: %d of %zu bit flips still open (data and string bytes)\n",
			   accepted, len * 8);
	}
	free(line);
	fclose(ef);
	free(data);
}

/* Build a file from a header and n zero data bytes, then open it */
static PgiStatus
open_header(const char *header, size_t n_data, PgiError *err)
{
	size_t		hl = strlen(header);
	uint8_t    *buf = calloc(8 + hl + n_data + 1, 1);
	PgiStatus	st;
	SafetensorsFile *f;

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) hl >> (8 * i));
	memcpy(buf + 8, header, hl);
	memset(err, 0, sizeof(*err));
	st = safetensors_open(buf, 8 + hl + n_data, &f, err);
	if (st == PGI_OK)
	{
		CHECK(walk(f, buf, 8 + hl + n_data), "walk '%s'", header);
		safetensors_free(f);
	}
	free(buf);
	return st;
}

/* Expect a status and a message fragment */
static void
expect(const char *header, size_t n_data, PgiStatus st, const char *needle)
{
	PgiError	err;
	PgiStatus	got = open_header(header, n_data, &err);

	CHECK(got == st && (st == PGI_OK || (err.status == st && err.detail[0] != '\0')) &&
		  (needle == NULL || strstr(err.msg, needle) != NULL),
		  "'%.70s': got %d '%s' / '%s', want %d with '%s'", header, got, err.msg, err.detail,
		  st, needle ? needle : "");
}

/* Hand-built headers */
static void
check_hostile(void)
{
	SafetensorsFile *f;
	PgiError	err;
	uint8_t		raw[16] = {0};

	CHECK(safetensors_open(raw, 7, &f, &err) == PGI_ERR_CORRUPT && f == NULL, "7-byte file");
	raw[0] = 100;
	CHECK(safetensors_open(raw, 16, &f, &err) == PGI_ERR_CORRUPT &&
		  strstr(err.msg, "header length 100"), "header past the end: %s", err.msg);
	memset(raw, 0xFF, 8);
	CHECK(safetensors_open(raw, 16, &f, &err) == PGI_ERR_CORRUPT, "header length 2^64-1");
	memset(raw, 0, 16);
	raw[0] = 0x01;
	raw[1] = 0xE1;
	raw[2] = 0xF5;
	raw[3] = 0x05;				/* 100,000,001 */
	CHECK(safetensors_open(raw, 16, &f, &err) == PGI_ERR_CORRUPT, "header > 100 MB");

	expect("{}", 0, PGI_OK, NULL);
	expect("{}      ", 0, PGI_OK, NULL);
	expect("{\"__metadata__\":{\"a\":\"b\"}}", 0, PGI_OK, NULL);
	expect("[]", 0, PGI_ERR_CORRUPT, "does not start with '{'");
	expect(" {}", 0, PGI_ERR_CORRUPT, "does not start with '{'");
	expect("{", 0, PGI_ERR_CORRUPT, "header length 1");
	expect("{\"a\":}", 0, PGI_ERR_CORRUPT, "safetensors header: invalid JSON");
	expect("{} x", 0, PGI_ERR_CORRUPT, "invalid JSON");
	expect("{}", 4, PGI_ERR_CORRUPT, "4 bytes after the last tensor");

	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, PGI_OK, NULL);
	expect("{\"w\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_UNSUPPORTED, "\"w\" has unsupported dtype \"F99\"");
	expect("{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
		   PGI_ERR_UNSUPPORTED, "\"F4\"");
	expect("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_UNSUPPORTED, "\"f32\"");
	expect("{\"w\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "\"w\" has no valid dtype");
	expect("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, PGI_ERR_CORRUPT, "dtype");
	expect("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, PGI_ERR_CORRUPT,
		   "\"w\" has no valid shape");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, PGI_ERR_CORRUPT,
		   "\"w\" has invalid data_offsets");
	expect("{\"w\":[1,2]}", 8, PGI_ERR_CORRUPT, "\"w\" has an invalid header entry");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "invalid dimension 0");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "invalid dimension 0");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "9 dimensions");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		   PGI_OK, NULL);
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, PGI_OK, NULL);
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "too many elements");
	expect("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
		   PGI_ERR_CORRUPT, "too large");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8,
		   PGI_ERR_CORRUPT, "invalid data_offsets");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
		   PGI_ERR_CORRUPT, "outside");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
		   PGI_ERR_CORRUPT, "[0, 8] outside the 7-byte data buffer");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12,
		   PGI_ERR_CORRUPT, "do not match its shape");
	expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", 8,
		   PGI_ERR_CORRUPT, "invalid data_offsets");
	expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
		   PGI_ERR_CORRUPT, "\"b\" overlaps tensor \"a\"");
	expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
		   PGI_ERR_CORRUPT, "gap of 4 bytes before tensor \"b\"");
	expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, PGI_OK, NULL);
	expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"c\":{\"dtype\":\"I8\",\"shape\":[0,5],\"data_offsets\":[4,4]}}", 4, PGI_OK, NULL);
	expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		   PGI_ERR_CORRUPT, "duplicate key \"a\"");
	expect("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		   PGI_ERR_CORRUPT, "NUL");
	expect("{\"__metadata__\":[]}", 0, PGI_ERR_CORRUPT, "__metadata__ is not an object");
	expect("{\"__metadata__\":{\"total\":5}}", 0, PGI_ERR_CORRUPT,
		   "__metadata__ key \"total\" is not a string");
	expect("{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{}}", 0, PGI_ERR_CORRUPT,
		   "duplicate");
	/* a nested header too deep for the JSON parser is a corrupt file */
	{
		char		deep[400];

		strcpy(deep, "{\"w\":");
		for (int i = 0; i < 70; i++)
			strcat(deep, "[");
		for (int i = 0; i < 70; i++)
			strcat(deep, "]");
		strcat(deep, "}");
		expect(deep, 0, PGI_ERR_CORRUPT, "64");
	}
	/* every known dtype and its size */
	{
		const char *names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16",
		"U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"};
		const size_t sizes[] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
		int			bad = 0;

		for (int i = 0; i < ST_DTYPE_COUNT; i++)
		{
			char		h[160];
			PgiError	e;

			snprintf(h, sizeof(h), "{\"w\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}",
					 names[i], 3 * sizes[i]);
			bad += strcmp(safetensors_dtype_name((SafetensorsDtype) i), names[i]) != 0 ||
				safetensors_dtype_size((SafetensorsDtype) i) != sizes[i] ||
				open_header(h, 3 * sizes[i], &e) != PGI_OK;
		}
		CHECK(bad == 0, "%d dtypes misread", bad);
	}
}

/* model.safetensors.index.json */
static void
check_index(void)
{
	size_t		len;
	char	   *text = (char *) read_file("test/unit/fixtures/model.safetensors.index.json", &len);
	FILE	   *ef = fopen("test/unit/fixtures/model.safetensors.index.json.expect", "r");
	SafetensorsIndex *ix;
	PgiError	err;
	char	   *line = NULL;
	size_t		cap = 0;
	size_t		entry = 0;
	uint64_t	total;

	if (text == NULL || ef == NULL)
	{
		CHECK(0, "cannot read the index fixtures (run from the repository root)");
		return;
	}
	CHECK(safetensors_index_parse(text, len, &ix, &err) == PGI_OK, "index: %s", err.msg);
	if (ix == NULL)
		return;
	while (getline(&line, &cap, ef) > 0)
	{
		char	   *save;
		char	   *kind = strtok_r(line, " \n", &save);
		char	   *a = strtok_r(NULL, " \n", &save);
		char	   *b = strtok_r(NULL, " \n", &save);
		char	   *c = strtok_r(NULL, " \n", &save);

		if (kind == NULL)
			continue;
		if (strcmp(kind, "total_size") == 0)
			CHECK(safetensors_index_total_size(ix, &total) && total == strtoull(a, NULL, 10),
				  "total_size");
		else if (strcmp(kind, "n_entries") == 0)
			CHECK(safetensors_index_n_entries(ix) == strtoul(a, NULL, 10), "n_entries");
		else if (strcmp(kind, "n_files") == 0)
			CHECK(safetensors_index_n_files(ix) == strtoul(a, NULL, 10), "n_files");
		else if (strcmp(kind, "file") == 0)
			CHECK(safetensors_index_file(ix, strtoul(a, NULL, 10)) &&
				  strcmp(safetensors_index_file(ix, strtoul(a, NULL, 10)), b) == 0, "file %s", a);
		else if (strcmp(kind, "entry") == 0)
		{
			const SafetensorsIndexEntry *e = safetensors_index_entry(ix, entry++);

			CHECK(e && strcmp(e->tensor, a) == 0 && strcmp(e->file, b) == 0 &&
				  e->file_index == strtoul(c, NULL, 10) &&
				  strcmp(safetensors_index_lookup(ix, a), b) == 0, "entry %s", a);
		}
	}
	CHECK(safetensors_index_lookup(ix, "missing.weight") == NULL, "index: missing tensor");
	safetensors_index_free(ix);
	free(line);
	fclose(ef);
	free(text);

	/* hostile index files */
	{
		struct
		{
			const char *doc;
			PgiStatus	st;
			const char *needle;
		}			cases[] = {
			{"{\"weight_map\":{\"a\":\"m.safetensors\"}}", PGI_OK, NULL},
			{"{\"metadata\":null,\"weight_map\":{}}", PGI_OK, NULL},
			{"{}", PGI_ERR_CORRUPT, "no weight_map"},
			{"[]", PGI_ERR_CORRUPT, "no weight_map"},
			{"{\"weight_map\":[]}", PGI_ERR_CORRUPT, "no weight_map"},
			{"{\"weight_map\":{\"a\":1}}", PGI_ERR_CORRUPT, "\"a\" to an invalid shard name"},
			{"{\"weight_map\":{\"a\":\"../etc/passwd\"}}", PGI_ERR_CORRUPT, "invalid shard name"},
			{"{\"weight_map\":{\"a\":\"sub/m.safetensors\"}}", PGI_ERR_CORRUPT, "invalid shard"},
			{"{\"weight_map\":{\"a\":\"sub\\\\m\"}}", PGI_ERR_CORRUPT, "invalid shard"},
			{"{\"weight_map\":{\"a\":\"..\"}}", PGI_ERR_CORRUPT, "invalid shard"},
			{"{\"weight_map\":{\"a\":\"\"}}", PGI_ERR_CORRUPT, "invalid shard"},
			{"{\"weight_map\":{\"a\":\"m\\u0000x\"}}", PGI_ERR_CORRUPT, "invalid shard"},
			{"{\"metadata\":{\"total_size\":-1},\"weight_map\":{}}", PGI_ERR_CORRUPT, "total_size"},
			{"{\"metadata\":{\"total_size\":1.5},\"weight_map\":{}}", PGI_ERR_CORRUPT, "total_size"},
			{"{\"metadata\":[],\"weight_map\":{}}", PGI_ERR_CORRUPT, "metadata"},
			{"{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", PGI_ERR_CORRUPT, "duplicate"},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			PgiStatus	st;

			memset(&err, 0, sizeof(err));
			st = safetensors_index_parse(cases[i].doc, strlen(cases[i].doc), &ix, &err);
			CHECK(st == cases[i].st && (cases[i].needle == NULL || strstr(err.msg, cases[i].needle)),
				  "index '%s': got %d '%s'", cases[i].doc, st, err.msg);
			safetensors_index_free(ix);
		}
	}
}

int
main(void)
{
	check_fixture();
	check_hostile();
	check_index();
	return UNIT_DONE("safetensors");
}
