/*-------------------------------------------------------------------------
 *
 * image.h
 *	  Image input for vision encoders: PNG and JPEG decoding with Debian's
 *	  libpng and libjpeg-turbo into 8-bit RGB, and the preprocessing of
 *	  Hugging Face's CLIPImageProcessor (resize of the shortest side,
 *	  centre crop, rescale, normalise) into the float tensor a model reads.
 *
 * Decoding gives what Pillow's Image.open(...).convert("RGB") gives, which
 * is what the Hugging Face processors see:
 *	- grey and grey+alpha are replicated into R, G, B; palettes are looked
 *	  up; alpha is dropped (not composited), as convert("RGB") does;
 *	- 1, 2 and 4-bit samples are scaled to 0..255 (bit replication);
 *	- 16-bit samples keep their high byte (Pillow does the same for RGB;
 *	  for 16-bit grey Pillow clips the value to 255 instead, which makes
 *	  most such images white: we keep the high byte);
 *	- gamma chunks, ICC profiles and EXIF orientation are ignored, as by
 *	  Pillow's open and the Hugging Face processors (a photo whose camera
 *	  stored it sideways with an orientation tag is seen sideways);
 *	- JPEG: libjpeg-turbo's default (accurate integer) IDCT and fancy
 *	  upsampling, grey or YCbCr; CMYK / YCCK JPEGs are not supported; a
 *	  truncated JPEG is an error (libjpeg would fill the rest with grey).
 * Only PNG and JPEG are read (by their signatures); anything else is
 * PGI_ERR_UNSUPPORTED; malformed or truncated data is PGI_ERR_BINARY.
 *
 * Memory: image_probe() reads the header only, so the caller can refuse an
 * image of more than max_pixels pixels (PGI_ERR_LIMIT, a decompression-bomb
 * guard) before allocating width * height * 3 bytes for image_decode().
 * The libraries' own allocations are bounded (libpng's chunk limits,
 * libjpeg's max_memory_to_use) and freed before returning, on every path.
 * cancel (may be NULL) is polled between rows / scans; when it returns
 * nonzero the decode stops, frees what it holds and returns PGI_ERR_IO.
 *
 * src/core/images/image.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

/* Images wider or taller than this are refused whatever the pixel limit */
#define IMAGE_MAX_SIDE		65535

typedef enum ImageFormat
{
	IMAGE_PNG = 1,
	IMAGE_JPEG = 2
} ImageFormat;

typedef struct ImageInfo
{
	ImageFormat format;
	int32_t		width;
	int32_t		height;
} ImageInfo;

/* Format and size from the header; PGI_ERR_LIMIT above max_pixels */
extern PgiStatus image_probe(const uint8_t *data, size_t len, int64_t max_pixels,
							 ImageInfo *info, PgiError *err);

/* Decode into rgb (height, width, 3) as image_probe() described it */
extern PgiStatus image_decode(const uint8_t *data, size_t len, const ImageInfo *info,
							  uint8_t *rgb, int (*cancel) (void *), void *cancel_arg,
							  PgiError *err);

/* ------------------------------------------------------------ preprocessing */

/* Resampling filters, numbered as Pillow's (and preprocessor_config.json's) */
typedef enum ImageResample
{
	IMAGE_NEAREST = 0,			/* not supported */
	IMAGE_LANCZOS = 1,
	IMAGE_BILINEAR = 2,
	IMAGE_BICUBIC = 3,
	IMAGE_BOX = 4,
	IMAGE_HAMMING = 5
} ImageResample;

/* A CLIPImageProcessor's settings (preprocessor_config.json) */
typedef struct ImagePrep
{
	int32_t		do_resize;
	int32_t		shortest_edge;	/* resize the shorter side to this */
	int32_t		resample;		/* ImageResample */
	int32_t		do_center_crop;
	int32_t		crop_height;
	int32_t		crop_width;
	int32_t		do_rescale;
	double		rescale_factor;
	int32_t		do_normalize;
	float		mean[3];
	float		std[3];
	int32_t		out_height;		/* the model's input size: the result must */
	int32_t		out_width;		/* have it (checked per image) */
} ImagePrep;

/* Check settings (supported filter, positive sizes, finite non-zero std) */
extern PgiStatus image_prep_check(const ImagePrep *p, PgiError *err);

/* Height and width after the resize step (the input's when no resize) */
extern void image_resized_size(const ImagePrep *p, int32_t width, int32_t height,
							   int32_t *out_w, int32_t *out_h);

/* Bytes of scratch memory image_preprocess() needs for this input size */
extern size_t image_prep_scratch_bytes(const ImagePrep *p, int32_t width, int32_t height);

/*
 * rgb (height, width, 3) -> out (3, out_height, out_width) floats, channel
 * first: Pillow's resampling of the shortest side (8-bit fixed point, two
 * passes, exactly as Image.resize), Hugging Face's centre crop (top-left
 * corner at ((h - ch) // 2, (w - cw) // 2)), then (x * rescale - mean) / std.
 * PGI_ERR_DATA when the result would not be out_height x out_width.
 */
extern PgiStatus image_preprocess(const ImagePrep *p, const uint8_t *rgb, int32_t width,
								  int32_t height, uint8_t *scratch, float *out,
								  PgiError *err);

/*
 * Pillow's Image.resize(..., resample) of an 8-bit image of 'channels'
 * interleaved channels: src (h, w, c) -> dst (oh, ow, c); tmp holds
 * ow * h * channels bytes.  Coefficient tables are malloc'd and freed.
 */
extern PgiStatus image_resize(const uint8_t *src, int32_t w, int32_t h, int channels,
							  uint8_t *dst, int32_t ow, int32_t oh, ImageResample filter,
							  uint8_t *tmp, PgiError *err);

#endif							/* IMAGE_H */
