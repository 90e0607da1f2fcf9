#!/usr/bin/env bash
# Run the whole test suite against the running cluster (PGHOST/PGPORT/PGUSER
# set by ./pg_infer.sh) and print one summary line: "N passed, M failed".
#
# Counts: one per pg_regress suite, one per pgTAP assertion, one per Perl TAP
# assertion, one per C unit assertion, one per fuzz target.  Every part runs even if an earlier part
# failed; the exit status is non-zero when anything failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build/test"
mkdir -p "$OUT"
cd "$ROOT"

passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

section() { printf '\n== %s\n' "$*"; }

# --- tokenizer parity ---------------------------------------------------------
# Each test/tokenizer/parity_*.sh compares our token ids with a reference
# implementation and prints "parity: N passed, M failed" as its last line.
# First, because the pgTAP suites reuse their reference libraries.
section "tokenizer parity (test/tokenizer)"
for t in test/tokenizer/parity_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	"$t" > "$OUT/$name.log" 2>&1
	st=$?
	line=$(grep -E '^parity: [0-9]+ passed, [0-9]+ failed' "$OUT/$name.log" | tail -1)
	k_ok=$(echo "$line" | awk '{print $2 + 0}')
	k_bad=$(echo "$line" | awk '{print $4 + 0}')
	if [ -z "$line" ] || { [ "$st" -ne 0 ] && [ "$k_bad" -eq 0 ]; }; then
		tail -20 "$OUT/$name.log" | sed 's/^/    /'
		k_bad=$((k_bad + 1))
	fi
	grep -E '^(skip|FAIL)' "$OUT/$name.log" | head -20 | sed 's/^/    /'
	echo "  $name: $k_ok passed, $k_bad failed"
	add "$k_ok" "$k_bad"
done

# --- pg_regress --------------------------------------------------------------
section "pg_regress (test/sql)"
make -s installcheck > "$OUT/regress.log" 2>&1
grep -E '^(ok|not ok|test) |\.\.\. (ok|FAILED|failed)' "$OUT/regress.log" | sed 's/^/  /'
n_ok=$(grep -cE '\.\.\. ok' "$OUT/regress.log")
n_bad=$(grep -cE '\.\.\. (FAILED|failed)' "$OUT/regress.log")
if [ "$n_ok" -eq 0 ] && [ "$n_bad" -eq 0 ]; then
	cat "$OUT/regress.log"
	n_bad=1
fi
[ "$n_bad" -eq 0 ] || { echo "  diffs:"; head -100 build/regress/regression.diffs 2>/dev/null; }
echo "  regress: $n_ok passed, $n_bad failed"
add "$n_ok" "$n_bad"

# --- pgTAP -------------------------------------------------------------------
section "pgTAP (test/pgtap)"
psql -X -q -c "DROP DATABASE IF EXISTS pgi_tap" -c "CREATE DATABASE pgi_tap" >/dev/null
# the registry suite reads the model files laid out by prepare_models.sh
models=$(test/prepare_models.sh)
PGOPTIONS="-c pg_infer.model_dir=$models" pg_prove -d pgi_tap --verbose test/pgtap/*.sql > "$OUT/pgtap.log" 2>&1
grep -E '^(not ok|# )' "$OUT/pgtap.log" | grep -v '^# Subtest' | head -60 | sed 's/^/  /'
grep -E '^test/pgtap/.*\.sql \.\.' "$OUT/pgtap.log" | sed 's/^/  /'
t_ok=$(grep -cE '^ok [0-9]+' "$OUT/pgtap.log")
t_bad=$(grep -cE '^not ok [0-9]+' "$OUT/pgtap.log")
if ! grep -q '^Result: PASS' "$OUT/pgtap.log" && [ "$t_bad" -eq 0 ]; then
	tail -30 "$OUT/pgtap.log"
	t_bad=1 # a file died or planned more than it ran
fi
echo "  pgtap: $t_ok passed, $t_bad failed"
add "$t_ok" "$t_bad"

# --- Perl TAP ------------------------------------------------------------------
section "Perl TAP (test/t: hnsw WAL, replicas, crash recovery, recall, REINDEX; model preload, truncated model files, batching under concurrent updates)"
test/run_tap.sh > "$OUT/tap.log" 2>&1
grep -E '^t/.*\.pl \.\.|^(Files|Result)' "$OUT/tap.log" | sed 's/^/  /'
p_all=$(grep -oE 'Tests=[0-9]+' "$OUT/tap.log" | tail -1 | cut -d= -f2)
p_bad=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$OUT/tap.log" | awk '{split($2, a, "/"); s += a[1]} END {print s + 0}')
p_ok=$(( ${p_all:-0} - p_bad ))
if ! grep -q '^Result: PASS' "$OUT/tap.log"; then
	grep -E 'not ok|Failed|Dubious|died' "$OUT/tap.log" | head -20 | sed 's/^/  /'
	[ "$p_bad" -gt 0 ] || p_bad=1 # a test died or planned more than it ran
fi
echo "  tap: $p_ok passed, $p_bad failed"
add "$p_ok" "$p_bad"

# --- C unit tests ------------------------------------------------------------
section "release archive (make dist, test/dist_check.sh)"
test/dist_check.sh > "$OUT/dist.log" 2>&1
grep -E '^FAIL' "$OUT/dist.log" | sed 's/^/  /'
line=$(grep -E '^dist: [0-9]+ passed' "$OUT/dist.log" | tail -1)
d_ok=$(echo "$line" | awk '{print $2 + 0}')
d_bad=$(echo "$line" | awk '{print $4 + 0}')
[ -n "$line" ] || { tail -20 "$OUT/dist.log"; d_bad=1; }
echo "  $line"
add "$d_ok" "$d_bad"

section "C unit tests (make unit)"
make -s unit > "$OUT/unit.log" 2>&1
unit_status=$?
grep -E '^(unit |FAIL|kernels|check_layout)' "$OUT/unit.log" | sed 's/^/  /'
u_ok=$(grep -E '^unit ' "$OUT/unit.log" | awk '{s += $3} END {print s + 0}')
u_bad=$(grep -E '^unit ' "$OUT/unit.log" | awk '{s += $5} END {print s + 0}')
if [ "$unit_status" -ne 0 ] && [ "$u_bad" -eq 0 ]; then
	tail -30 "$OUT/unit.log"
	u_bad=1 # build failure or crash
fi
add "$u_ok" "$u_bad"

# --- fuzzing -----------------------------------------------------------------
section "fuzzing (make fuzz, ${FUZZ_SECONDS:-60}s per target)"
make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}" > "$OUT/fuzz.log" 2>&1
fuzz_status=$?
sed 's/^/  /' "$OUT/fuzz.log" | grep -E 'fuzz:|ERROR|SUMMARY' | head -40
f_ok=$(grep -cE '^fuzz: .* ok' "$OUT/fuzz.log")
f_bad=$(grep -cE '^fuzz: .* FAILED' "$OUT/fuzz.log")
if [ "$fuzz_status" -ne 0 ] && [ "$f_bad" -eq 0 ]; then
	tail -30 "$OUT/fuzz.log"
	f_bad=1
fi
add "$f_ok" "$f_bad"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
