-- lib/bert_cases.sql (\ir from a pgTAP file): the reference cases of the
-- random-weight BERT in bert/ (test/models/gen_bert.py, computed in float64 by
-- test/models/bert_ref.py independently of pg_infer) as table cases (n, name,
-- body, ids, c), and pg_temp.err / pg_temp.cos against a JSON array.
--
-- PostgreSQL text cannot hold NUL: the reference case with U+0000 is left
-- to the C tests (the escape is replaced by a marker, then the case dropped)
CREATE TEMP TABLE ref AS
SELECT replace(pg_read_file(current_setting('pg_infer.model_dir') || '/bert/reference.json'),
			   '\u0000', '<NUL>')::jsonb AS j;
CREATE TEMP TABLE cases AS
SELECT n, c->>'name' AS name, c->>'text' AS body,
	   ARRAY(SELECT jsonb_array_elements_text(c->'ids')::int) AS ids, c
FROM ref, jsonb_array_elements(j->'cases') WITH ORDINALITY AS t(c, n)
WHERE position('<NUL>' in c->>'text') = 0;

\ir compare.sql
