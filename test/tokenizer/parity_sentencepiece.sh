#!/usr/bin/env bash
# SentencePiece parity: our token ids (src/core/tokenizers/tok_spm*, through the C
# driver test/tokenizer/sentencepiece/spm_ids.c) against Debian's Python
# sentencepiece on the same strings, model by model.  One count per string
# per model; a string passes when the ids AND the text decoded from them
# are identical.  Last line: "parity: N passed, M failed".
#
# Models:
#   self-unigram        trained here (unigram, nmt_nfkc normaliser, no byte
#                       fallback), loaded from its .model bytes
#   self-bpe            trained here (BPE, identity, byte fallback,
#                       user-defined and control symbols)
#   self-bpe-gguf       self-bpe's pieces written as a llama.cpp-style GGUF,
#                       tokenised through our GGUF -> ModelProto builder;
#                       reference: the original self-bpe.model
#   self-bpe-gguf-noprefix  the same with add_space_prefix = false;
#                       reference: self-bpe.model with add_dummy_prefix off
#   tok512              ../shared stories260K/tok512.model, from its bytes
#   stories260K-gguf    stories260K.gguf through the GGUF builder; reference:
#                       tok512.model with remove_extra_whitespaces off (a
#                       GGUF does not carry the normaliser, and llama.cpp
#                       does not collapse spaces; see doc/tokenizers.md)
#   rand15M-<quant>     the Llama 2 vocabulary of the rand15M GGUF files;
#                       reference: a ModelProto built from the same arrays
#                       by spm_ref.py (Python, independently of our C)
#   readme-prompts      prompt ids that llama2.c / llama.cpp printed, from
#                       the shared READMEs and reference.json
# The self-trained models always run; models under ../shared print
# "skip: ..." when absent and are not counted.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/test/tokenizer/sentencepiece"
SHARED="${PGI_SHARED:-$ROOT/../shared}/models"
OUT="$ROOT/build/tokenizer/sentencepiece"
PY=/usr/bin/python3
N_STRINGS=${SPM_PARITY_STRINGS:-2200}
IDS="$ROOT/build/tokenizer/spm_ids"

mkdir -p "$OUT"
cd "$ROOT"
passed=0
failed=0

fail_all() {
	echo "parity: 0 passed, 1 failed"
	exit 1
}

if ! "$PY" -c 'import sentencepiece' 2>/dev/null; then
	echo "error: $PY has no sentencepiece module (apt-get install python3-sentencepiece)"
	fail_all
fi
if ! make -s build/tokenizer/spm_ids > "$OUT/build.log" 2>&1; then
	echo "error: could not build the driver:"
	tail -20 "$OUT/build.log"
	fail_all
fi

# seeded inputs: a training corpus and the test strings
"$PY" "$HERE/gen_strings.py" corpus 20000 42 > "$OUT/corpus.txt" || fail_all
"$PY" "$HERE/gen_strings.py" strings "$N_STRINGS" 7 > "$OUT/strings.hex" || fail_all
"$PY" "$HERE/spm_ref.py" train "$OUT/corpus.txt" "$OUT" || fail_all
"$PY" "$HERE/spm_ref.py" gguf "$OUT/bpe.model" "$OUT/bpe.gguf" || fail_all
"$PY" "$HERE/spm_ref.py" gguf "$OUT/bpe.model" "$OUT/bpe-noprefix.gguf" --no-space-prefix || fail_all

# compare NAME "OUR DRIVER ARGS" "REFERENCE ARGS"
compare() {
	local name=$1 ours=$2 ref=$3 line
	# shellcheck disable=SC2086
	if ! "$IDS" $ours < "$OUT/strings.hex" > "$OUT/$name.ours" 2> "$OUT/$name.err"; then
		echo "  $name: our driver failed: $(head -c 300 "$OUT/$name.err")"
		: > "$OUT/$name.ours"
	fi
	# shellcheck disable=SC2086
	"$PY" "$HERE/spm_ref.py" encode $ref < "$OUT/strings.hex" > "$OUT/$name.ref" 2> "$OUT/$name.referr" ||
		echo "  $name: reference failed: $(tail -c 300 "$OUT/$name.referr")"
	line=$("$PY" "$HERE/spm_ref.py" compare "$name" "$OUT/strings.hex" "$OUT/$name.ours" "$OUT/$name.ref")
	echo "$line" | sed 's/^/  /'
	line=$(echo "$line" | tail -1)
	passed=$((passed + $(echo "$line" | awk '{print $2}')))
	failed=$((failed + $(echo "$line" | awk '{print $4}')))
}

compare self-unigram "--model $OUT/uni.model" "--model $OUT/uni.model"
compare self-bpe "--model $OUT/bpe.model" "--model $OUT/bpe.model"
compare self-bpe-gguf "--gguf $OUT/bpe.gguf" "--model $OUT/bpe.model"
compare self-bpe-gguf-noprefix "--gguf $OUT/bpe-noprefix.gguf" "--model $OUT/bpe.model --no-dummy-prefix"

if [ -f "$SHARED/stories260K/tok512.model" ]; then
	compare tok512 "--model $SHARED/stories260K/tok512.model" "--model $SHARED/stories260K/tok512.model"
else
	echo "skip: tok512 ($SHARED/stories260K/tok512.model not found)"
fi
if [ -f "$SHARED/stories260K/stories260K.gguf" ] && [ -f "$SHARED/stories260K/tok512.model" ]; then
	compare stories260K-gguf "--gguf $SHARED/stories260K/stories260K.gguf" \
		"--model $SHARED/stories260K/tok512.model --keep-spaces"
	# for the record, not counted: the raw tok512.model collapses spaces
	n_diff=$("$PY" "$HERE/spm_ref.py" encode --model "$SHARED/stories260K/tok512.model" < "$OUT/strings.hex" |
		diff - "$OUT/stories260K-gguf.ours" | grep -c '^>')
	echo "  info: stories260K-gguf differs from tok512.model with remove_extra_whitespaces on in $n_diff strings (whitespace runs, leading/trailing spaces)"
else
	echo "skip: stories260K-gguf ($SHARED/stories260K/stories260K.gguf or tok512.model not found)"
fi
for q in Q8_0 Q4_0 Q4_K_M; do
	f="$SHARED/rand15M-quant/rand15M-$q.gguf"
	if [ -f "$f" ]; then
		compare "rand15M-$q" "--gguf $f" "--gguf $f"
	else
		echo "skip: rand15M-$q ($f not found)"
	fi
done

# prompt ids printed by llama2.c (stories260K README) and llama.cpp
# (rand15M reference.json), BOS first
if [ -d "$SHARED" ]; then
	line=$("$PY" - "$SHARED" "$IDS" <<'EOF'
import json, os, re, subprocess, sys
shared, ids = sys.argv[1], sys.argv[2]
cases = []
readme = os.path.join(shared, "stories260K/README.md")
if os.path.exists(readme):
    text = open(readme).read()
    for m in re.finditer(r'### P\d+: prompt "(.*?)".*?Prompt ids \(BOS first\): `\[(.*?)\]`', text, re.S):
        cases.append(("stories260K.gguf", os.path.join(shared, "stories260K/stories260K.gguf"),
                      m.group(1), [int(x) for x in m.group(2).split(",")]))
ref = os.path.join(shared, "rand15M-quant/reference.json")
if os.path.exists(ref):
    r = json.load(open(ref))
    for model, g in r["greedy"].items():
        f = os.path.join(shared, "rand15M-quant", os.path.basename(g["file"]))
        if not os.path.exists(f):
            continue
        for prompt, p in g["prompts"].items():
            cases.append((os.path.basename(f), f, prompt, p["prompt_ids"]))
ok = bad = 0
for name, f, prompt, want in cases:
    out = subprocess.run([ids, "--gguf", f], input=prompt.encode().hex() + "\n",
                         capture_output=True, text=True).stdout
    got = [1] + [int(x) for x in out.split("\t")[0].split()] if out else None
    if got == want:
        ok += 1
    else:
        bad += 1
        print("  mismatch readme-prompts %s %r: ours %s, reference %s" % (name, prompt, got, want))
print("readme-prompts: %d passed, %d failed" % (ok, bad))
EOF
)
	echo "$line" | sed 's/^/  /'
	line=$(echo "$line" | tail -1)
	passed=$((passed + $(echo "$line" | awk '{print $2}')))
	failed=$((failed + $(echo "$line" | awk '{print $4}')))
else
	echo "skip: readme-prompts ($SHARED not found)"
fi

echo "parity: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
