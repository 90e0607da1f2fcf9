#!/usr/bin/python3
"""Write seeded random-weight LLaMA-family decoders (llama, qwen2) as GGUF in
every tensor type we read, plus reference logits and greedy continuations
computed independently in float64 (llama_ref.py).

    /usr/bin/python3 test/models/gen_llama.py OUT_DIR [--seed N]
    /usr/bin/python3 test/models/gen_llama.py --self-test [OUT_DIR]

Deterministic: the same bytes for the same seed (numpy default_rng; the llama
files share one set of F32 master weights, the qwen2 files another).  Shape of
every model: 2 layers, dim 256, 8 heads, 2 KV heads (head_dim 32), FFN 512,
vocab 384, RMSNorm eps 1e-5, context 256.  Output (see README.md):

  OUT/llama-f32.gguf          F32, untied output.weight, RoPE theta 1e4
  OUT/llama-tied-f16.gguf     no output.weight (logits = token_embd . norm(x)), 2-D F16
  OUT/llama-bf16.gguf         2-D BF16
  OUT/llama-{q8_0,q4_0,q5_0,q4_k,q5_k,q6_k}.gguf   every 2-D weight (token_embd
                              and output included) in that type, norms F32
  OUT/llama-mixed.gguf        Q4_K_M-like mix (Q4_K, Q6_K, token_embd Q8_0)
  OUT/llama-rope-linear.gguf  F32, rope.scaling linear factor 2
  OUT/llama-rope-freqs.gguf   F32, Llama-3.1-style rope_freqs.weight
  OUT/qwen2-{f32,q8_0}.gguf   qwen2: q/k/v biases, NEOX RoPE theta 1e6, GPT-2 BPE vocab
  OUT/reference.json          per model: config, tensor types, 3 prompts with
                              teacher-forced logits, 64 greedy ids and margins;
                              for models with quantised matrices the same again
                              with ggml-style activation quantisation (aq_*:
                              A8 / A8K round trips, see llama_ref.ActQuant) and
                              each step's distance to a rounding tie;
                              quant_dot rows for the C block-dot tests

--self-test checks the block (de)quantisers against real llama.cpp blocks
(../shared/models/rand15M-quant/blocks.json, skipped when absent) and against
the ggml layout, checks the reference's math against itself (KV cache vs
whole-sequence, GQA, RoPE identities), the activation quantisation against
transcriptions of ggml's quantize_row_q8_0 / quantize_row_q8_K_ref and the
blocks.json activation-round-trip dots, then re-reads every file with its own
parser and re-derives reference.json.  Without OUT_DIR it generates into a
temporary directory first; with OUT_DIR it also regenerates and compares the
bytes.  Exit status 1 on any failure.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
import llama_ref  # noqa: E402
# our GGUF fixture writer's primitives: metadata value type ids and encoders
from gen_fixtures import (ARR, BOOL, F32 as GG_F32, I32, STR, U32,  # noqa: E402
                          gguf_scalar, gguf_string)

# ---------------------------------------------------------------- shapes

N_LAYERS, DIM, N_HEAD, N_HEAD_KV, FFN, VOCAB, CTX = 2, 256, 8, 2, 512, 384, 256
HEAD_DIM = DIM // N_HEAD
EPS = float(np.float32(1e-5))          # as the F32 metadata value holds it
N_GEN = 64
EMB_STD, MAT_STD, OUT_STD = 0.02, 0.02, 0.05   # see make_weights

# ggml types: name -> (id, block size, bytes per block)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18),
        "Q5_0": (6, 32, 22), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144),
        "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "BF16": (30, 1, 2)}
GGML_BY_ID = {v[0]: k for k, v in GGML.items()}
QUANT_TYPES = ("Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K")

f32 = np.float32


# ---------------------------------------------------------------- F16 / BF16


def f16_bytes(x):
    """IEEE half, round to nearest even (numpy == ggml's F16C conversion)."""
    return np.asarray(x, dtype=np.float32).astype("<f2")


def f16_read(raw):
    """uint8 (..., 2) -> float32."""
    return np.ascontiguousarray(raw).view("<f2")[..., 0].astype(np.float32)


def bf16_bits(x):
    """ggml_compute_fp32_to_bf16: round to nearest even on the top 16 bits
    (NaN kept quiet; our weights have none)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r = np.where(nan, (u >> 16) | 64, r)
    return r.astype("<u2")


def bf16_read(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------- quantisers
#
# Each quantiser takes float32 values (length a multiple of the block size)
# and returns the ggml block bytes as uint8 (n_blocks, bytes_per_block).  They
# choose their scales simply (not llama.cpp's search); any valid encoding is
# fine.  The dequantisers are exact: they repeat ggml's float32 arithmetic
# (dequantize_row_*), which blocks.json checks bitwise.


def _safe_inv(d):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d == 0, f32(0), f32(1) / d).astype(np.float32)


def _signed_absmax(b, axis):
    """The element of largest magnitude (with its sign) along axis."""
    i = np.argmax(np.abs(b), axis=axis)
    return np.take_along_axis(b, np.expand_dims(i, axis), axis).squeeze(axis)


def quantize_q8_0(x):
    """d = max|x|/127 (F16), q = round(x/d) in int8.  34 bytes: d | qs[32].
    (Q8_0, Q4_0, Q5_0 divide by the F16-rounded d, which matters only for
    tiny blocks whose d is an F16 subnormal.)"""
    b = x.astype(np.float32).reshape(-1, 32)
    d = f16_bytes(np.abs(b).max(axis=1) / f32(127))
    inv = _safe_inv(d.astype(np.float32))         # q from the stored (F16) d
    q = np.clip(np.rint(b * inv[:, None]), -127, 127).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out


def dequantize_q8_0(raw):
    b = raw.reshape(-1, 34)
    d = f16_read(b[:, :2])
    return (b[:, 2:].view(np.int8).astype(np.float32) * d[:, None]).reshape(-1)


def quantize_q4_0(x):
    """ggml's choice: d = (signed max-|x| value) / -8, so that value is q=0;
    q = min(15, floor(x/d + 8.5)) (values near -8d clip at 7d: error up to
    max|x|/8).  18 bytes: d | qs[16], qs[j] = q[j] |
    q[j+16] << 4 (low nibbles: elements 0..15, high: 16..31)."""
    b = x.astype(np.float32).reshape(-1, 32)
    d = f16_bytes(_signed_absmax(b, 1) / f32(-8))
    inv = _safe_inv(d.astype(np.float32))
    q = np.clip(np.floor(b * inv[:, None] + f32(8.5)), 0, 15).astype(np.uint8)
    out = np.empty((b.shape[0], 18), dtype=np.uint8)
    out[:, :2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out


def dequantize_q4_0(raw):
    b = raw.reshape(-1, 18)
    d = f16_read(b[:, :2])
    qs = b[:, 2:]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - f32(8)
    return (q * d[:, None]).reshape(-1)


def quantize_q5_0(x):
    """d = (signed max-|x| value) / -16, q = min(31, floor(x/d + 16.5)).
    22 bytes: d | qh (uint32 LE, bit j = bit 4 of q[j]) | qs[16] as Q4_0."""
    b = x.astype(np.float32).reshape(-1, 32)
    d = f16_bytes(_signed_absmax(b, 1) / f32(-16))
    inv = _safe_inv(d.astype(np.float32))
    q = np.clip(np.floor(b * inv[:, None] + f32(16.5)), 0, 31).astype(np.uint32)
    qh = ((q >> 4) << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
    out = np.empty((b.shape[0], 22), dtype=np.uint8)
    out[:, :2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:6] = qh.astype("<u4").view(np.uint8).reshape(-1, 4)
    q = q.astype(np.uint8) & 15
    out[:, 6:] = q[:, :16] | (q[:, 16:] << 4)
    return out


def dequantize_q5_0(raw):
    b = raw.reshape(-1, 22)
    d = f16_read(b[:, :2])
    qh = np.ascontiguousarray(b[:, 2:6]).view("<u4")[:, 0]
    qs = b[:, 6:]
    lo = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.uint32)
    hi = (qh[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    q = (lo | (hi << 4)).astype(np.float32) - f32(16)
    return (q * d[:, None]).reshape(-1)


# -- K-quants: super-blocks of 256.  Q4_K / Q5_K: 8 sub-blocks of 32, each
# w = d*sc[j]*q - dmin*m[j] with 6-bit sc, m packed into 12 bytes;
# Q6_K: 16 sub-blocks of 16, w = d*sc[j]*(q - 32) with int8 sc.


def pack_scales_k4(sc, m):
    """8 six-bit scales and mins -> 12 bytes (inverse of get_scale_min_k4):
    bytes 0-3: sc[0..3] | high 2 bits of sc[4..7] in bits 6-7,
    bytes 4-7: m[0..3]  | high 2 bits of m[4..7] in bits 6-7,
    bytes 8-11: low 4 bits of sc[4..7] | low 4 bits of m[4..7] << 4."""
    sc, m = sc.astype(np.uint8), m.astype(np.uint8)
    s = np.empty((sc.shape[0], 12), dtype=np.uint8)
    s[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return s


def unpack_scales_k4(s):
    """12 bytes -> (sc, m), each (n, 8) uint8 (ggml get_scale_min_k4)."""
    sc = np.empty((s.shape[0], 8), dtype=np.uint8)
    m = np.empty_like(sc)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _quantize_k_min(x, qmax):
    """Shared Q4_K / Q5_K choice: per sub-block of 32, step (max-min)/qmax and
    offset -min (min clamped to <= 0); the 8 steps and offsets as 6-bit
    multiples of the F16 super-block d and dmin.  -> (d16, dmin16, sc, m, q)."""
    b = x.astype(np.float32).reshape(-1, 8, 32)
    mn = np.minimum(b.min(axis=2), 0)
    step = (b.max(axis=2) - mn) / f32(qmax)
    d16 = f16_bytes(step.max(axis=1) / f32(63))
    dmin16 = f16_bytes((-mn).max(axis=1) / f32(63))
    d, dmin = d16.astype(np.float32), dmin16.astype(np.float32)
    sc = np.clip(np.rint(step * _safe_inv(d)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.rint(-mn * _safe_inv(dmin)[:, None]), 0, 63).astype(np.uint8)
    d1 = d[:, None] * sc.astype(np.float32)
    m1 = dmin[:, None] * m.astype(np.float32)
    q = np.clip(np.rint((b + m1[..., None]) * _safe_inv(d1)[..., None]), 0, qmax)
    return d16, dmin16, sc, m, q.astype(np.uint8)


def _k_header(d16, dmin16, sc, m):
    return np.concatenate([d16.view(np.uint8).reshape(-1, 2),
                           dmin16.view(np.uint8).reshape(-1, 2),
                           pack_scales_k4(sc, m)], axis=1)


def _k_nibbles(q):
    """q (n, 8, 32) -> qs (n, 128): byte 32g+l = q[2g][l] | q[2g+1][l] << 4."""
    q = q & 15
    return (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)


def quantize_q4_k(x):
    """144 bytes: d (F16) | dmin (F16) | scales[12] | qs[128]."""
    d16, dmin16, sc, m, q = _quantize_k_min(x, 15)
    return np.concatenate([_k_header(d16, dmin16, sc, m), _k_nibbles(q)], axis=1)


def quantize_q5_k(x):
    """176 bytes: d | dmin | scales[12] | qh[32] | qs[128]; bit j of qh[l] is
    bit 4 of element l of sub-block j (element 32j + l)."""
    d16, dmin16, sc, m, q = _quantize_k_min(x, 31)
    bits = ((q >> 4) & 1).astype(np.uint16)                   # (n, 8, 32)
    qh = (bits << np.arange(8, dtype=np.uint16)[None, :, None]).sum(axis=1)
    return np.concatenate([_k_header(d16, dmin16, sc, m),
                           qh.astype(np.uint8), _k_nibbles(q)], axis=1)


def _dequantize_k_min(b, q):
    """b: header bytes (n, >= 16); q: (n, 8, 32) integer quants.
    ggml: d1 = d*sc, m1 = dmin*m in float32, then d1*q - m1 in float32."""
    d, dmin = f16_read(b[:, 0:2]), f16_read(b[:, 2:4])
    sc, m = unpack_scales_k4(b[:, 4:16])
    d1 = d[:, None] * sc.astype(np.float32)
    m1 = dmin[:, None] * m.astype(np.float32)
    return (d1[..., None] * q.astype(np.float32) - m1[..., None]).reshape(-1)


def _k_unnibble(qs):
    """qs (n, 128) -> q (n, 8, 32): sub-block 2g = low nibbles of bytes
    32g..32g+31, sub-block 2g+1 = their high nibbles."""
    qs = qs.reshape(-1, 4, 32)
    return np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)


def dequantize_q4_k(raw):
    b = raw.reshape(-1, 144)
    return _dequantize_k_min(b, _k_unnibble(b[:, 16:144]))


def dequantize_q5_k(raw):
    b = raw.reshape(-1, 176)
    qh = b[:, 16:48]
    hi = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    return _dequantize_k_min(b, _k_unnibble(b[:, 48:176]) | (hi << 4))


def quantize_q6_k(x):
    """210 bytes: ql[128] | qh[64] | scales[16] (int8) | d (F16, last).
    Per sub-block of 16 the signed max-|x| value maps to q = -32 (as ggml),
    step = d*sc.  Element e = 128h + 32k + l (half h, quarter k, l < 32) has
    u = q + 32 in 0..63: low 4 bits in ql[64h + 32(k&1) + l] (k < 2: low
    nibble, else high), high 2 bits in qh[32h + l] bits 2k, 2k+1."""
    b = x.astype(np.float32).reshape(-1, 16, 16)
    step = _signed_absmax(b, 2) / f32(-32)                       # (n, 16)
    d = _signed_absmax(step, 1) / f32(-128)
    d16 = f16_bytes(d)
    sc = np.clip(np.rint(step * _safe_inv(d16.astype(np.float32))[:, None]),
                 -128, 127).astype(np.int8)
    ds = d16.astype(np.float32)[:, None] * sc.astype(np.float32)
    q = np.clip(np.rint(b * _safe_inv(ds)[..., None]), -32, 31)
    u = (q + 32).astype(np.uint8).reshape(-1, 2, 4, 32)          # (n, h, k, l)
    ql = np.concatenate([(u[:, :, 0] & 15) | ((u[:, :, 2] & 15) << 4),
                         (u[:, :, 1] & 15) | ((u[:, :, 3] & 15) << 4)], axis=2)
    qh = ((u[:, :, 0] >> 4) | ((u[:, :, 1] >> 4) << 2) |
          ((u[:, :, 2] >> 4) << 4) | ((u[:, :, 3] >> 4) << 6))
    return np.concatenate([ql.reshape(-1, 128), qh.reshape(-1, 64),
                           sc.view(np.uint8), d16.view(np.uint8).reshape(-1, 2)], axis=1)


def dequantize_q6_k(raw):
    """ggml: w = d * sc * (q - 32), evaluated (d*sc)*q in float32."""
    b = raw.reshape(-1, 210)
    ql = b[:, 0:128].reshape(-1, 2, 2, 32)      # (n, h, j, l): byte 64h + 32j + l
    qh = b[:, 128:192].reshape(-1, 2, 1, 32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    d = f16_read(b[:, 208:210])
    low = np.concatenate([ql & 15, ql >> 4], axis=2)      # k = 0, 1 | 2, 3
    high = (qh >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 3
    q = (low | (high << 4)).astype(np.float32) - f32(32)  # (n, h, k, l)
    ds = (d[:, None] * sc).reshape(-1, 2, 4, 2, 1)         # sub-block 16 wide
    return (ds * q.reshape(-1, 2, 4, 2, 16)).reshape(-1)


QUANTIZE = {"Q8_0": quantize_q8_0, "Q4_0": quantize_q4_0, "Q5_0": quantize_q5_0,
            "Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k}
DEQUANTIZE = {"Q8_0": dequantize_q8_0, "Q4_0": dequantize_q4_0,
              "Q5_0": dequantize_q5_0, "Q4_K": dequantize_q4_k,
              "Q5_K": dequantize_q5_k, "Q6_K": dequantize_q6_k}


def encode(tname, arr):
    """float32 array -> the tensor's data as stored (numpy array of bytes)."""
    flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
    if tname == "F32":
        return flat.astype("<f4")
    if tname == "F16":
        return f16_bytes(flat)
    if tname == "BF16":
        return bf16_bits(flat)
    return QUANTIZE[tname](flat)


def decode(tname, raw):
    """Stored bytes (any numpy array or bytes) -> float32 values, flat."""
    u8 = np.frombuffer(bytes(raw) if isinstance(raw, (bytes, bytearray)) else
                       np.ascontiguousarray(raw).tobytes(), dtype=np.uint8)
    if tname == "F32":
        return u8.view("<f4").astype(np.float32)
    if tname == "F16":
        return u8.view("<f2").astype(np.float32)
    if tname == "BF16":
        return bf16_read(u8.view("<u2"))
    return DEQUANTIZE[tname](u8)


# ---------------------------------------------------------------- GGUF


def write_gguf(path, kvs, tensors, alignment=32):
    """GGUF v3.  kvs: [(key, value type, value)], ARR values as (element
    type, list); tensors: [(name, ggml type name, ne, stored data array)]."""
    head = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for key, t, v in kvs:
        head.append(gguf_string(key.encode()) + struct.pack("<I", t))
        if t == ARR:
            et, vals = v
            head.append(struct.pack("<IQ", et, len(vals)))
            if et == STR:
                head += [gguf_string(s.encode()) for s in vals]
            else:
                dt = {I32: "<i4", U32: "<u4", GG_F32: "<f4"}[et]
                head.append(np.asarray(vals, dtype=dt).tobytes())
        else:
            head.append(gguf_scalar(t, v.encode() if t == STR else v))
    offs, pos = [], 0
    for name, tname, ne, data in tensors:
        pos += -pos % alignment
        offs.append(pos)
        pos += data.nbytes
    for (name, tname, ne, data), off in zip(tensors, offs):
        head.append(gguf_string(name.encode()) + struct.pack("<I", len(ne)) +
                    struct.pack("<%dQ" % len(ne), *ne) +
                    struct.pack("<IQ", GGML[tname][0], off))
    head = b"".join(head)
    with open(path, "wb") as f:
        f.write(head + b"\0" * (-len(head) % alignment))
        start = f.tell()
        for (name, tname, ne, data), off in zip(tensors, offs):
            f.write(b"\0" * (start + off - f.tell()))
            f.write(np.ascontiguousarray(data).tobytes())


def read_gguf(path):
    """Independent parser (self-test): -> (version, {key: (type, value)},
    {name: (type name, ne, raw bytes, absolute offset)}, data start)."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = [0]

    def take(fmt):
        v = struct.unpack_from(fmt, buf, pos[0])
        pos[0] += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string():
        n = take("<Q")
        s = buf[pos[0]:pos[0] + n].decode("utf-8")
        pos[0] += n
        return s

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
              7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def value(t):
        if t == STR:
            return string()
        if t == ARR:
            et, n = take("<I"), take("<Q")
            return (et, [value(et) for _ in range(n)])
        return take(scalar[t])

    if buf[:4] != b"GGUF":
        raise ValueError("bad magic")
    pos[0] = 4
    version, n_t, n_kv = take("<I"), take("<Q"), take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        t = take("<I")
        if k in kv:
            raise ValueError("duplicate key " + k)
        kv[k] = (t, value(t))
    align = kv.get("general.alignment", (U32, 32))[1]
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("<I")
        ne = [take("<Q") for _ in range(nd)]
        infos.append((name, ne, GGML_BY_ID[take("<I")], take("<Q")))
    start = pos[0] + (-pos[0] % align)
    tensors = {}
    for name, ne, tname, off in infos:
        _, bs, ts = GGML[tname]
        nbytes = int(np.prod(ne)) // bs * ts
        if off % align or start + off + nbytes > len(buf):
            raise ValueError("bad offset for " + name)
        tensors[name] = (tname, ne, buf[start + off:start + off + nbytes], start + off)
    return version, kv, tensors, start


# ---------------------------------------------------------------- vocabularies

LLAMA_WORDS = """the a and to of in is it he she was for on with as his her they at
be this have from or one had by but not what all were we when can said there
once upon time little dog cat day sun big red run""".split()
SUFFIXES = "ing ed er es ly st".split()
BIGRAMS = "th he in an re on at en nd ou ha it is or ti te as".split()


def llama_vocab(size):
    """SentencePiece-style: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>,
    then word pieces "▁the" (with every prefix, "▁t", "▁th", so the SPM
    bigram merge can reach them) and suffixes, then single letters with and
    without "▁" and "▁" alone.  -> (tokens, scores, token types)."""
    letters = ["\u2581" + c for c in "abcdefghijklmnopqrstuvwxyz"] + \
        list("abcdefghijklmnopqrstuvwxyz") + ["\u2581"]
    budget = size - 3 - 256
    words = []
    # whole prefix chains while they fit, then two-letter pieces to fill up
    for w in ["\u2581" + w for w in LLAMA_WORDS] + SUFFIXES + BIGRAMS:
        chain = [w[:k] for k in range(2, len(w) + 1) if w[:k] not in words]
        if len(set(words + chain + letters)) <= budget:
            words += chain
    pieces = words + [c for c in letters if c not in words]
    assert len(pieces) == budget, (len(pieces), budget)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)] + pieces
    scores = [0.0] * 259 + [-float(k + 1) for k in range(len(pieces))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    return tokens, scores, types


def bytes_to_unicode():
    """GPT-2's byte -> printable character map, in its order (the order of
    the first 256 tokens of the GPT-2 and Qwen2 vocabularies)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


QWEN_WORDS = """the and to of in is it that was for on with as he at be this from
have or by one had not but what all were when we there can said an each which
do how if will up out time she his her they little once upon day""".split()


def qwen2_vocab(size):
    """GPT-2 byte-level BPE: the 256 byte characters, then merged tokens (each
    the merge of two earlier tokens, built left to right: "Ġ t" -> "Ġt",
    "Ġt h" -> "Ġth", ...), then <|endoftext|> and <|im_end|>.
    -> (tokens, token types, merges)."""
    tokens = [c for _, c in bytes_to_unicode()]
    n_merged = size - 256 - 2
    merges = []
    chains = ["\u0120\u0120", "\u010a\u010a"] + ["\u0120" + w for w in QWEN_WORDS] + \
        SUFFIXES + BIGRAMS
    for w in chains:
        for k in range(2, len(w) + 1):
            if len(merges) == n_merged:
                break
            if w[:k] not in tokens:
                merges.append(w[:k - 1] + " " + w[k - 1])
                tokens.append(w[:k])
    assert len(merges) == n_merged, len(merges)
    tokens += ["<|endoftext|>", "<|im_end|>"]
    types = [1] * (size - 2) + [3, 3]
    return tokens, types, merges


# ---------------------------------------------------------------- weights


def make_weights(rng, bias):
    """F32 master weights {gguf name: float32 array in math shape}, drawn in
    a fixed order.  Matrices and token_embd N(0, 0.02); output N(0, 0.05) so
    the untied logits spread (std ~0.8).  With token_embd at 0.02 the
    attention / FFN updates outweigh the embedding in the residual stream, so
    the tied model does not merely repeat its input token.  Norm weights
    1 + N(0, 0.1); biases N(0, 0.02) (qwen2 only).  output.weight is drawn
    even for the tied file (unused there), so all llama files share weights."""
    def normal(shape, std):
        return rng.standard_normal(shape, dtype=np.float32) * f32(std)

    qd, kvd = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    w = {"token_embd.weight": normal((VOCAB, DIM), EMB_STD)}
    for i in range(N_LAYERS):
        p = "blk.%d." % i
        w[p + "attn_norm.weight"] = 1 + normal((DIM,), 0.1)
        w[p + "attn_q.weight"] = normal((qd, DIM), MAT_STD)
        w[p + "attn_k.weight"] = normal((kvd, DIM), MAT_STD)
        w[p + "attn_v.weight"] = normal((kvd, DIM), MAT_STD)
        if bias:
            w[p + "attn_q.bias"] = normal((qd,), 0.02)
            w[p + "attn_k.bias"] = normal((kvd,), 0.02)
            w[p + "attn_v.bias"] = normal((kvd,), 0.02)
        w[p + "attn_output.weight"] = normal((DIM, qd), MAT_STD)
        w[p + "ffn_norm.weight"] = 1 + normal((DIM,), 0.1)
        w[p + "ffn_gate.weight"] = normal((FFN, DIM), MAT_STD)
        w[p + "ffn_up.weight"] = normal((FFN, DIM), MAT_STD)
        w[p + "ffn_down.weight"] = normal((DIM, FFN), MAT_STD)
    w["output_norm.weight"] = 1 + normal((DIM,), 0.1)
    w["output.weight"] = normal((VOCAB, DIM), OUT_STD)
    return w


def rope_freqs_values():
    """Llama-3.1-style per-frequency divisors (n_rot/2 of them): 1 for the
    fastest rotations rising smoothly to 8 for the slowest, float32."""
    t = np.arange(HEAD_DIM // 2, dtype=np.float64) / (HEAD_DIM // 2 - 1)
    return (1 + 7 * t ** 2).astype(np.float32)


# ---------------------------------------------------------------- models

# Q4_K_M-like mix (llama-mixed.gguf): name suffix -> type
MIX = {"token_embd.weight": "Q8_0", "output.weight": "Q6_K",
       "attn_q.weight": "Q4_K", "attn_k.weight": "Q4_K", "attn_v.weight": "Q6_K",
       "attn_output.weight": "Q4_K", "ffn_gate.weight": "Q4_K",
       "ffn_up.weight": "Q4_K", "ffn_down.weight": "Q6_K"}

# llama_ftype of general.file_type
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q5_0": 8, "Q4_K": 14,
             "Q5_K": 16, "Q6_K": 18, "BF16": 32, "mix": 15}


def model_specs():
    """Every file: name, arch, tensor type of the 2-D weights ("mix" = MIX),
    tied, RoPE variant."""
    s = [dict(file="llama-f32.gguf", arch="llama", wtype="F32"),
         dict(file="llama-tied-f16.gguf", arch="llama", wtype="F16", tied=True),
         dict(file="llama-bf16.gguf", arch="llama", wtype="BF16")]
    for t in QUANT_TYPES:
        s.append(dict(file="llama-%s.gguf" % t.lower(), arch="llama", wtype=t))
    s += [dict(file="llama-mixed.gguf", arch="llama", wtype="mix"),
          dict(file="llama-rope-linear.gguf", arch="llama", wtype="F32", rope="linear"),
          dict(file="llama-rope-freqs.gguf", arch="llama", wtype="F32", rope="freqs"),
          dict(file="qwen2-f32.gguf", arch="qwen2", wtype="F32"),
          dict(file="qwen2-q8_0.gguf", arch="qwen2", wtype="Q8_0")]
    for m in s:
        m.setdefault("tied", False)
        m.setdefault("rope", None)
    return s


def tensor_type(spec, name, arr):
    """1-D tensors (norms, biases, rope_freqs) stay F32."""
    if arr.ndim == 1 or spec["wtype"] == "F32":
        return "F32"
    if spec["wtype"] == "mix":
        return MIX[name if name in MIX else name.split(".", 2)[2]]
    return spec["wtype"]


def model_config(spec):
    """llama_ref config of a model file."""
    qwen = spec["arch"] == "qwen2"
    return llama_ref.make_config(
        N_LAYERS, DIM, N_HEAD, N_HEAD_KV, FFN, VOCAB, EPS,
        1e6 if qwen else 1e4, "neox" if qwen else "norm",
        linear_factor=2.0 if spec["rope"] == "linear" else 1.0,
        rope_freqs=rope_freqs_values() if spec["rope"] == "freqs" else None,
        tied=spec["tied"], bias=qwen)


def tensor_order(spec, w):
    """GGUF names in file order (rope_freqs first, as convert_hf_to_gguf)."""
    names = ["rope_freqs.weight"] if spec["rope"] == "freqs" else []
    names.append("token_embd.weight")
    for i in range(N_LAYERS):
        p = "blk.%d." % i
        for s in ("attn_norm.weight", "attn_q.weight", "attn_q.bias",
                  "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias",
                  "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
                  "ffn_up.weight", "ffn_down.weight"):
            if p + s in w:
                names.append(p + s)
    names.append("output_norm.weight")
    if not spec["tied"]:
        names.append("output.weight")
    return names


def metadata(spec, cfg):
    a = spec["arch"]
    kvs = [("general.architecture", STR, a),
           ("general.name", STR, "pg_infer test %s L%d D%d %s" %
            (a, N_LAYERS, DIM, spec["file"][len(a) + 1:-5])),
           (a + ".block_count", U32, N_LAYERS),
           (a + ".context_length", U32, CTX),
           (a + ".embedding_length", U32, DIM),
           (a + ".feed_forward_length", U32, FFN),
           (a + ".attention.head_count", U32, N_HEAD),
           (a + ".attention.head_count_kv", U32, N_HEAD_KV),
           (a + ".attention.layer_norm_rms_epsilon", GG_F32, EPS),
           (a + ".rope.freq_base", GG_F32, cfg["freq_base"]),
           (a + ".rope.dimension_count", U32, HEAD_DIM)]
    if spec["rope"] == "linear":
        kvs += [(a + ".rope.scaling.type", STR, "linear"),
                (a + ".rope.scaling.factor", GG_F32, cfg["linear_factor"])]
    kvs += [(a + ".vocab_size", U32, VOCAB),
            ("general.file_type", U32, FILE_TYPE[spec["wtype"]]),
            ("general.quantization_version", U32, 2)]
    if a == "llama":
        tokens, scores, types = llama_vocab(VOCAB)
        kvs += [("tokenizer.ggml.model", STR, "llama"),
                ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
                ("tokenizer.ggml.scores", ARR, (GG_F32, scores)),
                ("tokenizer.ggml.token_type", ARR, (I32, types)),
                ("tokenizer.ggml.bos_token_id", U32, 1),
                ("tokenizer.ggml.eos_token_id", U32, 2),
                ("tokenizer.ggml.unknown_token_id", U32, 0),
                ("tokenizer.ggml.add_bos_token", BOOL, True),
                ("tokenizer.ggml.add_eos_token", BOOL, False)]
    else:
        tokens, types, merges = qwen2_vocab(VOCAB)
        kvs += [("tokenizer.ggml.model", STR, "gpt2"),
                ("tokenizer.ggml.pre", STR, "qwen2"),
                ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
                ("tokenizer.ggml.token_type", ARR, (I32, types)),
                ("tokenizer.ggml.merges", ARR, (STR, merges)),
                ("tokenizer.ggml.eos_token_id", U32, tokens.index("<|im_end|>")),
                ("tokenizer.ggml.bos_token_id", U32, tokens.index("<|endoftext|>")),
                ("tokenizer.ggml.add_bos_token", BOOL, False)]
    return kvs


def build_model(path, spec, master):
    """Write one GGUF.  -> (weights as the file holds them, float64 in math
    shape, for the reference; {name: type})."""
    cfg = model_config(spec)
    w = dict(master)
    if spec["rope"] == "freqs":
        w["rope_freqs.weight"] = rope_freqs_values()
    tensors, held, types = [], {}, {}
    for name in tensor_order(spec, w):
        arr = w[name]
        t = tensor_type(spec, name, arr)
        data = encode(t, arr)
        tensors.append((name, t, list(arr.shape[::-1]), data))   # ne[0] = row length
        held[name] = decode(t, data).reshape(arr.shape)
        types[name] = t
    write_gguf(path, metadata(spec, cfg), tensors)
    return llama_ref.as_float64(held), types


# ---------------------------------------------------------------- reference


def prompts(arch):
    """Three prompts: llama ones start with BOS (1); qwen2 ones do not."""
    if arch == "llama":
        rest = np.random.default_rng(7).integers(3, VOCAB, 39)
        return [[1], [1, 100, 200, 37, 5], [1] + [int(t) for t in rest]]
    rest = np.random.default_rng(8).integers(0, VOCAB - 2, 40)
    return [[100], [100, 200, 37, 5, 300], [int(t) for t in rest]]


def r9(x):
    """A float rounded to 9 significant digits."""
    return float("%.9g" % x)


def run_prompts(w, cfg, arch):
    """-> [(prompt, logits (n, V) float64, greedy ids, margins)]."""
    return [(p,) + llama_ref.run(w, cfg, p, N_GEN) for p in prompts(arch)]


def has_act_quant(types):
    """Does any matrix of the model quantise its activations (any weight
    Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K)?"""
    return llama_ref.ActQuant(types).active


def run_prompts_aq(w, cfg, arch, types):
    """The activation-quantised reference (llama_ref.ActQuant; types =
    {tensor name: ggml type}) -> [(prompt, logits, greedy ids, margins,
    boundary distance per prompt position, per generated token)].  The
    distance listed for generated token i is that of the step whose logits
    chose it (i = 0: the last prompt position)."""
    out = []
    for p in prompts(arch):
        aq = llama_ref.ActQuant(types)
        res = llama_ref.run(w, cfg, p, N_GEN, aq)
        d = aq.step_distances
        out.append((p,) + res + (d[:len(p)], d[len(p) - 1:]))
    return out


def config_json(spec, cfg):
    return {"n_layers": N_LAYERS, "dim": DIM, "n_head": N_HEAD,
            "n_head_kv": N_HEAD_KV, "head_dim": HEAD_DIM, "ffn": FFN,
            "vocab": VOCAB, "context_length": CTX, "rms_eps": EPS,
            "rope_freq_base": cfg["freq_base"], "rope_dimension_count": HEAD_DIM,
            "rope_style": cfg["rope_style"],
            "rope_pairs": "(2i, 2i+1)" if cfg["rope_style"] == "norm" else
            "(i, i + head_dim/2)",
            "rope_scaling": {"type": "linear", "factor": cfg["linear_factor"]}
            if spec["rope"] == "linear" else None,
            "rope_freqs": None if cfg["rope_freqs"] is None else
            [float(x) for x in cfg["rope_freqs"]],
            "tied_output": cfg["tied"], "attn_qkv_bias": cfg["bias"]}


def baseline_spec(spec):
    """The F32 model a file is compared with (same arch, tying and RoPE)."""
    return dict(spec, wtype="F32")


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def quant_dot(out, files):
    """For each non-F32 type: row 0 of blk.0.ffn_down.weight (n = FFN) from
    the file of that type, raw bytes and dequantised float32 values, and its
    float64 dot with v = default_rng(42).standard_normal(n, float32)."""
    v = np.random.default_rng(42).standard_normal(FFN, dtype=np.float32)
    doc = {"tensor": "blk.0.ffn_down.weight", "row": 0, "n": FFN,
           "vector": "numpy.random.default_rng(42).standard_normal(n, dtype=numpy.float32)",
           "vector_values": [float(x) for x in v],
           "note": "values: float32 decimals that round-trip exactly; "
                   "dot_f64 = sum of float64(value) * float64(v)",
           "types": {}}
    for t, fname in files:
        _, _, tensors, _ = read_gguf(os.path.join(out, fname))
        tname, ne, raw, off = tensors[doc["tensor"]]
        _, bs, ts = GGML[tname]
        row = raw[:ne[0] // bs * ts]
        vals = decode(tname, row)
        doc["types"][t] = {"file": fname, "ggml_type_id": GGML[t][0],
                           "row_offset_in_file": off, "row_bytes": len(row),
                           "hex": row.hex(), "values": [float(x) for x in vals],
                           "dot_f64": float(np.dot(vals.astype(np.float64),
                                                   v.astype(np.float64)))}
    return doc


def generate(out, seed, quiet=False):
    """Write every file and reference.json into out."""
    os.makedirs(out, exist_ok=True)
    masters = {"llama": make_weights(np.random.default_rng(seed), False),
               "qwen2": make_weights(np.random.default_rng(seed + 1), True)}
    runs_cache = {}

    def runs_of(spec, w):
        key = (spec["arch"], spec["tied"], spec["rope"], spec["wtype"])
        if key not in runs_cache:
            runs_cache[key] = run_prompts(w, model_config(spec), spec["arch"])
        return runs_cache[key]

    models = []
    for spec in model_specs():
        path = os.path.join(out, spec["file"])
        w, types = build_model(path, spec, masters[spec["arch"]])
        cfg = model_config(spec)
        runs = runs_of(spec, w)
        aq_runs = run_prompts_aq(w, cfg, spec["arch"], types) if has_act_quant(types) else None
        m = {"file": spec["file"], "arch": spec["arch"],
             "bytes": os.path.getsize(path), "sha256": sha256_file(path),
             "weights": spec["wtype"] if spec["wtype"] != "mix" else
             "Q4_K_M-like mix", "config": config_json(spec, cfg),
             "tensor_types": types}
        if spec["wtype"] != "F32":
            base = baseline_spec(spec)
            bw = llama_ref.as_float64(dict(masters[spec["arch"]]))
            bruns = runs_of(base, bw)
            m["compared_to"] = "%s F32 weights%s" % (
                spec["arch"], " (tied, not written as a file)" if spec["tied"] else
                " (%s-f32.gguf)" % spec["arch"])
            m["max_abs_logit_diff_vs_f32"] = r9(max(
                np.abs(r[1] - b[1]).max() for r, b in zip(runs, bruns)))
        if aq_runs:
            m["max_abs_aq_logit_diff"] = r9(max(
                np.abs(a[1] - r[1]).max() for a, r in zip(aq_runs, runs)))
        m["runs"] = []
        for k, (p, logits, greedy, margins) in enumerate(runs):
            run = {"prompt_ids": p, "greedy_ids": greedy,
                   "margins": [r9(x) for x in margins],
                   "min_margin": r9(min(margins))}
            if spec["wtype"] != "F32":
                bg = bruns[k][2]
                diff = [i for i in range(N_GEN) if greedy[i] != bg[i]]
                run["first_greedy_diff_vs_f32"] = diff[0] if diff else None
            if aq_runs:
                _, alog, agreedy, amargins, pdist, gdist = aq_runs[k]
                diff = [i for i in range(N_GEN) if agreedy[i] != greedy[i]]
                run.update({"aq_greedy_ids": agreedy,
                            "aq_margins": [r9(x) for x in amargins],
                            "aq_min_margin": r9(min(amargins)),
                            "aq_first_greedy_diff": diff[0] if diff else None,
                            "aq_min_boundary_distance": r9(min(pdist)),
                            "aq_boundary_distances": [r9(x) for x in pdist],
                            "aq_greedy_boundary_distances": [r9(x) for x in gdist]})
            run["logits"] = [[r9(x) for x in row] for row in logits]
            if aq_runs:
                run["aq_logits"] = [[r9(x) for x in row] for row in alog]
            m["runs"].append(run)
        models.append(m)
        if not quiet:
            print("%-24s %8d bytes  min greedy margin %.4g%s" %
                  (spec["file"], m["bytes"], min(r["min_margin"] for r in m["runs"]),
                   "" if not aq_runs else
                   "  aq: max |aq_logits - logits| %.4g, min margin %.4g, "
                   "min boundary distance %.3g" %
                   (m["max_abs_aq_logit_diff"], min(r["aq_min_margin"] for r in m["runs"]),
                    min(r["aq_min_boundary_distance"] for r in m["runs"]))))

    dot_files = [("F16", "llama-tied-f16.gguf"), ("BF16", "llama-bf16.gguf")] + \
        [(t, "llama-%s.gguf" % t.lower()) for t in QUANT_TYPES]
    doc = {
        "format_version": 1,
        "generator": "test/models/gen_llama.py (reference: test/models/llama_ref.py, float64)",
        "seed": seed,
        "conventions": {
            "tensors": "GGUF ne[0] is the contiguous row length = a linear layer's "
                       "input size; W (out, in) is stored row-major with ne [in, out]; "
                       "y = W x",
            "weights": "llama files share one set of F32 master weights "
                       "(default_rng(seed)), qwen2 files another (default_rng(seed+1)); "
                       "a quantised file's reference runs on its own dequantised weights",
            "rope": "theta_i = freq_base^(-2i/head_dim) / rope_freqs[i]; angle = "
                    "(pos / linear factor) * theta_i; rotated pairs: rope_pairs",
            "attention": "causal, scale 1/sqrt(head_dim), query head h reads KV "
                         "head h // (n_head / n_head_kv)",
            "logits": "float64, teacher-forced, at every prompt position, rounded "
                      "to 9 significant digits",
            "greedy": "%d tokens after the prompt, argmax of the float64 logits "
                      "(lowest id wins ties), no stop on EOS; margins = top1 - top2 "
                      "at each step" % N_GEN,
            "max_abs_logit_diff_vs_f32": "max over the 3 prompts' teacher-forced "
                                         "logits of |this model - compared_to|",
            "activation_quantisation":
                "aq_* keys (models with quantised matrices only): the same float64 "
                "model, except that every product with a Q8_0/Q4_0/Q5_0 matrix "
                "multiplies the 'A8' round trip of its input row and every product "
                "with a Q4_K/Q5_K/Q6_K matrix the 'A8K' round trip, as ggml's CPU "
                "kernels do.  A8, per block of 32, float32: amax = max|x|, d = "
                "F16(amax/127) (nearest even), id = 127/amax (0 if amax = 0), "
                "q = rint(x*id) (ties to even), value d*q.  A8K, per block of 256: "
                "max = signed x of largest |x| (first on ties); 0: q = d = 0; else "
                "iscale = -127/max, q = min(127, rint(iscale*x)), d = 1/iscale, value "
                "d*q.  d*q and the dot products are float64.  Inputs: RMSNorm output "
                "(q, k, v, gate, up), attention output (attn_output), silu(gate)*up "
                "(ffn_down), final-norm output (output / tied token_embd).  "
                "aq_min_boundary_distance = min over the teacher-forced prompt "
                "pass of |frac(x*multiplier) - 0.5| (float64 product): below ~1e-6 a "
                "float32 pipeline may round that activation the other way; "
                "aq_first_greedy_diff = first index where aq_greedy_ids differs from "
                "greedy_ids; max_abs_aq_logit_diff = max |aq_logits - logits|"},
        "models": models,
        "quant_dot": quant_dot(out, dot_files),
    }
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        f.write(dumps(doc) + "\n")
    return doc


def dumps(obj, ind=0):
    """JSON with dicts indented and lists of numbers on one line."""
    pad = " " * (ind + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        return "{\n" + ",\n".join(pad + json.dumps(k) + ": " + dumps(v, ind + 1)
                                  for k, v in obj.items()) + "\n" + " " * ind + "}"
    if isinstance(obj, list) and any(isinstance(x, (list, dict)) for x in obj):
        return "[\n" + ",\n".join(pad + dumps(x, ind + 1) for x in obj) + \
            "\n" + " " * ind + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":") if
                      isinstance(obj, list) else (", ", ": "))


# ---------------------------------------------------------------- self-test
#
# Run by --self-test.  Each check prints "ok" or "FAIL" with a detail line.


class Checks:
    def __init__(self):
        self.n = self.failed = 0

    def __call__(self, name, ok, detail=""):
        self.n += 1
        self.failed += 0 if ok else 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", name,
                           ("  (" + detail + ")") if detail else ""))
        return ok


def same_f32(a, b):
    """Bitwise equality of two float32 arrays."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


# -- a second, scalar dequantiser per type, transcribing ggml's C loops
# (dequantize_row_*) element by element, to cross-check the vectorised ones.


def _h(b, i):
    return np.frombuffer(bytes(b[i:i + 2]), dtype="<f2")[0].astype(np.float32)


def _scale_min_k4(j, s):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def scalar_dequantize(t, raw):
    F = np.float32
    _, bs, ts = GGML[t]
    y = []
    for o in range(0, len(raw), ts):
        b = raw[o:o + ts]
        if t == "Q8_0":
            d = _h(b, 0)
            y += [d * F(int(np.int8(np.uint8(b[2 + j])))) for j in range(32)]
        elif t in ("Q4_0", "Q5_0"):
            d = _h(b, 0)
            qh = int.from_bytes(b[2:6], "little") if t == "Q5_0" else 0
            qs = b[6:22] if t == "Q5_0" else b[2:18]
            off = 16 if t == "Q5_0" else 8
            lo, hi = [], []
            for j in range(16):
                xh0 = ((qh >> j) << 4) & 0x10            # bit j     -> bit 4
                xh1 = (qh >> (j + 12)) & 0x10             # bit j+16  -> bit 4
                lo.append(d * F(((qs[j] & 0xF) | xh0) - off))
                hi.append(d * F(((qs[j] >> 4) | xh1) - off))
            y += lo + hi
        elif t in ("Q4_K", "Q5_K"):
            d, dmin, s = _h(b, 0), _h(b, 2), b[4:16]
            qh = b[16:48] if t == "Q5_K" else bytes(32)
            ql = b[48:176] if t == "Q5_K" else b[16:144]
            u1, u2 = 1, 2
            for j in range(4):                            # 64 weights per step
                sc, m = _scale_min_k4(2 * j, s)
                d1, m1 = d * F(sc), dmin * F(m)
                sc, m = _scale_min_k4(2 * j + 1, s)
                d2, m2 = d * F(sc), dmin * F(m)
                q = ql[32 * j:32 * j + 32]
                y += [d1 * F((q[l] & 0xF) + (16 if qh[l] & u1 else 0)) - m1 for l in range(32)]
                y += [d2 * F((q[l] >> 4) + (16 if qh[l] & u2 else 0)) - m2 for l in range(32)]
                u1, u2 = u1 << 2, u2 << 2
        elif t == "Q6_K":
            d = _h(b, 208)
            for n in range(2):
                ql, qh = b[64 * n:64 * n + 64], b[128 + 32 * n:128 + 32 * n + 32]
                sc = [F(int(np.int8(np.uint8(x)))) for x in b[192 + 8 * n:200 + 8 * n]]
                out = [None] * 128
                for l in range(32):
                    i = l // 16
                    q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                    q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                    q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    out[l] = d * sc[i] * F(q1)
                    out[l + 32] = d * sc[i + 2] * F(q2)
                    out[l + 64] = d * sc[i + 4] * F(q3)
                    out[l + 96] = d * sc[i + 6] * F(q4)
                y += out
    return np.array(y, dtype=np.float32)


def random_blocks(t, n, rng):
    """n random raw blocks of type t with finite F16 scales (any bytes else)."""
    _, bs, ts = GGML[t]
    b = rng.integers(0, 256, (n, ts), dtype=np.uint8)
    halves = {"Q8_0": [0], "Q4_0": [0], "Q5_0": [0], "Q4_K": [0, 2],
              "Q5_K": [0, 2], "Q6_K": [208]}[t]
    for o in halves:
        h = (rng.standard_normal(n) * 1e-2).astype("<f2")
        b[:, o:o + 2] = h.view(np.uint8).reshape(-1, 2)
    return b


def shared_dir():
    return os.path.normpath(os.path.join(REPO, "..", "shared", "models", "rand15M-quant"))


def check_blocks_json(ck):
    """Our dequantisers against llama.cpp's real blocks (blocks.json)."""
    path = os.path.join(shared_dir(), "blocks.json")
    if not os.path.exists(path):
        print("skip blocks.json checks: %s not found" % path)
        return
    with open(path) as f:
        bj = json.load(f)
    for t, info in bj["types"].items():
        bad = []
        for blk in info["blocks"]:
            raw = np.frombuffer(bytes.fromhex(blk["hex"]), dtype=np.uint8)
            if not same_f32(decode(t, raw), blk["values"]):
                bad.append("values of block %d" % blk["index"])
            fl = blk["fields"]
            r2 = raw.reshape(1, -1)
            if t in ("Q8_0", "Q4_0", "Q5_0", "Q4_K") and f16_read(r2[:, 0:2])[0] != fl["d"]:
                bad.append("d")
            if t == "Q5_0" and int.from_bytes(bytes(raw[2:6]), "little") != fl["qh"]:
                bad.append("qh")
            if t == "Q4_K":
                sc, m = unpack_scales_k4(r2[:, 4:16])
                if (f16_read(r2[:, 2:4])[0] != fl["dmin"] or list(sc[0]) != fl["sc"]
                        or list(m[0]) != fl["m"]):
                    bad.append("dmin/sc/m")
            if t == "Q6_K" and (f16_read(r2[:, 208:210])[0] != fl["d"] or
                                list(raw[192:208].view(np.int8)) != fl["scales"]):
                bad.append("d/scales")
            if not same_f32(scalar_dequantize(t, bytes(raw)), blk["values"]):
                bad.append("scalar dequantiser, block %d" % blk["index"])
        ck("blocks.json %s: %d blocks, values bitwise and header fields" %
           (t, len(info["blocks"])), not bad, ", ".join(bad))
        gguf = os.path.join(shared_dir(), info["file"])
        if not os.path.exists(gguf):
            print("skip %s whole-tensor check: %s not found" % (t, gguf))
            continue
        # whole tensor, located by our own GGUF reader in llama.cpp's file
        _, _, tensors, _ = read_gguf(gguf)
        tname, ne, raw, off = tensors[info["tensor"]]
        vals = decode(tname, raw)
        wt = info["whole_tensor_dequant"]
        ok = (tname == t and ne == info["shape_ne"] and
              off == info["tensor_data_offset_in_file"] and
              hashlib.sha256(raw).hexdigest() == info["tensor_sha256"] and
              hashlib.sha256(vals.astype("<f4").tobytes()).hexdigest() ==
              wt["sha256_of_f32le_values"] and
              abs(vals.astype(np.float64).sum() - wt["sum_f64"]) <= 1e-9 * wt["sum_abs_f64"])
        ck("blocks.json %s: whole %s (%d values) dequantised, sha256 of float32" %
           (t, info["tensor"], vals.size), ok)
        dot = bj["dot"].get(t)
        if dot:
            v = np.random.default_rng(42).standard_normal(dot["n"], dtype=np.float32)
            got = float(np.dot(vals[:dot["n"]].astype(np.float64), v.astype(np.float64)))
            ck("blocks.json %s: row 0 . v in float64" % t,
               same_f32(v, dot["vector_values"]) and
               abs(got - dot["dot_f64"]) <= 1e-12 * max(1, abs(got)),
               "%.12g vs %.12g" % (got, dot["dot_f64"]))
            # the activation round trip ggml's vec_dot applies to v first
            kind = llama_ref.ACT_KIND[t]
            vq, _ = llama_ref.act_roundtrip(v, kind)
            got = float(np.dot(vals[:dot["n"]].astype(np.float64), vq))
            want = dot["dot_f64_with_activation_roundtrip"]
            ck("blocks.json %s: row 0 . (%s round trip of v) in float64 == "
               "dot_f64_with_activation_roundtrip to 1e-9 relative" % (t, kind),
               abs(got - want) <= 1e-9 * abs(want),
               "%.12g vs %.12g, relative %.2g; llama.cpp's float32 vec_dot %.9g" %
               (got, want, abs(got - want) / abs(want), dot["llamacpp_vec_dot"]))


# Worst-case |dequantised - x| / (max |x| of the block) of our quantisers:
# half a step, except Q4_0 / Q5_0 whose top value clips one step short
# (ggml's choice) and the K-quants whose 6-bit scale and min round too;
# plus F16_TINY for blocks whose F16 scale is subnormal.
QUANT_BOUND = {"Q8_0": 0.006, "Q4_0": 0.13, "Q5_0": 0.065, "Q4_K": 0.09,
               "Q5_K": 0.045, "Q6_K": 0.03}
F16_TINY = 127 * 2.0 ** -24


def check_layouts(ck):
    """Dequantisers against the ggml layout; quantisers by round trip."""
    rng = np.random.default_rng(99)
    # 1. vectorised == scalar transcription of ggml's loops, random raw blocks
    for t in QUANT_TYPES:
        raw = random_blocks(t, 6, rng)
        ck("%s: vectorised dequantiser == scalar ggml-loop transcription "
           "(6 random blocks)" % t, same_f32(decode(t, raw), scalar_dequantize(t, raw.tobytes())))
    # 2. Q5_K (not in blocks.json) from Q4_K, which is: with qh all zero a
    #    Q5_K block is the Q4_K block with the same d, dmin, scales and qs ...
    q4 = random_blocks("Q4_K", 8, rng)
    q5 = np.concatenate([q4[:, :16], np.zeros((8, 32), np.uint8), q4[:, 16:]], axis=1)
    ck("Q5_K with qh = 0 equals Q4_K with the same d, dmin, scales, qs",
       same_f32(decode("Q5_K", q5), decode("Q4_K", q4)))
    # ... and bit b of qh[l] raises exactly element 32b + l by 16 steps
    base = q5[:1]
    sc, m = unpack_scales_k4(base[:, 4:16])
    d, dmin = f16_read(base[:, 0:2])[0], f16_read(base[:, 2:4])[0]
    low = decode("Q4_K", q4[:1])
    ok, where = True, []
    for b in range(8):
        for l in range(32):
            blk = base.copy()
            blk[0, 16 + l] = 1 << b
            diff = np.nonzero(decode("Q5_K", blk) != low)[0]
            e = 32 * b + l
            q = (q4[0, 16 + 32 * (b // 2) + l] >> (4 * (b % 2))) & 15
            want = d * f32(sc[0, b]) * f32(q + 16) - dmin * f32(m[0, b])
            if list(diff) != [e] or decode("Q5_K", blk)[e] != want:
                ok = False
                where.append((b, l))
    ck("Q5_K: bit b of qh[l] adds 16 to quant 32b + l only (256 single-bit blocks)",
       ok, "bad at %s" % where[:4] if where else "")
    # 3. quantisers: round trip within the type's step on varied blocks
    x = np.concatenate([rng.standard_normal(4096) * 0.02,
                        rng.uniform(0.1, 1.0, 512),        # all positive
                        -rng.uniform(0.1, 1.0, 512),       # all negative
                        np.full(512, 0.3), np.zeros(512),
                        rng.standard_normal(512) * np.repeat(10.0 ** rng.integers(-4, 2, 16), 32),
                        np.where(np.arange(512) % 97 == 0, 5.0, 0.01)]).astype(np.float32)
    for t in QUANT_TYPES:
        raw = encode(t, x)
        y = decode(t, raw)
        _, bs, ts = GGML[t]
        blocks = x.reshape(-1, bs)
        amax = np.abs(blocks).max(axis=1)
        err = np.abs(y - x).reshape(-1, bs).max(axis=1)
        rel = (err / np.maximum(amax, 1e-30))[amax > 1e-3].max()
        zero = np.all(y.reshape(-1, bs)[amax == 0] == 0)
        ck("%s quantiser: %d bytes for %d values, max error / block max|x| = %.4f "
           "(bound %g), zero blocks exact" % (t, raw.nbytes, x.size, rel, QUANT_BOUND[t]),
           raw.nbytes == x.size // bs * ts and zero and
           np.all(err <= QUANT_BOUND[t] * amax + F16_TINY))
    # 4. BF16 rounding (ggml_compute_fp32_to_bf16: nearest, ties to even)
    u = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0xC0497FFF,
                  0x7F7FFFFF], dtype=np.uint32)
    want = [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC049, 0x7F80]
    ck("BF16 rounding: ties to even, carries into the exponent",
       list(bf16_bits(u.view(np.float32))) == want)


# -- activation quantisation (llama_ref.act_quantize) against scalar
# transcriptions of the ggml code it emulates.


def ggml_quantize_q8_0_x86(x):
    """ggml-cpu's quantize_row_q8_0 as its x86 (AVX) path computes it, one
    element at a time: per 32 values maxScalar = max |x|, d = maxScalar / 127.f
    stored as F16, id = maxScalar != 0 ? 127.f / maxScalar : 0, q = x * id
    rounded by _MM_ROUND_NEAREST (ties to even: Python's round()).
    -> (q (n/32, 32) int, d (n/32,) float32 = the F16 value)."""
    F = np.float32
    qs, ds = [], []
    for b in range(0, len(x), 32):
        blk = [F(v) for v in x[b:b + 32]]
        mx = F(0)
        for v in blk:
            mx = max(mx, F(abs(v)))
        ds.append(F(np.float16(mx / F(127))))
        inv = F(127) / mx if mx != 0 else F(0)
        qs.append([round(float(F(v * inv))) for v in blk])
    return np.array(qs), np.array(ds, dtype=F)


def ggml_quantize_q8_0_portable(x):
    """ggml's portable quantize_row_q8_0_ref (not what the x86 CPU backend
    runs): id = 1/d with d = amax/127 before the F16 rounding, and roundf
    (ties away from zero).  Used only to show it differs."""
    F = np.float32
    qs = []
    for b in range(0, len(x), 32):
        blk = [F(v) for v in x[b:b + 32]]
        mx = F(0)
        for v in blk:
            mx = max(mx, F(abs(v)))
        d = mx / F(127)
        inv = F(1) / d if d != 0 else F(0)
        qs.append([int(np.sign(t) * np.floor(abs(t) + 0.5)) for t in
                   (float(F(v * inv)) for v in blk)])
    return np.array(qs)


def ggml_nearest_int(f):
    """ggml's nearest_int: add 1.5 * 2^23 in float32, read the low mantissa
    bits (round to nearest, ties to even, for |f| < 2^22)."""
    val = np.float32(f) + np.float32(12582912.0)
    i = int(np.array(val, dtype=np.float32).view(np.int32))
    return (i & 0x007FFFFF) - 0x00400000


def ggml_quantize_q8_K_ref(x):
    """ggml's quantize_row_q8_K_ref, element by element: per 256 values the
    first value of largest |x| is max; amax == 0: d = 0, q = 0; else iscale =
    -127.f / max, q = MIN(127, nearest_int(iscale * x)), d = 1 / iscale.
    -> (q (n/256, 256) int, d (n/256,) float32)."""
    F = np.float32
    qs, ds = [], []
    for b in range(0, len(x), 256):
        blk = [F(v) for v in x[b:b + 256]]
        mx, amax = F(0), F(0)
        for v in blk:
            if F(abs(v)) > amax:
                amax, mx = F(abs(v)), v
        if not amax:
            qs.append([0] * 256)
            ds.append(F(0))
            continue
        iscale = F(-127) / mx
        qs.append([min(127, ggml_nearest_int(F(iscale * v))) for v in blk])
        ds.append(F(1) / iscale)
    return np.array(qs), np.array(ds, dtype=F)


def act_test_vectors(rng):
    """Rows of 512 (2 A8K blocks, 16 A8 blocks) with varied blocks: normal
    values at scales 1e-4 .. 1e3, one-signed, a zero block, exact rounding
    ties (amax 127, so id = iscale = 1), a tie for the largest |x| with
    opposite signs, and a tiny block whose F16 scale is subnormal."""
    rows = [rng.standard_normal(512) * 10.0 ** rng.integers(-4, 4) for _ in range(12)]
    rows.append(np.abs(rng.standard_normal(512)))
    rows.append(-np.abs(rng.standard_normal(512)) * 3)
    r = rng.standard_normal(512)
    r[:32] = 0
    rows.append(r)
    ties = rng.integers(-120, 120, (16, 32)) + 0.5      # exact halves ...
    ties[:, 0] = -127                                   # ... scaled by 1
    ties[0, 1:5] = [2.5, -3.5, 0.5, -0.5]
    rows.append(ties.reshape(-1))
    r = rng.standard_normal(512)
    r[3], r[17] = 5.0, -5.0                             # |max| tie, + first
    r[300], r[301] = -6.0, 6.0                          # - first
    rows.append(r)
    rows.append(rng.standard_normal(512) * 1e-5)        # F16 d subnormal
    return np.array(rows, dtype=np.float32)


def check_act_quant(ck, seed):
    """llama_ref's A8 / A8K activation round trip: against transcriptions of
    ggml's loops, representable inputs, idempotence, boundary distance, and
    whole-model properties of the activation-quantised reference."""
    rng = np.random.default_rng(77)
    X = act_test_vectors(rng)
    # 1. A8 == ggml-cpu x86 quantize_row_q8_0; A8K == quantize_row_q8_K_ref
    q, d, s = llama_ref.act_quantize(X, "A8")
    ok, ndiff = True, 0
    for i, row in enumerate(X):
        gq, gd = ggml_quantize_q8_0_x86(row)
        ok = ok and np.array_equal(q[i], gq) and same_f32(d[i], gd)
        ndiff += int((ggml_quantize_q8_0_portable(row) != gq).sum())
    ck("A8 (Q8_0 / Q4_0 / Q5_0 activations) == scalar transcription of ggml-cpu's "
       "x86 quantize_row_q8_0 (codes and F16 d bitwise; %d rows incl. ties, zero "
       "and F16-subnormal blocks)" % len(X), ok,
       "ggml's portable quantize_row_q8_0_ref (id = 1/d, roundf) differs in %d of "
       "%d codes" % (ndiff, X.size))
    qk, dk, sk = llama_ref.act_quantize(X, "A8K")
    ok = True
    for i, row in enumerate(X):
        gq, gd = ggml_quantize_q8_K_ref(row)
        ok = ok and np.array_equal(qk[i], gq) and same_f32(dk[i], gd)
    ck("A8K (Q4_K / Q5_K / Q6_K activations) == scalar transcription of ggml's "
       "quantize_row_q8_K_ref with nearest_int (codes and d bitwise; signed max, "
       "first of equal |x| wins)", ok)
    ties = X[15].astype(np.float64)
    ck("A8 / A8K round ties to even (blocks with max -127, so id = iscale = 1: "
       "2.5 -> 2, -3.5 -> -4, +-0.5 -> 0)",
       np.array_equal(q[15].reshape(-1), np.rint(ties)) and
       np.array_equal(qk[15].reshape(-1), np.rint(ties)) and
       list(q[15].reshape(-1)[1:5]) == [2, -4, 0, 0] and
       list(qk[15].reshape(-1)[1:5]) == [2, -4, 0, 0])
    # 2. inputs already of the form d*q come back unchanged
    qq = rng.integers(-127, 128, (64, 32))
    qq[np.arange(64), rng.integers(0, 32, 64)] = rng.choice([-127, 127], 64)
    dd = np.abs(rng.standard_normal(64) * 0.01).astype(np.float16).astype(np.float64)
    x8 = (dd[:, None] * qq).reshape(4, 512)
    y8, _ = llama_ref.act_roundtrip(x8, "A8")
    qq = rng.integers(-127, 128, (8, 256))
    qq[np.arange(8), rng.integers(0, 256, 8)] = rng.choice([-127, 127], 8)
    x8k = (2.0 ** rng.integers(-12, 2, 8)[:, None] * qq).reshape(4, 512)
    y8k, _ = llama_ref.act_roundtrip(x8k, "A8K")
    ck("A8 / A8K: activations already representable (d * q, |q| <= 127 with one "
       "|q| = 127; A8 d an F16 value, A8K d a power of two) pass unchanged",
       np.array_equal(y8, x8) and np.array_equal(y8k, x8k))
    # 3. quantising twice
    y, _ = llama_ref.act_roundtrip(X, "A8")
    z, _ = llama_ref.act_roundtrip(y, "A8")
    ck("A8: quantising the round trip again changes nothing (bitwise)",
       np.array_equal(y, z))
    yk, _ = llama_ref.act_roundtrip(X, "A8K")
    q2, d2, _ = llama_ref.act_quantize(yk, "A8K")
    sign = np.sign(dk.astype(np.float64) * d2)
    sign[dk == 0] = 1
    ok = np.array_equal(qk.astype(int), sign[..., None].astype(int) * q2) and \
        np.all(np.abs(np.abs(d2) - np.abs(dk)) <= np.spacing(np.abs(dk)))
    ck("A8K: quantising the round trip again gives the same codes (negated in a "
       "block whose +max and -max tie and the other comes first) and d within "
       "one float32 ulp (1/(-127/max) does not round-trip exactly)", ok,
       "%d blocks negated" % int((sign < 0).sum()))
    # 4. boundary distance: exact ties give 0; else |frac(x*s) - 0.5| by hand
    _, dist_t = llama_ref.act_roundtrip(X[15:16], "A8")
    row = X[0]
    _, gd = ggml_quantize_q8_0_x86(row)
    amax = np.abs(row.reshape(-1, 32)).max(axis=1)
    hand = min(abs(math.modf(abs(float(v) * float(np.float32(127) / a)))[0] - 0.5)
               for blk, a in zip(row.reshape(-1, 32), amax) for v in blk)
    _, dist = llama_ref.act_roundtrip(row, "A8")
    ck("boundary distance: 0 for exact ties; min |frac(x * 127/amax) - 0.5| by hand",
       dist_t == 0 and abs(dist - hand) <= 1e-15, "%.3g vs %.3g" % (dist, hand))
    # 5. whole model
    w = llama_ref.as_float64(make_weights(np.random.default_rng(seed), False))
    spec = model_specs()[0]
    cfg = model_config(spec)
    ids = [1] + [int(t) for t in np.random.default_rng(3).integers(3, VOCAB, 23)]
    base = llama_ref.forward(w, cfg, ids)
    ok = True
    for types in ("F32", "F16", "BF16"):
        aq = llama_ref.ActQuant({n: types for n in w})
        ok = ok and not aq.active and \
            np.array_equal(llama_ref.forward(w, cfg, ids, aq), base)
    ck("activation quantisation with F32 / F16 / BF16 matrices == the plain "
       "reference (bitwise)", ok)
    wq = llama_ref.as_float64(make_weights(np.random.default_rng(seed + 1), True))
    for label, sp, w in (("llama Q8_0", dict(spec, wtype="Q8_0"), w),
                         ("llama Q4_K", dict(spec, wtype="Q4_K"), w),
                         ("tied llama Q5_0", dict(spec, wtype="Q5_0", tied=True), w),
                         ("qwen2 Q6_K", dict(spec, arch="qwen2", wtype="Q6_K"), wq)):
        tm = {n: tensor_type(sp, n, a) for n, a in w.items()}
        cfg = model_config(sp)
        base = llama_ref.forward(w, cfg, ids)
        whole = llama_ref.forward(w, cfg, ids, llama_ref.ActQuant(tm))
        aq = llama_ref.ActQuant(tm)
        dec = llama_ref.Decoder(w, cfg, aq)
        steps = np.array([dec.step(t) for t in ids])
        diff = np.abs(whole - steps).max()
        eff = np.abs(whole - base).max()
        ck("activation-quantised reference (%s matrices, master weights): all "
           "positions at once == KV-cache steps to 1e-12; differs from the plain one" %
           label,
           diff <= 1e-12 and eff > 1e-4,
           "max diff %.2g, effect %.3g, min boundary distance %.2g" %
           (diff, eff, aq.min_distance))


def _expand_gqa(w, cfg):
    """The same model with n_head_kv = n_head: each KV head's rows repeated
    for the query heads that read it."""
    g = cfg["n_head"] // cfg["n_head_kv"]
    hd = cfg["head_dim"]
    w2 = dict(w)
    for k in list(w):
        if ".attn_k." in k or ".attn_v." in k:
            a = w[k].reshape((cfg["n_head_kv"], hd) + w[k].shape[1:])
            w2[k] = np.repeat(a, g, axis=0).reshape((-1,) + w[k].shape[1:])
    return w2, dict(cfg, n_head_kv=cfg["n_head"])


def _neox_to_norm(w, cfg):
    """Reorder each head's q/k rows (i, i + hd/2) -> (2i, 2i+1): adjacent-pair
    RoPE on the result equals NEOX RoPE on the original."""
    hd = cfg["head_dim"]
    perm = np.ravel(np.column_stack([np.arange(hd // 2), np.arange(hd // 2) + hd // 2]))
    w2 = dict(w)
    for k in list(w):
        if ".attn_q." in k or ".attn_k." in k:
            heads = w[k].shape[0] // hd
            a = w[k].reshape((heads, hd) + w[k].shape[1:])
            w2[k] = a[:, perm].reshape(w[k].shape)
    return w2, dict(cfg, rope_style="norm")


def check_reference(ck, seed):
    """The reference against itself: two attention implementations, GQA,
    RoPE identities."""
    masters = {"llama": llama_ref.as_float64(make_weights(np.random.default_rng(seed), False)),
               "qwen2": llama_ref.as_float64(make_weights(np.random.default_rng(seed + 1), True))}
    ids = [1] + [int(t) for t in np.random.default_rng(3).integers(3, VOCAB, 23)]
    logits = {}
    for spec in model_specs():
        if spec["wtype"] not in ("F32", "F16"):
            continue
        cfg = model_config(spec)
        w = masters[spec["arch"]]
        if spec["rope"] == "freqs":
            w = dict(w, **{"rope_freqs.weight": rope_freqs_values().astype(np.float64)})
        whole = llama_ref.forward(w, cfg, ids)
        dec = llama_ref.Decoder(w, cfg)
        steps = np.array([dec.step(t) for t in ids])
        diff = np.abs(whole - steps).max()
        logits[spec["file"]] = whole
        ck("reference %s: all positions at once (causal mask) == one at a time "
           "(KV cache), %d positions" % (spec["file"], len(ids)), diff <= 1e-12,
           "max diff %.2g" % diff)
    base = logits["llama-f32.gguf"]
    # causality: position i does not see later tokens
    cfg = model_config(model_specs()[0])
    other = llama_ref.forward(masters["llama"], cfg, ids[:10] + [7] * 14)
    ck("reference: logits at positions 0..9 do not depend on tokens 10..",
       np.abs(other[:10] - base[:10]).max() == 0)
    # GQA: the same model with each KV head repeated (plain multi-head)
    w2, c2 = _expand_gqa(masters["llama"], cfg)
    diff = np.abs(llama_ref.forward(w2, c2, ids) - base).max()
    ck("reference: GQA (8 query heads, 2 KV heads) == multi-head attention with "
       "KV heads repeated (query head h reads KV head h // 4)", diff <= 1e-12,
       "max diff %.2g" % diff)
    # NEOX pairs (qwen2) == adjacent pairs on permuted q/k rows
    qspec = [s for s in model_specs() if s["file"] == "qwen2-f32.gguf"][0]
    qcfg = model_config(qspec)
    w3, c3 = _neox_to_norm(masters["qwen2"], qcfg)
    diff = np.abs(llama_ref.forward(w3, c3, ids) - logits["qwen2-f32.gguf"]).max()
    ck("reference: NEOX RoPE == adjacent-pair RoPE with q/k rows permuted "
       "(i, i+16) -> (2i, 2i+1) (qwen2 model with biases)", diff <= 1e-12,
       "max diff %.2g" % diff)
    # linear scaling: positions divided by the factor
    x = np.random.default_rng(4).standard_normal((6, 3, HEAD_DIM))
    lin = dict(cfg, linear_factor=2.0)
    p = np.arange(6) * 5
    ok = np.abs(llama_ref.rope(x, 2 * p, lin) - llama_ref.rope(x, p, cfg)).max() <= 1e-13
    ck("reference: RoPE linear factor 2 at position 2p == unscaled at p", ok)
    # rope_freqs all 2 == linear factor 2 (both halve every angle), whole model
    c4 = dict(cfg, rope_freqs=np.full(HEAD_DIM // 2, 2.0))
    diff = np.abs(llama_ref.forward(masters["llama"], c4, ids) -
                  llama_ref.forward(masters["llama"], lin, ids)).max()
    ck("reference: rope_freqs all 2.0 == linear scaling factor 2 (whole model)",
       diff <= 1e-12, "max diff %.2g" % diff)
    # rotation: norms kept, q.k depends on the position difference only;
    # pair i turns by freq_base^(-2i/head_dim) / rope_freqs[i] per position
    fr = model_config([s for s in model_specs() if s["rope"] == "freqs"][0])
    for c in (cfg, qcfg, fr):
        q, k = x[:1, :1], x[1:2, :1]
        dots = [float(np.sum(llama_ref.rope(q, [a + 11], c) * llama_ref.rope(k, [b + 11], c)))
                - float(np.sum(llama_ref.rope(q, [a], c) * llama_ref.rope(k, [b], c)))
                for a, b in ((3, 0), (9, 4), (40, 2))]
        e = np.zeros((1, 1, HEAD_DIM))
        i = 5
        e[0, 0, 2 * i if c["rope_style"] == "norm" else i] = 1
        r = llama_ref.rope(e, [1], c)[0, 0]
        j = (2 * i + 1) if c["rope_style"] == "norm" else i + HEAD_DIM // 2
        ang = c["freq_base"] ** (-2 * i / HEAD_DIM) / (1 if c["rope_freqs"] is None
                                                      else c["rope_freqs"][i])
        ck("reference: RoPE %s%s keeps norms, q.k depends on p_q - p_k only, "
           "pair %d turns by theta_%d" %
           (c["rope_style"], " + rope_freqs" if c is fr else "", i, i),
           max(abs(v) for v in dots) <= 1e-12 and
           abs(np.linalg.norm(llama_ref.rope(x, p, c)) - np.linalg.norm(x)) <= 1e-12 and
           abs(np.arctan2(r[j], r[2 * i if c["rope_style"] == "norm" else i]) - ang) <= 1e-15)


def expected_tokenizer(ck, fname, kv):
    a = kv["general.architecture"][1]
    tokens = kv["tokenizer.ggml.tokens"][1][1]
    types = kv["tokenizer.ggml.token_type"][1][1]
    if a == "llama":
        scores = kv["tokenizer.ggml.scores"][1][1]
        ok = (kv["tokenizer.ggml.model"][1] == "llama" and len(tokens) == VOCAB and
              tokens[:3] == ["<unk>", "<s>", "</s>"] and
              tokens[3:259] == ["<0x%02X>" % i for i in range(256)] and
              types[:259] == [2, 3, 3] + [6] * 256 and set(types[259:]) == {1} and
              len(set(tokens)) == VOCAB and len(scores) == VOCAB and
              kv["tokenizer.ggml.bos_token_id"][1] == 1 and
              kv["tokenizer.ggml.eos_token_id"][1] == 2 and
              kv["tokenizer.ggml.unknown_token_id"][1] == 0 and
              kv["tokenizer.ggml.add_bos_token"][1] is True and
              all(t[:-1] in tokens for t in tokens[259:] if len(t) > 1))
        ck("%s: SPM vocabulary (specials, 256 byte tokens, pieces reachable by "
           "merges, types, ids)" % fname, ok)
    else:
        merges = kv["tokenizer.ggml.merges"][1][1]
        ids = {t: i for i, t in enumerate(tokens)}
        ok = (kv["tokenizer.ggml.model"][1] == "gpt2" and
              kv["tokenizer.ggml.pre"][1] == "qwen2" and len(tokens) == VOCAB and
              tokens[:256] == [c for _, c in bytes_to_unicode()] and
              len(set(tokens[:256])) == 256 and tokens[-2:] == ["<|endoftext|>", "<|im_end|>"] and
              types == [1] * (VOCAB - 2) + [3, 3] and len(merges) == VOCAB - 258 and
              kv["tokenizer.ggml.eos_token_id"][1] == VOCAB - 1 and
              kv["tokenizer.ggml.bos_token_id"][1] == VOCAB - 2 and
              kv["tokenizer.ggml.add_bos_token"][1] is False)
        for k, mg in enumerate(merges):
            left, right = mg.split(" ")
            ok = ok and ids.get(left, 1e9) < 256 + k and ids.get(right, 1e9) < 256 + k \
                and tokens[256 + k] == left + right
        ck("%s: byte-level BPE vocabulary (bytes_to_unicode order, each merge "
           "joins two earlier tokens into the next id, controls last)" % fname, ok)


def close(a, b, tol=1e-8):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * np.maximum(1, np.abs(b))))


AQ_RUN_KEYS = ("aq_greedy_ids", "aq_margins", "aq_min_margin", "aq_first_greedy_diff",
               "aq_min_boundary_distance", "aq_boundary_distances",
               "aq_greedy_boundary_distances", "aq_logits")
AQ_SAFE_DISTANCE = 3e-5     # see README: float32 flips seen up to 1.2e-5


def check_aq_model(ck, m, cfg, held, types, runs):
    """The aq_* keys of one model, re-derived from the weights read back."""
    fname, a = m["file"], m["arch"]
    if not has_act_quant(types):
        ck("%s: no quantised matrix, so no aq_* keys" % fname,
           "max_abs_aq_logit_diff" not in m and
           not any(k in r for r in m["runs"] for k in AQ_RUN_KEYS))
        return
    aq_runs = run_prompts_aq(llama_ref.as_float64(held), cfg, a, types)
    ok = all(k in r for r in m["runs"] for k in AQ_RUN_KEYS)
    for (p, lg, gr, mg, pd, gd), r, pr in zip(aq_runs, m["runs"], runs):
        diff = [i for i in range(N_GEN) if gr[i] != pr[2][i]]
        ok = ok and gr == r["aq_greedy_ids"] and close(lg, r["aq_logits"]) and \
            close(mg, r["aq_margins"]) and r["aq_min_margin"] == r9(min(mg)) and \
            r["aq_first_greedy_diff"] == (diff[0] if diff else None) and \
            len(pd) == len(p) and len(gd) == N_GEN and \
            np.allclose(pd, r["aq_boundary_distances"], rtol=1e-8, atol=0) and \
            np.allclose(gd, r["aq_greedy_boundary_distances"], rtol=1e-8, atol=0) and \
            r["aq_min_boundary_distance"] == r9(min(pd))
    eff = max(np.abs(x[1] - y[1]).max() for x, y in zip(aq_runs, runs))
    kinds = "/".join(sorted({llama_ref.ACT_KIND[t] for t in types.values()
                             if t in llama_ref.ACT_KIND}))
    ck("%s: activation-quantised (%s) reference re-run on the file's weights reproduces "
       "aq_logits, aq_greedy_ids, aq_margins, boundary distances; "
       "max_abs_aq_logit_diff = %.4g as listed" % (fname, kinds, eff),
       ok and abs(eff - m["max_abs_aq_logit_diff"]) <= 1e-7,
       "min aq margin %.3g, min boundary distance %.3g" %
       (min(min(x[3]) for x in aq_runs), min(min(x[4]) for x in aq_runs)))
    # float32 emulation (what a C implementation computes): equal up to the
    # first prompt position whose step came close to a rounding tie
    runs32 = run_prompts_aq(held, cfg, a, types)
    safe = total = flipped = 0
    dmax = 0.0
    for x, r in zip(runs32, m["runs"]):
        cum = np.minimum.accumulate(r["aq_boundary_distances"])
        good = cum >= AQ_SAFE_DISTANCE
        d = np.abs(x[1] - np.array(r["aq_logits"])).max(axis=1)
        safe, total = safe + int(good.sum()), total + len(cum)
        dmax = max([dmax] + list(d[good]))
        flipped += int(d.max() > 1e-4)
    ck("%s: float32 emulation of the activation-quantised pass == aq_logits to 1e-5 at "
       "the %d of %d prompt positions before the boundary distance first drops "
       "below %g" % (fname, safe, total, AQ_SAFE_DISTANCE), dmax <= 1e-5,
       "max %.2g there; %d of 3 prompts differ by > 1e-4 somewhere (a rounding "
       "flipped)" % (dmax, flipped))


def check_files(ck, out, seed):
    """Re-read every file with read_gguf and re-derive reference.json."""
    with open(os.path.join(out, "reference.json")) as f:
        ref = json.load(f)
    masters = {"llama": make_weights(np.random.default_rng(seed), False),
               "qwen2": make_weights(np.random.default_rng(seed + 1), True)}
    specs = {s["file"]: s for s in model_specs()}
    ck("reference.json lists every model", [m["file"] for m in ref["models"]] == list(specs))
    by_file = {m["file"]: m for m in ref["models"]}
    for m in ref["models"]:
        fname, spec = m["file"], specs[m["file"]]
        path = os.path.join(out, fname)
        version, kv, tensors, start = read_gguf(path)
        cfg = model_config(spec)
        a = spec["arch"]
        want_kv = {"general.architecture": (STR, a), a + ".block_count": (U32, N_LAYERS),
                   a + ".context_length": (U32, CTX), a + ".embedding_length": (U32, DIM),
                   a + ".feed_forward_length": (U32, FFN),
                   a + ".attention.head_count": (U32, N_HEAD),
                   a + ".attention.head_count_kv": (U32, N_HEAD_KV),
                   a + ".attention.layer_norm_rms_epsilon": (GG_F32, EPS),
                   a + ".rope.freq_base": (GG_F32, cfg["freq_base"]),
                   a + ".rope.dimension_count": (U32, HEAD_DIM),
                   a + ".vocab_size": (U32, VOCAB),
                   "general.file_type": (U32, FILE_TYPE[spec["wtype"]])}
        if spec["rope"] == "linear":
            want_kv[a + ".rope.scaling.type"] = (STR, "linear")
            want_kv[a + ".rope.scaling.factor"] = (GG_F32, 2.0)
        bad = [k for k, v in want_kv.items() if kv.get(k) != v]
        ck("%s: GGUF v3, %d bytes, sha256 as listed, metadata" % (fname, m["bytes"]),
           version == 3 and start % 32 == 0 and not bad and
           os.path.getsize(path) == m["bytes"] and sha256_file(path) == m["sha256"] and
           kv["general.name"][0] == STR and (a + ".rope.scaling.type" in kv) ==
           (spec["rope"] == "linear"), "bad keys %s" % bad if bad else "")
        expected_tokenizer(ck, fname, kv)
        # tensors: names, types, shapes, values against the master weights
        w = dict(masters[a])
        if spec["rope"] == "freqs":
            w["rope_freqs.weight"] = rope_freqs_values()
        names = tensor_order(spec, w)
        held, errs = {}, []
        shape_ok = list(tensors) == names and \
            {n: t[0] for n, t in tensors.items()} == m["tensor_types"]
        for n in names:
            tname, ne, raw, _ = tensors[n]
            shape_ok = shape_ok and ne == list(w[n].shape[::-1])
            v = decode(tname, raw).reshape(w[n].shape)
            held[n] = v
            if tname == "F32":
                errs.append(same_f32(v, w[n]))
            elif tname == "F16":
                errs.append(same_f32(v, w[n].astype(np.float16).astype(np.float32)))
            elif tname == "BF16":     # integer rounding, independent of bf16_bits
                u = w[n].view(np.uint32).astype(np.int64)
                hi, lo = u >> 16, u & 0xFFFF
                up = (lo > 0x8000) | ((lo == 0x8000) & (hi & 1 == 1))
                errs.append(same_f32(v, ((hi + up) << 16).astype(np.uint32).view(np.float32)))
            else:
                errs.append(np.abs(v - w[n]).max() <=
                            QUANT_BOUND[tname] * np.abs(w[n]).max() + F16_TINY)
        ck("%s: %d tensors, names, ne = [in, out], types as listed, values = master "
           "weights (F32/F16/BF16 exact, quantised within bound)" % (fname, len(names)),
           shape_ok and all(errs))
        # the reference again, on the weights read back from the file
        runs = run_prompts(llama_ref.as_float64(held), cfg, a)
        ok = len(runs) == len(m["runs"]) == 3
        for (p, logits, greedy, margins), r in zip(runs, m["runs"]):
            ok = ok and p == r["prompt_ids"] and greedy == r["greedy_ids"] and \
                close(logits, r["logits"]) and close(margins, r["margins"]) and \
                len(greedy) == N_GEN and len(logits) == len(p)
        ck("%s: reference re-run on the file's weights reproduces logits, greedy ids, "
           "margins" % fname, ok, "min margin %.3g" % min(min(x[3]) for x in runs))
        # a float32 pass (what a C implementation computes) keeps every greedy id
        runs32 = run_prompts(held, cfg, a)
        d32 = max(np.abs(x[1] - np.array(r["logits"])).max() for x, r in zip(runs32, m["runs"]))
        ck("%s: float32 emulation of the forward pass gives the same greedy ids, "
           "|logits - reference| <= 1e-5" % fname,
           d32 <= 1e-5 and all(x[2] == r["greedy_ids"] for x, r in zip(runs32, m["runs"])),
           "max %.2g" % d32)
        if spec["wtype"] == "F16":
            # the F16 file's reference = the F32 master rounded by numpy to F16
            r16 = {n: x.astype(np.float16).astype(np.float64) if x.ndim == 2 else
                   x.astype(np.float64) for n, x in masters[a].items()}
            lg = [llama_ref.run(r16, cfg, r["prompt_ids"], 1)[0] for r in m["runs"]]
            ck("%s: reference == F32 master weights rounded to F16 (numpy)" % fname,
               all(close(x, r["logits"]) for x, r in zip(lg, m["runs"])))
        if "max_abs_logit_diff_vs_f32" in m:
            if spec["tied"]:
                b = [llama_ref.run(llama_ref.as_float64(masters[a]), cfg,
                                   r["prompt_ids"], 1)[0] for r in m["runs"]]
            else:
                b = [bb["logits"] for bb in by_file[a + "-f32.gguf"]["runs"]]
            got = max(np.abs(np.array(r["logits"]) - np.array(x)).max()
                      for r, x in zip(m["runs"], b))
            ck("%s: max |logits - F32 logits| = %.4g as listed" %
               (fname, got), abs(got - m["max_abs_logit_diff_vs_f32"]) <= 1e-7)
        check_aq_model(ck, m, cfg, held, {n: t[0] for n, t in tensors.items()}, runs)
    # quant_dot rows
    qd = ref["quant_dot"]
    v = np.random.default_rng(42).standard_normal(qd["n"], dtype=np.float32)
    ok = same_f32(v, qd["vector_values"])
    for t, e in qd["types"].items():
        _, _, tensors, _ = read_gguf(os.path.join(out, e["file"]))
        tname, ne, raw, off = tensors[qd["tensor"]]
        row = bytes.fromhex(e["hex"])
        vals = scalar_dequantize(t, row) if t in QUANT_TYPES else decode(t, row)
        ok = ok and tname == t and raw[:len(row)] == row and off == e["row_offset_in_file"] \
            and same_f32(vals, e["values"]) and \
            abs(float(np.dot(vals.astype(np.float64), v.astype(np.float64))) -
                e["dot_f64"]) <= 1e-12
    ck("quant_dot: %s rows match the files, values (scalar dequantiser), dot_f64" %
       ",".join(qd["types"]), ok)


def self_test(out, seed):
    t0 = time.time()
    ck = Checks()
    check_blocks_json(ck)
    check_layouts(ck)
    check_reference(ck, seed)
    check_act_quant(ck, seed)
    tmp = tempfile.mkdtemp(prefix="gen_llama_")
    try:
        fresh = os.path.join(tmp, "a")
        generate(fresh, seed, quiet=True)
        if out is None:
            out = fresh
            again = os.path.join(tmp, "b")
            generate(again, seed, quiet=True)
        else:
            again = fresh
        check_files(ck, out, seed)
        names = sorted(os.listdir(out))
        diff = [n for n in names if open(os.path.join(out, n), "rb").read() !=
                open(os.path.join(again, n), "rb").read()]
        ck("deterministic: a second generation gives the same bytes for all %d files"
           % len(names), not diff and names == sorted(os.listdir(again)), " ".join(diff))
    finally:
        shutil.rmtree(tmp)
    print("self-test: %d checks, %d failed, %.1f s" % (ck.n, ck.failed, time.time() - t0))
    return ck.failed == 0


# ---------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", nargs="?")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--self-test", action="store_true",
                   help="run the checks (on OUT if given, else on a fresh temporary output)")
    a = p.parse_args(argv)
    if a.self_test:
        sys.exit(0 if self_test(a.out, a.seed) else 1)
    if not a.out:
        p.error("OUT directory required")
    t0 = time.time()
    generate(a.out, a.seed)
    print("%.1f s -> %s" % (time.time() - t0, a.out))


if __name__ == "__main__":
    main()
