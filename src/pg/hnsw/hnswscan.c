/*-------------------------------------------------------------------------
 *
 * hnswscan.c
 *	  Index scans: ORDER BY col <op> value [LIMIT k].
 *
 * The first amgettuple call searches the graph (greedy through the upper
 * layers, then a beam of width hnsw.ef_search on layer 0) and the scan then
 * returns the heap TIDs of the results, nearest first.  The order is
 * approximate, as with any HNSW index; the executor does not recheck it.
 *
 * src/pg/hnsw/hnswscan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "access/relscan.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg/hnsw/hnsw.h"

typedef struct HnswScanOpaqueData
{
	HnswSupport sup;
	MemoryContext ctx;			/* per-rescan allocations */
	HnswSearchState *search;
	KnnItem    *results;
	int			nresults;
	int			pos;			/* current result */
	int			tidpos;			/* next heap TID of the current result */
	bool		first;
	int			iterative;		/* hnsw.iterative_scan at the first call */
	float		lastDist;		/* distance of the last result returned */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

/* ambeginscan */
IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	HnswInitSupport(index, &so->sup);
	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	so->first = true;
	scan->opaque = so;
	return scan;
}

/* amrescan */
void
hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		   int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	MemoryContextReset(so->ctx);
	so->search = NULL;
	so->results = NULL;
	so->nresults = so->pos = so->tidpos = 0;
	so->first = true;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/* The query value, prepared like indexed values (a zero vector for NULL) */
static Vector *
ScanQuery(IndexScanDesc scan, int dimensions)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	Vector	   *q;

	if (scan->orderByData == NULL || (scan->orderByData->sk_flags & SK_ISNULL))
		return InitVector(dimensions);	/* any order is right for NULL */
	q = HnswPrepareValue(&so->sup, scan->orderByData->sk_argument);
	if (q == NULL)				/* zero vector under cosine: no direction */
		q = InitVector(dimensions);
	if (q->dim != dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", dimensions, q->dim)));
	return q;
}

/* Run the graph search */
static void
Search(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	HnswMetaPageData meta;
	MemoryContext old = MemoryContextSwitchTo(so->ctx);
	Vector	   *q;

	HnswGetMetaPageInfo(scan->indexRelation, &meta);
	if (!BlockNumberIsValid(meta.entryBlkno))
	{
		MemoryContextSwitchTo(old);
		return;
	}
	q = ScanQuery(scan, meta.dimensions);
	so->search = HnswSearchBegin(scan->indexRelation, &so->sup, q, meta.m, so->ctx);
	so->iterative = hnsw_iterative_scan;
	so->lastDist = -get_float4_infinity();
	if (so->iterative != HNSW_ITERATIVE_SCAN_OFF)
		HnswSearchSetIterative(so->search);
	if (HnswSearchEntry(so->search, &meta))
	{
		KnnItem    *upper;

		/*
		 * Greedy down to layer 2, then a beam on layer 1: on clustered data a
		 * single greedy walk can settle in the wrong cluster, and layer 0's
		 * links rarely lead out of one.  Layer 1 holds about 1/m of the
		 * elements, so the beam costs little and hands layer 0 several
		 * entry points.
		 */
		if (meta.entryLevel > 1)
			HnswSearchGreedy(so->search, meta.entryLevel, 2);
		if (meta.entryLevel > 0)
			HnswSearchLayer(so->search, hnsw_ef_search, 1, false, &upper);
		so->nresults = HnswSearchLayer(so->search, hnsw_ef_search, 0, true, &so->results);
	}
	pgstat_count_index_scan(scan->indexRelation);
	MemoryContextSwitchTo(old);
}

/* amgettuple: the next heap TID, nearest first */
bool
hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	if (!ScanDirectionIsForward(dir))
		elog(ERROR, "hnsw only supports forward scans");

	if (so->first)
	{
		so->first = false;
		Search(scan);
	}

	for (;;)
	{
		while (so->pos < so->nresults)
		{
			KnnItem    *r = &so->results[so->pos];
			HnswSearchElement *e = HnswSearchGetElement(so->search, r->id);

			/* strict order: a later batch may hold nearer stragglers; skip them */
			if (e != NULL && !e->deleted && so->tidpos < e->nheaptids &&
				!(so->iterative == HNSW_ITERATIVE_SCAN_STRICT && r->dist < so->lastDist))
			{
				scan->xs_heaptid = e->heaptids[so->tidpos++];
				scan->xs_recheck = false;
				scan->xs_recheckorderby = false;
				so->lastDist = Max(so->lastDist, r->dist);
				return true;
			}
			so->pos++;
			so->tidpos = 0;
		}

		/*
		 * iterative scans go on while the query wants rows, up to
		 * hnsw.max_scan_tuples elements and hnsw.scan_mem_multiplier times
		 * work_mem of search memory (the visited set and candidates)
		 */
		if (so->search == NULL || so->iterative == HNSW_ITERATIVE_SCAN_OFF ||
			HnswSearchTuplesVisited(so->search) >= hnsw_max_scan_tuples)
			return false;
		if ((double) MemoryContextMemAllocated(so->ctx, true) >
			(double) work_mem * 1024.0 * hnsw_scan_mem_multiplier)
		{
			ereport(DEBUG1,
					(errmsg("hnsw index scan exceeded work_mem after " INT64_FORMAT " tuples",
							(int64) HnswSearchTuplesVisited(so->search)),
					 errhint("Increase work_mem or hnsw.scan_mem_multiplier to scan more tuples.")));
			return false;
		}
		so->nresults = HnswSearchNext(so->search, hnsw_ef_search, &so->results);
		so->pos = so->tidpos = 0;
		if (so->nresults == 0)
			return false;
	}
}

/* amendscan */
void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
