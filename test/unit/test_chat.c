/*
 * test_chat.c
 *	  Unit tests of chat-template detection and rendering
 *	  (src/core/tokenizers/chat.c): the edge cases around the real templates.
 *
 * The real templates themselves are checked in test/pgtap/chat.sql against
 * jinja2's rendering and Hugging Face tokenizers (test/models/gen_chat.py);
 * here, hand-written expectations for what jinja2 would print for small
 * templates of each family, and for what must be refused.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizers/chat.h"
#include "unit.h"

static ChatFormat
detect(const char *t)
{
	ChatFormat	f;

	chat_detect(t, t ? strlen(t) : 0, &f);
	return f;
}

/* The prompt of messages (role, content pairs, NULL-terminated); NULL on error */
static char *
render(const ChatFormat *f, const char *const *rc, PgiStatus *st)
{
	ChatMessage m[16];
	int			n = 0;
	char	   *out = NULL;
	size_t		len;
	PgiError	err = {0};

	for (; rc[2 * n] != NULL; n++)
	{
		m[n].role = rc[2 * n];
		m[n].role_len = strlen(rc[2 * n]);
		m[n].content = rc[2 * n + 1];
		m[n].content_len = strlen(rc[2 * n + 1]);
	}
	*st = chat_render(f, m, n, "<s>", "</s>", &out, &len, &err);
	if (*st == PGI_OK && strlen(out) != len)
		*st = PGI_ERR_DATA;
	return out;
}

static bool
renders_as(const ChatFormat *f, const char *const *rc, const char *want)
{
	PgiStatus	st;
	char	   *got = render(f, rc, &st);
	bool		ok = st == PGI_OK && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "  got: %s\n want: %s\n", got ? got : "(error)", want);
	free(got);
	return ok;
}

static void
check_detection(void)
{
	ChatFormat	f;
	char		big[2048];

	f = detect(NULL);
	CHECK(f.family == CHAT_NONE, "no template: none");
	f = detect("{{ messages }}");
	CHECK(f.family == CHAT_UNKNOWN && f.flags == 0, "a template of no family: unknown");
	CHECK(strcmp(chat_family_name(CHAT_CHATML), "ChatML") == 0 &&
		  strcmp(chat_family_name(CHAT_UNKNOWN), "unknown") == 0, "family names");

	/* ChatML's default system message: escaped and real newlines, escapes */
	f = detect("{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are \\'kind\\'.<|im_end|>\\n' }}"
			   "{% endif %}{{ '<|im_start|>' + m + '<|im_end|>' }}");
	CHECK(f.family == CHAT_CHATML && strcmp(f.system, "You are 'kind'.") == 0,
		  "ChatML default system with escapes: [%s]", f.system);
	f = detect("{{ '<|im_start|>system\nHi there<|im_end|>\n' }}");
	CHECK(f.family == CHAT_CHATML && strcmp(f.system, "Hi there") == 0, "real newline: [%s]", f.system);
	f = detect("{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>' }}"
			   "{{ '<|im_start|>system\\nDefault<|im_end|>\\n' }}");
	CHECK(f.family == CHAT_CHATML && strcmp(f.system, "Default") == 0,
		  "a non-literal occurrence is skipped: [%s]", f.system);
	f = detect("{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>' }}");
	CHECK(f.family == CHAT_CHATML && f.system[0] == '\0', "no default system");
	f = detect("{{ bos_token }}{{ '<|im_start|>' + m + '<|im_end|>' }}");
	CHECK(f.family == CHAT_CHATML && (f.flags & CHAT_BOS), "bos_token in the template");
	/* a default system longer than the format keeps: unknown, not cut */
	strcpy(big, "{{ '<|im_start|>system\\n");
	memset(big + strlen(big), 'x', 600);
	strcpy(big + strlen("{{ '<|im_start|>system\\n") + 600, "<|im_end|>' }}");
	f = detect(big);
	CHECK(f.family == CHAT_UNKNOWN, "a 600-byte default system message: unknown");

	/* Llama 3 */
	f = detect("{{ '<|start_header_id|>' + r + '<|end_header_id|>\\n\\n' + c | trim + '<|eot_id|>' }}");
	CHECK(f.family == CHAT_LLAMA3 && (f.flags & CHAT_TRIM) && !(f.flags & CHAT_DATE), "Llama 3");
	f = detect("{{- bos_token }}{%- set date_string = \"26 Jul 2024\" %}"
			   "{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|start_header_id|><|end_header_id|><|eot_id|>");
	CHECK(f.family == CHAT_LLAMA3 && (f.flags & CHAT_DATE) && (f.flags & CHAT_BOS) &&
		  strcmp(f.knowledge, "December 2023") == 0 && strcmp(f.today, "26 Jul 2024") == 0,
		  "Llama 3.1 dates: [%s] [%s]", f.knowledge, f.today);
	f = detect("{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|start_header_id|><|end_header_id|><|eot_id|>");
	CHECK(f.family == CHAT_UNKNOWN, "a date header without a default date: unknown");

	/* Zephyr needs eos_token */
	f = detect("{{ '<|user|>\\n' + c + eos_token }}{{ '<|assistant|>' }}");
	CHECK(f.family == CHAT_ZEPHYR, "Zephyr");
	f = detect("{{ '<|user|>\\n' + c }}{{ '<|assistant|>' }}");
	CHECK(f.family == CHAT_UNKNOWN, "Zephyr markers without eos_token: unknown");
}

static void
check_rendering(void)
{
	ChatFormat	f;
	PgiStatus	st;
	char	   *s;
	static const char *const none[] = {NULL};
	static const char *const tool[] = {"tool", "x", NULL};
	static const char *const hi[] = {"user", "Hi", NULL};

	f = detect("{{ bos_token }}{{ '<|im_start|>' + m + '<|im_end|>' }}");
	CHECK(renders_as(&f, hi, "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
		  "ChatML with BOS");
	s = render(&f, none, &st);
	CHECK(st == PGI_ERR_PARAM && s == NULL, "no messages: PGI_ERR_PARAM");
	s = render(&f, tool, &st);
	CHECK(st == PGI_ERR_PARAM && s == NULL, "role tool: PGI_ERR_PARAM");
	f = detect("{{ messages }}");
	s = render(&f, hi, &st);
	CHECK(st == PGI_ERR_UNSUPPORTED && s == NULL, "unknown family: PGI_ERR_UNSUPPORTED");
	f = detect(NULL);
	s = render(&f, hi, &st);
	CHECK(st == PGI_ERR_UNSUPPORTED && s == NULL, "no template: PGI_ERR_UNSUPPORTED");

	/* Llama 3 trims with Python's str.strip(): Unicode spaces too, all-space content */
	f = detect("<|start_header_id|><|end_header_id|><|eot_id|> | trim");
	{
		static const char *const sp[] = {"user", " \t\xe3\x80\x80 a b\xc2\xa0\n", "assistant", " \n ", NULL};

		CHECK(renders_as(&f, sp, "<|start_header_id|>user<|end_header_id|>\n\na b<|eot_id|>"
						 "<|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|>"
						 "<|start_header_id|>assistant<|end_header_id|>\n\n"), "Llama 3 trim");
	}

	/* Qwen3: reasoning dropped before the last query, kept after it */
	f = detect("<|im_start|><|im_end|> </think> last_query_index");
	CHECK(f.flags & CHAT_THINK, "Qwen3 think flag");
	{
		static const char *const c[] = {"user", "q1", "assistant", "<think>\nr1\n</think>\n\na1",
		"user", "q2", "assistant", "\n<think>x</think>y</think>\n\na2", NULL};

		CHECK(renders_as(&f, c, "<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n"
						 "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n<think>\nx\n</think>\n\n"
						 "a2<|im_end|>\n<|im_start|>assistant\n"), "Qwen3 reasoning");
	}
	{
		static const char *const c[] = {"user", "<tool_response>r</tool_response>", "assistant", "a", NULL};

		CHECK(renders_as(&f, c, "<|im_start|>user\n<tool_response>r</tool_response><|im_end|>\n"
						 "<|im_start|>assistant\na<|im_end|>\n<|im_start|>assistant\n"),
			  "Qwen3: a tool response is not the last query");
	}

	/* Zephyr */
	f = detect("<|user|> <|assistant|> eos_token");
	{
		static const char *const c[] = {"system", "S", "user", "U", NULL};

		CHECK(renders_as(&f, c, "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n"), "Zephyr");
	}
}

int
main(void)
{
	check_detection();
	check_rendering();
	return UNIT_DONE("chat");
}
