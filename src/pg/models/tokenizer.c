/*-------------------------------------------------------------------------
 *
 * tokenizer.c
 *	  Tokenizers of loaded models: the core tokenizers (src/core/tokenizers/tok_*.c)
 *	  built from a prepared model's vocabulary, with PostgreSQL's Unicode
 *	  normalisation.
 *
 * src/pg/models/tokenizer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/unicode_norm.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "core/formats/gguf.h"
#include "core/tokenizers/tok_bpe.h"
#include "core/tokenizers/tok_spm.h"
#include "core/tokenizers/tok_unigram.h"
#include "core/models/use_load.h"
#include "core/tokenizers/tok_wordpiece.h"
#include "pg/models/models.h"
#include "pg/pgi_error.h"

struct PgiTokenizer
{
	TokWordPiece *wp;			/* one of these */
	TokSpm	   *sp;
	TokUnigram *ug;
	TokBpe	   *bpe;
	/* sp: its control and unknown pieces (TokenizerEncodeSpecial) */
	int			n_special;
	const char **special;
	int		   *special_len;
	int32	   *special_id;
};

/*
 * NFD / NFKC through PostgreSQL's unicode_normalize (see TokNfdFn).  Runs
 * too long for palloc are refused here (-1: the core reports out of
 * memory); the only error left is the server running out of memory, which
 * is raised from here through the core: the core's work buffers of that one
 * call are then lost.
 */
static int64_t
PgNormalize(UnicodeNormalizationForm form, const uint32_t *in, size_t n_in,
			uint32_t *out, size_t out_cap)
{
	pg_wchar   *src;
	pg_wchar   *dst;
	size_t		m = 0;

	/* unicode_normalize pallocs: keep well below MaxAllocSize (decomposition grows) */
	if (n_in > MaxAllocSize / sizeof(pg_wchar) / 8)
		return -1;
	src = palloc(sizeof(pg_wchar) * (n_in + 1));

	memcpy(src, in, sizeof(pg_wchar) * n_in);
	src[n_in] = 0;
	dst = unicode_normalize(form, src);
	while (dst[m])
		m++;
	if (m <= out_cap)
		memcpy(out, dst, sizeof(uint32_t) * m);
	pfree(src);
	pfree(dst);
	return (int64_t) m;
}

/* NFD (TokNfdFn) */
static int64_t
PgNfd(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	return PgNormalize(UNICODE_NFD, in, n_in, out, out_cap);
}

/* NFC (TokNfcFn), for the byte-level BPE tokenizers that normalize */
int64_t
PgNfc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	return PgNormalize(UNICODE_NFC, in, n_in, out, out_cap);
}

/* NFKC (TokNfkcFn) */
static int64_t
PgNfkc(void *arg, const uint32_t *in, size_t n_in, uint32_t *out, size_t out_cap)
{
	return PgNormalize(UNICODE_NFKC, in, n_in, out, out_cap);
}

/* Free a tokenizer (and its core object) */
void
TokenizerFree(PgiTokenizer *tok)
{
	if (tok->wp)
		tok_wordpiece_free(tok->wp);
	if (tok->sp)
		tok_spm_free(tok->sp);
	if (tok->special_id)
	{
		pfree(tok->special);
		pfree(tok->special_len);
		pfree(tok->special_id);
	}
	if (tok->ug)
		tok_unigram_free(tok->ug);
	if (tok->bpe)
		tok_bpe_free(tok->bpe);
	pfree(tok);
}

PgiTokenizer *
TokenizerCreate(const PgimModel *pm)
{
	uint32		n = pgim_vocab_count(pm);
	const char **tokens;
	size_t	   *lens;
	const char *specials[5];
	int			nspecial = 0;
	int32		ids[5] = {pm->meta.pad_id, pm->meta.unk_id, pm->meta.cls_id,
	pm->meta.sep_id, pm->meta.mask_id};
	TokWordPieceConfig cfg;
	PgiError	err = {0};
	PgiTokenizer *tok;
	PgiStatus	st;

	if (pm->meta.tok_kind == PGIM_TOK_NONE)
		return MemoryContextAllocZero(TopMemoryContext, sizeof(PgiTokenizer));
	if (pm->meta.tok_kind == PGIM_TOK_BPE)
	{
		TokBpeOptions opts = {PgNfc, NULL};
		PgiStatus	st;

		tok = MemoryContextAllocZero(TopMemoryContext, sizeof(PgiTokenizer));
		if (pm->meta.tok_flags & PGIM_TOK_BLOB_JSON)
			st = tok_bpe_from_json_text((const char *) pm->blob, pm->blob_len, &opts, &tok->bpe, &err);
		else
		{
			GgufFile   *g;

			st = gguf_open(pm->blob, pm->blob_len, &g, &err);
			if (st == PGI_OK)
			{
				st = tok_bpe_from_gguf(g, &opts, &tok->bpe, &err);
				gguf_free(g);
			}
		}
		if (st != PGI_OK)
		{
			pfree(tok);
			PgiReport(&err);
		}
		return tok;
	}
	if (pm->meta.tok_kind == PGIM_TOK_UNIGRAM)
	{
		tok = MemoryContextAllocZero(TopMemoryContext, sizeof(PgiTokenizer));
		if (use_tokenizer_from_weights(&pm->use_config, &pm->use_weights, PgNfkc, NULL,
									   &tok->ug, &err) != PGI_OK)
		{
			pfree(tok);
			PgiReport(&err);
		}
		return tok;
	}
	if (pm->meta.tok_kind == PGIM_TOK_SENTENCEPIECE)
	{
		tok = MemoryContextAllocZero(TopMemoryContext, sizeof(PgiTokenizer));
		if (tok_spm_open(pm->blob, pm->blob_len, &tok->sp, &err) != PGI_OK)
		{
			pfree(tok);
			PgiReport(&err);
		}
		return tok;
	}
	if (pm->meta.tok_kind != PGIM_TOK_WORDPIECE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tokenizer kind %u is not supported yet", pm->meta.tok_kind)));
	tokens = palloc(sizeof(char *) * Max(n, 1));
	lens = palloc(sizeof(size_t) * Max(n, 1));
	if (pgim_vocab_tokens(pm, tokens, lens, &err) != PGI_OK)
		PgiReport(&err);
	/* the NUL-terminated copies the config needs for special tokens */
	for (int i = 0; i < 5; i++)
		if (ids[i] >= 0 && (uint32) ids[i] < n)
			specials[nspecial++] = pnstrdup(tokens[ids[i]], lens[ids[i]]);

	tok_wordpiece_config_default(&cfg);
	cfg.lowercase = (pm->meta.tok_flags & PGIM_TOK_LOWERCASE) != 0;
	cfg.strip_accents = (pm->meta.tok_flags & PGIM_TOK_STRIP_ACCENTS) != 0;
	cfg.handle_chinese_chars = (pm->meta.tok_flags & PGIM_TOK_CHINESE_CHARS) != 0;
	cfg.clean_text = (pm->meta.tok_flags & PGIM_TOK_CLEAN_TEXT) != 0;
	cfg.max_input_chars_per_word = pm->meta.max_chars_per_word;
	cfg.unk_token = pnstrdup(tokens[pm->meta.unk_id], lens[pm->meta.unk_id]);
	cfg.special_tokens = specials;
	cfg.n_special_tokens = nspecial;
	cfg.nfd = PgNfd;
	cfg.nfd_arg = NULL;

	tok = MemoryContextAllocZero(TopMemoryContext, sizeof(PgiTokenizer));
	st = tok_wordpiece_new(tokens, lens, (int32) n, &cfg, &tok->wp, &err);
	if (st != PGI_OK)
	{
		pfree(tok);
		PgiReport(&err);
	}
	return tok;
}

/* ERROR when the model has no tokenizer (an image encoder) */
static void
RequireTokenizer(const PgiTokenizer *tok)
{
	if (!tok->wp && !tok->sp && !tok->ug && !tok->bpe)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model has no tokenizer"),
				 errdetail("It reads images, not text.")));
}

int32 *
TokenizerEncode(PgiTokenizer *tok, const char *text, int len, int *n)
{
	TokWordPieceIds ids = {0};
	PgiError	err = {0};
	int32	   *out;

	RequireTokenizer(tok);
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tokenizers need a UTF8 database")));
	if (tok->sp)
	{
		if (tok_spm_encode(tok->sp, text, (size_t) len, &ids.ids, &ids.len, &err) != PGI_OK)
			PgiReport(&err);
	}
	else if (tok->bpe)
	{
		TokBpeIds b = {0};

		if (tok_bpe_encode(tok->bpe, text, (size_t) len, &b, &err) != PGI_OK)
		{
			free(b.ids);
			PgiReport(&err);
		}
		ids.ids = b.ids;
		ids.len = b.len;
	}
	else if (tok->ug)
	{
		TokUnigramIds u = {0};

		if (tok_unigram_encode(tok->ug, text, (size_t) len, &u, &err) != PGI_OK)
		{
			free(u.ids);
			PgiReport(&err);
		}
		ids.ids = u.ids;
		ids.len = u.len;
	}
	else if (tok_wordpiece_encode(tok->wp, text, (size_t) len, &ids, &err) != PGI_OK)
	{
		free(ids.ids);
		PgiReport(&err);
	}
	out = palloc(sizeof(int32) * Max(ids.len, 1));
	memcpy(out, ids.ids, sizeof(int32) * ids.len);
	*n = (int) ids.len;
	free(ids.ids);
	return out;
}

int32 *
TokenizerEncodeOffsets(PgiTokenizer *tok, const char *text, int len, int *n, uint32 **offs,
					   uint32 **words)
{
	TokWordPieceIds ids = {0};
	PgiError	err = {0};
	int32	   *out;

	RequireTokenizer(tok);
	if (tok->wp == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("character offsets of tokens need a WordPiece tokenizer")));
	ids.want_offsets = true;
	if (tok_wordpiece_encode(tok->wp, text, (size_t) len, &ids, &err) != PGI_OK)
	{
		free(ids.ids);
		free(ids.offs);
		free(ids.words);
		PgiReport(&err);
	}
	out = palloc(sizeof(int32) * Max(ids.len, 1));
	*offs = palloc(sizeof(uint32) * 2 * Max(ids.len, 1));
	*words = palloc(sizeof(uint32) * Max(ids.len, 1));
	memcpy(out, ids.ids, sizeof(int32) * ids.len);
	memcpy(*offs, ids.offs, sizeof(uint32) * 2 * ids.len);
	memcpy(*words, ids.words, sizeof(uint32) * ids.len);
	*n = (int) ids.len;
	free(ids.ids);
	free(ids.offs);
	free(ids.words);
	return out;
}

char *
TokenizerDecodeBytes(PgiTokenizer *tok, const int32 *ids, int n, int *len)
{
	char	   *s;
	size_t		l;
	PgiError	err = {0};
	char	   *out;
	PgiStatus	st;

	RequireTokenizer(tok);
	st = tok->sp ? tok_spm_decode(tok->sp, ids, (size_t) n, &s, &l, &err) :
		tok->ug ? tok_unigram_decode(tok->ug, ids, (size_t) n, &s, &l, &err) :
		tok->bpe ? tok_bpe_decode(tok->bpe, ids, (size_t) n, true, &s, &l, &err) :
		tok_wordpiece_decode(tok->wp, ids, (size_t) n, true, &s, &l, &err);

	if (st != PGI_OK)
		PgiReport(&err);
	if (l > MaxAllocSize - 1)
	{
		free(s);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("decoded text is too long")));
	}
	out = palloc(l + 1);
	memcpy(out, s, l);
	out[l] = '\0';
	free(s);
	*len = (int) l;
	return out;
}

char *
TokenizerDecode(PgiTokenizer *tok, const int32 *ids, int n)
{
	int			len;
	char	   *s = TokenizerDecodeBytes(tok, ids, n, &len);

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tokenizers need a UTF8 database")));
	/* byte-level pieces can decode to a NUL or a broken sequence: refuse those */
	if (!pg_verifymbstr(s, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("these token ids do not decode to valid UTF-8 text")));
	return s;
}

char *
TokenizerPiece(PgiTokenizer *tok, int32 id)
{
	const char *p = NULL;
	size_t		len = 0;

	RequireTokenizer(tok);
	if (id < 0)
		return pstrdup("");
	if (tok->bpe)
		p = tok_bpe_id_to_token(tok->bpe, id, &len);
	else if (tok->sp)
		p = tok_spm_id_to_piece(tok->sp, id, &len);
	return p ? pnstrdup(p, len) : pstrdup("");
}

/* The special piece of tok->sp starting at s[0..len), longest first; -1 if none */
static int32
SpmSpecialAt(PgiTokenizer *tok, const char *s, int len, int *plen)
{
	int32		best = -1;

	*plen = 0;
	for (int i = 0; i < tok->n_special; i++)
	{
		int			l = tok->special_len[i];

		if (l > *plen && l <= len && memcmp(s, tok->special[i], l) == 0)
		{
			best = tok->special_id[i];
			*plen = l;
		}
	}
	return best;
}

/* The special pieces of a SentencePiece vocabulary, once per tokenizer */
static void
SpmSpecials(PgiTokenizer *tok)
{
	int32		n = tok_spm_n_pieces(tok->sp);
	int			k = 0;
	const char **piece;
	int		   *plen;
	int32	   *pid;

	if (tok->special_id != NULL)
		return;
	for (int32 id = 0; id < n; id++)
		k += tok_spm_is_special(tok->sp, id);
	piece = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * Max(k, 1));
	plen = MemoryContextAlloc(TopMemoryContext, sizeof(int) * Max(k, 1));
	pid = MemoryContextAlloc(TopMemoryContext, sizeof(int32) * Max(k, 1));
	k = 0;
	for (int32 id = 0; id < n; id++)
	{
		size_t		len;
		const char *p;

		if (tok_spm_is_special(tok->sp, id) && (p = tok_spm_id_to_piece(tok->sp, id, &len)) != NULL &&
			len > 0)
		{
			piece[k] = p;
			plen[k] = (int) len;
			pid[k++] = id;
		}
	}
	tok->special = piece;
	tok->special_len = plen;
	tok->n_special = k;
	tok->special_id = pid;		/* last: set means complete */
}

int32 *
TokenizerEncodeSpecial(PgiTokenizer *tok, const char *text, int len, int *n)
{
	int32	   *out;
	int			cap,
				k = 0,
				start = 0;

	if (tok->sp == NULL)
		return TokenizerEncode(tok, text, len, n);	/* BPE matches its specials itself */
	SpmSpecials(tok);
	cap = 64;
	out = palloc(sizeof(int32) * cap);
	for (int i = 0; i <= len;)
	{
		int			plen = 0;
		int32		id = i < len ? SpmSpecialAt(tok, text + i, len - i, &plen) : -1;

		if (i < len && id < 0)
		{
			i++;
			continue;
		}
		/* the text before the special (or the end), then the special */
		if (i > start)
		{
			int			m;
			int32	   *ids = TokenizerEncode(tok, text + start, i - start, &m);

			while (k + m + 1 > cap)
				out = repalloc(out, sizeof(int32) * (cap *= 2));
			memcpy(out + k, ids, sizeof(int32) * m);
			k += m;
			pfree(ids);
		}
		if (i == len)
			break;
		if (k + 1 > cap)
			out = repalloc(out, sizeof(int32) * (cap *= 2));
		out[k++] = id;
		i += plen;
		start = i;
	}
	*n = k;
	return out;
}
