# EmbedBatch under EvalPlanQual: rows changed by a concurrent transaction
# while a batched UPDATE or SELECT FOR UPDATE waits for them.
#
# Session A updates row 5 (its text, or another column) and commits after
# two seconds; session B meanwhile runs a statement batched by EmbedBatch
# that must lock row 5, waits, and then rechecks the new version of the row
# (EvalPlanQual).  Row by row PostgreSQL re-evaluates the target list on the
# new version: the batched plan must do the same, so every row is updated or
# returned, and row 5's vector is the embedding of its new text.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(usleep);

my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-d "$src/bert/hf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}

my $node = PostgreSQL::Test::Cluster->new('epq');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_infer'\npg_infer.model_dir = '$src'\n");
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION pg_infer; SELECT load_model('m', 'bert/hf')});

sub reset_docs
{
	$node->safe_psql('postgres', q{DROP TABLE IF EXISTS docs;
		CREATE TABLE docs (id int PRIMARY KEY, grp int, body text, v vector);
		INSERT INTO docs SELECT g, g % 3, 'document number ' || g FROM generate_series(1, 40) g;
		ANALYZE docs});
}

# run $sql in session A (holding row 5 for two seconds), then $query in
# session B; returns B's output
sub concurrently
{
	my ($sql, $query) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		$node->psql('postgres', "BEGIN; $sql; SELECT pg_sleep(2); COMMIT;");
		POSIX::_exit(0);		# not exit: the node's END blocks would stop the server
	}
	usleep(500_000);
	my $out = $node->safe_psql('postgres', $query);
	waitpid($pid, 0);
	return $out;
}

# the embedding of a text, row by row (a table column, so not constant-folded)
sub expected
{
	my ($text) = @_;
	return $node->safe_psql('postgres', qq{CREATE TEMP TABLE e AS SELECT '$text'::text AS t;
		SET pg_infer.batch_rows = 1; SELECT embed('m', t)::text FROM e});
}

reset_docs();
like($node->safe_psql('postgres', q{EXPLAIN (COSTS OFF) UPDATE docs SET v = embed('m', body) WHERE id <= 10}),
	qr/EmbedBatch/, 'the UPDATE is batched');

# 1. another column changed: every row is updated, row 5 too
concurrently(q{UPDATE docs SET grp = grp + 100 WHERE id = 5},
	q{UPDATE docs SET v = embed('m', body) WHERE id <= 10});
is($node->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE id <= 10 AND v IS NOT NULL}), '10',
	'UPDATE waiting for a concurrently updated row: all 10 rows updated');
is($node->safe_psql('postgres', q{SELECT grp FROM docs WHERE id = 5}), '102',
	'... on top of the concurrent change');

# 2. the text itself changed: row 5 gets the embedding of the new text
reset_docs();
concurrently(q{UPDATE docs SET body = 'a completely different text' WHERE id = 5},
	q{UPDATE docs SET v = embed('m', body) WHERE id <= 10});
is($node->safe_psql('postgres', q{SELECT v::text FROM docs WHERE id = 5}), expected('a completely different text'),
	'the rechecked row is embedded from its new text');
is($node->safe_psql('postgres', q{SELECT v::text FROM docs WHERE id = 6}), expected('document number 6'),
	'... and the other rows from theirs');

# 3. SELECT ... FOR UPDATE returns every row, row 5 with its new text's vector
reset_docs();
my $rows = concurrently(q{UPDATE docs SET body = 'changed while locked' WHERE id = 5},
	q{SELECT id, embed('m', body)::text FROM docs WHERE id <= 10 ORDER BY id FOR UPDATE});
my @rows = split /\n/, $rows;
is(scalar(@rows), 10, 'SELECT ... FOR UPDATE after a concurrent update: all 10 rows');
my ($r5) = grep { /^5\|/ } @rows;
is($r5, '5|' . expected('changed while locked'), '... row 5 with the vector of its new text');

# 4. a concurrent update that moves the row out of the WHERE clause: skipped, like row by row
reset_docs();
concurrently(q{UPDATE docs SET id = 1005 WHERE id = 5},
	q{UPDATE docs SET v = embed('m', body) WHERE id <= 10});
is($node->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE v IS NOT NULL}), '9',
	'a row moved out of the WHERE clause meanwhile is not updated');

$node->stop;
done_testing();
