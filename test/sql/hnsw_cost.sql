-- hnsw_cost.sql: the planner's choice between the hnsw index and a
-- sequential scan (issue #15 items 0, 1 and 4): the index is used for
-- ORDER BY ... LIMIT on tables whose vectors are stored out of line (TOAST)
-- and on small tables, and not when a selective filter means the index
-- cannot deliver LIMIT rows that pass it.
SET client_min_messages = warning;
SELECT setseed(0.42);

-- 3,000 vectors of 512 dimensions: 2 KB each, stored out of line
CREATE TABLE cost_toast (id int PRIMARY KEY, c int, v vector(512));
INSERT INTO cost_toast
SELECT i, i % 100, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 512) WHERE i > 0)::vector(512)
FROM generate_series(1, 3000) i;
CREATE INDEX ON cost_toast USING hnsw (v vector_cosine_ops) WITH (m = 8, ef_construction = 16);
ANALYZE cost_toast;
CREATE TEMP TABLE q AS SELECT v FROM cost_toast WHERE id = 17;

-- the index, although the heap itself is a few pages (the vectors are in TOAST)
EXPLAIN (COSTS OFF) SELECT id FROM cost_toast ORDER BY v <=> (SELECT v FROM q) LIMIT 5;
SELECT id FROM cost_toast ORDER BY v <=> (SELECT v FROM q) LIMIT 1;

-- a filter passing 1% of the rows: the index would return about
-- ef_search * 1% rows, so the sequential scan must be chosen
SET hnsw.iterative_scan = off;
EXPLAIN (COSTS OFF) SELECT id FROM cost_toast WHERE c = 7 ORDER BY v <=> (SELECT v FROM q) LIMIT 20;
SELECT count(*) FROM (SELECT id FROM cost_toast WHERE c = 7 ORDER BY v <=> (SELECT v FROM q) LIMIT 20) s;
SELECT count(*) FROM (SELECT id FROM cost_toast WHERE c < 1 ORDER BY v <=> (SELECT v FROM q) LIMIT 20) s;
RESET hnsw.iterative_scan;

-- a small table of 384-dimensional vectors (stored inline): 2,000 rows
CREATE TABLE cost_small (id int PRIMARY KEY, v vector(384));
INSERT INTO cost_small
SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 384) WHERE i > 0)::vector(384)
FROM generate_series(1, 2000) i;
CREATE INDEX ON cost_small USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 16);
ANALYZE cost_small;
EXPLAIN (COSTS OFF) SELECT id FROM cost_small ORDER BY v <-> (SELECT v FROM cost_small WHERE id = 3) LIMIT 10;

-- without ORDER BY or LIMIT the index is never used
EXPLAIN (COSTS OFF) SELECT count(*) FROM cost_small;

DROP TABLE cost_toast, cost_small;
