# REINDEX, REINDEX CONCURRENTLY, parallel builds, and DROP / CREATE INDEX
# CONCURRENTLY while rows are being inserted.
#
# The table stays under 1000 rows and hnsw.ef_search is 1000, so a search
# explores every element reachable from the entry point and its results are
# exact whatever graph a build drew (levels are random): results before and
# after each rebuild must be identical, and equal to an exact scan.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dim = 16;
srand(13013);

sub random_vector
{
	return '[' . join(',', map { sprintf('%.6f', rand()) } 1 .. $dim) . ']';
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pg_infer'
maintenance_work_mem = '256MB'
max_parallel_maintenance_workers = 2
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
$node->safe_psql('postgres', "CREATE TABLE t (id bigserial PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	'INSERT INTO t (v) VALUES ' . join(',', map { "('" . random_vector() . "')" } 1 .. 800));
$node->safe_psql('postgres', 'CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)');

my @queries = map { random_vector() } 1 .. 20;

# The 10 nearest rows (and distances) of each query; through the index, or
# by an exact scan
sub knn
{
	my ($exact) = @_;
	my $sql = $exact
	  ? "SET enable_indexscan = off; SET enable_bitmapscan = off;\n"
	  : "SET enable_seqscan = off; SET hnsw.ef_search = 1000;\n";
	for my $i (0 .. $#queries)
	{
		$sql .= "SELECT $i, string_agg(id || ':' || round(d::numeric, 6), ',') FROM "
		  . "(SELECT id, v <-> '$queries[$i]' AS d FROM t ORDER BY v <-> '$queries[$i]' LIMIT 10) s;\n";
	}
	return $node->safe_psql('postgres', $sql);
}

# hnsw_check of index $idx as a hash
sub check
{
	my ($idx) = @_;
	my @f = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('$idx')");
	my %c;
	@c{qw(elements deleted heap_tids max_level unreachable problems)} = @f;
	return \%c;
}

sub relfilenode
{
	my ($idx) = @_;
	return $node->safe_psql('postgres', "SELECT pg_relation_filenode('$idx')");
}

like(
	$node->safe_psql(
		'postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v <-> '$queries[0]' LIMIT 10"
	),
	qr/Index Scan using t_v_idx/,
	'k-NN queries use the hnsw index');

my $before = knn(0);
is(scalar(() = $before =~ /:/g), 200, '20 queries return 10 rows each');
is($before, knn(1), 'index results equal an exact scan');

# Deleted elements, then REINDEX
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 8 = 0');
$node->safe_psql('postgres', 'VACUUM t');
my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
my $c = check('t_v_idx');
is("$c->{elements}|$c->{deleted}", "$count|0", 'VACUUM frees the 100 deleted elements');
$before = knn(0);
is($before, knn(1), 'after VACUUM: index results equal an exact scan');

my $old = relfilenode('t_v_idx');
$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
isnt(relfilenode('t_v_idx'), $old, 'REINDEX writes a new relfilenode');
$c = check('t_v_idx');
is("$c->{elements}|$c->{deleted}|$c->{heap_tids}|$c->{unreachable}|$c->{problems}",
	"$count|0|$count|0|{}", 'after REINDEX: one element per row, none deleted, all reachable, no problems');
is(knn(0), $before, 'REINDEX keeps the results identical');

$old = relfilenode('t_v_idx');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY t_v_idx');
isnt(relfilenode('t_v_idx'), $old, 'REINDEX CONCURRENTLY builds a new index');
is($node->safe_psql('postgres', "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = 't_v_idx'::regclass"),
	't', 'REINDEX CONCURRENTLY leaves a valid index');
$c = check('t_v_idx');
is("$c->{elements}|$c->{deleted}|$c->{heap_tids}|$c->{unreachable}|$c->{problems}",
	"$count|0|$count|0|{}", 'after REINDEX CONCURRENTLY: one element per row, all reachable, no problems');
is(knn(0), $before, 'REINDEX CONCURRENTLY keeps the results identical');

# A parallel build: the table asks for 2 workers; the postmaster logs their
# start at DEBUG1
$node->safe_psql('postgres', 'ALTER TABLE t SET (parallel_workers = 2)');
$node->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = 'debug1'");
$node->reload;
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages');
$node->reload;
ok($node->log_contains(qr/starting background worker process "parallel worker for PID/, $log_offset),
	'REINDEX ran a parallel build');
$c = check('t_v_idx');
is("$c->{elements}|$c->{deleted}|$c->{heap_tids}|$c->{unreachable}|$c->{problems}",
	"$count|0|$count|0|{}", 'after a parallel build: one element per row, all reachable, no problems');
is(knn(0), $before, 'a parallel build keeps the results identical');
$node->safe_psql('postgres', 'ALTER TABLE t RESET (parallel_workers)');

# DROP INDEX CONCURRENTLY, CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY
# while two pgbench clients insert rows, one per transaction
my $script = $node->basedir . '/013_insert.sql';
append_to_file($script,
	"INSERT INTO t (v) SELECT array_agg(random())::vector FROM generate_series(1, $dim);\n\\sleep 20 ms\n"
);
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '--no-vacuum', '--client=2', '--jobs=2', '--transactions=120',
		'--file=' . $script, '--host=' . $node->host, '--port=' . $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres', "SELECT count(*) > $count + 20 FROM t")
  or die 'pgbench did not start inserting';

$node->safe_psql('postgres', 'DROP INDEX CONCURRENTLY t_v_idx');
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_v_idx2 ON t USING hnsw (v vector_l2_ops)');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY t_v_idx2');
my $count_ddl_done = $node->safe_psql('postgres', 'SELECT count(*) FROM t');

$pgbench->finish;
is($pgbench->result(0), 0, 'pgbench inserts ran without errors') or diag("stdout:\n$out\nstderr:\n$err");
like($out, qr{processed: 240/240}, 'pgbench inserted 240 rows');
$count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
cmp_ok($count, '>', $count_ddl_done,
	"inserts went on after the concurrent DDL ($count_ddl_done rows then, $count at the end)");
cmp_ok($count, '<', 1000, "table is small enough for exhaustive searches ($count rows)");

is($node->safe_psql('postgres', "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = 't_v_idx2'::regclass"),
	't', 'the concurrently built index is valid');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND NOT indisvalid"),
	'0', 'no invalid index is left behind');
$c = check('t_v_idx2');
is($c->{problems}, '{}', 'hnsw_check finds no problems in the concurrently built index');
is($c->{heap_tids}, $count, 'every row has exactly one heap TID in the index');
is($c->{elements}, $c->{heap_tids}, 'one element per heap TID (no duplicates)');
is($c->{unreachable}, 0, 'every element is reachable');
is( $node->safe_psql(
		'postgres', qq(
SET enable_seqscan = off; SET hnsw.ef_search = 1000;
SELECT count(DISTINCT id) FROM (SELECT id FROM t ORDER BY v <-> '$queries[0]' LIMIT 100000) s;
)),
	$count,
	'a full index scan finds every row');
is(knn(0), knn(1), 'index results after the concurrent DDL equal an exact scan');

$node->stop;
done_testing();
