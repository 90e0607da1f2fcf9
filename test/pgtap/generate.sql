-- generate.sql: text generation with LLaMA-family decoders.
-- References: llama2.c's run.c greedy outputs for stories260K (ids and
-- stdout, from ../shared/models/stories260K/README.md, extracted by
-- test/prepare_models.sh; skipped where ../shared is absent), and the
-- float64 NumPy reference of test/models/gen_llama.py for random LLaMA
-- GGUFs (F32, F16, BF16, rope scaling, rope_freqs); the model pg_infer
-- ships (models/stories260K) for the behaviour of the SQL functions.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

SELECT lives_ok($$SELECT load_model('gen_stories', 'stories_shipped.gguf', '{"context_length": 512}')$$,
	'the shipped stories260K registers');
SELECT is((SELECT task || ' ' || architecture || ' ' || parameters FROM pg_infer.models WHERE name = 'gen_stories'),
	'generation llama 292800', 'pg_infer.models describes it');

-- llama2.c: every listed prompt, greedy, the README's step count
CREATE TEMP TABLE have_ref AS
SELECT (pg_stat_file(current_setting('pg_infer.model_dir') || '/stories_gen_ref.json', true)).size IS NOT NULL AS ok;
CREATE FUNCTION pg_temp.llama2c() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n int := 0;
	ids_ok int := 0;
	text_ok int := 0;
	got int[];
BEGIN
	IF NOT (SELECT ok FROM have_ref) THEN
		RETURN NEXT skip('../shared/models/stories260K is absent', 3);
		RETURN;
	END IF;
	FOR r IN SELECT c->>'prompt' AS prompt,
					ARRAY(SELECT jsonb_array_elements_text(c->'prompt_ids')::int) AS pids,
					ARRAY(SELECT jsonb_array_elements_text(c->'ids')::int) AS ids,
					c->>'stdout' AS stdout
			 FROM jsonb_array_elements(pg_read_file(current_setting('pg_infer.model_dir') || '/stories_gen_ref.json')::jsonb) c
	LOOP
		n := n + 1;
		got := r.pids || ARRAY(SELECT token_id FROM generate_tokens('gen_stories', r.prompt,
				max_tokens => cardinality(r.ids) - cardinality(r.pids)) ORDER BY pos);
		IF got = r.ids THEN
			ids_ok := ids_ok + 1;
		ELSE
			RAISE WARNING 'prompt "%": % <> %', r.prompt, got, r.ids;
		END IF;
		-- run.c prints the prompt's pieces then the generated ones, and a newline
		IF r.prompt || generate('gen_stories', r.prompt, max_tokens => cardinality(r.ids) - cardinality(r.pids)) || E'\n'
			= r.stdout OR (r.prompt = '' AND generate('gen_stories', '', max_tokens => cardinality(r.ids) - 1) || E'\n' = r.stdout) THEN
			text_ok := text_ok + 1;
		END IF;
	END LOOP;
	RETURN NEXT cmp_ok(n, '>=', 6, 'llama2.c references read');
	RETURN NEXT is(ids_ok, n, 'generate_tokens gives llama2.c''s greedy ids for every prompt');
	RETURN NEXT is(text_ok, n, 'prompt || generate() is run.c''s output for every prompt');
END
$$;
SELECT * FROM pg_temp.llama2c();

-- random LLaMA GGUFs against the float64 NumPy reference: from BOS, greedy,
-- the 64 ids of the reference (F32, F16, BF16 weights; linear rope scaling;
-- Llama 3.1 rope_freqs); tokenize/detokenize through their SentencePiece vocabulary
CREATE TEMP TABLE fx AS
SELECT m->>'file' AS file, r->'greedy_ids' AS want
FROM jsonb_array_elements(pg_read_file(current_setting('pg_infer.model_dir') || '/llama/reference.json')::jsonb->'models') m,
	 jsonb_array_elements(m->'runs') r
WHERE m->>'weights' IN ('F32', 'F16', 'BF16') AND m->>'arch' = 'llama' AND r->'prompt_ids' = '[1]';
SELECT is((SELECT count(*) FROM fx), 5::bigint, 'five float LLaMA fixtures with a BOS-only run');
CREATE FUNCTION pg_temp.fixtures() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	r record;
	name text;
	got int[];
	want int[];
BEGIN
	FOR r IN SELECT * FROM fx ORDER BY file LOOP
		name := 'fx_' || replace(r.file, '.gguf', '');
		PERFORM load_model(name, 'llama/' || r.file);
		want := ARRAY(SELECT jsonb_array_elements_text(r.want)::int);
		got := ARRAY(SELECT token_id FROM generate_tokens(name, '', max_tokens => 64) ORDER BY pos);
		RETURN NEXT is(got, want, r.file || ': 64 greedy ids equal the float64 reference''s');
	END LOOP;
END
$$;
SELECT * FROM pg_temp.fixtures();

-- generate_tokens: positions follow the prompt, pieces add up to generate()
SELECT is((SELECT array_agg(pos ORDER BY pos) FROM generate_tokens('gen_stories', 'Once upon a time', max_tokens => 5)),
	ARRAY[5, 6, 7, 8, 9], 'positions count the prompt with BOS');
SELECT is((SELECT string_agg(piece, '' ORDER BY pos) FROM generate_tokens('gen_stories', 'The little bird', max_tokens => 40)),
	generate('gen_stories', 'The little bird', max_tokens => 40), 'pieces concatenate to the generated text');
SELECT ok((SELECT bool_and(logprob <= 0 AND logprob > -30) FROM generate_tokens('gen_stories', 'Once', max_tokens => 20)),
	'log-probabilities are finite and at most 0');
SELECT ok((SELECT bool_and(abs(exp(logprob) - 1) < 0.5) FROM generate_tokens('gen_stories', 'Once upon a', max_tokens => 1)),
	'greedy first token after "Once upon a" is likely ("time")');

-- sampling: reproducible with a seed, greedy at top_k 1
SELECT is(generate('gen_stories', 'One day', max_tokens => 40, temperature => 0.9, seed => 7),
		  generate('gen_stories', 'One day', max_tokens => 40, temperature => 0.9, seed => 7),
	'the same seed gives the same text');
SELECT isnt((SELECT count(DISTINCT generate('gen_stories', 'One day', max_tokens => 40, temperature => 1.0, seed => s))
			 FROM generate_series(1, 8) s), 1::bigint, 'different seeds give different texts');
SELECT is(generate('gen_stories', 'One day', max_tokens => 30, temperature => 1.5, top_k => 1, seed => 3),
		  generate('gen_stories', 'One day', max_tokens => 30), 'top_k 1 is greedy');
SELECT is(generate('gen_stories', 'One day', max_tokens => 30, temperature => 1.5, top_p => 0.0001, seed => 3),
		  generate('gen_stories', 'One day', max_tokens => 30), 'a tiny top_p is greedy');
SELECT is(generate('gen_stories', 'Lily', max_tokens => 25, temperature => 0),
		  generate('gen_stories', 'Lily', max_tokens => 25, temperature => 0, seed => 99), 'temperature 0 ignores the seed');

-- stopping
SELECT is(generate('gen_stories', 'Once upon a time', max_tokens => 0), '', 'max_tokens 0 generates nothing');
SELECT is(generate('gen_stories', 'Once upon a time', max_tokens => 100, stop => ARRAY['.']),
	', there was a little girl named Lily', 'a stop string ends the text before it');
SELECT ok(starts_with(generate('gen_stories', 'Once upon a time', max_tokens => 100),
					  generate('gen_stories', 'Once upon a time', max_tokens => 100, stop => ARRAY['park', 'Lily.'])),
	'stopped text is a prefix of the unstopped one');
SELECT is((SELECT string_agg(piece, '' ORDER BY pos) FROM generate_tokens('gen_stories', 'Once upon a time', max_tokens => 100, stop => ARRAY['girl'])),
	', there was a little ', 'generate_tokens stops at the stop string too');
SELECT is(generate('gen_stories', 'Once upon a time', max_tokens => 100, stop => ARRAY[NULL, '']::text[]),
	generate('gen_stories', 'Once upon a time', max_tokens => 100), 'NULL and empty stop strings are ignored');
SELECT is((SELECT count(*) FROM generate_tokens('gen_stories', 'Once upon a time', max_tokens => 600)), 507::bigint,
	'generation ends at the context length (512 positions)');

-- NULLs and bad arguments
SELECT is(generate('gen_stories', NULL), NULL, 'a NULL prompt gives NULL');
SELECT is(generate(NULL, 'x'), NULL, 'a NULL model gives NULL');
SELECT throws_ok($$SELECT generate('no_such_model', 'x')$$, '42704', NULL, 'unknown model');
SELECT throws_ok($$SELECT generate('fx_llama-f32', 'x', max_tokens => -1)$$, '22023', NULL, 'negative max_tokens');
SELECT throws_ok($$SELECT generate('gen_stories', 'x', temperature => -0.5)$$, '22023', NULL, 'negative temperature');
SELECT throws_ok($$SELECT generate('gen_stories', 'x', temperature => 'NaN')$$, '22023', NULL, 'NaN temperature');
SELECT throws_ok($$SELECT generate('gen_stories', 'x', top_p => 0)$$, '22023', NULL, 'top_p 0');
SELECT throws_ok($$SELECT generate('gen_stories', 'x', top_k => -2)$$, '22023', NULL, 'negative top_k');
SELECT throws_ok($$SELECT generate('gen_stories', repeat('Once upon a time ', 200))$$, '54000', NULL,
	'a prompt longer than the context');
SELECT lives_ok($$SELECT load_model('gen_long', 'llama/llama-f32.gguf', '{"context_length": 100000}')$$,
	'a bigger decoder with a long context');
SELECT throws_ok($$SET LOCAL pg_infer.kv_cache_limit = 1; SELECT generate('gen_long', '', max_tokens => 5000)$$,
	'54000', NULL, 'a key/value cache over pg_infer.kv_cache_limit');
SELECT throws_ok($$SELECT load_model('bad_ctx', 'stories_shipped.gguf', '{"context_length": 0}')$$, '22023', NULL,
	'context_length must be positive');
SELECT throws_ok($$SELECT load_model('bad_ctx', 'stories_shipped.gguf', '{"context_length": "big"}')$$, '22023', NULL,
	'context_length must be a number');
SELECT throws_ok($$SELECT generate('use-lite-none', 'x')$$, '42704', NULL, 'unknown model (2)');
SELECT lives_ok($$SELECT load_model('gen_tiny_ctx', 'stories_shipped.gguf', '{"context_length": 8}')$$,
	'a decoder with a short context');
SELECT is((SELECT count(*) FROM generate_tokens('gen_tiny_ctx', 'Once upon a time', max_tokens => 50)), 3::bigint,
	'the context_length option bounds generation');

-- rows of a query decoded together (GenerateBatch): each row's text is
-- exactly what generating it alone gives (pg_infer.batch_rows = 1)
CREATE TEMP TABLE tickets AS
SELECT i AS id,
	   CASE WHEN i % 17 = 0 THEN NULL
			ELSE (ARRAY['Once upon a time', 'The little dog', 'Lily and Tom', 'One day', 'The sun was shining and',
						'She was very happy because', 'Tom had a big'])[1 + i % 7] || repeat(' very', i % 5) END AS body
FROM generate_series(1, 100) i;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
	o text := '';
BEGIN
	FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		o := o || r || E'\n';
	END LOOP;
	RETURN o;
END
$$;
SELECT ok(pg_temp.plan($$SELECT id, generate('gen_stories', body, max_tokens => 20) FROM tickets$$)
		  LIKE '%Custom Scan (GenerateBatch)%', 'SELECT generate(m, body) FROM t runs under GenerateBatch');
SELECT ok(pg_temp.plan($$SELECT id, generate('gen_stories', body, max_tokens => 20, seed => id) FROM tickets$$)
		  NOT LIKE '%GenerateBatch%', 'arguments that vary by row stay row by row');
CREATE TEMP TABLE together AS
SELECT id, generate('gen_stories', body, max_tokens => 24) AS greedy,
	   generate('gen_stories', 'Q: ' || body, max_tokens => 24, temperature => 0.9, top_p => 0.9, seed => 11) AS sampled,
	   generate('gen_stories', body, max_tokens => 60, stop => ARRAY['.', '!']) AS stopped
FROM tickets;
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE alone AS
SELECT id, generate('gen_stories', body, max_tokens => 24) AS greedy,
	   generate('gen_stories', 'Q: ' || body, max_tokens => 24, temperature => 0.9, top_p => 0.9, seed => 11) AS sampled,
	   generate('gen_stories', body, max_tokens => 60, stop => ARRAY['.', '!']) AS stopped
FROM tickets;
RESET pg_infer.batch_rows;
SELECT is((SELECT count(*) FROM together t JOIN alone a USING (id)
		   WHERE t.greedy IS NOT DISTINCT FROM a.greedy AND t.sampled IS NOT DISTINCT FROM a.sampled
			 AND t.stopped IS NOT DISTINCT FROM a.stopped), 100::bigint,
	'100 rows decoded together: greedy, sampled and stopped texts equal one-at-a-time decoding');
SELECT is((SELECT count(*) FROM together WHERE greedy IS NULL), 5::bigint, 'NULL prompts give NULL');
SELECT is((SELECT count(DISTINCT greedy) > 10 FROM together), true, 'the rows are not all the same');
-- a row that cannot be generated raises its ERROR at that row, not before
CREATE TEMP TABLE long_prompts AS SELECT i AS id, CASE WHEN i = 50 THEN repeat('Once upon a time ', 200) ELSE 'One day' END AS body
FROM generate_series(1, 60) i;
SELECT throws_ok($$SELECT id, generate('gen_stories', body, max_tokens => 4) FROM long_prompts$$, '54000', NULL,
	'a prompt over the context in a batch still raises 54000');
SELECT is((SELECT count(*) FROM (SELECT id, generate('gen_stories', body, max_tokens => 4) FROM long_prompts LIMIT 10) x),
	10::bigint, 'a LIMIT that stops before that row returns its rows without the error');

-- encoders cannot generate, decoders cannot embed
SELECT lives_ok($$SELECT load_model('gen_bert', 'bert/bert-f32.gguf')$$, 'an encoder');
SELECT throws_ok($$SELECT generate('gen_bert', 'x')$$, '0A000', NULL, 'generate() on an encoder');
SELECT throws_ok($$SELECT embed('gen_stories', 'x')$$, '0A000', NULL, 'embed() on a decoder');

-- honest labels; parallel workers generate the leader's text
SELECT is((SELECT string_agg(DISTINCT provolatile::text || proparallel::text, ',') FROM pg_proc
		   WHERE proname IN ('generate', 'generate_tokens')), 'vs', 'generate is VOLATILE PARALLEL SAFE');
CREATE TEMP TABLE leader AS SELECT generate('gen_stories', 'Lily and Tom', max_tokens => 30) AS t;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SELECT is((SELECT generate('gen_stories', 'Lily and Tom', max_tokens => 30) FROM (VALUES (1)) v),
	(SELECT t FROM leader), 'a parallel worker generates the same text');
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;

-- cancel within one decoding step (query_canceled is not caught by WHEN
-- OTHERS, hence no throws_ok; statement_timeout is armed when a statement starts)
CREATE FUNCTION pg_temp.cancel_ms() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	PERFORM generate('gen_long', '', max_tokens => 50000);
	RETURN -1;
EXCEPTION WHEN query_canceled THEN
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
SET statement_timeout = '300ms';
CREATE TEMP TABLE cancel AS SELECT pg_temp.cancel_ms() AS ms;
RESET statement_timeout;
SELECT cmp_ok((SELECT ms FROM cancel), '>=', 250::float8,
	'statement_timeout cancels a long generation (ms: ' || (SELECT round(ms::numeric, 1) FROM cancel) || ')');
SELECT cmp_ok((SELECT ms FROM cancel), '<', 400::float8, '... within 100 ms of the 300 ms timeout');
SELECT is(generate('gen_stories', 'Once upon a time', max_tokens => 3), ', there was', 'generation works after a cancel');

SELECT drop_model(name) FROM pg_infer.models WHERE name LIKE 'gen\_%' OR name LIKE 'fx\_%';
SELECT * FROM finish();
