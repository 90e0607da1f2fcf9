-- privileges.sql: the privilege table of doc/security.md, walked.  Every
-- function, table, view, schema, type and access method of the extension
-- has a row: what three roles get when they use it (allowed, or refused
-- with which SQLSTATE):
--   pgi_priv_plain  a role with no grants
--   pgi_priv_admin  a role granted EXECUTE on the admin functions, as the
--                   documentation delegates them (doc/security.md)
--   pgi_priv_super  a superuser (not the extension's owner)
-- plus the settings, who sees which model paths, and a check that the
-- catalogue holds no extension object without a row here: a function added
-- later fails this file until its privilege decision is written down.
--
-- Needs pg_infer.model_dir = build/test_models (test/prepare_models.sh).
-- Everything runs in one transaction that is rolled back: the roles and
-- models it makes never outlive it.  The bundled models (use-lite,
-- stories) may be registered or not; nothing here depends on them.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
BEGIN;
SELECT no_plan();

------------------------------------------------------------------------
-- roles and fixtures (as the superuser running the suite)
------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgi_priv_plain') THEN
		CREATE ROLE pgi_priv_plain NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgi_priv_admin') THEN
		CREATE ROLE pgi_priv_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgi_priv_super') THEN
		CREATE ROLE pgi_priv_super NOLOGIN SUPERUSER;
	END IF;
END
$$;
-- the delegation doc/security.md documents
GRANT EXECUTE ON FUNCTION load_model(text, text, jsonb), drop_model(text), unload_model(text),
	train_classifier(text, text, text, jsonb),
	pg_infer._store_head(text, text, text, text[], integer, real[], jsonb, jsonb),
	hnsw_check(regclass) TO pgi_priv_admin;
SELECT is((SELECT array_agg(rolname::text || ':' || rolsuper::text ORDER BY rolname) FROM pg_roles
		   WHERE rolname IN ('pgi_priv_plain', 'pgi_priv_admin', 'pgi_priv_super')),
	ARRAY['pgi_priv_admin:false', 'pgi_priv_plain:false', 'pgi_priv_super:true'], 'setup: the three roles');
SELECT is((SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
		   WHERE r.rolname IN ('pgi_priv_plain', 'pgi_priv_admin')), 0::bigint,
	'setup: the plain and admin roles are members of no role');

-- models (tiny ones from build/test_models), images, an hnsw index
DO $$
BEGIN
	PERFORM load_model('pgi_priv_bert', 'bert/hf');
	PERFORM load_model('pgi_priv_cls', 'bert/hf_cls');
	PERFORM load_model('pgi_priv_ner', 'bert/hf_ner');
	PERFORM load_model('pgi_priv_qa', 'bert/hf_qa');
	PERFORM load_model('pgi_priv_gen', 'stories260K.gguf', '{"context_length": 512}');
	PERFORM load_model('pgi_priv_chat', 'chat/stories-zephyr.gguf');
	PERFORM load_model('pgi_priv_clip', 'clip/clip_vision');
END
$$;
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name LIKE 'pgi\_priv\_%'), 7::bigint, 'setup: seven models registered');
CREATE TEMP TABLE pgi_priv_img AS
SELECT pg_read_binary_file(current_setting('pg_infer.model_dir') || '/clip/images/a.png') AS data;
CREATE TEMP TABLE pgi_priv_vec (id int, v vector(2));
INSERT INTO pgi_priv_vec SELECT i, ARRAY[i, i % 7]::vector FROM generate_series(1, 50) i;
CREATE INDEX pgi_priv_vec_hnsw ON pgi_priv_vec USING hnsw (v vector_l2_ops);
DO $$BEGIN PERFORM set_config('pg_infer.default_model', 'pgi_priv_bert', true); END$$;
-- a head everyone may classify with
CREATE TEMP TABLE pgi_priv_train (body text, label text);
INSERT INTO pgi_priv_train VALUES ('a b', 'x'), ('c d', 'y'), ('a c', 'x'), ('d d', 'y'), ('a a', 'x'),
	('c c', 'y'), ('a', 'x'), ('d', 'y'), ('b a', 'x'), ('c', 'y');
SELECT lives_ok($$SELECT train_classifier('pgi_priv_head', 'pgi_priv_bert', 'SELECT body, label FROM pgi_priv_train')$$,
	'setup: a head trained');
GRANT SELECT ON pgi_priv_img, pgi_priv_train TO PUBLIC;

-- run sql, then undo it (for statements that would change shared state when allowed)
CREATE FUNCTION pg_temp.undone(sql text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RAISE EXCEPTION 'undone';
END
$$;

------------------------------------------------------------------------
-- the table: objects (as pg_describe_object names them; each in one row),
-- a call, and per role 'ok' or the SQLSTATE of the refusal
------------------------------------------------------------------------
CREATE TEMP TABLE walk (n serial, what text, objs text[], call text,
						plain text, admin text, super text, undo boolean DEFAULT false);
GRANT SELECT ON walk TO PUBLIC;

-- the vector type and everything on it: everyone
INSERT INTO walk (what, objs, call, plain, admin, super) VALUES
('the vector type, its I/O', ARRAY['type vector', 'function vector_in(cstring,oid,integer)',
	'function vector_out(vector)', 'function vector_typmod_in(cstring[])',
	'function vector_recv(internal,oid,integer)', 'function vector_send(vector)'],
 $$CREATE TEMP TABLE pgi_priv_t (v vector(2)); INSERT INTO pgi_priv_t VALUES ('[1,2]');
   SELECT vector_in('[1,2]', 0, -1)::text, vector_out('[1,2]'), vector_send('[1,2]'),
		  vector_typmod_in(ARRAY['3']::cstring[]); DROP TABLE pgi_priv_t$$, 'ok', 'ok', 'ok'),
('vector functions and operators', ARRAY['function l2_distance(vector,vector)',
	'function inner_product(vector,vector)', 'function cosine_distance(vector,vector)',
	'function l1_distance(vector,vector)', 'function vector_dims(vector)', 'function vector_norm(vector)',
	'function l2_normalize(vector)', 'function binary_quantize(vector)',
	'function subvector(vector,integer,integer)', 'function vector_add(vector,vector)',
	'function vector_sub(vector,vector)', 'function vector_mul(vector,vector)',
	'function vector_concat(vector,vector)', 'function vector_lt(vector,vector)',
	'function vector_le(vector,vector)', 'function vector_eq(vector,vector)',
	'function vector_ne(vector,vector)', 'function vector_ge(vector,vector)',
	'function vector_gt(vector,vector)', 'function vector_cmp(vector,vector)',
	'function vector_l2_squared_distance(vector,vector)',
	'function vector_negative_inner_product(vector,vector)',
	'function vector_spherical_distance(vector,vector)'],
 $$SELECT l2_distance(a, b), inner_product(a, b), cosine_distance(a, b), l1_distance(a, b),
		  vector_dims(a), vector_norm(a), l2_normalize(a), binary_quantize(a), subvector(a, 1, 1),
		  a + b, a - b, a * b, a || b, a < b, a <= b, a = b, a <> b, a >= b, a > b,
		  a <-> b, a <#> b, a <=> b, a <+> b, vector_cmp(a, b), vector_l2_squared_distance(a, b),
		  vector_negative_inner_product(a, b), vector_spherical_distance(a, b)
   FROM (VALUES ('[1,2]'::vector, '[3,-4]'::vector)) t(a, b)$$, 'ok', 'ok', 'ok'),
('aggregates avg, sum', ARRAY['function avg(vector)', 'function sum(vector)',
	'function vector_accum(double precision[],vector)', 'function vector_avg(double precision[])',
	'function vector_combine(double precision[],double precision[])'],
 $$SELECT avg(v), sum(v), vector_avg(vector_combine(vector_accum('{0}', '[1,2]'), '{0}'))
   FROM (VALUES ('[1,2]'::vector), ('[3,4]')) t(v)$$, 'ok', 'ok', 'ok'),
('casts', ARRAY['function vector(vector,integer,boolean)',
	'function array_to_vector(integer[],integer,boolean)', 'function array_to_vector(real[],integer,boolean)',
	'function array_to_vector(double precision[],integer,boolean)',
	'function array_to_vector(numeric[],integer,boolean)', 'function vector_to_float4(vector,integer,boolean)'],
 $$SELECT '[1,2]'::vector::vector(2), '[1,2]'::vector::real[], ARRAY[1,2]::vector, ARRAY[1,2]::real[]::vector,
		  ARRAY[1,2]::float8[]::vector, ARRAY[1,2]::numeric[]::vector$$, 'ok', 'ok', 'ok'),
('the hnsw access method, its operator classes', ARRAY['access method hnsw', 'function hnswhandler(internal)'],
 $$CREATE TEMP TABLE pgi_priv_t (v vector(2)); INSERT INTO pgi_priv_t VALUES ('[1,2]'), ('[3,4]');
   CREATE INDEX ON pgi_priv_t USING hnsw (v vector_l2_ops);
   CREATE INDEX ON pgi_priv_t USING hnsw (v vector_cosine_ops) WITH (m = 4, ef_construction = 8);
   CREATE INDEX ON pgi_priv_t USING hnsw (v vector_ip_ops); CREATE INDEX ON pgi_priv_t USING hnsw (v vector_l1_ops);
   CREATE INDEX ON pgi_priv_t (v);
   SELECT v FROM pgi_priv_t ORDER BY v <-> '[1,1]' LIMIT 1; DROP TABLE pgi_priv_t$$, 'ok', 'ok', 'ok'),
('pg_input_is_valid, pg_input_error_info (PostgreSQL 15)', ARRAY['function pg_input_is_valid(text,text)',
	'function pg_input_error_info(text,text)'],
 $$SELECT pg_input_is_valid('[1,x]', 'vector'), (pg_input_error_info('[1,x]', 'vector')).sql_error_code$$,
 'ok', 'ok', 'ok');

-- inference: everyone (the registry's paths are read as the extension's owner)
INSERT INTO walk (what, objs, call, plain, admin, super) VALUES
('embed', ARRAY['function embed(text)', 'function embed(text,text,jsonb)', 'function embed(text,text[],jsonb)'],
 $$SELECT vector_dims(embed('pgi_priv_bert', 'a cat')), cardinality(embed('pgi_priv_bert', ARRAY['a', 'b'])),
		  vector_dims(embed('a dog'))$$, 'ok', 'ok', 'ok'),
('tokenize, detokenize, token_count', ARRAY['function tokenize(text,text)', 'function tokenize(text,jsonb)',
	'function detokenize(text,integer[])', 'function token_count(text,text)'],
 $$SELECT tokenize('pgi_priv_bert', 'a cat'), detokenize('pgi_priv_bert', ARRAY[5, 6]),
		  token_count('pgi_priv_bert', 'a cat'),
		  tokenize('pgi_priv_chat', '[{"role": "user", "content": "hi"}]'::jsonb)$$, 'ok', 'ok', 'ok'),
('classify, classify_scores, rerank', ARRAY['function classify(text,text)', 'function classify(text,text,text[],text)',
	'function classify_scores(text,text)', 'function classify_scores(text,text,text[],text)',
	'function rerank(text,text,text[])'],
 $$SELECT classify('pgi_priv_head', 'a b'), classify('pgi_priv_cls', 'a b'),
		  classify('pgi_priv_bert', 'a b', ARRAY['x', 'y']),
		  (SELECT count(*) FROM classify_scores('pgi_priv_cls', 'a b')),
		  (SELECT count(*) FROM classify_scores('pgi_priv_bert', 'a b', ARRAY['x', 'y'])),
		  (SELECT count(*) FROM rerank('pgi_priv_cls', 'q', ARRAY['d', 'e']))$$, 'ok', 'ok', 'ok'),
('extract_entities, answer', ARRAY['function extract_entities(text,text,boolean)',
	'function answer(text,text,text,integer,integer)'],
 $$SELECT (SELECT count(*) FROM extract_entities('pgi_priv_ner', 'a b c')),
		  (SELECT count(*) FROM answer('pgi_priv_qa', 'a', 'b c'))$$, 'ok', 'ok', 'ok'),
('generate, generate_tokens', ARRAY['function generate(text,text,integer,double precision,integer,double precision,bigint,text[])',
	'function generate(text,jsonb,integer,double precision,integer,double precision,bigint,text[])',
	'function generate_tokens(text,text,integer,double precision,integer,double precision,bigint,text[])',
	'function generate_tokens(text,jsonb,integer,double precision,integer,double precision,bigint,text[])'],
 $$SELECT generate('pgi_priv_gen', 'Once', max_tokens => 2),
		  generate('pgi_priv_chat', '[{"role": "user", "content": "hi"}]'::jsonb, max_tokens => 2),
		  (SELECT count(*) FROM generate_tokens('pgi_priv_gen', 'Once', max_tokens => 2)),
		  (SELECT count(*) FROM generate_tokens('pgi_priv_chat', '[{"role": "user", "content": "hi"}]'::jsonb, max_tokens => 2))$$,
 'ok', 'ok', 'ok'),
('embed_image, preprocess_image, logit_scale', ARRAY['function embed_image(text,bytea)',
	'function embed_image(text,bytea[])', 'function preprocess_image(text,bytea)', 'function logit_scale(text)'],
 $$SELECT vector_dims(embed_image('pgi_priv_clip', data)), cardinality(embed_image('pgi_priv_clip', ARRAY[data])),
		  cardinality(preprocess_image('pgi_priv_clip', data)), logit_scale('pgi_priv_clip')
   FROM pgi_priv_img$$, 'ok', 'ok', 'ok'),
('embed_trigger, classify_trigger in a trigger', ARRAY['function pg_infer.embed_trigger()',
	'function pg_infer.classify_trigger()'],
 $$CREATE TEMP TABLE pgi_priv_t (body text, emb vector, label text);
   CREATE TRIGGER e BEFORE INSERT OR UPDATE ON pgi_priv_t FOR EACH ROW
	   EXECUTE FUNCTION pg_infer.embed_trigger('pgi_priv_bert', 'body', 'emb');
   CREATE TRIGGER c BEFORE INSERT OR UPDATE ON pgi_priv_t FOR EACH ROW
	   EXECUTE FUNCTION pg_infer.classify_trigger('pgi_priv_head', 'body', 'label');
   INSERT INTO pgi_priv_t (body) VALUES ('a b'); DROP TABLE pgi_priv_t$$, 'ok', 'ok', 'ok'),
('embed_trigger, classify_trigger called directly', '{}',
 $$SELECT pg_infer.embed_trigger()$$, '39P01', '39P01', '39P01'),
('pg_infer.blas_info', ARRAY['function pg_infer.blas_info()'],
 $$SELECT * FROM pg_infer.blas_info()$$, 'ok', 'ok', 'ok'),
('pg_infer.cluster_models (every node''s models, read as the caller; here the local node only)',
 ARRAY['function pg_infer.cluster_models()'],
 $$SELECT count(*) FROM pg_infer.cluster_models()$$, 'ok', 'ok', 'ok'),
('pg_infer._fit_head (runs the query as the caller, stores nothing)', ARRAY['function pg_infer._fit_head(text,text,jsonb)'],
 $$SELECT dims FROM pg_infer._fit_head('pgi_priv_bert', 'SELECT body, label FROM pgi_priv_train', '{}')$$,
 'ok', 'ok', 'ok'),
('pg_infer._model_cached, pg_infer._shown_source (used by pg_infer.models)',
 ARRAY['function pg_infer._model_cached(text)', 'function pg_infer._shown_source(text)'],
 $$SELECT pg_infer._model_cached(repeat('0', 64)), pg_infer._shown_source('/a/b')$$, 'ok', 'ok', 'ok'),
('pg_infer._registry_changed called directly', ARRAY['function pg_infer._registry_changed()'],
 $$SELECT pg_infer._registry_changed()$$, '42501', '42501', '39P01'),
('pg_infer._registry_changed as a trigger on a table of one''s own', '{}',
 $$CREATE TEMP TABLE pgi_priv_t (i int);
   CREATE TRIGGER r AFTER INSERT ON pgi_priv_t FOR EACH STATEMENT EXECUTE FUNCTION pg_infer._registry_changed();
   INSERT INTO pgi_priv_t VALUES (1); DROP TABLE pgi_priv_t$$, '42501', '42501', 'ok');

-- the view, the tables, the schema
INSERT INTO walk (what, objs, call, plain, admin, super, undo) VALUES
('pg_infer.models: SELECT', ARRAY['view pg_infer.models'],
 $$SELECT * FROM pg_infer.models$$, 'ok', 'ok', 'ok', false),
('pg_infer.models: writes (not updatable)', '{}',
 $$DELETE FROM pg_infer.models WHERE false$$, '55000', '55000', '55000', false),
('pg_infer_model_registry: SELECT of all columns but source', ARRAY['table pg_infer_model_registry'],
 $$SELECT name, format, architecture, task, parameters, dims, max_tokens, vocab_size, dtype, bytes, sha256,
		  options, registered_at FROM pg_infer_model_registry$$, 'ok', 'ok', 'ok', false),
('pg_infer_model_registry: SELECT source', '{}',
 $$SELECT source FROM pg_infer_model_registry$$, '42501', '42501', 'ok', false),
('pg_infer_model_registry: SELECT *', '{}',
 $$SELECT * FROM pg_infer_model_registry$$, '42501', '42501', 'ok', false),
('pg_infer_model_registry: INSERT', '{}',
 $$INSERT INTO pg_infer_model_registry SELECT * FROM pg_infer_model_registry WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_model_registry: UPDATE', '{}',
 $$UPDATE pg_infer_model_registry SET options = '{}' WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_model_registry: DELETE', '{}',
 $$DELETE FROM pg_infer_model_registry WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_model_registry: TRUNCATE', '{}',
 $$TRUNCATE pg_infer_model_registry$$, '42501', '42501', 'ok', true),
('pg_infer_heads: SELECT', ARRAY['table pg_infer_heads'],
 $$SELECT * FROM pg_infer_heads$$, 'ok', 'ok', 'ok', false),
('pg_infer_heads: INSERT', '{}',
 $$INSERT INTO pg_infer_heads SELECT * FROM pg_infer_heads WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_heads: UPDATE', '{}',
 $$UPDATE pg_infer_heads SET options = '{}' WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_heads: DELETE', '{}',
 $$DELETE FROM pg_infer_heads WHERE false$$, '42501', '42501', 'ok', false),
('pg_infer_heads: TRUNCATE', '{}',
 $$TRUNCATE pg_infer_heads$$, '42501', '42501', 'ok', true),
('schema pg_infer: USAGE', ARRAY['schema pg_infer'],
 $$SELECT count(*) FROM pg_infer.models$$, 'ok', 'ok', 'ok', false),
('schema pg_infer: CREATE', '{}',
 $$CREATE FUNCTION pg_infer.pgi_priv_f() RETURNS int LANGUAGE sql AS 'SELECT 1'$$, '42501', '42501', 'ok', true);

-- the admin functions
INSERT INTO walk (what, objs, call, plain, admin, super) VALUES
('load_model', ARRAY['function load_model(text,text,jsonb)'],
 $$SELECT load_model('pgi_priv_tmp', 'tiny.gguf')$$, '42501', 'ok', 'ok'),
('load_model: a source outside pg_infer.model_dir', '{}',
 $$SELECT load_model('pgi_priv_out', '/etc/passwd')$$, '42501', '42501', '42501'),
('drop_model', ARRAY['function drop_model(text)'],
 $$SELECT drop_model('pgi_priv_tmp')$$, '42501', 'ok', 'ok'),
('unload_model', ARRAY['function unload_model(text)'],
 $$SELECT unload_model('pgi_priv_bert')$$, '42501', 'ok', 'ok'),
('train_classifier (with pg_infer._store_head)', ARRAY['function train_classifier(text,text,text,jsonb)'],
 $$SELECT train_classifier('pgi_priv_trained', 'pgi_priv_bert', 'SELECT body, label FROM pgi_priv_train');
   SELECT drop_model('pgi_priv_trained')$$, '42501', 'ok', 'ok'),
('pg_infer._store_head', ARRAY['function pg_infer._store_head(text,text,text,text[],integer,real[],jsonb,jsonb)'],
 $$SELECT pg_infer._store_head('pgi_priv_stored', 'pgi_priv_bert', repeat('0', 64), ARRAY['x', 'y'], 32,
							   array_fill(0::real, ARRAY[66]), '{}', '{}');
   SELECT drop_model('pgi_priv_stored')$$, '42501', 'ok', 'ok'),
('hnsw_check (any hnsw index of the database)', ARRAY['function hnsw_check(regclass)'],
 $$SELECT elements FROM hnsw_check('pg_temp.pgi_priv_vec_hnsw')$$, '42501', 'ok', 'ok'),
('pg_infer._inspect_model', ARRAY['function pg_infer._inspect_model(text)'],
 $$SELECT * FROM pg_infer._inspect_model('tiny.gguf')$$, '42501', '42501', 'ok'),
('pg_infer._model_evict', ARRAY['function pg_infer._model_evict(text)'],
 $$SELECT pg_infer._model_evict(repeat('0', 64))$$, '42501', '42501', 'ok'),
('pg_infer._source_exists', ARRAY['function pg_infer._source_exists(text)'],
 $$SELECT pg_infer._source_exists('tiny.gguf')$$, '42501', '42501', 'ok'),
('pg_infer._on_workers (runs on the Citus workers as the caller; here nothing)',
 ARRAY['function pg_infer._on_workers(text)'],
 $$SELECT count(*) FROM pg_infer._on_workers('SELECT 1')$$, '42501', '42501', 'ok');

-- settings (set to their current value: the check is on the right to set)
INSERT INTO walk (what, objs, call, plain, admin, super) VALUES
('SET pg_infer.model_dir', '{}',
 $$SELECT set_config('pg_infer.model_dir', current_setting('pg_infer.model_dir'), true)$$, '42501', '42501', 'ok'),
('SET pg_infer.max_image_pixels', '{}',
 $$SELECT set_config('pg_infer.max_image_pixels', current_setting('pg_infer.max_image_pixels'), true)$$, '42501', '42501', 'ok'),
('SET pg_infer.kv_cache_limit', '{}',
 $$SELECT set_config('pg_infer.kv_cache_limit', current_setting('pg_infer.kv_cache_limit'), true)$$, '42501', '42501', 'ok'),
('SET pg_infer.preload_models (postgresql.conf only)', '{}',
 $$SELECT set_config('pg_infer.preload_models', 'x', true)$$, '55P02', '55P02', '55P02'),
('SET the per-session settings', '{}',
 $$SELECT set_config(name, current_setting(name), true) FROM unnest(ARRAY['pg_infer.default_model',
		  'pg_infer.threads', 'pg_infer.max_batch_tokens', 'pg_infer.batch_rows', 'hnsw.ef_search',
		  'hnsw.iterative_scan', 'hnsw.max_scan_tuples', 'hnsw.scan_mem_multiplier']) name$$, 'ok', 'ok', 'ok'),
('SHOW pg_infer.model_dir (a server path)', '{}',
 $$SELECT current_setting('pg_infer.model_dir')$$, '42501', '42501', 'ok'),
('SHOW the other settings', '{}',
 $$SELECT current_setting(name) FROM pg_settings WHERE name ~ '^(pg_infer|hnsw)\.' AND name <> 'pg_infer.model_dir'$$,
 'ok', 'ok', 'ok');

-- one check of one row for the current role
CREATE FUNCTION pg_temp.check(what text, call text, want text, undo boolean, who text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	IF want = 'ok' AND undo THEN
		RETURN throws_ok(format('SELECT pg_temp.undone(%L)', call), 'P0001', 'undone', who || ': ' || what || ': allowed');
	ELSIF want = 'ok' THEN
		RETURN lives_ok(call, who || ': ' || what || ': allowed');
	END IF;
	RETURN throws_ok(call, want, NULL, who || ': ' || what || ': ' || want);
END
$$;

------------------------------------------------------------------------
-- the catalogue against the table
------------------------------------------------------------------------
CREATE TEMP TABLE ext AS
SELECT classid, objid, pg_describe_object(classid, objid, 0) AS d
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_infer');
SELECT is(ARRAY(SELECT d FROM ext WHERE classid IN ('pg_proc'::regclass, 'pg_class'::regclass,
				'pg_namespace'::regclass, 'pg_type'::regclass, 'pg_am'::regclass)
				EXCEPT SELECT unnest(objs) FROM walk ORDER BY 1), '{}'::text[],
	'every function, table, view, schema, type and access method of the extension has a row');
SELECT is(ARRAY(SELECT d FROM ext WHERE classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass,
				'pg_namespace'::regclass, 'pg_type'::regclass, 'pg_am'::regclass, 'pg_operator'::regclass,
				'pg_opclass'::regclass, 'pg_opfamily'::regclass, 'pg_cast'::regclass) ORDER BY 1), '{}'::text[],
	'no other kind of object (operators, casts and operator classes follow their functions)');
SELECT is(ARRAY(SELECT o FROM walk, unnest(objs) o EXCEPT SELECT d FROM ext
				EXCEPT SELECT unnest(ARRAY['function pg_input_is_valid(text,text)',
										   'function pg_input_error_info(text,text)'])
				WHERE current_setting('server_version_num')::int >= 160000 ORDER BY 1), '{}'::text[],
	'every object the table names exists');
SELECT is(ARRAY(SELECT o FROM walk, unnest(objs) o GROUP BY o HAVING count(*) > 1 ORDER BY 1), '{}'::text[],
	'each object has one row');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM ext JOIN pg_proc p ON p.oid = ext.objid
				WHERE ext.classid = 'pg_proc'::regclass AND p.prosecdef
				  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) ORDER BY 1),
	'{}'::text[], 'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');

-- EXECUTE as the table says, for every function of every row
CREATE TEMP TABLE pgi_priv_exec AS
SELECT r.role, w.what, e.d, has_function_privilege(r.role, e.objid, 'EXECUTE') AS has,
	   CASE r.role WHEN 'pgi_priv_plain' THEN w.plain WHEN 'pgi_priv_admin' THEN w.admin ELSE w.super END <> '42501' AS want
FROM walk w, unnest(w.objs) o JOIN ext e ON e.d = o AND e.classid = 'pg_proc'::regclass,
	 unnest(ARRAY['pgi_priv_plain', 'pgi_priv_admin', 'pgi_priv_super']) r(role);
SELECT is((SELECT count(DISTINCT d) FROM pgi_priv_exec), (SELECT count(*) FROM ext WHERE classid = 'pg_proc'::regclass),
	'EXECUTE: every function of the extension looked at');
SELECT is(ARRAY(SELECT role || ' ' || d || ': ' || CASE WHEN has THEN 'has' ELSE 'lacks' END || ' EXECUTE'
				FROM pgi_priv_exec WHERE has <> want ORDER BY 1), '{}'::text[],
	'every role has EXECUTE on exactly the functions its calls are not refused with 42501');

------------------------------------------------------------------------
-- walk the table, one role after the other
------------------------------------------------------------------------
SET ROLE pgi_priv_plain;
SELECT pg_temp.check(what, call, plain, undo, 'plain') FROM (SELECT * FROM walk ORDER BY n OFFSET 0) w;
RESET ROLE;
SET ROLE pgi_priv_admin;
SELECT pg_temp.check(what, call, admin, undo, 'admin') FROM (SELECT * FROM walk ORDER BY n OFFSET 0) w;
RESET ROLE;
SET ROLE pgi_priv_super;
SELECT pg_temp.check(what, call, super, undo, 'superuser') FROM (SELECT * FROM walk ORDER BY n OFFSET 0) w;
RESET ROLE;
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name IN ('pgi_priv_tmp', 'pgi_priv_trained', 'pgi_priv_stored')),
	0::bigint, 'the walk left no models of its own behind');

-- _inspect_model checks superuser() itself: granting EXECUTE is not enough
GRANT EXECUTE ON FUNCTION pg_infer._inspect_model(text) TO pgi_priv_admin;
SET ROLE pgi_priv_admin;
SELECT throws_ok($$SELECT * FROM pg_infer._inspect_model('tiny.gguf')$$, '42501', 'permission denied to read model files',
	'admin granted EXECUTE on pg_infer._inspect_model: still refused (superusers only)');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pg_infer._inspect_model(text) FROM pgi_priv_admin;

------------------------------------------------------------------------
-- who sees which paths
------------------------------------------------------------------------
SET ROLE pgi_priv_plain;
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'pgi_priv_bert'), 'bert/hf',
	'plain: pg_infer.models shows a source relative to pg_infer.model_dir');
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'pgi_priv_clip'), 'clip/clip_vision',
	'plain: ... a directory too');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE source LIKE '/%' OR source LIKE '%/../%'), 0::bigint,
	'plain: no model''s source is a server path (the bundled ones included)');
SELECT throws_ok($$SELECT name FROM pg_infer_model_registry WHERE source LIKE '/%'$$, '42501', NULL,
	'plain: the registry''s source column cannot be read, not even in WHERE');
RESET ROLE;
SET ROLE pgi_priv_admin;
SELECT is((SELECT count(*) FROM pg_infer.models WHERE source LIKE '/%'), 0::bigint,
	'admin: no model''s source is a server path either');
RESET ROLE;
SET ROLE pgi_priv_super;
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'pgi_priv_bert'),
	(SELECT source FROM pg_infer_model_registry WHERE name = 'pgi_priv_bert'), 'superuser: the full path');
SELECT ok((SELECT source LIKE '/%/bert/hf' FROM pg_infer.models WHERE name = 'pgi_priv_bert'), 'superuser: ... which is absolute');
RESET ROLE;
-- members of pg_read_server_files may read any file anyway: they see paths
GRANT pg_read_server_files TO pgi_priv_admin;
SET ROLE pgi_priv_admin;
SELECT ok((SELECT source LIKE '/%/bert/hf' FROM pg_infer.models WHERE name = 'pgi_priv_bert'),
	'a member of pg_read_server_files sees the full path');
RESET ROLE;
REVOKE pg_read_server_files FROM pgi_priv_admin;
-- a source outside the current pg_infer.model_dir: its last component only
DO $$BEGIN PERFORM set_config('pg_infer.model_dir', current_setting('pg_infer.model_dir') || '/clip', true); END$$;
SET ROLE pgi_priv_plain;
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'pgi_priv_bert'), 'hf',
	'plain: a source outside the current pg_infer.model_dir shows its last component only');
RESET ROLE;
DO $$BEGIN PERFORM set_config('pg_infer.model_dir', regexp_replace(current_setting('pg_infer.model_dir'), '/clip$', ''), true); END$$;

------------------------------------------------------------------------
-- clean up (the rollback undoes it all anyway)
------------------------------------------------------------------------
DO $$BEGIN PERFORM drop_model(name) FROM pg_infer.models WHERE name LIKE 'pgi\_priv\_%'; END$$;
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name LIKE 'pgi\_priv\_%'), 0::bigint, 'no models left');
REVOKE EXECUTE ON FUNCTION load_model(text, text, jsonb), drop_model(text), unload_model(text),
	train_classifier(text, text, text, jsonb),
	pg_infer._store_head(text, text, text, text[], integer, real[], jsonb, jsonb),
	hnsw_check(regclass) FROM pgi_priv_admin;
DROP TABLE pgi_priv_img, pgi_priv_train;
DROP ROLE pgi_priv_plain;
DROP ROLE pgi_priv_admin;
DROP ROLE pgi_priv_super;
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pgi\_priv\_%'), 0::bigint, 'no roles left');

SELECT * FROM finish();
ROLLBACK;
