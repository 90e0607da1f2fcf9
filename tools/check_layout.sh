#!/usr/bin/env bash
# tools/check_layout.sh: the source tree's layout rules, checked from the
# include lines (run by `make unit`; prints what breaks a rule, exit 1).
#
#   1. src/core never includes a server header or a file of src/pg (the wall;
#      the unit-test build, without server headers on its path, checks it too)
#   2. every #include "..." of a project file names it from src/ and exists
#   3. no include cycle between modules (x.c, x.h and a private x_impl.h are one module)
#   4. no cycle between subsystem folders (src/core/formats, src/pg/hnsw, ...);
#      the files at the top of src/core and src/pg (status codes, error
#      mapping, _PG_init) are the base and the entry point, outside the rule
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
fail() { echo "check_layout: $*"; status=1; }

files=$(find src -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort)

# 1. the wall
while IFS=: read -r f _ line; do
	fail "$f includes $line (src/core must build without the server)"
done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\(postgres\|postgres_ext\|fmgr\|pg/\)' \
	$(find src/core -name '*.[ch]' -o -name '*.cpp'))

edges=$(mktemp)
dedges=$(mktemp)
trap 'rm -f "$edges" "$dedges"' EXIT
for f in $files; do
	from=${f%.*}
	from=${from%_impl}
	while read -r inc; do
		case "$inc" in
			core/* | pg/*) ;;
			*) [ -e "src/$inc" ] || [ -e "$(dirname "$f")/$inc" ] || continue
				fail "$f: #include \"$inc\" does not name the file from src/"; continue ;;
		esac
		[ -e "src/$inc" ] || { fail "$f: #include \"$inc\": no such file src/$inc"; continue; }
		to=src/${inc%.*}
		to=${to%_impl}
		[ "$to" = "$from" ] && continue
		echo "$from $to" >> "$edges"
		fd=$(dirname "$from") td=$(dirname "$to")
		case "$fd" in src/core | src/pg) continue ;; esac
		case "$td" in src/core | src/pg) continue ;; esac
		[ "$fd" != "$td" ] && echo "$fd $td" >> "$dedges"
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

# 3, 4. cycles (tsort names the loop on stderr)
if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	fail "include cycle between modules: $(echo "$out" | tr '\n' ' ')"
fi
if ! out=$(sort -u "$dedges" | tsort 2>&1 >/dev/null) || [ -n "$out" ]; then
	fail "include cycle between folders: $(echo "$out" | tr '\n' ' ')"
fi
[ $status = 0 ] && echo "check_layout: ok ($(wc -l < "$edges") include edges, $(sort -u "$dedges" | wc -l) folder dependencies, no cycle)"
exit $status
