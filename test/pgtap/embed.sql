-- embed.sql: embed / tokenize / detokenize / token_count against the NumPy
-- reference, in every model layout, single and batched, plus errors,
-- labels, parallel query, generated columns, unload and cancellation.
--
-- Needs pg_infer.model_dir = build/test_models (test/prepare_models.sh):
-- bert/ holds a random-weight BERT written by test/models/gen_bert.py as
-- Hugging Face directories (F32, F16, sharded) and GGUF (F32, F16, Q8_0),
-- with reference.json: ids and embeddings computed in float64 by
-- test/models/bert_ref.py, independently of pg_infer, from the same
-- weights (rounded as each file stores them).
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/bert_cases.sql
\ir lib/plan.sql
SELECT ok((SELECT count(*) FROM cases) >= 20, 'setup: reference cases loaded');

-- models: name, source, reference key
CREATE TEMP TABLE m (name text, source text, refkey text);
INSERT INTO m VALUES
	('bert-hf', 'bert/hf', 'reference'),
	('bert-sharded', 'bert/hf_sharded', 'reference'),
	('bert-hf16', 'bert/hf_f16', 'reference_hf_f16'),
	('bert-f32', 'bert/bert-f32.gguf', 'reference'),
	('bert-f16', 'bert/bert-f16.gguf', 'reference_f16'),
	('bert-q8', 'bert/bert-q8_0.gguf', 'reference_q8_0');
SELECT lives_ok(format('SELECT load_model(%L, %L)', name, source), 'register ' || name) FROM m;

------------------------------------------------------------------------
-- tokens
------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM cases WHERE tokenize(m.name, body) <> ids), 0::bigint,
	'tokenize ' || m.name || ': ids equal the reference''s on every case')
FROM m WHERE name IN ('bert-hf', 'bert-f32');
SELECT is((SELECT count(*) FROM cases WHERE token_count('bert-hf', body) < cardinality(ids)
		OR (NOT (c->>'truncated')::boolean AND token_count('bert-hf', body) <> cardinality(ids))), 0::bigint,
	'token_count: the untruncated length');
SELECT is(detokenize('bert-hf', tokenize('bert-hf', 'The cat sat on the mat.')), 'the cat sat on the mat.',
	'detokenize inverts tokenize (lower-cased model)');

------------------------------------------------------------------------
-- embeddings, one call per text: every pooling, raw and normalised
------------------------------------------------------------------------
CREATE TEMP TABLE single AS
SELECT m.name, p.pooling, nz.normalize,
	   max(pg_temp.err(embed(m.name, body, jsonb_build_object('pooling', p.pooling, 'normalize', nz.normalize)),
					   c->m.refkey->(p.pooling || CASE WHEN nz.normalize THEN '_normalized' ELSE '' END))) AS e
FROM m, cases, (VALUES ('mean'), ('cls'), ('max'), ('last')) p(pooling), (VALUES (false), (true)) nz(normalize)
GROUP BY 1, 2, 3;
SELECT cmp_ok(e, '<=', 1e-4::float8,
	format('embed %s pooling %s normalize %s: max abs error vs reference %s', name, pooling, normalize, e))
FROM single ORDER BY name, pooling, normalize;

-- the model's own defaults: sentence-transformers mean + Normalize (HF), llama.cpp mean + L2 (GGUF)
SELECT cmp_ok((SELECT max(pg_temp.err(embed(m.name, body), c->m.refkey->'mean_normalized')) FROM cases),
	'<=', 1e-4::float8, 'embed ' || m.name || ' with default options: mean pooling, normalised')
FROM m WHERE name IN ('bert-hf', 'bert-f32');

------------------------------------------------------------------------
-- batches: one call for all texts, same answers
------------------------------------------------------------------------
CREATE TEMP TABLE ck AS SELECT row_number() OVER (ORDER BY n) AS k, * FROM cases;
CREATE TEMP TABLE batch AS
SELECT m.name, m.refkey, p.pooling,
	   embed(m.name, (SELECT array_agg(body ORDER BY n) FROM cases),
			 jsonb_build_object('pooling', p.pooling, 'normalize', false)) AS vs
FROM m, (VALUES ('mean'), ('cls'), ('max'), ('last')) p(pooling);
SELECT cmp_ok((SELECT max(pg_temp.err(b.vs[ck.k], ck.c->b.refkey->b.pooling)) FROM ck),
	'<=', 1e-4::float8, format('embed %s text[] (one batch) pooling %s: max abs error vs reference', b.name, b.pooling))
FROM batch b ORDER BY b.name, b.pooling;
SELECT is((embed('bert-hf', ARRAY['the cat', NULL, 'the dog']))[2], NULL, 'a NULL text gives a NULL vector');
SELECT is(cardinality(embed('bert-hf', ARRAY[]::text[])), 0, 'an empty array gives an empty array');

------------------------------------------------------------------------
-- formats agree, quantised files stay close
------------------------------------------------------------------------
SELECT cmp_ok((SELECT max(l2_distance(embed('bert-hf', body), embed('bert-f32', body))) FROM cases),
	'<=', 1e-5::float8, 'the same weights as HF safetensors and as GGUF give the same embeddings');
SELECT cmp_ok((SELECT min(pg_temp.cos(embed('bert-q8', body, '{"normalize": false}'), c->'reference'->'mean'))
			   FROM cases), '>=', 0.999::float8, 'Q8_0: cosine >= 0.999 with the F32 reference');

------------------------------------------------------------------------
-- truncation
------------------------------------------------------------------------
SELECT throws_ok($$SELECT embed('bert-hf', (SELECT body FROM cases WHERE name = 'over_long'), '{"truncate": false}')$$,
	'54000', NULL, 'truncate => false: an over-long text is an error');
SELECT throws_ok($$SELECT embed('bert-hf', ARRAY['short', (SELECT body FROM cases WHERE name = 'over_long')], '{"truncate": false}')$$,
	'54000', NULL, 'truncate => false: an over-long text in a text[] batch is an error');
SELECT is(cardinality(tokenize('bert-hf', repeat('the ', 1000))), 64, 'tokenize truncates to max tokens');

------------------------------------------------------------------------
-- errors
------------------------------------------------------------------------
SELECT throws_ok($$SELECT embed('no-such-model', 'x')$$, '42704', 'model "no-such-model" does not exist', 'unknown model');
SELECT throws_ok($$SELECT embed('bert-hf', 'x', '{"bogus": 1}')$$, '22023', 'unknown embed option "bogus"', 'unknown option');
SELECT throws_ok($$SELECT embed('bert-hf', 'x', '{"pooling": "median"}')$$, '22023', NULL, 'bad pooling');
SELECT throws_ok($$SELECT embed('bert-hf', 'x', '[1]')$$, '22023', NULL, 'options must be an object');
SELECT throws_ok($$SELECT detokenize('bert-hf', ARRAY[1, 99999])$$, '22023', NULL, 'detokenize: id past the vocabulary');
SELECT throws_ok($$SELECT embed('bert-hf', ARRAY[ARRAY['a'], ARRAY['b']])$$, '2202E', NULL, 'a 2-D text array is refused');
SELECT is(embed('bert-hf', NULL::text), NULL, 'STRICT: NULL text gives NULL');

------------------------------------------------------------------------
-- labels, parallel query, generated columns
------------------------------------------------------------------------
SELECT is((SELECT string_agg(DISTINCT provolatile::text || proparallel::text, ',') FROM pg_proc
		   WHERE proname IN ('embed', 'tokenize', 'detokenize', 'token_count') AND pronargs >= 2),
	'is', 'embed(model, ...), tokenize, detokenize, token_count are IMMUTABLE PARALLEL SAFE');
SELECT is((SELECT provolatile::text || proparallel::text FROM pg_proc WHERE proname = 'embed' AND pronargs = 1),
	'ss', 'embed(text) reads pg_infer.default_model: STABLE PARALLEL SAFE');

CREATE TEMP TABLE docs (id int, body text, emb vector GENERATED ALWAYS AS (embed('bert-hf', body)) STORED);
INSERT INTO docs (id, body) SELECT n, body FROM cases;
SELECT cmp_ok((SELECT max(pg_temp.err(d.emb, c.c->'reference'->'mean_normalized'))
			   FROM docs d JOIN cases c ON c.n = d.id), '<=', 1e-4::float8,
	'a generated column computes embeddings');

CREATE TABLE pgi_par AS SELECT g AS id, (SELECT body FROM cases ORDER BY n LIMIT 1 OFFSET g % 20) AS body
FROM generate_series(1, 400) g;
CREATE TABLE pgi_par_serial AS SELECT id, embed('bert-hf', body) AS emb FROM pgi_par;
ANALYZE pgi_par;
ANALYZE pgi_par_serial;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT ok(pg_temp.plan($$SELECT count(*) FROM pgi_par p JOIN pgi_par_serial s USING (id)
		WHERE embed('bert-hf', p.body) <> s.emb$$) LIKE '%Gather%', 'embed() runs in parallel workers');
SELECT is((SELECT count(*) FROM pgi_par p JOIN pgi_par_serial s USING (id) WHERE embed('bert-hf', p.body) <> s.emb),
	0::bigint, 'parallel workers compute the same embeddings as the leader');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE pgi_par, pgi_par_serial;

-- privileges: anyone may embed, only superusers register
DROP ROLE IF EXISTS pgi_embed_user;
CREATE ROLE pgi_embed_user;
SET ROLE pgi_embed_user;
SELECT lives_ok($$SELECT embed('bert-hf', 'the cat')$$, 'a plain user may embed');
SELECT throws_ok($$SELECT load_model('x', 'bert/hf')$$, '42501', NULL, 'a plain user may not register models');
SELECT throws_ok($$SELECT unload_model('bert-hf')$$, '42501', NULL, 'a plain user may not unload models');
RESET ROLE;
DROP ROLE pgi_embed_user;

-- the SECURITY DEFINER functions resolve names in pg_catalog: an operator
-- planted in the extension's schema cannot run with their rights
DROP ROLE IF EXISTS pgi_mallory;
CREATE ROLE pgi_mallory;
GRANT CREATE ON SCHEMA public TO pgi_mallory;
SET ROLE pgi_mallory;
CREATE FUNCTION public.pgi_evil(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'ALTER ROLE pgi_mallory SUPERUSER';
	RETURN a OPERATOR(pg_catalog.=) b;
END
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.pgi_evil);
RESET ROLE;
SELECT lives_ok($$SELECT unload_model('bert-hf'), load_model('bert-hf', 'bert/hf'), drop_model('bert-sharded'),
	load_model('bert-sharded', 'bert/hf_sharded')$$, 'admin functions run with a hostile operator in the schema');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'pgi_mallory'), false,
	'... which they do not call: no privilege escalation');
SELECT lives_ok($$SELECT embed('bert-hf', 'the cat')$$, 'the unloaded model is used again');
-- the registry lookup of any user's embed() runs as the extension's owner:
-- an operator the caller puts first on its own search_path is not called
-- there (it would run with the owner's rights)
CREATE SCHEMA pgi_mallory_s AUTHORIZATION pgi_mallory;
SET ROLE pgi_mallory;
CREATE FUNCTION pgi_mallory_s.pgi_evil(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'ALTER ROLE pgi_mallory SUPERUSER';
	RETURN a OPERATOR(pg_catalog.=) b;
END
$$;
CREATE OPERATOR pgi_mallory_s.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pgi_mallory_s.pgi_evil);
RESET ROLE;
SELECT unload_model('bert-hf');
CREATE TEMP TABLE mallory_embed (ok boolean);
GRANT ALL ON mallory_embed TO pgi_mallory;
SET ROLE pgi_mallory;
SET search_path = pgi_mallory_s, pg_catalog, public;
-- (no pgTAP call here: its own queries would call the hostile operator)
DO $$
BEGIN
	INSERT INTO pg_temp.mallory_embed SELECT embed('bert-hf', 'the cat') IS NOT NULL;
EXCEPTION WHEN OTHERS THEN
	INSERT INTO pg_temp.mallory_embed VALUES (false);
END
$$;
RESET search_path;
RESET ROLE;
SELECT is((SELECT ok FROM mallory_embed), true, 'a user with a hostile operator first on its search_path embeds');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'pgi_mallory'), false,
	'... and the registry lookup, run as the extension''s owner, did not call it');
DROP SCHEMA pgi_mallory_s CASCADE;
DROP TABLE mallory_embed;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.pgi_evil(text, text);
REVOKE CREATE ON SCHEMA public FROM pgi_mallory;
DROP ROLE pgi_mallory;

-- settings files are part of a model's identity, and a length below the
-- special tokens is ignored (it crashed once)
SELECT lives_ok($$SELECT load_model('bert-msl1', 'hf_msl1')$$, 'a directory with max_seq_length 1 registers');
SELECT isnt((SELECT sha256 FROM pg_infer.models WHERE name = 'bert-msl1'),
	(SELECT sha256 FROM pg_infer.models WHERE name = 'bert-hf'), 'sentence_bert_config.json changes the sha256');
SELECT is(cardinality(tokenize('bert-msl1', 'the cat sat')), 5, 'max_seq_length < 2 is ignored');
SELECT drop_model('bert-msl1');

-- cancellation: statement_timeout stops a long batch within 100 ms of firing
SELECT lives_ok($$SELECT load_model('bert-medium', 'bert_medium/bert-f32.gguf')$$, 'register a bigger model');
SELECT lives_ok($$SELECT embed('bert-medium', 'warm up')$$, 'load it');
-- (query_canceled is not caught by WHEN OTHERS, hence no throws_ok)
CREATE FUNCTION pg_temp.cancel_ms() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	PERFORM embed('bert-medium', (SELECT array_agg(repeat('the cat ', 300)) FROM generate_series(1, 64)));
	RETURN -1;
EXCEPTION WHEN query_canceled THEN
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
-- three tries, the quickest counts: a loaded machine may delay one
CREATE TEMP TABLE cancel (ms float8);
SET statement_timeout = '300ms';
INSERT INTO cancel SELECT pg_temp.cancel_ms();
INSERT INTO cancel SELECT pg_temp.cancel_ms();
INSERT INTO cancel SELECT pg_temp.cancel_ms();
RESET statement_timeout;
SELECT cmp_ok((SELECT min(ms) FROM cancel), '>=', 250::float8, 'statement_timeout cancels a long batch (ms: ' || (SELECT string_agg(round(ms::numeric, 1)::text, ', ') FROM cancel) || ')');
SELECT cmp_ok((SELECT min(ms) FROM cancel), '<', 400::float8, '... within 100 ms of the 300 ms timeout (the quickest of three)');
SELECT lives_ok($$SELECT embed('bert-medium', 'still works after a cancel')$$, 'the model works after a cancel');
SELECT drop_model('bert-medium');

------------------------------------------------------------------------
-- shared cache: unload and reload
------------------------------------------------------------------------
SELECT is((SELECT loaded FROM pg_infer.models WHERE name = 'bert-hf'), true, 'used model is loaded');
SELECT is(unload_model('bert-hf'), true, 'unload_model says it was loaded');
SELECT is((SELECT loaded FROM pg_infer.models WHERE name = 'bert-hf'), false, 'unloaded');
SELECT cmp_ok(pg_temp.err(embed('bert-hf', 'the cat sat on the mat.'),
	(SELECT c->'reference'->'mean_normalized' FROM cases WHERE name = 'short')), '<=', 1e-4::float8,
	'the next use loads it again');
SELECT is((SELECT loaded FROM pg_infer.models WHERE name = 'bert-hf'), true, 'loaded again');

SELECT * FROM finish();
SELECT drop_model(name) FROM m;
