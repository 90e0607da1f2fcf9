#!/usr/bin/python3
"""Random-weight CLIP models in Hugging Face's layout, with float64 NumPy
references of both towers and of the image preprocessing.

    /usr/bin/python3 test/models/gen_clip.py OUT_DIR
    /usr/bin/python3 test/models/gen_clip.py --vit-b32 OUT_DIR   # a ViT-B/32-shaped
                                                 # vision model for bench/images
    /usr/bin/python3 test/models/gen_clip.py --text-ref OUT_DIR  # after OUT_DIR/text_ids.json
    /usr/bin/python3 test/models/gen_clip.py --model-ref MODEL_DIR OUT.json  # the reference
                                  # embeddings of a vision model's examples/*.png

Output:
  OUT/clip/           CLIPModel (model_type "clip"): vision 32 px, patches of 8,
                      quick_gelu; text: the CLIP-style tokenizer.json of
                      clip_tokenizer.py (914 ids, BOS 912, EOS 913), 16
                      positions; projection 24; a logit_scale tensor
  OUT/clip_vision/    CLIPVisionModelWithProjection ("clip_vision_model"):
                      24 px, patches of 6, gelu, projection 512, non-square
                      preprocessing (shortest edge 24, centre crop 24), whose
                      text side is the model "use-lite" ("pg_infer" in config.json)
  OUT/clip_vision_badsha/  the same, naming use-lite with a sha256 it does not have
  OUT/images/         PNG and JPEG test images (sizes, grey, palette, alpha)
  OUT/reference.json  per model: per image its embedding (float64, L2-normalised);
                      for clip, per id sequence its text embedding by the
                      first-EOS rule and by the legacy argmax rule, logit_scale
  OUT/texts.json      texts for the text tower; test/prepare_models.sh writes
                      OUT/text_ids.json (their ids by Hugging Face tokenizers,
                      npm) and then --text-ref OUT/text_ref.json (the float64
                      embedding of those ids, truncated to 16 positions)

The references follow transformers' modeling_clip and CLIPImageProcessor
step by step (pre-LN blocks, causal text mask, class-token pooling with
post_layernorm, EOS pooling with final_layer_norm, projections without bias);
the pixels come from Pillow's decode and resize (what the processor calls),
everything after in float64.  Nothing here calls pg_infer.
"""
import io
import json
import math
import os
import shutil
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_bert import write_safetensors  # noqa: E402
from clip_tokenizer import write_clip_tokenizer  # noqa: E402

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
ERF = np.vectorize(math.erf)


# ---------------------------------------------------------------- reference

def layernorm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def activation(x, act):
    if act == "quick_gelu":
        return x / (1 + np.exp(-1.702 * x))
    return 0.5 * x * (1 + ERF(x / math.sqrt(2)))


def block(x, W, p, heads, act, eps, causal):
    T, h = x.shape
    dh = h // heads
    y = layernorm(x, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], eps)
    q = y @ W[p + "self_attn.q_proj.weight"].T + W[p + "self_attn.q_proj.bias"]
    k = y @ W[p + "self_attn.k_proj.weight"].T + W[p + "self_attn.k_proj.bias"]
    v = y @ W[p + "self_attn.v_proj.weight"].T + W[p + "self_attn.v_proj.bias"]
    ctx = np.zeros_like(x)
    for j in range(heads):
        s = slice(j * dh, (j + 1) * dh)
        sc = (q[:, s] * dh ** -0.5) @ k[:, s].T
        if causal:
            sc = np.where(np.tril(np.ones((T, T))) > 0, sc, -np.inf)
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        sc /= sc.sum(-1, keepdims=True)
        ctx[:, s] = sc @ v[:, s]
    x = x + ctx @ W[p + "self_attn.out_proj.weight"].T + W[p + "self_attn.out_proj.bias"]
    y = layernorm(x, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], eps)
    u = activation(y @ W[p + "mlp.fc1.weight"].T + W[p + "mlp.fc1.bias"], act)
    return x + u @ W[p + "mlp.fc2.weight"].T + W[p + "mlp.fc2.bias"]


def unit(v):
    return v / np.linalg.norm(v)


def vision_ref(W, vc, pixels):
    """pixels (3, S, S) float64 -> unit embedding"""
    P, S = vc["patch_size"], vc["image_size"]
    g = S // P
    conv = W["vision_model.embeddings.patch_embedding.weight"].reshape(vc["hidden_size"], -1)
    rows = [pixels[:, gy * P:(gy + 1) * P, gx * P:(gx + 1) * P].reshape(-1)
            for gy in range(g) for gx in range(g)]
    x = np.vstack([W["vision_model.embeddings.class_embedding"][None, :], np.array(rows) @ conv.T])
    x = x + W["vision_model.embeddings.position_embedding.weight"]
    eps = vc.get("layer_norm_eps", 1e-5)
    x = layernorm(x, W["vision_model.pre_layrnorm.weight"], W["vision_model.pre_layrnorm.bias"], eps)
    for layer in range(vc["num_hidden_layers"]):
        x = block(x, W, "vision_model.encoder.layers.%d." % layer, vc["num_attention_heads"],
                  vc["hidden_act"], eps, False)
    pooled = layernorm(x[0], W["vision_model.post_layernorm.weight"],
                       W["vision_model.post_layernorm.bias"], eps)
    return unit(W["visual_projection.weight"] @ pooled)


def text_ref(W, tc, ids, rule):
    x = W["text_model.embeddings.token_embedding.weight"][ids] + \
        W["text_model.embeddings.position_embedding.weight"][:len(ids)]
    eps = tc.get("layer_norm_eps", 1e-5)
    for layer in range(tc["num_hidden_layers"]):
        x = block(x, W, "text_model.encoder.layers.%d." % layer, tc["num_attention_heads"],
                  tc["hidden_act"], eps, True)
    x = layernorm(x, W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], eps)
    ids = np.array(ids)
    pos = int(ids.argmax()) if rule == "argmax" else int((ids == tc["eos_token_id"]).argmax())
    return unit(W["text_projection.weight"] @ x[pos])


def preprocess_ref(rgb, pp):
    """CLIPImageProcessor: shortest edge (Pillow resample), centre crop,
    rescale, normalise (float64) -> (3, crop, crop)"""
    h, w, _ = rgb.shape
    size = pp["size"]["shortest_edge"]
    short, long_ = (w, h) if w <= h else (h, w)
    new_long = int(size * long_ / short)
    nw, nh = (size, new_long) if w <= h else (new_long, size)
    a = np.asarray(Image.fromarray(rgb, "RGB").resize((nw, nh), resample=pp["resample"],
                                                      reducing_gap=None)).astype(np.float64)
    ch, cw = pp["crop_size"]["height"], pp["crop_size"]["width"]
    top, left = (nh - ch) // 2, (nw - cw) // 2
    a = a[top:top + ch, left:left + cw]
    a = (a * pp["rescale_factor"] - np.array(pp["image_mean"])) / np.array(pp["image_std"])
    return a.transpose(2, 0, 1)


# ---------------------------------------------------------------- weights

def tower_weights(rng, prefix, cfg, W):
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    for layer in range(cfg["num_hidden_layers"]):
        p = "%sencoder.layers.%d." % (prefix, layer)
        for ln in ("layer_norm1", "layer_norm2"):
            W[p + ln + ".weight"] = 1 + 0.1 * rng.standard_normal(h)
            W[p + ln + ".bias"] = 0.1 * rng.standard_normal(h)
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            W[p + "self_attn.%s.weight" % m] = rng.standard_normal((h, h)) / math.sqrt(h)
            W[p + "self_attn.%s.bias" % m] = 0.1 * rng.standard_normal(h)
        W[p + "mlp.fc1.weight"] = rng.standard_normal((f, h)) / math.sqrt(h)
        W[p + "mlp.fc1.bias"] = 0.1 * rng.standard_normal(f)
        W[p + "mlp.fc2.weight"] = rng.standard_normal((h, f)) / math.sqrt(f)
        W[p + "mlp.fc2.bias"] = 0.1 * rng.standard_normal(h)


def vision_weights(rng, vc, proj, W):
    h, P = vc["hidden_size"], vc["patch_size"]
    n = 1 + (vc["image_size"] // P) ** 2
    W["vision_model.embeddings.patch_embedding.weight"] = rng.standard_normal((h, 3, P, P)) / math.sqrt(3 * P * P)
    W["vision_model.embeddings.class_embedding"] = 0.5 * rng.standard_normal(h)
    W["vision_model.embeddings.position_embedding.weight"] = 0.3 * rng.standard_normal((n, h))
    for ln in ("pre_layrnorm", "post_layernorm"):
        W["vision_model.%s.weight" % ln] = 1 + 0.1 * rng.standard_normal(h)
        W["vision_model.%s.bias" % ln] = 0.1 * rng.standard_normal(h)
    tower_weights(rng, "vision_model.", vc, W)
    W["visual_projection.weight"] = rng.standard_normal((proj, h)) / math.sqrt(h)


def text_weights(rng, tc, proj, W):
    h = tc["hidden_size"]
    W["text_model.embeddings.token_embedding.weight"] = 0.5 * rng.standard_normal((tc["vocab_size"], h))
    W["text_model.embeddings.position_embedding.weight"] = 0.3 * rng.standard_normal(
        (tc["max_position_embeddings"], h))
    tower_weights(rng, "text_model.", tc, W)
    W["text_model.final_layer_norm.weight"] = 1 + 0.1 * rng.standard_normal(h)
    W["text_model.final_layer_norm.bias"] = 0.1 * rng.standard_normal(h)
    W["text_projection.weight"] = rng.standard_normal((proj, h)) / math.sqrt(h)


def preprocessor(size, crop, resample=3):
    return {"image_processor_type": "CLIPImageProcessor", "do_resize": True,
            "size": {"shortest_edge": size}, "resample": resample, "do_center_crop": True,
            "crop_size": {"height": crop, "width": crop}, "do_rescale": True,
            "rescale_factor": 1 / 255.0, "do_normalize": True, "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD, "do_convert_rgb": True}


def write_dir(d, config, pp, W, dtype=np.float32):
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f, indent=1)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {k: np.asarray(v, dtype=dtype) for k, v in W.items()})


# ---------------------------------------------------------------- images

def images(out, rng):
    d = os.path.join(out, "images")
    os.makedirs(d, exist_ok=True)
    made = []

    def scene(w, h):
        y, x = np.mgrid[0:h, 0:w]
        a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * y) % 256], -1)
        a = a + rng.integers(-30, 31, size=a.shape)
        for _ in range(3):
            x0, y0 = rng.integers(0, w), rng.integers(0, h)
            a[y0:y0 + h // 3, x0:x0 + w // 3] = rng.integers(0, 256, size=3)
        return np.clip(a, 0, 255).astype(np.uint8)

    shapes = [("a.png", 40, 30, "RGB"), ("b.png", 24, 24, "RGB"), ("c.png", 61, 100, "RGB"),
              ("d.jpg", 50, 50, "RGB"), ("e.png", 33, 27, "L"), ("f.png", 36, 48, "P"),
              ("g.png", 30, 40, "RGBA")]
    for name, w, h, mode in shapes:
        im = Image.fromarray(scene(w, h), "RGB")
        if mode == "L":
            im = im.convert("L")
        elif mode == "P":
            im = im.quantize(colors=23)
        elif mode == "RGBA":
            im.putalpha(Image.fromarray(rng.integers(0, 256, size=(h, w), dtype=np.uint8), "L"))
        b = io.BytesIO()
        im.save(b, format="JPEG" if name.endswith(".jpg") else "PNG", quality=90)
        with open(os.path.join(d, name), "wb") as f:
            f.write(b.getvalue())
        made.append(name)
    return made


def decoded(out, name):
    with open(os.path.join(out, "images", name), "rb") as f:
        return np.asarray(Image.open(io.BytesIO(f.read())).convert("RGB"))


# ---------------------------------------------------------------- main

def vit_b32(out):
    """A random-weight vision model of ViT-B/32's shape (CLIP's image tower:
    224 px, patches of 32, 12 layers, 768 wide, 12 heads, 3072, projection
    512), F32, no references: for bench/images"""
    vc = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu",
          "layer_norm_eps": 1e-5, "num_channels": 3}
    W = {}
    vision_weights(np.random.default_rng(32), vc, 512, W)
    config = dict(vc, architectures=["CLIPVisionModelWithProjection"], model_type="clip_vision_model",
                  projection_dim=512)
    write_dir(out, config, preprocessor(224, 224), W)


def model_ref(model_dir, out_path):
    """The float64 reference embedding of every examples/*.png of a vision
    model directory (the shipped scenes model): {file: embedding}"""
    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "config.json")) as f:
        vc = json.load(f)
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        pp = json.load(f)
    ex = os.path.join(model_dir, "examples")
    ref = {}
    for name in sorted(os.listdir(ex)):
        if name.endswith(".png"):
            rgb = np.asarray(Image.open(os.path.join(ex, name)).convert("RGB"))
            ref[name] = list(vision_ref(W, vc, preprocess_ref(rgb, pp)))
    with open(out_path, "w") as f:
        json.dump(ref, f)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--model-ref":
        model_ref(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--vit-b32":
        vit_b32(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--text-ref":
        text_ref_file(sys.argv[2])
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261205)
    files = images(out, rng)
    ref = {"images": files}

    # a full CLIPModel, with a CLIP-style tokenizer.json (test/models/clip_tokenizer.py)
    os.makedirs(os.path.join(out, "clip"), exist_ok=True)
    tok_path = os.path.join(out, "tokenizer.json.tmp")
    n_vocab, bos, eos = write_clip_tokenizer(tok_path, n_merges=400, seed=0)
    vc = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu",
          "layer_norm_eps": 1e-5, "num_channels": 3}
    tc = {"hidden_size": 40, "intermediate_size": 80, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": n_vocab, "max_position_embeddings": 16,
          "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "bos_token_id": bos,
          "eos_token_id": eos, "pad_token_id": eos}
    W = {}
    vision_weights(rng, vc, 24, W)
    text_weights(rng, tc, 24, W)
    W["logit_scale"] = np.array(2.0)
    config = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 24,
              "logit_scale_init_value": 2.6592, "text_config": tc, "vision_config": vc}
    pp = preprocessor(32, 32)
    write_dir(os.path.join(out, "clip"), config, pp, W)
    os.replace(tok_path, os.path.join(out, "clip", "tokenizer.json"))
    W = {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in W.items()}
    seqs = [[bos, 5, 9, eos], [bos] + list(rng.integers(0, bos, size=10)) + [eos],
            [bos, eos], [bos, 7, 7, 7, eos, 0, 0], [bos] + list(rng.integers(0, bos, size=14)) + [eos]]
    ref["clip"] = {
        "logit_scale": 2.0, "proj": 24,
        "images": [list(vision_ref(W, vc, preprocess_ref(decoded(out, n), pp))) for n in files],
        "texts": [{"ids": [int(i) for i in s],
                   "eos": list(text_ref(W, tc, s, "eos")),
                   "argmax": list(text_ref(W, tc, s, "argmax"))} for s in seqs]}

    # a vision-only model whose text side is use-lite; non-square crop path
    vc2 = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 2, "image_size": 24, "patch_size": 6, "hidden_act": "gelu",
           "layer_norm_eps": 1e-5, "num_channels": 3}
    W2 = {}
    vision_weights(rng, vc2, 512, W2)
    config2 = dict(vc2, architectures=["CLIPVisionModelWithProjection"], model_type="clip_vision_model",
                   projection_dim=512, pg_infer={"text_model": "use-lite"})
    pp2 = preprocessor(24, 24, resample=3)
    write_dir(os.path.join(out, "clip_vision"), config2, pp2, W2, dtype=np.float16)
    W2h = {k: np.asarray(v, dtype=np.float16).astype(np.float64) for k, v in W2.items()}
    ref["clip_vision"] = {
        "proj": 512,
        "images": [list(vision_ref(W2h, vc2, preprocess_ref(decoded(out, n), pp2))) for n in files],
        "pixels": {n: list(preprocess_ref(decoded(out, n), pp2).ravel()) for n in ("a.png", "c.png", "d.jpg", "f.png")}}
    config3 = dict(config2, pg_infer={"text_model": "use-lite", "text_model_sha256": "0" * 64})
    write_dir(os.path.join(out, "clip_vision_badsha"), config3, pp2, W2, dtype=np.float16)

    # a 36-megapixel PNG of a few kB (flat colour): decoding takes long enough
    # to cancel (test/pgtap/images.sql), no reference
    big = Image.new("RGB", (6000, 6000), (200, 30, 30))
    big.save(os.path.join(out, "big.png"), format="PNG", optimize=False, compress_level=9)

    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    with open(os.path.join(out, "texts.json"), "w") as f:
        json.dump(TEXTS, f, ensure_ascii=False)


# Texts for the text tower in SQL: their ids come from Hugging Face's
# tokenizers (npm) in test/prepare_models.sh, their embeddings from --text-ref
TEXTS = ["a photo of a cat", "A red bicycle leaning against the wall.", "two dogs", "",
         "Zürich in the SNOW!!", "x" * 40, "numbers 1234 and don't stop", "  spaces   everywhere  ",
         "émoji 🙂 and 日本語", "the the the the the the the the the the the the the the the the"]


def read_safetensors(path):
    """{name: float64 array} of an F32 / F16 safetensors file"""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        dt = {"F32": "<f4", "F16": "<f2"}[t["dtype"]]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dt).astype(np.float64).reshape(t["shape"])
    return out


def text_ref_file(out):
    """text_ref.json: per text of texts.json, the reference ids (text_ids.json,
    from Hugging Face's tokenizers) truncated to the model's positions as
    transformers' CLIP pipelines do (the last kept token made EOS), and the
    float64 text embedding of them"""
    W = read_safetensors(os.path.join(out, "clip", "model.safetensors"))
    with open(os.path.join(out, "clip", "config.json")) as f:
        tc = json.load(f)["text_config"]
    with open(os.path.join(out, "text_ids.json")) as f:
        cases = json.load(f)
    res = []
    for c in cases:
        ids = c["ids"]
        n = tc["max_position_embeddings"]
        if len(ids) > n:
            ids = ids[:n - 1] + [ids[-1]]
        res.append({"text": c["text"], "ids": ids, "full_ids": c["ids"],
                    "embedding": list(text_ref(W, tc, ids, "eos"))})
    with open(os.path.join(out, "text_ref.json"), "w") as f:
        json.dump(res, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
