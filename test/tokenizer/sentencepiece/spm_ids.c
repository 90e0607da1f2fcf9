/*
 * spm_ids.c
 *	  Parity driver: tokenise strings with pg_infer's SentencePiece code.
 *
 *	spm_ids --model FILE.model < strings.hex
 *	spm_ids --gguf FILE.gguf < strings.hex
 *	spm_ids --proto-from-gguf FILE.gguf > FILE.model
 *	spm_ids --info (--model F | --gguf F)
 *
 * Input: one string per line, hex-encoded (an empty line is the empty
 * string), so any bytes, newlines and invalid UTF-8 included, pass through.
 * Output: per string, the ids separated by spaces, a tab, and the hex of
 * the text that decoding those ids gives back.  The Python reference
 * (spm_ref.py) prints the same format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/tokenizers/tok_spm.h"

/* Read a whole file; NULL on failure */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf = NULL;
	long		n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
		fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t) n + 1)) != NULL &&
		fread(buf, 1, (size_t) n, f) == (size_t) n)
		*len = (size_t) n;
	else
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Value of a hex digit, or -1 */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Print an error and exit */
static void
die(const char *what, const PgiError *err)
{
	fprintf(stderr, "spm_ids: %s: %s%s%s\n", what, err->msg,
			err->detail[0] ? " -- " : "", err->detail);
	exit(1);
}

/* Tokenise every line of stdin */
static void
run(const TokSpm *sp)
{
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	PgiError	err;

	while ((n = getline(&line, &cap, stdin)) >= 0)
	{
		size_t		len = 0;
		int32_t    *ids;
		size_t		n_ids;
		char	   *text;
		size_t		text_len;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		for (ssize_t i = 0; i + 1 < n; i += 2)
			line[len++] = (char) (hexval(line[i]) * 16 + hexval(line[i + 1]));
		if (tok_spm_encode(sp, line, len, &ids, &n_ids, &err) != PGI_OK)
			die("encode", &err);
		for (size_t i = 0; i < n_ids; i++)
			printf(i ? " %d" : "%d", (int) ids[i]);
		if (tok_spm_decode(sp, ids, n_ids, &text, &text_len, &err) != PGI_OK)
			die("decode", &err);
		putchar('\t');
		for (size_t i = 0; i < text_len; i++)
			printf("%02x", (unsigned char) text[i]);
		putchar('\n');
		free(ids);
		free(text);
	}
	free(line);
}

/* Print what the model says about itself */
static void
print_info(const TokSpm *sp)
{
	const TokSpmInfo *i = tok_spm_info(sp);

	printf("n_pieces %d\nmodel_type %d\nunk_id %d\nbos_id %d\neos_id %d\npad_id %d\n"
		   "add_bos %d\nadd_eos %d\nbyte_fallback %d\nadd_dummy_prefix %d\n"
		   "remove_extra_whitespaces %d\nescape_whitespaces %d\nhas_charsmap %d\n",
		   (int) i->n_pieces, (int) i->model_type, (int) i->unk_id, (int) i->bos_id,
		   (int) i->eos_id, (int) i->pad_id, i->add_bos, i->add_eos,
		   i->byte_fallback, i->add_dummy_prefix, i->remove_extra_whitespaces,
		   i->escape_whitespaces, i->has_charsmap);
}

int
main(int argc, char **argv)
{
	bool		info = false;
	const char *mode;
	const char *path;
	uint8_t    *data;
	size_t		len = 0;
	TokSpm	   *sp = NULL;
	GgufFile   *f = NULL;
	PgiError	err;

	if (argc > 1 && strcmp(argv[1], "--info") == 0)
	{
		info = true;
		argv++;
		argc--;
	}
	if (argc != 3)
	{
		fprintf(stderr, "usage: spm_ids [--info] (--model F | --gguf F | --proto-from-gguf F)\n");
		return 2;
	}
	mode = argv[1];
	path = argv[2];
	if ((data = slurp(path, &len)) == NULL)
	{
		perror(path);
		return 1;
	}
	if (strcmp(mode, "--model") == 0)
	{
		if (tok_spm_open(data, len, &sp, &err) != PGI_OK)
			die(path, &err);
	}
	else
	{
		if (gguf_open(data, len, &f, &err) != PGI_OK)
			die(path, &err);
		if (strcmp(mode, "--proto-from-gguf") == 0)
		{
			uint8_t    *proto;
			size_t		proto_len;

			if (tok_spm_proto_from_gguf(f, &proto, &proto_len, NULL, &err) != PGI_OK)
				die(path, &err);
			fwrite(proto, 1, proto_len, stdout);
			free(proto);
			gguf_free(f);
			free(data);
			return 0;
		}
		if (tok_spm_open_gguf(f, &sp, &err) != PGI_OK)
			die(path, &err);
	}
	if (info)
		print_info(sp);
	else
		run(sp);
	tok_spm_free(sp);
	gguf_free(f);
	free(data);
	return 0;
}
