/*-------------------------------------------------------------------------
 *
 * pgi_status.h
 *	  Status codes returned by the pure-C core of pg_infer.
 *
 * The core never raises errors itself: every fallible function returns a
 * PgiStatus and, where useful, fills a PgiError with a message.  The glue
 * maps each status to exactly one SQLSTATE in src/pg/pgi_error.c, the only
 * place where that mapping lives.
 *
 * src/core/pgi_status.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_STATUS_H
#define PGI_STATUS_H

typedef enum PgiStatus
{
	PGI_OK = 0,
	PGI_ERR_SYNTAX,				/* malformed text input: 22P02 */
	PGI_ERR_DATA,				/* invalid value (NaN, empty, mismatch): 22000 */
	PGI_ERR_RANGE,				/* numeric value out of range: 22003 */
	PGI_ERR_LIMIT,				/* program limit exceeded: 54000 */
	PGI_ERR_PARAM,				/* invalid parameter value: 22023 */
	PGI_ERR_NOMEM,				/* out of memory: 53200 */
	PGI_ERR_IO,					/* file could not be read: 58030 */
	PGI_ERR_CORRUPT,			/* malformed or hostile file: XX001 */
	PGI_ERR_UNSUPPORTED,		/* valid but not supported: 0A000 */
	PGI_ERR_BINARY				/* malformed binary input (an image): 22P03 */
} PgiStatus;

#define PGI_MSG_LEN 256

/* A status with a human-readable message and optional detail */
typedef struct PgiError
{
	PgiStatus	status;
	char		msg[PGI_MSG_LEN];
	char		detail[PGI_MSG_LEN];
} PgiError;

/*
 * Fill err (if not NULL) with status, a printf-style message and an
 * optional detail sentence; returns status, so callers can write
 * "return pgi_error(err, PGI_ERR_CORRUPT, NULL, "bad %s", what);".
 */
extern PgiStatus pgi_error(PgiError *err, PgiStatus status, const char *detail,
						   const char *fmt,...) __attribute__((format(printf, 4, 5)));

#endif							/* PGI_STATUS_H */
