/*
 * bench/generate.c: speed of pg_infer's decoder core on GGUF files.
 *
 *   build/bench/generate [--threads N] [--seconds S] [--isa avx2|avx512vnni|portable] FILE.gguf ...
 *
 * For each file: prompt processing (pp64, pp512: random ids, in passes of
 * 256 tokens as generate() runs them), generation (tg128: 128 tokens after
 * a 1-token prompt, one pass per token) and rows decoded together (1, 8 and
 * 32 sequences, 32 steps each, one pass per step: aggregate tokens/s); like
 * llama-bench, the timed steps feed fixed ids rather than sampling (choosing
 * a token from 32000 logits is about 5% of a 15M model's step).  It
 * prints tokens/s, the bytes of weights one generated token streams, and
 * that rate as a fraction of the memory bandwidth this run measures (a
 * streaming read of 1 GiB with the same thread count).  Prints figures,
 * never pass/fail.  bench/generate (the script) builds it, writes the
 * models and puts llama.cpp's llama-bench beside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/formats/gguf.h"
#include "core/kernels/par.h"
#include "core/kernels/qdot.h"
#include "core/kernels/quant.h"
#include "core/models/llama.h"
#include "core/models/llama_load.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	*len = (size_t) ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(*len);
	if (fread(buf, 1, *len, f) != *len)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Memory bandwidth: GB/s of a streaming sum over 1 GiB, split over the threads */
typedef struct BwJob
{
	const double *buf;
	size_t		n;
	double		sums[PAR_MAX_THREADS * 8];
} BwJob;

static void
bw_part(void *arg, int begin, int end)
{
	BwJob	   *j = arg;
	size_t		chunk = j->n / 64;

	for (int c = begin; c < end; c++)
	{
		const double *p = j->buf + (size_t) c * chunk;
		double		s0 = 0,
					s1 = 0,
					s2 = 0,
					s3 = 0;

		for (size_t i = 0; i < chunk; i += 4)
		{
			s0 += p[i];
			s1 += p[i + 1];
			s2 += p[i + 2];
			s3 += p[i + 3];
		}
		j->sums[(c % PAR_MAX_THREADS) * 8] += s0 + s1 + s2 + s3;
	}
}

static double
bandwidth(void)
{
	size_t		n = (size_t) 1 << 27;	/* 1 GiB of doubles */
	double	   *buf = malloc(n * sizeof(double));
	double		best = 0;
	static BwJob job;

	for (size_t i = 0; i < n; i++)
		buf[i] = (double) (i & 7);
	job.buf = buf;
	job.n = n;
	for (int r = 0; r < 3; r++)
	{
		double		t0 = now(),
					t;

		par_for(64, bw_part, &job);
		t = now() - t0;
		if (n * sizeof(double) / t / 1e9 > best)
			best = n * sizeof(double) / t / 1e9;
	}
	free(buf);
	return best;
}

typedef struct Model
{
	uint8_t    *file;
	LlamaConfig c;
	uint8_t    *section;
	LlamaWeights *w;
	size_t		stream_bytes;	/* weights one token reads */
} Model;

static int
load(const char *path, Model *m)
{
	size_t		len;
	PgiError	err = {0};

	memset(m, 0, sizeof(*m));
	m->w = calloc(1, sizeof(LlamaWeights));
	if ((m->file = read_all(path, &len)) == NULL ||
		llama_open_gguf(m->file, len, &m->c, m->w, &m->section, &err) != PGI_OK)
	{
		fprintf(stderr, "%s: %s\n", path, err.msg[0] ? err.msg : "cannot read");
		return 0;
	}
	/* every matrix once, plus one embedding row */
	m->stream_bytes = m->w->output.row_bytes * m->w->output.rows + m->w->tok_embd.row_bytes;
	for (int l = 0; l < m->c.n_layers; l++)
	{
		const LlamaLayer *L = &m->w->layers[l];
		const QMat *mats[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};

		for (int i = 0; i < 7; i++)
			m->stream_bytes += mats[i]->row_bytes * mats[i]->rows;
	}
	return 1;
}

/* The most common matrix type of a model, for the table */
static const char *
main_type(const Model *m)
{
	return quant_type_name(m->w->layers[0].w_up.type);
}

/* Prompt of n random ids in passes of 256: tokens/s, best of the runs in seconds */
static double
bench_prompt(Model *m, int n, double seconds)
{
	LlamaKv		kv = {calloc(llama_kv_floats(&m->c, n + 1), sizeof(float)), n + 1, 0};
	int32_t    *ids = malloc(sizeof(int32_t) * n);
	int32_t    *seq = calloc(256, sizeof(int32_t));
	uint8_t    *want = calloc(256, 1);
	void	   *scratch = malloc(llama_scratch_bytes(&m->c, 256, n + 1));
	float	   *logits = malloc(sizeof(float) * m->c.vocab);
	double		best = 0,
				start = now();
	PgiError	err;

	for (int i = 0; i < n; i++)
		ids[i] = 3 + (int32_t) ((i * 2654435761u) % (uint32_t) (m->c.vocab - 3));
	do
	{
		double		t0 = now();

		kv.len = 0;
		for (int t = 0; t < n; t += 256)
		{
			int			k = n - t < 256 ? n - t : 256;

			memset(want, 0, 256);
			want[k - 1] = 1;
			llama_forward(&m->c, m->w, NULL, k, ids + t, seq, &kv, want, scratch, logits, &err);
		}
		if (n / (now() - t0) > best)
			best = n / (now() - t0);
	} while (now() - start < seconds);
	free(kv.data);
	free(ids);
	free(seq);
	free(want);
	free(scratch);
	free(logits);
	return best;
}

/* B sequences decoded together for steps steps after a 1-token prompt: tokens/s */
static double
bench_decode(Model *m, int B, int steps, double seconds)
{
	LlamaKv    *kv = calloc(B, sizeof(LlamaKv));
	int32_t    *ids = malloc(sizeof(int32_t) * B);
	int32_t    *seq = malloc(sizeof(int32_t) * B);
	void	   *scratch = malloc(llama_scratch_bytes(&m->c, B, steps + 2));
	float	   *logits = malloc(sizeof(float) * m->c.vocab * B);
	double		best = 0,
				start = now();
	PgiError	err;

	for (int b = 0; b < B; b++)
	{
		kv[b].data = calloc(llama_kv_floats(&m->c, steps + 2), sizeof(float));
		kv[b].cap = steps + 2;
		seq[b] = b;
	}
	do
	{
		double		t0;

		for (int b = 0; b < B; b++)
		{
			kv[b].len = 0;
			ids[b] = 1 + b;
		}
		/* the 1-token prompts, then the timed steps */
		llama_forward(&m->c, m->w, NULL, B, ids, seq, kv, NULL, scratch, logits, &err);
		t0 = now();
		for (int s = 0; s < steps; s++)
		{
			/* as llama-bench: no sampling, just the next of a fixed id sequence */
			for (int b = 0; b < B; b++)
				ids[b] = 3 + (int32_t) (((uint32_t) (s * 31 + b * 7) * 2654435761u) %
										(uint32_t) (m->c.vocab - 3));
			llama_forward(&m->c, m->w, NULL, B, ids, seq, kv, NULL, scratch, logits, &err);
		}
		if ((double) B * steps / (now() - t0) > best)
			best = (double) B * steps / (now() - t0);
	} while (now() - start < seconds);
	for (int b = 0; b < B; b++)
		free(kv[b].data);
	free(kv);
	free(ids);
	free(seq);
	free(scratch);
	free(logits);
	return best;
}

int
main(int argc, char **argv)
{
	int			threads = 1;
	int			csv = 0;
	double		seconds = 2.0;
	double		bw;
	int			first = 1;

	while (first < argc && strncmp(argv[first], "--", 2) == 0)
	{
		if (strcmp(argv[first], "--threads") == 0 && first + 1 < argc)
			threads = atoi(argv[++first]);
		else if (strcmp(argv[first], "--seconds") == 0 && first + 1 < argc)
			seconds = atof(argv[++first]);
		else if (strcmp(argv[first], "--csv") == 0)
			csv = 1;
		else if (strcmp(argv[first], "--isa") == 0 && first + 1 < argc)
		{
			/* a kernel set to compare with (avx2, avx512vnni, portable) */
			if (!qdot_force_isa(argv[++first]))
			{
				fprintf(stderr, "unknown or unsupported kernels \"%s\"\n", argv[first]);
				return 2;
			}
		}
		first++;
	}
	par_set_threads(threads);
	bw = bandwidth();
	if (csv)
		printf("file,type,threads,pp64,pp512,tg128,mb_per_token,bandwidth_gbs,rows1,rows8,rows32\n");
	else
		printf("-- pg_infer decoder core, %d thread%s, kernels %s; memory bandwidth (streaming read, %d thread%s): %.1f GB/s\n",
		   threads, threads > 1 ? "s" : "", qdot_isa(), threads, threads > 1 ? "s" : "", bw);
	if (!csv)
		printf("%-26s %-6s %9s %9s %9s %8s %6s %9s %9s %9s\n", "model", "type", "pp64", "pp512",
		   "tg128", "MB/tok", "of bw", "rows 1", "rows 8", "rows 32");
	for (int i = first; i < argc; i++)
	{
		Model		m;
		double		pp64,
					pp512,
					tg,
					r1,
					r8,
					r32;
		const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];

		if (!load(argv[i], &m))
			continue;
		pp64 = bench_prompt(&m, 64, seconds / 2);
		pp512 = bench_prompt(&m, 512, seconds / 2);
		tg = bench_decode(&m, 1, 128, seconds);
		r1 = bench_decode(&m, 1, 32, seconds / 2);
		r8 = bench_decode(&m, 8, 32, seconds / 2);
		r32 = bench_decode(&m, 32, 32, seconds / 2);
		if (csv)
			printf("%s,%s,%d,%.1f,%.1f,%.1f,%.2f,%.1f,%.1f,%.1f,%.1f\n", base, main_type(&m), threads,
				   pp64, pp512, tg, m.stream_bytes / 1e6, bw, r1, r8, r32);
		else
			printf("%-26s %-6s %9.1f %9.1f %9.1f %8.1f %5.0f%% %9.1f %9.1f %9.1f\n", base, main_type(&m),
			   pp64, pp512, tg, m.stream_bytes / 1e6, 100.0 * tg * m.stream_bytes / 1e9 / bw,
			   r1, r8, r32);
		fflush(stdout);
		free(m.file);
		free(m.section);
		free(m.w);
	}
	return 0;
}
