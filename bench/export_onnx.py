#!/usr/bin/python3
"""Export a sentence-transformers BERT directory (the random-weight models
test/models/gen_bert.py writes as OUT/hf, read by bench/embed) to ONNX, for
bench/embed's side-by-side mode against ONNX Runtime.

    /usr/bin/python3 bench/export_onnx.py HF_DIR OUT.onnx [--opset 14] [--fused FUSED.onnx]

The graph takes input_ids and attention_mask (int64, batch x tokens, both
axes dynamic) and returns "embedding" (float32, batch x hidden): the
BertModel encoder, mean pooling over the attended tokens and L2
normalisation, as sentence-transformers computes it, so the output is the
vector pg_infer's embed() returns for the same token ids.  token_type_ids are
all 0 (one segment), positions 0..T-1.

The module is written here in plain torch (no transformers package), with
the operations in Hugging Face's BertModel order and spelling (attention mask
as (1 - mask) * -10000 added to the scores, GELU with erf), so ONNX Runtime's
graph optimiser recognises the same patterns it fuses in exported Hugging Face
models (LayerNorm, GELU, attention).  The weights are read from
model.safetensors with a small reader (the safetensors package is not needed).

ONNX Runtime's optimiser at session creation (level "all") fuses LayerNorm,
GELU and the attention scale of this graph, but not attention itself nor the
residual adds (its runtime fusions need static shapes the dynamic export does
not carry).  --fused also writes the graph its Python transformers optimiser
(optimize_model(model_type="bert")) would make, built directly with onnx.helper
from the same weights: EmbedLayerNormalization, Attention (packed QKV),
SkipLayerNormalization and BiasGelu from ORT's com.microsoft domain, then the
same pooling and normalisation.  token_type_ids are all 0, so the token type 0
row is added into the position table and the op's segment inputs are left out.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    """{name: ndarray} from one safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=ST_DTYPES[meta["dtype"]]).reshape(meta["shape"])
    return out


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask_add):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + mask_add, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class Layer(nn.Module):
    def __init__(self, hidden, heads, ffn, eps):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, ffn)
        self.output = nn.Linear(ffn, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, mask_add):
        x = self.attention_norm(self.attention_out(self.attention(x, mask_add)) + x)
        h = nn.functional.gelu(self.intermediate(x))        # exact GELU (erf)
        return self.output_norm(self.output(h) + x)


class SentenceBert(nn.Module):
    """BertModel + mean pooling + L2 normalisation."""

    def __init__(self, cfg):
        super().__init__()
        H, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.word = nn.Embedding(cfg["vocab_size"], H)
        self.position = nn.Embedding(cfg["max_position_embeddings"], H)
        self.token_type = nn.Embedding(cfg["type_vocab_size"], H)
        self.norm = nn.LayerNorm(H, eps=eps)
        self.layers = nn.ModuleList(Layer(H, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                    for _ in range(cfg["num_hidden_layers"]))
        self.register_buffer("position_ids", torch.arange(cfg["max_position_embeddings"])[None])

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        x = self.word(input_ids) + self.token_type(torch.zeros_like(input_ids)) + \
            self.position(self.position_ids[:, :t])
        x = self.norm(x)
        mask_add = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_add)
        m = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1)


def load_weights(model, w, cfg):
    """Copy the HF state dict (names as BertModel's) into the module."""
    t = lambda n: torch.from_numpy(np.array(w[n], dtype=np.float32))  # noqa: E731
    sd = {"word.weight": t("embeddings.word_embeddings.weight"),
          "position.weight": t("embeddings.position_embeddings.weight"),
          "token_type.weight": t("embeddings.token_type_embeddings.weight"),
          "norm.weight": t("embeddings.LayerNorm.weight"),
          "norm.bias": t("embeddings.LayerNorm.bias"),
          "position_ids": model.position_ids}
    names = {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
             "attention.value": "attention.self.value", "attention_out": "attention.output.dense",
             "attention_norm": "attention.output.LayerNorm", "intermediate": "intermediate.dense",
             "output": "output.dense", "output_norm": "output.LayerNorm"}
    for i in range(cfg["num_hidden_layers"]):
        for ours, theirs in names.items():
            for p in ("weight", "bias"):
                sd["layers.%d.%s.%s" % (i, ours, p)] = t("encoder.layer.%d.%s.%s" % (i, theirs, p))
    model.load_state_dict(sd, strict=True)


def write_fused(path, w, cfg, opset):
    """The ORT-fused graph of the same model (see the module comment)."""
    from onnx import TensorProto, helper, numpy_helper
    H, L, eps = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["layer_norm_eps"]
    f32 = lambda n: np.ascontiguousarray(np.array(w[n], dtype=np.float32))  # noqa: E731
    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs, domain="", **attrs):
        nodes.append(helper.make_node(op, ins, outs, name="%s_%d" % (op, len(nodes)),
                                      domain=domain, **attrs))
        return outs[0]

    ms = "com.microsoft"
    e = "embeddings."
    ids32 = node("Cast", ["input_ids"], ["ids32"], to=TensorProto.INT32)
    mask32 = node("Cast", ["attention_mask"], ["mask32"], to=TensorProto.INT32)
    pos = f32(e + "position_embeddings.weight") + f32(e + "token_type_embeddings.weight")[0]
    x = node("EmbedLayerNormalization",
             [ids32, "", init("word", f32(e + "word_embeddings.weight")), init("pos", pos), "",
              init("emb_g", f32(e + "LayerNorm.weight")), init("emb_b", f32(e + "LayerNorm.bias"))],
             ["emb", "emb_mask_index"], domain=ms, epsilon=eps)
    for i in range(L):
        p = "encoder.layer.%d." % i
        a = p + "attention.self."
        wqkv = np.concatenate([f32(a + s + ".weight").T for s in ("query", "key", "value")], 1)
        bqkv = np.concatenate([f32(a + s + ".bias") for s in ("query", "key", "value")])
        att = node("Attention", [x, init("qkv_w%d" % i, wqkv), init("qkv_b%d" % i, bqkv), mask32],
                   ["att%d" % i], domain=ms, num_heads=cfg["num_attention_heads"])
        o = node("MatMul", [att, init("ao_w%d" % i, f32(p + "attention.output.dense.weight").T)],
                 ["ao%d" % i])
        x = node("SkipLayerNormalization",
                 [o, x, init("ln1_g%d" % i, f32(p + "attention.output.LayerNorm.weight")),
                  init("ln1_b%d" % i, f32(p + "attention.output.LayerNorm.bias")),
                  init("ao_b%d" % i, f32(p + "attention.output.dense.bias"))],
                 ["ln1_%d" % i], domain=ms, epsilon=eps)
        h = node("MatMul", [x, init("i_w%d" % i, f32(p + "intermediate.dense.weight").T)], ["i%d" % i])
        h = node("BiasGelu", [h, init("i_b%d" % i, f32(p + "intermediate.dense.bias"))],
                 ["gelu%d" % i], domain=ms)
        o = node("MatMul", [h, init("o_w%d" % i, f32(p + "output.dense.weight").T)], ["o%d" % i])
        x = node("SkipLayerNormalization",
                 [o, x, init("ln2_g%d" % i, f32(p + "output.LayerNorm.weight")),
                  init("ln2_b%d" % i, f32(p + "output.LayerNorm.bias")),
                  init("o_b%d" % i, f32(p + "output.dense.bias"))],
                 ["ln2_%d" % i], domain=ms, epsilon=eps)
    # mean pooling over the attended tokens, then v / max(||v||_2, 1e-12)
    m = node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT)
    m3 = node("Unsqueeze", [m, init("ax2", np.array([2], np.int64))], ["mask3"])
    s = node("ReduceSum", [node("Mul", [x, m3], ["masked"]), init("ax1", np.array([1], np.int64))],
             ["sum"], keepdims=0)
    n = node("Clip", [node("ReduceSum", [m3, "ax1"], ["count"], keepdims=0),
                      init("tiny", np.array(1e-9, np.float32))], ["count_c"])
    v = node("Div", [s, n], ["mean"])
    norm = node("Max", [node("ReduceL2", [v], ["l2"], axes=[1], keepdims=1),
                        init("eps12", np.array(1e-12, np.float32))], ["l2c"])
    node("Div", [v, norm], ["embedding"])
    graph = helper.make_graph(
        nodes, "sentence_bert_fused",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(ms, 1)])
    model.ir_version = 8
    with open(path + ".tmp", "wb") as f:
        f.write(model.SerializeToString())
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--fused", metavar="FUSED.onnx")
    a = ap.parse_args()
    with open(os.path.join(a.hf_dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(a.hf_dir, "model.safetensors"))
    torch.manual_seed(0)
    model = SentenceBert(cfg)
    load_weights(model, w, cfg)
    model.eval()
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), tmp, opset_version=a.opset,
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "embedding": {0: "batch"}},
                          do_constant_folding=True)
    os.replace(tmp, a.out)
    if a.fused:
        write_fused(a.fused, w, cfg, a.opset)
    print("%s: %d layers, hidden %d, heads %d, ffn %d, vocab %d, opset %d" % (
        a.out, cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"],
        cfg["intermediate_size"], cfg["vocab_size"], a.opset))


if __name__ == "__main__":
    sys.exit(main())
