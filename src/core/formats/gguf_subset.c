/*-------------------------------------------------------------------------
 *
 * gguf_subset.c
 *	  Write a GGUF file holding some of another's metadata (gguf_subset.h).
 *
 * Layout written (little-endian, GGUF v3): "GGUF", version 3, tensor
 * count 0, key count, then per key: u64 length + key bytes, u32 type,
 * value (strings: u64 length + bytes; arrays: u32 element type, u64
 * count, elements), zero padding to the default alignment (where the
 * empty data section starts).  Numeric values are copied byte for byte from the
 * source file, which is little-endian too.
 *
 * src/core/formats/gguf_subset.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/gguf_subset.h"

#include <stdlib.h>
#include <string.h>

/* A growable output buffer; ok turns false when memory runs out */
typedef struct Out
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	int			ok;
} Out;

/* Append n bytes */
static void
put(Out *o, const void *p, size_t n)
{
	if (!o->ok)
		return;
	if (o->len + n > o->cap)
	{
		size_t		cap = o->cap ? o->cap : 4096;
		uint8_t    *d;

		while (cap < o->len + n)
			cap *= 2;
		if ((d = realloc(o->data, cap)) == NULL)
		{
			o->ok = 0;
			return;
		}
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

/* Append little-endian integers */
static void
put_u32(Out *o, uint32_t v)
{
	uint8_t		b[4] = {v, v >> 8, v >> 16, v >> 24};

	put(o, b, 4);
}

static void
put_u64(Out *o, uint64_t v)
{
	put_u32(o, (uint32_t) v);
	put_u32(o, (uint32_t) (v >> 32));
}

/* Append a GGUF string */
static void
put_str(Out *o, const char *s, size_t n)
{
	put_u64(o, n);
	put(o, s, n);
}

/* Bytes of one element of a fixed-size type, 0 for strings and arrays */
static size_t
fixed_size(GgufType t)
{
	switch (t)
	{
		case GGUF_TYPE_UINT8:
		case GGUF_TYPE_INT8:
		case GGUF_TYPE_BOOL:
			return 1;
		case GGUF_TYPE_UINT16:
		case GGUF_TYPE_INT16:
			return 2;
		case GGUF_TYPE_UINT32:
		case GGUF_TYPE_INT32:
		case GGUF_TYPE_FLOAT32:
			return 4;
		case GGUF_TYPE_UINT64:
		case GGUF_TYPE_INT64:
		case GGUF_TYPE_FLOAT64:
			return 8;
		default:
			return 0;
	}
}

/* Whether key starts with one of the prefixes */
static int
wanted(const char *key, const char *const *prefixes)
{
	for (int i = 0; prefixes[i]; i++)
		if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

/* Append one key-value pair as it is in the source */
static void
put_kv(Out *o, const GgufKV *kv)
{
	put_str(o, kv->key, kv->key_len);
	put_u32(o, (uint32_t) kv->type);
	if (kv->type == GGUF_TYPE_STRING)
		put_str(o, kv->str, kv->str_len);
	else if (kv->type == GGUF_TYPE_ARRAY)
	{
		put_u32(o, (uint32_t) kv->arr_type);
		put_u64(o, kv->n);
		if (kv->arr_type == GGUF_TYPE_STRING)
			for (uint64_t i = 0; i < kv->n; i++)
			{
				size_t		l;
				const char *s = gguf_arr_str(kv, i, &l);

				put_str(o, s ? s : "", s ? l : 0);
			}
		else
			put(o, kv->raw, kv->n * fixed_size(kv->arr_type));
	}
	else
		put(o, kv->raw, fixed_size(kv->type));
}

PgiStatus
gguf_subset(const GgufFile *f, const char *const *prefixes, uint8_t **out,
			size_t *out_len, PgiError *err)
{
	Out			o = {NULL, 0, 0, 1};
	uint64_t	n = 0;

	for (size_t i = 0; i < gguf_n_kv(f); i++)
		n += wanted(gguf_kv(f, i)->key, prefixes);
	put(&o, "GGUF", 4);
	put_u32(&o, 3);
	put_u64(&o, 0);
	put_u64(&o, n);
	for (size_t i = 0; i < gguf_n_kv(f); i++)
		if (wanted(gguf_kv(f, i)->key, prefixes))
			put_kv(&o, gguf_kv(f, i));
	/* the (empty) data section starts at the default alignment */
	while (o.ok && o.len % GGUF_DEFAULT_ALIGNMENT != 0)
		put(&o, "", 1);
	if (!o.ok)
	{
		free(o.data);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory copying GGUF metadata");
	}
	*out = o.data;
	*out_len = o.len;
	return PGI_OK;
}
