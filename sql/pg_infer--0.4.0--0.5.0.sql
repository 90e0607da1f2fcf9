-- pg_infer 0.4.0 -> 0.5.0: text encoders (embed, tokenize), shared weights

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.5.0'" to load this file. \quit

-- The SECURITY DEFINER functions resolve names in pg_catalog only (objects
-- in the extension's schema, writable by others in old databases, must not
-- shadow built-in operators and functions): same bodies as 0.4.0, with
-- every reference to the extension's own objects qualified.
CREATE OR REPLACE FUNCTION load_model(name text, source text, options jsonb DEFAULT '{}')
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m record;
	old record;
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid model name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A model name is 1 to 63 letters, digits, "_", ".", ":" or "-", starting with a letter or digit.';
	END IF;
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'model options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO m FROM pg_infer._inspect_model(source);
	SELECT * INTO old FROM @extschema@.pg_infer_model_registry r WHERE r.name = load_model.name FOR UPDATE;
	IF FOUND THEN
		IF old.sha256 = m.sha256 THEN
			UPDATE @extschema@.pg_infer_model_registry r SET source = m.source, options = load_model.options
			 WHERE r.name = load_model.name;
			RAISE NOTICE 'model "%" is already registered with this content', name;
			RETURN;
		END IF;
		IF NOT coalesce((options->>'force')::boolean, false) THEN
			RAISE EXCEPTION 'model "%" is already registered with different content', name
				USING ERRCODE = 'duplicate_object',
					  DETAIL = format('Registered sha256 %s, new %s.', old.sha256, m.sha256),
					  HINT = 'Use drop_model() first, or pass ''{"force": true}'' to rebind the name.';
		END IF;
		RAISE WARNING 'model "%" now refers to different content', name
			USING DETAIL = 'Embeddings, indexes and generated columns computed with the old content are not recomputed: rebuild them.';
		DELETE FROM @extschema@.pg_infer_model_registry r WHERE r.name = load_model.name;
	END IF;
	INSERT INTO @extschema@.pg_infer_model_registry (name, source, format, architecture, task, parameters,
		dims, max_tokens, vocab_size, dtype, bytes, sha256, options)
	VALUES (name, m.source, m.format, m.architecture, coalesce(options->>'task', m.task),
		m.parameters, m.dims, m.max_tokens, m.vocab_size, m.dtype, m.bytes, m.sha256,
		options - 'force');
END
$$;
REVOKE ALL ON FUNCTION load_model(text, text, jsonb) FROM PUBLIC;

-- Unregister a model
CREATE OR REPLACE FUNCTION drop_model(name text)
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.pg_infer_model_registry r WHERE r.name = drop_model.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION drop_model(text) FROM PUBLIC;

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
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h text;
	was boolean;
BEGIN
	SELECT r.sha256 INTO h FROM @extschema@.pg_infer_model_registry r WHERE r.name = unload_model.name;
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
