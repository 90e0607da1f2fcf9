// clip_unit_ref.js
//   Reference values for the CLIP cases of test/unit/test_tok_bpe.c, from
//   Hugging Face tokenizers (npm "tokenizers", installed by
//   test/tokenizer/parity_bpe.sh into build/tokenizer/bpe).  Builds the
//   same two tokenizer.json documents as the unit test's clip_json() (ids:
//   byte b is b, byte b + "</w>" is 256 + b, merge r is 512 + r, then
//   <|startoftext|> and <|endoftext|>) and prints, as C, the pieces CLIP's
//   Split (Removed, invert) keeps and the ids and decodings of the test
//   strings; paste the output into the unit test when a case changes.
//
//   Usage: node test/tokenizer/bpe/clip_unit_ref.js [MODULE_DIR]
//
//   test/tokenizer/bpe/clip_unit_ref.js
'use strict';

const path = require('path');

const modDir = process.argv[2] || path.join(__dirname, '..', '..', '..', 'build', 'tokenizer', 'bpe');
const tk = require(require.resolve('tokenizers', { paths: [modDir] }));

const CLIP_REGEX = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
const MERGES = [['i', 'n'], ['t', 'h'], ['th', 'e</w>'], ['in', 'g</w>'], ["'", 's</w>'],
  ['l', 'l</w>'], ["'", 'll</w>'], ['p', 'h'], ['o', 't'], ['ph', 'ot'], ['phot', 'o</w>'],
  ['c', 'a'], ['ca', 't</w>'], ['\u0120', 'a</w>']];

// GPT-2's byte-to-unicode character of byte b
function byteChar(b) {
  const printable = (c) => (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae;
  if (printable(b)) return String.fromCodePoint(b);
  let n = 0;
  for (let c = 0; c < b; c++) if (!printable(c)) n++;
  return String.fromCodePoint(256 + n);
}

// variant 0: CLIP as its converter writes it; 1: unk, byte_fallback, ignore_merges
function clipJson(v) {
  const vocab = {};
  for (let b = 0; b < 256; b++) vocab[byteChar(b)] = b;
  for (let b = 0; b < 256; b++) if (v === 0 || b < 0x80) vocab[byteChar(b) + '</w>'] = 256 + b;
  MERGES.forEach(([a, b], r) => { vocab[a + b] = 512 + r; });
  const bos = 512 + MERGES.length;
  vocab['<|startoftext|>'] = bos;
  vocab['<|endoftext|>'] = bos + 1;
  if (v === 1) {
    vocab.photo = bos + 2;
    [0x3c, 0x2f, 0x77, 0x3e, 0xc2, 0xa4].forEach((b, i) => {
      vocab['<0x' + b.toString(16).toUpperCase() + '>'] = bos + 3 + i;
    });
  }
  const added = (id, content, normalized) => ({ id, content, single_word: false, lstrip: false,
    rstrip: false, normalized, special: true });
  return {
    version: '1.0',
    added_tokens: [added(bos, '<|startoftext|>', true), added(bos + 1, '<|endoftext|>', false)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' },
      { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: CLIP_REGEX }, behavior: 'Removed', invert: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }] },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', bos + 1],
      cls: ['<|startoftext|>', bos], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '',
      end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: v === 1, ignore_merges: v === 1,
      vocab, merges: MERGES },
  };
}

// C string literal of s (UTF-8 bytes as hex escapes outside printable ASCII)
function cstr(s) {
  let o = '"';
  let hex = false;
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b >= 0x20 && b < 0x7f && c !== '"' && c !== '\\' && !(hex && /[0-9a-fA-F]/.test(c))) {
      o += c;
      hex = false;
    } else {
      o += '\\x' + b.toString(16).padStart(2, '0');
      hex = true;
    }
  }
  return o + '"';
}

const SPLITS = ["i'LL be there", "it's 'S x'", "''s '' 're", "a1b22 \u00bd\u2167",
  'hello!!!  ...world?', 'caf\u00e9\u0301s \u00e9t\u00e9', '\u3000x\u00a0\ty\n', 'a</w>b', "don't'll've'd",
  '\u2019s ' + "'\u017f", '\u{1f600}\u{1f600}x\u{1f600}'];

const STRINGS = ['A Photo OF a CAT', "I'LL  be   there,\tI'M", "the cat's 'S", 'Ph\u00f3to',
  '\u03a3\u0391\u03a3', '\u0130', '12 \u00bd', 'cafe\u0301', '<|startoftext|>A photo<|endoftext|>',
  '<|STARTOFTEXT|>a  cat', 'x\u3000\u3000 a\u00a0', 'a</w>', 'x\u00e4 \u00e9', 'photo photos ing'];

const NORMALIZE = ['  A\u00a0\u00a0B\t\r\nC  ', '\u03a3\u0391\u03a3 \u0130 \u1e9e \u01c5 \u2168',
  '\u3000\u2028x\u0085\u180e\u200by\x1c', 'Caf\u00c9 \u212a \u2126'];

// The reference's output of a normalizer made of steps (as JSON)
function normalizer(steps) {
  const j = clipJson(0);
  j.normalizer = { type: 'Sequence', normalizers: steps };
  return tk.Tokenizer.fromString(JSON.stringify(j)).getNormalizer();
}

async function main() {
  const spaces = { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' };
  const lower = { type: 'Lowercase' };
  console.log('/* normalizers (reference): spaces then lower case, lower case then spaces */');
  for (const s of NORMALIZE) {
    const a = normalizer([spaces, lower]).normalizeString(s);
    const b = normalizer([lower, spaces]).normalizeString(s);
    console.log(`\tcheck_norm(${cstr(s)}, ${cstr(a)}, ${cstr(b)});`);
  }
  const split = tk.Tokenizer.fromString(JSON.stringify(Object.assign(clipJson(0),
    { normalizer: null, pre_tokenizer: clipJson(0).pre_tokenizer.pretokenizers[0] })));
  console.log('/* CLIP split pieces (reference), joined with | */');
  for (const s of SPLITS) {
    const pieces = split.getPreTokenizer().preTokenizeString(s).map((p) => p[0]);
    console.log(`\tcheck_keep(${cstr(s)}, ${cstr(pieces.join('|'))});`);
  }
  const other = [
    ['suffix </x>', (j) => { j.model.end_of_word_suffix = '</x>'; }, 'a cat'],
    ['Split Isolated, inverted', (j) => { j.pre_tokenizer.pretokenizers[0].behavior = 'Isolated'; }, 'A  cat!'],
  ];
  for (const [what, f, str] of other) {
    const j = clipJson(0);
    f(j);
    const t = tk.Tokenizer.fromString(JSON.stringify(j));
    const e = await t.encode(str, null, { addSpecialTokens: false });
    console.log(`/* ${what}: ${cstr(str)} */ IDS(${e.getIds().join(', ')}) /* ${e.getTokens().join(' ')} */`);
  }
  for (const v of [0, 1]) {
    const t = tk.Tokenizer.fromString(JSON.stringify(clipJson(v)));
    console.log(`/* variant ${v}: ids, then decode with and without special tokens */`);
    for (const s of STRINGS) {
      const e = await t.encode(s, null, { addSpecialTokens: false });
      const ids = e.getIds();
      const dec = await t.decode(ids, false);
      const skip = await t.decode(ids, true);
      console.log(`\t{${cstr(s)}, IDS(${ids.join(', ')}),\n\t ${cstr(dec)}, ${cstr(skip)}},` +
        ` /* ${e.getTokens().join(' ')} */`);
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
