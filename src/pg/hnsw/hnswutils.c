/*-------------------------------------------------------------------------
 *
 * hnswutils.c
 *	  HNSW helpers: distances, value preparation, pages and the meta page.
 *
 * src/pg/hnsw/hnswutils.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "common/pg_prng.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "core/kernels/vec_kernels.h"
#include "pg/hnsw/hnsw.h"

/* The C functions behind the built-in opclasses' support functions */
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum l1_distance(PG_FUNCTION_ARGS);

/* Look up the opclass support functions; use a direct kernel when known */
void
HnswInitSupport(Relation index, HnswSupport *sup)
{
	sup->distproc = index_getprocinfo(index, 1, HNSW_DISTANCE_PROC);
	sup->normproc = OidIsValid(index_getprocid(index, 1, HNSW_NORM_PROC)) ?
		index_getprocinfo(index, 1, HNSW_NORM_PROC) : NULL;
	sup->collation = index->rd_indcollation[0];

	if (sup->distproc->fn_addr == vector_l2_squared_distance)
		sup->kernel = HNSW_KERNEL_L2SQ;
	else if (sup->distproc->fn_addr == vector_negative_inner_product)
		sup->kernel = HNSW_KERNEL_NEG_DOT;
	else if (sup->distproc->fn_addr == l1_distance)
		sup->kernel = HNSW_KERNEL_L1;
	else
		sup->kernel = HNSW_KERNEL_FMGR;
}

/* Distance between two prepared values (smaller = nearer) */
double
HnswDistance(const HnswSupport *sup, const Vector *a, const Vector *b)
{
	switch (sup->kernel)
	{
		case HNSW_KERNEL_L2SQ:
			return vk_l2sq(a->x, b->x, a->dim);
		case HNSW_KERNEL_NEG_DOT:
			return -(double) vk_dot(a->x, b->x, a->dim);
		case HNSW_KERNEL_L1:
			return vk_l1(a->x, b->x, a->dim);
		case HNSW_KERNEL_FMGR:
			break;
	}
	return DatumGetFloat8(FunctionCall2Coll(sup->distproc, sup->collation,
											PointerGetDatum(a), PointerGetDatum(b)));
}

/*
 * Detoast and check a value for indexing or searching; normalise it when
 * the opclass has a norm function.  NULL for a zero vector under a norm
 * function (cosine): it has no direction, so it is not indexed.
 */
Vector *
HnswPrepareValue(const HnswSupport *sup, Datum value)
{
	Vector	   *v = DatumGetVector(value);
	Vector	   *r;
	double		norm;

	if (v->dim > HNSW_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions for hnsw index", HNSW_MAX_DIM)));
	if (sup->normproc == NULL)
		return v;

	norm = DatumGetFloat8(FunctionCall1Coll(sup->normproc, sup->collation,
											PointerGetDatum(v)));
	if (!(norm > 0))
		return NULL;
	r = InitVector(v->dim);
	for (int i = 0; i < v->dim; i++)
		r->x[i] = (float) (v->x[i] / norm);
	return r;
}

/* Draw a level: floor(-ln(U) / ln(m)), capped; rng NULL: the global one */
int
HnswRandomLevel(int m, pg_prng_state *rng)
{
	double		u = pg_prng_double(rng ? rng : &pg_global_prng_state);
	int			level;

	int			maxLevel;

	if (u <= 0)
		u = 1e-300;
	level = (int) floor(-log(u) / log((double) m));
	/* a neighbour tuple of (level + 2) * m TIDs must fit on a page */
	maxLevel = (int) ((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -
					   MAXALIGN(sizeof(HnswPageOpaqueData)) - sizeof(ItemIdData) -
					   offsetof(HnswNeighborTupleData, tids) - MAXIMUM_ALIGNOF) /
					  (sizeof(ItemPointerData) * m)) - 2;
	return Min(level, Min(maxLevel, HNSW_MAX_LEVEL));
}

/* Extend the index by one page; returned exclusively locked */
Buffer
HnswNewBuffer(Relation index, ForkNumber forkNum)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, forkNum, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/* Set or clear the meta page's "VACUUM must repair the graph" flag */
void
HnswSetNeedsRepair(Relation index, bool value)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (HnswPageGetMeta(BufferGetPage(buf))->needsRepair != (uint16) value)
	{
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		HnswPageGetMeta(page)->needsRepair = value;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
}

/* Begin a change; see HnswEdit */
void
HnswEditStart(HnswEdit *ed, Relation index, bool building)
{
	ed->state = building ? NULL : GenericXLogStart(index);
	ed->nbufs = 0;
}

/* The page of buf (exclusively locked) to change; newPage: initialised now */
Page
HnswEditRegister(HnswEdit *ed, Buffer buf, bool newPage)
{
	if (ed->state)
		return GenericXLogRegisterBuffer(ed->state, buf, newPage ? GENERIC_XLOG_FULL_IMAGE : 0);
	Assert(ed->nbufs < lengthof(ed->bufs));
	ed->bufs[ed->nbufs++] = buf;
	return BufferGetPage(buf);
}

/* Apply the change: WAL-log it, or mark the buffers dirty */
void
HnswEditFinish(HnswEdit *ed)
{
	if (ed->state)
		GenericXLogFinish(ed->state);
	else
		for (int i = 0; i < ed->nbufs; i++)
			MarkBufferDirty(ed->bufs[i]);
}

/* Drop the change (only before anything was written while building) */
void
HnswEditAbort(HnswEdit *ed)
{
	if (ed->state)
		GenericXLogAbort(ed->state);
}

/* Initialise an element page */
void
HnswInitPage(Buffer buf, Page page)
{
	HnswPageOpaque opaque;

	PageInit(page, BufferGetPageSize(buf), sizeof(HnswPageOpaqueData));
	opaque = HnswPageGetOpaque(page);
	opaque->nextblkno = InvalidBlockNumber;
	opaque->unused = 0;
	opaque->page_id = HNSW_PAGE_ID;
}

/* Raise an error unless the page is our meta page of a known version */
void
HnswCheckIndexVersion(Page metapage, Relation index)
{
	HnswMetaPage meta = HnswPageGetMeta(metapage);

	if (meta->magic != HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an hnsw index of pg_infer",
						RelationGetRelationName(index))));
	if (meta->version != HNSW_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hnsw index \"%s\" has version %u, expected %u",
						RelationGetRelationName(index), meta->version, HNSW_VERSION),
				 errhint("REINDEX the index.")));
}

/* Copy the meta page contents */
void
HnswGetMetaPageInfo(Relation index, HnswMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	HnswCheckIndexVersion(page, index);
	*meta = *HnswPageGetMeta(page);
	UnlockReleaseBuffer(buf);
}

/* Fill a fresh meta page in buf (already locked, page initialised by caller) */
void
HnswWriteMetaPage(Relation index, Buffer buf, int dimensions, int m,
				  int efConstruction, ForkNumber forkNum)
{
	Page		page = BufferGetPage(buf);
	HnswMetaPage meta;

	HnswInitPage(buf, page);
	meta = HnswPageGetMeta(page);
	meta->magic = HNSW_MAGIC;
	meta->version = HNSW_VERSION;
	meta->dimensions = dimensions;
	meta->m = m;
	meta->efConstruction = efConstruction;
	meta->entryBlkno = InvalidBlockNumber;
	meta->entryOffno = InvalidOffsetNumber;
	meta->entryLevel = -1;
	meta->insertPage = InvalidBlockNumber;
	meta->needsRepair = 0;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

/*
 * Update the entry point (if setEntry) and/or the insert page (if valid).
 * With wal, through GenericXLog; otherwise (during the build) just dirty.
 */
void
HnswUpdateMetaPage(Relation index, bool setEntry, BlockNumber entryBlkno,
				   OffsetNumber entryOffno, int entryLevel,
				   BlockNumber insertPage, ForkNumber forkNum, bool wal)
{
	Buffer		buf = ReadBufferExtended(index, forkNum, HNSW_METAPAGE_BLKNO, RBM_NORMAL, NULL);
	GenericXLogState *state = NULL;
	Page		page;
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (wal)
	{
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
	}
	else
		page = BufferGetPage(buf);
	meta = HnswPageGetMeta(page);
	if (setEntry)
	{
		meta->entryBlkno = entryBlkno;
		meta->entryOffno = entryOffno;
		meta->entryLevel = entryLevel;
	}
	/* the insert page only moves forward (concurrent inserts race here) */
	if (BlockNumberIsValid(insertPage) &&
		(!BlockNumberIsValid(meta->insertPage) || insertPage > meta->insertPage))
		meta->insertPage = insertPage;
	if (wal)
		GenericXLogFinish(state);
	else
		MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}
