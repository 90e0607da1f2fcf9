# Trained heads live in the database: a head made by train_classifier is on
# a streaming standby (classify there answers as on the primary), survives a
# restart, and is carried by pg_dump / pg_restore into a new database with
# the same labels and scores.  A random-weight BERT encoder
# (build/test_models/bert/hf, PGI_TEST_MODELS) embeds the texts.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-d "$src/bert/hf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}

my $primary = PostgreSQL::Test::Cluster->new('heads');
$primary->init(allows_streaming => 1);
my $dir = $primary->basedir . '/models';
mkdir $dir;
mkdir "$dir/hf";
for my $f (glob("$src/bert/hf/*"))
{
	my ($base) = $f =~ m{([^/]+)$};
	copy($f, "$dir/hf/$base") or die "copy $f: $!" if -f $f;
}
$primary->append_conf('postgresql.conf', "pg_infer.model_dir = '$dir'\n");
$primary->start;

$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_infer;
	SELECT load_model('enc', 'hf');
	CREATE TABLE train (body text, label text);
	INSERT INTO train SELECT w || ' ' || i, (ARRAY['alpha', 'beta', 'gamma'])[1 + i % 3]
	FROM generate_series(1, 60) i, (VALUES ('the')) v(w);
	SELECT train_classifier('head', 'enc', 'SELECT body, label FROM train', '{"test_fraction": 0, "seed": 3}');
});

my $scores = q{SELECT string_agg(label || ':' || round(score::numeric, 6), ',' ORDER BY t, label)
	FROM (VALUES ('the 7'), ('the 8'), ('the 100')) v(t), classify_scores('head', t)};
my $labels = q{SELECT string_agg(classify('head', t), ',' ORDER BY t) FROM (VALUES ('the 7'), ('the 8'), ('the 100')) v(t)};
my $want_scores = $primary->safe_psql('postgres', $scores);
my $want_labels = $primary->safe_psql('postgres', $labels);
like($want_scores, qr/^alpha:/, 'the head scores texts on the primary');

# a streaming standby has the head
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('heads_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', q{SELECT train_classifier('head2', 'enc', 'SELECT body, label FROM train',
	'{"test_fraction": 0, "seed": 4}')});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', $scores), $want_scores, 'standby: the same scores as the primary');
is($standby->safe_psql('postgres', q{SELECT string_agg(name, ',' ORDER BY name) FROM pg_infer.models
	WHERE task = 'classification'}), 'head,head2', 'standby: a head trained after the backup arrived by streaming');
is($standby->safe_psql('postgres', q{SELECT classify('head2', 'the 7') = classify('head2', 'the 7')}), 't',
	'standby: classify with the streamed head');

# a restart keeps it
$primary->restart;
is($primary->safe_psql('postgres', $labels), $want_labels, 'after a restart: the same labels');

# pg_dump / pg_restore into a new database
my $dump = $primary->basedir . '/heads.dump';
$primary->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $primary->connstr('postgres') ], 'pg_dump');
$primary->safe_psql('postgres', 'CREATE DATABASE restored');
$primary->command_ok([ 'pg_restore', '-d', $primary->connstr('restored'), $dump ], 'pg_restore');
is($primary->safe_psql('restored', q{SELECT string_agg(name, ',' ORDER BY name) FROM pg_infer_heads}), 'head,head2',
	'restored: both heads');
is($primary->safe_psql('restored', $scores), $want_scores, 'restored: the same scores');

$standby->stop;
$primary->stop;
done_testing();
