-- registry.sql: load_model / drop_model / pg_infer.models, path confinement,
-- validation of model files, name-to-content binding, privileges.
--
-- Needs pg_infer.model_dir = build/test_models, laid out by
-- test/prepare_models.sh (the test command passes it in PGOPTIONS).
-- Expected facts come from the fixture generator (test/unit/gen_fixtures.py:
-- tiny.gguf is a llama-architecture GGUF of 3464 bytes with embedding length
-- 4) and from the config.json that prepare_models.sh writes; file hashes
-- are compared with PostgreSQL's own sha256() of the file's bytes.  The
-- bundled models CREATE EXTENSION registers when their files are in the
-- directory (use-lite, stories, scenes) are left out of the counts.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
BEGIN;
SELECT plan(50);

SELECT isnt(current_setting('pg_infer.model_dir'), '', 'setup: pg_infer.model_dir is set');
CREATE TEMP TABLE pgi_dir AS SELECT current_setting('pg_infer.model_dir') AS d;

------------------------------------------------------------------------
-- registering
------------------------------------------------------------------------
SELECT lives_ok($$SELECT load_model('tiny', 'tiny.gguf')$$, 'a GGUF file registers');
SELECT is((SELECT format || ' ' || architecture || ' ' || task FROM pg_infer.models WHERE name = 'tiny'),
	'gguf llama generation', 'GGUF: format, architecture, task');
SELECT is((SELECT dims FROM pg_infer.models WHERE name = 'tiny'), 4, 'GGUF: dims from llama.embedding_length');
SELECT is((SELECT bytes FROM pg_infer.models WHERE name = 'tiny'), 3464::bigint, 'GGUF: bytes');
SELECT is((SELECT sha256 FROM pg_infer.models WHERE name = 'tiny'),
	(SELECT encode(sha256(pg_read_binary_file(d || '/tiny.gguf')), 'hex') FROM pgi_dir),
	'GGUF: sha256 is the file''s sha256');
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'tiny'),
	(SELECT d || '/tiny.gguf' FROM pgi_dir), 'source is the canonical path');
SELECT is((SELECT loaded FROM pg_infer.models WHERE name = 'tiny'), false, 'not loaded yet');
SELECT ok((SELECT parameters > 0 FROM pg_infer.models WHERE name = 'tiny'), 'GGUF: parameters counted');

SELECT lives_ok($$SELECT load_model('hf', 'hf', '{"note": "x"}')$$, 'a Hugging Face directory registers');
SELECT is((SELECT format || ' ' || architecture || ' ' || task || ' ' || dtype FROM pg_infer.models WHERE name = 'hf'),
	'safetensors bert embedding F32', 'HF: format, architecture, task, dtype');
SELECT is((SELECT ARRAY[dims, max_tokens, vocab_size] FROM pg_infer.models WHERE name = 'hf'),
	ARRAY[32, 64, 512], 'HF: dims, max_tokens, vocab_size from config.json');
SELECT is((SELECT options FROM pg_infer.models WHERE name = 'hf'), '{"note": "x"}'::jsonb, 'HF: options kept');
SELECT is((SELECT bytes FROM pg_infer.models WHERE name = 'hf'),
	(SELECT sum((pg_stat_file(d || '/hf/' || f)).size)::bigint FROM pgi_dir,
	 unnest(ARRAY['config.json', 'model.safetensors', 'vocab.txt']) f), 'HF: bytes of its files');
SELECT lives_ok($$SELECT load_model('inside', 'inside_link.gguf')$$, 'a symlink staying inside the directory is fine');
SELECT lives_ok($$SELECT load_model('sub', 'sub/tiny_copy.gguf')$$, 'subdirectories are fine');
SELECT lives_ok(format($$SELECT load_model('abs', %L)$$, (SELECT d || '/tiny.gguf' FROM pgi_dir)),
	'an absolute path inside the directory is fine');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')), 5::bigint, 'five models registered');

------------------------------------------------------------------------
-- refused sources: nothing is registered
------------------------------------------------------------------------
SELECT throws_ok($$SELECT load_model('x', 'escape.gguf')$$, '42501', NULL, 'a symlink out of the directory is refused');
SELECT throws_ok($$SELECT load_model('x', '../../../../../../etc/passwd')$$, '42501', NULL, '.. out of the directory is refused');
SELECT throws_ok($$SELECT load_model('x', '/etc/passwd')$$, '42501', NULL, 'an absolute path elsewhere is refused');
SELECT throws_ok($$SELECT load_model('x', 'missing.gguf')$$, '58P01', NULL, 'a missing file');
SELECT throws_ok($$SELECT load_model('x', 'truncated.gguf')$$, 'XX001', NULL, 'a truncated GGUF is rejected');
SELECT throws_ok($$SELECT load_model('x', 'notes.txt')$$, '22023',
	'model source "notes.txt" is not a GGUF file or a model directory', 'a file that is no model');
SELECT throws_ok($$SELECT load_model('x', 'empty.gguf')$$, '22023', NULL, 'an empty file');
SELECT throws_ok($$SELECT load_model('x', 'hf_notok')$$, 'XX001', 'model directory has no tokenizer',
	'a model directory without tokenizer');
SELECT throws_ok($$SELECT load_model('x', 'hf_badshape')$$, 'XX001',
	'tensor "embeddings.word_embeddings.weight" should have shape (512, 64)',
	'a BERT directory whose weights do not match config.json');
SELECT throws_ok($$SELECT load_model('x', 'hf_badvocab')$$, 'XX001',
	'tokenizer has 100 tokens but config.json says vocab_size 512',
	'a BERT directory whose vocabulary does not match the embedding matrix');
SELECT throws_ok($$SELECT load_model('x', '')$$, '22023', 'model source must not be empty', 'an empty source');
SELECT throws_ok($$SELECT load_model('bad name!', 'tiny.gguf')$$, '22023', 'invalid model name "bad name!"', 'an invalid name');
SELECT throws_ok($$SELECT load_model('x', 'tiny.gguf', '[1]')$$, '22023', 'model options must be a JSON object', 'options must be an object');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')), 5::bigint, 'nothing registered by the failures');
SELECT throws_ok($$SET LOCAL pg_infer.model_dir = ''; SELECT load_model('x', 'tiny.gguf')$$, '55000',
	'pg_infer.model_dir is not set', 'no model directory, no models');

------------------------------------------------------------------------
-- a name stays bound to its content
------------------------------------------------------------------------
SELECT lives_ok($$SELECT load_model('tiny', 'tiny.gguf')$$, 'same name, same content: fine');
SELECT throws_ok($$SELECT load_model('tiny', 'tiny_v2.gguf')$$, '42710',
	'model "tiny" is already registered with different content', 'same name, other content: refused');
SELECT lives_ok($$SELECT load_model('tiny', 'tiny_v2.gguf', '{"force": true}')$$, 'forced rebinding');
SELECT is((SELECT sha256 FROM pg_infer.models WHERE name = 'tiny'),
	(SELECT encode(sha256(pg_read_binary_file(d || '/tiny_v2.gguf')), 'hex') FROM pgi_dir),
	'the name now refers to the new content');
SELECT lives_ok($$SELECT drop_model('abs')$$, 'drop_model');
SELECT throws_ok($$SELECT drop_model('abs')$$, '42704', 'model "abs" does not exist', 'dropping an unknown model');

------------------------------------------------------------------------
-- privileges
------------------------------------------------------------------------
CREATE ROLE pgi_tap_user NOLOGIN;
SET LOCAL ROLE pgi_tap_user;
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')), 4::bigint, 'anyone can see the models');
SELECT is((SELECT source FROM pg_infer.models WHERE name = 'sub'), 'sub/tiny_copy.gguf',
	'... with sources relative to the model directory, not server paths');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE source LIKE '/%'), 0::bigint, '... for every model');
SELECT throws_ok($$SELECT source FROM pg_infer_model_registry$$, '42501', NULL,
	'nor read the registry''s paths directly');
SELECT lives_ok($$SELECT name, sha256 FROM pg_infer_model_registry$$, '... though its other columns are public');
SELECT throws_ok($$SELECT load_model('y', 'tiny.gguf')$$, '42501', NULL, 'a normal user cannot load models');
SELECT throws_ok($$SELECT drop_model('tiny')$$, '42501', NULL, 'nor drop them');
SELECT throws_ok($$SELECT * FROM pg_infer._inspect_model('tiny.gguf')$$, '42501', NULL, 'nor inspect files');
SELECT throws_ok($$DELETE FROM pg_infer_model_registry$$, '42501', NULL, 'nor write the registry');
SELECT throws_ok($$SET pg_infer.model_dir = '/'$$, '42501', NULL, 'nor move the model directory');
RESET ROLE;
GRANT EXECUTE ON FUNCTION load_model(text, text, jsonb) TO pgi_tap_user;
SET LOCAL ROLE pgi_tap_user;
SELECT lives_ok($$SELECT load_model('granted', 'tiny.gguf')$$, 'a role granted load_model can register');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
