-- pg_infer 0.2.0 -> 0.3.0: schema pg_infer, BLAS information

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.3.0'" to load this file. \quit

-- Administrative functions and views live in schema pg_infer; the vector
-- type, the access method and the inference functions stay in the
-- extension's schema.  PostgreSQL reserves the pg_ prefix for system
-- schemas, so creating it takes allow_system_table_mods for a moment; the
-- schema is an extension member (created and dropped with the extension,
-- and pg_dump leaves it to CREATE EXTENSION).  It must never hold data.
SET LOCAL allow_system_table_mods = on;
CREATE SCHEMA pg_infer;
RESET allow_system_table_mods;
GRANT USAGE ON SCHEMA pg_infer TO PUBLIC;

-- which BLAS library and which kernels this backend uses
CREATE FUNCTION pg_infer.blas_info(OUT library text, OUT core text, OUT coretype_source text,
		OUT cpu text, OUT threads integer, OUT config text)
	AS 'MODULE_PATHNAME', 'pgi_blas_info' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

-- hnsw_check reads a whole index: not for everyone
REVOKE ALL ON FUNCTION hnsw_check(regclass) FROM PUBLIC;
