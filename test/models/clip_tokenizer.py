#!/usr/bin/python3
"""A small CLIP-style tokenizer.json (Hugging Face CLIPTokenizerFast), for
tests that need a CLIP text tokenizer without the real 49,408-token one.

    /usr/bin/python3 test/models/clip_tokenizer.py OUT.json [N_MERGES [SEED]]

    from clip_tokenizer import write_clip_tokenizer
    vocab_size, bos_id, eos_id = write_clip_tokenizer(path, n_merges=400, seed=0)

The file has exactly the components transformers' convert_slow_tokenizer
CLIPConverter writes (saved by tokenizers >= 0.20, so merges are [a, b]
pairs and the model has ignore_merges):

  normalizer      Sequence [NFC, Replace(Regex \\s+ -> " "), Lowercase]
  pre_tokenizer   Sequence [Split(CLIP's regex, behavior Removed, invert),
                  ByteLevel(add_prefix_space false, use_regex true)]
  model           BPE, continuing_subword_prefix "", end_of_word_suffix
                  "</w>", unk_token <|endoftext|>, fuse_unk false
  post_processor  RobertaProcessing (cls <|startoftext|>, sep <|endoftext|>)
  decoder         ByteLevel
  added_tokens    <|startoftext|> (normalized, as the files on the Hub
                  have it) and <|endoftext|> (not normalized), both special

The vocabulary is ordered as CLIP's vocab.json: the 256 byte-level
characters in bytes_to_unicode order, the same 256 with "</w>", one token
per merge in merge order, then <|startoftext|> and <|endoftext|>.  So with
n_merges merges there are 512 + n_merges + 2 ids, BOS is the second last
and EOS the last (for the default 400 merges: 914 ids, BOS 912, EOS 913).
The merges are learnt from the built-in English text below by plain BPE
over words (lower-cased and cut as CLIP's pre-tokenizer cuts them, each
word's last symbol carrying "</w>"): the most frequent adjacent pair
first, ties broken by the pair's text, a pair whose result is already a
token skipped.  SEED only draws how often each line of the text counts, so
the same (n_merges, seed) always gives the same file.  If the text runs out
of pairs first, fewer merges are written; the returned size tells.

NumPy is not needed; nothing here imports transformers or tokenizers.
"""
import json
import random
import sys
import unicodedata

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
SUFFIX = "</w>"
CLIP_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

CORPUS = """\
A photo of a cat sitting on a wooden table next to a cup of coffee.
A photograph of two dogs playing in the snow on a sunny winter morning.
An oil painting of a lighthouse standing on the rocks during a storm.
A close-up picture of a red apple, a green pear and three yellow bananas.
The quick brown fox jumps over the lazy dog while the children watch.
It's a small house with a blue door, white windows and a garden of roses.
They're walking along the beach at sunset; the sky is orange and purple.
We've seen this bridge before: it was built in 1932 and painted in 1998.
I'm looking at a diagram of the human heart with its four chambers.
She'll take the train to the city at 8:45 and return before midnight.
He'd never seen so many birds flying over the lake at the same time.
Don't touch the stove! It is still hot after cooking the vegetables.
A black and white sketch of an old man reading a newspaper in a cafe.
A child's drawing of a house, a tree, a sun and a smiling family of four.
The mountains were covered with snow, and the valley below was green.
A plate of pasta with tomato sauce, fresh basil and grated cheese.
A screenshot of a computer program showing a table of numbers and charts.
Three people are riding bicycles down a narrow street in an old town.
A bowl of soup, a loaf of bread and a glass of water on the kitchen counter.
The museum displays paintings, sculptures and photographs from many countries.
A satellite image of a river delta, where the water meets the sea.
Two cats are sleeping on a sofa next to a window on a rainy afternoon.
A diagram explaining how light passes through a lens and forms an image.
A street market selling fruit, flowers, spices, cloth and handmade pottery.
The train station was crowded with travellers carrying bags and suitcases.
An illustration of a dragon flying above a castle surrounded by a forest.
A portrait of a woman wearing a hat, painted in warm colours and soft light.
A bird's-eye view of a football stadium filled with thousands of fans.
The recipe needs 2 eggs, 250 grams of flour, 100 grams of sugar and milk.
A naive painting of a cafe in Paris, with a waiter carrying a tray of drinks.
Photos of the city at night show bright lights reflected in the river.
What a wonderful day: the garden is full of bees, butterflies and flowers!
A robot is holding a cup, a pen and a small plant on its metal hands.
A map of the world with the oceans in blue and the continents in green.
Several boats are sailing on the lake, and a dog is swimming near the shore.
A wedding cake with five layers, decorated with sugar roses and ribbons.
The teacher wrote the numbers 1, 2, 3, 4 and 5 on the blackboard.
A painting of sunflowers in a vase standing on a table by the window.
There's a horse running across a field of tall grass under a cloudy sky.
A sign reading "open 24 hours" hangs above the door of the little shop.
"""


def bytes_to_unicode():
    """CLIP's (GPT-2's) map from bytes to printable characters, in its order."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _class(ch):
    cat = unicodedata.category(ch)
    if cat[0] == "L":
        return "L"
    if cat[0] == "N":
        return "N"
    if ch.isspace():
        return "S"
    return "O"


def clip_words(text):
    """CLIP's pre-tokenization of lower-cased text (enough for the built-in text)."""
    text = " ".join(text.lower().split())
    words = []
    i = 0
    while i < len(text):
        c = _class(text[i])
        if text[i] == "'" and text[i + 1:i + 2] in ("s", "t", "m", "d"):
            j = i + 2
        elif text[i] == "'" and text[i + 1:i + 3] in ("re", "ve", "ll"):
            j = i + 3
        elif c == "N":
            j = i + 1
        elif c in ("L", "O"):
            j = i + 1
            while j < len(text) and _class(text[j]) == c:
                j += 1
        else:
            i += 1
            continue
        words.append(text[i:j])
        i = j
    return words


def _symbols(word, byte_char):
    chars = [byte_char[b] for b in word.encode("utf-8")]
    chars[-1] += SUFFIX
    return tuple(chars)


def learn_merges(counts, n_merges, known):
    """Plain BPE over {symbol tuple: count}; returns the merges in order."""
    words = dict(counts)
    merges = []
    while len(merges) < n_merges:
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        best = None
        for pair, c in sorted(pairs.items(), key=lambda pc: (-pc[1], pc[0])):
            if pair[0] + pair[1] not in known:
                best = pair
                break
        if best is None:
            break
        merges.append(best)
        known.add(best[0] + best[1])
        merged = {}
        for w, c in words.items():
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        words = merged
    return merges


def clip_tokenizer_json(n_merges=400, seed=0):
    """The tokenizer.json object (see the module docstring)."""
    rng = random.Random(seed)
    byte_char = bytes_to_unicode()
    counts = {}
    for line in CORPUS.splitlines():
        weight = 1 + rng.randrange(4)
        for w in clip_words(line):
            s = _symbols(w, byte_char)
            counts[s] = counts.get(s, 0) + weight
    chars = list(byte_char.values())
    tokens = chars + [c + SUFFIX for c in chars]
    merges = learn_merges(counts, n_merges, set(tokens))
    tokens += [a + b for a, b in merges]
    vocab = {t: i for i, t in enumerate(tokens)}
    bos, eos = len(tokens), len(tokens) + 1
    vocab[BOS] = bos
    vocab[EOS] = eos

    def added(i, content, normalized):
        return {"id": i, "content": content, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": normalized, "special": True}

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(bos, BOS, True), added(eos, EOS, False)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CLIP_REGEX}, "behavior": "Removed",
             "invert": True},
            byte_level]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOS, eos], "cls": [BOS, bos],
                           "trim_offsets": False, "add_prefix_space": False},
        "decoder": dict(byte_level, add_prefix_space=True),
        "model": {"type": "BPE", "dropout": None, "unk_token": EOS,
                  "continuing_subword_prefix": "", "end_of_word_suffix": SUFFIX,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }


def write_clip_tokenizer(path, n_merges=400, seed=0):
    """Write a CLIP-style tokenizer.json to path.

    Returns (vocab_size, bos_id, eos_id): the number of ids (512 + merges
    learnt + 2) and the ids of <|startoftext|> and <|endoftext|>, which are
    vocab_size - 2 and vocab_size - 1.  A CLIP text model using it needs
    vocab_size rows of token embeddings and eos_token_id = eos_id.
    """
    j = clip_tokenizer_json(n_merges, seed)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, indent=2)
        f.write("\n")
    n = len(j["model"]["vocab"])
    return n, n - 2, n - 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: clip_tokenizer.py OUT.json [N_MERGES [SEED]]")
    size, bos_id, eos_id = write_clip_tokenizer(
        sys.argv[1], *(int(a) for a in sys.argv[2:]))
    print(f"{sys.argv[1]}: {size} ids, bos {bos_id}, eos {eos_id}")
