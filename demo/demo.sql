-- pg_infer demo: similarity search with the vector type and an hnsw index.
--
-- Until the embedding models land, the vectors here are geometric: each
-- city becomes the 3-d unit vector of its position on the globe, so cosine
-- distance orders cities by great-circle distance, and
-- acos(1 - cosine_distance) * 6371 is that distance in km.

\pset footer off
\set QUIET 1
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pg_infer_demo;
CREATE DATABASE pg_infer_demo;
\c pg_infer_demo
SET client_min_messages = warning;
CREATE EXTENSION pg_infer;

CREATE TABLE cities (name text PRIMARY KEY, lat float8, lon float8, pos vector(3));

INSERT INTO cities (name, lat, lon) VALUES
	('Paris', 48.857, 2.352), ('London', 51.507, -0.128), ('Berlin', 52.520, 13.405),
	('Madrid', 40.417, -3.704), ('Rome', 41.903, 12.496), ('Vienna', 48.208, 16.372),
	('Amsterdam', 52.370, 4.895), ('Brussels', 50.850, 4.352), ('Zurich', 47.377, 8.542),
	('Lisbon', 38.722, -9.139), ('Stockholm', 59.329, 18.069), ('Warsaw', 52.230, 21.012),
	('Athens', 37.984, 23.728), ('Istanbul', 41.008, 28.978), ('Moscow', 55.756, 37.617),
	('Cairo', 30.044, 31.236), ('Lagos', 6.524, 3.379), ('Nairobi', -1.292, 36.822),
	('New York', 40.713, -74.006), ('Chicago', 41.878, -87.630), ('Mexico City', 19.433, -99.133),
	('São Paulo', -23.551, -46.633), ('Buenos Aires', -34.604, -58.382), ('Tokyo', 35.676, 139.650),
	('Beijing', 39.904, 116.407), ('Mumbai', 19.076, 72.878), ('Singapore', 1.352, 103.820),
	('Sydney', -33.869, 151.209), ('Auckland', -36.848, 174.763), ('Reykjavik', 64.147, -21.942);

-- unit vector on the sphere: (cos lat cos lon, cos lat sin lon, sin lat)
UPDATE cities SET pos = ARRAY[cosd(lat) * cosd(lon), cosd(lat) * sind(lon), sind(lat)]::vector;

\echo
\echo '== Five cities nearest to Paris (ORDER BY pos <=> paris)'
SELECT c.name, round((acos(1 - (c.pos <=> p.pos)) * 6371)::numeric) AS km
FROM cities c, cities p
WHERE p.name = 'Paris' AND c.name <> 'Paris'
ORDER BY c.pos <=> p.pos
LIMIT 5;

\echo '== Five cities nearest to Tokyo by Euclidean distance (<->): chord through the globe'
SELECT c.name, round((c.pos <-> p.pos)::numeric * 6371) AS chord_km
FROM cities c, cities p
WHERE p.name = 'Tokyo' AND c.name <> 'Tokyo'
ORDER BY c.pos <-> p.pos
LIMIT 5;

\echo '== Which city is closest to the centroid of all 30? (avg(vector), l2_normalize)'
WITH centre AS (SELECT l2_normalize(avg(pos)) AS v FROM cities)
SELECT name, round((acos(1 - (pos <=> v)) * 6371)::numeric) AS km_from_centroid
FROM cities, centre
ORDER BY pos <=> v
LIMIT 3;

\echo '== An hnsw index over 50,000 random 64-dimension vectors'
SELECT setseed(0.5) AS seeded \gset
CREATE TABLE items (id int PRIMARY KEY, v vector(64));
INSERT INTO items SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) WHERE i > 0)
FROM generate_series(1, 50000) i;
ANALYZE items;
SET maintenance_work_mem = '256MB';
\timing on
CREATE INDEX ON items USING hnsw (v vector_l2_ops);
\timing off
SELECT elements, max_level, unreachable, problems FROM hnsw_check('items_v_idx');
\echo 'ten nearest neighbours of item 1, from the index (note the plan)'
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 1) LIMIT 10;
\timing on
SELECT array_agg(id) AS from_index FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 1) LIMIT 10) s;
SET enable_indexscan = off;
SELECT array_agg(id) AS exact FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 1) LIMIT 10) s;
\timing off
RESET enable_indexscan;
\echo '(approximate search: the index trades a little recall for speed; raise hnsw.ef_search for more)'

\echo '== The vector type itself'
SELECT '[1,2,3]'::vector + '[4,5,6]' AS sum,
	   '[1,2,3]'::vector <-> '[3,2,1]' AS l2,
	   '[1,2,3]'::vector <#> '[3,2,1]' AS neg_inner,
	   '[1,2,3]'::vector <+> '[3,2,1]' AS l1,
	   binary_quantize('[1,-2,3]') AS bits,
	   pg_input_is_valid('[1,NaN]', 'vector') AS nan_is_valid;

\c postgres
DROP DATABASE pg_infer_demo;
