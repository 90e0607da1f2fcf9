/*-------------------------------------------------------------------------
 *
 * qdot_impl.h
 *	  The kernel table shared by qdot.c (portable kernels, dispatch) and
 *	  qdot_x86.c (AVX2 kernels).  Internal to src/core/kernels.
 *
 * src/core/kernels/qdot_impl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef QDOT_IMPL_H
#define QDOT_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/kernels/qdot.h"

/*
 * Rows w, w + row_bytes, ... (nr of them, nr <= QDOT_ROWS) of n values,
 * each . one activation row a (qdot.h forms): out[0..nr)
 */
#define QDOT_ROWS 4
typedef void (*QdotFn) (int n, const uint8_t *w, size_t row_bytes, int nr, const uint8_t *a,
						float *out);

/*
 * Rows w, w + row_bytes, ... (nr <= QDOT_ROWS) times m activation rows
 * act, act + act_row_bytes, ...: out[i * ldo + r], each weight block read
 * once for all m rows.  Every value equals the row kernel's bit for bit.
 */
typedef void (*QdotTileFn) (int n, const uint8_t *w, size_t row_bytes, int nr, const uint8_t *act,
							size_t act_row_bytes, int m, float *out, int ldo);

/* The dot products of one instruction set */
typedef struct QdotKernels
{
	const char *name;
	QdotFn		f32,
				f16,
				bf16,
				q8_0,
				q4_0,
				q5_0,
				q4_k,
				q5_k,
				q6_k;
	QdotTileFn	tile_q8_0,		/* NULL: row kernels only */
				tile_q4_0;
} QdotKernels;

/* The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block */
static inline void
qdot_k_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8])
{
	for (int j = 0; j < 4; j++)
	{
		sc[j] = s[j] & 63;
		mn[j] = s[j + 4] & 63;
		sc[j + 4] = (uint8_t) ((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
		mn[j + 4] = (uint8_t) ((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
	}
}

/* Sum over sub-blocks s of mn[s] * (the activations' sum over sub-block s) of an A8K block */
static inline int
qdot_k_mins(const uint8_t *a, const uint8_t mn[8])
{
	int16_t		sums[16];
	int			m = 0;

	memcpy(sums, a + 4 + QDOT_A8K_BLOCK, sizeof(sums));
	for (int s = 0; s < 8; s++)
		m += mn[s] * (sums[2 * s] + sums[2 * s + 1]);
	return m;
}

/* Quantise one A8 block of 32 floats (qdot.h), or NULL when not AVX2 */
typedef void (*QdotA8Fn) (const float *x, uint8_t *dst);
extern QdotA8Fn qdot_avx2_a8(void);

/* The AVX2 kernels, or NULL when the CPU lacks AVX2, FMA or F16C */
extern const QdotKernels *qdot_avx2_kernels(void);

/* The same plus AVX-512 VNNI tiles, or NULL when the CPU lacks AVX512_VNNI / VL */
extern const QdotKernels *qdot_vnni_kernels(void);

#endif							/* QDOT_IMPL_H */
