/*-------------------------------------------------------------------------
 *
 * chat.c
 *	  Chat template families: detection from the template's text and the
 *	  prompt a conversation becomes (see chat.h).
 *
 * src/core/tokenizers/chat.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/chat.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Detection
 * ---------------------------------------------------------------------
 */

static const char *
find(const char *s, size_t len, const char *what)
{
	size_t		wl = strlen(what);

	if (wl == 0 || wl > len)
		return NULL;
	for (const char *p = s; p + wl <= s + len; p++)
	{
		p = memchr(p, what[0], (size_t) (s + len - p));
		if (p == NULL || p + wl > s + len)
			return NULL;
		if (memcmp(p, what, wl) == 0)
			return p;
	}
	return NULL;
}

static bool
has(const char *s, size_t len, const char *what)
{
	return find(s, len, what) != NULL;
}

/*
 * A Jinja string literal's characters from p up to the first of the stop
 * string, an unescaped quote or a Jinja delimiter, unescaped into out: 1
 * when the stop string comes first, 0 when it does not (the text is not a
 * plain literal), -1 when the literal does not fit in cap bytes
 */
static int
literal_until(const char *p, const char *end, const char *stop, char *out, size_t cap)
{
	size_t		n = 0,
				sl = strlen(stop);

	while (p < end)
	{
		char		c = *p;

		if ((size_t) (end - p) >= sl && memcmp(p, stop, sl) == 0)
		{
			out[n] = '\0';
			return 1;
		}
		if (c == '\'' || c == '"' || c == '{' || c == '}')
			return 0;
		if (c == '\\' && p + 1 < end)
		{
			char		e = p[1];

			c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
			if (e != 'n' && e != 't' && e != 'r' && e != '\\' && e != '\'' && e != '"')
				return 0;
			p++;
		}
		if (n + 1 >= cap)
			return -1;
		out[n++] = c;
		p++;
	}
	return 0;
}

/*
 * ChatML's default system message: a literal "<|im_start|>system\n...
 * <|im_end|>" in the template (Qwen, SmolLM), "" when there is none; false
 * when it is longer than CHAT_TEXT_MAX - 1 bytes
 */
static bool
chatml_default_system(const char *t, size_t len, char *out)
{
	static const char start[] = "<|im_start|>system";
	const char *end = t + len;
	const char *p = t;

	out[0] = '\0';
	while ((p = find(p, (size_t) (end - p), start)) != NULL)
	{
		const char *q = p + strlen(start);

		p = q;
		if (q + 2 <= end && q[0] == '\\' && q[1] == 'n')
			q += 2;
		else if (q < end && q[0] == '\n')
			q++;
		else
			continue;
		switch (literal_until(q, end, "<|im_end|>", out, CHAT_TEXT_MAX))
		{
			case 1:
				if (out[0] != '\0')
					return true;
				break;
			case -1:
				out[0] = '\0';
				return false;
		}
		out[0] = '\0';
	}
	return true;
}

/* Llama 3.1+'s dates: "Cutting Knowledge Date: X\n" and date_string = "Y" */
static bool
llama3_dates(const char *t, size_t len, ChatFormat *f)
{
	static const char k[] = "Cutting Knowledge Date: ";
	static const char d[] = "date_string = \"";
	const char *end = t + len;
	const char *p = find(t, len, k);
	const char *q = find(t, len, d);

	if (p == NULL || q == NULL)
		return false;
	p += strlen(k);
	q += strlen(d);
	if (literal_until(p, end, "\\n", f->knowledge, CHAT_DATE_MAX) != 1 &&
		literal_until(p, end, "\n", f->knowledge, CHAT_DATE_MAX) != 1)
		return false;
	/* the date literal ends at its closing quote */
	for (size_t n = 0; q + n < end && n + 1 < CHAT_DATE_MAX; n++)
		if (q[n] == '"')
		{
			memcpy(f->today, q, n);
			f->today[n] = '\0';
			return n > 0;
		}
	return false;
}

void
chat_detect(const char *t, size_t len, ChatFormat *f)
{
	memset(f, 0, sizeof(*f));
	if (t == NULL || len == 0)
		return;
	f->family = CHAT_UNKNOWN;
	if (has(t, len, "bos_token"))
		f->flags |= CHAT_BOS;
	if (has(t, len, "<|im_start|>") && has(t, len, "<|im_end|>"))
	{
		/* a default system message too long to keep: not rendered wrongly */
		f->family = chatml_default_system(t, len, f->system) ? CHAT_CHATML : CHAT_UNKNOWN;
		if (has(t, len, "</think>") && has(t, len, "last_query_index"))
			f->flags |= CHAT_THINK;
	}
	else if (has(t, len, "<|start_header_id|>") && has(t, len, "<|end_header_id|>") &&
			 has(t, len, "<|eot_id|>"))
	{
		f->family = CHAT_LLAMA3;
		if (has(t, len, "trim"))
			f->flags |= CHAT_TRIM;
		if (has(t, len, "Cutting Knowledge Date"))
		{
			if (!llama3_dates(t, len, f))
				f->family = CHAT_UNKNOWN;
			else
				f->flags |= CHAT_DATE;
		}
	}
	else if (has(t, len, "<|user|>") && has(t, len, "<|assistant|>") && has(t, len, "eos_token"))
		f->family = CHAT_ZEPHYR;
	if (f->family == CHAT_UNKNOWN)
		f->flags = 0;
}

const char *
chat_family_name(int32_t family)
{
	switch (family)
	{
		case CHAT_CHATML:
			return "ChatML";
		case CHAT_LLAMA3:
			return "Llama 3";
		case CHAT_ZEPHYR:
			return "Zephyr";
		case CHAT_NONE:
			return "none";
	}
	return "unknown";
}

/* ---------------------------------------------------------------------
 * Rendering
 * ---------------------------------------------------------------------
 */

typedef struct Buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
	bool		oom;
} Buf;

static void
put(Buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->s, cap)) == NULL)
		{
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
puts_(Buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Bytes of the Python whitespace character at s[0..n) (0: none); str.strip's set */
static size_t
space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)	/* U+1680 */
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
		(s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))	/* U+2000..200A,
																		 * 2028, 2029, 202F */
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)	/* U+205F */
		return 3;
	if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)	/* U+3000 */
		return 3;
	return 0;
}

/* Start of the last UTF-8 character of s[0..n) */
static size_t
last_char(const unsigned char *s, size_t n)
{
	size_t		i = n - 1;

	while (i > 0 && n - i < 4 && (s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

/* Jinja's trim (Python str.strip()) of *s[0..*n) */
static void
trim(const char **s, size_t *n)
{
	size_t		k;

	while (*n > 0 && (k = space_at((const unsigned char *) *s, *n)) > 0)
		*s += k, *n -= k;
	while (*n > 0)
	{
		size_t		i = last_char((const unsigned char *) *s, *n);

		if (space_at((const unsigned char *) *s + i, *n - i) != *n - i)
			break;
		*n = i;
	}
}

/* Python's lstrip('\n') / rstrip('\n') */
static void
lstrip_nl(const char **s, size_t *n)
{
	while (*n > 0 && **s == '\n')
		(*s)++, (*n)--;
}

static void
rstrip_nl(const char *s, size_t *n)
{
	while (*n > 0 && s[*n - 1] == '\n')
		(*n)--;
}

static bool
role_is(const ChatMessage *m, const char *r)
{
	return m->role_len == strlen(r) && memcmp(m->role, r, m->role_len) == 0;
}

/* Last occurrence of what in s[0..n) */
static const char *
find_last(const char *s, size_t n, const char *what)
{
	const char *p = NULL,
			   *q = s;

	while ((q = find(q, (size_t) (s + n - q), what)) != NULL)
		p = q++;
	return p;
}

/* One ChatML turn, with Qwen3's handling of reasoning in assistant turns */
static void
chatml_turn(Buf *b, const ChatFormat *f, const ChatMessage *m, bool after_query, bool last)
{
	const char *c = m->content;
	size_t		n = m->content_len;

	puts_(b, "<|im_start|>");
	put(b, m->role, m->role_len);
	puts_(b, "\n");
	if ((f->flags & CHAT_THINK) && role_is(m, "assistant"))
	{
		const char *close = find_last(c, n, "</think>");
		const char *r = c;
		size_t		rn = 0;

		if (find(c, n, "</think>") != NULL)
		{
			/* content.split('</think>')[-1].lstrip('\n') */
			const char *first = find(c, n, "</think>");
			const char *open;

			rn = (size_t) (first - c);
			c = close + strlen("</think>");
			n = (size_t) (m->content + m->content_len - c);
			lstrip_nl(&c, &n);
			/* split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
			rstrip_nl(r, &rn);
			if ((open = find_last(r, rn, "<think>")) != NULL)
			{
				rn -= (size_t) (open + strlen("<think>") - r);
				r = open + strlen("<think>");
			}
			lstrip_nl(&r, &rn);
		}
		if (after_query && (last || rn > 0))
		{
			/* reasoning_content.strip('\n') */
			lstrip_nl(&r, &rn);
			rstrip_nl(r, &rn);
			puts_(b, "<think>\n");
			put(b, r, rn);
			puts_(b, "\n</think>\n\n");
			lstrip_nl(&c, &n);
		}
	}
	put(b, c, n);
	puts_(b, "<|im_end|>\n");
}

static void
render_chatml(Buf *b, const ChatFormat *f, const ChatMessage *msgs, int n, const char *bos)
{
	int			first = 0;
	int			last_query = n - 1;

	if (f->flags & CHAT_BOS)
		puts_(b, bos);
	if (role_is(&msgs[0], "system"))
	{
		chatml_turn(b, f, &msgs[0], false, false);
		first = 1;
	}
	else if (f->system[0] != '\0')
	{
		puts_(b, "<|im_start|>system\n");
		puts_(b, f->system);
		puts_(b, "<|im_end|>\n");
	}
	/* Qwen3: the last user turn that is not a tool response */
	for (int i = n - 1; i >= 0; i--)
		if (role_is(&msgs[i], "user"))
		{
			static const char open[] = "<tool_response>",
						close[] = "</tool_response>";
			const char *c = msgs[i].content;
			size_t		l = msgs[i].content_len;

			if (!(l >= strlen(open) && memcmp(c, open, strlen(open)) == 0 &&
				  l >= strlen(close) && memcmp(c + l - strlen(close), close, strlen(close)) == 0))
			{
				last_query = i;
				break;
			}
		}
	for (int i = first; i < n; i++)
		chatml_turn(b, f, &msgs[i], i > last_query, i == n - 1);
	puts_(b, "<|im_start|>assistant\n");
}

static void
llama3_turn(Buf *b, const ChatFormat *f, const char *role, size_t role_len,
			const char *c, size_t n)
{
	puts_(b, "<|start_header_id|>");
	put(b, role, role_len);
	puts_(b, "<|end_header_id|>\n\n");
	if (f->flags & CHAT_TRIM)
		trim(&c, &n);
	put(b, c, n);
	puts_(b, "<|eot_id|>");
}

static void
render_llama3(Buf *b, const ChatFormat *f, const ChatMessage *msgs, int n, const char *bos)
{
	int			first = 0;

	if (f->flags & CHAT_BOS)
		puts_(b, bos);
	if (f->flags & CHAT_DATE)
	{
		const char *s = "";
		size_t		sn = 0;

		if (role_is(&msgs[0], "system"))
		{
			s = msgs[0].content;
			sn = msgs[0].content_len;
			trim(&s, &sn);
			first = 1;
		}
		puts_(b, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: ");
		puts_(b, f->knowledge);
		puts_(b, "\nToday Date: ");
		puts_(b, f->today);
		puts_(b, "\n\n");
		put(b, s, sn);
		puts_(b, "<|eot_id|>");
	}
	for (int i = first; i < n; i++)
		llama3_turn(b, f, msgs[i].role, msgs[i].role_len, msgs[i].content, msgs[i].content_len);
	puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void
render_zephyr(Buf *b, const ChatFormat *f, const ChatMessage *msgs, int n, const char *bos,
			  const char *eos)
{
	if (f->flags & CHAT_BOS)
		puts_(b, bos);
	for (int i = 0; i < n; i++)
	{
		puts_(b, "<|");
		put(b, msgs[i].role, msgs[i].role_len);
		puts_(b, "|>\n");
		put(b, msgs[i].content, msgs[i].content_len);
		puts_(b, eos);
		puts_(b, "\n");
	}
	puts_(b, "<|assistant|>\n");
}

PgiStatus
chat_render(const ChatFormat *f, const ChatMessage *msgs, int n, const char *bos,
			const char *eos, char **out, size_t *out_len, PgiError *err)
{
	Buf			b = {0};

	*out = NULL;
	*out_len = 0;
	if (f->family == CHAT_NONE)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Call generate(model, prompt text) with the prompt written out.",
						 "the model has no chat template");
	if (f->family != CHAT_CHATML && f->family != CHAT_LLAMA3 && f->family != CHAT_ZEPHYR)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "pg_infer renders the ChatML, Llama 3 and Zephyr families of chat template; "
						 "call generate(model, prompt text) with the prompt written out.",
						 "the model's chat template is not one pg_infer knows");
	if (n <= 0)
		return pgi_error(err, PGI_ERR_PARAM, NULL, "a conversation needs at least one message");
	for (int i = 0; i < n; i++)
		if (!role_is(&msgs[i], "system") && !role_is(&msgs[i], "user") &&
			!role_is(&msgs[i], "assistant"))
			return pgi_error(err, PGI_ERR_PARAM, "Roles are system, user and assistant.",
							 "message %d has role \"%.*s\"", i + 1,
							 (int) (msgs[i].role_len > 40 ? 40 : msgs[i].role_len), msgs[i].role);
	if (f->family == CHAT_CHATML)
		render_chatml(&b, f, msgs, n, bos);
	else if (f->family == CHAT_LLAMA3)
		render_llama3(&b, f, msgs, n, bos);
	else
		render_zephyr(&b, f, msgs, n, bos, eos);
	if (b.oom)
	{
		free(b.s);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory rendering a chat prompt");
	}
	*out = b.s;
	*out_len = b.len;
	return PGI_OK;
}
