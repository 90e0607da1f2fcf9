# Reduced precision in practice: the demo's search (Debian package
# descriptions embedded with the default model, use-lite) run in f32, bf16
# and int8 (load_model's "precision").  For 20 questions (the demo's five
# and fifteen more), the top 10 of a reduced-precision search (documents and
# question embedded in that precision) against the top 10 of the f32
# search: recall@10 at least 0.95 (doc/embeddings.md).  Also reported, not
# asserted: the cosine of each description's embedding to its f32 one.
# Skipped where use-lite was not fetched or apt-cache is absent.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $bundled = "$sharedir/pg_infer/models";
plan skip_all => 'use-lite was not fetched before make install' unless -f "$bundled/use-lite/model.json";
my $root = $ENV{PGI_ROOT};
plan skip_all => 'PGI_ROOT (test/run_tap.sh sets it) does not hold demo/packages.awk'
  if !defined $root || !-f "$root/demo/packages.awk";
my $tsv = PostgreSQL::Test::Utils::tempdir() . '/packages.tsv';
system("apt-cache dumpavail 2>/dev/null | awk -f '$root/demo/packages.awk' | sort -u -t'\t' -k1,1 | head -20000 > '$tsv'") == 0
  or plan skip_all => 'apt-cache dumpavail failed';
plan skip_all => 'apt-cache lists too few packages' if (-s $tsv) < 100000;

my $node = PostgreSQL::Test::Cluster->new('precision');
$node->init;
$node->append_conf('postgresql.conf', "pg_infer.threads = 2\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
$node->safe_psql('postgres', q{
	SELECT load_model('use-bf16', 'use-lite', '{"precision": "bf16"}');
	SELECT load_model('use-int8', 'use-lite', '{"precision": "int8"}');
	CREATE TABLE pk (id serial PRIMARY KEY, name text, section text, description text,
					 e32 vector(512), ebf vector(512), ei8 vector(512));
});
$node->safe_psql('postgres', "\\copy pk (name, section, description) FROM '$tsv'");
my %secs;
for my $c (['e32', 'use-lite'], ['ebf', 'use-bf16'], ['ei8', 'use-int8'])
{
	my ($col, $m) = @$c;
	$secs{$m} = $node->safe_psql('postgres', qq{
		SELECT embed('$m', 'warm up') IS NOT NULL;
		CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
		UPDATE pk SET $col = embed('$m', description);
		SELECT extract(epoch FROM clock_timestamp() - t) FROM t0;
	});
	$secs{$m} =~ s/.*\n//s;
}
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM pk');
note sprintf("%d descriptions, UPDATE ... embed() rows/s on 2 threads: f32 %.0f, bf16 %.0f, int8 %.0f",
	$rows, map { $rows / $secs{$_} } ('use-lite', 'use-bf16', 'use-int8'));

$node->safe_psql('postgres', q{
	CREATE TABLE qs AS SELECT q, embed('use-lite', q) AS v32, embed('use-bf16', q) AS vbf, embed('use-int8', q) AS vi8
	FROM unnest(ARRAY['parse YAML files', 'play chess against the computer',
		'PostgreSQL extension for geographic data', 'edit photos and raster images',
		'compress files faster than gzip', 'read and write JSON', 'a web server',
		'send email from the command line', 'play music files', 'monitor network traffic',
		'Python library for HTTP requests', 'backup tool with deduplication',
		'spell checker dictionary for German', 'font for programming', 'PDF viewer',
		'manage virtual machines', 'regular expressions library for C', 'convert video formats',
		'password manager', 'a game with spaceships']) q;
	SET enable_indexscan = off;
	CREATE TABLE top AS SELECT q, ARRAY(SELECT id FROM pk ORDER BY e32 <=> v32, id LIMIT 10) AS t32,
		ARRAY(SELECT id FROM pk ORDER BY ebf <=> vbf, id LIMIT 10) AS tbf,
		ARRAY(SELECT id FROM pk ORDER BY ei8 <=> vi8, id LIMIT 10) AS ti8 FROM qs;
});
for my $p (['bf16', 'tbf', 'ebf'], ['int8', 'ti8', 'ei8'])
{
	my ($name, $col, $e) = @$p;
	my $recall = $node->safe_psql('postgres', qq{
		SELECT round(avg((SELECT count(*) FROM unnest(t32) i WHERE i = ANY ($col))::numeric / 10), 3) FROM top});
	cmp_ok($recall, '>=', 0.95, "$name: recall\@10 of 20 questions against the f32 search is $recall");
	note "$name: cosine to f32 over the descriptions: " . $node->safe_psql('postgres', qq{
		SELECT format('min %s, mean %s, below 0.999: %s', round(min(1 - (e32 <=> $e))::numeric, 5),
			round(avg(1 - (e32 <=> $e))::numeric, 6), count(*) FILTER (WHERE 1 - (e32 <=> $e) < 0.999)) FROM pk});
}
$node->stop;
done_testing();
