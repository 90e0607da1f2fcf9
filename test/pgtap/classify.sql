-- classify.sql: heads trained in SQL (train_classifier, classify,
-- classify_scores), zero-shot labels, and the embed / classify triggers,
-- on use-lite.  References: the head's stored weights applied to embed()
-- in plain SQL (softmax of W x + b), cosine similarities from the <=>
-- operator; the trainer's agreement with scikit-learn is checked in
-- test/unit/test_softmax_head.c.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();
\ir lib/plan.sql

-- use-lite from build/models (./pg_infer.sh models fetches it), registered
-- in its own statement (see use_lite.sql)
SELECT (pg_stat_file(regexp_replace(current_setting('pg_infer.model_dir'), '/test_models/?$', '/models')
					 || '/use-lite/model.json', true)).size IS NOT NULL AS have_use \gset
\if :have_use
-- this file reads only use-lite: the model directory is build/models for the
-- session (a model's files are read where its registration points, inside
-- the directory in force when it is first used)
DO $$
BEGIN
	PERFORM set_config('pg_infer.model_dir',
					   regexp_replace(current_setting('pg_infer.model_dir'), '/test_models/?$', '/models'), false);
	IF NOT EXISTS (SELECT 1 FROM pg_infer.models WHERE name = 'use-lite') THEN
		PERFORM load_model('use-lite', 'use-lite');
	END IF;
END
$$;

CREATE TEMP TABLE train (body text, label text);
INSERT INTO train VALUES
 ('I love pizza and pasta', 'food'), ('Sushi is my favourite dish', 'food'), ('The soup was delicious', 'food'),
 ('Bake a chocolate cake', 'food'), ('Fresh bread from the oven', 'food'), ('A salad with tomatoes', 'food'),
 ('The striker scored a goal', 'sport'), ('Tennis match at Wimbledon', 'sport'), ('She ran a marathon', 'sport'),
 ('Basketball playoffs tonight', 'sport'), ('The cyclist won the Tour', 'sport'), ('Swimming in the olympic pool', 'sport'),
 ('The compiler reported an error', 'tech'), ('Install the new kernel', 'tech'), ('The database query was slow', 'tech'),
 ('A bug in the parser', 'tech'), ('The laptop battery died', 'tech'), ('Upgrade the server memory', 'tech'),
 (NULL, 'tech'), ('no label', NULL);

-- training
CREATE TEMP TABLE m AS
SELECT train_classifier('cls_topic', 'use-lite', 'SELECT body, label FROM train', '{"test_fraction": 0.34, "seed": 1}') AS j;
SELECT is((SELECT j->'classes' FROM m), '["food", "sport", "tech"]'::jsonb, 'classes in sorted order');
SELECT is((SELECT (j->>'rows')::int || ' ' || (j->>'train_rows') || ' ' || (j->>'test_rows') || ' ' || (j->>'skipped_rows') FROM m),
	'18 12 6 2', 'rows: 12 to train, 6 held out (2 per class), 2 skipped (NULL text or label)');
SELECT is((SELECT j->'test'->'confusion' FROM m), '[[2, 0, 0], [0, 2, 0], [0, 0, 2]]'::jsonb,
	'held-out confusion matrix: every test row right');
SELECT is((SELECT (j->'train'->>'accuracy')::float8 FROM m), 1.0::float8, 'training accuracy 100% (separable)');
SELECT ok((SELECT (j->>'loss_decreased_every_iteration')::boolean AND (j->>'converged')::boolean
			  AND (j->>'loss')::float8 < (j->>'loss_start')::float8 FROM m),
	'the objective decreased at every iteration and converged');
SELECT ok((SELECT (j->'test'->>'macro_f1')::float8 = 1 AND (j->'test'->>'majority_accuracy')::float8 BETWEEN 0.33 AND 0.34
			  AND j->'test'->'per_class'->'food' ? 'precision' FROM m), 'macro-F1, majority baseline, per-class figures');
SELECT is((SELECT task || ' ' || architecture || ' ' || format || ' ' || source || ' ' || parameters || ' ' || dims
		   FROM pg_infer.models WHERE name = 'cls_topic'),
	'classification softmax head database use-lite 1539 512', 'pg_infer.models lists the head');

-- classify / classify_scores against the stored weights applied in SQL
SELECT is(classify('cls_topic', 'The goalkeeper saved a penalty'), 'sport', 'classify: sport');
SELECT is(classify('cls_topic', 'Noodles with garlic and chili'), 'food', 'classify: food');
SELECT is(classify('cls_topic', 'Rebooting the network router'), 'tech', 'classify: tech');
CREATE TEMP TABLE probe (t text);
INSERT INTO probe VALUES ('The goalkeeper saved a penalty'), ('Noodles with garlic'), ('Rebooting the router'),
	('A quiet afternoon'), ('');
CREATE TEMP TABLE sqlref AS
WITH h AS (SELECT labels, dims, weights FROM pg_infer_heads WHERE name = 'cls_topic'),
	 x AS (SELECT t, embed('use-lite', t)::real[] AS e FROM probe),
	 logit AS (
	   SELECT x.t, c, h.labels[c] AS label,
			  h.weights[(c - 1) * (h.dims + 1) + h.dims + 1] +
			  (SELECT sum(h.weights[(c - 1) * (h.dims + 1) + j] * x.e[j]) FROM generate_series(1, h.dims) j) AS z
	   FROM h, x, generate_series(1, cardinality(h.labels)) c)
, shifted AS (SELECT t, label, exp(z - max(z) OVER (PARTITION BY t)) AS e FROM logit)
SELECT t, label, e / sum(e) OVER (PARTITION BY t) AS p FROM shifted;
SELECT cmp_ok((SELECT max(abs(s.score - r.p)) FROM probe CROSS JOIN LATERAL classify_scores('cls_topic', probe.t) s
			   JOIN sqlref r ON r.t = probe.t AND r.label = s.label), '<', 1e-5::float8,
	'classify_scores equals softmax(W x + b) computed in SQL from the stored weights');
SELECT is((SELECT count(*) FROM probe, classify_scores('cls_topic', probe.t)), 15::bigint, 'one score per label');
SELECT ok((SELECT bool_and(classify('cls_topic', t) = (SELECT label FROM sqlref r WHERE r.t = probe.t ORDER BY p DESC LIMIT 1))
		   FROM probe), 'classify is the most likely label');
SELECT is(ARRAY(SELECT label FROM classify_scores('cls_topic', 'The goalkeeper saved a penalty')),
	ARRAY(SELECT label FROM sqlref WHERE t = 'The goalkeeper saved a penalty' ORDER BY p DESC), 'scores sorted, most likely first');
SELECT cmp_ok((SELECT abs(sum(score) - 1) FROM classify_scores('cls_topic', 'A quiet afternoon')), '<', 1e-6::float8,
	'probabilities add up to 1');

-- over a table: batched in the EmbedBatch scan, each row as alone
CREATE TEMP TABLE many AS SELECT i, (ARRAY['pizza night', 'a football match', 'kernel panic', NULL])[1 + i % 4] || ' ' || i AS t
FROM generate_series(1, 100) i;
SELECT ok(pg_temp.plan($$SELECT classify('cls_topic', t) FROM many$$) LIKE '%EmbedBatch%',
	'classify(head, column) runs in the EmbedBatch scan');
CREATE TEMP TABLE batched AS SELECT i, classify('cls_topic', t) AS g FROM many;
SET pg_infer.batch_rows = 1;
CREATE TEMP TABLE alone AS SELECT i, classify('cls_topic', t) AS g FROM many;
RESET pg_infer.batch_rows;
SELECT is((SELECT count(*) FROM batched b JOIN alone a USING (i) WHERE a.g IS NOT DISTINCT FROM b.g), 100::bigint,
	'100 rows classified together: each label as classified alone (NULL text: NULL)');

-- same seed, same head, bit for bit; another seed, another split
SELECT lives_ok($$SELECT train_classifier('cls_topic2', 'use-lite', 'SELECT body, label FROM train', '{"test_fraction": 0.34, "seed": 1}')$$,
	'a second head of the same data');
SELECT ok((SELECT a.weights = b.weights AND a.labels = b.labels FROM pg_infer_heads a, pg_infer_heads b
		   WHERE a.name = 'cls_topic' AND b.name = 'cls_topic2'), 'the same seed gives the same weights, bit for bit');
SELECT lives_ok($$SELECT train_classifier('cls_topic2', 'use-lite', 'SELECT body, label FROM train', '{"test_fraction": 0.34, "seed": 2, "force": true}')$$,
	'force replaces a head');
SELECT ok((SELECT a.weights <> b.weights FROM pg_infer_heads a, pg_infer_heads b
		   WHERE a.name = 'cls_topic' AND b.name = 'cls_topic2'), 'another seed: another split, other weights');
SELECT lives_ok($$SELECT train_classifier('cls_topic2', 'use-lite', 'SELECT body, label FROM train',
	'{"test_fraction": 0, "C": 0.01, "class_weight": "balanced", "max_iter": 50, "force": true}')$$, 'options');
SELECT ok((SELECT metrics->'test' = 'null' AND (metrics->>'test_rows')::int = 0 AND metrics->'options'->>'class_weight' = 'balanced'
		   FROM pg_infer_heads WHERE name = 'cls_topic2'), 'test_fraction 0: no held-out rows; options recorded');

-- errors
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT body, label FROM train', '{"lr": 1}')$$,
	'22023', 'unknown train_classifier option "lr"', 'an unknown option: 22023');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT body, label FROM train', '{"C": 0}')$$,
	'22023', NULL, 'C must be positive: 22023');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT body, ''x'' FROM train')$$,
	'22023', 'train_classifier needs rows of at least two labels', 'one label: 22023');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT body, label FROM train WHERE false')$$,
	'22023', NULL, 'no rows: 22023');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT body FROM train')$$,
	'22023', NULL, 'one column: 22023');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'use-lite', 'SELECT * FROM no_such_table')$$,
	'42P01', NULL, 'the query''s own error');
SELECT throws_ok($$SELECT train_classifier('cls_bad', 'no-such-model', 'SELECT body, label FROM train')$$,
	'42704', NULL, 'an unknown embedding model: 42704');
SELECT throws_ok($$SELECT train_classifier('use-lite', 'use-lite', 'SELECT body, label FROM train')$$,
	'42710', NULL, 'a name taken by a model file: 42710');
SELECT throws_ok($$SELECT train_classifier('cls_topic', 'use-lite', 'SELECT body, label FROM train')$$,
	'42710', NULL, 'an existing head without force: 42710');
SELECT throws_ok($$SELECT train_classifier('bad name', 'use-lite', 'SELECT body, label FROM train')$$,
	'22023', NULL, 'an invalid name: 22023');
SELECT throws_ok($$SELECT classify('use-lite', 'x')$$, '0A000', 'model "use-lite" has no classification head',
	'classify on an embedding model: 0A000');
SELECT throws_ok($$SELECT classify('no-such-model', 'x')$$, '42704', NULL, 'classify on an unknown name: 42704');
UPDATE pg_infer_heads SET embedding_sha256 = repeat('0', 64) WHERE name = 'cls_topic2';
SELECT throws_ok($$SELECT classify('cls_topic2', 'x')$$, '55000', NULL,
	'a head whose embedding model changed content: 55000');
SELECT lives_ok($$SELECT drop_model('cls_topic2')$$, 'drop_model drops a head');
SELECT is((SELECT count(*) FROM pg_infer.models WHERE name = 'cls_topic2'), 0::bigint, '... and it is gone');

-- privileges: training is an admin function; classifying is not
DROP ROLE IF EXISTS pgi_cls_user;
CREATE ROLE pgi_cls_user;
GRANT SELECT ON train TO pgi_cls_user;
SET ROLE pgi_cls_user;
SELECT throws_ok($$SELECT train_classifier('cls_x', 'use-lite', 'SELECT body, label FROM train')$$, '42501', NULL,
	'a plain user cannot train a head');
SELECT is(classify('cls_topic', 'The striker scored'), 'sport', 'a plain user can classify');
RESET ROLE;

-- zero-shot: the label whose templated text is closest, cosines as scores
SELECT is(classify('use-lite', 'The goalkeeper saved a penalty', ARRAY['food', 'sport', 'technology']), 'sport',
	'zero-shot: sport');
SELECT is(classify('use-lite', 'My laptop will not boot', ARRAY['food', 'sport', 'technology']), 'technology',
	'zero-shot: technology');
SELECT cmp_ok((SELECT max(abs(s.score - (1 - (embed('use-lite', 'My laptop will not boot') <=>
										   embed('use-lite', 'This text is about ' || s.label || '.')))))
			   FROM classify_scores('use-lite', 'My laptop will not boot', ARRAY['food', 'sport', 'technology']) s),
	'<', 1e-5::float8, 'zero-shot scores are the cosine similarities of <=>');
SELECT cmp_ok((SELECT max(abs(s.score - (1 - (embed('use-lite', 'pasta') <=> embed('use-lite', 'Food: ' || s.label)))))
			   FROM classify_scores('use-lite', 'pasta', ARRAY['Italian', 'Japanese'], 'Food: {}') s),
	'<', 1e-5::float8, 'a custom template');
SELECT is((SELECT count(*) FROM (VALUES ('a'), ('b'), ('c')) v(t), classify_scores('use-lite', t, ARRAY['x', 'y'])),
	6::bigint, 'zero-shot over rows (labels embedded once per call site)');
SELECT throws_ok($$SELECT classify('use-lite', 'x', ARRAY['a'], 'no placeholder')$$, '22023', NULL,
	'a template without {}: 22023');
SELECT throws_ok($$SELECT classify('use-lite', 'x', ARRAY[]::text[])$$, '22023', NULL, 'no labels: 22023');
SELECT throws_ok($$SELECT classify('use-lite', 'x', ARRAY['a', NULL])$$, '22004', NULL, 'a NULL label: 22004');

-- triggers
CREATE TEMP TABLE docs (id serial, body text, emb vector, topic text, other int);
CREATE TRIGGER e BEFORE INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION pg_infer.embed_trigger('use-lite', 'body', 'emb');
CREATE TRIGGER c BEFORE INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION pg_infer.classify_trigger('cls_topic', 'body', 'topic');
INSERT INTO docs (body) VALUES ('Cook rice for dinner'), (NULL), ('A football fan');
SELECT is((SELECT array_agg(topic ORDER BY id) FROM docs), ARRAY['food', NULL, 'sport'], 'INSERT: labelled, NULL stays NULL');
SELECT ok((SELECT bool_and(emb = embed('use-lite', body)) FROM docs WHERE body IS NOT NULL), 'INSERT: embedded as embed() does');
SELECT ok((SELECT emb IS NULL FROM docs WHERE body IS NULL), 'NULL source, NULL embedding');
UPDATE docs SET body = 'Debugging a segfault in the kernel' WHERE id = 1;
SELECT is((SELECT topic FROM docs WHERE id = 1), 'tech', 'UPDATE of the source: recomputed');
SELECT ok((SELECT emb = embed('use-lite', body) FROM docs WHERE id = 1), '... and re-embedded');
UPDATE docs SET body = 'Soup' WHERE id = 2;
SELECT is((SELECT topic FROM docs WHERE id = 2), 'food', 'UPDATE from NULL: computed');
-- no recomputation on other updates: with the head renamed away, updating
-- another column works, updating the source fails
UPDATE pg_infer_heads SET name = 'cls_topic_away' WHERE name = 'cls_topic';
SELECT lives_ok($$UPDATE docs SET other = 1$$, 'UPDATE of another column: nothing recomputed (the head is not even looked up)');
SELECT lives_ok($$UPDATE docs SET body = body$$, 'UPDATE setting the same text: nothing recomputed');
SELECT throws_ok($$UPDATE docs SET body = 'x' WHERE id = 3$$, '42704', NULL, '... while a changed source is classified again');
UPDATE pg_infer_heads SET name = 'cls_topic' WHERE name = 'cls_topic_away';
UPDATE docs SET topic = 'manual' WHERE id = 3;
SELECT is((SELECT topic FROM docs WHERE id = 3), 'manual', 'a target set by hand stays (the source did not change)');
BEGIN;
INSERT INTO docs (body) VALUES ('Rolled back');
ROLLBACK;
SELECT is((SELECT count(*) FROM docs), 3::bigint, 'rollback: no row');
COPY docs (body) FROM STDIN;
Grilled fish with lemon
The team won the cup
\.
SELECT is((SELECT array_agg(topic ORDER BY id) FROM docs WHERE id > 3), ARRAY['food', 'sport'], 'COPY: labelled');
CREATE TEMP TABLE bad (a text, b int, c text);
SELECT throws_ok($$CREATE TRIGGER t BEFORE INSERT ON bad FOR EACH ROW EXECUTE FUNCTION pg_infer.classify_trigger('cls_topic', 'nope', 'c');
				   INSERT INTO bad VALUES ('x', 1, 'y')$$, '42703', NULL, 'an unknown column: 42703');
SELECT throws_ok($$CREATE TRIGGER t BEFORE INSERT ON bad FOR EACH ROW EXECUTE FUNCTION pg_infer.classify_trigger('cls_topic', 'a', 'b');
				   INSERT INTO bad VALUES ('x', 1, 'y')$$, '42804', NULL, 'a target of the wrong type: 42804');
SELECT throws_ok($$CREATE TRIGGER t AFTER INSERT ON bad FOR EACH ROW EXECUTE FUNCTION pg_infer.classify_trigger('cls_topic', 'a', 'c');
				   INSERT INTO bad VALUES ('x', 1, 'y')$$, '39P01', NULL, 'an AFTER trigger: 39P01');
SELECT throws_ok($$CREATE TRIGGER t BEFORE INSERT ON bad FOR EACH ROW EXECUTE FUNCTION pg_infer.classify_trigger('cls_topic');
				   INSERT INTO bad VALUES ('x', 1, 'y')$$, '22023', NULL, 'missing trigger arguments: 22023');

-- labels
SELECT is((SELECT string_agg(DISTINCT provolatile::text || proparallel::text, ',') FROM pg_proc
		   WHERE proname IN ('classify', 'classify_scores')), 'is', 'classify and classify_scores are IMMUTABLE PARALLEL SAFE');

SELECT drop_model('cls_topic');
REVOKE SELECT ON train FROM pgi_cls_user;
DROP ROLE pgi_cls_user;
SELECT drop_model('use-lite');	-- registered above, for this file only
\else
SELECT skip('use-lite is absent (./pg_infer.sh models fetches it)', 1);
\endif
SELECT * FROM finish();
