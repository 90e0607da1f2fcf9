/*-------------------------------------------------------------------------
 *
 * preload.c
 *	  pg_infer.preload_models: models prepared and read into memory at
 *	  server start, so the first query that uses one does not wait.
 *
 * With pg_infer in shared_preload_libraries and a non-empty list, the
 * postmaster starts a background worker once the server is consistent (on
 * a hot standby too: prepared files are local, never replicated).  It lists
 * the databases that accept connections and, one database at a time,
 * starts a worker connected to it; where the extension is installed, that
 * worker takes each listed model registered there, builds its prepared
 * file if needed (as a first embed() would) and reads the file through,
 * so its pages are in the page cache for every backend.  Each model
 * preloaded is logged; a model that cannot be loaded is a WARNING in the
 * server log and the others still load.  Names not registered in a
 * database are skipped there.
 *
 * src/pg/models/preload.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "pg/models/models.h"
#include "pg/models/preload.h"

char	   *pgi_preload_models = NULL;

PGDLLEXPORT void pgi_preload_launcher(Datum arg);
PGDLLEXPORT void pgi_preload_database(Datum arg);

/* A worker of this library running fn with arg */
static void
InitWorker(BackgroundWorker *w, const char *name, const char *fn, Datum arg)
{
	memset(w, 0, sizeof(*w));
	w->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w->bgw_start_time = BgWorkerStart_ConsistentState;	/* hot standbys too */
	w->bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w->bgw_library_name, "pg_infer", BGW_MAXLEN);
	strlcpy(w->bgw_function_name, fn, BGW_MAXLEN);
	strlcpy(w->bgw_name, name, BGW_MAXLEN);
	strlcpy(w->bgw_type, "pg_infer preload", BGW_MAXLEN);
	w->bgw_main_arg = arg;
}

/* OIDs of the databases that accept connections */
static List *
DatabasesToVisit(void)
{
	List	   *dbs = NIL;
	MemoryContext outer = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

/* Launcher: one worker per database, one after the other */
void
pgi_preload_launcher(Datum arg)
{
	List	   *dbs;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	dbs = DatabasesToVisit();
	foreach(lc, dbs)
	{
		BackgroundWorker w;
		BackgroundWorkerHandle *h;
		pid_t		pid;
		int			tries = 0;

		InitWorker(&w, "pg_infer preload database", "pgi_preload_database",
				   ObjectIdGetDatum(lfirst_oid(lc)));
		w.bgw_notify_pid = MyProcPid;
		/* slots may be taken for a while (parallel workers): retry for ~a minute */
		while (!RegisterDynamicBackgroundWorker(&w, &h))
		{
			if (++tries > 60)
			{
				ereport(WARNING,
						(errmsg("pg_infer.preload_models: no background worker slot left"),
						 errhint("Raise max_worker_processes.")));
				proc_exit(0);
			}
			CHECK_FOR_INTERRUPTS();
			pg_usleep(1000000L);
		}
		if (WaitForBackgroundWorkerStartup(h, &pid) == BGWH_POSTMASTER_DIED ||
			WaitForBackgroundWorkerShutdown(h) == BGWH_POSTMASTER_DIED)
			proc_exit(1);
	}
	proc_exit(0);
}

/*
 * Load one model in a transaction of its own (a long build holds no
 * snapshot for the others); an ERROR becomes a WARNING
 */
static void
PreloadOne(const char *name, const char *dbname)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz start = GetCurrentTimestamp();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pg_infer.preload_models");
	PG_TRY();
	{
		size_t		bytes;

		if (ModelPreload(name, &bytes))
		{
			long		secs;
			int			usecs;

			TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
			ereport(LOG,
					(errmsg("pg_infer: preloaded model \"%s\" of database \"%s\" (%.1f MB, %ld ms)",
							name, dbname, bytes / 1048576.0, secs * 1000 + usecs / 1000)));
		}
		else
			elog(DEBUG1, "pg_infer: no model \"%s\" in database \"%s\"", name, dbname);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		/* shutdown and the like are not ours to turn into warnings */
		if (ProcDiePending)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(WARNING,
				(errmsg("pg_infer.preload_models: could not preload model \"%s\" of database \"%s\": %s",
						name, dbname, e->message)));
		FreeErrorData(e);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Worker of one database: the listed models registered there */
void
pgi_preload_database(Datum arg)
{
	char	   *list;
	char	   *dbname;
	List	   *names = NIL;
	bool		installed;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);

	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("pg_infer", true));
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();

	list = MemoryContextStrdup(TopMemoryContext, pgi_preload_models);
	if (installed && SplitGUCList(list, ',', &names))
		foreach(lc, names)
			PreloadOne(lfirst(lc), dbname);
	proc_exit(0);
}

/* pg_infer.preload_models, and its launcher when loaded at server start */
void
PreloadInit(void)
{
	BackgroundWorker w;
	List	   *names;
	char	   *list;

	/*
	 * Read at server start only; a PGC_POSTMASTER variable cannot be defined
	 * once the server runs, so a later load (no shared_preload_libraries)
	 * defines it as reloadable, where it has no effect
	 */
	DefineCustomStringVariable("pg_infer.preload_models",
							   "Models prepared and read into memory at server start",
							   "Comma-separated model names, loaded in every database where they are registered.",
							   &pgi_preload_models, "",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress || pgi_preload_models == NULL)
		return;
	list = pstrdup(pgi_preload_models);
	if (!SplitGUCList(list, ',', &names))
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_infer.preload_models is not a list of names: \"%s\"", pgi_preload_models)));
	else if (names != NIL)
	{
		InitWorker(&w, "pg_infer preload launcher", "pgi_preload_launcher", (Datum) 0);
		RegisterBackgroundWorker(&w);
	}
}
