#!/usr/bin/python3
"""Independent float64 reference of a BERT encoder and its WordPiece tokenizer.

Written from the BERT paper (Devlin et al. 2018) and the semantics of Hugging
Face transformers' BertModel / BertTokenizer and sentence-transformers'
Pooling, with numpy only.  Nothing here calls pg_infer code; gen_bert.py and
check_ref.py use it to produce and re-check test/models reference embeddings.
The tokenizer also gives Hugging Face tokenizers' offset_mapping and word ids
(tokenize_offsets); the task heads' post-processing (token classification
with "simple" aggregation, extractive question answering over windows) is at
the end.

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
# texts we test), one original character at a time so that every token
# knows the span of the original text it came from.


def _is_whitespace(ch):
    """Rust's char::is_whitespace on what survives the control filter
    (BERT's Python tokenizer says Zs only, then splits on U+2028 / U+2029
    with str.split: the same words)."""
    return ch in " \t\n\r" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


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


def normalize_offsets(text):
    """BertNormalizer, keeping provenance: -> [(char, i)], each normalized
    character with the index i (code points) of the original character it
    came from.  Steps, as Hugging Face tokenizers (normalizers/bert.rs), one
    original character at a time: drop NUL, U+FFFD and control / format
    characters (tab, newline, return excepted); whitespace -> " "; a CJK
    ideograph -> " " c " "; then strip accents (NFD, drop Mn) and lower-case
    (full mapping: one character may become several); every character so
    produced inherits i."""
    out = []
    for i, ch in enumerate(text):
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append((" ", i))
        elif _is_cjk(cp):
            out += [(" ", i), (ch, i), (" ", i)]
        else:
            for c in unicodedata.normalize("NFD", ch):
                if unicodedata.category(c) != "Mn":
                    out += [(low, i) for low in c.lower()]
    return out


def pre_tokenize(chars):
    """BertPreTokenizer on normalized (char, i) pairs: split on spaces, every
    punctuation character its own word.  -> list of words, each a non-empty
    list of (char, i)."""
    words, cur = [], []
    for ch, i in chars:
        if ch == " " or _is_punctuation(ch):
            if cur:
                words.append(cur)
            cur = []
            if ch != " ":
                words.append([(ch, i)])
        else:
            cur.append((ch, i))
    if cur:
        words.append(cur)
    return words


def basic_tokenize(text):
    """Clean, isolate CJK characters, strip accents, lower-case, split on
    whitespace and punctuation."""
    return ["".join(c for c, _ in w) for w in pre_tokenize(normalize_offsets(text))]


def wordpiece_spans(word, vocab, unk="[UNK]", max_chars=100):
    """Greedy longest-match-first -> [(piece, a, b)], characters word[a:b]
    of each piece; a word with any unmatched part (or longer than max_chars)
    is one [UNK] covering the whole word."""
    if len(word) > max_chars:
        return [(unk, 0, len(word))]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return [(unk, 0, len(word))]
        pieces.append((piece, start, end))
        start = end
    return pieces


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    """Greedy longest-match-first; a word with any unmatched part is [UNK]."""
    return [p for p, _, _ in wordpiece_spans(word, vocab, unk, max_chars)]


def tokenize_offsets(text, vocab, unk="[UNK]"):
    """Word pieces of text with Hugging Face offset_mapping semantics:
    -> [(piece, start, end, word)], [start, end) in code points of the
    ORIGINAL text (start of the piece's first character's origin, end of
    its last one's), word = index of the pre-tokenizer word (the
    encoding's word_ids).  A "##" piece covers only its own characters; an
    [UNK] word covers the whole word."""
    out = []
    for wi, word in enumerate(pre_tokenize(normalize_offsets(text))):
        s = "".join(c for c, _ in word)
        for piece, a, b in wordpiece_spans(s, vocab, unk):
            out.append((piece, word[a][1], word[b - 1][1] + 1, wi))
    return out


def encode_offsets(text, vocab, max_len):
    """[CLS] pieces [SEP] with offsets, truncated to max_len tokens (the
    first max_len - 2 pieces).  -> {tokens, ids, offsets ([0, 0] for the
    specials), words (None for the specials), truncated, n_pieces}."""
    pieces = tokenize_offsets(text, vocab)
    kept = pieces[:max_len - 2]
    toks = [("[CLS]", 0, 0, None)] + kept + [("[SEP]", 0, 0, None)]
    return {"tokens": [t[0] for t in toks], "ids": [vocab[t[0]] for t in toks],
            "offsets": [[t[1], t[2]] for t in toks], "words": [t[3] for t in toks],
            "truncated": len(pieces) > len(kept), "n_pieces": len(pieces)}


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


# ---------------------------------------------------------------- task heads
#
# Token classification (BertForTokenClassification + transformers'
# TokenClassificationPipeline, aggregation_strategy="simple") and extractive
# question answering (BertForQuestionAnswering + QuestionAnsweringPipeline),
# from their documented behaviour.  Heads are nn.Linear layers on the last
# hidden state: logits = h W^T + b per token.


def softmax(z):
    """Softmax over the last axis, float64."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def token_logits(weights, cfg, ids, types, w, b):
    """(n, k) logits of a per-token linear head over the encoder's output."""
    hidden, _ = forward(weights, cfg, [ids], [types])
    return hidden[0] @ np.asarray(w, dtype=np.float64).T + np.asarray(b, dtype=np.float64)


def get_tag(label):
    """"B-X" -> ("B", "X"), "I-X" -> ("I", "X"), anything else ("O") -> ("I", label)."""
    if label.startswith("B-") or label.startswith("I-"):
        return label[0], label[2:]
    return "I", label


def group_entities(tokens):
    """TokenClassificationPipeline "simple" aggregation.  tokens: the
    non-special tokens in order, as {"entity": label, "score", "start",
    "end"}.  A token joins the current group iff its tag type equals that of
    the group's last token and its marker is not "B"; a group's type is
    its first token's label after the first "-" ("O" stays "O"), its score
    the mean of its tokens' scores, its span first start .. last end.
    Groups of type "O" are dropped after grouping."""
    groups, cur = [], []
    for t in tokens:
        if cur:
            bi, tag = get_tag(t["entity"])
            _, last_tag = get_tag(cur[-1]["entity"])
            if tag == last_tag and bi != "B":
                cur.append(t)
                continue
            groups.append(cur)
        cur = [t]
    if cur:
        groups.append(cur)
    out = []
    for g in groups:
        label = g[0]["entity"].split("-", 1)[-1]
        if label == "O":
            continue
        out.append({"label": label, "score": float(np.mean([t["score"] for t in g])),
                    "start": g[0]["start"], "end": g[-1]["end"], "n_tokens": len(g)})
    return out


def ner(probs, offsets, special, id2label):
    """probs (n, k) per token, offsets [[s, e]], special: bool per token.
    -> (per-token labels (None for specials), entities).  Label = argmax
    (lowest id on ties), score = its probability."""
    labels, tokens = [], []
    for p, (s, e), sp in zip(probs, offsets, special):
        if sp:
            labels.append(None)
            continue
        k = int(np.argmax(p))
        labels.append(id2label[k])
        tokens.append({"entity": id2label[k], "score": float(p[k]), "start": s, "end": e})
    return labels, group_entities(tokens)


def qa_windows(n_question, n_context, max_seq_len, stride):
    """Context-token windows of [CLS] question [SEP] context [SEP] (Hugging
    Face tokenizers, truncation only_second with stride: Encoding::truncate
    and its overflowing encodings).  L = max_seq_len - n_question - 3
    context tokens fit; windows start at 0, L - stride, 2 (L - stride), ...
    and the first one reaching the end of the context is the last.
    -> ([(start, stop)], None) or ([], reason)."""
    room = max_seq_len - n_question - 3
    if n_context <= room:
        return [(0, n_context)], None
    if room < 1:
        return [], "question_too_long"      # tokenizers: TruncationError::SequenceTooShort
    if room <= stride:
        return [], "stride_not_below_room"  # tokenizers: assert stride < max_len panics
    out, start = [], 0
    while True:
        stop = min(start + room, n_context)
        out.append((start, stop))
        if stop == n_context:
            return out, None
        start += room - stride


def qa_window_encoding(q, ctx, start, stop, vocab):
    """q, ctx: tokenize_offsets() lists.  -> {ids, type_ids, offsets, words,
    sequence_ids, ctx_positions} of [CLS] q [SEP] ctx[start:stop] [SEP]."""
    cls, sep = ("[CLS]", 0, 0, None), ("[SEP]", 0, 0, None)
    toks = [cls] + q + [sep] + ctx[start:stop] + [sep]
    nq, nc = len(q), stop - start
    seq = [None] + [0] * nq + [None] + [1] * nc + [None]
    return {"ids": [vocab[t[0]] for t in toks],
            "type_ids": [0] * (nq + 2) + [1] * (nc + 1),
            "offsets": [[t[1], t[2]] for t in toks],
            "words": [t[3] for t in toks], "sequence_ids": seq,
            "ctx_positions": list(range(nq + 2, nq + 2 + nc))}


def qa_answers(windows, context, top_k, max_answer_len=15, mask=-10000.0):
    """Answers as pg_infer specifies them.  windows: [{start_logits,
    end_logits, offsets, ctx_positions}].  Per window every non-context
    token ([CLS], question, [SEP]) gets logit `mask`, then softmax over the
    window for start and end separately; candidates (s, e) both context
    tokens, s <= e, e - s + 1 <= max_answer_len, score p_start[s] p_end[e],
    char span (offset[s].start, offset[e].end) in the context.  Over all
    windows identical spans keep their highest score; sorted by score
    descending (ties: lower start, then lower end); the first top_k."""
    best = {}
    for w in windows:
        ctx = w["ctx_positions"]
        ok = np.zeros(len(w["start_logits"]), dtype=bool)
        ok[ctx] = True
        ps = softmax(np.where(ok, w["start_logits"], mask))
        pe = softmax(np.where(ok, w["end_logits"], mask))
        for s in ctx:
            for e in ctx:
                if s <= e <= s + max_answer_len - 1:
                    span = (w["offsets"][s][0], w["offsets"][e][1])
                    best[span] = max(best.get(span, 0.0), float(ps[s] * pe[e]))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
    return [{"answer": context[a:b], "start": a, "end": b, "score": sc}
            for (a, b), sc in ranked[:top_k]], ranked


def qa_answers_hf(windows, context, top_k, max_answer_len=15, mask=-10000.0):
    """Answers as transformers' QuestionAnsweringPipeline gives them with
    its defaults (4.x up to 4.53, the last with the pipeline;
    align_to_words=True, handle_impossible_answer=False), for comparison:
    [CLS] stays unmasked in the softmax and gets probability 0 after it;
    each window keeps its own top_k spans (argmax order: lower s, then
    lower e on ties); a span becomes the character span of the words of
    its first and last token (word_to_chars within that window); an answer
    whose text equals an earlier one ignoring case adds its score to it;
    stable sort by score descending; the first top_k.  None when a window
    has fewer than top_k candidates of non-zero score (HF's choice among
    the zeros is arbitrary)."""
    answers = []
    for w in windows:
        ctx = w["ctx_positions"]
        n = len(w["start_logits"])
        ok = np.zeros(n, dtype=bool)
        ok[ctx] = True
        ok[0] = True
        ps = softmax(np.where(ok, w["start_logits"], mask))
        pe = softmax(np.where(ok, w["end_logits"], mask))
        ps[0] = pe[0] = 0.0
        outer = np.tril(np.triu(np.outer(ps, pe)), max_answer_len - 1)
        flat = outer.reshape(-1)
        order = np.argsort(-flat, kind="stable")[:top_k]
        if not (flat[order] > 0).all():
            return None     # HF would pick arbitrary zero-score spans ([CLS] among them)
        for idx in order:
            s, e = divmod(int(idx), n)
            if not (ok[s] and ok[e]):
                continue
            ws, we = w["words"][s], w["words"][e]
            a = min(w["offsets"][i][0] for i in ctx if w["words"][i] == ws)
            b = max(w["offsets"][i][1] for i in ctx if w["words"][i] == we)
            text = context[a:b]
            same = [x for x in answers if x["answer"].lower() == text.lower()]
            if same:
                same[0]["score"] += float(flat[idx])
            else:
                answers.append({"answer": text, "start": a, "end": b, "score": float(flat[idx])})
    return sorted(answers, key=lambda x: -x["score"])[:top_k]
