/*-------------------------------------------------------------------------
 *
 * pgim.h
 *	  The prepared-model file: a model's weights as float32 arrays in the
 *	  layout the forward pass reads, plus its tokenizer, in one file that
 *	  every backend maps read-only (so the weights are in memory once per
 *	  server, in the page cache, whatever the number of backends).
 *
 * Layout (host byte order; the file is a cache local to one server, keyed
 * by the sha256 of the model's source files, and rebuilt when absent):
 *	header (PGIM_HEADER_SIZE bytes)
 *	weights: float32 arrays in a fixed order computed from the config
 *			 (bert_layout in pgim.c), each 64-byte aligned; the matrices of
 *			 the linear layers in gemm_pack's panel layout (gemm.h)
 *	vocab:	 u32 count, then per token u32 length + bytes (HF form); for a
 *			 BERT model with a head (BertConfig.head), then the labels in id
 *			 order: u32 count, per label u32 length + bytes
 *	blob:	 tokenizer-specific bytes (e.g. a SentencePiece model proto)
 * pgim_open() checks magic, version, sizes, that every section lies inside
 * the file and that the weights hold no NaN/Inf only when asked (slow).
 *
 * src/core/models/pgim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGIM_H
#define PGIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/formats/gguf.h"
#include "core/models/bert.h"
#include "core/models/clip.h"
#include "core/models/source_tensor.h"
#include "core/models/llama.h"
#include "core/pgi_status.h"
#include "core/tokenizers/chat.h"
#include "core/models/use_load.h"

#define PGIM_MAGIC			"PGIMODL1"
#define PGIM_VERSION		9
#define PGIM_HEADER_SIZE	4096
#define PGIM_ALIGN			64

typedef enum PgimArch
{
	PGIM_ARCH_BERT = 1,
	PGIM_ARCH_TOKENIZER = 2,	/* a tokenizer only (models pg_infer cannot
								 * run yet): no weights */
	PGIM_ARCH_USE = 3,			/* Universal Sentence Encoder Lite: the
								 * weights section is use_pack's (use_load.h) */
	PGIM_ARCH_LLAMA = 4,		/* LLaMA-family decoder: the weights section
								 * is llama_pack's (llama_load.h) */
	PGIM_ARCH_CLIP = 5			/* CLIP dual encoder or its vision tower: the
								 * weights section is clip_pack's (clip_load.h) */
} PgimArch;

typedef enum PgimTokKind
{
	PGIM_TOK_NONE = 0,
	PGIM_TOK_WORDPIECE = 1,
	PGIM_TOK_SENTENCEPIECE = 2,
	PGIM_TOK_BPE = 3,
	PGIM_TOK_UNIGRAM = 4		/* USE Lite's (tok_unigram.h), from the weights */
} PgimTokKind;

/* tok_flags bits */
#define PGIM_TOK_LOWERCASE		0x01
#define PGIM_TOK_STRIP_ACCENTS	0x02
#define PGIM_TOK_CHINESE_CHARS	0x04
#define PGIM_TOK_CLEAN_TEXT		0x08
#define PGIM_TOK_BLOB_JSON		0x10	/* BPE: the blob is a tokenizer.json
										 * (else a GGUF of tokenizer keys) */

/* What the runtime needs besides weights: tokenizer and embedding defaults */
typedef struct PgimMeta
{
	uint32_t	tok_kind;		/* PgimTokKind */
	uint32_t	tok_flags;		/* PGIM_TOK_* */
	int32_t		max_chars_per_word; /* WordPiece: longer words are [UNK] */
	int32_t		cls_id;			/* -1 when the model has none */
	int32_t		sep_id;
	int32_t		pad_id;
	int32_t		unk_id;
	int32_t		mask_id;
	int32_t		bos_id;
	int32_t		eos_id;
	int32_t		pooling;		/* BertPooling */
	int32_t		normalize;		/* L2-normalise embeddings by default */
	int32_t		max_tokens;		/* with specials; <= max_pos (0: no limit) */
	int32_t		add_bos;		/* tokenize() puts bos_id first */
	int32_t		add_eos;		/* tokenize() puts eos_id last */
	GemmFormat	wfmt;			/* encoders: the linear layers' weight
								 * format (load_model's "precision") */
	int32_t		reserved[15];
	ChatFormat	chat;			/* decoders: the chat template's family */
} PgimMeta;

/* The file's first bytes */
typedef struct PgimHeader
{
	char		magic[8];
	uint32_t	version;
	uint32_t	arch;			/* PgimArch */
	uint64_t	file_size;
	char		sha256[72];		/* of the source, NUL-terminated hex */
	BertConfig	config;
	PgimMeta	meta;
	UseConfig	use_config;		/* PGIM_ARCH_USE */
	LlamaConfig llama_config;	/* PGIM_ARCH_LLAMA */
	ClipPrep	clip;			/* PGIM_ARCH_CLIP */
	uint64_t	weights_off;
	uint64_t	weights_len;
	uint64_t	vocab_off;
	uint64_t	vocab_len;
	uint64_t	blob_off;
	uint64_t	blob_len;
	char		key[96];		/* sha256 and weight format, "<sha256>[.<precision>]":
								 * the name of the file (NUL-terminated) */
} PgimHeader;

/* A mapped, checked prepared model */
typedef struct PgimModel
{
	const PgimHeader *header;
	PgimArch	arch;
	BertConfig	config;
	PgimMeta	meta;
	BertWeights weights;		/* pointers into the mapping (BERT) */
	UseConfig	use_config;		/* PGIM_ARCH_USE */
	UseWeights	use_weights;
	LlamaConfig llama_config;	/* PGIM_ARCH_LLAMA */
	LlamaWeights llama_weights;
	ClipPrep	clip;			/* PGIM_ARCH_CLIP */
	ClipWeights clip_weights;
	const uint8_t *vocab;		/* vocab section */
	uint64_t	vocab_len;
	const uint8_t *blob;
	uint64_t	blob_len;
} PgimModel;

/* Whether fmt is valid and can hold layers of up to max_k inputs */
extern PgiStatus pgim_format_check(GemmFormat fmt, int64_t max_k, PgiError *err);

/* Bytes of weights of a BERT config in weight format fmt */
extern PgiStatus pgim_bert_weights_size(const BertConfig *c, GemmFormat fmt, uint64_t *bytes,
										PgiError *err);

/* Total file size */
extern PgiStatus pgim_file_size(const BertConfig *c, GemmFormat fmt, uint64_t vocab_len,
								uint64_t blob_len, uint64_t *bytes, PgiError *err);

/*
 * Write a prepared BERT model into dst (size from pgim_file_size): tensors
 * are found by name through find (naming: "gguf" = llama.cpp's names,
 * "hf" = Hugging Face BertModel's, with an optional "bert." prefix),
 * checked against the config's shapes, converted to float32 and checked
 * to be finite; the linear layers' matrices are then packed in
 * meta->wfmt.
 */
extern PgiStatus pgim_build_bert(uint8_t *dst, uint64_t dst_len, const BertConfig *c,
								 const PgimMeta *meta, const char *naming,
								 PgimFindFn find, void *find_arg,
								 const uint8_t *vocab, uint64_t vocab_len,
								 const uint8_t *blob, uint64_t blob_len,
								 const char *sha256, PgiError *err);

/*
 * Check, without converting anything, that the source has every tensor of
 * the config with the right shape and a readable type (registration)
 */
extern PgiStatus pgim_check_bert(const BertConfig *c, const char *naming,
								 PgimFindFn find, void *find_arg, PgiError *err);

/* Size and contents of a tokenizer-only prepared file */
extern uint64_t pgim_tokenizer_file_size(uint64_t vocab_len, uint64_t blob_len);
extern void pgim_build_tokenizer(uint8_t *dst, const PgimMeta *meta,
								 const uint8_t *vocab, uint64_t vocab_len,
								 const uint8_t *blob, uint64_t blob_len, const char *sha256);

/* Size and contents (from a loaded TF.js source) of a USE Lite prepared file */
extern PgiStatus pgim_use_file_size(const UseConfig *c, GemmFormat fmt, uint64_t *bytes,
								   PgiError *err);
extern PgiStatus pgim_build_use(uint8_t *dst, uint64_t dst_len, const UseSource *src,
								const PgimMeta *meta, const char *sha256, PgiError *err);

/*
 * Size and contents of a decoder's prepared file: the GGUF's tensors
 * (llama_pack) and the tokenizer blob; cancel as in llama_pack
 */
extern PgiStatus pgim_llama_file_size(const GgufFile *g, const LlamaConfig *c, uint64_t blob_len,
									  uint64_t *bytes, PgiError *err);
extern PgiStatus pgim_build_llama(uint8_t *dst, uint64_t dst_len, const GgufFile *g,
								  const LlamaConfig *c, const PgimMeta *meta,
								  const uint8_t *blob, uint64_t blob_len, const char *sha256,
								  int (*cancel) (void *), void *cancel_arg, PgiError *err);

/*
 * Size and contents of a CLIP model's prepared file: the tensors found
 * through find (clip_pack) and the tokenizer blob (a tokenizer.json when
 * the model has a text tower)
 */
extern PgiStatus pgim_clip_file_size(const ClipConfig *c, uint64_t blob_len, uint64_t *bytes,
									 PgiError *err);
extern PgiStatus pgim_build_clip(uint8_t *dst, uint64_t dst_len, const ClipPrep *prep,
								 const PgimMeta *meta, PgimFindFn find, void *find_arg,
								 const uint8_t *blob, uint64_t blob_len, const char *sha256,
								 PgiError *err);

/* Check and bind a prepared model held in data[0..len-1] */
extern PgiStatus pgim_open(const uint8_t *data, uint64_t len, PgimModel *out,
						   PgiError *err);

/* Vocab section helpers: count and token i (pointer, length) */
extern uint32_t pgim_vocab_count(const PgimModel *m);
extern PgiStatus pgim_vocab_tokens(const PgimModel *m, const char **tokens,
								   size_t *lens, PgiError *err);

/* The head's labels (config.n_labels of them) after the vocabulary */
extern PgiStatus pgim_labels(const PgimModel *m, const char **labels, size_t *lens,
							 PgiError *err);

#endif							/* PGIM_H */
