// gen_strings.js
//   Seeded generator of test strings for the byte-level BPE parity test,
//   and of the corpus the trained vocabulary is learnt from.
//
//   generate(seed, n, words): n strings: a fixed list of edge cases, then
//     random mixes of many scripts, accents (composed and decomposed), CJK,
//     emoji (ZWJ sequences, flags, skin tones), control and zero-width
//     characters, every kind of Unicode space, whitespace runs with CR/LF,
//     contractions in both cases (and with U+017F), digit runs of every
//     length and script, punctuation runs, special-token spellings (whole,
//     broken, nested), random code points of every plane, and words glued
//     from vocabulary pieces (words: decoded vocabulary entries); a few
//     very long words (up to 100,000 bytes).
//   sweep(per): every code point, `per` to a string, in contexts where its
//     class matters; sweepCompact(per) the same in shorter contexts.
//   corpus(seed, lines): multilingual training text.
//
//   The same seed gives the same strings (xorshift32, not Math.random).
//
//   test/tokenizer/bpe/gen_strings.js
'use strict';

function rng(seed) {
  let s = (seed >>> 0) || 0x9e3779b9;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (a) => a[Math.floor(next() * a.length)],
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
  };
}

const cp = (c) => String.fromCodePoint(c);

const ENGLISH = ('the quick brown fox jumps over the lazy dog tokenization is fun PostgreSQL ' +
  'database extension running transformer models inside embeddings semantic search classify ' +
  'generate unbelievable antidisestablishmentarianism internationalization playing played ' +
  'Hello World HELLO hello New York San Francisco a an of to in is was for on with GPT Llama ' +
  'Qwen SmolLM JSON YAML HTTP URL https www example com foo bar baz qux').split(' ');
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE",
  "'VE", "'M", "'LL", "'Ll", "'D", "'\u017f", "'\u017F", "'x", "'", "''", "'''s", "`s", "\u2019s",
  "don't", "DON'T", "I'm", "I'M", "we've", "WE'VE", "they're", "She'll", "SHE'LL", "it's", "IT'S",
  "he'd", "HE'D", "y'all", "rock'n'roll", "o'clock", "'tis", "'Twas", "'sup", "'s'", "x's's"];
const ACCENTED = ['café', 'cafe\u0301', 'naïve', 'nai\u0308ve', 'résumé', 're\u0301sume\u0301',
  'Ångström', 'A\u030angstro\u0308m', 'São Paulo', 'Dvořák', 'Łódź', 'Ærøskøbing', 'façade',
  'jalapeño', 'Müller', 'Straße', 'crème brûlée', 'Tiếng Việt có dấu', 'Nguyễn', 'ǅemal', 'ﬁnance',
  'Œuvre', 'İstanbul', 'ıIiİ', 'Ελληνικά', 'ΟΔΟΣ', 'ὈΔΥΣΣΕΎΣ', 'ΐΰ', 'ẞ', 'Ṩ', 'ḉ', 'Ω', 'Å', 'K',
  '\u1e9b\u0323', '\u0041\u030a\u0301', 'e\u0301\u0301\u0301', 'a\u0328\u0301', '\u0f73', '\u2126',
  'Příliš žluťoučký kůň', 'Zażółć gęślą jaźń', 'Árvíztűrő tükörfúrógép'];
const SCRIPTS = ['中华人民共和国', '日本語のテキスト', '漢字かなカナ', '東京都渋谷区', '我爱北京天安门',
  '한국어 텍스트', '안녕하세요 세계', '\u1100\u1161\u11a8', 'مرحبا بالعالم', 'اَلْعَرَبِيَّةُ',
  'العربية، لغة؛ جميلة؟', 'שָׁלוֹם עוֹלָם', 'Привет, мир! Ёжик', 'ПРИВЕТ МИР', 'Україна їжак ґанок',
  'नमस्ते दुनिया', 'हिन्दी भाषा', 'क़ ख़ ग़', 'สวัสดีชาวโลก', 'ภาษาไทย', 'ქართული', 'Հայերեն',
  'አማርኛ', 'தமிழ்', 'বাংলা', 'ગુજરાતી', 'ꯃꯤꯇꯩ', 'ᏣᎳᎩ', 'ᓀᐦᐃᔭᐍᐏᐣ', '𐌰𐌱𐌲', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '𝐀𝐁𝐂', '𓀀𓀁', '𠀀𠀁𠀂', 'ᚠᛇᚻ', 'ꦗꦮ', 'ߞߊ߲', 'ܣܘܪܝܝܐ', 'ދިވެހި'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '🇯🇵', '❤️', '🏳️‍🌈', '1️⃣', '🤖', '🧑🏿‍💻',
  '©', '®', '™', '☃', '⚡', '🀄', '🃏', '🎉🎉🎉', '👩🏻‍❤️‍💋‍👨🏼', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '\u{1faf1}\u{1f3fb}', '🫠'];
const ZERO_WIDTH = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e',
  '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\ufff9', '\u0600', '\u06dd', '\u070f',
  '\u{110cd}', '\u{13430}', '\u{e0001}', '\u{e0041}', '\u{1bca0}', '\u034f', '\ufe0f'];
const CONTROLS = ['\0', '\x01', '\x07', '\x08', '\x0b', '\x0c', '\x1b', '\x1c', '\x1d', '\x1e',
  '\x1f', '\x7f', '\x80', '\x85', '\x9f', '\ufffd', '\ue000', '\uf8ff', '\u{f0000}', '\u{10fffd}',
  '\ufffe', '\uffff', '\u{10ffff}'];
const SPACES = [' ', '  ', '   ', '\t', '\n', '\r', '\r\n', '\n\n', '\r\n\r\n', ' \n', '\n ',
  ' \t \n ', '\t\t', '\u00a0', '\u1680', '\u2000', '\u2003', '\u2007', '\u200a', '\u2028',
  '\u2029', '\u202f', '\u205f', '\u3000', '\u0085', '\x0b', '\x0c', ' \u00a0 ', '\u3000\n',
  '\n\u2028\n', ' \r', '\r \n', '        '];
const PUNCT = ['.', ',', '!', '?', ';', ':', '"', "'", '(', ')', '[', ']', '{', '}', '<', '>',
  '@', '#', '$', '%', '^', '&', '*', '-', '_', '+', '=', '~', '`', '|', '\\', '/', '...', '?!',
  '…', '—', '–', '«', '»', '“', '”', '‘', '’', '¿', '¡', '。', '、', '「', '」', '·', '‽', '§', '¶',
  '€', '£', '¥', '¢', '°', '±', '×', '÷', '¬', '¦', '¨', '¯', '´', '¸', '\uff01', '\uff5e', '->',
  '=>', '::', '//', '/*', '*/', '<!--', '-->', '&&', '||', '!=', '==', '+=', '\\n', '\\t'];
const DIGITS = ['0', '1', '12', '123', '1234', '12345', '123456', '1234567', '3.14159',
  '1,000,000', '2024-01-01', '٣٤٥', '۱۲۳', '१२३', '１２３', '①②', '½', '²³', 'Ⅻ', 'ⅻ', '𝟙𝟚',
  '0x1F', '42', '007', '1e10', '-5', '+7', '9999999999', '৩৪', '๓๔', '〇', '〡〢', '𒐫'];
const CODE = ['def f(x):\n    return x + 1\n', 'int main(void) { return 0; }', 'for (i = 0; i < n; i++)',
  'SELECT * FROM t WHERE id = 1;', '{"key": "value", "n": [1, 2, 3]}', '<div class="a">b</div>',
  'x = [i**2 for i in range(10)]', '    indented\n\tline\n', 'if a:\r\n    b\r\n', 'a\n\n\nb',
  '#!/bin/sh\necho "$HOME"', '// comment\n/* block */', 'console.log(`${a}`);'];

// Edge cases every configuration sees
const FIXED = ['', ' ', '  ', '   ', '\n', '\r\n', '\t', '\n\n', ' \n', '\n ', 'a', 'A', '0',
  "'s", "'S", "'ll", "'LL", "'Ll", "'re", "'RE", "'\u017f", "'\u017ft", "don't", "DON'T",
  "It's", "IT'S", "'", "''", "'s's", "a's", "a'S", ' leading', 'trailing ', '  two  spaces  ',
  'hello world', 'Hello World!', 'x  y', 'x   y', 'x\ty', 'x \ty', 'x\t y', 'x\n\ny',
  'x \n y', 'x\n \n y', 'a\r\nb', 'a\r\n\r\nb', ' \r\n ', '\n\n\nx', 'x\n\n\n', '1', '12',
  '123', '1234', '12345', '1234567890', 'a1b2c3', 'abc123def', ' 123', '123 ', '١٢٣٤٥',
  '¹²³', '½¾', 'ⅠⅡⅢ', '3.14', '1,000', '$100', '100%', 'café', 'cafe\u0301', 'naïve', 'Straße',
  '中文', '日本語', '한국어', '😀', '👨‍👩‍👧‍👦', '🇫🇷', 'a\u0301', '\u0301', '\u0301a',
  '\0', 'a\0b', '\x1c', 'a\x1cb', '\x85', '\u00a0', 'a\u00a0b', '\u2028', '\u3000', '\ufeff',
  '\ufffd', '\u{10ffff}', '<|endoftext|>', 'a<|endoftext|>b', ' <|endoftext|> ',
  '<|endoftext|><|endoftext|>', '<|endoftext', '<|<|endoftext|>|>', '<|begin_of_text|>',
  '<|end_of_text|>', '<|im_start|>user\nhi<|im_end|>', '<|eot_id|>', '<|reserved_special_token_5|>',
  '<s>', '</s>', '<unk>', '<mask>', ' <mask> ', 'x<mask>y', '<pad>', '<think>', '</think>',
  'Ġ', 'ĠĠ', 'Ċ', 'âĢ', 'ĠtheĠ', '\u0100\u0101', '.....', '!!!', '???', '...!?', '—', ' —',
  'https://example.com/a?b=c&d=e', 'user@example.com', 'C:\\Windows\\System32', '~/.bashrc',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ab'.repeat(50), 'the'.repeat(40),
  '\u017f', 'ſt', 'ﬅ', "'ﬅ", 'K', "'K", 'ǅ', "'ǅ",
  // lower case and whitespace runs (CLIP's normalizer), end-of-word suffix spellings
  "I'LL", "WE'RE HERE", "'S'LL", 'A Photo OF A Cat', 'ΟΔΟΣ ΣΑΣ', 'İ', 'İstanbul', 'ẞ', 'ǅemal',
  'ΆΈΉ', 'ⅫⅪ', 'Ⓐⓑ', '𐐀𐐨', 'x\u3000\u3000y', 'x \u00a0\t y', 'a\u2028\u2029b', '<|startoftext|>',
  '<|STARTOFTEXT|>a photo<|ENDOFTEXT|>', '<|startoftext|> a photo <|endoftext|>', 'a</w>',
  'hello</w>world', '</w>', 'New  York', 'new york', 'NEW\tYORK!', '[X]', ' [x] ', 'a[X]'];

// Random code point from a plane mix (no surrogates)
function randomCodePoint(r) {
  const k = r.int(10);
  let c;
  if (k < 3) c = r.range(0x20, 0x7e);
  else if (k < 5) c = r.range(0x80, 0x7ff);
  else if (k < 8) c = r.range(0x800, 0xffff);
  else c = r.range(0x10000, 0x10ffff);
  if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
  return cp(c);
}

// A word glued from vocabulary pieces
function vocabWord(r, words) {
  if (!words || !words.length) return r.pick(ENGLISH);
  let w = '';
  const n = r.range(1, 5);
  for (let i = 0; i < n; i++) w += r.pick(words);
  return w;
}

// A very long word (the model must stay fast on it)
function longWord(r, words) {
  const n = r.pick([1000, 5000, 20000, 60000, 100000]);
  const k = r.int(7);
  let s = '';
  if (k === 0) s = 'a'.repeat(n);
  else if (k === 1) while (s.length < n) s += String.fromCharCode(97 + r.int(26));
  else if (k === 2) while (s.length < n) s += String.fromCharCode(48 + r.int(10));
  else if (k === 3) s = ' '.repeat(n / 10) + 'x';
  else if (k === 4) while (s.length < n / 3) s += r.pick(['é', 'ß', 'ø', 'ü']);
  else if (k === 5) while (s.length < n / 2) s += r.pick(['中', '文', '字']);
  else while (s.length < n) s += vocabWord(r, words).replace(/\s/g, '');
  return s;
}

// One random string
function randomString(r, words, specials) {
  const parts = [];
  const n = r.range(1, 14);
  for (let i = 0; i < n; i++) {
    const k = r.int(22);
    if (k < 3) parts.push(r.pick(ENGLISH));
    else if (k < 5) parts.push(vocabWord(r, words));
    else if (k === 5) parts.push(r.pick(CONTRACTIONS));
    else if (k === 6) parts.push(r.pick(ACCENTED));
    else if (k === 7) parts.push(r.pick(SCRIPTS));
    else if (k === 8) parts.push(r.pick(EMOJI));
    else if (k === 9) parts.push(r.pick(ZERO_WIDTH));
    else if (k === 10) parts.push(r.pick(CONTROLS));
    else if (k === 11 || k === 12) parts.push(r.pick(SPACES));
    else if (k === 13) parts.push(r.pick(PUNCT));
    else if (k === 14) parts.push(r.pick(DIGITS));
    else if (k === 15) {
      let d = '';
      const m = r.range(1, 25);
      for (let j = 0; j < m; j++) d += String.fromCharCode(48 + r.int(10));
      parts.push(d);
    } else if (k === 16) parts.push(r.pick(CODE));
    else if (k === 17 && specials.length) {
      const sp = r.pick(specials);
      const v = r.int(4);
      parts.push(v === 0 ? sp : v === 1 ? sp.slice(0, -1) : v === 2 ? sp.slice(1) : sp + sp);
    } else if (k === 18) {
      let s = '';
      const m = r.range(1, 8);
      for (let j = 0; j < m; j++) s += randomCodePoint(r);
      parts.push(s);
    } else if (k === 19) parts.push(r.pick(FIXED));
    else if (k === 20) parts.push(r.pick(ENGLISH).toUpperCase());
    else parts.push(r.pick(SPACES) + r.pick(SPACES));
  }
  // join mostly with spaces, sometimes glued or with other whitespace
  let s = '';
  parts.forEach((p, i) => {
    if (i > 0) {
      const j = r.int(10);
      s += j < 5 ? ' ' : j < 8 ? '' : r.pick(SPACES);
    }
    s += p;
  });
  const lead = r.int(12);
  if (lead === 0) s = ' ' + s;
  else if (lead === 1) s = r.pick(SPACES) + s;
  else if (lead === 2) s += ' ';
  else if (lead === 3) s += r.pick(SPACES);
  return s;
}

function generate(seed, n, words, specials) {
  const r = rng(seed);
  const out = FIXED.slice();
  for (const c of CONTRACTIONS) out.push(c, 'x' + c, 'X' + c.toUpperCase() + ' y');
  for (let i = 0; i < 6; i++) out.push(longWord(r, words));
  while (out.length < n) out.push(randomString(r, words, specials || []));
  return out.slice(0, Math.max(n, out.length));
}

// A made-up word of syllables (Latin, Cyrillic or Greek letters)
const SYLLABLES = [
  ['ka', 'to', 'ri', 'mu', 'se', 'la', 'ne', 'po', 'di', 'ga', 'ch', 'th', 'st', 'qu', 'er', 'in', 'on', 'an'],
  ['ка', 'то', 'ри', 'му', 'се', 'ла', 'не', 'по', 'ди', 'го', 'ж', 'щ', 'ы', 'ё'],
  ['κα', 'το', 'ρι', 'μυ', 'σε', 'λα', 'νε', 'πο', 'δι', 'γα', 'ς', 'ώ', 'ή'],
];
function madeUpWord(r) {
  const set = SYLLABLES[r.int(10) < 7 ? 0 : 1 + r.int(2)];
  let w = '';
  const n = r.range(1, 5);
  for (let i = 0; i < n; i++) w += r.pick(set);
  return r.int(5) ? w : w[0].toUpperCase() + w.slice(1);
}

// Every code point (surrogates excepted), `per` to a string, each as
// "<c>a<c>1 " so that its class (letter, number, space, other) decides how
// the patterns cut, and NFC sees it next to a letter
function sweep(per) {
  const out = [];
  for (let lo = 0; lo < 0x110000; lo += per) {
    let s = '';
    for (let c = lo; c < lo + per && c < 0x110000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      s += ch + 'a' + ch + '1 ';
    }
    if (s.length) out.push(s);
  }
  return out;
}

// The same, cheaper for the reference (about a third of its time), each
// code point as "<c><c>a ": enough where what counts is each character's
// class (two in a row: a number run or an other run) and its own mapping
// (lower case), not its neighbours (NFC)
function sweepCompact(per) {
  const out = [];
  for (let lo = 0; lo < 0x110000; lo += per) {
    let s = '';
    for (let c = lo; c < lo + per && c < 0x110000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      s += ch + ch + 'a ';
    }
    if (s.length) out.push(s);
  }
  return out;
}

function corpus(seed, lines) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < lines; i++) {
    const parts = [];
    const n = r.range(3, 16);
    for (let j = 0; j < n; j++) {
      const k = r.int(15);
      if (k >= 12) parts.push(madeUpWord(r));
      else if (k < 5) parts.push(r.pick(ENGLISH));
      else if (k === 5) parts.push(r.pick(ACCENTED));
      else if (k === 6) parts.push(r.pick(SCRIPTS));
      else if (k === 7) parts.push(r.pick(CONTRACTIONS));
      else if (k === 8) parts.push(r.pick(DIGITS));
      else if (k === 9) parts.push(r.pick(PUNCT));
      else if (k === 10) parts.push(r.pick(CODE));
      else parts.push(r.pick(EMOJI));
    }
    out.push(parts.join(r.int(4) ? ' ' : '  '));
  }
  return out.join('\n') + '\n';
}

module.exports = { rng, generate, sweep, sweepCompact, corpus };
