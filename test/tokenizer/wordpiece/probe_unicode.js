// probe_unicode.js
//   Measure, for every code point, how Hugging Face tokenizers' BERT
//   pipeline classifies it, to keep tools/gen_unicode_tables.py's HF_*
//   lists honest:
//
//     node test/tokenizer/wordpiece/probe_unicode.js build/tokenizer/wordpiece > probe.tsv
//     /usr/bin/python3 tools/gen_unicode_tables.py --diff probe.tsv
//
//   (after test/tokenizer/parity_wordpiece.sh has installed the reference
//   into build/tokenizer/wordpiece).  One line per code point, tab
//   separated: code point (hex); clean_text on "a<c>b" (R removed, W turned
//   into a space, - kept); BertPreTokenizer on "a<c>b" (P punctuation, S
//   whitespace, - neither); strip_accents of c alone; lowercase of c alone;
//   whether NFD moves c before U+0345 (class 240), i.e. whether the
//   reference knows a non-zero combining class for it (M moved, - not);
//   NFD of c alone.  Code point lists are hex, separated by spaces.
//
//   test/tokenizer/wordpiece/probe_unicode.js
'use strict';

const modDir = process.argv[2] || '.';
const tk = require(require.resolve('tokenizers', { paths: [modDir] }));

const bert = (o) => tk.bertNormalizer(Object.assign(
  { cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false }, o));
const clean = bert({ cleanText: true });
const strip = bert({ stripAccents: true });
const lower = bert({ lowercase: true });
const nfd = tk.nfdNormalizer();
const pre = tk.bertPreTokenizer();
const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(' ');

const lines = [];
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const c = String.fromCodePoint(cp);
  const s = 'a' + c + 'b';
  const cl = clean.normalizeString(s);
  const p = pre.preTokenizeString(s).length;
  const moved = cp !== 0x345 && Array.from(nfd.normalizeString('a\u0345' + c))[1] !== '\u0345';
  lines.push([cp.toString(16), cl === 'ab' ? 'R' : cl === 'a b' ? 'W' : '-',
    p === 3 ? 'P' : p === 2 ? 'S' : '-', hex(strip.normalizeString(c)), hex(lower.normalizeString(c)),
    moved ? 'M' : '-', hex(nfd.normalizeString(c))].join('\t'));
}
process.stdout.write(lines.join('\n') + '\n');
