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

/* Reinterpret a float as 32 bits */
static inline uint32_t
fp16_float_to_bits(float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, sizeof(bits));
	return bits;
}

/*
 * Convert float to IEEE binary16 bits, rounding to nearest even (as the
 * F16C instruction vcvtps2ph and ggml do); overflow gives infinity
 */
static inline uint16_t
fp32_to_fp16(float f)
{
	uint32_t	x = fp16_float_to_bits(f);
	uint32_t	sign = (x >> 16) & 0x8000;
	uint32_t	absx = x & 0x7FFFFFFF;

	if (absx >= 0x7F800000)		/* infinity or NaN (kept quiet) */
		return (uint16_t) (sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
	if (absx >= 0x477FF000)		/* rounds to 65520 or more: infinity */
		return (uint16_t) (sign | 0x7C00);
	if (absx < 0x38800000)		/* below 2^-14: subnormal or zero */
	{
		/* value * 2^24 rounded to an integer, by adding 0.5 in float */
		float		v = fp16_bits_to_float(absx) + 0.5f;

		return (uint16_t) (sign | (fp16_float_to_bits(v) - 0x3F000000));
	}
	/* normal: rebias 127 -> 15 and round the 13 dropped bits to even */
	{
		uint32_t	mant_odd = (absx >> 13) & 1;

		absx += 0xC8000FFF + mant_odd;	/* -112 << 23, plus rounding bias */
		return (uint16_t) (sign | (absx >> 13));
	}
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
