/*-------------------------------------------------------------------------
 *
 * modelfiles.c
 *	  Model files on disk: confinement to pg_infer.model_dir, read-only
 *	  mappings released on ERROR, SIGBUS from truncated files turned into
 *	  an ERROR, and the sha256 that binds a model name to a source's content.
 *
 * Sources are resolved inside pg_infer.model_dir (a superuser setting), or
 * else in the directory of the models pg_infer ships (installed by "make
 * install" into PostgreSQL's share directory), with realpath(), so "..",
 * absolute paths elsewhere and symlinks leading out of the two are refused, and files inside a model directory are
 * confined to it the same way.  The sha256 of a GGUF file is the file's
 * own; of a directory, the sha256 of each file's name (NUL terminated) and
 * bytes in a fixed order (config.json, the weights as the index lists them,
 * then the tokenizer and settings files; for TF.js, model.json, its shards,
 * vocab.json).
 *
 * This file owns what registration (registry.c) and the model cache
 * (models.c) share; it includes neither of their headers.
 *
 * src/pg/models/modelfiles.c
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
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "core/formats/safetensors.h"
#include "core/models/use_load.h"
#include "pg/pgi_error.h"
#include "pg/models/modelfiles.h"

char	   *pgi_model_dir = NULL;

/* Register the GUCs (called from _PG_init) */
void
ModelFilesInit(void)
{
	DefineCustomStringVariable("pg_infer.model_dir",
							   "Directory holding the model files load_model() may read",
							   "Model sources are resolved inside it; paths leading out are refused.",
							   &pgi_model_dir, "", PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
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
	MappedFile	mf = {0};
	struct stat st;
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open model file \"%s\": %m", ShownSource(path))));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model source \"%s\" is not a regular file", ShownSource(path))));
	}
	mf.len = (size_t) st.st_size;
	mf.dev = st.st_dev;
	mf.ino = st.st_ino;
	if (mf.len > 0)
	{
		void	   *p = mmap(NULL, mf.len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED)
		{
			close(fd);
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not map model file \"%s\": %m", ShownSource(path))));
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
 * The directory of the models pg_infer ships ("make install" puts them in
 * PostgreSQL's share directory): canonical path into buf, false when it
 * does not exist
 */
static bool
BundledDir(char *buf)
{
	char		share[MAXPGPATH];
	char	   *dir;
	bool		ok;

	get_share_path(my_exec_path, share);
	dir = psprintf("%s/pg_infer/models", share);
	ok = realpath(dir, buf) != NULL;
	pfree(dir);
	return ok;
}

/* Whether path (canonical) is below the canonical directory base */
static bool
Below(const char *path, const char *base)
{
	size_t		blen = strlen(base);

	return strncmp(path, base, blen) == 0 && path[blen] == '/';
}

/* Outcome of resolving a source */
typedef enum Resolved
{
	RESOLVED_OK,
	RESOLVED_EMPTY,				/* empty source */
	RESOLVED_BAD_DIR,			/* pg_infer.model_dir does not resolve */
	RESOLVED_NO_DIR,			/* not found, and no pg_infer.model_dir */
	RESOLVED_MISSING,			/* not found */
	RESOLVED_OUTSIDE			/* found outside both directories */
} Resolved;

/* The directories sources may come from, and what became of one */
typedef struct Roots
{
	char		base[PATH_MAX];	/* pg_infer.model_dir, canonical */
	bool		have_base;
	char		bundled[PATH_MAX];	/* the bundled models', canonical */
	bool		have_bundled;
	char		resolved[PATH_MAX];
	int			saved_errno;
} Roots;

/*
 * Resolve source, without raising: relative names inside pg_infer.model_dir
 * first, then in the bundled models' directory; absolute paths must lie
 * inside one of the two (".." and symlinks are followed by realpath first)
 */
static Resolved
Resolve(const char *source, Roots *r)
{
	r->have_bundled = BundledDir(r->bundled);
	r->have_base = false;
	r->saved_errno = 0;
	if (source[0] == '\0')
		return RESOLVED_EMPTY;
	if (pgi_model_dir != NULL && pgi_model_dir[0] != '\0')
	{
		if (realpath(pgi_model_dir, r->base) == NULL)
		{
			r->saved_errno = errno;
			return RESOLVED_BAD_DIR;
		}
		r->have_base = true;
	}
	if (source[0] == '/')
	{
		if (realpath(source, r->resolved) == NULL)
		{
			r->saved_errno = errno;
			return r->have_base ? RESOLVED_MISSING : RESOLVED_NO_DIR;
		}
	}
	else
	{
		char	   *in_base = r->have_base ? psprintf("%s/%s", r->base, source) : NULL;
		char	   *in_bundled = r->have_bundled ? psprintf("%s/%s", r->bundled, source) : NULL;

		errno = ENOENT;
		if (!(in_base && realpath(in_base, r->resolved) != NULL) &&
			!(in_bundled && realpath(in_bundled, r->resolved) != NULL))
		{
			r->saved_errno = errno;
			return r->have_base ? RESOLVED_MISSING : RESOLVED_NO_DIR;
		}
	}
	if (!(r->have_base && Below(r->resolved, r->base)) &&
		!(r->have_bundled && Below(r->resolved, r->bundled)))
		return r->have_base ? RESOLVED_OUTSIDE : RESOLVED_NO_DIR;
	return RESOLVED_OK;
}

/* Whether the current user may see server file paths */
static bool
SeesPaths(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES);
}

char *
ShownSource(const char *source)
{
	char		bundled[PATH_MAX];
	char		base[PATH_MAX];
	const char *slash;
	size_t		n;

	if (SeesPaths())
		return pstrdup(source);
	if (pgi_model_dir != NULL && pgi_model_dir[0] != '\0' && realpath(pgi_model_dir, base) != NULL)
	{
		n = strlen(base);
		if (strncmp(source, base, n) == 0 && source[n] == '/')
			return pstrdup(source + n + 1);
	}
	if (BundledDir(bundled) && strncmp(source, bundled, strlen(bundled)) == 0 &&
		source[strlen(bundled)] == '/')
		return pstrdup(source + strlen(bundled) + 1);
	slash = strrchr(source, '/');
	return pstrdup(slash ? slash + 1 : source);
}

PG_FUNCTION_INFO_V1(pgi_shown_source);

/* pg_infer._shown_source(source): ShownSource, for the pg_infer.models view */
Datum
pgi_shown_source(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ShownSource(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/*
 * Resolve source (see Resolve); ERROR when it is empty, found in neither
 * directory, or resolves outside them.  Returns a palloc'd canonical path.
 * Users who may not see server paths get the source as pg_infer.models
 * shows it and no directory names.
 */
char *
ResolveSource(const char *source)
{
	Roots		r;
	const char *also;
	bool		sees = SeesPaths();
	const char *shown = ShownSource(source);

	switch (Resolve(source, &r))
	{
		case RESOLVED_OK:
			break;
		case RESOLVED_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model source must not be empty")));
			break;
		case RESOLVED_BAD_DIR:
			errno = r.saved_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 sees ? errmsg("could not resolve pg_infer.model_dir \"%s\": %m", pgi_model_dir) :
					 errmsg("could not resolve pg_infer.model_dir: %m")));
			break;
		case RESOLVED_NO_DIR:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_infer.model_dir is not set"),
					 errhint("A superuser sets it to the directory holding the model files.")));
			break;
		case RESOLVED_MISSING:
			errno = r.saved_errno;
			also = r.have_bundled ? " and the bundled models' directory" : "";
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not find model source \"%s\": %m", shown),
					 sees ? errdetail("Sources are resolved inside pg_infer.model_dir (\"%s\")%s.", r.base, also) :
					 errdetail("Sources are resolved inside pg_infer.model_dir%s.", also)));
			break;
		case RESOLVED_OUTSIDE:
			also = r.have_bundled ? " and the bundled models' directory" : "";
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("model source \"%s\" is outside pg_infer.model_dir", shown),
					 sees ? errdetail("It resolves to \"%s\"; only files below \"%s\"%s may be read.",
									  r.resolved, r.base, also) :
					 errdetail("Only files below pg_infer.model_dir%s may be read.", also)));
			break;
	}
	return pstrdup(r.resolved);
}

PG_FUNCTION_INFO_V1(pgi_source_exists);

/* pg_infer._source_exists(source): whether load_model would find it */
Datum
pgi_source_exists(PG_FUNCTION_ARGS)
{
	Roots		r;

	PG_RETURN_BOOL(Resolve(text_to_cstring(PG_GETARG_TEXT_PP(0)), &r) == RESOLVED_OK);
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
				 errmsg("could not find model file \"%s\": %m", ShownSource(path))));
	}
	if (strncmp(resolved, dir, dlen) != 0 || resolved[dlen] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model file \"%s\" leads outside its directory", ShownSource(path))));
	return pstrdup(resolved);
}

/* Files of a directory that change how it tokenizes, pools or normalises */
static const char *const hfSettingFiles[] = {
	"tokenizer_config.json", "modules.json", "sentence_bert_config.json",
	"1_Pooling/config.json", "preprocessor_config.json", NULL
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
char *
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

/* Whether a directory holds a TF.js model (model.json, vocab.json) */
bool
IsTfjsDir(const char *path)
{
	return FileInDir(path, "config.json", true) == NULL &&
		FileInDir(path, "model.json", true) != NULL &&
		FileInDir(path, "vocab.json", true) != NULL;
}

/*
 * sha256 of a TF.js model directory (the default model, USE Lite):
 * model.json, the weight shards it lists, vocab.json, each file's name and
 * bytes in that order; *bytes gets the total size
 */
char *
HashTfjsDir(const char *dir, int64 *bytes)
{
	MappedFile	mj = MapFile(FileInDir(dir, "model.json", false));
	MappedFile	vj = MapFile(FileInDir(dir, "vocab.json", false));
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	  **names;
	int			n;
	PgiError	err = {0};
	char	   *hex;

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
	hex = HashHex(ctx);
	pg_cryptohash_free(ctx);
	UnmapFile(&mj);
	UnmapFile(&vj);
	return hex;
}

/* sha256 of a GGUF file's bytes, as sha256sum prints it */
char *
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

		if (!IsTfjsDir(path))
			return HashHfDir(path, &bytes, &tok);
		return HashTfjsDir(path, &bytes);
	}
	else
	{
		MappedFile	mf = MapFile(path);
		char	   *hex = HashWhole(path, &mf);

		UnmapFile(&mf);
		return hex;
	}
}

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
				 errmsg("a file of model source \"%s\" was truncated while being read", ShownSource(source)),
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
