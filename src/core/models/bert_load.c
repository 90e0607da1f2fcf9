/*-------------------------------------------------------------------------
 *
 * bert_load.c
 *	  BERT configuration, tokenizer and tensors from GGUF or Hugging Face
 *	  files (see bert_load.h).
 *
 * src/core/models/bert_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/models/bert_load.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/formats/json.h"
#include "core/tokenizers/tok_wordpiece.h"

/* ------------------------------------------------------------ vocab section */

/* A growable byte buffer */
typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

/* Append n bytes; false when out of memory */
static int
buf_put(Buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 4096;
		uint8_t    *d;

		while (cap < b->len + n)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 1;
}

/* Append one token (u32 length + bytes) */
static int
buf_token(Buf *b, const char *s, size_t n)
{
	uint32_t	l = (uint32_t) n;

	return buf_put(b, &l, 4) && buf_put(b, s, n);
}

/* Patch the token count at the start */
static void
buf_set_count(Buf *b, uint32_t n)
{
	memcpy(b->data, &n, 4);
}

/* Id of token s in a vocab section, or -1 */
static int32_t
vocab_find(const Buf *b, const char *s)
{
	size_t		pos = 4;
	size_t		sl = strlen(s);
	uint32_t	n;

	memcpy(&n, b->data, 4);
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	l;

		memcpy(&l, b->data + pos, 4);
		pos += 4;
		if (l == sl && memcmp(b->data + pos, s, l) == 0)
			return (int32_t) i;
		pos += l;
	}
	return -1;
}

/* Default meta: WordPiece as BERT's tokenizer, mean pooling */
static void
meta_defaults(PgimMeta *m)
{
	memset(m, 0, sizeof(*m));
	m->tok_kind = PGIM_TOK_WORDPIECE;
	m->tok_flags = PGIM_TOK_LOWERCASE | PGIM_TOK_STRIP_ACCENTS |
		PGIM_TOK_CHINESE_CHARS | PGIM_TOK_CLEAN_TEXT;
	m->max_chars_per_word = 100;
	m->cls_id = m->sep_id = m->pad_id = m->unk_id = m->mask_id = -1;
	m->bos_id = m->eos_id = -1;
	m->pooling = BERT_POOL_MEAN;
}

/* Special token ids by their usual BERT names */
static void
meta_specials(PgimMeta *m, const Buf *vocab, const char *unk)
{
	m->cls_id = vocab_find(vocab, "[CLS]");
	m->sep_id = vocab_find(vocab, "[SEP]");
	m->pad_id = vocab_find(vocab, "[PAD]");
	m->mask_id = vocab_find(vocab, "[MASK]");
	m->unk_id = vocab_find(vocab, unk ? unk : "[UNK]");
}

/* ------------------------------------------------------------ Hugging Face */

/* Integer member, or dflt when absent; -2 marks "present but not an integer" */
static int64_t
cfg_int(const JsonValue *obj, const char *key, int64_t dflt)
{
	const JsonValue *v = json_get(obj, key);
	int64_t		i;

	if (v == NULL || json_type(v) == JSON_NULL)
		return dflt;
	return json_int(v, &i) ? i : -2;
}

/* Parse an optional JSON file; *doc NULL when text is NULL */
static PgiStatus
parse_opt(const char *text, size_t len, const char *what, JsonDoc **doc, PgiError *err)
{
	PgiStatus	st;

	*doc = NULL;
	if (text == NULL)
		return PGI_OK;
	if ((st = json_parse(text, len, doc, err)) != PGI_OK)
		return pgi_error(err, st, err ? err->detail : NULL, "%s is not valid JSON: %s", what,
						 err ? err->msg : "");
	if (json_type(json_root(*doc)) != JSON_OBJECT)
	{
		json_free(*doc);
		*doc = NULL;
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "%s is not a JSON object", what);
	}
	return PGI_OK;
}

/* BertConfig from config.json's root */
static PgiStatus
hf_config(const JsonValue *root, BertConfig *c, PgiError *err)
{
	const JsonValue *v;
	size_t		l;
	const char *s;
	double		eps = 1e-12;

	v = json_get(root, "model_type");
	s = v ? json_str(v, &l) : NULL;
	if (s == NULL || strcmp(s, "bert") != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Only model_type \"bert\" encoders are supported by embed() so far.",
						 "unsupported model_type \"%s\"", s ? s : "(none)");
	if ((v = json_get(root, "hidden_act")) != NULL &&
		((s = json_str(v, &l)) == NULL || strcmp(s, "gelu") != 0))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "unsupported hidden_act \"%s\" (only \"gelu\")", s ? s : "?");
	if ((v = json_get(root, "position_embedding_type")) != NULL &&
		((s = json_str(v, &l)) == NULL || strcmp(s, "absolute") != 0))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "unsupported position_embedding_type \"%s\"", s ? s : "?");
	if ((v = json_get(root, "layer_norm_eps")) != NULL && !json_num(v, &eps))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: layer_norm_eps is not a number");
	c->n_layers = (int32_t) cfg_int(root, "num_hidden_layers", -1);
	c->hidden = (int32_t) cfg_int(root, "hidden_size", -1);
	c->n_heads = (int32_t) cfg_int(root, "num_attention_heads", -1);
	c->ffn = (int32_t) cfg_int(root, "intermediate_size", -1);
	c->vocab = (int32_t) cfg_int(root, "vocab_size", -1);
	c->max_pos = (int32_t) cfg_int(root, "max_position_embeddings", 512);
	c->n_types = (int32_t) cfg_int(root, "type_vocab_size", 2);
	c->ln_eps = (float) eps;
	return bert_config_check(c, err);
}

/*
 * The task head config.json names (architectures: BertForSequenceClassification,
 * BertForTokenClassification or BertForQuestionAnswering), its labels
 * (id2label, in id order; "LABEL_i" where missing; "start", "end" for
 * question answering) appended to b as u32 count + (u32 length + bytes)
 * each, and problem_type
 */
static PgiStatus
hf_head(const JsonValue *root, BertConfig *c, Buf *b, PgiError *err)
{
	const JsonValue *arch = json_get(root, "architectures");
	const JsonValue *id2label = json_get(root, "id2label");
	const JsonValue *v;
	size_t		l;
	const char *s;
	uint32_t	k;

	c->head = BERT_HEAD_NONE;
	c->n_labels = 0;
	c->problem = BERT_PROBLEM_SINGLE;
	for (size_t i = 0; arch && i < json_size(arch); i++)
		if ((s = json_str(json_at(arch, i), &l)) != NULL)
		{
			if (strcmp(s, "BertForSequenceClassification") == 0)
				c->head = BERT_HEAD_SEQUENCE;
			else if (strcmp(s, "BertForTokenClassification") == 0)
				c->head = BERT_HEAD_TOKEN;
			else if (strcmp(s, "BertForQuestionAnswering") == 0)
				c->head = BERT_HEAD_QA;
		}
	if (c->head == BERT_HEAD_NONE)
		return PGI_OK;
	c->pooler = c->head == BERT_HEAD_SEQUENCE;
	if (c->head == BERT_HEAD_QA)
	{
		c->n_labels = 2;
		k = 2;
		if (!buf_put(b, &k, 4) || !buf_token(b, "start", 5) || !buf_token(b, "end", 3))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		return PGI_OK;
	}
	c->n_labels = (int32_t) cfg_int(root, "num_labels", id2label ? (int64_t) json_size(id2label) : 2);
	if (c->n_labels < 1 || c->n_labels > BERT_MAX_LABELS)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: %d labels", c->n_labels);
	if ((v = json_get(root, "problem_type")) != NULL && (s = json_str(v, &l)) != NULL)
	{
		if (strcmp(s, "multi_label_classification") == 0)
			c->problem = BERT_PROBLEM_MULTI;
		else if (strcmp(s, "regression") == 0)
			c->problem = BERT_PROBLEM_REGRESSION;
	}
	else if (c->n_labels == 1 && c->head == BERT_HEAD_SEQUENCE)
		c->problem = BERT_PROBLEM_REGRESSION;	/* as transformers infers it */
	if (c->head == BERT_HEAD_TOKEN && c->problem != BERT_PROBLEM_SINGLE)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "config.json: token classification with a problem_type other than single_label_classification");
	k = (uint32_t) c->n_labels;
	if (!buf_put(b, &k, 4))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int32_t i = 0; i < c->n_labels; i++)
	{
		char		key[16],
					dflt[24];

		snprintf(key, sizeof(key), "%d", i);
		snprintf(dflt, sizeof(dflt), "LABEL_%d", i);
		s = id2label ? json_str(json_get(id2label, key), &l) : NULL;
		if (s == NULL)
		{
			s = dflt;
			l = strlen(dflt);
		}
		if (l == 0 || l > 256)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "config.json: label %d is empty or longer than 256 bytes", i);
		if (!buf_token(b, s, l))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	return PGI_OK;
}

/* vocab.txt: one token per line, ids in line order */
static PgiStatus
vocab_from_txt(const char *t, size_t len, Buf *b, uint32_t *n, PgiError *err)
{
	size_t		i = 0;

	*n = 0;
	while (i < len)
	{
		const char *nl = memchr(t + i, '\n', len - i);
		size_t		e = nl ? (size_t) (nl - t) : len;

		if (!buf_token(b, t + i, e - i))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading vocab.txt");
		(*n)++;
		i = e + 1;
	}
	return PGI_OK;
}

/* tokenizer.json's WordPiece vocab object {token: id}, ids dense from 0 */
static PgiStatus
vocab_from_json(const JsonValue *vocab, Buf *b, uint32_t *n, PgiError *err)
{
	size_t		count = json_size(vocab);
	const JsonMember **by_id;

	if (json_type(vocab) != JSON_OBJECT || count == 0)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: model.vocab is not a non-empty object");
	if ((by_id = calloc(count, sizeof(*by_id))) == NULL)
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading tokenizer.json");
	for (size_t i = 0; i < count; i++)
	{
		const JsonMember *m = json_member(vocab, i);
		int64_t		id;

		if (!json_int(&m->value, &id) || id < 0 || (uint64_t) id >= count || by_id[id])
		{
			free(by_id);
			return pgi_error(err, PGI_ERR_CORRUPT, "Token ids must be 0 .. n-1, each used once.",
							 "tokenizer.json: bad id for token \"%s\"", m->key);
		}
		by_id[id] = m;
	}
	for (size_t i = 0; i < count; i++)
		if (!buf_token(b, by_id[i]->key, by_id[i]->key_len))
		{
			free(by_id);
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading tokenizer.json");
		}
	free(by_id);
	*n = (uint32_t) count;
	return PGI_OK;
}

/* Boolean member into a flag bit (absent: unchanged; null: follow 'dflt') */
static void
flag_from(const JsonValue *obj, const char *key, uint32_t bit, uint32_t *flags, int dflt)
{
	const JsonValue *v = json_get(obj, key);
	bool		b;

	if (v == NULL)
		return;
	if (json_type(v) == JSON_NULL)
		b = dflt;
	else if (!json_bool(v, &b))
		return;
	*flags = b ? (*flags | bit) : (*flags & ~bit);
}

/* strip_accents: a boolean, or absent / null meaning "as lowercase" */
static void
strip_accents_from(const JsonValue *obj, PgimMeta *m)
{
	const JsonValue *v = json_get(obj, "strip_accents");
	bool		b;

	if (v == NULL || !json_bool(v, &b))
		b = (m->tok_flags & PGIM_TOK_LOWERCASE) != 0;
	m->tok_flags = b ? (m->tok_flags | PGIM_TOK_STRIP_ACCENTS) :
		(m->tok_flags & ~PGIM_TOK_STRIP_ACCENTS);
}

/* Tokenizer from tokenizer.json (WordPiece + BertNormalizer) */
static PgiStatus
hf_tokenizer_json(const JsonValue *root, PgimMeta *m, Buf *b, uint32_t *n,
				  const char **unk, PgiError *err)
{
	const JsonValue *model = json_get(root, "model");
	const JsonValue *norm = json_get(root, "normalizer");
	const JsonValue *v;
	size_t		l;
	const char *s;
	int64_t		mc;

	v = model ? json_get(model, "type") : NULL;
	s = v ? json_str(v, &l) : NULL;
	if (s == NULL || strcmp(s, "WordPiece") != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "tokenizer.json: model type \"%s\" is not supported for BERT (WordPiece expected)",
						 s ? s : "(none)");
	if ((v = json_get(model, "unk_token")) != NULL)
		*unk = json_str(v, &l);
	if ((mc = cfg_int(model, "max_input_chars_per_word", 100)) < 1 || mc > 1000000)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad max_input_chars_per_word");
	m->max_chars_per_word = (int32_t) mc;
	if ((v = json_get(model, "continuing_subword_prefix")) != NULL &&
		((s = json_str(v, &l)) == NULL || strcmp(s, "##") != 0))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "tokenizer.json: continuing_subword_prefix other than \"##\" is not supported");
	if (norm && json_type(norm) == JSON_OBJECT)
	{
		v = json_get(norm, "type");
		s = v ? json_str(v, &l) : NULL;
		if (s == NULL || strcmp(s, "BertNormalizer") != 0)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
							 "tokenizer.json: normalizer \"%s\" is not supported for BERT",
							 s ? s : "(none)");
		flag_from(norm, "lowercase", PGIM_TOK_LOWERCASE, &m->tok_flags, 1);
		flag_from(norm, "handle_chinese_chars", PGIM_TOK_CHINESE_CHARS, &m->tok_flags, 1);
		flag_from(norm, "clean_text", PGIM_TOK_CLEAN_TEXT, &m->tok_flags, 1);
		strip_accents_from(norm, m);
	}
	else
		m->tok_flags = PGIM_TOK_CHINESE_CHARS | PGIM_TOK_CLEAN_TEXT;
	return vocab_from_json(json_get(model, "vocab"), b, n, err);
}

/* Flags from tokenizer_config.json (vocab.txt models) */
static void
hf_tokenizer_config(const JsonValue *root, PgimMeta *m)
{
	flag_from(root, "do_lower_case", PGIM_TOK_LOWERCASE, &m->tok_flags, 1);
	flag_from(root, "tokenize_chinese_chars", PGIM_TOK_CHINESE_CHARS, &m->tok_flags, 1);
	strip_accents_from(root, m);
}

/* Pooling and normalisation from sentence-transformers' files */
static void
hf_sentence_transformers(const JsonValue *modules, const JsonValue *pooling,
						 const JsonValue *st, PgimMeta *m)
{
	bool		b;
	const JsonValue *v;

	if (pooling)
	{
		if ((v = json_get(pooling, "pooling_mode_cls_token")) && json_bool(v, &b) && b)
			m->pooling = BERT_POOL_CLS;
		else if ((v = json_get(pooling, "pooling_mode_max_tokens")) && json_bool(v, &b) && b)
			m->pooling = BERT_POOL_MAX;
		else if ((v = json_get(pooling, "pooling_mode_lasttoken")) && json_bool(v, &b) && b)
			m->pooling = BERT_POOL_LAST;
		else
			m->pooling = BERT_POOL_MEAN;
	}
	if (modules && json_type(modules) == JSON_ARRAY)
		for (size_t i = 0; i < json_size(modules); i++)
		{
			const JsonValue *t = json_get(json_at(modules, i), "type");
			size_t		l;
			const char *s = t ? json_str(t, &l) : NULL;

			if (s && strstr(s, "Normalize"))
				m->normalize = 1;
		}
	if (st)
	{
		int64_t		msl = cfg_int(st, "max_seq_length", -1);

		/* room for [CLS] and [SEP] at least */
		if (msl >= 2 && msl < m->max_tokens)
			m->max_tokens = (int32_t) msl;
	}
}

PgiStatus
bert_prep_hf(const BertHfFiles *f, BertPrep *out, PgiError *err)
{
	JsonDoc    *cfg = NULL,
			   *tok = NULL,
			   *tcfg = NULL,
			   *mods = NULL,
			   *pool = NULL,
			   *st = NULL;
	Buf			b = {0};
	uint32_t	n = 0;
	uint32_t	zero = 0;
	const char *unk = NULL;
	PgiStatus	s;

	memset(out, 0, sizeof(*out));
	meta_defaults(&out->meta);
	if ((s = parse_opt(f->config, f->config_len, "config.json", &cfg, err)) != PGI_OK ||
		(s = parse_opt(f->tokenizer_json, f->tokenizer_json_len, "tokenizer.json", &tok, err)) != PGI_OK ||
		(s = parse_opt(f->tokenizer_config, f->tokenizer_config_len, "tokenizer_config.json", &tcfg, err)) != PGI_OK ||
		(s = parse_opt(f->pooling, f->pooling_len, "1_Pooling/config.json", &pool, err)) != PGI_OK ||
		(s = parse_opt(f->st_config, f->st_config_len, "sentence_bert_config.json", &st, err)) != PGI_OK)
		goto done;
	if (f->modules && (s = json_parse(f->modules, f->modules_len, &mods, err)) != PGI_OK)
		goto done;
	if (cfg == NULL)
	{
		s = pgi_error(err, PGI_ERR_CORRUPT, NULL, "model directory has no config.json");
		goto done;
	}
	if ((s = hf_config(json_root(cfg), &out->config, err)) != PGI_OK)
		goto done;
	if (!buf_put(&b, &zero, 4))
	{
		s = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		goto done;
	}
	if (tok)
		s = hf_tokenizer_json(json_root(tok), &out->meta, &b, &n, &unk, err);
	else if (f->vocab_txt)
	{
		if (tcfg)
			hf_tokenizer_config(json_root(tcfg), &out->meta);
		s = vocab_from_txt(f->vocab_txt, f->vocab_txt_len, &b, &n, err);
	}
	else
		s = pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
					  "a BERT model needs tokenizer.json or vocab.txt");
	if (s != PGI_OK)
		goto done;
	buf_set_count(&b, n);
	if ((int64_t) n != out->config.vocab)
	{
		s = pgi_error(err, PGI_ERR_CORRUPT, "The tokenizer must match the embedding matrix.",
					  "tokenizer has %u tokens but config.json says vocab_size %d",
					  n, out->config.vocab);
		goto done;
	}
	meta_specials(&out->meta, &b, unk);
	if (out->meta.unk_id < 0 || out->meta.cls_id < 0 || out->meta.sep_id < 0)
	{
		s = pgi_error(err, PGI_ERR_CORRUPT, NULL,
					  "BERT vocabulary lacks [CLS], [SEP] or the unknown token");
		goto done;
	}
	out->meta.max_tokens = out->config.max_pos;
	hf_sentence_transformers(mods ? json_root(mods) : NULL, pool ? json_root(pool) : NULL,
							 st ? json_root(st) : NULL, &out->meta);
	if ((s = hf_head(json_root(cfg), &out->config, &b, err)) != PGI_OK ||
		(s = bert_config_check(&out->config, err)) != PGI_OK)
		goto done;
	out->vocab = b.data;
	out->vocab_len = b.len;
	b.data = NULL;
	s = PGI_OK;
done:
	free(b.data);
	json_free(cfg);
	json_free(tok);
	json_free(tcfg);
	json_free(mods);
	json_free(pool);
	json_free(st);
	return s;
}

/* ------------------------------------------------------------ GGUF */

/* Optional u32 key (dflt when absent) */
static PgiStatus
gguf_opt_i32(const GgufFile *g, const char *key, int32_t dflt, int32_t *out, PgiError *err)
{
	uint32_t	v;
	PgiStatus	s;

	if (gguf_find_kv(g, key) == NULL)
	{
		*out = dflt;
		return PGI_OK;
	}
	if ((s = gguf_get_u32(g, key, &v, err)) != PGI_OK)
		return s;
	if (v > INT32_MAX)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF key %s is out of range", key);
	*out = (int32_t) v;
	return PGI_OK;
}

/*
 * The vocabulary of a GGUF "bert" tokenizer in Hugging Face's form (llama.cpp
 * spells it differently: tok_wordpiece_vocab_from_gguf undoes that)
 */
static PgiStatus
gguf_vocab_to_hf(const GgufFile *g, const GgufKV *kv, Buf *b, PgiError *err)
{
	const GgufKV *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
	const char **toks = malloc(sizeof(char *) * kv->n);
	size_t	   *lens = malloc(sizeof(size_t) * kv->n);
	int32_t    *tt = NULL;
	TokWordPieceVocab v = {0};
	uint32_t	zero = 0;
	PgiStatus	st = PGI_OK;

	if (toks == NULL || lens == NULL)
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (uint64_t i = 0; st == PGI_OK && i < kv->n; i++)
		if ((toks[i] = gguf_arr_str(kv, i, &lens[i])) == NULL)
			st = pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF token %llu is not a string",
						   (unsigned long long) i);
	if (st == PGI_OK && types && types->type == GGUF_TYPE_ARRAY && types->n == kv->n)
	{
		if ((tt = malloc(sizeof(int32_t) * kv->n)) == NULL)
			st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
		for (uint64_t i = 0; st == PGI_OK && i < kv->n; i++)
		{
			int64_t		t;

			tt[i] = gguf_arr_i64(types, i, &t) && t >= INT32_MIN && t <= INT32_MAX ? (int32_t) t : 0;
		}
	}
	if (st == PGI_OK)
		st = tok_wordpiece_vocab_from_gguf(toks, lens, tt, (int32_t) kv->n, &v, err);
	if (st == PGI_OK && !buf_put(b, &zero, 4))
		st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int32_t i = 0; st == PGI_OK && i < v.n_tokens; i++)
		if (!buf_token(b, v.tokens[i], v.lens[i]))
			st = pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	if (st == PGI_OK)
		buf_set_count(b, (uint32_t) v.n_tokens);
	else
	{
		free(b->data);
		b->data = NULL;
	}
	tok_wordpiece_vocab_free(&v);
	free(toks);
	free(lens);
	free(tt);
	return st;
}

/*
 * A sequence-classification head in llama.cpp's spelling: cls.output
 * (n_labels, hidden) on [CLS], after cls (the pooler: dense + tanh) when
 * present; labels from bert.classifier.output_labels ("LABEL_i" without)
 * appended to b as hf_head does
 */
static PgiStatus
gguf_head(const GgufFile *g, BertConfig *c, Buf *b, PgiError *err)
{
	const GgufTensor *out = gguf_find_tensor(g, "cls.output.weight");
	const GgufTensor *dense = gguf_find_tensor(g, "cls.weight");
	const GgufKV *names = gguf_find_kv(g, "bert.classifier.output_labels");
	uint32_t	k;

	c->head = BERT_HEAD_NONE;
	c->n_labels = 0;
	c->problem = BERT_PROBLEM_SINGLE;
	c->pooler = 0;
	if (out == NULL && dense == NULL)
		return PGI_OK;
	if (out == NULL)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Heads whose output is tanh(cls.weight x + cls.bias) are not supported.",
						 "GGUF has cls.weight but no cls.output.weight");
	if (out->n_dims != 2 || out->ne[0] != (uint64_t) c->hidden || out->ne[1] < 1 ||
		out->ne[1] > BERT_MAX_LABELS)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "GGUF tensor cls.output.weight should have shape (labels, %d)", c->hidden);
	c->head = BERT_HEAD_SEQUENCE;
	c->pooler = dense != NULL;
	c->n_labels = (int32_t) out->ne[1];
	if (c->n_labels == 1)
		c->problem = BERT_PROBLEM_REGRESSION;	/* a reranker's score */
	if (names != NULL && (names->type != GGUF_TYPE_ARRAY || names->arr_type != GGUF_TYPE_STRING ||
						  names->n != (uint64_t) c->n_labels))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "GGUF key bert.classifier.output_labels should hold %d strings", c->n_labels);
	k = (uint32_t) c->n_labels;
	if (!buf_put(b, &k, 4))
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	for (int32_t i = 0; i < c->n_labels; i++)
	{
		char		dflt[24];
		size_t		l;
		const char *s = names ? gguf_arr_str(names, (uint64_t) i, &l) : NULL;

		if (s == NULL)
		{
			snprintf(dflt, sizeof(dflt), "LABEL_%d", i);
			s = dflt;
			l = strlen(dflt);
		}
		if (l == 0 || l > 256)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "GGUF label %d is empty or longer than 256 bytes", i);
		if (!buf_token(b, s, l))
			return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory");
	}
	return PGI_OK;
}

PgiStatus
bert_prep_gguf(const GgufFile *g, BertPrep *out, PgiError *err)
{
	BertConfig *c = &out->config;
	const GgufKV *kv;
	const GgufTensor *te;
	const GgufTensor *ty;
	const char *s;
	size_t		l;
	uint32_t	u;
	int32_t		pool;
	Buf			b = {0};
	PgiStatus	st;

	memset(out, 0, sizeof(*out));
	meta_defaults(&out->meta);
	if ((st = gguf_get_str(g, "general.architecture", &s, &l, err)) != PGI_OK)
		return st;
	if (l != 4 || memcmp(s, "bert", 4) != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "GGUF architecture \"%.*s\" is not supported by embed() (\"bert\" expected)",
						 (int) (l > 64 ? 64 : l), s);
#define GET_U32(key, field) \
	do { \
		if ((st = gguf_get_u32(g, key, &u, err)) != PGI_OK) return st; \
		if (u > INT32_MAX) return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF key %s is out of range", key); \
		field = (int32_t) u; \
	} while (0)
	GET_U32("bert.block_count", c->n_layers);
	GET_U32("bert.embedding_length", c->hidden);
	GET_U32("bert.attention.head_count", c->n_heads);
	GET_U32("bert.feed_forward_length", c->ffn);
	GET_U32("bert.context_length", c->max_pos);
#undef GET_U32
	if ((st = gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &c->ln_eps, err)) != PGI_OK)
		return st;
	te = gguf_find_tensor(g, "token_embd.weight");
	ty = gguf_find_tensor(g, "token_types.weight");
	if (te == NULL || te->n_dims != 2 || ty == NULL || ty->n_dims != 2 ||
		te->ne[1] > BERT_MAX_VOCAB || ty->ne[1] > BERT_MAX_TYPES)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "GGUF BERT model lacks 2-D token_embd.weight / token_types.weight");
	c->vocab = (int32_t) te->ne[1];
	c->n_types = (int32_t) ty->ne[1];
	if ((st = bert_config_check(c, err)) != PGI_OK)
		return st;
	if ((st = gguf_opt_i32(g, "bert.pooling_type", 1, &pool, err)) != PGI_OK)
		return st;
	out->meta.pooling = pool == 2 ? BERT_POOL_CLS : pool == 3 ? BERT_POOL_LAST : BERT_POOL_MEAN;
	out->meta.normalize = 1;
	out->meta.max_tokens = c->max_pos;

	if ((st = gguf_get_str(g, "tokenizer.ggml.model", &s, &l, err)) != PGI_OK)
		return st;
	if (l != 4 || memcmp(s, "bert", 4) != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "GGUF tokenizer \"%.*s\" is not supported for BERT (\"bert\" expected)",
						 (int) (l > 64 ? 64 : l), s);
	if ((st = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &kv, err)) != PGI_OK)
		return st;
	if (kv->n != (uint64_t) c->vocab)
		return pgi_error(err, PGI_ERR_CORRUPT, "The tokenizer must match the embedding matrix.",
						 "GGUF has %llu tokens but token_embd.weight has %d rows",
						 (unsigned long long) kv->n, c->vocab);
	if ((st = gguf_vocab_to_hf(g, kv, &b, err)) != PGI_OK)
		return st;
	meta_specials(&out->meta, &b, NULL);
#define OPT_ID(key, field) \
	do { \
		int32_t		id_; \
		if ((st = gguf_opt_i32(g, key, field, &id_, err)) != PGI_OK) { free(b.data); return st; } \
		if (id_ >= c->vocab) { free(b.data); return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF key %s is not a token id", key); } \
		field = id_; \
	} while (0)
	OPT_ID("tokenizer.ggml.cls_token_id", out->meta.cls_id);
	OPT_ID("tokenizer.ggml.seperator_token_id", out->meta.sep_id);
	OPT_ID("tokenizer.ggml.padding_token_id", out->meta.pad_id);
	OPT_ID("tokenizer.ggml.unknown_token_id", out->meta.unk_id);
	OPT_ID("tokenizer.ggml.mask_token_id", out->meta.mask_id);
#undef OPT_ID
	if (out->meta.unk_id < 0 || out->meta.cls_id < 0 || out->meta.sep_id < 0)
	{
		free(b.data);
		return pgi_error(err, PGI_ERR_CORRUPT, NULL,
						 "BERT vocabulary lacks [CLS], [SEP] or the unknown token");
	}
	if ((st = gguf_head(g, c, &b, err)) != PGI_OK ||
		(st = bert_config_check(c, err)) != PGI_OK)
	{
		free(b.data);
		return st;
	}
	out->vocab = b.data;
	out->vocab_len = b.len;
	return PGI_OK;
}

void
bert_prep_free(BertPrep *p)
{
	free(p->vocab);
	p->vocab = NULL;
}

/* ------------------------------------------------------------ tensor finders */

PgiStatus
bert_find_gguf(void *arg, const char *name, PgimTensor *out, int *found, PgiError *err)
{
	const GgufTensor *t = gguf_find_tensor((const GgufFile *) arg, name);

	(void) err;
	*found = t != NULL;
	if (t == NULL)
		return PGI_OK;
	out->type = t->type;
	out->n_dims = t->n_dims;
	/* GGUF's ne[0] varies fastest: reverse into row-major order */
	for (int i = 0; i < t->n_dims; i++)
		out->shape[i] = (int64_t) t->ne[t->n_dims - 1 - i];
	out->data = t->data;
	return PGI_OK;
}

PgiStatus
bert_find_safetensors(void *arg, const char *name, PgimTensor *out, int *found,
					  PgiError *err)
{
	const BertStSet *set = (const BertStSet *) arg;

	*found = 0;
	for (int i = 0; i < set->n; i++)
	{
		const SafetensorsTensor *t = safetensors_find(set->files[i], name);
		PgiStatus	st;

		if (t == NULL)
			continue;
		if ((st = safetensors_check_float(t, err)) != PGI_OK)
			return st;
		if (t->n_dims < 0 || t->n_dims > 4)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tensor \"%s\" has %d dimensions",
							 name, t->n_dims);
		out->type = t->dtype == ST_F32 ? GGML_TYPE_F32 :
			t->dtype == ST_F16 ? GGML_TYPE_F16 : GGML_TYPE_BF16;
		out->n_dims = t->n_dims;
		for (int d = 0; d < t->n_dims; d++)
			out->shape[d] = (int64_t) t->shape[d];
		out->data = t->data;
		*found = 1;
		return PGI_OK;
	}
	return PGI_OK;
}
