/*-------------------------------------------------------------------------
 *
 * tok_bpe.h
 *	  Byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2, SmolLM, CLIP
 *	  families), matching Hugging Face tokenizers: AddedVocabulary +
 *	  normalizer (NFC, whitespace Replace, Lowercase) + Split / Digits /
 *	  ByteLevel pre-tokenizers + BPE model (optionally with an
 *	  end-of-word suffix) + ByteLevel decoder.
 *
 * Encoding, in Hugging Face's order:
 *	1. added tokens that are not "normalized" (special tokens, normally)
 *	   are found in the raw text, leftmost-longest, and become their ids,
 *	   honouring single_word, lstrip and rstrip; the text between them
 *	   goes on, piece by piece;
 *	2. the normalizer, when the tokenizer has one, over each piece: its
 *	   steps in the file's order (tok_bpe_norm.h: NFC, every whitespace
 *	   run to one space, lower case); then the "normalized" added tokens
 *	   (whose contents went through the same normalizer) are found in the
 *	   normalized text;
 *	3. the pre-tokenizer steps cut each piece into words: Split with a
 *	   known pattern, either "Isolated" (matches and the text between them
 *	   are words) or "Removed" with invert (the matches are the words, the
 *	   text between them is dropped: CLIP's whitespace), and Digits; then
 *	   ByteLevel puts a space before each word that lacks one
 *	   (add_prefix_space), splits it with the GPT-2 pattern (use_regex) and
 *	   spells its bytes as GPT-2's byte-to-unicode characters;
 *	4. the BPE model: with ignore_merges, a word that is a vocabulary
 *	   entry is that token (looked up without the suffix, as Hugging Face
 *	   does); otherwise the word starts as one symbol per character, the
 *	   last one spelled with the end_of_word_suffix ("</w>" for CLIP) when
 *	   the model has one; a symbol missing from the vocabulary becomes
 *	   unk_token (fused when fuse_unk), or the byte_fallback tokens <0xNN>
 *	   of its UTF-8 (the suffix's bytes included), or is dropped when the
 *	   model has no unk_token; the adjacent pair of lowest merge rank,
 *	   leftmost first, is merged until no pair has a rank.  A binary heap
 *	   keeps this O(n log n) in the length of the word.
 * No BOS/EOS is added: tok_bpe_info() tells the caller which to add.
 *
 * Decoding is Hugging Face's Tokenizer::decode with the ByteLevel decoder:
 * each id becomes its added token's content (for a "normalized" one, its
 * content through the normalizer, as the reference's simple_id_to_token
 * gives) or vocabulary entry; special tokens are skipped on request (an
 * id is skipped when that string is a special token's content); a token
 * made only of byte-to-unicode characters becomes those bytes, any other
 * token its own UTF-8; the bytes are read as UTF-8 with every maximal
 * invalid subsequence replaced by U+FFFD (Rust's
 * String::from_utf8_lossy).  An end-of-word suffix is not removed: "</w>"
 * is made of byte-level characters, so CLIP's tokens decode to
 * "a</w>photo</w>", as the reference's ByteLevel decoder gives (CLIP's
 * tokenizer.json has that decoder).
 *
 * Sources: tok_bpe_from_json() reads a tokenizer.json (model.type "BPE"),
 * tok_bpe_from_gguf() reads llama.cpp's keys (tokenizer.ggml.model
 * "gpt2"), and tok_bpe_new() takes the pieces directly.  Anything that
 * would tokenize differently from the reference and is not implemented
 * (another normalizer or Replace pattern, an unknown Split pattern or
 * behavior, a non-ByteLevel decoder, dropout, a continuing_subword_prefix)
 * is PGI_ERR_UNSUPPORTED rather than an approximation.
 *
 * Character classes (\p{L}, \p{N}, \s, \w) are those of the reference's
 * Unicode 16.0 tables (tok_bpe_unicode.h).
 *
 * Memory: malloc'd at build time (about 70 bytes per vocabulary entry and
 * 32 to 64 per merge, plus the strings: 25 MB for Llama 3); encoding
 * allocates work buffers per call and frees them before returning.  A
 * built tokenizer is read-only and may be shared by threads.
 *
 * src/core/tokenizers/tok_bpe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_BPE_H
#define TOK_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/formats/gguf.h"
#include "core/formats/json.h"
#include "core/pgi_status.h"
#include "core/tokenizers/tok_bpe_norm.h"
#include "core/tokenizers/tok_bpe_pre.h"

/* Largest id (exclusive) a vocabulary may use */
#define TOK_BPE_MAX_IDS		(1 << 24)
/* Pre-tokenizer steps before ByteLevel */
#define TOK_BPE_MAX_STEPS	8
/* Longest end_of_word_suffix (bytes) */
#define TOK_BPE_MAX_SUFFIX	64

typedef struct TokBpe TokBpe;

/* Environment of a tokenizer, not part of its files */
typedef struct TokBpeOptions
{
	TokNfcFn	nfc;			/* (tok_bpe_norm.h) needed only by tokenizers
								 * with an NFC normalizer step */
	void	   *nfc_arg;
} TokBpeOptions;

/* One pre-tokenizer step before ByteLevel */
typedef enum TokBpeStepKind
{
	TOK_BPE_STEP_SPLIT,			/* Split(pattern, "Isolated"): matches and gaps */
	TOK_BPE_STEP_DIGITS,		/* Digits(individual_digits) */
	TOK_BPE_STEP_KEEP			/* Split(pattern, "Removed", invert true): the
								 * matches only */
} TokBpeStepKind;

typedef struct TokBpeStep
{
	TokBpeStepKind kind;
	TokBpePattern pattern;		/* SPLIT, KEEP */
	bool		individual_digits;	/* DIGITS */
} TokBpeStep;

/* An added token, as in tokenizer.json's added_tokens */
typedef struct TokBpeAdded
{
	const char *content;		/* valid UTF-8; empty ones are ignored */
	size_t		len;
	bool		special;
	bool		normalized;
	bool		lstrip;
	bool		rstrip;
	bool		single_word;
} TokBpeAdded;

/* Everything a tokenizer is built from (the strings are copied) */
typedef struct TokBpeSpec
{
	/* model vocabulary, in the byte-level spelling ("Ġthe") */
	const char *const *tokens;
	const size_t *lens;
	const int32_t *ids;			/* token i has id ids[i]; NULL: id i */
	int32_t		n_tokens;
	/* merges in rank order: the pair (left[i], right[i]) has rank i */
	const char *const *merge_left;
	const size_t *merge_left_lens;
	const char *const *merge_right;
	const size_t *merge_right_lens;
	int32_t		n_merges;
	/* model options */
	const char *unk_token;		/* NULL: none */
	size_t		unk_len;
	bool		fuse_unk;
	bool		byte_fallback;
	bool		ignore_merges;
	const char *end_of_word_suffix; /* spells a word's last symbol; NULL: none */
	size_t		suffix_len;		/* at most TOK_BPE_MAX_SUFFIX */
	/* added tokens in file order; ids are assigned as Hugging Face does */
	const TokBpeAdded *added;
	int32_t		n_added;
	/* normalizer: steps in order (NFC ones need TokBpeOptions.nfc) */
	TokBpeNormKind norms[TOK_BPE_MAX_NORMS];
	int			n_norms;
	/* pre-tokenizer: steps, then ByteLevel */
	TokBpeStep	steps[TOK_BPE_MAX_STEPS];
	int			n_steps;
	bool		add_prefix_space;
	bool		use_regex;
	/* for the caller (-1: none) */
	int32_t		bos_id;
	int32_t		eos_id;
	int32_t		pad_id;
	bool		add_bos;
	bool		add_eos;
} TokBpeSpec;

/* What the caller needs to know about a tokenizer */
typedef struct TokBpeInfo
{
	int32_t		n_ids;			/* ids are 0 .. n_ids - 1 (some may be unused) */
	int32_t		n_merges;
	int32_t		bos_id;			/* -1 when unknown */
	int32_t		eos_id;
	int32_t		pad_id;
	int32_t		unk_id;
	bool		add_bos;		/* the model expects BOS before the text */
	bool		add_eos;
	bool		ignore_merges;
	bool		nfc;			/* the normalizer has an NFC step */
	bool		lowercase;		/* ... a Lowercase step */
	bool		suffix;			/* the model has an end_of_word_suffix */
	const char *pre;			/* "gpt2", "llama3", "qwen2", "smollm", "clip" or
								 * "custom" */
} TokBpeInfo;

/* A growing array of token ids; start zeroed, free(ids) when done */
typedef struct TokBpeIds
{
	int32_t    *ids;
	size_t		len;
	size_t		cap;
} TokBpeIds;

/* Initialise spec: no vocabulary, GPT-2 ByteLevel (no prefix space, regex on) */
extern void tok_bpe_spec_init(TokBpeSpec *spec);

/*
 * Build from spec.  Errors: a vocabulary entry, merge part or merge result
 * that is missing, invalid UTF-8, ids out of range (PGI_ERR_CORRUPT);
 * more than TOK_BPE_MAX_IDS ids, a suffix longer than TOK_BPE_MAX_SUFFIX
 * (PGI_ERR_LIMIT); NFC requested without a callback (PGI_ERR_UNSUPPORTED);
 * bad arguments (PGI_ERR_PARAM).
 */
extern PgiStatus tok_bpe_new(const TokBpeSpec *spec, const TokBpeOptions *opts,
							 TokBpe **out, PgiError *err);

/*
 * Build from a parsed tokenizer.json.  Reads model (BPE: vocab, merges in
 * either the "a b" or the ["a", "b"] form, unk_token, fuse_unk,
 * byte_fallback, ignore_merges, end_of_word_suffix; continuing_subword_prefix
 * must be null or empty), added_tokens, normalizer (null, NFC, Lowercase,
 * Replace with pattern {"Regex": "\\s+"} and content " ", or a Sequence of
 * them), pre_tokenizer (ByteLevel, or a Sequence of Split / Digits steps
 * ending in ByteLevel; Split with a known pattern and behavior Isolated,
 * or Removed with invert), decoder (ByteLevel) and post_processor (for
 * BOS/EOS: TemplateProcessing, RobertaProcessing, BertProcessing,
 * ByteLevel, Sequence).  Malformed: PGI_ERR_CORRUPT; other components:
 * PGI_ERR_UNSUPPORTED.
 */
extern PgiStatus tok_bpe_from_json(const JsonValue *root, const TokBpeOptions *opts,
								   TokBpe **out, PgiError *err);

/* The same from the text of a tokenizer.json */
extern PgiStatus tok_bpe_from_json_text(const char *text, size_t len,
										const TokBpeOptions *opts, TokBpe **out,
										PgiError *err);

/*
 * Build from GGUF metadata: tokenizer.ggml.model "gpt2",
 * tokenizer.ggml.tokens, tokenizer.ggml.merges ("a b"),
 * tokenizer.ggml.token_type (control and user-defined tokens are matched
 * verbatim, control ones are special), tokenizer.ggml.pre (see
 * tok_bpe_pre_from_name), tokenizer.ggml.bos_token_id / eos_token_id /
 * padding_token_id / add_bos_token / add_eos_token.
 */
extern PgiStatus tok_bpe_from_gguf(const GgufFile *f, const TokBpeOptions *opts,
								   TokBpe **out, PgiError *err);

/*
 * Set spec's pre-tokenizer, ignore_merges and add_bos as llama.cpp does for
 * a tokenizer.ggml.pre name: "gpt2"-like names (also "default" and NULL),
 * "llama-bpe"-like (Llama 3: ignore_merges, add_bos), "qwen2"-like and
 * "smollm"-like.  Unknown names: PGI_ERR_UNSUPPORTED.
 */
extern PgiStatus tok_bpe_pre_from_name(const char *name, size_t len, TokBpeSpec *spec,
									   PgiError *err);

extern void tok_bpe_free(TokBpe *bpe);

/*
 * Append the ids of text[0..len) to out (no BOS/EOS).  Invalid UTF-8 is
 * PGI_ERR_DATA; on any error out->len is unchanged.
 */
extern PgiStatus tok_bpe_encode(const TokBpe *bpe, const char *text, size_t len,
								TokBpeIds *out, PgiError *err);

/*
 * Decode ids (see above); skip_special drops special added tokens.  Ids
 * outside 0 .. n_ids - 1 are PGI_ERR_PARAM; unused ids are skipped.  *out
 * is malloc'd, NUL-terminated, valid UTF-8.
 */
extern PgiStatus tok_bpe_decode(const TokBpe *bpe, const int32_t *ids, size_t n_ids,
								bool skip_special, char **out, size_t *out_len,
								PgiError *err);

/* Id of a token (added token content, or vocabulary entry spelled "Ġthe"), -1 if none */
extern int32_t tok_bpe_token_to_id(const TokBpe *bpe, const char *token, size_t len);

/* Token of an id (added content first, as Hugging Face), NULL if unused */
extern const char *tok_bpe_id_to_token(const TokBpe *bpe, int32_t id, size_t *len);

extern bool tok_bpe_is_special(const TokBpe *bpe, int32_t id);
extern const TokBpeInfo *tok_bpe_info(const TokBpe *bpe);

/* GPT-2's byte-to-unicode map: the code point spelling byte b */
extern uint32_t tok_bpe_byte_char(uint8_t b);

#endif							/* TOK_BPE_H */
