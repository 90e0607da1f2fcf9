-- avg and sum
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]', '[3,5,7]']::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]', '[3,5,7]', NULL]::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY[]::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY[NULL]::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2]', '[1]']::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY['[3e38]', '[3e38]']::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]', '[3,5,7]']::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]', '[3,5,7]', NULL]::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY[]::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2]', '[1]']::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY['[3e38]', '[3e38]']::vector[]) v;
SELECT avg(v) FILTER (WHERE vector_dims(v) = 2), sum(v) FILTER (WHERE vector_dims(v) = 1)
  FROM unnest(ARRAY['[1,2]', '[3,4]', '[5]']::vector[]) v;
SELECT g, avg(v), sum(v) FROM (VALUES (1, '[1,1]'::vector), (1, '[3,3]'), (2, '[10,20]')) t(g, v)
  GROUP BY g ORDER BY g;

-- parallel aggregation uses the combine functions and gives the same answer
CREATE TABLE vagg (v vector(3));
INSERT INTO vagg SELECT ARRAY[i % 7, i % 11, -(i % 13)]::vector FROM generate_series(1, 60000) i;
ANALYZE vagg;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM vagg;
SELECT avg(v), sum(v) FROM vagg;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- reference: the same averages from plain arithmetic
SELECT avg(i % 7)::real, avg(i % 11)::real, avg(-(i % 13))::real FROM generate_series(1, 60000) i;
SELECT sum(i % 7), sum(i % 11), sum(-(i % 13)) FROM generate_series(1, 60000) i;
DROP TABLE vagg;
