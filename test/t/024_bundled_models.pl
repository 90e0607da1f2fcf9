# The models pg_infer ships work after a plain `make install`: they are
# installed into $(pg_config --sharedir)/pg_infer/models, registered by
# CREATE EXTENSION with no pg_infer.model_dir at all, and usable at once
# (generate('stories', ...); embed('hello') when use-lite's files were
# fetched before make install).  The directory is a second root for sources,
# with pg_infer.model_dir first: paths out of both are still refused.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $bundled = "$sharedir/pg_infer/models";
if (!-f "$bundled/stories260K.gguf")
{
	plan skip_all => "$bundled has no stories260K.gguf (make install puts it there)";
}
my $have_use = -f "$bundled/use-lite/model.json";

my $node = PostgreSQL::Test::Cluster->new('bundled');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');

is($node->safe_psql('postgres', q{SELECT coalesce(current_setting('pg_infer.model_dir', true), '')}), '',
	'no pg_infer.model_dir is set');
is($node->safe_psql('postgres', q{SELECT source FROM pg_infer.models WHERE name = 'stories'}),
	"$bundled/stories260K.gguf", 'CREATE EXTENSION registered stories from the share directory');
like($node->safe_psql('postgres', q{SELECT generate('stories', 'Once upon a time', max_tokens => 8)}),
	qr/^, there was a /, 'generate() with it works at once');
SKIP:
{
	skip 'use-lite was not fetched before make install', 2 unless $have_use;
	is($node->safe_psql('postgres', q{SELECT vector_dims(embed('hello'))}), '512',
		'embed(text) works with the default model from the share directory');
	is($node->safe_psql('postgres', q{SELECT source FROM pg_infer.models WHERE name = 'use-lite'}),
		"$bundled/use-lite", '... registered from there');
}

# the image model: registered, its examples embed, its text side is use-lite
SKIP:
{
	skip 'make install put no scenes model', 3 unless -f "$bundled/scenes/config.json";
	is($node->safe_psql('postgres', q{SELECT task || ' ' || dims FROM pg_infer.models WHERE name = 'scenes'}),
		'image-embedding 512', 'CREATE EXTENSION registered the image model scenes');
	is($node->safe_psql('postgres',
			"SELECT vector_dims(embed_image('scenes', pg_read_binary_file('$bundled/scenes/examples/00.png')))"),
		'512', 'embed_image with it works at once');
	skip 'use-lite was not fetched before make install', 1 unless $have_use;
	is($node->safe_psql('postgres', q{SELECT embed('scenes', 'a red circle') = embed('use-lite', 'a red circle')}),
		't', '... and embed(scenes, text) is use-lite\'s');
}

# the bundled directory is a root for sources, not a way out
$node->safe_psql('postgres', q{SELECT load_model('again', 'stories260K.gguf')});
is($node->safe_psql('postgres', q{SELECT task FROM pg_infer.models WHERE name = 'again'}),
	'generation', 'a relative source resolves in the bundled directory');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT load_model('x', '/etc/passwd')});
like($err, qr/pg_infer.model_dir is not set/, 'an absolute path elsewhere is refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT load_model('x', '../../../../../../etc/passwd')});
like($err, qr/pg_infer.model_dir is not set/, '.. out of the bundled directory is refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT load_model('x', 'missing.gguf')});
like($err, qr/pg_infer.model_dir is not set/, 'a name in neither directory says model_dir is not set');

# pg_infer.model_dir comes first for the same relative name
my $dir = $node->basedir . '/models';
mkdir $dir;
copy("$ENV{PGI_TEST_MODELS}/tiny.gguf", "$dir/stories260K.gguf") or die "copy: $!"
  if defined $ENV{PGI_TEST_MODELS} && -f "$ENV{PGI_TEST_MODELS}/tiny.gguf";
SKIP:
{
	skip 'PGI_TEST_MODELS has no tiny.gguf', 2 unless -f "$dir/stories260K.gguf";
	$node->append_conf('postgresql.conf', "pg_infer.model_dir = '$dir'\n");
	$node->reload;
	$node->safe_psql('postgres', q{SELECT load_model('mine', 'stories260K.gguf')});
	is($node->safe_psql('postgres', q{SELECT source FROM pg_infer.models WHERE name = 'mine'}),
		"$dir/stories260K.gguf", 'pg_infer.model_dir first, then the bundled directory');
	($ret, $out, $err) = $node->psql('postgres', q{SELECT load_model('y', '/etc/passwd')});
	like($err, qr/is outside pg_infer.model_dir/, 'with model_dir set, an outside path: outside');
}

# who may probe for files
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE plain; SELECT pg_infer._source_exists('stories260K.gguf')});
like($err, qr/permission denied/, 'a plain user cannot probe for files');

$node->stop;
done_testing();
