/*-------------------------------------------------------------------------
 *
 * gguf.c
 *	  Reader for GGUF v2/v3 model files.
 *
 * Layout (little-endian throughout):
 *
 *		"GGUF" u32 version, u64 n_tensors, u64 n_kv
 *		n_kv x   { string key, u32 type, value }
 *		n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type,
 *					  u64 offset }
 *		padding to the alignment, then the tensor data; each tensor's data
 *		is at data_start + offset.
 *
 * A string is a u64 byte count and the bytes; an array value is u32
 * element type, u64 count, then the elements back to back.
 *
 * The reader is one forward pass over the header with a cursor that knows
 * how many bytes are left: every length and count is compared with what
 * remains before it is used, and every size computation is checked for
 * overflow, so no input can make it read outside [data, data+len) or
 * allocate more than a few times the header's size.  Keys and tensor names
 * are copied into one growing block and string-array element pointers into
 * another; both hold offsets while they grow and are turned into pointers
 * once parsing is done.  Uniqueness and overlap are checked by sorting.
 *
 * src/core/formats/gguf.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/gguf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_STRING_LEN ((uint64_t) 1 << 30)
#define GGUF_HEADER_SIZE	24
/* smallest encodings: key "x" + type + 1-byte value; name "x" + 1 dim */
#define GGUF_MIN_KV_SIZE	(8 + 1 + 4 + 1)
#define GGUF_MIN_TENSOR_SIZE (8 + 1 + 4 + 8 + 4 + 8)

struct GgufFile
{
	const uint8_t *data;
	size_t		len;
	uint32_t	version;
	uint64_t	alignment;
	uint64_t	data_offset;
	size_t		n_kv;
	GgufKV	   *kvs;
	const GgufKV **kv_sorted;	/* by key */
	size_t		n_tensors;
	GgufTensor *tensors;
	const GgufTensor **tensor_sorted;	/* by name */
	char	   *names;			/* keys and tensor names */
	const uint8_t **items;		/* string-array element pointers */
};

/* A bounded cursor over the input */
typedef struct Reader
{
	const uint8_t *data;
	size_t		len;
	size_t		pos;
} Reader;

/* A growing byte block */
typedef struct Block
{
	uint8_t    *p;
	size_t		used;
	size_t		cap;
} Block;

/* Byte size of each scalar value type (0: variable) */
static const uint8_t scalar_size[GGUF_TYPE_COUNT] = {
	[GGUF_TYPE_UINT8] = 1,[GGUF_TYPE_INT8] = 1,
	[GGUF_TYPE_UINT16] = 2,[GGUF_TYPE_INT16] = 2,
	[GGUF_TYPE_UINT32] = 4,[GGUF_TYPE_INT32] = 4,
	[GGUF_TYPE_FLOAT32] = 4,[GGUF_TYPE_BOOL] = 1,
	[GGUF_TYPE_STRING] = 0,[GGUF_TYPE_ARRAY] = 0,
	[GGUF_TYPE_UINT64] = 8,[GGUF_TYPE_INT64] = 8,
	[GGUF_TYPE_FLOAT64] = 8,
};

static const char *const type_names[GGUF_TYPE_COUNT] = {
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
};


/* Name a metadata value type */
const char *
gguf_type_name(GgufType t)
{
	if ((unsigned) t >= GGUF_TYPE_COUNT)
		return "unknown";
	return type_names[t];
}

/* Load a little-endian u16 */
static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

/* Load a little-endian u32 */
static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

/* Load a little-endian u64 */
static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t) le32(p) | ((uint64_t) le32(p + 4) << 32);
}

/* Bytes left after the cursor */
static size_t
rd_left(const Reader *r)
{
	return r->len - r->pos;
}

/* Read a u32 if 4 bytes remain */
static bool
rd_u32(Reader *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return false;
	*v = le32(r->data + r->pos);
	r->pos += 4;
	return true;
}

/* Read a u64 if 8 bytes remain */
static bool
rd_u64(Reader *r, uint64_t *v)
{
	if (rd_left(r) < 8)
		return false;
	*v = le64(r->data + r->pos);
	r->pos += 8;
	return true;
}

/* Make room for more bytes in a block, doubling its size */
static bool
block_reserve(Block *b, size_t more)
{
	size_t		cap;
	uint8_t    *p;

	if (more <= b->cap - b->used)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap - b->used < more)
	{
		if (cap > SIZE_MAX / 2)
			return false;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (p == NULL)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

/* Append a NUL-terminated copy of s[0..n-1]; returns its offset */
static bool
block_add_name(Block *b, const uint8_t *s, size_t n, size_t *off)
{
	if (n == SIZE_MAX || !block_reserve(b, n + 1))
		return false;
	*off = b->used;
	memcpy(b->p + b->used, s, n);
	b->p[b->used + n] = '\0';
	b->used += n + 1;
	return true;
}

/* Append one pointer-sized slot holding an offset into the input */
static bool
block_add_offset(Block *b, size_t value)
{
	if (!block_reserve(b, sizeof(size_t)))
		return false;
	memcpy(b->p + b->used, &value, sizeof(size_t));
	b->used += sizeof(size_t);
	return true;
}

/* Decode a scalar of fixed-size type t at p into kv->v */
static void
decode_scalar(GgufType t, const uint8_t *p, GgufKV *kv)
{
	uint32_t	u32;
	uint64_t	u64;
	float		f32;

	switch (t)
	{
		case GGUF_TYPE_UINT8:
			kv->v.u = p[0];
			break;
		case GGUF_TYPE_INT8:
			kv->v.i = (int8_t) p[0];
			break;
		case GGUF_TYPE_UINT16:
			kv->v.u = le16(p);
			break;
		case GGUF_TYPE_INT16:
			kv->v.i = (int16_t) le16(p);
			break;
		case GGUF_TYPE_UINT32:
			kv->v.u = le32(p);
			break;
		case GGUF_TYPE_INT32:
			kv->v.i = (int32_t) le32(p);
			break;
		case GGUF_TYPE_FLOAT32:
			u32 = le32(p);
			memcpy(&f32, &u32, sizeof(f32));
			kv->v.f = f32;
			break;
		case GGUF_TYPE_BOOL:
			kv->v.b = p[0] != 0;
			break;
		case GGUF_TYPE_UINT64:
			kv->v.u = le64(p);
			break;
		case GGUF_TYPE_INT64:
			u64 = le64(p);
			memcpy(&kv->v.i, &u64, sizeof(u64));
			break;
		case GGUF_TYPE_FLOAT64:
			u64 = le64(p);
			memcpy(&kv->v.f, &u64, sizeof(u64));
			break;
		default:
			break;
	}
}

/* Is t a signed or unsigned integer type? */
static bool
is_int_type(GgufType t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 ||
		t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16 ||
		t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
		t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

/* Is t a signed integer type? */
static bool
is_signed_type(GgufType t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 ||
		t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

/* Read one metadata pair at the cursor into kv */
static PgiStatus
parse_kv(Reader *r, GgufKV *kv, size_t *key_off, size_t *items_off,
		 Block *names, Block *items, uint64_t index, PgiError *err)
{
	uint64_t	klen;
	uint32_t	type;
	const uint8_t *key;
	const char *k;

	if (!rd_u64(r, &klen))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the metadata.",
						  "GGUF metadata entry %llu is truncated",
						  (unsigned long long) index);
	if (klen == 0 || klen > GGUF_MAX_KEY_LEN || klen > rd_left(r))
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "A key must be 1 to 65535 bytes long and lie inside the file.",
						  "GGUF metadata entry %llu has an invalid key length %llu",
						  (unsigned long long) index, (unsigned long long) klen);
	key = r->data + r->pos;
	for (uint64_t j = 0; j < klen; j++)
		if (key[j] < 0x20 || key[j] > 0x7E)
			return pgi_error(err, PGI_ERR_CORRUPT,
							  "Keys must be printable ASCII.",
							  "GGUF metadata entry %llu has a key with byte 0x%02x",
							  (unsigned long long) index, key[j]);
	if (!block_add_name(names, key, (size_t) klen, key_off))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading GGUF metadata");
	k = (const char *) names->p + *key_off;
	r->pos += (size_t) klen;
	kv->key_len = (size_t) klen;
	*items_off = SIZE_MAX;

	if (!rd_u32(r, &type))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the metadata.",
						  "GGUF key \"%s\" is truncated", k);
	if (type >= GGUF_TYPE_COUNT)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "Value types are 0 to 12.",
						  "GGUF key \"%s\" has unknown value type %u", k, type);
	kv->type = (GgufType) type;
	kv->arr_type = kv->type;
	kv->n = 1;
	kv->raw = r->data + r->pos;

	if (kv->type == GGUF_TYPE_STRING)
	{
		uint64_t	slen;

		if (!rd_u64(r, &slen) || slen > GGUF_MAX_STRING_LEN || slen > rd_left(r))
			return pgi_error(err, PGI_ERR_CORRUPT,
							  "A string must lie inside the file and be at most 1 GiB.",
							  "GGUF key \"%s\" has an invalid string length", k);
		kv->str = (const char *) r->data + r->pos;
		kv->str_len = slen;
		r->pos += (size_t) slen;
	}
	else if (kv->type == GGUF_TYPE_ARRAY)
	{
		uint32_t	et;
		uint64_t	n;

		if (!rd_u32(r, &et) || !rd_u64(r, &n))
			return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the metadata.",
							  "GGUF key \"%s\" has a truncated array header", k);
		if (et >= GGUF_TYPE_COUNT)
			return pgi_error(err, PGI_ERR_CORRUPT, "Value types are 0 to 12.",
							  "GGUF key \"%s\" is an array of unknown type %u", k, et);
		if (et == GGUF_TYPE_ARRAY)
			return pgi_error(err, PGI_ERR_UNSUPPORTED,
							  "Arrays of arrays are not supported.",
							  "GGUF key \"%s\" is an array of arrays", k);
		kv->arr_type = (GgufType) et;
		kv->n = n;
		kv->raw = r->data + r->pos;
		if (et == GGUF_TYPE_STRING)
		{
			/* each element takes at least its 8-byte length */
			if (n > rd_left(r) / 8)
				return pgi_error(err, PGI_ERR_CORRUPT,
								  "The array's elements do not fit in the rest of the file.",
								  "GGUF key \"%s\" has an invalid array length %llu",
								  k, (unsigned long long) n);
			*items_off = items->used / sizeof(size_t);
			if (!block_reserve(items, (size_t) n * sizeof(size_t)))
				return pgi_error(err, PGI_ERR_NOMEM, NULL,
								  "out of memory reading GGUF key \"%s\"", k);
			for (uint64_t i = 0; i < n; i++)
			{
				size_t		at = r->pos;
				uint64_t	slen;

				if (!rd_u64(r, &slen) || slen > GGUF_MAX_STRING_LEN || slen > rd_left(r))
					return pgi_error(err, PGI_ERR_CORRUPT,
									  "A string must lie inside the file and be at most 1 GiB.",
									  "GGUF key \"%s\" element %llu has an invalid string length",
									  k, (unsigned long long) i);
				r->pos += (size_t) slen;
				block_add_offset(items, at);	/* cannot fail: reserved */
			}
		}
		else
		{
			size_t		es = scalar_size[et];

			if (n > rd_left(r) / es)
				return pgi_error(err, PGI_ERR_CORRUPT,
								  "The array's elements do not fit in the rest of the file.",
								  "GGUF key \"%s\" has an invalid array length %llu",
								  k, (unsigned long long) n);
			if (et == GGUF_TYPE_BOOL)
				for (uint64_t i = 0; i < n; i++)
					if (r->data[r->pos + i] > 1)
						return pgi_error(err, PGI_ERR_CORRUPT,
										  "A bool must be 0 or 1.",
										  "GGUF key \"%s\" element %llu is not a valid bool",
										  k, (unsigned long long) i);
			r->pos += (size_t) n * es;
		}
	}
	else
	{
		size_t		es = scalar_size[type];

		if (rd_left(r) < es)
			return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the metadata.",
							  "GGUF key \"%s\" is truncated", k);
		if (kv->type == GGUF_TYPE_BOOL && r->data[r->pos] > 1)
			return pgi_error(err, PGI_ERR_CORRUPT, "A bool must be 0 or 1.",
							  "GGUF key \"%s\" is not a valid bool", k);
		decode_scalar(kv->type, r->data + r->pos, kv);
		r->pos += es;
	}
	return PGI_OK;
}

/* Read one tensor info at the cursor into t */
static PgiStatus
parse_tensor(Reader *r, GgufTensor *t, size_t *name_off, Block *names,
			 uint64_t alignment, uint64_t index, PgiError *err)
{
	uint64_t	nlen;
	uint32_t	n_dims;
	uint32_t	type;
	const char *nm;
	const GgmlTypeInfo *info;
	uint64_t	row_bytes;
	uint64_t	n_rows;

	if (!rd_u64(r, &nlen))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the tensor infos.",
						  "GGUF tensor info %llu is truncated", (unsigned long long) index);
	if (nlen == 0 || nlen > GGUF_MAX_NAME_LEN || nlen > rd_left(r))
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "A tensor name must be 1 to 256 bytes long and lie inside the file.",
						  "GGUF tensor info %llu has an invalid name length %llu",
						  (unsigned long long) index, (unsigned long long) nlen);
	if (memchr(r->data + r->pos, '\0', (size_t) nlen) != NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, "Tensor names must not contain NUL bytes.",
						  "GGUF tensor info %llu has a name with a NUL byte",
						  (unsigned long long) index);
	if (!block_add_name(names, r->data + r->pos, (size_t) nlen, name_off))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading GGUF tensor infos");
	nm = (const char *) names->p + *name_off;
	r->pos += (size_t) nlen;

	if (!rd_u32(r, &n_dims))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the tensor infos.",
						  "GGUF tensor \"%s\" is truncated", nm);
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return pgi_error(err, PGI_ERR_CORRUPT, "A tensor has 1 to 4 dimensions.",
						  "GGUF tensor \"%s\" has %u dimensions", nm, n_dims);
	t->n_dims = (int) n_dims;
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	t->n_elements = 1;
	for (uint32_t d = 0; d < n_dims; d++)
	{
		if (!rd_u64(r, &t->ne[d]))
			return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the tensor infos.",
							  "GGUF tensor \"%s\" is truncated", nm);
		if (t->ne[d] < 1 || t->ne[d] > (uint64_t) INT64_MAX)
			return pgi_error(err, PGI_ERR_CORRUPT,
							  "Every dimension must be at least 1.",
							  "GGUF tensor \"%s\" has invalid dimension %u: %llu",
							  nm, d, (unsigned long long) t->ne[d]);
		if (__builtin_mul_overflow(t->n_elements, t->ne[d], &t->n_elements) ||
			t->n_elements > (uint64_t) INT64_MAX)
			return pgi_error(err, PGI_ERR_CORRUPT,
							  "The product of the dimensions overflows 63 bits.",
							  "GGUF tensor \"%s\" has too many elements", nm);
	}

	if (!rd_u32(r, &type))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the tensor infos.",
						  "GGUF tensor \"%s\" is truncated", nm);
	info = quant_type_info(type);
	if (info == NULL)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						  "The type is unknown to this reader or was removed from ggml.",
						  "GGUF tensor \"%s\" has unsupported ggml type %u", nm, type);
	t->type = type;
	if (t->ne[0] % info->blck_size != 0)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "A row must hold a whole number of blocks.",
						  "GGUF tensor \"%s\" of type %s has row length %llu, not a multiple of %u",
						  nm, info->name, (unsigned long long) t->ne[0],
						  (unsigned) info->blck_size);
	n_rows = t->n_elements / t->ne[0];
	if (__builtin_mul_overflow(t->ne[0] / info->blck_size, (uint64_t) info->type_size,
							   &row_bytes) ||
		__builtin_mul_overflow(row_bytes, n_rows, &t->n_bytes))
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The tensor's byte size overflows 64 bits.",
						  "GGUF tensor \"%s\" is too large", nm);

	if (!rd_u64(r, &t->offset))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the tensor infos.",
						  "GGUF tensor \"%s\" is truncated", nm);
	if (t->offset % alignment != 0)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "Tensor data offsets must be multiples of the file's alignment.",
						  "GGUF tensor \"%s\" has offset %llu, not a multiple of %llu",
						  nm, (unsigned long long) t->offset,
						  (unsigned long long) alignment);
	return PGI_OK;
}

/* Order metadata pairs by key */
static int
cmp_kv_key(const void *a, const void *b)
{
	return strcmp((*(const GgufKV *const *) a)->key,
				  (*(const GgufKV *const *) b)->key);
}

/* Order tensors by name */
static int
cmp_tensor_name(const void *a, const void *b)
{
	return strcmp((*(const GgufTensor *const *) a)->name,
				  (*(const GgufTensor *const *) b)->name);
}

/* Order tensors by data offset, then size */
static int
cmp_tensor_offset(const void *a, const void *b)
{
	const GgufTensor *x = *(const GgufTensor *const *) a;
	const GgufTensor *y = *(const GgufTensor *const *) b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->n_bytes != y->n_bytes)
		return x->n_bytes < y->n_bytes ? -1 : 1;
	return 0;
}

/* Read general.alignment, if present */
static PgiStatus
read_alignment(GgufFile *f, PgiError *err)
{
	const GgufKV *kv = gguf_find_kv(f, "general.alignment");
	uint64_t	a;

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (kv == NULL)
		return PGI_OK;
	if (kv->type == GGUF_TYPE_ARRAY || !is_int_type(kv->type) ||
		(is_signed_type(kv->type) && kv->v.i <= 0))
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The alignment must be a positive integer power of two.",
						  "GGUF key \"general.alignment\" has type %s",
						  gguf_type_name(kv->type));
	a = is_signed_type(kv->type) ? (uint64_t) kv->v.i : kv->v.u;
	if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The alignment must be a power of two no larger than 2^30.",
						  "GGUF key \"general.alignment\" has invalid value %llu",
						  (unsigned long long) a);
	f->alignment = a;
	return PGI_OK;
}

/* Check tensor data extents: inside the file and pairwise disjoint */
static PgiStatus
check_extents(GgufFile *f, PgiError *err)
{
	const GgufTensor **by_off;

	for (size_t i = 0; i < f->n_tensors; i++)
	{
		GgufTensor *t = &f->tensors[i];
		uint64_t	start,
					end;

		if (__builtin_add_overflow(f->data_offset, t->offset, &start) ||
			__builtin_add_overflow(start, t->n_bytes, &end) ||
			end > (uint64_t) f->len)
			return pgi_error(err, PGI_ERR_CORRUPT,
							  "A tensor's data must lie inside the file.",
							  "GGUF tensor \"%s\" data (%llu bytes at offset %llu) is past the end of the file",
							  t->name, (unsigned long long) t->n_bytes,
							  (unsigned long long) t->offset);
		t->offset = start;
		t->data = f->data + (size_t) start;
	}
	if (f->n_tensors < 2)
		return PGI_OK;
	by_off = malloc(f->n_tensors * sizeof(*by_off));
	if (by_off == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory checking GGUF tensors");
	for (size_t i = 0; i < f->n_tensors; i++)
		by_off[i] = &f->tensors[i];
	qsort(by_off, f->n_tensors, sizeof(*by_off), cmp_tensor_offset);
	for (size_t i = 1; i < f->n_tensors; i++)
	{
		const GgufTensor *a = by_off[i - 1];
		const GgufTensor *b = by_off[i];

		if (a->offset + a->n_bytes > b->offset)
		{
			PgiStatus	st = pgi_error(err, PGI_ERR_CORRUPT,
										"Two tensors' data must not overlap.",
										"GGUF tensors \"%s\" and \"%s\" overlap",
										a->name, b->name);

			free(by_off);
			return st;
		}
	}
	free(by_off);
	return PGI_OK;
}

/* Sort the key index and reject duplicate keys */
static PgiStatus
build_kv_index(GgufFile *f, PgiError *err)
{
	f->kv_sorted = malloc((f->n_kv ? f->n_kv : 1) * sizeof(*f->kv_sorted));
	if (f->kv_sorted == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory indexing GGUF file");
	for (size_t i = 0; i < f->n_kv; i++)
		f->kv_sorted[i] = &f->kvs[i];
	qsort(f->kv_sorted, f->n_kv, sizeof(*f->kv_sorted), cmp_kv_key);
	for (size_t i = 1; i < f->n_kv; i++)
		if (strcmp(f->kv_sorted[i - 1]->key, f->kv_sorted[i]->key) == 0)
			return pgi_error(err, PGI_ERR_CORRUPT, "Metadata keys must be unique.",
							  "GGUF key \"%s\" appears more than once",
							  f->kv_sorted[i]->key);
	return PGI_OK;
}

/* Sort the tensor index and reject duplicate names */
static PgiStatus
build_tensor_index(GgufFile *f, PgiError *err)
{
	f->tensor_sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(*f->tensor_sorted));
	if (f->tensor_sorted == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory indexing GGUF file");
	for (size_t i = 0; i < f->n_tensors; i++)
		f->tensor_sorted[i] = &f->tensors[i];
	qsort(f->tensor_sorted, f->n_tensors, sizeof(*f->tensor_sorted), cmp_tensor_name);
	for (size_t i = 1; i < f->n_tensors; i++)
		if (strcmp(f->tensor_sorted[i - 1]->name, f->tensor_sorted[i]->name) == 0)
			return pgi_error(err, PGI_ERR_CORRUPT, "Tensor names must be unique.",
							  "GGUF tensor \"%s\" appears more than once",
							  f->tensor_sorted[i]->name);
	return PGI_OK;
}

/* Parse and check the header */
static PgiStatus
parse_header(GgufFile *f, Reader *r, uint64_t *n_tensors, uint64_t *n_kv,
			 PgiError *err)
{
	if (r->len < 4 || memcmp(r->data, "GGUF", 4) != 0)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The file does not start with the bytes \"GGUF\".",
						  "not a GGUF file");
	r->pos = 4;
	if (!rd_u32(r, &f->version))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the header.",
						  "GGUF header is truncated");
	if (f->version == 0)
		return pgi_error(err, PGI_ERR_CORRUPT, "Versions start at 1.",
						  "GGUF version 0 is invalid");
	if ((f->version & 0xFFFF) == 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						  "The version field reads as a big-endian number; only little-endian files are supported.",
						  "big-endian GGUF files are not supported");
	if (f->version == 1 || f->version > 3)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						  "Supported GGUF versions are 2 and 3.",
						  "GGUF version %u is not supported", f->version);
	if (!rd_u64(r, n_tensors) || !rd_u64(r, n_kv))
		return pgi_error(err, PGI_ERR_CORRUPT, "The file ends inside the header.",
						  "GGUF header is truncated");
	if (*n_kv > GGUF_MAX_KV || *n_kv > rd_left(r) / GGUF_MIN_KV_SIZE)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The count is larger than the limit of 2^20 or than the file can hold.",
						  "GGUF metadata count %llu is invalid",
						  (unsigned long long) *n_kv);
	if (*n_tensors > GGUF_MAX_TENSORS)
		return pgi_error(err, PGI_ERR_CORRUPT,
						  "The count is larger than the limit of 2^20.",
						  "GGUF tensor count %llu is invalid",
						  (unsigned long long) *n_tensors);
	return PGI_OK;
}

/* Parse a GGUF file */
PgiStatus
gguf_open(const uint8_t *data, size_t len, GgufFile **out, PgiError *err)
{
	GgufFile   *f;
	Reader		r = {data, len, 0};
	Block		names = {NULL, 0, 0};
	Block		items = {NULL, 0, 0};
	size_t	   *kv_key_off = NULL;
	size_t	   *kv_items_off = NULL;
	size_t	   *tensor_name_off = NULL;
	uint64_t	n_tensors,
				n_kv;
	PgiStatus	st;

	*out = NULL;
	if (err)
		err->status = PGI_OK;
	if (data == NULL)
		len = 0;
	f = calloc(1, sizeof(GgufFile));
	if (f == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory opening GGUF file");
	f->data = data;
	f->len = len;

	st = parse_header(f, &r, &n_tensors, &n_kv, err);
	if (st != PGI_OK)
		goto fail;

	/* metadata: n_kv was checked against the bytes left */
	f->n_kv = (size_t) n_kv;
	f->kvs = calloc(f->n_kv ? f->n_kv : 1, sizeof(GgufKV));
	kv_key_off = malloc((f->n_kv ? f->n_kv : 1) * sizeof(size_t));
	kv_items_off = malloc((f->n_kv ? f->n_kv : 1) * sizeof(size_t));
	if (f->kvs == NULL || kv_key_off == NULL || kv_items_off == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading GGUF metadata");
		goto fail;
	}
	for (size_t i = 0; i < f->n_kv; i++)
	{
		st = parse_kv(&r, &f->kvs[i], &kv_key_off[i], &kv_items_off[i],
					  &names, &items, i, err);
		if (st != PGI_OK)
			goto fail;
	}

	/* tensor infos */
	if (n_tensors > rd_left(&r) / GGUF_MIN_TENSOR_SIZE)
	{
		st = pgi_error(err, PGI_ERR_CORRUPT,
						"The count is larger than the rest of the file can hold.",
						"GGUF tensor count %llu is invalid",
						(unsigned long long) n_tensors);
		goto fail;
	}
	f->n_tensors = (size_t) n_tensors;
	f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(GgufTensor));
	tensor_name_off = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(size_t));
	if (f->tensors == NULL || tensor_name_off == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading GGUF tensor infos");
		goto fail;
	}

	/* key pointers are needed now, for the alignment lookup */
	f->names = (char *) names.p;
	for (size_t i = 0; i < f->n_kv; i++)
		f->kvs[i].key = f->names + kv_key_off[i];
	st = build_kv_index(f, err);
	if (st != PGI_OK)
		goto fail;
	st = read_alignment(f, err);
	if (st != PGI_OK)
		goto fail;

	for (size_t i = 0; i < f->n_tensors; i++)
	{
		st = parse_tensor(&r, &f->tensors[i], &tensor_name_off[i], &names,
						  f->alignment, i, err);
		if (st != PGI_OK)
			goto fail;
	}
	/* the names block may have moved while tensor names were added */
	f->names = (char *) names.p;
	names.p = NULL;
	for (size_t i = 0; i < f->n_kv; i++)
		f->kvs[i].key = f->names + kv_key_off[i];
	for (size_t i = 0; i < f->n_tensors; i++)
		f->tensors[i].name = f->names + tensor_name_off[i];

	/* string-array element pointers */
	f->items = (const uint8_t **) items.p;
	items.p = NULL;
	if (f->items != NULL)
	{
		size_t		n_items = items.used / sizeof(size_t);

		for (size_t i = 0; i < n_items; i++)
		{
			size_t		off;

			memcpy(&off, &f->items[i], sizeof(size_t));
			f->items[i] = data + off;
		}
	}
	for (size_t i = 0; i < f->n_kv; i++)
		if (kv_items_off[i] != SIZE_MAX && f->kvs[i].n > 0)
			f->kvs[i].items = f->items + kv_items_off[i];

	/* data section */
	f->data_offset = ((uint64_t) r.pos + f->alignment - 1) & ~(f->alignment - 1);
	if (f->n_tensors > 0 && f->data_offset > (uint64_t) len)
	{
		st = pgi_error(err, PGI_ERR_CORRUPT,
						"The file ends before its tensor data section.",
						"GGUF tensor data is missing");
		goto fail;
	}
	st = build_tensor_index(f, err);
	if (st != PGI_OK)
		goto fail;
	st = check_extents(f, err);
	if (st != PGI_OK)
		goto fail;

	free(kv_key_off);
	free(kv_items_off);
	free(tensor_name_off);
	*out = f;
	return PGI_OK;

fail:
	/* until moved into f, the blocks own their memory */
	if (names.p != NULL)
		f->names = NULL;
	free(names.p);
	free(items.p);
	free(kv_key_off);
	free(kv_items_off);
	free(tensor_name_off);
	gguf_free(f);
	return st;
}

/* Release a GgufFile (the caller's buffer is untouched) */
void
gguf_free(GgufFile *f)
{
	if (f == NULL)
		return;
	free(f->kvs);
	free(f->kv_sorted);
	free(f->tensors);
	free(f->tensor_sorted);
	free(f->names);
	free(f->items);
	free(f);
}

/* File version */
uint32_t
gguf_version(const GgufFile *f)
{
	return f->version;
}

/* Data alignment */
uint64_t
gguf_alignment(const GgufFile *f)
{
	return f->alignment;
}

/* File offset of the tensor data section */
uint64_t
gguf_data_offset(const GgufFile *f)
{
	return f->data_offset;
}

/* Number of metadata pairs */
size_t
gguf_n_kv(const GgufFile *f)
{
	return f->n_kv;
}

/* Metadata pair i in file order */
const GgufKV *
gguf_kv(const GgufFile *f, size_t i)
{
	return i < f->n_kv ? &f->kvs[i] : NULL;
}

/* Find a metadata pair by key (binary search) */
const GgufKV *
gguf_find_kv(const GgufFile *f, const char *key)
{
	size_t		lo = 0,
				hi = f->n_kv;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(key, f->kv_sorted[mid]->key);

		if (c == 0)
			return f->kv_sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Number of tensors */
size_t
gguf_n_tensors(const GgufFile *f)
{
	return f->n_tensors;
}

/* Tensor i in file order */
const GgufTensor *
gguf_tensor(const GgufFile *f, size_t i)
{
	return i < f->n_tensors ? &f->tensors[i] : NULL;
}

/* Find a tensor by name (binary search) */
const GgufTensor *
gguf_find_tensor(const GgufFile *f, const char *name)
{
	size_t		lo = 0,
				hi = f->n_tensors;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(name, f->tensor_sorted[mid]->name);

		if (c == 0)
			return f->tensor_sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Find a scalar key or fail naming it */
static PgiStatus
find_scalar(const GgufFile *f, const char *key, const GgufKV **out,
			PgiError *err)
{
	const GgufKV *kv = gguf_find_kv(f, key);

	*out = kv;
	if (kv == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, "The model file lacks a required key.",
						  "GGUF key \"%s\" is missing", key);
	if (kv->type == GGUF_TYPE_ARRAY)
		return pgi_error(err, PGI_ERR_CORRUPT, "A scalar value was expected.",
						  "GGUF key \"%s\" is an array", key);
	return PGI_OK;
}

/* Report a value of the wrong type or out of range */
static PgiStatus
bad_value(const GgufKV *kv, const char *want, PgiError *err)
{
	char		detail[PGI_MSG_LEN];

	snprintf(detail, sizeof(detail), "A value of type %s was found where %s was expected.",
			 gguf_type_name(kv->type), want);
	return pgi_error(err, PGI_ERR_CORRUPT, detail,
					  "GGUF key \"%s\" has an invalid value", kv->key);
}

/* Get an integer key as uint32 */
PgiStatus
gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out, PgiError *err)
{
	uint64_t	v;
	PgiStatus	st = gguf_get_u64(f, key, &v, err);

	if (st != PGI_OK)
		return st;
	if (v > UINT32_MAX)
		return bad_value(gguf_find_kv(f, key), "an integer in the uint32 range", err);
	*out = (uint32_t) v;
	return PGI_OK;
}

/* Get an integer key as uint64 */
PgiStatus
gguf_get_u64(const GgufFile *f, const char *key, uint64_t *out, PgiError *err)
{
	const GgufKV *kv;
	PgiStatus	st = find_scalar(f, key, &kv, err);

	if (st != PGI_OK)
		return st;
	if (!is_int_type(kv->type) || (is_signed_type(kv->type) && kv->v.i < 0))
		return bad_value(kv, "a non-negative integer", err);
	*out = is_signed_type(kv->type) ? (uint64_t) kv->v.i : kv->v.u;
	return PGI_OK;
}

/* Get an integer key as int64 */
PgiStatus
gguf_get_i64(const GgufFile *f, const char *key, int64_t *out, PgiError *err)
{
	const GgufKV *kv;
	PgiStatus	st = find_scalar(f, key, &kv, err);

	if (st != PGI_OK)
		return st;
	if (!is_int_type(kv->type) ||
		(!is_signed_type(kv->type) && kv->v.u > (uint64_t) INT64_MAX))
		return bad_value(kv, "an integer in the int64 range", err);
	*out = is_signed_type(kv->type) ? kv->v.i : (int64_t) kv->v.u;
	return PGI_OK;
}

/* Get a float or integer key as float */
PgiStatus
gguf_get_f32(const GgufFile *f, const char *key, float *out, PgiError *err)
{
	const GgufKV *kv;
	PgiStatus	st = find_scalar(f, key, &kv, err);

	if (st != PGI_OK)
		return st;
	if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64)
	{
		float		v = (float) kv->v.f;

		if (isfinite(kv->v.f) && !isfinite(v))
			return bad_value(kv, "a number in the float range", err);
		*out = v;
	}
	else if (is_signed_type(kv->type))
		*out = (float) kv->v.i;
	else if (is_int_type(kv->type))
		*out = (float) kv->v.u;
	else
		return bad_value(kv, "a number", err);
	return PGI_OK;
}

/* Get a bool key */
PgiStatus
gguf_get_bool(const GgufFile *f, const char *key, bool *out, PgiError *err)
{
	const GgufKV *kv;
	PgiStatus	st = find_scalar(f, key, &kv, err);

	if (st != PGI_OK)
		return st;
	if (kv->type != GGUF_TYPE_BOOL)
		return bad_value(kv, "a bool", err);
	*out = kv->v.b;
	return PGI_OK;
}

/* Get a string key (not NUL-terminated) */
PgiStatus
gguf_get_str(const GgufFile *f, const char *key, const char **s, size_t *len,
			 PgiError *err)
{
	const GgufKV *kv;
	PgiStatus	st = find_scalar(f, key, &kv, err);

	if (st != PGI_OK)
		return st;
	if (kv->type != GGUF_TYPE_STRING)
		return bad_value(kv, "a string", err);
	*s = kv->str;
	*len = (size_t) kv->str_len;
	return PGI_OK;
}

/* Find an array key with elements of elem_type (GGUF_TYPE_COUNT: any) */
PgiStatus
gguf_get_arr(const GgufFile *f, const char *key, GgufType elem_type,
			 const GgufKV **out, PgiError *err)
{
	const GgufKV *kv = gguf_find_kv(f, key);

	*out = NULL;
	if (kv == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, "The model file lacks a required key.",
						  "GGUF key \"%s\" is missing", key);
	if (kv->type != GGUF_TYPE_ARRAY ||
		(elem_type != GGUF_TYPE_COUNT && kv->arr_type != elem_type))
	{
		char		detail[PGI_MSG_LEN];

		snprintf(detail, sizeof(detail), "An array of %s was expected, not %s%s.",
				 elem_type == GGUF_TYPE_COUNT ? "any type" : gguf_type_name(elem_type),
				 kv->type == GGUF_TYPE_ARRAY ? "an array of " : "a ",
				 gguf_type_name(kv->type == GGUF_TYPE_ARRAY ? kv->arr_type : kv->type));
		return pgi_error(err, PGI_ERR_CORRUPT, detail,
						  "GGUF key \"%s\" has an invalid value", key);
	}
	*out = kv;
	return PGI_OK;
}

/* String element i of a string array (not NUL-terminated) */
const char *
gguf_arr_str(const GgufKV *kv, uint64_t i, size_t *len)
{
	const uint8_t *p;

	if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING || i >= kv->n)
		return NULL;
	p = kv->items[i];
	*len = (size_t) le64(p);
	return (const char *) p + 8;
}

/* Integer element i of an integer array */
bool
gguf_arr_i64(const GgufKV *kv, uint64_t i, int64_t *out)
{
	GgufKV		tmp;
	size_t		es;

	if (kv->type != GGUF_TYPE_ARRAY || !is_int_type(kv->arr_type) || i >= kv->n)
		return false;
	es = scalar_size[kv->arr_type];
	decode_scalar(kv->arr_type, kv->raw + (size_t) i * es, &tmp);
	if (is_signed_type(kv->arr_type))
		*out = tmp.v.i;
	else if (tmp.v.u > (uint64_t) INT64_MAX)
		return false;
	else
		*out = (int64_t) tmp.v.u;
	return true;
}

/* Numeric element i of a float or integer array, as double */
bool
gguf_arr_f64(const GgufKV *kv, uint64_t i, double *out)
{
	GgufKV		tmp;
	GgufType	t = kv->arr_type;

	if (kv->type != GGUF_TYPE_ARRAY || i >= kv->n ||
		!(t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64 || is_int_type(t)))
		return false;
	decode_scalar(t, kv->raw + (size_t) i * scalar_size[t], &tmp);
	if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64)
		*out = tmp.v.f;
	else if (is_signed_type(t))
		*out = (double) tmp.v.i;
	else
		*out = (double) tmp.v.u;
	return true;
}
