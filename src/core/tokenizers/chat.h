/*-------------------------------------------------------------------------
 *
 * chat.h
 *	  Chat prompts: the families of chat template pg_infer renders, detected
 *	  from a model's tokenizer.chat_template (a Jinja program), and the text
 *	  a conversation becomes under them.
 *
 * No Jinja interpreter: a template is recognised as one of the common
 * families by the markers it writes, and the few facts that vary inside a
 * family are read from its literals (a default system message, whether it
 * starts with bos_token, whether contents are trimmed, Llama 3.1+'s date
 * header).  The rendering is what Hugging Face's apply_chat_template
 * produces for those templates with add_generation_prompt = true
 * (test/models/gen_chat.py checks it against jinja2 on the real templates):
 *
 *	 ChatML	   (Qwen 1.5 / 2 / 2.5 / 3, SmolLM, InternLM2, Hermes...)
 *			   [bos] [<|im_start|>system\nDEFAULT<|im_end|>\n]
 *			   <|im_start|>ROLE\nCONTENT<|im_end|>\n ...  <|im_start|>assistant\n
 *	 Llama 3   [bos] [<|start_header_id|>system<|end_header_id|>\n\nCutting
 *			   Knowledge Date: K\nToday Date: D\n\nSYSTEM<|eot_id|>]
 *			   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
 *			   <|start_header_id|>assistant<|end_header_id|>\n\n
 *	 Zephyr	   (TinyLlama chat, Zephyr)
 *			   <|ROLE|>\nCONTENT</s>\n ...  <|assistant|>\n
 *
 * The special markers are plain text here; the tokenizer turns them into
 * their ids (control tokens are matched verbatim, as Hugging Face and
 * llama.cpp do).  Roles are system, user and assistant.
 *
 * src/core/tokenizers/chat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGI_CHAT_H
#define PGI_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/pgi_status.h"

typedef enum ChatFamily
{
	CHAT_NONE = 0,				/* the model has no chat template */
	CHAT_UNKNOWN = 1,			/* a template of no family pg_infer knows */
	CHAT_CHATML = 2,
	CHAT_LLAMA3 = 3,
	CHAT_ZEPHYR = 4
} ChatFamily;

/* ChatFormat.flags */
#define CHAT_BOS		0x01	/* the prompt starts with bos_token */
#define CHAT_TRIM		0x02	/* contents are trimmed (Jinja "| trim") */
#define CHAT_THINK		0x04	/* Qwen3: reasoning dropped from earlier
								 * assistant turns, an empty <think> block on
								 * trailing ones */
#define CHAT_DATE		0x08	/* Llama 3.1+: a system header with dates */

#define CHAT_TEXT_MAX	512		/* bytes of a default system message, NUL included */
#define CHAT_DATE_MAX	32

/* A template, as detected: stored in the prepared file (fixed size) */
typedef struct ChatFormat
{
	int32_t		family;			/* ChatFamily */
	int32_t		flags;			/* CHAT_* */
	char		system[CHAT_TEXT_MAX];	/* default system message ("" none) */
	char		knowledge[CHAT_DATE_MAX];	/* CHAT_DATE: "December 2023" */
	char		today[CHAT_DATE_MAX];	/* CHAT_DATE: the template's default date */
} ChatFormat;

typedef struct ChatMessage
{
	const char *role;
	size_t		role_len;
	const char *content;
	size_t		content_len;
} ChatMessage;

/* Family of template[0..len) (len 0: CHAT_NONE); never fails */
extern void chat_detect(const char *tmpl, size_t len, ChatFormat *out);

/* "ChatML", "Llama 3", "Zephyr", "none" or "unknown" */
extern const char *chat_family_name(int32_t family);

/*
 * The prompt of n messages under f, with bos / eos the tokenizer's BOS and
 * EOS pieces ("" when it has none): *out malloc'd, NUL-terminated.
 * PGI_ERR_PARAM for no messages or a role other than system, user and
 * assistant; PGI_ERR_UNSUPPORTED for CHAT_NONE and CHAT_UNKNOWN.
 */
extern PgiStatus chat_render(const ChatFormat *f, const ChatMessage *msgs, int n,
							 const char *bos, const char *eos, char **out, size_t *out_len,
							 PgiError *err);

#endif							/* PGI_CHAT_H */
