-- pg_infer 0.4.0 -> 0.5.0: text encoders (embed, tokenize), shared weights

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.5.0'" to load this file. \quit

-- Every change to the registry tells all backends to re-check the models
-- they have mapped (a relcache invalidation, delivered at commit)
CREATE FUNCTION pg_infer._registry_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pgi_registry_changed' LANGUAGE C;
CREATE TRIGGER pg_infer_model_registry_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_infer_model_registry
	FOR EACH STATEMENT EXECUTE FUNCTION pg_infer._registry_changed();

-- The shared cache of prepared models ($PGDATA/pg_infer/<sha256>.pgim)
CREATE FUNCTION pg_infer._model_cached(sha256 text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgi_model_cached' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
CREATE FUNCTION pg_infer._model_evict(sha256 text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgi_model_evict' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION pg_infer._model_evict(text) FROM PUBLIC;

-- Evict a model's weights from memory (the next use loads them again);
-- returns whether they were loaded
CREATE FUNCTION unload_model(name text)
	RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
DECLARE
	h text;
	was boolean;
BEGIN
	SELECT r.sha256 INTO h FROM pg_infer_model_registry r WHERE r.name = unload_model.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
	was := pg_infer._model_cached(h);
	PERFORM pg_infer._model_evict(h);
	RETURN was;
END
$$;
REVOKE ALL ON FUNCTION unload_model(text) FROM PUBLIC;

CREATE OR REPLACE VIEW pg_infer.models AS
SELECT name, task, architecture, format, source, parameters, dims, max_tokens, vocab_size,
	   dtype, bytes, sha256, pg_infer._model_cached(sha256) AS loaded, options, registered_at
FROM @extschema@.pg_infer_model_registry;

-- Inference.  A model name is bound to the sha256 of its content, so these
-- are IMMUTABLE (like to_tsvector(regconfig, text)); embed(text) reads
-- pg_infer.default_model and is therefore STABLE.
CREATE FUNCTION embed(model text, input text, options jsonb DEFAULT '{}')
	RETURNS vector AS 'MODULE_PATHNAME', 'pgi_embed'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed(model text, inputs text[], options jsonb DEFAULT '{}')
	RETURNS vector[] AS 'MODULE_PATHNAME', 'pgi_embed_batch'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000;
CREATE FUNCTION embed(input text)
	RETURNS vector AS 'MODULE_PATHNAME', 'pgi_embed_default'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION tokenize(model text, input text)
	RETURNS integer[] AS 'MODULE_PATHNAME', 'pgi_tokenize'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
CREATE FUNCTION detokenize(model text, ids integer[])
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_detokenize'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
CREATE FUNCTION token_count(model text, input text)
	RETURNS integer AS 'MODULE_PATHNAME', 'pgi_token_count'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;

-- The default model.  When pg_infer.model_dir holds use-lite/ (Universal
-- Sentence Encoder Lite, installed by ./pg_infer.sh from npm), it is
-- registered here, so embed(text) works right after CREATE EXTENSION.  That
-- row is not dumped (CREATE EXTENSION makes it again on restore).
SELECT pg_catalog.pg_extension_config_dump('pg_infer_model_registry', 'WHERE name <> ''use-lite''');
DO $$
BEGIN
	IF coalesce(current_setting('pg_infer.model_dir', true), '') <> '' AND
	   (pg_catalog.pg_stat_file(current_setting('pg_infer.model_dir') || '/use-lite/model.json', true)).size IS NOT NULL THEN
		PERFORM @extschema@.load_model('use-lite', 'use-lite');
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the default model "use-lite" was not registered: %', SQLERRM
		USING HINT = 'SELECT load_model(''use-lite'', ''use-lite'') once its files are in pg_infer.model_dir.';
END
$$;
