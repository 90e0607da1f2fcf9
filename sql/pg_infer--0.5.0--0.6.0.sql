-- pg_infer 0.5.0 -> 0.6.0: text generation with LLaMA-family decoders

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.6.0'" to load this file. \quit

-- load_model: as in 0.5.0, and the option "context_length" (decoders whose
-- GGUF states a wrong one) is checked when the model is registered
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
	IF options ? 'context_length' AND (jsonb_typeof(options->'context_length') <> 'number' OR
		(options->>'context_length')::numeric NOT BETWEEN 1 AND 1048576 OR
		(options->>'context_length')::numeric <> trunc((options->>'context_length')::numeric)) THEN
		RAISE EXCEPTION 'model option "context_length" must be an integer between 1 and 1048576'
			USING ERRCODE = 'invalid_parameter_value';
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

-- generate(): a continuation of prompt.  VOLATILE: with temperature > 0 it
-- samples (reproducibly only with a seed); PARALLEL SAFE: a call reads the
-- shared weights and keeps its own state.  Not STRICT: seed and stop are
-- NULL by default (a NULL model or prompt gives NULL).
CREATE FUNCTION generate(model text, prompt text, max_tokens integer DEFAULT 128,
						 temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
						 top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
						 stop text[] DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_generate'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000;

-- generate_tokens(): the same, one row per generated token: its position in
-- the context (prompt tokens, BOS included, come first), id, the text it
-- adds, and its log-probability under the model (softmax of the logits)
CREATE FUNCTION generate_tokens(model text, prompt text, max_tokens integer DEFAULT 128,
								temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
								top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
								stop text[] DEFAULT NULL)
	RETURNS TABLE (pos integer, token_id integer, piece text, logprob real)
	AS 'MODULE_PATHNAME', 'pgi_generate_tokens'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000 ROWS 128;

-- The bundled generation model.  When pg_infer.model_dir holds
-- stories260K.gguf (llama2.c's TinyStories model, shipped in models/ and
-- copied there by ./pg_infer.sh), it is registered as "stories" with the
-- context it was trained with (its GGUF says 128).  Like use-lite, that row
-- is not dumped: CREATE EXTENSION makes it again on restore.
SELECT pg_catalog.pg_extension_config_dump('pg_infer_model_registry',
	'WHERE name NOT IN (''use-lite'', ''stories'')');
DO $$
BEGIN
	IF coalesce(current_setting('pg_infer.model_dir', true), '') <> '' AND
	   (pg_catalog.pg_stat_file(current_setting('pg_infer.model_dir') || '/stories260K.gguf', true)).size IS NOT NULL AND
	   NOT EXISTS (SELECT FROM @extschema@.pg_infer_model_registry WHERE name = 'stories') THEN
		PERFORM @extschema@.load_model('stories', 'stories260K.gguf', '{"context_length": 512}');
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the bundled model "stories" was not registered: %', SQLERRM
		USING HINT = 'SELECT load_model(''stories'', ''stories260K.gguf'', ''{"context_length": 512}'') once the file is in pg_infer.model_dir.';
END
$$;
