// gen_unicode16.js
//   Generate src/core/tokenizers/tok_bpe_unicode.c: the general categories that the
//   byte-level BPE reference sees and our tables (tok_unicode_tables.c,
//   Unicode 14.0 from Debian's Python) do not.
//
//   Hugging Face tokenizers runs its pre-tokenizer patterns on Oniguruma,
//   whose tables are Unicode 16.0, and its added-token \w test on Rust's
//   regex crate (also 16.0).  Every code point is classified by the
//   reference engine itself (\p{L}, \p{Nd}, \p{N}, \p{M} through Split
//   pre-tokenizers) and by Python's unicodedata (our tables' source); the
//   code points where the two disagree are written out as ranges with the
//   reference's class.  The generator prints what it found on stderr and
//   stops if a code point assigned in Unicode 14.0 changed class (then the
//   overlay would have to apply to assigned code points too).
//
//   Usage: node test/tokenizer/bpe/gen_unicode16.js MODULE_DIR > src/core/tokenizers/tok_bpe_unicode.c
//          (MODULE_DIR: build/tokenizer/bpe after parity_bpe.sh installed it)
//
//   test/tokenizer/bpe/gen_unicode16.js
'use strict';

const path = require('path');
const { execFileSync } = require('child_process');

const modDir = process.argv[2] || 'build/tokenizer/bpe';
const tk = require(require.resolve('tokenizers', { paths: [path.resolve(modDir)] }));
const version = require(path.join(path.resolve(modDir), 'node_modules', 'tokenizers', 'package.json')).version;

// The reference's Split pre-tokenizer for one pattern
function splitter(re) {
  return tk.Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: re }, behavior: 'Removed', invert: false },
    post_processor: null, decoder: null, model: { type: 'BPE', vocab: {}, merges: [] },
  })).getPreTokenizer();
}

// Set of code points in [lo, hi) that the reference's pattern (one code point) matches
function referenceSet(re, lo, hi) {
  // "Removed" drops the matches: the pieces left are the non-matching
  // code points, each between two separators U+0001 (not in any class)
  const pre = splitter(re);
  const out = new Uint8Array(0x110000);
  for (let start = lo; start < hi; start += 0x8000) {
    const cps = [];
    for (let c = start; c < Math.min(hi, start + 0x8000); c++) if (c < 0xd800 || c > 0xdfff) cps.push(c);
    const s = cps.map((c) => String.fromCodePoint(c)).join('\u0001');
    const kept = new Set();
    for (const [piece] of pre.preTokenizeString(s)) for (const ch of piece) kept.add(ch.codePointAt(0));
    for (const c of cps) if (!kept.has(c)) out[c] = 1;
  }
  return out;
}

// Our tables' major class per code point, from the same source they come from
function ourClasses() {
  const py = `
import sys, unicodedata
b = bytearray(0x110000)
m = {'L': 1, 'N': 2, 'M': 3}
for c in range(0x110000):
    cat = unicodedata.category(chr(c))
    k = m.get(cat[0], 0)
    if cat == 'Nd': k = 4
    if cat == 'Cn': k = 5
    b[c] = k
sys.stdout.buffer.write(b)
sys.stderr.write(unicodedata.unidata_version)
`;
  const res = execFileSync('/usr/bin/python3', ['-c', py], { maxBuffer: 1 << 22, stdio: ['ignore', 'pipe', 'pipe'] });
  return res;
}

const ours = ourClasses();
const pyVersion = execFileSync('/usr/bin/python3', ['-c', 'import unicodedata; print(unicodedata.unidata_version)'],
  { encoding: 'utf8' }).trim();
const L = referenceSet('\\p{L}', 0, 0x110000);
const Nd = referenceSet('\\p{Nd}', 0, 0x110000);
const N = referenceSet('\\p{N}', 0, 0x110000);
const M = referenceSet('\\p{M}', 0, 0x110000);
// classes: 1 L, 2 N (not Nd), 3 M, 4 Nd, 0 other
const refClass = (c) => (L[c] ? 1 : Nd[c] ? 4 : N[c] ? 2 : M[c] ? 3 : 0);
const ranges = [];
let changed = 0;
for (let c = 0; c < 0x110000; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const o = ours[c] === 5 ? 0 : ours[c];
  const r = refClass(c);
  if (o === r) continue;
  if (ours[c] !== 5) {
    process.stderr.write(`U+${c.toString(16)}: Unicode ${pyVersion} class ${o}, reference ${r}\n`);
    changed++;
    continue;
  }
  const last = ranges[ranges.length - 1];
  if (last && last.hi === c - 1 && last.k === r) last.hi = c;
  else ranges.push({ lo: c, hi: c, k: r });
}
if (changed) {
  process.stderr.write(`${changed} assigned code points changed class: extend the overlay first\n`);
  process.exit(1);
}
const count = ranges.reduce((a, r) => a + r.hi - r.lo + 1, 0);
process.stderr.write(`${ranges.length} ranges, ${count} code points\n`);

const names = ['', 'TOK_UC_LO', 'TOK_UC_NO', 'TOK_UC_MN', 'TOK_UC_ND'];
const hex = (c) => '0x' + c.toString(16).toUpperCase().padStart(4, '0');
const lines = ranges.map((r) => `\t{${hex(r.lo)}, ${hex(r.hi)}, ${names[r.k]}},`);
process.stdout.write(`/*-------------------------------------------------------------------------
 *
 * tok_bpe_unicode.c
 *	  Code points unassigned in our Unicode ${pyVersion} tables that the byte-level
 *	  BPE reference classifies as letters, numbers or marks (Unicode 16.0).
 *
 * GENERATED by test/tokenizer/bpe/gen_unicode16.js from npm tokenizers
 * ${version} (Oniguruma's and Rust regex's tables) and Python's unicodedata
 * ${pyVersion}: do not edit.  ${ranges.length} ranges, ${count} code points; no code point
 * assigned in Unicode ${pyVersion} changes class.  Each range carries one
 * representative category of its class (L*, Nd, other N*, M*), which is all
 * the pre-tokenizer patterns and the \\w test look at.
 *
 * src/core/tokenizers/tok_bpe_unicode.c
 *
 *-------------------------------------------------------------------------
 */
#include "tok_bpe_unicode.h"

typedef struct BpeUcRange
{
	uint32_t	lo;
	uint32_t	hi;
	TokUnicodeCategory cat;
} BpeUcRange;

static const BpeUcRange ranges[] = {
${lines.join('\n')}
};

/* General category as the reference sees it */
TokUnicodeCategory
tok_bpe_category(uint32_t cp)
{
	TokUnicodeCategory c = tok_unicode_category(cp);
	size_t		lo = 0,
				hi = sizeof(ranges) / sizeof(ranges[0]);

	if (c != TOK_UC_CN)
		return c;
	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (cp < ranges[mid].lo)
			hi = mid;
		else if (cp > ranges[mid].hi)
			lo = mid + 1;
		else
			return ranges[mid].cat;
	}
	return TOK_UC_CN;
}
`);
