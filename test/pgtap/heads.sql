-- heads.sql: the token heads of Hugging Face models (extract_entities on a
-- BertForTokenClassification, answer on a BertForQuestionAnswering) and
-- sequence-classification heads in llama.cpp's GGUF spelling.
--
-- References: bert/hf_ner, bert/hf_qa and the bert-cls*.gguf files of
-- test/models/gen_bert.py, whose reference.json holds, per text, the
-- entities and answers computed in float64 by test/models/bert_ref.py with
-- Hugging Face's pipelines' post-processing written from their documented
-- behaviour (token classification, aggregation "simple"; question answering
-- with its defaults), independently of pg_infer; the character offsets are
-- also checked against Hugging Face tokenizers (npm) by prepare_models.sh.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

CREATE TEMP TABLE ref AS
SELECT replace(pg_read_file(current_setting('pg_infer.model_dir') || '/bert/reference.json'),
			   '\u0000', '<NUL>')::jsonb AS j;
CREATE TEMP TABLE ner AS
SELECT n, t->>'name' AS name, t->>'text' AS body, (t->>'truncated')::bool AS truncated, t
FROM ref, jsonb_array_elements(j->'ner'->'texts') WITH ORDINALITY AS x(t, n)
WHERE position('<NUL>' in t->>'text') = 0;
CREATE TEMP TABLE qa AS
SELECT n, p->>'name' AS name, p->>'question' AS question, p->>'context' AS context, p->>'error' AS error, p
FROM ref, jsonb_array_elements(j->'qa'->'pairs') WITH ORDINALITY AS x(p, n);
SELECT cmp_ok((SELECT count(*) FROM ner), '>=', 30::bigint, 'setup: NER reference texts loaded');
SELECT cmp_ok((SELECT count(*) FROM qa), '>=', 20::bigint, 'setup: QA reference pairs loaded');

SELECT lives_ok($$SELECT load_model('ner', 'bert/hf_ner')$$, 'a BertForTokenClassification directory registers');
SELECT lives_ok($$SELECT load_model('qa', 'bert/hf_qa')$$, 'a BertForQuestionAnswering directory registers');
SELECT is((SELECT string_agg(name || ':' || task, ',' ORDER BY name) FROM pg_infer.models WHERE name IN ('ner', 'qa')),
	'ner:token-classification,qa:question-answering', 'pg_infer.models: their tasks');

------------------------------------------------------------------------
-- extract_entities against the reference
------------------------------------------------------------------------
CREATE TEMP TABLE want_e AS
SELECT ner.n, e.ord, e.x->>'entity' AS entity, e.x->>'label' AS label, (e.x->>'start')::int AS start,
	   (e.x->>'end')::int AS "end", (e.x->>'score')::float8 AS score
FROM ner, jsonb_array_elements(t->'entities') WITH ORDINALITY AS e(x, ord);
CREATE TEMP TABLE got_e AS
SELECT ner.n, g.ord, g.entity, g.label, g.start, g."end", g.score
FROM ner, LATERAL (SELECT r.*, row_number() OVER () AS ord
				   FROM extract_entities('ner', ner.body, truncate => ner.truncated) r) g;
SELECT cmp_ok((SELECT count(*) FROM want_e), '>=', 100::bigint, 'the reference has entities to find');
SELECT is((SELECT count(*) FROM got_e), (SELECT count(*) FROM want_e), 'as many entities as the reference');
SELECT is((SELECT count(*) FROM want_e w JOIN got_e g USING (n, ord)
		   WHERE w.entity = g.entity AND w.label = g.label AND w.start = g.start AND w."end" = g."end"),
	(SELECT count(*) FROM want_e), 'every entity: text, type and character offsets as the reference''s, in order');
SELECT cmp_ok((SELECT max(abs(w.score - g.score)) FROM want_e w JOIN got_e g USING (n, ord)), '<', 1e-4::float8,
	'scores (mean token probability) within 1e-4 (max diff ' ||
	(SELECT to_char(max(abs(w.score - g.score)), '9.9EEEE') FROM want_e w JOIN got_e g USING (n, ord)) || ')');
SELECT ok((SELECT bool_and(substr(body, start + 1, "end" - start) = entity) FROM got_e JOIN ner USING (n)),
	'substr(input, start + 1, "end" - start) is the entity');
SELECT cmp_ok((SELECT count(*) FROM got_e WHERE position(' ' in entity) > 0), '>', 0::bigint,
	'some entities span several words');
SELECT cmp_ok((SELECT count(DISTINCT label) FROM got_e), '=', 4::bigint, 'four entity types found');
SELECT ok((SELECT count(*) > 0 FROM ner WHERE body ~ '[^\x01-\x7f]' AND n IN (SELECT n FROM got_e)),
	'texts with non-ASCII characters are among them (offsets in characters, not bytes)');

-- over-long input: an ERROR unless truncated
SELECT throws_ok(format($$SELECT * FROM extract_entities('ner', %L)$$, (SELECT body FROM ner WHERE truncated LIMIT 1)),
	'54000', NULL, 'an input longer than the model accepts: 54000');
SELECT throws_ok($$SELECT * FROM extract_entities('qa', 'a b')$$, '0A000', NULL,
	'extract_entities on a model without a token-classification head: 0A000');
SELECT is((SELECT count(*) FROM extract_entities('ner', '')), 0::bigint, 'an empty input has no entities');
SELECT is((SELECT count(*) FROM extract_entities('ner', NULL)), 0::bigint, 'NULL: no rows (STRICT)');

------------------------------------------------------------------------
-- answer against the reference
------------------------------------------------------------------------
CREATE TEMP TABLE want_a AS
SELECT qa.n, k, a.ord, a.x->>'answer' AS answer, (a.x->>'start')::int AS start, (a.x->>'end')::int AS "end",
	   (a.x->>'score')::float8 AS score
FROM qa, (VALUES (1), (3)) AS kk(k),
	 jsonb_array_elements(p->'answers_hf'->('top' || k)) WITH ORDINALITY AS a(x, ord)
WHERE error IS NULL AND jsonb_typeof(p->'answers_hf'->('top' || k)) = 'array';
CREATE TEMP TABLE got_a AS
SELECT qa.n, k, g.ord, g.answer, g.start, g."end", g.score
FROM qa, (VALUES (1), (3)) AS kk(k),
	 LATERAL (SELECT r.*, row_number() OVER () AS ord FROM answer('qa', qa.question, qa.context, top_k => k) r) g
WHERE error IS NULL AND jsonb_typeof(p->'answers_hf'->('top' || k)) = 'array';
SELECT cmp_ok((SELECT count(DISTINCT n) FROM want_a WHERE k = 1), '>=', 18::bigint, 'reference answers for the pairs');
SELECT is((SELECT count(*) FROM got_a), (SELECT count(*) FROM want_a), 'as many answers as the reference (top 1 and top 3)');
SELECT is((SELECT count(*) FROM want_a w JOIN got_a g USING (n, k, ord)
		   WHERE w.answer = g.answer AND w.start = g.start AND w."end" = g."end"),
	(SELECT count(*) FROM want_a), 'every answer: text and character offsets as the reference''s, in order');
SELECT cmp_ok((SELECT max(abs(w.score - g.score) / w.score) FROM want_a w JOIN got_a g USING (n, k, ord)), '<', 1e-4::float8,
	'scores within 1e-4 relative (max ' ||
	(SELECT to_char(max(abs(w.score - g.score) / w.score), '9.9EEEE') FROM want_a w JOIN got_a g USING (n, k, ord)) || ')');
SELECT ok((SELECT bool_and(substr(context, start + 1, "end" - start) = answer) FROM got_a JOIN qa USING (n)),
	'substr(context, start + 1, "end" - start) is the answer');
SELECT cmp_ok((SELECT count(*) FROM qa WHERE error IS NULL AND jsonb_array_length(p->'windows') > 1
			   AND n IN (SELECT n FROM got_a)), '>=', 3::bigint, 'contexts read in several windows are among them');

-- a long question with little room: windows still advance (no reference: Hugging Face fails here)
SELECT ok((SELECT count(*) > 0 AND bool_and(substr(qa.context, r.start + 1, r."end" - r.start) = r.answer)
		   FROM qa, answer('qa', qa.question, qa.context, top_k => 3) r WHERE qa.error = 'stride_not_below_room'),
	'a question leaving less room than the stride: answers, at their offsets');
SELECT throws_ok(format($$SELECT * FROM answer('qa', %L, %L)$$,
					(SELECT question FROM qa WHERE error = 'question_too_long'), (SELECT context FROM qa WHERE error = 'question_too_long')),
	'54000', NULL, 'a question leaving no room for the context: 54000');
SELECT throws_ok($$SELECT * FROM answer('qa', 'a', 'b', top_k => 0)$$, '22023', NULL, 'top_k 0: 22023');
SELECT throws_ok($$SELECT * FROM answer('qa', 'a', 'b', max_answer_len => 0)$$, '22023', NULL, 'max_answer_len 0: 22023');
SELECT throws_ok($$SELECT * FROM answer('ner', 'a', 'b')$$, '0A000', NULL, 'answer on a model without a QA head: 0A000');
SELECT is((SELECT count(*) FROM answer('qa', 'what', '')), 0::bigint, 'an empty context has no answer');
SELECT throws_ok($$SELECT classify('ner', 'a b')$$, '0A000', NULL, 'classify on a token-classification model: 0A000');
SELECT is(vector_dims(embed('qa', 'a b')), 32, 'embed() on a head model: its encoder''s embedding');

------------------------------------------------------------------------
-- sequence-classification heads in llama.cpp's GGUF spelling
------------------------------------------------------------------------
DROP TABLE ref;
\ir lib/bert_cases.sql
SELECT lives_ok($$SELECT load_model('gg_pool', 'bert/bert-cls-pooler.gguf')$$, 'a GGUF with cls + cls.output registers');
SELECT lives_ok($$SELECT load_model('gg_out', 'bert/bert-cls-out.gguf')$$, 'a GGUF with cls.output only registers');
SELECT is(ARRAY(SELECT label FROM classify_scores('gg_pool', 'a b') ORDER BY label), ARRAY['negative', 'neutral', 'positive'],
	'labels from bert.classifier.output_labels');
SELECT is(ARRAY(SELECT label FROM classify_scores('gg_out', 'a b') ORDER BY label), ARRAY['LABEL_0', 'LABEL_1', 'LABEL_2'],
	'LABEL_i without them');
CREATE TEMP TABLE gg AS
SELECT n, s.label, s.score,
	   (c->'cls_probs'->>(CASE s.label WHEN 'negative' THEN 0 WHEN 'neutral' THEN 1 ELSE 2 END))::float8 AS want
FROM cases CROSS JOIN LATERAL classify_scores('gg_pool', body) s;
SELECT cmp_ok((SELECT max(abs(score - want)) FROM gg), '<', 1e-4::float8,
	'cls + cls.output: probabilities equal the float64 reference of tanh-pooled [CLS] (as hf_cls) (max diff ' ||
	(SELECT to_char(max(abs(score - want)), '9.9EEEE') FROM gg) || ')');
CREATE TEMP TABLE gg2 AS
SELECT n, s.label, s.score, (c->'cls_out_probs'->>(substr(s.label, 7)::int))::float8 AS want
FROM cases CROSS JOIN LATERAL classify_scores('gg_out', body) s;
SELECT is((SELECT count(*) FROM gg2), 3 * (SELECT count(*) FROM cases), 'cls.output only: three labels per text');
SELECT cmp_ok((SELECT max(abs(score - want)) FROM gg2), '<', 1e-4::float8,
	'cls.output only: probabilities equal the float64 reference of the raw [CLS] row (no pooler, as llama.cpp) (max diff ' ||
	(SELECT to_char(max(abs(score - want)), '9.9EEEE') FROM gg2) || ')');
SELECT is((SELECT count(*) FROM rerank('gg_out', 'query', ARRAY['a', 'b', NULL])), 2::bigint, 'rerank runs on a GGUF head');
SELECT is((SELECT string_agg(task, ',') FROM pg_infer.models WHERE name IN ('gg_pool', 'gg_out')),
	'classification,classification', 'pg_infer.models: task classification');

SELECT drop_model(m) FROM unnest(ARRAY['ner', 'qa', 'gg_pool', 'gg_out']) m;
SELECT * FROM finish();
