-- pg_infer 0.7.0 -> 0.8.0: images (CLIP-style image encoders)
\echo Use "ALTER EXTENSION pg_infer UPDATE TO '0.8.0'" to load this file. \quit

-- embed_image(model, image): the embedding of a PNG or JPEG image by a
-- CLIP-style model (Hugging Face CLIPModel or CLIPVisionModelWithProjection),
-- in the space embed(model, text) puts texts in; unit length.  Images larger
-- than pg_infer.max_image_pixels are refused before they are decoded.
-- SELECT embed_image(m, data) FROM photos is batched across rows like embed().
CREATE FUNCTION embed_image(model text, image bytea)
	RETURNS vector AS 'MODULE_PATHNAME', 'pgi_embed_image'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;

-- The same for an array of images in one pass (NULL for a NULL image)
CREATE FUNCTION embed_image(model text, images bytea[])
	RETURNS vector[] AS 'MODULE_PATHNAME', 'pgi_embed_image_batch'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000;

-- logit_scale(model): the factor a CLIP model multiplies cosine similarities
-- by before a softmax (exp of its learned log temperature)
CREATE FUNCTION logit_scale(model text)
	RETURNS real AS 'MODULE_PATHNAME', 'pgi_logit_scale'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- preprocess_image(model, image): the pixels the model sees, channel first
-- (3 x size x size, flattened): decoded, resized, cropped and normalised as
-- the model's preprocessor_config.json says (Hugging Face CLIPImageProcessor)
CREATE FUNCTION preprocess_image(model text, image bytea)
	RETURNS real[] AS 'MODULE_PATHNAME', 'pgi_preprocess_image'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;

-- Privileges: the sources pg_infer.models shows a plain user are cut by the C
-- function the errors use too (pg_infer.model_dir itself is now hidden from
-- plain users, as data_directory is); the registry trigger is nobody's to call
CREATE OR REPLACE FUNCTION pg_infer._shown_source(source text) RETURNS text
	AS 'MODULE_PATHNAME', 'pgi_shown_source' LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION pg_infer._registry_changed() FROM PUBLIC;

-- The image model pg_infer ships (models/scenes, trained by
-- tools/train_scenes.py: rendered scenes of shapes into use-lite's space),
-- registered wherever its files are, as the other bundled models, and like
-- them not dumped (CREATE EXTENSION registers it again on restore)
SELECT pg_catalog.pg_extension_config_dump('pg_infer_model_registry',
	'WHERE name NOT IN (''use-lite'', ''stories'', ''scenes'')');
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM @extschema@.pg_infer_model_registry WHERE name = 'scenes') AND
	   pg_infer._source_exists('scenes/config.json') THEN
		PERFORM @extschema@.load_model('scenes', 'scenes');
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'the bundled model "scenes" was not registered: %', SQLERRM;
END
$$;
