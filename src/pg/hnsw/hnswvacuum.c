/*-------------------------------------------------------------------------
 *
 * hnswvacuum.c
 *	  VACUUM for HNSW indexes.
 *
 * Bulk delete, pass 1, visits every element tuple and removes the heap
 * TIDs that VACUUM reports dead.  An element left without heap TIDs is
 * marked deleted: searches still walk through it but never return it or
 * link new elements to it, and inserts drop it first when a neighbour list
 * is full.
 *
 * Pass 2 repairs the graph so recall holds up after heavy churn: every
 * live element whose neighbour list on some layer names a deleted element
 * gets a new list on that layer, chosen with the selection heuristic from
 * its live neighbours plus the live neighbours of the deleted ones (two
 * hops); only when that leaves nothing does it fall back to a search from
 * the entry point, as an insert would.  The new list is written under the
 * page lock, merged with links that concurrent inserts added meanwhile.
 * A deleted entry point is replaced by a live element of the highest level.
 *
 * Pass 3 keeps every live element reachable.  Pruning can take the last
 * link to an element (a later insert's heuristic drops it from a full list,
 * or a repair chooses other neighbours); no search can then return it.  A
 * walk of layer 0 from the entry point marks what is reachable, in a bitmap
 * of (block, offset) slots, reading the pages that hold newly reached
 * elements in block order.  Each live element
 * left unmarked is linked from its nearest reachable neighbour, found by a
 * search as an insert would (HnswForceLink), and the walk continues from
 * it.  The pass also runs when VACUUM had no dead rows to remove (from
 * amvacuumcleanup), since pruning happens on inserts alone.
 *
 * Pass 4 frees the space of the deleted elements, which after the repair
 * nothing live links to.  It first waits out the inserts in flight (they
 * hold HNSW_UPDATE_LOCK in share mode and may have chosen a deleted
 * element as a neighbour before pass 1 marked it), then removes each
 * deleted element's tuple and its neighbour tuple, leaving unused line
 * pointers so that no other TID moves, and records every page's free
 * space in the free space map, where inserts look first (hnswinsert.c).
 * A TID some reader still holds may now name an unused slot or a new
 * tuple; every reader checks the item and its type (as for any stale TID).
 *
 * All-zero pages (an extension cut short by a crash) are skipped.
 *
 * src/pg/hnsw/hnswvacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "utils/rel.h"

#include "pg/hnsw/hnsw.h"

/*
 * Pass 1: remove dead heap TIDs; collect every deleted element in deleted.
 * Returns how many elements this pass emptied.
 */
/* Blocks holding deleted elements, in block order */
typedef struct BlockList
{
	BlockNumber *blk;
	int			n;
	int			cap;
} BlockList;

static void
BlockListAdd(BlockList *l, BlockNumber blk)
{
	if (l->n > 0 && l->blk[l->n - 1] == blk)
		return;
	if (l->n == l->cap)
	{
		l->cap = Max(64, 2 * l->cap);
		l->blk = l->blk ? repalloc_huge(l->blk, sizeof(BlockNumber) * l->cap)
			: palloc_extended(sizeof(BlockNumber) * l->cap, MCXT_ALLOC_HUGE);
	}
	l->blk[l->n++] = blk;
}

static int64
RemoveHeapTids(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state,
			   KnnIdSet *deleted, BlockList *blocks)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int64		emptied = 0;
	double		live = 0;

	for (BlockNumber blk = HNSW_HEAD_BLKNO; blk < nblocks; blk++)
	{
		Buffer		buf;
		GenericXLogState *state;
		Page		page;
		bool		changed = false;
		int64		emptiedBefore = emptied;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageIsNew(BufferGetPage(buf)))
		{
			/* all zeros: an extension cut short by a crash, never linked */
			UnlockReleaseBuffer(buf);
			continue;
		}
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);

		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;
			ItemPointerData keep[HNSW_HEAPTIDS];
			int			n = 0,
						removed = 0;

			if (!ItemIdIsNormal(iid))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			if (etup->type != HNSW_ELEMENT_TUPLE_TYPE)
				continue;
			for (int i = 0; i < HNSW_HEAPTIDS && ItemPointerIsValid(&etup->heaptids[i]); i++)
			{
				if (callback(&etup->heaptids[i], callback_state))
					removed++;
				else
					keep[n++] = etup->heaptids[i];
			}
			stats->tuples_removed += removed;
			live += n;
			if (removed > 0)
			{
				for (int i = 0; i < HNSW_HEAPTIDS; i++)
				{
					if (i < n)
						etup->heaptids[i] = keep[i];
					else
						ItemPointerSetInvalid(&etup->heaptids[i]);
				}
				if (n == 0 && !etup->deleted)
				{
					etup->deleted = 1;
					emptied++;
				}
				changed = true;
			}
			if (etup->deleted || n == 0)
			{
				knn_idset_add(deleted, HnswTidToId(blk, off));
				BlockListAdd(blocks, blk);
			}
		}

		/*
		 * The meta page's repair flag goes into the WAL before the first
		 * element this pass deletes: a crash or a cancel between here and
		 * the repair leaves the flag set, and the next VACUUM repairs.
		 */
		if (emptied > emptiedBefore && emptiedBefore == 0)
			HnswSetNeedsRepair(index, true);
		if (changed)
			GenericXLogFinish(state);
		else
			GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
	}
	/* VACUUM may call bulk delete more than once: each pass counts afresh */
	stats->num_index_tuples = live;
	return emptied;
}

/* A live element whose lists may need repair, copied out of its page */
typedef struct RepairTarget
{
	uint64		id;
	int			level;
	ItemPointerData ntid;
	Vector	   *vec;
} RepairTarget;

/*
 * Write list[0..n-1] as layer lc of the neighbour tuple at t->ntid, merged
 * with links added since the snapshot snap[0..nsnap-1] was read.
 */
static void
WriteRepairedLayer(Relation index, RepairTarget *t, int m, int lc,
				   const KnnItem *list, int n, const uint64 *snap, int nsnap,
				   const KnnIdSet *deleted)
{
	int			lm = HnswLayerM(m, lc);
	int			start = HnswLayerStart(m, lc);
	uint64	   *final = palloc(sizeof(uint64) * lm);
	int			nf = 0;
	Buffer		buf = ReadBuffer(index, ItemPointerGetBlockNumber(&t->ntid));
	OffsetNumber off = ItemPointerGetOffsetNumber(&t->ntid);
	GenericXLogState *state;
	Page		page;
	HnswNeighborTuple ntup;

	for (int i = 0; i < n && nf < lm; i++)
		final[nf++] = list[i].id;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page) ||
		!ItemIdIsNormal(PageGetItemId(page, off)))
	{
		GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
		return;
	}
	ntup = (HnswNeighborTuple) PageGetItem(page, PageGetItemId(page, off));
	if (ntup->type != HNSW_NEIGHBOR_TUPLE_TYPE || start + lm > ntup->count)
	{
		GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
		return;
	}
	/* keep links a concurrent insert added after our snapshot */
	for (int i = 0; i < lm && nf < lm; i++)
	{
		ItemPointer tid = &ntup->tids[start + i];
		uint64		id;
		bool		known = false;

		if (!ItemPointerIsValid(tid))
			continue;
		id = HnswTidToId(ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
		for (int j = 0; j < nsnap && !known; j++)
			known = snap[j] == id;
		for (int j = 0; j < nf && !known; j++)
			known = final[j] == id;
		if (!known && !knn_idset_contains(deleted, id))
			final[nf++] = id;
	}
	for (int i = 0; i < lm; i++)
	{
		if (i < nf)
			ItemPointerSet(&ntup->tids[start + i], HnswIdBlock(final[i]), HnswIdOffset(final[i]));
		else
			ItemPointerSetInvalid(&ntup->tids[start + i]);
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	pfree(final);
}

typedef struct VacuumPairArg
{
	HnswSearchState *st;
	const HnswSupport *sup;
} VacuumPairArg;

/* Distance between two fetched elements (knn_select_neighbors callback) */
static float
VacuumPairDist(uint64 a, uint64 b, void *varg)
{
	VacuumPairArg *arg = varg;
	HnswSearchElement *ea = HnswSearchGetElement(arg->st, a);
	HnswSearchElement *eb = HnswSearchGetElement(arg->st, b);

	if (ea == NULL || eb == NULL || ea->vec == NULL || eb->vec == NULL)
		return get_float4_infinity();
	return (float) HnswDistance(arg->sup, ea->vec, eb->vec);
}

/* Room for a fallback search's results */
static int
efConstructionOrOne(const HnswMetaPageData *meta)
{
	return Max(meta->efConstruction, 1);
}

/* Rebuild layer lc of target t, which names deleted elements */
static void
RepairLayer(Relation index, const HnswSupport *sup, HnswMetaPageData *meta,
			RepairTarget *t, int lc, const uint64 *snap, int nsnap,
			const KnnIdSet *deleted)
{
	int			m = meta->m;
	int			lm = HnswLayerM(m, lc);
	HnswSearchState *st = HnswSearchBegin(index, sup, t->vec, meta->m, CurrentMemoryContext);
	uint64	   *cand = palloc(sizeof(uint64) * (lm + nsnap * lm));
	uint64	   *hop = palloc(sizeof(uint64) * 2 * m);
	KnnItem    *items;
	KnnItem    *kept = palloc(sizeof(KnnItem) * lm);
	int			nc = 0,
				ni = 0,
				nk;

	HnswSearchKeepVectors(st);
	for (int i = 0; i < nsnap; i++)
	{
		if (!knn_idset_contains(deleted, snap[i]))
			cand[nc++] = snap[i];
		else
		{
			/* two hops: the live neighbours of the deleted neighbour */
			HnswSearchElement *d;

			HnswSearchFetch(st, &snap[i], 1);
			d = HnswSearchGetElement(st, snap[i]);
			if (d != NULL && d->level >= lc)
			{
				int			nh = HnswLoadNeighbors(index, &d->neighbortid, m, lc, hop);

				for (int j = 0; j < nh; j++)
					if (hop[j] != t->id && !knn_idset_contains(deleted, hop[j]))
						cand[nc++] = hop[j];
			}
		}
	}
	HnswSearchFetch(st, cand, nc);

	items = palloc(sizeof(KnnItem) * Max(nc, efConstructionOrOne(meta)));
	for (int i = 0; i < nc; i++)
	{
		HnswSearchElement *e = HnswSearchGetElement(st, cand[i]);
		bool		dup = false;

		if (e == NULL || e->deleted || e->vec == NULL || e->level < lc)
			continue;
		for (int j = 0; j < ni && !dup; j++)
			dup = items[j].id == cand[i];
		if (!dup)
		{
			items[ni].id = cand[i];
			items[ni].dist = e->dist;
			ni++;
		}
	}

	if (ni == 0)
	{
		/* nothing nearby survived: search from the entry point */
		KnnItem    *w;
		int			nw = 0;

		if (HnswSearchEntry(st, meta))
		{
			if (meta->entryLevel > lc)
				HnswSearchGreedy(st, meta->entryLevel, lc + 1);
			nw = HnswSearchLayer(st, meta->efConstruction, lc, true, &w);
		}
		for (int i = 0; i < nw; i++)
			if (w[i].id != t->id)
			{
				HnswSearchElement *e = HnswSearchGetElement(st, w[i].id);

				if (e != NULL && e->level >= lc)
					items[ni++] = w[i];
			}
	}

	/* nearest first, then the heuristic */
	for (int i = 1; i < ni; i++)
		for (int j = i; j > 0 && items[j - 1].dist > items[j].dist; j--)
		{
			KnnItem		x = items[j];

			items[j] = items[j - 1];
			items[j - 1] = x;
		}
	{
		VacuumPairArg arg = {st, sup};

		nk = knn_select_neighbors(items, ni, lm, VacuumPairDist, &arg, kept,
								  palloc(sizeof(KnnItem) * Max(ni, 1)));
	}
	WriteRepairedLayer(index, t, m, lc, kept, nk, snap, nsnap, deleted);

	/* links both ways, as an insert makes them: t gets in-links too */
	for (int i = 0; i < nk; i++)
	{
		HnswSearchElement *n = HnswSearchGetElement(st, kept[i].id);
		bool		known = false;

		for (int j = 0; j < nsnap && !known; j++)
			known = snap[j] == kept[i].id;
		if (!known && n != NULL && n->vec != NULL)
			HnswAddReverseLink(index, st, sup, n, t->id, kept[i].dist, t->vec, lc, m, false);
	}
	HnswSearchEnd(st);
}

/* Pass 2: repair every live element that links to a deleted one */
static void
RepairGraph(IndexVacuumInfo *info, const KnnIdSet *deleted)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	HnswSupport sup;
	HnswMetaPageData meta;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw repair",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	uint64		bestId = 0;		/* highest live element with links */
	int			bestLevel = -1;
	uint64		anyId = 0;		/* highest live element at all */
	int			anyLevel = -1;

	HnswInitSupport(index, &sup);
	HnswGetMetaPageInfo(index, &meta);

	for (BlockNumber blk = HNSW_HEAD_BLKNO; blk < nblocks; blk++)
	{
		RepairTarget *targets;
		int			ntargets = 0;
		Buffer		buf;
		Page		page;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		targets = palloc(sizeof(RepairTarget) * Max(PageGetMaxOffsetNumber(page), 1));
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;
			RepairTarget *t;

			if (!ItemIdIsNormal(iid))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			if (etup->type != HNSW_ELEMENT_TUPLE_TYPE ||
				knn_idset_contains(deleted, HnswTidToId(blk, off)))
				continue;
			t = &targets[ntargets++];
			t->id = HnswTidToId(blk, off);
			t->level = etup->level;
			t->ntid = etup->neighbortid;
			t->vec = palloc(VARSIZE(&etup->vec));
			memcpy(t->vec, &etup->vec, VARSIZE(&etup->vec));
		}
		UnlockReleaseBuffer(buf);

		for (int i = 0; i < ntargets; i++)
		{
			RepairTarget *t = &targets[i];
			bool		linked = false;

			for (int lc = 0; lc <= t->level; lc++)
			{
				uint64		snap[2 * HNSW_MAX_M];
				int			nsnap = HnswLoadNeighbors(index, &t->ntid, meta.m, lc, snap);
				bool		stale = false;

				for (int j = 0; j < nsnap && !stale; j++)
					stale = knn_idset_contains(deleted, snap[j]);
				/* an empty layer-0 list (an insert that found nothing live) too */
				if (stale || (lc == 0 && nsnap == 0))
				{
					RepairLayer(index, &sup, &meta, t, lc, snap, nsnap, deleted);
					nsnap = HnswLoadNeighbors(index, &t->ntid, meta.m, lc, snap);
				}
				if (lc == 0)
					linked = nsnap > 0;
			}

			/* the new entry point, should it be needed: top level, linked */
			if (linked && t->level > bestLevel)
			{
				bestLevel = t->level;
				bestId = t->id;
			}
			if (t->level > anyLevel)
			{
				anyLevel = t->level;
				anyId = t->id;
			}
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextReset(ctx);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);

	/* a deleted entry point gives way to a live element of the top level */
	if (BlockNumberIsValid(meta.entryBlkno) &&
		knn_idset_contains(deleted, HnswTidToId(meta.entryBlkno, meta.entryOffno)))
	{
		LockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
		HnswGetMetaPageInfo(index, &meta);
		if (BlockNumberIsValid(meta.entryBlkno) &&
			knn_idset_contains(deleted, HnswTidToId(meta.entryBlkno, meta.entryOffno)))
		{
			if (bestLevel >= 0)
				HnswUpdateMetaPage(index, true, HnswIdBlock(bestId), HnswIdOffset(bestId),
								   bestLevel, InvalidBlockNumber, MAIN_FORKNUM, true);
			else if (anyLevel >= 0)
				HnswUpdateMetaPage(index, true, HnswIdBlock(anyId), HnswIdOffset(anyId),
								   anyLevel, InvalidBlockNumber, MAIN_FORKNUM, true);
			else
				HnswUpdateMetaPage(index, true, InvalidBlockNumber, InvalidOffsetNumber,
								   -1, InvalidBlockNumber, MAIN_FORKNUM, true);
		}
		UnlockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
	}
}

/*
 * Pass 3 state: bitmaps over the (block, offset) slots of the blocks that
 * existed when the pass began; elements added since are linked by their
 * inserts and left alone.  The blocks holding reached elements not yet
 * expanded are listed (once each: the dirty bit) and read in block order.
 */
typedef struct ReachState
{
	Relation	index;
	BufferAccessStrategy strategy;
	int			m;
	BlockNumber nblocks;
	int			stride;			/* slots per block: the most items a page holds */
	uint8	   *reached;		/* reachable from the entry point on layer 0 */
	uint8	   *expanded;		/* its layer-0 neighbours marked */
	uint8	   *dirty;			/* per block: listed in todo */
	BlockNumber *todo;			/* dirty blocks, (nblocks) */
	BlockNumber ntodo;
	BlockNumber *round;			/* the ones being read, (nblocks) */
} ReachState;

#define BitIsSet(map, bit) (((map)[(bit) >> 3] & (1 << ((bit) & 7))) != 0)
#define BitSet(map, bit) ((map)[(bit) >> 3] |= (uint8) (1 << ((bit) & 7)))
#define BitClear(map, bit) ((map)[(bit) >> 3] &= (uint8) ~(1 << ((bit) & 7)))

/* The bitmap slot of element id; false for a block or offset outside them */
static bool
ReachSlot(ReachState *rs, uint64 id, uint64 *bit)
{
	BlockNumber blk = HnswIdBlock(id);
	OffsetNumber off = HnswIdOffset(id);

	if (blk < HNSW_HEAD_BLKNO || blk >= rs->nblocks || off < FirstOffsetNumber || off > rs->stride)
		return false;
	*bit = (uint64) blk * rs->stride + (off - 1);
	return true;
}

/* Mark id reached; list its block to be read */
static void
ReachMark(ReachState *rs, uint64 id)
{
	uint64		bit;
	BlockNumber blk = HnswIdBlock(id);

	if (ReachSlot(rs, id, &bit) && !BitIsSet(rs->reached, bit))
	{
		BitSet(rs->reached, bit);
		if (!BitIsSet(rs->dirty, blk))
		{
			BitSet(rs->dirty, blk);
			rs->todo[rs->ntodo++] = blk;
		}
	}
}

/* Reached?  Elements outside the bitmaps count as reached */
static bool
ReachIsMarked(ReachState *rs, uint64 id)
{
	uint64		bit;

	return !ReachSlot(rs, id, &bit) || BitIsSet(rs->reached, bit);
}

/* Compare block numbers (qsort) */
static int
cmp_blk(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a,
				y = *(const BlockNumber *) b;

	return (x > y) - (x < y);
}

/*
 * Expand the listed blocks until none is left: mark the layer-0
 * neighbours of every reached element not expanded yet.  Each round reads
 * the blocks listed so far in block order; blocks marked meanwhile (again)
 * make the next round.
 */
static void
ReachPropagate(ReachState *rs)
{
	uint64	   *nb = palloc(sizeof(uint64) * HnswLayerM(rs->m, 0));
	ItemPointerData *ntids = palloc(sizeof(ItemPointerData) * rs->stride);
	BlockNumber *round = rs->round;

	while (rs->ntodo > 0)
	{
		BlockNumber nround = rs->ntodo;

		memcpy(round, rs->todo, sizeof(BlockNumber) * nround);
		rs->ntodo = 0;
		qsort(round, nround, sizeof(BlockNumber), cmp_blk);
		for (BlockNumber r = 0; r < nround; r++)
		{
			BlockNumber blk = round[r];
			Buffer		buf;
			Page		page;
			int			n = 0;

			/* marks from here on list the block again */
			BitClear(rs->dirty, blk);
			vacuum_delay_point();
			buf = ReadBufferExtended(rs->index, MAIN_FORKNUM, blk, RBM_NORMAL, rs->strategy);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			for (OffsetNumber off = FirstOffsetNumber;
				 !PageIsNew(page) && off <= Min(PageGetMaxOffsetNumber(page), rs->stride); off++)
			{
				ItemId		iid = PageGetItemId(page, off);
				uint64		bit = (uint64) blk * rs->stride + (off - 1);
				HnswElementTuple etup;

				if (!ItemIdIsNormal(iid) || !BitIsSet(rs->reached, bit) ||
					BitIsSet(rs->expanded, bit))
					continue;
				etup = (HnswElementTuple) PageGetItem(page, iid);
				BitSet(rs->expanded, bit);
				if (etup->type == HNSW_ELEMENT_TUPLE_TYPE)
					ntids[n++] = etup->neighbortid;
			}
			UnlockReleaseBuffer(buf);
			for (int i = 0; i < n; i++)
			{
				int			k = HnswLoadNeighbors(rs->index, &ntids[i], rs->m, 0, nb);

				for (int j = 0; j < k; j++)
					ReachMark(rs, nb[j]);
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	pfree(nb);
	pfree(ntids);
}

/*
 * Link the unreachable element x (value vec) from its nearest reachable
 * live neighbour, found by a search from the entry point.  True if linked.
 */
static bool
Reconnect(ReachState *rs, const HnswSupport *sup, uint64 xid, ItemPointer xntid, Vector *vec)
{
	HnswMetaPageData meta;
	HnswSearchState *st;
	HnswSearchElement x;
	KnnItem    *w;
	int			nw = 0;
	bool		linked = false;

	HnswGetMetaPageInfo(rs->index, &meta);
	st = HnswSearchBegin(rs->index, sup, vec, meta.m, CurrentMemoryContext);
	HnswSearchKeepVectors(st);
	if (HnswSearchEntry(st, &meta))
	{
		if (meta.entryLevel > 0)
			HnswSearchGreedy(st, meta.entryLevel, 1);
		nw = HnswSearchLayer(st, meta.efConstruction, 0, true, &w);
	}
	memset(&x, 0, sizeof(x));
	x.id = xid;
	x.neighbortid = *xntid;
	for (int i = 0; i < nw && !linked; i++)
	{
		HnswSearchElement *n = HnswSearchGetElement(st, w[i].id);

		if (n == NULL || w[i].id == xid || n->deleted || n->vec == NULL || !ReachIsMarked(rs, w[i].id))
			continue;
		linked = HnswForceLink(rs->index, st, sup, n, &x, meta.m, false);
	}
	if (!linked && BlockNumberIsValid(meta.entryBlkno))
	{
		/* nothing found is known to be reachable: the entry point is */
		HnswSearchElement *n = HnswSearchGetElement(st, HnswTidToId(meta.entryBlkno,
																	meta.entryOffno));

		if (n != NULL && !n->deleted && n->vec != NULL && n->id != xid)
			linked = HnswForceLink(rs->index, st, sup, n, &x, meta.m, false);
	}
	HnswSearchEnd(st);
	return linked;
}

/* An unreachable live element, copied out of its page */
typedef struct Unreached
{
	uint64		id;
	ItemPointerData ntid;
	Vector	   *vec;
} Unreached;

/* Pass 3: link every live element that the entry point cannot reach */
static void
ReconnectUnreachable(IndexVacuumInfo *info)
{
	Relation	index = info->index;
	HnswMetaPageData meta;
	HnswSupport sup;
	ReachState	rs;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw reconnect",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	Size		minItem;
	Size		bits;
	int64		reconnected = 0;

	HnswGetMetaPageInfo(index, &meta);
	if (!BlockNumberIsValid(meta.entryBlkno))
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ctx);
		return;
	}
	HnswInitSupport(index, &sup);

	/* the smallest item a page holds bounds its offsets */
	minItem = Min(HNSW_ELEMENT_TUPLE_SIZE(meta.dimensions), HNSW_NEIGHBOR_TUPLE_SIZE(0, meta.m)) +
		sizeof(ItemIdData);
	rs.index = index;
	rs.strategy = info->strategy;
	rs.m = meta.m;
	rs.nblocks = RelationGetNumberOfBlocks(index);
	rs.stride = (int) ((BLCKSZ - SizeOfPageHeaderData) / minItem) + 1;
	bits = (Size) rs.nblocks * rs.stride;
	rs.reached = palloc_extended(bits / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rs.expanded = palloc_extended(bits / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rs.dirty = palloc_extended(rs.nblocks / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rs.todo = palloc_extended(sizeof(BlockNumber) * Max(rs.nblocks, 1), MCXT_ALLOC_HUGE);
	rs.round = palloc_extended(sizeof(BlockNumber) * Max(rs.nblocks, 1), MCXT_ALLOC_HUGE);
	rs.ntodo = 0;

	ReachMark(&rs, HnswTidToId(meta.entryBlkno, meta.entryOffno));
	ReachPropagate(&rs);

	/* the live elements left unmarked, one page at a time */
	for (BlockNumber blk = HNSW_HEAD_BLKNO; blk < rs.nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		Unreached  *u;
		int			nu = 0;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		u = palloc(sizeof(Unreached) * Max(PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page), 1));
		for (OffsetNumber off = FirstOffsetNumber;
			 !PageIsNew(page) && off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;
			uint64		id = HnswTidToId(blk, off);

			if (!ItemIdIsNormal(iid) || ReachIsMarked(&rs, id))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			if (etup->type != HNSW_ELEMENT_TUPLE_TYPE || etup->deleted ||
				!ItemPointerIsValid(&etup->heaptids[0]) || etup->vec.dim != (int) meta.dimensions)
				continue;
			u[nu].id = id;
			u[nu].ntid = etup->neighbortid;
			u[nu].vec = palloc(VARSIZE(&etup->vec));
			memcpy(u[nu].vec, &etup->vec, VARSIZE(&etup->vec));
			nu++;
		}
		UnlockReleaseBuffer(buf);

		for (int i = 0; i < nu; i++)
		{
			/* an earlier one may have made it reachable through its links */
			if (ReachIsMarked(&rs, u[i].id))
				continue;
			if (Reconnect(&rs, &sup, u[i].id, &u[i].ntid, u[i].vec))
			{
				reconnected++;
				ReachMark(&rs, u[i].id);
				ReachPropagate(&rs);
			}
		}
		for (int i = 0; i < nu; i++)
			pfree(u[i].vec);
		pfree(u);
		CHECK_FOR_INTERRUPTS();
	}
	if (reconnected > 0)
		ereport(DEBUG1,
				(errmsg_internal("hnsw index \"%s\": linked " INT64_FORMAT " unreachable elements",
								 RelationGetRelationName(index), reconnected)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

/* Compare item pointers (qsort) */
static int
cmp_tid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * Remove the items offs[0..n-1] (ascending) from page blk: each line pointer
 * becomes unused (the last ones go), the space is compacted.  tupleType is
 * the type the item must still have, checked under the lock.  Records the
 * page's free space.  Returns how many were removed.
 */
static int
RemoveItems(IndexVacuumInfo *info, BlockNumber blk, OffsetNumber *offs, int n,
			uint8 tupleType)
{
	Buffer		buf = ReadBufferExtended(info->index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
	GenericXLogState *state;
	Page		page;
	int			removed = 0;
	Size		freespace;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (PageIsNew(BufferGetPage(buf)))
	{
		UnlockReleaseBuffer(buf);
		return 0;
	}
	state = GenericXLogStart(info->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	/* from the highest offset down: removing the last line pointer shortens the array */
	for (int i = n - 1; i >= 0; i--)
	{
		ItemId		iid;

		if (offs[i] < FirstOffsetNumber || offs[i] > PageGetMaxOffsetNumber(page))
			continue;
		iid = PageGetItemId(page, offs[i]);
		if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < 1 ||
			*(uint8 *) PageGetItem(page, iid) != tupleType)
			continue;
		PageIndexTupleDeleteNoCompact(page, offs[i]);
		removed++;
	}
	freespace = PageGetFreeSpace(page);
	if (removed > 0)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
	RecordPageWithFreeSpace(info->index, blk, freespace);
	return removed;
}

/*
 * Pass 4: free the element and neighbour tuples of the deleted elements
 * on the listed blocks (see the file header).  Element tuples go first,
 * page by page; then the neighbour tuples they named, in block order.
 */
static void
ReclaimDeleted(IndexVacuumInfo *info, const KnnIdSet *deleted, const BlockList *blocks)
{
	Relation	index = info->index;
	ItemPointerData *ntids = NULL;
	int			nntids = 0,
				capntids = 0;
	OffsetNumber *offs = palloc(sizeof(OffsetNumber) * MaxOffsetNumber);
	int64		freed = 0;

	if (blocks->n == 0)
		return;

	/* inserts that began before pass 1 may still link to deleted elements */
	LockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
	UnlockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);

	for (int b = 0; b < blocks->n; b++)
	{
		BlockNumber blk = blocks->blk[b];
		Buffer		buf;
		Page		page;
		int			n = 0;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 !PageIsNew(page) && off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;

			if (!ItemIdIsNormal(iid) || !knn_idset_contains(deleted, HnswTidToId(blk, off)))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			/* still an element without heap TIDs (nothing adds TIDs to those) */
			if (etup->type != HNSW_ELEMENT_TUPLE_TYPE || ItemPointerIsValid(&etup->heaptids[0]))
				continue;
			offs[n++] = off;
			if (ItemPointerIsValid(&etup->neighbortid))
			{
				if (nntids == capntids)
				{
					capntids = Max(256, 2 * capntids);
					ntids = ntids ? repalloc_huge(ntids, sizeof(ItemPointerData) * capntids)
						: palloc_extended(sizeof(ItemPointerData) * capntids, MCXT_ALLOC_HUGE);
				}
				ntids[nntids++] = etup->neighbortid;
			}
		}
		UnlockReleaseBuffer(buf);
		/* only this backend removes items, so the offsets stay valid */
		if (n > 0)
			freed += RemoveItems(info, blk, offs, n, HNSW_ELEMENT_TUPLE_TYPE);
		CHECK_FOR_INTERRUPTS();
	}

	if (nntids > 0)
		qsort(ntids, nntids, sizeof(ItemPointerData), cmp_tid);
	for (int i = 0; i < nntids;)
	{
		BlockNumber blk = ItemPointerGetBlockNumber(&ntids[i]);
		int			n = 0;

		vacuum_delay_point();
		for (; i < nntids && ItemPointerGetBlockNumber(&ntids[i]) == blk; i++)
			if (n == 0 || offs[n - 1] != ItemPointerGetOffsetNumber(&ntids[i]))
				offs[n++] = ItemPointerGetOffsetNumber(&ntids[i]);
		if (blk != HNSW_METAPAGE_BLKNO && blk < RelationGetNumberOfBlocks(index))
			RemoveItems(info, blk, offs, n, HNSW_NEIGHBOR_TUPLE_TYPE);
		CHECK_FOR_INTERRUPTS();
	}
	FreeSpaceMapVacuum(index);
	if (freed > 0)
		ereport(DEBUG1,
				(errmsg_internal("hnsw index \"%s\": freed the space of " INT64_FORMAT " deleted elements",
								 RelationGetRelationName(index), freed)));
	if (ntids)
		pfree(ntids);
	pfree(offs);
}

/* ambulkdelete: remove dead heap TIDs, then repair the graph around them */
IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	KnnIdSet	deleted;
	BlockList	blocks = {NULL, 0, 0};

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	knn_idset_init(&deleted, 1024, HnswPallocAlloc());
	/*
	 * Repair when this pass deleted elements, or when an earlier repair did
	 * not finish (cancelled VACUUM): a flag on the meta page, set before the
	 * repair starts and cleared when it is done, remembers that.  Old,
	 * already repaired tombstones need nothing.
	 */
	if (RemoveHeapTids(info, stats, callback, callback_state, &deleted, &blocks) > 0)
		HnswSetNeedsRepair(info->index, true);
	{
		HnswMetaPageData meta;

		HnswGetMetaPageInfo(info->index, &meta);
		if (meta.needsRepair)
		{
			RepairGraph(info, &deleted);
			HnswSetNeedsRepair(info->index, false);
		}
	}
	/*
	 * Every deleted element is now unlinked: this pass's by the repair,
	 * older ones by the repair of the VACUUM that deleted them.
	 */
	ReclaimDeleted(info, &deleted, &blocks);
	knn_idset_free(&deleted);
	if (blocks.blk)
		pfree(blocks.blk);
	ReconnectUnreachable(info);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

/*
 * amvacuumcleanup: report the index size.  A VACUUM that called no bulk
 * delete (nothing dead) still reconnects unreachable elements.
 */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		ReconnectUnreachable(info);
		return NULL;
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
