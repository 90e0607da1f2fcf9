#!/usr/bin/python3
"""Self-test of the files gen_bert.py wrote: re-read every layout from disk
with the small parsers below (not gen_bert.py's writers), run the float64
reference (bert_ref.py) on each, and check

  hf/ (safetensors) and bert-f32.gguf give IDENTICAL outputs (same weights
      in both layouts) and both equal reference.json's "reference";
  hf_sharded/ equals hf/ tensor for tensor;
  bert-f16.gguf, bert-q8_0.gguf, hf_f16/ reproduce reference_f16,
      reference_q8_0, reference_hf_f16;
  vocab.txt, tokenizer.json and the GGUF token list are the same vocabulary,
      and re-tokenising each text gives reference.json's ids;
  the GGUF metadata agrees with config.json.

    /usr/bin/python3 test/models/check_ref.py OUT_DIR [--cases N]
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402

# ---------------------------------------------------------------- safetensors


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<Q", raw, 0)[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    dt = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw, dtype=dt[info["dtype"]], count=(b - a) //
                            np.dtype(dt[info["dtype"]]).itemsize, offset=8 + n + a)
        out[name] = arr.reshape(info["shape"])
    return out


def read_hf_dir(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        out = {}
        with open(idx) as f:
            wmap = json.load(f)["weight_map"]
        for fn in sorted(set(wmap.values())):
            part = read_safetensors(os.path.join(d, fn))
            assert all(wmap[n] == fn for n in part), fn
            out.update(part)
        assert set(out) == set(wmap)
        return out
    return read_safetensors(os.path.join(d, "model.safetensors"))


def hf_weights(t):
    """float32 weights the reference runs on (drop buffers and the pooler)."""
    assert (t["embeddings.position_ids"] == np.arange(t["embeddings.position_ids"].size)).all()
    return {n: v.astype(np.float32) for n, v in t.items()
            if n != "embeddings.position_ids" and not n.startswith("pooler.")}

# ---------------------------------------------------------------- GGUF


class Reader:
    def __init__(self, raw):
        self.raw, self.pos = raw, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.raw, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take("Q")
        s = self.raw[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def value(self, t):
        fmts = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
                10: "Q", 11: "q", 12: "d"}
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        return self.take(fmts[t])


def read_gguf(path):
    """-> (metadata dict, {name: (type name, float32 array shaped ne[::-1])}).
    ne[0] is the fastest-varying dimension, so numpy's C-order shape is ne
    reversed: an HF (out, in) matrix has ne = [in, out]."""
    with open(path, "rb") as f:
        raw = f.read()
    r = Reader(raw)
    assert r.raw[:4] == b"GGUF"
    r.pos = 4
    version, n_t, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    assert version == 3
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take("I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        ne = [r.take("Q") for _ in range(r.take("I"))]
        infos.append((name, ne, r.take("I"), r.take("Q")))
    align = meta.get("general.alignment", 32)
    start = (r.pos + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        shape = ne[::-1]
        at = start + off
        if t == 0:
            arr, tn = np.frombuffer(raw, "<f4", n, at), "F32"
        elif t == 1:
            arr, tn = np.frombuffer(raw, "<f2", n, at).astype(np.float32), "F16"
        elif t == 8:   # Q8_0: per 32 values an F16 scale then 32 int8
            blk = np.frombuffer(raw, np.uint8, n // 32 * 34, at).reshape(-1, 34)
            d = blk[:, :2].copy().view("<f2").astype(np.float32)
            arr, tn = (blk[:, 2:].copy().view(np.int8) * d).reshape(-1), "Q8_0"
        else:
            raise ValueError("%s: ggml type %d" % (name, t))
        tensors[name] = (tn, arr.reshape(shape))
    return meta, tensors


def gguf_to_hf(tensors, layers):
    m = {"token_embd": "embeddings.word_embeddings",
         "position_embd": "embeddings.position_embeddings",
         "token_types": "embeddings.token_type_embeddings",
         "token_embd_norm": "embeddings.LayerNorm"}
    lm = {"attn_q": "attention.self.query", "attn_k": "attention.self.key",
          "attn_v": "attention.self.value", "attn_output": "attention.output.dense",
          "attn_output_norm": "attention.output.LayerNorm",
          "ffn_up": "intermediate.dense", "ffn_down": "output.dense",
          "layer_output_norm": "output.LayerNorm"}
    out = {}
    for name, (_, arr) in tensors.items():
        base, suffix = name.rsplit(".", 1)
        if base.startswith("blk."):
            _, n, rest = base.split(".")
            assert int(n) < layers
            hf = "encoder.layer.%s.%s.%s" % (n, lm[rest], suffix)
        else:
            hf = "%s.%s" % (m[base], suffix)
        out[hf] = arr
    return out


def unphantom(tok, ttype):
    if ttype == 3:
        return tok
    return tok[1:] if tok.startswith("\u2581") else "##" + tok

# ---------------------------------------------------------------- checks


def run(weights, cfg, cases):
    return [bert_ref.embeddings(weights, cfg, [c["ids"]])[0][0] for c in cases]


def same(a, b):
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in x)


def max_diff(embs, cases, key):
    return max(float(np.abs(e[k] - np.array(c[key][k])).max())
               for e, c in zip(embs, cases) for k in e)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--cases", type=int, default=0, help="check only the first N texts")
    a = p.parse_args()
    with open(os.path.join(a.out, "reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    cases = ref["cases"][:a.cases] if a.cases else ref["cases"]
    with open(os.path.join(a.out, "hf", "config.json")) as f:
        conf = json.load(f)
    cfg = {k: conf[k] for k in ("num_attention_heads", "num_hidden_layers", "layer_norm_eps")}
    L = conf["num_hidden_layers"]
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok = ok and bool(cond)

    # vocabulary and tokenisation
    with open(os.path.join(a.out, "hf", "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    with open(os.path.join(a.out, "hf", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    check(tj["model"]["vocab"] == {t: i for i, t in enumerate(vocab)},
          "tokenizer.json vocab == vocab.txt (%d tokens)" % len(vocab))
    vmap = {t: i for i, t in enumerate(vocab)}
    check(all(bert_ref.tokenize(c["text"], vmap, ref["config"]["max_seq_length"])[1]
              == c["ids"] for c in ref["cases"]), "re-tokenised ids == reference.json ids")

    # F32: safetensors vs GGUF
    hf = read_hf_dir(os.path.join(a.out, "hf"))
    w_hf = hf_weights(hf)
    meta, gt = read_gguf(os.path.join(a.out, "bert-f32.gguf"))
    w_gg = gguf_to_hf(gt, L)
    check(set(w_hf) == set(w_gg) and all(np.array_equal(w_hf[n], w_gg[n]) for n in w_hf),
          "bert-f32.gguf holds hf/'s weights (%d tensors, transposed layout)" % len(w_gg))
    e_hf, e_gg = run(w_hf, cfg, cases), run(w_gg, cfg, cases)
    check(same(e_hf, e_gg), "reference on hf/ and on bert-f32.gguf: identical outputs")
    d = max_diff(e_hf, cases, "reference")
    check(d < 1e-12, "hf/ reproduces reference.json 'reference' (max diff %.2g)" % d)

    # GGUF metadata and vocabulary
    expect = {"general.architecture": "bert", "bert.block_count": L,
              "bert.context_length": conf["max_position_embeddings"],
              "bert.embedding_length": conf["hidden_size"],
              "bert.feed_forward_length": conf["intermediate_size"],
              "bert.attention.head_count": conf["num_attention_heads"],
              "bert.attention.causal": False, "bert.pooling_type": 1,
              "tokenizer.ggml.model": "bert", "tokenizer.ggml.cls_token_id": vmap["[CLS]"],
              "tokenizer.ggml.seperator_token_id": vmap["[SEP]"],
              "tokenizer.ggml.padding_token_id": vmap["[PAD]"],
              "tokenizer.ggml.unknown_token_id": vmap["[UNK]"],
              "tokenizer.ggml.mask_token_id": vmap["[MASK]"]}
    bad = [k for k, v in expect.items() if meta.get(k) != v]
    check(not bad and abs(meta["bert.attention.layer_norm_epsilon"] - conf["layer_norm_eps"])
          <= 1e-6 * conf["layer_norm_eps"],
          "GGUF metadata matches config.json" + (" (differs: %s)" % bad if bad else ""))
    toks = [unphantom(t, tt) for t, tt in zip(meta["tokenizer.ggml.tokens"],
                                             meta["tokenizer.ggml.token_type"])]
    check(toks == vocab, "GGUF phantom-space tokens map back to vocab.txt")

    # llama.cpp conventions: ne of the main tensors (llama.cpp's BERT loader
    # wants tok_embd {n_embd, n_vocab}, ffn_up {n_embd, n_ff}, ...) and which
    # tensors convert_hf_to_gguf.py leaves F32 in F16 / Q8_0 files
    H, F, V = conf["hidden_size"], conf["intermediate_size"], len(vocab)
    ne_want = {"token_embd.weight": [H, V], "token_types.weight": [H, 2],
               "position_embd.weight": [H, conf["max_position_embeddings"]],
               "blk.0.attn_q.weight": [H, H], "blk.0.attn_output.weight": [H, H],
               "blk.0.ffn_up.weight": [H, F], "blk.0.ffn_down.weight": [F, H],
               "blk.0.ffn_up.bias": [F], "token_embd_norm.weight": [H]}
    check(all(list(gt[n][1].shape[::-1]) == ne for n, ne in ne_want.items()),
          "GGUF ne order: ne[0] = input dimension (token_embd [%d, %d])" % (H, V))
    check(len(gt) == 5 + 16 * L and "pooler.dense.weight" not in gt,
          "GGUF has %d tensors (5 + 16 per layer, no pooler)" % len(gt))
    for ftype, low in (("f16", "F16"), ("q8_0", "Q8_0")):
        path = os.path.join(a.out, "bert-%s.gguf" % ftype)
        if not os.path.exists(path):
            continue
        types = {n: t for n, (t, _) in read_gguf(path)[1].items()}
        want = {n: ("F32" if n.endswith(".bias") or "norm" in n or n in (
            "position_embd.weight", "token_types.weight") else low) for n in types}
        check(types == want, "bert-%s.gguf: 2-D weights incl. token_embd %s, "
              "rest F32 (%d %s)" % (ftype, low, sum(t == low for t in types.values()), low))

    # sharded
    if os.path.isdir(os.path.join(a.out, "hf_sharded")):
        sh = read_hf_dir(os.path.join(a.out, "hf_sharded"))
        check(set(sh) == set(hf) and all(np.array_equal(sh[n], hf[n]) for n in hf),
              "hf_sharded/ == hf/ tensor for tensor")

    # low-precision layouts against their own reference sets
    for label, key, load in (
            ("bert-f16.gguf", "reference_f16",
             lambda p: gguf_to_hf(read_gguf(p)[1], L)),
            ("bert-q8_0.gguf", "reference_q8_0",
             lambda p: gguf_to_hf(read_gguf(p)[1], L)),
            ("hf_f16", "reference_hf_f16", lambda p: hf_weights(read_hf_dir(p)))):
        path = os.path.join(a.out, label)
        if not os.path.exists(path) or key not in cases[0]:
            continue
        w = load(path)
        d = max_diff(run(w, cfg, cases), cases, key)
        dw = max(float(np.abs(w[n] - w_hf[n]).max()) for n in w_hf)
        check(d < 1e-12, "%s reproduces %s (max diff %.2g; max weight error vs F32 %.3g)"
              % (label, key, d, dw))
    print("all checks passed" if ok else "CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
