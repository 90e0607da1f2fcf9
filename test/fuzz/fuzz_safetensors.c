/*
 * fuzz_safetensors.c
 *	  libFuzzer target for the safetensors reader and the shard index
 *	  parser (src/core/formats/safetensors.c).
 *
 * Any byte string is parsed as a safetensors file and, separately, as a
 * model.safetensors.index.json.  An accepted file must keep the reader's
 * promises: every tensor found again by name, its data inside the input
 * (first and last bytes read so ASan sees any overrun), its size equal to
 * elements times dtype size, the tensors tiling the data buffer, and
 * metadata values strings.  An accepted index must name only plain shard
 * files and find every tensor it lists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/safetensors.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Check an opened safetensors file */
static void
walk_file(const SafetensorsFile *f, const uint8_t *data, size_t size)
{
	uint64_t	total = 0;
	const JsonValue *md = safetensors_metadata(f);

	for (size_t i = 0; i < safetensors_n_tensors(f); i++)
	{
		const SafetensorsTensor *t = safetensors_tensor(f, i);
		PgiError	err;

		if (safetensors_find(f, t->name) != t || strlen(t->name) != t->name_len ||
			t->data != data + t->offset || t->offset < safetensors_data_offset(f) ||
			t->offset + t->n_bytes > size || t->n_dims < 0 || t->n_dims > ST_MAX_DIMS ||
			t->n_bytes != t->n_elements * safetensors_dtype_size(t->dtype))
			abort();
		if (t->n_bytes > 0)
		{
			sink ^= t->data[0];
			sink ^= t->data[t->n_bytes - 1];
		}
		sink ^= (uint8_t) safetensors_check_float(t, &err);
		total += t->n_bytes;
	}
	if (total != size - safetensors_data_offset(f))
		abort();
	for (size_t i = 0; i < json_size(md); i++)
	{
		const JsonMember *m = json_member(md, i);

		if (json_str(&m->value, NULL) == NULL ||
			safetensors_meta_str(f, m->key) == NULL)
			abort();
	}
}

/* Check an opened index */
static void
walk_index(const SafetensorsIndex *ix)
{
	for (size_t i = 0; i < safetensors_index_n_entries(ix); i++)
	{
		const SafetensorsIndexEntry *e = safetensors_index_entry(ix, i);
		const char *file = safetensors_index_file(ix, e->file_index);

		if (file == NULL || strcmp(file, e->file) != 0 || strchr(file, '/') ||
			strcmp(file, "..") == 0 ||
			strcmp(safetensors_index_lookup(ix, e->tensor), e->file) != 0)
			abort();
	}
	for (size_t i = 1; i < safetensors_index_n_files(ix); i++)
		if (strcmp(safetensors_index_file(ix, i - 1), safetensors_index_file(ix, i)) >= 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SafetensorsFile *f = NULL;
	SafetensorsIndex *ix = NULL;
	PgiError	err;

	memset(&err, 0, sizeof(err));
	if (safetensors_open(data, size, &f, &err) == PGI_OK)
	{
		walk_file(f, data, size);
		safetensors_free(f);
	}
	else if (f != NULL || err.status == PGI_OK || err.msg[0] == '\0')
		abort();

	memset(&err, 0, sizeof(err));
	if (safetensors_index_parse((const char *) data, size, &ix, &err) == PGI_OK)
	{
		walk_index(ix);
		safetensors_index_free(ix);
	}
	else if (ix != NULL || err.status == PGI_OK || err.msg[0] == '\0')
		abort();
	return 0;
}
