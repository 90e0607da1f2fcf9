/*-------------------------------------------------------------------------
 *
 * source_tensor.h
 *	  A tensor of a model's source files, found by name: what every
 *	  architecture's loader reads (GGUF or safetensors behind a callback).
 *
 * src/core/models/source_tensor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_TENSOR_H
#define SOURCE_TENSOR_H

#include <stdint.h>

#include "core/pgi_status.h"

/* A source tensor, found by name (shape row-major: shape[0] outermost) */
typedef struct PgimTensor
{
	uint32_t	type;			/* GgmlType id (safetensors F32/F16/BF16 mapped) */
	int			n_dims;
	int64_t		shape[4];
	const uint8_t *data;
} PgimTensor;

/* Find a tensor by name: PGI_OK and *found; errors only for bad files */
typedef PgiStatus (*PgimFindFn) (void *arg, const char *name, PgimTensor *out,
								 int *found, PgiError *err);

#endif							/* SOURCE_TENSOR_H */
