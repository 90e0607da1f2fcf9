-- vector_errors.sql: every error path of the vector type, with the SQLSTATE
-- and the exact message pgvector 0.8 raises (src/vector.c of pgvector).
--
-- Run: pg_prove -d DB test/pgtap/vector_errors.sql
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
BEGIN;
SELECT plan(141);

------------------------------------------------------------------------
-- text input: NaN and infinities (22000), out of range (22003)
------------------------------------------------------------------------

SELECT throws_ok($$SELECT '[NaN]'::vector$$, '22000',
	'NaN not allowed in vector', 'text input: [NaN]');
SELECT throws_ok($$SELECT '[1,nan]'::vector$$, '22000',
	'NaN not allowed in vector', 'text input: [1,nan] (lower case, not first)');
SELECT throws_ok($$SELECT '[Infinity]'::vector$$, '22000',
	'infinite value not allowed in vector', 'text input: [Infinity]');
SELECT throws_ok($$SELECT '[-inf]'::vector$$, '22000',
	'infinite value not allowed in vector', 'text input: [-inf]');
SELECT throws_ok($$SELECT '[1e39]'::vector$$, '22003',
	'"1e39" is out of range for type vector', 'text input: [1e39] overflows float4');
SELECT throws_ok($$SELECT '[-1e39]'::vector$$, '22003',
	'"-1e39" is out of range for type vector', 'text input: [-1e39] overflows float4');
SELECT throws_ok($$SELECT '[1, 2,3.5e38 ]'::vector$$, '22003',
	'"3.5e38" is out of range for type vector',
	'text input: out-of-range message quotes only the offending token');
-- NaN is checked element by element, before later syntax errors
SELECT throws_ok($$SELECT '[NaN,x]'::vector$$, '22000',
	'NaN not allowed in vector', 'text input: [NaN,x] reports the NaN first');

------------------------------------------------------------------------
-- text input: empty vectors (22000) and syntax errors (22P02)
------------------------------------------------------------------------

SELECT throws_ok($$SELECT '[]'::vector$$, '22000',
	'vector must have at least 1 dimension', 'text input: []');
SELECT throws_ok($$SELECT ' [  ] '::vector$$, '22000',
	'vector must have at least 1 dimension', 'text input: [ ] with spaces');
SELECT throws_ok($$SELECT ''::vector$$, '22P02',
	'invalid input syntax for type vector: ""', 'text input: empty string');
SELECT throws_ok($$SELECT '1,2'::vector$$, '22P02',
	'invalid input syntax for type vector: "1,2"', 'text input: no brackets');
SELECT throws_ok($$SELECT '[1,2'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,2"', 'text input: no closing bracket');
SELECT throws_ok($$SELECT '[1,,2]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,,2]"', 'text input: empty element');
SELECT throws_ok($$SELECT '[1,]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,]"', 'text input: trailing comma');
SELECT throws_ok($$SELECT '[,1]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[,1]"', 'text input: leading comma');
SELECT throws_ok($$SELECT '[1 2]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1 2]"', 'text input: missing comma');
SELECT throws_ok($$SELECT '[1,2]x'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,2]x"', 'text input: junk after ]');
SELECT throws_ok($$SELECT '[1,2]]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,2]]"', 'text input: second ]');
SELECT throws_ok($$SELECT '[1,x]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1,x]"', 'text input: [1,x]');
SELECT throws_ok($$SELECT '[x]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[x]"', 'text input: [x]');
SELECT throws_ok($$SELECT '[[1]]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[[1]]"', 'text input: nested brackets');
SELECT throws_ok($$SELECT '{1,2}'::vector$$, '22P02',
	'invalid input syntax for type vector: "{1,2}"', 'text input: array braces');
SELECT throws_ok($$SELECT '[1;2]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1;2]"', 'text input: wrong separator');
SELECT throws_ok($$SELECT '['::vector$$, '22P02',
	'invalid input syntax for type vector: "["', 'text input: lone [');
SELECT throws_ok($$SELECT '[ '::vector$$, '22P02',
	'invalid input syntax for type vector: "[ "', 'text input: [ and a space');
SELECT throws_ok($$SELECT '[,]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[,]"', 'text input: [,] is a syntax error, not empty');
SELECT throws_ok($$SELECT '[1, ,3]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1, ,3]"', 'text input: blank element');
SELECT throws_ok($$SELECT '[1a]'::vector$$, '22P02',
	'invalid input syntax for type vector: "[1a]"', 'text input: junk inside a number');

------------------------------------------------------------------------
-- text input: the 16000-dimension limit (54000)
------------------------------------------------------------------------

SELECT throws_ok(
	$$SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::vector$$,
	'54000', 'vector cannot have more than 16000 dimensions',
	'text input: 16001 dimensions');
SELECT throws_ok(
	$$SELECT ('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ',]')::vector$$,
	'54000', 'vector cannot have more than 16000 dimensions',
	'text input: 16000 dimensions and a trailing comma hits the limit first');
SELECT lives_ok(
	$$SELECT ('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::vector$$,
	'text input: exactly 16000 dimensions is accepted');
SELECT is(vector_dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::vector),
	16000, 'text input: a 16000-dimension literal has 16000 dimensions');

------------------------------------------------------------------------
-- type modifier (22023) and typmod checks (22000)
------------------------------------------------------------------------

SELECT throws_ok($$SELECT '[1]'::vector(0)$$, '22023',
	'dimensions for type vector must be at least 1', 'typmod: vector(0)');
SELECT throws_ok($$SELECT '[1]'::vector(-1)$$, '22023',
	'dimensions for type vector must be at least 1', 'typmod: vector(-1)');
SELECT throws_ok($$SELECT '[1]'::vector(16001)$$, '22023',
	'dimensions for type vector cannot exceed 16000', 'typmod: vector(16001)');
SELECT throws_ok($$SELECT '[1]'::vector(2,3)$$, '22023',
	'invalid type modifier', 'typmod: vector(2,3)');
SELECT throws_ok($$CREATE TEMP TABLE pgi_err_badtypmod (v vector(0))$$, '22023',
	'dimensions for type vector must be at least 1', 'typmod: column of type vector(0)');
SELECT lives_ok($$SELECT '[1]'::vector(1), NULL::vector(16000)$$,
	'typmod: vector(1) and vector(16000) are valid modifiers');
SELECT throws_ok($$SELECT '[1,2,3]'::vector(2)$$, '22000',
	'expected 2 dimensions, not 3', 'typmod: literal [1,2,3] as vector(2)');
SELECT throws_ok($$SELECT '[1,2,3]'::vector::vector(2)$$, '22000',
	'expected 2 dimensions, not 3', 'typmod: vector to vector(2) cast');
SELECT throws_ok($$SELECT '[1]'::vector(2)$$, '22000',
	'expected 2 dimensions, not 1', 'typmod: literal [1] as vector(2)');
SELECT throws_ok($$SELECT '[1,2,3]'::vector('a')$$, '22P02',
	'invalid input syntax for type integer: "a"', 'typmod: vector(''a'')');
SELECT throws_ok($$SELECT '{"[1,2,3]"}'::vector(2)[]$$, '22000',
	'expected 2 dimensions, not 3', 'typmod: element of a vector(2)[] literal');

------------------------------------------------------------------------
-- dimension mismatch: every binary operator and function (22000)
------------------------------------------------------------------------

SELECT throws_ok($$SELECT '[1,2]'::vector <-> '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: <->');
SELECT throws_ok($$SELECT '[1,2]'::vector <=> '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: <=>');
SELECT throws_ok($$SELECT '[1,2]'::vector <#> '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: <#>');
SELECT throws_ok($$SELECT '[1,2]'::vector <+> '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: <+>');
SELECT throws_ok($$SELECT '[1,2]'::vector + '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: +');
SELECT throws_ok($$SELECT '[1,2]'::vector - '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: -');
SELECT throws_ok($$SELECT '[1,2]'::vector * '[1,2,3]'::vector$$, '22000',
	'different vector dimensions 2 and 3', 'dims: *');
SELECT throws_ok($$SELECT l2_distance('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: l2_distance');
SELECT throws_ok($$SELECT cosine_distance('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: cosine_distance');
SELECT throws_ok($$SELECT inner_product('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: inner_product');
SELECT throws_ok($$SELECT l1_distance('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: l1_distance');
SELECT throws_ok($$SELECT vector_l2_squared_distance('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: vector_l2_squared_distance');
SELECT throws_ok($$SELECT vector_negative_inner_product('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: vector_negative_inner_product');
SELECT throws_ok($$SELECT vector_spherical_distance('[1,2]', '[1,2,3]')$$, '22000',
	'different vector dimensions 2 and 3', 'dims: vector_spherical_distance');
SELECT throws_ok($$SELECT '[1,2,3]'::vector <-> '[1,2]'::vector$$, '22000',
	'different vector dimensions 3 and 2', 'dims: message names the left operand first');

------------------------------------------------------------------------
-- arithmetic overflow and underflow (22003)
------------------------------------------------------------------------

SELECT throws_ok($$SELECT '[1,3e38]'::vector + '[1,3e38]'::vector$$, '22003',
	'value out of range: overflow', 'overflow: +');
SELECT throws_ok($$SELECT '[-3e38]'::vector - '[3e38]'::vector$$, '22003',
	'value out of range: overflow', 'overflow: -');
SELECT throws_ok($$SELECT '[1e20,1]'::vector * '[1e20,1]'::vector$$, '22003',
	'value out of range: overflow', 'overflow: *');
SELECT throws_ok($$SELECT '[1e-30]'::vector * '[1e-30]'::vector$$, '22003',
	'value out of range: underflow', 'underflow: * of two nonzero values giving 0');
SELECT throws_ok($$SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)$$,
	'22003', 'value out of range: overflow', 'overflow: sum(vector)');

------------------------------------------------------------------------
-- array casts
------------------------------------------------------------------------

SELECT throws_ok($$SELECT ARRAY[[1,2],[3,4]]::vector$$, '22000',
	'array must be 1-D', 'cast: 2-D int[]');
SELECT throws_ok($$SELECT ARRAY[[1,NULL]]::vector$$, '22000',
	'array must be 1-D', 'cast: 2-D with a NULL reports the shape first');
SELECT throws_ok($$SELECT ARRAY[1,NULL]::vector$$, '22004',
	'array must not contain nulls', 'cast: int[] with a NULL');
SELECT throws_ok($$SELECT ARRAY[1.5,NULL]::float8[]::vector$$, '22004',
	'array must not contain nulls', 'cast: float8[] with a NULL');
SELECT throws_ok($$SELECT '{}'::real[]::vector$$, '22000',
	'vector must have at least 1 dimension', 'cast: empty real[]');
SELECT throws_ok($$SELECT '{}'::int[]::vector$$, '22000',
	'vector must have at least 1 dimension', 'cast: empty int[]');
SELECT throws_ok($$SELECT ARRAY['NaN'::float8]::vector$$, '22000',
	'NaN not allowed in vector', 'cast: float8[] with NaN');
SELECT throws_ok($$SELECT ARRAY[1e300::float8]::vector$$, '22000',
	'infinite value not allowed in vector', 'cast: float8 1e300 rounds to float4 infinity');
SELECT throws_ok($$SELECT ARRAY['Infinity'::real]::vector$$, '22000',
	'infinite value not allowed in vector', 'cast: real[] with Infinity');
SELECT throws_ok($$SELECT ARRAY[1, 'NaN'::real]::vector$$, '22000',
	'NaN not allowed in vector', 'cast: real[] with NaN');
SELECT throws_ok($$SELECT ARRAY[1, 'NaN'::numeric]::vector$$, '22000',
	'NaN not allowed in vector', 'cast: numeric[] with NaN');
SELECT throws_ok($$SELECT ARRAY['-Infinity'::numeric]::vector$$, '22000',
	'infinite value not allowed in vector', 'cast: numeric[] with -Infinity');
SELECT throws_ok($$SELECT ARRAY[1,2,3]::vector(2)$$, '22000',
	'expected 2 dimensions, not 3', 'cast: int[] to vector(2)');
SELECT throws_ok($$SELECT ARRAY[1,2,3]::real[]::vector(4)$$, '22000',
	'expected 4 dimensions, not 3', 'cast: real[] to vector(4)');
SELECT throws_ok($$SELECT array_fill(1, ARRAY[16001])::vector$$, '54000',
	'vector cannot have more than 16000 dimensions', 'cast: int[] of 16001 elements');

------------------------------------------------------------------------
-- concatenation and subvector
------------------------------------------------------------------------

SELECT throws_ok(
	$$SELECT array_fill(1, ARRAY[16000])::vector || '[1]'::vector$$,
	'54000', 'vector cannot have more than 16000 dimensions', '||: 16000 + 1 dimensions');
SELECT throws_ok(
	$$SELECT array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8001])::vector$$,
	'54000', 'vector cannot have more than 16000 dimensions', '||: 8000 + 8001 dimensions');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 1, 0)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: count 0');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 1, -1)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: negative count');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 4, 1)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: start past the end');
SELECT throws_ok($$SELECT subvector('[1,2,3]', -5, 3)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: range entirely before the start');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 0, 1)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: start 0 count 1 selects nothing');
SELECT throws_ok($$SELECT subvector('[1,2,3]', 2147483647, 2147483647)$$, '22000',
	'vector must have at least 1 dimension', 'subvector: INT_MAX start and count do not overflow');

------------------------------------------------------------------------
-- aggregates and their support functions
------------------------------------------------------------------------

SELECT throws_ok($$SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)$$,
	'22000', 'expected 2 dimensions, not 3', 'avg: 2 then 3 dimensions');
SELECT throws_ok($$SELECT avg(v) FROM (VALUES ('[1,2,3]'::vector), (NULL), ('[1,2]')) t(v)$$,
	'22000', 'expected 3 dimensions, not 2', 'avg: 3 then (NULL) then 2 dimensions');
SELECT throws_ok($$SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)$$,
	'22000', 'different vector dimensions 2 and 3', 'sum: 2 then 3 dimensions');
SELECT throws_ok($$SELECT vector_accum('{1,1,2}', '[1,2,3]')$$, '22000',
	'expected 2 dimensions, not 3', 'vector_accum: state of 2 dims, vector of 3');
SELECT throws_ok($$SELECT vector_combine('{1,1,2}', '{1,1,2,3}')$$, '22000',
	'expected 2 dimensions, not 3', 'vector_combine: states of 2 and 3 dims');
SELECT throws_ok($$SELECT vector_combine('{1,1e308}', '{1,1e308}')$$, '22003',
	'value out of range: overflow', 'vector_combine: float8 overflow of the sums');
SELECT throws_ok($$SELECT vector_avg('{1}')$$, '22000',
	'vector must have at least 1 dimension', 'vector_avg: state with n=1 and no sums');
SELECT throws_ok($$SELECT vector_avg('{0.5,3e38}')$$, '22000',
	'infinite value not allowed in vector', 'vector_avg: mean beyond float4 range');
SELECT throws_ok($$SELECT vector_accum('{0,0}', '[1,2,3]')$$, '22000',
	'expected 1 dimensions, not 3', 'vector_accum: state of 1 dim (n=0), vector of 3');
SELECT throws_ok($$SELECT vector_avg(array_agg(n)) FROM generate_series(1, 16002) n$$, '54000',
	'vector cannot have more than 16000 dimensions', 'vector_avg: state of 16001 dims');
SELECT throws_ok($$SELECT vector_combine('{0}', (SELECT array_agg(n)::float8[] FROM generate_series(1, 16002) n))$$, '54000',
	'vector cannot have more than 16000 dimensions', 'vector_combine: empty state with a 16001-dim state');
SELECT throws_ok($$SELECT vector_combine((SELECT array_agg(n)::float8[] FROM generate_series(1, 16002) n), '{0}')$$, '54000',
	'vector cannot have more than 16000 dimensions', 'vector_combine: 16001-dim state with an empty state');
SELECT is(vector_combine('{0}', '{0}'), '{0}'::float8[], 'vector_combine: two empty states stay empty');
SELECT throws_ok($$SELECT vector_combine('{{1,2}}', '{3,4}')$$, 'XX000',
	'vector_combine: expected state array', 'vector_combine: 2-D left state');
SELECT throws_ok($$SELECT vector_combine('{0}', '{}')$$, 'XX000',
	'vector_combine: expected state array', 'vector_combine: empty right state');
SELECT throws_ok($$SELECT vector_accum('{}', '[1]')$$, 'XX000',
	'vector_accum: expected state array', 'vector_accum: empty state array');
SELECT throws_ok($$SELECT vector_avg('{{1,2}}')$$, 'XX000',
	'vector_avg: expected state array', 'vector_avg: 2-D state array');
SELECT throws_ok($$SELECT vector_combine('{1,NULL}', '{1,2}')$$, 'XX000',
	'vector_combine: expected state array', 'vector_combine: state array with a NULL');

------------------------------------------------------------------------
-- assignment into a vector(3) column
------------------------------------------------------------------------

CREATE TABLE pgi_err_t3 (v vector(3));
SELECT throws_ok($$INSERT INTO pgi_err_t3 VALUES ('[1,2]')$$, '22000',
	'expected 3 dimensions, not 2', 'assign: literal of 2 dims into vector(3)');
SELECT throws_ok($$INSERT INTO pgi_err_t3 SELECT '[1,2,3,4]'::vector$$, '22000',
	'expected 3 dimensions, not 4', 'assign: vector of 4 dims into vector(3)');
SELECT throws_ok($$INSERT INTO pgi_err_t3 VALUES (ARRAY[1,2])$$, '22000',
	'expected 3 dimensions, not 2', 'assign: int[] of 2 elements into vector(3)');
SELECT lives_ok($$INSERT INTO pgi_err_t3 VALUES ('[1,2,3]'), (ARRAY[4,5,6]::float8[])$$,
	'assign: 3-dim literal and float8[] into vector(3)');
SELECT throws_ok($$UPDATE pgi_err_t3 SET v = v || '[7]'::vector$$, '22000',
	'expected 3 dimensions, not 4', 'assign: UPDATE to 4 dims in vector(3)');
SELECT results_eq($$SELECT v::text AS t FROM pgi_err_t3 ORDER BY v$$,
	ARRAY['[1,2,3]', '[4,5,6]'], 'assign: the valid rows are stored unchanged');

------------------------------------------------------------------------
-- pg_input_is_valid / pg_input_error_info
------------------------------------------------------------------------

SELECT is(pg_input_is_valid('[1,2,3]', 'vector'), true, 'pg_input_is_valid: good input');
SELECT is(pg_input_is_valid('[1,x]', 'vector'), false, 'pg_input_is_valid: syntax error');
SELECT is(pg_input_is_valid('[NaN]', 'vector'), false, 'pg_input_is_valid: NaN');
SELECT is(pg_input_is_valid('[]', 'vector'), false, 'pg_input_is_valid: empty');
SELECT is(pg_input_is_valid('[1e39]', 'vector'), false, 'pg_input_is_valid: out of range');
SELECT is(pg_input_is_valid('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']',
	'vector'), false, 'pg_input_is_valid: 16001 dimensions');
SELECT is(pg_input_is_valid('[1,2,3]', 'vector(2)'), false, 'pg_input_is_valid: typmod mismatch');
SELECT is(pg_input_is_valid('[1,2]', 'vector(2)'), true, 'pg_input_is_valid: typmod match');
SELECT is((SELECT row(message, detail, hint, sql_error_code)::text
		FROM pg_input_error_info('[1,x]', 'vector')),
	row('invalid input syntax for type vector: "[1,x]"', NULL::text, NULL::text, '22P02')::text,
	'pg_input_error_info: [1,x]');
SELECT is((SELECT row(message, detail, sql_error_code)::text
		FROM pg_input_error_info('[1,2]x', 'vector')),
	row('invalid input syntax for type vector: "[1,2]x"', 'Junk after closing right brace.',
		'22P02')::text,
	'pg_input_error_info: junk after ] has its detail');
SELECT is((SELECT row(message, detail, sql_error_code)::text
		FROM pg_input_error_info('1,2', 'vector')),
	row('invalid input syntax for type vector: "1,2"',
		'Vector contents must start with "[".', '22P02')::text,
	'pg_input_error_info: missing [ has its detail');
SELECT is((SELECT row(message, sql_error_code)::text FROM pg_input_error_info('[NaN]', 'vector')),
	row('NaN not allowed in vector', '22000')::text, 'pg_input_error_info: [NaN]');
SELECT is((SELECT row(message, sql_error_code)::text FROM pg_input_error_info('[1e39]', 'vector')),
	row('"1e39" is out of range for type vector', '22003')::text, 'pg_input_error_info: [1e39]');
SELECT is((SELECT sql_error_code FROM pg_input_error_info(
		'[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']', 'vector')),
	'54000', 'pg_input_error_info: 16001 dimensions is 54000');
SELECT is((SELECT row(message, sql_error_code)::text FROM pg_input_error_info('[1,2,3]', 'vector(2)')),
	row('expected 2 dimensions, not 3', '22000')::text, 'pg_input_error_info: typmod mismatch');
SELECT is((SELECT row(message, detail, hint, sql_error_code)::text
		FROM pg_input_error_info('[1,2]', 'vector')),
	row(NULL::text, NULL::text, NULL::text, NULL::text)::text,
	'pg_input_error_info: all NULL for good input');
SELECT throws_ok($$SELECT pg_input_is_valid('[1]', 'pgi_no_such_type')$$, '42704',
	'type "pgi_no_such_type" does not exist', 'pg_input_is_valid: unknown type is a hard error');

------------------------------------------------------------------------
-- binary COPY: files crafted byte by byte
------------------------------------------------------------------------

-- Write a binary COPY file holding one row with one field (the bytes of a
-- vector's binary form): signature, flags, header extension length, then
-- int16 field count, int32 field length, the field, and the -1 trailer.
CREATE FUNCTION pg_temp.pgi_err_copy_file(path text, field bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	lo oid;
BEGIN
	lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea
		|| '\x00000000'::bytea || '\x00000000'::bytea
		|| '\x0001'::bytea || int4send(length(field)) || field
		|| '\xffff'::bytea);
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
END
$$;

CREATE TABLE pgi_err_bin3 (v vector(3));
CREATE TABLE pgi_err_bin (v vector);

-- [1,2,3]: dim 3, unused 0, 1.0f 2.0f 3.0f big-endian
SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_ok.bin',
	'\x000300003f8000004000000040400000');
SELECT lives_ok($$COPY pgi_err_bin3 FROM '/tmp/pgi_tap_err_ok.bin' (FORMAT binary)$$,
	'binary COPY: a well-formed crafted file loads');
SELECT is((SELECT v::text FROM pgi_err_bin3), '[1,2,3]',
	'binary COPY: the crafted file reads as [1,2,3]');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_dim0.bin', '\x00000000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_dim0.bin' (FORMAT binary)$$,
	'22000', 'vector must have at least 1 dimension', 'binary COPY: dim 0');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_dimneg.bin', '\xffff0000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_dimneg.bin' (FORMAT binary)$$,
	'22000', 'vector must have at least 1 dimension', 'binary COPY: dim -1 (0xffff)');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_dimbig.bin', '\x3e810000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_dimbig.bin' (FORMAT binary)$$,
	'54000', 'vector cannot have more than 16000 dimensions', 'binary COPY: dim 16001');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_unused.bin',
	'\x000300013f8000004000000040400000');
SELECT throws_ok($$COPY pgi_err_bin3 FROM '/tmp/pgi_tap_err_unused.bin' (FORMAT binary)$$,
	'22000', 'expected unused to be 0, not 1', 'binary COPY: unused = 1');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_unusedneg.bin', '\x0001ffff3f800000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_unusedneg.bin' (FORMAT binary)$$,
	'22000', 'expected unused to be 0, not -1', 'binary COPY: unused = -1 (0xffff)');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_nan.bin',
	'\x000300003f8000007fc0000040400000');
SELECT throws_ok($$COPY pgi_err_bin3 FROM '/tmp/pgi_tap_err_nan.bin' (FORMAT binary)$$,
	'22000', 'NaN not allowed in vector', 'binary COPY: NaN element');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_inf.bin', '\x00010000ff800000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_inf.bin' (FORMAT binary)$$,
	'22000', 'infinite value not allowed in vector', 'binary COPY: -Infinity element');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_dims.bin', '\x000200003f80000040000000');
SELECT throws_ok($$COPY pgi_err_bin3 FROM '/tmp/pgi_tap_err_dims.bin' (FORMAT binary)$$,
	'22000', 'expected 3 dimensions, not 2', 'binary COPY: 2 dims into vector(3)');

-- The typmod is checked before the unused field, as in pgvector
SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_order.bin', '\x000200013f80000040000000');
SELECT throws_ok($$COPY pgi_err_bin3 FROM '/tmp/pgi_tap_err_order.bin' (FORMAT binary)$$,
	'22000', 'expected 3 dimensions, not 2', 'binary COPY: typmod checked before unused');

SELECT pg_temp.pgi_err_copy_file('/tmp/pgi_tap_err_short.bin', '\x000200003f800000');
SELECT throws_ok($$COPY pgi_err_bin FROM '/tmp/pgi_tap_err_short.bin' (FORMAT binary)$$,
	'08P01', 'insufficient data left in message', 'binary COPY: dim 2 but one float');

SELECT is((SELECT count(*) FROM pgi_err_bin), 0::bigint,
	'binary COPY: no failed file left a row behind');

SELECT * FROM finish();
ROLLBACK;
