-- pg_infer 0.6.0 -> 0.7.0: conversations (chat templates), classification
-- (heads trained in SQL, model heads, zero-shot, rerank, row triggers), the
-- bundled models found in PostgreSQL's share directory
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.7.0'" to load this file. \quit

-- generate(model, messages jsonb, ...): a conversation, a jsonb array of
-- {"role": "system" | "user" | "assistant", "content": text}, rendered with
-- the model's chat template (ChatML, Llama 3 or Zephyr families, detected
-- from the GGUF's tokenizer.chat_template) and continued as the assistant.
-- Labels as generate(model, prompt text).  An untyped string literal
-- resolves to the text overload: write messages as jsonb ('[...]'::jsonb).
CREATE FUNCTION generate(model text, messages jsonb, max_tokens integer DEFAULT 128,
						 temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
						 top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
						 stop text[] DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_generate_chat'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000;

CREATE FUNCTION generate_tokens(model text, messages jsonb, max_tokens integer DEFAULT 128,
								temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
								top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
								stop text[] DEFAULT NULL)
	RETURNS TABLE (pos integer, token_id integer, piece text, logprob real)
	AS 'MODULE_PATHNAME', 'pgi_generate_tokens_chat'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000 ROWS 128;

-- tokenize(model, messages jsonb): the ids of the prompt a conversation
-- becomes (what generate(model, messages) feeds the model)
CREATE FUNCTION tokenize(model text, messages jsonb)
	RETURNS integer[] AS 'MODULE_PATHNAME', 'pgi_tokenize_chat'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;

-- Classification heads trained in the database (train_classifier): one row
-- per head, next to the registry and dumped with it.  weights holds, per
-- label (in the order of labels), dims weights then the bias, applied to
-- the embedding as it comes from embedding_model; the head is bound to that
-- model's content (embedding_sha256) and refused when it changes.
CREATE TABLE pg_infer_heads (
	name text PRIMARY KEY,
	embedding_model text NOT NULL,
	embedding_sha256 text NOT NULL,
	labels text[] NOT NULL,
	dims integer NOT NULL,
	weights real[] NOT NULL,
	options jsonb NOT NULL DEFAULT '{}',
	metrics jsonb NOT NULL,
	trained_at timestamptz NOT NULL DEFAULT now(),
	CHECK (cardinality(labels) >= 2 AND dims >= 1 AND
		   cardinality(weights) = cardinality(labels) * (dims + 1))
);
SELECT pg_catalog.pg_extension_config_dump('pg_infer_heads', '');
REVOKE ALL ON pg_infer_heads FROM PUBLIC;
GRANT SELECT ON pg_infer_heads TO PUBLIC;
-- changes reach every backend's cache of heads through the registry's invalidation
CREATE TRIGGER pg_infer_heads_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_infer_heads
	FOR EACH STATEMENT EXECUTE FUNCTION pg_infer._registry_changed();

-- Embed query's (text, label) rows with embedding_model (as the caller:
-- the query runs with the caller's rights), hold out a stratified part,
-- fit a softmax head on the rest
CREATE FUNCTION pg_infer._fit_head(embedding_model text, query text, options jsonb,
								   OUT labels text[], OUT dims integer, OUT weights real[],
								   OUT embedding_sha256 text, OUT metrics jsonb)
	AS 'MODULE_PATHNAME', 'pgi_fit_head' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- Store a fitted head under name (superusers, or roles granted EXECUTE on
-- this function and on train_classifier)
CREATE FUNCTION pg_infer._store_head(name text, embedding_model text, embedding_sha256 text,
									 labels text[], dims integer, weights real[], options jsonb,
									 metrics jsonb)
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.pg_infer_model_registry r WHERE r.name = _store_head.name) THEN
		RAISE EXCEPTION 'a model file is registered as "%"', name
			USING ERRCODE = 'duplicate_object', HINT = 'Choose another name, or drop_model() it first.';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.pg_infer_heads h WHERE h.name = _store_head.name) THEN
		IF NOT coalesce((options->>'force')::boolean, false) THEN
			RAISE EXCEPTION 'head "%" already exists', name
				USING ERRCODE = 'duplicate_object',
					  HINT = 'Use drop_model() first, or pass ''{"force": true}'' to replace it.';
		END IF;
		RAISE WARNING 'head "%" is replaced', name
			USING DETAIL = 'Labels stored with the old head (generated columns, triggers) are not recomputed.';
		DELETE FROM @extschema@.pg_infer_heads h WHERE h.name = _store_head.name;
	END IF;
	INSERT INTO @extschema@.pg_infer_heads (name, embedding_model, embedding_sha256, labels, dims,
		weights, options, metrics)
	VALUES (name, embedding_model, embedding_sha256, labels, dims, weights, options - 'force', metrics);
END
$$;
REVOKE ALL ON FUNCTION pg_infer._store_head(text, text, text, text[], integer, real[], jsonb, jsonb) FROM PUBLIC;

-- train_classifier(): fit a softmax head on the embeddings of query's
-- (text, label) rows and register it as model name; returns the metrics
-- (held-out and training accuracy, macro-F1, per-class precision / recall,
-- confusion matrix, seconds).  Options: C (inverse L2 strength, 1),
-- test_fraction (0.2), seed (0), max_iter (1000), class_weight ("balanced"
-- or {"label": weight}), force (replace a head of that name).
CREATE FUNCTION train_classifier(name text, embedding_model text, query text,
								 options jsonb DEFAULT '{}')
	RETURNS jsonb LANGUAGE plpgsql VOLATILE
	-- no SET search_path: the query runs as the caller wrote it
AS $$
DECLARE
	h record;
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
		RAISE EXCEPTION 'invalid model name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A model name is 1 to 63 letters, digits, "_", ".", ":" or "-", starting with a letter or digit.';
	END IF;
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'train_classifier options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.pg_infer_model_registry r WHERE r.name = train_classifier.name) THEN
		RAISE EXCEPTION 'a model file is registered as "%"', name
			USING ERRCODE = 'duplicate_object', HINT = 'Choose another name, or drop_model() it first.';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.pg_infer_heads x WHERE x.name = train_classifier.name)
	   AND NOT coalesce((options->>'force')::boolean, false) THEN
		RAISE EXCEPTION 'head "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Use drop_model() first, or pass ''{"force": true}'' to replace it.';
	END IF;
	SELECT * INTO h FROM pg_infer._fit_head(embedding_model, query, options);
	PERFORM pg_infer._store_head(name, embedding_model, h.embedding_sha256, h.labels, h.dims,
								 h.weights, options, h.metrics);
	RETURN h.metrics;
END
$$;
REVOKE ALL ON FUNCTION train_classifier(text, text, text, jsonb) FROM PUBLIC;

-- drop_model() also drops trained heads
CREATE OR REPLACE FUNCTION drop_model(name text)
	RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.pg_infer_model_registry r WHERE r.name = drop_model.name;
	IF NOT FOUND THEN
		DELETE FROM @extschema@.pg_infer_heads h WHERE h.name = drop_model.name;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION drop_model(text) FROM PUBLIC;

-- A model's source as a plain user may see it: the path relative to
-- pg_infer.model_dir or to the bundled models' directory, else only its
-- last component (superusers, and roles with pg_read_server_files, see the
-- whole path: server paths are not for everyone)
CREATE FUNCTION pg_infer._shown_source(source text) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR
			 pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') THEN source
		WHEN coalesce(current_setting('pg_infer.model_dir', true), '') <> '' AND
			 starts_with(source, rtrim(current_setting('pg_infer.model_dir', true), '/') || '/')
			THEN substr(source, length(rtrim(current_setting('pg_infer.model_dir', true), '/')) + 2)
		WHEN source ~ '/pg_infer/models/' THEN regexp_replace(source, '^.*/pg_infer/models/', '')
		ELSE regexp_replace(source, '^.*/', '')
	END
$$;

-- the registry's paths: only through pg_infer.models for plain users
REVOKE SELECT ON pg_infer_model_registry FROM PUBLIC;
GRANT SELECT (name, format, architecture, task, parameters, dims, max_tokens, vocab_size, dtype,
			  bytes, sha256, options, registered_at) ON pg_infer_model_registry TO PUBLIC;

-- pg_infer.models lists trained heads too (format "database", source: the
-- embedding model, parameters: the head's weights)
CREATE OR REPLACE VIEW pg_infer.models AS
SELECT name, task, architecture, format, pg_infer._shown_source(source) AS source, parameters, dims,
	   max_tokens, vocab_size, dtype, bytes, sha256, pg_infer._model_cached(sha256) AS loaded, options,
	   registered_at
FROM @extschema@.pg_infer_model_registry
UNION ALL
SELECT name, 'classification', 'softmax head', 'database', embedding_model,
	   cardinality(weights)::bigint, dims, NULL::integer, NULL::integer, 'f32',
	   4 * cardinality(weights)::bigint, encode(sha256(array_send(weights)), 'hex'), true,
	   options || jsonb_build_object('labels', labels), trained_at
FROM @extschema@.pg_infer_heads;

-- classify(): the most likely label of a trained head (or a model with a
-- classification head); classify_scores(): every label's probability,
-- most likely first.  IMMUTABLE like embed(): a name is bound to content.
CREATE FUNCTION classify(model text, input text)
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_classify'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION classify_scores(model text, input text)
	RETURNS TABLE (label text, score real) AS 'MODULE_PATHNAME', 'pgi_classify_scores'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 10;

-- Zero-shot: the label whose templated text embeds closest (cosine) to the
-- input, with any embedding model; classify_scores gives the cosines
CREATE FUNCTION classify(model text, input text, labels text[],
						 template text DEFAULT 'This text is about {}.')
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_classify_zero_shot'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION classify_scores(model text, input text, labels text[],
								template text DEFAULT 'This text is about {}.')
	RETURNS TABLE (label text, score real) AS 'MODULE_PATHNAME', 'pgi_classify_scores_zero_shot'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 10;

-- BEFORE INSERT OR UPDATE ... FOR EACH ROW triggers:
--   EXECUTE FUNCTION pg_infer.embed_trigger('model', 'source_col', 'target_col')
--   EXECUTE FUNCTION pg_infer.classify_trigger('head', 'source_col', 'target_col')
-- The target is computed on INSERT and when an UPDATE changes the source
-- (NULL source: NULL target); other updates leave it alone.
CREATE FUNCTION pg_infer.embed_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pgi_embed_trigger' LANGUAGE C;
CREATE FUNCTION pg_infer.classify_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pgi_classify_trigger' LANGUAGE C;

-- rerank(): a cross-encoder's relevance of each document to the query,
-- best first (idx: 1-based position in docs; NULL documents get no row)
CREATE FUNCTION rerank(model text, query text, docs text[])
	RETURNS TABLE (idx integer, score real) AS 'MODULE_PATHNAME', 'pgi_rerank'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000 ROWS 10;

-- Whether load_model() would find source (in pg_infer.model_dir, or in the
-- bundled models' directory that "make install" fills); superusers only,
-- as it tells whether a file exists
CREATE FUNCTION pg_infer._source_exists(source text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgi_source_exists' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION pg_infer._source_exists(text) FROM PUBLIC;

-- The bundled models, registered wherever their files are: pg_infer.model_dir
-- or $(pg_config --sharedir)/pg_infer/models, where "make install" puts them,
-- so that "CREATE EXTENSION pg_infer; SELECT embed('hello')" works after a
-- plain make install.  (The earlier scripts registered them only from
-- pg_infer.model_dir.)  Not dumped: CREATE EXTENSION makes them again.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.pg_infer_model_registry WHERE name = 'use-lite') AND
	   pg_infer._source_exists('use-lite/model.json') THEN
		PERFORM @extschema@.load_model('use-lite', 'use-lite');
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the default model "use-lite" was not registered: %', SQLERRM;
END
$$;
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.pg_infer_model_registry WHERE name = 'stories') AND
	   pg_infer._source_exists('stories260K.gguf') THEN
		PERFORM @extschema@.load_model('stories', 'stories260K.gguf', '{"context_length": 512}');
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the bundled model "stories" was not registered: %', SQLERRM;
END
$$;
