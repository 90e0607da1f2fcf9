/*
 * fuzz_chat.c
 *	  libFuzzer target for chat-template detection and rendering
 *	  (src/core/tokenizers/chat.c): the template comes from a model file.
 *
 * The input is split at its first NUL: the template, then the bytes of a
 * conversation (messages separated by 0x01, role and content by 0x02).
 * Detection must leave NUL-terminated strings in the format; rendering a
 * detected family with valid roles must succeed, return a NUL-terminated
 * prompt of the stated length that ends with the assistant's header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/chat.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ROLES[] = {"system", "user", "assistant"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *) data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t		tlen = nul ? (size_t) (nul - data) : size;
	ChatFormat	f;
	ChatMessage m[8];
	int			n = 0;
	const char *p = nul ? (const char *) nul + 1 : NULL;
	const char *end = (const char *) data + size;
	char	   *out;
	size_t		len;
	PgiError	err = {0};
	PgiStatus	st;

	chat_detect(t, tlen, &f);
	if (memchr(f.system, 0, sizeof(f.system)) == NULL || memchr(f.knowledge, 0, sizeof(f.knowledge)) == NULL ||
		memchr(f.today, 0, sizeof(f.today)) == NULL)
		abort();
	/* the conversation: roles cycle, contents from the input */
	while (p != NULL && p < end && n < 8)
	{
		const char *q = memchr(p, 1, (size_t) (end - p));
		size_t		l = q ? (size_t) (q - p) : (size_t) (end - p);

		m[n].role = ROLES[n % 3];
		m[n].role_len = strlen(m[n].role);
		m[n].content = p;
		m[n].content_len = l;
		n++;
		p = q ? q + 1 : NULL;
	}
	if (n == 0)
	{
		m[0].role = "user";
		m[0].role_len = 4;
		m[0].content = t;
		m[0].content_len = tlen;
		n = 1;
	}
	st = chat_render(&f, m, n, "<s>", "</s>", &out, &len, &err);
	if (f.family == CHAT_CHATML || f.family == CHAT_LLAMA3 || f.family == CHAT_ZEPHYR)
	{
		static const char *const tail[] = {"", "", "<|im_start|>assistant\n",
		"<|start_header_id|>assistant<|end_header_id|>\n\n", "<|assistant|>\n"};
		size_t		tl = strlen(tail[f.family]);

		if (st != PGI_OK || out == NULL || out[len] != '\0' || len < tl ||
			memcmp(out + len - tl, tail[f.family], tl) != 0)
			abort();
		free(out);
	}
	else if (st != PGI_ERR_UNSUPPORTED || out != NULL)
		abort();
	return 0;
}
