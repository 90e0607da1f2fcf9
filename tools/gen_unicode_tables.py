#!/usr/bin/python3
"""Generate src/core/tokenizers/tok_unicode_tables.c from Python's unicodedata module.

Run with Debian's Python (its unicodedata carries the Unicode version that
ends up in the generated file's header):

    /usr/bin/python3 tools/gen_unicode_tables.py > src/core/tokenizers/tok_unicode_tables.c

and, to check the HF_* lists against the reference (see probe_unicode.js):

    /usr/bin/python3 tools/gen_unicode_tables.py --diff probe.tsv

The output holds, for every code point U+0000..U+10FFFF:
  - the general category (30 values, TokUnicodeCategory in tok_unicode.h);
  - flag bits for the BERT predicates as Hugging Face tokenizers computes
    them (see HF_* below);
in a two-stage table: stage 1 maps a block of 2^SHIFT code points to a
block of stage 2, whose bytes index a small table of distinct
(category, flags) pairs.  Identical blocks are stored once.

It also holds the simple lowercase mapping (code point pairs, sorted, for a
binary search) and the full, context-free lowercase mappings that expand to
more than one code point (U+0130 only).

Hugging Face tokenizers (the reference for our WordPiece tokenizer) does not
take every property from one Unicode version:
  - punctuation (BertPreTokenizer), "other" (Cc/Cf/Co, BertNormalizer
    clean_text) and non-spacing marks (strip_accents) come from the
    unicode_categories crate, whose tables are Unicode 8.0's;
  - whitespace and lower-casing come from Rust's standard library, which
    is a recent Unicode (17.0 in tokenizers 0.23.2);
  - NFD comes from Unicode 9.0's normalisation data.
The HF_* lists below are exactly the differences between those sources and
this Python's Unicode version, as measured over all code points with
test/tokenizer/wordpiece/probe_unicode.js; test/tokenizer/parity_wordpiece.sh
sweeps every code point through both tokenizers, so a drift shows up there.
They only concern characters that were added to (or recategorised in)
Unicode after 8.0, so ordinary text is unaffected either way.
"""

import sys
import unicodedata

CATEGORIES = [
    "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
    "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co",
]

F_WHITESPACE = 1        # White_Space (Rust char::is_whitespace)
F_BERT_PUNCT = 2        # HF is_bert_punc: ASCII punctuation or P*
F_BERT_CONTROL = 4      # HF is_control: Cc, Cf, Co except \t \n \r
F_BERT_MN = 8           # HF is_mark_nonspacing
F_NFD_KEEP = 16         # HF's NFD leaves it alone, as a starter

# White_Space property (PropList.txt); stable since Unicode 6.3
WHITE_SPACE = "0009-000D 0020 0085 00A0 1680 2000-200A 2028 2029 202F 205F 3000"

ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

# P* in this Unicode version, but not punctuation in HF (added after 8.0)
HF_NOT_PUNCT = """
061D 09FD 0A76 0C77 0C84 1B7D-1B7E 2E43-2E4F 2E52-2E5D 10EAD 10F55-10F59
10F86-10F89 1144B-1144F 1145A-1145B 1145D 11660-1166C 116B9 1183B
11944-11946 119E2 11A3F-11A46 11A9A-11A9C 11A9E-11AA2 11C41-11C45
11C70-11C71 11EF7-11EF8 11FFF 12FF1-12FF2 16E97-16E9A 16FE2 1E95E-1E95F
"""
# Po in Unicode 8.0, recategorised since (So and Mn)
HF_PUNCT = "166D 111C9"

# Cf in this Unicode version, but not "other" in HF (added after 8.0)
HF_NOT_CONTROL = "0890-0891 08E2 110CD 13430-13438"

# Mn in this Unicode version, but not in HF (added or recategorised after 8.0)
HF_NOT_MN = """
07FD 0898-089F 08CA-08E1 09FE 0AFA-0AFF 0B55 0C04 0C3C 0D00 0D3B-0D3C 0D81
0EBA 180F 1885-1886 1ABF-1ACE 1DF6-1DFB A82C A8C5 A8FF A9BD 10D24-10D27
10EAB-10EAC 10F46-10F50 10F82-10F85 11070 11073-11074 110C2 111C9 111CF
1123E 1133B 11438-1143F 11442-11444 11446 1145E 1182F-11837 11839-1183A
1193B-1193C 1193E 11943 119D4-119D7 119DA-119DB 119E0 11A01-11A0A
11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96
11A98-11A99 11C30-11C36 11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0
11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47
11D90-11D91 11D95 11D97 11EF3-11EF4 16F4F 16FE4 1CF00-1CF2D 1CF30-1CF46
1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136
1E2AE 1E2EC-1E2EF 1E944-1E94A
"""
# Mn in Unicode 8.0, Mc since 14.0
HF_MN = "1734"

# Code points HF's NFD (Unicode 9.0 data) leaves alone as starters, where
# Unicode 14 gives them a canonical decomposition (U+11938, added in 13.0)
# or a non-zero canonical combining class (marks added since 9.0): the
# reference does not move them, nor other marks across them
HF_NFD_KEEP = """
07FD 0898-089F 08CA-08D3 09FE 0C3C 0D3B-0D3C 0EBA 1715 1ABF-1ACE 1DF6-1DFA
A82C 10D24-10D27 10EAB-10EAC 10F46-10F50 10F82-10F85 11070 1133B 1145E
11839-1183A 11938 1193D-1193E 11943 119E0 11A34 11A47 11A99 11D42 11D44-11D45
11D97 16FF0-16FF1 1E130-1E136 1E2AE 1E2EC-1E2EF
"""

# Lowercase mappings of Unicode 16.0 and 17.0 (UnicodeData.txt field 13)
# that Rust's char::to_lowercase applies; unassigned in this Python's
# version, so unicodedata cannot know them: (first, last, delta) or
# (code point, lowercase)
NEWER_LOWER = [
    (0x1C89, 0x1C8A), (0xA7CB, 0x0264), (0xA7CC, 0xA7CD), (0xA7CE, 0xA7CF),
    (0xA7D2, 0xA7D3), (0xA7D4, 0xA7D5), (0xA7DA, 0xA7DB), (0xA7DC, 0x019B),
]
NEWER_LOWER_RANGES = [(0x10D50, 0x10D65, 0x20), (0x16EA0, 0x16EB8, 0x1B)]


def parse_ranges(text):
    """Code points of a "XXXX YYYY-ZZZZ ..." list."""
    out = set()
    for item in text.split():
        lo, _, hi = item.partition("-")
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


def category(cp):
    return unicodedata.category(chr(cp))


def flags_of(cp, sets):
    cat = category(cp)
    f = 0
    if cp in sets["ws"]:
        f |= F_WHITESPACE
    if (cp < 128 and chr(cp) in ASCII_PUNCT or
            (cat[0] == "P" and cp not in sets["not_punct"]) or cp in sets["punct"]):
        f |= F_BERT_PUNCT
    if (cat in ("Cc", "Cf", "Co") and cp not in (9, 10, 13) and
            cp not in sets["not_control"]):
        f |= F_BERT_CONTROL
    if (cat == "Mn" and cp not in sets["not_mn"]) or cp in sets["mn"]:
        f |= F_BERT_MN
    if cp in sets["nfd_keep"]:
        f |= F_NFD_KEEP
    return f


def lower_maps():
    """Simple mapping pairs and multi-code-point full mappings."""
    simple = {}
    full = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = chr(cp).lower()
        if len(low) > 1:
            full[cp] = [ord(c) for c in low]
        elif ord(low) != cp:
            simple[cp] = ord(low)
    # UnicodeData.txt's simple mapping of the only multi-code-point one
    assert list(full) == [0x130], full
    simple[0x130] = 0x69
    for cp, low in NEWER_LOWER:
        assert category(cp) == "Cn"
        simple[cp] = low
    for lo, hi, delta in NEWER_LOWER_RANGES:
        for cp in range(lo, hi + 1):
            assert category(cp) == "Cn"
            simple[cp] = cp + delta
    return simple, full


def build_stages(values, shift):
    """Two-stage table of values (one per code point) with 2^shift blocks."""
    size = 1 << shift
    blocks = {}
    stage1 = []
    stage2 = []
    for start in range(0, len(values), size):
        block = tuple(values[start:start + size])
        if block not in blocks:
            blocks[block] = len(blocks)
            stage2.extend(block)
        stage1.append(blocks[block])
    return stage1, stage2


def emit_array(out, ctype, name, values, per_line=16, fmt="%d"):
    out.append("const %s %s[%d] = {" % (ctype, name, len(values)))
    for i in range(0, len(values), per_line):
        out.append("\t" + ", ".join(fmt % v for v in values[i:i + per_line]) + ",")
    out.append("};")
    out.append("")


def main():
    sets = {
        "ws": parse_ranges(WHITE_SPACE),
        "not_punct": parse_ranges(HF_NOT_PUNCT),
        "punct": parse_ranges(HF_PUNCT),
        "not_control": parse_ranges(HF_NOT_CONTROL),
        "not_mn": parse_ranges(HF_NOT_MN),
        "mn": parse_ranges(HF_MN),
        "nfd_keep": parse_ranges(HF_NFD_KEEP),
    }
    props = {}
    values = []
    for cp in range(0x110000):
        key = (CATEGORIES.index(category(cp)), flags_of(cp, sets))
        if key not in props:
            props[key] = len(props)
        values.append(props[key])
    assert len(props) < 256

    # 2^7 gives the smallest pair of stages (about 40 kB) and a stage 1
    # whose entries fit a byte; tok_unicode.h declares both
    shift = SHIFT
    stage1, stage2 = build_stages(values, shift)
    assert max(stage1) < 256

    simple, full = lower_maps()

    out = []
    out.append("""/*-------------------------------------------------------------------------
 *
 * tok_unicode_tables.c
 *	  Unicode tables for the tokenizers: general category, BERT predicate
 *	  flags and lowercase mappings.
 *
 * GENERATED by tools/gen_unicode_tables.py from Unicode %s (Python's
 * unicodedata), with the adjustments that script documents so that the
 * BERT predicates match Hugging Face tokenizers.  Do not edit.
 *
 * src/core/tokenizers/tok_unicode_tables.c
 *
 *-------------------------------------------------------------------------
 */
#include "tok_unicode.h"
""" % unicodedata.unidata_version)
    out.append("const char tok_unicode_version[] = \"%s\";" % unicodedata.unidata_version)
    out.append("")
    out.append("/* (category | flags << 8) of each distinct property set */")
    emit_array(out, "uint16_t", "tok_uc_props",
               [cat | (fl << 8) for (cat, fl), _ in sorted(props.items(), key=lambda kv: kv[1])],
               per_line=8, fmt="0x%04x")
    out.append("/* stage 1: block of 2^%d code points -> block in stage 2 */" % shift)
    emit_array(out, "uint8_t", "tok_uc_stage1", stage1)
    out.append("/* stage 2: property set index per code point */")
    emit_array(out, "uint8_t", "tok_uc_stage2", stage2, per_line=32)
    out.append("/* simple lowercase mapping: (code point, lowercase) pairs, sorted */")
    pairs = []
    for cp in sorted(simple):
        pairs.extend([cp, simple[cp]])
    emit_array(out, "uint32_t", "tok_uc_lower", pairs, per_line=8, fmt="0x%05x")
    out.append("const size_t tok_uc_lower_count = %d;" % len(simple))
    out.append("")
    out.append("/* full lowercase mappings longer than one code point */")
    out.append("const TokUnicodeLowerFull tok_uc_lower_full[%d] = {" % len(full))
    for cp in sorted(full):
        seq = full[cp] + [0] * (TOK_LOWER_MAX - len(full[cp]))
        out.append("\t{0x%05x, %d, {%s}}," % (cp, len(full[cp]),
                                             ", ".join("0x%05x" % c for c in seq)))
    out.append("};")
    out.append("const size_t tok_uc_lower_full_count = %d;" % len(full))
    sys.stdout.write("\n".join(out) + "\n")


def ranges_text(cps):
    """The "XXXX YYYY-ZZZZ" spelling of a set of code points."""
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return " ".join("%04X" % a if a == b else "%04X-%04X" % (a, b) for a, b in out)


def diff(probe_path):
    """Compare test/tokenizer/wordpiece/probe_unicode.js output with the lists."""
    hexes = lambda f: [int(x, 16) for x in f.split()]
    ref = {"punct": set(), "ctl": set(), "ws": set(), "mn": set(), "keep": set()}
    lower = {}
    for line in open(probe_path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        cp = int(f[0], 16)
        nfd_ref = hexes(f[6])
        if f[2] == "P":
            ref["punct"].add(cp)
        if f[2] == "S":
            ref["ws"].add(cp)
        if f[1] == "R" and cp != 0xFFFD:
            ref["ctl"].add(cp)
        if nfd_ref == [cp] and f[3] == "":
            ref["mn"].add(cp)
        nfd_py = [ord(c) for c in unicodedata.normalize("NFD", chr(cp))]
        if (nfd_py != [cp] and nfd_ref == [cp]) or \
                (unicodedata.combining(chr(cp)) and cp != 0x345 and f[5] != "M"):
            ref["keep"].add(cp)
        low = hexes(f[4])
        if low != [ord(c) for c in chr(cp).lower()]:
            lower[cp] = low
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    py_punct = {c for c in cps if category(c)[0] == "P" or (c < 128 and chr(c) in ASCII_PUNCT)}
    py_ctl = {c for c in cps if category(c) in ("Cc", "Cf", "Co") and c not in (9, 10, 13)}
    nodecomp = {c for c in cps if unicodedata.normalize("NFD", chr(c)) == chr(c)}
    py_mn = {c for c in cps if category(c) == "Mn"} & nodecomp
    lists = [
        ("HF_NOT_PUNCT", py_punct - ref["punct"], HF_NOT_PUNCT),
        ("HF_PUNCT", ref["punct"] - py_punct, HF_PUNCT),
        ("HF_NOT_CONTROL", py_ctl - ref["ctl"], HF_NOT_CONTROL),
        ("(control only in HF: must be empty)", ref["ctl"] - py_ctl, ""),
        ("HF_NOT_MN", py_mn - (ref["mn"] & nodecomp), HF_NOT_MN),
        ("HF_MN", (ref["mn"] & nodecomp) - py_mn, HF_MN),
        ("HF_NFD_KEEP", ref["keep"], HF_NFD_KEEP),
        ("WHITE_SPACE", ref["ws"], WHITE_SPACE),
    ]
    ok = True
    for name, got, have in lists:
        same = got == parse_ranges(have)
        ok &= same
        print("%s: %s" % (name, "same" if same else "DIFFERS, measured: " + ranges_text(got)))
    newer = {cp: low[0] for cp, low in lower.items() if len(low) == 1}
    have = dict(NEWER_LOWER)
    for lo, hi, delta in NEWER_LOWER_RANGES:
        have.update({c: c + delta for c in range(lo, hi + 1)})
    same = newer == have and len(newer) == len(lower)
    ok &= same
    print("NEWER_LOWER: %s" % ("same" if same else "DIFFERS, measured: %s" %
                                {"%04X" % k: v for k, v in lower.items()}))
    return 0 if ok else 1


TOK_LOWER_MAX = 3      # TOK_UNICODE_LOWER_MAX in tok_unicode.h
SHIFT = 7              # TOK_UC_SHIFT in tok_unicode.h

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--diff":
        sys.exit(diff(sys.argv[2]))
    main()
