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
 * 3. Otherwise write the element and its neighbour tuple, with its own
 *    neighbour lists filled in (one page if they fit), in one WAL record
 *    that also updates the meta page when the element takes the entry
 *    point (a new top level, under HNSW_UPDATE_LOCK in ExclusiveLock mode)
 *    or a new insert page.  So after a crash an element always has its
 *    out-links, and the entry point is always the element of the top level.
 * 4. Add the reverse links, one record each: a neighbour with a free slot
 *    takes the new element; a full one re-runs the heuristic over its
 *    neighbours plus the new element and drops the one it rejects.  The
 *    change is re-checked under the page's exclusive lock, since another
 *    backend may have changed the list meanwhile; a lost race only skips
 *    one link.
 * 5. If no neighbour took the new element on layer 0 (the heuristic
 *    rejected it everywhere, as it can an outlier), nothing would link to
 *    it and no search could find it: its nearest neighbour takes it anyway
 *    (HnswForceLink).  Later inserts can still prune an element's last
 *    in-link; VACUUM reconnects such elements (hnswvacuum.c).
 *
 * The commit record of the inserting transaction follows all these records
 * in the WAL, so recovery replays either a committed insert completely or
 * a prefix of an uncommitted one (a dead row that VACUUM removes).
 *
 * src/pg/hnsw/hnswinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "storage/freespace.h"
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

/* Put x into items[0..n-1] (ascending distance), after equal ones */
static void
InsertByDistance(KnnItem *items, int n, KnnItem x)
{
	int			j = n;

	while (j > 0 && items[j - 1].dist > x.dist)
	{
		items[j] = items[j - 1];
		j--;
	}
	items[j] = x;
}

/*
 * The offset a new item on page can take at or after from: the first
 * unused line pointer (VACUUM leaves them, hnswvacuum.c), or the end.
 */
static OffsetNumber
FreeOffset(Page page, OffsetNumber from)
{
	OffsetNumber max = PageGetMaxOffsetNumber(page);

	for (OffsetNumber off = from; off <= max; off++)
		if (!ItemIdIsUsed(PageGetItemId(page, off)))
			return off;
	return Max(from, OffsetNumberNext(max));
}

/*
 * A page the free space map says has room for both tuples (space VACUUM
 * freed), locked exclusively, or InvalidBuffer.  The map can be stale: a
 * page found too full is recorded with its real free space and the map
 * asked again, a few times at most.
 */
static Buffer
FreeSpacePage(Relation index, Size need)
{
	BlockNumber blk = GetPageWithFreeSpace(index, need);

	for (int tries = 0; tries < 4 && BlockNumberIsValid(blk); tries++)
	{
		Buffer		buf;
		Page		page;
		Size		avail;

		if (blk == HNSW_METAPAGE_BLKNO || blk >= RelationGetNumberOfBlocks(index))
			return InvalidBuffer;
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		avail = PageIsNew(page) ? 0 : PageGetFreeSpace(page);
		if (avail >= need)
			return buf;
		UnlockReleaseBuffer(buf);
		blk = RecordAndGetPageWithFreeSpace(index, blk, avail, need);
	}
	return InvalidBuffer;
}

/*
 * Place an element tuple and its neighbour tuple, the neighbour lists of
 * layers 0..top filled from layerResults; returns their TIDs.  In the same
 * record, make the element the entry point when newEntry, and move the
 * meta page's insert page forward when the element went to a new page.
 * Lock order: the insert page, a new page after it, then the meta page.
 */
static void
WriteElement(Relation index, HnswMetaPageData *meta, Vector *vec, int level,
			 ItemPointer heaptid, int top, KnnItem **layerResults, int *layerCounts,
			 bool newEntry, ItemPointer etid, ItemPointer ntid, bool building)
{
	Size		esize = HNSW_ELEMENT_TUPLE_SIZE(vec->dim);
	Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(level, meta->m);
	HnswElementTuple etup = palloc0(esize);
	HnswNeighborTuple ntup = palloc0(nsize);
	BlockNumber blk = meta->insertPage;
	Buffer		buf,
				nbuf = InvalidBuffer,
				metabuf = InvalidBuffer;
	Page		page,
				npage = NULL;
	HnswEdit	ed;
	OffsetNumber eoff,
				noff;
	bool		samePage,
				movesInsertPage;
	BlockNumber lastPage;

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
	for (int lc = 0; lc <= top; lc++)
		for (int i = 0; i < layerCounts[lc]; i++)
			ItemPointerSet(&ntup->tids[HnswLayerStart(meta->m, lc) + i],
						   HnswIdBlock(layerResults[lc][i].id),
						   HnswIdOffset(layerResults[lc][i].id));

	if (!BlockNumberIsValid(blk))
		blk = RelationGetNumberOfBlocks(index) - 1;
	HnswEditStart(&ed, index, building);
	/* both on one page, in space VACUUM freed (never while building) */
	if (!building &&
		(buf = FreeSpacePage(index, esize + nsize + sizeof(ItemIdData))) != InvalidBuffer)
		page = HnswEditRegister(&ed, buf, false);
	else if (blk == HNSW_METAPAGE_BLKNO)
	{
		buf = HnswNewBuffer(index, MAIN_FORKNUM);
		page = HnswEditRegister(&ed, buf, true);
		HnswInitPage(buf, page);
	}
	else
	{
		/*
		 * An all-zero page here (only when the meta page names no insert
		 * page yet) has no free space: it is left alone and a new page taken.
		 */
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

	/* unused line pointers first (overwrite: never shift other items) */
	eoff = FreeOffset(page, FirstOffsetNumber);
	noff = samePage ? FreeOffset(page, OffsetNumberNext(eoff)) : FirstOffsetNumber;
	ItemPointerSet(&etup->neighbortid, samePage ? BufferGetBlockNumber(buf) : BufferGetBlockNumber(nbuf), noff);
	if (PageAddItem(page, (Item) etup, esize, eoff, true, false) != eoff)
		elog(ERROR, "failed to add hnsw element tuple to \"%s\"", RelationGetRelationName(index));
	if (PageAddItem(samePage ? page : npage, (Item) ntup, nsize, noff, true, false) != noff)
		elog(ERROR, "failed to add hnsw neighbor tuple to \"%s\"", RelationGetRelationName(index));

	/* the meta page, in the same record when it changes */
	lastPage = samePage ? BufferGetBlockNumber(buf) : BufferGetBlockNumber(nbuf);
	/* the insert page only moves forward (a page the map gave may lie before it) */
	movesInsertPage = !BlockNumberIsValid(meta->insertPage) || lastPage > meta->insertPage;
	if (newEntry || movesInsertPage)
	{
		HnswMetaPage mp;

		metabuf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		mp = HnswPageGetMeta(HnswEditRegister(&ed, metabuf, false));
		if (newEntry)
		{
			mp->entryBlkno = BufferGetBlockNumber(buf);
			mp->entryOffno = eoff;
			mp->entryLevel = level;
		}
		/* the insert page only moves forward (concurrent inserts race here) */
		if (!BlockNumberIsValid(mp->insertPage) || lastPage > mp->insertPage)
			mp->insertPage = lastPage;
	}
	HnswEditFinish(&ed);

	ItemPointerSet(etid, BufferGetBlockNumber(buf), eoff);
	*ntid = etup->neighbortid;
	if (movesInsertPage)
		meta->insertPage = lastPage;
	if (metabuf != InvalidBuffer)
		UnlockReleaseBuffer(metabuf);
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
 * True if n now links to newid.
 */
bool
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
			/* by distance from n (lists on disk are in no order) */
			InsertByDistance(cand, nc++,
							 (KnnItem) {(float) HnswDistance(sup, n->vec, e->vec), cur[i]});
		}
		if (!haveDrop)
		{
			InsertByDistance(cand, nc++, (KnnItem) {newdist, newid});
			nk = knn_select_neighbors(cand, nc, lm, PairDist, &arg, kept,
									  palloc(sizeof(KnnItem) * nc));
			for (int i = 0; i < nk; i++)
				newKept |= kept[i].id == newid;
			if (!newKept)
				return false;
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
				return false;
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
	return slot >= 0 || slot == -2;
}

/* The neighbour tuple at off on a locked page, if it has a layer-0 list */
static HnswNeighborTuple
NeighborTupleOnPage(Page page, OffsetNumber off, int m)
{
	ItemId		iid;
	HnswNeighborTuple ntup;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return NULL;
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < offsetof(HnswNeighborTupleData, tids))
		return NULL;
	ntup = (HnswNeighborTuple) PageGetItem(page, iid);
	if (ntup->type != HNSW_NEIGHBOR_TUPLE_TYPE || HnswLayerM(m, 0) > ntup->count ||
		ItemIdGetLength(iid) < offsetof(HnswNeighborTupleData, tids) +
		ntup->count * sizeof(ItemPointerData))
		return NULL;
	return ntup;
}

/* Slot of id in the layer-0 list of ntup, or -1 */
static int
FindSlot(HnswNeighborTuple ntup, int lm, uint64 id)
{
	for (int i = 0; i < lm; i++)
	{
		ItemPointer t = &ntup->tids[i];

		if (ItemPointerIsValid(t) &&
			HnswTidToId(ItemPointerGetBlockNumber(t), ItemPointerGetOffsetNumber(t)) == id)
			return i;
	}
	return -1;
}

/* First free slot in the layer-0 list of ntup, or -1 */
static int
FreeSlot(HnswNeighborTuple ntup, int lm)
{
	for (int i = 0; i < lm; i++)
		if (!ItemPointerIsValid(&ntup->tids[i]))
			return i;
	return -1;
}

/*
 * Of ids[0..n-1] (read by st), the one to give up: the first stale or
 * deleted one, else the farthest from 'from' (NULL: from st's query, whose
 * distances st has).  *live: whether the one chosen is a live element.
 */
static uint64
ChooseVictim(HnswSearchState *st, const HnswSupport *sup, const Vector *from,
			 uint64 *ids, int n, bool *live)
{
	uint64		victim = ids[0];
	double		far = -1;
	bool		first = true;

	HnswSearchFetch(st, ids, n);
	*live = true;
	for (int i = 0; i < n; i++)
	{
		HnswSearchElement *e = HnswSearchGetElement(st, ids[i]);
		double		d;

		if (e == NULL || e->deleted || e->vec == NULL)
		{
			*live = false;
			return ids[i];
		}
		d = from ? HnswDistance(sup, from, e->vec) : e->dist;
		if (first || d > far)
		{
			far = d;
			victim = ids[i];
			first = false;
		}
	}
	return victim;
}

/*
 * Link n to x on layer 0 although the selection heuristic would not: for
 * an element nothing else links to, which no search could reach.  A full
 * list of n gives up a stale link first, else its farthest one, v; x then
 * takes v into its own list (in place of its own farthest link when full:
 * nothing depended on x's links, as nothing reached x), so v stays
 * reachable through n -> x -> v.  Both lists change in one record; the two
 * pages are locked in block order.  st is a search for x's value that
 * keeps vectors (its distances are to x) and has read n.  True if n links
 * to x afterwards.
 */
bool
HnswForceLink(Relation index, HnswSearchState *st, const HnswSupport *sup,
			  HnswSearchElement *n, HnswSearchElement *x, int m, bool building)
{
	int			lm = HnswLayerM(m, 0);
	uint64	   *cur = palloc(sizeof(uint64) * lm);
	uint64	   *xcur = palloc(sizeof(uint64) * lm);
	int			ncur = HnswLoadNeighbors(index, &n->neighbortid, m, 0, cur);
	uint64		victim = 0;
	bool		haveVictim = false;
	bool		relocate = false;
	uint64		xdrop = 0;
	bool		haveXdrop = false;
	BlockNumber nblk = ItemPointerGetBlockNumber(&n->neighbortid);
	BlockNumber xblk = ItemPointerGetBlockNumber(&x->neighbortid);
	Buffer		nbuf,
				xbuf;
	HnswEdit	ed;
	Page		npage,
				xpage;
	HnswNeighborTuple nt,
				xt;
	int			slot;
	bool		linked;

	if (nblk == HNSW_METAPAGE_BLKNO || xblk == HNSW_METAPAGE_BLKNO || n->id == x->id)
		return false;			/* corrupt links */
	for (int i = 0; i < ncur; i++)
		if (cur[i] == x->id)
			return true;
	if (ncur >= lm)
	{
		victim = ChooseVictim(st, sup, n->vec, cur, ncur, &relocate);
		haveVictim = true;
	}
	if (relocate)
	{
		int			nx = HnswLoadNeighbors(index, &x->neighbortid, m, 0, xcur);

		for (int i = 0; i < nx && relocate; i++)
			relocate = xcur[i] != victim;
		if (relocate && nx >= lm)
		{
			bool		xlive;

			xdrop = ChooseVictim(st, sup, NULL, xcur, nx, &xlive);
			haveXdrop = true;
		}
	}

	/* apply under the page locks, against the lists as they are now */
	nbuf = ReadBuffer(index, nblk);
	xbuf = xblk == nblk ? nbuf : ReadBuffer(index, xblk);
	LockBuffer(nblk < xblk ? nbuf : xbuf, BUFFER_LOCK_EXCLUSIVE);
	if (xbuf != nbuf)
		LockBuffer(nblk < xblk ? xbuf : nbuf, BUFFER_LOCK_EXCLUSIVE);
	HnswEditStart(&ed, index, building);
	npage = HnswEditRegister(&ed, nbuf, false);
	xpage = xbuf == nbuf ? npage : HnswEditRegister(&ed, xbuf, false);
	nt = NeighborTupleOnPage(npage, ItemPointerGetOffsetNumber(&n->neighbortid), m);
	xt = NeighborTupleOnPage(xpage, ItemPointerGetOffsetNumber(&x->neighbortid), m);

	linked = nt != NULL && FindSlot(nt, lm, x->id) >= 0;
	slot = -1;
	if (nt != NULL && !linked)
	{
		slot = FreeSlot(nt, lm);
		if (slot < 0 && haveVictim)
			slot = FindSlot(nt, lm, victim);
	}
	if (slot >= 0)
	{
		/* x takes the link n gives up, unless it has it already */
		if (ItemPointerIsValid(&nt->tids[slot]) && relocate && xt != NULL &&
			FindSlot(xt, lm, victim) < 0)
		{
			int			xslot = FreeSlot(xt, lm);

			if (xslot < 0 && haveXdrop)
				xslot = FindSlot(xt, lm, xdrop);
			if (xslot >= 0)
				ItemPointerSet(&xt->tids[xslot], HnswIdBlock(victim), HnswIdOffset(victim));
		}
		ItemPointerSet(&nt->tids[slot], HnswIdBlock(x->id), HnswIdOffset(x->id));
		HnswEditFinish(&ed);
		linked = true;
	}
	else
		HnswEditAbort(&ed);
	if (xbuf != nbuf)
		UnlockReleaseBuffer(xbuf);
	UnlockReleaseBuffer(nbuf);
	pfree(cur);
	pfree(xcur);
	return linked;
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
	bool		linked0 = false;
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

	/* the element, its own neighbour lists and the meta page: one record */
	WriteElement(index, &meta, vec, level, heaptid, top, layerResults, layerCounts,
				 level > meta.entryLevel, &etid, &ntid, building);
	newid = HnswTidToId(ItemPointerGetBlockNumber(&etid), ItemPointerGetOffsetNumber(&etid));

	/* reverse links */
	for (int lc = 0; lc <= top; lc++)
		for (int i = 0; i < layerCounts[lc]; i++)
		{
			HnswSearchElement *n = HnswSearchGetElement(st, layerResults[lc][i].id);

			if (n != NULL && n->vec != NULL &&
				HnswAddReverseLink(index, st, sup, n, newid, layerResults[lc][i].dist, vec, lc, m,
								   building) && lc == 0)
				linked0 = true;
		}

	/* rejected by every neighbour on layer 0: the nearest takes it anyway */
	if (!linked0 && top >= 0 && layerCounts[0] > 0)
	{
		HnswSearchElement *n = HnswSearchGetElement(st, layerResults[0][0].id);
		HnswSearchElement x;

		memset(&x, 0, sizeof(x));
		x.id = newid;
		x.neighbortid = ntid;
		if (n != NULL && n->vec != NULL)
			HnswForceLink(index, st, sup, n, &x, m, building);
	}
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
