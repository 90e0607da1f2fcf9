#!/usr/bin/python3
"""Image fixtures with Pillow / NumPy references for test/unit/test_images.c.

Usage: /usr/bin/python3 test/models/gen_images.py OUT_DIR

Writes seeded images in every PNG colour type and bit depth libpng reads
(grey 1/2/4/8/16, grey+alpha, RGB 8/16, RGBA, palette with transparency,
interlaced) and JPEG (4:2:0, 4:4:4, grey, progressive), and next to each:
  - NAME.rgb: the pixels as Pillow's Image.open(f).convert("RGB") gives them
    (what Hugging Face's image processors see); for 16-bit grey, where
    Pillow clips the 16-bit value to 255, the high byte (NumPy, >> 8), the
    documented choice of src/core/images/image.h;
  - resize cases: Pillow's Image.resize((w, h), filter) of a source image;
  - preprocess cases: Hugging Face CLIPImageProcessor's steps written out
    (resize of the shortest side to `size` with int(size * long / short),
    Pillow bicubic; centre crop at ((h - c) // 2, (w - c) // 2); then
    (x * rescale - mean) / std computed in float64), saved as float64.
manifest.json lists every case.  The references are Pillow's and NumPy's,
never pg_infer's.
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def scene(rng, w, h):
    """A smooth gradient with noise and a few blocks: texture for filters"""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                    ((x + y) * 3) % 256], axis=-1).astype(np.int32)
    img += rng.integers(-40, 41, size=img.shape)
    for _ in range(4):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        img[y0:y0 + h // 4, x0:x0 + w // 4] = rng.integers(0, 256, size=3)
    return np.clip(img, 0, 255).astype(np.uint8)


def save(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def png_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, format="PNG", **kw)
    return b.getvalue()


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, format="JPEG", **kw)
    return b.getvalue()


def pil_rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)


def raw_png(w, h, depth, ctype, rows, interlace=0, chunks=()):
    """A PNG written by hand from packed rows (filter type 0 on each)"""
    import struct
    import zlib

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
            + b"".join(chunk(t, d) for t, d in chunks)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pack_bits(v, depth):
    """Pack a row of small samples MSB first"""
    per = 8 // depth
    v = list(v) + [0] * (-len(v) % per)
    out = bytearray()
    for i in range(0, len(v), per):
        b = 0
        for j in range(per):
            b = (b << depth) | int(v[i + j])
        out.append(b)
    return bytes(out)


def grey16_png(arr16):
    h, w = arr16.shape
    return raw_png(w, h, 16, 0, [arr16[y].astype(">u2").tobytes() for y in range(h)])


def rgb16_png(arr16):
    h, w, _ = arr16.shape
    return raw_png(w, h, 16, 2, [arr16[y].astype(">u2").tobytes() for y in range(h)])


def grey_low_png(arr, depth):
    h, w = arr.shape
    return raw_png(w, h, depth, 0, [pack_bits(arr[y], depth) for y in range(h)])


def palette4_png(idx, palette, trns):
    h, w = idx.shape
    return raw_png(w, h, 4, 3, [pack_bits(idx[y], 4) for y in range(h)],
                   chunks=[(b"PLTE", bytes(palette)), (b"tRNS", bytes(trns))])


def decode_cases(out, rng):
    cases = []
    base = scene(rng, 45, 31)
    rgb = Image.fromarray(base, "RGB")
    grey = rgb.convert("L")
    alpha = Image.fromarray(rng.integers(0, 256, size=(31, 45), dtype=np.uint8), "L")
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    la = grey.copy()
    la.putalpha(alpha)
    pal = rgb.quantize(colors=37)
    pal.info["transparency"] = 5
    files = {
        "rgb8.png": png_bytes(rgb),
        "rgba8.png": png_bytes(rgba),
        "grey8.png": png_bytes(grey),
        "greyalpha8.png": png_bytes(la),
        "grey1.png": png_bytes(grey.point(lambda v: 255 if v > 128 else 0).convert("1")),
        "palette.png": png_bytes(pal, transparency=5),
        "rgb16.png": rgb16_png(base.astype(np.uint16) * 257 + rng.integers(0, 256, size=base.shape)),
        "q420.jpg": jpeg_bytes(rgb, quality=90, subsampling=2),
        "q444.jpg": jpeg_bytes(rgb, quality=95, subsampling=0),
        "grey.jpg": jpeg_bytes(grey, quality=85),
        "progressive.jpg": jpeg_bytes(rgb, quality=80, progressive=True),
    }
    g = np.asarray(grey)
    files["grey2.png"] = grey_low_png(g >> 6, 2)
    files["grey4.png"] = grey_low_png(g >> 4, 4)
    files["palette4.png"] = palette4_png(g >> 4, rng.integers(0, 256, size=48, dtype=np.uint8),
                                         [0, 128, 255])
    # Adam7: Pillow does not write it
    files["interlaced.png"] = adam7_png(base)
    for name, data in sorted(files.items()):
        save(out, name, data)
        ref = pil_rgb(data)
        save(out, name + ".rgb", ref.tobytes())
        cases.append({"file": name, "width": ref.shape[1], "height": ref.shape[0],
                      "ref": name + ".rgb"})
    g16 = (rng.integers(0, 65536, size=(17, 23))).astype(np.uint16)
    save(out, "grey16.png", grey16_png(g16))
    ref = np.repeat((g16 >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    save(out, "grey16.png.rgb", ref.tobytes())
    cases.append({"file": "grey16.png", "width": 23, "height": 17, "ref": "grey16.png.rgb"})
    return cases


def adam7_png(arr):
    """An interlaced (Adam7) 8-bit RGB PNG"""
    h, w, _ = arr.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            rows += [sub[y].tobytes() for y in range(sub.shape[0])]
    return raw_png(w, h, 8, 2, rows, interlace=1)


def resize_cases(out, rng):
    cases = []
    src = scene(rng, 97, 61)
    save(out, "resize_src.rgb", src.tobytes())
    im = Image.fromarray(src, "RGB")
    filters = {"bicubic": 3, "bilinear": 2, "lanczos": 1, "box": 4, "hamming": 5}
    sizes = [(32, 20), (224, 141), (97, 30), (50, 61), (1, 1), (300, 7)]
    for fname, fnum in filters.items():
        for ow, oh in sizes:
            ref = np.asarray(im.resize((ow, oh), resample=fnum, reducing_gap=None))
            name = "resize_%s_%dx%d.rgb" % (fname, ow, oh)
            save(out, name, ref.tobytes())
            cases.append({"src": "resize_src.rgb", "width": 97, "height": 61, "out_width": ow,
                          "out_height": oh, "filter": fnum, "ref": name})
    return cases


def clip_preprocess(rgb, size, crop):
    """CLIPImageProcessor: resize shortest edge (Pillow bicubic), centre crop,
    rescale and normalise in float64; returns (3, crop, crop)"""
    h, w, _ = rgb.shape
    short, long_ = (w, h) if w <= h else (h, w)
    new_long = int(size * long_ / short)
    nw, nh = (size, new_long) if w <= h else (new_long, size)
    im = Image.fromarray(rgb, "RGB").resize((nw, nh), resample=3, reducing_gap=None)
    a = np.asarray(im).astype(np.float64)
    top, left = (nh - crop) // 2, (nw - crop) // 2
    a = a[top:top + crop, left:left + crop]
    a = (a * (1 / 255.0) - np.array(MEAN)) / np.array(STD)
    return a.transpose(2, 0, 1)


def preprocess_cases(out, rng, decoded):
    cases = []
    for name in ["rgb8.png", "q420.jpg", "palette.png"]:
        for size in [24, 31, 45]:
            rgb = np.frombuffer(open(os.path.join(out, name + ".rgb"), "rb").read(),
                                dtype=np.uint8).reshape(decoded[name]["height"], decoded[name]["width"], 3)
            ref = clip_preprocess(rgb, size, size)
            rname = "prep_%s_%d.f64" % (name, size)
            save(out, rname, ref.astype("<f8").tobytes())
            cases.append({"file": name, "size": size, "crop": size, "ref": rname})
    # a big photo-like image down to 224, and a tall one
    for w, h in [(640, 480), (300, 1000)]:
        big = scene(rng, w, h)
        name = "big_%dx%d.png" % (w, h)
        save(out, name, png_bytes(Image.fromarray(big, "RGB")))
        ref = clip_preprocess(big, 224, 224)
        rname = "prep_%s_224.f64" % name
        save(out, rname, ref.astype("<f8").tobytes())
        cases.append({"file": name, "size": 224, "crop": 224, "ref": rname})
    return cases


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261205)
    decode = decode_cases(out, rng)
    by_name = {c["file"]: c for c in decode}
    manifest = {"mean": MEAN, "std": STD, "rescale": 1 / 255.0,
                "decode": decode, "resize": resize_cases(out, rng),
                "preprocess": preprocess_cases(out, rng, by_name)}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
