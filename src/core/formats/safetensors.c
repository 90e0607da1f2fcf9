/*-------------------------------------------------------------------------
 *
 * safetensors.c
 *	  Reader for safetensors files and model.safetensors.index.json.
 *
 * The header is parsed with json.c and kept alive: tensor names and
 * metadata strings point into its DOM.  Each entry is checked on its own
 * (dtype, shape, offsets against the shape and the buffer), then the
 * entries are sorted by offset to check that they tile the data buffer.
 *
 * src/core/formats/safetensors.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct SafetensorsFile
{
	const uint8_t *data;
	size_t		len;
	uint64_t	data_offset;	/* 8 + header length */
	JsonDoc    *header;
	const JsonValue *metadata;
	size_t		n_tensors;
	SafetensorsTensor *tensors;
	const SafetensorsTensor **sorted;	/* by name */
};

struct SafetensorsIndex
{
	JsonDoc    *doc;
	const JsonValue *weight_map;
	bool		has_total;
	uint64_t	total_size;
	size_t		n_entries;
	SafetensorsIndexEntry *entries;
	size_t		n_files;
	const char **files;
};

static const struct
{
	const char *name;
	size_t		size;
}			dtypes[ST_DTYPE_COUNT] = {
	[ST_BOOL] = {"BOOL", 1},
	[ST_U8] = {"U8", 1},
	[ST_I8] = {"I8", 1},
	[ST_F8_E5M2] = {"F8_E5M2", 1},
	[ST_F8_E4M3] = {"F8_E4M3", 1},
	[ST_F8_E8M0] = {"F8_E8M0", 1},
	[ST_I16] = {"I16", 2},
	[ST_U16] = {"U16", 2},
	[ST_F16] = {"F16", 2},
	[ST_BF16] = {"BF16", 2},
	[ST_I32] = {"I32", 4},
	[ST_U32] = {"U32", 4},
	[ST_F32] = {"F32", 4},
	[ST_F64] = {"F64", 8},
	[ST_I64] = {"I64", 8},
	[ST_U64] = {"U64", 8},
};


/* Name a dtype */
const char *
safetensors_dtype_name(SafetensorsDtype d)
{
	if ((unsigned) d >= ST_DTYPE_COUNT)
		return "unknown";
	return dtypes[d].name;
}

/* Bytes per element of a dtype */
size_t
safetensors_dtype_size(SafetensorsDtype d)
{
	if ((unsigned) d >= ST_DTYPE_COUNT)
		return 0;
	return dtypes[d].size;
}

/* Read a JSON integer >= 0 */
static bool
get_u64(const JsonValue *v, uint64_t *out)
{
	int64_t		i;

	if (!json_int(v, &i) || i < 0)
		return false;
	*out = (uint64_t) i;
	return true;
}

/* Check one header entry and fill t */
static PgiStatus
parse_entry(const JsonMember *m, uint64_t data_len, SafetensorsTensor *t,
			PgiError *err)
{
	const JsonValue *v = &m->value;
	const JsonValue *dt = json_get(v, "dtype");
	const JsonValue *shape = json_get(v, "shape");
	const JsonValue *offs = json_get(v, "data_offsets");
	const char *dname;
	size_t		dlen;
	uint64_t	begin,
				end;
	int			d;

	t->name = m->key;
	t->name_len = m->key_len;
	if (strlen(m->key) != m->key_len)
		return pgi_error(err, PGI_ERR_CORRUPT, "Tensor names must not contain NUL characters.",
						"safetensors tensor name contains a NUL character");
	if (json_type(v) != JSON_OBJECT)
		return pgi_error(err, PGI_ERR_CORRUPT,
						"Each tensor entry must be an object with dtype, shape and data_offsets.",
						"safetensors tensor \"%s\" has an invalid header entry", t->name);

	dname = json_str(dt, &dlen);
	if (dname == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, "The \"dtype\" field must be a string.",
						"safetensors tensor \"%s\" has no valid dtype", t->name);
	for (d = 0; d < ST_DTYPE_COUNT; d++)
		if (strlen(dtypes[d].name) == dlen && memcmp(dtypes[d].name, dname, dlen) == 0)
			break;
	if (d == ST_DTYPE_COUNT)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						"Known dtypes are BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64 and U64.",
						"safetensors tensor \"%s\" has unsupported dtype \"%.32s\"",
						t->name, dname);
	t->dtype = (SafetensorsDtype) d;

	if (shape == NULL || json_type(shape) != JSON_ARRAY)
		return pgi_error(err, PGI_ERR_CORRUPT, "The \"shape\" field must be an array.",
						"safetensors tensor \"%s\" has no valid shape", t->name);
	if (json_size(shape) > ST_MAX_DIMS)
		return pgi_error(err, PGI_ERR_CORRUPT, "A tensor has at most 8 dimensions.",
						"safetensors tensor \"%s\" has %zu dimensions", t->name,
						json_size(shape));
	t->n_dims = (int) json_size(shape);
	t->n_elements = 1;
	for (int i = 0; i < t->n_dims; i++)
	{
		if (!get_u64(json_at(shape, (size_t) i), &t->shape[i]))
			return pgi_error(err, PGI_ERR_CORRUPT,
							"Dimensions must be non-negative integers.",
							"safetensors tensor \"%s\" has an invalid dimension %d",
							t->name, i);
		if (__builtin_mul_overflow(t->n_elements, t->shape[i], &t->n_elements))
			return pgi_error(err, PGI_ERR_CORRUPT,
							"The product of the dimensions overflows 64 bits.",
							"safetensors tensor \"%s\" has too many elements", t->name);
	}
	if (__builtin_mul_overflow(t->n_elements, (uint64_t) dtypes[d].size, &t->n_bytes))
		return pgi_error(err, PGI_ERR_CORRUPT, "The tensor's byte size overflows 64 bits.",
						"safetensors tensor \"%s\" is too large", t->name);

	if (offs == NULL || json_type(offs) != JSON_ARRAY || json_size(offs) != 2 ||
		!get_u64(json_at(offs, 0), &begin) || !get_u64(json_at(offs, 1), &end))
		return pgi_error(err, PGI_ERR_CORRUPT,
						"The \"data_offsets\" field must be two non-negative integers.",
						"safetensors tensor \"%s\" has invalid data_offsets", t->name);
	if (begin > end || end > data_len)
		return pgi_error(err, PGI_ERR_CORRUPT,
						"Data offsets must satisfy begin <= end <= the data buffer's length.",
						"safetensors tensor \"%s\" has data_offsets [%llu, %llu] outside the %llu-byte data buffer",
						t->name, (unsigned long long) begin, (unsigned long long) end,
						(unsigned long long) data_len);
	if (end - begin != t->n_bytes)
	{
		char		detail[PGI_MSG_LEN];

		snprintf(detail, sizeof(detail),
				 "The shape and dtype need %llu bytes but the offsets span %llu.",
				 (unsigned long long) t->n_bytes, (unsigned long long) (end - begin));
		return pgi_error(err, PGI_ERR_CORRUPT, detail,
						"safetensors tensor \"%s\" has data_offsets that do not match its shape",
						t->name);
	}
	t->offset = begin;			/* made absolute by the caller */
	return PGI_OK;
}

/* Order tensors by data offset, then size */
static int
cmp_offset(const void *a, const void *b)
{
	const SafetensorsTensor *x = *(const SafetensorsTensor *const *) a;
	const SafetensorsTensor *y = *(const SafetensorsTensor *const *) b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->n_bytes != y->n_bytes)
		return x->n_bytes < y->n_bytes ? -1 : 1;
	return 0;
}

/* Order tensors by name */
static int
cmp_name(const void *a, const void *b)
{
	return strcmp((*(const SafetensorsTensor *const *) a)->name,
				  (*(const SafetensorsTensor *const *) b)->name);
}

/* Check that the sorted ranges tile [0, data_len) exactly */
static PgiStatus
check_tiling(SafetensorsFile *f, uint64_t data_len, PgiError *err)
{
	const SafetensorsTensor **by_off;
	uint64_t	pos = 0;
	PgiStatus	st = PGI_OK;

	by_off = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(*by_off));
	if (by_off == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory checking safetensors file");
	for (size_t i = 0; i < f->n_tensors; i++)
		by_off[i] = &f->tensors[i];
	qsort(by_off, f->n_tensors, sizeof(*by_off), cmp_offset);
	for (size_t i = 0; i < f->n_tensors && st == PGI_OK; i++)
	{
		const SafetensorsTensor *t = by_off[i];

		if (t->offset < pos)
			st = pgi_error(err, PGI_ERR_CORRUPT, "Two tensors' data must not overlap.",
						  "safetensors tensor \"%s\" overlaps tensor \"%s\"",
						  t->name, by_off[i - 1]->name);
		else if (t->offset > pos)
			st = pgi_error(err, PGI_ERR_CORRUPT,
						  "The tensors must cover the data buffer without gaps.",
						  "safetensors data has a gap of %llu bytes before tensor \"%s\"",
						  (unsigned long long) (t->offset - pos), t->name);
		pos = t->offset + t->n_bytes;
	}
	if (st == PGI_OK && pos != data_len)
		st = pgi_error(err, PGI_ERR_CORRUPT,
					  "The tensors must cover the data buffer to its end.",
					  "safetensors data has %llu bytes after the last tensor",
					  (unsigned long long) (data_len - pos));
	free(by_off);
	return st;
}

/* Check __metadata__: an object of strings */
static PgiStatus
check_metadata(const JsonValue *md, PgiError *err)
{
	if (json_type(md) != JSON_OBJECT)
		return pgi_error(err, PGI_ERR_CORRUPT, "The __metadata__ entry must be an object of strings.",
						"safetensors __metadata__ is not an object");
	for (size_t i = 0; i < json_size(md); i++)
	{
		const JsonMember *m = json_member(md, i);

		if (json_type(&m->value) != JSON_STRING)
			return pgi_error(err, PGI_ERR_CORRUPT,
							"The __metadata__ entry must be an object of strings.",
							"safetensors __metadata__ key \"%.64s\" is not a string", m->key);
	}
	return PGI_OK;
}

/* Parse a safetensors file */
PgiStatus
safetensors_open(const uint8_t *data, size_t len, SafetensorsFile **out,
				 PgiError *err)
{
	SafetensorsFile *f;
	uint64_t	hlen = 0;
	uint64_t	data_len;
	const JsonValue *root;
	PgiStatus	st;
	size_t		k;

	*out = NULL;
	if (err)
		err->status = PGI_OK;
	if (data == NULL || len < 8)
		return pgi_error(err, PGI_ERR_CORRUPT, "A safetensors file starts with an 8-byte header length.",
						"safetensors file is truncated");
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | data[i];
	if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > (uint64_t) len - 8)
		return pgi_error(err, PGI_ERR_CORRUPT,
						"The header must be a JSON object that fits in the file, at most 100,000,000 bytes.",
						"safetensors header length %llu is invalid",
						(unsigned long long) hlen);
	if (data[8] != '{')
		return pgi_error(err, PGI_ERR_CORRUPT, "The header must be a JSON object.",
						"safetensors header does not start with '{'");

	f = calloc(1, sizeof(SafetensorsFile));
	if (f == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory opening safetensors file");
	f->data = data;
	f->len = len;
	f->data_offset = 8 + hlen;
	data_len = (uint64_t) len - f->data_offset;

	st = json_parse((const char *) data + 8, (size_t) hlen, &f->header, err);
	if (st != PGI_OK)
	{
		/* a bad header is a bad file: keep the JSON message, say where */
		if (st != PGI_ERR_NOMEM)
			st = PGI_ERR_CORRUPT;
		if (err)
		{
			char		msg[PGI_MSG_LEN];

			snprintf(msg, sizeof(msg), "safetensors header: %.200s", err->msg);
			memcpy(err->msg, msg, sizeof(msg));
			err->status = st;
		}
		safetensors_free(f);
		return st;
	}
	root = json_root(f->header);

	f->metadata = json_get(root, "__metadata__");
	if (f->metadata != NULL)
	{
		st = check_metadata(f->metadata, err);
		if (st != PGI_OK)
			goto fail;
	}
	f->n_tensors = json_size(root) - (f->metadata ? 1 : 0);
	f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(SafetensorsTensor));
	f->sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof(*f->sorted));
	if (f->tensors == NULL || f->sorted == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory opening safetensors file");
		goto fail;
	}
	k = 0;
	for (size_t i = 0; i < json_size(root); i++)
	{
		const JsonMember *m = json_member(root, i);

		if (strcmp(m->key, "__metadata__") == 0 && m->key_len == 12)
			continue;
		st = parse_entry(m, data_len, &f->tensors[k], err);
		if (st != PGI_OK)
			goto fail;
		k++;
	}
	st = check_tiling(f, data_len, err);
	if (st != PGI_OK)
		goto fail;
	for (size_t i = 0; i < f->n_tensors; i++)
	{
		f->tensors[i].offset += f->data_offset;
		f->tensors[i].data = data + (size_t) f->tensors[i].offset;
		f->sorted[i] = &f->tensors[i];
	}
	qsort(f->sorted, f->n_tensors, sizeof(*f->sorted), cmp_name);
	*out = f;
	return PGI_OK;

fail:
	safetensors_free(f);
	return st;
}

/* Release a SafetensorsFile */
void
safetensors_free(SafetensorsFile *f)
{
	if (f == NULL)
		return;
	json_free(f->header);
	free(f->tensors);
	free(f->sorted);
	free(f);
}

/* Number of tensors */
size_t
safetensors_n_tensors(const SafetensorsFile *f)
{
	return f->n_tensors;
}

/* Tensor i in header order */
const SafetensorsTensor *
safetensors_tensor(const SafetensorsFile *f, size_t i)
{
	return i < f->n_tensors ? &f->tensors[i] : NULL;
}

/* Find a tensor by name */
const SafetensorsTensor *
safetensors_find(const SafetensorsFile *f, const char *name)
{
	size_t		lo = 0,
				hi = f->n_tensors;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(name, f->sorted[mid]->name);

		if (c == 0)
			return f->sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* File offset of the data buffer */
uint64_t
safetensors_data_offset(const SafetensorsFile *f)
{
	return f->data_offset;
}

/* The __metadata__ object */
const JsonValue *
safetensors_metadata(const SafetensorsFile *f)
{
	return f->metadata;
}

/* One __metadata__ string, NULL if absent */
const char *
safetensors_meta_str(const SafetensorsFile *f, const char *key)
{
	return json_str(json_get(f->metadata, key), NULL);
}

/* Accept only float dtypes the loader can use */
PgiStatus
safetensors_check_float(const SafetensorsTensor *t, PgiError *err)
{
	if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16)
		return PGI_OK;
	return pgi_error(err, PGI_ERR_UNSUPPORTED, "Supported weight dtypes are F32, F16 and BF16.",
					"safetensors tensor \"%s\" has unsupported dtype %s",
					t->name, safetensors_dtype_name(t->dtype));
}

/* Is name a plain file name? */
static bool
plain_file_name(const char *s, size_t len)
{
	if (len == 0 || len > 255 || strlen(s) != len)
		return false;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strchr(s, '/') == NULL && strchr(s, '\\') == NULL;
}

/* Order C strings */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Parse model.safetensors.index.json */
PgiStatus
safetensors_index_parse(const char *data, size_t len, SafetensorsIndex **out,
						PgiError *err)
{
	SafetensorsIndex *ix;
	const JsonValue *root;
	const JsonValue *md;
	const char **names;
	PgiStatus	st;

	*out = NULL;
	if (err)
		err->status = PGI_OK;
	ix = calloc(1, sizeof(SafetensorsIndex));
	if (ix == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading safetensors index");
	st = json_parse(data, len, &ix->doc, err);
	if (st != PGI_OK)
		goto fail;
	root = json_root(ix->doc);
	ix->weight_map = json_get(root, "weight_map");
	if (json_type(root) != JSON_OBJECT || ix->weight_map == NULL ||
		json_type(ix->weight_map) != JSON_OBJECT)
	{
		st = pgi_error(err, PGI_ERR_CORRUPT, "The index must be an object with a \"weight_map\" object.",
					  "safetensors index has no weight_map");
		goto fail;
	}
	md = json_get(root, "metadata");
	if (md != NULL && json_type(md) != JSON_NULL)
	{
		const JsonValue *ts = json_get(md, "total_size");

		if (json_type(md) != JSON_OBJECT)
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, "The \"metadata\" entry must be an object.",
						  "safetensors index has invalid metadata");
			goto fail;
		}
		if (ts != NULL)
		{
			if (!get_u64(ts, &ix->total_size))
			{
				st = pgi_error(err, PGI_ERR_CORRUPT,
							  "The total_size must be a non-negative integer.",
							  "safetensors index has an invalid total_size");
				goto fail;
			}
			ix->has_total = true;
		}
	}

	ix->n_entries = json_size(ix->weight_map);
	ix->entries = calloc(ix->n_entries ? ix->n_entries : 1, sizeof(SafetensorsIndexEntry));
	names = malloc((ix->n_entries ? ix->n_entries : 1) * sizeof(char *));
	ix->files = (const char **) names;
	if (ix->entries == NULL || names == NULL)
	{
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading safetensors index");
		goto fail;
	}
	for (size_t i = 0; i < ix->n_entries; i++)
	{
		const JsonMember *m = json_member(ix->weight_map, i);
		size_t		flen;
		const char *file = json_str(&m->value, &flen);

		if (strlen(m->key) != m->key_len)
		{
			st = pgi_error(err, PGI_ERR_CORRUPT, "Tensor names must not contain NUL characters.",
						  "safetensors index has a tensor name with a NUL character");
			goto fail;
		}
		if (file == NULL || !plain_file_name(file, flen))
		{
			st = pgi_error(err, PGI_ERR_CORRUPT,
						  "Shard names must be plain file names: no '/', '\\\\' or NUL, not \".\" or \"..\", at most 255 bytes.",
						  "safetensors index maps tensor \"%s\" to an invalid shard name",
						  m->key);
			goto fail;
		}
		ix->entries[i].tensor = m->key;
		ix->entries[i].file = file;
		names[i] = file;
	}

	/* distinct shard names, sorted */
	qsort(names, ix->n_entries, sizeof(char *), cmp_str);
	ix->n_files = 0;
	for (size_t i = 0; i < ix->n_entries; i++)
		if (ix->n_files == 0 || strcmp(names[ix->n_files - 1], names[i]) != 0)
			names[ix->n_files++] = names[i];
	for (size_t i = 0; i < ix->n_entries; i++)
	{
		size_t		lo = 0,
					hi = ix->n_files;

		while (lo < hi)
		{
			size_t		mid = lo + (hi - lo) / 2;
			int			c = strcmp(ix->entries[i].file, names[mid]);

			if (c == 0)
			{
				ix->entries[i].file_index = mid;
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	*out = ix;
	return PGI_OK;

fail:
	safetensors_index_free(ix);
	return st;
}

/* Release an index */
void
safetensors_index_free(SafetensorsIndex *ix)
{
	if (ix == NULL)
		return;
	json_free(ix->doc);
	free(ix->entries);
	free(ix->files);
	free(ix);
}

/* Number of weight_map entries */
size_t
safetensors_index_n_entries(const SafetensorsIndex *ix)
{
	return ix->n_entries;
}

/* Entry i in document order */
const SafetensorsIndexEntry *
safetensors_index_entry(const SafetensorsIndex *ix, size_t i)
{
	return i < ix->n_entries ? &ix->entries[i] : NULL;
}

/* Number of distinct shard files */
size_t
safetensors_index_n_files(const SafetensorsIndex *ix)
{
	return ix->n_files;
}

/* Shard file i, sorted by name */
const char *
safetensors_index_file(const SafetensorsIndex *ix, size_t i)
{
	return i < ix->n_files ? ix->files[i] : NULL;
}

/* Shard holding a tensor */
const char *
safetensors_index_lookup(const SafetensorsIndex *ix, const char *tensor)
{
	return json_str(json_get(ix->weight_map, tensor), NULL);
}

/* metadata.total_size */
bool
safetensors_index_total_size(const SafetensorsIndex *ix, uint64_t *out)
{
	if (!ix->has_total)
		return false;
	*out = ix->total_size;
	return true;
}
