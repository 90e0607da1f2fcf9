-- precision.sql: load_model's "precision" option (bf16, int8 weights for
-- text encoders; doc/embeddings.md).  The random-weight BERT of embed.sql
-- registered in each precision, against the float64 NumPy reference
-- (test/models/bert_ref.py, independent of pg_infer): cosine to the
-- reference at least 0.9995 (bf16) and 0.999 (int8) on every case; a text
-- gets the same floats alone and in a batch; each precision has its own
-- prepared file, which unload_model removes; bad options and models the
-- option does not apply to are refused with the right SQLSTATE.
-- (The real model's figures, use-lite on 652 reference texts, are checked
-- by test/unit/test_use_lite.c.)
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/bert_cases.sql

SELECT ok((SELECT count(*) FROM cases) >= 20, 'setup: reference cases loaded');

CREATE TEMP TABLE m (name text, source text, options jsonb, refkey text, bound float8);
INSERT INTO m VALUES
	('p-f32', 'bert/hf', '{"precision": "f32"}', 'reference', 0.99999),
	('p-bf16', 'bert/hf', '{"precision": "bf16"}', 'reference', 0.9995),
	('p-int8', 'bert/hf', '{"precision": "int8"}', 'reference', 0.999),
	('p-int8-row', 'bert/hf', '{"precision": "int8", "int8_block": 4096}', 'reference', 0.999),
	('p-int8-32', 'bert/bert-f32.gguf', '{"precision": "int8", "int8_block": 32}', 'reference', 0.999),
	('p-q8', 'bert/bert-q8_0.gguf', '{"precision": "int8"}', 'reference_q8_0', 0.999);
SELECT lives_ok(format('SELECT load_model(%L, %L, %L)', name, source, options), 'register ' || name || ' ' || options)
FROM m ORDER BY name;

------------------------------------------------------------------------
-- accuracy against the independent reference
------------------------------------------------------------------------
CREATE TEMP TABLE acc AS
SELECT m.name, m.bound, min(pg_temp.cos(embed(m.name, body), c->m.refkey->'mean_normalized')) AS worst
FROM m, cases GROUP BY 1, 2;
SELECT cmp_ok(worst, '>=', bound, format('%s: worst cosine to the float64 reference %s (bound %s)', name, worst, bound))
FROM acc ORDER BY name;
-- the reduced precisions really are reduced: not the f32 floats
SELECT ok((SELECT bool_or(embed('p-bf16', body) <> embed('p-f32', body)) FROM cases), 'bf16 differs from f32');
SELECT ok((SELECT bool_or(embed('p-int8', body) <> embed('p-bf16', body)) FROM cases), 'int8 differs from bf16');
-- token heads' classifier and the pooler stay f32 (nothing here to check
-- beyond the encoder); the default precision is f32, bit for bit
SELECT lives_ok($$SELECT load_model('bert-hf-default', 'bert/hf')$$, 'register bert-hf-default');
SELECT is((SELECT count(*) FROM cases WHERE embed('bert-hf-default', body) IS DISTINCT FROM embed('p-f32', body)),
		  0::bigint, 'no "precision": the same floats as "f32"');

------------------------------------------------------------------------
-- a text gets the same floats alone and in a batch (activations are
-- quantised per token)
------------------------------------------------------------------------
CREATE TEMP TABLE ck AS SELECT row_number() OVER (ORDER BY n) AS k, * FROM cases;
SELECT is((SELECT count(*) FROM ck, (SELECT embed(m.name, (SELECT array_agg(body ORDER BY n) FROM cases)) AS vs) b
		   WHERE b.vs[ck.k] IS DISTINCT FROM embed(m.name, ck.body)), 0::bigint,
		  m.name || ': each text of a batch equals the text embedded alone')
FROM m WHERE name IN ('p-bf16', 'p-int8', 'p-int8-row');

------------------------------------------------------------------------
-- prepared files: one per precision, all removed by unload_model
------------------------------------------------------------------------
CREATE TEMP TABLE sha AS SELECT sha256 FROM pg_infer.models WHERE name = 'p-bf16';
SELECT ok((pg_stat_file('pg_infer/' || sha256 || '.' || suffix || '.pgim', true)).size > 0,
		  'prepared file ' || suffix || ' exists')
FROM sha, (VALUES ('f32'), ('bf16'), ('int8'), ('int8b4096')) s(suffix);
SELECT ok((pg_stat_file('pg_infer/' || sha256 || '.int8.pgim')).size <
		  (pg_stat_file('pg_infer/' || sha256 || '.bf16.pgim')).size AND
		  (pg_stat_file('pg_infer/' || sha256 || '.bf16.pgim')).size <
		  (pg_stat_file('pg_infer/' || sha256 || '.f32.pgim')).size, 'int8 < bf16 < f32 in bytes')
FROM sha;
SELECT ok(unload_model('p-bf16'), 'unload_model: the model was loaded');
SELECT is((SELECT count(*) FROM sha, (VALUES ('f32'), ('bf16'), ('int8'), ('int8b4096')) s(suffix)
		   WHERE pg_stat_file('pg_infer/' || sha256 || '.' || suffix || '.pgim', true) IS NOT NULL), 0::bigint,
		  'unload_model removed the prepared file of every precision');
SELECT ok(NOT loaded, 'pg_infer.models: not loaded after unload') FROM pg_infer.models WHERE name = 'p-bf16';
SELECT cmp_ok((SELECT min(pg_temp.cos(embed('p-bf16', body), c->'reference'->'mean_normalized')) FROM cases),
			  '>=', 0.9995::float8, 'bf16 rebuilt after unload: still within its bound');

-- re-registering the same content with another precision switches to it
SELECT lives_ok($$SELECT load_model('p-switch', 'bert/hf', '{"precision": "bf16"}')$$, 'register p-switch in bf16');
CREATE TEMP TABLE before AS SELECT embed('p-switch', 'the cat sat on the mat') AS v;
SELECT lives_ok($$SELECT load_model('p-switch', 'bert/hf', '{"precision": "int8"}')$$, 'p-switch now int8');
SELECT is(embed('p-switch', 'the cat sat on the mat'), embed('p-int8', 'the cat sat on the mat'),
		  'the switched model gives the int8 floats');
SELECT isnt(embed('p-switch', 'the cat sat on the mat'), (SELECT v FROM before), '... not the bf16 ones');

------------------------------------------------------------------------
-- refusals
------------------------------------------------------------------------
SELECT throws_ok($$SELECT load_model('x', 'bert/hf', '{"precision": "fp16"}')$$, '22023',
				 'model option "precision" must be "f32", "bf16" or "int8"', 'an unknown precision');
SELECT throws_ok($$SELECT load_model('x', 'bert/hf', '{"precision": 8}')$$, '22023', NULL, 'a precision that is not a string');
SELECT throws_ok($$SELECT load_model('x', 'bert/hf', '{"int8_block": 64}')$$, '22023', NULL,
				 'int8_block without precision int8');
SELECT throws_ok($$SELECT load_model('x', 'bert/hf', '{"precision": "int8", "int8_block": 48}')$$, '22023', NULL,
				 'an int8_block that is not a power of two from 32 to 4096');
SELECT throws_ok($$SELECT load_model('x', 'stories260K.gguf', '{"precision": "int8"}')$$, '0A000', NULL,
				 'a decoder refuses "precision"');
SELECT ok(NOT EXISTS (SELECT FROM pg_infer.models WHERE name = 'x'), 'nothing registered by the refusals');
SELECT lives_ok($$SELECT load_model('x', 'stories260K.gguf', '{"precision": "f32"}'), drop_model('x')$$,
				'"f32" is accepted for a decoder (it changes nothing)');

SELECT drop_model(name) FROM m;
SELECT drop_model('bert-hf-default'), drop_model('p-switch');
SELECT * FROM finish();
