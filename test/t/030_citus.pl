# Scale-out with Citus (doc/scale-out.md): a coordinator and two workers on
# this machine, shared_preload_libraries = 'citus,pg_infer'.
#
# load_model / drop_model / unload_model on the coordinator act on every
# node; pg_infer.cluster_models() reports nodes whose models differ; a
# distributed table embedded by INSERT ... SELECT and UPDATE holds vectors
# bit-identical to a local embed(); hnsw on every shard and the pushed-down
# ORDER BY v <=> embed(...) LIMIT k find what an exact search finds;
# pg_infer.default_model reaches the workers when set per database, not per
# session.
#
# Needs Citus installed into this PostgreSQL (tools/build_citus.sh); skipped
# without it.  PGI_CITUS_MEASURE=1 also times a 20,000-row batched UPDATE
# with use-lite on the three nodes and on one, and the pushed-down search
# (the figures of doc/scale-out.md); it prints them, it asserts nothing.
use strict;
use warnings;

use File::Copy ();
use File::Path ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
if (!-f "$libdir/citus.so")
{
	plan skip_all => "Citus is not installed in $libdir (build it with tools/build_citus.sh)";
}
my $src = $ENV{PGI_TEST_MODELS};
if (!defined $src || !-d "$src/bert/hf" || !-f "$src/bert/bert-f32.gguf")
{
	plan skip_all => 'PGI_TEST_MODELS (build/test_models from test/prepare_models.sh) is not available';
}

# three nodes reachable over TCP on 127.0.0.1 (Citus connects by host name)
my %node;
for my $name (qw(coord w1 w2))
{
	my $n = PostgreSQL::Test::Cluster->new($name);
	$n->init;
	$n->append_conf('postgresql.conf', qq{shared_preload_libraries = 'citus,pg_infer'
pg_infer.model_dir = '$src'
listen_addresses = '127.0.0.1'
max_prepared_transactions = 20
citus.shard_count = 4
});
	$n->start;
	$n->safe_psql('postgres', 'CREATE EXTENSION citus');
	$node{$name} = $n;
}
my ($coord, $w1, $w2) = @node{qw(coord w1 w2)};
my $w1name = '127.0.0.1:' . $w1->port;
my $w2name = '127.0.0.1:' . $w2->port;

$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('127.0.0.1', %d);
	SELECT citus_add_node('127.0.0.1', %d); SELECT citus_add_node('127.0.0.1', %d)},
	$coord->port, $w1->port, $w2->port));
is($coord->safe_psql('postgres', q{SELECT count(*) FROM citus_get_active_worker_nodes()}), '2',
	'the coordinator has two workers');

# CREATE EXTENSION on the coordinator is propagated to the workers by Citus
$coord->safe_psql('postgres', 'CREATE EXTENSION pg_infer');
for my $w ($w1, $w2)
{
	is($w->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_infer'}),
		$coord->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_infer'}),
		$w->name . ': CREATE EXTENSION pg_infer reached the worker');
}

# models on node n: "name sha256" lines
sub models_of
{
	my ($n) = @_;
	return $n->safe_psql('postgres', q{SELECT name || ' ' || sha256 FROM pg_infer.models ORDER BY name});
}

sub cluster_status
{
	my ($name) = @_;
	return $coord->safe_psql('postgres',
		qq{SELECT string_agg(node || '=' || status, ' ' ORDER BY node) FROM pg_infer.cluster_models() WHERE name = '$name'});
}

# ---------------------------------------------------------------- load_model
$coord->safe_psql('postgres', q{SELECT load_model('m', 'bert/hf')});
my $sha = $coord->safe_psql('postgres', q{SELECT sha256 FROM pg_infer.models WHERE name = 'm'});
for my $w ($w1, $w2)
{
	is($w->safe_psql('postgres', q{SELECT sha256 FROM pg_infer.models WHERE name = 'm'}), $sha,
		$w->name . ': load_model on the coordinator registered the model here, same sha256');
}
is(models_of($w1), models_of($coord), 'worker 1 has exactly the coordinator\'s models');
is(models_of($w2), models_of($coord), 'worker 2 has exactly the coordinator\'s models');
is(cluster_status('m'), join(' ', sort ("$w1name=ok", "$w2name=ok", '127.0.0.1:' . $coord->port . '=ok')),
	'cluster_models: ok on every node');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.cluster_models() WHERE status <> 'ok'}), '0',
	'cluster_models: nothing differs');

# the same call again: every node says it has it (idempotent, the repair path)
my ($ret, $out, $err) = $coord->psql('postgres', q{SELECT load_model('m', 'bert/hf')});
is($ret, 0, 'load_model again succeeds');
like($err, qr/already registered with this content/, '... and says the model is already there');

# ---------------------------------------------------------------- distributed embedding
my $dims = $coord->safe_psql('postgres', q{SELECT dims FROM pg_infer.models WHERE name = 'm'});
$coord->safe_psql('postgres', qq{
	CREATE TABLE docs (id int PRIMARY KEY, body text, v vector($dims));
	SELECT create_distributed_table('docs', 'id');
	INSERT INTO docs (id, body)
	SELECT g, 'item ' || g || ' ' || md5(g::text) || CASE WHEN g % 3 = 0 THEN ' red apple' ELSE ' blue sky' END
	FROM generate_series(1, 1000) g;
	CREATE TABLE docs2 (id int PRIMARY KEY, body text, v vector($dims));
	SELECT create_distributed_table('docs2', 'id', colocate_with => 'docs');
	-- the same rows, embedded on the coordinator: the reference
	CREATE TABLE local_docs AS SELECT id, body FROM docs;
	ALTER TABLE local_docs ADD COLUMN v vector($dims);
	UPDATE local_docs SET v = embed('m', body)});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'docs'::regclass}), '4',
	'docs has four shards');
like($coord->safe_psql('postgres', q{EXPLAIN (COSTS OFF) UPDATE docs SET v = embed('m', body)}),
	qr/Task Count: 4/, 'the UPDATE is pushed down to the four shards');
$coord->safe_psql('postgres', q{UPDATE docs SET v = embed('m', body)});
$coord->safe_psql('postgres', q{INSERT INTO docs2 (id, body, v) SELECT id, body, embed('m', body) FROM docs});

my $ref = $coord->safe_psql('postgres', q{SELECT md5(string_agg(v::text, ';' ORDER BY id)) FROM local_docs});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE v IS NOT NULL}), '1000',
	'UPDATE embedded every row of the distributed table');
is($coord->safe_psql('postgres', q{SELECT md5(string_agg(v::text, ';' ORDER BY id)) FROM docs}), $ref,
	'UPDATE on the workers: vectors bit-identical to a local embed (shortest exact float text)');
is($coord->safe_psql('postgres', q{SELECT md5(string_agg(v::text, ';' ORDER BY id)) FROM docs2}), $ref,
	'INSERT ... SELECT on the workers: bit-identical too');
is($coord->safe_psql('postgres', q{SELECT md5(string_agg(encode(vector_send(v), 'hex'), ';' ORDER BY id)) FROM docs}),
	$coord->safe_psql('postgres', q{SELECT md5(string_agg(encode(vector_send(v), 'hex'), ';' ORDER BY id)) FROM local_docs}),
	'... and in the binary format');

# ---------------------------------------------------------------- hnsw on every shard
$coord->safe_psql('postgres', q{CREATE INDEX docs_v_idx ON docs USING hnsw (v vector_cosine_ops)});
# (Citus hides the shards from pg_class unless asked)
my $shard_indexes = q{SET citus.override_table_visibility = off;
	SELECT count(*) FROM pg_indexes WHERE indexname ~ '^docs_v_idx_[0-9]+$' AND indexdef ~ 'USING hnsw'};
is($w1->safe_psql('postgres', $shard_indexes) + $w2->safe_psql('postgres', $shard_indexes), 4,
	'an hnsw index on each of the four shards');
# per-query settings reach the workers' transactions as SET LOCAL with
# citus.propagate_set_commands = 'local' (a session SET does not): here to
# make the shards use their small indexes (250 rows each)
my $search = q{SELECT id FROM docs ORDER BY v <=> embed('m', 'a red apple') LIMIT 10};
my $in_txn = q{SET citus.propagate_set_commands = 'local'; BEGIN;
	SET LOCAL enable_seqscan = off; SET LOCAL hnsw.ef_search = 100;};
like($coord->safe_psql('postgres', "$in_txn SET LOCAL citus.explain_all_tasks = on; EXPLAIN (COSTS OFF) $search; COMMIT"),
	qr/(Index Scan using docs_v_idx_\d+.*){4}/s, 'the search runs on the hnsw index of each shard');
my @got = split /\n/, $coord->safe_psql('postgres', "$in_txn $search; COMMIT");
my @exact = split /\n/, $coord->safe_psql('postgres',
	q{SELECT id FROM local_docs ORDER BY v <=> embed('m', 'a red apple') LIMIT 10});
is(scalar(@got), 10, 'the pushed-down search returns 10 rows');
is_deeply([ sort { $a <=> $b } @got ], [ sort { $a <=> $b } @exact ],
	'pushed-down hnsw search: the same ids as an exact search');

# ---------------------------------------------------------------- pg_infer.default_model
# a session SET on the coordinator does not reach the workers' sessions
# embed(text) is STABLE (it reads the setting): Citus refuses it in UPDATE
# with column references, and pushes it down in SELECT
($ret, $out, $err) = $coord->psql('postgres',
	q{SET pg_infer.default_model = 'm'; UPDATE docs SET v = embed(body) WHERE id <= 10});
like($err, qr/STABLE functions used in UPDATE queries cannot be called with column references/,
	'embed(text) in an UPDATE of a distributed table: refused by Citus (use embed(model, text))');
my $default_sel = q{SELECT md5(string_agg(embed(body)::text, ';' ORDER BY id)) FROM docs WHERE id <= 10};
my $want_m = $coord->safe_psql('postgres', q{SELECT md5(string_agg(v::text, ';' ORDER BY id)) FROM local_docs WHERE id <= 10});
($ret, $out, $err) = $coord->psql('postgres', "SET pg_infer.default_model = 'm'; $default_sel");
ok($ret != 0 || $out ne $want_m,
	'a session SET of pg_infer.default_model on the coordinator does not reach the workers: '
	  . ($ret != 0 ? (split /\n/, $err)[0] : 'they embedded with their own default (use-lite), not m'));
# ALTER DATABASE ... SET on every node does (Citus propagates it: checked on the workers)
$coord->safe_psql('postgres', q{ALTER DATABASE postgres SET pg_infer.default_model = 'm'});
for my $w ($w1, $w2)
{
	my $propagated = $w->safe_psql('postgres', q{SHOW pg_infer.default_model}) eq 'm';
	note($w->name . ': ALTER DATABASE ... SET pg_infer.default_model ' . ($propagated ? 'was propagated by Citus' : 'set on the worker'));
	$w->safe_psql('postgres', q{ALTER DATABASE postgres SET pg_infer.default_model = 'm'}) unless $propagated;
}
is($coord->safe_psql('postgres', $default_sel), $want_m,
	'with ALTER DATABASE ... SET pg_infer.default_model, embed(text) on the workers uses it');

# ---------------------------------------------------------------- differences
# a different file under the same name, registered directly on worker 1
$w1->safe_psql('postgres', q{SELECT load_model('m', 'bert/bert-f32.gguf', '{"force": true}')});
is(cluster_status('m'), join(' ', sort ("$w1name=different", "$w2name=ok", '127.0.0.1:' . $coord->port . '=ok')),
	'cluster_models: "different" for the worker with other content');
# dropped directly on worker 2
$w2->safe_psql('postgres', q{SELECT drop_model('m')});
is(cluster_status('m'), join(' ', sort ("$w1name=different", "$w2name=missing", '127.0.0.1:' . $coord->port . '=ok')),
	'cluster_models: "missing" for the worker without it');
# registered on a worker only
$w2->safe_psql('postgres', q{SELECT load_model('only_w2', 'bert/hf')});
is(cluster_status('only_w2'), "$w2name=extra", 'cluster_models: "extra" for a model only a worker has');
$w2->safe_psql('postgres', q{SELECT drop_model('only_w2')});

# load_model from the coordinator: worker 1 refuses (other content), naming itself
($ret, $out, $err) = $coord->psql('postgres', q{SELECT load_model('m', 'bert/hf')});
isnt($ret, 0, 'load_model on the coordinator fails when a worker has other content under the name');
like($err, qr/already registered with different content \(on worker \Q$w1name\E\)/, '... naming the worker');
is(cluster_status('m'), join(' ', sort ("$w1name=different", "$w2name=ok", '127.0.0.1:' . $coord->port . '=ok')),
	'... the other worker registered it (not atomic: documented)');
$coord->safe_psql('postgres', q{SELECT load_model('m', 'bert/hf', '{"force": true}')});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.cluster_models() WHERE status <> 'ok'}), '0',
	'load_model with force rebinds the name on every node: all ok again');

# ---------------------------------------------------------------- unload_model, drop_model
$coord->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE v <=> embed('m', body) >= 0});
is($w1->safe_psql('postgres', q{SELECT loaded FROM pg_infer.models WHERE name = 'm'}), 't', 'worker 1 has the model loaded');
is($coord->safe_psql('postgres', q{SELECT unload_model('m')}), 't', 'unload_model on the coordinator: it was loaded');
for my $n ($coord, $w1, $w2)
{
	is($n->safe_psql('postgres', q{SELECT loaded FROM pg_infer.models WHERE name = 'm'}), 'f',
		$n->name . ': unload_model evicted it here');
}
$coord->safe_psql('postgres', q{SELECT load_model('m2', 'bert/bert-f32.gguf')});
$coord->safe_psql('postgres', q{SELECT drop_model('m2')});
for my $n ($coord, $w1, $w2)
{
	is($n->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.models WHERE name = 'm2'}), '0',
		$n->name . ': drop_model on the coordinator dropped it here');
}
# drop on the coordinator when a worker no longer has it: still fine
$coord->safe_psql('postgres', q{SELECT load_model('m3', 'bert/bert-f32.gguf')});
$w1->safe_psql('postgres', q{SELECT drop_model('m3')});
($ret, $out, $err) = $coord->psql('postgres', q{SELECT drop_model('m3')});
is($ret, 0, 'drop_model on the coordinator succeeds when a worker had already dropped the model');
is($w2->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.models WHERE name = 'm3'}), '0', '... and drops it elsewhere');

# ---------------------------------------------------------------- rights
# the workers run the call as the caller: a role granted load_model on the
# coordinator only is refused by the workers
$coord->safe_psql('postgres', q{CREATE ROLE model_admin LOGIN;
	GRANT EXECUTE ON FUNCTION load_model(text, text, jsonb), drop_model(text) TO model_admin});
for my $w ($w1, $w2)
{
	# Citus propagates CREATE ROLE; make sure the role exists, without the grant
	$w->safe_psql('postgres', q{DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'model_admin') THEN
		CREATE ROLE model_admin LOGIN; END IF; END$$;
		REVOKE EXECUTE ON FUNCTION load_model(text, text, jsonb), drop_model(text) FROM model_admin});
}
($ret, $out, $err) = $coord->psql('postgres', q{SELECT load_model('m4', 'bert/hf')}, extra_params => [ '-U', 'model_admin' ]);
isnt($ret, 0, 'a role granted load_model on the coordinator only: refused');
like($err, qr/permission denied for function load_model \(on worker/, '... by the workers, which check the caller\'s own grant');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.models WHERE name = 'm4'}), '0', '... and nothing is registered on the coordinator');
for my $w ($w1, $w2)
{
	$w->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION load_model(text, text, jsonb), drop_model(text) TO model_admin});
}
$coord->safe_psql('postgres', q{SELECT load_model('m4', 'bert/hf')}, extra_params => [ '-U', 'model_admin' ]);
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.cluster_models() WHERE name = 'm4' AND status = 'ok'}), '3',
	'granted on every node: the delegated admin registers on every node');
$coord->safe_psql('postgres', q{SELECT drop_model('m4')}, extra_params => [ '-U', 'model_admin' ]);
# a plain role may read cluster_models
$coord->safe_psql('postgres', q{CREATE ROLE plain_user LOGIN});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.cluster_models() WHERE name = 'm'},
	extra_params => [ '-U', 'plain_user' ]), '3', 'a plain role reads cluster_models (the workers as itself)');
($ret, $out, $err) = $coord->psql('postgres', q{SELECT load_model('m5', 'bert/hf')}, extra_params => [ '-U', 'plain_user' ]);
like($err, qr/permission denied for function load_model/, 'a plain role may not load_model');

# ---------------------------------------------------------------- same source, other content
# a worker whose model directory holds another file under the same name:
# load_model on the coordinator refuses it there, nothing is registered there
my $dirs = PostgreSQL::Test::Utils::tempdir();
for my $d ('a', 'b')
{
	File::Path::make_path("$dirs/$d");
}
File::Copy::copy("$src/bert/bert-f32.gguf", "$dirs/a/alt.gguf") or die "copy: $!";
File::Copy::copy("$src/tiny.gguf", "$dirs/b/alt.gguf") or die "copy: $!";
chmod 0755, $dirs, "$dirs/a", "$dirs/b";
for my $n ($coord, $w1, $w2)
{
	my $d = $n == $w2 ? "$dirs/b" : "$dirs/a";
	$n->safe_psql('postgres', qq{ALTER SYSTEM SET pg_infer.model_dir = '$d'; SELECT pg_reload_conf()});
}
($ret, $out, $err) = $coord->psql('postgres', q{SELECT load_model('alt', 'alt.gguf')});
isnt($ret, 0, 'load_model fails when a worker\'s file under the same source has other content');
like($err, qr/sha256 \w+ on this node, \w+ on the coordinator.*\(on worker \Q$w2name\E\)/,
	'... naming the worker: ' . (split /\n/, $err)[0]);
is($w2->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.models WHERE name = 'alt'}), '0',
	'... and that worker registered nothing');
$coord->safe_psql('postgres', q{SELECT drop_model('alt')}) if
	$coord->safe_psql('postgres', q{SELECT count(*) FROM pg_infer.models WHERE name = 'alt'}) ne '0';

# ---------------------------------------------------------------- figures (PGI_CITUS_MEASURE=1)
if ($ENV{PGI_CITUS_MEASURE})
{
	my $rows = $ENV{PGI_CITUS_ROWS} // 20000;
	for my $n ($coord, $w1, $w2)
	{
		$n->safe_psql('postgres', qq{ALTER SYSTEM SET pg_infer.model_dir = '$src'; SELECT pg_reload_conf()});
		$n->safe_psql('postgres', q{SELECT embed('use-lite', 'warm up: build the prepared file')});
	}
	my $fill = qq{INSERT INTO %s (id, body)
		SELECT g, format('%%s %%s %%s the %%s of %%s and %%s %%s', w[1 + g %% 19], w[1 + g %% 23], w[1 + g %% 29],
						 w[1 + g %% 31], w[1 + g %% 37], w[1 + g %% 41], g)
		FROM generate_series(1, $rows) g,
			 (SELECT string_to_array('parse read write yaml json files quickly library tool for postgres database '
				 || 'geographic data images text search vector index fast small secure network server client '
				 || 'terminal editor music video audio compression archive backup python perl rust', ' ') w) x};
	$coord->safe_psql('postgres', qq{CREATE TABLE bench (id int PRIMARY KEY, body text, v vector(512));
		SELECT create_distributed_table('bench', 'id'); } . sprintf($fill, 'bench'));
	$coord->safe_psql('postgres', qq{CREATE TABLE bench_local (id int PRIMARY KEY, body text, v vector(512)); }
		. sprintf($fill, 'bench_local'));
	my %rate;
	for my $t ('bench', 'bench_local')
	{
		my $t0 = time;
		$coord->safe_psql('postgres', "UPDATE $t SET v = embed('use-lite', body)");
		$rate{$t} = $rows / (time - $t0);
		$coord->safe_psql('postgres', "CREATE INDEX ON $t USING hnsw (v vector_cosine_ops)");
	}
	my %ms;
	for my $t ('bench', 'bench_local')
	{
		my ($r, $o, $e) = $coord->psql('postgres', qq{DO \$\$
DECLARE t0 timestamptz; ids int[];
BEGIN
	PERFORM id FROM $t ORDER BY v <=> embed('use-lite', 'warm') LIMIT 10;
	t0 := clock_timestamp();
	FOR i IN 1..100 LOOP
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM $t ORDER BY v <=> embed(%L, %L) LIMIT 10) s',
					   'use-lite', 'search query number ' || i) INTO ids;
	END LOOP;
	RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000 / 100, 2);
END\$\$});
		($ms{$t}) = $e =~ /ms=([0-9.]+)/;
	}
	diag(sprintf('figures: batched UPDATE of %d rows with use-lite: %.0f rows/s on 3 nodes (4 shards), '
		  . '%.0f rows/s on one node (x%.2f); search (hnsw, LIMIT 10, embedding the query on the coordinator): '
		  . '%s ms pushed down, %s ms on one node; %d cores', $rows, $rate{bench}, $rate{bench_local},
		  $rate{bench} / $rate{bench_local}, $ms{bench} // '?', $ms{bench_local} // '?',
		  `nproc` + 0));
}

done_testing();
