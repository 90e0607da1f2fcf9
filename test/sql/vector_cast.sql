-- casts between vector and arrays
SELECT ARRAY[1,2,3]::vector;
SELECT ARRAY[1.0,2.0,3.0]::vector;
SELECT ARRAY[1,2,3]::float4[]::vector;
SELECT ARRAY[1,2,3]::float8[]::vector;
SELECT ARRAY[1,2,3]::numeric[]::vector;
SELECT '{NULL}'::real[]::vector;
SELECT '{NaN}'::real[]::vector;
SELECT '{Infinity}'::real[]::vector;
SELECT '{-Infinity}'::real[]::vector;
SELECT '{}'::real[]::vector;
SELECT '{{1}}'::real[]::vector;
SELECT '{1e300}'::float8[]::vector;
SELECT '{1e-50}'::float8[]::vector;
SELECT '{NaN}'::float8[]::vector;
SELECT '{NaN}'::numeric[]::vector;
SELECT '{1e39}'::numeric[]::vector;
SELECT ARRAY[1,2,3]::vector(3);
SELECT ARRAY[1,2,3]::vector(2);
SELECT array_fill(0, ARRAY[16001])::vector;
SELECT '[1,2,3]'::vector::real[];
SELECT '[1.5,2.25,-3e-3]'::vector::real[]::vector;
SELECT '[1,2,3]'::vector::real[]::float8[];
SELECT '{1,2,3}'::real[]::vector::real[];
-- implicit: a vector is accepted where real[] is expected
CREATE FUNCTION pgi_first(real[]) RETURNS real LANGUAGE sql AS 'SELECT $1[1]';
SELECT pgi_first('[7,8,9]'::vector);
DROP FUNCTION pgi_first(real[]);
-- assignment: arrays into vector columns
CREATE TABLE vc (v vector(3));
INSERT INTO vc VALUES (ARRAY[1,2,3]), (ARRAY[1.5,2.5,3.5]::float8[]), ('{4,5,6}'::real[]);
INSERT INTO vc VALUES (ARRAY[1,2]);
SELECT * FROM vc;
DROP TABLE vc;
-- explicit casts are required in expressions
SELECT ARRAY[1,2,3] <-> '[1,2,3]'::vector;
SELECT ARRAY[1,2,3]::vector <-> '[1,2,4]'::vector;
SELECT castcontext, castsource::regtype, casttarget::regtype FROM pg_cast
 WHERE casttarget = 'vector'::regtype OR castsource = 'vector'::regtype ORDER BY 2, 3;
