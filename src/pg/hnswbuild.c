/*-------------------------------------------------------------------------
 *
 * hnswbuild.c
 *	  CREATE INDEX for HNSW: build the graph in memory, then write pages.
 *
 * In-memory phase: every heap tuple becomes an element in a graph held in
 * a memory context (values, neighbour ids and their distances), inserted
 * with the usual HNSW algorithm (greedy descent, beam search of width
 * ef_construction per layer, the selection heuristic for the element's
 * neighbours and when a full neighbour list takes a new element).  Values
 * equal to an element already present share it (up to HNSW_HEAPTIDS heap
 * TIDs).  Searches use an epoch-stamped visited array, O(1) per check.
 *
 * On-disk phase: once the scan is done, or earlier when the graph outgrows
 * maintenance_work_mem, elements are laid out on pages in insertion order
 * (element tuple and neighbour tuple on the same page where they fit), the
 * pages are written through the buffer manager without WAL, and, when the
 * relation needs WAL, all of them are logged at the end with
 * log_newpage_range.  Tuples left after an early flush are inserted one by
 * one on disk (slower; a NOTICE says so, with a hint).
 *
 * Parallel builds are not implemented yet; the build runs in the leader.
 *
 * src/pg/hnswbuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

typedef struct HnswMemElement
{
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	uint8		nheaptids;
	uint8		level;
	uint8	   *counts;			/* (level + 1) neighbours used per layer */
	int32	   *nbr;			/* (level + 2) * m element indexes, disk layout */
	float	   *ndist;			/* distances matching nbr */
	Vector	   *value;			/* prepared value */
	BlockNumber blkno;			/* placement of the element tuple */
	OffsetNumber offno;
	BlockNumber nblkno;			/* placement of the neighbour tuple */
	OffsetNumber noffno;
} HnswMemElement;

typedef struct HnswBuildState
{
	Relation	heap;
	Relation	index;
	HnswSupport sup;
	int			dimensions;
	int			m;
	int			efConstruction;

	MemoryContext graphCtx;		/* elements: charged to maintenance_work_mem */
	MemoryContext tmpCtx;		/* per-tuple scratch */
	Size		memLimit;
	HnswMemElement **elems;
	int			nelems;
	int			cap;
	int			entry;			/* entry element index, -1 when empty */
	int			entryLevel;
	uint32	   *visited;		/* epoch per element */
	uint32		epoch;
	KnnHeap		cand;
	KnnHeap		w;
	KnnItem    *buf;			/* scratch for results */
	bool		flushed;		/* graph written: further tuples go on disk */

	double		indtuples;
	double		reltuples;
} HnswBuildState;

/* ------------------------------------------------------------ memory graph */

/* knn allocator charging the graph context */
static void *
build_realloc(void *ptr, size_t size, void *arg)
{
	if (size == 0)
	{
		if (ptr)
			pfree(ptr);
		return NULL;
	}
	if (ptr == NULL)
		return MemoryContextAllocHuge((MemoryContext) arg, size);
	return repalloc_huge(ptr, size);
}

/* Distance between two elements (knn_select_neighbors callback) */
static float
ElemDist(uint64 a, uint64 b, void *arg)
{
	HnswBuildState *bs = arg;

	return (float) HnswDistance(&bs->sup, bs->elems[a]->value, bs->elems[b]->value);
}

/* Allocate an element of the given level holding value */
static HnswMemElement *
NewElement(HnswBuildState *bs, Vector *value, ItemPointer heaptid, int level)
{
	int			nslots = HnswNeighborCount(bs->m, level);
	HnswMemElement *e = MemoryContextAlloc(bs->graphCtx, sizeof(HnswMemElement));

	e->heaptids[0] = *heaptid;
	e->nheaptids = 1;
	e->level = level;
	e->counts = MemoryContextAllocZero(bs->graphCtx, level + 1);
	e->nbr = MemoryContextAlloc(bs->graphCtx, sizeof(int32) * nslots);
	e->ndist = MemoryContextAlloc(bs->graphCtx, sizeof(float) * nslots);
	e->value = MemoryContextAlloc(bs->graphCtx, VARSIZE(value));
	memcpy(e->value, value, VARSIZE(value));
	return e;
}

/* Start a new visited epoch (wrap: clear the array) */
static void
NewEpoch(HnswBuildState *bs)
{
	if (++bs->epoch == 0)
	{
		memset(bs->visited, 0, sizeof(uint32) * bs->cap);
		bs->epoch = 1;
	}
}

/*
 * Beam search of layer lc from the entries ep[0..nep-1] for value q with
 * width ef; results (nearest first) go to bs->buf, returns the count.
 */
static int
SearchLayerMem(HnswBuildState *bs, const Vector *q, KnnItem *ep, int nep,
			   int ef, int lc)
{
	KnnHeap    *cand = &bs->cand;
	KnnHeap    *w = &bs->w;
	int			n;

	NewEpoch(bs);
	cand->len = w->len = 0;
	for (int i = 0; i < nep; i++)
	{
		bs->visited[ep[i].id] = bs->epoch;
		knn_heap_push(cand, ep[i].dist, ep[i].id);
		knn_heap_push(w, ep[i].dist, ep[i].id);
	}
	while (w->len > ef)
		knn_heap_pop(w);

	while (cand->len > 0)
	{
		KnnItem		c = knn_heap_pop(cand);
		HnswMemElement *ce = bs->elems[c.id];
		int32	   *nbr;
		int			cnt;

		if (w->len >= ef && c.dist > knn_heap_top(w).dist)
			break;
		nbr = ce->nbr + HnswLayerStart(bs->m, lc);
		cnt = ce->counts[lc];
		for (int i = 0; i < cnt; i++)
		{
			int32		id = nbr[i];
			float		d;

			if (bs->visited[id] == bs->epoch)
				continue;
			bs->visited[id] = bs->epoch;
			d = (float) HnswDistance(&bs->sup, q, bs->elems[id]->value);
			if (w->len < ef || d < knn_heap_top(w).dist)
			{
				knn_heap_push(cand, d, (uint64) id);
				knn_heap_push(w, d, (uint64) id);
				if (w->len > ef)
					knn_heap_pop(w);
			}
		}
	}
	n = w->len;
	knn_heap_drain_sorted(w, bs->buf);
	return n;
}

/* Greedy walk on layer lc from *cur towards q */
static void
GreedyMem(HnswBuildState *bs, const Vector *q, KnnItem *cur, int lc)
{
	bool		changed = true;

	while (changed)
	{
		HnswMemElement *ce = bs->elems[cur->id];
		int32	   *nbr = ce->nbr + HnswLayerStart(bs->m, lc);

		changed = false;
		for (int i = 0; i < ce->counts[lc]; i++)
		{
			float		d = (float) HnswDistance(&bs->sup, q, bs->elems[nbr[i]]->value);

			if (d < cur->dist)
			{
				cur->dist = d;
				cur->id = (uint64) nbr[i];
				changed = true;
			}
		}
	}
}

/* Set element e's layer-lc list to items[0..n-1] */
static void
SetNeighbors(HnswBuildState *bs, HnswMemElement *e, int lc, const KnnItem *items, int n)
{
	int			start = HnswLayerStart(bs->m, lc);

	for (int i = 0; i < n; i++)
	{
		e->nbr[start + i] = (int32) items[i].id;
		e->ndist[start + i] = items[i].dist;
	}
	e->counts[lc] = n;
}

/* Add element newi (at distance d) to neighbour n's layer-lc list */
static void
AddReverseLink(HnswBuildState *bs, int n, int newi, float d, int lc)
{
	HnswMemElement *ne = bs->elems[n];
	int			lm = HnswLayerM(bs->m, lc);
	int			start = HnswLayerStart(bs->m, lc);
	int			cnt = ne->counts[lc];
	KnnItem		cand[2 * HNSW_MAX_M + 1];
	KnnItem		kept[2 * HNSW_MAX_M + 1];
	int			nc = 0,
				nk;

	if (cnt < lm)
	{
		ne->nbr[start + cnt] = newi;
		ne->ndist[start + cnt] = d;
		ne->counts[lc] = cnt + 1;
		return;
	}
	/* full: candidates are the current list plus the new one, by distance */
	for (int i = 0; i < cnt; i++)
	{
		int			j = nc++;

		while (j > 0 && cand[j - 1].dist > ne->ndist[start + i])
		{
			cand[j] = cand[j - 1];
			j--;
		}
		cand[j].id = (uint64) ne->nbr[start + i];
		cand[j].dist = ne->ndist[start + i];
	}
	{
		int			j = nc++;

		while (j > 0 && cand[j - 1].dist > d)
		{
			cand[j] = cand[j - 1];
			j--;
		}
		cand[j].id = (uint64) newi;
		cand[j].dist = d;
	}
	nk = knn_select_neighbors(cand, nc, lm, ElemDist, bs, kept);
	SetNeighbors(bs, ne, lc, kept, nk);
}

/* Insert one value into the in-memory graph */
static void
InsertMem(HnswBuildState *bs, Vector *value, ItemPointer heaptid)
{
	int			level = HnswRandomLevel(bs->m);
	int			newi;
	HnswMemElement *e;
	KnnItem		cur;
	KnnItem    *ep;
	int			nep;
	int			top;
	KnnItem    *sel[HNSW_MAX_LEVEL + 1];
	int			nsel[HNSW_MAX_LEVEL + 1];

	if (bs->nelems == bs->cap)
	{
		bs->cap *= 2;
		bs->elems = repalloc_huge(bs->elems, sizeof(HnswMemElement *) * bs->cap);
		bs->visited = repalloc_huge(bs->visited, sizeof(uint32) * bs->cap);
		memset(bs->visited + bs->cap / 2, 0, sizeof(uint32) * (bs->cap / 2));
	}

	if (bs->entry < 0)
	{
		bs->elems[0] = NewElement(bs, value, heaptid, level);
		bs->nelems = 1;
		bs->entry = 0;
		bs->entryLevel = level;
		return;
	}

	cur.id = (uint64) bs->entry;
	cur.dist = (float) HnswDistance(&bs->sup, value, bs->elems[bs->entry]->value);
	for (int lc = bs->entryLevel; lc > level; lc--)
		GreedyMem(bs, value, &cur, lc);

	top = Min(level, bs->entryLevel);
	ep = palloc(sizeof(KnnItem) * Max(bs->efConstruction, 1));
	ep[0] = cur;
	nep = 1;
	for (int lc = top; lc >= 0; lc--)
	{
		int			nw = SearchLayerMem(bs, value, ep, nep, bs->efConstruction, lc);

		/* an equal value with a free heap TID slot takes this tuple */
		for (int i = 0; lc == 0 && i < nw && bs->buf[i].dist == 0; i++)
		{
			HnswMemElement *dup = bs->elems[bs->buf[i].id];

			if (dup->nheaptids < HNSW_HEAPTIDS &&
				memcmp(dup->value->x, value->x, sizeof(float) * value->dim) == 0)
			{
				dup->heaptids[dup->nheaptids++] = *heaptid;
				return;
			}
		}
		sel[lc] = palloc(sizeof(KnnItem) * HnswLayerM(bs->m, lc));
		nsel[lc] = knn_select_neighbors(bs->buf, nw, HnswLayerM(bs->m, lc), ElemDist, bs, sel[lc]);
		memcpy(ep, bs->buf, sizeof(KnnItem) * nw);
		nep = nw;
	}

	newi = bs->nelems;
	e = NewElement(bs, value, heaptid, level);
	bs->elems[newi] = e;
	bs->nelems++;
	for (int lc = top; lc >= 0; lc--)
	{
		SetNeighbors(bs, e, lc, sel[lc], nsel[lc]);
		for (int i = 0; i < nsel[lc]; i++)
			AddReverseLink(bs, (int) sel[lc][i].id, newi, sel[lc][i].dist, lc);
	}
	if (level > bs->entryLevel)
	{
		bs->entry = newi;
		bs->entryLevel = level;
	}
}

/* ---------------------------------------------------------------- to disk */

/* Fill the element tuple of e into etup (neighbour TID from placement) */
static void
FormElementTuple(HnswBuildState *bs, HnswMemElement *e, HnswElementTuple etup)
{
	memset(etup, 0, HNSW_ELEMENT_TUPLE_SIZE(bs->dimensions));
	etup->type = HNSW_ELEMENT_TUPLE_TYPE;
	etup->level = e->level;
	for (int i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (i < e->nheaptids)
			etup->heaptids[i] = e->heaptids[i];
		else
			ItemPointerSetInvalid(&etup->heaptids[i]);
	}
	ItemPointerSet(&etup->neighbortid, e->nblkno, e->noffno);
	memcpy(&etup->vec, e->value, VARSIZE(e->value));
}

/* Fill the neighbour tuple of e (TIDs of its neighbours' placements) */
static void
FormNeighborTuple(HnswBuildState *bs, HnswMemElement *e, HnswNeighborTuple ntup)
{
	int			count = HnswNeighborCount(bs->m, e->level);

	memset(ntup, 0, HNSW_NEIGHBOR_TUPLE_SIZE(e->level, bs->m));
	ntup->type = HNSW_NEIGHBOR_TUPLE_TYPE;
	ntup->count = count;
	for (int i = 0; i < count; i++)
		ItemPointerSetInvalid(&ntup->tids[i]);
	for (int lc = 0; lc <= e->level; lc++)
	{
		int			start = HnswLayerStart(bs->m, lc);

		for (int i = 0; i < e->counts[lc]; i++)
		{
			HnswMemElement *n = bs->elems[e->nbr[start + i]];

			ItemPointerSet(&ntup->tids[start + i], n->blkno, n->offno);
		}
	}
}

/*
 * Lay the elements out on pages (write = false: just compute placements;
 * write = true: form the tuples and write the pages).  Both passes make the
 * same PageAddItem calls, so the placements match.  Returns the last block.
 */
static BlockNumber
LayOut(HnswBuildState *bs, bool write, ForkNumber forkNum)
{
	PGAlignedBlock scratch;
	Page		page = scratch.data;
	BlockNumber blk = HNSW_HEAD_BLKNO;
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(bs->dimensions);
	HnswElementTuple etup = palloc0(esize);
	HnswNeighborTuple ntup = palloc0(HNSW_NEIGHBOR_TUPLE_SIZE(HNSW_MAX_LEVEL, bs->m));
	bool		dirty = false;

	/* write out the scratch page as block blk */
#define FLUSH_PAGE() \
	do { \
		if (write) \
		{ \
			Buffer		b = ReadBufferExtended(bs->index, forkNum, P_NEW, RBM_NORMAL, NULL); \
			if (BufferGetBlockNumber(b) != blk) \
				elog(ERROR, "hnsw build expected block %u, got %u", blk, BufferGetBlockNumber(b)); \
			LockBuffer(b, BUFFER_LOCK_EXCLUSIVE); \
			memcpy(BufferGetPage(b), page, BLCKSZ); \
			MarkBufferDirty(b); \
			UnlockReleaseBuffer(b); \
		} \
		blk++; \
		PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData)); \
		HnswPageGetOpaque(page)->nextblkno = InvalidBlockNumber; \
		HnswPageGetOpaque(page)->page_id = HNSW_PAGE_ID; \
		dirty = false; \
	} while (0)

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	HnswPageGetOpaque(page)->nextblkno = InvalidBlockNumber;
	HnswPageGetOpaque(page)->page_id = HNSW_PAGE_ID;

	for (int i = 0; i < bs->nelems; i++)
	{
		HnswMemElement *e = bs->elems[i];
		Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(e->level, bs->m);
		bool		together;

		/* start a new page unless both tuples fit (or this one is empty) */
		if (dirty && PageGetFreeSpace(page) < esize + nsize + sizeof(ItemIdData))
			FLUSH_PAGE();
		together = PageGetFreeSpace(page) >= esize + nsize + sizeof(ItemIdData);

		e->blkno = blk;
		e->offno = OffsetNumberNext(PageGetMaxOffsetNumber(page));
		if (together)
		{
			e->nblkno = blk;
			e->noffno = OffsetNumberNext(e->offno);
		}
		else
		{
			e->nblkno = blk + 1;
			e->noffno = FirstOffsetNumber;
		}
		if (write)
			FormElementTuple(bs, e, etup);
		if (PageAddItem(page, (Item) etup, esize, e->offno, false, false) != e->offno)
			elog(ERROR, "failed to add hnsw element tuple");
		dirty = true;
		if (!together)
			FLUSH_PAGE();
		if (write)
			FormNeighborTuple(bs, e, ntup);
		if (PageAddItem(page, (Item) ntup, nsize, e->noffno, false, false) != e->noffno)
			elog(ERROR, "failed to add hnsw neighbor tuple");
		dirty = true;
	}
	if (dirty)
		FLUSH_PAGE();
#undef FLUSH_PAGE
	pfree(etup);
	pfree(ntup);
	return blk - 1;
}

/* Write the in-memory graph to the index and switch to on-disk inserts */
static void
FlushGraph(HnswBuildState *bs, ForkNumber forkNum)
{
	BlockNumber last;

	LayOut(bs, false, forkNum);
	last = LayOut(bs, true, forkNum);
	if (bs->entry >= 0)
	{
		HnswMemElement *ep = bs->elems[bs->entry];

		HnswUpdateMetaPage(bs->index, true, ep->blkno, ep->offno, bs->entryLevel,
						   last, forkNum, false);
	}
	bs->flushed = true;
	MemoryContextDelete(bs->graphCtx);
	bs->graphCtx = NULL;
	bs->elems = NULL;
}

/* ------------------------------------------------------------------ build */

/* table_index_build_scan callback: add one heap tuple */
static void
BuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;
	Vector	   *value;

	bs->reltuples++;
	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(bs->tmpCtx);
	value = HnswPrepareValue(&bs->sup, values[0]);
	if (value != NULL)
	{
		if (!bs->flushed &&
			MemoryContextMemAllocated(bs->graphCtx, true) > bs->memLimit)
		{
			ereport(NOTICE,
					(errmsg("hnsw graph no longer fits into maintenance_work_mem after " INT64_FORMAT " tuples",
							(int64) bs->indtuples),
					 errdetail("Building will take significantly more time."),
					 errhint("Increase maintenance_work_mem to speed up builds.")));
			FlushGraph(bs, MAIN_FORKNUM);
		}
		if (bs->flushed)
			HnswInsertTupleOnDisk(index, &bs->sup, value, tid);
		else
			InsertMem(bs, value, tid);
		bs->indtuples++;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

/* Check the column and options, set up the build state */
static void
InitBuildState(HnswBuildState *bs, Relation heap, Relation index)
{
	KnnAlloc	alloc;

	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	bs->dimensions = TupleDescAttr(index->rd_att, 0)->atttypmod;
	bs->m = HnswGetM(index);
	bs->efConstruction = HnswGetEfConstruction(index);

	if (bs->dimensions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column does not have dimensions")));
	if (bs->dimensions > HNSW_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for hnsw index", HNSW_MAX_DIM)));
	if (bs->efConstruction < 2 * bs->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));

	HnswInitSupport(index, &bs->sup);
	bs->memLimit = (Size) maintenance_work_mem * 1024;
	bs->graphCtx = GenerationContextCreate(CurrentMemoryContext, "hnsw build graph",
										   ALLOCSET_DEFAULT_SIZES);
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	alloc.realloc = build_realloc;
	alloc.arg = bs->graphCtx;
	bs->cap = 1024;
	bs->elems = MemoryContextAllocHuge(bs->graphCtx, sizeof(HnswMemElement *) * bs->cap);
	bs->visited = MemoryContextAllocHuge(bs->graphCtx, sizeof(uint32) * bs->cap);
	memset(bs->visited, 0, sizeof(uint32) * bs->cap);
	bs->epoch = 0;
	bs->entry = -1;
	bs->entryLevel = -1;
	knn_heap_init(&bs->cand, false, bs->efConstruction * 4, alloc);
	knn_heap_init(&bs->w, true, bs->efConstruction + 1, alloc);
	bs->buf = MemoryContextAlloc(bs->graphCtx, sizeof(KnnItem) * (bs->efConstruction + 1));
}

/* Create the meta page as block 0 of forkNum */
static void
CreateMetaPage(HnswBuildState *bs, ForkNumber forkNum)
{
	Buffer		buf = ReadBufferExtended(bs->index, forkNum, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswWriteMetaPage(bs->index, buf, bs->dimensions, bs->m, bs->efConstruction, forkNum);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* ambuild */
IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	HnswBuildState bs;
	IndexBuildResult *result;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	InitBuildState(&bs, heap, index);
	CreateMetaPage(&bs, MAIN_FORKNUM);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_HNSW_PHASE_LOAD);
	bs.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
										  BuildCallback, &bs, NULL);
	if (!bs.flushed)
		FlushGraph(&bs, MAIN_FORKNUM);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(bs.tmpCtx);
	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* ambuildempty: the init fork of an unlogged index is just a meta page */
void
hnswbuildempty(Relation index)
{
	HnswBuildState bs;
	Buffer		buf;

	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.dimensions = TupleDescAttr(index->rd_att, 0)->atttypmod;
	bs.m = HnswGetM(index);
	bs.efConstruction = HnswGetEfConstruction(index);

	buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	START_CRIT_SECTION();
	HnswWriteMetaPage(index, buf, bs.dimensions, bs.m, bs.efConstruction, INIT_FORKNUM);
	MarkBufferDirty(buf);
	log_newpage_buffer(buf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buf);
}
