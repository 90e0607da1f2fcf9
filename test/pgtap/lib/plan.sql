-- lib/plan.sql (\ir from a pgTAP file): pg_temp.plan(query, verbose?), the
-- EXPLAIN (COSTS OFF) text of a query as one string, for plan-shape checks.
CREATE FUNCTION pg_temp.plan(q text, detail boolean DEFAULT false) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE format('EXPLAIN (COSTS OFF, VERBOSE %s) %s', CASE WHEN detail THEN 'on' ELSE 'off' END, q) LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END
$$;
