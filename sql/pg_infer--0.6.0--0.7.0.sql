-- pg_infer 0.6.0 -> 0.7.0: conversations (chat templates)
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.7.0'" to load this file. \quit

-- generate(model, messages jsonb, ...): a conversation, a jsonb array of
-- {"role": "system" | "user" | "assistant", "content": text}, rendered with
-- the model's chat template (ChatML, Llama 3 or Zephyr families, detected
-- from the GGUF's tokenizer.chat_template) and continued as the assistant.
-- Labels as generate(model, prompt text).  An untyped string literal
-- resolves to the text overload: write messages as jsonb ('[...]'::jsonb).
CREATE FUNCTION generate(model text, messages jsonb, max_tokens integer DEFAULT 128,
						 temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
						 top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
						 stop text[] DEFAULT NULL)
	RETURNS text AS 'MODULE_PATHNAME', 'pgi_generate_chat'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000;

CREATE FUNCTION generate_tokens(model text, messages jsonb, max_tokens integer DEFAULT 128,
								temperature double precision DEFAULT 0, top_k integer DEFAULT 0,
								top_p double precision DEFAULT 1, seed bigint DEFAULT NULL,
								stop text[] DEFAULT NULL)
	RETURNS TABLE (pos integer, token_id integer, piece text, logprob real)
	AS 'MODULE_PATHNAME', 'pgi_generate_tokens_chat'
	LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE COST 1000000 ROWS 128;

-- tokenize(model, messages jsonb): the ids of the prompt a conversation
-- becomes (what generate(model, messages) feeds the model)
CREATE FUNCTION tokenize(model text, messages jsonb)
	RETURNS integer[] AS 'MODULE_PATHNAME', 'pgi_tokenize_chat'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
