/*-------------------------------------------------------------------------
 *
 * classify.h
 *	  Classification with trained heads (classify.c), for the executor's
 *	  row batches (batch.c).
 *
 * src/pg/infer/classify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_CLASSIFY_H
#define PGI_CLASSIFY_H

/*
 * classify(model, texts[i]) of n rows with one embedding pass: out[i] is the
 * label, or NULL for a NULL text and for a row that would raise an ERROR
 * alone (the caller evaluates it with ClassifyOne, which raises it)
 */
extern void ClassifyRows(const char *model, text **texts, int n, text **out);

/* classify(model, input) */
extern text *ClassifyOne(const char *model, text *input);

/* The labels of a model's own head (id2label order), palloc'd */
struct LoadedModel;
extern char **ModelLabels(struct LoadedModel *m);

#endif							/* PGI_CLASSIFY_H */
