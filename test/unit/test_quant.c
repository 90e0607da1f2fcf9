/*
 * test_quant.c
 *	  Unit tests of F16/BF16 conversion and block dequantisation
 *	  (src/core/kernels/fp16.h, src/core/kernels/quant.c).
 *
 * References, none of them our C code:
 *	- fixtures/fp16.expect: numpy's float16 -> float32 for ~1500 bit
 *	  patterns (all around zero, the subnormal/normal boundary, one, the
 *	  largest finite, infinities and NaNs, plus every 97th pattern);
 *	- when the compiler has _Float16 (gcc on x86-64), its conversion, for
 *	  all 65536 patterns;
 *	- values written by hand from IEEE 754 and the block layouts in the
 *	  GGUF specification;
 *	- ../shared/models/rand15M-quant/blocks.json: raw blocks and their
 *	  values from gguf-py (bitwise identical to ggml's C dequantisers), the
 *	  sha256 of each whole dequantised tensor, the sha256 of each tensor's
 *	  raw bytes, its file offset, and row-0 dot products; skipped when
 *	  absent.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/fp16.h"
#include "core/formats/gguf.h"
#include "core/formats/json.h"
#include "core/kernels/quant.h"
#include "unit.h"

#define SHARED "../shared/models/"

/* Bits of a float */
static uint32_t
fbits(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	return u;
}

/* ------------------------------------------------------------ SHA-256 */

/* SHA-256 (FIPS 180-4), enough to check whole tensors against blocks.json */
typedef struct Sha256
{
	uint32_t	h[8];
	uint8_t		buf[64];
	uint64_t	len;
} Sha256;

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Rotate right */
static uint32_t
ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* Process one 64-byte block */
static void
sha_block(Sha256 *s, const uint8_t *p)
{
	uint32_t	w[64],
				a[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
			(uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
			w[i - 7] + (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10));
	memcpy(a, s->h, sizeof(a));
	for (int i = 0; i < 64; i++)
	{
		uint32_t	t1 = a[7] + (ror(a[4], 6) ^ ror(a[4], 11) ^ ror(a[4], 25)) +
			((a[4] & a[5]) ^ (~a[4] & a[6])) + sha_k[i] + w[i];
		uint32_t	t2 = (ror(a[0], 2) ^ ror(a[0], 13) ^ ror(a[0], 22)) +
			((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));

		memmove(a + 1, a, 7 * sizeof(uint32_t));
		a[4] += t1;
		a[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		s->h[i] += a[i];
}

/* Start a digest */
static void
sha_init(Sha256 *s)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
}

/* Hash more bytes */
static void
sha_update(Sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n > 0)
	{
		size_t		used = s->len % 64;
		size_t		k = 64 - used < n ? 64 - used : n;

		memcpy(s->buf + used, p, k);
		s->len += k;
		p += k;
		n -= k;
		if (s->len % 64 == 0)
			sha_block(s, s->buf);
	}
}

/* Finish and write the digest as lower-case hex */
static void
sha_hex(Sha256 *s, char *out)
{
	uint64_t	bits = s->len * 8;
	uint8_t		pad = 0x80,
				zero = 0,
				lenb[8];

	sha_update(s, &pad, 1);
	while (s->len % 64 != 56)
		sha_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t) (bits >> (56 - 8 * i));
	sha_update(s, lenb, 8);
	for (int i = 0; i < 8; i++)
		sprintf(out + 8 * i, "%08x", s->h[i]);
}

/* ------------------------------------------------------------ F16 / BF16 */

/* Exact values written from IEEE 754 */
static void
check_fp16_known(void)
{
	CHECK(fp16_to_fp32(0x3C00) == 1.0f, "f16 1");
	CHECK(fp16_to_fp32(0xC000) == -2.0f, "f16 -2");
	CHECK(fp16_to_fp32(0x3555) == 0x1.554p-2f, "f16 0x3555");
	CHECK(fp16_to_fp32(0x7BFF) == 65504.0f, "f16 max");
	CHECK(fp16_to_fp32(0x0400) == 0x1p-14f, "f16 min normal");
	CHECK(fp16_to_fp32(0x0001) == 0x1p-24f, "f16 min subnormal");
	CHECK(fp16_to_fp32(0x03FF) == 0x1.ff8p-15f, "f16 max subnormal");
	CHECK(fp16_to_fp32(0x8001) == -0x1p-24f, "f16 -min subnormal");
	CHECK(fp16_to_fp32(0x0200) == 0x1p-15f, "f16 subnormal 2^-15");
	CHECK(fbits(fp16_to_fp32(0x0000)) == 0x00000000, "f16 +0");
	CHECK(fbits(fp16_to_fp32(0x8000)) == 0x80000000, "f16 -0");
	CHECK(fbits(fp16_to_fp32(0x7C00)) == 0x7F800000, "f16 +inf");
	CHECK(fbits(fp16_to_fp32(0xFC00)) == 0xFF800000, "f16 -inf");
	CHECK(fbits(fp16_to_fp32(0x7E00)) == 0x7FC00000, "f16 quiet NaN");
	CHECK(fbits(fp16_to_fp32(0xFE01)) == 0xFFC02000, "f16 -NaN payload kept");
	CHECK(fbits(fp16_to_fp32(0x7C01)) == 0x7F802000, "f16 signalling NaN stays signalling");

	CHECK(bf16_to_fp32(0x3F80) == 1.0f, "bf16 1");
	CHECK(bf16_to_fp32(0xC020) == -2.5f, "bf16 -2.5");
	CHECK(bf16_to_fp32(0x4049) == 3.140625f, "bf16 3.140625");
	CHECK(bf16_to_fp32(0x7F7F) == 0x1.fep127f, "bf16 max");
	CHECK(bf16_to_fp32(0x0001) == 0x1p-133f, "bf16 min subnormal");
	CHECK(bf16_to_fp32(0x0080) == 0x1p-126f, "bf16 min normal");
	CHECK(fbits(bf16_to_fp32(0x8000)) == 0x80000000, "bf16 -0");
	CHECK(fbits(bf16_to_fp32(0x7F80)) == 0x7F800000, "bf16 inf");
	CHECK(fbits(bf16_to_fp32(0xFF80)) == 0xFF800000, "bf16 -inf");
	CHECK(fbits(bf16_to_fp32(0x7FC1)) == 0x7FC10000, "bf16 NaN payload");
}

/* numpy's conversions, bit for bit (NaN payloads included) */
static void
check_fp16_numpy(void)
{
	FILE	   *f = fopen("test/unit/fixtures/fp16.expect", "r");
	char		line[64];
	int			n = 0,
				bad = 0;

	if (f == NULL)
	{
		CHECK(0, "cannot read fixtures/fp16.expect (run from the repository root)");
		return;
	}
	while (fgets(line, sizeof(line), f))
	{
		unsigned	h,
					w;

		if (line[0] == '#' || sscanf(line, "%x %x", &h, &w) != 2)
			continue;
		n++;
		if (fbits(fp16_to_fp32((uint16_t) h)) != w)
		{
			if (bad++ < 5)
				fprintf(stderr, "  f16 %04x: got %08x, numpy %08x\n", h,
						fbits(fp16_to_fp32((uint16_t) h)), w);
		}
	}
	fclose(f);
	CHECK(n > 1000 && bad == 0, "numpy f16: %d of %d differ", bad, n);
}

/* The compiler's own _Float16 conversion, all 65536 patterns */
static void
check_fp16_compiler(void)
{
#ifdef __FLT16_MAX__
	int			bad = 0;

	for (uint32_t h = 0; h < 0x10000; h++)
	{
		_Float16	x;
		uint16_t	hb = (uint16_t) h;
		float		want,
					got = fp16_to_fp32(hb);

		memcpy(&x, &hb, 2);
		want = (float) x;
		/* hardware may quiet a signalling NaN: compare NaNs by sign only */
		if (isnan(want) ? !(isnan(got) && !signbit(got) == !signbit(want))
			: fbits(want) != fbits(got))
			bad++;
	}
	CHECK(bad == 0, "_Float16: %d of 65536 patterns differ", bad);
#else
	printf("skip: no _Float16 in this compiler\n");
#endif
}

/* ------------------------------------------------------------ blocks */

/* Q8_0 and Q4_0 blocks built by hand from the GGUF spec's layouts */
static void
check_blocks_by_hand(void)
{
	uint8_t		q8[34],
				q4[18],
				q5[22];
	float		out[32];
	int			ok;
	PgiError	err;

	/* Q8_0: d = 0.5 (0x3800), q[j] = j - 16, q[31] = -128 */
	q8[0] = 0x00;
	q8[1] = 0x38;
	for (int j = 0; j < 32; j++)
		q8[2 + j] = (uint8_t) (int8_t) (j - 16);
	q8[2 + 31] = 0x80;
	CHECK(quant_dequantize(GGML_TYPE_Q8_0, q8, 32, out, &err) == PGI_OK, "q8_0");
	ok = 1;
	for (int j = 0; j < 31; j++)
		ok &= out[j] == 0.5f * (float) (j - 16);
	CHECK(ok && out[31] == -64.0f, "q8_0 values: d * q");

	/* Q4_0: d = -2 (0xC000); qs[j] = j | (15 - j) << 4 */
	q4[0] = 0x00;
	q4[1] = 0xC0;
	for (int j = 0; j < 16; j++)
		q4[2 + j] = (uint8_t) (j | ((15 - j) << 4));
	CHECK(quant_dequantize(GGML_TYPE_Q4_0, q4, 32, out, &err) == PGI_OK, "q4_0");
	ok = 1;
	for (int j = 0; j < 16; j++)
		ok &= out[j] == -2.0f * (float) (j - 8) && out[j + 16] == -2.0f * (float) (7 - j);
	CHECK(ok, "q4_0 values: low nibbles first, then high nibbles, minus 8");
	CHECK(out[0] == 16.0f && out[15] == -14.0f && out[16] == -14.0f && out[31] == 16.0f,
		  "q4_0 corner values");

	/* Q5_0: d = 1 (0x3C00), qh = 0x80000001: fifth bit on x[0] and x[31] */
	memset(q5, 0, sizeof(q5));
	q5[1] = 0x3C;
	q5[2] = 0x01;
	q5[5] = 0x80;
	for (int j = 0; j < 16; j++)
		q5[6 + j] = 0xFF;
	CHECK(quant_dequantize(GGML_TYPE_Q5_0, q5, 32, out, &err) == PGI_OK, "q5_0");
	CHECK(out[0] == 15.0f && out[1] == -1.0f && out[16] == -1.0f && out[31] == 15.0f,
		  "q5_0 values: (q | bit << 4) - 16");

	/* F16 and BF16 rows */
	{
		uint8_t		h[6] = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00};
		uint8_t		b[4] = {0x80, 0x3F, 0x20, 0xC0};

		CHECK(quant_dequantize(GGML_TYPE_F16, h, 3, out, &err) == PGI_OK &&
			  out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-24f, "f16 row");
		CHECK(quant_dequantize(GGML_TYPE_BF16, b, 2, out, &err) == PGI_OK &&
			  out[0] == 1.0f && out[1] == -2.5f, "bf16 row");
	}

	/* errors and the type table (sizes from the GGUF spec / gguf-py) */
	CHECK(quant_dequantize(GGML_TYPE_Q8_0, q8, 31, out, &err) == PGI_ERR_PARAM, "q8_0 n=31");
	CHECK(quant_dequantize(GGML_TYPE_Q4_1, q4, 32, out, &err) == PGI_ERR_UNSUPPORTED &&
		  strstr(err.msg, "Q4_1") != NULL, "q4_1 unsupported: %s", err.msg);
	CHECK(quant_dequantize(4, q4, 32, out, NULL) == PGI_ERR_UNSUPPORTED, "removed type 4");
	CHECK(quant_type_info(4) == NULL && quant_type_info(31) == NULL &&
		  quant_type_info(40) == NULL && quant_type_info(UINT32_MAX) == NULL,
		  "removed and unknown ids");
	{
		struct
		{
			uint32_t	t;
			uint32_t	blck,
						size;
		}			sizes[] = {
			{0, 1, 4}, {1, 1, 2}, {2, 32, 18}, {3, 32, 20}, {6, 32, 22}, {7, 32, 24},
			{8, 32, 34}, {9, 32, 36}, {10, 256, 84}, {11, 256, 110}, {12, 256, 144},
			{13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {20, 32, 18}, {23, 256, 136},
			{30, 1, 2}, {39, 32, 17}
		};
		int			bad = 0;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		{
			const GgmlTypeInfo *info = quant_type_info(sizes[i].t);

			bad += info == NULL || info->blck_size != sizes[i].blck ||
				info->type_size != sizes[i].size;
		}
		CHECK(bad == 0, "type table: %d sizes differ from the spec", bad);
	}
}

/* Decode hex into out; returns bytes */
static size_t
unhex(const char *s, uint8_t *out)
{
	size_t		n = 0;

	for (; s[0] && s[1]; s += 2)
	{
		unsigned	b;

		sscanf(s, "%2x", &b);
		out[n++] = (uint8_t) b;
	}
	return n;
}

/* One type's entry of blocks.json against the file it names */
static void
check_block_type(const char *tname, const JsonValue *e, const JsonValue *dot)
{
	char		path[256];
	const char *file = json_str(json_get(e, "file"), NULL);
	const char *tensor = json_str(json_get(e, "tensor"), NULL);
	int64_t		type_id = -1,
				off = -1,
				nbytes = -1,
				ne0 = -1,
				ne1 = -1;
	size_t		len;
	uint8_t    *data;
	GgufFile   *f;
	PgiError	err;
	const GgufTensor *t;
	const JsonValue *blocks = json_get(e, "blocks");
	const GgmlTypeInfo *info;
	float	   *all;
	char		hex[65];
	Sha256		sha;
	double		sum = 0;

	json_int(json_get(e, "ggml_type_id"), &type_id);
	json_int(json_get(e, "tensor_data_offset_in_file"), &off);
	json_int(json_get(e, "tensor_nbytes"), &nbytes);
	json_int(json_at(json_get(e, "shape_ne"), 0), &ne0);
	json_int(json_at(json_get(e, "shape_ne"), 1), &ne1);
	if (file == NULL || tensor == NULL)
	{
		CHECK(0, "blocks.json %s: no file/tensor", tname);
		return;
	}
	snprintf(path, sizeof(path), SHARED "rand15M-quant/%s", file);
	data = read_file(path, &len);
	if (data == NULL)
	{
		printf("skip: %s not found\n", path);
		return;
	}
	if (gguf_open(data, len, &f, &err) != PGI_OK)
	{
		CHECK(0, "%s: %s", file, err.msg);
		free(data);
		return;
	}
	t = gguf_find_tensor(f, tensor);
	CHECK(t != NULL && (int64_t) t->type == type_id && (int64_t) t->offset == off &&
		  (int64_t) t->n_bytes == nbytes && (int64_t) t->ne[0] == ne0 &&
		  (int64_t) t->ne[1] == ne1,
		  "%s %s: type, offset, size and shape as blocks.json says", tname, tensor);
	if (t == NULL)
		goto done;
	info = quant_type_info(t->type);

	/* raw bytes: sha256 of the whole tensor */
	sha_init(&sha);
	sha_update(&sha, t->data, (size_t) t->n_bytes);
	sha_hex(&sha, hex);
	CHECK(strcmp(hex, json_str(json_get(e, "tensor_sha256"), NULL)) == 0,
		  "%s: raw tensor sha256", tname);

	/* the first blocks: raw hex and values */
	for (size_t b = 0; b < json_size(blocks); b++)
	{
		const JsonValue *blk = json_at(blocks, b);
		const JsonValue *vals = json_get(blk, "values");
		uint8_t		raw[512];
		float		out[256];
		int64_t		index = -1;
		size_t		n = unhex(json_str(json_get(blk, "hex"), NULL), raw);
		int			same = 1;

		json_int(json_get(blk, "index"), &index);
		CHECK(n == info->type_size && index >= 0 &&
			  memcmp(t->data + (size_t) index * n, raw, n) == 0,
			  "%s block %zu: raw bytes at the tensor's data pointer", tname, b);
		CHECK(quant_dequantize(t->type, raw, info->blck_size, out, &err) == PGI_OK &&
			  json_size(vals) == info->blck_size, "%s block %zu dequantises", tname, b);
		for (size_t j = 0; same && j < json_size(vals); j++)
		{
			double		want;

			json_num(json_at(vals, j), &want);
			same = fbits(out[j]) == fbits((float) want);
			if (!same)
				fprintf(stderr, "  %s block %zu value %zu: got %.9g want %.9g\n",
						tname, b, j, out[j], want);
		}
		CHECK(same, "%s block %zu: all %u values bitwise equal to gguf-py's", tname, b,
			  info->blck_size);
	}

	/* the whole tensor: sha256 of the float32 values, and their sum */
	all = malloc(sizeof(float) * (size_t) t->n_elements);
	CHECK(quant_dequantize(t->type, t->data, (size_t) t->n_elements, all, &err) == PGI_OK,
		  "%s whole tensor", tname);
	sha_init(&sha);
	sha_update(&sha, all, sizeof(float) * (size_t) t->n_elements);
	sha_hex(&sha, hex);
	CHECK(strcmp(hex, json_str(json_get(json_get(e, "whole_tensor_dequant"),
											"sha256_of_f32le_values"), NULL)) == 0,
		  "%s: sha256 of all %llu dequantised values", tname,
		  (unsigned long long) t->n_elements);
	for (uint64_t i = 0; i < t->n_elements; i++)
		sum += all[i];
	{
		double		want = 0;

		json_num(json_get(json_get(e, "whole_tensor_dequant"), "sum_f64"), &want);
		CHECK(fabs(sum - want) < 1e-9 * (1 + fabs(want)), "%s: sum %.12g, want %.12g",
			  tname, sum, want);
	}

	/* row 0 . v in float64 */
	if (dot != NULL)
	{
		const JsonValue *v = json_get(dot, "vector_values");
		double		want = 0,
					got = 0;

		json_num(json_get(dot, "dot_f64"), &want);
		for (size_t i = 0; i < json_size(v) && i < t->ne[0]; i++)
		{
			double		x;

			json_num(json_at(v, i), &x);
			got += (double) all[i] * (double) (float) x;
		}
		CHECK(json_size(v) == t->ne[0] && fabs(got - want) < 1e-9,
			  "%s: row 0 dot %.12g, want %.12g", tname, got, want);
	}
	free(all);
done:
	gguf_free(f);
	free(data);
}

/* blocks.json from the shared rand15M-quant directory */
static void
check_blocks_json(void)
{
	size_t		len;
	char	   *text = (char *) read_file(SHARED "rand15M-quant/blocks.json", &len);
	JsonDoc    *doc;
	PgiError	err;
	const JsonValue *types;

	if (text == NULL)
	{
		printf("skip: " SHARED "rand15M-quant/blocks.json not found\n");
		return;
	}
	CHECK(json_parse(text, len, &doc, &err) == PGI_OK, "blocks.json: %s", err.msg);
	if (doc == NULL)
	{
		free(text);
		return;
	}
	types = json_get(json_root(doc), "types");
	CHECK(json_size(types) == 5, "blocks.json has 5 types");
	for (size_t i = 0; i < json_size(types); i++)
	{
		const JsonMember *m = json_member(types, i);

		check_block_type(m->key, &m->value,
						 json_get(json_get(json_root(doc), "dot"), m->key));
	}
	json_free(doc);
	free(text);
}

int
main(void)
{
	{
		Sha256		s;
		char		hex[65];

		sha_init(&s);
		sha_update(&s, "abc", 3);
		sha_hex(&s, hex);
		CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
			  "sha256 test vector");
	}
	check_fp16_known();
	check_fp16_numpy();
	check_fp16_compiler();
	check_blocks_by_hand();
	check_blocks_json();
	return UNIT_DONE("quant");
}
