/*-------------------------------------------------------------------------
 *
 * gguf_subset.h
 *	  Write a GGUF file holding some of another's metadata, no tensors.
 *
 * Used to keep a model's tokenizer (its "tokenizer." keys) in the prepared
 * file without the weights, so the tokenizer can be rebuilt later with the
 * same code that reads it from the original file (tok_bpe_from_gguf).
 *
 * src/core/formats/gguf_subset.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GGUF_SUBSET_H
#define GGUF_SUBSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/formats/gguf.h"
#include "core/pgi_status.h"

/*
 * A GGUF v3 file (malloc'd into *out) with every key of f that starts with
 * one of the prefixes (NULL-terminated list), in f's order, and no tensors
 */
extern PgiStatus gguf_subset(const GgufFile *f, const char *const *prefixes,
							 uint8_t **out, size_t *out_len, PgiError *err);

#endif							/* GGUF_SUBSET_H */
