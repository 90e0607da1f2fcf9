-- pg_infer 0.8.0 -> 0.9.0: the token heads of Hugging Face models
-- (named entities, extractive question answering)
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.9.0'" to load this file. \quit

-- extract_entities(model, input): the named entities a token-classification
-- model (BertForTokenClassification, labels B-X / I-X / O from id2label)
-- finds in input, grouped as Hugging Face's pipeline does with
-- aggregation_strategy "simple": the entity's text, its type, its character
-- offsets in input (0-based, end exclusive: substr(input, start + 1,
-- "end" - start)) and the mean probability of its tokens.  An input longer
-- than the model accepts is an ERROR unless truncate, which labels its first
-- tokens only.
CREATE FUNCTION extract_entities(model text, input text, truncate boolean DEFAULT false)
	RETURNS TABLE (entity text, label text, start int, "end" int, score real)
	AS 'MODULE_PATHNAME', 'pgi_extract_entities'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 5;

-- answer(model, question, context): the spans of context a question-answering
-- model (BertForQuestionAnswering) gives as answers, best first: the text,
-- its character offsets in context and p_start * p_end (Hugging Face's
-- question-answering pipeline; contexts longer than one pass are read in
-- overlapping windows).  top_k answers of at most max_answer_len tokens.
CREATE FUNCTION answer(model text, question text, context text,
					   top_k int DEFAULT 1, max_answer_len int DEFAULT 15)
	RETURNS TABLE (answer text, start int, "end" int, score real)
	AS 'MODULE_PATHNAME', 'pgi_answer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 1;

-- Scale-out with Citus (doc/scale-out.md).  Citus pushes embed(), classify()
-- and the hnsw searches down to its workers, so a model name must mean the
-- same content on every node.  On a Citus coordinator, load_model,
-- drop_model and unload_model act locally and then on every active worker,
-- as the role that called them; without Citus, on a worker, and inside
-- CREATE / ALTER EXTENSION (each node registers its own bundled models)
-- they act locally only, as before.

-- pg_infer._on_workers(command): on a Citus coordinator, command run on every
-- active worker (pg_catalog.run_command_on_workers) as the calling role, not
-- as this function's or a SECURITY DEFINER caller's owner; one row per worker
-- (node "host:port", result), or an ERROR naming the first worker that
-- failed.  No rows, nothing run, anywhere else (src/pg/models/citus.c).
CREATE FUNCTION pg_infer._on_workers(command text)
	RETURNS TABLE (node text, result text)
	AS 'MODULE_PATHNAME', 'pgi_on_workers' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION pg_infer._on_workers(text) FROM PUBLIC;

-- load_model: as in 0.6.0; on a Citus coordinator then the same call on
-- every worker, each of which must find the same content (sha256) under
-- source or refuse (nothing registered there).  Run again after a worker
-- failed (or after adding a node): a node that has the model already only
-- says so.
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

-- drop_model: as in 0.7.0; on a Citus coordinator then on every worker that
-- has the model or head
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
	PERFORM pg_infer._on_workers(format('DO %L', format($w$BEGIN
	IF EXISTS (SELECT FROM @extschema@.pg_infer_model_registry r WHERE r.name = %1$L)
	   OR EXISTS (SELECT FROM @extschema@.pg_infer_heads h WHERE h.name = %1$L) THEN
		PERFORM @extschema@.drop_model(%1$L);
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLSTATE || ': ' || SQLERRM;
END$w$, name)));
END
$$;

-- unload_model: as in 0.5.0; on a Citus coordinator then on every worker
-- that has the model; returns whether it was loaded on any node
CREATE OR REPLACE FUNCTION unload_model(name text)
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
	SELECT was OR coalesce(bool_or(w.result = 't'), false) INTO was
	FROM pg_infer._on_workers(format($w$SELECT CASE
	WHEN EXISTS (SELECT FROM @extschema@.pg_infer_model_registry r WHERE r.name = %1$L)
	THEN @extschema@.unload_model(%1$L) ELSE false END$w$, name)) w;
	RETURN was;
END
$$;

-- pg_infer.cluster_models(): the models (and trained heads) of every node,
-- compared with this node's (run it on the coordinator): one row per node
-- and name that either has; status "ok" (same sha256 as here), "different",
-- "missing" (here, not on that node) or "extra" (on that node, not here).
-- Without Citus, or on a worker: this node's models only.  The workers are
-- read as the caller (their pg_infer.models, which every role may read).
CREATE FUNCTION pg_infer.cluster_models()
	RETURNS TABLE (node text, name text, sha256 text, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	here text;
BEGIN
	IF EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
		EXECUTE $q$SELECT n.nodename || ':' || n.nodeport FROM pg_catalog.pg_dist_node n
			JOIN pg_catalog.pg_dist_local_group g ON g.groupid = n.groupid
			ORDER BY n.noderole LIMIT 1$q$ INTO here;
	END IF;
	here := coalesce(here, 'local');
	RETURN QUERY
	WITH l AS (SELECT m.name, m.sha256 FROM pg_infer.models m),
	r AS (SELECT o.node, o.result::json AS models FROM pg_infer._on_workers(
		  'SELECT coalesce(json_agg(json_build_array(m.name, m.sha256)), ''[]'') FROM pg_infer.models m') o),
	w AS (SELECT r.node, j->>0 AS name, j->>1 AS sha256 FROM r, json_array_elements(r.models) j),
	g AS (SELECT r.node, n.name FROM r, (SELECT l.name FROM l UNION SELECT w.name FROM w) n),
	t AS (
		SELECT 0 AS o, here AS node, l.name, l.sha256, 'ok' AS status FROM l
		UNION ALL
		SELECT 1, g.node, g.name, w.sha256,
			   CASE WHEN w.name IS NULL THEN 'missing' WHEN l.name IS NULL THEN 'extra'
					WHEN w.sha256 IS DISTINCT FROM l.sha256 THEN 'different' ELSE 'ok' END
		FROM g LEFT JOIN l ON l.name = g.name
			   LEFT JOIN w ON w.node = g.node AND w.name = g.name
		WHERE l.name IS NOT NULL OR w.name IS NOT NULL)
	SELECT t.node, t.name, t.sha256, t.status FROM t
	ORDER BY t.name, t.o, t.node;
END
$$;
