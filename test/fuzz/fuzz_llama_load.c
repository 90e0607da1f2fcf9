/*
 * fuzz_llama_load.c
 *	  libFuzzer target for the decoder loader and forward pass
 *	  (src/core/models/llama_load.c, llama.c, pgim.c, sampler.c,
 *	  src/core/kernels/qdot.c).
 *
 * The input is a GGUF file: gguf_open, llama_config_from_gguf,
 * llama_check_gguf and, when the weights are small, pgim_build_llama into
 * a buffer of exactly pgim_llama_file_size bytes, pgim_open, a forward
 * pass of a 3-token prompt and one decoding step, and the sampler (greedy
 * and sampled) on the logits.  Seeds: test/fuzz/gen_llama_seeds.py.
 * Invariants beyond "no crash, no sanitizer report": a rejected input
 * leaves a message; an accepted config passes llama_config_check; a built
 * file opens; the sampler returns an id in the vocabulary or an error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/models/llama.h"
#include "core/models/llama_load.h"
#include "core/models/pgim.h"
#include "core/models/sampler.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Build, open and run an accepted decoder */
static void
run_model(const GgufFile *g, const LlamaConfig *c)
{
	PgiError	err = {0};
	uint64_t	size;
	uint8_t    *buf;
	PgimModel  *pm;
	PgimMeta	meta = {0};
	LlamaKv		kv;
	int32_t		ids[3] = {1 % c->vocab, 0, (c->vocab - 1)};
	int32_t		seq[3] = {0, 0, 0};
	void	   *scratch;
	float	   *logits;

	if (pgim_llama_file_size(g, c, 0, &size, &err) != PGI_OK)
	{
		if (err.msg[0] == '\0')
			abort();
		return;
	}
	if (size > (8u << 20) || (int64_t) c->vocab * c->dim > (1 << 20) ||
		(int64_t) c->ffn * c->dim > (1 << 20) || c->n_layers > 8)
		return;
	buf = aligned_alloc(64, (size + 63) / 64 * 64);
	pm = malloc(sizeof(PgimModel));
	meta.bos_id = meta.eos_id = -1;
	if (pgim_build_llama(buf, size, g, c, &meta, NULL, 0, "fuzz", NULL, NULL, &err) != PGI_OK)
	{
		if (err.msg[0] == '\0')
			abort();
		goto out;
	}
	if (pgim_open(buf, size, pm, &err) != PGI_OK)
		abort();				/* a file we built must open */
	kv.cap = 4;
	kv.len = 0;
	kv.data = calloc(llama_kv_floats(c, kv.cap), sizeof(float));
	scratch = malloc(llama_scratch_bytes(c, 3, kv.cap));
	logits = malloc(sizeof(float) * c->vocab);
	{
		uint8_t		want[3] = {0, 0, 1};

		if (llama_forward(&pm->llama_config, &pm->llama_weights, NULL, 3, ids, seq, &kv, want,
						  scratch, logits, &err) == PGI_OK)
		{
			Sampler		s = {0};
			int32_t		tok;
			float		lp;

			s.order = malloc(sizeof(int32_t) * c->vocab);
			s.probs = malloc(sizeof(float) * c->vocab);
			if (sampler_next(&s, logits, c->vocab, &tok, &lp, &err) == PGI_OK &&
				(tok < 0 || tok >= c->vocab))
				abort();
			s.temperature = 0.7f;
			s.top_k = 5;
			s.top_p = 0.9f;
			s.state = 42;
			if (sampler_next(&s, logits, c->vocab, &tok, &lp, &err) == PGI_OK)
			{
				if (tok < 0 || tok >= c->vocab)
					abort();
				(void) llama_forward(&pm->llama_config, &pm->llama_weights, NULL, 1, &tok, seq,
									 &kv, NULL, scratch, logits, &err);
			}
			free(s.order);
			free(s.probs);
		}
	}
	free(kv.data);
	free(scratch);
	free(logits);
out:
	free(pm);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GgufFile   *g;
	LlamaConfig c;
	PgiError	err = {0};

	if (gguf_open(data, size, &g, &err) != PGI_OK)
		return 0;
	if (llama_config_from_gguf(g, &c, &err) == PGI_OK)
	{
		if (llama_config_check(&c, &err) != PGI_OK)
			abort();
		if (llama_check_gguf(g, &c, &err) == PGI_OK)
			run_model(g, &c);
		else if (err.msg[0] == '\0')
			abort();
	}
	else if (err.msg[0] == '\0')
		abort();
	gguf_free(g);
	return 0;
}
