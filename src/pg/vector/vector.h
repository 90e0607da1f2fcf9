/*-------------------------------------------------------------------------
 *
 * vector.h
 *	  The on-disk and in-memory layout of the vector type.
 *
 * Binary compatible with pgvector's vector: a varlena header, int16 number
 * of dimensions, int16 reserved (always zero), then dim float4 values.
 *
 * src/pg/vector/vector.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_VECTOR_H
#define PGI_VECTOR_H

#include "fmgr.h"

#include "core/formats/vec_parse.h"

#define VECTOR_MAX_DIM VEC_MAX_DIM

typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved for future use, always zero */
	float		x[FLEXIBLE_ARRAY_MEMBER];	/* (dim) */
} Vector;

#define VECTOR_SIZE(_dim)		(offsetof(Vector, x) + sizeof(float) * (_dim))
#define DatumGetVector(x)		((Vector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_VECTOR_P(x)	DatumGetVector(PG_GETARG_DATUM(x))
#define PG_RETURN_VECTOR_P(x)	PG_RETURN_POINTER(x)

extern Vector *InitVector(int dim);

#endif							/* PGI_VECTOR_H */
