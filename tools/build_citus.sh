#!/usr/bin/env bash
# Build and install Citus into the system PostgreSQL 15, for test/t/030_citus.pl
# and doc/scale-out.md.  Not part of the build or of CI: pg_infer never links
# against Citus, and 030_citus.pl reports itself skipped without it.
#
#   tools/build_citus.sh /path/to/citus-source     # a checkout of v13.2.2
#
# Tested with Citus v13.2.2 (commit cc91f4c29cc358f66e70eb1ef204a45999933926),
# https://github.com/citusdata/citus, on Debian 12 with PostgreSQL 15.20.  Citus
# 14 supports PostgreSQL 16 and later only: for PostgreSQL 15 use 13.x.  Get the
# tree without a work tree of this repository, e.g.
#   git clone --branch v13.2.2 --depth 1 https://github.com/citusdata/citus /tmp/citus
# or, from a bare mirror: git --git-dir=MIRROR archive v13.2.2 | tar -x -C /tmp/citus
#
# Runs as root (apt-get, make install).  PG_CONFIG picks another PostgreSQL.
set -euo pipefail

SRC=${1:?usage: tools/build_citus.sh CITUS_SOURCE_DIR}
PG_CONFIG=${PG_CONFIG:-/usr/bin/pg_config}
cd "$SRC"

# what configure asks for (libcurl is optional: --without-libcurl)
apt-get install -y --no-install-recommends \
	build-essential autoconf flex bison postgresql-server-dev-15 \
	libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev \
	libselinux1-dev libxslt1-dev libpam0g-dev

# PostgreSQL 15.20 (and other recent 15.x minor releases) exports
# have_createdb_privilege() from commands/dbcommands.h, which Citus 13.2's
# pg_version_compat.h also defines as a static inline for PostgreSQL 15:
# "static declaration of 'have_createdb_privilege' follows non-static
# declaration".  Rename Citus's copy (same logic) where it is defined and used.
if grep -q '^have_createdb_privilege(void)$' src/include/pg_version_compat.h; then
	sed -i 's/^have_createdb_privilege(void)$/citus_have_createdb_privilege(void)/' \
		src/include/pg_version_compat.h
	sed -i 's/!have_createdb_privilege()/!citus_have_createdb_privilege()/' \
		src/backend/distributed/commands/serialize_distributed_ddls.c
fi

./configure PG_CONFIG="$PG_CONFIG"
make -j"$(nproc)"
make install

echo "build_citus.sh: installed $(sed -n 's/^#define CITUS_VERSION "\(.*\)"$/\1/p' src/include/citus_version.h) into $("$PG_CONFIG" --pkglibdir)"
