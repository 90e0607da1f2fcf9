/*-------------------------------------------------------------------------
 *
 * pg_infer.c
 *	  Module entry point: magic block and _PG_init.
 *
 * Each subsystem registers its GUCs and hooks from one XxxInit() called
 * here.  Later subsystems (model registry, shared weights, hnsw) add theirs.
 *
 * src/pg/pg_infer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "blas.h"
#include "hnsw.h"
#include "models.h"
#include "registry.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Register GUCs and hooks */
void
_PG_init(void)
{
	HnswInit();
	BlasInit();
	RegistryInit();
	ModelsInit();
	MarkGUCPrefixReserved("pg_infer");
}
