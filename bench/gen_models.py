#!/usr/bin/python3
"""Random-weight LLaMA GGUFs in the shapes of llama2.c's 15M, 42M and 110M
models (vocabulary 32000), for bench/generate: F32, and Q8_0 / a Q4_K_M-like
mix written by test/models/gen_llama.py's quantisers (bench/generate uses
llama.cpp's llama-quantize instead when it is given, so both engines read
the same file).  K-quant rows must be multiples of 256: tensors whose rows
are not fall back as llama-quantize does (Q4_K -> Q5_0, Q6_K -> Q8_0).

    /usr/bin/python3 bench/gen_models.py OUT [15M 42M 110M] [--types f32,q8_0,q4_k_m]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "models"))
import gen_llama as g  # noqa: E402

SHAPES = {"15M": (288, 6, 6, 768), "42M": (512, 8, 8, 1376), "110M": (768, 12, 12, 2048)}
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_0", "Q6_K": "Q8_0"}


def generic_vocab(size):
    """<unk> <s> </s>, the 256 byte tokens, then "▁w0", "▁w1", ... (scores descending)."""
    pieces = ["\u2581w%d" % i for i in range(size - 259)]
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)] + pieces
    return tokens, [0.0] * 259 + [-float(k + 1) for k in range(len(pieces))], \
        [2, 3, 3] + [6] * 256 + [1] * len(pieces)


def tensor_type(spec, name, arr):
    if arr.ndim == 1 or spec["wtype"] == "F32":
        return "F32"
    t = spec["wtype"] if spec["wtype"] != "mix" else \
        g.MIX[name if name in g.MIX else name.split(".", 2)[2]]
    if t in FALLBACK and arr.shape[-1] % 256 != 0:
        t = FALLBACK[t]
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("sizes", nargs="*", default=["15M", "42M", "110M"])
    ap.add_argument("--types", default="f32,q8_0,q4_k_m")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g.llama_vocab = generic_vocab
    g.tensor_type = tensor_type
    for size in a.sizes:
        dim, layers, heads, ffn = SHAPES[size]
        g.N_LAYERS, g.DIM, g.N_HEAD, g.N_HEAD_KV, g.FFN, g.VOCAB, g.CTX = \
            layers, dim, heads, heads, ffn, 32000, 1024
        g.HEAD_DIM = dim // heads
        master = g.make_weights(np.random.default_rng(1234), False)
        for t in a.types.split(","):
            wtype = {"f32": "F32", "q8_0": "Q8_0", "q4_k_m": "mix"}[t]
            path = os.path.join(a.out, "rand%s-%s.gguf" % (size, t))
            if not os.path.exists(path):
                g.build_model(path, dict(file=os.path.basename(path), arch="llama", wtype=wtype,
                                         tied=True, rope=None), master)
            print(path)


if __name__ == "__main__":
    main()
