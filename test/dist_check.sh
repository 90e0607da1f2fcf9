#!/usr/bin/env bash
# test/dist_check.sh: the release archive (make dist) is complete.  Checks
# that META.json is valid JSON with the keys PGXN requires and the control
# file's version, that the archive holds every file git tracks under src/,
# sql/ and the build files, and that the extension builds from the unpacked
# archive alone (make, no install).  Prints "dist: N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ok=0
bad=0
check() { if eval "$2"; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "FAIL $1"; fi; }

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_infer.control)
check "META.json: valid, PGXN's required keys, version $version" \
	"/usr/bin/python3 -c 'import json,sys; m=json.load(open(\"META.json\")); \
sys.exit(not (all(k in m for k in (\"name\",\"abstract\",\"version\",\"maintainer\",\"license\",\"provides\",\"meta-spec\")) \
and m[\"version\"] == \"$version\" and m[\"provides\"][\"pg_infer\"][\"version\"] == \"$version\"))'"
check "make dist" "make -s dist >/dev/null"
zip=build/pg_infer-$version.zip
check "archive build/pg_infer-$version.zip" "[ -s $zip ]"
listed=$(unzip -Z1 "$zip" 2>/dev/null | sed "s|^pg_infer-$version/||")
missing=$(git ls-files src sql Makefile pg_infer.control META.json | grep -vxF -f <(echo "$listed") | head -5)
check "every tracked file of src/, sql/ and the build files is in it${missing:+ (missing: $missing)}" "[ -z \"\$missing\" ]"
check "the install script of version $version is reachable (sql/pg_infer--*--$version.sql)" \
	"echo \"\$listed\" | grep -q 'sql/pg_infer--.*--$version.sql'"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -q "$zip" -d "$tmp"
check "the extension builds from the unpacked archive alone" \
	"make -s -C $tmp/pg_infer-$version -j2 >$tmp/build.log 2>&1 && [ -f $tmp/pg_infer-$version/pg_infer.so ] || { tail -20 $tmp/build.log; false; }"
echo "dist: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
