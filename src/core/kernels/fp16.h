/*-------------------------------------------------------------------------
 *
 * fp16.h
 *	  Exact conversions of IEEE half precision (F16) and bfloat16 (BF16)
 *	  to float.
 *
 * Both conversions are exact: every F16 and BF16 value is representable as
 * a float.  F16 subnormals become normal floats, infinities stay infinite,
 * and NaNs stay NaN with their sign and payload (shifted into the top of the
 * float mantissa, so a quiet NaN stays quiet).  BF16 is the top half of a
 * float, so its conversion is a shift.
 *
 * src/core/kernels/fp16.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FP16_H
#define FP16_H

#include <stdint.h>
#include <string.h>

/* Reinterpret 32 bits as a float */
static inline float
fp16_bits_to_float(uint32_t bits)
{
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Convert IEEE binary16 bits to float, exactly */
static inline float
fp16_to_fp32(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1F;
	uint32_t	mant = h & 0x3FF;

	if (exp == 0x1F)			/* infinity or NaN */
		return fp16_bits_to_float(sign | 0x7F800000 | (mant << 13));
	if (exp != 0)				/* normal: rebias 15 -> 127 */
		return fp16_bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
	if (mant == 0)				/* signed zero */
		return fp16_bits_to_float(sign);

	/*
	 * Subnormal: mant * 2^-24.  Shift until the implicit bit (bit 10) is
	 * set; each shift lowers the exponent by one.  2^-14 has float exponent
	 * field 113, so the result's field is 113 minus the number of shifts.
	 */
	exp = 113;
	while ((mant & 0x400) == 0)
	{
		mant <<= 1;
		exp--;
	}
	return fp16_bits_to_float(sign | (exp << 23) | ((mant & 0x3FF) << 13));
}

/* Convert bfloat16 bits to float, exactly */
static inline float
bf16_to_fp32(uint16_t h)
{
	return fp16_bits_to_float((uint32_t) h << 16);
}

/* Read a little-endian 16-bit value from unaligned memory */
static inline uint16_t
fp16_read_le16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

#endif							/* FP16_H */
