/*-------------------------------------------------------------------------
 *
 * quant.c
 *	  ggml type table and block dequantisers.
 *
 * F32 rows are copied as they are, so the host must be little-endian, like
 * the files.  Each dequantiser evaluates the products in the same order as
 * ggml's reference C code (for example (d * scale) * q for Q6_K), so
 * results are bitwise identical to ggml's on a target without fused
 * multiply-add contraction.  Builds that enable FMA (-march=native with
 * -ffp-contract=fast) may differ in the last bit for Q4_K.
 *
 * src/core/kernels/quant.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/kernels/quant.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/kernels/fp16.h"

#define QK_K 256

/*
 * Sizes from the GGUF specification's ggml_type list and ggml's type
 * traits; removed ids (4, 5, 31-33, 36-38) have no entry.
 */
static const GgmlTypeInfo type_table[GGML_TYPE_COUNT] = {
	[GGML_TYPE_F32] = {"F32", 1, 4, true},
	[GGML_TYPE_F16] = {"F16", 1, 2, true},
	[GGML_TYPE_Q4_0] = {"Q4_0", 32, 18, true},
	[GGML_TYPE_Q4_1] = {"Q4_1", 32, 20, false},
	[GGML_TYPE_Q5_0] = {"Q5_0", 32, 22, true},
	[GGML_TYPE_Q5_1] = {"Q5_1", 32, 24, false},
	[GGML_TYPE_Q8_0] = {"Q8_0", 32, 34, true},
	[GGML_TYPE_Q8_1] = {"Q8_1", 32, 36, false},
	[GGML_TYPE_Q2_K] = {"Q2_K", QK_K, 84, false},
	[GGML_TYPE_Q3_K] = {"Q3_K", QK_K, 110, false},
	[GGML_TYPE_Q4_K] = {"Q4_K", QK_K, 144, true},
	[GGML_TYPE_Q5_K] = {"Q5_K", QK_K, 176, true},
	[GGML_TYPE_Q6_K] = {"Q6_K", QK_K, 210, true},
	[GGML_TYPE_Q8_K] = {"Q8_K", QK_K, 292, false},
	[GGML_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 66, false},
	[GGML_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 74, false},
	[GGML_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 98, false},
	[GGML_TYPE_IQ1_S] = {"IQ1_S", QK_K, 50, false},
	[GGML_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, false},
	[GGML_TYPE_IQ3_S] = {"IQ3_S", QK_K, 110, false},
	[GGML_TYPE_IQ2_S] = {"IQ2_S", QK_K, 82, false},
	[GGML_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 136, false},
	[GGML_TYPE_I8] = {"I8", 1, 1, false},
	[GGML_TYPE_I16] = {"I16", 1, 2, false},
	[GGML_TYPE_I32] = {"I32", 1, 4, false},
	[GGML_TYPE_I64] = {"I64", 1, 8, false},
	[GGML_TYPE_F64] = {"F64", 1, 8, false},
	[GGML_TYPE_IQ1_M] = {"IQ1_M", QK_K, 56, false},
	[GGML_TYPE_BF16] = {"BF16", 1, 2, true},
	[GGML_TYPE_TQ1_0] = {"TQ1_0", QK_K, 54, false},
	[GGML_TYPE_TQ2_0] = {"TQ2_0", QK_K, 66, false},
	[GGML_TYPE_MXFP4] = {"MXFP4", 32, 17, false},
};

/* Look up a type's layout */
const GgmlTypeInfo *
quant_type_info(uint32_t t)
{
	if (t >= GGML_TYPE_COUNT || type_table[t].name == NULL)
		return NULL;
	return &type_table[t];
}

/* Name a type id */
const char *
quant_type_name(uint32_t t)
{
	const GgmlTypeInfo *info = quant_type_info(t);

	return info ? info->name : "unknown";
}


/* F16 values to float */
void
dequant_f16(const uint8_t *src, float *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = fp16_to_fp32(fp16_read_le16(src + 2 * i));
}

/* BF16 values to float */
void
dequant_bf16(const uint8_t *src, float *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = bf16_to_fp32(fp16_read_le16(src + 2 * i));
}

/* Q8_0 blocks to float: x[j] = d * q[j] */
void
dequant_q8_0(const uint8_t *src, float *dst, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
	{
		const uint8_t *blk = src + b * 34;
		float		d = fp16_to_fp32(fp16_read_le16(blk));

		for (int j = 0; j < 32; j++)
			dst[j] = d * (float) (int8_t) blk[2 + j];
		dst += 32;
	}
}

/* Q4_0 blocks to float: low nibbles are x[0..15], high nibbles x[16..31] */
void
dequant_q4_0(const uint8_t *src, float *dst, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
	{
		const uint8_t *blk = src + b * 18;
		const uint8_t *qs = blk + 2;
		float		d = fp16_to_fp32(fp16_read_le16(blk));

		for (int j = 0; j < 16; j++)
		{
			dst[j] = (float) ((qs[j] & 0x0F) - 8) * d;
			dst[j + 16] = (float) ((qs[j] >> 4) - 8) * d;
		}
		dst += 32;
	}
}

/* Q5_0 blocks to float: Q4_0 nibbles plus a fifth bit from qh, offset 16 */
void
dequant_q5_0(const uint8_t *src, float *dst, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
	{
		const uint8_t *blk = src + b * 22;
		const uint8_t *qs = blk + 6;
		float		d = fp16_to_fp32(fp16_read_le16(blk));
		uint32_t	qh = (uint32_t) blk[2] | ((uint32_t) blk[3] << 8) |
			((uint32_t) blk[4] << 16) | ((uint32_t) blk[5] << 24);

		for (int j = 0; j < 16; j++)
		{
			int			lo = (qs[j] & 0x0F) | (int) (((qh >> j) & 1) << 4);
			int			hi = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);

			dst[j] = (float) (lo - 16) * d;
			dst[j + 16] = (float) (hi - 16) * d;
		}
		dst += 32;
	}
}

/*
 * Unpack the 6-bit scale and min of sub-block j (0..7) from the 12 packed
 * bytes of a Q4_K super-block: sub-blocks 0-3 use the low 6 bits of bytes
 * j and j+4; sub-blocks 4-7 take 4 bits from byte j+4 and their top 2 bits
 * from the spare high bits of bytes j-4 (scale) and j (min).
 */
static void
q4k_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
	if (j < 4)
	{
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	}
	else
	{
		*sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
		*m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
	}
}

/*
 * Q4_K and Q5_K super-blocks to float.  Group g (64 values) uses
 * qs[32g..32g+31]: low nibbles with sub-block 2g, high nibbles with
 * sub-block 2g+1; x = (d * sc) * q - (dmin * m).  Q5_K (d, dmin, scales,
 * qh[32], qs[128]) adds a fifth bit to each q: bit 2g of qh[l] for value l
 * of the group's first half, bit 2g+1 for its second half.
 */
static void
dequant_k45(const uint8_t *src, float *dst, size_t nb, int q5)
{
	size_t		bsize = q5 ? 176 : 144;

	for (size_t b = 0; b < nb; b++)
	{
		const uint8_t *blk = src + b * bsize;
		float		d = fp16_to_fp32(fp16_read_le16(blk));
		float		dmin = fp16_to_fp32(fp16_read_le16(blk + 2));
		const uint8_t *scales = blk + 4;
		const uint8_t *qh = blk + 16;
		const uint8_t *qs = blk + (q5 ? 48 : 16);

		for (int g = 0; g < 4; g++)
		{
			int			sc,
						m;
			float		d1,
						m1,
						d2,
						m2;

			q4k_scale_min(2 * g, scales, &sc, &m);
			d1 = d * (float) sc;
			m1 = dmin * (float) m;
			q4k_scale_min(2 * g + 1, scales, &sc, &m);
			d2 = d * (float) sc;
			m2 = dmin * (float) m;
			for (int l = 0; l < 32; l++)
			{
				int			lo = qs[32 * g + l] & 0x0F;
				int			hi = qs[32 * g + l] >> 4;

				if (q5)
				{
					lo |= ((qh[l] >> (2 * g)) & 1) << 4;
					hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
				}
				dst[64 * g + l] = d1 * (float) lo - m1;
				dst[64 * g + 32 + l] = d2 * (float) hi - m2;
			}
		}
		dst += QK_K;
	}
}

void
dequant_q4_k(const uint8_t *src, float *dst, size_t nb)
{
	dequant_k45(src, dst, nb, 0);
}

void
dequant_q5_k(const uint8_t *src, float *dst, size_t nb)
{
	dequant_k45(src, dst, nb, 1);
}

/*
 * Q6_K super-blocks to float.  Each half n (128 values) uses ql[64n..],
 * qh[32n..] and scales[8n..]; a 6-bit value is 4 bits of ql plus 2 bits of
 * qh, minus 32; x = (d * scale) * q with one int8 scale per 16 values.
 */
void
dequant_q6_k(const uint8_t *src, float *dst, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
	{
		const uint8_t *blk = src + b * 210;
		float		d = fp16_to_fp32(fp16_read_le16(blk + 208));

		for (int n = 0; n < 2; n++)
		{
			const uint8_t *ql = blk + 64 * n;
			const uint8_t *qh = blk + 128 + 32 * n;
			const int8_t *sc = (const int8_t *) (blk + 192 + 8 * n);
			float	   *y = dst + 128 * n;

			for (int l = 0; l < 32; l++)
			{
				int			is = l / 16;
				int			q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
				int			q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
				int			q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				int			q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;

				y[l] = (d * (float) sc[is]) * (float) q1;
				y[l + 32] = (d * (float) sc[is + 2]) * (float) q2;
				y[l + 64] = (d * (float) sc[is + 4]) * (float) q3;
				y[l + 96] = (d * (float) sc[is + 6]) * (float) q4;
			}
		}
		dst += QK_K;
	}
}

/* Dequantise n values of any supported type */
PgiStatus
quant_dequantize(uint32_t t, const void *src, size_t n, float *dst,
				 PgiError *err)
{
	const GgmlTypeInfo *info = quant_type_info(t);
	const uint8_t *s = src;
	size_t		nb;

	if (info == NULL || !info->dequant)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						   "Supported types are F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K.",
						   "dequantisation of ggml type %s (%u) is not supported",
						   quant_type_name(t), (unsigned) t);
	if (n % info->blck_size != 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL,
						   "%zu values is not a whole number of %s blocks of %u",
						   n, info->name, (unsigned) info->blck_size);
	nb = n / info->blck_size;

	switch ((GgmlType) t)
	{
		case GGML_TYPE_F32:
			if (n > 0)
				memcpy(dst, s, n * sizeof(float));
			break;
		case GGML_TYPE_F16:
			dequant_f16(s, dst, n);
			break;
		case GGML_TYPE_BF16:
			dequant_bf16(s, dst, n);
			break;
		case GGML_TYPE_Q8_0:
			dequant_q8_0(s, dst, nb);
			break;
		case GGML_TYPE_Q4_0:
			dequant_q4_0(s, dst, nb);
			break;
		case GGML_TYPE_Q5_0:
			dequant_q5_0(s, dst, nb);
			break;
		case GGML_TYPE_Q4_K:
			dequant_q4_k(s, dst, nb);
			break;
		case GGML_TYPE_Q5_K:
			dequant_q5_k(s, dst, nb);
			break;
		case GGML_TYPE_Q6_K:
			dequant_q6_k(s, dst, nb);
			break;
		default:
			/* the table's dequant flags and this switch must agree */
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
							   "dequantisation of ggml type %s is not supported",
							   info->name);
	}
	return PGI_OK;
}
