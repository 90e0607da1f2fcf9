/*-------------------------------------------------------------------------
 *
 * tok_bpe_load.c
 *	  Byte-level BPE tokenizers from tokenizer.json and from GGUF metadata.
 *
 * Both loaders only gather pointers into the parsed document or the GGUF
 * file into a TokBpeSpec; tok_bpe_new() copies what it keeps and does the
 * checks common to both (merges against the vocabulary, UTF-8, ids).
 *
 * tokenizer.json is read the way Hugging Face tokenizers deserializes it:
 * legacy "a b" merges must split into exactly two parts at a space, lines
 * starting with "#version" are skipped; added tokens' "id" fields are not
 * trusted (the library reassigns ids and only warns).  GGUF follows
 * llama.cpp (llama-vocab.cpp): merges split at the first space after the
 * first byte; tokens of type control (3) and user-defined (4) are matched
 * verbatim in the text, control ones being special; the pre-tokenizer comes
 * from tokenizer.ggml.pre.
 *
 * src/core/tokenizers/tok_bpe_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "core/tokenizers/tok_bpe.h"

#include <stdlib.h>
#include <string.h>

/* llama.cpp's token types */
#define GGUF_TOKEN_CONTROL		3
#define GGUF_TOKEN_USER_DEFINED 4

/* Arrays a spec points into, freed after tok_bpe_new */
typedef struct SpecArrays
{
	const char **tokens;
	size_t	   *lens;
	int32_t    *ids;
	const char **ml;
	size_t	   *mll;
	const char **mr;
	size_t	   *mrl;
	TokBpeAdded *added;
} SpecArrays;

static void
arrays_free(SpecArrays *a)
{
	free(a->tokens);
	free(a->lens);
	free(a->ids);
	free(a->ml);
	free(a->mll);
	free(a->mr);
	free(a->mrl);
	free(a->added);
}

/* Allocate the arrays for n tokens, m merges, k added tokens */
static bool
arrays_alloc(SpecArrays *a, size_t n, size_t m, size_t k)
{
	memset(a, 0, sizeof(*a));
	a->tokens = malloc((n + 1) * sizeof(char *));
	a->lens = malloc((n + 1) * sizeof(size_t));
	a->ids = malloc((n + 1) * sizeof(int32_t));
	a->ml = malloc((m + 1) * sizeof(char *));
	a->mll = malloc((m + 1) * sizeof(size_t));
	a->mr = malloc((m + 1) * sizeof(char *));
	a->mrl = malloc((m + 1) * sizeof(size_t));
	a->added = calloc(k + 1, sizeof(TokBpeAdded));
	return a->tokens && a->lens && a->ids && a->ml && a->mll && a->mr && a->mrl && a->added;
}

/* Whether v is a string equal to s */
static bool
str_is(const JsonValue *v, const char *s)
{
	size_t		len;
	const char *t = v ? json_str(v, &len) : NULL;

	return t && len == strlen(s) && memcmp(t, s, len) == 0;
}

/* An optional boolean member: def when absent or null; false on a wrong type */
static bool
get_bool(const JsonValue *o, const char *key, bool def, bool *out)
{
	const JsonValue *v = json_get(o, key);

	*out = def;
	if (v == NULL || json_type(v) == JSON_NULL)
		return true;
	return json_bool(v, out);
}

/* The "type" of a component object, or NULL */
static const char *
type_of(const JsonValue *o)
{
	const JsonValue *t = json_get(o, "type");

	return t ? json_str(t, NULL) : NULL;
}

/* ---------------------------------------------------------------- pre-tokenizer names */

PgiStatus
tok_bpe_pre_from_name(const char *name, size_t len, TokBpeSpec *spec, PgiError *err)
{
	static const char *const gpt2[] = {"default", "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de",
		"jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo",
	"jais", "trillion", "exaone4", "gigachat", "mellum", "modern-bert", "a.x-4.0", NULL};
	static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
	"pixtral", "midm-2.0", "lfm2", NULL};
	static const char *const llama3_plain[] = {"dbrx", "smaug-bpe", "chatglm-bpe", "glm4", NULL};
	static const char *const qwen2[] = {"qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "megrez",
	"kormo", "grok-2", NULL};
	static const char *const smollm[] = {"smollm", "starcoder", "refact", "command-r", "codeshell",
	"exaone", "minerva-7b", NULL};
	const char *const *lists[] = {gpt2, llama3, llama3_plain, qwen2, smollm};
	int			which = -1;

	if (name == NULL)
		which = 0;				/* no tokenizer.ggml.pre: llama.cpp's default */
	for (int l = 0; l < 5 && which < 0; l++)
		for (const char *const *n = lists[l]; *n && which < 0; n++)
			if (strlen(*n) == len && memcmp(*n, name, len) == 0)
				which = l;
	if (which < 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Supported: gpt2-like, llama-bpe-like, qwen2-like and smollm-like pre-tokenizers.",
						 "byte-level BPE pre-tokenizer \"%.*s\" is not supported",
						 (int) (len > 64 ? 64 : len), name);
	spec->n_steps = 0;
	spec->add_prefix_space = false;
	spec->use_regex = true;
	spec->ignore_merges = false;
	spec->add_bos = false;
	switch (which)
	{
		case 0:
			break;
		case 1:
		case 2:
			spec->steps[spec->n_steps++] = (TokBpeStep) {TOK_BPE_STEP_SPLIT, TOK_BPE_PAT_LLAMA3, false};
			spec->use_regex = false;
			if (which == 1)
			{
				spec->ignore_merges = true;
				spec->add_bos = true;
			}
			break;
		case 3:
			spec->steps[spec->n_steps++] = (TokBpeStep) {TOK_BPE_STEP_SPLIT, TOK_BPE_PAT_QWEN2, false};
			spec->use_regex = false;
			break;
		case 4:
			spec->steps[spec->n_steps++] = (TokBpeStep) {TOK_BPE_STEP_DIGITS, TOK_BPE_PAT_GPT2, true};
			break;
	}
	return PGI_OK;
}

/* ---------------------------------------------------------------- tokenizer.json */

/* The ByteLevel pre-tokenizer's options */
static PgiStatus
json_byte_level(const JsonValue *o, TokBpeSpec *spec, PgiError *err)
{
	if (!get_bool(o, "add_prefix_space", true, &spec->add_prefix_space) ||
		!get_bool(o, "use_regex", true, &spec->use_regex))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad ByteLevel pre-tokenizer options");
	return PGI_OK;
}

/*
 * A Split pre-tokenizer: a known Regex pattern, behavior Isolated (where
 * invert changes nothing: matches and the text between them are all
 * pieces) or Removed with invert (the matches are the pieces)
 */
static PgiStatus
json_split(const JsonValue *o, TokBpeStep *step, PgiError *err)
{
	const JsonValue *pat = json_get(o, "pattern");
	const JsonValue *re = pat ? json_get(pat, "Regex") : NULL;
	const JsonValue *behavior = json_get(o, "behavior");
	bool		invert;
	size_t		len;
	const char *s = re ? json_str(re, &len) : NULL;
	TokBpeStepKind kind;

	if (!get_bool(o, "invert", false, &invert))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad Split pre-tokenizer");
	if (s != NULL && str_is(behavior, "Isolated"))
		kind = TOK_BPE_STEP_SPLIT;
	else if (s != NULL && str_is(behavior, "Removed") && invert)
		kind = TOK_BPE_STEP_KEEP;
	else
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Supported: a Regex pattern with behavior Isolated, or Removed with invert.",
						 "tokenizer.json: unsupported Split pre-tokenizer");
	for (int p = 0; p < TOK_BPE_PAT_COUNT; p++)
	{
		const char *known = tok_bpe_pattern_regex((TokBpePattern) p);

		if (strlen(known) == len && memcmp(known, s, len) == 0)
		{
			*step = (TokBpeStep) {kind, (TokBpePattern) p, false};
			return PGI_OK;
		}
	}
	return pgi_error(err, PGI_ERR_UNSUPPORTED,
					 "Supported: the GPT-2, Llama 3, Qwen2 and CLIP patterns.",
					 "tokenizer.json: unsupported Split pattern \"%.*s\"", (int) (len > 80 ? 80 : len), s);
}

/* One pre-tokenizer step before ByteLevel */
static PgiStatus
json_step(const JsonValue *o, TokBpeSpec *spec, PgiError *err)
{
	const char *type = type_of(o);
	TokBpeStep *step;

	if (type == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: pre-tokenizer without a type");
	if (spec->n_steps == TOK_BPE_MAX_STEPS)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "tokenizer.json: more than %d pre-tokenizer steps",
						 TOK_BPE_MAX_STEPS);
	step = &spec->steps[spec->n_steps];
	if (strcmp(type, "Split") == 0)
	{
		PgiStatus	st = json_split(o, step, err);

		if (st == PGI_OK)
			spec->n_steps++;
		return st;
	}
	if (strcmp(type, "Digits") == 0)
	{
		bool		individual;

		if (!get_bool(o, "individual_digits", false, &individual))
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad Digits pre-tokenizer");
		*step = (TokBpeStep) {TOK_BPE_STEP_DIGITS, TOK_BPE_PAT_GPT2, individual};
		spec->n_steps++;
		return PGI_OK;
	}
	return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
					 "tokenizer.json: pre-tokenizer \"%s\" is not supported with byte-level BPE", type);
}

/* pre_tokenizer: ByteLevel, or a Sequence ending in ByteLevel */
static PgiStatus
json_pre(const JsonValue *pre, TokBpeSpec *spec, PgiError *err)
{
	const char *type = pre ? type_of(pre) : NULL;
	const JsonValue *list;
	size_t		n;
	PgiStatus	st;

	spec->n_steps = 0;
	if (type && strcmp(type, "ByteLevel") == 0)
		return json_byte_level(pre, spec, err);
	if (type == NULL || strcmp(type, "Sequence") != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Byte-level BPE needs a ByteLevel pre-tokenizer.",
						 "tokenizer.json: pre-tokenizer \"%s\" is not supported", type ? type : "null");
	list = json_get(pre, "pretokenizers");
	n = list ? json_size(list) : 0;
	if (list == NULL || json_type(list) != JSON_ARRAY)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: Sequence pre-tokenizer without a list");
	if (n == 0 || !str_is(json_get(json_at(list, n - 1), "type"), "ByteLevel"))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "Byte-level BPE needs a ByteLevel pre-tokenizer last.",
						 "tokenizer.json: pre-tokenizer sequence does not end with ByteLevel");
	for (size_t i = 0; i + 1 < n; i++)
		if ((st = json_step(json_at(list, i), spec, err)) != PGI_OK)
			return st;
	return json_byte_level(json_at(list, n - 1), spec, err);
}

/* Replace(Regex "\s+", " "), the one Replace supported; -1 for another */
static int
json_replace(const JsonValue *o)
{
	const JsonValue *pat = json_get(o, "pattern");
	const JsonValue *re = pat ? json_get(pat, "Regex") : NULL;

	return str_is(re, "\\s+") && str_is(json_get(o, "content"), " ") ? TOK_BPE_NORM_SPACES : -1;
}

/* normalizer: null, NFC, Lowercase, Replace(\s+, " ") or a Sequence of them */
static PgiStatus
json_normalizer(const JsonValue *norm, TokBpeSpec *spec, PgiError *err)
{
	const char *type;
	int			kind = -1;

	if (norm == NULL || json_type(norm) == JSON_NULL)
		return PGI_OK;
	type = type_of(norm);
	if (type && strcmp(type, "NFC") == 0)
		kind = TOK_BPE_NORM_NFC;
	else if (type && strcmp(type, "Lowercase") == 0)
		kind = TOK_BPE_NORM_LOWERCASE;
	else if (type && strcmp(type, "Replace") == 0 && (kind = json_replace(norm)) < 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "The supported Replace normalizer has pattern {\"Regex\": \"\\\\s+\"} and content \" \".",
						 "tokenizer.json: unsupported Replace normalizer");
	if (kind >= 0)
	{
		if (spec->n_norms == TOK_BPE_MAX_NORMS)
			return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "tokenizer.json: more than %d normalizer steps",
							 TOK_BPE_MAX_NORMS);
		spec->norms[spec->n_norms++] = (TokBpeNormKind) kind;
		return PGI_OK;
	}
	if (type && strcmp(type, "Sequence") == 0)
	{
		const JsonValue *list = json_get(norm, "normalizers");

		if (list == NULL || json_type(list) != JSON_ARRAY)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: Sequence normalizer without a list");
		for (size_t i = 0; i < json_size(list); i++)
		{
			PgiStatus	st = json_normalizer(json_at(list, i), spec, err);

			if (st != PGI_OK)
				return st;
		}
		return PGI_OK;
	}
	return pgi_error(err, PGI_ERR_UNSUPPORTED,
					 "Supported normalizers with byte-level BPE: NFC, Lowercase, Replace(\\s+, \" \") and Sequence.",
					 "tokenizer.json: normalizer \"%s\" is not supported", type ? type : "?");
}

/* decoder: ByteLevel (alone or in a Sequence) */
static PgiStatus
json_decoder(const JsonValue *dec, PgiError *err)
{
	const char *type = dec ? type_of(dec) : NULL;

	if (type && strcmp(type, "ByteLevel") == 0)
		return PGI_OK;
	if (type && strcmp(type, "Sequence") == 0)
	{
		const JsonValue *list = json_get(dec, "decoders");

		if (list && json_size(list) == 1 && str_is(json_get(json_at(list, 0), "type"), "ByteLevel"))
			return PGI_OK;
	}
	return pgi_error(err, PGI_ERR_UNSUPPORTED, "Byte-level BPE needs the ByteLevel decoder.",
					 "tokenizer.json: decoder \"%s\" is not supported", type ? type : "null");
}

/* The single id of a [token, id] pair (RobertaProcessing's cls / sep) */
static int32_t
pair_id(const JsonValue *pair)
{
	int64_t		id;

	if (pair && json_size(pair) == 2 && json_int(json_at(pair, 1), &id) && id >= 0 && id < INT32_MAX)
		return (int32_t) id;
	return -1;
}

/* The id of a TemplateProcessing special token item, or -1 */
static int32_t
template_special(const JsonValue *tp, const JsonValue *item)
{
	const JsonValue *sp = json_get(item, "SpecialToken");
	const JsonValue *name = sp ? json_get(sp, "id") : NULL;
	const JsonValue *specials = json_get(tp, "special_tokens");
	const JsonValue *entry;
	const JsonValue *ids;
	size_t		len;
	const char *s = name ? json_str(name, &len) : NULL;
	int64_t		id;

	if (s == NULL || specials == NULL)
		return -1;
	entry = json_getn(specials, s, len);
	ids = entry ? json_get(entry, "ids") : NULL;
	if (ids && json_size(ids) == 1 && json_int(json_at(ids, 0), &id) && id >= 0 && id < INT32_MAX)
		return (int32_t) id;
	return -1;
}

/* BOS/EOS from the post-processor (only tells the caller; never fails) */
static void
json_post(const JsonValue *pp, TokBpeSpec *spec)
{
	const char *type = pp ? type_of(pp) : NULL;

	if (type == NULL)
		return;
	if (strcmp(type, "TemplateProcessing") == 0)
	{
		const JsonValue *single = json_get(pp, "single");
		size_t		n = single ? json_size(single) : 0;
		int32_t		id;

		if (n == 0 || json_type(single) != JSON_ARRAY)
			return;
		if ((id = template_special(pp, json_at(single, 0))) >= 0)
		{
			spec->bos_id = id;
			spec->add_bos = true;
		}
		if (n > 1 && (id = template_special(pp, json_at(single, n - 1))) >= 0)
		{
			spec->eos_id = id;
			spec->add_eos = true;
		}
	}
	else if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0)
	{
		int32_t		cls = pair_id(json_get(pp, "cls")),
					sep = pair_id(json_get(pp, "sep"));

		if (cls >= 0)
		{
			spec->bos_id = cls;
			spec->add_bos = true;
		}
		if (sep >= 0)
		{
			spec->eos_id = sep;
			spec->add_eos = true;
		}
	}
	else if (strcmp(type, "Sequence") == 0)
	{
		const JsonValue *list = json_get(pp, "processors");

		for (size_t i = 0; list && i < json_size(list); i++)
			json_post(json_at(list, i), spec);
	}
}

/* end_of_word_suffix (null or a string); continuing_subword_prefix must be null or "" */
static PgiStatus
json_affixes(const JsonValue *model, TokBpeSpec *spec, PgiError *err)
{
	const JsonValue *v = json_get(model, "continuing_subword_prefix");
	size_t		len = 0;

	if (v && json_type(v) != JSON_NULL && json_str(v, &len) == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: continuing_subword_prefix is not a string");
	if (len > 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED,
						 "Byte-level BPE models have no subword prefix (CLIP's is \"\").",
						 "tokenizer.json: BPE continuing_subword_prefix is not supported");
	v = json_get(model, "end_of_word_suffix");
	if (v && json_type(v) != JSON_NULL &&
		(spec->end_of_word_suffix = json_str(v, &spec->suffix_len)) == NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: end_of_word_suffix is not a string");
	return PGI_OK;
}

/* Split a legacy "a b" merge: exactly one space */
static bool
split_legacy(const char *s, size_t len, SpecArrays *a, int32_t r)
{
	const char *sp = memchr(s, ' ', len);

	if (sp == NULL || memchr(sp + 1, ' ', len - (size_t) (sp + 1 - s)) != NULL)
		return false;
	a->ml[r] = s;
	a->mll[r] = (size_t) (sp - s);
	a->mr[r] = sp + 1;
	a->mrl[r] = len - a->mll[r] - 1;
	return true;
}

PgiStatus
tok_bpe_from_json(const JsonValue *root, const TokBpeOptions *opts, TokBpe **out, PgiError *err)
{
	const JsonValue *model = json_get(root, "model");
	const JsonValue *vocab,
			   *merges,
			   *added,
			   *v;
	const char *type;
	TokBpeSpec	spec;
	SpecArrays	a;
	size_t		n_vocab,
				n_merges,
				n_added;
	int32_t		r = 0;
	double		dropout;
	PgiStatus	st;

	*out = NULL;
	if (root == NULL || json_type(root) != JSON_OBJECT || model == NULL || json_type(model) != JSON_OBJECT)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: no model object");
	type = type_of(model);
	if (type && strcmp(type, "BPE") != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL, "tokenizer.json: model \"%s\" is not BPE", type);
	vocab = json_get(model, "vocab");
	merges = json_get(model, "merges");
	if (vocab == NULL || json_type(vocab) != JSON_OBJECT || merges == NULL || json_type(merges) != JSON_ARRAY)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: BPE model without vocab and merges");
	added = json_get(root, "added_tokens");
	if (added && json_type(added) != JSON_ARRAY && json_type(added) != JSON_NULL)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: added_tokens is not an array");
	n_vocab = json_size(vocab);
	n_merges = json_size(merges);
	n_added = added ? json_size(added) : 0;
	if (n_vocab >= TOK_BPE_MAX_IDS || n_merges >= TOK_BPE_MAX_IDS || n_added >= TOK_BPE_MAX_IDS)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "tokenizer.json: vocabulary too large");

	tok_bpe_spec_init(&spec);
	/* model options */
	v = json_get(model, "dropout");
	if (v && json_type(v) != JSON_NULL && (!json_num(v, &dropout) || dropout != 0.0))
		return pgi_error(err, PGI_ERR_UNSUPPORTED, "BPE dropout is random and only for training.",
						 "tokenizer.json: BPE dropout is not supported");
	if ((st = json_affixes(model, &spec, err)) != PGI_OK)
		return st;
	v = json_get(model, "unk_token");
	if (v && json_type(v) != JSON_NULL)
	{
		spec.unk_token = json_str(v, &spec.unk_len);
		if (spec.unk_token == NULL)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: unk_token is not a string");
	}
	if (!get_bool(model, "fuse_unk", false, &spec.fuse_unk) ||
		!get_bool(model, "byte_fallback", false, &spec.byte_fallback) ||
		!get_bool(model, "ignore_merges", false, &spec.ignore_merges))
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad BPE model options");
	/* the components around the model */
	if ((st = json_normalizer(json_get(root, "normalizer"), &spec, err)) != PGI_OK ||
		(st = json_pre(json_get(root, "pre_tokenizer"), &spec, err)) != PGI_OK ||
		(st = json_decoder(json_get(root, "decoder"), err)) != PGI_OK)
		return st;
	json_post(json_get(root, "post_processor"), &spec);
	v = json_get(root, "padding");
	if (v && json_type(v) == JSON_OBJECT)
	{
		int64_t		pad;

		if (json_int(json_get(v, "pad_id"), &pad) && pad >= 0 && pad < INT32_MAX)
			spec.pad_id = (int32_t) pad;
	}

	if (!arrays_alloc(&a, n_vocab, n_merges, n_added))
	{
		arrays_free(&a);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading tokenizer.json");
	}
	for (size_t i = 0; i < n_vocab; i++)
	{
		const JsonMember *m = json_member(vocab, i);
		int64_t		id;

		if (!json_int(&m->value, &id) || id < 0 || id >= TOK_BPE_MAX_IDS)
		{
			arrays_free(&a);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad id for vocabulary entry \"%.*s\"",
							 (int) (m->key_len > 40 ? 40 : m->key_len), m->key);
		}
		a.tokens[i] = m->key;
		a.lens[i] = m->key_len;
		a.ids[i] = (int32_t) id;
	}
	for (size_t i = 0; i < n_merges; i++)
	{
		const JsonValue *m = json_at(merges, i);
		size_t		len;
		const char *s = json_str(m, &len);
		bool		ok;

		if (s)
		{
			if (len >= 8 && memcmp(s, "#version", 8) == 0)
				continue;
			ok = split_legacy(s, len, &a, r);
		}
		else
		{
			ok = json_type(m) == JSON_ARRAY && json_size(m) == 2 &&
				(a.ml[r] = json_str(json_at(m, 0), &a.mll[r])) != NULL &&
				(a.mr[r] = json_str(json_at(m, 1), &a.mrl[r])) != NULL;
		}
		if (!ok)
		{
			arrays_free(&a);
			return pgi_error(err, PGI_ERR_CORRUPT, "A merge is \"a b\" or [\"a\", \"b\"].",
							 "tokenizer.json: bad merge %zu", i);
		}
		r++;
	}
	for (size_t i = 0; i < n_added; i++)
	{
		const JsonValue *t = json_at(added, i);
		TokBpeAdded *d = &a.added[i];
		const JsonValue *c = json_get(t, "content");

		d->content = c ? json_str(c, &d->len) : NULL;
		if (d->content == NULL ||
			!get_bool(t, "special", false, &d->special) ||
			!get_bool(t, "normalized", !d->special, &d->normalized) ||
			!get_bool(t, "lstrip", false, &d->lstrip) ||
			!get_bool(t, "rstrip", false, &d->rstrip) ||
			!get_bool(t, "single_word", false, &d->single_word))
		{
			arrays_free(&a);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "tokenizer.json: bad added token %zu", i);
		}
	}
	spec.tokens = a.tokens;
	spec.lens = a.lens;
	spec.ids = a.ids;
	spec.n_tokens = (int32_t) n_vocab;
	spec.merge_left = a.ml;
	spec.merge_left_lens = a.mll;
	spec.merge_right = a.mr;
	spec.merge_right_lens = a.mrl;
	spec.n_merges = r;
	spec.added = a.added;
	spec.n_added = (int32_t) n_added;
	st = tok_bpe_new(&spec, opts, out, err);
	arrays_free(&a);
	return st;
}

PgiStatus
tok_bpe_from_json_text(const char *text, size_t len, const TokBpeOptions *opts, TokBpe **out,
					   PgiError *err)
{
	JsonDoc    *doc;
	PgiStatus	st;

	*out = NULL;
	if ((st = json_parse(text, len, &doc, err)) != PGI_OK)
		return st;
	st = tok_bpe_from_json(json_root(doc), opts, out, err);
	json_free(doc);
	return st;
}

/* ---------------------------------------------------------------- GGUF */

/* An optional id key: -1 when absent */
static PgiStatus
gguf_opt_id(const GgufFile *f, const char *key, int32_t *out, PgiError *err)
{
	uint32_t	v;
	PgiStatus	st;

	*out = -1;
	if (gguf_find_kv(f, key) == NULL)
		return PGI_OK;
	if ((st = gguf_get_u32(f, key, &v, err)) != PGI_OK)
		return st;
	if (v >= TOK_BPE_MAX_IDS)
		return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF key %s: id %u out of range", key, v);
	*out = (int32_t) v;
	return PGI_OK;
}

/* An optional boolean key */
static PgiStatus
gguf_opt_bool(const GgufFile *f, const char *key, bool *out, PgiError *err)
{
	if (gguf_find_kv(f, key) == NULL)
		return PGI_OK;
	return gguf_get_bool(f, key, out, err);
}

PgiStatus
tok_bpe_from_gguf(const GgufFile *f, const TokBpeOptions *opts, TokBpe **out, PgiError *err)
{
	const GgufKV *tokens,
			   *merges,
			   *types = NULL,
			   *pre;
	const char *model;
	size_t		model_len;
	TokBpeSpec	spec;
	SpecArrays	a;
	int32_t		n_added = 0;
	PgiStatus	st;

	*out = NULL;
	if ((st = gguf_get_str(f, "tokenizer.ggml.model", &model, &model_len, err)) != PGI_OK)
		return st;
	if (model_len != 4 || memcmp(model, "gpt2", 4) != 0)
		return pgi_error(err, PGI_ERR_UNSUPPORTED, NULL,
						 "GGUF tokenizer model \"%.*s\" is not byte-level BPE (\"gpt2\")",
						 (int) (model_len > 32 ? 32 : model_len), model);
	if ((st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err)) != PGI_OK ||
		(st = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, err)) != PGI_OK)
		return st;
	if (tokens->n >= TOK_BPE_MAX_IDS || merges->n >= TOK_BPE_MAX_IDS)
		return pgi_error(err, PGI_ERR_LIMIT, NULL, "GGUF tokenizer too large");
	if (gguf_find_kv(f, "tokenizer.ggml.token_type"))
	{
		if ((st = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_COUNT, &types, err)) != PGI_OK)
			return st;
		if (types->n != tokens->n)
			return pgi_error(err, PGI_ERR_CORRUPT, NULL,
							 "GGUF tokenizer.ggml.token_type has %llu entries for %llu tokens",
							 (unsigned long long) types->n, (unsigned long long) tokens->n);
	}

	tok_bpe_spec_init(&spec);
	pre = gguf_find_kv(f, "tokenizer.ggml.pre");
	if (pre)
	{
		const char *name;
		size_t		len;

		if ((st = gguf_get_str(f, "tokenizer.ggml.pre", &name, &len, err)) != PGI_OK ||
			(st = tok_bpe_pre_from_name(name, len, &spec, err)) != PGI_OK)
			return st;
	}
	else if ((st = tok_bpe_pre_from_name(NULL, 0, &spec, err)) != PGI_OK)
		return st;
	if ((st = gguf_opt_id(f, "tokenizer.ggml.bos_token_id", &spec.bos_id, err)) != PGI_OK ||
		(st = gguf_opt_id(f, "tokenizer.ggml.eos_token_id", &spec.eos_id, err)) != PGI_OK ||
		(st = gguf_opt_id(f, "tokenizer.ggml.padding_token_id", &spec.pad_id, err)) != PGI_OK ||
		(st = gguf_opt_bool(f, "tokenizer.ggml.add_bos_token", &spec.add_bos, err)) != PGI_OK ||
		(st = gguf_opt_bool(f, "tokenizer.ggml.add_eos_token", &spec.add_eos, err)) != PGI_OK)
		return st;

	if (!arrays_alloc(&a, tokens->n, merges->n, tokens->n))
	{
		arrays_free(&a);
		return pgi_error(err, PGI_ERR_NOMEM, NULL, "out of memory reading the GGUF tokenizer");
	}
	for (uint64_t i = 0; i < tokens->n; i++)
	{
		int64_t		t = 1;

		a.tokens[i] = gguf_arr_str(tokens, i, &a.lens[i]);
		a.ids[i] = (int32_t) i;
		if (a.tokens[i] == NULL || (types && !gguf_arr_i64(types, i, &t)))
		{
			arrays_free(&a);
			return pgi_error(err, PGI_ERR_CORRUPT, NULL, "GGUF tokenizer: bad token %llu",
							 (unsigned long long) i);
		}
		if (t == GGUF_TOKEN_CONTROL || t == GGUF_TOKEN_USER_DEFINED)
		{
			TokBpeAdded *d = &a.added[n_added++];

			d->content = a.tokens[i];
			d->len = a.lens[i];
			d->special = t == GGUF_TOKEN_CONTROL;
			d->normalized = false;
		}
	}
	for (uint64_t i = 0; i < merges->n; i++)
	{
		size_t		len;
		const char *s = gguf_arr_str(merges, i, &len);
		const char *sp = (s && len > 1) ? memchr(s + 1, ' ', len - 1) : NULL;

		if (sp == NULL)
		{
			arrays_free(&a);
			return pgi_error(err, PGI_ERR_CORRUPT, "A merge is two tokens separated by a space.",
							 "GGUF tokenizer: bad merge %llu", (unsigned long long) i);
		}
		a.ml[i] = s;
		a.mll[i] = (size_t) (sp - s);
		a.mr[i] = sp + 1;
		a.mrl[i] = len - a.mll[i] - 1;
	}
	spec.tokens = a.tokens;
	spec.lens = a.lens;
	spec.ids = a.ids;
	spec.n_tokens = (int32_t) tokens->n;
	spec.merge_left = a.ml;
	spec.merge_left_lens = a.mll;
	spec.merge_right = a.mr;
	spec.merge_right_lens = a.mrl;
	spec.n_merges = (int32_t) merges->n;
	spec.added = a.added;
	spec.n_added = n_added;
	st = tok_bpe_new(&spec, opts, out, err);
	arrays_free(&a);
	return st;
}
