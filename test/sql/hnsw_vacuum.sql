-- VACUUM removes dead heap TIDs and repairs the graph around deleted elements
SELECT setseed(0.7);
CREATE TABLE vv (id int, v vector(8));
INSERT INTO vv SELECT i, ARRAY(SELECT random() FROM generate_series(1, 8) WHERE i > 0) FROM generate_series(1, 3000) i;
CREATE INDEX vv_v ON vv USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
CREATE TEMP TABLE q AS SELECT ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::vector AS v FROM generate_series(1, 30) g;
CREATE FUNCTION recall10() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE r record; hits int := 0; n int := 0; ex int[]; got int[];
BEGIN
  FOR r IN SELECT * FROM q LOOP
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_seqscan', 'on', true);
    SELECT array_agg(id) INTO ex FROM (SELECT id FROM vv ORDER BY v <-> r.v LIMIT 10) s;
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    SELECT array_agg(id) INTO got FROM (SELECT id FROM vv ORDER BY v <-> r.v LIMIT 10) s;
    hits := hits + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (ex));
    n := n + 10;
  END LOOP;
  RETURN hits::numeric / n;
END $$;
SELECT recall10() >= 0.95 AS recall_ok;
DELETE FROM vv WHERE id % 3 <> 0;
VACUUM vv;
SELECT elements, deleted, heap_tids, unreachable, problems FROM hnsw_check('vv_v');
SELECT recall10() >= 0.95 AS recall_ok_after_delete;
-- the index still returns a full page of live rows
SET enable_seqscan = off;
SET hnsw.ef_search = 100;
SELECT count(*) AS rows_returned FROM (SELECT id FROM vv ORDER BY v <-> (SELECT v FROM q LIMIT 1) LIMIT 100) s;
-- deleting everything leaves an empty but usable index
DELETE FROM vv;
VACUUM vv;
SELECT elements, deleted, heap_tids, problems FROM hnsw_check('vv_v');
SELECT count(*) FROM (SELECT id FROM vv ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 5) s;
INSERT INTO vv VALUES (1, '[1,1,1,1,1,1,1,1]'), (2, '[0,0,0,0,0,0,0,0]');
SELECT id FROM vv ORDER BY v <-> '[1,1,1,1,1,1,1,0.9]' LIMIT 5;
SELECT problems FROM hnsw_check('vv_v');
DROP TABLE vv;
DROP FUNCTION recall10();
-- space VACUUM frees is reused: five cycles of delete all, VACUUM, insert
-- as many again keep the index at its size (it grew by the whole index
-- each cycle before deleted elements were freed); then three of half
CREATE TABLE sr (id int, v vector(64)) WITH (autovacuum_enabled = off);
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
CREATE INDEX sr_v ON sr USING hnsw (v vector_l2_ops);
CREATE TEMP TABLE sizes AS SELECT 0 AS cycle, pg_relation_size('sr_v') AS bytes;
DELETE FROM sr;
VACUUM sr;
SELECT elements, deleted, heap_tids, problems FROM hnsw_check('sr_v');
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT 1, pg_relation_size('sr_v');
DELETE FROM sr;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT 2, pg_relation_size('sr_v');
DELETE FROM sr;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT 3, pg_relation_size('sr_v');
DELETE FROM sr;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT 4, pg_relation_size('sr_v');
DELETE FROM sr;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT 5, pg_relation_size('sr_v');
SELECT cycle, bytes <= 1.05 * (SELECT bytes FROM sizes WHERE cycle = 0) AS within_5_percent
FROM sizes ORDER BY cycle;
SELECT elements, deleted, heap_tids, problems FROM hnsw_check('sr_v');
-- half the rows at a time
DELETE FROM sr WHERE random() < 0.5;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000 - (SELECT count(*) FROM sr)) i;
DELETE FROM sr WHERE random() < 0.5;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000 - (SELECT count(*) FROM sr)) i;
DELETE FROM sr WHERE random() < 0.5;
VACUUM sr;
INSERT INTO sr SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0) FROM generate_series(1, 2000 - (SELECT count(*) FROM sr)) i;
SELECT pg_relation_size('sr_v') <= 1.05 * (SELECT bytes FROM sizes WHERE cycle = 0) AS half_churn_within_5_percent;
SELECT count(*) AS live_rows, (SELECT elements FROM hnsw_check('sr_v')) AS elements,
       (SELECT problems FROM hnsw_check('sr_v')) AS problems FROM sr;
-- every live row is still found: each row's own value is its nearest
SET enable_seqscan = off;
SET hnsw.ef_search = 64;
SELECT count(*) FILTER (WHERE (SELECT s2.id FROM sr s2 ORDER BY s2.v <-> s1.v LIMIT 1) = s1.id)::float8 / count(*) >= 0.99
  AS self_recall FROM (SELECT * FROM sr LIMIT 300) s1;
RESET hnsw.ef_search;
DROP TABLE sr;
