/*-------------------------------------------------------------------------
 *
 * input_valid.c
 *	  pg_input_is_valid() and pg_input_error_info() for PostgreSQL 15.
 *
 * PostgreSQL 16 added soft input errors and these two functions.  On 15 the
 * install script creates SQL functions of the same names backed by this
 * file: the type's input function runs in a subtransaction, and a data
 * exception (class 22) or program-limit error (class 54) is caught and
 * reported as "not valid"; any other error (out of memory, query cancel,
 * unknown type) is re-thrown, as PostgreSQL 16 does for hard errors.  On 16
 * and later the built-in functions in pg_catalog take precedence.
 *
 * src/pg/vector/input_valid.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"

/* Is this error one that PostgreSQL 16 input functions report softly? */
static bool
IsSoftInputError(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/*
 * Run typname's input function on str; NULL if it accepted the input, else
 * the (soft) error it raised.
 */
static ErrorData *
TryInput(text *str, text *typname)
{
	char	   *cstr = text_to_cstring(str);
	Oid			typoid;
	int32		typmod;
	Oid			infunc;
	Oid			ioparam;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	parseTypeString(text_to_cstring(typname), &typoid, &typmod, false);
	getTypeInputInfo(typoid, &infunc, &ioparam);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		OidInputFunctionCall(infunc, cstr, ioparam, typmod);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (!IsSoftInputError(edata->sqlerrcode))
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

PG_FUNCTION_INFO_V1(pgi_input_is_valid);
/* pg_input_is_valid(text, text) -> bool */
Datum
pgi_input_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TryInput(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)) == NULL);
}

PG_FUNCTION_INFO_V1(pgi_input_error_info);
/* pg_input_error_info(text, text) -> (message, detail, hint, sql_error_code) */
Datum
pgi_input_error_info(PG_FUNCTION_ARGS)
{
	ErrorData  *edata = TryInput(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1));
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		isnull[4] = {true, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (edata != NULL)
	{
		if (edata->message)
			values[0] = CStringGetTextDatum(edata->message), isnull[0] = false;
		if (edata->detail)
			values[1] = CStringGetTextDatum(edata->detail), isnull[1] = false;
		if (edata->hint)
			values[2] = CStringGetTextDatum(edata->hint), isnull[2] = false;
		values[3] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
		isnull[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, isnull)));
}
