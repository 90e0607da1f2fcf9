#!/usr/bin/python3
"""Reference side of the SentencePiece parity test (Debian's python3-sentencepiece).

    spm_ref.py train CORPUS OUTDIR
        train the self-made models: uni.model (unigram, nmt_nfkc normaliser,
        no byte fallback) and bpe.model (BPE, identity, byte fallback,
        user-defined and control symbols), seeded and single-threaded
    spm_ref.py gguf MODEL OUT.gguf [--no-space-prefix]
        write a vocabulary-only llama.cpp-style GGUF from a .model
        (tokenizer.ggml.model "llama", tokens/scores/token_type, special ids)
    spm_ref.py encode (--model F | --gguf F) [--keep-spaces] [--no-dummy-prefix] < strings.hex
        ids and decoded text, in spm_ids' format.  --gguf builds the
        ModelProto from the GGUF arrays here, independently of our C code,
        by the same rules (BPE, identity normaliser, byte fallback when
        there are BYTE tokens).  --keep-spaces / --no-dummy-prefix turn
        remove_extra_whitespaces / add_dummy_prefix off in the model first.
    spm_ref.py compare NAME STRINGS OURS REF
        print the first mismatches and "NAME: N passed, M failed"

No protobuf module is needed: the few ModelProto fields used here are
read and written by hand (field numbers from sentencepiece_model.proto).
"""
import struct
import sys

import sentencepiece as spm


# --- protobuf wire format -----------------------------------------------------

def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    """[(number, wire type, value)]: ints for varint/fixed, bytes for len"""
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 1:
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif wire == 5:
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        elif wire == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((num, wire, v))
    return out


def put_varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return bytes(out)


def put_field(num, wire, v):
    key = put_varint(num << 3 | wire)
    if wire == 0:
        return key + put_varint(v)
    if wire == 5:
        return key + struct.pack("<I", v)
    if wire == 1:
        return key + struct.pack("<Q", v)
    return key + put_varint(len(v)) + v


def serialize(fs):
    return b"".join(put_field(n, w, v) for n, w, v in fs)


def set_normalizer(proto, **flags):
    """Set NormalizerSpec bools (add_dummy_prefix 3, remove_extra_whitespaces 4)"""
    nums = {"add_dummy_prefix": 3, "remove_extra_whitespaces": 4}
    top = fields(proto)
    out = []
    for n, w, v in top:
        if n == 3:
            sub = [f for f in fields(v) if f[0] not in [nums[k] for k in flags]]
            sub += [(nums[k], 0, int(bool(x))) for k, x in flags.items()]
            v = serialize(sub)
        out.append((n, w, v))
    return serialize(out)


def pieces(proto):
    """[(piece bytes, score, type)] of a ModelProto"""
    out = []
    for n, _, v in fields(proto):
        if n == 1:
            d = {1: b"", 2: 0, 3: 1}
            for m, _, x in fields(v):
                d[m] = x
            out.append((d[1], struct.unpack("<f", struct.pack("<I", d[2]))[0], d[3]))
    return out


def trainer_ids(proto):
    ids = {40: 0, 41: 1, 42: 2, 43: -1}
    for n, _, v in fields(proto):
        if n == 2:
            for m, _, x in fields(v):
                if m in ids:
                    ids[m] = x - (1 << 64) if x >= 1 << 63 else x
    return ids[40], ids[41], ids[42], ids[43]


# --- GGUF -----------------------------------------------------------------------

SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf_kv(path):
    """The metadata of a GGUF file as a dict (arrays as lists)"""
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    _, _, n_kv = struct.unpack_from("<IQQ", b, 4)
    i = 24

    def rstr(i):
        n = struct.unpack_from("<Q", b, i)[0]
        return b[i + 8:i + 8 + n], i + 8 + n

    def val(t, i):
        if t == 8:
            return rstr(i)
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, i)
            i += 12
            out = []
            for _ in range(n):
                x, i = val(et, i)
                out.append(x)
            return out, i
        x = struct.unpack_from("<" + SCALAR[t], b, i)[0]
        return x, i + struct.calcsize(SCALAR[t])

    kv = {}
    for _ in range(n_kv):
        k, i = rstr(i)
        t = struct.unpack_from("<I", b, i)[0]
        kv[k.decode()], i = val(t, i + 4)
    return kv


def write_gguf(path, kv):
    """A GGUF v3 file with metadata only; kv values: (type, value)"""
    def s(x):
        return struct.pack("<Q", len(x)) + x

    def v(t, x):
        if t == 8:
            return s(x)
        if t == 9:
            et, xs = x
            return struct.pack("<IQ", et, len(xs)) + b"".join(v(et, e) for e in xs)
        return struct.pack("<" + SCALAR[t], x)

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
    for k, (t, x) in kv.items():
        out += s(k.encode()) + struct.pack("<I", t) + v(t, x)
    out += b"\0" * (-len(out) % 32)
    open(path, "wb").write(out)


def proto_from_gguf(path):
    """ModelProto bytes for a "llama" GGUF vocabulary, llama.cpp's way"""
    kv = read_gguf_kv(path)
    assert kv["tokenizer.ggml.model"] == b"llama"
    toks = kv["tokenizer.ggml.tokens"]
    scores = kv.get("tokenizer.ggml.scores", [0.0] * len(toks))
    types = [t or 1 for t in kv.get("tokenizer.ggml.token_type", [1] * len(toks))]

    def special(key):
        x = kv.get("tokenizer.ggml." + key, -1)
        return -1 if x in (-1, 0xFFFFFFFF) else x

    unk = special("unknown_token_id")
    if unk < 0:
        unk = types.index(2)
    types = [3 if (t == 2 and i != unk) else t for i, t in enumerate(types)]
    types[unk] = 2
    ids = [unk, special("bos_token_id"), special("eos_token_id"), special("padding_token_id")]
    out = [(1, 2, serialize([(1, 2, p), (2, 5, struct.unpack("<I", struct.pack("<f", sc))[0]), (3, 0, t)]))
           for p, sc, t in zip(toks, scores, types)]
    trainer = [(3, 0, 2), (35, 0, int(6 in types))]
    for k, i in enumerate(ids):
        trainer.append((40 + k, 0, i))
        if i >= 0:
            trainer.append((45 + k, 2, toks[i]))
    normalizer = [(1, 2, b"identity"), (3, 0, int(kv.get("tokenizer.ggml.add_space_prefix", True))),
                  (4, 0, 0), (5, 0, 1)]
    out += [(2, 2, serialize(trainer)), (3, 2, serialize(normalizer))]
    return serialize(out)


# --- commands -------------------------------------------------------------------

def cmd_train(corpus, outdir):
    common = dict(input=corpus, input_sentence_size=0, num_threads=1, minloglevel=2,
                  max_sentence_length=100000, shuffle_input_sentence=False, seed_sentencepiece_size=200000)
    spm.set_random_generator_seed(1234)
    spm.SentencePieceTrainer.train(model_prefix=outdir + "/uni", model_type="unigram", vocab_size=2000,
                                   character_coverage=0.995, **common)
    spm.SentencePieceTrainer.train(model_prefix=outdir + "/bpe", model_type="bpe", vocab_size=1500,
                                   character_coverage=0.9995, byte_fallback=True, split_digits=True,
                                   normalization_rule_name="identity", remove_extra_whitespaces=False,
                                   allow_whitespace_only_pieces=True, user_defined_symbols=["<mask>", "@@"],
                                   control_symbols=["<ctl>"], **common)


def cmd_gguf(model, out, space_prefix=True):
    proto = open(model, "rb").read()
    ps = pieces(proto)
    unk, bos, eos, pad = trainer_ids(proto)
    kv = {
        "general.architecture": (8, b"llama"),
        "tokenizer.ggml.model": (8, b"llama"),
        "tokenizer.ggml.tokens": (9, (8, [p for p, _, _ in ps])),
        "tokenizer.ggml.scores": (9, (6, [s for _, s, _ in ps])),
        "tokenizer.ggml.token_type": (9, (5, [t for _, _, t in ps])),
        "tokenizer.ggml.unknown_token_id": (4, unk),
        "tokenizer.ggml.bos_token_id": (4, bos),
        "tokenizer.ggml.eos_token_id": (4, eos),
        "tokenizer.ggml.padding_token_id": (4, pad & 0xFFFFFFFF),
        "tokenizer.ggml.add_space_prefix": (7, space_prefix),
    }
    write_gguf(out, kv)


def cmd_encode(args):
    proto = open(args[1], "rb").read() if args[0] == "--model" else proto_from_gguf(args[1])
    if "--keep-spaces" in args:
        proto = set_normalizer(proto, remove_extra_whitespaces=False)
    if "--no-dummy-prefix" in args:
        proto = set_normalizer(proto, add_dummy_prefix=False)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    out = []
    for line in sys.stdin:
        ids = sp.encode(bytes.fromhex(line.strip()))
        text = sp.decode(ids).encode("utf-8", "surrogateescape")
        out.append(" ".join(map(str, ids)) + "\t" + text.hex() + "\n")
    sys.stdout.write("".join(out))


def show(b):
    s = b.decode("utf-8", "backslashreplace")
    return repr(s if len(s) < 80 else s[:77] + "...")


def cmd_compare(name, strings, ours, ref):
    st = [bytes.fromhex(x.strip()) for x in open(strings)]
    a = open(ours).read().split("\n")[:-1]
    b = open(ref).read().split("\n")[:-1]
    if len(a) != len(st) or len(b) != len(st):
        print("%s: output lengths differ (%d strings, ours %d, reference %d)" % (name, len(st), len(a), len(b)))
        print("%s: 0 passed, %d failed" % (name, len(st)))
        return
    bad = [i for i in range(len(st)) if a[i] != b[i]]
    for i in bad[:5]:
        oi, ot = a[i].split("\t")
        ri, rt = b[i].split("\t")
        print("  mismatch %s #%d %s" % (name, i, show(st[i])))
        print("    ours: %s  text %s" % (oi[:200], show(bytes.fromhex(ot))))
        print("    ref:  %s  text %s" % (ri[:200], show(bytes.fromhex(rt))))
    print("%s: %d passed, %d failed" % (name, len(st) - len(bad), len(bad)))


def main():
    a = sys.argv[1:]
    if a[0] == "train":
        cmd_train(a[1], a[2])
    elif a[0] == "gguf":
        cmd_gguf(a[1], a[2], "--no-space-prefix" not in a)
    elif a[0] == "encode":
        cmd_encode(a[1:])
    elif a[0] == "compare":
        cmd_compare(*a[1:5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
