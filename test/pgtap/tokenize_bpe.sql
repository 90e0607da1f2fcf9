-- tokenize_bpe.sql: byte-level BPE through a GGUF gpt2 vocabulary, against
-- Hugging Face tokenizers (test/prepare_models.sh writes bpe_ref.json from
-- the files of test/tokenizer/parity_bpe.sh, which runs first); skipped
-- where they are absent.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/register_if.sql
CREATE TEMP TABLE have AS SELECT pg_temp.register_if('bpe_ref.json', 'gpt2-vocab', 'bpe_gpt2.gguf') AS ok;

CREATE FUNCTION pg_temp.run() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	IF NOT (SELECT ok FROM have) THEN
		RETURN NEXT skip('the BPE parity files are absent (test/tokenizer/parity_bpe.sh makes them)', 4);
		RETURN;
	END IF;
	CREATE TEMP TABLE bref AS
	SELECT r->>'text' AS body, ARRAY(SELECT jsonb_array_elements_text(r->'ids')::int) AS ids,
		   r->>'decoded' AS decoded
	FROM jsonb_array_elements(pg_read_file(current_setting('pg_infer.model_dir') || '/bpe_ref.json')::jsonb) r;
	RETURN NEXT cmp_ok((SELECT count(*) FROM bref), '>=', 300::bigint, 'reference strings');
	RETURN NEXT is((SELECT count(*) FROM bref WHERE tokenize('gpt2-vocab', body) <> ids), 0::bigint,
		'tokenize(GGUF gpt2 vocabulary): ids equal Hugging Face tokenizers''');
	RETURN NEXT is((SELECT count(*) FROM bref WHERE detokenize('gpt2-vocab', ids) <> decoded), 0::bigint,
		'detokenize equals Hugging Face''s decode (special tokens skipped)');
	RETURN NEXT throws_ok($q$SELECT embed('gpt2-vocab', 'x')$q$, '0A000', NULL, 'no embeddings from a tokenizer-only model');
END
$$;
SELECT * FROM pg_temp.run();
SELECT * FROM finish();
SELECT drop_model('gpt2-vocab') FROM have WHERE ok;
