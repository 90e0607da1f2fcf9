# Every committed row stays reachable in an hnsw index.
#
# 1. A crash can end the WAL anywhere in an insert's records, before its
#    transaction commits.  Point-in-time recovery to each record of one
#    insert reproduces each such crash: after every cut, hnsw_check() finds
#    no problems (the entry point is the element of the top level, even when
#    the insert was the index's first), no committed row is unreachable (the
#    cut insert's own element is a dead row and is not counted), every
#    committed row is found through the index, and VACUUM then removes the
#    dead row's heap TID and leaves a sound index that takes inserts.
#
# 2. Pruning can take the last link to an element: with m = 2 and clustered
#    values, many elements lose all their in-links while rows are inserted
#    one by one and deleted.  VACUUM links every live element that the entry
#    point cannot reach, so afterwards hnsw_check() counts no unreachable
#    element and an exhaustive index scan returns every row; a VACUUM with
#    nothing to delete does the same.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(has_archiving => 1, allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pg_infer'
autovacuum = off
checkpoint_timeout = '1h'
));
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_walinspect');
$primary->safe_psql('postgres', 'CREATE TABLE e (id int PRIMARY KEY, v vector(4))');
$primary->safe_psql('postgres',
	'CREATE INDEX e_v ON e USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16)');
$primary->safe_psql('postgres', 'CREATE TABLE f (id int PRIMARY KEY, v vector(4))');
$primary->safe_psql('postgres',
	'INSERT INTO f SELECT g, ARRAY[g % 7, g % 11, g % 13, g % 17]::vector FROM generate_series(1, 300) g');
$primary->safe_psql('postgres',
	'CREATE INDEX f_v ON f USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16)');
$primary->backup('base');

# One uncommitted insert into each index; the WAL records of its transaction
# are written (pg_switch_wal sends them to the archive) but it never commits
my $session = $primary->background_psql('postgres', on_error_stop => 1);
$session->query_safe(
	q(BEGIN; INSERT INTO e VALUES (1, '[1,2,3,4]'); INSERT INTO f VALUES (1000, '[3,5,7,9]')));
my $xid = $session->query_safe('SELECT pg_current_xact_id()');
$xid =~ s/\s+//g;
my $end = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my $start = $primary->safe_psql('postgres',
	"SELECT redo_lsn FROM pg_control_checkpoint()");
my $segment = $primary->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
$primary->poll_query_until('postgres',
	"SELECT last_archived_wal >= '$segment' FROM pg_stat_archiver")
  or die 'the WAL was not archived';

# The records of that transaction that touch the indexes, in order
my @cuts = split /\n/, $primary->safe_psql(
	'postgres', qq(
SELECT start_lsn || ' ' || (SELECT relname FROM pg_class
	WHERE relfilenode = substring(block_ref from '/(\\d+) (?:fork \\w+ )?blk')::oid)
FROM pg_get_wal_records_info('$start', '$end')
WHERE xid = '$xid'::xid AND resource_manager = 'Generic'
ORDER BY start_lsn));
note('records of the uncommitted inserts: ' . join('; ', @cuts));
ok(scalar(grep { / e_v$/ } @cuts) >= 1, 'the insert into the empty index wrote WAL records');
ok(scalar(grep { / f_v$/ } @cuts) >= 2, 'the insert into the 300-row index wrote WAL records');

# Recover a copy to just after the record at $lsn (a crash right after it)
my $n = 0;
sub recover_to
{
	my ($lsn) = @_;
	my $node = PostgreSQL::Test::Cluster->new('cut' . $n++);
	$node->init_from_backup($primary, 'base', has_restoring => 1, standby => 0);
	$node->append_conf(
		'postgresql.conf', qq(
recovery_target_lsn = '$lsn'
recovery_target_inclusive = on
recovery_target_timeline = 'current'
recovery_target_action = 'promote'
archive_mode = off
));
	$node->start;
	$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'recovery did not end';
	ok($node->log_contains(qr/recovery stopping after WAL location \(LSN\) "$lsn"/),
		"recovery stopped right after the record at $lsn");
	return $node;
}

# The index is sound, all its committed rows are found, and VACUUM and
# inserts work
sub check_index
{
	my ($node, $cut, $table, $index, $rows) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my ($elements, $heap_tids, $unreachable, $problems) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT elements, heap_tids, unreachable, problems FROM hnsw_check('$index')");
	note("$cut: $index: $elements elements, $heap_tids heap TIDs, $unreachable unreachable, problems $problems");
	is($problems, '{}', "$cut: hnsw_check of $index finds no problems");
	is($unreachable, '0', "$cut: no committed row of $table is unreachable");
	is($node->safe_psql('postgres', "SELECT count(*) FROM $table"),
		$rows, "$cut: $table has its committed rows only");
	is( $node->safe_psql(
			'postgres', qq(
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SELECT count(*) FROM $table WHERE id <> (SELECT s.id FROM $table s ORDER BY s.v <-> $table.v LIMIT 1);
)),
		'0',
		"$cut: every committed row of $table is found through the index");
	$node->safe_psql('postgres', "VACUUM $table");
	is( $node->safe_psql(
			'postgres',
			"SELECT heap_tids, unreachable, problems FROM hnsw_check('$index')"),
		"$rows|0|{}",
		"$cut: after VACUUM, $index has one heap TID per row and no problems");
	$node->safe_psql('postgres',
		"INSERT INTO $table SELECT 5000 + g, ARRAY[g, g + 1, g + 2, g + 3]::vector FROM generate_series(1, 20) g"
	);
	is( $node->safe_psql(
			'postgres', qq(
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SELECT count(*) FROM $table WHERE id <> (SELECT s.id FROM $table s ORDER BY s.v <-> $table.v LIMIT 1);
)),
		'0',
		"$cut: rows inserted after recovery are found through the index");
	return;
}

my %seen = (e_v => 0, f_v => 0);
for my $cut (@cuts)
{
	my ($lsn, $index) = split / /, $cut;
	next unless defined $index && exists $seen{$index};
	my $k = ++$seen{$index};
	my $node = recover_to($lsn);
	if ($index eq 'e_v')
	{
		check_index($node, "cut after record $k of the first insert", 'e', 'e_v', 0);
	}
	else
	{
		check_index($node, "cut after record $k of an insert", 'f', 'f_v', 300);
	}
	$node->stop;
}
$session->quit;

# 2. Elements pruned out of every neighbour list; VACUUM links them again
$primary->safe_psql('postgres', 'CREATE TABLE o (id int PRIMARY KEY, v vector(8))');
$primary->safe_psql('postgres',
	'INSERT INTO o SELECT g, (SELECT array_agg(floor(random() * 4)::float4 + 0.05 * random()) FROM generate_series(1, 8) WHERE g > 0)::vector FROM generate_series(1, 500) g'
);
$primary->safe_psql('postgres',
	'CREATE INDEX o_v ON o USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 10)');
# one by one, each insert pruning others
$primary->safe_psql('postgres',
	'INSERT INTO o SELECT g, (SELECT array_agg(floor(random() * 4)::float4 + 0.05 * random()) FROM generate_series(1, 8) WHERE g > 0)::vector FROM generate_series(501, 3000) g'
);
my $pruned = $primary->safe_psql('postgres', "SELECT unreachable FROM hnsw_check('o_v')");
note("after 2500 inserts with m = 2: $pruned unreachable elements");

sub exhaustive_scan
{
	my ($table) = @_;
	return $primary->safe_psql(
		'postgres', qq(
SET enable_seqscan = off;
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.max_scan_tuples = 1000000;
SET hnsw.ef_search = 1000;
SELECT count(DISTINCT id) FROM (SELECT id FROM $table ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 100000) s;
));
}

# VACUUM with nothing to delete (amvacuumcleanup only)
$primary->safe_psql('postgres', 'VACUUM o');
is($primary->safe_psql('postgres', "SELECT unreachable, problems FROM hnsw_check('o_v')"),
	'0|{}', 'VACUUM without dead rows links every unreachable element');
is(exhaustive_scan('o'), '3000', 'an exhaustive index scan returns all 3000 rows');

# more pruning, deletes, then VACUUM with dead rows (bulk delete, repair)
$primary->safe_psql('postgres',
	'INSERT INTO o SELECT g, (SELECT array_agg(floor(random() * 4)::float4 + 0.05 * random()) FROM generate_series(1, 8) WHERE g > 0)::vector FROM generate_series(3001, 4000) g'
);
$primary->safe_psql('postgres', 'DELETE FROM o WHERE id % 3 = 0');
$primary->safe_psql('postgres', 'VACUUM o');
my $left = $primary->safe_psql('postgres', 'SELECT count(*) FROM o');
is( $primary->safe_psql(
		'postgres', "SELECT heap_tids, unreachable, problems FROM hnsw_check('o_v')"),
	"$left|0|{}",
	'VACUUM after deletes links every unreachable element');
is(exhaustive_scan('o'), $left, "an exhaustive index scan returns all $left rows");

$primary->stop;
done_testing();
