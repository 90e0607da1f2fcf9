/*
 * bpe_driver.c
 *	  Parity driver for the byte-level BPE tokenizer: tokenizes strings with
 *	  src/core/tokenizers/tok_bpe*.c and prints, for each, the ids and the decodings,
 *	  for parity.js to compare with Hugging Face tokenizers.
 *
 * Usage: bpe_driver CONFIG.json STRINGS.json
 *
 * CONFIG.json: {"tokenizer_json": path} or {"gguf": path}.  NFC, when the
 * tokenizer has it, comes from PostgreSQL's unicode_normalize().
 *
 * STRINGS.json: an array of {"s": text, "r": [id, ...]}.  Output: one JSON
 * object per string and line, {"ids": [...], "dec": str, "skip": str,
 * "rdec": str} (dec and skip decode the ids with and without special
 * tokens, rdec decodes the ids r), or {"error": str}.  The first line is
 * the tokenizer's info.
 *
 * test/tokenizer/bpe/bpe_driver.c
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats/json.h"
#include "core/tokenizers/tok_bpe.h"
#include "pg_unicode_norm.h"

/* Print s[0..n) as a JSON string literal */
static void
print_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7F)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Exit with a message */
static void
die(const char *what, const PgiError *err)
{
	fprintf(stderr, "bpe_driver: %s%s%s%s%s\n", what, err ? ": " : "", err ? err->msg : "",
			err && err->detail[0] ? " -- " : "", err ? err->detail : "");
	exit(2);
}

/* Map a whole file read-only */
static uint8_t *
map_file(const char *path, size_t *len)
{
	int			fd = open(path, O_RDONLY);
	struct stat st;
	void	   *p;

	if (fd < 0 || fstat(fd, &st) != 0)
		die(path, NULL);
	*len = (size_t) st.st_size;
	p = mmap(NULL, *len ? *len : 1, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die(path, NULL);
	return p;
}

/* Parse a JSON file */
static JsonDoc *
load_json(const char *path, uint8_t **buf, size_t *len)
{
	JsonDoc    *doc;
	PgiError	err;

	*buf = map_file(path, len);
	if (json_parse((const char *) *buf, *len, &doc, &err) != PGI_OK)
		die(path, &err);
	return doc;
}

/* Build the tokenizer the configuration names */
static TokBpe *
build(const JsonValue *cfg)
{
	const JsonValue *tj = json_get(cfg, "tokenizer_json");
	const JsonValue *gg = json_get(cfg, "gguf");
	TokBpeOptions opts = {pg_unicode_nfc, NULL};
	TokBpe	   *bpe;
	PgiError	err;
	uint8_t    *buf;
	size_t		len;

	if (tj)
	{
		JsonDoc    *doc = load_json(json_str(tj, NULL), &buf, &len);

		if (tok_bpe_from_json(json_root(doc), &opts, &bpe, &err) != PGI_OK)
			die("tok_bpe_from_json", &err);
		json_free(doc);
	}
	else if (gg)
	{
		GgufFile   *f;

		buf = map_file(json_str(gg, NULL), &len);
		if (gguf_open(buf, len, &f, &err) != PGI_OK)
			die("gguf_open", &err);
		if (tok_bpe_from_gguf(f, &opts, &bpe, &err) != PGI_OK)
			die("tok_bpe_from_gguf", &err);
		gguf_free(f);
	}
	else
		die("config names no tokenizer", NULL);
	munmap(buf, len ? len : 1);
	return bpe;
}

/* Decode and print "key": text */
static bool
print_decode(const TokBpe *bpe, const char *key, const int32_t *ids, size_t n, bool skip,
			 PgiError *err)
{
	char	   *dec;
	size_t		len;

	if (tok_bpe_decode(bpe, ids, n, skip, &dec, &len, err) != PGI_OK)
		return false;
	printf(", \"%s\": ", key);
	print_str(dec, len);
	free(dec);
	return true;
}

/* Tokenize one string and print its line */
static void
run_one(const TokBpe *bpe, const JsonValue *item)
{
	TokBpeIds	ids = {0};
	PgiError	err;
	size_t		n = 0;
	const char *s = json_str(json_get(item, "s"), &n);
	const JsonValue *r = json_get(item, "r");
	size_t		nr = r ? json_size(r) : 0;
	int32_t    *rids = calloc(nr + 1, sizeof(int32_t));

	for (size_t i = 0; i < nr; i++)
	{
		int64_t		v = -1;

		json_int(json_at(r, i), &v);
		rids[i] = (int32_t) v;
	}
	if (tok_bpe_encode(bpe, s ? s : "", s ? n : 0, &ids, &err) != PGI_OK)
		goto fail;
	printf("{\"ids\": [");
	for (size_t i = 0; i < ids.len; i++)
		printf(i ? ",%d" : "%d", ids.ids[i]);
	printf("]");
	if (!print_decode(bpe, "dec", ids.ids, ids.len, false, &err) ||
		!print_decode(bpe, "skip", ids.ids, ids.len, true, &err) ||
		!print_decode(bpe, "rdec", rids, nr, false, &err))
	{
		printf("}\n");
		goto fail;
	}
	printf("}\n");
	free(ids.ids);
	free(rids);
	return;
fail:
	printf("{\"error\": ");
	print_str(err.msg, strlen(err.msg));
	printf("}\n");
	free(ids.ids);
	free(rids);
}

int
main(int argc, char **argv)
{
	uint8_t    *cbuf,
			   *sbuf;
	size_t		clen,
				slen;
	JsonDoc    *cdoc,
			   *sdoc;
	const JsonValue *strs;
	const TokBpeInfo *info;
	TokBpe	   *bpe;

	if (argc != 3)
	{
		fprintf(stderr, "usage: bpe_driver CONFIG.json STRINGS.json\n");
		return 2;
	}
	cdoc = load_json(argv[1], &cbuf, &clen);
	bpe = build(json_root(cdoc));
	info = tok_bpe_info(bpe);
	printf("{\"n_ids\": %d, \"n_merges\": %d, \"bos\": %d, \"eos\": %d, \"add_bos\": %s, "
		   "\"add_eos\": %s, \"pre\": \"%s\", \"nfc\": %s, \"lowercase\": %s, \"suffix\": %s, "
		   "\"ignore_merges\": %s}\n",
		   info->n_ids, info->n_merges, info->bos_id, info->eos_id,
		   info->add_bos ? "true" : "false", info->add_eos ? "true" : "false", info->pre,
		   info->nfc ? "true" : "false", info->lowercase ? "true" : "false",
		   info->suffix ? "true" : "false", info->ignore_merges ? "true" : "false");
	sdoc = load_json(argv[2], &sbuf, &slen);
	strs = json_root(sdoc);
	for (size_t i = 0; i < json_size(strs); i++)
		run_one(bpe, json_at(strs, i));
	tok_bpe_free(bpe);
	json_free(cdoc);
	json_free(sdoc);
	munmap(cbuf, clen ? clen : 1);
	munmap(sbuf, slen ? slen : 1);
	return 0;
}
