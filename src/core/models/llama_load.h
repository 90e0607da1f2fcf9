/*-------------------------------------------------------------------------
 *
 * llama_load.h
 *	  LLaMA-family decoders from GGUF: configuration from the metadata,
 *	  tensors checked by name, type and shape, and the weights section of
 *	  the prepared model file.
 *
 * The weights section keeps every matrix in its ggml type, bytes as in the
 * GGUF file (qdot.h multiplies them in place); vectors (norms, biases,
 * rope factors) are converted to float32.  It starts with a table of
 * LlamaSlot entries in the fixed order of llama_slots(), then the data,
 * each tensor 64-byte aligned.  llama_bind checks the table against the
 * configuration before pointing LlamaWeights into the section.
 *
 * src/core/models/llama_load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LLAMA_LOAD_H
#define LLAMA_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/formats/gguf.h"
#include "core/models/llama.h"
#include "core/pgi_status.h"

/* One tensor of the weights section */
#define LLAMA_SLOT_PANELS 2

typedef struct LlamaSlot
{
	uint32_t	type;			/* GgmlType (F32 for vectors) */
	int32_t		rows;			/* 1 for vectors */
	int32_t		cols;
	uint32_t	present;		/* 0: optional tensor absent; LLAMA_SLOT_PANELS: an
								 * F32 matrix as gemm.h panels (rows rounded up to
								 * GEMM_NR, zeros past them) */
	uint64_t	off;			/* from the start of the section */
	uint64_t	bytes;
} LlamaSlot;

/* Read the configuration from a GGUF's metadata ("llama" or "qwen2") */
extern PgiStatus llama_config_from_gguf(const GgufFile *g, LlamaConfig *c, PgiError *err);

/*
 * Check every tensor the configuration needs: present, shape, a type the
 * kernels multiply; sets c->tied and c->rope_freqs from what the file has
 */
extern PgiStatus llama_check_gguf(const GgufFile *g, LlamaConfig *c, PgiError *err);

/* Size of the weights section for g's tensors (after llama_check_gguf) */
extern PgiStatus llama_weights_size(const GgufFile *g, const LlamaConfig *c, uint64_t *bytes,
									PgiError *err);

/*
 * Write the weights section (llama_weights_size bytes) into dst; cancel, when
 * not NULL, is polled between tensors and stops the copy with PGI_ERR_IO
 */
extern PgiStatus llama_pack(const GgufFile *g, const LlamaConfig *c, uint8_t *dst,
							uint64_t dst_len, int (*cancel) (void *), void *cancel_arg,
							PgiError *err);

/* Check a weights section and point w into it */
extern PgiStatus llama_bind(const LlamaConfig *c, const uint8_t *section, uint64_t len,
							LlamaWeights *w, PgiError *err);

/*
 * A decoder ready to run straight from a GGUF file in memory (tests,
 * benchmarks): configuration, checks, the weights section packed into
 * *section (aligned_alloc'd; the caller frees it) and w bound to it
 */
extern PgiStatus llama_open_gguf(const uint8_t *data, size_t len, LlamaConfig *c,
								 LlamaWeights *w, uint8_t **section, PgiError *err);

/* Parameters and the name of the most common matrix type (for pg_infer.models) */
extern int64_t llama_parameters(const LlamaConfig *c);

#endif							/* LLAMA_LOAD_H */
