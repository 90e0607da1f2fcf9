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
cat > "$DIR/hf/config.json" <<'JSON'
{"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 4,
 "max_position_embeddings": 16, "vocab_size": 3, "num_hidden_layers": 1}
JSON
cp "$FIX/tiny.safetensors" "$DIR/hf/model.safetensors"
printf '[PAD]\n[UNK]\nhello\n' > "$DIR/hf/vocab.txt"
cp "$DIR/hf/config.json" "$DIR/hf_notok/config.json"
cp "$FIX/tiny.safetensors" "$DIR/hf_notok/model.safetensors"
# random-weight BERT encoders in every layout, with NumPy reference outputs
# (test/models/gen_bert.py), and a bigger one for cancellation timing
/usr/bin/python3 "$ROOT/test/models/gen_bert.py" "$DIR/bert" >/dev/null
/usr/bin/python3 "$ROOT/test/models/gen_bert.py" "$DIR/bert_medium" --layers 4 --hidden 256 \
	--heads 4 --ffn 1024 --max-pos 512 --formats f32 --no-reference >/dev/null
chmod -R a+rX "$DIR"
echo "$DIR"
