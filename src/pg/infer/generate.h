/*-------------------------------------------------------------------------
 *
 * generate.h
 *	  Text generation with decoders (generate.c).
 *
 * src/pg/infer/generate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_GENERATE_H
#define PGI_GENERATE_H

extern int	pgi_kv_cache_limit;

/* generate(model, prompt, max_tokens, temperature, top_k, top_p, seed, stop) */
#define GENERATE_NARGS 8

extern void GenerateInit(void);

/*
 * generate() of n prompts decoded together (rows of one query): args /
 * argnull are generate()'s arguments (model and prompt unused); prompts are
 * texts, or jsonb conversations when chat; out[i] is
 * the text of prompts[i], or NULL for a NULL prompt and for a prompt that
 * cannot be generated (too long, cache limit): call generate() alone for it,
 * which raises the ERROR
 */
extern void GenerateRows(const char *model, const Datum *args, const bool *argnull, bool chat,
						 struct varlena **prompts, int n, text **out);

/* generate() of one prompt with those arguments (ERROR as generate()) */
extern text *GenerateOne(const char *model, const Datum *args, const bool *argnull, bool chat,
						 struct varlena *prompt);

#endif							/* PGI_GENERATE_H */
