# ALTER EXTENSION pg_infer UPDATE from every earlier version, with data in
# place: for each version a database is created at that version (its SQL
# scripts, the current library), filled with what that version offers (a
# vector column; an hnsw index from 0.2.0; a registered model from 0.4.0),
# updated, and compared with a fresh install: the same objects of the
# extension with the same definitions (pg_describe_object, function labels,
# view definitions), the rows intact, the index answering as an exact
# search, the model still usable.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my %versions = ('0.1.0' => 1);
for my $f (glob("$sharedir/extension/pg_infer--*.sql"))
{
	$versions{$1} = 1 if $f =~ /pg_infer--[0-9.]+--([0-9.]+)\.sql$/;
}
my ($current) = `grep default_version $sharedir/extension/pg_infer.control` =~ /'([0-9.]+)'/;
my @old = grep { $_ ne $current } sort keys %versions;
plan skip_all => 'no earlier versions installed' unless @old;

my $node = PostgreSQL::Test::Cluster->new('upgrades');
$node->init;
$node->start;

# what an installation consists of, as text to compare
my $objects = q{
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT pg_describe_object(classid, objid, objsubid) ||
		 coalesce(' ' || (SELECT provolatile::text || proparallel::text || proisstrict::text || prosecdef::text
						  || coalesce(array_to_string(proconfig, ','), '')
						  FROM pg_proc WHERE classid = 'pg_proc'::regclass AND oid = objid), '') ||
		 coalesce(' ' || (SELECT md5(pg_get_viewdef(objid)) FROM pg_class
						  WHERE classid = 'pg_class'::regclass AND oid = objid AND relkind = 'v'), '') AS d
  FROM pg_depend
  WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_infer')) s};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_infer');
my $want = $node->safe_psql('fresh', $objects);
like($want, qr/function train_classifier/, "a fresh install of $current has the current functions");

my $fill = q{
CREATE TABLE t (id int PRIMARY KEY, v vector(3));
INSERT INTO t SELECT i, ARRAY[sin(i), cos(i), i % 7]::vector FROM generate_series(1, 300) i;
};
my $probe = q{SELECT string_agg(id::text, ',') FROM (SELECT id FROM t ORDER BY v <-> '[0.5, 0.5, 3]' LIMIT 10) s};

for my $v (@old)
{
	my $db = 'u' . ($v =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION pg_infer VERSION '$v'");
	$node->safe_psql($db, $fill);
	$node->safe_psql($db, 'CREATE INDEX ON t USING hnsw (v vector_l2_ops)') if $v ge '0.2.0';
	$node->safe_psql($db, q{SELECT load_model('m', 'stories260K.gguf')}) if $v ge '0.4.0';
	my $exact = $node->safe_psql($db, "SET enable_indexscan = off; $probe");
	$node->safe_psql($db, 'ALTER EXTENSION pg_infer UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_infer'}), $current,
		"$v: updated to $current");
	is($node->safe_psql($db, $objects), $want, "$v: the same objects and definitions as a fresh install");
	is($node->safe_psql($db, 'SELECT count(*), sum(id) FROM t'), '300|45150', "$v: the rows are intact");
	is($node->safe_psql($db, "SET enable_seqscan = off; $probe"), $exact, "$v: the index answers as an exact search")
	  if $v ge '0.2.0';
	is($node->safe_psql($db, q{SELECT cardinality(tokenize('m', 'Once upon a time')) > 0}), 't',
		"$v: the model registered before the update is usable") if $v ge '0.4.0';
}

$node->stop;
done_testing();
