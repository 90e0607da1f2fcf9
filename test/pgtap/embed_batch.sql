-- embed_batch.sql: cross-row batching of embed() (EmbedBatch custom scan).
--
-- Batched results are checked against the NumPy reference (bert/reference.json,
-- test/models/bert_ref.py) row by row, and against row-by-row evaluation
-- (pg_infer.batch_rows = 1); plus plan shapes, NULLs, several calls per row,
-- aggregates, UPDATE / INSERT ... SELECT, parallel workers, rescans, LIMIT,
-- errors raised at the row that causes them, and cursors.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/bert_cases.sql
\ir lib/plan.sql
DO $$ BEGIN PERFORM load_model('batch-hf', 'bert/hf'); END $$;

-- 3 copies of every case (ids n, n + 1000, n + 2000) and a NULL text:
-- batches of 1, 2, 4, 8, 16, 32, ... rows end mid-table
CREATE TEMP TABLE docs AS
SELECT n + k * 1000 AS id, n, body FROM cases, generate_series(0, 2) k;
INSERT INTO docs VALUES (-1, NULL, NULL);
ANALYZE docs;

------------------------------------------------------------------------
-- plans
------------------------------------------------------------------------
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body) FROM docs$$) LIKE '%Custom Scan (EmbedBatch)%',
	'SELECT embed(m, body) FROM t runs under EmbedBatch');
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body) FROM docs$$, true) LIKE
	'%Output: id, (embed(''batch-hf''::text, body, ''{}''::jsonb))%',
	'EXPLAIN VERBOSE shows the batched call as written');
SELECT ok(pg_temp.plan($$SELECT count(embed('batch-hf', body)) FROM docs$$) LIKE '%EmbedBatch%',
	'an aggregate''s embed() argument is batched too');
SELECT ok(pg_temp.plan($$UPDATE docs SET body = body WHERE embed('batch-hf', body) IS NULL$$) NOT LIKE '%EmbedBatch%',
	'embed() in a WHERE clause is left row by row');
-- a call of constants is the same for every row: not batched (issue #15 item 6)
SET pg_infer.default_model = 'batch-hf';
SELECT ok(pg_temp.plan($$SELECT id, embed('the same text') <-> embed(body) FROM docs$$) LIKE '%EmbedBatch%'
		  AND pg_temp.plan($$SELECT id, embed('the same text') FROM docs$$) NOT LIKE '%EmbedBatch%',
	'embed(constant) is not batched per row (embed(column) in the same query is)');
SELECT is((SELECT count(DISTINCT e::text) FROM (SELECT embed('the same text') AS e FROM docs) s), 1::bigint,
	'... and gives every row the same embedding (computed once per call site, remembered)');
RESET pg_infer.default_model;
SET pg_infer.batch_rows = 1;
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body) FROM docs$$) NOT LIKE '%EmbedBatch%',
	'pg_infer.batch_rows = 1 turns batching off');
RESET pg_infer.batch_rows;

------------------------------------------------------------------------
-- results: the reference, row by row evaluation, NULLs
------------------------------------------------------------------------
CREATE TEMP TABLE batched AS SELECT id, n, embed('batch-hf', body) AS e FROM docs;
SELECT cmp_ok((SELECT max(pg_temp.err(b.e, c.c->'reference'->'mean_normalized'))
			   FROM batched b JOIN cases c USING (n)), '<=', 1e-4::float8,
	'every batched row matches the reference for its own text (max abs error <= 1e-4)');
SELECT is((SELECT count(*) FROM batched WHERE e IS NOT NULL), (SELECT count(*) FROM cases) * 3,
	'one vector per non-NULL row');
SELECT is((SELECT e IS NULL FROM batched WHERE id = -1), true, 'a NULL text gives NULL in a batch');
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE rowwise AS SELECT id, embed('batch-hf', body) AS e FROM docs;
RESET pg_infer.batch_rows;
SELECT is((SELECT count(*) FROM batched b JOIN rowwise r USING (id) WHERE b.e IS DISTINCT FROM r.e), 0::bigint,
	'batched vectors equal row-by-row vectors exactly');

-- several calls in one row: options, the default-model form, the same call twice
SET pg_infer.default_model = 'batch-hf';
CREATE TEMP TABLE multi AS
SELECT n, embed('batch-hf', body, '{"pooling": "cls"}') AS cls, embed(body) AS dflt,
	   embed('batch-hf', body) AS a, embed('batch-hf', body) <=> embed('batch-hf', body) AS self
FROM docs WHERE id > 0;
SELECT ok(pg_temp.plan($$SELECT embed('batch-hf', body, '{"pooling": "cls"}'), embed(body), embed('batch-hf', body) FROM docs$$)
	LIKE '%EmbedBatch%', 'several calls in one target list are batched');
SELECT cmp_ok((SELECT max(pg_temp.err(m.cls, c.c->'reference'->'cls_normalized')) FROM multi m JOIN cases c USING (n)),
	'<=', 1e-4::float8, 'batched with options (cls pooling): matches the reference');
SELECT cmp_ok((SELECT max(pg_temp.err(m.dflt, c.c->'reference'->'mean_normalized')) FROM multi m JOIN cases c USING (n)),
	'<=', 1e-4::float8, 'batched embed(text) with pg_infer.default_model: matches the reference');
SELECT is((SELECT count(*) FROM multi WHERE a IS DISTINCT FROM dflt OR abs(self) > 1e-6), 0::bigint,
	'the same call twice gives the same vector');
RESET pg_infer.default_model;

-- aggregates: count and avg over batched arguments, grouped
SELECT is((SELECT count(embed('batch-hf', body)) FROM docs), (SELECT count(*) FROM cases) * 3,
	'count(embed(...)) over a batched scan');
SELECT cmp_ok((SELECT max(g.a <-> r.a) FROM
		(SELECT n, avg(embed('batch-hf', body)) AS a FROM docs GROUP BY n) g
		JOIN (SELECT n, avg(e) AS a FROM rowwise JOIN docs USING (id) GROUP BY n) r USING (n)),
	'<=', 1e-6::float8, 'avg(embed(...)) GROUP BY: the same centroids as row by row');

------------------------------------------------------------------------
-- writes, parallel workers, rescans, LIMIT
------------------------------------------------------------------------
CREATE TEMP TABLE w (id int, body text, e vector);
INSERT INTO w SELECT id, body, embed('batch-hf', body) FROM docs;
SELECT is((SELECT count(*) FROM w JOIN rowwise r USING (id) WHERE w.e IS DISTINCT FROM r.e), 0::bigint,
	'INSERT ... SELECT embed(...): batched, the row-by-row vectors');
UPDATE w SET e = NULL;
SELECT ok(pg_temp.plan($$UPDATE w SET e = embed('batch-hf', body)$$) LIKE '%EmbedBatch%', 'UPDATE ... SET e = embed(...) is batched');
UPDATE w SET e = embed('batch-hf', body);
SELECT is((SELECT count(*) FROM w JOIN rowwise r USING (id) WHERE w.e IS DISTINCT FROM r.e), 0::bigint,
	'UPDATE: every row gets its own vector');

CREATE TABLE pgi_batch_par AS SELECT g AS id, (SELECT body FROM cases ORDER BY n LIMIT 1 OFFSET g % 20) AS body
FROM generate_series(1, 600) g;
ANALYZE pgi_batch_par;
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE par_rowwise AS SELECT id, embed('batch-hf', body) AS e FROM pgi_batch_par;
RESET pg_infer.batch_rows;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body) FROM pgi_batch_par$$) ~ 'Gather.*EmbedBatch.*Parallel Seq Scan',
	'parallel plan: EmbedBatch runs in the workers, over the parallel scan');
SELECT is((SELECT count(*) FROM (SELECT id, embed('batch-hf', body) AS e FROM pgi_batch_par) p
		   JOIN par_rowwise r USING (id) WHERE p.e IS DISTINCT FROM r.e), 0::bigint,
	'parallel workers batch and return each row''s own vector');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE pgi_batch_par;

-- rescans: the inner side of a nested loop, re-run per outer row with a new parameter
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
CREATE TEMP TABLE lat AS
SELECT g, x.id, x.e FROM generate_series(1, 3) g,
	LATERAL (SELECT id, embed('batch-hf', body || ' ' || g) AS e FROM docs WHERE id > 0 OFFSET 0) x;
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE lat_rowwise AS
SELECT g, x.id, x.e FROM generate_series(1, 3) g,
	LATERAL (SELECT id, embed('batch-hf', body || ' ' || g) AS e FROM docs WHERE id > 0 OFFSET 0) x;
RESET pg_infer.batch_rows;
SELECT ok(pg_temp.plan($$SELECT g, x.id, x.e FROM generate_series(1, 3) g,
	LATERAL (SELECT id, embed('batch-hf', body || ' ' || g) AS e FROM docs WHERE id > 0 OFFSET 0) x$$) ~ 'Nested Loop.*EmbedBatch',
	'EmbedBatch on the inner side of a nested loop');
SELECT is((SELECT count(*) FROM lat l JOIN lat_rowwise r USING (g, id) WHERE l.e IS DISTINCT FROM r.e)
		  + abs((SELECT count(*) FROM lat) - (SELECT count(*) FROM cases) * 9), 0::bigint,
	'rescanned with a new parameter for each outer row: the row-by-row vectors');
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;

------------------------------------------------------------------------
-- errors come from the row that causes them, as row by row
------------------------------------------------------------------------
CREATE TEMP TABLE longs (id int, body text);
INSERT INTO longs VALUES (1, 'a short text'), (2, 'another short one'), (3, repeat('word ', 200)),
	(4, 'short again');
SELECT throws_ok($$SELECT id, embed('batch-hf', body, '{"truncate": false}') FROM longs$$,
	'54000', NULL, 'truncate => false: an over-long row in a batch is an error');
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body, '{"truncate": false}') FROM longs LIMIT 2$$) ~ 'Limit.*EmbedBatch',
	'LIMIT over EmbedBatch (rows 2 and 3 are read in one batch)');
SELECT is((SELECT count(*) FROM (SELECT id, embed('batch-hf', body, '{"truncate": false}') FROM longs LIMIT 2) s),
	2::bigint, '... no error when LIMIT stops before the over-long row (read ahead, not evaluated)');
SELECT is((SELECT count(*) FROM (SELECT id, embed('batch-hf', body, '{"truncate": false}') FROM longs WHERE id <> 3) s),
	3::bigint, '... nor when a WHERE clause filters it out');
SELECT throws_ok($$SELECT id, embed('no-such-model', body) FROM longs$$, '42704', NULL,
	'an unknown model in a batch: the usual error');

------------------------------------------------------------------------
-- calls evaluated for some rows only stay row by row
------------------------------------------------------------------------
SELECT lives_ok($$CREATE TEMP TABLE cond AS SELECT id,
		CASE WHEN length(body) < 1000 THEN embed('batch-hf', body, '{"truncate": false}') END AS e FROM longs$$,
	'CASE WHEN length(body) < 1000 THEN embed(... truncate false): the long row is never embedded');
SELECT is((SELECT count(e) FROM cond), 3::bigint, '... the others are');
SELECT lives_ok($$SELECT COALESCE(e, embed('no-such-model', 'x' || id)) FROM cond WHERE e IS NOT NULL$$,
	'COALESCE(v, embed(...)) embeds only rows whose v is NULL');
SELECT is((SELECT count(embed('batch-hf', body, '{"truncate": false}')) FILTER (WHERE length(body) < 1000) FROM longs),
	3::bigint, 'count(embed(...)) FILTER (WHERE ...): only the rows the filter keeps');
SELECT is((SELECT bool_and(same) FROM (SELECT x, (array_agg(embed('batch-hf', x)))[1] = embed('batch-hf', x) AS same
		FROM (SELECT body || random()::text AS x FROM docs WHERE id > 0) s GROUP BY x) t), true,
	'an aggregate over a volatile input column: each row''s text is computed once');
SELECT ok(pg_temp.plan($$SELECT id, embed('batch-hf', body) FROM docs WHERE random() >= 0 LIMIT 2$$) NOT LIKE '%EmbedBatch%',
	'a volatile WHERE clause is not read ahead');

------------------------------------------------------------------------
-- cursors keep row-by-row plans (backward fetch, WHERE CURRENT OF)
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.cursor_back() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	c SCROLL CURSOR FOR SELECT id, embed('batch-hf', body) AS e FROM docs WHERE id > 0;
	r record;
BEGIN
	OPEN c;
	FETCH c INTO r;
	FETCH c INTO r;
	FETCH c INTO r;
	FETCH PRIOR FROM c INTO r;
	CLOSE c;
	RETURN r.id = (SELECT id FROM docs WHERE id > 0 LIMIT 1 OFFSET 1)
		AND r.e = (SELECT e FROM rowwise WHERE id = r.id);
END
$$;
SELECT is(pg_temp.cursor_back(), true, 'a scroll cursor over embed() fetches backward: the previous row and its vector');
CREATE TEMP TABLE cur_t AS SELECT id, body, NULL::vector AS e FROM docs WHERE id > 0;
BEGIN;
DECLARE u CURSOR FOR SELECT id, embed('batch-hf', body) AS e FROM cur_t;
MOVE 2 IN u;
SELECT lives_ok($$UPDATE cur_t SET e = '[1]' WHERE CURRENT OF u$$, 'UPDATE ... WHERE CURRENT OF a cursor over embed()');
COMMIT;
SELECT is((SELECT array_agg(id) FROM cur_t WHERE e IS NOT NULL),
	(SELECT array_agg(id) FROM (SELECT id FROM docs WHERE id > 0 LIMIT 1 OFFSET 1) s),
	'... updates exactly the row the cursor is on');

SELECT * FROM finish();
SELECT drop_model('batch-hf');
