#!/usr/bin/python3
"""Write the fixtures of the GGUF, safetensors, JSON and F16 unit tests.

    /usr/bin/python3 test/unit/gen_fixtures.py      (from the repository root)

An independent writer: it uses only Python's struct and json modules and
Debian's numpy, never our C code, so the expected values it records are a
reference for the C parsers.  Its output is deterministic (fixed seeds) and
checked in; rerun it only when adding cases.

Outputs (test/unit/fixtures/ unless noted):
  tiny.gguf, tiny_v2.gguf      GGUF v3 (default alignment) and v2 (alignment 64)
  *.gguf.expect                header facts, every key and value, every tensor's
                               shape, type, absolute offset, size and (for F32,
                               F16, BF16, Q8_0, Q4_0, Q5_0) all values, dequantised
                               here with numpy from the block layouts in the GGUF
                               spec
  tiny.safetensors(.expect)    F32, F16, BF16, I64, scalar and empty tensors with
                               __metadata__, header padded with spaces as the
                               safetensors library does
  model.safetensors.index.json(.expect)
  json_cases.txt               tricky JSON documents with the expected canonical
                               form per Python's json module plus our stated rules
  fp16.expect                  F16 bits -> float32 bits from numpy
  ../../fuzz/corpus/{gguf,json,safetensors}/   small seeds

Expect files are line-oriented text: fields separated by single spaces,
byte strings as lower-case hex ("-" when empty), floats as float.hex().
"""

import json
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(ROOT, "fixtures")
CORPUS = os.path.join(ROOT, "..", "fuzz", "corpus")

# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
PACK = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
        F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}

# ggml types: id -> (block size, bytes per block)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18),
        "Q5_0": (6, 32, 22), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144),
        "Q6_K": (14, 256, 210), "BF16": (30, 1, 2)}


def hexb(b):
    return b.hex() if b else "-"


def fhex(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    return x.hex()


def gguf_string(b):
    return struct.pack("<Q", len(b)) + b


def gguf_scalar(t, v):
    if t == STR:
        return gguf_string(v)
    return struct.pack(PACK[t], v)


def expect_scalar(t, v):
    if t == STR:
        return hexb(v)
    if t in (F32, F64):
        if t == F32:
            v = struct.unpack("<f", struct.pack("<f", v))[0]
        return fhex(v)
    if t == BOOL:
        return "1" if v else "0"
    return str(int(v))


def f16_bytes(vals):
    return np.array(vals, dtype=np.float16).tobytes()


def dq_q8_0(raw):
    out = []
    for b in range(len(raw) // 34):
        blk = raw[34 * b:34 * b + 34]
        d = np.frombuffer(blk[:2], dtype=np.float16).astype(np.float32)[0]
        q = np.frombuffer(blk[2:], dtype=np.int8).astype(np.float32)
        out.extend((q * d).astype(np.float32))
    return out


def dq_q4_0(raw):
    out = []
    for b in range(len(raw) // 18):
        blk = raw[18 * b:18 * b + 18]
        d = np.frombuffer(blk[:2], dtype=np.float16).astype(np.float32)[0]
        qs = np.frombuffer(blk[2:], dtype=np.uint8)
        lo = ((qs & 0x0F).astype(np.int32) - 8).astype(np.float32) * d
        hi = ((qs >> 4).astype(np.int32) - 8).astype(np.float32) * d
        out.extend(np.concatenate([lo, hi]).astype(np.float32))
    return out


def dq_q5_0(raw):
    out = []
    for b in range(len(raw) // 22):
        blk = raw[22 * b:22 * b + 22]
        d = np.frombuffer(blk[:2], dtype=np.float16).astype(np.float32)[0]
        qh = struct.unpack("<I", blk[2:6])[0]
        qs = np.frombuffer(blk[6:], dtype=np.uint8).astype(np.int32)
        bits_lo = np.array([(qh >> j) & 1 for j in range(16)], dtype=np.int32)
        bits_hi = np.array([(qh >> (j + 16)) & 1 for j in range(16)], dtype=np.int32)
        lo = (((qs & 0x0F) | (bits_lo << 4)) - 16).astype(np.float32) * d
        hi = (((qs >> 4) | (bits_hi << 4)) - 16).astype(np.float32) * d
        out.extend(np.concatenate([lo, hi]).astype(np.float32))
    return out


def rand_f16_scale(rng, n, lo=1e-3, hi=2e-2):
    s = rng.uniform(lo, hi, n) * rng.choice([-1, 1], n)
    return np.array(s, dtype=np.float16)


def q8_0_blocks(rng, nb):
    out = b""
    for d in rand_f16_scale(rng, nb):
        out += d.tobytes() + rng.integers(-128, 128, 32, dtype=np.int8).tobytes()
    return out


def q4_0_blocks(rng, nb):
    out = b""
    for d in rand_f16_scale(rng, nb):
        out += d.tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    return out


def q5_0_blocks(rng, nb):
    out = b""
    for d in rand_f16_scale(rng, nb):
        out += d.tobytes() + struct.pack("<I", int(rng.integers(0, 2**32))) + \
            rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    return out


def k_blocks(rng, nb, size, d_at):
    """Random K-quant super-blocks with small finite F16 scales at d_at."""
    out = b""
    for _ in range(nb):
        blk = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        for at in d_at:
            blk[at:at + 2] = rand_f16_scale(rng, 1).tobytes()
        out += bytes(blk)
    return out


def write_gguf(path, version, kvs, tensors, alignment, data_order):
    """kvs: [(key, type, value)] with ARR values (elem_type, [values]);
    tensors: [(name, type name, ne, raw bytes, expected values or None)];
    data_order: tensor indices in the order their data is laid out."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, t, v in kvs:
        head += gguf_string(key.encode()) + struct.pack("<I", t)
        if t == ARR:
            et, vals = v
            head += struct.pack("<IQ", et, len(vals))
            for x in vals:
                head += gguf_scalar(et, x)
        else:
            head += gguf_scalar(t, v)

    # data offsets, relative to the data section, aligned
    offsets = [0] * len(tensors)
    pos = 0
    for i in data_order:
        pos = (pos + alignment - 1) // alignment * alignment
        offsets[i] = pos
        pos += len(tensors[i][3])
    for i, (name, tname, ne, raw, _) in enumerate(tensors):
        head += gguf_string(name.encode()) + struct.pack("<I", len(ne))
        for d in ne:
            head += struct.pack("<Q", d)
        head += struct.pack("<IQ", GGML[tname][0], offsets[i])
    data_start = (len(head) + alignment - 1) // alignment * alignment
    blob = bytearray(head + b"\0" * (data_start - len(head)))
    for i in data_order:
        at = data_start + offsets[i]
        blob += b"\0" * (at - len(blob))
        blob += tensors[i][3]
    with open(path, "wb") as f:
        f.write(blob)

    lines = ["version %d" % version, "n_kv %d" % len(kvs),
             "n_tensors %d" % len(tensors), "alignment %d" % alignment,
             "data_offset %d" % data_start, "size %d" % len(blob)]
    for key, t, v in kvs:
        if t == ARR:
            et, vals = v
            lines.append("arr %s %d %d %s" % (key, et, len(vals),
                         " ".join(expect_scalar(et, x) for x in vals)))
        else:
            lines.append("kv %s %d %s" % (key, t, expect_scalar(t, v)))
    for i, (name, tname, ne, raw, vals) in enumerate(tensors):
        ne4 = list(ne) + [1] * (4 - len(ne))
        n_el = int(np.prod(ne))
        vals = [] if vals is None else list(vals)
        assert not vals or len(vals) == n_el
        lines.append("tensor %s %d %d %s %d %d %d %s" % (
            name, GGML[tname][0], len(ne), " ".join(str(x) for x in ne4),
            data_start + offsets[i], len(raw), len(vals),
            " ".join(fhex(x) for x in vals)))
    with open(path + ".expect", "w") as f:
        f.write("\n".join(lines) + "\n")
    return bytes(blob)


def gen_gguf():
    rng = np.random.default_rng(20240601)
    tokens = [b"<unk>", b"<s>", b"</s>"] + [("tok%d" % i).encode() for i in range(30)] + \
        ["\u2581h\u00e9llo".encode(), "\u4e2d".encode(), b"", b"a b", b"x" * 300]
    kvs = [
        ("general.architecture", STR, b"llama"),
        ("general.name", STR, "tiny \u00fc test".encode()),
        ("general.empty", STR, b""),
        ("llama.block_count", U32, 2),
        ("llama.embedding_length", U64, 4),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("test.u8", U8, 200), ("test.i8", I8, -100),
        ("test.u16", U16, 60000), ("test.i16", I16, -30000),
        ("test.u32", U32, 4000000000), ("test.i32", I32, -2000000000),
        ("test.f32", F32, 1.5e-3), ("test.bool_t", BOOL, True),
        ("test.bool_f", BOOL, False), ("test.u64", U64, 2**63 + 5),
        ("test.i64", I64, -2**62), ("test.f64", F64, 2.718281828459045),
        ("test.i32_neg", I32, -1), ("test.f64_big", F64, 1e300),
        ("test.arr_u8", ARR, (U8, [1, 2, 255])),
        ("test.arr_i32", ARR, (I32, [-1, 0, 2147483647])),
        ("test.arr_f32", ARR, (F32, [0.5, -1.25, 3e38])),
        ("test.arr_bool", ARR, (BOOL, [True, False, True])),
        ("test.arr_u64", ARR, (U64, [2**64 - 1, 7])),
        ("test.arr_empty", ARR, (U32, [])),
        ("test.arr_str_empty", ARR, (STR, [])),
        ("tokenizer.ggml.model", STR, b"llama"),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, [float(-i) / 4 for i in range(len(tokens))])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
    ]

    f32_vals = rng.standard_normal(12).astype(np.float32)
    f16_src = [0.0, -0.0, 1.0, -2.0, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
               -3.0517578125e-05, float("inf"), float("-inf"), float("nan"), 0.333251953125]
    f16_raw = f16_bytes(f16_src)
    f16_vals = np.frombuffer(f16_raw, dtype=np.float16).astype(np.float32)
    bf_src = np.array([1.0, -2.5, 3.140625, 1e-40, float("inf"), -0.0], dtype=np.float32)
    bf_bits = (bf_src.view(np.uint32) >> 16).astype(np.uint16)
    bf_vals = (bf_bits.astype(np.uint32) << 16).view(np.float32)
    t4d = rng.standard_normal(12).astype(np.float32)
    q8 = q8_0_blocks(rng, 4)
    q4 = q4_0_blocks(rng, 3)
    q5 = q5_0_blocks(rng, 2)
    q4k = k_blocks(rng, 2, 144, [0, 2])
    q6k = k_blocks(rng, 1, 210, [208])

    tensors = [
        ("token_embd.weight", "F32", [4, 3], f32_vals.tobytes(), f32_vals),
        ("f16.weight", "F16", [12], f16_raw, f16_vals),
        ("bf16.weight", "BF16", [3, 2], bf_bits.tobytes(), bf_vals),
        ("blk.0.t4d", "F32", [2, 1, 3, 2], t4d.tobytes(), t4d),
        ("q4.weight", "Q4_0", [32, 3], q4, dq_q4_0(q4)),
        ("q5.weight", "Q5_0", [64], q5, dq_q5_0(q5)),
        ("q4k.weight", "Q4_K", [256, 2], q4k, None),
        ("q6k.weight", "Q6_K", [256], q6k, None),
        ("q8.weight", "Q8_0", [64, 2], q8, dq_q8_0(q8)),
    ]
    # data laid out in another order than the infos; the last one ends the file
    order = [3, 0, 6, 2, 4, 1, 7, 5, 8]
    tiny = write_gguf(os.path.join(FIX, "tiny.gguf"), 3, kvs, tensors, 32, order)

    kvs2 = [("general.architecture", STR, b"llama"),
            ("general.alignment", U32, 64),
            ("test.str", STR, b"v2")]
    v8 = np.arange(8, dtype=np.float32) - 3.5
    q4b = q4_0_blocks(rng, 2)
    tensors2 = [("a", "F32", [8], v8.tobytes(), v8),
                ("b", "Q4_0", [32, 2], q4b, dq_q4_0(q4b))]
    v2 = write_gguf(os.path.join(FIX, "tiny_v2.gguf"), 2, kvs2, tensors2, 64, [0, 1])

    # fuzz seeds: the v2 file, a tensor-free file, one tensor per type
    seeds = {"tiny_v2.gguf": v2}
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    head += gguf_string(b"general.architecture") + struct.pack("<I", STR) + gguf_string(b"bert")
    head += gguf_string(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", ARR, STR, 3)
    head += gguf_string(b"[PAD]") + gguf_string(b"a") + gguf_string(b"##b")
    seeds["vocab_only.gguf"] = head
    for tname, raw, ne in [("F16", f16_raw[:8], [4]), ("BF16", bf_bits.tobytes()[:4], [2]),
                           ("Q8_0", q8[:34], [32]), ("Q4_K", q4k[:144], [256]),
                           ("Q6_K", q6k, [256])]:
        path = os.path.join(FIX, "_seed.gguf")
        seeds["one_%s.gguf" % tname] = write_gguf(
            path, 3, [("general.architecture", STR, b"llama")],
            [("w", tname, ne, raw, None)], 32, [0])
        os.remove(path)
        os.remove(path + ".expect")
    write_seeds("gguf", seeds)
    return tiny


def st_file(tensors, metadata, order=None):
    """tensors: [(name, dtype, shape, raw)]; returns (bytes, header, offsets)."""
    order = order or list(range(len(tensors)))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    pos = 0
    offs = {}
    for i in order:
        name, dt, shape, raw = tensors[i]
        offs[name] = (pos, pos + len(raw))
        pos += len(raw)
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": list(offs[name])}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    data = b"".join(tensors[i][3] for i in order)
    return struct.pack("<Q", len(h)) + h + data, offs


def gen_safetensors():
    rng = np.random.default_rng(7)
    emb = rng.standard_normal((3, 4)).astype(np.float32)
    w16 = np.array([[0.5, -1.0, 65504.0], [6.1035156e-05, -0.0, 0.1]], dtype=np.float16)
    bf_src = np.array([1.0, -2.5, 3.140625, 1e-40, float("inf")], dtype=np.float32)
    bf_bits = (bf_src.view(np.uint32) >> 16).astype(np.uint16)
    pos_ids = np.arange(6, dtype=np.int64).reshape(1, 6)
    scalar = np.array(42.5, dtype=np.float32)
    tensors = [
        ("embeddings.word_embeddings.weight", "F32", (3, 4), emb.tobytes()),
        ("encoder.layer.0.w", "F16", (2, 3), w16.tobytes()),
        ("bf", "BF16", (5,), bf_bits.tobytes()),
        ("embeddings.position_ids", "I64", (1, 6), pos_ids.tobytes()),
        ("scalar", "F32", (), scalar.tobytes()),
        ("empty", "F32", (0, 3), b""),
    ]
    blob, offs = st_file(tensors, {"format": "pt", "note": "tiny \u00fc"}, order=[2, 0, 5, 3, 1, 4])
    with open(os.path.join(FIX, "tiny.safetensors"), "wb") as f:
        f.write(blob)
    hlen = struct.unpack("<Q", blob[:8])[0]
    vals = {
        "embeddings.word_embeddings.weight": [fhex(x) for x in emb.ravel()],
        "encoder.layer.0.w": [fhex(x) for x in w16.astype(np.float32).ravel()],
        "bf": [fhex(x) for x in (bf_bits.astype(np.uint32) << 16).view(np.float32)],
        "embeddings.position_ids": [str(int(x)) for x in pos_ids.ravel()],
        "scalar": [fhex(42.5)],
        "empty": [],
    }
    lines = ["n_tensors %d" % len(tensors), "data_offset %d" % (8 + hlen),
             "size %d" % len(blob), "meta format %s" % hexb(b"pt"),
             "meta note %s" % hexb("tiny \u00fc".encode())]
    for name, dt, shape, raw in tensors:
        lines.append("tensor %s %s %d %s %d %d %d %s" % (
            name, dt, len(shape), " ".join(str(x) for x in shape) or "-",
            8 + hlen + offs[name][0], len(raw), len(vals[name]), " ".join(vals[name])))
    with open(os.path.join(FIX, "tiny.safetensors.expect"), "w") as f:
        f.write("\n".join(lines) + "\n")

    seeds = {"tiny.safetensors": blob}
    seeds["meta_only.safetensors"] = st_file([], {"format": "pt"})[0]
    seeds["one_f16.safetensors"] = st_file([("w", "F16", (2, 2), w16.tobytes()[:8])], None)[0]
    seeds["two_f32.safetensors"] = st_file([("a", "F32", (2,), emb.tobytes()[:8]),
                                            ("b", "F32", (1, 1), emb.tobytes()[8:12])], None)[0]
    write_seeds("safetensors", seeds)

    # shard index
    wm = {}
    for i in range(20):
        wm["model.layers.%d.weight" % i] = "model-%05d-of-00003.safetensors" % (i % 3 + 1)
    wm["lm_head.weight"] = "model-00003-of-00003.safetensors"
    doc = {"metadata": {"total_size": 1234567890123}, "weight_map": wm}
    with open(os.path.join(FIX, "model.safetensors.index.json"), "w") as f:
        json.dump(doc, f, indent=2)
    files = sorted(set(wm.values()))
    lines = ["total_size 1234567890123", "n_entries %d" % len(wm), "n_files %d" % len(files)]
    lines += ["file %d %s" % (i, fn) for i, fn in enumerate(files)]
    lines += ["entry %s %s %d" % (k, v, files.index(v)) for k, v in wm.items()]
    with open(os.path.join(FIX, "model.safetensors.index.json.expect"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------ JSON

MAX_DEPTH = 64


class Reject(Exception):
    pass


def no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Reject("duplicate key")
        d[k] = v
    return d


def reject_constant(name):
    raise Reject("NaN/Infinity literal")


def check_float(s):
    x = float(s)
    if math.isinf(x):
        raise Reject("overflow")
    return x


def depth(o):
    if isinstance(o, list):
        return 1 + max([depth(x) for x in o] or [0])
    if isinstance(o, dict):
        return 1 + max([depth(x) for x in o.values()] or [0])
    return 0


def canon(o):
    """The canonical form the C test prints: members in document order,
    integers within int64 as decimals, other numbers as 'f' + %.17g,
    strings with only '"', '\\' and control characters escaped."""
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        if -2**63 <= o < 2**63:
            return str(o)
        return "f%.17g" % float(o)
    if isinstance(o, float):
        return "f%.17g" % o
    if isinstance(o, str):
        out = []
        for ch in o:
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ord(ch) < 0x20:
                out.append("\\u%04x" % ord(ch))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(o, list):
        return "[" + ",".join(canon(x) for x in o) + "]"
    return "{" + ",".join(canon(k) + ":" + canon(v) for k, v in o.items()) + "}"


def json_expected(raw):
    """Expected canonical bytes, or None where our parser must fail."""
    try:
        s = raw.decode("utf-8")
        o = json.loads(s, object_pairs_hook=no_dups, parse_constant=reject_constant,
                       parse_float=check_float)
        if depth(o) > MAX_DEPTH:
            return None
        return canon(o).encode("utf-8")
    except (ValueError, Reject, RecursionError, OverflowError, UnicodeError):
        return None


JSON_CASES = [
    b"{}", b"[]", b" 0 ", b"-0", b"-0.0", b"0.0", b"1.5e3", b"1E-2", b"1e+2", b"-1.25E+10",
    b"123456789012345678901234567890", b"9223372036854775807", b"9223372036854775808",
    b"-9223372036854775808", b"-9223372036854775809", b"1e400", b"-1e400", b"1e-400",
    b"4.9e-324", b"2.2250738585072011e-308", b"0.1", b"1.7976931348623157e308",
    b"1.7976931348623159e308", b"100000000000000000000000000000000000000000000000000000",
    b"true", b"false", b"null", b'""', b'"abc"',
    b'"\\u00e9"', b'"\\u00C9\\u00c9"', b'"\\ud83d\\ude00"', b'"\\uD83D\\uDE00x"',
    b'"\\ud83d"', b'"\\ude00"', b'"\\ud83dx"', b'"\\ud83d\\u0041"', b'"\\ude00\\ud83d"',
    b'"\\u0000"', b'"a\\u0000b"', b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', b'"\\x"', b'"\\u12"',
    b'"\\u12G4"', b'"\\U00e9"', b'"\\', b'"abc', b'"',
    "\"h\u00e9llo \u4e2d \U0001F600\"".encode(), b'"\x7f"', b'"\x01"', b'"\t"', b'"\n"',
    b'"\x00"', b'"\xff"', b'"\xc0\xaf"', b'"\xe0\x80\xaf"', b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"', b'"\xe2\x82"', b'"\xe2\x82\xac"', b'"\xc3"', b'"\x80"',
    b'"\xf0\x9f\x98\x80"', b'"\xf5\x80\x80\x80"', b'"\xef\xbf\xbf"', b'"\xf4\x8f\xbf\xbf"',
    b"[1,]", b"[,1]", b"[1,,2]", b"{\"a\":1,}", b"{\"a\" 1}", b"{a:1}", b"{\"a\":1 \"b\":2}",
    b"{\"a\"}", b"{\"a\":}", b"{1:2}", b"{,}",
    b"01", b"-01", b"1.", b".5", b"+1", b"-", b"1e", b"1e+", b"--1", b"0x10", b"1.5.3",
    b"NaN", b"Infinity", b"-Infinity", b"nan", b"tru", b"nulll", b"True", b"[true false]",
    b"{} x", b"{}{}", b"[1] ]", b"", b"  ", b"\t\n\r [ 1 ] \n", b"\x0c1", b"[1]\x00",
    b"\x00", b"\xef\xbb\xbf{}",
    b'{"a":{"b":{"c":[1,2,{"d":null}]}}}', b'{"a":1,"a":2}', b'{"a":1,"A":2}',
    b'{"\\u0061":1,"a":2}', b'{"a":[],"b":{},"c":""}', b'[[[[[]]]]]',
    b'{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k1":10}',
    b'{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10}',
    b'{"":1}', b'{"":1,"":2}', b'{"a\\u0000":1,"a":2}',
    b"[" * 64 + b"]" * 64, b"[" * 65 + b"]" * 65,
    b'{"a":' * 64 + b"1" + b"}" * 64, b'{"a":' * 65 + b"1" + b"}" * 65,
    b"[" * 64 + b"{}" + b"]" * 64, b"[1", b"[1 2]", b"{\"a\":1", b"[\"a\",",
    b"[1e5,-2.5e-3,3.0,1E0]", b"[-0,0,-1,1]", b"[0.30000000000000004]",
    b" { \"x\" : [ 1 , 2 ] , \"y\" : { } } ",
]


def random_doc(rng, d=0):
    r = rng.random()
    if d > 3 or r < 0.4:
        k = int(rng.integers(0, 8))
        if k == 0:
            return None
        if k == 1:
            return bool(rng.integers(0, 2))
        if k == 2:
            return int(rng.integers(-2**62, 2**62))
        if k == 3:
            return float(rng.standard_normal() * 10 ** int(rng.integers(-30, 30)))
        if k == 4:
            return int(rng.integers(-1000, 1000))
        alphabet = "ab \"\\/\t\n\x01\x1f\u00e9\u4e2d\U0001F600\u2028\x7f\ufeff"
        return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), int(rng.integers(0, 12))))
    if r < 0.65:
        return [random_doc(rng, d + 1) for _ in range(int(rng.integers(0, 5)))]
    return {"k%d%s" % (i, random_doc(rng, 9) if i % 3 == 0 else ""): random_doc(rng, d + 1)
            for i in range(int(rng.integers(0, 6)))}


def gen_json():
    rng = np.random.default_rng(99)
    cases = list(JSON_CASES)
    i = 0
    while i < 60:
        o = random_doc(rng)
        s = json.dumps(o, ensure_ascii=bool(i % 2), indent=(2 if i % 3 == 0 else None))
        if len(s) > 400:
            continue
        cases.append(s.encode("utf-8"))
        i += 1
    lines = ["# input-hex expected-canonical-hex ('!' = must fail); generated by gen_fixtures.py"]
    n_ok = 0
    for raw in cases:
        exp = json_expected(raw)
        if raw.startswith(b"\xef\xbb\xbf"):
            exp = json_expected(raw[3:])   # our rule: a leading BOM is skipped
        n_ok += exp is not None
        lines.append("%s %s" % (hexb(raw), "!" if exp is None else hexb(exp)))
    with open(os.path.join(FIX, "json_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("json cases: %d (%d valid)" % (len(cases), n_ok))

    seeds = {}
    for i, raw in enumerate(JSON_CASES[::4]):
        seeds["case%03d.json" % i] = raw
    seeds["config.json"] = json.dumps({
        "architectures": ["BertModel"], "hidden_size": 384, "num_attention_heads": 12,
        "layer_norm_eps": 1e-12, "vocab_size": 30522, "hidden_act": "gelu",
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}, indent=2).encode()
    seeds["tokenizer.json"] = json.dumps({
        "version": "1.0", "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}],
        "normalizer": {"type": "BertNormalizer", "lowercase": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "vocab": {t: i for i, t in enumerate(
                      ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "##s", "\u00e9t\u00e9", "\u4e2d"]
                      + ["w%d" % k for k in range(24)])}}}).encode()
    seeds["modules.json"] = json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
        indent=2).encode()
    write_seeds("json", seeds)


def gen_fp16():
    picks = set(range(0, 0x10000, 97))
    for lo, hi in [(0, 0x20), (0x3F0, 0x410), (0x3BF0, 0x3C10), (0x7BF0, 0x7C10), (0x7DF0, 0x7E10),
                   (0x7FF0, 0x8000)]:
        picks.update(range(lo, hi))
        picks.update(x | 0x8000 for x in range(lo, hi))
    bits = np.array(sorted(picks), dtype=np.uint16)
    f32 = bits.view(np.float16).astype(np.float32).view(np.uint32)
    with open(os.path.join(FIX, "fp16.expect"), "w") as f:
        f.write("# f16 bits -> float32 bits, numpy %s\n" % np.__version__)
        for h, w in zip(bits, f32):
            f.write("%04x %08x\n" % (h, w))


def write_seeds(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, raw in seeds.items():
        assert len(raw) < 64 * 1024
        with open(os.path.join(d, name), "wb") as f:
            f.write(raw)


def main():
    os.makedirs(FIX, exist_ok=True)
    gen_gguf()
    gen_safetensors()
    gen_json()
    gen_fp16()
    total = sum(os.path.getsize(os.path.join(FIX, f)) for f in os.listdir(FIX))
    print("fixtures: %d bytes" % total)
    if total > 100 * 1024:
        sys.exit("fixtures exceed 100 KB")


if __name__ == "__main__":
    main()
