/*
 * fuzz_gguf.c
 *	  libFuzzer target for the GGUF reader (src/core/formats/gguf.c).
 *
 * Any byte string is parsed as a GGUF file.  Beyond "no crash and no
 * sanitizer report", an accepted file must keep the reader's promises:
 *	- every key and tensor is found again by name;
 *	- every string value and string-array element lies inside the input
 *	  (its first and last bytes are read, so ASan sees any overrun);
 *	- every numeric array element can be read;
 *	- every tensor's data lies inside the input, aligned, and its first
 *	  and last bytes are read; the first block is dequantised when the
 *	  type has a dequantiser;
 *	- a rejected file leaves no GgufFile and a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/kernels/quant.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Read the first and last byte of p[0..n-1], which must lie in the input */
static void
touch(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	if (n == 0)
		return;
	if (p < data || p + n > data + size)
		abort();
	sink ^= p[0];
	sink ^= p[n - 1];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GgufFile   *f = NULL;
	PgiError	err;
	float		out[256];

	memset(&err, 0, sizeof(err));
	if (gguf_open(data, size, &f, &err) != PGI_OK)
	{
		if (f != NULL || err.status == PGI_OK || err.msg[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < gguf_n_kv(f); i++)
	{
		const GgufKV *kv = gguf_kv(f, i);

		if (gguf_find_kv(f, kv->key) != kv || strlen(kv->key) != kv->key_len)
			abort();
		if (kv->type == GGUF_TYPE_STRING)
			touch((const uint8_t *) kv->str, (size_t) kv->str_len, data, size);
		else if (kv->type == GGUF_TYPE_ARRAY)
		{
			for (uint64_t j = 0; j < kv->n; j++)
			{
				if (kv->arr_type == GGUF_TYPE_STRING)
				{
					size_t		n;
					const char *s = gguf_arr_str(kv, j, &n);

					if (s == NULL)
						abort();
					touch((const uint8_t *) s, n, data, size);
				}
				else
				{
					int64_t		x;
					double		d;

					sink ^= (uint8_t) gguf_arr_i64(kv, j, &x);
					sink ^= (uint8_t) gguf_arr_f64(kv, j, &d);
				}
			}
		}
	}
	for (size_t i = 0; i < gguf_n_tensors(f); i++)
	{
		const GgufTensor *t = gguf_tensor(f, i);
		const GgmlTypeInfo *info = quant_type_info(t->type);

		if (gguf_find_tensor(f, t->name) != t || info == NULL ||
			t->offset % gguf_alignment(f) != 0 || t->data != data + t->offset ||
			t->n_dims < 1 || t->n_dims > 4)
			abort();
		touch(t->data, (size_t) t->n_bytes, data, size);
		if (info->dequant && t->n_elements >= info->blck_size && info->blck_size <= 256)
		{
			uint32_t	n = info->blck_size == 1 ? 1 : info->blck_size;

			if (quant_dequantize(t->type, t->data, n, out, &err) != PGI_OK)
				abort();
		}
	}
	gguf_free(f);
	return 0;
}
