-- use_lite.sql: the default model (Universal Sentence Encoder Lite, from
-- npm, in build/models/use-lite) against the TensorFlow.js reference
-- outputs of ../shared/reference/use-lite: token ids of 41 sentences and
-- 611 stress strings exactly, embeddings single and batched to 1e-5.
-- Skipped where the model files or ../shared are absent.  The C unit test
-- test/unit/test_use_lite.c also checks a self-made random model against
-- a NumPy reference, which needs neither.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

-- build/test_models -> build/models (the model) and ../shared (the references)
CREATE TEMP TABLE paths AS
SELECT regexp_replace(current_setting('pg_infer.model_dir'), '/test_models/?$', '/models') AS models,
	   regexp_replace(current_setting('pg_infer.model_dir'), '/build/test_models/?$', '/../shared/reference/use-lite') AS ref;
CREATE TEMP TABLE have AS
SELECT (pg_stat_file(models || '/use-lite/model.json', true)).size IS NOT NULL AS model,
	   (pg_stat_file(ref || '/public_ref.json', true)).size IS NOT NULL AS ref
FROM paths;

\ir lib/compare.sql

-- registered in its own statement: a plan made later in the same statement
-- could fold the IMMUTABLE functions before the registration is visible
DO $$
BEGIN
	IF (SELECT model FROM have) THEN
		EXECUTE format('SET LOCAL pg_infer.model_dir = %L', (SELECT models FROM paths));
		PERFORM load_model('use-lite', 'use-lite');
	END IF;
END
$$;

CREATE FUNCTION pg_temp.run() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	p record;
BEGIN
	SELECT * INTO p FROM paths;
	IF NOT (SELECT model FROM have) THEN
		RETURN NEXT skip('the use-lite files are absent (./pg_infer.sh models installs them)', 12);
		RETURN;
	END IF;
	EXECUTE format('SET LOCAL pg_infer.model_dir = %L', p.models);
	RETURN NEXT is((SELECT format || ' ' || architecture || ' ' || dims || ' ' || max_tokens || ' ' || vocab_size
					FROM pg_infer.models WHERE name = 'use-lite'), 'tfjs use-lite 512 128 8000',
		'use-lite registers: TF.js directory, 512 dims, 128 tokens, 8000 pieces');
	RETURN NEXT is(tokenize('use-lite', 'Hello world.'), ARRAY[341, 4125, 311, 6], 'the spec''s example');
	RETURN NEXT cmp_ok(abs(vector_norm(embed('use-lite', 'Hello world.')) - 1), '<', 1e-6::float8, 'unit length');
	RETURN NEXT throws_ok($q$SELECT embed('use-lite', 'x', '{"pooling": "cls"}')$q$, '22023', NULL,
		'its pooling is its own');
	RETURN NEXT is(embed('use-lite', 'Hello world.'), embed('Hello world.'),
		'embed(text) uses pg_infer.default_model = use-lite');
	RETURN NEXT throws_ok($q$SELECT embed('use-lite', repeat('word ', 200), '{"truncate": false}')$q$, '54000', NULL,
		'over 128 tokens with truncate => false');

	IF NOT (SELECT ref FROM have) THEN
		RETURN NEXT skip('../shared/reference/use-lite is absent', 6);
		RETURN;
	END IF;
	CREATE TEMP TABLE pub AS
	SELECT n, i->>'text' AS body, ARRAY(SELECT jsonb_array_elements_text(i->'token_ids')::int) AS ids,
		   i->'embedding' AS e1, i->'embedding_batch' AS eb
	FROM jsonb_array_elements((pg_read_file(p.ref || '/public_ref.json')::jsonb)->'items') WITH ORDINALITY AS t(i, n);
	CREATE TEMP TABLE fz AS
	SELECT i->>'text' AS body, ARRAY(SELECT jsonb_array_elements_text(i->'token_ids')::int) AS ids
	FROM jsonb_array_elements((pg_read_file(p.ref || '/tokenizer_fuzz_ref.json')::jsonb)->'items') i;
	RETURN NEXT is((SELECT count(*) FROM pub WHERE tokenize('use-lite', body) <> ids[1:128]), 0::bigint,
		format('token ids of the %s reference sentences (first 128)', (SELECT count(*) FROM pub)));
	RETURN NEXT is((SELECT count(*) FROM fz WHERE tokenize('use-lite', body) <> ids[1:128]), 0::bigint,
		format('token ids of the %s tokenizer stress strings (first 128)', (SELECT count(*) FROM fz)));
	RETURN NEXT is((SELECT count(*) FROM fz WHERE token_count('use-lite', body) <> cardinality(ids)), 0::bigint,
		'token_count: the untruncated length');
	RETURN NEXT cmp_ok((SELECT max(pg_temp.err(embed('use-lite', body), e1)) FROM pub WHERE e1 <> 'null'),
		'<=', 1e-5::float8, 'embed(text) of every sentence: max abs error vs TensorFlow.js <= 1e-5');
	RETURN NEXT cmp_ok((SELECT max(pg_temp.err(v, eb)) FROM pub JOIN
			(SELECT k, v FROM unnest(embed('use-lite', (SELECT array_agg(body ORDER BY n) FROM pub))) WITH ORDINALITY AS x(v, k)) b
			ON b.k = pub.n WHERE eb <> 'null'),
		'<=', 1e-5::float8, 'embed(text[]) of all sentences in one batch: max abs error vs TensorFlow.js <= 1e-5');
	RETURN NEXT is((SELECT count(*) FROM pub WHERE body = '' AND pg_temp.err(embed('use-lite', body), e1) <= 1e-5), 1::bigint,
		'the empty text: l2norm(tanh(bt)), as the reference');
END
$$;
SELECT * FROM pg_temp.run();
SELECT * FROM finish();
