/*-------------------------------------------------------------------------
 *
 * hnswcheck.c
 *	  hnsw_check(regclass): verify the graph invariants of an HNSW index.
 *
 * Reads every page and reports counts and a list of problems (empty when
 * the index is sound):
 *	- the meta page has our magic and version, and its entry point is a
 *	  live element of the highest level among live elements;
 *	- every element's neighbour TID points at a neighbour tuple with
 *	  (level + 2) * m slots;
 *	- every neighbour slot of layer lc points at an element whose level is
 *	  at least lc, not at itself, and not twice in one layer;
 * and counts the live elements not reachable from the entry point on
 * layer 0 whose rows are not dead (unreachable): an index scan would miss
 * those rows.  An element whose heap tuples are all dead to every
 * transaction is not counted: a row of an insert that a crash cut short
 * (its transaction never committed) can be left with nothing linking to
 * it, and VACUUM removes it.  VACUUM also links any live element left
 * unreachable, so after a VACUUM the count is 0.
 *
 * All-zero pages (PageIsNew: the relation was extended, then a crash came
 * before the page's first WAL record) are unused, not a problem.
 *
 * src/pg/hnsw/hnswcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg/hnsw/hnsw.h"

typedef struct CheckElement
{
	uint64		id;				/* hash key */
	uint8		level;
	bool		deleted;
	bool		reached;
	ItemPointerData ntid;
} CheckElement;

typedef struct CheckState
{
	List	   *problems;
	int			nproblems;
} CheckState;

#define MAX_PROBLEMS 100

/* Record a problem (up to MAX_PROBLEMS) */
static void
Problem(CheckState *cs, const char *fmt,...) pg_attribute_printf(2, 3);

static void
Problem(CheckState *cs, const char *fmt,...)
{
	va_list		ap;
	char		buf[256];

	cs->nproblems++;
	if (cs->nproblems > MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cs->problems = lappend(cs->problems, pstrdup(buf));
}

/* Copy the neighbour tuple at tid (NULL if missing) */
static HnswNeighborTuple
ReadNeighborTuple(Relation index, ItemPointer tid)
{
	BlockNumber blk = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	HnswNeighborTuple copy = NULL;
	Buffer		buf;
	Page		page;

	if (blk == HNSW_METAPAGE_BLKNO || blk >= RelationGetNumberOfBlocks(index))
		return NULL;
	buf = ReadBuffer(index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, off)))
	{
		ItemId		iid = PageGetItemId(page, off);
		HnswNeighborTuple ntup = (HnswNeighborTuple) PageGetItem(page, iid);

		if (ntup->type == HNSW_NEIGHBOR_TUPLE_TYPE)
		{
			copy = palloc(ItemIdGetLength(iid));
			memcpy(copy, ntup, ItemIdGetLength(iid));
		}
	}
	UnlockReleaseBuffer(buf);
	return copy;
}

/*
 * Could some transaction still see a row of the element id (one of its
 * heap TIDs)?  False when every one is dead to all (aborted, or deleted
 * and removable).
 */
static bool
AnyRowNotDead(Relation index, Relation heap, uint64 id)
{
	SnapshotData nonvacuumable;
	BlockNumber nblocks = RelationGetNumberOfBlocks(heap);
	ItemPointerData tids[HNSW_HEAPTIDS];
	Buffer		buf = ReadBuffer(index, HnswIdBlock(id));
	Page		page;

	/* the heap TIDs, as they are now */
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	for (int i = 0; i < HNSW_HEAPTIDS; i++)
		ItemPointerSetInvalid(&tids[i]);
	if (HnswIdOffset(id) <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(PageGetItemId(page, HnswIdOffset(id))))
	{
		HnswElementTuple etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswIdOffset(id)));

		if (etup->type == HNSW_ELEMENT_TUPLE_TYPE)
			memcpy(tids, etup->heaptids, sizeof(tids));
	}
	UnlockReleaseBuffer(buf);

	InitNonVacuumableSnapshot(nonvacuumable, GlobalVisTestFor(heap));
	for (int i = 0; i < HNSW_HEAPTIDS && ItemPointerIsValid(&tids[i]); i++)
	{
		ItemPointerData tid = tids[i];
		bool		all_dead = false;

		if (ItemPointerGetBlockNumber(&tid) >= nblocks)
			continue;
		if (table_index_fetch_tuple_check(heap, &tid, &nonvacuumable, &all_dead))
			return true;
	}
	return false;
}

PG_FUNCTION_INFO_V1(hnsw_check);
/* hnsw_check(regclass) -> (elements, deleted, heap_tids, max_level, unreachable, problems) */
Datum
hnsw_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			heapid = IndexGetRelation(relid, true);
	Relation	heap = OidIsValid(heapid) ? table_open(heapid, AccessShareLock) : NULL;
	Relation	index = relation_open(relid, AccessShareLock);	/* heap first, as amcheck */
	CheckState	cs = {NIL, 0};
	HnswMetaPageData meta;
	HASHCTL		ctl;
	HTAB	   *elems;
	HASH_SEQ_STATUS seq;
	CheckElement *ce;
	int64		nelems = 0,
				ndeleted = 0,
				nheaptids = 0,
				unreachable = 0;
	int			maxLevel = -1;
	int			maxLiveLevel = -1;
	BlockNumber nblocks;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (heap == NULL || index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_rel->relam != get_index_am_oid("hnsw", false) ||
		index->rd_index->indrelid != heapid)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an hnsw index", RelationGetRelationName(index))));

	HnswGetMetaPageInfo(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(CheckElement);
	ctl.hcxt = CurrentMemoryContext;
	elems = hash_create("hnsw_check elements", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* pass 1: every element */
	for (BlockNumber blk = HNSW_HEAD_BLKNO; blk < nblocks; blk++)
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			/* all zeros: an extension cut short by a crash, never linked */
			UnlockReleaseBuffer(buf);
			continue;
		}
		if (HnswPageGetOpaque(page)->page_id != HNSW_PAGE_ID)
			Problem(&cs, "block %u is not an hnsw page", blk);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		iid = PageGetItemId(page, off);
			HnswElementTuple etup;
			uint64		id = HnswTidToId(blk, off);
			bool		found;
			int			n = 0;

			if (!ItemIdIsNormal(iid))
				continue;
			etup = (HnswElementTuple) PageGetItem(page, iid);
			if (etup->type != HNSW_ELEMENT_TUPLE_TYPE)
				continue;
			ce = hash_search(elems, &id, HASH_ENTER, &found);
			ce->level = etup->level;
			ce->ntid = etup->neighbortid;
			ce->reached = false;
			for (int i = 0; i < HNSW_HEAPTIDS && ItemPointerIsValid(&etup->heaptids[i]); i++)
				n++;
			ce->deleted = etup->deleted || n == 0;
			nheaptids += n;
			nelems++;
			ndeleted += ce->deleted;
			maxLevel = Max(maxLevel, (int) etup->level);
			if (!ce->deleted)
				maxLiveLevel = Max(maxLiveLevel, (int) etup->level);
			if (etup->vec.dim != (int) meta.dimensions)
				Problem(&cs, "element (%u,%u) has %d dimensions, index has %u",
						blk, off, etup->vec.dim, meta.dimensions);
		}
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	/* the entry point: a live element of the highest live level */
	if (nelems > ndeleted)
	{
		uint64		eid = HnswTidToId(meta.entryBlkno, meta.entryOffno);

		ce = BlockNumberIsValid(meta.entryBlkno) ? hash_search(elems, &eid, HASH_FIND, NULL) : NULL;
		if (ce == NULL)
			Problem(&cs, "entry point (%u,%u) is not an element", meta.entryBlkno, meta.entryOffno);
		else if (ce->deleted)
			Problem(&cs, "entry point (%u,%u) is deleted", meta.entryBlkno, meta.entryOffno);
		else if (ce->level != meta.entryLevel || meta.entryLevel != maxLiveLevel)
			Problem(&cs, "entry point level %d, meta page says %d, highest live element level %d",
					ce->level, meta.entryLevel, maxLiveLevel);
	}
	else if (BlockNumberIsValid(meta.entryBlkno))
		Problem(&cs, "meta page has an entry point but the index has no live elements");

	/* pass 2: neighbour lists */
	hash_seq_init(&seq, elems);
	while ((ce = hash_seq_search(&seq)) != NULL)
	{
		HnswNeighborTuple ntup = ReadNeighborTuple(index, &ce->ntid);

		if (ntup == NULL)
		{
			Problem(&cs, "element (%u,%u) has no neighbor tuple", HnswIdBlock(ce->id), HnswIdOffset(ce->id));
			continue;
		}
		if (ntup->count != HnswNeighborCount(meta.m, ce->level))
			Problem(&cs, "element (%u,%u) has %u neighbor slots, expected %d", HnswIdBlock(ce->id),
					HnswIdOffset(ce->id), ntup->count, HnswNeighborCount(meta.m, ce->level));
		else
			for (int lc = 0; lc <= ce->level; lc++)
			{
				int			start = HnswLayerStart(meta.m, lc);

				for (int i = 0; i < HnswLayerM(meta.m, lc); i++)
				{
					ItemPointer t = &ntup->tids[start + i];
					uint64		nid;
					CheckElement *ne;

					if (!ItemPointerIsValid(t))
						continue;
					nid = HnswTidToId(ItemPointerGetBlockNumber(t), ItemPointerGetOffsetNumber(t));
					ne = hash_search(elems, &nid, HASH_FIND, NULL);
					if (nid == ce->id)
						Problem(&cs, "element (%u,%u) links to itself on layer %d",
								HnswIdBlock(ce->id), HnswIdOffset(ce->id), lc);
					else if (ne == NULL)
						Problem(&cs, "element (%u,%u) links to a non-element on layer %d",
								HnswIdBlock(ce->id), HnswIdOffset(ce->id), lc);
					else if (ne->level < lc)
						Problem(&cs, "element (%u,%u) links on layer %d to an element of level %d",
								HnswIdBlock(ce->id), HnswIdOffset(ce->id), lc, ne->level);
					for (int j = 0; j < i; j++)
						if (ItemPointerEquals(t, &ntup->tids[start + j]))
							Problem(&cs, "element (%u,%u) lists a neighbor twice on layer %d",
									HnswIdBlock(ce->id), HnswIdOffset(ce->id), lc);
				}
			}
		pfree(ntup);
		CHECK_FOR_INTERRUPTS();
	}

	/* pass 3: reachability on layer 0 from the entry point */
	if (nelems > 0 && BlockNumberIsValid(meta.entryBlkno))
	{
		uint64		eid = HnswTidToId(meta.entryBlkno, meta.entryOffno);
		uint64	   *queue = palloc(sizeof(uint64) * nelems);
		int64		head = 0,
					tail = 0;

		ce = hash_search(elems, &eid, HASH_FIND, NULL);
		if (ce != NULL)
		{
			ce->reached = true;
			queue[tail++] = eid;
		}
		while (head < tail)
		{
			CheckElement *cur = hash_search(elems, &queue[head++], HASH_FIND, NULL);
			uint64	   *nb = palloc(sizeof(uint64) * 2 * meta.m);
			int			n = HnswLoadNeighbors(index, &cur->ntid, meta.m, 0, nb);

			for (int i = 0; i < n; i++)
			{
				CheckElement *ne = hash_search(elems, &nb[i], HASH_FIND, NULL);

				if (ne != NULL && !ne->reached)
				{
					ne->reached = true;
					queue[tail++] = nb[i];
				}
			}
			pfree(nb);
			CHECK_FOR_INTERRUPTS();
		}
		/* rows some transaction may still see, which a scan would miss */
		hash_seq_init(&seq, elems);
		while ((ce = hash_seq_search(&seq)) != NULL)
			if (!ce->reached && !ce->deleted && AnyRowNotDead(index, heap, ce->id))
				unreachable++;
	}

	relation_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(nelems);
	values[1] = Int64GetDatum(ndeleted);
	values[2] = Int64GetDatum(nheaptids);
	values[3] = Int32GetDatum(maxLevel);
	values[4] = Int64GetDatum(unreachable);
	{
		int			n = list_length(cs.problems);
		Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
		ListCell   *lc;
		int			i = 0;

		foreach(lc, cs.problems)
			d[i++] = CStringGetTextDatum((char *) lfirst(lc));
		values[5] = PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
