#!/usr/bin/python3
"""Independent float64 reference of a BERT encoder and its WordPiece tokenizer.

Written from the BERT paper (Devlin et al. 2018) and the semantics of Hugging
Face transformers' BertModel / BertTokenizer and sentence-transformers'
Pooling, with numpy only.  Nothing here calls pg_infer code; gen_bert.py and
check_ref.py use it to produce and re-check test/models reference embeddings.

Weights are a dict keyed by Hugging Face BertModel checkpoint names
("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
...), matrices in the torch nn.Linear layout (out_features, in_features).

Forward pass, for token ids t_0..t_{n-1} (token_type 0, positions 0..n-1):
    x = LayerNorm(E_word[t_i] + E_pos[i] + E_type[0])
    per layer:
        q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv      (split into heads)
        a = softmax(q k^T / sqrt(head_dim) + mask) v           (mask: 0 or -huge
                                                                 on padded keys)
        x = LayerNorm(x + a Wo^T + bo)
        x = LayerNorm(x + GELU(x Wi^T + bi) Wd^T + bd)         (GELU with erf)
Pooling (sentence-transformers, valid = non-padding tokens):
    mean  sum of valid rows / number of valid rows
    cls   row 0 ([CLS])
    max   element-wise max over valid rows
    last  last valid row ([SEP] unless truncation changed that -- it does not)
    normalized: v / max(||v||_2, 1e-12)   (torch.nn.functional.normalize)
"""

import math
import unicodedata

import numpy as np

POOLINGS = ("mean", "cls", "max", "last")

# ---------------------------------------------------------------- tokenizer
#
# BertTokenizer's BasicTokenizer + WordpieceTokenizer (== the HF tokenizers
# pipeline BertNormalizer(clean_text, handle_chinese_chars, lowercase,
# strip_accents follows lowercase) + BertPreTokenizer + WordPiece for the
# texts we test).


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or
            0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F or
            0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    """Clean, isolate CJK characters, lower-case, strip accents, split on
    whitespace and punctuation."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    words = []
    for word in text.split():
        cur = ""
        for ch in word:
            if _is_punctuation(ch):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    """Greedy longest-match-first; a word with any unmatched part is [UNK]."""
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(text, vocab, max_len):
    """-> (tokens, ids, truncated).  HF truncation: keep the first max_len - 2
    word pieces, then wrap them in [CLS] ... [SEP]."""
    pieces = [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)]
    truncated = len(pieces) > max_len - 2
    tokens = ["[CLS]"] + pieces[:max_len - 2] + ["[SEP]"]
    return tokens, [vocab[t] for t in tokens], truncated


# ---------------------------------------------------------------- encoder


# ---- exact GELU, x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))
#
# numpy has no erf and math.erf element by element costs ~140 ns a value
# (minutes for BERT-base shapes), so erf is evaluated as a short Taylor
# series around the nearest point x0 of a fine grid whose values come from
# math.erf:  erf(x0 + d) = erf(x0) + 2/sqrt(pi) exp(-x0^2)
#                          * sum_n (-1)^n H_n(x0) d^(n+1) / (n+1)!
# (H_n the physicists' Hermite polynomials, the derivatives of exp(-x^2)).
# |d| <= 1/4096 and 5 terms leave an error far below double precision; the
# check below, run at import, compares it with math.erf on a dense grid.

_STEP, _TERMS = 2048, 5
_X0 = np.arange(-6 * _STEP, 6 * _STEP + 1) / _STEP
_E0 = np.array([math.erf(v) for v in _X0])
_G0 = 2 / math.sqrt(math.pi) * np.exp(-_X0 ** 2)


def _erf_chunk(x):
    k = np.rint(np.clip(x, -6.0, 6.0) * _STEP)
    x0 = k / _STEP
    i = k.astype(np.intp) + 6 * _STEP
    d = x - x0
    h_prev, h = np.ones_like(x0), 2 * x0     # H_0, H_1
    p = d.copy()                              # d^(n+1) / (n+1)!
    acc = p.copy()
    for n in range(1, _TERMS):
        p *= d / (n + 1)
        acc += (-1) ** n * h * p
        h_prev, h = h, 2 * x0 * h - 2 * n * h_prev
    # beyond |x| = 6, erf(x) rounds to +-1 in double precision
    return np.where(np.abs(x) >= 6.0, np.sign(x), _E0[i] + _G0[i] * acc)


def erf(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    flat, o = x.reshape(-1), out.reshape(-1)
    for s in range(0, flat.size, 1 << 16):     # cache-sized chunks
        o[s:s + (1 << 16)] = _erf_chunk(flat[s:s + (1 << 16)])
    return out


def _check_erf():
    xs = np.concatenate([np.linspace(-7.0, 7.0, 200001),
                         np.random.default_rng(0).standard_normal(20000) * 2])
    want = np.array([math.erf(v) for v in xs])
    err = np.abs(erf(xs) - want)
    assert (err <= 4.5e-16 * np.maximum(np.abs(want), 0.5)).all(), err.max()


_check_erf()


def _gelu(x):
    g = erf(x * (1.0 / math.sqrt(2.0)))    # 0.5 * x * (1 + erf(x / sqrt(2))),
    g += 1.0                                # in place (big batches)
    g *= x
    g *= 0.5
    return g


def _layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def as_float64(weights):
    """The weights as float64 (convert once; forward accepts either)."""
    return {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}


def pair_tokenize(a, b, vocab, max_len):
    """-> (ids, token types) of [CLS] a [SEP] b [SEP], truncated as Hugging
    Face tokenizers' "longest_first" does (tokenizers/src/utils/truncation.rs):
    with n1 <= n2 the shorter and longer piece counts and room = max_len - 3,
    the longer keeps max(n1, room - n1); if that still does not fit, the
    first keeps room // 2 and the second the rest (lengths swapped back when
    the first text was the longer)."""
    pa = [p for w in basic_tokenize(a) for p in wordpiece(w, vocab)]
    pb = [p for w in basic_tokenize(b) for p in wordpiece(w, vocab)]
    room = max_len - 3
    if len(pa) + len(pb) > room:
        swap = len(pa) > len(pb)
        n1 = min(len(pa), len(pb))
        n2 = n1 if n1 > room else max(n1, room - n1)
        if n1 + n2 > room:
            n1 = room // 2
            n2 = n1 + room % 2
        na, nb = (n2, n1) if swap else (n1, n2)
        pa, pb = pa[:na], pb[:nb]
    tokens = ["[CLS]"] + pa + ["[SEP]"] + pb + ["[SEP]"]
    return [vocab[t] for t in tokens], [0] * (len(pa) + 2) + [1] * (len(pb) + 1)


def forward(weights, cfg, batch_ids, batch_types=None):
    """batch_ids: list of id lists (any lengths), batch_types their token
    types (None: all 0).  Right-pads with [PAD]=0 and returns
    (last_hidden_state (B, S, H) float64, mask (B, S) bool)."""
    w = as_float64(weights)
    n_heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    B, S = len(batch_ids), max(len(ids) for ids in batch_ids)
    ids = np.zeros((B, S), dtype=np.int64)
    mask = np.zeros((B, S), dtype=bool)
    types = np.zeros((B, S), dtype=np.int64)
    for i, row in enumerate(batch_ids):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = True
        if batch_types is not None:
            types[i, :len(row)] = batch_types[i]

    x = (w["embeddings.word_embeddings.weight"][ids] +
         w["embeddings.position_embeddings.weight"][np.arange(S)][None] +
         w["embeddings.token_type_embeddings.weight"][types])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"],
                    w["embeddings.LayerNorm.bias"], eps)

    H = x.shape[-1]
    d = H // n_heads
    # additive mask as in HF: 0 for real keys, the most negative float for padding
    add_mask = np.where(mask, 0.0, np.finfo(np.float64).min)[:, None, None, :]

    def lin(t, name):
        y = t @ w[name + ".weight"].T
        y += w[name + ".bias"]
        return y

    def heads(t):  # (B, S, H) -> (B, heads, S, d), contiguous for BLAS
        return np.ascontiguousarray(t.reshape(B, S, n_heads, d).transpose(0, 2, 1, 3))

    for n in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % n
        q = heads(lin(x, p + "attention.self.query"))
        k = heads(lin(x, p + "attention.self.key"))
        v = heads(lin(x, p + "attention.self.value"))
        kt = np.ascontiguousarray(k.swapaxes(-1, -2))
        ctx = np.empty_like(q)
        for b in range(B):   # one sequence at a time: (heads, S, S) stays small
            scores = q[b] @ kt[b] / math.sqrt(d) + add_mask[b]
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores, out=scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx[b] = probs @ v[b]
        ctx = ctx.transpose(0, 2, 1, 3).reshape(B, S, H)
        x = _layer_norm(x + lin(ctx, p + "attention.output.dense"),
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], eps)
        h = _gelu(lin(x, p + "intermediate.dense"))
        x = _layer_norm(x + lin(h, p + "output.dense"),
                        w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"], eps)
    return x, mask


def pool(hidden, mask, mode):
    """sentence-transformers pooling of one sequence: hidden (S, H), mask (S,)."""
    valid = hidden[mask]
    if mode == "mean":
        return valid.sum(axis=0) / max(len(valid), 1e-9)
    if mode == "cls":
        return hidden[0]
    if mode == "max":
        return valid.max(axis=0)
    if mode == "last":
        return valid[-1]
    raise ValueError(mode)


def l2_normalize(v):
    return v / max(float(np.sqrt((v * v).sum())), 1e-12)


def embeddings(weights, cfg, batch_ids):
    """-> list (one per sequence) of {"mean": v, "mean_normalized": v, ...}."""
    hidden, mask = forward(weights, cfg, batch_ids)
    out = []
    for i in range(len(batch_ids)):
        e = {}
        for mode in POOLINGS:
            v = pool(hidden[i], mask[i], mode)
            e[mode] = v
            e[mode + "_normalized"] = l2_normalize(v)
        out.append(e)
    return out, hidden, mask
