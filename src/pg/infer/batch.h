/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Cross-row batching of embed() calls in scans (EmbedBatch custom scan).
 *
 * src/pg/infer/batch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_BATCH_H
#define PGI_BATCH_H

extern int	pgi_batch_rows;

/* pg_infer.batch_rows, the custom scan and the planner hook */
extern void BatchInit(void);

#endif							/* PGI_BATCH_H */
