-- pg_infer 0.3.0 -> 0.4.0: the model registry

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.4.0'" to load this file. \quit

-- The registry: one row per model name, bound to the sha256 of its files.
-- It lives in the extension's schema (pg_dump skips pg_* schemas, so data
-- must not live in schema pg_infer) and is dumped as configuration data.
CREATE TABLE pg_infer_model_registry (
	name text PRIMARY KEY,
	source text NOT NULL,			-- canonical path inside pg_infer.model_dir
	format text NOT NULL,			-- gguf | safetensors
	architecture text NOT NULL,
	task text NOT NULL,				-- embedding | generation | unknown
	parameters bigint NOT NULL,
	dims integer,
	max_tokens integer,
	vocab_size integer,
	dtype text NOT NULL,
	bytes bigint NOT NULL,
	sha256 text NOT NULL,
	options jsonb NOT NULL DEFAULT '{}',
	registered_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('pg_infer_model_registry', '');
REVOKE ALL ON pg_infer_model_registry FROM PUBLIC;
GRANT SELECT ON pg_infer_model_registry TO PUBLIC;

-- Resolve a source inside pg_infer.model_dir, validate it, describe it
-- (superusers only; load_model runs it on behalf of those allowed to call it)
CREATE FUNCTION pg_infer._inspect_model(source text,
		OUT source text, OUT format text, OUT architecture text, OUT task text,
		OUT parameters bigint, OUT dims integer, OUT max_tokens integer,
		OUT vocab_size integer, OUT dtype text, OUT bytes bigint, OUT sha256 text)
	AS 'MODULE_PATHNAME', 'pgi_inspect_model' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION pg_infer._inspect_model(text) FROM PUBLIC;

-- Register (or re-register) a model.  A name stays bound to its content:
-- loading different content under an existing name needs {"force": true}
-- and warns, since stored embeddings, indexes and generated columns made
-- with the old content are not recomputed.
CREATE FUNCTION load_model(name text, source text, options jsonb DEFAULT '{}')
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = @extschema@, pg_catalog, pg_temp
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
	SELECT * INTO old FROM pg_infer_model_registry r WHERE r.name = load_model.name FOR UPDATE;
	IF FOUND THEN
		IF old.sha256 = m.sha256 THEN
			UPDATE pg_infer_model_registry r SET source = m.source, options = load_model.options
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
		DELETE FROM pg_infer_model_registry r WHERE r.name = load_model.name;
	END IF;
	INSERT INTO pg_infer_model_registry (name, source, format, architecture, task, parameters,
		dims, max_tokens, vocab_size, dtype, bytes, sha256, options)
	VALUES (name, m.source, m.format, m.architecture, coalesce(options->>'task', m.task),
		m.parameters, m.dims, m.max_tokens, m.vocab_size, m.dtype, m.bytes, m.sha256,
		options - 'force');
END
$$;
REVOKE ALL ON FUNCTION load_model(text, text, jsonb) FROM PUBLIC;

-- Unregister a model
CREATE FUNCTION drop_model(name text)
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = @extschema@, pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM pg_infer_model_registry r WHERE r.name = drop_model.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION drop_model(text) FROM PUBLIC;

-- What is registered (loaded: in the shared weight cache, not built yet)
CREATE VIEW pg_infer.models AS
SELECT name, task, architecture, format, source, parameters, dims, max_tokens, vocab_size,
	   dtype, bytes, sha256, false AS loaded, options, registered_at
FROM @extschema@.pg_infer_model_registry;
GRANT SELECT ON pg_infer.models TO PUBLIC;
