#!/usr/bin/python3
"""Seeds of fuzz_llama_load: tiny LLaMA / Qwen2 GGUFs (dim 32, one layer),
written by test/models/gen_llama.py's writer with its shapes made small.

    /usr/bin/python3 test/fuzz/gen_llama_seeds.py test/fuzz/corpus/llama_load
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import gen_llama as g  # noqa: E402

g.N_LAYERS, g.DIM, g.N_HEAD, g.N_HEAD_KV, g.FFN, g.VOCAB, g.CTX = 1, 32, 2, 1, 64, 384, 64
g.HEAD_DIM = g.DIM // g.N_HEAD


def main(out):
    os.makedirs(out, exist_ok=True)
    specs = [dict(file="llama-f32-tied.gguf", arch="llama", wtype="F32", tied=True, rope=None),
             dict(file="llama-q8_0.gguf", arch="llama", wtype="Q8_0", tied=False, rope=None),
             dict(file="llama-q4_0-linear.gguf", arch="llama", wtype="Q4_0", tied=False, rope="linear"),
             dict(file="llama-q5_0-freqs.gguf", arch="llama", wtype="Q5_0", tied=True, rope="freqs"),
             dict(file="qwen2-f16.gguf", arch="qwen2", wtype="F16", tied=False, rope=None)]
    for s in specs:
        master = g.make_weights(np.random.default_rng(7), s["arch"] == "qwen2")
        g.build_model(os.path.join(out, s["file"]), s, master)


if __name__ == "__main__":
    main(sys.argv[1])
