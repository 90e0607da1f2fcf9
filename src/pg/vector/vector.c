/*-------------------------------------------------------------------------
 *
 * vector.c
 *	  The vector type: I/O, casts, operators, functions and aggregates.
 *
 * A drop-in for pgvector's vector: same storage layout, text and binary
 * formats, typmod, function names, error messages and SQLSTATEs, so SQL and
 * dumps written for pgvector work unchanged.  Parsing and distance kernels
 * live in src/core (vec_parse.c, vec_kernels.c); this file is the glue.
 *
 * src/pg/vector/vector.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/varbit.h"

#include "core/kernels/vec_kernels.h"
#include "pg/pgi_error.h"
#include "pg/vector/vector.h"

/* The aggregate state is float8[] {n, sum_1, ..., sum_dim} */
#define STATE_DIMS(a) (ARR_DIMS(a)[0] - 1)

/* Raise an error unless a and b have the same number of dimensions */
static inline void
CheckDims(const Vector *a, const Vector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", a->dim, b->dim)));
}

/* Raise an error unless dim matches typmod (-1 means any) */
static inline void
CheckExpectedDim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/* Raise an error unless 1 <= dim <= VECTOR_MAX_DIM */
static inline void
CheckDim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions", VECTOR_MAX_DIM)));
}

/* Raise an error for NaN or infinite elements */
static inline void
CheckElement(float value)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in vector")));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in vector")));
}

/* Allocate a zeroed vector of dim dimensions */
Vector *
InitVector(int dim)
{
	Size		size = VECTOR_SIZE(dim);
	Vector	   *result = (Vector *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

/* Report a text-input error the way pgvector words it */
static void
ReportParseError(const char *lit, VecParseResult r)
{
	int			code = PgiErrcode(r.status);

	switch (r.error)
	{
		case VEC_PARSE_OK:
			return;
		case VEC_PARSE_NO_OPEN:
			ereport(ERROR,
					(errcode(code),
					 errmsg("invalid input syntax for type vector: \"%s\"", lit),
					 errdetail("Vector contents must start with \"[\".")));
			break;
		case VEC_PARSE_JUNK:
			ereport(ERROR,
					(errcode(code),
					 errmsg("invalid input syntax for type vector: \"%s\"", lit),
					 errdetail("Junk after closing right brace.")));
			break;
		case VEC_PARSE_SYNTAX:
			ereport(ERROR,
					(errcode(code),
					 errmsg("invalid input syntax for type vector: \"%s\"", lit)));
			break;
		case VEC_PARSE_EMPTY:
			ereport(ERROR,
					(errcode(code),
					 errmsg("vector must have at least 1 dimension")));
			break;
		case VEC_PARSE_TOO_MANY:
			ereport(ERROR,
					(errcode(code),
					 errmsg("vector cannot have more than %d dimensions", VECTOR_MAX_DIM)));
			break;
		case VEC_PARSE_OUT_OF_RANGE:
			ereport(ERROR,
					(errcode(code),
					 errmsg("\"%s\" is out of range for type vector",
							pnstrdup(r.token, r.token_len))));
			break;
		case VEC_PARSE_NAN:
			ereport(ERROR,
					(errcode(code),
					 errmsg("NaN not allowed in vector")));
			break;
		case VEC_PARSE_INF:
			ereport(ERROR,
					(errcode(code),
					 errmsg("infinite value not allowed in vector")));
			break;
	}
}

/* ----------------------------------------------------------------- I/O */

PG_FUNCTION_INFO_V1(vector_in);
/* Text to vector: '[1,2,3]' */
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	float	   *x = palloc(sizeof(float) * VECTOR_MAX_DIM);
	VecParseResult r = vec_parse(lit, x, VECTOR_MAX_DIM);
	Vector	   *result;

	if (r.error != VEC_PARSE_OK)
		ReportParseError(lit, r);
	CheckExpectedDim(typmod, r.dim);

	result = InitVector(r.dim);
	memcpy(result->x, x, sizeof(float) * r.dim);
	pfree(x);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_out);
/* Vector to text, each element in the shortest form that reads back exactly */
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf = palloc(FLOAT_SHORTEST_DECIMAL_LEN * v->dim + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
/* Type modifier: vector(n), 1 <= n <= 16000 */
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	int32	   *tl = ArrayGetIntegerTypmods(ta, &n);

	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (*tl < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector must be at least 1")));
	if (*tl > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d", VECTOR_MAX_DIM)));
	PG_RETURN_INT32(*tl);
}

PG_FUNCTION_INFO_V1(vector_recv);
/* Binary to vector: int16 dim, int16 unused (0), dim float4 */
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim = (int16) pq_getmsgint(buf, sizeof(int16));
	int16		unused = (int16) pq_getmsgint(buf, sizeof(int16));
	Vector	   *result;

	CheckDim(dim);
	CheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		CheckElement(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_send);
/* Vector to binary */
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* --------------------------------------------------------------- casts */

PG_FUNCTION_INFO_V1(vector);
/* vector to vector(n): checks the type modifier */
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	CheckExpectedDim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_VECTOR_P(v);
}

PG_FUNCTION_INFO_V1(array_to_vector);
/* integer[], real[], double precision[] or numeric[] to vector */
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			nelems;
	Vector	   *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, NULL, &nelems);
	CheckDim(nelems);
	CheckExpectedDim(typmod, nelems);

	result = InitVector(nelems);
	for (int i = 0; i < nelems; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				result->x[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT8OID:
				result->x[i] = (float) DatumGetFloat8(elems[i]);
				break;
			case FLOAT4OID:
				result->x[i] = DatumGetFloat4(elems[i]);
				break;
			case NUMERICOID:
				result->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elems[i]));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("unsupported array type")));
		}
	}
	pfree(elems);

	for (int i = 0; i < nelems; i++)
		CheckElement(result->x[i]);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_to_float4);
/* vector to real[] */
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *datums = palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		datums[i] = Float4GetDatum(v->x[i]);
	result = construct_array(datums, v->dim, FLOAT4OID, sizeof(float4), true,
							 TYPALIGN_INT);
	pfree(datums);
	PG_RETURN_POINTER(result);
}

/* ----------------------------------------------------------- distances */

PG_FUNCTION_INFO_V1(l2_distance);
/* Euclidean distance: <-> */
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) vk_l2sq(a->x, b->x, a->dim)));
}

PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
/* Squared Euclidean distance (index support: saves the sqrt) */
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8((double) vk_l2sq(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(inner_product);
/* Inner product */
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8((double) vk_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
/* Negative inner product: <#> */
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8((double) -vk_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(cosine_distance);
/* Cosine distance: <=>; NaN when either vector is zero */
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8(vk_cosine_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_spherical_distance);
/* Angular distance / pi of unit vectors (for spherical clustering) */
Datum
vector_spherical_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	double		d;

	CheckDims(a, b);
	d = (double) vk_dot(a->x, b->x, a->dim);
	if (d > 1)
		d = 1;
	else if (d < -1)
		d = -1;
	PG_RETURN_FLOAT8(acos(d) / M_PI);
}

PG_FUNCTION_INFO_V1(l1_distance);
/* Taxicab distance: <+> */
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckDims(a, b);
	PG_RETURN_FLOAT8((double) vk_l1(a->x, b->x, a->dim));
}

/* ----------------------------------------------------------- functions */

PG_FUNCTION_INFO_V1(vector_dims);
/* Number of dimensions */
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(a->dim);
}

PG_FUNCTION_INFO_V1(vector_norm);
/* Euclidean norm */
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(vk_norm(a->x, a->dim));
}

PG_FUNCTION_INFO_V1(l2_normalize);
/* Unit vector in the direction of a; the zero vector stays zero */
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *result = InitVector(a->dim);
	double		norm = vk_norm(a->x, a->dim);

	if (norm > 0)
	{
		for (int i = 0; i < a->dim; i++)
			result->x[i] = (float) (a->x[i] / norm);
		for (int i = 0; i < a->dim; i++)
			if (isinf(result->x[i]))
				float_overflow_error();
	}
	PG_RETURN_VECTOR_P(result);
}

/* Raise overflow if any element of v is infinite */
static void
CheckOverflow(const Vector *v)
{
	for (int i = 0; i < v->dim; i++)
		if (isinf(v->x[i]))
			float_overflow_error();
}

PG_FUNCTION_INFO_V1(vector_add);
/* Element-wise sum: + */
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] + b->x[i];
	CheckOverflow(result);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_sub);
/* Element-wise difference: - */
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] - b->x[i];
	CheckOverflow(result);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_mul);
/* Element-wise product: *; errors on overflow and on underflow to zero */
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] * b->x[i];
	for (int i = 0; i < a->dim; i++)
	{
		if (isinf(result->x[i]))
			float_overflow_error();
		if (result->x[i] == 0 && !(a->x[i] == 0 || b->x[i] == 0))
			float_underflow_error();
	}
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_concat);
/* Concatenation: || */
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckDim(a->dim + b->dim);
	result = InitVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(binary_quantize);
/* One bit per dimension: 1 where the element is > 0 */
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int			len = VARBITTOTALLEN(a->dim);
	VarBit	   *result = (VarBit *) palloc0(len);
	bits8	   *rx = VARBITS(result);

	SET_VARSIZE(result, len);
	VARBITLEN(result) = a->dim;
	for (int i = 0; i < a->dim; i++)
		rx[i / 8] |= (a->x[i] > 0) << (7 - (i % 8));
	PG_RETURN_VARBIT_P(result);
}

PG_FUNCTION_INFO_V1(subvector);
/* count elements starting at start (1-based), clipped like substring */
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int64		start = PG_GETARG_INT32(1);
	int64		end = start + PG_GETARG_INT32(2);	/* int64: no overflow */
	Vector	   *result;
	int			dim;

	if (start < 1)
		start = 1;
	if (end > a->dim)
		end = a->dim + 1;
	dim = (int) Max(end - start, -1);
	CheckDim(dim);

	result = InitVector(dim);
	memcpy(result->x, a->x + (start - 1), sizeof(float) * dim);
	PG_RETURN_VECTOR_P(result);
}

/* --------------------------------------------------------- comparisons */

/* Compare element by element, then by dimensions, like arrays */
static int
VectorCmp(const Vector *a, const Vector *b)
{
	int			dim = Min(a->dim, b->dim);

	for (int i = 0; i < dim; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim < b->dim)
		return -1;
	if (a->dim > b->dim)
		return 1;
	return 0;
}

#define VECTOR_CMP_FUNC(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	Vector	   *a = PG_GETARG_VECTOR_P(0); \
	Vector	   *b = PG_GETARG_VECTOR_P(1); \
	PG_RETURN_BOOL(VectorCmp(a, b) op 0); \
}

VECTOR_CMP_FUNC(vector_lt, <)
VECTOR_CMP_FUNC(vector_le, <=)
VECTOR_CMP_FUNC(vector_eq, ==)
VECTOR_CMP_FUNC(vector_ne, !=)
VECTOR_CMP_FUNC(vector_ge, >=)
VECTOR_CMP_FUNC(vector_gt, >)

PG_FUNCTION_INFO_V1(vector_cmp);
/* btree support: -1, 0 or 1 */
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	PG_RETURN_INT32(VectorCmp(a, b));
}

/* ---------------------------------------------------------- aggregates */

/* The float8 values of a state array, after checking its shape */
static float8 *
CheckStateArray(ArrayType *state, const char *caller)
{
	if (ARR_NDIM(state) != 1 ||
		ARR_DIMS(state)[0] < 1 ||
		ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID)
		elog(ERROR, "%s: expected state array", caller);
	return (float8 *) ARR_DATA_PTR(state);
}

/* Build a float8[] state {n, sums[0..dim-1]} */
static ArrayType *
MakeState(float8 n, const float8 *sums, int dim)
{
	Datum	   *d = palloc(sizeof(Datum) * (dim + 1));
	ArrayType  *result;

	d[0] = Float8GetDatum(n);
	for (int i = 0; i < dim; i++)
	{
		if (isinf(sums[i]))
			float_overflow_error();
		d[i + 1] = Float8GetDatum(sums[i]);
	}
	result = construct_array(d, dim + 1, FLOAT8OID, sizeof(float8),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(d);
	return result;
}

PG_FUNCTION_INFO_V1(vector_accum);
/* avg(vector) transition: add one vector to the running sums */
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	float8	   *sv = CheckStateArray(state, "vector_accum");
	int			dim = STATE_DIMS(state);
	float8	   *sums;

	if (dim == 0)
		dim = v->dim;
	else
		CheckExpectedDim(dim, v->dim);

	sums = palloc(sizeof(float8) * dim);
	for (int i = 0; i < dim; i++)
		sums[i] = (STATE_DIMS(state) == 0 ? 0.0 : sv[i + 1]) + (double) v->x[i];
	PG_RETURN_ARRAYTYPE_P(MakeState(sv[0] + 1.0, sums, dim));
}

PG_FUNCTION_INFO_V1(vector_combine);
/* avg(vector) combine: merge two partial states (parallel aggregation) */
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *s1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *s2 = PG_GETARG_ARRAYTYPE_P(1);
	float8	   *v1 = CheckStateArray(s1, "vector_combine");
	float8	   *v2 = CheckStateArray(s2, "vector_combine");
	int			dim1 = STATE_DIMS(s1);
	int			dim2 = STATE_DIMS(s2);
	float8	   *sums;

	/* an empty state (no rows yet) has no dimensions */
	if (dim1 == 0 || dim2 == 0)
	{
		int			dim = Max(dim1, dim2);

		if (dim > 0)
			CheckDim(dim);
		PG_RETURN_ARRAYTYPE_P(MakeState(v1[0] + v2[0], dim1 ? v1 + 1 : v2 + 1, dim));
	}

	CheckDim(dim1);
	CheckExpectedDim(dim1, dim2);
	sums = palloc(sizeof(float8) * dim1);
	for (int i = 0; i < dim1; i++)
		sums[i] = v1[i + 1] + v2[i + 1];
	PG_RETURN_ARRAYTYPE_P(MakeState(v1[0] + v2[0], sums, dim1));
}

PG_FUNCTION_INFO_V1(vector_avg);
/* avg(vector) final: sums / n, NULL for no rows */
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	float8	   *sv = CheckStateArray(state, "vector_avg");
	float8		n = sv[0];
	int			dim = STATE_DIMS(state);
	Vector	   *result;

	if (n == 0.0)
		PG_RETURN_NULL();
	CheckDim(dim);
	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (float) (sv[i + 1] / n);
		CheckElement(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}
