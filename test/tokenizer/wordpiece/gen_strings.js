// gen_strings.js
//   Seeded generator of test strings for the WordPiece parity test, and of
//   the corpus the cased vocabulary is trained on.
//
//   generate(seed, n, vocabWords): n strings: a fixed list of edge cases,
//     then random mixes of many scripts, accents (composed and decomposed),
//     CJK, emoji, control and zero-width characters, combining marks,
//     unusual spaces, punctuation runs, very long words, digits, special
//     token spellings, random code points of every plane, and words glued
//     together from vocabulary pieces (vocabWords).
//   sweep(per): every code point (surrogates excepted) as "a<c>b", per
//     string, so each one's class (removed, space, punctuation, mark,
//     lowercase) is compared once.
//   corpus(seed, lines): multilingual training text.
//
//   The same seed gives the same strings: the generator is a 32-bit
//   xorshift, not Math.random.
//
//   test/tokenizer/wordpiece/gen_strings.js
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
const rangeStr = (lo, hi) => { let s = ''; for (let c = lo; c <= hi; c++) s += cp(c); return s; };

const ENGLISH = ('the quick brown fox jumps over lazy dog tokenization is fun ' +
  'PostgreSQL database extension running transformer models inside embeddings ' +
  'semantic search classify generate unbelievable unaffable antidisestablishmentarianism ' +
  'internationalization playing played player plays walked walking don\'t can\'t it\'s ' +
  'I\'m we\'ve they\'re Hello World Mr. Smith\'s e-mail co-operate U.S.A. JSON YAML ' +
  'running runner ran New York San Francisco a an of to in is was for on with').split(' ');
const ACCENTED = ['café', 'naïve', 'résumé', 'Ångström', 'São Paulo', 'Dvořák', 'Łódź',
  'Ærøskøbing', 'façade', 'jalapeño', 'Müller', 'Straße', 'STRASSE', 'crème brûlée',
  'Tiếng Việt có dấu', 'Nguyễn Thị Minh Khai', 'ǅemal', 'Ǆ', 'ǈ', 'ﬁnance', 'Œuvre',
  'İstanbul', 'ıIiİ', 'Ελληνικά', 'ΟΔΟΣ', 'ὈΔΥΣΣΕΎΣ', 'ΐΰ', 'ǰ', 'ẞ', 'Ǻ', 'Ṩ', 'ḉ',
  'Příliš žluťoučký kůň', 'Zażółć gęślą jaźń', 'Árvíztűrő tükörfúrógép'];
const SCRIPTS = ['中华人民共和国', '日本語のテキスト', '漢字かなカナ', '東京都渋谷区', '我爱北京天安门',
  '한국어 텍스트', '안녕하세요 세계', 'مرحبا بالعالم', 'اَلْعَرَبِيَّةُ', 'العربية، لغة؛ جميلة؟',
  'שָׁלוֹם עוֹלָם', 'Привет, мир! Ёжик', 'ПРИВЕТ МИР', 'Україна їжак ґанок', 'नमस्ते दुनिया',
  'हिन्दी भाषा', 'क़ ख़ ग़', 'สวัสดีชาวโลก', 'ภาษาไทย', 'ქართული', 'Հայերեն', 'አማርኛ',
  'தமிழ்', 'বাংলা', 'ગુજરાતી', 'ꯃꯤꯇꯩ', 'ᏣᎳᎩ', 'ᓀᐦᐃᔭᐍᐏᐣ', '𐌰𐌱𐌲', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝐀𝐁𝐂'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '🇯🇵', '❤️', '🏳️‍🌈', '1️⃣', '🤖', '🧑🏿‍💻',
  '©', '®', '™', '☃', '⚡', '🀄', '🃏', '🎉🎉🎉'];
const ZERO_WIDTH = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e',
  '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\ufff9', '\u0600', '\u06dd', '\u070f',
  '\u0890', '\u08e2', '\u{110cd}', '\u{13430}', '\u{e0001}', '\u{e0041}', '\u{1bca0}'];
const CONTROLS = ['\0', '\x01', '\x07', '\x08', '\x0b', '\x0c', '\x1b', '\x1c', '\x1f',
  '\x7f', '\x80', '\x85', '\x9f', '\ufffd', '\ue000', '\uf8ff', '\u{f0000}', '\u{10fffd}',
  '\ufffe', '\uffff'];
const SPACES = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u1680', '\u2000', '\u2003',
  '\u2007', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u0085', '\x1c',
  '\x1d', '\x1e', '\x1f', '\x0b', '\x0c', ' \t \n '];
const PUNCT = ['.', ',', '!', '?', ';', ':', '"', "'", '(', ')', '[', ']', '{', '}', '<', '>',
  '@', '#', '$', '%', '^', '&', '*', '-', '_', '+', '=', '~', '`', '|', '\\', '/',
  '…', '—', '–', '«', '»', '“', '”', '‘', '’', '¿', '¡', '。', '、', '「', '」', '·', '‽',
  '⁂', '§', '¶', '†', '‰', '€', '£', '¥', '¢', '°', '±', '×', '÷', '¬', '¦', '¨', '¯', '´',
  '¸', '\u2e43', '\u166d', '\u{111c9}', '\u061d', '\u2e4f', '\u{16fe2}', '\u{1e95e}', '\u0f14',
  '\u058a', '\u05be', '\u1806', '\u2010', '\u2e3a', '\u301c', '\u30fb', '\ufe58', '\uff01',
  '\uff5e', '\u{10100}', '\u{1da87}'];
const DIGITS = ['12345', '3.14159', '1,000,000', '٣٤٥', '۱۲۳', '१२३', '１２３', '①②', '½',
  '²³', 'Ⅻ', '𝟙𝟚', '0x1F', '2024-01-01', '42'];
const SPECIALS = ['[CLS]', '[SEP]', '[MASK]', '[PAD]', '[UNK]', '[SEP', 'SEP]', '[sep]',
  '[[CLS]]', '[CLS][SEP]', '[ MASK ]', '[unused1]'];
const MARKS = [[0x0300, 0x036f], [0x0483, 0x0489], [0x0591, 0x05bd], [0x064b, 0x065f],
  [0x0900, 0x0903], [0x093c, 0x094d], [0x0e31, 0x0e3a], [0x1ab0, 0x1ace], [0x1dc0, 0x1dff],
  [0x20d0, 0x20f0], [0xfe20, 0xfe2f], [0x1734, 0x1734], [0x11938, 0x11938], [0x0f71, 0x0f84],
  [0x1d165, 0x1d172], [0x302a, 0x302f], [0x3099, 0x309a]];
const CJK_RANGES = [[0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b820, 0x2b91f], [0x2b920, 0x2ceaf], [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f], [0x3040, 0x30ff], [0xac00, 0xd7a3], [0x1100, 0x11ff], [0x3130, 0x318f],
  [0x2e80, 0x2fdf], [0x31350, 0x323af], [0xff00, 0xffef]];

// A random code point of any plane (no surrogates)
function anyCodePoint(r) {
  for (;;) {
    const plane = r.pick([0, 0, 0, 0, 1, 1, 2, 3, 14, 15, 16]);
    const c = plane * 0x10000 + r.int(0x10000);
    if (c < 0xd800 || c > 0xdfff) return cp(c);
  }
}

// A word with n combining marks after a base letter
function marked(r) {
  let s = r.pick(['a', 'e', 'o', 'A', 'ı', 'ß', 'α', 'и', 'क', 'x', 'İ']);
  const n = r.range(1, 5);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r.pick(MARKS);
    s += cp(r.range(lo, hi));
  }
  return s;
}

// A long word of 90..130 letters, sometimes accented or of another script
function longWord(r) {
  const n = r.pick([99, 100, 101, 102, r.range(90, 130), r.range(20, 300)]);
  const alpha = r.pick(['abcdefghij', 'éèêëàâ', 'абвгд', 'aé', 'ab']);
  let s = '';
  for (let i = 0; i < n; i++) s += alpha[r.int(alpha.length)];
  if (r.next() < 0.3) s = s.normalize('NFD');
  if (r.next() < 0.3) s = s.toUpperCase();
  return s;
}

// A word glued from vocabulary pieces: an initial piece and continuations
function vocabWord(r, words) {
  if (!words || words.init.length === 0) return 'word';
  let s = r.pick(words.init);
  const n = r.int(4);
  for (let i = 0; i < n && words.cont.length; i++) s += r.pick(words.cont);
  if (r.next() < 0.3) s = s[0].toUpperCase() + s.slice(1);
  return s;
}

// One random piece of text
function piece(r, words) {
  switch (r.int(20)) {
    case 0: case 1: case 2: return r.pick(ENGLISH);
    case 3: return r.pick(ACCENTED);
    case 4: return r.pick(ACCENTED).normalize(r.pick(['NFD', 'NFC', 'NFKD', 'NFKC']));
    case 5: return r.pick(SCRIPTS);
    case 6: { const [lo, hi] = r.pick(CJK_RANGES); let s = ''; for (let i = r.range(1, 6); i > 0; i--) s += cp(r.range(lo, hi)); return s; }
    case 7: return r.pick(EMOJI);
    case 8: return r.pick(ZERO_WIDTH);
    case 9: return r.pick(CONTROLS);
    case 10: return marked(r);
    case 11: { let s = ''; for (let i = r.range(1, 8); i > 0; i--) s += r.pick(PUNCT); return s; }
    case 12: return r.pick(DIGITS);
    case 13: return r.pick(SPECIALS);
    case 14: { let s = ''; for (let i = r.range(1, 4); i > 0; i--) s += anyCodePoint(r); return s; }
    case 15: return longWord(r);
    case 16: case 17: case 18: return vocabWord(r, words);
    default: return r.pick(SPACES);
  }
}

// Fixed edge cases, first in every run
const FIXED = ['', ' ', '\t\n', '.', '...', 'a', 'A', 'Hello, world!', "don't stop", 'un-affable',
  'café', 'cafe\u0301', 'CAFÉ', 'İ', 'ΟΔΟΣ', 'ǅ', 'ß', 'ẞ', '中国', 'a中b', '中 国', '\u{2b81f}\u{2b820}\u{2b920}',
  '😀', 'a\u200bb', 'a\u00a0b', 'a\u3000b', 'a\x00b', 'a\x01b', 'a\ufffdb', 'a\u0085b', 'a\u2028b',
  '[CLS]', '[CLS] hello [SEP]', 'hello[SEP]world', '[SEP][SEP]', '[MASK]ed', '[cls]',
  'a'.repeat(100), 'a'.repeat(101), 'é'.repeat(100), 'é'.repeat(101), 'e\u0301'.repeat(60),
  '!'.repeat(200), ' '.repeat(50), '\u2e43\u166d\u{111c9}', 'a\u0890b\u08e2c', '\u{11938}',
  'a\u1ac1\u0323\u1dfa', 'a\u0345\u1ac1', 'a\u0301\u1dfa\u0323', 'e\u{16ff0}\u0323\u0301', 'a\u{1d16d}\u{1d165}', '\u0f73\u0f75\u0f81', 'x\u0301\u0f73',
  'ﬁ ﬂ ＡＢＣ ①', '12,345.67', 'e-mail: foo@bar.com', 'http://example.com/a?b=c&d=e',
  'Straße STRASSE strasse', 'ǰ̌', 'ΐ', '\u0130\u0307', 'I\u0307', 'ı̇'];

// n test strings
function generate(seed, n, words) {
  const r = rng(seed);
  const out = FIXED.slice(0, n);
  while (out.length < n) {
    const k = r.pick([1, 2, 3, 4, 6, 8, 12, 20]);
    let s = '';
    for (let i = 0; i < k; i++) {
      if (i > 0) s += r.next() < 0.7 ? ' ' : (r.next() < 0.5 ? '' : r.pick(SPACES));
      s += piece(r, words);
    }
    out.push(s);
  }
  return out;
}

// Every code point as "a<c>b", per strings of `per` items
function sweep(per) {
  const out = [];
  let cur = [];
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    cur.push('a' + cp(c) + 'b');
    if (cur.length === per) { out.push(cur.join(' ')); cur = []; }
  }
  if (cur.length) out.push(cur.join(' '));
  return out;
}

const ALPHABETS = ['abcdefghijklmnopqrstuvwxyz', 'aeiouaeioubcdfghlmnprstvz', 'áéíóúàèìòùâêîôûäëïöüçñ',
  'абвгдежзийклмнопрстуфхцчшщыэюя', 'αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ', 'אבגדהוזחטיכלמנסעפצקרשת',
  'ابتثجحخدذرزسشصضطظعغفقكلمنهوي', 'कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह', 'กขคงจฉชซญดตถทนบปผพฟมยรลวสหอ',
  'ㄱㄴㄷ가나다라마바사아자차카타파하한국어글', '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴切医份岁续集叶坐右石'];

// A pseudo-word of 2..12 letters from one alphabet, in a random case
function pseudoWord(r) {
  const a = Array.from(r.pick(ALPHABETS));
  let s = '';
  for (let i = r.range(2, 12); i > 0; i--) s += a[r.int(a.length)];
  const c = r.int(6);
  return c === 0 ? s.toUpperCase() : c === 1 ? s[0].toUpperCase() + s.slice(1) : s;
}

// Training text: sentences over all pools, several cases and forms
function corpus(seed, lines) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < lines; i++) {
    const k = r.range(4, 16);
    const ws = [];
    for (let j = 0; j < k; j++) {
      switch (r.int(14)) {
        case 0: case 1: case 2: ws.push(r.pick(ENGLISH)); break;
        case 3: ws.push(r.pick(ACCENTED)); break;
        case 4: ws.push(r.pick(SCRIPTS)); break;
        case 5: ws.push(r.pick(PUNCT)); break;
        case 6: ws.push(r.pick(DIGITS)); break;
        case 7: ws.push(r.pick(EMOJI)); break;
        default: ws.push(pseudoWord(r));
      }
    }
    out.push(ws.join(' '));
  }
  return out.join('\n') + '\n';
}

module.exports = { generate, sweep, corpus, rng };
