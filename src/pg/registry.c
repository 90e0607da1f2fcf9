/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Model files: where they may come from, what they are, their sha256.
 *
 * pg_infer._inspect_model(source) is the only code that opens model files
 * named by SQL.  It resolves source inside pg_infer.model_dir (a superuser
 * setting) with realpath(), so "..", absolute paths elsewhere and symlinks
 * leading out of the directory are refused; validates the file completely
 * (src/core/model_info.c parses every header, offset and size); and
 * returns the facts shown by pg_infer.models with the sha256 of the
 * content, which binds a model name to that content: for a GGUF file the
 * file's sha256; for a directory, the sha256 of each file's name (NUL
 * terminated) and bytes in a fixed order (config.json, the weights as the
 * index lists them, then the tokenizer files).  The registry logic
 * itself (load_model, drop_model) is SQL in the install script.
 *
 * src/pg/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "../core/model_info.h"
#include "../core/json.h"
#include "../core/safetensors.h"
#include "../core/use_load.h"
#include "pgi_error.h"
#include "models.h"
#include "registry.h"

char	   *pgi_model_dir = NULL;

/* Register the GUCs (called from _PG_init) */
void
RegistryInit(void)
{
	DefineCustomStringVariable("pg_infer.model_dir",
							   "Directory holding the model files load_model() may read",
							   "Model sources are resolved inside it; paths leading out are refused.",
							   &pgi_model_dir, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

/* Map path (already confined) read-only; an empty file maps to len 0 */
/* Unmap a tracked mapping when its memory context goes (an ERROR) */
static void
MapTrackerRelease(void *arg)
{
	MapTracker *t = (MapTracker *) arg;

	if (t->data)
		munmap((void *) t->data, t->len);
	t->data = NULL;
}

MappedFile
MapFile(const char *path)
{
	MappedFile	mf = {NULL, 0, NULL};
	struct stat st;
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open model file \"%s\": %m", path)));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model source \"%s\" is not a regular file", path)));
	}
	mf.len = (size_t) st.st_size;
	if (mf.len > 0)
	{
		void	   *p = mmap(NULL, mf.len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED)
		{
			close(fd);
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not map model file \"%s\": %m", path)));
		}
		mf.data = p;
	}
	close(fd);
	if (mf.data)
	{
		/* unmapped with the current memory context unless kept or unmapped first */
		MapTracker *t = palloc(sizeof(MapTracker));

		t->data = mf.data;
		t->len = mf.len;
		t->cb.func = MapTrackerRelease;
		t->cb.arg = t;
		MemoryContextRegisterResetCallback(CurrentMemoryContext, &t->cb);
		mf.tracker = t;
	}
	return mf;
}

/* Unmap a file mapped by MapFile */
void
UnmapFile(MappedFile *mf)
{
	if (mf->tracker)
		mf->tracker->data = NULL;
	if (mf->data)
		munmap((void *) mf->data, mf->len);
	mf->data = NULL;
	mf->tracker = NULL;
}

/* Take over a mapping: it is no longer unmapped with its memory context */
void
KeepMapping(MappedFile *mf)
{
	if (mf->tracker)
		mf->tracker->data = NULL;
	mf->tracker = NULL;
}

/*
 * Resolve source inside pg_infer.model_dir; ERROR when unset, missing or
 * outside.  Returns a palloc'd canonical path.
 */
char *
ResolveSource(const char *source)
{
	char		base[PATH_MAX];
	char		resolved[PATH_MAX];
	char	   *candidate;
	size_t		blen;

	if (pgi_model_dir == NULL || pgi_model_dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_infer.model_dir is not set"),
				 errhint("A superuser sets it to the directory holding the model files.")));
	if (realpath(pgi_model_dir, base) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve pg_infer.model_dir \"%s\": %m", pgi_model_dir)));
	if (source[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model source must not be empty")));
	candidate = source[0] == '/' ? pstrdup(source) : psprintf("%s/%s", base, source);
	if (realpath(candidate, resolved) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not find model source \"%s\": %m", source),
				 errdetail("Sources are resolved inside pg_infer.model_dir (\"%s\").", base)));
	blen = strlen(base);
	if (strncmp(resolved, base, blen) != 0 || (resolved[blen] != '/' && resolved[blen] != '\0') ||
		resolved[blen] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model source \"%s\" is outside pg_infer.model_dir", source),
				 errdetail("It resolves to \"%s\"; only files below \"%s\" may be read.", resolved, base)));
	return pstrdup(resolved);
}

/* Add bytes to a running sha256 in 16 MB steps, checking for cancel between */
static bool
HashBytes(pg_cryptohash_ctx *ctx, const uint8 *data, size_t len)
{
	const size_t step = (size_t) 16 << 20;

	for (size_t off = 0; off < len; off += step)
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_cryptohash_update(ctx, data + off, Min(step, len - off)) < 0)
			return false;
	}
	return true;
}

/* Add a file (name and bytes) to the running sha256 */
static void
HashFile(pg_cryptohash_ctx *ctx, const char *name, const MappedFile *mf)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) name, strlen(name) + 1) < 0 ||
		!HashBytes(ctx, mf->data, mf->len))
		elog(ERROR, "could not compute sha256 of model file \"%s\"", name);
}

/* Hex of the final digest */
static char *
HashHex(pg_cryptohash_ctx *ctx)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_STRING_LENGTH);

	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute sha256 of model");
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return hex;
}

/* Path of file name in directory dir, confined to it (symlinks resolved) */
char *
FileInDir(const char *dir, const char *name, bool missing_ok)
{
	char		resolved[PATH_MAX];
	char	   *path = psprintf("%s/%s", dir, name);
	size_t		dlen = strlen(dir);

	if (strchr(name, '/') != NULL || strcmp(name, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model file name \"%s\" is not a plain file name", name)));
	if (realpath(path, resolved) == NULL)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not find model file \"%s\": %m", path)));
	}
	if (strncmp(resolved, dir, dlen) != 0 || resolved[dlen] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model file \"%s\" leads outside its directory", path)));
	return pstrdup(resolved);
}

/* Files of a directory that change how it tokenizes, pools or normalises */
static const char *const hfSettingFiles[] = {
	"tokenizer_config.json", "modules.json", "sentence_bert_config.json",
	"1_Pooling/config.json", NULL
};

static const char *const hfTokenizerFiles[] = {
	"tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model",
	"sentencepiece.bpe.model", NULL
};

/*
 * The safetensors files of a Hugging Face directory, mapped: model.safetensors
 * or the shards listed by model.safetensors.index.json, in its order.
 */
int
MapHfWeights(const char *dir, MappedFile **files, char ***names)
{
	char	   *single = FileInDir(dir, "model.safetensors", true);
	char	   *ixpath;
	int			n = 0;

	*files = NULL;
	*names = NULL;
	if (single != NULL)
	{
		*files = palloc(sizeof(MappedFile));
		*names = palloc(sizeof(char *));
		(*files)[0] = MapFile(single);
		(*names)[0] = "model.safetensors";
		return 1;
	}
	ixpath = FileInDir(dir, "model.safetensors.index.json", true);
	if (ixpath != NULL)
	{
		MappedFile	ix = MapFile(ixpath);
		SafetensorsIndex *sx;
		PgiError	err = {0};

		if (safetensors_index_parse((const char *) ix.data, ix.len, &sx, &err) != PGI_OK)
			PgiReport(&err);
		n = (int) safetensors_index_n_files(sx);
		*files = palloc(sizeof(MappedFile) * Max(n, 1));
		*names = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			(*names)[i] = pstrdup(safetensors_index_file(sx, i));
			(*files)[i] = MapFile(FileInDir(dir, (*names)[i], false));
		}
		safetensors_index_free(sx);
		UnmapFile(&ix);
	}
	return n;
}

/*
 * sha256 of a Hugging Face directory: each file's name (NUL terminated) and
 * bytes, in the order config.json, weights, tokenizer files; *bytes gets
 * the total size and *has_tokenizer whether a tokenizer file exists.
 */
static char *
HashHfDir(const char *dir, int64 *bytes, int *has_tokenizer)
{
	MappedFile	cfg = MapFile(FileInDir(dir, "config.json", false));
	MappedFile *weights;
	char	  **names;
	int			n = MapHfWeights(dir, &weights, &names);
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	   *hex;

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not start sha256");
	HashFile(ctx, "config.json", &cfg);
	*bytes = cfg.len;
	*has_tokenizer = 0;
	UnmapFile(&cfg);
	for (int i = 0; i < n; i++)
	{
		HashFile(ctx, names[i], &weights[i]);
		*bytes += weights[i].len;
		UnmapFile(&weights[i]);
	}
	for (int i = 0; hfTokenizerFiles[i]; i++)
	{
		char	   *tp = FileInDir(dir, hfTokenizerFiles[i], true);

		if (tp != NULL)
		{
			MappedFile	tf = MapFile(tp);

			HashFile(ctx, hfTokenizerFiles[i], &tf);
			*bytes += tf.len;
			UnmapFile(&tf);
			*has_tokenizer = 1;
		}
	}
	/* every other file the loader reads (pooling, normalisation, lengths) */
	for (int i = 0; hfSettingFiles[i]; i++)
	{
		char	   *sub = strchr(hfSettingFiles[i], '/');
		char	   *tp;

		if (sub)
		{
			char	   *subdir = FileInDir(dir, pnstrdup(hfSettingFiles[i], sub - hfSettingFiles[i]), true);

			tp = subdir ? FileInDir(subdir, sub + 1, true) : NULL;
		}
		else
			tp = FileInDir(dir, hfSettingFiles[i], true);
		if (tp != NULL)
		{
			MappedFile	tf = MapFile(tp);

			HashFile(ctx, hfSettingFiles[i], &tf);
			*bytes += tf.len;
			UnmapFile(&tf);
		}
	}
	hex = HashHex(ctx);
	pg_cryptohash_free(ctx);
	return hex;
}

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
 * weight shards it lists, vocab.json.  The sha256 covers each file's name
 * and bytes in that order; every file is checked (use_load.h).
 */
static void
InspectTfjs(const char *dir, ModelInfo *info, char **sha, int64 *bytes)
{
	MappedFile	mj = MapFile(FileInDir(dir, "model.json", false));
	MappedFile	vj = MapFile(FileInDir(dir, "vocab.json", false));
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	  **names;
	int			n;
	PgiError	err = {0};
	JsonDoc    *doc;
	const JsonValue *groups;

	if (use_tfjs_shard_paths((const char *) mj.data, mj.len, &names, &n, &err) != PGI_OK)
		PgiReport(&err);
	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not start sha256");
	HashFile(ctx, "model.json", &mj);
	*bytes = mj.len + vj.len;
	for (int i = 0; i < n; i++)
	{
		MappedFile	sf = MapFile(FileInDir(dir, names[i], false));

		HashFile(ctx, names[i], &sf);
		*bytes += sf.len;
		UnmapFile(&sf);
	}
	use_tfjs_paths_free(names, n);
	HashFile(ctx, "vocab.json", &vj);
	*sha = HashHex(ctx);
	pg_cryptohash_free(ctx);

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
	UnmapFile(&vj);
}

/* sha256 of a GGUF file's bytes, as sha256sum prints it */
static char *
HashWhole(const char *path, const MappedFile *mf)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	   *hex;

	if (pg_cryptohash_init(ctx) < 0 || !HashBytes(ctx, mf->data, mf->len))
		elog(ERROR, "could not compute sha256 of model file \"%s\"", path);
	hex = HashHex(ctx);
	pg_cryptohash_free(ctx);
	return hex;
}

/* sha256 of a model source (canonical path of a GGUF file or a directory) */
char *
SourceSha256(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
	{
		int64		bytes;
		int			tok;
		ModelInfo	info;
		char	   *sha;

		if (!IsTfjsDir(path))
			return HashHfDir(path, &bytes, &tok);
		InspectTfjs(path, &info, &sha, &bytes);
		return sha;
	}
	else
	{
		MappedFile	mf = MapFile(path);
		char	   *hex = HashWhole(path, &mf);

		UnmapFile(&mf);
		return hex;
	}
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

/* The jump of the innermost WithMappedFiles, NULL outside */
static sigjmp_buf *busJump = NULL;

/* SIGBUS: back to WithMappedFiles; elsewhere, the default (a crash) */
static void
BusHandler(int sig)
{
	if (busJump != NULL)
		siglongjmp(*busJump, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/*
 * Model files are mapped, not read: a file truncated by someone else while
 * it is mapped raises SIGBUS at the first access past its new end, which
 * would take the whole server down.  While fn reads mapped files, SIGBUS
 * jumps back here and becomes an ERROR.  The jump may skip PG_TRY blocks of
 * fn, so the error state they would restore is restored here; whatever fn
 * allocated belongs to memory contexts below ours, whose reset callbacks
 * release the mappings, descriptors and temporary files.
 */
void
WithMappedFiles(const char *source, MappedReadFn fn, void *arg)
{
	sigjmp_buf	jb;
	sigjmp_buf *volatile outer = busJump;
	sigjmp_buf *volatile exc = PG_exception_stack;
	ErrorContextCallback *volatile ecs = error_context_stack;
	MemoryContext volatile cxt = CurrentMemoryContext;
	struct sigaction sa;
	struct sigaction old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = BusHandler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old) != 0)
		elog(ERROR, "could not install a SIGBUS handler: %m");
	if (sigsetjmp(jb, 1) != 0)
	{
		busJump = outer;
		sigaction(SIGBUS, &old, NULL);
		PG_exception_stack = exc;
		error_context_stack = ecs;
		MemoryContextSwitchTo(cxt);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a file of model source \"%s\" was truncated while being read", source),
				 errhint("Replace model files by renaming new files into place, not by writing over files in use.")));
	}
	busJump = &jb;
	PG_TRY();
	{
		fn(arg);
	}
	PG_FINALLY();
	{
		busJump = outer;
		sigaction(SIGBUS, &old, NULL);
	}
	PG_END_TRY();
}

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
	if (strcmp(in->info.architecture, "bert") == 0)
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
