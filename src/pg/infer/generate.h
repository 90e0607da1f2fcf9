/*-------------------------------------------------------------------------
 *
 * generate.h
 *	  Text generation with decoders (generate.c).
 *
 * src/pg/infer/generate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_GENERATE_H
#define PGI_GENERATE_H

extern int	pgi_kv_cache_limit;

extern void GenerateInit(void);

#endif							/* PGI_GENERATE_H */
