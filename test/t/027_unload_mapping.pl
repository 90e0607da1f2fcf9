# unload_model while another backend has the model mapped.
#
# unload_model deletes the prepared file; the next use anywhere rebuilds it,
# under the same name and with the same size.  A backend that mapped the old
# file must drop that mapping at its next use and map the new file, or it
# keeps a deleted file alive (its pages count against memory and disk until
# the backend exits).  Found by bench/soak: the check compared path and
# size only.  Session A maps the model; session B unloads it and rebuilds
# it; A's next embed() must map only the file now in the cache
# (/proc/<pid>/maps, by inode) and return the same vector.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-d "$src/bert/hf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}
if (!-r "/proc/self/maps")
{
	plan skip_all => '/proc/<pid>/maps is not available';
}

my $node = PostgreSQL::Test::Cluster->new('unload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_infer'\npg_infer.model_dir = '$src'\n");
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION pg_infer; SELECT load_model('m', 'bert/hf')});
my $sha = $node->safe_psql('postgres', q{SELECT sha256 FROM pg_infer.models WHERE name = 'm'});
my $file = $node->data_dir . "/pg_infer/$sha.pgim";

# the .pgim mappings of a process: "inode (deleted)?" per mapping
sub pgim_maps
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/maps") or die "maps of $pid: $!";
	my %seen;
	while (my $l = <$fh>)
	{
		next unless $l =~ /\.pgim/;
		my @f = split ' ', $l;
		$seen{ $f[4] . ($l =~ /\(deleted\)/ ? ' deleted' : '') } = 1;
	}
	close $fh;
	return join(',', sort keys %seen);
}

my $a = $node->background_psql('postgres');
my $pid = $a->query_safe('SELECT pg_backend_pid()');
chomp $pid;
my $v1 = $a->query_safe(q{SELECT embed('m', 'still mapped')::text});
my $ino1 = (stat $file)[1];
is(pgim_maps($pid), "$ino1", 'session A maps the prepared file');

$node->safe_psql('postgres', q{SELECT unload_model('m')});
ok(!-e $file, 'unload_model deleted the prepared file');
is($node->safe_psql('postgres', q{SELECT vector_dims(embed('m', 'rebuild'))}), '32',
	'another session rebuilds it');
my $ino2 = (stat $file)[1];
isnt($ino2, $ino1, '... as a new file');

my $v2 = $a->query_safe(q{SELECT embed('m', 'still mapped')::text});
is($v2, $v1, "session A's next embed() returns the same vector");
is(pgim_maps($pid), "$ino2", '... and maps the new file only, not the deleted one');

# unload with nothing rebuilt: A's next use rebuilds it itself
$node->safe_psql('postgres', q{SELECT unload_model('m')});
is($a->query_safe(q{SELECT embed('m', 'still mapped')::text}), $v1, 'after another unload A rebuilds the file itself');
my $ino3 = (stat $file)[1];
is(pgim_maps($pid), "$ino3", '... and maps that one only');

$a->quit;
$node->stop;
done_testing();
