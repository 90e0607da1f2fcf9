#!/usr/bin/env bash
# Run the Perl TAP tests of test/t (WAL replay, crash recovery, recall,
# REINDEX) the way PGXS's prove_installcheck does, against the installed
# PostgreSQL 15 and the installed pg_infer.  Each test creates its own
# throwaway clusters (PostgreSQL::Test::Cluster); no running server is used.
#
#   test/run_tap.sh                        # every test/t/*.pl
#   test/run_tap.sh t/012_hnsw_recall.pl   # some of them (paths as t/NAME.pl)
#   PROVE_FLAGS=-v test/run_tap.sh         # verbose
#
# initdb refuses to run as root, so as root the tests run as the `postgres`
# user in a copy of test/t under build/tap (or under /tmp when postgres cannot
# reach build/).  Logs: <dir>/tmp_check/log/regress_log_* and the nodes'
# server logs beside them; they are kept when a test fails.
#
# Needs: postgresql-15, postgresql-server-dev-15 (PostgreSQL::Test::*), and
# libipc-run-perl (IPC::Run).  Prints prove's output; exits non-zero when a
# test fails.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
RUN_USER=${RUN_USER:-postgres}

BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")	# .../lib/pgxs/src
PERL_LIB="$PGXS_DIR/test/perl"
PG_REGRESS="$PGXS_DIR/test/regress/pg_regress"

for f in "$PERL_LIB/PostgreSQL/Test/Cluster.pm" "$PG_REGRESS"; do
	if [ ! -e "$f" ]; then
		echo "run_tap.sh: $f is missing (install postgresql-server-dev-15)" >&2
		exit 2
	fi
done
if ! perl -MIPC::Run -e 1 2>/dev/null; then
	echo "run_tap.sh: the Perl module IPC::Run is missing (apt-get install libipc-run-perl)" >&2
	exit 2
fi

# Run as RUN_USER when we are root, else as ourselves
as_runner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u "$RUN_USER" -- "$@"; else "$@"; fi
}

# Working directory: build/tap if the runner can reach it, else /tmp
WORK="$ROOT/build/tap"
mkdir -p "$ROOT/build"
if [ "$(id -u)" -eq 0 ] && ! runuser -u "$RUN_USER" -- test -x "$ROOT/build"; then
	WORK=$(mktemp -d /tmp/pg_infer_tap.XXXXXX)
fi
rm -rf "$WORK"
mkdir -p "$WORK/t"
cp "$ROOT"/test/t/*.pl "$WORK/t/"
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$RUN_USER" "$WORK"
fi

cd "$WORK" || exit 2
echo "run_tap.sh: logs in $WORK/tmp_check/log"
if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=(t/*.pl)
fi
# shellcheck disable=SC2086 # PROVE_FLAGS is a list of flags
as_runner env \
	TESTDIR="$WORK" \
	PATH="$BINDIR:$PATH" \
	PGPORT="${PGPORT:-65432}" \
	PG_REGRESS="$PG_REGRESS" \
	PGI_TEST_MODELS="${PGI_TEST_MODELS:-$ROOT/build/test_models}" \
	PGI_ROOT="$ROOT" \
	prove -I "$PERL_LIB" ${PROVE_FLAGS:-} "${tests[@]}"
# prove's exit status is this script's
