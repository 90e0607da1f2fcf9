-- hnsw index over vector: opclasses, planner, NULLs, errors, exactness on small tables
SET enable_seqscan = off;

-- L2
CREATE TABLE t (id int, val vector(3));
INSERT INTO t (id, val) VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
CREATE INDEX t_l2 ON t USING hnsw (val vector_l2_ops);
INSERT INTO t (id, val) VALUES (5, '[1,2,4]');
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[3,3,3]' LIMIT 3;
SELECT id, val FROM t ORDER BY val <-> '[3,3,3]';
SELECT count(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::vector)) s;
SELECT count(*) FROM t;
SELECT elements, deleted, heap_tids, unreachable, problems FROM hnsw_check('t_l2');
DROP INDEX t_l2;

-- inner product
CREATE INDEX t_ip ON t USING hnsw (val vector_ip_ops);
SELECT id, val FROM t ORDER BY val <#> '[3,3,3]';
DROP INDEX t_ip;

-- cosine: zero vectors have no direction and are not indexed
CREATE INDEX t_cos ON t USING hnsw (val vector_cosine_ops);
SELECT id, val FROM t ORDER BY val <=> '[3,3,3]';
SELECT id FROM t ORDER BY val <=> '[0,0,0]' LIMIT 1;
SELECT elements FROM hnsw_check('t_cos');
DROP INDEX t_cos;

-- L1
CREATE INDEX t_l1 ON t USING hnsw (val vector_l1_ops);
SELECT id, val FROM t ORDER BY val <+> '[3,3,3]';
DROP INDEX t_l1;

-- the index is not used without ORDER BY, or for another operator
CREATE INDEX t_l2 ON t USING hnsw (val vector_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE val = '[1,2,3]';
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <#> '[3,3,3]' LIMIT 1;

-- dimension errors
INSERT INTO t (val) VALUES ('[1,2]');
SELECT id FROM t ORDER BY val <-> '[1,2]' LIMIT 1;

-- empty table, TRUNCATE, duplicates
TRUNCATE t;
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SELECT elements, deleted, heap_tids, unreachable, problems FROM hnsw_check('t_l2');
INSERT INTO t SELECT i, '[1,1,1]' FROM generate_series(1, 25) i;
SELECT count(*) FROM (SELECT id FROM t ORDER BY val <-> '[1,1,1]') s;
SELECT elements, heap_tids, problems FROM hnsw_check('t_l2');
DROP TABLE t;

-- options
CREATE TABLE o (v vector(2));
CREATE INDEX ON o USING hnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON o USING hnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON o USING hnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON o USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON o USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX o_ok ON o USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
SHOW hnsw.ef_search;
SET hnsw.ef_search = 0;
SET hnsw.ef_search = 1001;
DROP TABLE o;

-- columns without dimensions or with too many
CREATE TABLE nd (v vector);
CREATE INDEX ON nd USING hnsw (v vector_l2_ops);
CREATE TABLE big (v vector(2001));
CREATE INDEX ON big USING hnsw (v vector_l2_ops);
DROP TABLE nd, big;
CREATE TABLE max2000 (v vector(2000));
INSERT INTO max2000 SELECT array_fill(i, ARRAY[2000])::vector FROM generate_series(1, 10) i;
CREATE INDEX m2000 ON max2000 USING hnsw (v vector_l2_ops);
SELECT vector_dims(v), v <-> array_fill(3, ARRAY[2000])::vector AS d FROM max2000 ORDER BY v <-> array_fill(3, ARRAY[2000])::vector LIMIT 2;
SELECT elements, problems FROM hnsw_check('m2000');
DROP TABLE max2000;

-- opclass validation
SELECT amvalidate(oid) FROM pg_opclass WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw') ORDER BY opcname;

-- results equal an exact scan on a small table (every opclass)
CREATE TABLE ex (id int, v vector(8));
SELECT setseed(0.5);
INSERT INTO ex SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 8) WHERE i > 0)::vector FROM generate_series(1, 300) i;
CREATE TEMP TABLE q AS SELECT ARRAY(SELECT random() - 0.5 FROM generate_series(1, 8) WHERE g > 0)::vector AS v FROM generate_series(1, 20) g;
CREATE INDEX ex_l2 ON ex USING hnsw (v vector_l2_ops);
CREATE INDEX ex_cos ON ex USING hnsw (v vector_cosine_ops);
CREATE INDEX ex_ip ON ex USING hnsw (v vector_ip_ops);
CREATE INDEX ex_l1 ON ex USING hnsw (v vector_l1_ops);
SET hnsw.ef_search = 300;
CREATE FUNCTION topk(op text, qv vector, useindex bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  PERFORM set_config('enable_indexscan', CASE WHEN useindex THEN 'on' ELSE 'off' END, true);
  PERFORM set_config('enable_seqscan', CASE WHEN useindex THEN 'off' ELSE 'on' END, true);
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM ex ORDER BY v %s $1 LIMIT 10) s', op) INTO r USING qv;
  RETURN r;
END $$;
SELECT op, count(*) FILTER (WHERE topk(op, q.v, true) = topk(op, q.v, false)) AS same, count(*) AS queries
FROM q, unnest(ARRAY['<->', '<=>', '<#>', '<+>']) op GROUP BY op ORDER BY op;
DROP TABLE ex;
DROP FUNCTION topk(text, vector, bool);

-- the on-disk layout keeps the m it was built with, whatever ALTER INDEX says
CREATE TABLE am (id int, v vector(4));
INSERT INTO am SELECT i, ARRAY[i % 7, i % 11, i % 13, i % 17] FROM generate_series(1, 500) i;
CREATE INDEX am_v ON am USING hnsw (v vector_l2_ops) WITH (m = 8);
ALTER INDEX am_v SET (m = 100);
SET enable_seqscan = off;
SET hnsw.ef_search = 100;
SELECT count(*) FROM (SELECT id FROM am ORDER BY v <-> '[3,3,3,3]' LIMIT 40) s;
INSERT INTO am SELECT i, ARRAY[i % 7, i % 11, i % 13, i % 17] FROM generate_series(501, 600) i;
SELECT elements, heap_tids, problems FROM hnsw_check('am_v');
DROP TABLE am;

-- equal values share elements under every opclass (distance to itself is
-- 0 for L2, -|v|^2 under inner product)
CREATE TABLE dup (v vector(3));
CREATE INDEX dup_l2 ON dup USING hnsw (v vector_l2_ops);
CREATE INDEX dup_cos ON dup USING hnsw (v vector_cosine_ops);
CREATE INDEX dup_ip ON dup USING hnsw (v vector_ip_ops);
INSERT INTO dup SELECT '[1,2,3]' FROM generate_series(1, 30);
INSERT INTO dup SELECT '[2,4,6]' FROM generate_series(1, 5);
SELECT 'l2' AS idx, elements, heap_tids FROM hnsw_check('dup_l2')
UNION ALL SELECT 'cos', elements, heap_tids FROM hnsw_check('dup_cos')
UNION ALL SELECT 'ip', elements, heap_tids FROM hnsw_check('dup_ip');
REINDEX TABLE dup;
SELECT 'l2' AS idx, elements, heap_tids FROM hnsw_check('dup_l2')
UNION ALL SELECT 'cos', elements, heap_tids FROM hnsw_check('dup_cos')
UNION ALL SELECT 'ip', elements, heap_tids FROM hnsw_check('dup_ip');
DROP TABLE dup;

-- hnsw_check is for administrators
SELECT has_function_privilege('public', 'hnsw_check(regclass)', 'EXECUTE') AS public_may_check;
