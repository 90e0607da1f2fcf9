/*-------------------------------------------------------------------------
 *
 * tok_wordpiece.h
 *	  WordPiece tokenizer of the BERT family, matching Hugging Face
 *	  tokenizers' BertNormalizer + BertPreTokenizer + WordPiece model +
 *	  WordPiece decoder.
 *
 * Encoding, in Hugging Face's order:
 *	1. special tokens (added tokens such as [CLS], [SEP], [MASK]) are
 *	   matched verbatim in the raw text, leftmost-longest, and become their
 *	   ids; the text between them goes through steps 2-5;
 *	2. BertNormalizer: clean_text drops U+0000, U+FFFD and control
 *	   characters and turns whitespace into spaces; handle_chinese_chars
 *	   puts spaces around CJK ideographs; strip_accents takes the NFD and
 *	   drops non-spacing marks; lowercase applies the full lowercase
 *	   mapping;
 *	3. BertPreTokenizer: split on whitespace, and every punctuation
 *	   character is a word of its own;
 *	4. a word longer than max_input_chars_per_word code points is the
 *	   unknown token;
 *	5. otherwise greedy longest-match-first: the longest vocabulary entry
 *	   that starts the word, then the longest continuation piece (an entry
 *	   spelled continuing_prefix + piece) at each following position; if
 *	   some position has no match, the whole word is the unknown token.
 * No [CLS]/[SEP] are added: the caller does that.
 *
 * The vocabulary is in Hugging Face's form (vocab.txt order, or
 * tokenizer.json's model.vocab by id): continuation pieces start with the
 * prefix ("##").  As in Hugging Face, when a token appears twice the LAST
 * id wins for encoding, and the shadowed id has no token (decoding skips
 * it).  tok_wordpiece_vocab_from_gguf() turns llama.cpp's spelling
 * (tokenizer.ggml.model "bert") back into this form.
 *
 * Cost: linear in the input, times the longest vocabulary entry for the
 * matching; a word is never longer than max_input_chars_per_word code
 * points when it is matched.  The ids are at most four per input byte.
 * Memory is malloc'd and freed before returning.
 *
 * src/core/tokenizers/tok_wordpiece.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_WORDPIECE_H
#define TOK_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"
#include "core/tokenizers/tok_unicode.h"

typedef struct TokWordPiece TokWordPiece;

/* Options, named after tokenizer.json's keys */
typedef struct TokWordPieceConfig
{
	/* normalizer (BertNormalizer) */
	bool		clean_text;		/* default true */
	bool		handle_chinese_chars;	/* default true */
	int			strip_accents;	/* 1, 0, or -1 (null): same as lowercase */
	bool		lowercase;		/* default true */
	/* model (WordPiece) */
	const char *unk_token;		/* default "[UNK]"; must be in the vocabulary */
	const char *continuing_prefix;	/* continuing_subword_prefix, default "##" */
	int32_t		max_input_chars_per_word;	/* default 100 */
	/* decoder (WordPiece) */
	bool		decode_cleanup; /* default true */
	/* special added tokens, matched in raw text; each must be in the vocabulary */
	const char *const *special_tokens;
	int32_t		n_special_tokens;
	/* NFD normaliser, required when accents are stripped (see TokNfdFn) */
	TokNfdFn	nfd;
	void	   *nfd_arg;
} TokWordPieceConfig;

/*
 * A growing array of token ids; start zeroed, free(ids) when done.  With
 * want_offsets set, offs[2i], offs[2i+1] is id i's span in the input:
 * code point (not byte) offsets, end exclusive, as Hugging Face's
 * offset_mapping (a normalised character keeps the span of the character
 * it came from; an unknown word spans the whole word), and words[i] the
 * index of the word (pre-tokenizer split; a special token is one) id i is
 * part of; free(offs) and free(words) too.
 */
typedef struct TokWordPieceIds
{
	int32_t    *ids;
	size_t		len;
	size_t		cap;
	bool		want_offsets;
	uint32_t   *offs;			/* (cap, 2) when want_offsets */
	uint32_t   *words;			/* (cap) when want_offsets */
} TokWordPieceIds;

/* Set cfg to Hugging Face's defaults (bert-base-uncased), no specials, no NFD */
extern void tok_wordpiece_config_default(TokWordPieceConfig *cfg);

/*
 * Build a tokenizer over tokens[0..n_tokens) (lens[i] bytes each, valid
 * UTF-8; token i has id i).  The tokenizer copies what it keeps.  Errors:
 * empty vocabulary, invalid UTF-8 in a token, unknown or special token not
 * in the vocabulary (PGI_ERR_DATA); bad options (PGI_ERR_PARAM).
 */
extern PgiStatus tok_wordpiece_new(const char *const *tokens, const size_t *lens,
								   int32_t n_tokens, const TokWordPieceConfig *cfg,
								   TokWordPiece **out, PgiError *err);
extern void tok_wordpiece_free(TokWordPiece *wp);

/*
 * Append the ids of text[0..len) to out (no special tokens added).  Invalid
 * UTF-8 is PGI_ERR_DATA; on any error out->len is unchanged.
 */
extern PgiStatus tok_wordpiece_encode(const TokWordPiece *wp, const char *text, size_t len,
									  TokWordPieceIds *out, PgiError *err);

/*
 * The normalizer step alone (BertNormalizer on the whole text, no special
 * token matching): a malloc'd, NUL-terminated string in *out.
 */
extern PgiStatus tok_wordpiece_normalize(const TokWordPiece *wp, const char *text, size_t len,
										 char **out, size_t *out_len, PgiError *err);

/*
 * Decode ids as Hugging Face's WordPiece decoder does: pieces starting with
 * the prefix are glued to the previous one, other pieces get a space before
 * them, and with decode_cleanup the spaces before . ? ! , and English
 * contractions go.  skip_special drops special tokens.  Ids outside the
 * vocabulary are PGI_ERR_PARAM; shadowed ids are skipped.  *out is
 * malloc'd and NUL-terminated.
 */
extern PgiStatus tok_wordpiece_decode(const TokWordPiece *wp, const int32_t *ids, size_t n_ids,
									  bool skip_special, char **out, size_t *out_len,
									  PgiError *err);

/* Id of a token (exact bytes), -1 if not in the vocabulary */
extern int32_t tok_wordpiece_token_to_id(const TokWordPiece *wp, const char *token, size_t len);

/* Token of an id, NULL if out of range or shadowed by a later duplicate */
extern const char *tok_wordpiece_id_to_token(const TokWordPiece *wp, int32_t id, size_t *len);

extern int32_t tok_wordpiece_vocab_size(const TokWordPiece *wp);
extern int32_t tok_wordpiece_unk_id(const TokWordPiece *wp);
extern bool tok_wordpiece_is_special(const TokWordPiece *wp, int32_t id);

/* ---- llama.cpp's GGUF spelling ---- */

/* tokenizer.ggml.token_type value of control tokens ([CLS], [SEP], ...) */
#define TOK_GGUF_TOKEN_CONTROL 3

/* A vocabulary in Hugging Face form, owned by the caller */
typedef struct TokWordPieceVocab
{
	int32_t		n_tokens;
	char	  **tokens;			/* NUL-terminated, point into one block */
	size_t	   *lens;
} TokWordPieceVocab;

/*
 * Undo llama.cpp's convert_hf_to_gguf.py (BertModel.set_vocab), which
 * keeps control tokens as they are, strips "##" from continuation pieces
 * and puts U+2581 before every other token: a control token (types[i] ==
 * TOK_GGUF_TOKEN_CONTROL; types may be NULL) or, as older converters
 * left them, a token spelled "[...]" stays; a token starting with U+2581
 * loses it; any other token gets "##" back.  The result goes to
 * tok_wordpiece_new() with continuing_prefix "##".
 */
extern PgiStatus tok_wordpiece_vocab_from_gguf(const char *const *tokens, const size_t *lens,
											   const int32_t *types, int32_t n_tokens,
											   TokWordPieceVocab *out, PgiError *err);
extern void tok_wordpiece_vocab_free(TokWordPieceVocab *v);

#endif							/* TOK_WORDPIECE_H */
