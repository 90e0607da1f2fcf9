/*-------------------------------------------------------------------------
 *
 * image_decode.c
 *	  PNG (libpng) and JPEG (libjpeg-turbo) into 8-bit RGB (see image.h).
 *
 * Both libraries report errors by longjmp from their error handlers.  Each
 * decode keeps everything the libraries allocate in one struct that the
 * setjmp path releases, and touches no memory of its caller's but the
 * output rows, so an error mid-image leaks nothing.  Local variables
 * changed after setjmp are volatile or live in that struct.
 *
 * src/core/images/image_decode.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/images/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

/* libpng: ancillary chunks (text, ICC, EXIF...) above this are errors */
#define PNG_CHUNK_MAX		(8 << 20)
/* libjpeg: more scans than this is hostile (legitimate files have < 20) */
#define JPEG_MAX_SCANS		500

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Which decoder, by signature (0 when neither) */
static int
sniff(const uint8_t *data, size_t len)
{
	if (len >= 8 && memcmp(data, png_sig, 8) == 0)
		return IMAGE_PNG;
	if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
		return IMAGE_JPEG;
	return 0;
}

/* Size checks shared by both formats */
static PgiStatus
check_size(ImageInfo *info, int64_t max_pixels, PgiError *err)
{
	int64_t		pixels = (int64_t) info->width * info->height;

	if (info->width < 1 || info->height < 1)
		return pgi_error(err, PGI_ERR_BINARY, NULL, "image has no pixels (%d x %d)",
						 info->width, info->height);
	if (info->width > IMAGE_MAX_SIDE || info->height > IMAGE_MAX_SIDE || pixels > max_pixels)
		return pgi_error(err, PGI_ERR_LIMIT,
						 "Images are limited to pg_infer.max_image_pixels pixels (a guard against decompression bombs).",
						 "image of %d x %d pixels is too large (limit %lld pixels)",
						 info->width, info->height, (long long) max_pixels);
	return PGI_OK;
}

/* ------------------------------------------------------------------ PNG */

typedef struct PngRead
{
	png_structp png;
	png_infop	info;
	const uint8_t *data;
	size_t		len;
	size_t		pos;
	PgiError   *err;
	char		msg[200];
} PngRead;

static void
png_on_error(png_structp png, png_const_charp msg)
{
	PngRead    *r = png_get_error_ptr(png);

	snprintf(r->msg, sizeof(r->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void
png_on_warning(png_structp png, png_const_charp msg)
{
	/* benign: libpng goes on */
	(void) png;
	(void) msg;
}

static void
png_on_read(png_structp png, png_bytep out, size_t n)
{
	PngRead    *r = png_get_io_ptr(png);

	if (n > r->len - r->pos)
		png_error(png, "truncated PNG data");
	memcpy(out, r->data + r->pos, n);
	r->pos += n;
}

/* Create the read structs with bounded memory; false when out of memory */
static int
png_begin(PngRead *r, const uint8_t *data, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, png_on_error, png_on_warning);
	if (r->png == NULL)
		return 0;
	r->info = png_create_info_struct(r->png);
	if (r->info == NULL)
	{
		png_destroy_read_struct(&r->png, NULL, NULL);
		return 0;
	}
	png_set_read_fn(r->png, r, png_on_read);
	png_set_user_limits(r->png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
	png_set_chunk_malloc_max(r->png, PNG_CHUNK_MAX);
	png_set_chunk_cache_max(r->png, 1000);
	return 1;
}

static void
png_end(PngRead *r)
{
	png_destroy_read_struct(&r->png, &r->info, NULL);
}

/*
 * Transformations to 8-bit RGB: palette and low-bit grey expanded, 16-bit
 * to the high byte, alpha (and tRNS) dropped, grey replicated
 */
static void
png_to_rgb8(png_structp png, png_infop info)
{
	int			ct = png_get_color_type(png, info);
	int			depth = png_get_bit_depth(png, info);

	if (ct == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_strip_16(png);
	/* palette expansion turns tRNS into alpha: drop it with the rest */
	if ((ct & PNG_COLOR_MASK_ALPHA) ||
		(ct == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
		png_set_strip_alpha(png);
	if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA)
		png_set_gray_to_rgb(png);
}

static PgiStatus
png_probe(const uint8_t *data, size_t len, ImageInfo *info, PgiError *err)
{
	PngRead		r;

	if (!png_begin(&r, data, len))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading a PNG image");
	if (setjmp(png_jmpbuf(r.png)))
	{
		png_end(&r);
		return pgi_error(err, PGI_ERR_BINARY, NULL, "invalid PNG image: %s", r.msg);
	}
	png_read_info(r.png, r.info);
	info->format = IMAGE_PNG;
	info->width = (int32_t) png_get_image_width(r.png, r.info);
	info->height = (int32_t) png_get_image_height(r.png, r.info);
	png_end(&r);
	return PGI_OK;
}

static PgiStatus
png_decode(const uint8_t *data, size_t len, const ImageInfo *want, uint8_t *rgb,
		   int (*cancel) (void *), void *cancel_arg, PgiError *err)
{
	PngRead		r;
	volatile int canceled = 0;
	int			passes;

	if (!png_begin(&r, data, len))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading a PNG image");
	if (setjmp(png_jmpbuf(r.png)))
	{
		png_end(&r);
		if (canceled)
			return pgi_error(err, PGI_ERR_IO, NULL, "image decoding interrupted");
		return pgi_error(err, PGI_ERR_BINARY, NULL, "invalid PNG image: %s", r.msg);
	}
	png_read_info(r.png, r.info);
	if ((int32_t) png_get_image_width(r.png, r.info) != want->width ||
		(int32_t) png_get_image_height(r.png, r.info) != want->height)
		png_error(r.png, "size differs from the probed size");
	png_to_rgb8(r.png, r.info);
	passes = png_set_interlace_handling(r.png);
	png_read_update_info(r.png, r.info);
	if (png_get_rowbytes(r.png, r.info) != (size_t) want->width * 3)
		png_error(r.png, "unexpected row size after conversion");
	for (int p = 0; p < passes; p++)
		for (int32_t y = 0; y < want->height; y++)
		{
			if (cancel && (y & 63) == 0 && cancel(cancel_arg))
			{
				canceled = 1;
				png_error(r.png, "canceled");
			}
			png_read_row(r.png, rgb + (size_t) y * want->width * 3, NULL);
		}
	png_end(&r);
	return PGI_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct JpegRead
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	struct jpeg_progress_mgr progress;
	jmp_buf		jmp;
	int			(*cancel) (void *);
	void	   *cancel_arg;
	int			canceled;
	char		msg[JMSG_LENGTH_MAX];
} JpegRead;

static void
jpeg_on_error(j_common_ptr c)
{
	JpegRead   *r = (JpegRead *) c->client_data;

	(*c->err->format_message) (c, r->msg);
	longjmp(r->jmp, 1);
}

static void
jpeg_on_message(j_common_ptr c)
{
	/* warnings: libjpeg goes on */
	(void) c;
}

/*
 * Warnings libjpeg goes on after: all but the end of the data, where it
 * would fill the rest of the image with grey (Pillow refuses a truncated
 * file too)
 */
static void
jpeg_on_emit(j_common_ptr c, int level)
{
	JpegRead   *r = (JpegRead *) c->client_data;

	if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
	{
		snprintf(r->msg, sizeof(r->msg), "truncated JPEG data");
		longjmp(r->jmp, 1);
	}
}

/* Polled by libjpeg during decoding: scan limit and cancel */
static void
jpeg_on_progress(j_common_ptr c)
{
	JpegRead   *r = (JpegRead *) c->client_data;

	if (r->cinfo.input_scan_number > JPEG_MAX_SCANS)
	{
		snprintf(r->msg, sizeof(r->msg), "more than %d scans", JPEG_MAX_SCANS);
		longjmp(r->jmp, 1);
	}
	if (r->cancel && r->cancel(r->cancel_arg))
	{
		r->canceled = 1;
		longjmp(r->jmp, 1);
	}
}

/* Set up a decompressor reading data; max_mem bounds libjpeg's pools */
static void
jpeg_begin(JpegRead *r, const uint8_t *data, size_t len, long max_mem)
{
	r->cinfo.err = jpeg_std_error(&r->jerr);
	r->jerr.error_exit = jpeg_on_error;
	r->jerr.output_message = jpeg_on_message;
	r->jerr.emit_message = jpeg_on_emit;
	jpeg_create_decompress(&r->cinfo);
	r->cinfo.client_data = r;
	r->cinfo.mem->max_memory_to_use = max_mem;
	r->progress.progress_monitor = jpeg_on_progress;
	r->cinfo.progress = &r->progress;
	jpeg_mem_src(&r->cinfo, data, (unsigned long) len);
}

static PgiStatus
jpeg_probe(const uint8_t *data, size_t len, ImageInfo *info, PgiError *err)
{
	JpegRead   *r = calloc(1, sizeof(JpegRead));

	if (r == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading a JPEG image");
	if (setjmp(r->jmp))
	{
		PgiStatus	st = pgi_error(err, PGI_ERR_BINARY, NULL, "invalid JPEG image: %s", r->msg);

		jpeg_destroy_decompress(&r->cinfo);
		free(r);
		return st;
	}
	jpeg_begin(r, data, len, 64L << 20);
	jpeg_read_header(&r->cinfo, TRUE);
	info->format = IMAGE_JPEG;
	info->width = (int32_t) r->cinfo.image_width;
	info->height = (int32_t) r->cinfo.image_height;
	jpeg_destroy_decompress(&r->cinfo);
	free(r);
	return PGI_OK;
}

static PgiStatus
jpeg_decode(const uint8_t *data, size_t len, const ImageInfo *want, uint8_t *rgb,
			int (*cancel) (void *), void *cancel_arg, PgiError *err)
{
	JpegRead   *r = calloc(1, sizeof(JpegRead));
	PgiStatus	st;

	if (r == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading a JPEG image");
	r->cancel = cancel;
	r->cancel_arg = cancel_arg;
	if (setjmp(r->jmp))
	{
		if (r->canceled)
			st = pgi_error(err, PGI_ERR_IO, NULL, "image decoding interrupted");
		else
			st = pgi_error(err, PGI_ERR_BINARY, NULL, "invalid JPEG image: %s", r->msg);
		jpeg_destroy_decompress(&r->cinfo);
		free(r);
		return st;
	}
	/* progressive files keep every coefficient: about 2 bytes per sample */
	jpeg_begin(r, data, len, (64L << 20) + 16L * want->width * want->height);
	jpeg_read_header(&r->cinfo, TRUE);
	if ((int32_t) r->cinfo.image_width != want->width ||
		(int32_t) r->cinfo.image_height != want->height)
	{
		snprintf(r->msg, sizeof(r->msg), "size differs from the probed size");
		longjmp(r->jmp, 1);
	}
	if (r->cinfo.jpeg_color_space == JCS_CMYK || r->cinfo.jpeg_color_space == JCS_YCCK)
	{
		jpeg_destroy_decompress(&r->cinfo);
		free(r);
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Convert the image to RGB first.",
						 "CMYK JPEG images are not supported");
	}
	r->cinfo.out_color_space = JCS_RGB;
	jpeg_start_decompress(&r->cinfo);
	if (r->cinfo.output_components != 3 ||
		(int32_t) r->cinfo.output_width != want->width ||
		(int32_t) r->cinfo.output_height != want->height)
	{
		snprintf(r->msg, sizeof(r->msg), "unexpected output geometry");
		longjmp(r->jmp, 1);
	}
	while (r->cinfo.output_scanline < r->cinfo.output_height)
	{
		JSAMPROW	row = rgb + (size_t) r->cinfo.output_scanline * want->width * 3;

		if (cancel && (r->cinfo.output_scanline & 63) == 0 && cancel(cancel_arg))
		{
			r->canceled = 1;
			longjmp(r->jmp, 1);
		}
		jpeg_read_scanlines(&r->cinfo, &row, 1);
	}
	jpeg_finish_decompress(&r->cinfo);
	jpeg_destroy_decompress(&r->cinfo);
	free(r);
	return PGI_OK;
}

/* ------------------------------------------------------------------ entry points */

PgiStatus
image_probe(const uint8_t *data, size_t len, int64_t max_pixels, ImageInfo *info,
			PgiError *err)
{
	PgiStatus	st;

	memset(info, 0, sizeof(*info));
	switch (sniff(data, len))
	{
		case IMAGE_PNG:
			st = png_probe(data, len, info, err);
			break;
		case IMAGE_JPEG:
			st = jpeg_probe(data, len, info, err);
			break;
		default:
			return pgi_error(err, PGI_ERR_UNSUPPORTED,
							 "Images must be PNG or JPEG files (their bytes, e.g. from pg_read_binary_file or a bytea column).",
							 "unrecognised image format (%zu bytes)", len);
	}
	if (st != PGI_OK)
		return st;
	return check_size(info, max_pixels, err);
}

PgiStatus
image_decode(const uint8_t *data, size_t len, const ImageInfo *info, uint8_t *rgb,
			 int (*cancel) (void *), void *cancel_arg, PgiError *err)
{
	if (info->format == IMAGE_PNG && sniff(data, len) == IMAGE_PNG)
		return png_decode(data, len, info, rgb, cancel, cancel_arg, err);
	if (info->format == IMAGE_JPEG && sniff(data, len) == IMAGE_JPEG)
		return jpeg_decode(data, len, info, rgb, cancel, cancel_arg, err);
	return pgi_error(err, PGI_ERR_PARAM, NULL, "image_decode: data is not the probed image");
}
