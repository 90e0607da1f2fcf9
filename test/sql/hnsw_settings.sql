-- hnsw_settings.sql: pgvector 0.8's hnsw settings, same names, types,
-- ranges and defaults (issue #15 item 5), and hnsw.scan_mem_multiplier
-- bounding an iterative scan's memory with work_mem.
SELECT name, vartype, min_val, max_val, boot_val, context
FROM pg_settings WHERE name LIKE 'hnsw.%' ORDER BY name;
SET hnsw.scan_mem_multiplier = 2;
SHOW hnsw.scan_mem_multiplier;
SET hnsw.scan_mem_multiplier = 0.5;
SET hnsw.scan_mem_multiplier = 1001;
SET hnsw.ef_search = 1001;
SET hnsw.iterative_scan = 'sideways';
SET hnsw.no_such_setting = 1;
RESET hnsw.scan_mem_multiplier;

-- an iterative scan stops when its search memory passes work_mem times the
-- multiplier: with 64 kB it returns fewer of the rows a filter wants
SELECT setseed(0.1);
CREATE TABLE mem_it (id int, c int, v vector(16));
INSERT INTO mem_it
SELECT i, i % 1000, ARRAY(SELECT random() FROM generate_series(1, 16) WHERE i > 0)::vector
FROM generate_series(1, 20000) i;
CREATE INDEX ON mem_it USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SET work_mem = '64kB';
CREATE TEMP TABLE counts AS
SELECT 'x1' AS k, count(*) AS n FROM (SELECT id FROM mem_it WHERE c = 7 ORDER BY v <-> (SELECT v FROM mem_it WHERE id = 1) LIMIT 20) s;
SET hnsw.scan_mem_multiplier = 1000;
INSERT INTO counts
SELECT 'x1000', count(*) FROM (SELECT id FROM mem_it WHERE c = 7 ORDER BY v <-> (SELECT v FROM mem_it WHERE id = 1) LIMIT 20) s;
SELECT (SELECT n FROM counts WHERE k = 'x1') < (SELECT n FROM counts WHERE k = 'x1000') AS more_memory_more_rows;
RESET ALL;
DROP TABLE mem_it;
