/*-------------------------------------------------------------------------
 *
 * hnswbuild.c
 *	  CREATE INDEX for HNSW: build the graph in memory, then write pages.
 *
 * In-memory phase: every heap tuple becomes an element of a graph held in
 * one arena of at most maintenance_work_mem: element records carry the
 * heap TIDs, the prepared value, and per layer the neighbours' indexes with
 * their distances.  Elements are inserted with the usual HNSW algorithm
 * (greedy descent, beam search of width ef_construction on each layer, the
 * selection heuristic for the element's own neighbours and for a full
 * neighbour list that takes a new element).  A value equal to an element
 * already present shares it (up to HNSW_HEAPTIDS heap TIDs).  Searches use
 * an epoch-stamped visited array: one compare per check.
 *
 * Parallel build: with max_parallel_maintenance_workers > 0 the arena lives
 * in dynamic shared memory and the leader and its workers scan the heap in
 * parallel (a parallel table scan) and insert concurrently, as hnswlib
 * does: each element has an LWLock guarding its neighbour lists and heap
 * TIDs (values and levels never change once published), neighbour lists
 * are copied out under a shared lock, a list is changed under an exclusive
 * lock, and no process holds two element locks at once.  An insert that
 * raises the top level holds the graph's entry lock exclusively throughout.
 * Elements are published only through links made after they are complete.
 *
 * On-disk phase: the leader lays the elements out on pages in insertion
 * order (element tuple and neighbour tuple together where they fit), writes
 * the pages without WAL and, when the relation needs WAL, logs them all at
 * the end with log_newpage_range.
 *
 * Running out of memory: a serial build writes the graph it has and inserts
 * the remaining tuples one by one on disk (slower; a NOTICE says so).  A
 * parallel build that fills its arena stops and starts over serially.
 *
 * src/pg/hnsw/hnswbuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pg/hnsw/hnsw.h"

#define PARALLEL_KEY_HNSW_SHARED	UINT64CONST(0xA000000000000001)
#define PARALLEL_KEY_HNSW_GRAPH		UINT64CONST(0xA000000000000002)
#define PARALLEL_KEY_QUERY_TEXT		UINT64CONST(0xA000000000000003)

/*
 * One element in the arena.  Followed by the prepared value (at a fixed
 * offset, so a value can be prefetched without first reading the header),
 * then int32 nbr[nslots] (element indexes, laid out like the on-disk
 * neighbour tuple), float ndist[nslots] (their distances) and uint8
 * closer[nslots] (kept by the selection heuristic on its merits, not as a
 * top-up: lets a full list take a new neighbour without measuring every
 * pair again; meaningful for the layers whose bit is set in closerValid).
 */
typedef struct HnswMemElement
{
	LWLock		lock;			/* parallel builds: guards lists and heap TIDs */
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	uint8		nheaptids;
	uint8		level;
	uint8		counts[HNSW_MAX_LEVEL + 1]; /* neighbours used per layer */
	uint16		closerValid;	/* per layer: list sorted, closer[] flags right */
	BlockNumber blkno;			/* placement of the element tuple */
	OffsetNumber offno;
	BlockNumber nblkno;			/* placement of the neighbour tuple */
	OffsetNumber noffno;
} HnswMemElement;

/* The arena: this header, the element offset table, then element records */
typedef struct HnswGraph
{
	Size		size;			/* bytes in the arena, header included */
	pg_atomic_uint64 used;		/* bytes handed out */
	pg_atomic_uint32 nelems;	/* elements published */
	uint32		maxelems;		/* room in the offset table */
	pg_atomic_uint32 full;		/* an allocation failed */
	int			tranche;		/* LWLock tranche of the element locks */
	LWLock		entryLock;		/* guards entry and entryLevel */
	int32		entry;			/* entry element, -1 when empty */
	int32		entryLevel;
	/* uint64 offsets[maxelems] follows */
} HnswGraph;

/* Parallel build coordination, in the DSM segment */
typedef struct HnswShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	ConditionVariable workersdonecv;
	slock_t		mutex;
	int			nparticipantsdone;
	bool		brokenhotchain; /* any participant saw a broken HOT chain */
	double		reltuples;
	double		indtuples;
	/* ParallelTableScanDescData follows */
} HnswShared;

#define ParallelTableScanFromHnswShared(s) \
	((ParallelTableScanDesc) ((char *) (s) + BUFFERALIGN(sizeof(HnswShared))))

typedef struct HnswBuildState
{
	Relation	heap;
	Relation	index;
	HnswSupport sup;
	int			dimensions;
	int			m;
	int			efConstruction;

	HnswGraph  *graph;
	bool		parallel;		/* graph shared with other processes */
	MemoryContext tmpCtx;		/* per-tuple scratch */
	uint32	   *visited;		/* epoch per element */
	uint32		epoch;
	KnnHeap		cand;
	KnnHeap		w;
	KnnItem    *buf;			/* scratch for results */
	bool		flushed;		/* graph written: further tuples go on disk */
	pg_prng_state rng;			/* levels: a serial build is reproducible */

	double		indtuples;
	double		reltuples;
} HnswBuildState;

/* ------------------------------------------------------------------ arena */

#define GraphOffsets(g) ((uint64 *) ((char *) (g) + MAXALIGN(sizeof(HnswGraph))))
#define GraphElem(g, i) ((HnswMemElement *) ((char *) (g) + GraphOffsets(g)[i]))
/* Slots of an element of level L */
#define ElemSlots(m, level) HnswNeighborCount(m, level)

/* The value of element e */
#define ElemValue(e) ((Vector *) ((char *) (e) + MAXALIGN(sizeof(HnswMemElement))))

/* Neighbour indexes of element e, for values of dim dimensions */
#define ElemNbr(e, dim) \
	((int32 *) ((char *) (e) + MAXALIGN(sizeof(HnswMemElement)) + MAXALIGN(VECTOR_SIZE(dim))))

/* Distances matching ElemNbr */
static inline float *
ElemDist(HnswMemElement *e, int m, int dim)
{
	return (float *) (ElemNbr(e, dim) + ElemSlots(m, e->level));
}

/* Selection flags matching ElemNbr */
static inline uint8 *
ElemCloser(HnswMemElement *e, int m, int dim)
{
	return (uint8 *) (ElemDist(e, m, dim) + ElemSlots(m, e->level));
}

/* Bytes for an element of level L holding a value of dim dimensions */
static Size
ElemSize(int m, int level, int dim)
{
	return MAXALIGN(sizeof(HnswMemElement)) + MAXALIGN(VECTOR_SIZE(dim)) +
		MAXALIGN(ElemSlots(m, level) * (sizeof(int32) + sizeof(float) + sizeof(uint8)));
}

/* Set up an empty graph in size bytes at g */
static void
InitGraph(HnswGraph *g, Size size, int m, int dim, int tranche)
{
	Size		minElem = ElemSize(m, 0, dim);

	g->size = size;
	/* element indexes are int32 */
	g->maxelems = (uint32) Min((size - MAXALIGN(sizeof(HnswGraph))) / (minElem + sizeof(uint64)),
							   (Size) PG_INT32_MAX);
	pg_atomic_init_u64(&g->used, MAXALIGN(sizeof(HnswGraph)) + MAXALIGN(sizeof(uint64) * g->maxelems));
	pg_atomic_init_u32(&g->nelems, 0);
	pg_atomic_init_u32(&g->full, 0);
	g->tranche = tranche;
	LWLockInitialize(&g->entryLock, tranche);
	g->entry = -1;
	g->entryLevel = -1;
}

/*
 * Take room for an element of the given level and copy value in; returns
 * its index (not yet reachable), or -1 when the arena is full.
 */
static int
AllocElement(HnswBuildState *bs, int level, Vector *value, ItemPointer heaptid)
{
	HnswGraph  *g = bs->graph;
	Size		size = ElemSize(bs->m, level, value->dim);
	uint64		off = pg_atomic_fetch_add_u64(&g->used, size);
	uint32		i;
	HnswMemElement *e;

	if (off + size > g->size)
	{
		pg_atomic_write_u32(&g->full, 1);
		return -1;
	}
	i = pg_atomic_fetch_add_u32(&g->nelems, 1);
	if (i >= g->maxelems)
	{
		pg_atomic_write_u32(&g->full, 1);
		return -1;
	}
	GraphOffsets(g)[i] = off;
	e = GraphElem(g, i);
	memset(e, 0, MAXALIGN(sizeof(HnswMemElement)));
	LWLockInitialize(&e->lock, g->tranche);
	e->heaptids[0] = *heaptid;
	e->nheaptids = 1;
	e->level = level;
	memcpy(ElemValue(e), value, VARSIZE(value));
	return (int) i;
}

/* Element locks: only a parallel build needs them */
#define LockElem(bs, e, mode) do { if ((bs)->parallel) LWLockAcquire(&(e)->lock, (mode)); } while (0)
#define UnlockElem(bs, e) do { if ((bs)->parallel) LWLockRelease(&(e)->lock); } while (0)

/* ------------------------------------------------------------ memory graph */

/* Distance between two elements (knn_select_neighbors callback) */
static float
ElemPairDist(uint64 a, uint64 b, void *arg)
{
	HnswBuildState *bs = arg;

	return (float) HnswDistance(&bs->sup, ElemValue(GraphElem(bs->graph, a)),
								ElemValue(GraphElem(bs->graph, b)));
}

/* Distance from value q to element i */
static inline float
DistTo(HnswBuildState *bs, const Vector *q, int32 i)
{
	return (float) HnswDistance(&bs->sup, q, ElemValue(GraphElem(bs->graph, i)));
}

/* Start loading the first cache lines of element i's value */
static inline void
PrefetchValue(HnswBuildState *bs, int32 i)
{
	const char *v = (const char *) ElemValue(GraphElem(bs->graph, i));

	__builtin_prefetch(v);
	__builtin_prefetch(v + 64);
	__builtin_prefetch(v + 128);
	__builtin_prefetch(v + 192);
}

/* Copy element e's layer-lc list into out (room for 2m); returns its length */
static int
CopyNeighbors(HnswBuildState *bs, HnswMemElement *e, int lc, int32 *out)
{
	int			n;

	LockElem(bs, e, LW_SHARED);
	n = e->counts[lc];
	memcpy(out, ElemNbr(e, bs->dimensions) + HnswLayerStart(bs->m, lc), sizeof(int32) * n);
	UnlockElem(bs, e);
	return n;
}

/* Start a new visited epoch (wrap: clear the array) */
static void
NewEpoch(HnswBuildState *bs)
{
	if (++bs->epoch == 0)
	{
		memset(bs->visited, 0, sizeof(uint32) * bs->graph->maxelems);
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
	int32		nbr[2 * HNSW_MAX_M];
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
		int			cnt;

		if (w->len >= ef && c.dist > knn_heap_top(w).dist)
			break;
		cnt = CopyNeighbors(bs, GraphElem(bs->graph, c.id), lc, nbr);

		/* keep the unvisited ones, and start fetching their values */
		{
			int			k = 0;

			for (int i = 0; i < cnt; i++)
				if (bs->visited[nbr[i]] != bs->epoch)
				{
					bs->visited[nbr[i]] = bs->epoch;
					nbr[k++] = nbr[i];
					PrefetchValue(bs, nbr[i]);
				}
			cnt = k;
		}
		for (int i = 0; i < cnt; i++)
		{
			int32		id = nbr[i];
			float		d;

			d = DistTo(bs, q, id);
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
	int32		nbr[2 * HNSW_MAX_M];
	bool		changed = true;

	while (changed)
	{
		int			cnt = CopyNeighbors(bs, GraphElem(bs->graph, cur->id), lc, nbr);

		changed = false;
		for (int i = 0; i < cnt; i++)
		{
			float		d = DistTo(bs, q, nbr[i]);

			if (d < cur->dist)
			{
				cur->dist = d;
				cur->id = (uint64) nbr[i];
				changed = true;
			}
		}
	}
}

/* Set element e's layer-lc list to items[0..n-1] (caller holds its lock) */
static void
SetNeighbors(HnswBuildState *bs, HnswMemElement *e, int lc, const KnnItem *items, int n)
{
	int			start = HnswLayerStart(bs->m, lc);
	int32	   *nbr = ElemNbr(e, bs->dimensions);
	float	   *nd = ElemDist(e, bs->m, bs->dimensions);

	for (int i = 0; i < n; i++)
	{
		nbr[start + i] = (int32) items[i].id;
		nd[start + i] = items[i].dist;
	}
	e->counts[lc] = n;
	e->closerValid &= ~(1 << lc);
}

/*
 * Add element newi (at distance d) to neighbour n's layer-lc list.  A list
 * with room appends (its flags then need a full selection next time); a
 * full one runs the selection over its items plus newi, incrementally when
 * its flags are right (knn_select_update: the same result), and drops the
 * one item left out.  The list stays sorted by distance.
 */
static void
AddReverseLink(HnswBuildState *bs, int n, int newi, float d, int lc)
{
	HnswMemElement *ne = GraphElem(bs->graph, n);
	int			lm = HnswLayerM(bs->m, lc);
	int			start = HnswLayerStart(bs->m, lc);
	int32	   *nbr = ElemNbr(ne, bs->dimensions);
	float	   *nd = ElemDist(ne, bs->m, bs->dimensions);
	uint8	   *closer = ElemCloser(ne, bs->m, bs->dimensions);
	KnnItem		cand[2 * HNSW_MAX_M + 1];
	uint8		flags[2 * HNSW_MAX_M + 1];
	int			kept[2 * (2 * HNSW_MAX_M + 1)];
	bool		valid;
	int			cnt,
				nc = 0,
				pos,
				drop;

	LockElem(bs, ne, LW_EXCLUSIVE);
	cnt = ne->counts[lc];
	if (cnt < lm)
	{
		nbr[start + cnt] = newi;
		nd[start + cnt] = d;
		ne->counts[lc] = cnt + 1;
		ne->closerValid &= ~(1 << lc);
		UnlockElem(bs, ne);
		return;
	}
	valid = (ne->closerValid & (1 << lc)) != 0;
	/* the current list plus the new one, by distance */
	for (int i = 0; i < cnt; i++)
	{
		int			j = nc++;

		while (j > 0 && cand[j - 1].dist > nd[start + i])
		{
			cand[j] = cand[j - 1];
			flags[j] = flags[j - 1];
			j--;
		}
		cand[j].id = (uint64) nbr[start + i];
		cand[j].dist = nd[start + i];
		flags[j] = closer[start + i];
	}
	for (pos = nc; pos > 0 && cand[pos - 1].dist > d; pos--)
	{
		cand[pos] = cand[pos - 1];
		flags[pos] = flags[pos - 1];
	}
	cand[pos].id = (uint64) newi;
	cand[pos].dist = d;
	flags[pos] = 0;
	nc++;
	drop = knn_select_update(cand, flags, nc, lm, pos, valid, ElemPairDist, bs, kept);
	for (int i = 0, k = 0; i < nc; i++)
		if (i != drop)
		{
			nbr[start + k] = (int32) cand[i].id;
			nd[start + k] = cand[i].dist;
			closer[start + k] = flags[i];
			k++;
		}
	ne->counts[lc] = nc - 1;
	ne->closerValid |= 1 << lc;
	UnlockElem(bs, ne);
}

/*
 * Add heaptid to an element equal to value among results[0..n-1].  An equal
 * value lies at the distance of a value to itself: 0 for L2 and L1, but
 * -|v|^2 under (negative) inner product, where other elements can be nearer.
 */
static bool
AddToDuplicate(HnswBuildState *bs, const Vector *value, ItemPointer heaptid, int n)
{
	float		selfDist = (float) HnswDistance(&bs->sup, value, value);

	for (int i = 0; i < n && bs->buf[i].dist <= selfDist; i++)
	{
		HnswMemElement *dup = GraphElem(bs->graph, bs->buf[i].id);
		bool		done = false;

		if (bs->buf[i].dist != selfDist ||
			memcmp(ElemValue(dup)->x, value->x, sizeof(float) * value->dim) != 0)
			continue;
		LockElem(bs, dup, LW_EXCLUSIVE);
		if (dup->nheaptids < HNSW_HEAPTIDS)
		{
			dup->heaptids[dup->nheaptids++] = *heaptid;
			done = true;
		}
		UnlockElem(bs, dup);
		if (done)
			return true;
	}
	return false;
}

/* Insert one value into the in-memory graph; false if the arena is full */
static bool
InsertMem(HnswBuildState *bs, Vector *value, ItemPointer heaptid)
{
	HnswGraph  *g = bs->graph;
	int			level = HnswRandomLevel(bs->m, &bs->rng);
	bool		exclusive = false;
	int			entry,
				entryLevel;
	int			newi;
	HnswMemElement *e;
	KnnItem		cur;
	KnnItem    *ep;
	int			nep;
	int			top;
	KnnItem    *sel[HNSW_MAX_LEVEL + 1];
	int			nsel[HNSW_MAX_LEVEL + 1];

	/* read the entry point; hold it exclusively if this raises the top */
	if (bs->parallel)
		LWLockAcquire(&g->entryLock, LW_SHARED);
	entry = g->entry;
	entryLevel = g->entryLevel;
	if (bs->parallel)
	{
		LWLockRelease(&g->entryLock);
		if (level > entryLevel)
		{
			LWLockAcquire(&g->entryLock, LW_EXCLUSIVE);
			exclusive = true;
			entry = g->entry;
			entryLevel = g->entryLevel;
		}
	}

	if (entry < 0)
	{
		newi = AllocElement(bs, level, value, heaptid);
		if (newi >= 0)
		{
			g->entry = newi;
			g->entryLevel = level;
		}
		if (exclusive)
			LWLockRelease(&g->entryLock);
		return newi >= 0;
	}

	cur.id = (uint64) entry;
	cur.dist = DistTo(bs, value, entry);
	for (int lc = entryLevel; lc > Max(level, 1); lc--)
		GreedyMem(bs, value, &cur, lc);

	top = Min(level, entryLevel);
	ep = palloc(sizeof(KnnItem) * Max(bs->efConstruction, 1));
	ep[0] = cur;
	nep = 1;
	if (level == 0 && entryLevel >= 1)
	{
		/* a beam on layer 1 finds the right region (see hnswscan.c) */
		nep = SearchLayerMem(bs, value, ep, nep, bs->efConstruction, 1);
		memcpy(ep, bs->buf, sizeof(KnnItem) * nep);
	}
	for (int lc = top; lc >= 0; lc--)
	{
		int			nw = SearchLayerMem(bs, value, ep, nep, bs->efConstruction, lc);

		if (lc == 0 && AddToDuplicate(bs, value, heaptid, nw))
		{
			if (exclusive)
				LWLockRelease(&g->entryLock);
			return true;
		}
		sel[lc] = palloc(sizeof(KnnItem) * HnswLayerM(bs->m, lc));
		nsel[lc] = knn_select_neighbors(bs->buf, nw, HnswLayerM(bs->m, lc), ElemPairDist, bs, sel[lc],
										palloc(sizeof(KnnItem) * Max(nw, 1)));
		memcpy(ep, bs->buf, sizeof(KnnItem) * nw);
		nep = nw;
	}

	newi = AllocElement(bs, level, value, heaptid);
	if (newi < 0)
	{
		if (exclusive)
			LWLockRelease(&g->entryLock);
		return false;
	}
	/* own lists first: the element becomes reachable with its first link */
	e = GraphElem(g, newi);
	for (int lc = top; lc >= 0; lc--)
		SetNeighbors(bs, e, lc, sel[lc], nsel[lc]);
	for (int lc = top; lc >= 0; lc--)
		for (int i = 0; i < nsel[lc]; i++)
			AddReverseLink(bs, (int) sel[lc][i].id, newi, sel[lc][i].dist, lc);

	if (level > entryLevel && (!bs->parallel || exclusive))
	{
		g->entry = newi;
		g->entryLevel = level;
	}
	if (exclusive)
		LWLockRelease(&g->entryLock);
	return true;
}

/*
 * Give every element without a layer-0 in-link one, from its own nearest
 * neighbour (replacing that neighbour's farthest link): pruning can leave an
 * element, typically an outlier, that nothing links to, which no search can
 * then reach.  Runs after all inserts, in one process.
 */
static void
ConnectOrphans(HnswBuildState *bs)
{
	HnswGraph  *g = bs->graph;
	uint32		nelems = Min(pg_atomic_read_u32(&g->nelems), g->maxelems);
	uint32	   *indeg = palloc0(sizeof(uint32) * Max(nelems, 1));
	int			lm = HnswLayerM(bs->m, 0);

	for (uint32 i = 0; i < nelems; i++)
	{
		HnswMemElement *e = GraphElem(g, i);
		int32	   *nbr = ElemNbr(e, bs->dimensions);

		for (int j = 0; j < e->counts[0]; j++)
			indeg[nbr[j]]++;
	}
	for (uint32 i = 0; i < nelems; i++)
	{
		HnswMemElement *e = GraphElem(g, i);
		HnswMemElement *n;
		int32	   *nnbr;
		float	   *nd;
		int			slot;
		int32	   *enbr = ElemNbr(e, bs->dimensions);
		float	   *ed = ElemDist(e, bs->m, bs->dimensions);
		int			best = 0;

		if (indeg[i] > 0 || (int32) i == g->entry || e->counts[0] == 0)
			continue;
		for (int j = 1; j < e->counts[0]; j++)
			if (ed[j] < ed[best])
				best = j;
		n = GraphElem(g, enbr[best]);
		nnbr = ElemNbr(n, bs->dimensions);
		nd = ElemDist(n, bs->m, bs->dimensions);
		if (n->counts[0] < lm)
			slot = n->counts[0]++;
		else
		{
			/* replace the farthest link */
			slot = 0;
			for (int j = 1; j < lm; j++)
				if (nd[j] > nd[slot])
					slot = j;
			indeg[nnbr[slot]]--;
		}
		nnbr[slot] = (int32) i;
		nd[slot] = ed[best];
		indeg[i]++;
	}
	pfree(indeg);
}

/* ---------------------------------------------------------------- to disk */

/* Fill the element tuple of e into etup (neighbour TID from placement) */
static void
FormElementTuple(HnswBuildState *bs, HnswMemElement *e, HnswElementTuple etup)
{
	Vector	   *value = ElemValue(e);

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
	memcpy(&etup->vec, value, VARSIZE(value));
}

/* Fill the neighbour tuple of e (TIDs of its neighbours' placements) */
static void
FormNeighborTuple(HnswBuildState *bs, HnswMemElement *e, HnswNeighborTuple ntup)
{
	int			count = HnswNeighborCount(bs->m, e->level);
	int32	   *nbr = ElemNbr(e, bs->dimensions);

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
			HnswMemElement *n = GraphElem(bs->graph, nbr[start + i]);

			ItemPointerSet(&ntup->tids[start + i], n->blkno, n->offno);
		}
	}
}

/* Start a fresh element page in page */
static void
InitScratchPage(Page page)
{
	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	HnswPageGetOpaque(page)->nextblkno = InvalidBlockNumber;
	HnswPageGetOpaque(page)->unused = 0;
	HnswPageGetOpaque(page)->page_id = HNSW_PAGE_ID;
}

/* Write page as the next block (write) and start a new one */
static void
NextPage(HnswBuildState *bs, Page page, BlockNumber *blk, bool write, ForkNumber forkNum)
{
	if (write)
	{
		Buffer		b = ReadBufferExtended(bs->index, forkNum, P_NEW, RBM_NORMAL, NULL);

		if (BufferGetBlockNumber(b) != *blk)
			elog(ERROR, "hnsw build expected block %u, got %u", *blk, BufferGetBlockNumber(b));
		LockBuffer(b, BUFFER_LOCK_EXCLUSIVE);
		memcpy(BufferGetPage(b), page, BLCKSZ);
		MarkBufferDirty(b);
		UnlockReleaseBuffer(b);
	}
	(*blk)++;
	InitScratchPage(page);
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
	uint32		nelems = Min(pg_atomic_read_u32(&bs->graph->nelems), bs->graph->maxelems);
	bool		dirty = false;

	InitScratchPage(page);
	for (uint32 i = 0; i < nelems; i++)
	{
		HnswMemElement *e = GraphElem(bs->graph, i);
		Size		nsize = HNSW_NEIGHBOR_TUPLE_SIZE(e->level, bs->m);
		bool		together;

		/* start a new page unless both tuples fit (or this one is empty) */
		if (dirty && PageGetFreeSpace(page) < esize + nsize + sizeof(ItemIdData))
		{
			NextPage(bs, page, &blk, write, forkNum);
			dirty = false;
		}
		together = PageGetFreeSpace(page) >= esize + nsize + sizeof(ItemIdData);

		e->blkno = blk;
		e->offno = OffsetNumberNext(PageGetMaxOffsetNumber(page));
		e->nblkno = together ? blk : blk + 1;
		e->noffno = together ? OffsetNumberNext(e->offno) : FirstOffsetNumber;
		if (write)
			FormElementTuple(bs, e, etup);
		if (PageAddItem(page, (Item) etup, esize, e->offno, false, false) != e->offno)
			elog(ERROR, "failed to add hnsw element tuple");
		if (!together)
			NextPage(bs, page, &blk, write, forkNum);
		if (write)
			FormNeighborTuple(bs, e, ntup);
		if (PageAddItem(page, (Item) ntup, nsize, e->noffno, false, false) != e->noffno)
			elog(ERROR, "failed to add hnsw neighbor tuple");
		dirty = true;
	}
	if (dirty)
		NextPage(bs, page, &blk, write, forkNum);
	pfree(etup);
	pfree(ntup);
	return blk - 1;
}

/* Write the in-memory graph to the index */
static void
WriteGraph(HnswBuildState *bs, ForkNumber forkNum)
{
	BlockNumber last;

	ConnectOrphans(bs);
	LayOut(bs, false, forkNum);
	last = LayOut(bs, true, forkNum);
	if (bs->graph->entry >= 0)
	{
		HnswMemElement *ep = GraphElem(bs->graph, bs->graph->entry);

		HnswUpdateMetaPage(bs->index, true, ep->blkno, ep->offno, bs->graph->entryLevel,
						   last, forkNum, false);
	}
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
	/* a parallel build whose arena is full only finishes its scan */
	if (bs->parallel && pg_atomic_read_u32(&bs->graph->full))
		return;

	old = MemoryContextSwitchTo(bs->tmpCtx);
	value = HnswPrepareValue(&bs->sup, values[0]);
	if (value != NULL && value->dim != bs->dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", bs->dimensions, value->dim)));
	if (value != NULL)
	{
		bool		done = false;

		if (!bs->flushed)
		{
			done = InsertMem(bs, value, tid);
			if (!done && !bs->parallel)
			{
				ereport(NOTICE,
						(errmsg("hnsw graph no longer fits into maintenance_work_mem after " INT64_FORMAT " tuples",
								(int64) bs->indtuples),
						 errdetail("Building will take significantly more time."),
						 errhint("Increase maintenance_work_mem to speed up builds.")));
				WriteGraph(bs, MAIN_FORKNUM);
				bs->flushed = true;
			}
		}
		if (bs->flushed)
		{
			HnswInsertTupleOnDisk(index, &bs->sup, value, tid, true);
			done = true;
		}
		if (done)
			bs->indtuples++;
		if (!bs->parallel || IsParallelWorker() == false)
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

/* Check the column and options; fill the per-process build state */
static void
InitBuildState(HnswBuildState *bs, Relation heap, Relation index, HnswGraph *graph,
			   bool parallel)
{
	KnnAlloc	alloc = HnswPallocAlloc();

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
	bs->graph = graph;
	bs->parallel = parallel;
	pg_prng_seed(&bs->rng, 0x5eed0000 + (parallel ? ParallelWorkerNumber + 2 : 0));
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	if (graph != NULL)
	{
		bs->visited = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * graph->maxelems);
		memset(bs->visited, 0, sizeof(uint32) * graph->maxelems);
	}
	knn_heap_init(&bs->cand, false, bs->efConstruction * 4, alloc);
	knn_heap_init(&bs->w, true, bs->efConstruction + 1, alloc);
	bs->buf = palloc(sizeof(KnnItem) * (bs->efConstruction + 1));
}

/*
 * Arena size: maintenance_work_mem.  A private arena is only reserved
 * (pages are touched as they fill), but a shared one is allocated up front,
 * so a parallel build asks for what the table is expected to need.
 */
static Size
GraphSize(Relation heap, Relation index, bool shared)
{
	Size		limit = (Size) maintenance_work_mem * 1024;
	double		reltuples = heap->rd_rel->reltuples;
	int			dim = TupleDescAttr(index->rd_att, 0)->atttypmod;
	int			m = HnswGetM(index);
	double		need;

	if (!shared)
		return limit;
	if (dim < 1)
		dim = 1;
	/* the statistics may be stale: no row is smaller than its vector */
	reltuples = Max(reltuples, (double) RelationGetNumberOfBlocks(heap) *
					(BLCKSZ / (VECTOR_SIZE(dim) + 32.0)));
	/* level 0 plus the expected 1/(m-1) share of upper layers, and offsets */
	need = reltuples * (ElemSize(m, 0, dim) + ElemSize(m, 1, dim) / (m - 1.0) + sizeof(uint64)) * 1.5;
	need += 16 * 1024 * 1024;
	return (Size) Min((double) limit, need);
}

/* Create the meta page as block 0 of forkNum */
static void
CreateMetaPage(Relation index, int dimensions, int m, int efConstruction, ForkNumber forkNum)
{
	Buffer		buf = ReadBufferExtended(index, forkNum, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswWriteMetaPage(index, buf, dimensions, m, efConstruction, forkNum);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* Scan (a share of) the heap and insert into the shared graph */
static void
ParallelScanAndInsert(Relation heap, Relation index, HnswShared *shared,
					  HnswGraph *graph, bool progress)
{
	HnswBuildState bs;
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	TableScanDesc scan;
	double		reltuples;

	indexInfo->ii_Concurrent = shared->isconcurrent;
	InitBuildState(&bs, heap, index, graph, true);
	scan = table_beginscan_parallel(heap, ParallelTableScanFromHnswShared(shared));
	reltuples = table_index_build_scan(heap, index, indexInfo, true, progress,
									   BuildCallback, &bs, scan);

	SpinLockAcquire(&shared->mutex);
	shared->nparticipantsdone++;
	shared->brokenhotchain |= indexInfo->ii_BrokenHotChain;
	shared->reltuples += reltuples;
	shared->indtuples += bs.indtuples;
	SpinLockRelease(&shared->mutex);
	ConditionVariableSignal(&shared->workersdonecv);
	MemoryContextDelete(bs.tmpCtx);
}

/* Entry point of parallel build workers */
PGDLLEXPORT void HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc);

void
HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	HnswShared *shared = shm_toc_lookup(toc, PARALLEL_KEY_HNSW_SHARED, false);
	HnswGraph  *graph = shm_toc_lookup(toc, PARALLEL_KEY_HNSW_GRAPH, false);
	char	   *sharedquery = shm_toc_lookup(toc, PARALLEL_KEY_QUERY_TEXT, true);
	LOCKMODE	heapLockmode = shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	LOCKMODE	indexLockmode = shared->isconcurrent ? RowExclusiveLock : AccessExclusiveLock;
	Relation	heap;
	Relation	index;

	debug_query_string = sharedquery;
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	LWLockRegisterTranche(graph->tranche, "hnsw build");

	heap = table_open(shared->heaprelid, heapLockmode);
	index = index_open(shared->indexrelid, indexLockmode);
	ParallelScanAndInsert(heap, index, shared, graph, false);
	index_close(index, indexLockmode);
	table_close(heap, heapLockmode);
}

/*
 * Build the graph with parallel workers.  Returns false (nothing done) when
 * no worker could be launched or the arena filled up; the caller then
 * builds serially.
 */
static bool
BuildParallel(Relation heap, Relation index, IndexInfo *indexInfo, int nworkers,
			  double *reltuples, double *indtuples)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		estshared;
	Size		graphsize = GraphSize(heap, index, true);
	HnswShared *shared;
	HnswGraph  *graph;
	char	   *sharedquery;
	int			querylen = debug_query_string ? strlen(debug_query_string) : 0;
	int			tranche;
	bool		ok = true;

	EnterParallelMode();
	pcxt = CreateParallelContext("pg_infer", "HnswParallelBuildMain", nworkers);
	snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	estshared = BUFFERALIGN(sizeof(HnswShared)) + table_parallelscan_estimate(heap, snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, estshared);
	shm_toc_estimate_chunk(&pcxt->estimator, graphsize);
	shm_toc_estimate_chunk(&pcxt->estimator, querylen + 1);
	shm_toc_estimate_keys(&pcxt->estimator, 3);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}

	shared = shm_toc_allocate(pcxt->toc, estshared);
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	ConditionVariableInit(&shared->workersdonecv);
	SpinLockInit(&shared->mutex);
	shared->nparticipantsdone = 0;
	shared->brokenhotchain = false;
	shared->reltuples = 0;
	shared->indtuples = 0;
	table_parallelscan_initialize(heap, ParallelTableScanFromHnswShared(shared), snapshot);

	tranche = LWLockNewTrancheId();
	LWLockRegisterTranche(tranche, "hnsw build");
	graph = shm_toc_allocate(pcxt->toc, graphsize);
	InitGraph(graph, graphsize, HnswGetM(index), TupleDescAttr(index->rd_att, 0)->atttypmod, tranche);

	sharedquery = shm_toc_allocate(pcxt->toc, querylen + 1);
	if (querylen > 0)
		memcpy(sharedquery, debug_query_string, querylen);
	sharedquery[querylen] = '\0';

	shm_toc_insert(pcxt->toc, PARALLEL_KEY_HNSW_SHARED, shared);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_HNSW_GRAPH, graph);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_QUERY_TEXT, sharedquery);

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
		ok = false;
	else
	{
		HnswBuildState bs;

		/* the leader takes its share of the scan too */
		ParallelScanAndInsert(heap, index, shared, graph, true);
		/* a worker that failed to start raises an error here instead of a hang */
		WaitForParallelWorkersToAttach(pcxt);
		for (;;)
		{
			bool		done;

			SpinLockAcquire(&shared->mutex);
			done = shared->nparticipantsdone == pcxt->nworkers_launched + 1;
			SpinLockRelease(&shared->mutex);
			if (done)
				break;
			ConditionVariableSleep(&shared->workersdonecv, WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
		}
		ConditionVariableCancelSleep();
		WaitForParallelWorkersToFinish(pcxt);

		if (pg_atomic_read_u32(&graph->full))
		{
			ereport(NOTICE,
					(errmsg("hnsw graph no longer fits into maintenance_work_mem during the parallel build"),
					 errdetail("Building again without parallel workers, which will take significantly more time."),
					 errhint("Increase maintenance_work_mem to speed up builds.")));
			ok = false;
		}
		else
		{
			InitBuildState(&bs, heap, index, NULL, false);
			bs.graph = graph;
			WriteGraph(&bs, MAIN_FORKNUM);
			*reltuples = shared->reltuples;
			*indtuples = shared->indtuples;
			if (shared->brokenhotchain)
				indexInfo->ii_BrokenHotChain = true;
		}
	}

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return ok;
}

/* Build the graph in this process alone */
static void
BuildSerial(Relation heap, Relation index, IndexInfo *indexInfo,
			double *reltuples, double *indtuples)
{
	HnswBuildState bs;
	Size		size = GraphSize(heap, index, false);
	HnswGraph  *graph = MemoryContextAllocHuge(CurrentMemoryContext, size);

	InitGraph(graph, size, HnswGetM(index), TupleDescAttr(index->rd_att, 0)->atttypmod, 0);
	InitBuildState(&bs, heap, index, graph, false);
	table_index_build_scan(heap, index, indexInfo, true, true, BuildCallback, &bs, NULL);
	if (!bs.flushed)
		WriteGraph(&bs, MAIN_FORKNUM);
	*reltuples = bs.reltuples;
	*indtuples = bs.indtuples;
	MemoryContextDelete(bs.tmpCtx);
	pfree(bs.visited);
	pfree(graph);
}

/* ambuild */
IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	HnswBuildState check;
	double		reltuples = 0,
				indtuples = 0;
	int			nworkers;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	/* validate the column and options before doing anything */
	InitBuildState(&check, heap, index, NULL, false);
	MemoryContextDelete(check.tmpCtx);
	CreateMetaPage(index, check.dimensions, check.m, check.efConstruction, MAIN_FORKNUM);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_HNSW_PHASE_LOAD);
	nworkers = IsNormalProcessingMode() ?
		plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index)) : 0;
	if (nworkers <= 0 ||
		!BuildParallel(heap, index, indexInfo, nworkers, &reltuples, &indtuples))
		BuildSerial(heap, index, indexInfo, &reltuples, &indtuples);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = indtuples;
	return result;
}

/* ambuildempty: the init fork of an unlogged index is just a meta page */
void
hnswbuildempty(Relation index)
{
	Buffer		buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	START_CRIT_SECTION();
	HnswWriteMetaPage(index, buf, TupleDescAttr(index->rd_att, 0)->atttypmod,
					  HnswGetM(index), HnswGetEfConstruction(index), INIT_FORKNUM);
	MarkBufferDirty(buf);
	log_newpage_buffer(buf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buf);
}
