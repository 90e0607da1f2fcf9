#!/usr/bin/python3
"""Write a small random Universal Sentence Encoder Lite model in the TF.js
layout of the npm package, plus reference token ids and embeddings.

    gen_use.py OUTDIR [SEED]

OUTDIR receives model.json, group1-shard{i}of{n} (small shards, so that
tensors cross shard boundaries), vocab.json, hostile variants of model.json
(model_*.json) and reference.json: for each text its full token ids and the
float64 embedding of its first max_tokens ids.

The tokenizer and forward pass below are written from
../shared/reference/use-lite/SPEC.md sections 1 and 3, in float64 (inputs
are float32 values; the timing-signal angle is a float32 product, as the
spec says).  test/unit/test_use_lite.c compares the C core with them.
"""
import json
import os
import sys
import unicodedata

import numpy as np

A = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
M = "module/Encoder_en/KonaTransformer/Encode/"
S = A + "TransformerStack/"
CP = "/ConcatPartitions/concat"

V_ROWS, E, D, F, HEADS, MAX_TOKENS = 40, 16, 24, 40, 4, 16
SHARD = 1000  # bytes per shard

RESERVED = ["\ufffd", "<s>", "</s>", "extra_token_id_1", "extra_token_id_2",
            "extra_token_id_3"]
PIECES = [
    ("\u2581", -2.0), ("a", -3.0), ("b", -3.5), ("c", -3.2), ("\u2581a", -2.5),
    ("ab", -4.0), ("abc", -4.5), ("\u2581abc", -5.0), ("bc", -3.9), (".", -1.5),
    (",", -1.7), (":", None), ("\u2581:", None), (":)", -6.0), (")", -2.2),
    ("\u2581the", -2.1), ("the", -3.3), ("he", -3.1), ("t", -3.6), ("h", -3.7),
    ("e", -3.8), ("x", -4.1), ("\u2581x", -4.2), ("ab", -1.0), ("\u00e9", -5.5),
    ("\U0001F600", -7.0), ("a\U0001F600", -6.5), ("abcabcabcabcabca", -2.0),
    ("\u2581\u2581", -1.0), ("ful", -4.4), ("l", -4.8), ("\u2581f", -4.9),
]
TEXTS = [
    "abc the x", "", " ", "  ", ":) :(", "a\U0001F600b", "h\u00e9llo", "\uff46\uff55\uff4c\uff4c",
    "the abc, the abc.", "abc " * 12, "abcabcabcabcabcabc", "x\ty\nz", "e\u0301t\u00e9",
    "\u00a0abc\u3000x", "zzz", "a" * 40, "\u2581the", ":::", "the)",
]


def tokenize(text, vocab):
    """Token ids of text, SPEC.md section 1 (full, untruncated)."""
    s = unicodedata.normalize("NFKC", text)
    if not s:
        return []
    s = "\u2581" + s.replace(" ", "\u2581")
    table = {}
    for i, (p, sc) in enumerate(vocab):
        if i >= len(RESERVED):
            table[p] = (i, 0.0 if sc is None else float(sc))  # last wins
    longest = max(len(p) for p in table)
    n = len(s)
    by_end = [[] for _ in range(n + 1)]
    for i in range(n):
        found = False
        for k in range(1, min(longest, n - i) + 1):
            hit = table.get(s[i:i + k])
            if hit is not None:
                by_end[i + k].append((i, hit))
                found = True
        if not found:
            by_end[i + 1].append((i, (0, 0.0)))
    best = [0.0] * (n + 1)
    words = [0] * (n + 1)
    for end in range(n + 1):
        for start, (tid, sc) in sorted(by_end[end], key=lambda c: c[0]):
            v = sc + best[start]
            if best[end] == 0 or v >= best[end]:
                best[end] = v
                words[end] = tid
    out = []
    it = n
    while it > 0:
        tid = words[it]
        if not (tid == 0 and out and out[-1] == 0):
            out.append(tid)
        it -= len(vocab[tid][0].encode("utf-16-le")) // 2
    return out[::-1]


def layer_norm(v, g, b, eps):
    mu = v.mean(-1, keepdims=True)
    d = v - mu
    var = (d * d).mean(-1, keepdims=True)
    return g * d / np.sqrt(var + eps) + b


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def attention(h, p, s):
    """Multi-head self-attention of one sequence, h (T, d)."""
    d = h.shape[1]
    hd = d // HEADS
    qkv = h @ p["wqkv"] + p["bqkv"]
    q, k, v = qkv[:, :d] * s, qkv[:, d:2 * d], qkv[:, 2 * d:]
    heads = []
    for j in range(HEADS):
        c = slice(j * hd, (j + 1) * hd)
        heads.append(softmax(q[:, c] @ k[:, c].T) @ v[:, c])
    return np.concatenate(heads, axis=1) @ p["wout"] + p["bout"]


def ffn(v, p, eps):
    h = layer_norm(v, p["ln_ffn_g"], p["ln_ffn_b"], eps)
    return np.maximum(h @ p["w1"] + p["b1"], 0) @ p["w2"] + p["b2"]


def embed(ids, W, C):
    """float64 embedding of one sequence of (already truncated) ids."""
    d64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v)
           for k, v in W.items()}
    if not ids:
        u = np.tanh(d64["bt"])
    else:
        T = len(ids)
        e = d64["emb"][ids]
        a = (np.arange(T, dtype=np.float32)[:, None] * W["inv_ts"][None, :]).astype(np.float64)
        ts = np.concatenate([np.sin(a), np.cos(a)], axis=1)
        x0 = e + (e + ts)
        L = [{k[3:]: v for k, v in d64.items() if k.startswith("L%d_" % l)} for l in range(2)]
        y = attention(layer_norm(x0, L[0]["ln_att_g"], L[0]["ln_att_b"], C["eps"]), L[0],
                      C["qs0"]) + (x0 @ d64["wres"] + d64["bres"])
        z = ffn(y, L[0], C["eps"]) + y
        y = attention(layer_norm(z, L[1]["ln_att_g"], L[1]["ln_att_b"], C["eps"]), L[1],
                      C["qs1"]) + z
        z = ffn(y, L[1], C["eps"]) + y
        m = z.sum(0) / max(T, 1)
        u = np.tanh(m @ d64["wt"] + d64["bt"])
    return u / np.sqrt(max((u * u).sum(), C["l2eps"]))


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)

    def f32(*shape, scale=1.0, loc=0.0):
        return (loc + scale * rng.standard_normal(shape)).astype(np.float32)

    W = {"emb": f32(V_ROWS, E, scale=0.5),
         "inv_ts": np.exp(-np.arange(E // 2) * np.log(1e4) / (E // 2 - 1)).astype(np.float32),
         "wres": f32(E, D, scale=E ** -0.5), "bres": f32(D, scale=0.1),
         "wt": f32(D, D, scale=D ** -0.5), "bt": f32(D, scale=0.3)}
    for l, din in ((0, E), (1, D)):
        W.update({"L%d_ln_att_g" % l: f32(din, scale=0.1, loc=1.0),
                  "L%d_ln_att_b" % l: f32(din, scale=0.1),
                  "L%d_wqkv" % l: f32(din, 3 * din, scale=din ** -0.5),
                  "L%d_bqkv" % l: f32(3 * din, scale=0.1),
                  "L%d_wout" % l: f32(din, D, scale=din ** -0.5),
                  "L%d_bout" % l: f32(D, scale=0.1),
                  "L%d_ln_ffn_g" % l: f32(D, scale=0.1, loc=1.0),
                  "L%d_ln_ffn_b" % l: f32(D, scale=0.1),
                  "L%d_w1" % l: f32(D, F, scale=D ** -0.5),
                  "L%d_b1" % l: f32(F, scale=0.1),
                  "L%d_w2" % l: f32(F, D, scale=F ** -0.5),
                  "L%d_b2" % l: f32(D, scale=0.1)})
    C = {"eps": float(np.float32(1e-6)), "l2eps": float(np.float32(1e-12)),
         "qs0": float(np.float32((E // HEADS) ** -0.5)),
         "qs1": float(np.float32((D // HEADS) ** -0.5))}

    # manifest entries: (name, array); int32 constants as the real graph has
    ent = []
    for l, din in ((1, D), (0, E)):
        Ll = "Layer_%d/TransformerLayer/" % l
        ent += [(S + Ll + "FFN/conv2/Tensordot/Reshape_1", W["L%d_w2" % l]),
                (S + Ll + "FFN/conv1/Tensordot/Reshape_1", W["L%d_w1" % l]),
                (A + Ll + "FFN/layer_prepostprocess/layer_norm/layer_norm_scale" + CP, W["L%d_ln_ffn_g" % l]),
                (A + Ll + "FFN/layer_prepostprocess/layer_norm/layer_norm_bias" + CP, W["L%d_ln_ffn_b" % l]),
                (A + Ll + "FFN/conv1/bias" + CP, W["L%d_b1" % l]),
                (S + Ll + "FFN/conv1/Tensordot/Const_2", np.array([F], np.int32)),
                (A + Ll + "FFN/conv2/bias" + CP, W["L%d_b2" % l]),
                (S + Ll + "MultiheadAttention/mul/y", np.array(C["qs%d" % l], np.float32)),
                (A + Ll + "layer_prepostprocess/layer_norm/layer_norm_scale" + CP, W["L%d_ln_att_g" % l]),
                (A + Ll + "layer_prepostprocess/layer_norm/layer_norm_bias" + CP, W["L%d_ln_att_b" % l]),
                (M + Ll + "MultiheadAttention/qkv_transform_single/kernel/part_0", W["L%d_wqkv" % l][None, None]),
                (A + Ll + "MultiheadAttention/qkv_transform_single/bias" + CP, W["L%d_bqkv" % l]),
                (S + Ll + "MultiheadAttention/Const", np.array([din] * 3, np.int32)),
                (M + Ll + "MultiheadAttention/output_transform_single/kernel/part_0", W["L%d_wout" % l][None, None]),
                (A + Ll + "MultiheadAttention/output_transform_single/bias" + CP, W["L%d_bout" % l])]
        if l == 1:
            ent.append((S + Ll + "FFN/layer_prepostprocess/layer_norm/Cast/x", np.array(C["eps"], np.float32)))
    ent += [("module/Embeddings_en", W["emb"]),
            (S + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", W["inv_ts"][None]),
            (A + "Layer_0/TransformerLayer/dense/kernel" + CP, W["wres"]),
            (A + "Layer_0/TransformerLayer/dense/bias" + CP, W["bres"]),
            ("module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y", np.array(MAX_TOKENS, np.int32)),
            ("module/Encoder_en/hidden_layers/tanh_layer_0/weights", W["wt"]),
            ("module/Encoder_en/hidden_layers/tanh_layer_0/bias", W["bt"]),
            ("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", np.array(C["l2eps"], np.float32))]

    blob = b"".join(a.astype("<" + a.dtype.str[1:]).tobytes() for _, a in ent)
    shards = [blob[i:i + SHARD] for i in range(0, len(blob), SHARD)]
    names = ["group1-shard%dof%d" % (i + 1, len(shards)) for i in range(len(shards))]
    for nm, data in zip(names, shards):
        with open(os.path.join(out, nm), "wb") as f:
            f.write(data)
    weights = [{"name": n, "shape": list(a.shape), "dtype": "int32" if a.dtype == np.int32 else "float32"}
               for n, a in ent]

    def write_model(fname, ws, paths=names):
        doc = {"modelTopology": {"node": []},
               "weightsManifest": [{"paths": paths, "weights": ws}]}
        with open(os.path.join(out, fname), "w") as f:
            json.dump(doc, f)

    write_model("model.json", weights)
    # hostile variants, each must be refused with PGI_ERR_CORRUPT
    emb_i = [w["name"] for w in weights].index("module/Embeddings_en")
    bad = json.loads(json.dumps(weights))
    bad[emb_i]["name"] = "module/Embeddings_xx"
    write_model("model_missing.json", bad)
    bad = json.loads(json.dumps(weights))
    b2_i = [w["name"] for w in weights].index(A + "Layer_1/TransformerLayer/FFN/conv2/bias" + CP)
    bad[b2_i]["shape"] = [D - 1]
    bad.insert(0, {"name": "pad", "shape": [1], "dtype": "float32"})  # keep the total size
    write_model("model_badshape.json", bad)
    bad = json.loads(json.dumps(weights))
    bad[emb_i]["dtype"] = "int32"
    write_model("model_baddtype.json", bad)
    bad = json.loads(json.dumps(weights))
    bad[-1]["shape"] = [1 << 20]
    write_model("model_offsets.json", bad)
    bad = json.loads(json.dumps(weights))
    bad.append(dict(bad[emb_i]))
    write_model("model_dup.json", bad)
    write_model("model_badpath.json", weights, names[:-1] + ["../" + names[-1]])

    vocab = [[p, 0] for p in RESERVED] + [[p, s] for p, s in PIECES]
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)

    items = []
    for t in TEXTS:
        ids = tokenize(t, vocab)
        items.append({"text": t, "token_ids": ids,
                      "embedding": embed(ids[:MAX_TOKENS], W, C).tolist()})
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"max_tokens": MAX_TOKENS, "n_shards": len(shards), "items": items}, f,
                  ensure_ascii=False)
    print("gen_use: %d shards, %d texts in %s" % (len(shards), len(items), out))


if __name__ == "__main__":
    main()
