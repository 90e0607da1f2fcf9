/*
 * fuzz_image.c
 *	  libFuzzer target for image input (src/core/images): the bytes of a
 *	  bytea that embed_image() receives, hostile by assumption.
 *
 * Probe with a small pixel limit (so the fuzzer explores decoders, not
 * allocations), decode, then preprocess to 16 x 16 with the filter chosen
 * by the first byte.  Every failure must be a status; a success must give
 * finite floats.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/images/image.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ImageInfo	info;
	PgiError	err = {0};
	ImagePrep	p = {.do_resize = 1, .shortest_edge = 16, .do_center_crop = 1,
		.crop_height = 16, .crop_width = 16, .do_rescale = 1, .rescale_factor = 1 / 255.0,
		.do_normalize = 1, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f},
	.out_height = 16, .out_width = 16};
	uint8_t    *rgb,
			   *scratch;
	float		out[3 * 16 * 16];

	p.resample = size ? 1 + data[size - 1] % 5 : IMAGE_BICUBIC;
	if (image_prep_check(&p, &err) != PGI_OK)
		abort();
	if (image_probe(data, size, 1 << 20, &info, &err) != PGI_OK)
		return 0;
	if ((int64_t) info.width * info.height > (1 << 20) || info.width < 1 || info.height < 1)
		abort();
	rgb = malloc((size_t) info.width * info.height * 3);
	if (image_decode(data, size, &info, rgb, NULL, NULL, &err) == PGI_OK)
	{
		scratch = malloc(image_prep_scratch_bytes(&p, info.width, info.height));
		if (image_preprocess(&p, rgb, info.width, info.height, scratch, out, &err) == PGI_OK)
			for (int i = 0; i < 3 * 16 * 16; i++)
				if (!isfinite(out[i]))
					abort();
		free(scratch);
	}
	free(rgb);
	return 0;
}
