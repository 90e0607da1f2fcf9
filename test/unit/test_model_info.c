/*
 * test_model_info.c
 *	  model_info_gguf / model_info_hf against the facts gen_fixtures.py wrote
 *	  into the .expect files beside the fixtures (not our parser's output).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/model_info.h"
#include "unit.h"

/* Sum of element counts of the "tensor" lines of a .expect file (GGUF layout) */
static long long
expected_gguf_parameters(const char *expect)
{
	char	   *line = strtok((char *) expect, "\n");
	long long	total = 0;

	for (; line; line = strtok(NULL, "\n"))
	{
		char		name[128];
		unsigned	type;
		int			ndims;
		long long	ne[4] = {1, 1, 1, 1};

		if (sscanf(line, "tensor %127s %u %d %lld %lld %lld %lld", name, &type, &ndims,
				   &ne[0], &ne[1], &ne[2], &ne[3]) == 7)
			total += ne[0] * ne[1] * ne[2] * ne[3];
	}
	return total;
}

int
main(void)
{
	size_t		len,
				elen;
	char	   *gguf = (char *) read_file("test/unit/fixtures/tiny.gguf", &len);
	char	   *expect = (char *) read_file("test/unit/fixtures/tiny.gguf.expect", &elen);
	ModelInfo	info;
	PgiError	err = {0};

	CHECK(gguf != NULL && expect != NULL, "fixtures present");
	if (gguf == NULL || expect == NULL)
		return UNIT_DONE("model_info");

	CHECK(model_info_gguf((const uint8_t *) gguf, len, &info, &err) == PGI_OK, "tiny.gguf: %s", err.msg);
	CHECK(strcmp(info.format, "gguf") == 0, "format %s", info.format);
	CHECK(strcmp(info.architecture, "llama") == 0, "architecture %s", info.architecture);
	CHECK(strcmp(info.task, "generation") == 0, "task %s", info.task);
	CHECK(info.dims == 4, "dims %lld (llama.embedding_length 4)", (long long) info.dims);
	CHECK(info.vocab_size == 38, "vocab %lld (38 tokens in the fixture)", (long long) info.vocab_size);
	CHECK(info.parameters == expected_gguf_parameters(expect), "parameters %lld vs %lld",
		  (long long) info.parameters, expected_gguf_parameters(expect));

	/* every truncation fails cleanly */
	{
		int			bad = 0;

		for (size_t n = 0; n < len; n += 7)
			bad += model_info_gguf((const uint8_t *) gguf, n, &info, &err) == PGI_OK;
		CHECK(bad == 0, "%d truncated copies were accepted", bad);
	}

	/* a GGUF without general.architecture */
	{
		char	   *copy = malloc(len);
		char	   *p;

		memcpy(copy, gguf, len);
		p = memmem(copy, len, "general.architecture", 20);
		CHECK(p != NULL, "fixture names general.architecture");
		if (p)
		{
			p[0] = 'X';			/* general.architecture -> Xeneral.architecture */
			CHECK(model_info_gguf((const uint8_t *) copy, len, &info, &err) == PGI_ERR_CORRUPT &&
				  strstr(err.msg, "general.architecture") != NULL, "no architecture: %s", err.msg);
		}
		free(copy);
	}

	/* Hugging Face: config.json decides architecture and sizes */
	{
		size_t		slen;
		uint8_t    *st = read_file("test/unit/fixtures/tiny.safetensors", &slen);
		const char *cfg = "{\"model_type\": \"BERT\", \"hidden_size\": 384, "
			"\"max_position_embeddings\": 512, \"vocab_size\": 30522}";
		const uint8_t *w[1] = {st};
		size_t		wl[1] = {slen};

		CHECK(model_info_hf(cfg, strlen(cfg), w, wl, 1, 1, &info, &err) == PGI_OK, "hf: %s", err.msg);
		CHECK(strcmp(info.architecture, "bert") == 0 && strcmp(info.task, "embedding") == 0,
			  "hf architecture %s task %s", info.architecture, info.task);
		CHECK(info.dims == 384 && info.max_tokens == 512 && info.vocab_size == 30522, "hf sizes");
		CHECK(model_info_hf(cfg, strlen(cfg), w, wl, 1, 0, &info, &err) == PGI_ERR_CORRUPT,
			  "hf without tokenizer is rejected");
		CHECK(model_info_hf(cfg, strlen(cfg), w, wl, 0, 1, &info, &err) == PGI_ERR_CORRUPT,
			  "hf without weights is rejected");
		CHECK(model_info_hf("{}", 2, w, wl, 1, 1, &info, &err) == PGI_ERR_CORRUPT,
			  "hf without model_type is rejected");
		CHECK(model_info_hf("{", 1, w, wl, 1, 1, &info, &err) != PGI_OK, "hf with bad JSON is rejected");
		free(st);
	}
	free(gguf);
	free(expect);
	return UNIT_DONE("model_info");
}
