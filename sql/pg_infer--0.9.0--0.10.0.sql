-- pg_infer 0.9.0 -> 0.10.0: reduced-precision encoder weights
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.10.0'" to load this file. \quit

-- load_model: as in 0.9.0, and the option "precision" ("f32", "bf16" or
-- "int8") of text encoders (BERT family, Universal Sentence Encoder): the
-- weights of their linear layers are prepared in that format and multiplied
-- with AVX-512 BF16 / VNNI instructions where the CPU has them
-- (doc/embeddings.md).  int8 has a scale per 64 inputs of each weight row
-- and of each token ("int8_block": N for N; at least the row's width: one
-- per row, faster, less exact); a Q8_0 GGUF runs in int8 on its own blocks
-- of 32.  Without "precision" an encoder runs in f32.  Each precision has
-- its own prepared file; re-registering the same content with other options
-- switches to it.
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
	IF options ? 'precision' AND (jsonb_typeof(options->'precision') <> 'string' OR
		options->>'precision' NOT IN ('f32', 'bf16', 'int8')) THEN
		RAISE EXCEPTION 'model option "precision" must be "f32", "bf16" or "int8"'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF options ? 'int8_block' AND (options->>'precision' IS DISTINCT FROM 'int8' OR
		jsonb_typeof(options->'int8_block') <> 'number' OR
		(options->>'int8_block')::numeric NOT IN (32, 64, 128, 256, 512, 1024, 2048, 4096)) THEN
		RAISE EXCEPTION 'model option "int8_block" must be 32, 64, 128, 256, 512, 1024, 2048 or 4096, with "precision": "int8"'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO m FROM pg_infer._inspect_model(source);
	IF coalesce(options->>'precision', 'f32') <> 'f32' AND m.architecture IN ('llama', 'qwen2', 'clip', 'clip_vision_model') THEN
		RAISE EXCEPTION 'model option "precision" applies to text encoders, not to architecture "%"', m.architecture
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'A decoder runs on the types of its GGUF file; CLIP models run in f32.';
	END IF;
	SELECT * INTO old FROM @extschema@.pg_infer_model_registry r WHERE r.name = load_model.name FOR UPDATE;
	IF FOUND AND old.sha256 = m.sha256 THEN
		UPDATE @extschema@.pg_infer_model_registry r SET source = m.source, options = load_model.options
		 WHERE r.name = load_model.name;
		RAISE NOTICE 'model "%" is already registered with this content', name;
	ELSE
		IF FOUND THEN
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
	END IF;
	-- the workers' errors come back as "SQLSTATE: message" (pg_infer._on_workers)
	PERFORM pg_infer._on_workers(format('DO %L', format($w$BEGIN
	PERFORM @extschema@.load_model(%1$L, %2$L, %3$L::jsonb);
	IF NOT EXISTS (SELECT FROM @extschema@.pg_infer_model_registry r WHERE r.name = %1$L AND r.sha256 = %4$L) THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('model "%%s": source %%s has sha256 %%s on this node, %%s on the coordinator',
							 %1$L, %2$L, (SELECT r.sha256 FROM @extschema@.pg_infer_model_registry r WHERE r.name = %1$L), %4$L);
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLSTATE || ': ' || SQLERRM;
END$w$, name, source, options::text, m.sha256)));
END
$$;

