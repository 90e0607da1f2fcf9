# pg_infer.preload_models: models prepared and paged in at server start.
#
# A cluster with pg_infer in shared_preload_libraries and two databases that
# register test models (test/prepare_models.sh's build/test_models, passed
# as PGI_TEST_MODELS by test/run_tap.sh).  Their prepared files are deleted
# (unload_model); after a restart with pg_infer.preload_models listing them,
# background workers rebuild them: the server log names each preloaded
# model, pg_infer.models says loaded, and a new backend's embed() returns the
# same vector as before.  A name registered nowhere is skipped, a model whose
# files changed since registration is a WARNING while the others still
# load, and without the setting nothing is preloaded.
use strict;
use warnings;

use File::Copy;
use File::Path ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-d "$src/bert/hf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init(allows_streaming => 1);

# a model directory of our own (one model is changed later)
my $dir = $node->basedir . '/models';
mkdir $dir;
mkdir "$dir/hf";
for my $f (glob("$src/bert/hf/*"))
{
	my ($base) = $f =~ m{([^/]+)$};
	copy($f, "$dir/hf/$base") or die "copy $f: $!" if -f $f;
}
copy("$src/bert/bert-f32.gguf", "$dir/bert-f32.gguf") or die "copy gguf: $!";
copy("$src/stories260K.gguf", "$dir/tok.gguf") or die "copy stories: $!";

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_infer'\npg_infer.model_dir = '$dir'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE a; CREATE DATABASE b; CREATE DATABASE c');
$node->safe_psql('a', q{CREATE EXTENSION pg_infer;
	SELECT load_model('enc', 'hf'); SELECT load_model('tok', 'tok.gguf')});
$node->safe_psql('b', q{CREATE EXTENSION pg_infer; SELECT load_model('gg', 'bert-f32.gguf')});
# database c has no pg_infer at all

my $before = $node->safe_psql('a', q{SELECT embed('enc', 'preloaded at start')::text});
my $before_gg = $node->safe_psql('b', q{SELECT embed('gg', 'preloaded at start')::text});
$node->safe_psql('a', q{SELECT unload_model('enc'); SELECT unload_model('tok')});
$node->safe_psql('b', q{SELECT unload_model('gg')});
is($node->safe_psql('a', q{SELECT string_agg(name || '=' || loaded, ',' ORDER BY name) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')}),
	'enc=false,tok=false', 'prepared files deleted before the restart');

# restart without the setting: nothing is preloaded
$node->restart;
sleep 2;
is($node->safe_psql('a', q{SELECT bool_or(loaded)::text FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')}), 'false',
	'without pg_infer.preload_models nothing is loaded');

# with it
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pg_infer.preload_models = 'enc, gg, tok, nosuch'\n");
$node->restart;

my $ok = 0;
for (1 .. 120)
{
	my $log = slurp_file($node->logfile, $log_offset);
	my $n = () = $log =~ /pg_infer: preloaded model "(?:enc|gg|tok)"/g;
	if ($n >= 3) { $ok = 1; last; }
	sleep 1;
}
ok($ok, 'the server log names the three preloaded models');
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/preloaded model "enc" of database "a" \([0-9.]+ MB, [0-9]+ ms\)/, '... with database, size and time');
like($log, qr/preloaded model "gg" of database "b"/, '... in every database that registers one');
unlike($log, qr/nosuch/, 'a name registered nowhere is skipped quietly');
unlike($log, qr/ERROR|FATAL|PANIC/, 'no errors in the log');

is($node->safe_psql('a', q{SELECT string_agg(name || '=' || loaded, ',' ORDER BY name) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')}),
	'enc=true,tok=true', 'database a: both models loaded at start');
is($node->safe_psql('b', q{SELECT string_agg(name || '=' || loaded, ',' ORDER BY name) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')}),
	'gg=true', 'database b: its model loaded at start');
is($node->safe_psql('a', q{SELECT embed('enc', 'preloaded at start')::text}), $before,
	'a new backend embeds with the preloaded model: the same vector');
is($node->safe_psql('b', q{SELECT embed('gg', 'preloaded at start')::text}), $before_gg,
	'... in the other database too');

# a model whose files changed since registration: WARNING, the others load
$node->safe_psql('a', q{SELECT unload_model('enc'); SELECT unload_model('tok')});
open(my $fh, '>>', "$dir/hf/config.json") or die;
print $fh "\n";
close $fh;
$log_offset = -s $node->logfile;
$node->restart;
$ok = 0;
for (1 .. 120)
{
	$log = slurp_file($node->logfile, $log_offset);
	if ($log =~ /preloaded model "tok"/ && $log =~ /could not preload model "enc"/) { $ok = 1; last; }
	sleep 1;
}
ok($ok, 'changed files: a WARNING for that model, the others still preload');
like($log, qr/WARNING:  pg_infer.preload_models: could not preload model "enc" of database "a": the files of model "enc" changed since it was registered/,
	'... the WARNING says why');
is($node->safe_psql('a', q{SELECT string_agg(name || '=' || loaded, ',' ORDER BY name) FROM pg_infer.models WHERE name NOT IN ('use-lite', 'stories', 'scenes')}),
	'enc=false,tok=true', '... and pg_infer.models shows which');

# a hot standby preloads too, into prepared files of its own (not replicated)
$node->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'bk', has_streaming => 1);
File::Path::rmtree($standby->data_dir . '/pg_infer');
$standby->start;
$ok = 0;
for (1 .. 120)
{
	my $slog = slurp_file($standby->logfile);
	if ($slog =~ /preloaded model "gg" of database "b"/ && $slog =~ /preloaded model "tok" of database "a"/) { $ok = 1; last; }
	sleep 1;
}
ok($ok, 'a hot standby preloads the models of its databases');
is($standby->safe_psql('b', q{SELECT loaded::text FROM pg_infer.models WHERE name = 'gg'}), 'true',
	'... and they are loaded there');
is($standby->safe_psql('b', q{SELECT embed('gg', 'preloaded at start')::text}), $before_gg,
	'... with the same vectors as the primary');
$standby->stop;
$node->stop;

# without shared_preload_libraries: the extension works, says so once
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "pg_infer.model_dir = '$dir'\npg_infer.preload_models = 'enc'\n");
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', q{CREATE EXTENSION pg_infer; SELECT load_model('gg', 'bert-f32.gguf');
	SELECT vector_dims(embed('gg', 'one')); SELECT vector_dims(embed('gg', 'two'))});
is($ret, 0, 'without shared_preload_libraries: CREATE EXTENSION, load_model and embed work');
my $n = () = $err =~ /NOTICE:  pg_infer is not in shared_preload_libraries/g;
is($n, 1, '... with one NOTICE saying what is missing');
is($plain->safe_psql('postgres', 'SHOW pg_infer.preload_models'), 'enc', '... and the setting is still readable');
$plain->stop;
done_testing();
