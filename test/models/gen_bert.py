#!/usr/bin/python3
"""Write a random-weight BERT encoder in every layout pg_infer reads, plus
reference embeddings computed independently in float64 (bert_ref.py).

    /usr/bin/python3 test/models/gen_bert.py OUT_DIR            # tiny model
    /usr/bin/python3 test/models/gen_bert.py OUT_DIR --layers 6 --hidden 384 \\
        --heads 12 --ffn 1536 --vocab 30522 --max-pos 512           # MiniLM-L6 shape
    options: --layers --hidden --heads --ffn --vocab --max-pos --max-seq --seed
             --formats hf,hf_f16,hf_sharded,f32,f16,q8_0  --no-reference

Deterministic for given options (numpy default_rng(seed); weights are drawn in
a fixed order whatever --formats says).  Output (see README.md):

  OUT/hf/           sentence-transformers model directory, F32 safetensors
  OUT/hf_f16/       the same weights stored as F16 (every tensor, as torch .half())
  OUT/hf_sharded/   F32, split over two shards + model.safetensors.index.json
  OUT/bert-f32.gguf, bert-f16.gguf, bert-q8_0.gguf   llama.cpp BERT layout
  OUT/hf_cls/       BertForSequenceClassification: the same encoder under "bert.",
                    its pooler, a random classifier of 3 labels (id2label)
  OUT/reference.json  ids and embeddings per text and pooling, per weight format

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

ALL_FORMATS = ("hf", "hf_f16", "hf_sharded", "f32", "f16", "q8_0", "hf_cls")
CLS_LABELS = ["negative", "neutral", "positive"]
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


def gguf_file(path, a, vocab, w, ftype):
    """Write one GGUF; returns {hf name: weights as the file holds them
    (float32, dequantised)} for the reference and the error report."""
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
        if fmt == "hf_cls":
            d = os.path.join(a.out, fmt)
            shutil.rmtree(d, ignore_errors=True)
            t = {"bert." + n: v for n, v in hf_tensors(w, a.max_pos, np.float32).items()}
            t.update(classifier_weights(a))
            write_hf_dir(d, a, vocab, t, "float32", config_extra={
                "architectures": ["BertForSequenceClassification"],
                "id2label": {str(i): l for i, l in enumerate(CLS_LABELS)},
                "label2id": {l: i for i, l in enumerate(CLS_LABELS)}})
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


def sequence_probs(weights, cls_row, a):
    """BertForSequenceClassification's softmax(classifier(tanh(pooler(h_CLS))))."""
    c = bert_ref.as_float64(classifier_weights(a))
    pooled = np.tanh(weights["pooler.dense.weight"] @ cls_row + weights["pooler.dense.bias"])
    z = c["classifier.weight"] @ pooled + c["classifier.bias"]
    e = np.exp(z - z.max())
    return e / e.sum()


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
        "sequence_head": {"labels": CLS_LABELS, "cls_probs": "hf_cls/: softmax of "
                          "classifier(tanh(pooler(hidden[CLS]))) per text"},
        "batch_check": {"max_abs_diff_single_vs_padded_batch": batch_diff},
        "cases": out_cases,
        "pairs": pairs,
    }
    with open(os.path.join(a.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
