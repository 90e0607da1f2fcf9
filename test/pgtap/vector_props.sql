-- vector_props.sql: text and binary I/O, casts, round trips and catalog
-- properties of the vector type (what pgvector 0.8 declares and prints).
--
-- Text output is compared with PostgreSQL's own float4out (shortest
-- round-trip digits at extra_float_digits >= 1), an independent reference.
--
-- Run: pg_prove -d DB test/pgtap/vector_props.sql
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
BEGIN;
SELECT plan(82);
SET LOCAL extra_float_digits = 1;

------------------------------------------------------------------------
-- text input and output
------------------------------------------------------------------------

SELECT is('[1.5,2,3]'::vector::text, '[1.5,2,3]', 'text: [1.5,2,3] prints as written');
SELECT is(' [ 1 , 2 ] '::vector::text, '[1,2]', 'text: spaces around everything are accepted');
SELECT is((E'\t[\n1,\r2' || chr(11) || E']\f')::vector::text, '[1,2]',
	'text: tab, newline, CR, VT and FF are whitespace');
SELECT is('[0.1]'::vector::text, '[0.1]', 'text: 0.1 prints in shortest form');
SELECT is('[0.3333333333]'::vector::text, '[0.33333334]', 'text: rounded to float4, then shortest digits');
SELECT is('[1e-45]'::vector::text, '[1e-45]', 'text: the smallest denormal');
SELECT is('[1e-46]'::vector::text, '[0]', 'text: underflow to zero is accepted, as in pgvector');
SELECT is('[3.4028235e+38]'::vector::text, '[3.4028235e+38]', 'text: FLT_MAX prints as 3.4028235e+38');
SELECT is('[3.4028235e38,-3.4028235e38]'::vector::text, '[3.4028235e+38,-3.4028235e+38]',
	'text: +-FLT_MAX');
SELECT is('[-0]'::vector::text, '[-0]', 'text: negative zero keeps its sign');
SELECT is('[-1e-46,1]'::vector::text, '[-0,1]', 'text: negative underflow gives -0');
SELECT is('[1.5e38,-1.5e38,1.5e-38,-1.5e-38]'::vector::text, '[1.5e+38,-1.5e+38,1.5e-38,-1.5e-38]',
	'text: large and small exponents');
SELECT is('[1.23456]'::vector::text, '[1.23456]', 'text: 1.23456 round trips');
SELECT is(('[' || array_to_string(array_fill('-1.1754944e-38'::text, ARRAY[16000]), ',') || ']')::vector::text,
	'[' || array_to_string(array_fill('-1.1754944e-38'::text, ARRAY[16000]), ',') || ']',
	'text: 16000 long elements print in full');
SELECT is('[0x1p-2,.5,+1,1.,1e3,-2.5E-1]'::vector::text, '[0.25,0.5,1,1,1000,-0.25]',
	'text: strtof number forms (hex, leading dot, plus, trailing dot, exponents)');
SELECT is('[1e6,123456,0.0001,0.00001,1.17549435e-38,16777217]'::vector::text,
	'[' || array_to_string(ARRAY[1e6, 123456, 0.0001, 0.00001, 1.17549435e-38, 16777217]::real[], ',') || ']',
	'text: exponent switch points print like float4out');
SELECT is('[1,2,3]'::vector(3)::text, '[1,2,3]', 'text: vector(3) literal');

-- 1000 random vectors of 1..50 dimensions over magnitudes 1e-10 .. 1e10
SELECT setseed(0.42);
CREATE TEMP TABLE pgi_rt AS
SELECT i, ARRAY(SELECT ((random() - 0.5) * 10 ^ (floor(random() * 21) - 10))::real
				FROM generate_series(1, 1 + i % 50)) AS arr
FROM generate_series(1, 1000) i;

SELECT ok(bool_and(arr::vector::text = '[' || array_to_string(arr, ',') || ']'),
	'text: output of 1000 random vectors matches float4out element by element')
FROM pgi_rt;
SELECT ok(bool_and(arr::vector::text::vector::real[] = arr),
	'text: text -> vector -> text -> vector is exact for 1000 random vectors')
FROM pgi_rt;
SELECT ok(bool_and(arr::vector::text::vector = arr::vector),
	'text: the round-tripped vectors are = to the originals')
FROM pgi_rt;
SELECT ok(bool_and(vector_send(arr::vector::text::vector) = vector_send(arr::vector)),
	'text: the round trip is bit-exact (vector_send)')
FROM pgi_rt;

------------------------------------------------------------------------
-- binary form
------------------------------------------------------------------------

SELECT is(vector_send('[1,2]'), '\x000200003f80000040000000'::bytea,
	'binary: [1,2] is dim 2, unused 0, 1.0f, 2.0f big-endian');
SELECT is(vector_send('[-0,1e-45,-2.5]'), '\x000300008000000000000001c0200000'::bytea,
	'binary: -0, the smallest denormal and -2.5');
SELECT is(length(vector_send(array_fill(1, ARRAY[16000])::vector)), 4 + 4 * 16000,
	'binary: 16000 dimensions take 64004 bytes');

-- binary COPY file of one row holding [1,2]
COPY (SELECT '[1,2]'::vector) TO '/tmp/pgi_tap_props_one.bin' (FORMAT binary);
SELECT is(pg_read_binary_file('/tmp/pgi_tap_props_one.bin'),
	'\x5047434f50590aff0d0a00'::bytea || '\x00000000'::bytea || '\x00000000'::bytea
		|| '\x0001'::bytea || '\x0000000c'::bytea || '\x000200003f80000040000000'::bytea
		|| '\xffff'::bytea,
	'binary COPY TO: the file holds the pgvector binary form');

-- binary COPY round trip of the random vectors plus special values
CREATE TABLE pgi_props_bin (id int, v vector);
INSERT INTO pgi_props_bin SELECT i, arr::vector FROM pgi_rt;
INSERT INTO pgi_props_bin VALUES
	(1001, '[-0,0,1e-45,-1e-45,3.4028235e38,-3.4028235e38,1.17549435e-38,0.1]'),
	(1002, array_fill(0.5, ARRAY[16000])::vector);
COPY pgi_props_bin TO '/tmp/pgi_tap_props_rt.bin' (FORMAT binary);
CREATE TABLE pgi_props_bin2 (id int, v vector);
COPY pgi_props_bin2 FROM '/tmp/pgi_tap_props_rt.bin' (FORMAT binary);
CREATE TABLE pgi_props_bin3 (id int, v vector(8));
SELECT is((SELECT count(*) FROM pgi_props_bin2), 1002::bigint, 'binary COPY: all 1002 rows read back');
SELECT is((SELECT count(*) FROM pgi_props_bin a JOIN pgi_props_bin2 b USING (id)
		   WHERE vector_send(a.v) = vector_send(b.v) AND a.v = b.v AND a.v::text = b.v::text),
	1002::bigint, 'binary COPY: every row is bit-identical after the round trip');
SELECT is((SELECT v::text FROM pgi_props_bin2 WHERE id = 1001),
	'[-0,0,1e-45,-1e-45,3.4028235e+38,-3.4028235e+38,1.1754944e-38,0.1]',
	'binary COPY: special values survive');
COPY (SELECT id, v FROM pgi_props_bin WHERE id = 1001) TO '/tmp/pgi_tap_props_8.bin' (FORMAT binary);
COPY pgi_props_bin3 FROM '/tmp/pgi_tap_props_8.bin' (FORMAT binary);
SELECT is((SELECT v::text FROM pgi_props_bin3),
	'[-0,0,1e-45,-1e-45,3.4028235e+38,-3.4028235e+38,1.1754944e-38,0.1]',
	'binary COPY: into a vector(8) column with a matching typmod');

------------------------------------------------------------------------
-- casts
------------------------------------------------------------------------

SELECT is('[1,2,3]'::vector::real[], '{1,2,3}'::real[], 'cast: vector to real[]');
SELECT ok((SELECT bool_and(arr::vector::real[] = arr) FROM pgi_rt),
	'cast: real[] -> vector -> real[] is exact for 1000 random vectors');
SELECT is(ARRAY[1,2,3]::vector::text, '[1,2,3]', 'cast: int[] to vector');
SELECT is('{-2147483648,16777217}'::int[]::vector::real[], '{-2147483648,16777216}'::real[],
	'cast: int[] elements round to float4');
SELECT is(ARRAY[1.5, 2.25]::float8[]::vector::text, '[1.5,2.25]', 'cast: float8[] to vector');
SELECT is(ARRAY[0.1]::float8[]::vector::text, '[0.1]', 'cast: float8 0.1 rounds to float4 0.1');
SELECT is(ARRAY[1e-50]::float8[]::vector::text, '[0]', 'cast: float8 underflow becomes 0');
SELECT is(ARRAY[3.4028235e38]::float8[]::vector::text, '[3.4028235e+38]', 'cast: float8 FLT_MAX');
SELECT is(ARRAY[1.5, 2.5, -3]::numeric[]::vector::text, '[1.5,2.5,-3]', 'cast: numeric[] to vector');
SELECT is(ARRAY[0.1, 1e-40]::numeric[]::vector::real[], ARRAY[0.1, 1e-40]::real[],
	'cast: numeric[] elements convert like numeric::real');
SELECT is('[0:2]={7,8,9}'::int[]::vector::text, '[7,8,9]', 'cast: array lower bound is ignored');
SELECT is(ARRAY[1,2]::vector(2)::text, '[1,2]', 'cast: int[] to vector(2)');
SELECT is(array_fill(2, ARRAY[16000])::vector::real[], array_fill(2::real, ARRAY[16000]),
	'cast: a 16000-element int[] converts');

-- vector -> real[] is implicit: a real[] parameter accepts a vector
CREATE FUNCTION pg_temp.pgi_card(real[]) RETURNS int LANGUAGE sql AS $$ SELECT cardinality($1) $$;
SELECT is(pg_temp.pgi_card('[1,2,3]'::vector), 3, 'cast: vector to real[] is implicit');
-- array -> vector is an assignment cast
CREATE TABLE pgi_props_assign (v vector(3));
-- (separate statements: a VALUES list would unify the array types first)
INSERT INTO pgi_props_assign VALUES (ARRAY[1,2,3]);
INSERT INTO pgi_props_assign VALUES (ARRAY[1.5,2,3]::float8[]);
INSERT INTO pgi_props_assign VALUES (ARRAY[1,2,3.5]::real[]);
INSERT INTO pgi_props_assign VALUES (ARRAY[0.5,1,2]::numeric[]);
SELECT results_eq($$SELECT v::text AS t FROM pgi_props_assign ORDER BY v$$,
	ARRAY['[0.5,1,2]', '[1,2,3]', '[1,2,3.5]', '[1.5,2,3]'],
	'cast: int[], float8[], real[] and numeric[] assign to a vector(3) column');

SELECT set_eq($$SELECT format('%s -> %s %s', castsource::regtype, casttarget::regtype, castcontext)
				FROM pg_cast
				WHERE castsource = 'vector'::regtype OR casttarget = 'vector'::regtype$$,
	ARRAY['vector -> vector i', 'vector -> real[] i', 'integer[] -> vector a',
		  'real[] -> vector a', 'double precision[] -> vector a', 'numeric[] -> vector a'],
	'cast: the six pgvector casts with their contexts');

------------------------------------------------------------------------
-- catalog: type, functions, operators
------------------------------------------------------------------------

SELECT is((SELECT row(typlen, typalign, typstorage)::text FROM pg_type WHERE oid = 'vector'::regtype),
	row(-1::int2, 'i'::"char", 'e'::"char")::text, 'type: varlena, int-aligned, storage external');
SELECT is(format_type('vector'::regtype, 3), 'vector(3)', 'type: typmod prints as vector(3)');
SELECT is((SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		   WHERE attrelid = 'pgi_props_bin3'::regclass AND attname = 'v'),
	'vector(8)', 'type: a vector(8) column keeps its typmod');

-- every C function of the extension is IMMUTABLE, PARALLEL SAFE and STRICT
-- (pg_input_is_valid/pg_input_error_info are PostgreSQL 16 back-ports
-- that run a subtransaction: STABLE, PARALLEL RESTRICTED; the index access
-- method's handler, hnsw_check, which reads an index, load_model and
-- drop_model, which change the registry, the administrative functions
-- of schema pg_infer, generate / generate_tokens, which sample and so
-- are VOLATILE (checked in generate.sql), and train_classifier, which
-- stores a head (classify.sql), are not functions of values)
CREATE TEMP VIEW pgi_ext_funcs AS
SELECT p.*
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_infer';

SELECT is_empty($$SELECT oid::regprocedure::text FROM pgi_ext_funcs
				  WHERE prokind = 'f' AND proname NOT IN ('pg_input_is_valid', 'pg_input_error_info',
															   'hnswhandler', 'hnsw_check',
															   'load_model', 'drop_model', 'unload_model',
															   'generate', 'generate_tokens', 'train_classifier')
					AND oid::regprocedure::text <> 'embed(text)'	-- reads a setting: STABLE (embed.sql)
					AND pronamespace::regnamespace::text <> 'pg_infer'
					AND (provolatile <> 'i' OR proparallel <> 's' OR NOT proisstrict)$$,
	'functions: all IMMUTABLE, PARALLEL SAFE and STRICT');
SELECT ok((SELECT count(*) FROM pgi_ext_funcs
		   WHERE prokind = 'f' AND ('vector'::regtype = ANY (proargtypes) OR prorettype = 'vector'::regtype)) >= 30,
	'functions: the check above covers the 30+ functions on vector');
SELECT set_eq($$SELECT oid::regprocedure::text FROM pgi_ext_funcs WHERE prokind = 'a'$$,
	ARRAY['avg(vector)', 'sum(vector)'], 'aggregates: avg(vector) and sum(vector)');
SELECT is_empty($$SELECT oid::regprocedure::text FROM pgi_ext_funcs WHERE prokind = 'a' AND proparallel <> 's'$$,
	'aggregates: PARALLEL SAFE');
SELECT set_eq($$SELECT format('%s %s %s', aggtransfn, aggcombinefn, aggfinalfn)
				FROM pg_aggregate WHERE aggfnoid IN ('avg(vector)'::regprocedure, 'sum(vector)'::regprocedure)$$,
	ARRAY['vector_accum vector_combine vector_avg', 'vector_add vector_add -'],
	'aggregates: transition, combine and final functions');

SELECT set_eq($$SELECT format('%s %s', oprname, oprcode) FROM pg_operator
				WHERE oprleft = 'vector'::regtype AND oprright = 'vector'::regtype$$,
	ARRAY['<-> l2_distance', '<#> vector_negative_inner_product', '<=> cosine_distance',
		  '<+> l1_distance', '+ vector_add', '- vector_sub', '* vector_mul', '|| vector_concat',
		  '< vector_lt', '<= vector_le', '= vector_eq', '<> vector_ne', '>= vector_ge', '> vector_gt'],
	'operators: the pgvector operator set on (vector, vector)');
SELECT set_eq($$SELECT format('%s %s', oprname, oprresult::regtype) FROM pg_operator
				WHERE oprleft = 'vector'::regtype AND oprright = 'vector'::regtype$$,
	ARRAY['<-> double precision', '<#> double precision', '<=> double precision',
		  '<+> double precision', '+ vector', '- vector', '* vector', '|| vector',
		  '< boolean', '<= boolean', '= boolean', '<> boolean', '>= boolean', '> boolean'],
	'operators: result types');
SELECT is((SELECT count(*) FROM pg_operator
		   WHERE oprleft = 'vector'::regtype AND oprname IN ('<->', '<#>', '<=>', '<+>', '+', '*', '=', '<>')
			 AND oprcom = oid),
	8::bigint, 'operators: the symmetric ones are their own commutators');
SELECT is((SELECT array_agg(format('%s %s', o.oprname, c.oprname) ORDER BY o.oprname)
		   FROM pg_operator o JOIN pg_operator c ON c.oid = o.oprcom
		   WHERE o.oprleft = 'vector'::regtype AND o.oprname IN ('<', '<=', '>=', '>')),
	ARRAY['< >', '<= >=', '> <', '>= <='], 'operators: < > and <= >= commute');
SELECT is((SELECT array_agg(format('%s %s', o.oprname, n.oprname) ORDER BY o.oprname)
		   FROM pg_operator o JOIN pg_operator n ON n.oid = o.oprnegate
		   WHERE o.oprleft = 'vector'::regtype),
	ARRAY['< >=', '<= >', '<> =', '= <>', '> <=', '>= <'], 'operators: negators');
SELECT set_eq($$SELECT format('%s %s', amopstrategy, amopopr::regoperator)
				FROM pg_amop JOIN pg_opfamily f ON f.oid = amopfamily
				WHERE f.opfname = 'vector_ops' AND amopmethod = (SELECT oid FROM pg_am WHERE amname = 'btree')$$,
	ARRAY['1 <(vector,vector)', '2 <=(vector,vector)', '3 =(vector,vector)',
		  '4 >=(vector,vector)', '5 >(vector,vector)'],
	'btree vector_ops: strategies 1..5');
SELECT is((SELECT opcdefault FROM pg_opclass
		   WHERE opcname = 'vector_ops' AND opcmethod = (SELECT oid FROM pg_am WHERE amname = 'btree')),
	true, 'btree vector_ops is the default operator class');

-- Every function pgvector 0.8 defines on vector exists with its signature
SELECT ok(to_regprocedure(f) IS NOT NULL, 'function exists: ' || f)
FROM unnest(ARRAY[
	'l2_distance(vector,vector)', 'inner_product(vector,vector)', 'cosine_distance(vector,vector)',
	'l1_distance(vector,vector)', 'vector_dims(vector)', 'vector_norm(vector)', 'l2_normalize(vector)',
	'binary_quantize(vector)', 'subvector(vector,integer,integer)', 'vector_add(vector,vector)',
	'vector_sub(vector,vector)', 'vector_mul(vector,vector)', 'vector_concat(vector,vector)',
	'vector_cmp(vector,vector)', 'vector_l2_squared_distance(vector,vector)',
	'vector_negative_inner_product(vector,vector)', 'vector_spherical_distance(vector,vector)',
	'vector_accum(double precision[],vector)', 'vector_avg(double precision[])',
	'vector_combine(double precision[],double precision[])']) f;

SELECT is(pg_typeof(vector_dims('[1]'))::text, 'integer', 'return type: vector_dims is integer');
SELECT is(pg_typeof(subvector('[1]', 1, 1))::text, 'vector', 'return type: subvector is vector');

SELECT * FROM finish();
ROLLBACK;
