#!/usr/bin/python3
"""Independent float64 reference of a LLaMA-family decoder (llama, qwen2).

Written from the model's math (LLaMA: Touvron et al. 2023; RoPE: Su et al.
2021; grouped-query attention: Ainslie et al. 2023) and llama.cpp's GGUF
conventions, with numpy only.  Nothing here calls pg_infer code;
gen_llama.py uses it to produce, and --self-test to re-check, the
test/models LLaMA / Qwen2 reference logits.

Weights: a dict keyed by GGUF tensor name, float64 arrays in math shape.  A
linear layer W of GGUF ne [in, out] is the row-major (out, in) matrix, so
y = W @ x; token_embd / output (ne [dim, vocab]) are (vocab, dim); norm
weights, biases and rope_freqs are vectors.  The weights are taken exactly as
the file stores them (after dequantisation): there is no HF-to-GGUF q/k row
permutation to undo, the rotation pairs below apply to the GGUF rows.

Forward pass for token ids t_0..t_{n-1} at positions 0..n-1:
    x = token_embd[t_i]
    per layer:
        a = RMSNorm(x) * attn_norm
        q, k, v = Wq a (+bq), Wk a (+bk), Wv a (+bv)          (bias: qwen2)
        q, k = RoPE(q, pos), RoPE(k, pos)          per head of head_dim values
        o_h = softmax_j<=i(q_h . k_g / sqrt(head_dim)) v_g,  g = h // (n_head / n_head_kv)
        h = x + Wo concat(o_h)
        f = RMSNorm(h) * ffn_norm
        x = h + W_down (silu(W_gate f) * (W_up f)),   silu(z) = z / (1 + e^-z)
    logits = W_out (RMSNorm(x) * output_norm),  W_out = output, or token_embd if tied
RMSNorm(x) = x / sqrt(mean(x^2) + eps).
RoPE at position p: theta_i = freq_base^(-2i/head_dim) / f_i  (i < head_dim/2;
f_i = rope_freqs[i], else 1), angle = (p / linear_factor) * theta_i, and the pair
(a, b) -> (a cos - b sin, a sin + b cos).  Pairs: "norm" (llama) = (2i, 2i+1),
"neox" (qwen2) = (i, i + head_dim/2).

The functions keep their inputs' dtype (float64 for the reference; float32
weights give a float32 emulation).  Two implementations of the same math: forward() computes all
positions at once with a causal mask; Decoder steps one token at a time
with a KV cache (what generation uses).  gen_llama.py --self-test checks that
they agree to 1e-12.

Activation quantisation (optional, the aq argument): ggml's CPU matmuls (and
pg_infer's C kernels) do not multiply a quantised weight row by the float
activations but by the activations' own 8-bit round trip.  With
aq = ActQuant({tensor name: ggml type}) every product y = W x whose W is
Q8_0 / Q4_0 / Q5_0 first replaces x, per row, by its "A8" round trip (blocks
of 32, F16 scale amax/127, as ggml's quantize_row_q8_0 on x86), and every W
that is Q4_K / Q5_K / Q6_K by its "A8K" round trip (blocks of 256, float32
scale max/-127, as quantize_row_q8_K); F32 / F16 / BF16 weights see x
unchanged.  Everything else stays float64 (the quantisation steps themselves
repeat the C code's float32 arithmetic).  The embedding lookup, attention and
the KV cache are not affected.
"""

import math

import numpy as np

# ---------------------------------------------------------------- config


def make_config(n_layers, dim, n_head, n_head_kv, ffn, vocab, eps, freq_base,
                rope_style, linear_factor=1.0, rope_freqs=None, tied=False,
                bias=False):
    """The numbers the forward pass needs (a plain dict, JSON-friendly
    except rope_freqs, which may be an array)."""
    assert dim % n_head == 0 and n_head % n_head_kv == 0
    assert rope_style in ("norm", "neox")
    return {"n_layers": n_layers, "dim": dim, "n_head": n_head,
            "n_head_kv": n_head_kv, "head_dim": dim // n_head, "ffn": ffn,
            "vocab": vocab, "eps": eps, "freq_base": freq_base,
            "rope_style": rope_style, "linear_factor": linear_factor,
            "rope_freqs": None if rope_freqs is None else
            np.asarray(rope_freqs, dtype=np.float64),
            "tied": tied, "bias": bias}


# ---------------------------------------------------------------- pieces


def rms_norm(x, w, eps):
    """x: (..., dim) -> x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(z):
    return z / (1.0 + np.exp(-z))


def rope_theta(cfg):
    """theta_i, i = 0 .. head_dim/2 - 1 (float64)."""
    hd = cfg["head_dim"]
    i = np.arange(hd // 2, dtype=np.float64)
    theta = float(cfg["freq_base"]) ** (-2.0 * i / hd)
    if cfg["rope_freqs"] is not None:
        theta = theta / cfg["rope_freqs"]
    return theta


def rope(x, positions, cfg):
    """Rotate x (n, heads, head_dim) at the given absolute positions (n,)."""
    hd = cfg["head_dim"]
    p = np.asarray(positions, dtype=np.float64) / cfg["linear_factor"]
    ang = np.outer(p, rope_theta(cfg))[:, None, :]       # (n, 1, hd/2)
    c, s = np.cos(ang).astype(x.dtype), np.sin(ang).astype(x.dtype)
    if cfg["rope_style"] == "norm":
        a, b = x[..., 0::2], x[..., 1::2]
    else:
        a, b = x[..., :hd // 2], x[..., hd // 2:]
    ra, rb = a * c - b * s, a * s + b * c
    out = np.empty_like(x)
    if cfg["rope_style"] == "norm":
        out[..., 0::2], out[..., 1::2] = ra, rb
    else:
        out[..., :hd // 2], out[..., hd // 2:] = ra, rb
    return out


def softmax(s):
    s = s - np.max(s, axis=-1, keepdims=True)
    e = np.exp(s)
    return e / np.sum(e, axis=-1, keepdims=True)


def linear(w, name, x, aq=None):
    """y = W x for each row x of x (n, in) -> (n, out), W = w[name]; with aq,
    x is first replaced by its activation round trip for W's type."""
    if aq is not None:
        x = aq(name, x)
    return x @ w[name].T


def qkv(w, cfg, layer, a, aq=None):
    """a: (n, dim) normed input -> q (n, H, hd), k, v (n, Hkv, hd), no RoPE."""
    p = "blk.%d." % layer
    H, Hkv, hd = cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"]
    q = linear(w, p + "attn_q.weight", a, aq)
    k = linear(w, p + "attn_k.weight", a, aq)
    v = linear(w, p + "attn_v.weight", a, aq)
    if cfg["bias"]:
        q = q + w[p + "attn_q.bias"]
        k = k + w[p + "attn_k.bias"]
        v = v + w[p + "attn_v.bias"]
    n = a.shape[0]
    return q.reshape(n, H, hd), k.reshape(n, Hkv, hd), v.reshape(n, Hkv, hd)


def ffn(w, cfg, layer, h, aq=None):
    p = "blk.%d." % layer
    f = rms_norm(h, w[p + "ffn_norm.weight"], cfg["eps"])
    g = linear(w, p + "ffn_gate.weight", f, aq)
    u = linear(w, p + "ffn_up.weight", f, aq)
    return h + linear(w, p + "ffn_down.weight", silu(g) * u, aq)


def output(w, cfg, x, aq=None):
    n = rms_norm(x, w["output_norm.weight"], cfg["eps"])
    return linear(w, "token_embd.weight" if cfg["tied"] else "output.weight", n, aq)


def kv_head(cfg, h):
    """The key/value head query head h reads (grouped-query attention)."""
    return h // (cfg["n_head"] // cfg["n_head_kv"])


# ---------------------------------------------------------------- activation quantisation
#
# A8 (weights Q8_0, Q4_0, Q5_0), per block of 32 values x_j, float32 as the C code:
#     amax = max |x_j|;  d = F16(amax / 127) (nearest even), back to float;
#     id = 127 / amax (0 when amax == 0);  q_j = rint(x_j * id) (ties to even);
#     the activation used is d * q_j.
# A8K (weights Q4_K, Q5_K, Q6_K), per block of 256:
#     max = the x_j of largest |x_j| (with its sign, the first one on ties);
#     all zero: q = 0, d = 0; else iscale = -127 / max,
#     q_j = min(127, rint(iscale * x_j)), d = 1 / iscale; activation d * q_j.
# Only the quantisation steps are float32: the round trip d * q_j and the dot
# product with the dequantised weights are float64.

ACT_KIND = {"Q8_0": "A8", "Q4_0": "A8", "Q5_0": "A8",
            "Q4_K": "A8K", "Q5_K": "A8K", "Q6_K": "A8K"}
ACT_BLOCK = {"A8": 32, "A8K": 256}


def act_quantize(x, kind):
    """x (..., n), n a multiple of the block -> (q int8 (..., n/bs, bs),
    d float32 (..., n/bs), s float32 (..., n/bs)): the codes, the scale and
    the multiplier (id for A8, iscale for A8K) that x was scaled by."""
    bs = ACT_BLOCK[kind]
    f = np.float32
    x32 = np.asarray(x, dtype=f).reshape(np.shape(x)[:-1] + (-1, bs))
    with np.errstate(divide="ignore"):
        if kind == "A8":
            amax = np.abs(x32).max(axis=-1)
            d = (amax / f(127)).astype(np.float16).astype(f)
            s = np.where(amax == 0, f(0), f(127) / amax).astype(f)
            q = np.rint(x32 * s[..., None])
        else:
            i = np.argmax(np.abs(x32), axis=-1)           # first maximum wins
            mx = np.take_along_axis(x32, i[..., None], -1)[..., 0]
            s = np.where(mx == 0, f(0), f(-127) / mx).astype(f)
            d = np.where(mx == 0, f(0), f(1) / s).astype(f)
            q = np.minimum(f(127), np.rint(x32 * s[..., None]))
    return q.astype(np.int8), d, s


def act_dequantize(q, d, dtype=np.float64):
    """(q, d) -> d * q as dtype, flattened per row (..., n)."""
    v = d.astype(dtype)[..., None] * q.astype(dtype)
    return v.reshape(v.shape[:-2] + (-1,))


def boundary_distance(x, s):
    """min over the elements of |frac(x_j * s) - 0.5| (float64 product of
    the input and the block's float32 multiplier): how far each scaled value
    is from a rounding tie; ~1e-6 or less means a float32 pipeline, whose x
    differs from the float64 one in the 7th digit, may round it the other way."""
    x = np.asarray(x, dtype=np.float64)
    t = x.reshape(s.shape + (-1,)) * s.astype(np.float64)[..., None]
    return float(np.abs(t - np.floor(t) - 0.5).min())


def act_roundtrip(x, kind):
    """x (..., n) -> (d * q in x's dtype, same shape; boundary distance)."""
    x = np.asarray(x)
    q, d, s = act_quantize(x, kind)
    dt = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    return act_dequantize(q, d, dt), boundary_distance(x, s)


class ActQuant:
    """The activation quantisation of one model: types = {GGUF tensor name:
    ggml type name}.  aq(name, x) -> x as the matmul with w[name] sees it;
    min_distance = the smallest boundary_distance since reset()."""

    def __init__(self, types):
        self.kind = {n: ACT_KIND.get(t) for n, t in types.items()}
        self.step_distances = None          # set by run()
        self.reset()

    def reset(self):
        self.min_distance = math.inf
        self._last = None

    def __call__(self, name, x):
        kind = self.kind.get(name)
        if kind is None:
            return x
        if self._last is not None and self._last[0] is x and self._last[1] == kind:
            return self._last[2]        # q, k, v (gate, up) share their input
        xq, dist = act_roundtrip(x, kind)
        self.min_distance = min(self.min_distance, dist)
        self._last = (x, kind, xq)
        return xq

    @property
    def active(self):
        """True when any matrix is quantised (else aq changes nothing)."""
        return any(k is not None for k in self.kind.values())


# ---------------------------------------------------------------- whole sequence


def forward(w, cfg, ids, aq=None):
    """Logits (n, vocab) at every position of ids, all positions at once
    (causal mask: position i sees keys 0..i)."""
    ids = list(ids)
    n = len(ids)
    pos = np.arange(n)
    x = w["token_embd.weight"][ids]
    mask = np.triu(np.full((n, n), -np.inf, dtype=x.dtype), 1)
    scale = 1.0 / math.sqrt(cfg["head_dim"])
    for layer in range(cfg["n_layers"]):
        a = rms_norm(x, w["blk.%d.attn_norm.weight" % layer], cfg["eps"])
        q, k, v = qkv(w, cfg, layer, a, aq)
        q, k = rope(q, pos, cfg), rope(k, pos, cfg)
        heads = []
        for h in range(cfg["n_head"]):
            g = kv_head(cfg, h)
            s = (q[:, h, :] @ k[:, g, :].T) * scale + mask
            heads.append(softmax(s) @ v[:, g, :])
        o = np.concatenate(heads, axis=1)
        x = x + linear(w, "blk.%d.attn_output.weight" % layer, o, aq)
        x = ffn(w, cfg, layer, x, aq)
    return output(w, cfg, x, aq)


# ---------------------------------------------------------------- KV cache


class Decoder:
    """One token at a time with a KV cache: step(id) -> logits (vocab,)."""

    def __init__(self, w, cfg, aq=None):
        self.w, self.cfg, self.aq = w, cfg, aq
        self.k = [[] for _ in range(cfg["n_layers"])]   # per layer: (Hkv, hd) per pos
        self.v = [[] for _ in range(cfg["n_layers"])]
        self.pos = 0

    def step(self, tok):
        w, cfg, aq = self.w, self.cfg, self.aq
        x = w["token_embd.weight"][[tok]]                 # (1, dim)
        scale = 1.0 / math.sqrt(cfg["head_dim"])
        for layer in range(cfg["n_layers"]):
            a = rms_norm(x, w["blk.%d.attn_norm.weight" % layer], cfg["eps"])
            q, k, v = qkv(w, cfg, layer, a, aq)
            q, k = rope(q, [self.pos], cfg), rope(k, [self.pos], cfg)
            self.k[layer].append(k[0])
            self.v[layer].append(v[0])
            K = np.stack(self.k[layer])                   # (pos+1, Hkv, hd)
            V = np.stack(self.v[layer])
            o = np.empty(cfg["n_head"] * cfg["head_dim"], dtype=q.dtype)
            for h in range(cfg["n_head"]):
                g = kv_head(cfg, h)
                p = softmax(K[:, g, :] @ q[0, h, :] * scale)
                o[h * cfg["head_dim"]:(h + 1) * cfg["head_dim"]] = p @ V[:, g, :]
            x = x + linear(w, "blk.%d.attn_output.weight" % layer, o[None, :], aq)
            x = ffn(w, cfg, layer, x, aq)
        self.pos += 1
        return output(w, cfg, x, aq)[0]


# ---------------------------------------------------------------- decoding


def top2_margin(logits):
    """(argmax with the lowest id winning ties, top1 - top2)."""
    i = int(np.argmax(logits))          # numpy returns the first maximum
    rest = np.delete(logits, i)
    return i, float(logits[i] - rest.max())


def run(w, cfg, prompt_ids, n_gen, aq=None):
    """Teacher-forced logits at every prompt position (len(prompt), vocab),
    then n_gen greedy tokens (no stop on any token) and the top1 - top2
    margin of the logits each was chosen from.  With aq (an ActQuant), the
    activation-quantised model, and aq.step_distances = the smallest boundary
    distance of each decoder step (prompt positions, then the n_gen - 1
    steps that feed generated tokens)."""
    dec = Decoder(w, cfg, aq)
    dists = []

    def step(t):
        if aq is not None:
            aq.reset()
        y = dec.step(t)
        if aq is not None:
            dists.append(aq.min_distance)
        return y

    logits = [step(t) for t in prompt_ids]
    last = logits[-1]
    greedy, margins = [], []
    for i in range(n_gen):
        t, m = top2_margin(last)
        greedy.append(t)
        margins.append(m)
        if i + 1 < n_gen:
            last = step(t)
    if aq is not None:
        aq.step_distances = dists
    return np.array(logits), greedy, margins


def as_float64(weights):
    return {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
