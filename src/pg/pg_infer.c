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
#include "miscadmin.h"
#include "utils/guc.h"

#include "pg/infer/batch.h"
#include "pg/infer/blas.h"
#include "pg/infer/generate.h"
#include "pg/infer/image.h"
#include "pg/hnsw/hnsw.h"
#include "pg/models/models.h"
#include "pg/models/preload.h"
#include "pg/models/modelfiles.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Whether the library was loaded by shared_preload_libraries */
bool		pgi_shared_preload = false;

/* Register GUCs and hooks */
void
_PG_init(void)
{
	pgi_shared_preload = process_shared_preload_libraries_in_progress;
	HnswInit();
	BlasInit();
	ModelFilesInit();
	ModelsInit();
	BatchInit();
	GenerateInit();
	ImageInit();
	PreloadInit();
	MarkGUCPrefixReserved("pg_infer");
}
