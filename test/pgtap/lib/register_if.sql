-- lib/register_if.sql (\ir from a pgTAP file): pg_temp.register_if(ref,
-- name, source) registers model name from source when the reference file
-- ref exists in pg_infer.model_dir, and says whether it does.  Call it in a
-- statement of its own (CREATE TEMP TABLE have AS SELECT ...): a plan made
-- later in the same statement could fold the IMMUTABLE functions before the
-- registration is visible.
CREATE FUNCTION pg_temp.register_if(ref text, name text, source text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF (pg_stat_file(current_setting('pg_infer.model_dir') || '/' || ref, true)).size IS NULL THEN
		RETURN false;
	END IF;
	PERFORM load_model(name, source);
	RETURN true;
END
$$;
