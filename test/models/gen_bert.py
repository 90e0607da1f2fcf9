#!/usr/bin/python3
"""Write a random-weight BERT encoder in every layout pg_infer reads, plus
reference embeddings computed independently in float64 (bert_ref.py).

    /usr/bin/python3 test/models/gen_bert.py OUT_DIR            # tiny model
    /usr/bin/python3 test/models/gen_bert.py OUT_DIR --layers 6 --hidden 384 \\
        --heads 12 --ffn 1536 --vocab 30522 --max-pos 512           # MiniLM-L6 shape
    options: --layers --hidden --heads --ffn --vocab --max-pos --max-seq --seed
             --formats hf,hf_f16,hf_sharded,f32,f16,q8_0,hf_cls,hf_ner,hf_qa
             --no-reference
    /usr/bin/python3 test/models/gen_bert.py OUT --check-offsets FILE
        compare OUT/reference.json's "ner" and "qa" encodings with Hugging
        Face tokenizers' (FILE, written by test/prepare_models.sh); exit 1
        on any difference

Deterministic for given options (numpy default_rng(seed); weights are drawn in
a fixed order whatever --formats says).  Output (see README.md):

  OUT/hf/           sentence-transformers model directory, F32 safetensors
  OUT/hf_f16/       the same weights stored as F16 (every tensor, as torch .half())
  OUT/hf_sharded/   F32, split over two shards + model.safetensors.index.json
  OUT/bert-f32.gguf, bert-f16.gguf, bert-q8_0.gguf   llama.cpp BERT layout
  OUT/bert-cls-pooler.gguf, bert-cls-out.gguf   F32 with hf_cls's head in llama.cpp's
                    spelling: cls (the pooler) + cls.output (the classifier) + labels
                    in bert.classifier.output_labels; cls.output only, no labels
  OUT/hf_cls/       BertForSequenceClassification: the same encoder under "bert.",
                    its pooler, a random classifier of 3 labels (id2label)
  OUT/hf_ner/       BertForTokenClassification: the encoder under "bert.", no
                    pooler, classifier (9, hidden) for O, B-/I-PER, LOC, ORG, MISC
  OUT/hf_qa/        BertForQuestionAnswering: the encoder under "bert.", no
                    pooler, qa_outputs (2, hidden): row 0 start, row 1 end logits
  OUT/reference.json  ids and embeddings per text and pooling, per weight format;
                    "ner": per text offsets, per-token probabilities, entities;
                    "qa": per (question, context) windows, logits, answers

Heads come from their own generators (seed + 1, + 2, + 3): the encoder's
weights, and so every other file and reference value, do not depend on them.

Weights (normal, mean 0 unless said): word / position / token type embeddings
std 0.5 / 0.3 / 0.3; matrices std 1/sqrt(in_features), so attention scores
and activations stay O(1); biases std 0.1; LayerNorm weights 1 + std 0.1,
LayerNorm biases std 0.1.  Existing OUT/hf* directories are replaced.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
import bert_ref  # noqa: E402
# our GGUF fixture writer's primitives: value type ids, ggml type table
from gen_fixtures import (ARR, BOOL, F32 as GG_F32, GGML, I32, STR, U32,  # noqa: E402
                          gguf_scalar, gguf_string)

ALL_FORMATS = ("hf", "hf_f16", "hf_sharded", "f32", "f16", "q8_0", "hf_cls", "hf_ner", "hf_qa")
CLS_LABELS = ["negative", "neutral", "positive"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
# question answering as the QuestionAnsweringPipeline defaults make it
QA_MAX_ANSWER_LEN, QA_MASK, QA_TOP_K = 15, -10000.0, (1, 3)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# ---------------------------------------------------------------- vocabulary
#
# Real-looking WordPiece vocabulary: specials, then whole words, then "##"
# continuation pieces and single characters, so any lower-case ASCII word
# tokenises (character by character at worst).  --vocab larger than this
# appends synthetic words "w<N>"; smaller is refused.

WORDS = """
the of and to a in is it you that he was for on are with as his they be at one
have this from or had by hot but some what there we can out other were all your
when up use word how said an each she which do their time if will way about many
then them would write like so these her long make thing see him two has look
more day could go come did my sound no most number who over know water than
call first people may down side been now find any new work part take get place
made live where after back little only round man year came show every good me
give our under name very through just form much great think say help low line
before turn cause same mean differ move right boy old too does tell sentence set
three want air well also play small end put home read hand port large spell add
even land here must big high such follow act why ask men change went light kind
off need house picture try us again animal point mother world near build self
earth father head stand own page should country found answer school grow study
still learn plant cover food sun four thought let keep eye never last door
between city tree cross since hard start might story saw far sea draw left late
run quick fox dog cat sat mat brown jump lazy hello yaml parser library data
base query index vector search model token text embed postgres sql table row
column red bicycle once upon blue green state art wait stop don cafe resume
naive
""".split()

SUFFIXES = """##s ##es ##ed ##ing ##ly ##er ##est ##ness ##ment ##tion ##able
##ful ##less ##y ##ize ##al ##ic ##ous ##ity ##ning ##ers ##ings ##ish
##ist""".split()

CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789") + \
    list(".,!?'\"-()[]:;/&$%@#*+=_~<>{}|\\^`")


def make_vocab(size):
    seen = set(SPECIALS)
    base = list(SPECIALS)
    for t in WORDS + SUFFIXES + CHARS + ["##" + c for c in CHARS[:36]]:
        if t not in seen:
            seen.add(t)
            base.append(t)
    if size < len(base):
        sys.exit("--vocab must be at least %d" % len(base))
    return base + ["w%d" % i for i in range(size - len(base))]


# ---------------------------------------------------------------- weights


def make_weights(a, rng):
    """HF BertModel state dict (float32), drawn in a fixed order."""
    H, F = a.hidden, a.ffn
    w = {}

    def normal(shape, std):
        x = rng.standard_normal(shape, dtype=np.float32)
        x *= np.float32(std)
        return x

    def linear(name, n_out, n_in):
        w[name + ".weight"] = normal((n_out, n_in), 1.0 / np.sqrt(n_in))
        w[name + ".bias"] = normal((n_out,), 0.1)

    def norm(name, n):
        w[name + ".weight"] = 1 + normal((n,), 0.1)
        w[name + ".bias"] = normal((n,), 0.1)

    w["embeddings.word_embeddings.weight"] = normal((a.vocab, H), 0.5)
    w["embeddings.position_embeddings.weight"] = normal((a.max_pos, H), 0.3)
    w["embeddings.token_type_embeddings.weight"] = normal((2, H), 0.3)
    norm("embeddings.LayerNorm", H)
    for n in range(a.layers):
        p = "encoder.layer.%d." % n
        for s in ("query", "key", "value"):
            linear(p + "attention.self." + s, H, H)
        linear(p + "attention.output.dense", H, H)
        norm(p + "attention.output.LayerNorm", H)
        linear(p + "intermediate.dense", F, H)
        linear(p + "output.dense", H, F)
        norm(p + "output.LayerNorm", H)
    linear("pooler.dense", H, H)
    return w


# ---------------------------------------------------------------- safetensors

ST_DTYPE = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
            np.dtype(np.int64): "I64"}


def write_safetensors(path, tensors):
    """tensors: {name: ndarray}.  Layout as the safetensors library writes it:
    header keys sorted with __metadata__ first, data ordered by dtype size
    (largest first) then name, header padded with spaces to 8 bytes."""
    order = sorted(tensors, key=lambda n: (-tensors[n].dtype.itemsize, n))
    offs, pos = {}, 0
    for n in order:
        offs[n] = (pos, pos + tensors[n].nbytes)
        pos += tensors[n].nbytes
    header = {"__metadata__": {"format": "pt"}}
    for n in sorted(tensors):
        header[n] = {"dtype": ST_DTYPE[tensors[n].dtype],
                     "shape": list(tensors[n].shape),
                     "data_offsets": list(offs[n])}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for n in order:
            f.write(memoryview(np.ascontiguousarray(tensors[n])).cast("B"))
    return sum(t.nbytes for t in tensors.values())


def hf_tensors(w, max_pos, dtype):
    t = {n: v.astype(dtype) for n, v in w.items()}
    # the buffer real checkpoints carry (I64, shape (1, max_pos))
    t["embeddings.position_ids"] = np.arange(max_pos, dtype=np.int64)[None]
    return t


def classifier_weights(a):
    """The sequence head's classifier, from its own seeded generator (so the
    encoder's weights do not depend on whether it is written)."""
    rng = np.random.default_rng(a.seed + 1)
    k = len(CLS_LABELS)
    return {"classifier.weight": (rng.standard_normal((k, a.hidden), dtype=np.float32) *
                                  np.float32(1.0 / np.sqrt(a.hidden))),
            "classifier.bias": rng.standard_normal(k, dtype=np.float32) * np.float32(0.1)}


def ner_weights(a, w, vocab):
    """The token classification head (9 labels): rows from its own
    generator, std 3/sqrt(hidden), so the argmax label changes from token to
    token.  The encoder's outputs share a large common component, which
    would give most tokens the same label: each bias cancels it (-W_j . m,
    m = mean float64 last hidden state over the NER test texts' word
    pieces), plus 2.0 for "O".  O then labels ~45% of the tokens, every
    entity type and runs of B-X I-X occur."""
    rng = np.random.default_rng(a.seed + 2)
    k = len(NER_LABELS)
    wt = rng.standard_normal((k, a.hidden), dtype=np.float32) * np.float32(3.0 / np.sqrt(a.hidden))
    vmap = {t: i for i, t in enumerate(vocab)}
    cfg = {"num_attention_heads": a.heads, "num_hidden_layers": a.layers, "layer_norm_eps": a.eps}
    w64 = bert_ref.as_float64(w)
    rows = []
    for _, text in make_ner_texts(make_cases(vmap, a.max_seq)):
        ids = bert_ref.encode_offsets(text, vmap, a.max_pos)["ids"]
        rows.append(bert_ref.forward(w64, cfg, [ids])[0][0][1:-1])
    m = np.concatenate(rows).mean(axis=0)
    b = -(wt.astype(np.float64) @ m)
    b[0] += 2.0
    return {"classifier.weight": wt, "classifier.bias": b.astype(np.float32)}


def qa_weights(a, w=None, vocab=None):
    """The span head: row 0 start logits, row 1 end logits, from its own
    generator; std 3/sqrt(hidden) so the span distributions are peaked."""
    rng = np.random.default_rng(a.seed + 3)
    return {"qa_outputs.weight": (rng.standard_normal((2, a.hidden), dtype=np.float32) *
                                  np.float32(3.0 / np.sqrt(a.hidden))),
            "qa_outputs.bias": rng.standard_normal(2, dtype=np.float32) * np.float32(0.1)}


HEADS = {  # format: (architecture, head weights (a, w, vocab), id2label or None, pooler kept)
    "hf_cls": ("BertForSequenceClassification", lambda a, w, vocab: classifier_weights(a),
               CLS_LABELS, True),
    "hf_ner": ("BertForTokenClassification", ner_weights, NER_LABELS, False),
    "hf_qa": ("BertForQuestionAnswering", qa_weights, None, False)}


def write_head_dir(d, a, vocab, w, fmt):
    """A transformers task model directory: the encoder under "bert.", the
    pooler only where the architecture has one (HF builds token
    classification and question answering with add_pooling_layer=False),
    the head's tensors."""
    arch, head, labels, pooler = HEADS[fmt]
    t = {"bert." + n: v for n, v in hf_tensors(w, a.max_pos, np.float32).items()
         if pooler or not n.startswith("pooler.")}
    t.update(head(a, w, vocab))
    extra = {"architectures": [arch]}
    if labels:
        extra.update({"id2label": {str(i): l for i, l in enumerate(labels)},
                      "label2id": {l: i for i, l in enumerate(labels)}})
    write_hf_dir(d, a, vocab, t, "float32", config_extra=extra)


def write_hf_dir(d, a, vocab, tensors, torch_dtype, shards=1, config_extra=None):
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    else:
        # shard 1: embeddings and the first half of the layers; shard 2: the rest
        names = sorted(tensors)
        half = a.layers // 2
        first = [n for n in names if n.startswith("embeddings.") or
                 (n.startswith("encoder.layer.") and int(n.split(".")[2]) < half)]
        parts = [first, [n for n in names if n not in first]]
        weight_map, total = {}, 0
        for i, part in enumerate(parts):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(parts))
            total += write_safetensors(os.path.join(d, fn),
                                       {n: tensors[n] for n in part})
            weight_map.update({n: fn for n in part})
        dump_json(os.path.join(d, "model.safetensors.index.json"),
                  {"metadata": {"total_size": total},
                   "weight_map": dict(sorted(weight_map.items()))})

    dump_json(os.path.join(d, "config.json"), {
        "_name_or_path": "pg_infer/test-bert-random",
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": a.hidden,
        "initializer_range": 0.02,
        "intermediate_size": a.ffn,
        "layer_norm_eps": a.eps,
        "max_position_embeddings": a.max_pos,
        "model_type": "bert",
        "num_attention_heads": a.heads,
        "num_hidden_layers": a.layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": torch_dtype,
        "transformers_version": "4.41.2",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": len(vocab), **(config_extra or {})})
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    specials = {"cls_token": "[CLS]", "mask_token": "[MASK]",
                "pad_token": "[PAD]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
    dump_json(os.path.join(d, "special_tokens_map.json"), specials)
    dump_json(os.path.join(d, "tokenizer_config.json"), dict(
        {"added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False,
                     "rstrip": False, "single_word": False, "special": True}
            for i, t in enumerate(SPECIALS)},
         "clean_up_tokenization_spaces": True,
         "do_basic_tokenize": True,
         "do_lower_case": True,
         "model_max_length": a.max_seq,
         "never_split": None,
         "strip_accents": None,
         "tokenize_chinese_chars": True,
         "tokenizer_class": "BertTokenizer"}, **specials))
    dump_json(os.path.join(d, "tokenizer.json"), tokenizer_json(vocab, a.max_seq))
    dump_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "",
         "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}])
    dump_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": a.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True})
    dump_json(os.path.join(d, "sentence_bert_config.json"),
              {"max_seq_length": a.max_seq, "do_lower_case": False})
    dump_json(os.path.join(d, "config_sentence_transformers.json"), {
        "__version__": {"sentence_transformers": "3.0.1",
                        "transformers": "4.41.2", "pytorch": "2.3.0"},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"})


def tokenizer_json(vocab, max_seq):
    """HF tokenizers serialisation of a BERT WordPiece tokenizer."""
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": max_seq,
                       "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
            for i, t in enumerate(SPECIALS)],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None,
                       "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {t: i for i, t in enumerate(vocab)}}}


def dump_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---------------------------------------------------------------- GGUF

# HF name -> llama.cpp name (gguf-py MODEL_ARCH.BERT); pooler.* and
# embeddings.position_ids are dropped, as convert_hf_to_gguf.py does.
def gguf_name(hf):
    top = {"embeddings.word_embeddings": "token_embd",
           "embeddings.position_embeddings": "position_embd",
           "embeddings.token_type_embeddings": "token_types",
           "embeddings.LayerNorm": "token_embd_norm"}
    layer = {"attention.self.query": "attn_q", "attention.self.key": "attn_k",
             "attention.self.value": "attn_v",
             "attention.output.dense": "attn_output",
             "attention.output.LayerNorm": "attn_output_norm",
             "intermediate.dense": "ffn_up", "output.dense": "ffn_down",
             "output.LayerNorm": "layer_output_norm"}
    base, suffix = hf.rsplit(".", 1)
    if base in top:
        return top[base] + "." + suffix
    if base.startswith("encoder.layer."):
        _, _, n, rest = base.split(".", 3)
        return "blk.%s.%s.%s" % (n, layer[rest], suffix)
    return None


def gguf_order(a):
    """HF names in the order the GGUF lists them."""
    names = ["embeddings.word_embeddings.weight",
             "embeddings.token_type_embeddings.weight",
             "embeddings.position_embeddings.weight",
             "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for n in range(a.layers):
        p = "encoder.layer.%d." % n
        for s in ("attention.self.query", "attention.self.key",
                  "attention.self.value", "attention.output.dense",
                  "attention.output.LayerNorm", "intermediate.dense",
                  "output.dense", "output.LayerNorm"):
            names += [p + s + ".weight", p + s + ".bias"]
    return names


def low_precision_type(hf, arr, ftype):
    """ggml type of a tensor in an F16 / Q8_0 file, following
    convert_hf_to_gguf.py: 1-D tensors, norms, position_embd and token_types
    stay F32; other 2-D weights (token_embd included) become F16, or Q8_0 when
    ne[0] is a multiple of 32 (else F16)."""
    if arr.ndim < 2 or "LayerNorm" in hf or hf in (
            "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight"):
        return "F32"
    if ftype == "q8_0" and arr.shape[-1] % 32 == 0:
        return "Q8_0"
    return "F16"


def quantize_q8_0(x):
    """ggml quantize_row_q8_0_ref: per 32 values d = max|x|/127 (stored F16),
    q = round-half-away(x / d) as int8.  -> uint8 block bytes (34 per block)."""
    blocks = x.astype(np.float32).reshape(-1, 32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d)
    v = blocks * inv
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    # every block with a nonzero scale uses the full range
    assert (np.abs(q.astype(np.int32)).max(axis=1)[d[:, 0] > 0] == 127).all()
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out


def dequantize_q8_0(raw, shape):
    b = np.asarray(raw, dtype=np.uint8).reshape(-1, 34)
    d = b[:, :2].copy().view(np.float16).astype(np.float32)
    q = b[:, 2:].view(np.int8).astype(np.float32)
    return (q * d).reshape(shape)


def phantom(tok):
    """llama.cpp BertModel.set_vocab: special (CONTROL) tokens unchanged,
    "##x" -> "x", every other token gets a U+2581 word-start prefix."""
    if tok in SPECIALS:
        return tok
    if tok.startswith("##"):
        return tok[2:]
    return "\u2581" + tok


def write_gguf(path, kvs, tensors, alignment=32):
    """Streaming GGUF v3 writer.  kvs: [(key, type, value)], ARR values as
    (elem_type, list); tensors: [(name, ggml type, ne, ndarray of the data)]."""
    head = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for key, t, v in kvs:
        head.append(gguf_string(key.encode()) + struct.pack("<I", t))
        if t == ARR:
            et, vals = v
            head.append(struct.pack("<IQ", et, len(vals)))
            if et == STR:
                head += [gguf_string(x.encode()) for x in vals]
            else:
                head.append(np.asarray(vals, dtype="<i4" if et == I32 else "<u4")
                            .tobytes())
        else:
            head.append(gguf_scalar(t, v.encode() if t == STR else v))
    pos, offs = 0, []
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
            f.write(memoryview(np.ascontiguousarray(data)).cast("B"))


def gguf_file(path, a, vocab, w, ftype, head=None):
    """Write one GGUF; returns {hf name: weights as the file holds them
    (float32, dequantised)} for the reference and the error report.
    head: None, "pooler" or "out": a sequence-classification head in
    llama.cpp's spelling (hf_cls's classifier as cls.output, labels in
    bert.classifier.output_labels; with "pooler" also the pooler as cls,
    as its converter writes RoBERTa-style heads; with "out" no labels)."""
    file_type = {"f32": 0, "f16": 1, "q8_0": 7}[ftype]
    kvs = [
        ("general.architecture", STR, "bert"),
        ("general.type", STR, "model"),
        ("general.name", STR, "pg_infer test bert L%d H%d" % (a.layers, a.hidden)),
        ("bert.block_count", U32, a.layers),
        ("bert.context_length", U32, a.max_pos),
        ("bert.embedding_length", U32, a.hidden),
        ("bert.feed_forward_length", U32, a.ffn),
        ("bert.attention.head_count", U32, a.heads),
        ("bert.attention.layer_norm_epsilon", GG_F32, a.eps),
        ("general.file_type", U32, file_type),
        ("bert.attention.causal", BOOL, False),
        ("bert.pooling_type", U32, 1),                  # 1 = MEAN
        ("tokenizer.ggml.token_type_count", U32, 2),
        ("tokenizer.ggml.model", STR, "bert"),
        ("tokenizer.ggml.pre", STR, "default"),
        ("tokenizer.ggml.tokens", ARR, (STR, [phantom(t) for t in vocab])),
        # 3 = CONTROL for the special tokens, 1 = NORMAL
        ("tokenizer.ggml.token_type", ARR,
         (I32, [3 if t in SPECIALS else 1 for t in vocab])),
        ("tokenizer.ggml.unknown_token_id", U32, vocab.index("[UNK]")),
        ("tokenizer.ggml.seperator_token_id", U32, vocab.index("[SEP]")),
        ("tokenizer.ggml.padding_token_id", U32, vocab.index("[PAD]")),
        ("tokenizer.ggml.cls_token_id", U32, vocab.index("[CLS]")),
        ("tokenizer.ggml.mask_token_id", U32, vocab.index("[MASK]")),
        ("general.quantization_version", U32, 2),
    ]
    if head == "pooler":
        kvs.append(("bert.classifier.output_labels", ARR, (STR, CLS_LABELS)))
    tensors, held = [], {}
    for hf in gguf_order(a):
        arr = w[hf]
        ne = list(arr.shape[::-1])          # ne[0] fastest: (out, in) -> [in, out]
        tname = "F32" if ftype == "f32" else low_precision_type(hf, arr, ftype)
        if tname == "F32":
            data, held[hf] = arr, arr
        elif tname == "F16":
            data = arr.astype(np.float16)
            held[hf] = data.astype(np.float32)
        else:
            data = quantize_q8_0(arr)
            held[hf] = dequantize_q8_0(data, arr.shape)
        tensors.append((gguf_name(hf), tname, ne, data))
    if head is not None:
        c = classifier_weights(a)
        gg = [("cls.output.weight", c["classifier.weight"]), ("cls.output.bias", c["classifier.bias"])]
        if head == "pooler":
            gg = [("cls.weight", w["pooler.dense.weight"]), ("cls.bias", w["pooler.dense.bias"])] + gg
        for name, arr in gg:
            tensors.append((name, "F32", list(arr.shape[::-1]), arr))
    write_gguf(path, kvs, tensors)
    return held, {gguf_name(hf): t for hf, (_, t, _, _) in zip(gguf_order(a), tensors)}


# ---------------------------------------------------------------- texts


def make_cases(vocab_set, max_seq):
    """~26 texts covering the tokenizer and truncation edge cases."""
    L = max_seq - 2                      # word-piece budget per sequence
    words = [w for w in WORDS if w in vocab_set]   # each is one token
    seq = lambda n, k=0: " ".join(words[(k + i) % len(words)] for i in range(n))
    cases = [
        ("empty", ""),
        ("whitespace_only", "  \t \n "),
        ("one_word", "hello"),
        ("short", "the cat sat on the mat."),
        ("mixed_case_punct", "Hello, World! The QUICK Brown fox."),
        ("pieces", "running quickly, the dogs jumped over lazy foxes"),
        ("accents", "caf\u00e9 r\u00e9sum\u00e9 na\u00efve"),
        ("unknown_char", "the straße is long"),     # no piece covers "ß"
        ("cjk_emoji", "the \u4e2d\u6587 dog \U0001F642 ran"),
        ("long_word", "a " + "x" * 101 + " b"),   # > 100 chars: [UNK]
        ("numbers", "in 2024 there were 42 cats and 7 dogs"),
        ("spacing", "  multiple   spaces\tand\nnew lines\u00a0here  "),
        # removed by clean_text (Cc, Cf, U+FFFD); no NUL: PostgreSQL text has none
        ("control_chars", "stop\x07 and\u200b go\ufffd"),
        ("punct_runs", "wait... what?! (yes) -- no;"),
        ("apostrophe", "don't stop, it's the dog's toy"),
        ("hyphen", "state-of-the-art vector search"),
        ("repeat", "the the the the the"),
        ("char_pieces", "xylophone zebra quizzical"),
        ("medium", "a library for parsing yaml and a postgres table "
                   "with an index on the embedding column of every row"),
        ("medium2", "once upon a time there was a little red bicycle that "
                    "could find its way home through the city and the trees"),
        ("max_minus_1", seq(L - 1)),
        ("max_exact", seq(L, 3)),
        ("max_plus_1", seq(L + 1, 5)),
        # 1 + 2k pieces ("run ##ning"): the cut falls inside a word
        ("over_pieces", "a " + " ".join(["running"] * (L // 2 + 3))),
        ("over_long", seq(2 * L + 7, 11)),
    ]
    return cases


def make_pairs(vocab_set, max_seq):
    """(query, document) pairs, short and past max_seq either way."""
    words = [w for w in WORDS if w in vocab_set]
    seq = lambda n, k=0: " ".join(words[(k + i) % len(words)] for i in range(n))
    return [("red bicycle", "a little red bicycle in the city"),
            ("red bicycle", "the cat sat on the mat."),
            ("where is the dog", "the dog ran home through the trees"),
            ("", "an empty query"),
            ("short query", seq(2 * max_seq, 1)),            # only the document is cut
            (seq(2 * max_seq, 2), "short document"),         # only the query is cut
            (seq(max_seq, 3), seq(max_seq + 5, 4)),          # both cut, odd room
            (seq(max_seq - 10, 5), seq(max_seq - 10, 6))]    # both cut, equal lengths


def make_ner_texts(cases):
    """The embedding cases' texts (their names), then texts written for
    token classification: capitalised names, accents, punctuation, digits,
    CJK, out-of-vocabulary words ([UNK]), odd spacing and one past max_pos."""
    extra = [
        ("ner_accents", "Zo\u00eb Salda\u00f1a visited G\u00f6teborg with Bj\u00f6rn "
                        "and Ren\u00e9e."),
        ("ner_names", "John Smith works at Google in New York, said Mary."),
        ("ner_punct_digits", "Dr. Watson met O'Neil-Smith at 221B Baker Street, London (UK) "
                             "on 2024-05-01 for $1,234.56!"),
        ("ner_cjk", "\u6771\u4eac and \u5317\u4eac are cities; the \u4e2d\u6587 text"),
        ("ner_unknown", "\u00c6r\u00f8sk\u00f8bing, \u0141\u00f3d\u017a and Stra\u00dfe are words "
                        "the vocabulary lacks"),
        ("ner_spacing", "  Paris   and\tBerlin \n\n and   Rome  "),
        ("ner_emoji", "Anna \U0001F642 met Maria \U0001F680 at the Cafe"),
        ("ner_expand", "\u0130stanbul, \u212blesund and the \u212aelvin scale; "
                       "\ud55c\uad6d Seoul"),
        ("ner_zero_width", "Hello\u200bWorld\x07 and good\u00adbye"),
        ("ner_in_vocab", "The Red Bicycle Of The City Was Left At The School By The Sea."),
        ("ner_combining", "cafe\u0301 and re\u0301sume\u0301 in Ame\u0301lie's Paris"),
        ("ner_long", " ".join(["Alice Johnson met Bob Brown at the Red Cafe in Paris."] * 6)),
    ]
    return [(n, t) for n, t in cases] + extra


def make_qa_pairs():
    """(name, question, context): short contexts from the vocabulary, some
    with accents and punctuation, long ones needing several windows, and
    questions too long for windows (errors)."""
    words = WORDS
    sent = lambda k, n: " ".join(words[(k + 7 * i) % len(words)] for i in range(n))
    para = lambda k, n: ". ".join(sent(k + 31 * j, 9).capitalize() for j in range(n)) + "."
    return [
        ("dog", "where is the dog", "the dog ran home through the trees"),
        ("bicycle", "what is red", "a little red bicycle in the city"),
        ("mat", "who sat on the mat?", "The cat sat on the mat."),
        ("fox", "what did the fox do", "the quick brown fox jumped over the lazy dog"),
        ("story", "when did it start",
         "once upon a time there was a little red bicycle that could find its way home"),
        ("accents", "Which caf\u00e9?", "We met at the caf\u00e9, then read a r\u00e9sum\u00e9; "
                                       "na\u00efve, but good."),
        ("accents_names", "Where does Zo\u00eb live?",
         "Zo\u00eb lives in G\u00f6teborg, near the sea."),
        ("digits", "how many cats", "in 2024 there were 42 cats and 7 dogs"),
        ("library", "what is the parser for",
         "a library for parsing yaml and a postgres table with an index on the embedding "
         "column of every row"),
        ("case", "WHERE IS THE LIBRARY?", "The Library is in the City, by the Old School!"),
        ("hyphen", "what is state of the art", "state-of-the-art vector search (in postgres) "
                                               "-- fast; small."),
        ("apostrophe", "whose toy", "don't stop, it's the dog's toy"),
        ("cjk", "what is the city", "\u6771\u4eac is a city; the \u4e2d\u6587 text"),
        ("repeat", "the", "the the the the the the"),
        ("two_tokens", "what", "the answer"),
        ("one_token", "what", "answer"),
        # two windows, the context within max_seq_len tokens
        ("fits_64", "where is the sea", sent(3, 61) + "."),
        ("long_1", "where is the sea", para(5, 10)),
        ("long_2", "what did the father say about the house",
         " ".join(["running quickly, the dogs jumped over lazy foxes;"] * 12)),
        ("long_3", "which tree", para(11, 25)),
        ("long_question", sent(2, 40), "the dog ran home through the trees"),
        ("error_stride", sent(4, 40), para(7, 10)),
        ("error_room", sent(6, 62), "the dog ran home"),
    ]


# ---------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=64)
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--max-pos", type=int, default=64)
    p.add_argument("--max-seq", type=int, default=None,
                   help="sentence-transformers max_seq_length (default max-pos)")
    p.add_argument("--eps", type=float, default=1e-12)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--formats", default=",".join(ALL_FORMATS))
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--hidden-states", choices=("auto", "yes", "no"), default="auto",
                   help="store last_hidden_state per text (auto: hidden <= 64)")
    p.add_argument("--check-offsets", metavar="FILE",
                   help="compare OUT/reference.json's ner and qa encodings with FILE "
                        "(Hugging Face tokenizers' output, test/prepare_models.sh) and exit")
    a = p.parse_args(argv)
    a.max_seq = a.max_seq or a.max_pos
    a.formats = [f for f in a.formats.split(",") if f]
    bad = set(a.formats) - set(ALL_FORMATS)
    if bad:
        p.error("unknown formats %s" % sorted(bad))
    if a.hidden % a.heads or a.max_seq > a.max_pos:
        p.error("hidden must divide by heads, max-seq <= max-pos")
    return a


def tolist(v):
    return [float(x) for x in v]


def main(argv=None):
    a = parse_args(argv)
    if a.check_offsets:
        sys.exit(check_offsets(a.out, a.check_offsets))
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    vocab = make_vocab(a.vocab)
    w = make_weights(a, np.random.default_rng(a.seed))
    cfg = {"num_attention_heads": a.heads, "num_hidden_layers": a.layers,
           "layer_norm_eps": a.eps}

    # ---- files
    variants = {"reference": w}          # weight sets the reference runs on
    errors = {}
    for fmt in a.formats:
        if fmt in HEADS:
            d = os.path.join(a.out, fmt)
            shutil.rmtree(d, ignore_errors=True)
            write_head_dir(d, a, vocab, w, fmt)
        elif fmt in ("hf", "hf_f16", "hf_sharded"):
            d = os.path.join(a.out, fmt)
            shutil.rmtree(d, ignore_errors=True)
            dt = np.float16 if fmt == "hf_f16" else np.float32
            write_hf_dir(d, a, vocab, hf_tensors(w, a.max_pos, dt),
                         "float16" if fmt == "hf_f16" else "float32",
                         shards=2 if fmt == "hf_sharded" else 1)
            if fmt == "hf_f16":
                variants["reference_hf_f16"] = {
                    n: v.astype(np.float16).astype(np.float32) for n, v in w.items()}
        else:
            held, types = gguf_file(os.path.join(a.out, "bert-%s.gguf" % fmt),
                                    a, vocab, w, fmt)
            if fmt == "f32" and "hf_cls" in a.formats:
                for head in ("pooler", "out"):
                    gguf_file(os.path.join(a.out, "bert-cls-%s.gguf" % head), a, vocab, w, fmt, head)
            if fmt != "f32":
                variants["reference_" + fmt] = held
                diff = [np.abs(held[n] - w[n]).max() for n in held
                        if held[n] is not w[n]]
                rel = [(np.abs(held[n] - w[n]) / np.abs(w[n]).max()).max()
                       for n in held if held[n] is not w[n]]
                errors[fmt] = {"max_abs": float(max(diff)),
                               "max_abs_over_tensor_absmax": float(max(rel)),
                               "tensor_types": types}
                print("%s: max |w - w_%s| = %.3g (%.3g of tensor max)" %
                      (fmt, fmt, max(diff), max(rel)))
    t_files = time.time() - t0

    # ---- reference
    if not a.no_reference:
        write_reference(a, vocab, cfg, variants, errors)
    print("files %.1f s, total %.1f s -> %s" % (t_files, time.time() - t0, a.out))


def check_offsets(out, path):
    """Compare the reference's ner and qa encodings (ids, offsets, token
    types, word ids, windows) with those Hugging Face tokenizers (npm)
    wrote into path; print the counts; 0 when all agree.  The binding's
    offsets are tried as code points, UTF-16 units and UTF-8 bytes: only
    code points may match everywhere."""
    with open(os.path.join(out, "reference.json"), encoding="utf-8") as f:
        ref = json.load(f)
    with open(path, encoding="utf-8") as f:
        npm = json.load(f)
    bad, n_tok, unit = [], 0, {"code points": 0, "utf-16": 0, "utf-8": 0}

    def units(text, off):
        u16 = lambda i: len(text[:i].encode("utf-16-le")) // 2
        u8 = lambda i: len(text[:i].encode("utf-8"))
        return {"code points": off, "utf-16": [[u16(s), u16(e)] for s, e in off],
                "utf-8": [[u8(s), u8(e)] for s, e in off]}

    def same(what, want, got, text=None):
        nonlocal n_tok
        n_tok += len(want["ids"])
        for k in want:
            if want[k] != got.get(k):
                bad.append("%s: %s differ" % (what, k))
        if text is not None:
            for name, off in units(text, want["offsets"]).items():
                unit[name] += sum(a == b for a, b in zip(off, got["offsets"]))

    for r, n in zip(ref["ner"]["texts"], npm["ner"]):
        same("ner %s" % r["name"], {"ids": r["ids"], "offsets": r["offsets"]}, n, r["text"])
    n_windows = n_pipeline = n_known = 0
    sp = ref["special_ids"]
    for p, n in zip(ref["qa"]["pairs"], npm["qa"]):
        nq, nc = len(p["question_ids"]), len(p["context_ids"])
        full = {"ids": [sp["[CLS]"]] + p["question_ids"] + [sp["[SEP]"]] + p["context_ids"] +
                [sp["[SEP]"]],
                "type_ids": [0] * (nq + 2) + [1] * (nc + 1),
                "offsets": [[0, 0]] + p["question_offsets"] + [[0, 0]] + p["context_offsets"] +
                [[0, 0]],
                "words": [None] + p["question_words"] + [None] + p["context_words"] + [None],
                "sequence_ids": [None] + [0] * nq + [None] + [1] * nc + [None]}
        same("qa %s full" % p["name"], full, n["full"])
        if p["error"]:
            if n.get("error") is None or n["error"]["status"] == 0:
                bad.append("qa %s: the reference says %s, tokenizers did not fail"
                           % (p["name"], p["error"]))
            continue
        if "error" in n:
            bad.append("qa %s: tokenizers failed: %s" % (p["name"], n["error"]["message"]))
            continue
        want = [{"ids": w["ids"], "type_ids": w["type_ids"], "offsets": w["offsets"],
                 "words": w["words"],
                 "sequence_ids": [None] + [0] * nq + [None] +
                 [1] * (w["context_stop"] - w["context_start"]) + [None]}
                for w in p["windows"]]
        if len(want) != len(n["windows"]):
            bad.append("qa %s: %d windows, tokenizers %d"
                       % (p["name"], len(want), len(n["windows"])))
        for i, (x, y) in enumerate(zip(want, n["windows"])):
            # (the binding's postProcess drops the question's sequence ids of
            # an encoding truncate() left whole; the pipeline's are compared)
            same("qa %s window %d" % (p["name"], i),
                 {k: v for k, v in x.items() if k != "sequence_ids"}, y)
            n_windows += 1
        if want == n["pipeline"]:
            n_pipeline += 1
        elif nc > ref["qa"]["max_seq_len"]:
            n_known += 1    # tokenizers 0.23.1+: overflow lost past max_length (tokenizers#2091)
        else:
            bad.append("qa %s: the pipeline's windows differ" % p["name"])
    for b in bad:
        print("MISMATCH", b)
    n_ner = sum(len(r["ids"]) for r in ref["ner"]["texts"])
    print("offsets vs Hugging Face tokenizers %s (npm): %d tokens compared (ner: %d texts, %d "
          "tokens; qa: %d pairs in full, %d windows); %d mismatches" %
          (npm.get("tokenizers"), n_tok, len(ref["ner"]["texts"]), n_ner,
           len(ref["qa"]["pairs"]), n_windows, len(bad)))
    print("  ner offsets read as %s" % ", ".join("%s: %d/%d equal" % (k, v, n_ner)
                                                 for k, v in unit.items()))
    print("  qa pipeline windows (truncation only_second + stride): %d pairs equal, %d long "
          "contexts short of windows (tokenizers 0.23.1+ overflow regression)" %
          (n_pipeline, n_known))
    return 1 if bad or unit["code points"] != n_ner else 0


def sequence_probs(weights, cls_row, a, pooler=True):
    """BertForSequenceClassification's softmax(classifier(tanh(pooler(h_CLS))));
    without pooler softmax(classifier(h_CLS)) (llama.cpp's BERT heads)."""
    c = bert_ref.as_float64(classifier_weights(a))
    pooled = cls_row
    if pooler:
        pooled = np.tanh(weights["pooler.dense.weight"] @ cls_row + weights["pooler.dense.bias"])
    z = c["classifier.weight"] @ pooled + c["classifier.bias"]
    e = np.exp(z - z.max())
    return e / e.sum()


def ner_reference(a, vocab, weights, cfg, cases):
    """reference.json "ner": per text the encoding with offsets, the
    per-token probabilities of hf_ner's head and the "simple" entities."""
    vocab_map = {t: i for i, t in enumerate(vocab)}
    head = bert_ref.as_float64(ner_weights(a, weights, vocab))
    out = []
    for name, text in make_ner_texts(cases):
        enc = bert_ref.encode_offsets(text, vocab_map, a.max_pos)
        n = len(enc["ids"])
        z = bert_ref.token_logits(weights, cfg, enc["ids"], [0] * n,
                                  head["classifier.weight"], head["classifier.bias"])
        probs = bert_ref.softmax(z)
        special = [i == 0 or i == n - 1 for i in range(n)]
        labels, ents = bert_ref.ner(probs, enc["offsets"], special, NER_LABELS)
        top2 = np.sort(z, axis=1)[:, -2:]
        margin = min((float(t[1] - t[0]) for t, sp in zip(top2, special) if not sp), default=None)
        out.append({"name": name, "text": text, "tokens": enc["tokens"], "ids": enc["ids"],
                    "offsets": enc["offsets"], "n_tokens": n, "n_pieces": enc["n_pieces"],
                    "truncated": enc["truncated"], "probs": [tolist(r) for r in probs],
                    "token_labels": labels, "min_logit_margin": margin,
                    "entities": [{"entity": text[e["start"]:e["end"]], "label": e["label"],
                                  "start": e["start"], "end": e["end"], "score": e["score"],
                                  "n_tokens": e["n_tokens"]} for e in ents]})
    return out


def qa_reference(a, vocab_map, weights, cfg):
    """reference.json "qa": per (question, context) pair the windows with
    their logits and the answers for each top_k."""
    head = bert_ref.as_float64(qa_weights(a))
    max_seq_len = min(384, a.max_pos)
    stride = min(128, max_seq_len // 2)
    out = []
    for name, question, context in make_qa_pairs():
        q = bert_ref.tokenize_offsets(question, vocab_map)
        c = bert_ref.tokenize_offsets(context, vocab_map)
        spans, error = bert_ref.qa_windows(len(q), len(c), max_seq_len, stride)
        windows = []
        for start, stop in spans:
            w = bert_ref.qa_window_encoding(q, c, start, stop, vocab_map)
            z = bert_ref.token_logits(weights, cfg, w["ids"], w["type_ids"],
                                      head["qa_outputs.weight"], head["qa_outputs.bias"])
            w.update({"context_start": start, "context_stop": stop,
                      "start_logits": tolist(z[:, 0]), "end_logits": tolist(z[:, 1])})
            windows.append(w)
        pair = {"name": name, "question": question, "context": context,
                "question_tokens": [t[0] for t in q],
                "question_ids": [vocab_map[t[0]] for t in q],
                "question_offsets": [[t[1], t[2]] for t in q],
                "question_words": [t[3] for t in q],
                "context_tokens": [t[0] for t in c],
                "context_ids": [vocab_map[t[0]] for t in c],
                "context_offsets": [[t[1], t[2]] for t in c],
                "context_words": [t[3] for t in c],
                "room": max_seq_len - len(q) - 3, "error": error,
                "windows": [{k: w[k] for k in ("context_start", "context_stop", "ids", "type_ids",
                                               "offsets", "words", "start_logits", "end_logits")}
                            for w in windows],
                "answers": {}, "answers_hf": {}, "score_gap": {}}
        for k in QA_TOP_K:
            if error:
                pair["answers"]["top%d" % k] = pair["answers_hf"]["top%d" % k] = None
                continue
            ans, ranked = bert_ref.qa_answers(windows, context, k, QA_MAX_ANSWER_LEN, QA_MASK)
            pair["answers"]["top%d" % k] = ans
            # relative gap between consecutive scores down to the first answer left out
            sc = [r[1] for r in ranked[:k + 1]]
            pair["score_gap"]["top%d" % k] = min(
                ((x - y) / x for x, y in zip(sc, sc[1:])), default=None)
            pair["answers_hf"]["top%d" % k] = bert_ref.qa_answers_hf(
                windows, context, k, QA_MAX_ANSWER_LEN, QA_MASK)
        out.append(pair)
    return {"max_seq_len": max_seq_len, "doc_stride": stride}, out


def check_ner(texts):
    """Self-checks of the NER reference; prints the counts."""
    n_tok = n_ent = n_multi = n_join = n_split = 0
    types = set()
    for t in texts:
        text, n = t["text"], t["n_tokens"]
        assert t["ids"][0] == 2 and t["ids"][-1] == 3 and n == len(t["ids"]) == len(t["probs"])
        for tok, (s, e) in zip(t["tokens"][1:-1], t["offsets"][1:-1]):
            assert 0 <= s < e <= len(text)
            if tok != "[UNK]":   # the span normalizes back to the piece
                want = tok[2:] if tok.startswith("##") else tok
                assert "".join(bert_ref.basic_tokenize(text[s:e])) == want, (tok, text[s:e])
        labs = t["token_labels"][1:-1]
        n_tok += len(labs)
        for x, y in zip(labs, labs[1:]):
            if x[2:] == y[2:] and x != "O" and y.startswith("I-"):
                n_join += 1
            elif x != "O" and y.startswith("I-") and x[2:] != y[2:]:
                n_split += 1
        for e in t["entities"]:
            n_ent += 1
            n_multi += e["n_tokens"] > 1
            types.add(e["label"])
            assert e["entity"] == text[e["start"]:e["end"]]
    tr = [t["name"] for t in texts if t["truncated"]]
    assert "ner_long" in tr
    print("ner: %d texts, %d labelled tokens, %d entities (%d of several tokens; types %s), "
          "%d B/I-X -> I-X joins, %d I-Y after another type, truncated: %s, min logit margin %.3g"
          % (len(texts), n_tok, n_ent, n_multi, ",".join(sorted(types)), n_join, n_split,
             ",".join(tr), min(t["min_logit_margin"] for t in texts
                               if t["min_logit_margin"] is not None)))
    assert n_ent >= 20 and n_multi >= 3 and len(types) == 4


def check_qa(pairs, params):
    """Self-checks of the QA reference; prints the counts."""
    n_win = sum(len(p["windows"]) for p in pairs)
    multi = [p["name"] for p in pairs if len(p["windows"]) > 1]
    errs = [(p["name"], p["error"]) for p in pairs if p["error"]]
    for p in pairs:
        for w in p["windows"]:
            assert len(w["ids"]) <= params["max_seq_len"]
        if not p["error"]:
            ws = p["windows"]
            assert ws[0]["context_start"] == 0 and ws[-1]["context_stop"] == len(p["context_ids"])
            for x, y in zip(ws, ws[1:]):   # consecutive windows overlap by doc_stride tokens
                assert x["context_stop"] - y["context_start"] == params["doc_stride"]
            for k, ans in p["answers"].items():
                for x in ans:
                    assert x["answer"] == p["context"][x["start"]:x["end"]]
    gaps = [g for p in pairs for g in p["score_gap"].values() if g is not None]
    print("qa: %d pairs, %d windows, several windows: %s; errors: %s; min relative score gap %.3g"
          % (len(pairs), n_win, ",".join("%s(%d)" % (n, len(p["windows"])) for n in multi
                                         for p in pairs if p["name"] == n),
             ",".join("%s=%s" % e for e in errs), min(gaps)))
    assert len(multi) >= 3 and len(errs) == 2


def write_reference(a, vocab, cfg, variants, errors):
    vocab_map = {t: i for i, t in enumerate(vocab)}
    cases = make_cases(vocab_map, a.max_seq)
    out_cases = []
    for name, text in cases:
        tokens, ids, truncated = bert_ref.tokenize(text, vocab_map, a.max_seq)
        out_cases.append({"name": name, "text": text, "tokens": tokens,
                          "ids": ids, "n_tokens": len(ids), "truncated": truncated})
    batch = [c["ids"] for c in out_cases]
    store_hidden = a.hidden_states == "yes" or (a.hidden_states == "auto" and
                                                a.hidden <= 64)
    batch_diff = 0.0
    for key, weights in variants.items():
        weights = bert_ref.as_float64(weights)
        # each text alone ...
        for c in out_cases:
            e, hidden, _ = bert_ref.embeddings(weights, cfg, [c["ids"]])
            c[key] = {k: tolist(v) for k, v in e[0].items()}
            if key == "reference" and store_hidden:
                c["last_hidden_state"] = [tolist(r) for r in hidden[0]]
            if key == "reference" and "hf_cls" in a.formats:
                c["cls_probs"] = tolist(sequence_probs(weights, hidden[0][0], a))
                c["cls_out_probs"] = tolist(sequence_probs(weights, hidden[0][0], a, pooler=False))
    # ... and all in one right-padded batch: must agree (a self-check of
        # the reference's masking, done once: it does not depend on weights)
        if key != "reference":
            continue
        eb, _, _ = bert_ref.embeddings(weights, cfg, batch)
        for c, e in zip(out_cases, eb):
            for k, v in e.items():
                batch_diff = max(batch_diff, float(np.abs(v - np.array(c[key][k])).max()))
    assert batch_diff < 1e-9, "batched reference differs: %g" % batch_diff
    # cross-encoder pairs through the sequence head (hf_cls as a reranker)
    pairs = []
    if "hf_cls" in a.formats:
        weights = bert_ref.as_float64(variants["reference"])
        for q, d in make_pairs(vocab_map, a.max_seq):
            ids, types = bert_ref.pair_tokenize(q, d, vocab_map, a.max_seq)
            hidden, _ = bert_ref.forward(weights, cfg, [ids], [types])
            pairs.append({"query": q, "doc": d, "ids": ids, "types": types,
                          "probs": tolist(sequence_probs(weights, hidden[0][0], a))})
    # the tokenizer edge cases must really be what they claim
    by = {c["name"]: c for c in out_cases}
    assert by["empty"]["ids"] == [2, 3] and by["whitespace_only"]["ids"] == [2, 3]
    assert by["max_exact"]["n_tokens"] == a.max_seq and not by["max_exact"]["truncated"]
    assert by["max_minus_1"]["n_tokens"] == a.max_seq - 1
    for n in ("max_plus_1", "over_pieces", "over_long"):
        assert by[n]["truncated"] and by[n]["n_tokens"] == a.max_seq
        assert by[n]["ids"][-1] == 3
    assert 1 in by["unknown_char"]["ids"] and 1 in by["long_word"]["ids"]
    assert any(t.startswith("##") for t in by["pieces"]["tokens"])
    print("reference: %d texts x %d weight sets, batch vs single max diff %.2g" %
          (len(out_cases), len(variants), batch_diff))
    weights = bert_ref.as_float64(variants["reference"])
    ner = qa = None
    if "hf_ner" in a.formats:
        ner = ner_reference(a, vocab, variants["reference"], cfg, cases)
        check_ner(ner)
    if "hf_qa" in a.formats:
        qa_params, qa = qa_reference(a, vocab_map, weights, cfg)
        check_qa(qa, qa_params)

    doc = {
        "format_version": 1,
        "generator": "test/models/gen_bert.py (reference: test/models/bert_ref.py, float64)",
        "seed": a.seed,
        "config": {"num_hidden_layers": a.layers, "hidden_size": a.hidden,
                   "num_attention_heads": a.heads, "intermediate_size": a.ffn,
                   "vocab_size": len(vocab), "max_position_embeddings": a.max_pos,
                   "max_seq_length": a.max_seq, "layer_norm_eps": a.eps,
                   "type_vocab_size": 2},
        "special_ids": {t: vocab.index(t) for t in SPECIALS},
        "truncation": "keep the first max_seq_length-2 word pieces, then "
                      "[CLS] ... [SEP] (HF tokenizers truncation, right side)",
        "token_type_ids": "all 0; positions 0..n-1",
        "pooling": {
            "mean": "average of the rows of non-padding tokens ([CLS], [SEP] included)",
            "cls": "row of token 0 ([CLS])",
            "max": "element-wise max over non-padding rows",
            "last": "row of the last non-padding token ([SEP])",
            "*_normalized": "v / max(||v||_2, 1e-12)"},
        "default_embedding": "mean_normalized (modules.json: Pooling mean + Normalize)",
        "weight_sets": {
            "reference": "the F32 weights (hf/, hf_sharded/, bert-f32.gguf)",
            "reference_f16": "bert-f16.gguf: F16-rounded 2-D weights, rest F32",
            "reference_q8_0": "bert-q8_0.gguf: Q8_0-dequantised 2-D weights, rest F32",
            "reference_hf_f16": "hf_f16/: every tensor F16-rounded"},
        "weight_errors": errors,
        "sequence_head": {"labels": CLS_LABELS, "cls_probs": "hf_cls/ and bert-cls-pooler.gguf: "
                          "softmax of classifier(tanh(pooler(hidden[CLS]))) per text",
                          "cls_out_probs": "bert-cls-out.gguf (llama.cpp's BERT head, no "
                          "pooler): softmax of classifier(hidden[CLS]) per text"},
        "batch_check": {"max_abs_diff_single_vs_padded_batch": batch_diff},
        "cases": out_cases,
        "pairs": pairs,
    }
    if ner is not None:
        doc["ner"] = {
            "model": "hf_ner", "labels": NER_LABELS, "max_length": a.max_pos,
            "encoding": "[CLS] + the first max_length - 2 word pieces + [SEP], token type 0; "
                        "pieces past that get no label",
            "offsets": "[start, end) per token in code points (Python str indices) of the "
                       "original text; [0, 0] for [CLS] and [SEP]",
            "probs": "softmax(h W^T + b) per token, [CLS] and [SEP] rows included",
            "aggregation": "TokenClassificationPipeline aggregation_strategy simple: label = "
                           "argmax (lowest id on ties), score = its probability; a token joins "
                           "the group iff same type as the group's last token and not B-; "
                           "group score = mean, span = first start .. last end; O groups "
                           "dropped after grouping",
            "texts": ner}
    if qa is not None:
        doc["qa"] = dict(qa_params, **{
            "model": "hf_qa", "max_answer_len": QA_MAX_ANSWER_LEN, "mask_value": QA_MASK,
            "top_k": list(QA_TOP_K),
            "windows": "[CLS] question [SEP] context[context_start:context_stop] [SEP]; token "
                       "types 0 up to the first [SEP], 1 after; room = max_seq_len - "
                       "len(question tokens) - 3 context tokens per window, windows start "
                       "at 0, room - doc_stride, ... up to the first reaching the end",
            "errors": "question_too_long: room < 1 and the context does not fit; "
                      "stride_not_below_room: 1 <= room <= doc_stride and the context does "
                      "not fit (Hugging Face tokenizers fails on both)",
            "answers": "per window non-context logits ([CLS], question, [SEP]) set to "
                       "mask_value, softmax over the window for start and end; candidates "
                       "s <= e < s + max_answer_len, both context tokens, score p_start[s] * "
                       "p_end[e], span (offsets[s][0], offsets[e][1]) in the context; "
                       "identical spans keep the highest score over windows; sorted by score "
                       "descending, then start, then end; the first top_k",
            "answers_hf": "transformers QuestionAnsweringPipeline defaults, for comparison: "
                          "[CLS] unmasked in the softmax then 0; per window top_k; spans "
                          "widened to whole words; equal answers ignoring case add their "
                          "scores; null when a window has fewer than top_k candidates",
            "pairs": qa})
    with open(os.path.join(a.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
