/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registration: what a model source is, validated before it is registered.
 *
 * pg_infer._inspect_model(source) is the only code that opens model files
 * named by SQL.  It resolves source inside pg_infer.model_dir
 * (modelfiles.c, which also computes the sha256); validates it completely
 * (src/core/formats/model_info.c parses every header, offset and size); and
 * returns the facts shown by pg_infer.models with the sha256 of the
 * content, which binds a model name to that content: for a GGUF file the
 * file's sha256; for a directory, the sha256 of each file's name (NUL
 * terminated) and bytes in a fixed order (config.json, the weights as the
 * index lists them, then the tokenizer files).  The registry logic
 * itself (load_model, drop_model) is SQL in the install script.
 *
 * src/pg/models/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/formats/json.h"
#include "core/formats/model_info.h"
#include "pg/pgi_error.h"
#include "pg/models/modelfiles.h"
#include "pg/models/models.h"

/* Inspect a Hugging Face model directory */
static void
InspectHf(const char *dir, ModelInfo *info, char **sha, int64 *bytes)
{
	MappedFile	cfg = MapFile(FileInDir(dir, "config.json", false));
	MappedFile *weights;
	char	  **names;
	int			nweights;
	int			hasTokenizer;
	PgiError	err = {0};
	const uint8 **wdata;
	size_t	   *wlen;

	*sha = HashHfDir(dir, bytes, &hasTokenizer);
	nweights = MapHfWeights(dir, &weights, &names);
	wdata = palloc(sizeof(uint8 *) * Max(nweights, 1));
	wlen = palloc(sizeof(size_t) * Max(nweights, 1));
	for (int i = 0; i < nweights; i++)
	{
		wdata[i] = weights[i].data;
		wlen[i] = weights[i].len;
	}
	if (model_info_hf((const char *) cfg.data, cfg.len, wdata, wlen, nweights,
					  hasTokenizer, info, &err) != PGI_OK)
		PgiReport(&err);
	for (int i = 0; i < nweights; i++)
		UnmapFile(&weights[i]);
	UnmapFile(&cfg);
}

/*
 * A TF.js model directory (the default model, USE Lite): model.json, the
 * weight shards it lists, vocab.json; every file is checked (use_load.h).
 */
static void
InspectTfjs(const char *dir, ModelInfo *info, char **sha, int64 *bytes)
{
	MappedFile	mj;
	PgiError	err = {0};
	JsonDoc    *doc;
	const JsonValue *groups;

	*sha = HashTfjsDir(dir, bytes);
	mj = MapFile(FileInDir(dir, "model.json", false));

	memset(info, 0, sizeof(*info));
	strcpy(info->format, "tfjs");
	strcpy(info->architecture, "use-lite");
	strcpy(info->task, "embedding");
	strcpy(info->dtype, "F32");
	ModelDescribeTfjs(dir, &info->dims, &info->max_tokens, &info->vocab_size);
	/* parameters: the float32 tensors of the manifest */
	if (json_parse((const char *) mj.data, mj.len, &doc, &err) != PGI_OK)
		PgiReport(&err);
	groups = json_get(json_root(doc), "weightsManifest");
	for (size_t g = 0; groups && g < json_size(groups); g++)
	{
		const JsonValue *ws = json_get(json_at(groups, g), "weights");

		for (size_t i = 0; ws && i < json_size(ws); i++)
		{
			const JsonValue *w = json_at(ws, i);
			const JsonValue *dt = json_get(w, "dtype");
			const JsonValue *shape = json_get(w, "shape");
			size_t		l;
			const char *d = dt ? json_str(dt, &l) : NULL;
			int64		count = 1;

			if (d == NULL || strcmp(d, "float32") != 0 || shape == NULL)
				continue;
			for (size_t k = 0; k < json_size(shape); k++)
			{
				int64_t		e;

				if (json_int(json_at(shape, k), &e) && e >= 0 && e < ((int64_t) 1 << 31))
					count = count > ((int64) 1 << 40) / Max(e, 1) ? ((int64) 1 << 40) : count * e;
			}
			info->parameters += count;
		}
	}
	json_free(doc);
	UnmapFile(&mj);
}

/* Inspect a GGUF file */
static void
InspectGguf(const char *path, MappedFile *mf, ModelInfo *info, char **sha)
{
	PgiError	err = {0};

	if (model_info_gguf(mf->data, mf->len, info, &err) != PGI_OK)
		PgiReport(&err);
	*sha = HashWhole(path, mf);
}

/* Text datum or NULL for unknown (-1) integers */
#define INT_OR_NULL(v, i) do { if ((v) >= 0) values[i] = Int64GetDatum(v); else nulls[i] = true; } while (0)

/* What pgi_inspect_model reads from the files */
typedef struct Inspection
{
	const char *source;
	char	   *path;
	ModelInfo	info;
	char	   *sha;
	int64		bytes;
} Inspection;

/* Inspect and validate a model source (under WithMappedFiles) */
static void
InspectSource(void *arg)
{
	Inspection *in = arg;
	struct stat st;

	if (stat(in->path, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat model source \"%s\": %m", in->path)));
	if (S_ISDIR(st.st_mode) && IsTfjsDir(in->path))
		InspectTfjs(in->path, &in->info, &in->sha, &in->bytes);
	else if (S_ISDIR(st.st_mode))
		InspectHf(in->path, &in->info, &in->sha, &in->bytes);
	else
	{
		MappedFile	mf = MapFile(in->path);

		if (mf.len < 4 || memcmp(mf.data, "GGUF", 4) != 0)
		{
			UnmapFile(&mf);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model source \"%s\" is not a GGUF file or a model directory", in->source)));
		}
		InspectGguf(in->path, &mf, &in->info, &in->sha);
		in->bytes = mf.len;
		UnmapFile(&mf);
	}
	/* architectures pg_infer runs are checked tensor by tensor */
	if (strcmp(in->info.architecture, "bert") == 0 || strcmp(in->info.architecture, "clip") == 0 ||
		strcmp(in->info.architecture, "clip_vision_model") == 0)
		ModelValidate(in->path);
}

PG_FUNCTION_INFO_V1(pgi_inspect_model);
/* pg_infer._inspect_model(source): see the file header */
Datum
pgi_inspect_model(PG_FUNCTION_ARGS)
{
	Inspection	in = {0};
	TupleDesc	tupdesc;
	Datum		values[11];
	bool		nulls[11] = {false};

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read model files"),
				 errhint("Use load_model(), which a superuser may grant.")));

	in.source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	in.path = ResolveSource(in.source);
	WithMappedFiles(in.source, InspectSource, &in);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(in.path);
	values[1] = CStringGetTextDatum(in.info.format);
	values[2] = CStringGetTextDatum(in.info.architecture);
	values[3] = CStringGetTextDatum(in.info.task);
	values[4] = Int64GetDatum(in.info.parameters);
	INT_OR_NULL(in.info.dims, 5);
	INT_OR_NULL(in.info.max_tokens, 6);
	INT_OR_NULL(in.info.vocab_size, 7);
	values[8] = CStringGetTextDatum(in.info.dtype);
	values[9] = Int64GetDatum(in.bytes);
	values[10] = CStringGetTextDatum(in.sha);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
