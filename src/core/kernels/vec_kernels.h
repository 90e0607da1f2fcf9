/*-------------------------------------------------------------------------
 *
 * vec_kernels.h
 *	  Distance kernels over float vectors, dispatched at run time to
 *	  AVX-512, AVX2+FMA or portable C.
 *
 * src/core/kernels/vec_kernels.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VEC_KERNELS_H
#define VEC_KERNELS_H

typedef enum VkIsa
{
	VK_ISA_PORTABLE = 0,
	VK_ISA_AVX2,				/* AVX2 + FMA */
	VK_ISA_AVX512				/* AVX-512F */
} VkIsa;

/* Best ISA this CPU supports (resolved once, lazily) */
extern VkIsa vk_best_isa(void);

/* Use isa for later calls if the CPU supports it; returns the ISA in use */
extern VkIsa vk_set_isa(VkIsa isa);

extern VkIsa vk_current_isa(void);
extern const char *vk_isa_name(VkIsa isa);

/* sum((a[i] - b[i])^2) over n elements */
extern float vk_l2sq(const float *a, const float *b, int n);

/* sum(a[i] * b[i]) */
extern float vk_dot(const float *a, const float *b, int n);

/* sum(|a[i] - b[i]|) */
extern float vk_l1(const float *a, const float *b, int n);

/* dot = a.b, na = a.a, nb = b.b in one pass */
extern void vk_cos_parts(const float *a, const float *b, int n,
						 float *dot, float *na, float *nb);

/* 1 - a.b / sqrt(a.a * b.b), clamped to [0, 2]; NaN for a zero vector */
extern double vk_cosine_distance(const float *a, const float *b, int n);

/* sqrt(sum(a[i]^2)) accumulated in double */
extern double vk_norm(const float *a, int n);

#endif							/* VEC_KERNELS_H */
