/*
 * fuzz_bert_load.c
 *	  libFuzzer target for the BERT loader (src/core/models/bert_load.c, pgim.c).
 *
 * The input's first byte picks the path:
 *	- even: the rest is a GGUF file: gguf_open, bert_prep_gguf,
 *	  pgim_check_bert and, when the model is small, pgim_build_bert into
 *	  a buffer of exactly pgim_file_size bytes, pgim_open and a forward
 *	  pass of one short sequence;
 *	- odd: the rest is a Hugging Face config.json and a vocab.txt separated
 *	  by a NUL byte, through bert_prep_hf.
 * Invariants beyond "no crash, no sanitizer report": a rejected input
 * leaves a message; an accepted config passes bert_config_check; a built
 * file opens and its embedding has no NaN.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/models/bert.h"
#include "core/models/bert_load.h"
#include "core/formats/gguf.h"
#include "core/models/pgim.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A plain, slow sgemm: the fuzz build does not link OpenBLAS */
static void
ref_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	(void) order;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++)
		{
			float		s = 0;

			for (int p = 0; p < k; p++)
				s += a[ta == PGI_CBLAS_TRANS ? (size_t) p * lda + i : (size_t) i * lda + p] *
					b[tb == PGI_CBLAS_TRANS ? (size_t) j * ldb + p : (size_t) p * ldb + j];
			c[(size_t) i * ldc + j] = alpha * s + beta * c[(size_t) i * ldc + j];
		}
}

/* Build, open and run a small accepted GGUF model */
static void
run_model(GgufFile *g, BertPrep *prep)
{
	PgiError	err = {0};
	uint64_t	size;
	uint8_t    *buf;
	PgimModel	pm;
	int32_t		ids[4] = {prep->meta.cls_id, 0, 0, prep->meta.sep_id};
	int32_t		len = 4;
	float	   *scratch,
			   *hidden;
	BertRuntime rt = {ref_sgemm, NULL, NULL, 2, {0}, NULL};

	if (pgim_file_size(&prep->config, prep->meta.wfmt, prep->vocab_len, 0, &size, &err) != PGI_OK ||
		size > ((uint64_t) 64 << 20))
		return;
	buf = malloc(size);
	if (buf == NULL)
		return;
	if (pgim_build_bert(buf, size, &prep->config, &prep->meta, "gguf", bert_find_gguf, g,
						prep->vocab, prep->vocab_len, NULL, 0, "fuzz", &err) == PGI_OK)
	{
		if (pgim_open(buf, size, &pm, &err) != PGI_OK)
			abort();
		if (pm.config.max_pos >= 4 && pm.config.hidden <= 256 && pm.config.ffn <= 1024)
		{
			scratch = malloc(sizeof(float) * bert_scratch_floats(&pm.config, 4, 4));
			hidden = malloc(sizeof(float) * 4 * (size_t) pm.config.hidden);
			if (bert_forward(&pm.config, &pm.weights, &rt, ids, &len, 1, scratch, hidden, &err) == PGI_OK)
				for (int i = 0; i < pm.config.hidden; i++)
					if (isnan(hidden[i]))
						abort();
			free(scratch);
			free(hidden);
		}
	}
	else if (err.msg[0] == '\0')
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PgiError	err = {0};
	BertPrep	prep;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0)
	{
		GgufFile   *g = NULL;

		if (gguf_open(data + 1, size - 1, &g, &err) != PGI_OK)
			return 0;
		if (bert_prep_gguf(g, &prep, &err) == PGI_OK)
		{
			if (bert_config_check(&prep.config, &err) != PGI_OK)
				abort();
			if (pgim_check_bert(&prep.config, "gguf", bert_find_gguf, g, &err) == PGI_OK)
				run_model(g, &prep);
			else if (err.msg[0] == '\0')
				abort();
			bert_prep_free(&prep);
		}
		else if (err.msg[0] == '\0')
			abort();
		gguf_free(g);
	}
	else
	{
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		BertHfFiles f = {0};
		char	   *cfg;
		char	   *voc = NULL;
		size_t		cfg_len = nul ? (size_t) (nul - data - 1) : size - 1;

		cfg = malloc(cfg_len + 1);
		memcpy(cfg, data + 1, cfg_len);
		f.config = cfg;
		f.config_len = cfg_len;
		if (nul)
		{
			size_t		vl = size - (size_t) (nul - data) - 1;

			voc = malloc(vl + 1);
			memcpy(voc, nul + 1, vl);
			f.vocab_txt = voc;
			f.vocab_txt_len = vl;
		}
		if (bert_prep_hf(&f, &prep, &err) == PGI_OK)
		{
			if (bert_config_check(&prep.config, &err) != PGI_OK || prep.meta.unk_id < 0)
				abort();
			bert_prep_free(&prep);
		}
		else if (err.msg[0] == '\0')
			abort();
		free(cfg);
		free(voc);
	}
	return 0;
}
