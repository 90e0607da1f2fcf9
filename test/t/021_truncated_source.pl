# Model files truncated while pg_infer reads them.
#
# Model files are mapped, not read: a file truncated by someone else after
# it was mapped raises SIGBUS at the first access past its new end, which
# would crash the backend and restart the whole server.  Here a process
# keeps truncating a 77 MB GGUF model to half its size and writing the tail
# back while sessions register it (load_model: validation and sha256) and
# convert it (the first embed() after unload_model) over and over.  The
# server must never crash; every failure must be one of the ERRORs pg_infer
# documents for it (truncated while being read, changed since registered,
# or the file's own structure cut short).  The test reports how often the
# truncation hit a read in progress.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(usleep time);

my $root = $ENV{PGI_ROOT};
if (!defined $root || !-f "$root/test/models/gen_bert.py" || !-x '/usr/bin/python3')
{
	plan skip_all => 'PGI_ROOT (test/run_tap.sh) or /usr/bin/python3 is not available';
}

my $node = PostgreSQL::Test::Cluster->new('trunc');
$node->init;
my $dir = $node->basedir . '/models';
mkdir $dir;
system('/usr/bin/python3', "$root/test/models/gen_bert.py", "$dir/gen", '--formats', 'f32',
	'--no-reference', '--vocab', '30522', '--max-pos', '512', '--layers', '4', '--hidden', '384',
	'--heads', '12', '--ffn', '1536') == 0 or die "gen_bert.py failed";
my $file = "$dir/big.gguf";
copy("$dir/gen/bert-f32.gguf", $file) or die "copy: $!";
my $size = -s $file;
my $half = int($size / 2);
open(my $in, '<:raw', $file) or die;
seek($in, $half, 0);
my $tail;
read($in, $tail, $size - $half) == $size - $half or die;
close $in;

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_infer'\npg_infer.model_dir = '$dir'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_infer');

$node->safe_psql('postgres', "SELECT load_model('big', 'big.gguf')");

# the truncating process: half, then whole again, every few milliseconds
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	my $end = time() + 40;
	while (time() < $end)
	{
		truncate($file, $half);
		usleep(15_000);
		open(my $fh, '+<:raw', $file) or next;
		seek($fh, $half, 0);
		print $fh $tail;
		close $fh;
		usleep(15_000);
	}
	POSIX::_exit(0);		# not exit: the node's END blocks would stop the server
}

my (%seen, %ok);
my $unexpected = 0;
my $rounds = 0;

# one round; returns false when the server went away
sub round
{
	my ($phase, $sql) = @_;
	$rounds++;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	if ($ret == 0)
	{
		$ok{$phase}++;
		return 1;
	}
	my ($msg) = $err =~ /ERROR:\s+([^\n]*)/;
	$msg = $err unless defined $msg;
	if ($msg =~ /was truncated while being read/) { $seen{"$phase sigbus"}++; }
	elsif ($msg =~ /changed since it was registered/) { $seen{"$phase changed"}++; }
	elsif ($msg =~ /truncated|past the end|out of range|too short|does not match|not a GGUF|invalid|corrupt|could not map|is empty/i)
	{
		$seen{"$phase structure"}++;
	}
	else { $unexpected++; diag("unexpected error ($phase): $err"); }
	return $err !~ /server closed the connection|terminated abnormally/;
}

# conversion: registered while whole, then prepared again and again
my $deadline = time() + 10;
while (time() < $deadline)
{
	last unless round('convert', "SELECT unload_model('big'); SELECT vector_dims(embed('big', 'text $rounds'))");
}
# registration: validation and sha256
$deadline = time() + 10;
while (time() < $deadline)
{
	last unless round('register', "SELECT drop_model(name) FROM pg_infer.models WHERE name = 'big';"
		  . "SELECT load_model('big', 'big.gguf')");
}
kill 'TERM', $pid;
waitpid($pid, 0);

# put the file back whole
open(my $fh, '+<:raw', $file) or die;
seek($fh, $half, 0);
print $fh $tail;
close $fh;

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated|PANIC/, 'no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
is($unexpected, 0, 'every failure is a documented ERROR');
ok($rounds > 10, "ran $rounds rounds");
my $report = join(', ', map { "$_ $seen{$_}" } sort keys %seen);
diag("truncation during reads, $rounds rounds: completed convert " . ($ok{convert} // 0)
	  . ', register ' . ($ok{register} // 0) . "; errors: $report");
ok(($seen{'convert sigbus'} // 0) + ($seen{'register sigbus'} // 0) > 0,
	'truncations hit reads in progress (SIGBUS became an ERROR)');

my @tmp = glob($node->data_dir . '/pg_infer/*.tmp.*');
is(scalar(@tmp), 0, 'no half-written prepared files left behind');

# the model works once the file stops changing
$node->safe_psql('postgres', "SELECT drop_model(name) FROM pg_infer.models WHERE name = 'big'");
is($node->safe_psql('postgres', "SELECT load_model('big', 'big.gguf'); SELECT vector_dims(embed('big', 'fine now'))"),
	"\n384", 'the file whole again: it registers and embeds');

$node->stop;
done_testing();
