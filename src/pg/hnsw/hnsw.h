/*-------------------------------------------------------------------------
 *
 * hnsw.h
 *	  Hierarchical Navigable Small World index access method for vector.
 *
 * Files: hnsw.c (handler, options, GUCs, cost estimate, opclass
 * validation), hnswbuild.c (CREATE INDEX: in-memory graph, then pages),
 * hnswinsert.c (INSERT after the build), hnswscan.c (ORDER BY ... LIMIT),
 * hnswsearch.c (graph search over pages, shared by insert and scan),
 * hnswvacuum.c (VACUUM), hnswutils.c (pages, tuples, distances),
 * hnswcheck.c (hnsw_check(): graph invariants, for tests).
 *
 * On-disk layout
 * --------------
 * Block 0 is the meta page.  Every other block holds element tuples and
 * neighbour tuples.  An element tuple holds up to HNSW_HEAPTIDS heap TIDs
 * (duplicates of one value share an element), the element's level, a
 * deleted flag, the TID of its neighbour tuple, and the value itself (a
 * Vector, normalised first for cosine).  Its neighbour tuple holds
 * (level + 2) * m index TIDs: 2m for layer 0, then m for each layer 1..level;
 * unused slots are invalid TIDs.  Neighbour tuples never change size, so
 * they are updated in place.  The two tuples share a page when they fit.
 * VACUUM frees deleted elements' tuples, leaving unused line pointers (no
 * other item moves) and the page's free space in the free space map;
 * inserts put both tuples of a new element on such a page first.
 *
 * WAL: after the build every change goes through GenericXLog; the build
 * writes pages without WAL and logs them all at the end (log_newpage_range)
 * when the relation needs WAL.  An insert writes its element, its own
 * neighbour lists and, when it takes the entry point or a new insert page,
 * the meta page in one record; the reverse links follow in one record each.
 * The commit record comes later in the WAL, so a crash can cut an insert's
 * records short only while its transaction is uncommitted: the element it
 * leaves, perhaps with nothing linking to it yet, belongs to a dead row,
 * which VACUUM removes.  (Pruning can also take the last link to a
 * committed row's element; VACUUM links such elements again.)
 *
 * All-zero pages: a crash between extending the relation and the first
 * record for the new page leaves it all zeros (PageIsNew), as in any
 * PostgreSQL relation.  Nothing links to such a page; every reader that
 * walks all pages (VACUUM, hnsw_check) skips it, and inserts never reuse it.
 *
 * Locking: an insert holds the page-level heavyweight lock HNSW_UPDATE_LOCK
 * in ShareLock mode; one that must move the entry point (a new top level)
 * and VACUUM when it replaces a deleted entry point take it in
 * ExclusiveLock mode.  VACUUM's repair of neighbour lists runs alongside
 * inserts: each list is rewritten under its page lock, merged with links
 * added meanwhile.  Buffer locks are held
 * one page at a time, except when a new page is added next to the insert
 * page (old page first, then the higher new one).  Scans take only short
 * buffer share locks.
 *
 * src/pg/hnsw/hnsw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef HNSW_H
#define HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#include "core/kernels/knn.h"
#include "pg/vector/vector.h"

/*
 * An element and its neighbour tuple must fit on one page each; a vector of
 * 2000 dimensions is 8008 bytes, the most that fits beside the page header,
 * special space and element header.
 */
#define HNSW_MAX_DIM 2000

/* Support functions */
#define HNSW_DISTANCE_PROC 1	/* (vector, vector) -> float8, smaller = nearer */
#define HNSW_NORM_PROC 2		/* optional (vector) -> float8: normalise, skip 0 */

#define HNSW_MAGIC 0x48505349	/* "HPSI" */
#define HNSW_VERSION 1
#define HNSW_PAGE_ID 0xFF86

#define HNSW_METAPAGE_BLKNO 0
#define HNSW_HEAD_BLKNO 1

/* Heavyweight page lock serialising entry-point changes */
#define HNSW_UPDATE_LOCK 0

#define HNSW_DEFAULT_M 16
#define HNSW_MIN_M 2
#define HNSW_MAX_M 100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_MIN_EF_CONSTRUCTION 4
#define HNSW_MAX_EF_CONSTRUCTION 1000
#define HNSW_DEFAULT_EF_SEARCH 40
#define HNSW_MIN_EF_SEARCH 1
#define HNSW_MAX_EF_SEARCH 1000

#define HNSW_HEAPTIDS 10
#define HNSW_MAX_LEVEL 15		/* caps neighbour tuples at 17 * m TIDs */

#define HNSW_ELEMENT_TUPLE_TYPE 1
#define HNSW_NEIGHBOR_TUPLE_TYPE 2

/* Build phase for pg_stat_progress_create_index */
#define PROGRESS_HNSW_PHASE_LOAD 2

/* Neighbour slots in layer lc */
#define HnswLayerM(m, lc) ((lc) == 0 ? 2 * (m) : (m))
/* Neighbour slots of an element of level L */
#define HnswNeighborCount(m, level) (((level) + 2) * (m))
/* Index of the first slot of layer lc */
#define HnswLayerStart(m, lc) ((lc) == 0 ? 0 : ((lc) + 1) * (m))

#define HNSW_ELEMENT_TUPLE_SIZE(dim) \
	MAXALIGN(offsetof(HnswElementTupleData, vec) + VECTOR_SIZE(dim))
#define HNSW_NEIGHBOR_TUPLE_SIZE(level, m) \
	MAXALIGN(offsetof(HnswNeighborTupleData, tids) + \
			 HnswNeighborCount(m, level) * sizeof(ItemPointerData))

#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))
#define HnswPageGetMeta(page) ((HnswMetaPage) PageGetContents(page))

/* TID as a 64-bit id for heaps and sets */
#define HnswTidToId(blk, off) (((uint64) (blk) << 16) | (uint64) (off))
#define HnswIdBlock(id) ((BlockNumber) ((id) >> 16))
#define HnswIdOffset(id) ((OffsetNumber) ((id) & 0xFFFF))

typedef enum HnswIterativeScan
{
	HNSW_ITERATIVE_SCAN_OFF,
	HNSW_ITERATIVE_SCAN_RELAXED,
	HNSW_ITERATIVE_SCAN_STRICT
} HnswIterativeScan;

/* GUCs */
extern int	hnsw_ef_search;
extern int	hnsw_iterative_scan;
extern int	hnsw_max_scan_tuples;
extern double hnsw_scan_mem_multiplier;	/* iterative scans use at most this x work_mem */

/* Reloptions */
typedef struct HnswOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;				/* neighbours per element and layer */
	int			efConstruction; /* candidate list size while building */
} HnswOptions;

/* Meta page contents */
typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dimensions;
	uint16		m;
	uint16		efConstruction;
	BlockNumber entryBlkno;		/* entry element, or InvalidBlockNumber */
	OffsetNumber entryOffno;
	int16		entryLevel;		/* -1 when the graph is empty */
	BlockNumber insertPage;		/* last page, where inserts go */
	uint16		needsRepair;	/* elements were deleted; VACUUM's repair not done */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

typedef struct HnswPageOpaqueData
{
	BlockNumber nextblkno;		/* unused, InvalidBlockNumber */
	uint16		unused;
	uint16		page_id;		/* HNSW_PAGE_ID */
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

typedef struct HnswElementTupleData
{
	uint8		type;			/* HNSW_ELEMENT_TUPLE_TYPE */
	uint8		level;
	uint8		deleted;		/* no heap TIDs left: navigation only */
	uint8		unused;
	ItemPointerData heaptids[HNSW_HEAPTIDS];	/* first invalid ends the list */
	ItemPointerData neighbortid;	/* this element's neighbour tuple */
	uint16		unused2;
	Vector		vec;			/* (dim) value, normalised for cosine */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

typedef struct HnswNeighborTupleData
{
	uint8		type;			/* HNSW_NEIGHBOR_TUPLE_TYPE */
	uint8		unused;
	uint16		count;			/* (level + 2) * m */
	ItemPointerData tids[FLEXIBLE_ARRAY_MEMBER];	/* (count) */
} HnswNeighborTupleData;

typedef HnswNeighborTupleData *HnswNeighborTuple;

/* How distances are computed: a built-in kernel or the opclass function */
typedef enum HnswKernel
{
	HNSW_KERNEL_FMGR,			/* call the support function */
	HNSW_KERNEL_L2SQ,			/* vector_l2_squared_distance */
	HNSW_KERNEL_NEG_DOT,		/* vector_negative_inner_product */
	HNSW_KERNEL_L1				/* l1_distance */
} HnswKernel;

typedef struct HnswSupport
{
	HnswKernel	kernel;
	FmgrInfo   *distproc;
	FmgrInfo   *normproc;		/* NULL unless the opclass normalises */
	Oid			collation;
} HnswSupport;

/* An element read from disk during a search */
typedef struct HnswSearchElement
{
	uint64		id;				/* TID of the element tuple */
	float		dist;
	uint8		level;
	bool		deleted;
	ItemPointerData neighbortid;
	ItemPointerData heaptids[HNSW_HEAPTIDS];
	int			nheaptids;
	Vector	   *vec;			/* copy of the value (inserts only) or NULL */
} HnswSearchElement;

/*
 * A change to one or two pages: through GenericXLog, or, while CREATE
 * INDEX still runs (its pages are WAL-logged in one go at the end), made
 * in place and only marked dirty.
 */
typedef struct HnswEdit
{
	GenericXLogState *state;	/* NULL while building */
	Buffer		bufs[3];		/* element page, neighbour page, meta page */
	int			nbufs;
} HnswEdit;

/* hnsw.c */
extern void HnswInit(void);
extern int	HnswGetM(Relation index);
extern int	HnswGetEfConstruction(Relation index);

/* hnswutils.c */
extern void HnswInitSupport(Relation index, HnswSupport *sup);
extern double HnswDistance(const HnswSupport *sup, const Vector *a, const Vector *b);
extern Vector *HnswPrepareValue(const HnswSupport *sup, Datum value);
extern int	HnswRandomLevel(int m, pg_prng_state *rng);
extern Buffer HnswNewBuffer(Relation index, ForkNumber forkNum);
extern void HnswInitPage(Buffer buf, Page page);
extern void HnswGetMetaPageInfo(Relation index, HnswMetaPageData *meta);
extern void HnswUpdateMetaPage(Relation index, bool setEntry, BlockNumber entryBlkno,
							   OffsetNumber entryOffno, int entryLevel,
							   BlockNumber insertPage, ForkNumber forkNum, bool wal);
extern void HnswWriteMetaPage(Relation index, Buffer buf, int dimensions, int m,
							  int efConstruction, ForkNumber forkNum);
extern void HnswCheckIndexVersion(Page metapage, Relation index);
extern void HnswSetNeedsRepair(Relation index, bool value);
extern void HnswEditStart(HnswEdit *ed, Relation index, bool building);
extern Page HnswEditRegister(HnswEdit *ed, Buffer buf, bool newPage);
extern void HnswEditFinish(HnswEdit *ed);
extern void HnswEditAbort(HnswEdit *ed);

/* hnswsearch.c */
typedef struct HnswSearchState HnswSearchState;
extern KnnAlloc HnswPallocAlloc(void);
extern HnswSearchState *HnswSearchBegin(Relation index, const HnswSupport *sup,
										const Vector *q, int m, MemoryContext ctx);
extern void HnswSearchEnd(HnswSearchState *st);
extern bool HnswSearchEntry(HnswSearchState *st, HnswMetaPageData *meta);
extern void HnswSearchGreedy(HnswSearchState *st, int fromLevel, int toLevel);
extern int	HnswSearchLayer(HnswSearchState *st, int ef, int lc, bool skipDeleted,
							KnnItem **results);
extern void HnswSearchKeepVectors(HnswSearchState *st);
extern void HnswSearchSetIterative(HnswSearchState *st);
extern int	HnswSearchNext(HnswSearchState *st, int ef, KnnItem **results);
extern void HnswSearchFetch(HnswSearchState *st, const uint64 *ids, int n);
extern HnswSearchElement *HnswSearchGetElement(HnswSearchState *st, uint64 id);
extern double HnswSearchTuplesVisited(HnswSearchState *st);
extern int	HnswLoadNeighbors(Relation index, ItemPointer ntid, int m, int lc,
							  uint64 *out);

/* hnswinsert.c */
extern bool HnswAddReverseLink(Relation index, HnswSearchState *st, const HnswSupport *sup,
							   HnswSearchElement *n, uint64 newid, float newdist,
							   Vector *newvec, int lc, int m, bool building);
extern bool HnswForceLink(Relation index, HnswSearchState *st, const HnswSupport *sup,
						  HnswSearchElement *n, HnswSearchElement *x, int m, bool building);
extern void HnswInsertTupleOnDisk(Relation index, const HnswSupport *sup, Vector *vec,
								  ItemPointer heaptid, bool building);

/* Index access methods */
extern IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void hnswbuildempty(Relation index);
extern bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
					   Relation heap, IndexUniqueCheck checkUnique,
					   bool indexUnchanged, IndexInfo *indexInfo);
extern IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);
extern IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
extern void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
					   int norderbys);
extern bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnswendscan(IndexScanDesc scan);

#endif							/* HNSW_H */
