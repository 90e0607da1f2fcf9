-- builds: serial, parallel, and when the graph outgrows maintenance_work_mem
SELECT setseed(0.9);
CREATE TABLE b (id int, v vector(64));
INSERT INTO b SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 6000) i;
ANALYZE b;
CREATE TEMP TABLE q AS SELECT ARRAY(SELECT random() FROM generate_series(1, 64) WHERE g > 0)::vector AS v FROM generate_series(1, 20) g;
CREATE FUNCTION recall10() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE r record; hits int := 0; n int := 0; ex int[]; got int[];
BEGIN
  FOR r IN SELECT * FROM q LOOP
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_seqscan', 'on', true);
    SELECT array_agg(id) INTO ex FROM (SELECT id FROM b ORDER BY v <-> r.v LIMIT 10) s;
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    SELECT array_agg(id) INTO got FROM (SELECT id FROM b ORDER BY v <-> r.v LIMIT 10) s;
    hits := hits + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (ex));
    n := n + 10;
  END LOOP;
  RETURN hits::numeric / n;
END $$;
SET hnsw.ef_search = 100;

-- serial
SET max_parallel_maintenance_workers = 0;
CREATE INDEX b_v ON b USING hnsw (v vector_l2_ops);
SELECT elements, heap_tids, unreachable * 100 <= elements AS few_unreachable, problems FROM hnsw_check('b_v');
SELECT recall10() >= 0.9 AS recall_ok;
DROP INDEX b_v;

-- parallel: leader and workers insert into one shared graph
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
CREATE INDEX b_v ON b USING hnsw (v vector_l2_ops);
SELECT elements, heap_tids, unreachable * 100 <= elements AS few_unreachable, problems FROM hnsw_check('b_v');
SELECT recall10() >= 0.9 AS recall_ok;
DROP INDEX b_v;

-- a graph that outgrows maintenance_work_mem: the rest goes in on disk
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '1MB';
CREATE INDEX b_v ON b USING hnsw (v vector_l2_ops);
SELECT elements, heap_tids, unreachable * 100 <= elements AS few_unreachable, problems FROM hnsw_check('b_v');
SELECT recall10() >= 0.9 AS recall_ok;
DROP INDEX b_v;

-- the same in a parallel build: it starts over serially
SET max_parallel_maintenance_workers = 2;
CREATE INDEX b_v ON b USING hnsw (v vector_l2_ops);
SELECT elements, heap_tids, unreachable * 100 <= elements AS few_unreachable, problems FROM hnsw_check('b_v');
DROP INDEX b_v;
RESET maintenance_work_mem;

-- unlogged tables
CREATE UNLOGGED TABLE u (id int, v vector(3));
INSERT INTO u VALUES (1, '[1,1,1]'), (2, '[2,2,2]');
CREATE INDEX u_v ON u USING hnsw (v vector_l2_ops);
INSERT INTO u VALUES (3, '[3,3,3]');
SET enable_seqscan = off;
SELECT id FROM u ORDER BY v <-> '[2.9,3,3]' LIMIT 2;
SELECT problems FROM hnsw_check('u_v');
DROP TABLE u;
DROP TABLE b;
DROP FUNCTION recall10();
