/*
 * test_images.c
 *	  Unit tests of image decoding and preprocessing (src/core/images).
 *
 * References, none of them our C code: build/unit/images, written by
 * test/models/gen_images.py with Pillow and NumPy:
 *	- every PNG colour type / bit depth, interlacing, and JPEG 4:2:0, 4:4:4,
 *	  grey and progressive decode to exactly Pillow's convert("RGB") bytes
 *	  (16-bit grey: the high byte, the documented difference);
 *	- image_resize equals Pillow's Image.resize byte for byte for every
 *	  filter Pillow has but NEAREST, shrinking and enlarging;
 *	- image_preprocess equals the float64 CLIPImageProcessor reference
 *	  within 1e-5;
 * and by construction: hostile inputs (truncations and byte flips of every
 * fixture, a 100,000 x 100,000 header, an unknown format) give an error
 * status, never a crash (the fuzzer goes further).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/images/image.h"
#include "unit.h"

static char dir[512];

static uint8_t *
load(const char *name, size_t *len)
{
	char		path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return read_file(path, len);
}

static int64_t
geti(const JsonValue *o, const char *k)
{
	int64_t		v = -1;

	json_int(json_get(o, k), &v);
	return v;
}

static const char *
gets_(const JsonValue *o, const char *k)
{
	size_t		l;

	return json_str(json_get(o, k), &l);
}

/* Decode a whole file with the default limit; NULL on error (err set) */
static uint8_t *
decode(const uint8_t *data, size_t len, ImageInfo *info, PgiError *err)
{
	uint8_t    *rgb;

	if (image_probe(data, len, 1 << 26, info, err) != PGI_OK)
		return NULL;
	rgb = malloc((size_t) info->width * info->height * 3);
	if (image_decode(data, len, info, rgb, NULL, NULL, err) != PGI_OK)
	{
		free(rgb);
		return NULL;
	}
	return rgb;
}

static void
check_decode(const JsonValue *cases)
{
	for (size_t i = 0; i < json_size(cases); i++)
	{
		const JsonValue *c = json_at(cases, i);
		const char *file = gets_(c, "file");
		size_t		len,
					rlen;
		uint8_t    *data = load(file, &len);
		uint8_t    *ref = load(gets_(c, "ref"), &rlen);
		ImageInfo	info;
		PgiError	err = {0};
		uint8_t    *rgb = decode(data, len, &info, &err);
		size_t		diff = 0;

		CHECK(rgb != NULL, "%s: %s", file, err.msg);
		if (rgb == NULL)
			continue;
		CHECK(info.width == geti(c, "width") && info.height == geti(c, "height"),
			  "%s: size %d x %d", file, info.width, info.height);
		CHECK(rlen == (size_t) info.width * info.height * 3, "%s: reference size", file);
		for (size_t j = 0; j < rlen; j++)
			diff += rgb[j] != ref[j];
		CHECK(diff == 0, "%s: %zu of %zu samples differ from Pillow", file, diff, rlen);
		free(rgb);
		free(ref);
		free(data);
	}
}

static void
check_resize(const JsonValue *cases)
{
	for (size_t i = 0; i < json_size(cases); i++)
	{
		const JsonValue *c = json_at(cases, i);
		int32_t		w = (int32_t) geti(c, "width"),
					h = (int32_t) geti(c, "height"),
					ow = (int32_t) geti(c, "out_width"),
					oh = (int32_t) geti(c, "out_height");
		int			filter = (int) geti(c, "filter");
		size_t		slen,
					rlen,
					diff = 0;
		uint8_t    *src = load(gets_(c, "src"), &slen);
		uint8_t    *ref = load(gets_(c, "ref"), &rlen);
		uint8_t    *dst = malloc((size_t) ow * oh * 3);
		uint8_t    *tmp = malloc((size_t) ow * h * 3);
		PgiError	err = {0};

		CHECK(image_resize(src, w, h, 3, dst, ow, oh, filter, tmp, &err) == PGI_OK,
			  "resize: %s", err.msg);
		for (size_t j = 0; j < rlen; j++)
			diff += dst[j] != ref[j];
		CHECK(diff == 0, "%s: %zu of %zu samples differ from Pillow", gets_(c, "ref"), diff, rlen);
		free(src);
		free(ref);
		free(dst);
		free(tmp);
	}
}

static void
check_preprocess(const JsonValue *root)
{
	const JsonValue *cases = json_get(root, "preprocess");
	const JsonValue *mean = json_get(root, "mean");
	const JsonValue *std = json_get(root, "std");

	for (size_t i = 0; i < json_size(cases); i++)
	{
		const JsonValue *c = json_at(cases, i);
		const char *file = gets_(c, "file");
		ImagePrep	p = {.do_resize = 1, .resample = IMAGE_BICUBIC, .do_center_crop = 1,
		.do_rescale = 1, .rescale_factor = 1 / 255.0, .do_normalize = 1};
		size_t		len,
					rlen;
		uint8_t    *data = load(file, &len);
		double	   *ref = (double *) load(gets_(c, "ref"), &rlen);
		ImageInfo	info;
		PgiError	err = {0};
		uint8_t    *rgb = decode(data, len, &info, &err);
		uint8_t    *scratch;
		float	   *out;
		double		worst = 0;
		size_t		n;

		p.shortest_edge = p.crop_height = p.crop_width = (int32_t) geti(c, "size");
		p.out_height = p.out_width = p.crop_height;
		for (int k = 0; k < 3; k++)
		{
			double		v;

			json_num(json_at(mean, k), &v);
			p.mean[k] = (float) v;
			json_num(json_at(std, k), &v);
			p.std[k] = (float) v;
		}
		CHECK(image_prep_check(&p, &err) == PGI_OK, "prep check: %s", err.msg);
		n = (size_t) 3 * p.out_height * p.out_width;
		CHECK(rgb != NULL && rlen == n * sizeof(double), "%s: decode / reference", file);
		if (rgb == NULL)
			continue;
		scratch = malloc(image_prep_scratch_bytes(&p, info.width, info.height));
		out = malloc(n * sizeof(float));
		CHECK(image_preprocess(&p, rgb, info.width, info.height, scratch, out, &err) == PGI_OK,
			  "%s: %s", file, err.msg);
		for (size_t j = 0; j < n; j++)
			worst = fmax(worst, fabs(out[j] - ref[j]));
		CHECK(worst <= 1e-5, "%s at %d: max |diff| %.3g against the float64 reference",
			  file, p.out_width, worst);
		free(scratch);
		free(out);
		free(rgb);
		free(ref);
		free(data);
	}
}

/* Mutations of every fixture must fail cleanly or decode; never crash */
static void
check_hostile(const JsonValue *cases)
{
	int			errors = 0,
				runs = 0;

	for (size_t i = 0; i < json_size(cases); i++)
	{
		size_t		len;
		uint8_t    *data = load(gets_(json_at(cases, i), "file"), &len);

		for (size_t cut = 0; cut < len; cut += 1 + len / 40)
		{
			ImageInfo	info;
			PgiError	err = {0};
			uint8_t    *rgb = decode(data, cut, &info, &err);

			runs++;
			errors += rgb == NULL;
			free(rgb);
		}
		for (size_t at = 8; at < len; at += 1 + len / 25)
		{
			uint8_t    *copy = malloc(len);
			ImageInfo	info;
			PgiError	err = {0};
			uint8_t    *rgb;

			memcpy(copy, data, len);
			copy[at] ^= 0x5a;
			rgb = decode(copy, len, &info, &err);
			runs++;
			free(rgb);
			free(copy);
		}
		free(data);
	}
	CHECK(errors > 0, "truncations: %d of %d runs failed", errors, runs);
	printf("hostile: %d truncated / flipped decodes, %d refused\n", runs, errors);
}

static void
check_limits(void)
{
	/* a PNG header claiming 100000 x 100000, and one 3000 x 3000 over a limit */
	static const uint8_t head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
		0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0x01, 0x86, 0xa0, 0, 0x01, 0x86, 0xa0, 8, 2, 0, 0, 0,
	0x00, 0x00, 0x00, 0x00};
	ImageInfo	info;
	PgiError	err = {0};
	PgiStatus	st = image_probe(head, sizeof(head), 1 << 26, &info, &err);

	CHECK(st == PGI_ERR_BINARY || st == PGI_ERR_LIMIT, "huge header: status %d (%s)", st, err.msg);
	CHECK(image_probe((const uint8_t *) "GIF89a....", 10, 1 << 26, &info, &err) == PGI_ERR_UNSUPPORTED,
		  "GIF is unsupported");
	CHECK(image_probe((const uint8_t *) "", 0, 1 << 26, &info, &err) == PGI_ERR_UNSUPPORTED,
		  "empty input");
}

static void
check_limit_on_real(void)
{
	size_t		len;
	uint8_t    *data = load("big_640x480.png", &len);
	ImageInfo	info;
	PgiError	err = {0};

	CHECK(data && image_probe(data, len, 640 * 480 - 1, &info, &err) == PGI_ERR_LIMIT,
		  "pixel limit: %s", err.msg);
	CHECK(data && image_probe(data, len, 640 * 480, &info, &err) == PGI_OK, "at the limit");
	free(data);
}

int
main(int argc, char **argv)
{
	size_t		len;
	char	   *text;
	JsonDoc    *doc;
	PgiError	err = {0};

	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : "build/unit/images");
	text = (char *) load("manifest.json", &len);
	if (text == NULL)
	{
		printf("unit test_images: SKIP (no %s/manifest.json; run test/models/gen_images.py)\n", dir);
		return 1;
	}
	if (json_parse(text, len, &doc, &err) != PGI_OK)
	{
		printf("manifest: %s\n", err.msg);
		return 1;
	}
	check_decode(json_get(json_root(doc), "decode"));
	check_resize(json_get(json_root(doc), "resize"));
	check_preprocess(json_root(doc));
	check_hostile(json_get(json_root(doc), "decode"));
	check_limits();
	check_limit_on_real();
	json_free(doc);
	free(text);
	return UNIT_DONE("test_images");
}
