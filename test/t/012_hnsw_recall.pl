# Recall of hnsw indexes against exact search.
#
# 10,000 clustered 32-dimensional vectors inserted in random order (seeded),
# index built by CREATE INDEX, 100 queries from the same distribution:
#
#  - recall@10 at hnsw.ef_search = 100 after the build must be >= 0.95
#    (and >= 0.85 at ef_search 10, which shows a weak graph sooner), for a
#    serial and then a parallel build;
#  - 4 pgbench clients insert 5,000 more rows while the index exists;
#    hnsw_check() finds no problems, one heap TID per row, and recall on the
#    15,000 rows is still >= 0.95;
#  - half of the rows are deleted and VACUUMed: hnsw_check() counts the
#    deleted elements and finds no problems, recall against an exact search
#    of the remaining rows must be >= 0.90;
#  - cosine, inner product and L1 opclasses at small scale: recall >= 0.90;
#  - inner product on rows inserted into an existing index: recall within
#    0.015 of the same rows indexed by CREATE INDEX (and >= 0.975);
#  - a filtered query (WHERE category = ...) returns rows; with
#    hnsw.iterative_scan = relaxed_order or strict_order a rare category
#    (20 rows) fills the LIMIT of 10, strict_order in distance order.
#
# The measured recall values are printed in the test names.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

srand(12012);

my $dim = 32;
my $nclusters = 50;
my $sigma = 0.25;    # clusters about as wide as the distance between them

# A standard normal deviate (Box-Muller)
sub gaussian
{
	return sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand());
}

# Cluster centres, uniform in [-1, 1)^d
sub make_centers
{
	my ($n, $d) = @_;
	return [ map { [ map { 2 * rand() - 1 } 1 .. $d ] } 1 .. $n ];
}

# A point of cluster $c: centre plus gaussian noise of deviation $sigma
sub clustered_point
{
	my ($centers, $c) = @_;
	return '[' . join(',', map { sprintf('%.5f', $_ + $sigma * gaussian()) } @{ $centers->[$c] }) . ']';
}

# INSERT statements (1000 rows each) for $n clustered rows in random order
sub insert_clustered
{
	my ($table, $centers, $n) = @_;
	my @stmts;
	my @rows;
	for my $i (1 .. $n)
	{
		my $c = int(rand(scalar @$centers));
		my $cat = 'c' . int(rand(10));
		push @rows, "('$cat', '" . clustered_point($centers, $c) . "')";
		if (@rows == 1000 || $i == $n)
		{
			push @stmts, "INSERT INTO $table (category, v) VALUES " . join(",\n", @rows) . ";";
			@rows = ();
		}
	}
	return join("\n", @stmts);
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'pg_infer'
max_connections = 20
maintenance_work_mem = '256MB'
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');

# recall@$k of the index against an exact scan, for the queries in table
# $qtable ORDER BY $op; returns (recall, rows returned by the index)
sub recall
{
	my (%p) = @_;
	my ($table, $qtable, $op, $k, $ef, $where) = @p{qw(table queries op k ef where)};
	my $index = $p{index} // "${table}_v_idx";
	$where = $where ? "WHERE $where" : '';
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $sql = qq(
SELECT q.qid, (SELECT string_agg(id::text, ',') FROM
		(SELECT t.id FROM $table t $where ORDER BY t.v $op q.v LIMIT $k) s)
	FROM $qtable q ORDER BY q.qid);
	my $plan = $node->safe_psql('postgres',
		"SET enable_seqscan = off; EXPLAIN (COSTS OFF) $sql");
	like($plan, qr/Index Scan using $index/, "$p{name}: the query plan uses $index")
	  or diag($plan);
	my $approx = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = $ef; $sql");
	my $exact = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; $sql");

	my %want;
	for my $line (split /\n/, $exact)
	{
		my ($qid, $ids) = split /\|/, $line;
		$want{$qid} = { map { $_ => 1 } split /,/, ($ids // '') };
	}
	my ($hits, $total, $returned) = (0, 0, 0);
	for my $line (split /\n/, $approx)
	{
		my ($qid, $ids) = split /\|/, $line;
		my $qhits = 0;
		for my $id (split /,/, ($ids // ''))
		{
			$returned++;
			$qhits++ if $want{$qid}{$id};
		}
		note("$p{name}: query $qid finds $qhits of $k") if $qhits < $k;
		$hits += $qhits;
	}
	$total += scalar(keys %{ $want{$_} }) for keys %want;
	return ($total ? $hits / $total : 0, $returned, $total);
}

# ---------------------------------------------------------------------------
# 10,000 clustered rows, CREATE INDEX
my $centers = make_centers($nclusters, $dim);
$node->safe_psql('postgres',
	"CREATE TABLE t (id bigserial PRIMARY KEY, category text, v vector($dim))");
$node->safe_psql('postgres',
	"CREATE TABLE centers (c int PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	'INSERT INTO centers VALUES '
	  . join(',', map { "($_, '[" . join(',', @{ $centers->[$_] }) . "]')" } 0 .. $nclusters - 1));
$node->safe_psql('postgres', insert_clustered('t', $centers, 10000));
# 20 rows of a rare category 'x', spread over the clusters (ids are in random
# cluster order); VACUUM so that the build sees no dead row versions
$node->safe_psql('postgres', "UPDATE t SET category = 'x' WHERE id % 500 = 0");
$node->safe_psql('postgres', 'VACUUM t');
$node->safe_psql('postgres', 'CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)');

$node->safe_psql('postgres', "CREATE TABLE q (qid int PRIMARY KEY, v vector($dim))");
$node->safe_psql('postgres',
	'INSERT INTO q VALUES '
	  . join(',', map { "($_, '" . clustered_point($centers, int(rand($nclusters))) . "')" } 1 .. 100));

my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
cmp_ok($count, '>=', 10000, "table has $count rows");
my ($r, $returned, $total) = recall(name => 'build', table => 't', queries => 'q', op => '<->', k => 10, ef => 100);
is($returned, 1000, 'build: every query returns 10 rows');
cmp_ok($r, '>=', 0.95, sprintf('build: recall@10 at ef_search 100 is %.4f (>= 0.95)', $r));
diag(sprintf('recall@10, ef_search 100, 10,000 rows after CREATE INDEX: %.4f', $r));
my ($r40) = recall(name => 'build ef 40', table => 't', queries => 'q', op => '<->', k => 10, ef => 40);
# a narrow beam shows a weak graph long before ef_search 100 does
my ($r10) = recall(name => 'build ef 10', table => 't', queries => 'q', op => '<->', k => 10, ef => 10);
cmp_ok($r10, '>=', 0.85, sprintf('build: recall@10 at ef_search 10 is %.4f (>= 0.85)', $r10));
note(sprintf('recall@10 at ef_search 40 after CREATE INDEX: %.4f', $r40));
cmp_ok($r, '>=', $r40, sprintf('build: recall at ef_search 100 (%.4f) >= at ef_search 40 (%.4f)', $r, $r40));

my $check = $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('t_v_idx')");
note("after build: hnsw_check $check");
my ($elements, $deleted, $heap_tids, $max_level, $unreachable, $problems) = split /\|/, $check;
is($problems, '{}', 'build: hnsw_check finds no problems');
is($heap_tids, $count, 'build: one heap TID per row');
cmp_ok($max_level, '>=', 1, "build: the graph has upper layers (max level $max_level)");
cmp_ok($unreachable, '<=', $elements / 100, "build: at most 1% of elements unreachable ($unreachable)");

# The same index built in parallel (the table asks for 2 workers; the
# postmaster logs their start at DEBUG1); the rest of the test goes on with it
$node->safe_psql('postgres', 'DROP INDEX t_v_idx');
$node->safe_psql('postgres', 'ALTER TABLE t SET (parallel_workers = 2)');
$node->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = 'debug1'");
$node->reload;
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages');
$node->safe_psql('postgres', 'ALTER TABLE t RESET (parallel_workers)');
$node->reload;
ok($node->log_contains(qr/starting background worker process "parallel worker for PID/, $log_offset),
	'parallel build: CREATE INDEX ran parallel workers');
$check = $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('t_v_idx')");
note("after parallel build: hnsw_check $check");
($elements, $deleted, $heap_tids, $max_level, $unreachable, $problems) = split /\|/, $check;
is($problems, '{}', 'parallel build: hnsw_check finds no problems');
is($heap_tids, $count, 'parallel build: one heap TID per row');
cmp_ok($unreachable, '<=', $elements / 100, "parallel build: at most 1% of elements unreachable ($unreachable)");
($r, $returned) = recall(name => 'parallel build', table => 't', queries => 'q', op => '<->', k => 10, ef => 100);
is($returned, 1000, 'parallel build: every query returns 10 rows');
cmp_ok($r, '>=', 0.95, sprintf('parallel build: recall@10 at ef_search 100 is %.4f (>= 0.95)', $r));
diag(sprintf('recall@10, ef_search 100, 10,000 rows after a parallel CREATE INDEX: %.4f', $r));
($r10) = recall(name => 'parallel build ef 10', table => 't', queries => 'q', op => '<->', k => 10, ef => 10);
cmp_ok($r10, '>=', 0.85, sprintf('parallel build: recall@10 at ef_search 10 is %.4f (>= 0.85)', $r10));

# ---------------------------------------------------------------------------
# 4 clients insert 5,000 rows concurrently, one per transaction
my $insert_script = qq(
\\set c random(0, @{[ $nclusters - 1 ]})
INSERT INTO t (category, v)
	SELECT 'c' || (random() * 9)::int,
		c.v + (SELECT array_agg($sigma * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
			FROM generate_series(1, $dim))::vector
	FROM centers c WHERE c.c = :c;
);
$node->pgbench(
	'--no-vacuum --client=4 --jobs=2 --transactions=1250',
	0,
	[qr{processed: 5000/5000}],
	[qr{^$}],
	'4 concurrent clients insert 5,000 rows',
	{ '012_hnsw_recall_insert.sql' => $insert_script });

$count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
is($count, 15000, 'table has 15,000 rows after the concurrent inserts');
$check = $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('t_v_idx')");
note("after concurrent inserts: hnsw_check $check");
($elements, $deleted, $heap_tids, $max_level, $unreachable, $problems) = split /\|/, $check;
is($problems, '{}', 'concurrent inserts: hnsw_check finds no problems');
is($heap_tids, $count, 'concurrent inserts: one heap TID per row');
cmp_ok($unreachable, '<=', $elements / 100,
	"concurrent inserts: at most 1% of elements unreachable ($unreachable)");

($r, $returned) = recall(name => 'inserts', table => 't', queries => 'q', op => '<->', k => 10, ef => 100);
is($returned, 1000, 'concurrent inserts: every query returns 10 rows');
cmp_ok($r, '>=', 0.95, sprintf('concurrent inserts: recall@10 at ef_search 100 is %.4f (>= 0.95)', $r));
diag(sprintf('recall@10, ef_search 100, 15,000 rows after concurrent inserts: %.4f', $r));

# Filtered queries.  A common category (about 10% of rows) finds rows among
# the ef_search candidates.
my $qv = $node->safe_psql('postgres', 'SELECT v FROM q WHERE qid = 1');
my $filtered = $node->safe_psql(
	'postgres', qq(
SET enable_seqscan = off; SET hnsw.ef_search = 100;
SELECT count(*) FROM (SELECT id FROM t WHERE category = 'c3' ORDER BY v <-> '$qv' LIMIT 10) s;
));
cmp_ok($filtered, '>', 0, "filtered query on a common category returns rows ($filtered)");

# A rare category (20 rows in 15,000): a plain scan sees only the ef_search
# nearest elements; an iterative scan goes on until the LIMIT is met
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE category = 'x'"),
	'20', 'rare category has 20 rows');
my $rare = "SELECT id, v <-> '$qv' FROM t WHERE category = 'x' ORDER BY v <-> '$qv' LIMIT 10";
like(
	$node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $rare"),
	qr/Index Scan using t_v_idx/,
	'filtered query on the rare category uses the index');
my @off = split /\n/, $node->safe_psql('postgres', "SET enable_seqscan = off; $rare");
cmp_ok(scalar @off, '<', 10,
	'without iterative scan the rare category does not fill the LIMIT (' . scalar(@off) . ' rows)');
my %exact_rare = map { (split /\|/)[0] => 1 } split /\n/,
  $node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $rare");
for my $mode ('relaxed_order', 'strict_order')
{
	my @rows = split /\n/,
	  $node->safe_psql('postgres', "SET enable_seqscan = off; SET hnsw.iterative_scan = $mode; $rare");
	is(scalar @rows, 10, "iterative scan ($mode) returns 10 of the 20 rows of a rare category");
	my $hits = grep { $exact_rare{ (split /\|/)[0] } } @rows;
	if ($mode eq 'relaxed_order')
	{
		cmp_ok($hits / 10, '>=', 0.9,
			"iterative scan ($mode): recall\@10 of the filtered query is " . $hits / 10);
	}
	else
	{
		# strict_order drops rows found after a farther one was returned
		diag("iterative scan ($mode): recall\@10 of the filtered query is " . $hits / 10);
		my @d = map { (split /\|/)[1] } @rows;
		my $sorted = !grep { $d[$_] < $d[ $_ - 1 ] } 1 .. $#d;
		ok($sorted, 'iterative scan (strict_order) returns rows in distance order');
	}
}

# ---------------------------------------------------------------------------
# Delete half of the rows, VACUUM
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 2 = 0');
$node->safe_psql('postgres', 'VACUUM t');
my $remaining = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
$check = $node->safe_psql('postgres',
	"SELECT elements, deleted, heap_tids, max_level, unreachable, problems FROM hnsw_check('t_v_idx')");
note("after deleting half and VACUUM: hnsw_check $check");
($elements, $deleted, $heap_tids, $max_level, $unreachable, $problems) = split /\|/, $check;
is($problems, '{}', 'vacuum: hnsw_check finds no problems');
is($deleted, 0, 'vacuum: the deleted elements are freed');
is($elements, $remaining, 'vacuum: one element per remaining row');
is($heap_tids, $remaining, 'vacuum: one heap TID per remaining row');
cmp_ok($unreachable, '<=', ($elements - $deleted) / 100,
	"vacuum: at most 1% of live elements unreachable ($unreachable of " . ($elements - $deleted) . ")");

($r, $returned) = recall(name => 'vacuum', table => 't', queries => 'q', op => '<->', k => 10, ef => 100);
is($returned, 1000, 'vacuum: every query returns 10 rows');
cmp_ok($r, '>=', 0.90, sprintf('vacuum: recall@10 at ef_search 100 is %.4f (>= 0.90)', $r));
diag(sprintf('recall@10, ef_search 100, after deleting half and VACUUM: %.4f', $r));

# ---------------------------------------------------------------------------
# Other opclasses, small scale: 2,000 rows of 16 dimensions, ef_search 40
my $small_centers = make_centers(20, 16);
$node->safe_psql('postgres', 'CREATE TABLE q16 (qid int PRIMARY KEY, v vector(16))');
$node->safe_psql('postgres',
	'INSERT INTO q16 VALUES '
	  . join(',', map { "($_, '" . clustered_point($small_centers, int(rand(20))) . "')" } 1 .. 50));
my $small_rows = insert_clustered('PLACEHOLDER', $small_centers, 2000);
for my $opc (['cosine', '<=>'], ['ip', '<#>'], ['l1', '<+>'], ['l2', '<->'])
{
	my ($name, $op) = @$opc;
	my $table = "s_$name";
	$node->safe_psql('postgres',
		"CREATE TABLE $table (id bigserial PRIMARY KEY, category text, v vector(16))");
	(my $ins = $small_rows) =~ s/PLACEHOLDER/$table/g;
	$node->safe_psql('postgres', $ins);
	$node->safe_psql('postgres',
		"CREATE INDEX ${table}_v_idx ON $table USING hnsw (v vector_${name}_ops)");
	my ($rr, $ret) = recall(name => "vector_${name}_ops", table => $table, queries => 'q16',
		op => $op, k => 10, ef => 40);
	is($ret, 500, "vector_${name}_ops: every query returns 10 rows");
	cmp_ok($rr, '>=', 0.90, sprintf("vector_${name}_ops: recall\@10 at ef_search 40 is %.4f (>= 0.90)", $rr));
	diag(sprintf("recall\@10, ef_search 40, vector_${name}_ops, 2,000 rows: %.4f", $rr));
	is($node->safe_psql('postgres', "SELECT problems FROM hnsw_check('${table}_v_idx')"),
		'{}', "vector_${name}_ops: hnsw_check finds no problems");
}

# ---------------------------------------------------------------------------
# Inner product, rows inserted into an existing (empty) index one by one
# against the same rows indexed by CREATE INDEX: 10,000 uniform [0, 1)^32
# vectors (all inner products positive, so the largest norms dominate),
# ef_search 40.  Inserts that pruned full neighbour lists over candidates
# in list order (not distance order) gave 0.93-0.96 where the build gave
# 0.99.
my @uni = map { '[' . join(',', map { sprintf('%.5f', rand()) } 1 .. 32) . ']' } 1 .. 10000;
my @uniq = map { "($_, '[" . join(',', map { sprintf('%.5f', rand()) } 1 .. 32) . "]')" } 1 .. 100;
$node->safe_psql('postgres', 'CREATE TABLE qu (qid int PRIMARY KEY, v vector(32)); INSERT INTO qu VALUES ' . join(',', @uniq));
for my $t ('ipb', 'ipi')
{
	$node->safe_psql('postgres', "CREATE TABLE $t (id int PRIMARY KEY, v vector(32))");
	$node->safe_psql('postgres', "CREATE INDEX ${t}_v_idx ON $t USING hnsw (v vector_ip_ops)") if $t eq 'ipi';
	for (my $i = 0; $i < @uni; $i += 1000)
	{
		$node->safe_psql('postgres', "INSERT INTO $t VALUES "
			  . join(',', map { '(' . ($_ + 1) . ", '$uni[$_]')" } $i .. $i + 999));
	}
	$node->safe_psql('postgres', "CREATE INDEX ${t}_v_idx ON $t USING hnsw (v vector_ip_ops)") if $t eq 'ipb';
}
my ($rb) = recall(name => 'ip, built', table => 'ipb', queries => 'qu', op => '<#>', k => 10, ef => 40);
my ($ri) = recall(name => 'ip, inserted', table => 'ipi', queries => 'qu', op => '<#>', k => 10, ef => 40);
diag(sprintf('recall@10, ef_search 40, vector_ip_ops, 10,000 uniform rows: built %.4f, inserted %.4f', $rb, $ri));
cmp_ok($ri, '>=', 0.975, sprintf('vector_ip_ops, rows inserted after CREATE INDEX: recall@10 %.4f (>= 0.975)', $ri));
cmp_ok($ri, '>=', $rb - 0.015,
	sprintf('vector_ip_ops: inserted rows recall %.4f within 0.015 of the build\'s %.4f', $ri, $rb));
is($node->safe_psql('postgres', "SELECT problems FROM hnsw_check('ipi_v_idx')"), '{}',
	'vector_ip_ops, inserted: hnsw_check finds no problems');

$node->stop;
done_testing();
