/*-------------------------------------------------------------------------
 *
 * hnswsearch.c
 *	  Graph search over the index pages, shared by scans and inserts.
 *
 * A search keeps, for one query value: a set of visited element TIDs, the
 * elements it has read (distance, heap TIDs, neighbour-tuple TID, and for
 * inserts a copy of the value), and the candidate heaps of the current
 * layer.  Neighbours of an expanded element are read grouped by page, so a
 * page holding several of them is pinned and locked once.
 *
 * Deleted elements (no heap TIDs left, waiting for VACUUM's repair) are
 * followed for navigation but never returned or chosen as neighbours.
 *
 * src/pg/hnsw/hnswsearch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg/hnsw/hnsw.h"

/* id -> element map (simplehash) */
typedef struct HnswElemEntry
{
	uint64		id;
	char		status;
	HnswSearchElement *elem;
} HnswElemEntry;

#define SH_PREFIX hnsw_elems
#define SH_ELEMENT_TYPE HnswElemEntry
#define SH_KEY_TYPE uint64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) hash_bytes_uint32((uint32) ((key) ^ ((key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

struct HnswSearchState
{
	Relation	index;
	const HnswSupport *sup;
	const Vector *q;
	MemoryContext ctx;
	int			m;
	bool		keepVectors;	/* copy values of loaded elements (inserts) */
	KnnIdSet	visited;
	hnsw_elems_hash *elems;
	KnnItem    *entries;		/* entry points for the next layer */
	int			nentries;
	bool		iterative;		/* keep layer-0 state for HnswSearchNext */
	KnnHeap		pending;		/* layer 0: candidates not yet expanded */
	KnnHeap		unreturned;		/* layer 0: elements seen, not yet returned */
	double		visitedCount;
};

/* palloc-backed allocator for the core heaps and sets */
static void *
hnsw_realloc(void *ptr, size_t size, void *arg)
{
	MemoryContext ctx = (MemoryContext) arg;

	if (size == 0)
	{
		if (ptr)
			pfree(ptr);
		return NULL;
	}
	if (ptr == NULL)
		return MemoryContextAllocHuge(ctx, size);
	return repalloc_huge(ptr, size);
}

/* A knn allocator charging the current memory context */
KnnAlloc
HnswPallocAlloc(void)
{
	KnnAlloc	alloc = {hnsw_realloc, CurrentMemoryContext};

	return alloc;
}

/* Start a search for q (a prepared value) in its own memory context */
HnswSearchState *
HnswSearchBegin(Relation index, const HnswSupport *sup, const Vector *q, int m,
				MemoryContext parent)
{
	MemoryContext ctx = AllocSetContextCreate(parent, "hnsw search",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	HnswSearchState *st = palloc0(sizeof(HnswSearchState));
	KnnAlloc	alloc = {hnsw_realloc, ctx};

	st->index = index;
	st->sup = sup;
	st->q = q;
	st->ctx = ctx;
	st->m = m;					/* the meta page's: ALTER INDEX may change the option */
	knn_idset_init(&st->visited, 1024, alloc);
	st->elems = hnsw_elems_create(ctx, 1024, NULL);
	MemoryContextSwitchTo(old);
	return st;
}

/* Free everything the search allocated */
void
HnswSearchEnd(HnswSearchState *st)
{
	MemoryContextDelete(st->ctx);
}

/* Make layer-0 searches resumable with HnswSearchNext (iterative scans) */
void
HnswSearchSetIterative(HnswSearchState *st)
{
	KnnAlloc	alloc = {hnsw_realloc, st->ctx};

	st->iterative = true;
	knn_heap_init(&st->unreturned, false, 256, alloc);
}

/* Ask searches of an insert to keep copies of element values */
void
HnswSearchKeepVectors(HnswSearchState *st)
{
	st->keepVectors = true;
}

/* The element read for id (must have been visited) */
HnswSearchElement *
HnswSearchGetElement(HnswSearchState *st, uint64 id)
{
	HnswElemEntry *e = hnsw_elems_lookup(st->elems, id);

	return e ? e->elem : NULL;
}

/* Number of element tuples read so far */
double
HnswSearchTuplesVisited(HnswSearchState *st)
{
	return st->visitedCount;
}

/*
 * Read the element tuple at (blk, off) on a locked page: fill out, compute
 * its distance to q.  False if the item is not an element tuple (a stale
 * TID after the tuple was reused).
 */
static bool
ReadElementOnPage(HnswSearchState *st, Page page, OffsetNumber off,
				  HnswSearchElement *out)
{
	ItemId		iid;
	HnswElementTuple etup;
	int			n = 0;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return false;
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < offsetof(HnswElementTupleData, vec.x))
		return false;
	etup = (HnswElementTuple) PageGetItem(page, iid);
	if (etup->type != HNSW_ELEMENT_TUPLE_TYPE ||
		ItemIdGetLength(iid) < offsetof(HnswElementTupleData, vec) + VECTOR_SIZE(etup->vec.dim) ||
		etup->vec.dim != st->q->dim)
		return false;

	out->level = etup->level;
	out->deleted = etup->deleted != 0;
	out->neighbortid = etup->neighbortid;
	for (int i = 0; i < HNSW_HEAPTIDS && ItemPointerIsValid(&etup->heaptids[i]); i++)
		out->heaptids[n++] = etup->heaptids[i];
	out->nheaptids = n;
	if (n == 0)
		out->deleted = true;
	out->dist = (float) HnswDistance(st->sup, st->q, &etup->vec);
	out->vec = NULL;
	if (st->keepVectors && !out->deleted)
	{
		out->vec = MemoryContextAlloc(st->ctx, VARSIZE(&etup->vec));
		memcpy(out->vec, &etup->vec, VARSIZE(&etup->vec));
	}
	return true;
}

/* Remember a read element */
static HnswSearchElement *
RememberElement(HnswSearchState *st, uint64 id, const HnswSearchElement *e)
{
	bool		found;
	HnswElemEntry *entry = hnsw_elems_insert(st->elems, id, &found);

	if (!found)
	{
		entry->elem = MemoryContextAlloc(st->ctx, sizeof(HnswSearchElement));
		*entry->elem = *e;
		entry->elem->id = id;
	}
	return entry->elem;
}

/* Compare ids by block then offset (qsort) */
static int
cmp_id(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a,
				y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/*
 * Could blk hold elements?  A link to the meta page is corrupt; a block
 * past the end makes ReadBuffer raise an ERROR, which is fine for that.
 */
static inline bool
ValidElementBlock(HnswSearchState *st, BlockNumber blk)
{
	return blk != HNSW_METAPAGE_BLKNO;
}

/* Prefetch the first cache lines of the element tuple at off on page */
static inline void
PrefetchTuple(Page page, OffsetNumber off)
{
	ItemId		iid;
	char	   *tup;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return;
	iid = PageGetItemId(page, off);
	tup = (char *) page + ItemIdGetOffset(iid);
	__builtin_prefetch(tup);
	__builtin_prefetch(tup + 64);
	__builtin_prefetch(tup + 128);
	__builtin_prefetch(tup + 192);
}

/*
 * Look up the elements ids[0..n-1], reading the ones not seen before; ids
 * are sorted by TID first, so each page is pinned and locked once.  out[i]
 * (for the sorted ids[i]) is NULL for a stale TID.
 *
 * Reading an element costs a few cache misses (page header, line pointer,
 * tuple) on pages that are in shared buffers but not in the CPU caches;
 * pinning every page of the batch first and prefetching the line pointers
 * and tuple heads lets those misses overlap instead of queueing up.
 */
/* at most this many pages pinned at once by one search */
#define READ_BATCH 32

/* ReadElements for at most READ_BATCH sorted ids */
static void
ReadElementBatch(HnswSearchState *st, const uint64 *ids, int n, HnswSearchElement **out)
{
	Buffer		bufs[READ_BATCH];
	int			first[READ_BATCH + 1];	/* first id index of each page */
	int			npages = 0;

	/* pin the pages holding elements not seen yet */
	for (int i = 0; i < n; i++)
	{
		out[i] = HnswSearchGetElement(st, ids[i]);
		if (out[i] != NULL)
			continue;
		if (!ValidElementBlock(st, HnswIdBlock(ids[i])))
			continue;			/* not an element page: a corrupt link */
		if (npages == 0 || HnswIdBlock(ids[i]) != BufferGetBlockNumber(bufs[npages - 1]))
		{
			bufs[npages] = ReadBuffer(st->index, HnswIdBlock(ids[i]));
			first[npages] = i;
			__builtin_prefetch(BufferGetPage(bufs[npages]));
			npages++;
		}
	}
	first[npages] = n;

	/* line pointers, then tuple heads */
	for (int p = 0; p < npages; p++)
		for (int i = first[p]; i < first[p + 1]; i++)
			if (out[i] == NULL && HnswIdBlock(ids[i]) == BufferGetBlockNumber(bufs[p]))
				__builtin_prefetch(PageGetItemId(BufferGetPage(bufs[p]), HnswIdOffset(ids[i])));

	for (int p = 0; p < npages; p++)
	{
		Page		page = BufferGetPage(bufs[p]);

		LockBuffer(bufs[p], BUFFER_LOCK_SHARE);
		for (int i = first[p]; i < first[p + 1]; i++)
			if (out[i] == NULL)
				PrefetchTuple(page, HnswIdOffset(ids[i]));
		for (int i = first[p]; i < first[p + 1]; i++)
		{
			HnswSearchElement e;

			if (HnswIdBlock(ids[i]) != BufferGetBlockNumber(bufs[p]))
				continue;		/* a skipped corrupt link */
			if (out[i] != NULL || HnswSearchGetElement(st, ids[i]) != NULL)
			{
				if (out[i] == NULL)
					out[i] = HnswSearchGetElement(st, ids[i]);
				continue;
			}
			st->visitedCount++;
			if (ReadElementOnPage(st, page, HnswIdOffset(ids[i]), &e))
				out[i] = RememberElement(st, ids[i], &e);
		}
		UnlockReleaseBuffer(bufs[p]);
	}
}

static void
ReadElements(HnswSearchState *st, uint64 *ids, int n, HnswSearchElement **out)
{
	qsort(ids, n, sizeof(uint64), cmp_id);
	for (int i = 0; i < n; i += READ_BATCH)
		ReadElementBatch(st, ids + i, Min(READ_BATCH, n - i), out + i);
}

/* Make sure the elements ids[0..n-1] are read (ids are not modified) */
void
HnswSearchFetch(HnswSearchState *st, const uint64 *ids, int n)
{
	uint64	   *copy = palloc(sizeof(uint64) * Max(n, 1));
	HnswSearchElement **out = palloc(sizeof(HnswSearchElement *) * Max(n, 1));

	memcpy(copy, ids, sizeof(uint64) * n);
	ReadElements(st, copy, n, out);
	pfree(copy);
	pfree(out);
}

/* Read one element; NULL if the TID is stale */
static HnswSearchElement *
ReadElement(HnswSearchState *st, uint64 id)
{
	HnswSearchElement *e = HnswSearchGetElement(st, id);

	if (e == NULL)
		ReadElements(st, &id, 1, &e);
	return e;
}

/*
 * Neighbour TIDs of layer lc from the neighbour tuple at ntid into out
 * (room for 2m); returns the count of valid ones.
 */
int
HnswLoadNeighbors(Relation index, ItemPointer ntid, int m, int lc, uint64 *out)
{
	BlockNumber blk = ItemPointerGetBlockNumber(ntid);
	OffsetNumber off = ItemPointerGetOffsetNumber(ntid);
	Buffer		buf;
	Page		page;
	int			n = 0;

	if (blk == HNSW_METAPAGE_BLKNO)
		return 0;				/* a corrupt link */
	buf = ReadBuffer(index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, off)) &&
		ItemIdGetLength(PageGetItemId(page, off)) >= offsetof(HnswNeighborTupleData, tids))
	{
		ItemId		iid = PageGetItemId(page, off);
		HnswNeighborTuple ntup = (HnswNeighborTuple) PageGetItem(page, iid);
		int			start = HnswLayerStart(m, lc);
		int			count = HnswLayerM(m, lc);

		if (ntup->type == HNSW_NEIGHBOR_TUPLE_TYPE && start + count <= ntup->count &&
			ItemIdGetLength(iid) >= offsetof(HnswNeighborTupleData, tids) +
			ntup->count * sizeof(ItemPointerData))
			for (int i = 0; i < count; i++)
			{
				ItemPointer t = &ntup->tids[start + i];

				if (ItemPointerIsValid(t))
					out[n++] = HnswTidToId(ItemPointerGetBlockNumber(t),
										   ItemPointerGetOffsetNumber(t));
			}
	}
	UnlockReleaseBuffer(buf);
	return n;
}

/* Read the entry point; false when the graph is empty */
bool
HnswSearchEntry(HnswSearchState *st, HnswMetaPageData *meta)
{
	uint64		id;
	HnswSearchElement *e;

	if (!BlockNumberIsValid(meta->entryBlkno))
		return false;
	id = HnswTidToId(meta->entryBlkno, meta->entryOffno);
	knn_idset_add(&st->visited, id);
	e = ReadElement(st, id);
	if (e == NULL)
		return false;
	st->entries = MemoryContextAlloc(st->ctx, sizeof(KnnItem));
	st->entries[0].dist = e->dist;
	st->entries[0].id = id;
	st->nentries = 1;
	return true;
}

/*
 * Layers fromLevel down to toLevel (inclusive) with ef = 1: walk to the
 * nearest element, which becomes the single entry of the next layer.
 */
void
HnswSearchGreedy(HnswSearchState *st, int fromLevel, int toLevel)
{
	uint64	   *nb = palloc(sizeof(uint64) * 2 * st->m);
	HnswSearchElement **got = palloc(sizeof(HnswSearchElement *) * 2 * st->m);
	KnnItem		cur = st->entries[0];

	for (int lc = fromLevel; lc >= toLevel; lc--)
	{
		bool		changed = true;

		while (changed)
		{
			HnswSearchElement *ce = HnswSearchGetElement(st, cur.id);
			int			n;

			changed = false;
			if (ce == NULL || ce->level < lc)
				break;
			n = HnswLoadNeighbors(st->index, &ce->neighbortid, st->m, lc, nb);
			ReadElements(st, nb, n, got);
			for (int i = 0; i < n; i++)
			{
				if (got[i] && got[i]->dist < cur.dist)
				{
					cur.dist = got[i]->dist;
					cur.id = nb[i];
					changed = true;
				}
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	st->entries[0] = cur;
	st->nentries = 1;
	pfree(nb);
	pfree(got);
}

/*
 * Expand candidates (nearest first) into the result heap w of width ef on
 * layer lc, until the nearest candidate is farther than the farthest of a
 * full w.  With keep (iterative scans, layer 0), nothing seen is forgotten:
 * elements not taken into w stay in cand for later expansion and go to
 * st->unreturned, as do elements pushed out of w.
 */
static void
Beam(HnswSearchState *st, KnnHeap *cand, KnnHeap *w, int ef, int lc,
	 bool skipDeleted, bool keep)
{
	uint64	   *nb = palloc(sizeof(uint64) * 2 * st->m);
	HnswSearchElement **got = palloc(sizeof(HnswSearchElement *) * 2 * st->m);

	while (cand->len > 0)
	{
		KnnItem		c = knn_heap_top(cand);
		HnswSearchElement *ce;
		int			n,
					k = 0;

		if (w->len >= ef && c.dist > knn_heap_top(w).dist)
			break;
		knn_heap_pop(cand);
		ce = HnswSearchGetElement(st, c.id);
		if (ce == NULL || ce->level < lc)
			continue;
		n = HnswLoadNeighbors(st->index, &ce->neighbortid, st->m, lc, nb);
		for (int i = 0; i < n; i++)
			if (knn_idset_add(&st->visited, nb[i]))
				nb[k++] = nb[i];
		ReadElements(st, nb, k, got);
		for (int i = 0; i < k; i++)
		{
			HnswSearchElement *e = got[i];
			bool		returnable;

			if (e == NULL)
				continue;
			returnable = !(skipDeleted && e->deleted);
			if (w->len < ef || e->dist < knn_heap_top(w).dist)
			{
				knn_heap_push(cand, e->dist, e->id);
				if (!returnable)
					continue;
				knn_heap_push(w, e->dist, e->id);
				if (w->len > ef)
				{
					KnnItem		x = knn_heap_pop(w);

					if (keep)
						knn_heap_push(&st->unreturned, x.dist, x.id);
				}
			}
			else if (keep)
			{
				knn_heap_push(cand, e->dist, e->id);
				if (returnable)
					knn_heap_push(&st->unreturned, e->dist, e->id);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	pfree(nb);
	pfree(got);
}

/* Empty w into a sorted array that also becomes the next layer's entries */
static int
TakeResults(HnswSearchState *st, KnnHeap *w, KnnItem **results)
{
	int			nout = w->len;
	KnnItem    *out = MemoryContextAlloc(st->ctx, sizeof(KnnItem) * Max(nout, 1));

	knn_heap_drain_sorted(w, out);
	/* a layer that found nothing returnable hands its own entries down */
	if (nout > 0)
	{
		st->entries = out;
		st->nentries = nout;
	}
	*results = out;
	return nout;
}

/*
 * Beam search of layer lc from the current entries with width ef.
 * Returns the results (nearest first) in *results; they become the entries
 * of the next layer down.  For an iterative search, layer 0 keeps its
 * candidates and everything not returned for HnswSearchNext.
 */
int
HnswSearchLayer(HnswSearchState *st, int ef, int lc, bool skipDeleted,
				KnnItem **results)
{
	MemoryContext old = MemoryContextSwitchTo(st->ctx);
	KnnAlloc	alloc = {hnsw_realloc, st->ctx};
	bool		keep = st->iterative && lc == 0;
	KnnHeap		localCand,
				w;
	KnnHeap    *cand = keep ? &st->pending : &localCand;
	int			nout;

	knn_heap_init(cand, false, ef * 2, alloc);
	knn_heap_init(&w, true, ef + 1, alloc);

	/* each layer's search has its own visited set */
	knn_idset_clear(&st->visited);

	for (int i = 0; i < st->nentries; i++)
	{
		HnswSearchElement *e = HnswSearchGetElement(st, st->entries[i].id);

		knn_idset_add(&st->visited, st->entries[i].id);
		knn_heap_push(cand, st->entries[i].dist, st->entries[i].id);
		if (e && !(skipDeleted && e->deleted))
			knn_heap_push(&w, st->entries[i].dist, st->entries[i].id);
	}
	while (w.len > ef)
	{
		KnnItem		x = knn_heap_pop(&w);

		if (keep)
			knn_heap_push(&st->unreturned, x.dist, x.id);
	}

	Beam(st, cand, &w, ef, lc, skipDeleted, keep);
	nout = TakeResults(st, &w, results);
	if (!keep)
		knn_heap_free(cand);
	knn_heap_free(&w);
	MemoryContextSwitchTo(old);
	return nout;
}

/*
 * The next batch of an iterative layer-0 search: the ef nearest elements
 * not yet returned, after expanding the remembered candidates as far as
 * they improve on them.  Returns 0 when the reachable graph is exhausted.
 */
int
HnswSearchNext(HnswSearchState *st, int ef, KnnItem **results)
{
	MemoryContext old;
	KnnAlloc	alloc = {hnsw_realloc, st->ctx};
	KnnHeap		w;
	int			nout;

	if (st->pending.len == 0 && st->unreturned.len == 0)
		return 0;
	old = MemoryContextSwitchTo(st->ctx);
	knn_heap_init(&w, true, ef + 1, alloc);
	while (w.len < ef && st->unreturned.len > 0)
	{
		KnnItem		x = knn_heap_pop(&st->unreturned);

		knn_heap_push(&w, x.dist, x.id);
	}
	Beam(st, &st->pending, &w, ef, 0, true, true);
	nout = TakeResults(st, &w, results);
	knn_heap_free(&w);
	MemoryContextSwitchTo(old);
	return nout;
}
