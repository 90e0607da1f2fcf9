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
