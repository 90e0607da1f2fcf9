-- lib/compare.sql (\ir from a pgTAP file): a vector against a JSON array of
-- reference floats: pg_temp.err (max abs difference), pg_temp.cos (cosine).
CREATE FUNCTION pg_temp.err(v vector, r jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT max(abs(a - (r->>(i::int - 1))::float8)) FROM unnest(v::real[]) WITH ORDINALITY AS t(a, i)
$$;
CREATE FUNCTION pg_temp.cos(v vector, r jsonb) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
	SELECT sum(a * (r->>(i::int - 1))::float8) /
		   sqrt(sum(a::float8 * a) * sum((r->>(i::int - 1))::float8 ^ 2))
	FROM unnest(v::real[]) WITH ORDINALITY AS t(a, i)
$$;
