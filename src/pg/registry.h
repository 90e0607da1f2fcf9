/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  Model files: confinement to pg_infer.model_dir and inspection.
 *
 * src/pg/registry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_REGISTRY_H
#define PGI_REGISTRY_H

extern char *pgi_model_dir;

extern void RegistryInit(void);

#endif							/* PGI_REGISTRY_H */
