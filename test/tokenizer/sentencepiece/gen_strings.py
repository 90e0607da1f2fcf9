#!/usr/bin/python3
"""Seeded text for the SentencePiece parity test.

    gen_strings.py corpus LINES SEED   > corpus.txt   (training text)
    gen_strings.py strings COUNT SEED  > strings.hex  (test strings, hex per line)

The corpus mixes pseudo-words of a dozen scripts, digits, punctuation and
emoji, so trained models have multi-script pieces.  The test strings are
drawn from categories that stress tokenisers: corpus-like sentences,
random code points from many blocks (rare ones fall back to bytes or
<unk>), whitespace runs and leading/trailing spaces, control characters,
very long words and numbers, emoji sequences (ZWJ, flags, skin tones,
keycaps), strings that look like special pieces, combining marks, the
U+2581 meta symbol itself, the empty string, and a few byte strings that
are not valid UTF-8.  Same seed, same output.
"""
import random
import sys

# (first, last) code point ranges of each script used for words
SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyz",
    "accents": "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœßğşıł",
    "greek": "αβγδεζηθικλμνξοπρστυφχψω",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह",
    "thai": "กขคงจฉชซญดตถทธนบปผพฟภมยรลวสหอฮ",
    "hangul": "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400, 3)),
    "kana": "".join(chr(c) for c in range(0x3041, 0x3097)) + "".join(chr(c) for c in range(0x30A1, 0x30F7)),
    "cjk": "".join(chr(c) for c in range(0x4E00, 0x4E00 + 600, 2)),
}
DEVANAGARI_SIGNS = "ािीुूेैोौं्"
EMOJI = ["😀", "😂", "🥲", "😍", "🤔", "👍", "👍🏽", "🙏", "🚀", "🌍", "🔥", "🎉", "❤️", "✨",
         "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "🧑🏿‍💻"]
PUNCT = list(".,;:!?\"'()[]{}-–—…/\\@#$%^&*+=<>|~`«»¿¡・。、「」")
RARE_RANGES = [(0x0100, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0530, 0x058F),
               (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x10A0, 0x10FF),
               (0x1100, 0x11FF), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x20A0, 0x20CF),
               (0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x257F),
               (0x2600, 0x26FF), (0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
               (0xA000, 0xA48F), (0xAC00, 0xD7A3), (0xE000, 0xE0FF), (0xF900, 0xFAFF),
               (0xFB00, 0xFB4F), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x10000, 0x1007F),
               (0x1D400, 0x1D7FF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF),
               (0xE0000, 0xE007F), (0x10FF00, 0x10FFFF)]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\u2581"]
SPECIALS = ["<s>", "</s>", "<unk>", "<pad>", "<0x41>", "<0xFF>", "<mask>", "@@", "<ctl>",
            "[CLS]", "<|endoftext|>", "▁", "▁▁the"]


def make_lexicon(rng):
    """A few hundred pseudo-words per script"""
    lex = {}
    for name, alphabet in SCRIPTS.items():
        words = []
        for _ in range(300 if name != "latin" else 1200):
            n = min(12, max(1, int(rng.expovariate(0.3)) + 1))
            w = "".join(rng.choice(alphabet) for _ in range(n))
            if name == "devanagari":
                w = "".join(c + (rng.choice(DEVANAGARI_SIGNS) if rng.random() < 0.4 else "") for c in w)
            if name in ("latin", "accents") and rng.random() < 0.15:
                w = w.capitalize()
            words.append(w)
        lex[name] = words
    return lex


def word(rng, lex, script):
    """A word of a script, Zipf-like: early words are frequent"""
    words = lex[script]
    return words[min(len(words) - 1, int(rng.paretovariate(1.2)) - 1)]


def sentence(rng, lex):
    """One corpus-like line: mostly one script, sometimes others mixed in"""
    main = rng.choice(list(SCRIPTS)) if rng.random() < 0.6 else "latin"
    out = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        if r < 0.75:
            out.append(word(rng, lex, main))
        elif r < 0.83:
            out.append(word(rng, lex, rng.choice(list(SCRIPTS))))
        elif r < 0.90:
            out.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
        elif r < 0.95:
            out.append(rng.choice(EMOJI))
        else:
            out.append(rng.choice(PUNCT))
    glue = "" if main in ("cjk", "kana", "thai") else " "
    s = glue.join(out)
    if rng.random() < 0.5:
        s += rng.choice(".!?。")
    return s


def rare_char(rng):
    """A code point from a random block (never a surrogate)"""
    a, b = rng.choice(RARE_RANGES)
    return chr(rng.randint(a, b))


def test_string(rng, lex):
    """One test string (str) or, rarely, bytes that are not valid UTF-8"""
    kind = rng.randrange(14)
    if kind <= 3:
        return sentence(rng, lex)
    if kind == 4:
        return "".join(rare_char(rng) for _ in range(rng.randint(1, 12)))
    if kind == 5:
        parts = [sentence(rng, lex) if rng.random() < 0.5 else word(rng, lex, "latin")
                 for _ in range(rng.randint(1, 4))]
        out = rng.choice(SPACES) * rng.randint(0, 3)
        for p in parts:
            out += p + "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 4)))
        return out if rng.random() < 0.5 else out.rstrip(" ")
    if kind == 6:
        s = word(rng, lex, "latin")
        return "".join(chr(rng.choice(list(range(0, 32)) + [0x7f] + list(range(0x80, 0xa0))))
                       if rng.random() < 0.3 else c for c in s + " " + s)
    if kind == 7:
        alphabet = SCRIPTS[rng.choice(list(SCRIPTS))]
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(40, 600)))
    if kind == 8:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 80)))
        return rng.choice(["", "$", "#", "v"]) + digits + rng.choice(["", ".5", ",000", "%", " km"])
    if kind == 9:
        return " ".join(rng.choice(EMOJI) * rng.randint(1, 3) for _ in range(rng.randint(1, 6)))
    if kind == 10:
        return " ".join(rng.choice(SPECIALS) + (word(rng, lex, "latin") if rng.random() < 0.5 else "")
                        for _ in range(rng.randint(1, 5)))
    if kind == 11:
        base = word(rng, lex, rng.choice(["latin", "accents", "greek", "cyrillic"]))
        return "".join(c + "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(0, 2)))
                       for c in base)
    if kind == 12:
        return "".join(word(rng, lex, rng.choice(list(SCRIPTS))) for _ in range(rng.randint(2, 6)))
    # kind 13: bytes, mostly broken UTF-8
    good = sentence(rng, lex).encode()
    cut = rng.randint(0, len(good))
    junk = bytes(rng.choice([0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff])
                 for _ in range(rng.randint(1, 4)))
    return good[:cut] + junk + good[cut:]


def corpus(lines, seed):
    """Training text, one sentence a line"""
    rng = random.Random(seed)
    lex = make_lexicon(rng)
    return [sentence(rng, lex) for _ in range(lines)]


def strings(count, seed):
    """Test strings as bytes: fixed edge cases first, then drawn ones"""
    rng = random.Random(seed)
    lex = make_lexicon(random.Random(seed ^ 0x5eed))
    fixed = ["", " ", "  ", "\n", "a", " a", "a ", "  a  b  ", "Hello world", "hello  world",
             "\u2581", "\u2581\u2581x", "<s>", "</s>", "<unk>", "\x00", "a\x00b", "e\u0301",
             "ﬁ", "①", "ｶﾀｶﾅ", "Ａ", "😀", "👨‍👩‍👧", "🇫🇷", "日本語のテキスト", "x" * 3000,
             "1234567890" * 20]
    out = [s.encode() for s in fixed]
    out += [b"\xff", b"a\xffb", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
    while len(out) < count:
        s = test_string(rng, lex)
        out.append(s if isinstance(s, bytes) else s.encode("utf-8"))
    return out[:count]


def main():
    what, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if what == "corpus":
        sys.stdout.write("".join(line + "\n" for line in corpus(n, seed)))
    elif what == "strings":
        sys.stdout.write("".join(s.hex() + "\n" for s in strings(n, seed)))
    else:
        sys.exit("usage: gen_strings.py (corpus | strings) N SEED")


if __name__ == "__main__":
    main()
