/*-------------------------------------------------------------------------
 *
 * model_info.c
 *	  Inspect model files for the registry (format-level checks and sizes).
 *
 * Architecture-specific checks (tensor names and shapes) belong to each
 * architecture's loader; here a file must parse completely (gguf_open and
 * safetensors_open check every offset and size) and name its architecture.
 *
 * src/core/formats/model_info.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/formats/model_info.h"

#include <stdio.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/formats/json.h"
#include "core/kernels/quant.h"
#include "core/formats/safetensors.h"

/* Encoder families produce embeddings; decoders generate */
static const char *
task_for(const char *arch)
{
	static const char *const encoders[] = {"bert", "nomic-bert", "jina-bert-v2", "roberta",
		"xlm-roberta", "distilbert", "mpnet", "use-lite", NULL};

	for (int i = 0; encoders[i]; i++)
		if (strcmp(arch, encoders[i]) == 0)
			return "embedding";
	if (strcmp(arch, "clip") == 0 || strcmp(arch, "clip_vision_model") == 0)
		return "image-embedding";
	if (strcmp(arch, "llama") == 0 || strcmp(arch, "qwen2") == 0 || strcmp(arch, "gpt2") == 0 ||
		strcmp(arch, "mistral") == 0 || strcmp(arch, "phi3") == 0 || strcmp(arch, "gemma") == 0)
		return "generation";
	return "unknown";
}

/* Copy a non-terminated string into a fixed buffer, lower-cased */
static void
copy_name(char *dst, size_t size, const char *src, size_t len)
{
	size_t		n = len < size - 1 ? len : size - 1;

	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char) (src[i] - 'A' + 'a') : src[i];
	dst[n] = '\0';
}

/* An optional integer KV "<arch>.<suffix>", -1 when absent */
static int64_t
arch_int(const GgufFile *f, const char *arch, const char *suffix)
{
	char		key[MODEL_NAME_LEN + 64];
	int64_t		v;

	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (gguf_find_kv(f, key) == NULL || gguf_get_i64(f, key, &v, NULL) != PGI_OK)
		return -1;
	return v;
}

PgiStatus
model_info_gguf(const uint8_t *data, size_t len, ModelInfo *info, PgiError *err)
{
	GgufFile   *f;
	PgiStatus	st = gguf_open(data, len, &f, err);
	const char *arch;
	size_t		arch_len;
	const GgufKV *tokens;
	uint64_t	bytes_by_type[64] = {0};
	uint32_t	best = 0;

	if (st != PGI_OK)
		return st;
	memset(info, 0, sizeof(*info));
	strcpy(info->format, "gguf");
	if (gguf_find_kv(f, "general.architecture") == NULL)
	{
		gguf_free(f);
		return pgi_error(err, PGI_ERR_CORRUPT, "A GGUF model must say what it is.",
						 "GGUF file has no general.architecture");
	}
	if ((st = gguf_get_str(f, "general.architecture", &arch, &arch_len, err)) != PGI_OK)
	{
		gguf_free(f);
		return st;
	}
	copy_name(info->architecture, sizeof(info->architecture), arch, arch_len);
	strcpy(info->task, task_for(info->architecture));
	/* llama.cpp's spelling of a sequence-classification head */
	if (strcmp(info->architecture, "bert") == 0 && gguf_find_tensor(f, "cls.output.weight") != NULL)
		strcpy(info->task, "classification");
	info->dims = arch_int(f, info->architecture, "embedding_length");
	info->max_tokens = arch_int(f, info->architecture, "context_length");
	tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
	info->vocab_size = tokens && tokens->type == GGUF_TYPE_ARRAY ? (int64_t) tokens->n : -1;

	for (size_t i = 0; i < gguf_n_tensors(f); i++)
	{
		const GgufTensor *t = gguf_tensor(f, i);

		info->parameters += (int64_t) t->n_elements;
		if (t->type < 64)
			bytes_by_type[t->type] += t->n_bytes;
	}
	for (uint32_t t = 0; t < 64; t++)
		if (bytes_by_type[t] > bytes_by_type[best])
			best = t;
	snprintf(info->dtype, sizeof(info->dtype), "%s",
			 gguf_n_tensors(f) ? quant_type_name(best) : "none");
	gguf_free(f);
	return PGI_OK;
}

/* An optional integer member of config.json, -1 when absent */
static int64_t
config_int(const JsonValue *root, const char *key)
{
	int64_t		v;
	const JsonValue *m = json_get(root, key);

	return m && json_int(m, &v) ? v : -1;
}

PgiStatus
model_info_hf(const char *config, size_t config_len,
			  const uint8_t *const *weights, const size_t *weight_lens, int n_weights,
			  int has_tokenizer, ModelInfo *info, PgiError *err)
{
	JsonDoc    *doc;
	const JsonValue *root;
	const JsonValue *v;
	PgiStatus	st = json_parse(config, config_len, &doc, err);
	uint64_t	bytes_by_type[ST_DTYPE_COUNT] = {0};
	int			best = 0;
	const char *name = NULL;
	size_t		name_len = 0;

	if (st != PGI_OK)
		return st;
	memset(info, 0, sizeof(*info));
	strcpy(info->format, "safetensors");
	root = json_root(doc);
	if ((v = json_get(root, "model_type")) != NULL)
		name = json_str(v, &name_len);
	if (name == NULL)
	{
		json_free(doc);
		return pgi_error(err, PGI_ERR_CORRUPT, "config.json must have a \"model_type\" string.",
						 "config.json does not say the model type");
	}
	copy_name(info->architecture, sizeof(info->architecture), name, name_len);
	strcpy(info->task, task_for(info->architecture));
	/* a *For...Classification or *ForQuestionAnswering head makes the task */
	if ((v = json_get(root, "architectures")) != NULL)
		for (size_t i = 0; i < json_size(v); i++)
		{
			size_t		l;
			const char *a = json_str(json_at(v, i), &l);

			if (a && l > 25 && strcmp(a + l - 25, "ForSequenceClassification") == 0)
				strcpy(info->task, "classification");
			else if (a && l > 22 && strcmp(a + l - 22, "ForTokenClassification") == 0)
				strcpy(info->task, "token-classification");
			else if (a && l > 20 && strcmp(a + l - 20, "ForQuestionAnswering") == 0)
				strcpy(info->task, "question-answering");
		}
	info->dims = config_int(root, "hidden_size");
	info->max_tokens = config_int(root, "max_position_embeddings");
	info->vocab_size = config_int(root, "vocab_size");
	if (strcmp(info->task, "image-embedding") == 0)
	{
		/* a dual encoder's embeddings are its projections; its text tower reads tokens */
		const JsonValue *tc = json_get(root, "text_config");

		info->dims = config_int(root, "projection_dim");
		if (info->dims < 0)
			info->dims = 512;	/* transformers' default */
		info->max_tokens = tc ? config_int(tc, "max_position_embeddings") : -1;
		info->vocab_size = tc ? config_int(tc, "vocab_size") : -1;
		if (strcmp(info->architecture, "clip_vision_model") == 0)
			has_tokenizer = 1;	/* its text side, if any, is another model */
	}
	json_free(doc);

	if (n_weights == 0)
		return pgi_error(err, PGI_ERR_CORRUPT, "Expected model.safetensors or model.safetensors.index.json.",
						 "model directory has no safetensors weights");
	if (!has_tokenizer)
		return pgi_error(err, PGI_ERR_CORRUPT, "Expected tokenizer.json, vocab.txt or a SentencePiece *.model file.",
						 "model directory has no tokenizer");
	for (int w = 0; w < n_weights; w++)
	{
		SafetensorsFile *f;

		if ((st = safetensors_open(weights[w], weight_lens[w], &f, err)) != PGI_OK)
			return st;
		for (size_t i = 0; i < safetensors_n_tensors(f); i++)
		{
			const SafetensorsTensor *t = safetensors_tensor(f, i);

			info->parameters += (int64_t) t->n_elements;
			bytes_by_type[t->dtype] += t->n_bytes;
		}
		safetensors_free(f);
	}
	for (int t = 0; t < ST_DTYPE_COUNT; t++)
		if (bytes_by_type[t] > bytes_by_type[best])
			best = t;
	snprintf(info->dtype, sizeof(info->dtype), "%s", safetensors_dtype_name((SafetensorsDtype) best));
	return PGI_OK;
}
