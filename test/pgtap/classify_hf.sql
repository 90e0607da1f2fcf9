-- classify_hf.sql: classification heads of Hugging Face models
-- (BertForSequenceClassification: pooler + classifier, labels from
-- id2label).  Reference: bert/hf_cls of test/models/gen_bert.py, whose
-- reference.json has, per text, softmax(classifier(tanh(pooler(h_CLS))))
-- computed in float64 by NumPy (bert_ref.py), independently of pg_infer.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();

\ir lib/bert_cases.sql
SELECT ok((SELECT count(*) FROM cases WHERE c ? 'cls_probs') >= 20, 'setup: reference probabilities loaded');
SELECT lives_ok($$SELECT load_model('hfcls', 'bert/hf_cls')$$, 'a BertForSequenceClassification directory registers');
SELECT lives_ok($$SELECT load_model('bert_plain', 'bert/hf')$$, 'and its encoder alone (BertModel)');
SELECT is((SELECT task || ' ' || architecture FROM pg_infer.models WHERE name = 'hfcls'), 'classification bert',
	'pg_infer.models: task classification');

-- every reference text: the three probabilities, and the label
CREATE TEMP TABLE got AS
SELECT n, s.label, s.score, (c->'cls_probs'->>(CASE s.label WHEN 'negative' THEN 0 WHEN 'neutral' THEN 1 ELSE 2 END))::float8 AS want
FROM cases CROSS JOIN LATERAL classify_scores('hfcls', body) s;
SELECT is((SELECT count(*) FROM got), 3 * (SELECT count(*) FROM cases), 'three labels per text');
SELECT cmp_ok((SELECT max(abs(score - want)) FROM got), '<', 1e-4::float8,
	'classify_scores equals the float64 reference to 1e-4 on every text (max diff ' ||
	(SELECT to_char(max(abs(score - want)), '9.9EEEE') FROM got) || ')');
SELECT is((SELECT count(*) FROM cases
		   WHERE classify('hfcls', body) <> (SELECT label FROM got g WHERE g.n = cases.n ORDER BY want DESC LIMIT 1)),
	0::bigint, 'classify is the reference''s most likely label on every text');
SELECT is(ARRAY(SELECT label FROM classify_scores('hfcls', 'the cat sat on the mat.') ORDER BY label),
	ARRAY['negative', 'neutral', 'positive'], 'labels from config.json id2label');

-- over a table: batched, each as alone
CREATE TEMP TABLE batched AS SELECT n, classify('hfcls', body) AS g FROM cases;
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE alone AS SELECT n, classify('hfcls', body) AS g FROM cases;
RESET pg_infer.batch_rows;
SELECT is((SELECT count(*) FROM batched JOIN alone USING (n) WHERE batched.g = alone.g), (SELECT count(*) FROM cases),
	'rows classified together: each label as alone');

-- the encoder under the head still embeds
SELECT is(vector_dims(embed('hfcls', 'the cat')), 32, 'embed() on a classification model: its encoder''s embedding');
SELECT ok((SELECT bool_and(pg_temp.err(embed('hfcls', body), c->'reference'->'mean_normalized') < 1e-5)
		   FROM cases), '... equal to the reference''s (same encoder as bert/hf)');

-- a trigger with a model's head
CREATE TEMP TABLE t (body text, label text);
CREATE TRIGGER l BEFORE INSERT OR UPDATE ON t FOR EACH ROW
	EXECUTE FUNCTION pg_infer.classify_trigger('hfcls', 'body', 'label');
INSERT INTO t SELECT body FROM cases;
SELECT is((SELECT count(*) FROM t JOIN alone a ON true JOIN cases c ON c.n = a.n AND c.body = t.body WHERE t.label = a.g),
	(SELECT count(*) FROM cases), 'classify_trigger labels rows with the model''s head');

-- rerank: (query, document) pairs as [CLS] q [SEP] d [SEP] with token types,
-- truncated longest-first; score: the last label's probability (3 labels)
CREATE TEMP TABLE pairs AS
SELECT n, p->>'query' AS q, p->>'doc' AS d, (p->'probs'->>2)::float8 AS want
FROM ref, jsonb_array_elements(j->'pairs') WITH ORDINALITY AS t(p, n);
SELECT ok((SELECT count(*) FROM pairs) >= 8, 'setup: reference pairs loaded');
SELECT cmp_ok((SELECT max(abs(r.score - want)) FROM pairs CROSS JOIN LATERAL rerank('hfcls', q, ARRAY[d]) r),
	'<', 1e-4::float8, 'rerank equals the float64 reference on every pair (short, truncated either side, both) (max diff ' ||
	(SELECT to_char(max(abs(r.score - want)), '9.9EEEE') FROM pairs CROSS JOIN LATERAL rerank('hfcls', q, ARRAY[d]) r) || ')');
SELECT is(ARRAY(SELECT idx FROM rerank('hfcls', 'red bicycle',
										ARRAY[(SELECT d FROM pairs WHERE n = 2), NULL, (SELECT d FROM pairs WHERE n = 1)])),
	(SELECT CASE WHEN a.want >= b.want THEN ARRAY[3, 1] ELSE ARRAY[1, 3] END FROM pairs a, pairs b WHERE a.n = 1 AND b.n = 2),
	'rerank orders documents by score, idx into the array, NULL documents skipped');
SELECT is((SELECT count(*) FROM rerank('hfcls', 'q', ARRAY[]::text[])), 0::bigint, 'no documents, no rows');
SELECT throws_ok($$SELECT * FROM rerank('bert_plain', 'q', ARRAY['d'])$$, '0A000', NULL,
	'rerank with a model without a head: 0A000');

-- a head whose shape disagrees with config.json is refused at registration
SELECT throws_ok($$SELECT load_model('hfcls_bad', 'bert_cls_bad')$$, 'XX001', NULL,
	'a classifier of the wrong shape: refused with XX001');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name = 'hfcls_bad'), 0::bigint, '... and not registered');

SELECT drop_model('hfcls');
SELECT drop_model('bert_plain');
SELECT * FROM finish();
