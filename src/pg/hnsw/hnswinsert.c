/*-------------------------------------------------------------------------
 *
 * hnswinsert.c
 *	  Insert one value into an existing HNSW index on disk.
 *
 * 1. Draw a level; search from the entry point down to that level greedily,
 *    then with ef_construction on each layer it shares with the graph, and
 *    pick its neighbours with the selection heuristic.
 * 2. A value equal to an element already in the graph only adds its heap
 *    TID to that element (up to HNSW_HEAPTIDS).
 * 3. Otherwise write the element and its neighbour tuple (one page if they
 *    fit), then add the reverse links: a neighbour with a free slot takes
 *    the new element; a full one re-runs the heuristic over its neighbours
 *    plus the new element and drops the one it rejects.  The change is
 *    re-checked under the page's exclusive lock, since another backend may
 *    have changed the list meanwhile; a lost race only skips one link.
 * 4. A new top level moves the entry point (under HNSW_UPDATE_LOCK in
 *    ExclusiveLock mode).
 *
 * src/pg/hnsw/hnswinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg/hnsw/hnsw.h"

typedef struct PairDistArg
{
	HnswSearchState *st;
	const HnswSupport *sup;
	Vector	   *newvec;
	uint64		newid;
} PairDistArg;

/* Value of id for the pair-distance callback */
static const Vector *
ValueOf(PairDistArg *arg, uint64 id)
{
	HnswSearchElement *e;

	if (id == arg->newid)
		return arg->newvec;
	e = HnswSearchGetElement(arg->st, id);
	return e ? e->vec : NULL;
}

/* Distance between two elements of the search (knn_select_neighbors) */
static float
PairDist(uint64 a, uint64 b, void *varg)
{
	PairDistArg *arg = varg;
	const Vector *va = ValueOf(arg, a);
	const Vector *vb = ValueOf(arg, b);

	if (va == NULL || vb == NULL)
		return get_float4_infinity();
	return (float) HnswDistance(arg->sup, va, vb);
}

/* Place an element tuple and its neighbour tuple; returns their TIDs */
static void
WriteElement(Relation index, HnswMetaPageData *meta, Vector *vec, int level,
			 ItemPointer heaptid, ItemPointer etid, ItemPointer ntid, bool building)
{
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(vec->dim);
	Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(level, meta->m);
	HnswElementTuple etup = palloc0(esize);
	HnswNeighborTuple ntup = palloc0(nsize);
	BlockNumber blk = meta->insertPage;
	Buffer		buf,
				nbuf = InvalidBuffer;
	Page		page,
				npage = NULL;
	HnswEdit	ed;
	OffsetNumber eoff,
				noff;
	bool		samePage;

	etup->type = HNSW_ELEMENT_TUPLE_TYPE;
	etup->level = level;
	etup->heaptids[0] = *heaptid;
	for (int i = 1; i < HNSW_HEAPTIDS; i++)
		ItemPointerSetInvalid(&etup->heaptids[i]);
	memcpy(&etup->vec, vec, VARSIZE(vec));
	ntup->type = HNSW_NEIGHBOR_TUPLE_TYPE;
	ntup->count = HnswNeighborCount(meta->m, level);
	for (int i = 0; i < ntup->count; i++)
		ItemPointerSetInvalid(&ntup->tids[i]);

	if (!BlockNumberIsValid(blk))
		blk = RelationGetNumberOfBlocks(index) - 1;
	HnswEditStart(&ed, index, building);
	if (blk == HNSW_METAPAGE_BLKNO)
	{
		buf = HnswNewBuffer(index, MAIN_FORKNUM);
		page = HnswEditRegister(&ed, buf, true);
		HnswInitPage(buf, page);
	}
	else
	{
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = HnswEditRegister(&ed, buf, false);
	}

	/* room for both (and their line pointers) on this page? */
	samePage = PageGetFreeSpace(page) >= esize + nsize + sizeof(ItemIdData);
	if (!samePage && PageGetFreeSpace(page) < esize)
	{
		/* move on to a new page */
		HnswEditAbort(&ed);
		UnlockReleaseBuffer(buf);
		HnswEditStart(&ed, index, building);
		buf = HnswNewBuffer(index, MAIN_FORKNUM);
		page = HnswEditRegister(&ed, buf, true);
		HnswInitPage(buf, page);
		samePage = PageGetFreeSpace(page) >= esize + nsize + sizeof(ItemIdData);
	}
	if (!samePage)
	{
		/* large values: the neighbour tuple goes on the next, new page */
		nbuf = HnswNewBuffer(index, MAIN_FORKNUM);
		npage = HnswEditRegister(&ed, nbuf, true);
		HnswInitPage(nbuf, npage);
	}

	eoff = OffsetNumberNext(PageGetMaxOffsetNumber(page));
	noff = samePage ? OffsetNumberNext(eoff) : FirstOffsetNumber;
	ItemPointerSet(&etup->neighbortid, samePage ? BufferGetBlockNumber(buf) : BufferGetBlockNumber(nbuf), noff);
	if (PageAddItem(page, (Item) etup, esize, eoff, false, false) != eoff)
		elog(ERROR, "failed to add hnsw element tuple to \"%s\"", RelationGetRelationName(index));
	if (PageAddItem(samePage ? page : npage, (Item) ntup, nsize, noff, false, false) != noff)
		elog(ERROR, "failed to add hnsw neighbor tuple to \"%s\"", RelationGetRelationName(index));
	HnswEditFinish(&ed);

	ItemPointerSet(etid, BufferGetBlockNumber(buf), eoff);
	*ntid = etup->neighbortid;
	meta->insertPage = samePage ? BufferGetBlockNumber(buf) : BufferGetBlockNumber(nbuf);
	UnlockReleaseBuffer(buf);
	if (nbuf != InvalidBuffer)
		UnlockReleaseBuffer(nbuf);
	pfree(etup);
	pfree(ntup);
}

/*
 * Add heaptid to the existing element id if it holds exactly vec and has a
 * free heap TID slot.  True if done.
 */
static bool
AddDuplicate(Relation index, uint64 id, Vector *vec, ItemPointer heaptid, bool building)
{
	Buffer		buf = ReadBuffer(index, HnswIdBlock(id));
	HnswEdit	ed;
	Page		page;
	HnswElementTuple etup;
	OffsetNumber off = HnswIdOffset(id);
	bool		done = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswEditStart(&ed, index, building);
	page = HnswEditRegister(&ed, buf, false);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, off)) &&
		ItemIdGetLength(PageGetItemId(page, off)) >= offsetof(HnswElementTupleData, vec) + VECTOR_SIZE(vec->dim))
	{
		etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));
		if (etup->type == HNSW_ELEMENT_TUPLE_TYPE && !etup->deleted &&
			VARSIZE(&etup->vec) == VARSIZE(vec) &&
			memcmp(etup->vec.x, vec->x, sizeof(float) * vec->dim) == 0)
		{
			for (int i = 0; i < HNSW_HEAPTIDS; i++)
				if (!ItemPointerIsValid(&etup->heaptids[i]))
				{
					etup->heaptids[i] = *heaptid;
					done = true;
					break;
				}
		}
	}
	if (done)
		HnswEditFinish(&ed);
	else
		HnswEditAbort(&ed);
	UnlockReleaseBuffer(buf);
	return done;
}

/*
 * Make the new element newid (at distance newdist from neighbour n) a
 * neighbour of n on layer lc.  See the file header for the race rules.
 */
void
HnswAddReverseLink(Relation index, HnswSearchState *st, const HnswSupport *sup,
			   HnswSearchElement *n, uint64 newid, float newdist, Vector *newvec,
			   int lc, int m, bool building)
{
	int			lm = HnswLayerM(m, lc);
	uint64	   *cur = palloc(sizeof(uint64) * (lm + 1));
	int			ncur = HnswLoadNeighbors(index, &n->neighbortid, m, lc, cur);
	uint64		drop = 0;
	bool		haveDrop = false;
	Buffer		buf;
	HnswEdit	ed;
	Page		page;
	OffsetNumber off = ItemPointerGetOffsetNumber(&n->neighbortid);
	HnswNeighborTuple ntup;
	int			start = HnswLayerStart(m, lc);
	int			slot = -1;

	if (ncur >= lm)
	{
		/* full: rerun the heuristic over the current neighbours + new */
		KnnItem    *cand = palloc(sizeof(KnnItem) * (ncur + 1));
		KnnItem    *kept = palloc(sizeof(KnnItem) * (ncur + 1));
		PairDistArg arg = {st, sup, newvec, newid};
		int			nc = 0,
					nk;
		bool		newKept = false;

		HnswSearchFetch(st, cur, ncur);
		for (int i = 0; i < ncur; i++)
		{
			HnswSearchElement *e = HnswSearchGetElement(st, cur[i]);

			if (e == NULL || e->deleted || e->vec == NULL)
			{
				/* replace a stale or deleted neighbour first */
				drop = cur[i];
				haveDrop = true;
				break;
			}
			cand[nc].id = cur[i];
			cand[nc].dist = (float) HnswDistance(sup, n->vec, e->vec);
			nc++;
		}
		if (!haveDrop)
		{
			int			j = nc++;

			/* insert new in distance order */
			while (j > 0 && cand[j - 1].dist > newdist)
			{
				cand[j] = cand[j - 1];
				j--;
			}
			cand[j].id = newid;
			cand[j].dist = newdist;
			nk = knn_select_neighbors(cand, nc, lm, PairDist, &arg, kept,
									  palloc(sizeof(KnnItem) * nc));
			for (int i = 0; i < nk; i++)
				newKept |= kept[i].id == newid;
			if (!newKept)
				return;
			/* the one candidate not kept is dropped */
			for (int i = 0; i < nc && !haveDrop; i++)
			{
				bool		in = false;

				for (int k = 0; k < nk; k++)
					in |= kept[k].id == cand[i].id;
				if (!in)
				{
					drop = cand[i].id;
					haveDrop = true;
				}
			}
			if (!haveDrop)
				return;
		}
	}

	/* apply under the page lock, against the list as it is now */
	buf = ReadBuffer(index, ItemPointerGetBlockNumber(&n->neighbortid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswEditStart(&ed, index, building);
	page = HnswEditRegister(&ed, buf, false);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, off)))
	{
		ntup = (HnswNeighborTuple) PageGetItem(page, PageGetItemId(page, off));
		if (ntup->type == HNSW_NEIGHBOR_TUPLE_TYPE && start + lm <= ntup->count &&
			ItemIdGetLength(PageGetItemId(page, off)) >=
			offsetof(HnswNeighborTupleData, tids) + ntup->count * sizeof(ItemPointerData))
		{
			for (int i = 0; i < lm; i++)
			{
				ItemPointer t = &ntup->tids[start + i];

				if (ItemPointerIsValid(t) &&
					HnswTidToId(ItemPointerGetBlockNumber(t), ItemPointerGetOffsetNumber(t)) == newid)
				{
					slot = -2;	/* already there */
					break;
				}
				if (haveDrop && ItemPointerIsValid(t) &&
					HnswTidToId(ItemPointerGetBlockNumber(t), ItemPointerGetOffsetNumber(t)) == drop)
					slot = i;
				else if (!ItemPointerIsValid(t) && slot == -1)
					slot = i;
			}
		}
	}
	if (slot >= 0)
	{
		ItemPointerSet(&ntup->tids[start + slot], HnswIdBlock(newid), HnswIdOffset(newid));
		HnswEditFinish(&ed);
	}
	else
		HnswEditAbort(&ed);
	UnlockReleaseBuffer(buf);
}

/* Write the new element's own neighbour lists (layers 0..top) */
static void
WriteOwnNeighbors(Relation index, ItemPointer ntid, int m, int top,
				  KnnItem **layerResults, int *layerCounts, bool building)
{
	Buffer		buf = ReadBuffer(index, ItemPointerGetBlockNumber(ntid));
	HnswEdit	ed;
	Page		page;
	HnswNeighborTuple ntup;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswEditStart(&ed, index, building);
	page = HnswEditRegister(&ed, buf, false);
	ntup = (HnswNeighborTuple) PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(ntid)));
	for (int lc = 0; lc <= top; lc++)
		for (int i = 0; i < layerCounts[lc]; i++)
			ItemPointerSet(&ntup->tids[HnswLayerStart(m, lc) + i],
						   HnswIdBlock(layerResults[lc][i].id),
						   HnswIdOffset(layerResults[lc][i].id));
	HnswEditFinish(&ed);
	UnlockReleaseBuffer(buf);
}

/* The live elements (with a value) among w[0..nw-1], in order */
static int
LiveResults(HnswSearchState *st, const KnnItem *w, int nw, KnnItem *out)
{
	int			n = 0;

	for (int i = 0; i < nw; i++)
	{
		HnswSearchElement *e = HnswSearchGetElement(st, w[i].id);

		if (e != NULL && !e->deleted && e->vec != NULL)
			out[n++] = w[i];
	}
	return n;
}

/*
 * Insert vec (prepared) for heaptid; see the file header.  building: called
 * by CREATE INDEX after its graph outgrew memory, whose pages are
 * WAL-logged at the end, so changes are only marked dirty.
 */
void
HnswInsertTupleOnDisk(Relation index, const HnswSupport *sup, Vector *vec,
					  ItemPointer heaptid, bool building)
{
	HnswMetaPageData meta;
	int			m;
	int			level;
	LOCKMODE	lockmode = ShareLock;
	HnswSearchState *st;
	KnnItem   **layerResults;
	int		   *layerCounts;
	int			top;
	ItemPointerData etid,
				ntid;
	uint64		newid;
	BlockNumber insertPage;
	float		selfDist = (float) HnswDistance(sup, vec, vec);

	LockPage(index, HNSW_UPDATE_LOCK, lockmode);
	HnswGetMetaPageInfo(index, &meta);
	m = meta.m;
	if (vec->dim != (int) meta.dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", meta.dimensions, vec->dim)));

	level = HnswRandomLevel(m, NULL);
	if (level > meta.entryLevel)
	{
		/* may move the entry point: take the lock exclusively, re-read */
		UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
		lockmode = ExclusiveLock;
		LockPage(index, HNSW_UPDATE_LOCK, lockmode);
		HnswGetMetaPageInfo(index, &meta);
	}
	insertPage = meta.insertPage;

	st = HnswSearchBegin(index, sup, vec, m, CurrentMemoryContext);
	HnswSearchKeepVectors(st);
	top = Min(level, meta.entryLevel);
	layerResults = palloc0(sizeof(KnnItem *) * (level + 1));
	layerCounts = palloc0(sizeof(int) * (level + 1));

	if (HnswSearchEntry(st, &meta))
	{
		if (meta.entryLevel > Max(level, 1))
			HnswSearchGreedy(st, meta.entryLevel, Max(level, 1) + 1);
		if (level == 0 && meta.entryLevel >= 1)
		{
			KnnItem    *upper;

			/* a beam on layer 1 finds the right region (see hnswscan.c) */
			HnswSearchLayer(st, meta.efConstruction, 1, false, &upper);
		}
		for (int lc = top; lc >= 0; lc--)
		{
			KnnItem    *w;
			int			nw;
			KnnItem    *live;
			int			nlive;
			PairDistArg arg = {st, sup, vec, UINT64_MAX};

			/*
			 * Deleted elements (VACUUM not finished) still guide the search;
			 * only live ones become neighbours.
			 */
			nw = HnswSearchLayer(st, meta.efConstruction, lc, false, &w);
			live = palloc(sizeof(KnnItem) * Max(nw, 1));
			nlive = LiveResults(st, w, nw, live);

			/* an equal value already in the graph takes this heap TID */
			for (int i = 0; lc == 0 && i < nlive && live[i].dist <= selfDist; i++)
				if (live[i].dist == selfDist &&
					AddDuplicate(index, live[i].id, vec, heaptid, building))
				{
					HnswSearchEnd(st);
					UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
					return;
				}
			layerResults[lc] = palloc(sizeof(KnnItem) * HnswLayerM(m, lc));
			layerCounts[lc] = knn_select_neighbors(live, nlive, HnswLayerM(m, lc), PairDist,
												   &arg, layerResults[lc],
												   palloc(sizeof(KnnItem) * Max(nlive, 1)));
		}
	}

	/* write the element, with its own neighbour lists filled */
	WriteElement(index, &meta, vec, level, heaptid, &etid, &ntid, building);
	newid = HnswTidToId(ItemPointerGetBlockNumber(&etid), ItemPointerGetOffsetNumber(&etid));
	if (top >= 0 && BlockNumberIsValid(meta.entryBlkno))
		WriteOwnNeighbors(index, &ntid, m, top, layerResults, layerCounts, building);

	/* reverse links */
	for (int lc = 0; lc <= top; lc++)
		for (int i = 0; i < layerCounts[lc]; i++)
		{
			HnswSearchElement *n = HnswSearchGetElement(st, layerResults[lc][i].id);

			if (n != NULL && n->vec != NULL)
				HnswAddReverseLink(index, st, sup, n, newid, layerResults[lc][i].dist, vec, lc, m,
							   building);
		}

	/* the meta page changes only for a new top level or a new insert page */
	if (level > meta.entryLevel || meta.insertPage != insertPage)
		HnswUpdateMetaPage(index, level > meta.entryLevel,
						   ItemPointerGetBlockNumber(&etid), ItemPointerGetOffsetNumber(&etid),
						   level, meta.insertPage, MAIN_FORKNUM, !building);
	HnswSearchEnd(st);
	UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
}

/* aminsert: index one new heap tuple */
bool
hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
		   IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;
	HnswSupport sup;
	Vector	   *vec;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw insert", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	HnswInitSupport(index, &sup);
	vec = HnswPrepareValue(&sup, values[0]);
	if (vec != NULL)
		HnswInsertTupleOnDisk(index, &sup, vec, heap_tid, false);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
