/*-------------------------------------------------------------------------
 *
 * models.h
 *	  Registered models in use by this backend: prepared files mapped from
 *	  the shared cache, with their tokenizers.
 *
 * src/pg/models/models.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_MODELS_H
#define PGI_MODELS_H

#include "core/models/pgim.h"

typedef struct PgiTokenizer PgiTokenizer;

typedef struct LoadedModel
{
	char		name[64];
	char		sha256[72];
	char		key[80];		/* its prepared file: sha256[.precision] */
	bool		stale;			/* registry changed since last checked */
	const uint8 *map;			/* the prepared file, mapped read-only */
	size_t		map_len;
	dev_t		map_dev;		/* identity of the mapped file, to notice */
	ino_t		map_ino;		/* a rebuilt or deleted one */
	PgimModel	pm;
	int32		ctx_len;		/* decoders: context length (file, or the
								 * registry's "context_length" option) */
	PgiTokenizer *tok;
	struct LoadedModel *next;
} LoadedModel;

extern char *pgi_default_model;
extern int	pgi_max_batch_tokens;
extern bool pgi_shared_preload;	/* pg_infer.c */

extern void ModelsInit(void);

/*
 * A number that changes whenever the registry (or the table of trained
 * heads, whose trigger shares the registry's invalidation) may have changed
 */
extern uint64 RegistryGeneration(void);

/* Name of the extension's schema (where its tables live), palloc'd */
extern char *ExtensionSchemaName(void);

/* The model registered as name, mapped and ready (ERROR if unknown) */
extern LoadedModel *ModelGet(const char *name);

/* Load name and read its prepared file into the page cache; false if unknown */
extern bool ModelPreload(const char *name, size_t *bytes);

/* Facts of a TF.js USE Lite directory (ERROR when any file is bad) */
extern void ModelDescribeTfjs(const char *path, int64 *dims, int64 *max_tokens, int64 *vocab);

/* Check a BERT model's files completely (registration); ERROR when bad */
extern void ModelValidate(const char *path);

/* Path of the prepared file of a sha256 in the server's cache */
extern char *ModelCachePath(const char *sha256);

/* Tokenizer glue (tokenizer.c) */
/* NFC of code points with PostgreSQL's Unicode tables (tok_bpe.h's TokNfcFn) */
extern int64_t PgNfc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap);
extern PgiTokenizer *TokenizerCreate(const PgimModel *pm);
extern void TokenizerFree(PgiTokenizer *tok);
/* ids of text without special tokens, palloc'd */
extern int32 *TokenizerEncode(PgiTokenizer *tok, const char *text, int len, int *n);
/*
 * The same with each id's span in text: (*offs)[2i], (*offs)[2i+1] are
 * character (code point) offsets, end exclusive, and (*words)[i] the
 * index of its word, palloc'd; WordPiece tokenizers only (ERROR otherwise)
 */
extern int32 *TokenizerEncodeOffsets(PgiTokenizer *tok, const char *text, int len, int *n,
									 uint32 **offs, uint32 **words);
/*
 * The same, the pieces of special tokens in the text (BOS, EOS, chat
 * markers: control and user-defined tokens) becoming their ids, as
 * llama.cpp and Hugging Face read chat prompts
 */
extern int32 *TokenizerEncodeSpecial(PgiTokenizer *tok, const char *text, int len, int *n);
/* piece of id (BOS / EOS spelled as in a prompt), palloc'd; "" if none */
extern char *TokenizerPiece(PgiTokenizer *tok, int32 id);
/* text of ids (specials dropped) */
extern char *TokenizerDecode(PgiTokenizer *tok, const int32 *ids, int n);
/* the same as raw bytes, not checked as UTF-8 (*len bytes, NUL after) */
extern char *TokenizerDecodeBytes(PgiTokenizer *tok, const int32 *ids, int n, int *len);

#endif							/* PGI_MODELS_H */
