/*-------------------------------------------------------------------------
 *
 * hnswvacuum.c
 *	  VACUUM for HNSW indexes.
 *
 * Bulk delete visits every element tuple and removes the heap TIDs that
 * VACUUM reports dead.  An element left without heap TIDs is marked
 * deleted: searches still walk through it (so the graph stays connected)
 * but never return it or link new elements to it, and inserts drop it
 * first when a neighbour list is full.
 *
 * Not yet done: repairing the neighbour lists of deleted elements and
 * reusing their space (REINDEX reclaims it meanwhile).
 *
 * src/pg/hnswvacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/* ambulkdelete: remove dead heap TIDs, mark emptied elements deleted */
IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	for (BlockNumber blk = HNSW_HEAD_BLKNO; blk < nblocks; blk++)
	{
		Buffer		buf;
		GenericXLogState *state;
		Page		page;
		bool		changed = false;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
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
			stats->num_index_tuples += n;
			if (removed == 0)
				continue;
			for (int i = 0; i < HNSW_HEAPTIDS; i++)
			{
				if (i < n)
					etup->heaptids[i] = keep[i];
				else
					ItemPointerSetInvalid(&etup->heaptids[i]);
			}
			if (n == 0)
				etup->deleted = 1;
			changed = true;
		}

		if (changed)
			GenericXLogFinish(state);
		else
			GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
	}
	stats->num_pages = nblocks;
	return stats;
}

/* amvacuumcleanup: report the index size */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || stats == NULL)
		return stats;
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
