-- pg_infer 0.8.0 -> 0.9.0: the token heads of Hugging Face models
-- (named entities, extractive question answering)
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.9.0'" to load this file. \quit

-- extract_entities(model, input): the named entities a token-classification
-- model (BertForTokenClassification, labels B-X / I-X / O from id2label)
-- finds in input, grouped as Hugging Face's pipeline does with
-- aggregation_strategy "simple": the entity's text, its type, its character
-- offsets in input (0-based, end exclusive: substr(input, start + 1,
-- "end" - start)) and the mean probability of its tokens.  An input longer
-- than the model accepts is an ERROR unless truncate, which labels its first
-- tokens only.
CREATE FUNCTION extract_entities(model text, input text, truncate boolean DEFAULT false)
	RETURNS TABLE (entity text, label text, start int, "end" int, score real)
	AS 'MODULE_PATHNAME', 'pgi_extract_entities'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 5;

-- answer(model, question, context): the spans of context a question-answering
-- model (BertForQuestionAnswering) gives as answers, best first: the text,
-- its character offsets in context and p_start * p_end (Hugging Face's
-- question-answering pipeline; contexts longer than one pass are read in
-- overlapping windows).  top_k answers of at most max_answer_len tokens.
CREATE FUNCTION answer(model text, question text, context text,
					   top_k int DEFAULT 1, max_answer_len int DEFAULT 15)
	RETURNS TABLE (answer text, start int, "end" int, score real)
	AS 'MODULE_PATHNAME', 'pgi_answer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000 ROWS 1;
