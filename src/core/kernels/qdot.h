/*-------------------------------------------------------------------------
 *
 * qdot.h
 *	  Matrix-vector products on weights kept in their ggml blocks.
 *
 * A decoder streams every weight once per generated token, so its speed is
 * the memory bandwidth divided by the bytes of the weights: quantised
 * weights are multiplied in their blocks, never dequantised into a float
 * matrix.  As in ggml, the activations are quantised too, per row, to
 * 8-bit blocks with one scale each, and each block product is an integer
 * dot product scaled once:
 *
 *	weights Q8_0, Q4_0, Q5_0 (blocks of 32): activations QDOT_A8 blocks of
 *		32, scale amax/127 rounded to fp16, values rounded to nearest even;
 *	weights Q4_K, Q5_K, Q6_K (super-blocks of 256): activations QDOT_A8K
 *		blocks of 256, float scale max/-127, plus the sums of each 16
 *		values (the K-quants' per-sub-block minimums need them);
 *	weights F32, F16, BF16: activations stay float.
 *
 * qdot_matmul multiplies m activation rows by the rows [r0, r1) of one
 * weight matrix, reading each weight row once for all m activation rows:
 * the same pass serves a prompt's tokens or the rows of a batch being
 * decoded together.  With AVX-512 VNNI, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and
 * Q6_K weights against several activation rows run as tiles of 4 x 4
 * (qdot_x86.c) that load and unpack each weight block (and the K-quants'
 * sub-block scales) once for 4 activation rows, with results identical to
 * the row kernels' bit for bit.
 *
 * src/core/kernels/qdot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef QDOT_H
#define QDOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a weight type wants its activations */
typedef enum QdotAct
{
	QDOT_FLOAT = 0,				/* float rows */
	QDOT_A8 = 1,				/* blocks of 32: float d, int8 q[32] */
	QDOT_A8K = 2				/* blocks of 256: float d, int8 q[256], int16 sums[16] */
} QdotAct;

/* Bytes of one quantised activation block, and values per block */
#define QDOT_A8_BLOCK		32
#define QDOT_A8_BYTES		36
#define QDOT_A8K_BLOCK		256
#define QDOT_A8K_BYTES		(4 + 256 + 32)

/* A weight matrix (rows, cols) in a ggml type, rows of row_bytes */
typedef struct QMat
{
	const uint8_t *data;
	uint32_t	type;			/* GgmlType */
	int32_t		rows;			/* ne[1]: outputs */
	int32_t		cols;			/* ne[0]: inputs, the contiguous dimension */
	size_t		row_bytes;
	uint8_t		panels;			/* F32 stored as gemm.h panels (llama.c multiplies) */
} QMat;

/* Whether qdot multiplies weights of this ggml type */
extern bool qdot_supported(uint32_t type);

/* The activation form a weight type needs */
extern QdotAct qdot_act(uint32_t type);

/* Bytes of one activation row of cols values in form a */
extern size_t qdot_act_row_bytes(QdotAct a, int cols);

/*
 * Quantise m float rows of x (cols each, row stride ldx floats) to dst,
 * qdot_act_row_bytes(a, cols) bytes per row (a copy for QDOT_FLOAT)
 */
extern void qdot_quantize(QdotAct a, const float *x, int ldx, int m, int cols, uint8_t *dst);

/*
 * out[i * ldo + r] = row r of w . activation row i, for r in [r0, r1) and
 * i in [0, m); act holds m rows quantised for w's type (qdot_quantize).
 * streaming: the weights come from memory, not the caches (a model larger
 * than QDOT_STREAMING_BYTES), which changes the order rows are read in,
 * never the results.
 */
#define QDOT_STREAMING_BYTES ((size_t) 24 << 20)
extern void qdot_matmul(const QMat *w, const uint8_t *act, int m, float *out, int ldo,
						int r0, int r1, int streaming);

/* Dequantise row r of w into out (cols floats) */
extern void qdot_row(const QMat *w, int r, float *out);

/* Name of the kernels in use ("avx2", "portable") and a switch for tests */
extern const char *qdot_isa(void);
extern int	qdot_force_isa(const char *isa);

#endif							/* QDOT_H */
