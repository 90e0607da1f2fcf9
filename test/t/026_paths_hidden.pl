# Server paths are for superusers: a plain user whose embed() finds a
# model's files gone reads the source as pg_infer.models shows it (relative
# to pg_infer.model_dir), never the directory; SHOW pg_infer.model_dir is
# refused to it; the prepared files are named relative to the data
# directory.  A superuser gets the full paths.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{PGI_ROOT};
if (!defined $root || !-f "$root/test/unit/fixtures/tiny.gguf" || !-x '/usr/bin/python3')
{
	plan skip_all => 'PGI_ROOT (test/run_tap.sh) or /usr/bin/python3 is not available';
}

my $node = PostgreSQL::Test::Cluster->new('paths');
$node->init;
my $dir = $node->basedir . '/secret_models_dir';
mkdir $dir;
system('/usr/bin/python3', "$root/test/models/gen_bert.py", "$dir/gen", '--formats', 'f32',
	'--no-reference') == 0 or die "gen_bert.py failed";
copy("$dir/gen/bert-f32.gguf", "$dir/m.gguf") or die "copy: $!";
# preloaded, as recommended: before the library is loaded in a session its
# settings are placeholders PostgreSQL shows to anyone
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_infer'\npg_infer.model_dir = '$dir'");
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION pg_infer; CREATE ROLE plain LOGIN;
	SELECT load_model('m', 'm.gguf')});

# the files go before the model is first used: the first embed() must read them
unlink "$dir/m.gguf" or die;
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT embed('m', 'hello')}, extra_params => ['-U', 'plain']);
like($err, qr/could not find model source "m\.gguf"/, 'a plain user reads the source as pg_infer.models shows it');
unlike($err, qr/secret_models_dir/, '... and no server directory');
($ret, $out, $err) = $node->psql('postgres', q{SELECT embed('m', 'hello')});
like($err, qr/could not find model source "\Q$dir\E\/m\.gguf"/, 'a superuser reads the full path');

($ret, $out, $err) = $node->psql('postgres', q{SHOW pg_infer.model_dir}, extra_params => ['-U', 'plain']);
like($err, qr/permission denied|must be superuser/, 'SHOW pg_infer.model_dir is refused to a plain user');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name = 'pg_infer.model_dir'},
		extra_params => ['-U', 'plain']), '0', '... and pg_settings does not list it');
is($node->safe_psql('postgres', q{SHOW pg_infer.model_dir}), $dir, 'a superuser sees it');
is($node->safe_psql('postgres', q{SELECT source FROM pg_infer.models WHERE name = 'm'},
		extra_params => ['-U', 'plain']), 'm.gguf', 'pg_infer.models: relative for a plain user');

# a damaged prepared file is named relative to the data directory
copy("$dir/gen/bert-f32.gguf", "$dir/m.gguf") or die "copy: $!";
$node->safe_psql('postgres', q{SELECT embed('m', 'hello')});
my ($pgim) = glob($node->data_dir . '/pg_infer/*.pgim');
ok(defined $pgim, 'the model was prepared');
open(my $fh, '+<:raw', $pgim) or die;
print $fh 'XXXXXXXX';	# the magic
close $fh;
unlink "$dir/m.gguf" or die;	# no rebuild: the damaged file stays
$node->restart;
($ret, $out, $err) = $node->psql('postgres', q{SELECT embed('m', 'hello')}, extra_params => ['-U', 'plain']);
unlike($err, qr/\Q${\ $node->data_dir }\E/, 'errors about prepared files name no server directory')
  or diag $err;

$node->stop;
done_testing();
