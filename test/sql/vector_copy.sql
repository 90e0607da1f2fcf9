-- text and binary COPY round trips
CREATE TABLE vcopy (id int, v vector(3));
INSERT INTO vcopy SELECT i, ARRAY[i * 0.1, -i, i * 1e-3]::vector FROM generate_series(1, 5) i;
INSERT INTO vcopy VALUES (6, NULL), (7, '[3.4028235e38,-1e-45,0.1]');
COPY vcopy TO '/tmp/pg_infer_vcopy.bin' WITH (FORMAT binary);
COPY vcopy TO '/tmp/pg_infer_vcopy.txt';
CREATE TABLE vcopy2 (LIKE vcopy);
COPY vcopy2 FROM '/tmp/pg_infer_vcopy.bin' WITH (FORMAT binary);
SELECT count(*) AS same_rows FROM vcopy a JOIN vcopy2 b ON a.id = b.id
 WHERE a.v = b.v OR (a.v IS NULL AND b.v IS NULL);
SELECT * FROM vcopy2 ORDER BY id;
TRUNCATE vcopy2;
COPY vcopy2 FROM '/tmp/pg_infer_vcopy.txt';
SELECT count(*) AS same_rows FROM vcopy a JOIN vcopy2 b ON a.id = b.id
 WHERE a.v = b.v OR (a.v IS NULL AND b.v IS NULL);
-- binary send matches the documented layout: int16 dim, int16 0, float4 BE
SELECT vector_send('[1,-2]');
-- binary input into a column of another dimension
CREATE TABLE vcopy4 (id int, v vector(4));
COPY vcopy4 FROM '/tmp/pg_infer_vcopy.bin' WITH (FORMAT binary);
-- hand-made binary files: header, one row with one field, trailer
CREATE FUNCTION pgi_copy_file(field bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE oid oid;
BEGIN
  oid := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
         || '\x0001'::bytea || int4send(length(field)) || field || '\xffff'::bytea);
  PERFORM lo_export(oid, '/tmp/pg_infer_vcopy_bad.bin');
  PERFORM lo_unlink(oid);
  RETURN 'written';
END $$;
CREATE TABLE vbad (v vector);
SELECT pgi_copy_file('\x000100003f800000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT * FROM vbad;
SELECT pgi_copy_file('\x00000000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\x000100013f800000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\x000100007fc00000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\x000100007f800000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\x000200003f800000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\xffff00003f800000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
SELECT pgi_copy_file('\x000100003f80000000');
COPY vbad FROM '/tmp/pg_infer_vcopy_bad.bin' WITH (FORMAT binary);
DROP TABLE vcopy, vcopy2, vcopy4, vbad;
DROP FUNCTION pgi_copy_file(bytea);
