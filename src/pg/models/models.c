/*-------------------------------------------------------------------------
 *
 * models.c
 *	  Registered models in use: the shared cache of prepared files.
 *
 * Weights are in memory once per server: the first backend that uses a
 * model converts its source (GGUF or Hugging Face directory) into a
 * prepared file, $PGDATA/pg_infer/<sha256>.pgim (float32 weights in the
 * forward pass's layout plus the tokenizer; see src/core/models/pgim.h), and
 * every backend maps that file read-only.  The mapping is backed by the
 * page cache, so N backends share one copy: attaching costs an mmap and
 * a header check, not a read or a copy.  The file name is the sha256 the
 * registry binds to the model name, so a rebound name can never reach
 * another model's weights; the build re-hashes the source and refuses a
 * file changed since registration.  Concurrent first uses serialise on an
 * advisory lock keyed by the sha256; the file appears atomically (written
 * under a temporary name, fsync'd, renamed).
 *
 * Validity: each backend keeps its models in a list.  A trigger on the
 * registry table (and unload_model) sends a relcache invalidation of the
 * table, which every backend receives when the change commits (at its next
 * transaction start or lock); the callback marks all models stale, and the
 * next use re-reads the registry row.  No shared memory is needed.
 *
 * src/pg/models/models.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "commands/trigger.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "catalog/pg_authid.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/models/bert_load.h"
#include "core/models/clip_load.h"
#include "core/formats/gguf.h"
#include "core/formats/json.h"
#include "core/formats/safetensors.h"
#include "core/formats/gguf_subset.h"
#include "core/tokenizers/chat.h"
#include "core/tokenizers/tok_bpe.h"
#include "core/tokenizers/tok_spm.h"
#include "core/models/llama_load.h"
#include "core/models/use_load.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"
#include "pg/models/modelfiles.h"

char	   *pgi_default_model = NULL;
int			pgi_max_batch_tokens = 8192;

static LoadedModel *models = NULL;
static Oid	registryRelid = InvalidOid;
static uint64 registryGeneration = 1;

/* Relcache invalidation: a change to the registry marks every model stale */
static void
RegistryInvalidated(Datum arg, Oid relid)
{
	if (relid != InvalidOid && relid != registryRelid)
		return;
	/* the table may be gone (DROP EXTENSION): look it up again next time */
	registryRelid = InvalidOid;
	registryGeneration++;
	for (LoadedModel *m = models; m; m = m->next)
		m->stale = true;
}

uint64
RegistryGeneration(void)
{
	return registryGeneration;
}

/* Register GUCs and the invalidation callback (called from _PG_init) */
void
ModelsInit(void)
{
	DefineCustomStringVariable("pg_infer.default_model",
							   "Model used by embed(text)",
							   NULL, &pgi_default_model, "use-lite", PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.max_batch_tokens",
							"Tokens per forward pass; longer batches are split",
							NULL, &pgi_max_batch_tokens, 8192, 128, 1 << 20,
							PGC_USERSET, 0, NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(RegistryInvalidated, (Datum) 0);
}

/*
 * The extension's schema and owner, from its pg_extension row
 * (get_extension_schema is not exported before PostgreSQL 16)
 */
static void
ExtensionRow(Oid *nsp, Oid *owner)
{
	Oid			ext = get_extension_oid("pg_infer", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	*nsp = InvalidOid;
	*owner = BOOTSTRAP_SUPERUSERID;
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

static Oid
ExtensionSchema(void)
{
	Oid			nsp,
				owner;

	ExtensionRow(&nsp, &owner);
	return nsp;
}

static Oid
ExtensionOwner(void)
{
	Oid			nsp,
				owner;

	ExtensionRow(&nsp, &owner);
	return owner;
}

char *
ExtensionSchemaName(void)
{
	return get_namespace_name(ExtensionSchema());
}

/* OID of the registry table (schema of the extension) */
static Oid
RegistryRelid(void)
{
	Oid			nsp = ExtensionSchema();
	Oid			relid = get_relname_relid("pg_infer_model_registry", nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "pg_infer's model registry table is missing");
	return relid;
}

/*
 * Send a relcache invalidation for the registry, delivered to every backend
 * when this transaction commits (registry trigger, unload_model)
 */
static void
InvalidateRegistry(void)
{
	CacheInvalidateRelcacheByRelid(RegistryRelid());
}

PG_FUNCTION_INFO_V1(pgi_registry_changed);

/* Trigger on the registry: tell every backend to re-check its models */
Datum
pgi_registry_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pg_infer._registry_changed() can only be called as a trigger")));
	InvalidateRegistry();
	return PointerGetDatum(NULL);
}

char *
ModelCachePath(const char *key)
{
	return psprintf("pg_infer/%s.pgim", key);	/* backends run in DataDir */
}

/* The "precision" option values: each has its own prepared file */
static const char *const precisions[] = {"f32", "bf16", "int8", NULL};

/*
 * The key of a model's prepared file: its sha256, with the registry's
 * "precision" option when it has one ("<sha256>.bf16"; with "int8_block",
 * "<sha256>.int8b64")
 */
static char *
CacheKey(const char *sha, const char *precision)
{
	if (precision == NULL)
		return pstrdup(sha);
	if (strncmp(precision, "int8b", 5) == 0)
	{
		int			kb = atoi(precision + 5);

		if (kb >= 4 && kb <= 4096 && kb % 4 == 0 && strspn(precision + 5, "0123456789") == strlen(precision + 5))
			return psprintf("%s.%s", sha, precision);
	}
	for (int i = 0; precisions[i]; i++)
		if (strcmp(precision, precisions[i]) == 0)
			return psprintf("%s.%s", sha, precision);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model option \"precision\" must be \"f32\", \"bf16\" or \"int8\", not \"%s\"",
					precision)));
	return NULL;
}

/*
 * Registry row of name: source, sha256 and the "context_length" and
 * "precision" options (NULL when absent); false when not registered
 */
static bool
RegistryFind(const char *name, char **source, char **sha, char **ctx, char **precision)
{
	Oid			nsp = ExtensionSchema();

	/* every operator qualified: nothing of the caller's search_path runs */
	char	   *sql = psprintf("SELECT source, sha256, options OPERATOR(pg_catalog.->>) 'context_length', "
							   "options OPERATOR(pg_catalog.->>) 'precision' OPERATOR(pg_catalog.||) "
							   "COALESCE('b' OPERATOR(pg_catalog.||) (options OPERATOR(pg_catalog.->>) 'int8_block'), '') "
							   "FROM %s.pg_infer_model_registry WHERE name OPERATOR(pg_catalog.=) $1",
							   quote_identifier(get_namespace_name(nsp)));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	MemoryContext outer = CurrentMemoryContext;
	volatile bool found = false;
	Oid			saved_uid;
	int			saved_ctx;
	int			nestlevel;

	/*
	 * As the extension's owner: plain users may not read the registry's
	 * paths (they see them through pg_infer.models, shortened), but any
	 * user's embed() must find the file.  Like a SECURITY DEFINER function
	 * with SET search_path: the owner runs only pg_catalog's operators and
	 * functions, never one a caller put on its search_path.  (On error the
	 * transaction or subtransaction abort pops the setting.)
	 */
	GetUserIdAndSecContext(&saved_uid, &saved_ctx);
	SetUserIdAndSecContext(ExtensionOwner(), saved_ctx | SECURITY_LOCAL_USERID_CHANGE);
	nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the model registry");
		found = SPI_processed == 1;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_uid, saved_ctx);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);
	if (found)
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);

		*source = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*sha = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		*ctx = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		*precision = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return found;
}

/* Registry row of name (ERROR when not registered) */
static void
RegistryLookup(const char *name, char **source, char **sha, char **ctx, char **precision)
{
	if (!RegistryFind(name, source, sha, ctx, precision))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("Register it with load_model(); pg_infer.models lists the models.")));
}

/* Core objects a build holds, freed when its memory context goes */
typedef struct BuildState
{
	GgufFile   *gguf;
	SafetensorsFile *st[64];
	int			n_st;
	BertPrep	prep;
	void	   *out;
	size_t		out_len;
	int			fd;
	char	   *tmp;
	MappedFile	maps[96];		/* source files mapped for the build */
	int			n_maps;
	uint8_t    *blob;			/* tokenizer bytes (malloc'd by the core) */
	size_t		blob_len;
	UseSource  *use;			/* a TF.js USE Lite model */
	LlamaConfig llama;			/* a decoder (naming "llama") */
	ClipPrep	clip;			/* a CLIP model (naming "clip") */
} BuildState;

/* Remember a mapping to release with the build */
static const uint8 *
KeepMap(BuildState *b, MappedFile mf)
{
	KeepMapping(&mf);			/* released by BuildCleanup */
	if (b->n_maps >= (int) lengthof(b->maps))
	{
		UnmapFile(&mf);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model has too many files")));
	}
	b->maps[b->n_maps++] = mf;
	return mf.data;
}

/* Release a build's core objects, mapping and temporary file */
static void
BuildCleanup(void *arg)
{
	BuildState *b = (BuildState *) arg;

	if (b->gguf)
		gguf_free(b->gguf);
	for (int i = 0; i < b->n_st; i++)
		safetensors_free(b->st[i]);
	bert_prep_free(&b->prep);
	if (b->out)
		munmap(b->out, b->out_len);
	if (b->fd >= 0)
		close(b->fd);
	if (b->tmp)
		unlink(b->tmp);
	for (int i = 0; i < b->n_maps; i++)
		UnmapFile(&b->maps[i]);
	free(b->blob);
	if (b->use)
		use_source_free(b->use);
}

/* Map an optional text file of a model directory */
static const char *
OptText(BuildState *b, const char *dir, const char *name, size_t *len)
{
	char	   *p = FileInDir(dir, name, true);
	MappedFile	mf;

	*len = 0;
	if (p == NULL)
		return NULL;
	mf = MapFile(p);
	*len = mf.len;
	return mf.data ? (const char *) KeepMap(b, mf) : "";
}

/* Meta of a SentencePiece tokenizer-only model */
static void
SpmMeta(PgimMeta *m, const TokSpmInfo *info)
{
	memset(m, 0, sizeof(*m));
	m->tok_kind = PGIM_TOK_SENTENCEPIECE;
	m->cls_id = m->sep_id = m->mask_id = -1;
	m->unk_id = info->unk_id;
	m->pad_id = info->pad_id;
	m->bos_id = info->bos_id;
	m->eos_id = info->eos_id;
	m->add_bos = info->add_bos > 0 && info->bos_id >= 0;
	m->add_eos = info->add_eos > 0 && info->eos_id >= 0;
}

/*
 * A model pg_infer cannot run yet, but whose tokenizer it can: a GGUF file
 * with a "llama" (SentencePiece) vocabulary, or a directory with a
 * SentencePiece model file.  Returns false when neither.
 */
/* Meta of a byte-level BPE tokenizer-only model (validates the tokenizer) */
static void
BpeMeta(BuildState *b, bool json)
{
	PgiError	err = {0};
	TokBpe	   *bpe = NULL;
	TokBpeOptions opts = {PgNfc, NULL};
	const TokBpeInfo *info;
	PgimMeta   *m = &b->prep.meta;
	PgiStatus	st;

	if (json)
		st = tok_bpe_from_json_text((const char *) b->blob, b->blob_len, &opts, &bpe, &err);
	else
	{
		GgufFile   *g;

		st = gguf_open(b->blob, b->blob_len, &g, &err);
		if (st == PGI_OK)
		{
			st = tok_bpe_from_gguf(g, &opts, &bpe, &err);
			gguf_free(g);
		}
	}
	if (st != PGI_OK)
		PgiReport(&err);
	info = tok_bpe_info(bpe);
	memset(m, 0, sizeof(*m));
	m->tok_kind = PGIM_TOK_BPE;
	m->tok_flags = json ? PGIM_TOK_BLOB_JSON : 0;
	m->cls_id = m->sep_id = m->mask_id = m->unk_id = -1;
	m->pad_id = info->pad_id;
	m->bos_id = info->bos_id;
	m->eos_id = info->eos_id;
	m->add_bos = info->add_bos && info->bos_id >= 0;
	m->add_eos = info->add_eos && info->eos_id >= 0;
	tok_bpe_free(bpe);
}

/* The family of a GGUF's tokenizer.chat_template into the meta */
static void
GgufChat(BuildState *b)
{
	const GgufKV *kv = gguf_find_kv(b->gguf, "tokenizer.chat_template");

	if (kv != NULL && kv->type == GGUF_TYPE_STRING)
		chat_detect(kv->str, kv->str_len, &b->prep.meta.chat);
	else
		chat_detect(NULL, 0, &b->prep.meta.chat);
}

static bool
PrepareTokenizerOnly(BuildState *b, const char *path, bool dir)
{
	PgiError	err = {0};
	TokSpmInfo	info;

	if (!dir)
	{
		const GgufKV *kv = gguf_find_kv(b->gguf, "tokenizer.ggml.model");
		static const char *const keep[] = {"tokenizer.", "general.architecture", NULL};

		if (kv != NULL && kv->type == GGUF_TYPE_STRING && kv->str_len == 4 &&
			memcmp(kv->str, "gpt2", 4) == 0)
		{
			/* byte-level BPE: keep its keys as a small GGUF */
			if (gguf_subset(b->gguf, keep, &b->blob, &b->blob_len, &err) != PGI_OK)
				PgiReport(&err);
			BpeMeta(b, false);
			GgufChat(b);
			return true;
		}
		if (kv == NULL || kv->type != GGUF_TYPE_STRING || kv->str_len != 5 ||
			memcmp(kv->str, "llama", 5) != 0)
			return false;
		if (tok_spm_proto_from_gguf(b->gguf, &b->blob, &b->blob_len, &info, &err) != PGI_OK)
			PgiReport(&err);
	}
	else
	{
		static const char *const files[] = {"tokenizer.model", "spiece.model",
		"sentencepiece.bpe.model", NULL};
		size_t		len = 0;
		const char *bytes = NULL;

		for (int i = 0; files[i] && bytes == NULL; i++)
			bytes = OptText(b, path, files[i], &len);
		if (bytes == NULL)
		{
			/* a tokenizer.json with a BPE model */
			bytes = OptText(b, path, "tokenizer.json", &len);
			if (bytes == NULL || memmem(bytes, len, "\"BPE\"", 5) == NULL)
				return false;
			if ((b->blob = malloc(Max(len, 1))) == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			memcpy(b->blob, bytes, len);
			b->blob_len = len;
			BpeMeta(b, true);
			return true;
		}
		if (tok_spm_proto_check((const uint8_t *) bytes, len, &info, &err) != PGI_OK)
			PgiReport(&err);
		if ((b->blob = malloc(Max(len, 1))) == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		memcpy(b->blob, bytes, len);
		b->blob_len = len;
	}
	SpmMeta(&b->prep.meta, &info);
	if (!dir)
		GgufChat(b);
	return true;
}

/*
 * A GGUF decoder pg_infer runs (llama, qwen2): its configuration and
 * tensors checked, its tokenizer prepared.  False when the file is another
 * architecture, or a decoder with tensor types pg_infer cannot multiply
 * (then it stays a tokenizer-only model); ERROR when it is malformed.
 */
static bool
PrepareDecoder(BuildState *b)
{
	PgiError	err = {0};
	PgiStatus	st = llama_config_from_gguf(b->gguf, &b->llama, &err);

	if (st == PGI_OK)
		st = llama_check_gguf(b->gguf, &b->llama, &err);
	if (st == PGI_ERR_UNSUPPORTED)
		return false;
	if (st != PGI_OK)
		PgiReport(&err);
	if (!PrepareTokenizerOnly(b, NULL, false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("GGUF decoder has no llama or gpt2 tokenizer"),
				 errdetail("tokenizer.ggml.model must be \"llama\" (SentencePiece) or \"gpt2\" (byte-level BPE).")));
	if (b->prep.meta.eos_id >= b->llama.vocab || b->prep.meta.bos_id >= b->llama.vocab)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("GGUF decoder's BOS or EOS id is outside its vocabulary of %d", b->llama.vocab)));
	return true;
}

/* The architecture named by a directory's config.json ("" when unknown) */
static char *
HfModelType(BuildState *b, const char *path)
{
	size_t		len;
	const char *cfg = OptText(b, path, "config.json", &len);
	JsonDoc    *doc;
	PgiError	err = {0};
	const JsonValue *v;
	size_t		l;
	const char *t;
	char	   *result = "";

	if (cfg && json_parse(cfg, len, &doc, &err) == PGI_OK)
	{
		if ((v = json_get(json_root(doc), "model_type")) && (t = json_str(v, &l)))
			result = pnstrdup(t, l);
		json_free(doc);
	}
	return result;
}

/* Load a TF.js USE Lite directory into b->use (every file checked) */
static void
PrepareTfjs(BuildState *b, const char *path)
{
	size_t		mlen,
				vlen;
	const char *mjson = OptText(b, path, "model.json", &mlen);
	const char *vjson = OptText(b, path, "vocab.json", &vlen);
	char	  **names;
	int			n;
	const uint8 **shards;
	size_t	   *lens;
	PgiError	err = {0};
	char	  **copies;

	if (use_tfjs_shard_paths(mjson, mlen, &names, &n, &err) != PGI_OK)
		PgiReport(&err);
	copies = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		copies[i] = pstrdup(names[i]);
	use_tfjs_paths_free(names, n);
	shards = palloc(sizeof(uint8 *) * Max(n, 1));
	lens = palloc(sizeof(size_t) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		MappedFile	mf = MapFile(FileInDir(path, copies[i], false));

		shards[i] = KeepMap(b, mf);
		lens[i] = mf.len;
	}
	if (use_load_tfjs(mjson, mlen, shards, lens, n, vjson, vlen, &b->use, &err) != PGI_OK)
		PgiReport(&err);
	memset(&b->prep.meta, 0, sizeof(b->prep.meta));
	b->prep.meta.tok_kind = PGIM_TOK_UNIGRAM;
	b->prep.meta.cls_id = b->prep.meta.sep_id = b->prep.meta.pad_id = -1;
	b->prep.meta.mask_id = b->prep.meta.bos_id = b->prep.meta.eos_id = -1;
	b->prep.meta.unk_id = 0;
	b->prep.meta.normalize = 1;
	b->prep.meta.max_tokens = use_source_config(b->use)->max_tokens;
}

/* Map and open a Hugging Face directory's safetensors files for find */
static void
OpenHfWeights(BuildState *b, const char *path, PgimFindFn *find, void **find_arg)
{
	MappedFile *w;
	char	  **names;
	int			n;
	BertStSet  *set = palloc0(sizeof(BertStSet));
	PgiError	err = {0};

	n = MapHfWeights(path, &w, &names);
	if (n > (int) lengthof(b->st))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model has %d weight shards; at most %d are supported",
						n, (int) lengthof(b->st))));
	for (int i = 0; i < n; i++)
		KeepMap(b, w[i]);
	for (int i = 0; i < n; i++)
	{
		if (safetensors_open(w[i].data, w[i].len, &b->st[i], &err) != PGI_OK)
			PgiReport(&err);
		b->n_st++;
	}
	set->files = b->st;
	set->n = b->n_st;
	*find = bert_find_safetensors;
	*find_arg = set;
}

/* A CLIP directory: config, preprocessing, weights, and the text tower's tokenizer */
static void
PrepareClip(BuildState *b, const char *path, PgimFindFn *find, void **find_arg)
{
	size_t		clen,
				plen,
				tlen;
	const char *cfg = OptText(b, path, "config.json", &clen);
	const char *pre = OptText(b, path, "preprocessor_config.json", &plen);
	PgiError	err = {0};
	PgimMeta   *m = &b->prep.meta;

	if (clip_prep_hf(cfg, clen, pre, plen, &b->clip, &err) != PGI_OK)
		PgiReport(&err);
	OpenHfWeights(b, path, find, find_arg);
	memset(m, 0, sizeof(*m));
	m->tok_kind = PGIM_TOK_NONE;
	m->cls_id = m->sep_id = m->pad_id = m->unk_id = m->mask_id = m->bos_id = m->eos_id = -1;
	m->normalize = 1;
	m->pooling = BERT_POOL_LAST;	/* the EOS row, the last without padding: no other pooling */
	if (b->clip.config.has_text)
	{
		const char *tj = OptText(b, path, "tokenizer.json", &tlen);

		if (tj == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("CLIP model directory has no tokenizer.json")));
		if ((b->blob = malloc(Max(tlen, 1))) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		memcpy(b->blob, tj, tlen);
		b->blob_len = tlen;
		BpeMeta(b, true);
		m->max_tokens = b->clip.config.text.max_pos;
		m->normalize = 1;
		m->pooling = BERT_POOL_LAST;
	}
}

/*
 * Parse the source into b->prep and open its tensors; returns the naming
 * ("hf" or "gguf"), "use" for a TF.js USE Lite model, or "tokenizer" for
 * a tokenizer-only model
 */
static const char *
PrepareSource(BuildState *b, const char *path, PgimFindFn *find, void **find_arg)
{
	struct stat st;
	PgiError	err = {0};

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat model source \"%s\": %m", path)));
	if (S_ISDIR(st.st_mode) && IsTfjsDir(path))
	{
		PrepareTfjs(b, path);
		return "use";
	}

	if (S_ISDIR(st.st_mode) && (strcmp(HfModelType(b, path), "clip") == 0 ||
								strcmp(HfModelType(b, path), "clip_vision_model") == 0))
	{
		PrepareClip(b, path, find, find_arg);
		return "clip";
	}
	if (S_ISDIR(st.st_mode) && strcmp(HfModelType(b, path), "bert") != 0)
	{
		if (PrepareTokenizerOnly(b, path, true))
			return "tokenizer";
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_infer cannot run or tokenize model type \"%s\" yet", HfModelType(b, path))));
	}
	if (S_ISDIR(st.st_mode))
	{
		BertHfFiles f = {0};

		f.config = OptText(b, path, "config.json", &f.config_len);
		f.tokenizer_json = OptText(b, path, "tokenizer.json", &f.tokenizer_json_len);
		f.vocab_txt = OptText(b, path, "vocab.txt", &f.vocab_txt_len);
		f.tokenizer_config = OptText(b, path, "tokenizer_config.json", &f.tokenizer_config_len);
		f.modules = OptText(b, path, "modules.json", &f.modules_len);
		f.st_config = OptText(b, path, "sentence_bert_config.json", &f.st_config_len);
		{
			char	   *pdir = FileInDir(path, "1_Pooling", true);

			if (pdir)
				f.pooling = OptText(b, pdir, "config.json", &f.pooling_len);
		}
		if (bert_prep_hf(&f, &b->prep, &err) != PGI_OK)
			PgiReport(&err);
		OpenHfWeights(b, path, find, find_arg);
		return "hf";
	}
	else
	{
		MappedFile	mf = MapFile(path);

		const char *arch;
		size_t		alen;

		KeepMap(b, mf);
		if (gguf_open(mf.data, mf.len, &b->gguf, &err) != PGI_OK)
			PgiReport(&err);
		if (gguf_get_str(b->gguf, "general.architecture", &arch, &alen, &err) != PGI_OK)
			PgiReport(&err);
		if (PrepareDecoder(b))
			return "llama";
		if (!(alen == 4 && memcmp(arch, "bert", 4) == 0))
		{
			if (PrepareTokenizerOnly(b, path, false))
				return "tokenizer";
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("pg_infer cannot run or tokenize GGUF architecture \"%.*s\" yet",
							(int) Min(alen, 64), arch)));
		}
		if (bert_prep_gguf(b->gguf, &b->prep, &err) != PGI_OK)
			PgiReport(&err);
		*find = bert_find_gguf;
		*find_arg = b->gguf;
		return "gguf";
	}
}

/* Facts of a TF.js USE Lite directory for pg_infer.models (checks every file) */
void
ModelDescribeTfjs(const char *path, int64 *dims, int64 *max_tokens, int64 *vocab)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer model check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	BuildState *b = palloc0(sizeof(BuildState));
	const UseConfig *c;

	b->fd = -1;
	cb->func = BuildCleanup;
	cb->arg = b;
	MemoryContextRegisterResetCallback(cxt, cb);
	PrepareTfjs(b, path);
	c = use_source_config(b->use);
	*dims = c->d_model;
	*max_tokens = c->max_tokens;
	*vocab = c->n_pieces;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Check a BERT source completely at registration: config, tokenizer against
 * the embedding matrix, every tensor's presence, shape and type
 */
void
ModelValidate(const char *path)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer model check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	BuildState *b = palloc0(sizeof(BuildState));
	PgimFindFn	find;
	void	   *find_arg;
	const char *naming;
	PgiError	err = {0};

	b->fd = -1;
	cb->func = BuildCleanup;
	cb->arg = b;
	MemoryContextRegisterResetCallback(cxt, cb);
	naming = PrepareSource(b, path, &find, &find_arg);
	if (strcmp(naming, "clip") == 0)
	{
		if (clip_check(&b->clip.config, find, find_arg, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (strcmp(naming, "tokenizer") != 0 && strcmp(naming, "use") != 0 &&
			 strcmp(naming, "llama") != 0 &&
			 pgim_check_bert(&b->prep.config, naming, find, find_arg, &err) != PGI_OK)
		PgiReport(&err);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* The tensor lookup of a build, with a check for cancel between tensors */
typedef struct CancelFind
{
	PgimFindFn	find;
	void	   *arg;
} CancelFind;

/*
 * A cancel seen here makes the lookup fail (the core then frees what it
 * holds and returns); BuildPrepared raises the cancel itself afterwards
 */
static PgiStatus
FindOrCancel(void *arg, const char *name, PgimTensor *out, int *found, PgiError *err)
{
	CancelFind *cf = arg;

	if (QueryCancelPending || ProcDiePending)
		return pgi_error(err, PGI_ERR_IO, NULL, "model conversion interrupted");
	return cf->find(cf->arg, name, out, found, err);
}

/* Whether a cancel or termination is pending (polled by long core loops) */
static int
CancelPending(void *arg)
{
	return QueryCancelPending || ProcDiePending;
}

/*
 * The weight format of an encoder's prepared file: the "precision" option
 * (float32 without it); int8 in blocks of "int8_block" inputs, by default
 * 64, or for a GGUF whose matrices are Q8_0 its own blocks of 32 (so the
 * integers and scales are the file's)
 */
static GemmFormat
EncoderFormat(BuildState *b, const char *precision)
{
	GemmFormat	f = {GEMM_F32, 0};
	bool		q8 = false;

	if (b->gguf)
	{
		const GgufTensor *t = gguf_find_tensor(b->gguf, "blk.0.ffn_up.weight");

		q8 = t != NULL && t->type == GGML_TYPE_Q8_0;
	}
	if (precision == NULL)
		f.type = GEMM_F32;
	else if (strcmp(precision, "bf16") == 0)
		f.type = GEMM_BF16;
	else if (strncmp(precision, "int8", 4) == 0)
	{
		f.type = GEMM_I8;
		/* "int8b<block>": the registry's "int8_block" (CacheKey) */
		if (precision[4] == 'b')
			f.kb = atoi(precision + 5);
	}
	/* int8 by default in blocks of 64 inputs (doc/embeddings.md), a Q8_0 file in its 32 */
	if (f.type == GEMM_I8 && f.kb == 0)
		f.kb = q8 ? 32 : GEMM_I8_DEFAULT_BLOCK;
	return f;
}

/*
 * Write the prepared file of a registered source (caller holds the lock);
 * key names the file (CacheKey)
 */
static void
BuildPrepared(const char *name, const char *source, const char *sha, const char *precision,
			  const char *key, const char *dest)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer model build",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	BuildState *b = palloc0(sizeof(BuildState));
	char	   *path = ResolveSource(source);
	char	   *actual;
	PgimFindFn	find;
	void	   *find_arg;
	const char *naming;
	uint64		size;
	PgiError	err = {0};
	int			rc;

	b->fd = -1;
	cb->func = BuildCleanup;
	cb->arg = b;
	MemoryContextRegisterResetCallback(cxt, cb);

	actual = SourceSha256(path);
	if (strcmp(actual, sha) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the files of model \"%s\" changed since it was registered", name),
				 errdetail("Registered sha256 %s, files now %s.", sha, actual),
				 errhint("Register the new content with load_model(name, source, '{\"force\": true}').")));

	naming = PrepareSource(b, path, &find, &find_arg);
	if (strcmp(naming, "tokenizer") == 0 || strcmp(naming, "llama") == 0 ||
		strcmp(naming, "clip") == 0)
	{
		if (precision != NULL && strcmp(precision, "f32") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("model \"%s\" cannot run in precision \"%s\"", name, precision),
					 errdetail("The \"precision\" option applies to text encoders (BERT family, Universal Sentence Encoder); %s.",
							   strcmp(naming, "llama") == 0 ?
							   "a decoder runs on the types of its GGUF file" :
							   strcmp(naming, "clip") == 0 ? "CLIP models run in f32" :
							   "this model is a tokenizer only"),
					 errhint("Register it without \"precision\", or with \"f32\".")));
	}
	else
		b->prep.meta.wfmt = EncoderFormat(b, precision);
	if (strcmp(naming, "tokenizer") == 0)
		size = pgim_tokenizer_file_size(0, b->blob_len);
	else if (strcmp(naming, "use") == 0)
	{
		if (pgim_use_file_size(use_source_config(b->use), b->prep.meta.wfmt, &size, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (strcmp(naming, "llama") == 0)
	{
		if (pgim_llama_file_size(b->gguf, &b->llama, b->blob_len, &size, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (strcmp(naming, "clip") == 0)
	{
		if (pgim_clip_file_size(&b->clip.config, b->blob_len, &size, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (pgim_file_size(&b->prep.config, b->prep.meta.wfmt, b->prep.vocab_len, 0, &size,
							&err) != PGI_OK)
		PgiReport(&err);

	(void) MakePGDirectory("pg_infer");
	b->tmp = psprintf("%s.tmp.%d", dest, MyProcPid);
	b->fd = open(b->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (b->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create \"%s\": %m", b->tmp)));
	/* reserve the blocks: running out of disk under a mapping would be SIGBUS */
	if ((rc = posix_fallocate(b->fd, 0, (off_t) size)) != 0)
	{
		errno = rc;
		if (rc == ENOSPC || rc == EFBIG)	/* no room, or over the file-size limit */
			ereport(ERROR,
					(errcode(ERRCODE_DISK_FULL),
					 errmsg("could not allocate %llu bytes for the prepared file of model \"%s\": %m",
							(unsigned long long) size, name),
					 errhint("Free %.1f MB in the file system of the data directory (pg_infer/), or raise the server's file-size limit.",
							 size / 1048576.0)));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not allocate %llu bytes for \"%s\": %m",
						(unsigned long long) size, b->tmp)));
	}
	b->out_len = size;
	b->out = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->out == MAP_FAILED)
	{
		b->out = NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not map \"%s\": %m", b->tmp)));
	}
	if (strcmp(naming, "tokenizer") == 0)
		pgim_build_tokenizer(b->out, &b->prep.meta, NULL, 0, b->blob, b->blob_len, key);
	else if (strcmp(naming, "use") == 0)
	{
		if (pgim_build_use(b->out, size, b->use, &b->prep.meta, key, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (strcmp(naming, "llama") == 0)
	{
		if (pgim_build_llama(b->out, size, b->gguf, &b->llama, &b->prep.meta, b->blob, b->blob_len,
							 key, CancelPending, NULL, &err) != PGI_OK)
		{
			CHECK_FOR_INTERRUPTS();
			PgiReport(&err);
		}
	}
	else if (strcmp(naming, "clip") == 0)
	{
		CancelFind	cf = {find, find_arg};

		if (pgim_build_clip(b->out, size, &b->clip, &b->prep.meta, FindOrCancel, &cf, b->blob,
							b->blob_len, key, &err) != PGI_OK)
		{
			CHECK_FOR_INTERRUPTS();
			PgiReport(&err);
		}
	}
	else
	{
		CancelFind	cf = {find, find_arg};

		if (pgim_build_bert(b->out, size, &b->prep.config, &b->prep.meta, naming, FindOrCancel, &cf,
							b->prep.vocab, b->prep.vocab_len, NULL, 0, key, &err) != PGI_OK)
		{
			CHECK_FOR_INTERRUPTS();
			PgiReport(&err);
		}
	}
	CHECK_FOR_INTERRUPTS();
	munmap(b->out, size);
	b->out = NULL;
	if (pg_fsync(b->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync \"%s\": %m", b->tmp)));
	close(b->fd);
	b->fd = -1;
	if (rename(b->tmp, dest) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m", b->tmp, dest)));
	b->tmp = NULL;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* Arguments of BuildPrepared under WithMappedFiles */
typedef struct BuildArgs
{
	const char *name;
	const char *source;
	const char *sha;
	const char *precision;
	const char *key;
	const char *dest;
} BuildArgs;

static void
BuildPreparedGuarded(void *arg)
{
	BuildArgs  *a = arg;

	BuildPrepared(a->name, a->source, a->sha, a->precision, a->key, a->dest);
}

/*
 * Lock the build of one sha256: flock on $PGDATA/pg_infer/<sha>.lock, so
 * that one process converts a model while the others wait.  A file lock,
 * not a heavyweight lock: the parallel workers of one query are a lock
 * group whose heavyweight locks never conflict, and each would build the
 * same file.  The wait polls so that cancel still works; the descriptor is
 * a transient file, closed (and the lock released) by UnlockBuild or when
 * the (sub)transaction aborts, and by the kernel if the process dies.
 */
static int
LockBuild(const char *sha)
{
	char	   *dir = "pg_infer";		/* relative to DataDir, where backends run */
	char	   *path = psprintf("%s/%s.lock", dir, sha);
	int			fd;

	(void) MakePGDirectory(dir);
	fd = OpenTransientFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\": %m", path)));
	while (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		if (errno != EWOULDBLOCK && errno != EINTR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not lock \"%s\": %m", path)));
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
	return fd;
}

static void
UnlockBuild(int fd)
{
	CloseTransientFile(fd);		/* releases the flock */
}

/* Map and check a prepared file; false (nothing mapped) when it is unusable */
static bool
TryMapPrepared(LoadedModel *m, const char *path, const char *sha, PgiError *err)
{
	MappedFile	mf = MapFile(path);

	if (pgim_open(mf.data, mf.len, &m->pm, err) != PGI_OK ||
		strcmp(m->pm.header->key, sha) != 0)
	{
		UnmapFile(&mf);
		return false;
	}
	KeepMapping(&mf);			/* the backend's, until ModelRelease */
	m->map = mf.data;
	m->map_len = mf.len;
	m->map_dev = mf.dev;
	m->map_ino = mf.ino;
	return true;
}

/*
 * Map the prepared file of key (CacheKey of sha and precision), building it
 * first if needed; a file left by another version of pg_infer (or damaged)
 * is rebuilt once
 */
static void
MapPrepared(LoadedModel *m, const char *name, const char *source, const char *sha,
			const char *precision, const char *key)
{
	char	   *path = ModelCachePath(key);
	PgiError	err = {0};
	struct stat st;

	int			lock;
	BuildArgs	args;
	TimestampTz start;
	long		secs;
	int			usecs;

	if (stat(path, &st) == 0 && TryMapPrepared(m, path, key, &err))
		return;
	lock = LockBuild(key);
	/* another process may have built it while we waited */
	if (stat(path, &st) == 0 && TryMapPrepared(m, path, key, &err))
	{
		UnlockBuild(lock);
		return;
	}
	/* (a stale file is replaced atomically by the rename at the end) */
	start = GetCurrentTimestamp();
	args.name = name;
	args.source = source;
	args.sha = sha;
	args.precision = precision;
	args.key = key;
	args.dest = path;
	WithMappedFiles(source, BuildPreparedGuarded, &args);
	memset(&err, 0, sizeof(err));
	if (!TryMapPrepared(m, path, key, &err))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("prepared model file \"%s\" is invalid", path),
				 errdetail("%s", err.msg[0] ? err.msg : "Its sha256 does not match the registry.")));
	UnlockBuild(lock);
	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	ereport(LOG,
			(errmsg("pg_infer: prepared model \"%s\" (%.1f MB) in %ld ms",
					name, m->map_len / 1048576.0, secs * 1000 + usecs / 1000),
			 errhidestmt(true)));
}

/* Drop a model's mapping and tokenizer */
static void
ModelRelease(LoadedModel *m)
{
	if (m->tok)
		TokenizerFree(m->tok);
	m->tok = NULL;
	if (m->map)
		munmap((void *) m->map, m->map_len);
	m->map = NULL;
}

/*
 * Whether m's mapping is still the file in the cache: same inode, not just
 * the same size (unload_model deletes the file and the next use rebuilds
 * it; a backend holding the old one would keep a deleted file mapped)
 */
static bool
StillCached(LoadedModel *m)
{
	struct stat st;

	return stat(ModelCachePath(m->key), &st) == 0 &&
		st.st_dev == m->map_dev && st.st_ino == m->map_ino &&
		(size_t) st.st_size == m->map_len;
}

/* Once per backend: what is missing without shared_preload_libraries */
static void
NoticeNotPreloaded(void)
{
	static bool noticed = false;

	if (noticed || pgi_shared_preload || IsBackgroundWorker || IsParallelWorker())
		return;
	noticed = true;
	ereport(NOTICE,
			(errmsg("pg_infer is not in shared_preload_libraries"),
			 errdetail("Models still share their prepared files between backends, but "
					   "pg_infer.preload_models is not applied and a session's first query is "
					   "planned without cross-row batching."),
			 errhint("Add pg_infer to shared_preload_libraries and restart the server.")));
}

/* A decoder's context: the registry's "context_length" option, or the file's */
static int32
ContextLength(const LoadedModel *m, const char *option)
{
	char	   *end;
	long		v;

	if (m->pm.arch != PGIM_ARCH_LLAMA)
		return 0;
	if (option == NULL)
		return m->pm.llama_config.ctx_len;
	errno = 0;
	v = strtol(option, &end, 10);
	if (errno != 0 || *end != '\0' || end == option || v < 1 || v > LLAMA_MAX_CTX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"context_length\" of model \"%s\" must be an integer between 1 and %d",
						m->name, LLAMA_MAX_CTX)));
	return (int32) v;
}

LoadedModel *
ModelGet(const char *name)
{
	LoadedModel *m;
	char	   *source;
	char	   *sha;
	char	   *ctx;
	char	   *precision;
	char	   *key;

	NoticeNotPreloaded();

	for (m = models; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			break;
	if (m && m->map && m->tok && !m->stale)
		return m;
	if (!OidIsValid(registryRelid))
		registryRelid = RegistryRelid();
	RegistryLookup(name, &source, &sha, &ctx, &precision);
	key = CacheKey(sha, precision);
	if (m == NULL)
	{
		m = MemoryContextAllocZero(TopMemoryContext, sizeof(LoadedModel));
		strlcpy(m->name, name, sizeof(m->name));
		m->next = models;
		models = m;
	}
	if (m->map && (strcmp(m->key, key) != 0 || !StillCached(m) || m->tok == NULL))
		ModelRelease(m);
	if (m->map == NULL)
	{
		strlcpy(m->sha256, sha, sizeof(m->sha256));
		strlcpy(m->key, key, sizeof(m->key));
		MapPrepared(m, name, source, sha, precision, key);
		m->tok = TokenizerCreate(&m->pm);
	}
	m->ctx_len = ContextLength(m, ctx);
	m->stale = false;
	return m;
}

/*
 * Preload (pg_infer.preload_models): load a registered model, building its
 * prepared file if needed, and read the file through so its pages are in
 * the page cache; false when name is not registered
 */
bool
ModelPreload(const char *name, size_t *bytes)
{
	char	   *source;
	char	   *sha;
	char	   *ctx;
	char	   *precision;
	LoadedModel *m;
	volatile uint8 sum = 0;

	if (!OidIsValid(registryRelid))
		registryRelid = RegistryRelid();
	if (!RegistryFind(name, &source, &sha, &ctx, &precision))
		return false;
	m = ModelGet(name);
	for (size_t i = 0; i < m->map_len; i += 4096)
	{
		sum += m->map[i];
		if ((i & ((1 << 24) - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	*bytes = m->map_len;
	return true;
}

/*
 * The prepared files of a sha256, one per precision ("<sha>.pgim",
 * "<sha>.<precision>.pgim"): how many there are, each removed if remove
 */
static int
ForEachPrepared(const char *sha, bool remove)
{
	DIR		   *dir = AllocateDir("pg_infer");
	struct dirent *de;
	int			n = 0;

	if (dir == NULL)
		return 0;				/* nothing prepared yet */
	while ((de = ReadDir(dir, "pg_infer")) != NULL)
	{
		size_t		len = strlen(de->d_name);
		char	   *path;

		if (strncmp(de->d_name, sha, 64) != 0 || len < 69 ||
			strcmp(de->d_name + len - 5, ".pgim") != 0 ||
			(de->d_name[64] != '.'))
			continue;
		n++;
		path = psprintf("pg_infer/%s", de->d_name);
		if (remove && unlink(path) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove \"%s\": %m", path)));
	}
	FreeDir(dir);
	return n;
}

PG_FUNCTION_INFO_V1(pgi_model_cached);

/* Whether a prepared file of a sha256 (any precision) is in the cache (pg_infer.models.loaded) */
Datum
pgi_model_cached(PG_FUNCTION_ARGS)
{
	char	   *sha = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strspn(sha, "0123456789abcdef") != strlen(sha) || strlen(sha) != 64)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(ForEachPrepared(sha, false) > 0);
}

PG_FUNCTION_INFO_V1(pgi_model_evict);

/* Remove the prepared files of a sha256, every precision (unload_model) */
Datum
pgi_model_evict(PG_FUNCTION_ARGS)
{
	char	   *sha = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strspn(sha, "0123456789abcdef") != strlen(sha) || strlen(sha) != 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sha256 \"%s\"", sha)));
	(void) ForEachPrepared(sha, true);
	InvalidateRegistry();
	PG_RETURN_BOOL(true);
}
