#!/usr/bin/env bash
# Lay out build/test_models, the pg_infer.model_dir of the registry tests:
# small model files from test/unit/fixtures (written by gen_fixtures.py),
# plus hostile ones: a truncated GGUF, a non-model file, a symlink leading
# out of the directory, a model directory without a tokenizer.  Readable by
# the server's user.  Prints the directory.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIX="$ROOT/test/unit/fixtures"
DIR="$ROOT/build/test_models"
rm -rf "$DIR"
mkdir -p "$DIR/hf" "$DIR/hf_notok" "$DIR/sub"
cp "$FIX/tiny.gguf" "$DIR/tiny.gguf"
cp "$FIX/tiny_v2.gguf" "$DIR/tiny_v2.gguf"
cp "$FIX/tiny.gguf" "$DIR/sub/tiny_copy.gguf"
head -c 1000 "$FIX/tiny.gguf" > "$DIR/truncated.gguf"
printf 'not a model\n' > "$DIR/notes.txt"
: > "$DIR/empty.gguf"
ln -s "$ROOT/README.md" "$DIR/escape.gguf"	# a real file outside the directory
ln -s "$DIR/tiny.gguf" "$DIR/inside_link.gguf"
# random-weight BERT encoders in every layout, with NumPy reference outputs
# (test/models/gen_bert.py), and a bigger one for cancellation timing
/usr/bin/python3 "$ROOT/test/models/gen_bert.py" "$DIR/bert" >/dev/null
/usr/bin/python3 "$ROOT/test/models/gen_bert.py" "$DIR/bert_medium" --layers 4 --hidden 256 \
	--heads 4 --ffn 1024 --max-pos 512 --formats f32 --no-reference >/dev/null
# a plain BertModel directory: config, weights, vocab.txt
cp "$DIR/bert/hf/config.json" "$DIR/bert/hf/model.safetensors" "$DIR/bert/hf/vocab.txt" "$DIR/hf/"
cp "$DIR/hf/config.json" "$DIR/hf/model.safetensors" "$DIR/hf_notok/"
# BERT directories whose files disagree: weights narrower than config.json
# says; a vocabulary shorter than the embedding matrix
mkdir -p "$DIR/hf_badshape" "$DIR/hf_badvocab"
sed 's/"hidden_size": 32/"hidden_size": 64/' "$DIR/hf/config.json" > "$DIR/hf_badshape/config.json"
cp "$DIR/hf/model.safetensors" "$DIR/hf/vocab.txt" "$DIR/hf_badshape/"
cp "$DIR/hf/config.json" "$DIR/hf/model.safetensors" "$DIR/hf_badvocab/"
head -n 100 "$DIR/hf/vocab.txt" > "$DIR/hf_badvocab/vocab.txt"
chmod -R a+rX "$DIR"
echo "$DIR"
