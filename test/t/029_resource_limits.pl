# Disk and memory faults: a server under a file-size limit and an
# address-space limit.
#
# 1. Disk: the server runs with `ulimit -f` below the size of a model's
#    prepared file (WAL segments of 1 MB so the cluster itself fits).  The
#    first use of that model must fail with a clear ERROR (53100, disk
#    full, with a hint), leave no temporary file in $PGDATA/pg_infer, and
#    leave the server and the other models working; without the limit the
#    same call works.  (posix_fallocate reserves the file's blocks before
#    it is mapped, so running out of room is an error, never a SIGBUS.)
# 2. Memory: with `ulimit -v` and pg_infer.max_batch_tokens raised far
#    beyond what the process may allocate, one huge batch must fail with
#    an out-of-memory ERROR (53200) naming what it needed, and the backend
#    must carry on: never a crash or an OOM kill.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-f "$src/bert_medium/bert-f32.gguf" || !-d "$src/bert/hf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init(extra => ['--wal-segsize=1']);
$node->append_conf('postgresql.conf', qq{shared_preload_libraries = 'pg_infer'
pg_infer.model_dir = '$src'
max_wal_size = 8MB
min_wal_size = 2MB
logging_collector = off
});
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION pg_infer;
	SELECT load_model('med', 'bert_medium/bert-f32.gguf'); SELECT load_model('small', 'bert/hf')});
my $want = $node->safe_psql('postgres', q{SELECT embed('med', 'under a limit')::text});
my $small = $node->safe_psql('postgres', q{SELECT embed('small', 'under a limit')::text});
my $dir = $node->data_dir . '/pg_infer';
my ($med_file) = glob("$dir/*.pgim");
my $size = 0;
for my $f (glob("$dir/*.pgim")) { $size = -s $f if -s $f > $size; }
cmp_ok($size, '>', 10 * 1024 * 1024, "the bigger model's prepared file is over 10 MB ($size bytes)");
$node->safe_psql('postgres', q{SELECT unload_model('med'); SELECT unload_model('small')});
$node->stop;

# start under a limit: 8 MB per file written by the server
sub start_limited
{
	my ($limit) = @_;
	my $pgdata = $node->data_dir;
	my $log = $node->logfile;
	system('bash', '-c', "$limit; exec pg_ctl -w -D '$pgdata' -l '$log' start >/dev/null") == 0
	  or BAIL_OUT("could not start the server under '$limit'");
	$node->_update_pid(1);
}

start_limited('ulimit -f 8192');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT vector_dims(embed('med', 'under a limit'))},
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'first use of the big model under a file-size limit: an ERROR');
like($err, qr/53100/, '... SQLSTATE 53100 (disk full)');
like($err, qr/could not allocate \d+ bytes for the prepared file of model "med"/, '... saying what it could not write');
like($err, qr/HINT:.*Free [0-9.]+ MB/, '... with a hint');
is(join(',', map { s{.*/}{}r } glob("$dir/*.tmp.*")), '', 'no temporary file left behind');
is(scalar(() = glob("$dir/*.pgim")), 0, 'no prepared file either');
is($node->safe_psql('postgres', q{SELECT embed('small', 'under a limit')::text}), $small,
	'a model that fits still works, in a new session');
is($node->safe_psql('postgres', q{SELECT 1}), '1', 'the server is up (no crash, no restart)');
unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	'no backend died');
$node->stop;

$node->start;
is($node->safe_psql('postgres', q{SELECT embed('med', 'under a limit')::text}), $want,
	'without the limit the same call works and gives the same vector');
$node->stop;

# memory: an address-space limit the server can start under, and a batch
# allowed far more tokens than it can hold
start_limited('ulimit -v 1500000');
($rc, $out, $err) = $node->psql('postgres', q{
	SET pg_infer.max_batch_tokens = 1048576;
	SELECT cardinality(embed('med', ARRAY(SELECT repeat('word ', 60) FROM generate_series(1, 20000))))},
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'a batch needing more memory than the process may have: an ERROR');
like($err, qr/53200/, '... SQLSTATE 53200 (out of memory)');
like($err, qr/needs \d+ bytes of work memory|out of memory/, '... saying so');
is($node->safe_psql('postgres', q{SELECT vector_dims(embed('med', 'after the failure'))}), '256',
	'the next call works');
unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	'no backend died');
$node->stop;
done_testing();
