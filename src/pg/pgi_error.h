/*-------------------------------------------------------------------------
 *
 * pgi_error.h
 *	  Mapping of core status codes to SQLSTATEs.
 *
 * src/pg/pgi_error.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_ERROR_H
#define PGI_ERROR_H

#include "core/pgi_status.h"

/* The SQLSTATE for a core status (the only place this mapping lives) */
extern int	PgiErrcode(PgiStatus status);

/* Raise err (status, message, detail) as an ERROR; no-op for PGI_OK */
extern void PgiReport(const PgiError *err);

#endif							/* PGI_ERROR_H */
