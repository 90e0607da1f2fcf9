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
				tile_q4_0,
				tile_q5_0,
				tile_q4_k,
				tile_q5_k,
				tile_q6_k;
} QdotKernels;

/*
 * The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block:
 * bytes 0..3 hold sc[0..3] and bytes 4..7 mn[0..3] in their low 6 bits, and
 * the top 2 bits of sc[4..7] / mn[4..7], whose low 4 bits are the nibbles
 * of bytes 8..11.  Done on 32-bit words, 4 sub-blocks at a time.
 */
static inline void
qdot_k_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8])
{
	const uint32_t low6 = 0x3F3F3F3F,
				low4 = 0x0F0F0F0F,
				low2 = 0x03030303;
	uint32_t	u[3],
				v[4];

	memcpy(u, s, sizeof(u));
	v[0] = u[0] & low6;
	v[1] = (u[2] & low4) | (((u[0] >> 6) & low2) << 4);
	v[2] = u[1] & low6;
	v[3] = ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4);
	memcpy(sc, v, 8);
	memcpy(mn, v + 2, 8);
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
