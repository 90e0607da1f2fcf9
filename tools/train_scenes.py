#!/usr/bin/python3
"""tools/train_scenes.py: train the "scenes" image encoder, a small vision
transformer in Hugging Face's CLIPVisionModelWithProjection layout, against
the frozen text encoder use-lite (LiT: locked text, trained image side).

What it does
------------
1. Defines a small closed grammar of synthetic scenes: 1 to 3 flat shapes
   (circle, square, triangle) in 8 colours and 2 sizes on a plain light
   background, either one group of identical objects ("three small red
   circles") or two groups in a spatial relation ("two small red circles
   above a large blue square", "a large yellow circle left of a small purple
   square").  Every scene has exactly one caption, a deterministic function
   of its content (see caption_of); the whole caption set (13,872 captions)
   is enumerated up front.
2. Embeds every caption with use-lite through pg_infer, by piping them into
   psql (COPY in, `SELECT embed('use-lite', c)` over the table, COPY out),
   and caches the 512-dim L2-normalised embeddings in
   OUT/text_cache/use-lite.{npy,json} (rows keyed by caption; reruns embed
   only captions not cached yet).  The text side is never trained.
3. Trains the image encoder from scratch on freshly rendered scenes (every
   step draws new ones; infinite data), contrastively, with a learnable
   temperature (logit scale starting at 50), the loss being the sum of
     - InfoNCE of each image against ALL 13,872 grammar captions (image ->
       text, target = its caption's id, so an identical caption is never a
       negative);
     - 0.5 x the in-batch text -> image InfoNCE, the other images with the
       same caption masked out;
     - 1 x InfoNCE against the caption's one-edit neighbours only (another
       colour, shape, size, count or relation: hard negatives);
     - 3 x InfoNCE among the caption's 4 relation variants (two-group
       scenes): "above" vs "below" is the last thing the model learns;
   AdamW (lr 1e-3, weight decay 0.05 on matrices), linear warm-up then
   cosine decay, gradient clipping at 1; 2-D sin-cos initialisation of the
   (learnt) position table.  Every term compares image embeddings with the
   frozen use-lite caption embeddings; nothing but the image tower is
   trained.  The held-out scenes are only looked at for the progress lines
   of the log, never for choosing anything.
4. Exports OUT/scenes/ (config.json, model.safetensors written by hand,
   preprocessor_config.json, examples/), re-runs the exported file with an
   independent float64 NumPy forward pass and checks it matches torch,
   evaluates retrieval on 1,000 held-out scenes drawn from a disjoint seed,
   and writes OUT/metrics.json; the log goes to OUT/train.log.

Seeds: training step k renders its batch from numpy's
default_rng([--seed, 1, k]); the held-out scenes come from
default_rng([--eval-seed, 2]), a different seed sequence (the tag 1 / 2 keeps
the streams apart even if the two seeds were equal); torch.manual_seed(--seed)
initialises the weights.

Model (defaults): 64x64 RGB input, 8x8 patches (64 + 1 tokens), hidden 128,
6 pre-LN layers, 4 heads of 32, MLP 512 with quick_gelu, projection to 512;
1,288,704 parameters, 5.2 MB as float32 safetensors.

Images are rendered at 4x and box-downsampled to exactly the model's size
(64x64 RGB), so the runtime's CLIPImageProcessor steps (bicubic resize of the
shortest side to 64, centre crop 64x64) are an identity; training feeds the
network uint8 -> /255 -> (x - mean) / std with CLIP's mean and std, CHW, as
preprocessor_config.json says.

Reproduce
---------
    ./pg_infer.sh start                                   # the dev cluster, use-lite installed
    psql -h build/run -p 54329 -U postgres -c 'CREATE DATABASE scenes_train'
    psql -h build/run -p 54329 -U postgres -d scenes_train -c 'CREATE EXTENSION pg_infer'
    /usr/bin/python3 tools/train_scenes.py                # writes build/scenes_train/

(Debian's python3 with python3-torch, python3-numpy, python3-pil; a running
server with pg_infer and use-lite, reached with --pghost / --pgport /
--pgdatabase / --pguser, defaulting to PGHOST / PGPORT / PGDATABASE / PGUSER
and then to the repository's build/run (./pg_infer.sh's dev cluster), 54329,
scenes_train, postgres).

Threads: --threads N sizes torch's OpenMP pool and OpenBLAS's (torch's
matrix products run in Debian's OpenBLAS, which otherwise takes every core),
and idle OpenMP workers sleep rather than spin (OMP_WAIT_POLICY=PASSIVE).

Determinism: data order, rendering, initialisation and training are seeded
(--seed); with the same seed, --threads and machine the weights are
bit-identical (checked: two runs give the same model.safetensors sha256).
torch's CPU kernels may split reductions differently for another thread count
or CPU, so across those expect tiny float differences, not identical bytes.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the repository


def _threads_from_argv(argv, default=2):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(default)


if __name__ == "__main__":
    # torch's matrix products run in OpenBLAS, whose own thread pool is sized
    # when the library loads (by the numpy import below): set it, and
    # OpenMP's, from --threads first, or OpenBLAS takes every core.
    os.environ["OPENBLAS_NUM_THREADS"] = _threads_from_argv(sys.argv)
    os.environ["OMP_NUM_THREADS"] = _threads_from_argv(sys.argv)
    # idle OpenMP workers sleep instead of spinning against OpenBLAS's
    # threads (spinning made 2 threads slower than 1: 84 vs 114 images/s;
    # passive: 138)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import numpy as np
from PIL import Image, ImageDraw

# ---------------------------------------------------------------------------
# The scene grammar
# ---------------------------------------------------------------------------

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "black"]
SIZES = ["large", "small"]              # index 0 = large (sorts first)
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
RELATIONS = ["above", "below", "left of", "right of"]
FLIP = {0: 1, 1: 0, 2: 3, 3: 2}         # A above B == B below A, ...

PALETTE = {                             # base RGB, jittered per object
    "red": (214, 38, 38),
    "orange": (245, 135, 22),
    "yellow": (236, 202, 24),
    "green": (36, 160, 62),
    "blue": (36, 86, 214),
    "purple": (130, 56, 186),
    "pink": (240, 112, 178),
    "black": (34, 34, 34),
}

# Scene types and their probabilities (training and held-out alike)
#   ("single", n): one group of n identical objects
#   ("pair", n1, n2): subject group of n1, relation, object group of n2
SCENE_TYPES = [(("single", 1), 0.08), (("single", 2), 0.06),
               (("single", 3), 0.06), (("pair", 1, 1), 0.35),
               (("pair", 2, 1), 0.45)]

# A group is (count, size, colour, shape) with indices into the lists above.
# A scene is (groups, relation): one group and relation None, or two groups
# (subject, object) and a relation index: "subject <relation> object".


def group_key(g):
    """Canonical order of groups: more objects first, then large before
    small, then colour, then shape (list order)."""
    n, s, c, h = g
    return (-n, s, c, h)


def canonical(groups, rel):
    """The one caption-bearing form of a two-group scene: the group that
    sorts first by group_key is the subject (so "A above B" and "B below A",
    the same picture, get the same caption)."""
    if len(groups) == 1:
        return (tuple(groups), None)
    a, b = groups
    if group_key(b) < group_key(a):
        a, b, rel = b, a, FLIP[rel]
    return ((a, b), rel)


def group_phrase(g):
    n, s, c, h = g
    noun = SHAPES[h] + ("s" if n > 1 else "")
    return "%s %s %s %s" % (COUNT_WORDS[n], SIZES[s], COLOURS[c], noun)


def caption_of(scene):
    groups, rel = scene
    if rel is None:
        return group_phrase(groups[0])
    return "%s %s %s" % (group_phrase(groups[0]), RELATIONS[rel],
                         group_phrase(groups[1]))


def descriptors():
    return [(s, c, h) for s in range(len(SIZES)) for c in range(len(COLOURS))
            for h in range(len(SHAPES))]


def valid_scene(scene):
    groups, rel = scene
    if rel is None:
        return True
    # two single objects that look the same are "two ... s", not a relation
    return groups[0] != groups[1] or groups[0][0] != 1


def all_scenes():
    """Every canonical scene of the grammar, in a fixed order."""
    out = []
    D = descriptors()
    for n in (1, 2, 3):
        for d in D:
            out.append((((n,) + d,), None))
    for i, d1 in enumerate(D):                  # 1 + 1, unordered
        for d2 in D[i + 1:]:
            for r in range(len(RELATIONS)):
                out.append(canonical([(1,) + d1, (1,) + d2], r))
    for d1 in D:                                # 2 + 1
        for d2 in D:
            for r in range(len(RELATIONS)):
                out.append(canonical([(2,) + d1, (1,) + d2], r))
    return out


def edits(scene):
    """Scenes of the grammar one change away from scene, as (kind, scene):
    another colour, shape or size of one group, another count (1 <-> 2 in a
    relation, 1 / 2 / 3 alone), another relation.  Used as hard negatives in
    training and as the attribute probes of the evaluation."""
    groups, rel = scene
    out = []

    def put(kind, gs, r):
        sc = canonical(list(gs), r) if r is not None else (tuple(gs), None)
        if valid_scene(sc) and sc != scene:
            out.append((kind, sc))

    for gi, (n, s, c, h) in enumerate(groups):
        def with_group(g):
            gs = list(groups)
            gs[gi] = g
            return gs
        for c2 in range(len(COLOURS)):
            if c2 != c:
                put("colour", with_group((n, s, c2, h)), rel)
        for h2 in range(len(SHAPES)):
            if h2 != h:
                put("shape", with_group((n, s, c, h2)), rel)
        put("size", with_group((n, 1 - s, c, h)), rel)
        counts = (1, 2, 3) if rel is None else (1, 2)
        for n2 in counts:
            if n2 != n and (rel is None or n2 + groups[1 - gi][0] <= 3):
                put("count", with_group((n2, s, c, h)), rel)
    if rel is not None:
        for r in range(len(RELATIONS)):
            if r != rel:
                put("relation" if r != FLIP[rel] else "relation(opposite)", groups, r)
    return out


def sample_scene(rng):
    """Draw a canonical scene description (not yet its layout)."""
    p = np.array([w for _, w in SCENE_TYPES])
    t = SCENE_TYPES[rng.choice(len(SCENE_TYPES), p=p / p.sum())][0]
    D = descriptors()
    while True:
        if t[0] == "single":
            d = D[rng.integers(len(D))]
            scene = (((t[1],) + d,), None)
        else:
            d1 = D[rng.integers(len(D))]
            d2 = D[rng.integers(len(D))]
            rel = int(rng.integers(len(RELATIONS)))
            scene = canonical([(t[1],) + d1, (t[2],) + d2], rel)
        if valid_scene(scene):
            return scene


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

SS = 4                                  # supersampling factor
R_SMALL = (4.5, 6.0)                    # half-extent of an object, pixels
R_LARGE = (9.0, 11.5)                   # (at 64x64; scaled with the size)
GAP = 1.5                               # min gap between objects' boxes


def layout(scene, rng, S):
    """Object boxes (cx, cy, R, group) for a scene; R is the half-extent of
    the object's bounding box.  Rejection sampling: no two boxes closer than
    GAP; for a relation every object of the first group lies strictly on one
    side of a split line and every object of the other group on the other
    side, and the groups' centroids are further apart along the relation's
    axis than across it (x 1.25), so "above" never looks like "left of"."""
    k = S / 64.0
    groups, rel = scene
    for _ in range(1000):
        objs = []
        for gi, (n, s, c, h) in enumerate(groups):
            lo, hi = R_SMALL if SIZES[s] == "small" else R_LARGE
            for _ in range(n):
                objs.append([0.0, 0.0, rng.uniform(lo, hi) * k, gi])
        if rel is None:
            for o in objs:
                R = o[2]
                o[0] = rng.uniform(R + 1, S - R - 1)
                o[1] = rng.uniform(R + 1, S - R - 1)
        else:
            vertical = rel in (0, 1)
            first = 0 if rel in (0, 2) else 1   # group on top / at the left
            split = rng.uniform(0.35 * S, 0.65 * S)
            ok = True
            for o in objs:
                R = o[2]
                if o[3] == first:
                    a_lo, a_hi = R + 1, split - GAP / 2 - R
                else:
                    a_lo, a_hi = split + GAP / 2 + R, S - R - 1
                if a_hi < a_lo:
                    ok = False
                    break
                along = rng.uniform(a_lo, a_hi)
                across = rng.uniform(R + 1, S - R - 1)
                o[0], o[1] = (across, along) if vertical else (along, across)
            if not ok:
                continue
            c0 = np.mean([[o[0], o[1]] for o in objs if o[3] == 0], axis=0)
            c1 = np.mean([[o[0], o[1]] for o in objs if o[3] == 1], axis=0)
            dx, dy = abs(c0[0] - c1[0]), abs(c0[1] - c1[1])
            d_along, d_across = (dy, dx) if vertical else (dx, dy)
            if d_along < 1.25 * d_across:
                continue
        clash = False
        for i in range(len(objs)):
            for j in range(i):
                a, b = objs[i], objs[j]
                lim = a[2] + b[2] + GAP * k
                if abs(a[0] - b[0]) < lim and abs(a[1] - b[1]) < lim:
                    clash = True
        if not clash:
            return objs
    raise RuntimeError("no layout for %r" % (scene,))


def render(scene, rng, S):
    """uint8 (S, S, 3) image of the scene: drawn at SS x the size with PIL,
    box-averaged down (anti-aliasing), plus faint noise."""
    objs = layout(scene, rng, S)
    groups, _ = scene
    base = rng.uniform(226.0, 250.0)
    bg = tuple(int(round(min(255.0, base + t)))
               for t in rng.uniform(-7.0, 7.0, size=3))
    big = Image.new("RGB", (S * SS, S * SS), bg)
    dr = ImageDraw.Draw(big)
    for cx, cy, R, gi in objs:
        _, _, c, h = groups[gi]
        jit = 6.0 if COLOURS[c] == "black" else 14.0     # black stays grey
        col = np.clip(np.array(PALETTE[COLOURS[c]], dtype=np.float64)
                      + rng.uniform(-jit, jit, size=3), 0, 255)
        col = tuple(int(round(v)) for v in col)
        X, Y, Rs = cx * SS, cy * SS, R * SS
        shape = SHAPES[h]
        if shape == "circle":
            r = 0.9 * Rs
            dr.ellipse([X - r, Y - r, X + r, Y + r], fill=col)
        elif shape == "square":
            r = 0.8 * Rs
            dr.rectangle([X - r, Y - r, X + r, Y + r], fill=col)
        else:                           # triangle pointing up, box +-R
            dr.polygon([(X, Y - Rs), (X - Rs * 1.0, Y + Rs * 0.8),
                        (X + Rs * 1.0, Y + Rs * 0.8)], fill=col)
    a = np.asarray(big.reduce(SS), dtype=np.float32)      # SS x SS box mean
    a = a + rng.normal(0.0, 1.5, size=a.shape).astype(np.float32)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def draw_batch(rng, n, S):
    scenes, imgs = [], []
    for _ in range(n):
        sc = sample_scene(rng)
        scenes.append(sc)
        imgs.append(render(sc, rng, S))
    return scenes, np.stack(imgs)


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def preprocess(u8):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 as CLIPImageProcessor does
    at the native size: rescale by 1/255, normalise, channels first."""
    x = u8.astype(np.float32) * np.float32(1 / 255)
    x = (x - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------
# Text side: use-lite through pg_infer (psql), cached
# ---------------------------------------------------------------------------

def copy_escape(s):
    return (s.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def psql_embed(args, texts):
    """Embed texts with the server's embed(model, text) over a temp table
    (the server batches the rows); returns float32 (len(texts), dim)."""
    env = dict(os.environ, PGHOST=args.pghost, PGPORT=str(args.pgport),
               PGDATABASE=args.pgdatabase, PGUSER=args.pguser)
    lines = ["\\set ON_ERROR_STOP on",
             "CREATE TEMP TABLE caps(i int, c text);",
             "COPY caps FROM STDIN;"]
    lines += ["%d\t%s" % (i, copy_escape(t)) for i, t in enumerate(texts)]
    lines += ["\\.",
              "COPY (SELECT i, embed(%s, c)::text FROM caps ORDER BY i) TO STDOUT;"
              % ("'" + args.text_model.replace("'", "''") + "'")]
    r = subprocess.run([args.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                       input="\n".join(lines) + "\n", env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr.strip())
    rows = r.stdout.splitlines()
    if len(rows) != len(texts):
        raise RuntimeError("psql returned %d rows for %d texts" % (len(rows), len(texts)))
    out = None
    for line in rows:
        i, v = line.split("\t", 1)
        vec = np.array([float(x) for x in v.strip("[]").split(",")], np.float32)
        if out is None:
            out = np.zeros((len(texts), vec.size), np.float32)
        out[int(i)] = vec
    return out


def psql_text_sha256(args):
    """The sha256 pg_infer registered the text model's files under: written
    into config.json, so a server whose text model has other content refuses
    the image model instead of mixing spaces."""
    env = dict(os.environ, PGHOST=args.pghost, PGPORT=str(args.pgport),
               PGDATABASE=args.pgdatabase, PGUSER=args.pguser)
    sql = ("SELECT sha256 FROM pg_infer.models WHERE name = '%s'"
           % args.text_model.replace("'", "''"))
    r = subprocess.run([args.psql, "-X", "-q", "-At", "-c", sql], env=env,
                       capture_output=True, text=True)
    sha = r.stdout.strip()
    if r.returncode != 0 or len(sha) != 64:
        raise RuntimeError("could not read the sha256 of %s: %s"
                           % (args.text_model, r.stderr.strip() or "not registered"))
    return sha


def caption_embeddings(args, captions, log):
    """Embeddings of captions, from OUT/text_cache when cached."""
    d = os.path.join(args.out, "text_cache")
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, args.text_model.replace("/", "_"))
    keys, emb = [], None
    if os.path.exists(base + ".json") and os.path.exists(base + ".npy"):
        with open(base + ".json") as f:
            keys = json.load(f)
        emb = np.load(base + ".npy")
        assert emb.shape[0] == len(keys)
    index = {k: i for i, k in enumerate(keys)}
    missing = sorted(set(c for c in captions if c not in index))
    if missing:
        t0 = time.time()
        new = []
        for i in range(0, len(missing), 4000):
            new.append(psql_embed(args, missing[i:i + 4000]))
            log("  embedded %d / %d captions with %s" %
                (min(i + 4000, len(missing)), len(missing), args.text_model))
        new = np.concatenate(new)
        emb = new if emb is None else np.concatenate([emb, new])
        for c in missing:
            index[c] = len(keys)
            keys.append(c)
        np.save(base + ".npy", emb)
        with open(base + ".json", "w") as f:
            json.dump(keys, f)
        log("  %d captions embedded in %.1f s (cache %s.npy)" %
            (len(missing), time.time() - t0, base))
    else:
        log("  all %d captions cached (%s.npy)" % (len(captions), base))
    out = emb[[index[c] for c in captions]].astype(np.float32)
    norms = np.linalg.norm(out, axis=1)
    log("  text embeddings: dim %d, norms %.6f .. %.6f" %
        (out.shape[1], norms.min(), norms.max()))
    return out


# ---------------------------------------------------------------------------
# The model, named as transformers' CLIPVisionModelWithProjection
# ---------------------------------------------------------------------------

def build_model(cfg):
    import torch
    import torch.nn as nn

    H, A = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg["layer_norm_eps"]

    def act(x):
        if cfg["hidden_act"] == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        return torch.nn.functional.gelu(x)

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            P, S = cfg["patch_size"], cfg["image_size"]
            self.class_embedding = nn.Parameter(torch.zeros(H))
            self.patch_embedding = nn.Conv2d(cfg["num_channels"], H, P, P, bias=False)
            self.position_embedding = nn.Embedding((S // P) ** 2 + 1, H)

        def forward(self, x):
            p = self.patch_embedding(x).flatten(2).transpose(1, 2)
            c = self.class_embedding.view(1, 1, H).expand(x.shape[0], 1, H)
            return torch.cat([c, p], 1) + self.position_embedding.weight

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(H, H)
            self.k_proj = nn.Linear(H, H)
            self.v_proj = nn.Linear(H, H)
            self.out_proj = nn.Linear(H, H)

        def forward(self, x):
            B, N, _ = x.shape
            d = H // A

            def heads(t):
                return t.view(B, N, A, d).transpose(1, 2)
            q = heads(self.q_proj(x)) * d ** -0.5
            k, v = heads(self.k_proj(x)), heads(self.v_proj(x))
            w = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
            return self.out_proj((w @ v).transpose(1, 2).reshape(B, N, H))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(H, cfg["intermediate_size"])
            self.fc2 = nn.Linear(cfg["intermediate_size"], H)

        def forward(self, x):
            return self.fc2(act(self.fc1(x)))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = Attention()
            self.layer_norm1 = nn.LayerNorm(H, eps=eps)
            self.mlp = MLP()
            self.layer_norm2 = nn.LayerNorm(H, eps=eps)

        def forward(self, x):
            x = x + self.self_attn(self.layer_norm1(x))
            return x + self.mlp(self.layer_norm2(x))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Layer() for _ in range(cfg["num_hidden_layers"])])

    class VisionTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.pre_layrnorm = nn.LayerNorm(H, eps=eps)
            self.encoder = Encoder()
            self.post_layernorm = nn.LayerNorm(H, eps=eps)

        def forward(self, x):
            x = self.pre_layrnorm(self.embeddings(x))
            for layer in self.encoder.layers:
                x = layer(x)
            return self.post_layernorm(x[:, 0])

    class CLIPVisionModelWithProjection(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_model = VisionTransformer()
            self.visual_projection = nn.Linear(H, cfg["projection_dim"], bias=False)

        def forward(self, x):
            """Image embeds before the runtime's L2 normalisation."""
            return self.visual_projection(self.vision_model(x))

    m = CLIPVisionModelWithProjection()
    # initialisation: N(0, 0.02) for matrices and the tables, CLIP's
    # N(0, H^-0.5) for the class embedding, zero biases, LayerNorms (1, 0);
    # residual output projections scaled down by sqrt(2 L)
    L = cfg["num_hidden_layers"]
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("class_embedding"):
                p.normal_(0.0, H ** -0.5)
            elif "layer_norm" in name or "layrnorm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            elif name.endswith("out_proj.weight") or name.endswith("fc2.weight"):
                p.normal_(0.0, 0.02 / math.sqrt(2 * L))
            else:
                p.normal_(0.0, 0.02)
        if cfg.get("_pos_init") == "sincos":
            m.vision_model.embeddings.position_embedding.weight.copy_(
                torch.from_numpy(sincos_2d(H, cfg["image_size"] // cfg["patch_size"])))
    return m


def sincos_2d(H, g, amp=0.5):
    """(g*g + 1, H) 2-D sin-cos table (MAE's), row 0 (class token) zero: a
    position initialisation that makes "where" linearly readable from step 0
    (the table is trained like any other weight)."""
    q = H // 4
    omega = 1.0 / 10000 ** (np.arange(q) / q)
    ys, xs = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    out = np.zeros((g * g + 1, H), np.float32)
    for k, coord in enumerate((ys.reshape(-1), xs.reshape(-1))):
        a = coord[:, None] * omega[None, :]
        out[1:, 2 * k * q:(2 * k + 1) * q] = np.sin(a)
        out[1:, (2 * k + 1) * q:(2 * k + 2) * q] = np.cos(a)
    return amp * out


# ---------------------------------------------------------------------------
# safetensors by hand, and an independent float64 NumPy forward pass
# ---------------------------------------------------------------------------

def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, float32 ndarray); dtype "F32" or "F16"."""
    npdt = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, blobs, off = {}, [], 0
    for name, a in tensors:
        b = np.ascontiguousarray(a.astype(npdt)).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)           # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "F16": "<f2"}[t["dtype"]]
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dt) \
            .reshape(t["shape"]).astype(np.float64)
    return out


def numpy_forward(W, cfg, x):
    """float64 forward of the exported weights; x (B, 3, S, S) preprocessed.
    Returns the unnormalised image embeds (B, projection_dim)."""
    x = x.astype(np.float64)
    H, A, P = cfg["hidden_size"], cfg["num_attention_heads"], cfg["patch_size"]
    eps, d = cfg["layer_norm_eps"], H // A
    B, C, S, _ = x.shape
    g = S // P
    pre = "vision_model."

    def ln(t, name):
        mu = t.mean(-1, keepdims=True)
        var = ((t - mu) ** 2).mean(-1, keepdims=True)
        return (t - mu) / np.sqrt(var + eps) * W[name + ".weight"] + W[name + ".bias"]

    def lin(t, name, bias=True):
        y = t @ W[name + ".weight"].T
        return y + W[name + ".bias"] if bias else y

    # patches in (row, col) order, each flattened as (channel, y, x)
    patches = x.reshape(B, C, g, P, g, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, g * g, C * P * P)
    emb = patches @ W[pre + "embeddings.patch_embedding.weight"].reshape(H, -1).T
    cls = np.broadcast_to(W[pre + "embeddings.class_embedding"], (B, 1, H))
    h = np.concatenate([cls, emb], 1) + W[pre + "embeddings.position_embedding.weight"]
    h = ln(h, pre + "pre_layrnorm")
    for i in range(cfg["num_hidden_layers"]):
        p = pre + "encoder.layers.%d." % i
        t = ln(h, p + "layer_norm1")
        N = t.shape[1]
        q = lin(t, p + "self_attn.q_proj").reshape(B, N, A, d).transpose(0, 2, 1, 3) * d ** -0.5
        k = lin(t, p + "self_attn.k_proj").reshape(B, N, A, d).transpose(0, 2, 1, 3)
        v = lin(t, p + "self_attn.v_proj").reshape(B, N, A, d).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(0, 2, 1, 3).reshape(B, N, H)
        h = h + lin(o, p + "self_attn.out_proj")
        t = lin(ln(h, p + "layer_norm2"), p + "mlp.fc1")
        if cfg["hidden_act"] == "quick_gelu":
            t = t / (1.0 + np.exp(-1.702 * t))
        else:
            from math import erf
            t = 0.5 * t * (1.0 + np.vectorize(erf)(t / math.sqrt(2.0)))
        h = h + lin(t, p + "mlp.fc2")
    pooled = ln(h[:, 0], pre + "post_layernorm")
    return lin(pooled, "visual_projection", bias=False)


def l2n(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

def p_any_in_topk(N, m, k):
    """Chance that at least one of m items is in a random top k of N."""
    if N - m < k:
        return 1.0
    return 1.0 - math.exp(math.lgamma(N - m + 1) - math.lgamma(N - m - k + 1)
                          - math.lgamma(N + 1) + math.lgamma(N - k + 1))


def retrieval_metrics(img, txt_of_scene, cap_ids):
    """img: (N, D) normalised image embeds; txt_of_scene: (N, D) normalised
    caption embeds, row i = scene i's caption; cap_ids: (N,) caption ids."""
    N = img.shape[0]
    sim = txt_of_scene @ img.T                      # (caption of i, image j)
    order = np.argsort(-sim, axis=1, kind="stable")
    same = cap_ids[:, None] == cap_ids[None, :]
    res = {}
    for k in (1, 5):
        top = order[:, :k]
        own = (top == np.arange(N)[:, None]).any(1)
        anyc = same[np.arange(N)[:, None], top].any(1)
        mult = same.sum(1)
        res["t2i_R@%d" % k] = float(own.mean())
        res["t2i_R@%d_chance" % k] = k / N
        res["t2i_R@%d_any_identical_caption" % k] = float(anyc.mean())
        res["t2i_R@%d_any_identical_caption_chance" % k] = float(
            np.mean([p_any_in_topk(N, int(m), k) for m in mult]))
    # image -> text over the distinct captions of the held-out set
    uniq, inv = np.unique(cap_ids, return_inverse=True)
    U = np.zeros((len(uniq), txt_of_scene.shape[1]))
    U[inv] = txt_of_scene
    simu = img @ U.T
    order = np.argsort(-simu, axis=1, kind="stable")
    for k in (1, 5):
        hit = (order[:, :k] == inv[:, None]).any(1)
        res["i2t_R@%d" % k] = float(hit.mean())
        res["i2t_R@%d_chance" % k] = k / len(uniq)
    res["distinct_captions"] = int(len(uniq))
    return res


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "scenes_train"),
                    help="output directory (model in OUT/scenes)")
    ap.add_argument("--seed", type=int, default=1, help="training seed")
    ap.add_argument("--eval-seed", type=int, default=424242,
                    help="seed of the held-out scenes (a separate stream)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init-scale", type=float, default=50.0,
                    help="initial logit scale (1 / temperature), learnt")
    ap.add_argument("--max-scale", type=float, default=300.0)
    ap.add_argument("--scale-lr-mult", type=float, default=10.0)
    ap.add_argument("--hard-weight", type=float, default=1.0,
                    help="weight of the InfoNCE against one-edit neighbours")
    ap.add_argument("--rel-weight", type=float, default=3.0,
                    help="weight of the InfoNCE among a caption's 4 relation variants")
    ap.add_argument("--pos-init", default="sincos", choices=["sincos", "normal"],
                    help="position embedding initialisation (2-D sin-cos or N(0, 0.02))")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--act", default="quick_gelu", choices=["quick_gelu", "gelu"])
    ap.add_argument("--dtype", default="auto", choices=["auto", "F32", "F16"],
                    help="safetensors dtype (auto: F32 unless larger than 8 MB)")
    ap.add_argument("--n-eval", type=int, default=1000)
    ap.add_argument("--n-examples", type=int, default=12)
    ap.add_argument("--text-model", default="use-lite")
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--pghost", default=os.environ.get("PGHOST", os.path.join(REPO, "build", "run")))
    ap.add_argument("--pgport", default=os.environ.get("PGPORT", "54329"))
    ap.add_argument("--pgdatabase", default=os.environ.get("PGDATABASE", "scenes_train"))
    ap.add_argument("--pguser", default=os.environ.get("PGUSER", "postgres"))
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=250,
                    help="steps between quick held-out checks (500 scenes)")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    os.makedirs(args.out, exist_ok=True)
    mdir = os.path.join(args.out, "scenes")
    os.makedirs(os.path.join(mdir, "examples"), exist_ok=True)
    logf = open(os.path.join(args.out, "train.log"), "w")
    t_start = time.time()

    def log(msg):
        line = "[%7.1fs] %s" % (time.time() - t_start, msg)
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    log("train_scenes.py %s" % " ".join(sys.argv[1:]))
    log("torch %s, numpy %s, threads %d" % (torch.__version__, np.__version__,
                                            torch.get_num_threads()))
    S = args.image_size
    cfg = {
        "architectures": ["CLIPVisionModelWithProjection"],
        "model_type": "clip_vision_model",
        "hidden_size": args.hidden,
        "intermediate_size": 4 * args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_channels": 3,
        "image_size": S,
        "patch_size": args.patch,
        "hidden_act": args.act,
        "layer_norm_eps": 1e-05,
        "projection_dim": 512,
        "pg_infer": {"text_model": args.text_model,
                     "text_model_sha256": psql_text_sha256(args)},
    }

    # --- caption set and its frozen embeddings
    scenes = all_scenes()
    captions = [caption_of(s) for s in scenes]
    assert len(set(captions)) == len(captions), "caption grammar is ambiguous"
    cap_index = {c: i for i, c in enumerate(captions)}
    log("grammar: %d shapes x %d colours x %d sizes, counts 1-3, %d relations: "
        "%d distinct captions" % (len(SHAPES), len(COLOURS), len(SIZES),
                                  len(RELATIONS), len(captions)))
    T = caption_embeddings(args, captions, log)
    cfg["projection_dim"] = T.shape[1]
    Tt = torch.from_numpy(T)

    # hard negatives: for every caption, the captions one edit away
    nb = [[cap_index[caption_of(a)] for _, a in edits(sc)] for sc in scenes]
    K = max(len(x) for x in nb)
    nbr = np.full((len(scenes), K + 1), -1, np.int64)
    for i, x in enumerate(nb):
        nbr[i, 0] = i
        nbr[i, 1:1 + len(x)] = x
    nbr = torch.from_numpy(nbr)
    log("hard negatives: up to %d one-edit neighbours per caption" % K)
    # and for two-group captions, the 4 captions that differ by the relation
    relv = np.full((len(scenes), len(RELATIONS)), -1, np.int64)
    for i, (groups, rel) in enumerate(scenes):
        if rel is not None:
            for r in range(len(RELATIONS)):
                relv[i, r] = cap_index[caption_of((groups, r))]
    relv = torch.from_numpy(relv)
    rel_of = torch.tensor([-1 if r is None else r for _, r in scenes])

    # --- held-out scenes: a separate stream, never used in training
    erng = np.random.default_rng([args.eval_seed, 2])
    ev_scenes, ev_imgs = draw_batch(erng, args.n_eval, S)
    ev_ids = np.array([cap_index[caption_of(s)] for s in ev_scenes])
    log("held-out: %d scenes, %d distinct captions" %
        (args.n_eval, len(set(ev_ids.tolist()))))

    # --- model, optimiser
    model = build_model(dict(cfg, _pos_init=args.pos_init))
    n_params = sum(p.numel() for p in model.parameters())
    log("model: H %d, L %d, heads %d, MLP %d, image %d, patch %d (%d tokens), "
        "%d parameters" % (args.hidden, args.layers, args.heads, 4 * args.hidden,
                           S, args.patch, (S // args.patch) ** 2 + 1, n_params))
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(args.init_scale)))
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "position_embedding" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0},
                             {"params": [logit_scale], "weight_decay": 0.0, "lr_mult": args.scale_lr_mult}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))

    def embed_images(u8, bs=250):
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(u8), bs):
                out.append(model(torch.from_numpy(preprocess(u8[i:i + bs]))).numpy())
        model.train()
        return np.concatenate(out)

    def quick_eval():
        n = min(500, args.n_eval)
        e = l2n(embed_images(ev_imgs[:n]).astype(np.float64))
        sim = e @ T.T.astype(np.float64)
        i2t_all = float((sim.argmax(1) == ev_ids[:n]).mean())
        r = retrieval_metrics(e, l2n(T[ev_ids[:n]].astype(np.float64)), ev_ids[:n])
        rw = [sim[i, ev_ids[i]] > sim[i, cap_index[caption_of(a)]]
              for i in range(n) for k, a in edits(ev_scenes[i]) if k.startswith("relation")]
        return n, i2t_all, r["t2i_R@1"], r["t2i_R@5"], float(np.mean(rw))

    # --- training
    log("training: %d steps x %d images, lr %g, warm-up %d, cosine" %
        (args.steps, args.batch, args.lr, args.warmup))
    t_train = time.time()
    cpu_train = time.process_time()
    t_render = 0.0
    run_loss = run_acc = 0.0
    model.train()
    for step in range(args.steps):
        t0 = time.time()
        rng = np.random.default_rng([args.seed, 1, step])
        bsc, bimg = draw_batch(rng, args.batch, S)
        ids = torch.tensor([cap_index[caption_of(s)] for s in bsc])
        x = torch.from_numpy(preprocess(bimg))
        t_render += time.time() - t0
        for g in opt.param_groups:
            g["lr"] = lr_at(step) * g.get("lr_mult", 1.0)
        e = F.normalize(model(x), dim=-1)
        scale = logit_scale.exp()
        logits = scale * e @ Tt.t()                      # vs every caption
        loss_i2t = F.cross_entropy(logits, ids)
        lt = scale * Tt[ids] @ e.t()                      # caption -> images
        dup = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
        lt = lt.masked_fill(dup, float("-inf"))
        loss_t2i = F.cross_entropy(lt, torch.arange(len(ids)))
        hn = nbr[ids]                                     # (B, K+1)
        lh = logits.gather(1, hn.clamp(min=0)).masked_fill(hn < 0, float("-inf"))
        loss_hard = F.cross_entropy(lh, torch.zeros(len(ids), dtype=torch.long))
        loss = loss_i2t + 0.5 * loss_t2i + args.hard_weight * loss_hard
        pr = rel_of[ids] >= 0                             # two-group scenes
        if args.rel_weight > 0 and bool(pr.any()):
            lr_ = logits[pr].gather(1, relv[ids[pr]])
            loss = loss + args.rel_weight * F.cross_entropy(lr_, rel_of[ids[pr]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0.0, math.log(args.max_scale))
        run_loss += loss.item()
        run_acc += (logits.argmax(1) == ids).float().mean().item()
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            n = args.log_every if (step + 1) % args.log_every == 0 else (step + 1) % args.log_every
            el = time.time() - t_train
            msg = ("step %5d/%d  loss %.3f  train i2t@1(all) %.3f  scale %.1f  lr %.2e  "
                   "%.0f img/s  elapsed %.0fs  eta %.0fs" %
                   (step + 1, args.steps, run_loss / n, run_acc / n, scale.item(),
                    lr_at(step), (step + 1) * args.batch / el, el,
                    el / (step + 1) * (args.steps - step - 1)))
            if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
                msg += ("  | held-out[%d] i2t@1(all captions) %.3f t2i R@1 %.3f R@5 %.3f"
                        " relation probe %.3f" % quick_eval())
            log(msg)
            run_loss = run_acc = 0.0
    train_time = time.time() - t_train
    train_cpu = time.process_time() - cpu_train
    log("training done in %.1f s wall (%.1f s of it rendering), %.1f CPU s "
        "(%.2f cores busy on average; load average now %s)" %
        (train_time, t_render, train_cpu, train_cpu / train_time,
         " ".join(open("/proc/loadavg").read().split()[:3])
         if os.path.exists("/proc/loadavg") else "?"))

    # --- export
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    names = ["vision_model.embeddings.class_embedding",
             "vision_model.embeddings.patch_embedding.weight",
             "vision_model.embeddings.position_embedding.weight",
             "vision_model.pre_layrnorm.weight", "vision_model.pre_layrnorm.bias"]
    for i in range(args.layers):
        p = "vision_model.encoder.layers.%d." % i
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            names += [p + "self_attn.%s.weight" % m, p + "self_attn.%s.bias" % m]
        names += [p + "layer_norm1.weight", p + "layer_norm1.bias",
                  p + "mlp.fc1.weight", p + "mlp.fc1.bias",
                  p + "mlp.fc2.weight", p + "mlp.fc2.bias",
                  p + "layer_norm2.weight", p + "layer_norm2.bias"]
    names += ["vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias",
              "visual_projection.weight"]
    assert sorted(names) == sorted(sd.keys()), set(names) ^ set(sd.keys())
    dtype = args.dtype
    if dtype == "auto":
        dtype = "F32" if n_params * 4 <= 8 * 1024 * 1024 else "F16"
    if dtype == "F16":
        # the shipped weights are the evaluated weights: round the module too
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
        sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    st_path = os.path.join(mdir, "model.safetensors")
    write_safetensors(st_path, [(n, sd[n]) for n in names], dtype)
    with open(os.path.join(mdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    pre = {
        "crop_size": {"height": S, "width": S},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": S},
    }
    with open(os.path.join(mdir, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
        f.write("\n")
    with open(st_path, "rb") as f:
        st_bytes = f.read()
    sha = hashlib.sha256(st_bytes).hexdigest()
    log("exported %s: %s, %d bytes, sha256 %s" % (st_path, dtype, len(st_bytes), sha))

    # --- examples: the first held-out scenes, as the runtime will read them
    exdir = os.path.join(mdir, "examples")
    rows = ["file\tcaption"]
    for i in range(args.n_examples):
        fn = "%02d.png" % i
        Image.fromarray(ev_imgs[i], "RGB").save(os.path.join(exdir, fn), optimize=True)
        rows.append("%s\t%s" % (fn, caption_of(ev_scenes[i])))
    with open(os.path.join(exdir, "captions.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    # the PNGs read back are the pixels evaluated
    back = np.stack([np.asarray(Image.open(os.path.join(exdir, "%02d.png" % i)).convert("RGB"))
                     for i in range(args.n_examples)])
    assert np.array_equal(back, ev_imgs[:args.n_examples])

    # --- the exported file, run by an independent float64 NumPy forward
    W = read_safetensors(st_path)
    xs = preprocess(ev_imgs[:8])
    ref = embed_images(ev_imgs[:8]).astype(np.float64)
    got = numpy_forward(W, cfg, xs)
    diff_raw = float(np.abs(got - ref).max())
    diff_norm = float(np.abs(l2n(got) - l2n(ref)).max())
    log("export check (8 held-out images): max |numpy f64 - torch f32| = %.3g raw, "
        "%.3g after L2 normalisation (%s)" % (diff_raw, diff_norm,
                                              "OK" if diff_norm < 1e-4 else "FAILED"))
    if diff_norm >= 1e-4:
        raise SystemExit("export check failed")

    # --- held-out evaluation
    t0 = time.time()
    E = l2n(embed_images(ev_imgs).astype(np.float64))
    Td = T.astype(np.float64)
    met = retrieval_metrics(E, l2n(Td[ev_ids]), ev_ids)
    sim_all = E @ Td.T
    rank_all = np.argsort(-sim_all, axis=1, kind="stable")
    for k in (1, 5):
        met["i2t_all_captions_R@%d" % k] = float((rank_all[:, :k] == ev_ids[:, None]).any(1).mean())
        met["i2t_all_captions_R@%d_chance" % k] = k / len(captions)

    # attribute probes: does the true caption beat the same caption with one
    # thing changed?  (pairwise accuracy over all such edits, chance 0.5)
    wins, tots = {}, {}
    for i, sc in enumerate(ev_scenes):
        for kind, alt in edits(sc):
            j = cap_index[caption_of(alt)]
            for kd in ([kind] if kind != "relation(opposite)" else [kind, "relation"]):
                tots[kd] = tots.get(kd, 0) + 1
                wins[kd] = wins.get(kd, 0) + int(sim_all[i, ev_ids[i]] > sim_all[i, j])
    met["attribute_probes"] = {
        k: {"accuracy": wins[k] / tots[k], "comparisons": tots[k], "chance": 0.5}
        for k in ("colour", "shape", "size", "count", "relation", "relation(opposite)")}
    eval_time = time.time() - t0

    met.update({
        "held_out_scenes": args.n_eval,
        "grammar_captions": len(captions),
        "train_wall_time_s": round(train_time, 1),
        "train_cpu_time_s": round(train_cpu, 1),
        "total_wall_time_s": None,
        "threads": args.threads,
        "steps": args.steps,
        "batch": args.batch,
        "train_images_seen": args.steps * args.batch,
        "parameters": int(n_params),
        "safetensors_dtype": dtype,
        "safetensors_bytes": len(st_bytes),
        "safetensors_sha256": sha,
        "export_max_abs_diff_normalised": diff_norm,
        "export_max_abs_diff_raw": diff_raw,
        "config": {k: v for k, v in cfg.items() if k != "architectures"},
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
        "seed": args.seed, "eval_seed": args.eval_seed,
        "final_logit_scale": float(logit_scale.exp().item()),
    })
    met["total_wall_time_s"] = round(time.time() - t_start, 1)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(met, f, indent=2)
        f.write("\n")

    log("held-out evaluation on %d scenes (%d distinct captions), %.1f s:" %
        (args.n_eval, met["distinct_captions"], eval_time))
    for k in (1, 5):
        log("  text->image R@%d %.3f (chance %.3f); counting any image with the "
            "same caption %.3f (chance %.3f)" %
            (k, met["t2i_R@%d" % k], met["t2i_R@%d_chance" % k],
             met["t2i_R@%d_any_identical_caption" % k],
             met["t2i_R@%d_any_identical_caption_chance" % k]))
    for k in (1, 5):
        log("  image->text R@%d %.3f over the %d distinct held-out captions (chance %.4f); "
            "over all %d grammar captions %.3f (chance %.5f)" %
            (k, met["i2t_R@%d" % k], met["distinct_captions"], met["i2t_R@%d_chance" % k],
             len(captions), met["i2t_all_captions_R@%d" % k],
             met["i2t_all_captions_R@%d_chance" % k]))
    for name, v in met["attribute_probes"].items():
        log("  probe %-20s %.3f over %d comparisons (chance 0.5)" %
            (name, v["accuracy"], v["comparisons"]))
    log("parameters %d, model.safetensors %d bytes (%s), train %.1f s, total %.1f s" %
        (n_params, len(st_bytes), dtype, train_time, met["total_wall_time_s"]))


if __name__ == "__main__":
    main()
