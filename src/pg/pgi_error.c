/*-------------------------------------------------------------------------
 *
 * pgi_error.c
 *	  The one place that turns core status codes into SQLSTATEs.
 *
 * src/pg/pgi_error.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg/pgi_error.h"

/* The SQLSTATE for a core status */
int
PgiErrcode(PgiStatus status)
{
	switch (status)
	{
		case PGI_OK:
			return ERRCODE_SUCCESSFUL_COMPLETION;
		case PGI_ERR_SYNTAX:
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		case PGI_ERR_DATA:
			return ERRCODE_DATA_EXCEPTION;
		case PGI_ERR_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		case PGI_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case PGI_ERR_PARAM:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case PGI_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case PGI_ERR_IO:
			return ERRCODE_IO_ERROR;
		case PGI_ERR_CORRUPT:
			return ERRCODE_DATA_CORRUPTED;
		case PGI_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case PGI_ERR_BINARY:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
	}
	return ERRCODE_INTERNAL_ERROR;
}

/* Raise a core error */
void
PgiReport(const PgiError *err)
{
	if (err->status == PGI_OK)
		return;
	ereport(ERROR,
			(errcode(PgiErrcode(err->status)),
			 errmsg_internal("%s", err->msg),
			 err->detail[0] ? errdetail_internal("%s", err->detail) : 0));
}
