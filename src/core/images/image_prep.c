/*-------------------------------------------------------------------------
 *
 * image_prep.c
 *	  Resampling as Pillow's Image.resize does it, and Hugging Face's
 *	  CLIPImageProcessor steps on top (see image.h).
 *
 * Pillow resamples 8-bit images in two separable passes, horizontal then
 * vertical, each output sample a weighted sum of input samples: the filter
 * (bicubic with a = -0.5, bilinear, ...) is stretched by the scale factor
 * when shrinking (so it averages, antialiasing), the weights of each output
 * sample are normalised to sum to 1, then rounded to fixed point with 22
 * fractional bits; sums start at one half and are shifted back and clamped
 * to 0..255 after each pass.  Reproducing that arithmetic exactly gives the
 * same bytes as Pillow, so a model sees the pixels it was trained on.
 * Output samples are independent, so the crop window alone is computed.
 *
 * src/core/images/image_prep.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/images/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIX_BITS	22			/* 32 - 8 bits of result - 2 of headroom */

typedef double (*FilterFn) (double x);

static double
filter_box(double x)
{
	return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

static double
filter_bilinear(double x)
{
	x = fabs(x);
	return x < 1.0 ? 1.0 - x : 0.0;
}

static double
filter_hamming(double x)
{
	x = fabs(x);
	if (x == 0.0)
		return 1.0;
	if (x >= 1.0)
		return 0.0;
	x *= M_PI;
	return sin(x) / x * (0.54f + 0.46f * cos(x));
}

/* Keys' cubic convolution with a = -0.5 */
static double
filter_bicubic(double x)
{
	const double a = -0.5;

	x = fabs(x);
	if (x < 1.0)
		return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0.0;
}

static double
sinc(double x)
{
	if (x == 0.0)
		return 1.0;
	x *= M_PI;
	return sin(x) / x;
}

static double
filter_lanczos(double x)
{
	return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

/* A filter and its support radius, or NULL for an unsupported number */
static FilterFn
filter_of(int resample, double *support)
{
	switch (resample)
	{
		case IMAGE_BOX:
			*support = 0.5;
			return filter_box;
		case IMAGE_BILINEAR:
			*support = 1.0;
			return filter_bilinear;
		case IMAGE_HAMMING:
			*support = 1.0;
			return filter_hamming;
		case IMAGE_BICUBIC:
			*support = 2.0;
			return filter_bicubic;
		case IMAGE_LANCZOS:
			*support = 3.0;
			return filter_lanczos;
	}
	return NULL;
}

/*
 * Fixed-point weights of output samples first .. first+n-1 of a resize
 * from in_size to out_size: for output i, taps k[i*ksize ..] applied to
 * input samples lo[i] .. lo[i]+cnt[i]-1
 */
typedef struct Taps
{
	int			ksize;
	int32_t    *lo;
	int32_t    *cnt;
	int32_t    *k;
} Taps;

static void
taps_free(Taps *t)
{
	free(t->lo);
	free(t->cnt);
	free(t->k);
}

static PgiStatus
taps_make(int32_t in_size, int32_t out_size, int32_t first, int32_t n, FilterFn f,
		  double fsupport, Taps *t, PgiError *err)
{
	double		scale = (double) in_size / out_size;
	double		fscale = scale < 1.0 ? 1.0 : scale;
	double		support = fsupport * fscale;
	double		ss = 1.0 / fscale;
	double	   *w;

	memset(t, 0, sizeof(*t));
	t->ksize = (int) ceil(support) * 2 + 1;
	t->lo = malloc(sizeof(int32_t) * n);
	t->cnt = malloc(sizeof(int32_t) * n);
	t->k = malloc(sizeof(int32_t) * (size_t) n * t->ksize);
	w = malloc(sizeof(double) * t->ksize);
	if (!t->lo || !t->cnt || !t->k || !w)
	{
		taps_free(t);
		free(w);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory resizing an image");
	}
	for (int32_t i = 0; i < n; i++)
	{
		double		center = (first + i + 0.5) * scale;
		double		sum = 0.0;
		int32_t		lo = (int32_t) (center - support + 0.5);
		int32_t		hi = (int32_t) (center + support + 0.5);
		int32_t    *k = t->k + (size_t) i * t->ksize;

		if (lo < 0)
			lo = 0;
		if (hi > in_size)
			hi = in_size;
		for (int32_t x = 0; x < hi - lo; x++)
		{
			w[x] = f((x + lo - center + 0.5) * ss);
			sum += w[x];
		}
		for (int32_t x = 0; x < hi - lo; x++)
		{
			double		v = sum != 0.0 ? w[x] / sum : w[x];

			v *= (1 << FIX_BITS);
			k[x] = (int32_t) (v < 0 ? v - 0.5 : v + 0.5);
		}
		t->lo[i] = lo;
		t->cnt[i] = hi - lo;
	}
	free(w);
	return PGI_OK;
}

static inline uint8_t
clamp8(int32_t acc)
{
	int32_t		v = acc >> FIX_BITS;

	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t) v;
}

/*
 * One window of a resize: output columns x0 .. x0+cw-1 and rows y0 ..
 * y0+ch-1 of the (ow, oh) image into dst (ch, cw, channels)
 */
static PgiStatus
resize_window(const uint8_t *src, int32_t w, int32_t h, int c, int32_t ow, int32_t oh,
			  int32_t x0, int32_t y0, int32_t cw, int32_t ch, ImageResample resample,
			  uint8_t *dst, uint8_t *tmp, PgiError *err)
{
	double		support;
	FilterFn	f = filter_of(resample, &support);
	int			horiz = ow != w;
	int			vert = oh != h;
	Taps		th = {0},
				tv = {0};
	int32_t		r0 = y0,
				r1 = y0 + ch;	/* input rows the vertical pass reads */
	const uint8_t *rows;
	PgiStatus	st;

	if (f == NULL && (horiz || vert))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Supported: bicubic (3), bilinear (2), lanczos (1), box (4), hamming (5).",
						 "unsupported resampling filter %d", (int) resample);
	if (vert)
	{
		if ((st = taps_make(h, oh, y0, ch, f, support, &tv, err)) != PGI_OK)
			return st;
		r0 = tv.lo[0];
		r1 = tv.lo[ch - 1] + tv.cnt[ch - 1];
	}
	rows = src;
	if (horiz)
	{
		if ((st = taps_make(w, ow, x0, cw, f, support, &th, err)) != PGI_OK)
		{
			taps_free(&tv);
			return st;
		}
		for (int32_t y = r0; y < r1; y++)
		{
			const uint8_t *in = src + (size_t) y * w * c;
			uint8_t    *out = tmp + (size_t) (y - r0) * cw * c;

			for (int32_t x = 0; x < cw; x++)
			{
				const int32_t *k = th.k + (size_t) x * th.ksize;
				const uint8_t *p = in + (size_t) th.lo[x] * c;

				for (int ch_ = 0; ch_ < c; ch_++)
				{
					int32_t		acc = 1 << (FIX_BITS - 1);

					for (int32_t t = 0; t < th.cnt[x]; t++)
						acc += p[(size_t) t * c + ch_] * k[t];
					out[(size_t) x * c + ch_] = clamp8(acc);
				}
			}
		}
		taps_free(&th);
		rows = tmp;
	}
	else
	{
		/* columns x0.. of the input, rows r0..: point into it */
		rows = NULL;
	}
	for (int32_t y = 0; y < ch; y++)
	{
		uint8_t    *out = dst + (size_t) y * cw * c;

		for (int32_t x = 0; x < cw; x++)
			for (int ch_ = 0; ch_ < c; ch_++)
			{
				/* sample (row r, column x) of the horizontally resized rows */
#define SAMPLE(r) (rows ? rows[((size_t) ((r) - r0) * cw + x) * c + ch_] \
				   : src[((size_t) (r) * w + x0 + x) * c + ch_])
				if (vert)
				{
					const int32_t *k = tv.k + (size_t) y * tv.ksize;
					int32_t		acc = 1 << (FIX_BITS - 1);

					for (int32_t t = 0; t < tv.cnt[y]; t++)
						acc += SAMPLE(tv.lo[y] + t) * k[t];
					out[(size_t) x * c + ch_] = clamp8(acc);
				}
				else
					out[(size_t) x * c + ch_] = SAMPLE(y0 + y);
#undef SAMPLE
			}
	}
	taps_free(&tv);
	return PGI_OK;
}

PgiStatus
image_resize(const uint8_t *src, int32_t w, int32_t h, int channels, uint8_t *dst,
			 int32_t ow, int32_t oh, ImageResample filter, uint8_t *tmp, PgiError *err)
{
	if (w < 1 || h < 1 || ow < 1 || oh < 1 || channels < 1 || channels > 4)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "image_resize: bad sizes");
	return resize_window(src, w, h, channels, ow, oh, 0, 0, ow, oh, filter, dst, tmp, err);
}

/* ------------------------------------------------------------ CLIPImageProcessor */

PgiStatus
image_prep_check(const ImagePrep *p, PgiError *err)
{
	double		support;

	if (p->out_height < 1 || p->out_width < 1 || p->out_height > 8192 || p->out_width > 8192)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "bad model image size %d x %d",
						 p->out_width, p->out_height);
	if (p->do_resize)
	{
		if (p->shortest_edge < 1 || p->shortest_edge > 8192)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "preprocessor: bad shortest_edge %d", p->shortest_edge);
		if (filter_of(p->resample, &support) == NULL)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, "Supported: bicubic (3), bilinear (2), lanczos (1), box (4), hamming (5).",
							 "preprocessor: unsupported resample %d", p->resample);
	}
	if (p->do_center_crop)
	{
		if (p->crop_height != p->out_height || p->crop_width != p->out_width)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "preprocessor: crop_size %d x %d differs from the model's image size %d x %d",
							 p->crop_width, p->crop_height, p->out_width, p->out_height);
		if (p->do_resize && (p->crop_height > p->shortest_edge || p->crop_width > p->shortest_edge))
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
							 "preprocessor: crop_size larger than shortest_edge (padding) is not supported");
	}
	if (p->do_rescale && !(isfinite(p->rescale_factor) && p->rescale_factor > 0))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "preprocessor: bad rescale_factor");
	for (int i = 0; p->do_normalize && i < 3; i++)
		if (!isfinite(p->mean[i]) || !isfinite(p->std[i]) || p->std[i] == 0.0f)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "preprocessor: bad image_mean / image_std");
	return PGI_OK;
}

void
image_resized_size(const ImagePrep *p, int32_t w, int32_t h, int32_t *ow, int32_t *oh)
{
	int32_t		s = w <= h ? w : h;
	int32_t		l = w <= h ? h : w;
	int32_t		nl;

	*ow = w;
	*oh = h;
	if (!p->do_resize)
		return;
	/* transformers: int(size * long / short) */
	nl = (int32_t) ((double) ((int64_t) p->shortest_edge * l) / s);
	if (nl < 1)
		nl = 1;
	*ow = w <= h ? p->shortest_edge : nl;
	*oh = w <= h ? nl : p->shortest_edge;
}

size_t
image_prep_scratch_bytes(const ImagePrep *p, int32_t w, int32_t h)
{
	/* the window (out size) and the horizontal pass's rows (at most h) */
	(void) w;
	return (size_t) p->out_width * p->out_height * 3 + (size_t) p->out_width * h * 3;
}

PgiStatus
image_preprocess(const ImagePrep *p, const uint8_t *rgb, int32_t w, int32_t h,
				 uint8_t *scratch, float *out, PgiError *err)
{
	int32_t		rw,
				rh,
				cw,
				ch,
				x0 = 0,
				y0 = 0;
	size_t		plane = (size_t) p->out_width * p->out_height;
	uint8_t    *win = scratch;
	PgiStatus	st;

	image_resized_size(p, w, h, &rw, &rh);
	cw = rw;
	ch = rh;
	if (p->do_center_crop)
	{
		if (p->crop_width > rw || p->crop_height > rh)
			return pgi_error(err, PGI_ERR_DATA, NULL, "image of %d x %d is smaller than the model's crop %d x %d",
							 rw, rh, p->crop_width, p->crop_height);
		x0 = (rw - p->crop_width) / 2;
		y0 = (rh - p->crop_height) / 2;
		cw = p->crop_width;
		ch = p->crop_height;
	}
	if (cw != p->out_width || ch != p->out_height)
		return pgi_error(err, PGI_ERR_DATA, "The model's preprocessor does not crop: images must have its aspect ratio.",
						 "image of %d x %d becomes %d x %d, not the model's %d x %d",
						 w, h, cw, ch, p->out_width, p->out_height);
	if ((st = resize_window(rgb, w, h, 3, rw, rh, x0, y0, cw, ch,
							(ImageResample) p->resample, win, scratch + plane * 3, err)) != PGI_OK)
		return st;
	for (int c = 0; c < 3; c++)
		for (size_t i = 0; i < plane; i++)
		{
			float		v = win[i * 3 + c];

			if (p->do_rescale)
				v = (float) (win[i * 3 + c] * p->rescale_factor);
			if (p->do_normalize)
				v = (v - p->mean[c]) / p->std[c];
			out[c * plane + i] = v;
		}
	return PGI_OK;
}
