#!/usr/bin/env bash
# pg_infer.sh: set up, build, run and test pg_infer on Debian 12.
#
#   ./pg_infer.sh demo     install deps, build, start a throwaway cluster,
#                          run the demo, stop the cluster
#   ./pg_infer.sh test     same, but run the whole test suite
#                          (pg_regress + pgTAP + C unit + fuzz) and print
#                          "N passed, M failed"
#
# Smaller steps: deps | build | start | stop | psql [args] | bench
#
# Environment:
#   PGI_PORT        port of the throwaway cluster (default 54329)
#   PGI_DATA        its data directory (default build/pgdata)
#   PGI_SKIP_DEPS=1 do not run apt-get (for quick loops on a ready machine)
#   FUZZ_SECONDS    seconds per fuzz target in `test` (default 60)
#
# The cluster lives in build/pgdata, owned by and run as the `postgres`
# user (the server refuses to run as root), with
# shared_preload_libraries = 'pg_infer'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$ROOT/build"
PGDATA_DIR="${PGI_DATA:-$BUILD/pgdata}"
PGI_PORT=${PGI_PORT:-54329}
PG_BIN=/usr/lib/postgresql/15/bin
RUN_USER=postgres

DEB_PACKAGES=(
	build-essential clang libclang-rt-14-dev
	postgresql-15 postgresql-server-dev-15 postgresql-client-15
	libopenblas-dev libsentencepiece-dev
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
	python3-numpy python3-sentencepiece
)

log() { printf '\n== %s\n' "$*"; }

# Install every Debian package the build, the demo and the tests need
deps() {
	if [ "${PGI_SKIP_DEPS:-0}" = 1 ]; then return; fi
	log "installing Debian packages"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${DEB_PACKAGES[@]}" >/dev/null
	# Node.js runs the Hugging Face tokenizer references of the parity tests;
	# use the machine's own if it has one, Debian's otherwise
	command -v npm >/dev/null || $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

# Build and install the extension
build() {
	log "building pg_infer"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	make -C "$ROOT" -s -j"$(nproc)"
	$sudo make -C "$ROOT" -s install >/dev/null
}

# Run a command as the cluster's owner
as_owner() {
	if [ "$(id -un)" = "$RUN_USER" ]; then "$@"; else runuser -u "$RUN_USER" -- "$@"; fi
}

# Socket directory: under build/ unless that path is too long for a socket
sockdir() {
	local d="$BUILD/run"
	if [ ${#d} -gt 80 ]; then d="/tmp/pg_infer.$PGI_PORT"; fi
	echo "$d"
}

# The server runs as $RUN_USER: let it reach build/ if an ancestor directory
# is closed to others (e.g. a clone under /root), by adding search (x) only
grant_traverse() {
	local d="$BUILD"
	as_owner test -x "$d" 2>/dev/null && return
	while [ "$d" != / ]; do
		if ! as_owner test -x "$d" 2>/dev/null; then
			echo "note: chmod o+x $d so the $RUN_USER user can reach $BUILD"
			chmod o+x "$d"
		fi
		d=$(dirname "$d")
	done
}

# Create (if needed) and start the throwaway cluster
start() {
	local sock
	sock=$(sockdir)
	mkdir -p "$BUILD/log" "$sock"
	id "$RUN_USER" >/dev/null 2>&1 || useradd --system --home-dir "$BUILD" "$RUN_USER"
	chown "$RUN_USER" "$sock" "$BUILD/log"
	grant_traverse
	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		log "creating cluster in $PGDATA_DIR"
		mkdir -p "$PGDATA_DIR"
		chown "$RUN_USER" "$PGDATA_DIR"
		chmod 700 "$PGDATA_DIR"
		as_owner "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
			--encoding=UTF8 --locale=C.UTF-8 >/dev/null
		cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
# pg_infer throwaway cluster
port = $PGI_PORT
listen_addresses = ''
unix_socket_directories = '$sock'
shared_preload_libraries = 'pg_infer'
shared_buffers = 1GB
max_worker_processes = 8
fsync = off
CONF
	fi
	stop_quiet
	log "starting PostgreSQL 15 on port $PGI_PORT (socket $sock)"
	as_owner "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$BUILD/log/postgresql-$PGI_PORT.log" -w start >/dev/null
}

stop_quiet() {
	if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_owner "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

stop() {
	log "stopping the cluster"
	stop_quiet
}

# Point libpq clients at the throwaway cluster
pgenv() {
	export PGHOST
	PGHOST=$(sockdir)
	export PGPORT=$PGI_PORT PGUSER=postgres PGDATABASE=postgres
}

cmd_demo() {
	deps
	build
	start
	trap stop EXIT
	pgenv
	log "demo"
	psql -X -v ON_ERROR_STOP=1 -q -f "$ROOT/demo/demo.sql"
}

cmd_test() {
	deps
	build
	start
	trap stop EXIT
	pgenv
	"$ROOT/test/run_all.sh"
}

cmd_bench() {
	make -C "$ROOT" -s bench
	"$BUILD/bench/vector_distance"
}

case "${1:-}" in
	demo) cmd_demo ;;
	test) cmd_test ;;
	deps) deps ;;
	build) build ;;
	start) start ;;
	stop) stop ;;
	psql) shift; pgenv; exec psql -X "$@" ;;
	bench) cmd_bench ;;
	*)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
esac
