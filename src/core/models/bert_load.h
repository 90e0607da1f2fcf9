/*-------------------------------------------------------------------------
 *
 * bert_load.h
 *	  Read a BERT-family model's configuration, tokenizer and tensors from
 *	  a GGUF file or a Hugging Face directory, for pgim_build_bert().
 *
 * Hugging Face directory: config.json (model_type "bert", hidden_act
 * "gelu", absolute positions), tokenizer.json (WordPiece model,
 * BertNormalizer) or vocab.txt + tokenizer_config.json, and the
 * sentence-transformers files modules.json, 1_Pooling/config.json and
 * sentence_bert_config.json, which give pooling, normalisation and the
 * maximum sequence length.  Without them: mean pooling, no normalisation,
 * max_position_embeddings tokens.
 *
 * GGUF (llama.cpp's "bert" architecture): bert.* metadata, the WordPiece
 * vocabulary in llama.cpp's form (tokenizer.ggml.model "bert"), pooling
 * from bert.pooling_type; embeddings are L2-normalised by default, as
 * llama.cpp does; lower-casing and accent stripping always on, as
 * llama.cpp's WordPiece tokenizer does.
 *
 * src/core/models/bert_load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef BERT_LOAD_H
#define BERT_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/models/bert.h"
#include "core/formats/gguf.h"
#include "core/pgi_status.h"
#include "core/models/pgim.h"
#include "core/formats/safetensors.h"

/* The text files of a Hugging Face directory (NULL when absent) */
typedef struct BertHfFiles
{
	const char *config;			/* config.json, required */
	size_t		config_len;
	const char *tokenizer_json;
	size_t		tokenizer_json_len;
	const char *vocab_txt;
	size_t		vocab_txt_len;
	const char *tokenizer_config;	/* tokenizer_config.json */
	size_t		tokenizer_config_len;
	const char *modules;		/* modules.json */
	size_t		modules_len;
	const char *pooling;		/* 1_Pooling/config.json */
	size_t		pooling_len;
	const char *st_config;		/* sentence_bert_config.json */
	size_t		st_config_len;
} BertHfFiles;

/* Everything but the tensors */
typedef struct BertPrep
{
	BertConfig	config;
	PgimMeta	meta;
	uint8_t    *vocab;			/* vocab section (malloc'd) */
	size_t		vocab_len;
} BertPrep;

extern PgiStatus bert_prep_hf(const BertHfFiles *f, BertPrep *out, PgiError *err);
extern PgiStatus bert_prep_gguf(const GgufFile *g, BertPrep *out, PgiError *err);
extern void bert_prep_free(BertPrep *p);

/* PgimFindFn over a GgufFile (arg) */
extern PgiStatus bert_find_gguf(void *arg, const char *name, PgimTensor *out,
								int *found, PgiError *err);

/* PgimFindFn over a set of safetensors files (arg: BertStSet) */
typedef struct BertStSet
{
	SafetensorsFile *const *files;
	int			n;
} BertStSet;

extern PgiStatus bert_find_safetensors(void *arg, const char *name, PgimTensor *out,
									   int *found, PgiError *err);

#endif							/* BERT_LOAD_H */
