-- vector_math.sql: distances, arithmetic, functions, comparisons and
-- aggregates of the vector type, checked against references computed here
-- in SQL with float8 arithmetic over unnest() of the source real[] arrays,
-- never against values the extension computed.
--
-- Tolerance: distances are summed in float32 (as pgvector does) and the
-- kernels reorder the sum (several accumulators, SIMD), so they are
-- compared with |got - ref| <= 1e-5 * greatest(1, |ref|).  With seed 0.42
-- the largest error seen is 6% of that bound (inner product, 16000 dims:
-- 1.3e-6 against 2.1e-5), so the bound leaves room for other summation
-- orders (AVX2, AVX-512, portable C) yet catches a dropped or doubled term
-- at every length up to 1536.
-- Element-wise + - * must match float4 arithmetic exactly.
--
-- Run: pg_prove -d DB test/pgtap/vector_math.sql
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
BEGIN;
SELECT plan(254);

------------------------------------------------------------------------
-- seeded random vectors and float8 references
------------------------------------------------------------------------

SELECT setseed(0.42);

-- a and b are the exact float4 elements; va and vb the vectors made of them
CREATE TEMP TABLE pgi_rv AS
SELECT n, a, b, a::vector AS va, b::vector AS vb
FROM (SELECT n,
			 ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, n)) AS a,
			 ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, n)) AS b
	  FROM unnest(ARRAY[1, 3, 15, 16, 17, 31, 33, 64, 100, 768, 1536, 16000]) AS n) s;

CREATE TEMP TABLE pgi_ref AS
SELECT n,
	   (SELECT sum((x::float8 - y::float8) ^ 2) FROM unnest(a, b) u(x, y)) AS l2sq,
	   (SELECT sum(x::float8 * y::float8) FROM unnest(a, b) u(x, y)) AS ip,
	   (SELECT sum(abs(x::float8 - y::float8)) FROM unnest(a, b) u(x, y)) AS l1,
	   (SELECT sqrt(sum(x::float8 * x::float8)) FROM unnest(a) u(x)) AS norm_a,
	   (SELECT sqrt(sum(y::float8 * y::float8)) FROM unnest(b) u(y)) AS norm_b
FROM pgi_rv;

-- |got - ref| <= 1e-5 * greatest(1, |ref|)
CREATE FUNCTION pg_temp.pgi_close(got float8, ref float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(got - ref) <= 1e-5 * greatest(1, abs(ref)) $$;

SELECT is((SELECT array_agg(cardinality(a) ORDER BY n) FROM pgi_rv),
	ARRAY[1, 3, 15, 16, 17, 31, 33, 64, 100, 768, 1536, 16000],
	'setup: random arrays have the intended lengths');

------------------------------------------------------------------------
-- distances and norms vs float8 references (7 x 12 assertions)
------------------------------------------------------------------------

SELECT ok(pg_temp.pgi_close(va <-> vb, sqrt(r.l2sq)), format('<-> matches sqrt(sum((x-y)^2)), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(va <#> vb, -r.ip), format('<#> matches -sum(x*y), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(va <=> vb, 1 - r.ip / (r.norm_a * r.norm_b)),
	format('<=> matches 1 - x.y/(|x||y|), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(va <+> vb, r.l1), format('<+> matches sum(|x-y|), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(inner_product(va, vb), r.ip),
	format('inner_product matches sum(x*y), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(vector_norm(va), r.norm_a),
	format('vector_norm matches sqrt(sum(x^2)), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT ok(pg_temp.pgi_close(vector_l2_squared_distance(va, vb), r.l2sq),
	format('vector_l2_squared_distance matches sum((x-y)^2), n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

-- The named functions are the operators' procedures
SELECT ok(bool_and(l2_distance(va, vb) = (va <-> vb)
		AND cosine_distance(va, vb) = (va <=> vb)
		AND l1_distance(va, vb) = (va <+> vb)
		AND vector_negative_inner_product(va, vb) = (va <#> vb)
		AND vector_negative_inner_product(va, vb) = -inner_product(va, vb)),
	'named distance functions agree with their operators')
FROM pgi_rv;

-- Small cases by hand
SELECT is('[1,2,3]'::vector <-> '[3,2,1]', sqrt(8::float8), '<-> [1,2,3] [3,2,1] = sqrt(8)');
SELECT is(vector_l2_squared_distance('[1,2,3]', '[3,2,1]'), 8::float8, 'l2 squared [1,2,3] [3,2,1] = 8');
SELECT is('[1,2,3]'::vector <#> '[3,2,1]', -10::float8, '<#> [1,2,3] [3,2,1] = -10');
SELECT is(inner_product('[1,2,3]', '[3,2,1]'), 10::float8, 'inner_product [1,2,3] [3,2,1] = 10');
SELECT is('[1,2,3]'::vector <+> '[3,2,1]', 4::float8, '<+> [1,2,3] [3,2,1] = 4');
SELECT is(vector_norm('[3,4]'), 5::float8, 'vector_norm [3,4] = 5');
SELECT is('[1,0]'::vector <=> '[0,1]', 1::float8, '<=> of orthogonal vectors = 1');
SELECT is('[1,1]'::vector <=> '[2,2]', 0::float8, '<=> of parallel vectors = 0');
SELECT is(vector_spherical_distance('[1,0]', '[0,1]'), 0.5::float8, 'spherical distance of orthogonal unit vectors = 0.5');
SELECT is(vector_spherical_distance('[1,0]', '[-1,0]'), 1::float8, 'spherical distance of opposite unit vectors = 1');
SELECT is(vector_spherical_distance('[1,0]', '[2,0]'), 0::float8, 'spherical distance clamps a dot product > 1');
SELECT is(inner_product('[1,1,1,1,1,1,1,1,1]', '[1,2,3,4,5,6,7,8,9]'), 45::float8, 'inner_product over 9 dims = 45');
SELECT is(l1_distance('[1,2,3,4,5,6,7,8,9]', '[0,3,2,5,4,7,6,9,8]'), 9::float8, 'l1_distance over 9 dims = 9');
SELECT is(l2_distance('[1,1,1,1,1,1,1,1,1]', '[1,1,1,1,1,1,1,4,5]'), 5::float8, 'l2_distance over 9 dims = 5');

-- float32 overflow inside a distance gives Infinity (or NaN), not an error
SELECT is(l2_distance('[3e38]', '[-3e38]'), 'Infinity'::float8, 'l2_distance overflowing float4 is Infinity');
SELECT is(inner_product('[3e38]', '[3e38]'), 'Infinity'::float8, 'inner_product overflowing float4 is Infinity');
SELECT is('[3e38]'::vector <#> '[3e38]', '-Infinity'::float8, '<#> overflowing float4 is -Infinity');
SELECT is(l1_distance('[3e38]', '[-3e38]'), 'Infinity'::float8, 'l1_distance overflowing float4 is Infinity');
SELECT is(cosine_distance('[3e38]', '[3e38]'), 'NaN'::float8, 'cosine_distance with overflowing norms is NaN');
SELECT is(vector_norm('[3e37,4e37]')::real, 5e37::real, 'vector_norm sums squares in float8 (no overflow)');

------------------------------------------------------------------------
-- cosine edge cases
------------------------------------------------------------------------

SELECT is(cosine_distance('[0,0]', '[1,2]'), 'NaN'::float8, 'cosine distance with a zero vector is NaN');
SELECT is('[1,2]'::vector <=> '[0,0]', 'NaN'::float8, '<=> with a zero right operand is NaN');
SELECT is('[0,0]'::vector <=> '[0,0]', 'NaN'::float8, '<=> of two zero vectors is NaN');
-- similarity is clamped to [-1, 1], so these are exactly 0 and 2
SELECT is(cosine_distance('[1,1]', '[1.1,1.1]'), 0::float8, 'cosine [1,1] [1.1,1.1] is clamped to 0');
SELECT is(cosine_distance('[1,1]', '[-1.1,-1.1]'), 2::float8, 'cosine [1,1] [-1.1,-1.1] is clamped to 2');
SELECT is(cosine_distance('[1,2,3,4,5,6,7,8,9]', '[1,2,3,4,5,6,7,8,9]'), 0::float8, 'cosine of a 9-dim vector with itself is 0');
SELECT is(cosine_distance('[1,2,3,4,5,6,7,8,9]', '[-1,-2,-3,-4,-5,-6,-7,-8,-9]'), 2::float8, 'cosine of a 9-dim vector and its negation is 2');
SELECT is(cosine_distance(array_fill(0.1, ARRAY[1536])::vector, array_fill(0.111, ARRAY[1536])::vector),
	0::float8, 'cosine of parallel 1536-dim vectors is clamped to 0');
SELECT is(cosine_distance(array_fill(0.1, ARRAY[1536])::vector, array_fill(-0.111, ARRAY[1536])::vector),
	2::float8, 'cosine of opposite 1536-dim vectors is clamped to 2');
SELECT ok(bool_and(abs(va <=> va) <= 1e-6 AND (va <=> va) >= 0),
	'<=> of a vector with itself is 0 (within 1e-6, never negative)')
FROM pgi_rv;
SELECT ok(bool_and(abs((va <=> ARRAY(SELECT -x FROM unnest(a) WITH ORDINALITY u(x, i) ORDER BY i)::vector) - 2) <= 1e-6
		AND (va <=> ARRAY(SELECT -x FROM unnest(a) WITH ORDINALITY u(x, i) ORDER BY i)::vector) <= 2),
	'<=> of a vector and its negation is 2 (within 1e-6, never above)')
FROM pgi_rv;

------------------------------------------------------------------------
-- element-wise arithmetic: exact float4 results (3 x 12 assertions)
------------------------------------------------------------------------

SELECT ok((va + vb)::real[] = ARRAY(SELECT x + y FROM unnest(a, b) WITH ORDINALITY u(x, y, i) ORDER BY i),
	format('+ matches float4 x + y element by element, n=%s', n))
FROM pgi_rv ORDER BY n;

SELECT ok((va - vb)::real[] = ARRAY(SELECT x - y FROM unnest(a, b) WITH ORDINALITY u(x, y, i) ORDER BY i),
	format('- matches float4 x - y element by element, n=%s', n))
FROM pgi_rv ORDER BY n;

SELECT ok((va * vb)::real[] = ARRAY(SELECT x * y FROM unnest(a, b) WITH ORDINALITY u(x, y, i) ORDER BY i),
	format('* matches float4 x * y element by element, n=%s', n))
FROM pgi_rv ORDER BY n;

SELECT is(('[1,2,3]'::vector + '[4,5,6]')::text, '[5,7,9]', '+ by hand');
SELECT is(('[1,2,3]'::vector - '[4,5,6]')::text, '[-3,-3,-3]', '- by hand');
SELECT is(('[1,2,3]'::vector * '[4,5,6]')::text, '[4,10,18]', '* by hand');
SELECT is(('[0,1e-30]'::vector * '[1e-30,0]')::text, '[0,0]', '* of zero by tiny is not an underflow');

------------------------------------------------------------------------
-- l2_normalize
------------------------------------------------------------------------

SELECT ok(abs((SELECT sqrt(sum(x::float8 * x::float8)) FROM unnest(l2_normalize(va)::real[]) u(x)) - 1) <= 1e-6,
	format('l2_normalize has norm 1, n=%s', n))
FROM pgi_rv ORDER BY n;

SELECT ok((SELECT max(abs(y::float8 - x::float8 / r.norm_a))
		   FROM unnest(a, l2_normalize(va)::real[]) u(x, y)) <= 1e-7,
	format('l2_normalize is x/|x| element by element, n=%s', n))
FROM pgi_rv JOIN pgi_ref r USING (n) ORDER BY n;

SELECT is(l2_normalize('[3,4]')::text, '[0.6,0.8]', 'l2_normalize [3,4] = [0.6,0.8]');
SELECT is(l2_normalize('[0,0,0]')::text, '[0,0,0]', 'l2_normalize of the zero vector is the zero vector');
SELECT is(l2_normalize('[1e-45]')::text, '[1]', 'l2_normalize of a denormal is 1');
SELECT is(l2_normalize('[3e38]')::text, '[1]', 'l2_normalize of 3e38 is 1 (norm in float8)');
SELECT is(l2_normalize('[0,0.1]')::text, '[0,1]', 'l2_normalize [0,0.1] = [0,1]');

------------------------------------------------------------------------
-- vector_dims, subvector, ||, binary_quantize
------------------------------------------------------------------------

SELECT ok(bool_and(vector_dims(va) = n), 'vector_dims equals the array length for every n') FROM pgi_rv;
SELECT is(vector_dims('[1,2,3]'), 3, 'vector_dims [1,2,3] = 3');

SELECT is(subvector('[1,2,3,4,5]', 2, 3)::text, '[2,3,4]', 'subvector(v, 2, 3)');
SELECT is(subvector('[1,2,3,4,5]', 1, 5)::text, '[1,2,3,4,5]', 'subvector: the whole vector');
SELECT is(subvector('[1,2,3,4,5]', 0, 3)::text, '[1,2]', 'subvector: start 0 is clipped like substring');
SELECT is(subvector('[1,2,3,4,5]', -1, 3)::text, '[1]', 'subvector: negative start is clipped like substring');
SELECT is(subvector('[1,2,3,4,5]', 4, 10)::text, '[4,5]', 'subvector: count past the end is clipped');
SELECT is(subvector('[1,2,3,4,5]', 5, 1)::text, '[5]', 'subvector: last element');
SELECT is(subvector('[1,2,3,4,5]', 3, 2147483647)::text, '[3,4,5]', 'subvector: INT_MAX count');
SELECT is(subvector('[1,2,3,4,5]', -2147483644, 2147483647)::text, '[1,2]',
	'subvector: very negative start with INT_MAX count ends at element 2');

-- subvector agrees with substring over a grid of starts and counts: the
-- non-empty cases give the same elements, the empty ones all raise 22000
CREATE FUNCTION pg_temp.pgi_subvector_grid() RETURNS TABLE (same int, differ int, errors int, empty int)
LANGUAGE plpgsql AS $$
DECLARE
	v vector := '[1,2,3,4,5]';
	s text := '12345';
	r vector;
BEGIN
	same := 0; differ := 0; errors := 0; empty := 0;
	FOR st IN -7 .. 8 LOOP
		FOR cnt IN 1 .. 8 LOOP
			IF substring(s FROM st FOR cnt) = '' THEN
				empty := empty + 1;
				BEGIN
					r := subvector(v, st, cnt);
				EXCEPTION WHEN data_exception THEN
					errors := errors + 1;
				END;
			ELSE
				r := subvector(v, st, cnt);
				IF array_to_string(r::real[], '') = substring(s FROM st FOR cnt) THEN
					same := same + 1;
				ELSE
					differ := differ + 1;
				END IF;
			END IF;
		END LOOP;
	END LOOP;
	RETURN NEXT;
END
$$;
-- 68 non-empty (st 1..5: 40; st 0..-6: 7+6+...+1 = 28) and 60 empty cases
SELECT is((SELECT row(same, differ, errors, empty)::text FROM pg_temp.pgi_subvector_grid()),
	row(68, 0, 60, 60)::text, 'subvector matches substring on a 16 x 8 grid; empty ranges raise 22000');

SELECT is(('[1,2]'::vector || '[3]')::text, '[1,2,3]', '|| [1,2] [3]');
SELECT ok(bool_and((va || vb)::real[] = a || b), '|| matches array concatenation for every n <= 1536')
FROM pgi_rv WHERE n <= 8000;
SELECT is(vector_dims(array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8000])::vector), 16000,
	'|| of 8000 + 8000 dimensions reaches the 16000 limit');

SELECT is(binary_quantize('[1,0,-1,2]'), B'1001', 'binary_quantize [1,0,-1,2] = 1001');
SELECT is(pg_typeof(binary_quantize('[1,0,-1,2]'))::text, 'bit', 'binary_quantize returns bit');
SELECT is(binary_quantize('[-0,1e-45,-1e-45]')::text, '010', 'binary_quantize: only > 0 gives 1');
SELECT is(binary_quantize('[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]'), B'01001110101',
	'binary_quantize of 11 dims');
SELECT is(binary_quantize('[1,2,3,-4,5,6,-7,8,1,-2,-3,4,5,-6,7,8,-1,2,3]'), B'1110110110011011011',
	'binary_quantize of 19 dims (three bytes)');
SELECT ok(bool_and(binary_quantize(va)::text =
		(SELECT string_agg(CASE WHEN x > 0 THEN '1' ELSE '0' END, '' ORDER BY i)
		 FROM unnest(a) WITH ORDINALITY u(x, i))),
	'binary_quantize matches (x > 0) bit by bit for every n (byte boundaries 15..33, 16000)')
FROM pgi_rv;

------------------------------------------------------------------------
-- comparisons: element by element, then by length, like real[]
------------------------------------------------------------------------

SELECT ok('[1,2,3]'::vector = '[1,2,3]', '= of equal vectors');
SELECT ok(NOT ('[1,2,3]'::vector = '[1,2,4]'), '= of different vectors is false');
SELECT ok(NOT ('[1,2]'::vector = '[1,2,0]'), '= of a prefix is false');
SELECT ok('[1,2,3]'::vector <> '[1,2,4]', '<> of different vectors');
SELECT ok(NOT ('[1,2]'::vector <> '[1,2]'), '<> of equal vectors is false');
SELECT ok('[1,2]'::vector < '[1,2,3]', 'a shorter prefix sorts first: [1,2] < [1,2,3]');
SELECT ok('[1,3]'::vector > '[1,2,3]', 'elements before length: [1,3] > [1,2,3]');
SELECT ok('[-1]'::vector < '[0.5]' AND '[0.5]'::vector > '[-1]', '< and > on negative values');
SELECT ok('[1,2,3]'::vector <= '[1,2,3]' AND '[1,2,3]'::vector >= '[1,2,3]'
		AND NOT ('[1,2,3]'::vector < '[1,2,3]') AND NOT ('[1,2,3]'::vector > '[1,2,3]'),
	'<= and >= hold for equal vectors, < and > do not');
SELECT ok('[0]'::vector = '[-0]', '[0] = [-0]');
SELECT is(ARRAY[vector_cmp('[1]', '[2]'), vector_cmp('[2]', '[2]'), vector_cmp('[3]', '[2]'),
		vector_cmp('[1,2]', '[1]'), vector_cmp('[1]', '[1,2]')],
	ARRAY[-1, 0, 1, 1, -1], 'vector_cmp returns -1, 0, 1');

-- Every pair of the 120 vectors of length 1..4 over {-1,0,1}... (3+9+27+81)
CREATE TEMP TABLE pgi_small AS
WITH RECURSIVE g(arr) AS (
	SELECT ARRAY[x]::real[] FROM unnest(ARRAY[-1, 0, 1]) x
	UNION ALL
	SELECT g.arr || x::real FROM g, unnest(ARRAY[-1, 0, 1]) x WHERE cardinality(g.arr) < 4
)
SELECT arr, arr::vector AS v FROM g;

SELECT is((SELECT count(*) FROM pgi_small), 120::bigint, 'setup: 120 small vectors');
SELECT ok(bool_and((p.v < q.v) = (p.arr < q.arr)), '< agrees with real[] < on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and((p.v <= q.v) = (p.arr <= q.arr)), '<= agrees with real[] <= on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and((p.v = q.v) = (p.arr = q.arr)), '= agrees with real[] = on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and((p.v <> q.v) = (p.arr <> q.arr)), '<> agrees with real[] <> on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and((p.v >= q.v) = (p.arr >= q.arr)), '>= agrees with real[] >= on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and((p.v > q.v) = (p.arr > q.arr)), '> agrees with real[] > on all pairs')
FROM pgi_small p, pgi_small q;
SELECT ok(bool_and(vector_cmp(p.v, q.v) = btarraycmp(p.arr, q.arr)),
	'vector_cmp agrees with btarraycmp on all pairs')
FROM pgi_small p, pgi_small q;
SELECT is((SELECT array_agg(arr::text ORDER BY v) FROM pgi_small),
	(SELECT array_agg(arr::text ORDER BY arr) FROM pgi_small),
	'ORDER BY vector sorts like ORDER BY real[]');

------------------------------------------------------------------------
-- btree index
------------------------------------------------------------------------

-- 3000 rows of 1..3 dimensions over {-1,-0.5,0,0.5,1}: many duplicates and prefixes
CREATE TABLE pgi_bt AS
SELECT id, arr, arr::vector AS v
FROM (SELECT id, ARRAY(SELECT (floor(random() * 5) / 2 - 1)::real
					   FROM generate_series(1, 1 + id % 3)) AS arr
	  FROM generate_series(1, 3000) id) s;
CREATE INDEX pgi_bt_v_idx ON pgi_bt USING btree (v);
ANALYZE pgi_bt;

\ir lib/plan.sql

SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT matches(pg_temp.plan($$SELECT v FROM pgi_bt WHERE v < '[0,0.5]' ORDER BY v$$),
	'Index (Only )?Scan using pgi_bt_v_idx', 'btree: a range query uses the index');
SELECT is((SELECT count(*) FROM pgi_bt WHERE v < '[0,0.5]'),
	(SELECT count(*) FROM pgi_bt WHERE arr < '{0,0.5}'), 'btree: v < [0,0.5] finds the right rows');
SELECT is((SELECT count(*) FROM pgi_bt WHERE v = '[0,0.5]'),
	(SELECT count(*) FROM pgi_bt WHERE arr = '{0,0.5}'), 'btree: v = [0,0.5] finds the right rows');
SELECT is((SELECT count(*) FROM pgi_bt WHERE v >= '[-0.5]' AND v <= '[0.5,0]'),
	(SELECT count(*) FROM pgi_bt WHERE arr >= '{-0.5}' AND arr <= '{0.5,0}'),
	'btree: a closed range finds the right rows');
SELECT is((SELECT array_agg(v::real[]::text) FROM (SELECT v FROM pgi_bt ORDER BY v) s),
	(SELECT array_agg(arr::text) FROM (SELECT arr FROM pgi_bt ORDER BY arr) s),
	'btree: index order is real[] order');
SELECT is((SELECT array_agg(v::real[]::text) FROM (SELECT v FROM pgi_bt ORDER BY v DESC LIMIT 50) s),
	(SELECT array_agg(arr::text) FROM (SELECT arr FROM pgi_bt ORDER BY arr DESC LIMIT 50) s),
	'btree: backward index scan');
SELECT is((SELECT count(*) FROM (SELECT v FROM pgi_bt GROUP BY v) s),
	(SELECT count(DISTINCT arr) FROM pgi_bt), 'GROUP BY vector gives one group per distinct value');
RESET enable_seqscan;
RESET enable_bitmapscan;

------------------------------------------------------------------------
-- avg and sum
------------------------------------------------------------------------

SELECT is((SELECT avg(v)::text FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]')) t(v)),
	'[2,3,4]', 'avg of [1,2,3] and [3,4,5]');
SELECT is((SELECT avg(v)::text FROM (VALUES ('[1]'::vector), ('[2]'), ('[2]')) t(v)),
	'[' || (5::float8 / 3)::real::text || ']', 'avg rounds the float8 mean to float4');
SELECT is((SELECT avg(v) FROM (VALUES ('[1]'::vector)) t(v) WHERE false), NULL, 'avg of no rows is NULL');
SELECT is((SELECT avg(v)::text FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)), '[3e+38]',
	'avg sums in float8: two 3e38 do not overflow');
SELECT is((SELECT avg(v)::text FROM (VALUES ('[1,2]'::vector), (NULL), ('[3,4]')) t(v)),
	'[2,3]', 'avg ignores NULLs');
SELECT is((SELECT avg(v) FROM (VALUES (NULL::vector), (NULL)) t(v)), NULL, 'avg of only NULLs is NULL');
SELECT is((SELECT sum(v)::text FROM (VALUES ('[1,2]'::vector), (NULL), ('[3,4]')) t(v)),
	'[4,6]', 'sum ignores NULLs');
SELECT is((SELECT sum(v) FROM (VALUES ('[1]'::vector)) t(v) WHERE false), NULL, 'sum of no rows is NULL');
SELECT is(vector_accum('{0}', '[1,2]'), '{1,1,2}'::float8[], 'vector_accum starts a state');
SELECT is(vector_combine('{0}', '{2,3,4}'), '{2,3,4}'::float8[], 'vector_combine with an empty left state');
SELECT is(vector_combine('{2,3,4}', '{1,1,1}'), '{3,4,5}'::float8[], 'vector_combine adds counts and sums');

-- parallel aggregation over 20000 rows of 16 dimensions
CREATE TABLE pgi_par AS
SELECT id, arr, arr::vector AS v
FROM (SELECT id, ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, 16 + id * 0)) AS arr
	  FROM generate_series(1, 20000) id) s;
ANALYZE pgi_par;

SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;

SELECT matches(pg_temp.plan('SELECT avg(v), sum(v) FROM pgi_par'),
	'Finalize Aggregate.*Gather.*Partial Aggregate', 'avg and sum run as parallel aggregates');
-- CREATE TABLE AS may use a parallel plan (a query calling pgTAP functions may not)
CREATE TEMP TABLE pgi_par_res AS SELECT avg(v) AS avg_v, sum(v) AS sum_v, count(*) AS cnt FROM pgi_par;
-- no row qualifies (the planner cannot tell): every partial state is the
-- initial {0}, and the combine function merges {0} with {0}
SELECT matches(pg_temp.plan('SELECT avg(v), sum(v) FROM pgi_par WHERE id + 0 > 20000'),
	'Finalize Aggregate.*Gather.*Partial Aggregate', 'avg and sum over no rows run as parallel aggregates');
CREATE TEMP TABLE pgi_par_empty AS SELECT avg(v) AS avg_v, sum(v) AS sum_v FROM pgi_par WHERE id + 0 > 20000;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

CREATE TEMP TABLE pgi_par_ref AS
SELECT i, avg(x::float8) AS mean, sum(x::float8) AS total, sum(abs(x::float8)) AS abs_total
FROM pgi_par, unnest(arr) WITH ORDINALITY u(x, i) GROUP BY i;

SELECT is((SELECT cnt FROM pgi_par_res), 20000::bigint, 'setup: 20000 rows aggregated');
SELECT ok((SELECT avg_v IS NULL AND sum_v IS NULL FROM pgi_par_empty),
	'parallel avg and sum over no rows are NULL');
-- The mean is summed in float8 and rounded once to float4: within one ulp
SELECT ok((SELECT bool_and(abs(g.x::float8 - r.mean) <= abs(r.mean) * 2 ^ -23 + 1e-12) AND count(*) = 16
		   FROM pgi_par_res, unnest(avg_v::real[]) WITH ORDINALITY g(x, i) JOIN pgi_par_ref r USING (i)),
	'parallel avg matches the float8 mean within one float4 ulp, all 16 dimensions');
-- The sum adds float4 values one at a time: allow 1e-5 * sum(|x|)
SELECT ok((SELECT bool_and(abs(g.x::float8 - r.total) <= 1e-5 * r.abs_total) AND count(*) = 16
		   FROM pgi_par_res, unnest(sum_v::real[]) WITH ORDINALITY g(x, i) JOIN pgi_par_ref r USING (i)),
	'parallel sum matches the float8 sum within float4 accumulation error');

------------------------------------------------------------------------
-- NULL arguments (all functions are STRICT)
------------------------------------------------------------------------

SELECT ok(ROW(l2_distance(NULL, '[1]'), NULL::vector <-> '[1]', '[1]'::vector <=> NULL,
		NULL::vector <#> '[1]', '[1]'::vector <+> NULL, inner_product('[1]', NULL),
		cosine_distance(NULL, NULL), l1_distance(NULL, '[1]'),
		vector_l2_squared_distance('[1]', NULL), vector_negative_inner_product(NULL, '[1]')) IS NULL,
	'distances with a NULL argument are NULL');
SELECT ok(ROW('[1]'::vector + NULL, NULL::vector - '[1]', '[1]'::vector * NULL,
		'[1]'::vector || NULL, NULL::vector || '[1]') IS NULL,
	'arithmetic and || with a NULL operand are NULL');
SELECT ok(ROW(vector_dims(NULL), vector_norm(NULL), l2_normalize(NULL), binary_quantize(NULL),
		subvector(NULL, 1, 1), subvector('[1,2]', NULL, 1), subvector('[1,2]', 1, NULL)) IS NULL,
	'functions of a NULL vector or NULL argument are NULL');
SELECT ok(ROW(NULL::vector = '[1]', '[1]'::vector < NULL, vector_cmp(NULL, '[1]')) IS NULL,
	'comparisons with NULL are NULL');

SELECT * FROM finish();
ROLLBACK;
