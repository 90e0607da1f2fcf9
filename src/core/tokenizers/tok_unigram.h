/*-------------------------------------------------------------------------
 *
 * tok_unigram.h
 *	  SentencePiece-unigram tokenizer of the Universal Sentence Encoder Lite
 *	  (the TF.js port's exact algorithm, quirks included).
 *
 * Given a vocabulary of (piece, score) pairs, where id = index:
 *	1. s = NFKC(text); empty s gives no tokens; otherwise s = "▁" + s with
 *	   every U+0020 replaced by U+2581.  No lowercasing.
 *	2. Lattice over the code points of s: at each start i, every piece
 *	   with id >= n_reserved (6) equal to s[i..i+k) is a candidate; when no
 *	   piece starts at i, one unknown candidate (i, 1, score 0, id 0).
 *	3. Viterbi in doubles, best[] = 0 and words[] = 0 initially; for each
 *	   end, candidates in ascending start order: sc = score + best[start];
 *	   if best[end] == 0 || sc >= best[end] then take it.  Zero doubles as
 *	   "unset" (a path of total exactly 0 is overwritten; ties go to the
 *	   later candidate); an unreachable end keeps words = 0.
 *	4. Backtrack from the end, stepping back by the UTF-16 length of the
 *	   chosen piece (id 0: its piece, U+FFFD, 1 unit); collapse runs of
 *	   id 0 into one; reverse.
 * Duplicate pieces: the last one wins for matching and token_to_id.  A
 * null score (JSON) is the caller's 0.
 *
 * Time is linear in the text: a hash table holds every piece and every
 * prefix of one, so the scan at a start stops at the first code point
 * that no piece continues with, after at most max-piece-length steps.
 *
 * NFKC is not done here: the caller supplies a normaliser with the
 * contract of TokNfdFn (tok_unicode.h), computing NFKC instead of NFD
 * (the server: unicode_normalize(UNICODE_NFKC, ...)).  The core calls it
 * only for runs of text that contain a code point >= U+00A0 (NFKC leaves
 * everything below alone), never with U+0000 (runs are split at NULs).
 *
 * src/core/tokenizers/tok_unigram.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOK_UNIGRAM_H
#define TOK_UNIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"
#include "core/tokenizers/tok_unicode.h"

#define TOK_UNIGRAM_MAX_VOCAB		(1 << 22)
#define TOK_UNIGRAM_MAX_PIECE_CPS	64	/* longer pieces are rejected */

/* An NFKC normaliser: TokNfdFn's contract, NFKC instead of NFD */
typedef TokNfdFn TokNfkcFn;

typedef struct TokUnigram TokUnigram;

typedef struct TokUnigramConfig
{
	/* ids below this are reserved: never matched (USE: 6) */
	int32_t		n_reserved;
	/* NFKC normaliser; NULL leaves the text as it is (tests only) */
	TokNfkcFn	nfkc;
	void	   *nfkc_arg;
} TokUnigramConfig;

/* A growing array of token ids; start zeroed, free(ids) when done */
typedef struct TokUnigramIds
{
	int32_t    *ids;
	size_t		len;
	size_t		cap;
} TokUnigramIds;

/*
 * Build a tokenizer over pieces[0..n) (lens[i] bytes each, valid UTF-8,
 * at most TOK_UNIGRAM_MAX_PIECE_CPS code points; piece i has id i and
 * score scores[i], finite).  Id 0 is the unknown token.  The tokenizer
 * copies what it keeps.  Errors: PGI_ERR_DATA for a bad vocabulary,
 * PGI_ERR_PARAM for bad options, PGI_ERR_NOMEM.
 */
extern PgiStatus tok_unigram_new(const char *const *pieces, const uint32_t *lens,
								 const double *scores, int32_t n,
								 const TokUnigramConfig *cfg, TokUnigram **out,
								 PgiError *err);
extern void tok_unigram_free(TokUnigram *tok);

/*
 * Append the ids of text[0..len) to out: the complete tokenization, not
 * truncated.  Invalid UTF-8 is PGI_ERR_DATA; a failing normaliser
 * PGI_ERR_NOMEM; on any error out->len is unchanged.
 */
extern PgiStatus tok_unigram_encode(const TokUnigram *tok, const char *text, size_t len,
									TokUnigramIds *out, PgiError *err);

/*
 * Decode ids: their pieces joined, U+2581 turned into a space, one leading
 * space dropped.  Ids outside the vocabulary are PGI_ERR_PARAM.  *out is
 * malloc'd and NUL-terminated.
 */
extern PgiStatus tok_unigram_decode(const TokUnigram *tok, const int32_t *ids, size_t n_ids,
									char **out, size_t *out_len, PgiError *err);

/* Id of a piece (exact bytes; the last duplicate), -1 if not in the vocabulary */
extern int32_t tok_unigram_token_to_id(const TokUnigram *tok, const char *piece, size_t len);

/* Piece of an id (not NUL-terminated), NULL if out of range */
extern const char *tok_unigram_id_to_token(const TokUnigram *tok, int32_t id, size_t *len);

extern int32_t tok_unigram_vocab_size(const TokUnigram *tok);

#endif							/* TOK_UNIGRAM_H */
