/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Scale-out with Citus: running the registry's commands on every worker.
 *
 * A Citus coordinator pushes embed(), classify() and the hnsw searches down
 * to its workers, so a model name must mean the same content on every node.
 * load_model, drop_model and unload_model (SQL in the install script) act
 * locally and then call pg_infer._on_workers(command), which runs the same
 * call on every active worker through Citus's public
 * pg_catalog.run_command_on_workers() and raises an ERROR naming the first
 * worker that failed.  pg_infer.cluster_models() uses it to read every
 * worker's pg_infer.models.
 *
 * Rights: the admin functions are SECURITY DEFINER (they run as the
 * extension's owner), but the command runs on the workers as the role that
 * called them (GetOuterUserId: the session user, or the role it SET ROLE
 * to), so a worker checks that role's own EXECUTE grant and nobody gains
 * rights there.  Citus connects to the workers as the current user; only
 * the user id changes, for the duration of the call.
 *
 * Nothing here links against Citus: it is found at run time through its SQL
 * functions and catalogues, and without it (or on a worker, or while
 * CREATE / ALTER EXTENSION runs, when each node registers its own bundled
 * models) _on_workers runs nothing and returns no rows.
 *
 * Not atomic across nodes: each worker commits its command on its own
 * connection (run_command_on_workers opens new ones), in parallel.  The
 * coordinator's ERROR rolls back its own change only; the commands are
 * idempotent, so running the call again converges, and cluster_models()
 * shows what each node holds.
 *
 * src/pg/models/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* Whether this database is a Citus coordinator (citus present, local group 0) */
static bool
IsCitusCoordinator(void)
{
	bool		isnull;
	Datum		group;

	if (creating_extension || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_local_group");
	if (SPI_processed != 1)
		return false;
	group = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetInt32(group) == 0;
}

/*
 * A worker's error as run_command_on_workers reports it ("ERROR:  text",
 * first line): the text, and the SQLSTATE when the command put it first
 * ("42704: text", as the install script's DO blocks do).
 */
static char *
WorkerError(const char *result, int *sqlerrcode)
{
	const char *msg = result;

	*sqlerrcode = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	if (strlen(msg) > 7 && strspn(msg, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5 &&
		msg[5] == ':' && msg[6] == ' ')
	{
		*sqlerrcode = MAKE_SQLSTATE(msg[0], msg[1], msg[2], msg[3], msg[4]);
		msg += 7;
	}
	return pstrdup(msg);
}

PG_FUNCTION_INFO_V1(pgi_on_workers);

/*
 * pg_infer._on_workers(command): run command on every active worker of a
 * Citus coordinator as the calling role; one row (node, result) per worker,
 * or an ERROR naming the first that failed
 */
Datum
pgi_on_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PG_GETARG_DATUM(0)};
	MemoryContext outer = CurrentMemoryContext;
	Oid			saved_uid;
	int			saved_ctx;
	int			nestlevel;
	int			nrows = 0;
	char	  **nodes = NULL;
	char	  **results = NULL;
	bool	   *ok = NULL;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!IsCitusCoordinator())
	{
		SPI_finish();
		PG_RETURN_NULL();
	}

	/*
	 * As the caller (not the SECURITY DEFINER owner), with only pg_catalog's
	 * objects on the search_path; on ERROR the (sub)transaction abort
	 * restores both.
	 */
	GetUserIdAndSecContext(&saved_uid, &saved_ctx);
	SetUserIdAndSecContext(GetOuterUserId(), saved_ctx | SECURITY_LOCAL_USERID_CHANGE);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute_with_args("SELECT nodename || ':' || nodeport, success, result "
							  "FROM pg_catalog.run_command_on_workers($1) "
							  "ORDER BY nodename, nodeport",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run pg_catalog.run_command_on_workers");
	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(saved_uid, saved_ctx);

	nrows = (int) SPI_processed;
	if (nrows > 0)
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);

		nodes = palloc(sizeof(char *) * nrows);
		results = palloc(sizeof(char *) * nrows);
		ok = palloc(sizeof(bool) * nrows);
		for (int i = 0; i < nrows; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *res = SPI_getvalue(tup, desc, 3);
			bool		isnull;
			Datum		success = SPI_getbinval(tup, desc, 2, &isnull);

			nodes[i] = SPI_getvalue(tup, desc, 1);
			results[i] = res ? res : pstrdup("");
			ok[i] = !isnull && DatumGetBool(success);
		}
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	for (int i = 0; i < nrows; i++)
	{
		int			code;
		char	   *msg;

		if (ok[i])
			continue;
		msg = WorkerError(results[i], &code);
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s (on worker %s)", msg, nodes[i]),
				 errdetail("The command sent to the workers was: %s", command),
				 errhint("The other workers ran it and kept its effect, this node did not; "
						 "pg_infer.cluster_models() shows the models of every node.")));
	}
	for (int i = 0; i < nrows; i++)
	{
		Datum		values[2] = {CStringGetTextDatum(nodes[i]), CStringGetTextDatum(results[i])};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
