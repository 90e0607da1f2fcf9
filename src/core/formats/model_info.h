/*-------------------------------------------------------------------------
 *
 * model_info.h
 *	  What a model file is: format, architecture, sizes, as shown by
 *	  pg_infer.models and checked when a model is registered.
 *
 * src/core/formats/model_info.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MODEL_INFO_H
#define MODEL_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

#define MODEL_NAME_LEN 64

typedef struct ModelInfo
{
	char		format[16];		/* "gguf" or "safetensors" */
	char		architecture[MODEL_NAME_LEN];
	char		task[24];		/* "embedding", "generation", "classification",
								 * "token-classification", "question-answering",
								 * "image-embedding" or "unknown" */
	char		dtype[16];		/* tensor type holding most of the bytes */
	int64_t		dims;			/* hidden size, -1 if unknown */
	int64_t		max_tokens;		/* context length, -1 if unknown */
	int64_t		vocab_size;		/* -1 if unknown */
	int64_t		parameters;		/* sum of tensor element counts */
} ModelInfo;

/* Inspect a GGUF file held in data[0..len-1] */
extern PgiStatus model_info_gguf(const uint8_t *data, size_t len, ModelInfo *info,
								 PgiError *err);

/*
 * Inspect a Hugging Face model: config.json's text and its safetensors
 * weight files (already read); has_tokenizer says whether the directory
 * holds tokenizer.json, vocab.txt or a SentencePiece model.
 */
extern PgiStatus model_info_hf(const char *config, size_t config_len,
							   const uint8_t *const *weights, const size_t *weight_lens,
							   int n_weights, int has_tokenizer, ModelInfo *info,
							   PgiError *err);

#endif							/* MODEL_INFO_H */
