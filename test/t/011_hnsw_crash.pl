# Crash recovery of hnsw indexes.
#
# The server is stopped in immediate mode (no shutdown checkpoint, shared
# buffers lost) right after CREATE INDEX, several times while two sessions
# insert rows one per transaction, and right after a VACUUM; recovery then
# replays the index's WAL.  After each restart:
#
#  - hnsw_check() reports no problems, and no unreachable element whose row
#    is not dead (an insert cut by the crash may leave an element nothing
#    links to yet, but its transaction never committed: its row is dead);
#  - every committed row has exactly one heap TID in the index: with no
#    duplicate values, count(*) <= heap_tids <= count(*) + 2, since each of
#    the two sessions may leave one uncommitted row whose index entry was
#    replayed (its heap tuple is dead, VACUUM removes the entry later);
#  - every committed row is found: the table stays under 1000 rows, so with
#    hnsw.ef_search = 1000 a scan explores every element reachable from the
#    entry point, and one index scan must return count(*) distinct rows;
#  - every committed row is its own nearest neighbour through the index
#    (one exact-match k-NN query per row);
#  - for random queries the 5 nearest rows through the index equal an exact
#    scan.
#
# Then all-zero pages at the end of the index, as a crash leaves them when
# it comes between a relation extension and the new page's first WAL
# record: hnsw_check does not count them as problems, VACUUM and inserts
# (which then add pages after them) work.
#
# Then a crash in the middle of a VACUUM of a 20,000-row table: no problems,
# searches work, and a second VACUUM completes the job.  Last, an unlogged
# table with an hnsw index: after a crash both are empty (reset from the
# init fork) and inserts and searches work again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $dim = 8;
srand(11011);

sub random_vector
{
	return '[' . join(',', map { sprintf('%.6f', rand()) } 1 .. $dim) . ']';
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
# No checkpoint between the steps: recovery replays all the index's WAL
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pg_infer'
checkpoint_timeout = '1h'
max_wal_size = '1GB'
));
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
$node->safe_psql('postgres',
	"CREATE TABLE t (id bigserial PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	'INSERT INTO t (v) VALUES '
	  . join(',', map { "('" . random_vector() . "')" } 1 .. 100));
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres',
	'CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)');

# The invariants above, after a crash named $step; $inflight is the number of
# uncommitted index entries the crash may have left
sub check_after_crash
{
	my ($step, $inflight) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	my $check = $node->safe_psql('postgres',
		"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('t_v_idx')");
	note "$step: $count rows, hnsw_check $check";
	my ($elements, $deleted, $heap_tids, $max_level, $unreachable, $problems) =
	  split /\|/, $check;

	is($problems, '{}', "$step: hnsw_check finds no problems");
	is($unreachable, '0', "$step: no committed row's element is unreachable");
	cmp_ok($count, '<', 1000, "$step: table is small enough for an exhaustive scan ($count rows)");
	ok( $heap_tids >= $count && $heap_tids <= $count + $inflight,
		"$step: index has one heap TID per committed row (heap_tids $heap_tids, rows $count, at most $inflight in flight)"
	);
	is($elements - $deleted, $heap_tids, "$step: one live element per heap TID (no duplicates)");

	my $q = random_vector();
	my $found = $node->safe_psql(
		'postgres', qq(
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SELECT count(DISTINCT id) FROM (SELECT id FROM t ORDER BY v <-> '$q' LIMIT 100000) s;
));
	is($found, $count, "$step: a full index scan finds every committed row");

	# every row through the index, one query each (plan checked below)
	my $missed = $node->safe_psql(
		'postgres', qq(
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SELECT count(*) FROM t WHERE id <> (SELECT s.id FROM t s ORDER BY s.v <-> t.v LIMIT 1);
));
	is($missed, '0', "$step: every committed row is found by an exact-match query through the index");

	my ($index_sql, $exact_sql) = ('', '');
	for my $i (1 .. 10)
	{
		my $v = random_vector();
		my $one = "SELECT $i, string_agg(id::text, ',') FROM (SELECT id FROM t ORDER BY v <-> '$v' LIMIT 5) s;\n";
		$index_sql .= $one;
		$exact_sql .= $one;
	}
	my $by_index = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = 1000;\n$index_sql");
	my $exact = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off;\n$exact_sql");
	is($by_index, $exact, "$step: 5 nearest rows through the index equal an exact scan");
	return;
}

# Plans: the checks above must go through the index
like(
	$node->safe_psql(
		'postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v <-> '"
		  . random_vector() . "' LIMIT 5"
	),
	qr/Index Scan using t_v_idx/,
	'k-NN queries use the hnsw index');
like(
	$node->safe_psql(
		'postgres',
		'SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT count(*) FROM t WHERE id <> (SELECT s.id FROM t s ORDER BY s.v <-> t.v LIMIT 1)'
	),
	qr/SubPlan.*\n.*Limit\n.*Index Scan using t_v_idx on t s/s,
	'the per-row exact-match queries use the hnsw index');

# 1. Crash right after the build: its pages come back from WAL
$node->stop('immediate');
$node->start;
check_after_crash('crash after CREATE INDEX', 0);

# 2. Crashes while two sessions insert one row per transaction
my $insert_loop = qq(
DO \$\$
BEGIN
	FOR i IN 1..150 LOOP
		INSERT INTO t (v) SELECT array_agg(random())::vector FROM generate_series(1, $dim);
		COMMIT;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
\$\$;
);
for my $round (1 .. 3)
{
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	my @sessions;
	for my $s (1 .. 2)
	{
		my $bg = $node->background_psql('postgres', on_error_stop => 0);
		$bg->query_until(qr/started/, "\\echo started\n$insert_loop");
		push @sessions, $bg;
	}
	$node->poll_query_until('postgres', "SELECT count(*) >= $before + 100 FROM t")
	  or die "inserts did not start";
	$node->stop('immediate');
	# the sessions lost their server; psql exits with an error
	for my $bg (@sessions)
	{
		eval { $bg->quit; };
	}
	$node->start;
	my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	cmp_ok($after, '<', $before + 300, "round $round: crash came before the inserts ended ($before -> $after rows)");
	check_after_crash("crash during inserts, round $round", 2 * $round);
}

# 3. Crash right after a VACUUM that frees deleted elements
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 3 = 0');
$node->safe_psql('postgres', 'VACUUM t');
$node->stop('immediate');
$node->start;
check_after_crash('crash after VACUUM', 0);
is($node->safe_psql('postgres', "SELECT deleted, elements = heap_tids FROM hnsw_check('t_v_idx')"), '0|t',
	'crash after VACUUM: the freed elements stay freed, one element per heap TID');

# 3b. All-zero pages at the end of the index, as a crash leaves them after
# a relation extension whose page was never WAL-logged (PageIsNew)
my $idx_file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('t_v_idx')");
my $blocks_before = $node->safe_psql('postgres', "SELECT pg_relation_size('t_v_idx') / 8192");
my $check_before = $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, max_level FROM hnsw_check('t_v_idx')");
$node->stop('immediate');
open(my $fh, '>>', $idx_file) or die "could not open $idx_file: $!";
binmode $fh;
print $fh "\0" x (8192 * 3);
close $fh;
$node->start;
is($node->safe_psql('postgres', "SELECT pg_relation_size('t_v_idx') / 8192"),
	$blocks_before + 3, 'three all-zero pages at the end of the index');
is($node->safe_psql('postgres', "SELECT problems FROM hnsw_check('t_v_idx')"),
	'{}', 'all-zero pages: hnsw_check finds no problems');
is( $node->safe_psql(
		'postgres', "SELECT elements, deleted, heap_tids, max_level FROM hnsw_check('t_v_idx')"),
	$check_before,
	'all-zero pages: hnsw_check counts the same elements');
$node->safe_psql('postgres', 'VACUUM t');
is($node->safe_psql('postgres', "SELECT problems FROM hnsw_check('t_v_idx')"),
	'{}', 'all-zero pages: VACUUM works, no problems after it');
# inserts fill the insert page, then add pages after the zero ones
$node->safe_psql('postgres',
	'INSERT INTO t (v) VALUES ' . join(',', map { "('" . random_vector() . "')" } 1 .. 300));
cmp_ok($node->safe_psql('postgres', "SELECT pg_relation_size('t_v_idx') / 8192"),
	'>', $blocks_before + 3, 'inserts add pages after the all-zero ones');
check_after_crash('all-zero pages, then inserts', 0);
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 2 = 0');
$node->safe_psql('postgres', 'VACUUM t');
check_after_crash('all-zero pages, then DELETE and VACUUM', 0);

# 4. Crash in the middle of a VACUUM of the index (removing heap TIDs, then
# repairing the graph: many pages, one WAL record at a time), on a larger
# table of its own
$node->safe_psql('postgres', "CREATE TABLE w (id int PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	"INSERT INTO w SELECT g, (SELECT array_agg(random()) FROM generate_series(1, $dim) WHERE g > 0)::vector FROM generate_series(1, 20000) g"
);
$node->safe_psql('postgres', 'CREATE INDEX w_v_idx ON w USING hnsw (v vector_l2_ops)');
$node->safe_psql('postgres', 'DELETE FROM w WHERE id % 2 = 0');
my $vacuum = $node->background_psql('postgres', on_error_stop => 0);
$vacuum->query_until(qr/started/, "\\echo started\nVACUUM w;\n");
$node->poll_query_until('postgres',
	"SELECT phase = 'vacuuming indexes' FROM pg_stat_progress_vacuum WHERE relid = 'w'::regclass")
  or die 'VACUUM did not reach its index phase';
usleep(400_000);
is( $node->safe_psql(
		'postgres', "SELECT phase FROM pg_stat_progress_vacuum WHERE relid = 'w'::regclass"),
	'vacuuming indexes',
	'VACUUM is still vacuuming the index when the crash comes');
$node->stop('immediate');
eval { $vacuum->quit; };
$node->start;

my ($w_elements, $w_deleted, $w_heap_tids, $w_unreachable, $w_problems) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, unreachable, problems FROM hnsw_check('w_v_idx')");
note("after a crash during VACUUM: hnsw_check $w_elements|$w_deleted|$w_heap_tids|$w_unreachable|$w_problems");
is($w_problems, '{}', 'crash during VACUUM: hnsw_check finds no problems');
ok($w_heap_tids >= 10000 && $w_heap_tids <= 20000,
	"crash during VACUUM: the index still has every live row's heap TID ($w_heap_tids)");

# k-NN through the index against an exact scan, for 20 random queries
sub recall_w
{
	my ($sql_index, $sql_exact) = ('SET enable_seqscan = off; SET hnsw.ef_search = 100;', 'SET enable_indexscan = off;');
	for my $i (1 .. 20)
	{
		my $v = random_vector();
		my $one = "SELECT string_agg(id::text, ',') FROM (SELECT id FROM w ORDER BY v <-> '$v' LIMIT 10) s;\n";
		$sql_index .= $one;
		$sql_exact .= $one;
	}
	my @got = split /\n/, $node->safe_psql('postgres', $sql_index);
	my @want = split /\n/, $node->safe_psql('postgres', $sql_exact);
	my $hits = 0;
	for my $i (0 .. $#want)
	{
		my %w = map { $_ => 1 } split /,/, $want[$i];
		$hits += grep { $w{$_} } split /,/, ($got[$i] // '');
	}
	return $hits / 200;
}
my $rw = recall_w();
cmp_ok($rw, '>=', 0.9, "crash during VACUUM: recall\@10 at ef_search 100 is $rw (>= 0.9)");

# VACUUM again finishes the job
$node->safe_psql('postgres', 'VACUUM w');
($w_elements, $w_deleted, $w_heap_tids, $w_unreachable, $w_problems) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, unreachable, problems FROM hnsw_check('w_v_idx')");
note("after VACUUM again: hnsw_check $w_elements|$w_deleted|$w_heap_tids|$w_unreachable|$w_problems");
is("$w_elements|$w_deleted|$w_heap_tids|$w_problems", '10000|0|10000|{}',
	'VACUUM after the crash: the 10,000 deleted elements freed, one heap TID per row, no problems');
cmp_ok($w_unreachable, '<=', 100, "VACUUM after the crash: at most 1% of live elements unreachable ($w_unreachable)");
$rw = recall_w();
cmp_ok($rw, '>=', 0.9, "VACUUM after the crash: recall\@10 at ef_search 100 is $rw (>= 0.9)");

# 5. Unlogged table: empty after a crash, then usable again
$node->safe_psql('postgres',
	"CREATE UNLOGGED TABLE u (id bigserial PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	'INSERT INTO u (v) VALUES ' . join(',', map { "('" . random_vector() . "')" } 1 .. 200));
$node->safe_psql('postgres', 'CREATE INDEX u_v_idx ON u USING hnsw (v vector_l2_ops)');
$node->safe_psql('postgres',
	'INSERT INTO u (v) VALUES ' . join(',', map { "('" . random_vector() . "')" } 1 .. 100));
is($node->safe_psql('postgres', "SELECT elements, problems FROM hnsw_check('u_v_idx')"),
	'300|{}', 'unlogged index holds 300 elements before the crash');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM u'), '0', 'unlogged table is empty after the crash');
is( $node->safe_psql(
		'postgres', "SELECT elements, heap_tids, max_level, problems FROM hnsw_check('u_v_idx')"),
	'0|0|-1|{}',
	'unlogged index is empty after the crash');
is( $node->safe_psql(
		'postgres', "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM u ORDER BY v <-> '"
		  . random_vector() . "' LIMIT 10) s"
	),
	'0',
	'a search of the empty unlogged index returns nothing');

$node->safe_psql('postgres',
	'INSERT INTO u (v) VALUES ' . join(',', map { "('" . random_vector() . "')" } 1 .. 300));
is($node->safe_psql('postgres', "SELECT elements, heap_tids, problems FROM hnsw_check('u_v_idx')"),
	'300|300|{}', 'unlogged index takes inserts again');
my $q = random_vector();
is( $node->safe_psql(
		'postgres', "SET enable_seqscan = off; SET hnsw.ef_search = 1000; SELECT string_agg(id::text, ',') FROM (SELECT id FROM u ORDER BY v <-> '$q' LIMIT 10) s"
	),
	$node->safe_psql(
		'postgres', "SET enable_indexscan = off; SELECT string_agg(id::text, ',') FROM (SELECT id FROM u ORDER BY v <-> '$q' LIMIT 10) s"
	),
	'unlogged index search after the crash equals an exact scan');

# A clean restart keeps the unlogged table and its index
$node->restart;
is($node->safe_psql('postgres', "SELECT count(*), (SELECT heap_tids FROM hnsw_check('u_v_idx')) FROM u"),
	'300|300', 'unlogged table and index survive a clean restart');

$node->stop;
done_testing();
