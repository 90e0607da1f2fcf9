-- tokenize_spm.sql: SentencePiece through a GGUF llama vocabulary
-- (stories260K.gguf from ../shared/models, copied by test/prepare_models.sh
-- with reference ids from Python's sentencepiece on the model's tok512.model);
-- skipped where ../shared is absent.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/register_if.sql
CREATE TEMP TABLE have AS SELECT pg_temp.register_if('stories_ref.json', 'stories', 'stories260K.gguf') AS ok;

CREATE FUNCTION pg_temp.run() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	IF NOT (SELECT ok FROM have) THEN
		RETURN NEXT skip('../shared/models/stories260K is absent', 6);
		RETURN;
	END IF;
	CREATE TEMP TABLE sref AS
	SELECT r->>'text' AS body, ARRAY(SELECT jsonb_array_elements_text(r->'ids')::int) AS ids
	FROM jsonb_array_elements(pg_read_file(current_setting('pg_infer.model_dir') || '/stories_ref.json')::jsonb) r;
	RETURN NEXT is((SELECT count(*) FROM sref), 200::bigint, 'reference strings');
	RETURN NEXT is((SELECT count(*) FROM sref WHERE tokenize('stories', body) <> ids), 0::bigint,
		'tokenize(GGUF llama vocabulary): ids equal sentencepiece''s (BOS first)');
	RETURN NEXT is((SELECT count(*) FROM sref WHERE token_count('stories', body) <> cardinality(ids)), 0::bigint,
		'token_count counts BOS');
	RETURN NEXT is(detokenize('stories', tokenize('stories', 'Once upon a time, there was a little girl.')),
		'Once upon a time, there was a little girl.', 'detokenize inverts tokenize');
	RETURN NEXT throws_ok($q$SELECT embed('stories', 'x')$q$, '0A000', NULL, 'embed on a tokenizer-only model');
	RETURN NEXT throws_ok($q$SELECT detokenize('stories', ARRAY[99999])$q$, '22023', NULL, 'detokenize: id out of range');
	PERFORM drop_model('stories');
END
$$;
SELECT * FROM pg_temp.run();
SELECT * FROM finish();
