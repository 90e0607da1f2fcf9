# WAL replay of hnsw indexes on a streaming standby.
#
# After CREATE INDEX every change to an hnsw index goes through GenericXLog
# (the build itself is logged with log_newpage_range).  A primary with
# wal_consistency_checking = 'generic' ships full page images with every
# generic record and the standby compares each replayed page with them, so a
# page change made outside GenericXLog stops the standby.  After each step
# (build, on-disk inserts, duplicates, updates, deletes, VACUUM, inserts
# after VACUUM) the standby must have caught up, return the same index scan
# results as the primary for random queries, and pass hnsw_check() with the
# same counts as the primary.
#
# The structure follows PostgreSQL's contrib/bloom/t/001_wal.pl.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dim = 16;
srand(20240510);

# A random vector literal, coordinates in [0, 1)
sub random_vector
{
	return '[' . join(',', map { sprintf('%.6f', rand()) } 1 .. $dim) . ']';
}

# INSERT of rows ids $from..$to with random vectors
sub insert_sql
{
	my ($from, $to) = @_;
	my @rows = map { "($_, $_ % 10, '" . random_vector() . "')" } $from .. $to;
	return "INSERT INTO tst (id, i, v) VALUES " . join(",\n", @rows) . ";";
}

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pg_infer'
wal_consistency_checking = 'generic'
));
$primary->start;
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
$primary->safe_psql('postgres',
	"CREATE TABLE tst (id int PRIMARY KEY, i int, v vector($dim))");
$primary->safe_psql('postgres', insert_sql(1, 1000));
$primary->safe_psql('postgres',
	'CREATE INDEX tst_v_idx ON tst USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)'
);

# The plan of the test queries must use the index on both nodes
my $plan_sql = "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM tst ORDER BY v <-> '"
  . random_vector() . "' LIMIT 10";

# Compare the primary and the standby after a step
sub check_replay
{
	my ($step, $nqueries) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

	my $sql = "SET enable_seqscan = off;\n";
	for my $q (1 .. $nqueries)
	{
		my $vec = random_vector();
		$sql .= "SELECT $q, id, v <-> '$vec' FROM tst ORDER BY v <-> '$vec' LIMIT 10;\n";
	}
	my $on_primary = $primary->safe_psql('postgres', $sql);
	my $on_standby = $standby->safe_psql('postgres', $sql);
	my $nrows = () = $on_primary =~ /\n/g;
	is($nrows + 1, 10 * $nqueries, "$step: $nqueries queries return 10 rows each");
	is($on_standby, $on_primary, "$step: standby returns the primary's results");

	my $check = 'SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check(\'tst_v_idx\')';
	my $check_primary = $primary->safe_psql('postgres', $check);
	my $check_standby = $standby->safe_psql('postgres', $check);
	note("$step: hnsw_check on the standby $check_standby");
	like($check_standby, qr/\|\{\}$/, "$step: hnsw_check on the standby finds no problems")
	  or diag($check_standby);
	is($check_standby, $check_primary, "$step: hnsw_check counts match the primary");
	return;
}

like($primary->safe_psql('postgres', $plan_sql),
	qr/Index Scan using tst_v_idx/, 'queries use the hnsw index on the primary');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
like($standby->safe_psql('postgres', $plan_sql),
	qr/Index Scan using tst_v_idx/, 'queries use the hnsw index on the standby');

check_replay('build', 10);

# Inserts into the existing index (GenericXLog records), in a few
# transactions of different sizes
$primary->safe_psql('postgres', insert_sql(1001, 1001));
$primary->safe_psql('postgres', insert_sql(1002, 1500));
$primary->safe_psql('postgres', insert_sql(1501, 2000));
check_replay('inserts', 10);
is($standby->safe_psql('postgres', "SELECT elements FROM hnsw_check('tst_v_idx')"),
	'2000', 'standby index has 2000 elements');

# Duplicates share an element: 12 rows with one value (more than the 10 heap
# TIDs an element holds)
my $dup = random_vector();
$primary->safe_psql('postgres',
	"INSERT INTO tst (id, i, v) SELECT g, g % 10, '$dup' FROM generate_series(2001, 2012) g");
check_replay('duplicates', 5);
is( $standby->safe_psql(
		'postgres', "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id, v FROM tst ORDER BY v <-> '$dup' LIMIT 12) s WHERE s.v = '$dup'"
	),
	'12',
	'standby finds all 12 duplicates through the index');

# Updates insert new index entries for the new row versions
$primary->safe_psql('postgres',
	"UPDATE tst SET v = v * v WHERE id % 7 = 0");
check_replay('updates', 10);

# Deletes, then VACUUM (bulk delete frees the deleted elements' tuples)
$primary->safe_psql('postgres', 'DELETE FROM tst WHERE i IN (1, 2, 3)');
check_replay('deletes', 10);
$primary->safe_psql('postgres', 'VACUUM tst');
check_replay('vacuum', 10);
my ($elements, $deleted, $heap_tids) = split /\|/,
  $standby->safe_psql('postgres', "SELECT elements, deleted, heap_tids FROM hnsw_check('tst_v_idx')");
is($deleted, 0, 'standby index: VACUUM freed the deleted elements');
is($elements, $primary->safe_psql('postgres', "SELECT elements FROM hnsw_check('tst_v_idx')"),
	'standby index has as many elements as the primary after VACUUM');
is($heap_tids, $primary->safe_psql('postgres', 'SELECT count(*) FROM tst'),
	'standby index holds one heap TID per row after VACUUM');

# Inserts after VACUUM, then a second VACUUM round
$primary->safe_psql('postgres', insert_sql(3001, 3500));
check_replay('inserts after vacuum', 10);
$primary->safe_psql('postgres', 'DELETE FROM tst WHERE i = 4');
$primary->safe_psql('postgres', 'VACUUM tst');
$primary->safe_psql('postgres', insert_sql(3501, 3600));
check_replay('second vacuum and inserts', 20);

# A standby that met an inconsistent page would have stopped with a FATAL
# "inconsistent page found" and never caught up; make it explicit.
ok(!$standby->log_contains(qr/inconsistent page found|PANIC|FATAL/),
	'standby log has no inconsistent page, PANIC or FATAL');

$standby->stop;
$primary->stop;
done_testing();
