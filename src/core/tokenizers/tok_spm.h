/*-------------------------------------------------------------------------
 *
 * tok_spm.h
 *	  SentencePiece tokenisation: a C API over Debian's libsentencepiece,
 *	  and a builder of SentencePiece models from GGUF vocabularies.
 *
 * Two files implement it:
 *	- tok_spm_proto.c (pure C): a bounded checker of serialized
 *	  sentencepiece.ModelProto bytes (the *.model files that Hugging Face
 *	  directories carry), and a writer of such bytes from a vocabulary's
 *	  arrays, used for llama.cpp GGUF files whose tokenizer.ggml.model is
 *	  "llama";
 *	- tok_spm_shim.cpp (the project's only C++): a thin extern "C" wrapper
 *	  of sentencepiece::SentencePieceProcessor.  It catches every exception
 *	  and reports it as a PgiStatus; no exception leaves it.
 *
 * Model bytes are always checked by tok_spm_proto_check before they reach
 * libsentencepiece: the wire format, field types, piece types and counts,
 * pieces (UTF-8 without NUL), and the normaliser's precompiled character
 * map, a double-array trie that libsentencepiece walks without bounds
 * checks (a hostile map makes it read outside the model).  Malformed or
 * hostile bytes give PGI_ERR_CORRUPT; sizes past the caps below give
 * PGI_ERR_LIMIT.
 *
 * Encoding returns ids only: no BOS/EOS, the caller adds specials (the
 * ids are in TokSpmInfo).  Text that is not valid UTF-8 is handled as
 * libsentencepiece does: each byte that does not start a valid sequence
 * becomes U+FFFD, which then encodes as <unk> or, with byte fallback, as
 * the bytes EF BF BD.  Outputs are malloc'd; the caller frees them with
 * free().  A TokSpm is immutable after opening and may be shared by
 * threads.
 *
 * src/core/tokenizers/tok_spm.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_SPM_H
#define TOK_SPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/formats/gguf.h"
#include "core/pgi_status.h"

#ifdef __cplusplus
extern "C"
{
#endif

#define TOK_SPM_MAX_PROTO		(64 * 1024 * 1024)	/* bytes of a model */
#define TOK_SPM_MAX_PIECES		(1 << 21)	/* pieces in a model */
#define TOK_SPM_MAX_CHARSMAP	(8 * 1024 * 1024)	/* normaliser rule bytes */
/*
 * libsentencepiece encodes a text as one sentence and needs 150-250 bytes
 * of working memory per input byte (measured: 1 MiB took 170 MB as BPE,
 * 240 MB as unigram, about a second), so a call takes at most 1 MiB, some
 * 250,000 tokens, far past any model's context.
 */
#define TOK_SPM_MAX_TEXT		(1024 * 1024)	/* bytes to encode at once */
#define TOK_SPM_MAX_IDS			(1024 * 1024)	/* ids to decode at once */

/* trainer_spec.model_type */
typedef enum TokSpmModelType
{
	TOK_SPM_UNIGRAM = 1,
	TOK_SPM_BPE = 2,
	TOK_SPM_WORD = 3,
	TOK_SPM_CHAR = 4
} TokSpmModelType;

/* Piece types: ModelProto.SentencePiece.Type, also GGUF token_type */
typedef enum TokSpmPieceType
{
	TOK_SPM_NORMAL = 1,
	TOK_SPM_UNKNOWN = 2,
	TOK_SPM_CONTROL = 3,
	TOK_SPM_USER_DEFINED = 4,
	TOK_SPM_UNUSED = 5,
	TOK_SPM_BYTE = 6
} TokSpmPieceType;

/* What a model says about itself */
typedef struct TokSpmInfo
{
	int32_t		n_pieces;
	TokSpmModelType model_type;
	int32_t		unk_id;			/* special ids; -1 when the model has none */
	int32_t		bos_id;
	int32_t		eos_id;
	int32_t		pad_id;
	int			add_bos;		/* 1/0 as a GGUF file says (llama.cpp's
								 * defaults when it does not); -1 for a
								 * ModelProto, which does not say */
	int			add_eos;
	bool		byte_fallback;	/* unknown characters become <0xNN> pieces */
	bool		add_dummy_prefix;	/* a space is put before the text */
	bool		remove_extra_whitespaces;	/* leading, trailing and repeated
											 * spaces are dropped */
	bool		escape_whitespaces; /* spaces become U+2581 */
	bool		treat_whitespace_as_suffix;
	bool		has_charsmap;	/* a normalisation rule (else identity) */
	size_t		charsmap_len;
} TokSpmInfo;

/*
 * A vocabulary to write as a ModelProto.  Piece i is pieces[i] with
 * piece_lens[i] bytes (not NUL-terminated), score scores[i] (NULL: 0) and
 * type types[i] (NULL: NORMAL).  unk_id is required; the others may be -1.
 */
typedef struct TokSpmVocab
{
	size_t		n;
	const char *const *pieces;
	const size_t *piece_lens;
	const float *scores;
	const int32_t *types;
	TokSpmModelType model_type;
	int32_t		unk_id;
	int32_t		bos_id;
	int32_t		eos_id;
	int32_t		pad_id;
	bool		byte_fallback;
	bool		add_dummy_prefix;
	bool		remove_extra_whitespaces;
} TokSpmVocab;

typedef struct TokSpm TokSpm;

/* tok_spm_proto.c: checking and writing ModelProto bytes (pure C) */

/* Check proto[0..len-1] as a ModelProto; fill *info (may be NULL) */
extern PgiStatus tok_spm_proto_check(const uint8_t *proto, size_t len,
									 TokSpmInfo *info, PgiError *err);

/* Write a vocabulary as ModelProto bytes; *out is malloc'd */
extern PgiStatus tok_spm_proto_build(const TokSpmVocab *v, uint8_t **out,
									 size_t *out_len, PgiError *err);

/*
 * Write the vocabulary of a GGUF file with tokenizer.ggml.model "llama" as
 * ModelProto bytes (*out malloc'd), as llama.cpp reads it: BPE over the
 * scores, identity normalisation, add_dummy_prefix from
 * tokenizer.ggml.add_space_prefix (default true), byte fallback when the
 * vocabulary has BYTE pieces.  *info (may be NULL) gets the GGUF's special
 * ids and add_bos/add_eos.
 */
extern PgiStatus tok_spm_proto_from_gguf(const GgufFile *f, uint8_t **out,
										 size_t *out_len, TokSpmInfo *info,
										 PgiError *err);

/* tok_spm_shim.cpp: tokenising with libsentencepiece */

/* Load a processor from ModelProto bytes (copied; the caller keeps them) */
extern PgiStatus tok_spm_open(const uint8_t *proto, size_t len, TokSpm **out,
							  PgiError *err);

/* Load a processor from a GGUF file's "llama" vocabulary */
extern PgiStatus tok_spm_open_gguf(const GgufFile *f, TokSpm **out,
								   PgiError *err);

extern void tok_spm_free(TokSpm *sp);
extern const TokSpmInfo *tok_spm_info(const TokSpm *sp);

/* Encode UTF-8 text[0..len-1] to ids (no BOS/EOS); *ids malloc'd */
extern PgiStatus tok_spm_encode(const TokSpm *sp, const char *text, size_t len,
								int32_t **ids, size_t *n_ids, PgiError *err);

/* Decode ids to UTF-8 text; *text malloc'd and NUL-terminated */
extern PgiStatus tok_spm_decode(const TokSpm *sp, const int32_t *ids, size_t n,
								char **text, size_t *len, PgiError *err);

extern int32_t tok_spm_n_pieces(const TokSpm *sp);

/* Piece of id (NOT NUL-terminated, *len bytes); NULL if out of range */
extern const char *tok_spm_id_to_piece(const TokSpm *sp, int32_t id,
									   size_t *len);

/* Id of a piece; -1 if the vocabulary has no such piece */
extern int32_t tok_spm_piece_to_id(const TokSpm *sp, const char *piece,
								   size_t len);

/*
 * Whether id is a control or unknown piece: the pieces a chat prompt names
 * by their text (<s>, </s>, <|im_start|>...), which llama.cpp and Hugging
 * Face match verbatim before encoding (SentencePiece itself matches
 * user-defined pieces)
 */
extern bool tok_spm_is_special(const TokSpm *sp, int32_t id);

#ifdef __cplusplus
}
#endif

#endif							/* TOK_SPM_H */
