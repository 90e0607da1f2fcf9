-- images.sql: embed_image() with CLIP-style image encoders.
-- Reference: clip/ of test/models/gen_clip.py (prepared into
-- build/test_models by test/prepare_models.sh): random-weight Hugging Face
-- CLIP models whose reference.json holds, per test image, the embedding a
-- float64 NumPy forward pass (transformers' modeling_clip, step by step)
-- gives on the pixels CLIPImageProcessor's steps give (Pillow's decode and
-- bicubic resize, centre crop, normalisation), independently of pg_infer.
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();
\ir lib/compare.sql
\ir lib/plan.sql

CREATE TEMP TABLE ref AS
SELECT pg_read_file(current_setting('pg_infer.model_dir') || '/clip/reference.json')::jsonb AS j;
CREATE TEMP TABLE imgs AS
SELECT n, f AS name, pg_read_binary_file(current_setting('pg_infer.model_dir') || '/clip/images/' || f) AS data
FROM ref, jsonb_array_elements_text(j->'images') WITH ORDINALITY AS t(f, n);
SELECT cmp_ok((SELECT count(*) FROM imgs), '>=', 7::bigint, 'setup: PNG and JPEG test images read');

SELECT lives_ok($$SELECT load_model('cv', 'clip/clip_vision')$$,
	'a CLIPVisionModelWithProjection directory (F16 weights, gelu) registers');
SELECT is((SELECT task || ' ' || architecture || ' ' || dims FROM pg_infer.models WHERE name = 'cv'),
	'image-embedding clip_vision_model 512', 'pg_infer.models: an image-embedding model of 512 dimensions');

-- every image: the reference embedding within 1e-4
CREATE TEMP TABLE got AS
SELECT n, name, embed_image('cv', data) AS v, (SELECT j->'clip_vision'->'images'->(n::int - 1) FROM ref) AS want FROM imgs;
SELECT cmp_ok((SELECT max(pg_temp.err(v, want)) FROM got), '<', 1e-4::float8,
	'embed_image equals the float64 reference to 1e-4 on every image: RGB, grey, palette, alpha, JPEG, non-square (max diff ' ||
	(SELECT to_char(max(pg_temp.err(v, want)), '9.9EEEE') FROM got) || ')');
SELECT cmp_ok((SELECT max(abs(vector_norm(v) - 1)) FROM got), '<', 1e-6::float8, 'unit length');

-- the pixels the model sees: CLIPImageProcessor's to 1e-5 (PNG, and this
-- JPEG too: Pillow decodes it with the same libjpeg-turbo)
CREATE TEMP TABLE px AS
SELECT i.name, preprocess_image('cv', i.data) AS got, r.value AS want
FROM imgs i JOIN ref ON true, jsonb_each(j->'clip_vision'->'pixels') r WHERE r.key = i.name;
SELECT is((SELECT count(*) FROM px WHERE cardinality(got) = 3 * 24 * 24), 4::bigint,
	'preprocess_image: 3 x 24 x 24 values, channel first');
SELECT cmp_ok((SELECT max(abs(g - (want->>(k::int - 1))::float8)) FROM px, unnest(got) WITH ORDINALITY AS u(g, k)),
	'<', 1e-5::float8, 'preprocess_image equals the float64 reference to 1e-5 (resize, crop, normalise; max diff ' ||
	(SELECT to_char(max(abs(g - (want->>(k::int - 1))::float8)), '9.9EEEE') FROM px, unnest(got) WITH ORDINALITY AS u(g, k)) || ')');

-- rows: batched (EmbedBatch), each as alone; the array form in one pass
SELECT ok(pg_temp.plan($$SELECT embed_image('cv', data) FROM imgs$$) LIKE '%EmbedBatch%',
	'SELECT embed_image(m, col) FROM t is batched across rows');
CREATE TEMP TABLE batched AS SELECT n, embed_image('cv', data) AS v FROM imgs;
SELECT is((SELECT count(*) FROM batched JOIN got USING (n) WHERE batched.v <-> got.v < 1e-6), (SELECT count(*) FROM imgs),
	'rows embedded together: each as alone');
SELECT is((SELECT count(*) FROM unnest(embed_image('cv', (SELECT array_agg(data ORDER BY n) FROM imgs))) WITH ORDINALITY AS a(v, n)
		   JOIN got USING (n) WHERE a.v <-> got.v < 1e-6), (SELECT count(*) FROM imgs),
	'embed_image(model, bytea[]): one pass, each as alone');
SELECT is(embed_image('cv', ARRAY[NULL::bytea, (SELECT data FROM imgs WHERE n = 1)])::text,
	(SELECT ARRAY[NULL, v] FROM got WHERE n = 1)::text, 'a NULL image in the array gives NULL');
SELECT is(embed_image('cv', NULL::bytea), NULL, 'STRICT: NULL image, NULL vector');
SELECT is(cardinality(embed_image('cv', ARRAY[]::bytea[])), 0, 'an empty array gives an empty array');

-- text in the same space: the model's text side is use-lite (config.json
-- "pg_infer"), registered from the bundled models (make install puts it
-- there once ./pg_infer.sh has fetched it) when it is not registered
-- already; the checks run through EXECUTE so no plan folds their IMMUTABLE
-- calls when use-lite is absent
CREATE TEMP TABLE use_state AS
SELECT EXISTS (SELECT FROM pg_infer.models WHERE name = 'use-lite') AS before,
	   pg_infer._source_exists('use-lite/model.json') AS files;
DO $$
BEGIN
	IF NOT (SELECT before FROM use_state) AND (SELECT files FROM use_state) THEN
		PERFORM load_model('use-lite', 'use-lite');
	END IF;
END
$$;
CREATE FUNCTION pg_temp.with_use(test text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	r text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_infer.models WHERE name = 'use-lite') THEN
		RETURN skip('use-lite is not available', 1);
	END IF;
	EXECUTE test INTO r;
	RETURN r;
END
$f$;
SELECT pg_temp.with_use($$SELECT is(embed('cv', 'a red circle') = embed('use-lite', 'a red circle'), true,
	'embed(model, text) runs the model''s text side (use-lite)')$$);
SELECT pg_temp.with_use($$SELECT is(tokenize('cv', 'a red circle') = tokenize('use-lite', 'a red circle'), true,
	'tokenize() follows the text side')$$);
SELECT lives_ok($$SELECT load_model('cvbad', 'clip/clip_vision_badsha')$$, 'a model naming a text model by sha256 registers');
SELECT pg_temp.with_use($$SELECT throws_ok('SELECT embed(''cvbad'', ''a red circle'')', '55000', NULL,
	'a text model whose sha256 is not the one the image tower was trained against is refused')$$);

-- a CLIPModel: both towers, its own BPE tokenizer (CLIP's components:
-- NFC, whitespace, lowercase, CLIP's split, </w> suffixes)
SELECT lives_ok($$SELECT load_model('clip', 'clip/clip')$$, 'a CLIPModel directory (text and vision towers) registers');
SELECT is((SELECT task || ' ' || architecture || ' ' || dims || ' ' || max_tokens FROM pg_infer.models WHERE name = 'clip'),
	'image-embedding clip 24 16', 'pg_infer.models: projection 24, 16 text positions');
CREATE TEMP TABLE got_full AS
SELECT n, embed_image('clip', data) AS v, (SELECT j->'clip'->'images'->(n::int - 1) FROM ref) AS want FROM imgs;
SELECT cmp_ok((SELECT max(pg_temp.err(v, want)) FROM got_full), '<', 1e-4::float8,
	'its image tower equals the float64 reference to 1e-4 on every image (max diff ' ||
	(SELECT to_char(max(pg_temp.err(v, want)), '9.9EEEE') FROM got_full) || ')');
SELECT is(logit_scale('clip')::numeric(10, 4), exp(2.0)::numeric(10, 4), 'logit_scale: exp of the logit_scale tensor');
-- texts: ids as Hugging Face's tokenizers gives them (test/prepare_models.sh),
-- embeddings of those ids by the float64 reference
CREATE TEMP TABLE have_text AS
SELECT (pg_stat_file(current_setting('pg_infer.model_dir') || '/clip/text_ref.json', true)).size IS NOT NULL AS ok;
CREATE TEMP TABLE texts AS
SELECT t->>'text' AS body, ARRAY(SELECT jsonb_array_elements_text(t->'full_ids')::int) AS full_ids,
	   ARRAY(SELECT jsonb_array_elements_text(t->'ids')::int) AS ids, t->'embedding' AS want
FROM jsonb_array_elements(CASE WHEN (SELECT ok FROM have_text)
	THEN pg_read_file(current_setting('pg_infer.model_dir') || '/clip/text_ref.json')::jsonb ELSE '[]' END) t;
SELECT CASE WHEN (SELECT ok FROM have_text) THEN
	is((SELECT count(*) FROM texts WHERE tokenize('clip', body) <> ids), 0::bigint,
	   'tokenize: Hugging Face tokenizers'' ids on every text (BOS, EOS, truncated to 16)')
	ELSE skip('no text_ref.json (npm tokenizers missing)', 1) END;
SELECT CASE WHEN (SELECT ok FROM have_text) THEN
	is((SELECT count(*) FROM texts WHERE token_count('clip', body) <> cardinality(full_ids)), 0::bigint,
	   'token_count: the untruncated count')
	ELSE skip('no text_ref.json (npm tokenizers missing)', 1) END;
SELECT CASE WHEN (SELECT ok FROM have_text) THEN
	cmp_ok((SELECT max(pg_temp.err(embed('clip', body), want)) FROM texts), '<', 1e-4::float8,
		   'embed(model, text) on a CLIPModel: its text tower, equal to the float64 reference to 1e-4')
	ELSE skip('no text_ref.json (npm tokenizers missing)', 1) END;
SELECT CASE WHEN (SELECT ok FROM have_text) THEN
	is((SELECT count(*) FROM texts t, unnest(embed('clip', (SELECT array_agg(body) FROM texts))) WITH ORDINALITY e(v, k)
		WHERE t.body = (SELECT array_agg(body) FROM texts)[k] AND e.v <-> embed('clip', t.body) > 1e-6), 0::bigint,
	   'embed(model, text[]) on it: one pass, each as alone')
	ELSE skip('no text_ref.json (npm tokenizers missing)', 1) END;
SELECT throws_ok($$SELECT embed('clip', 'x', '{"pooling": "mean"}')$$, '22023', NULL,
	'a CLIP text tower has its own pooling');
SELECT throws_ok($$SELECT embed('clip', repeat('word ', 40), '{"truncate": false}')$$, '54000', NULL,
	'a text longer than the 16 positions, truncate false: 54000');

-- the image model pg_infer ships (models/scenes, registered by CREATE
-- EXTENSION from the bundled models): its examples embed as the float64
-- reference of its own files does (scenes_ref.json, test/prepare_models.sh),
-- and, with use-lite as its text side, each example's caption finds its
-- own image among the twelve
CREATE TEMP TABLE scenes_state AS
SELECT EXISTS (SELECT FROM pg_infer.models WHERE name = 'scenes') AS before,
	   pg_infer._source_exists('scenes/config.json') AS files,
	   (pg_stat_file(current_setting('pg_infer.model_dir') || '/scenes_ref.json', true)).size IS NOT NULL AS ref;
DO $$
BEGIN
	IF NOT (SELECT before FROM scenes_state) AND (SELECT files FROM scenes_state) THEN
		PERFORM load_model('scenes', 'scenes');
	END IF;
END
$$;
CREATE FUNCTION pg_temp.with_scenes(test text, need_use boolean) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	r text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_infer.models WHERE name = 'scenes') OR NOT (SELECT ref FROM scenes_state) THEN
		RETURN skip('the scenes model or its reference is not available', 1);
	END IF;
	IF need_use AND NOT EXISTS (SELECT FROM pg_infer.models WHERE name = 'use-lite') THEN
		RETURN skip('use-lite is not available', 1);
	END IF;
	EXECUTE test INTO r;
	RETURN r;
END
$f$;
CREATE TEMP TABLE scenes_ex AS
SELECT file, caption, NULL::vector AS emb, NULL::jsonb AS want FROM (VALUES (NULL::text, NULL::text)) v(file, caption) WHERE false;
DO $$
DECLARE
	dir text := regexp_replace((SELECT source FROM pg_infer.models WHERE name = 'scenes'), '/?$', '/examples/');
BEGIN
	IF EXISTS (SELECT FROM pg_infer.models WHERE name = 'scenes') AND (SELECT ref FROM scenes_state) THEN
		INSERT INTO scenes_ex
		SELECT split_part(l, E'\t', 1), split_part(l, E'\t', 2),
			   embed_image('scenes', pg_read_binary_file(dir || split_part(l, E'\t', 1))),
			   pg_read_file(current_setting('pg_infer.model_dir') || '/scenes_ref.json')::jsonb->split_part(l, E'\t', 1)
		FROM unnest(string_to_array(rtrim(pg_read_file(dir || 'captions.tsv'), E'\n'), E'\n')) WITH ORDINALITY AS t(l, k)
		WHERE k > 1;
	END IF;
END
$$;
SELECT pg_temp.with_scenes($$SELECT cmp_ok((SELECT max(pg_temp.err(emb, want)) FROM scenes_ex), '<', 1e-4::float8,
	'scenes: every example image embeds as the float64 reference of the shipped files (max diff ' ||
	(SELECT to_char(max(pg_temp.err(emb, want)), '9.9EEEE') FROM scenes_ex) || ')')$$, false);
SELECT pg_temp.with_scenes($$SELECT cmp_ok((SELECT count(*) FROM scenes_ex e
	WHERE (SELECT x.file FROM scenes_ex x ORDER BY x.emb <=> embed('scenes', e.caption) LIMIT 1) = e.file), '>=', 10::bigint,
	'scenes: at least 10 of the 12 example captions find their own image first (embed(scenes, caption) via use-lite)')$$, true);

-- bad input: clear errors with their SQLSTATE, never a crash
SELECT throws_ok($$SELECT embed_image('cv', '\x00112233'::bytea)$$, '0A000', NULL, 'not an image: 0A000');
SELECT throws_ok($$SELECT embed_image('cv', 'GIF89a'::bytea)$$, '0A000', NULL, 'GIF: not supported');
SELECT throws_ok($$SELECT embed_image('cv', '\x89504e470d0a1a0a0000'::bytea)$$, '22P03', NULL, 'truncated PNG header: 22P03');
SELECT throws_ok($$SELECT embed_image('cv', substr(data, 1, length(data) / 2)) FROM imgs WHERE name = 'a.png'$$,
	'22P03', NULL, 'a PNG cut in half: 22P03');
SELECT throws_ok($$SELECT embed_image('cv', substr(data, 1, length(data) / 2)) FROM imgs WHERE name = 'd.jpg'$$,
	'22P03', NULL, 'a JPEG cut in half: 22P03');
SELECT throws_ok($$SELECT embed_image('cv', overlay(data placing '\xffffffff'::bytea from 40 for 4)) FROM imgs WHERE name = 'a.png'$$,
	'22P03', NULL, 'a PNG with damaged data: 22P03');
-- a 2.5-gigapixel PNG (50000 x 50000, 8-bit RGB: 7.5 GB decoded, 1 kB here) (a decompression bomb) is refused before decoding
SELECT throws_ok($$SELECT embed_image('cv', '\x89504e470d0a1a0a0000000d494844520000c3500000c3500802000000c4cdaa9d0000001149444154789c63601805a360140c77000003e80001b3a6d3460000000049454e44ae426082'::bytea)$$,
	'54000', NULL, 'an image over pg_infer.max_image_pixels: 54000');
SET pg_infer.max_image_pixels = 1000;
SELECT throws_ok($$SELECT embed_image('cv', data) FROM imgs WHERE name = 'c.png'$$, '54000', NULL,
	'pg_infer.max_image_pixels applies (61 x 100 > 1000)');
SELECT throws_ok($$SELECT embed_image('cv', data) FROM imgs ORDER BY n$$, '54000', NULL,
	'in a batch, the row over the limit raises its error');
RESET pg_infer.max_image_pixels;
SELECT throws_ok($$SELECT embed_image('use-lite', data) FROM imgs WHERE n = 1$$, '0A000', NULL,
	'a text model cannot embed images');
SELECT throws_ok($$SELECT embed_image('no_such_model', data) FROM imgs WHERE n = 1$$, '42704', NULL,
	'unknown model: 42704');
SELECT throws_ok($$SET pg_infer.max_image_pixels = 0$$, '22023', NULL, 'the pixel limit must be positive');

-- the errors of a batched scan come from the row that has them, in row order
CREATE TEMP TABLE mixed AS SELECT n, data FROM imgs UNION ALL SELECT 100, '\x0001'::bytea;
SELECT throws_ok($$SELECT n, embed_image('cv', data) FROM mixed ORDER BY n$$, '0A000', NULL,
	'a bad row among good ones raises its error');
SELECT is((SELECT count(*) FROM (SELECT embed_image('cv', data) FROM mixed WHERE n < 100) s), (SELECT count(*) FROM imgs),
	'the good rows alone embed');

-- immutable: usable in a generated column and an index
CREATE TEMP TABLE photos (id int, data bytea, emb vector GENERATED ALWAYS AS (embed_image('cv', data)) STORED);
INSERT INTO photos (id, data) SELECT n, data FROM imgs;
SELECT is((SELECT count(*) FROM photos p JOIN got g ON g.n = p.id WHERE p.emb <-> g.v < 1e-6), (SELECT count(*) FROM imgs),
	'a generated column of embed_image');
SELECT is((SELECT provolatile::text || ' ' || proparallel::text FROM pg_proc WHERE proname = 'embed_image' AND pronargs = 2
		   AND proargtypes[1] = 'bytea'::regtype), 'i s', 'embed_image is IMMUTABLE PARALLEL SAFE');
-- cancel: decoding a 36-megapixel image (about 0.6 s) stops when the
-- statement times out (query_canceled is not caught by WHEN OTHERS, hence
-- no throws_ok)
SET pg_infer.max_image_pixels = 40000000;
CREATE FUNCTION pg_temp.cancel_ms() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	img bytea := pg_read_binary_file(current_setting('pg_infer.model_dir') || '/clip/big.png');
BEGIN
	t0 := clock_timestamp();
	PERFORM embed_image('cv', img);
	RETURN -1;
EXCEPTION WHEN query_canceled THEN
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
SET statement_timeout = '100ms';
CREATE TEMP TABLE cancel AS SELECT pg_temp.cancel_ms() AS ms;
RESET statement_timeout;
SELECT cmp_ok((SELECT ms FROM cancel), '>=', 0::float8, 'statement_timeout cancels decoding (ms: ' ||
	(SELECT round(ms::numeric, 1) FROM cancel) || ')');
SELECT cmp_ok((SELECT ms FROM cancel), '<', 500::float8, '... well before decoding would end (about 600 ms; bound 500 ms, for busy machines)');
SELECT lives_ok($$SELECT embed_image('cv', pg_read_binary_file(current_setting('pg_infer.model_dir') || '/clip/big.png'))$$,
	'the same image embeds without the timeout');
RESET pg_infer.max_image_pixels;

SELECT drop_model('cv');
SELECT drop_model('cvbad');
SELECT drop_model('clip');
SELECT drop_model('scenes') FROM scenes_state WHERE NOT before AND files;	-- registered above, for this file only
SELECT drop_model('use-lite') FROM use_state WHERE NOT before AND files;	-- registered above, for this file only
SELECT * FROM finish();
