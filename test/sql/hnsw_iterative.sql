-- iterative scans: filtered queries return enough rows
SELECT setseed(0.3);
CREATE TABLE f (id int, cat text, v vector(16));
INSERT INTO f SELECT i, CASE WHEN i % 100 = 0 THEN 'x' ELSE 'y' END,
	ARRAY(SELECT random() FROM generate_series(1, 16) WHERE i > 0) FROM generate_series(1, 20000) i;
CREATE INDEX f_v ON f USING hnsw (v vector_l2_ops);
CREATE TEMP TABLE q AS SELECT v FROM f WHERE id = 7;

-- the exact answer, from a sequential scan
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS
SELECT array_agg(id) AS ids FROM (SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10) s;
RESET enable_indexscan;
SET enable_seqscan = off;

SHOW hnsw.iterative_scan;
EXPLAIN (COSTS OFF) SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10;
-- off: at most ef_search candidates, of which about 1% match
SELECT count(*) <= 10 AS at_most_10 FROM (SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10) s;

SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10) s;
SELECT (SELECT count(*) FROM unnest(ids) x WHERE x IN
	(SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10)) >= 9 AS recall_ok FROM exact;

SET hnsw.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 10) s;
-- strict order: distances never decrease
SELECT bool_and(d >= prev) AS ordered FROM (
	SELECT d, lag(d, 1, 0::float8) OVER () AS prev FROM (
		SELECT v <-> (SELECT v FROM q) AS d FROM f WHERE cat = 'x' ORDER BY v <-> (SELECT v FROM q) LIMIT 50) s) t;

-- the whole table can be walked with a large enough budget (tuples, and
-- memory: work_mem times hnsw.scan_mem_multiplier)
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.max_scan_tuples = 100000;
SET hnsw.scan_mem_multiplier = 100;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM f ORDER BY v <-> (SELECT v FROM q)) s;
-- and the budget stops it
SET hnsw.max_scan_tuples = 1000;
SELECT count(*) < 20000 AS stopped_early FROM (SELECT id FROM f ORDER BY v <-> (SELECT v FROM q)) s;
SET hnsw.max_scan_tuples = 0;
RESET hnsw.max_scan_tuples;
SET hnsw.iterative_scan = sideways;
DROP TABLE f;
