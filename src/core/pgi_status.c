/*-------------------------------------------------------------------------
 *
 * pgi_status.c
 *	  Filling a PgiError.
 *
 * src/core/pgi_status.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/pgi_status.h"

#include <stdarg.h>
#include <stdio.h>

/* Fill err and return status; see pgi_status.h */
PgiStatus
pgi_error(PgiError *err, PgiStatus status, const char *detail, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return status;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : "");
	return status;
}
