/*-------------------------------------------------------------------------
 *
 * preload.h
 *	  pg_infer.preload_models: background workers that load models at
 *	  server start.
 *
 * src/pg/models/preload.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_PRELOAD_H
#define PGI_PRELOAD_H

extern char *pgi_preload_models;

/* The GUC; registers the launcher when loaded by shared_preload_libraries */
extern void PreloadInit(void);

#endif							/* PGI_PRELOAD_H */
