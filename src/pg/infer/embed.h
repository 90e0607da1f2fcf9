/*-------------------------------------------------------------------------
 *
 * embed.h
 *	  Embedding entry points shared by the SQL functions (embed.c) and the
 *	  executor's row batching (batch.c).
 *
 * src/pg/infer/embed.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_EMBED_H
#define PGI_EMBED_H

#include "utils/jsonb.h"

#include "pg/vector/vector.h"

/* embed(model, input, options) of one text; ERROR as the SQL function */
extern Vector *EmbedOne(const char *model, text *input, Jsonb *options);

/*
 * One pass over n texts: out[i] NULL for a NULL text and for a text that
 * must be evaluated alone (EmbedOne) because it would raise an ERROR
 */
extern void EmbedRows(const char *model, Jsonb *options, text **texts, int n, Vector **out);

/*
 * The logits of model's sequence-classification head for n texts in one
 * pass (truncated to the model's length): logits (n, n_labels), have[i]
 * false for a NULL text.  False (nothing done) when model has no such head.
 */
extern bool HeadLogitsRows(const char *model, text **texts, int n, float *logits, bool *have);

/*
 * The same for n text pairs (query, docs[i]) as [CLS] query [SEP] doc [SEP]
 * with token types 0 / 1 (cross-encoders): logits (n, n_labels)
 */
extern bool HeadLogitsPairs(const char *model, text *query, text **docs, int n, float *logits);

/*
 * A token head (token classification, question answering) over one
 * sequence of n ids (types NULL: all 0): logits (n, n_labels)
 */
struct LoadedModel;
extern void TokenHeadLogits(struct LoadedModel *m, const int32 *ids, const int32 *types, int n,
							float *logits);

#endif							/* PGI_EMBED_H */
