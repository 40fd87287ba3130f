#!/usr/bin/python3
# Writes the seed corpora of the fuzz targets into spec/fuzz/corpus/{png,jpeg,safetensors}/.
# Run from the repository root with Debian's python3 (PIL is needed for the JPEGs):
#   /usr/bin/python3 spec/fuzz/make_corpus.py
# The seeds are small (a few hundred bytes to a few KB) so that each execution is fast, and
# cover the decoders' branches: every PNG colour type and bit depth, all five row filters,
# Adam7 interlacing, tRNS and text chunks; baseline, progressive, grayscale, 4:4:4 and CMYK
# JPEGs; F32/F16/BF16 safetensors with metadata, scalars and several tensors.
import io
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(kind, name, data):
    os.makedirs(os.path.join(ROOT, kind), exist_ok=True)
    with open(os.path.join(ROOT, kind, name), "wb") as f:
        f.write(data)


# ---- PNG: a small encoder, so every colour type / depth / filter / interlace is possible.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def pack_row(samples, depth):
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    bits, acc, n = [], 0, 0
    for s in samples:
        acc = (acc << depth) | s
        n += depth
        if n == 8:
            bits.append(acc)
            acc, n = 0, 0
    if n:
        bits.append(acc << (8 - n))
    return bytes(bits)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp, first_filter):
    out_rows, prev = [], None
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        prev_row = prev if prev is not None else bytes(len(row))
        f = bytearray()
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = prev_row[x]
            c = prev_row[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((v - pred) & 0xFF)
        out_rows.append(bytes([ft]) + bytes(f))
        prev = row
    return b"".join(out_rows)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(w, h, depth, ctype, pixel, interlace=0, extra=b"", first_filter=0):
    # pixel(x, y) -> tuple of samples
    nch = CHANNELS[ctype]
    bpp = max(1, nch * depth // 8)
    if not interlace:
        rows = [pack_row([s for x in range(w) for s in pixel(x, y)], depth) for y in range(h)]
        raw = filter_rows(rows, bpp, first_filter)
    else:
        raw = b""
        for (x0, y0, dx, dy) in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if not xs or not ys:
                continue
            rows = [pack_row([s for x in xs for s in pixel(x, y)], depth) for y in ys]
            raw += filter_rows(rows, bpp, first_filter)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def grad(x, y, m):
    return ((x * 37 + y * 11) % (m + 1), (x * 7 + y * 29) % (m + 1), (x * y * 3) % (m + 1))


def pngs():
    plte4 = chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]))
    plte16 = chunk(b"PLTE", bytes(v for i in range(16) for v in (i * 16, 255 - i * 16, i * 8)))
    text = chunk(b"tEXt", b"Comment\x00fuzz seed") + chunk(b"gAMA", struct.pack(">I", 45455))
    out("png", "rgb8.png", make_png(16, 12, 8, 2, lambda x, y: grad(x, y, 255), extra=text))
    out("png", "rgb16.png", make_png(9, 7, 16, 2, lambda x, y: grad(x * 999, y * 777, 65535)))
    out("png", "gray8.png", make_png(13, 5, 8, 0, lambda x, y: (x * 19 + y,), first_filter=2))
    out("png", "gray16.png", make_png(6, 6, 16, 0, lambda x, y: ((x * 9973 + y * 131) % 65536,)))
    out("png", "gray1.png", make_png(17, 4, 1, 0, lambda x, y: ((x ^ y) & 1,)))
    out("png", "gray2.png", make_png(7, 3, 2, 0, lambda x, y: ((x + y) % 4,)))
    out("png", "gray4.png", make_png(5, 5, 4, 0, lambda x, y: ((x * 3 + y) % 16,),
                                     extra=chunk(b"tRNS", struct.pack(">H", 3))))
    out("png", "gray_alpha8.png", make_png(8, 4, 8, 4, lambda x, y: (x * 30, y * 60), first_filter=3))
    out("png", "gray_alpha16.png", make_png(4, 4, 16, 4, lambda x, y: (x * 9000, y * 12000)))
    out("png", "palette8.png", make_png(10, 6, 8, 3, lambda x, y: ((x + y) % 4,), extra=plte4))
    out("png", "palette4_trns.png",
        make_png(9, 9, 4, 3, lambda x, y: ((x * y) % 16,),
                 extra=plte16 + chunk(b"tRNS", bytes([0, 128, 255]))))
    out("png", "palette1.png", make_png(12, 2, 1, 3, lambda x, y: (x & 1,), extra=plte4))
    out("png", "rgba8.png", make_png(8, 8, 8, 6, lambda x, y: grad(x, y, 255) + (x * 32,), first_filter=4))
    out("png", "rgba16.png", make_png(3, 5, 16, 6, lambda x, y: grad(x * 5000, y, 65535) + (65535,)))
    out("png", "rgb8_interlaced.png", make_png(11, 10, 8, 2, lambda x, y: grad(x, y, 255), interlace=1))
    out("png", "gray2_interlaced.png", make_png(9, 9, 2, 0, lambda x, y: ((x + 2 * y) % 4,), interlace=1))
    out("png", "rgba16_interlaced.png",
        make_png(5, 6, 16, 6, lambda x, y: grad(x * 3000, y * 2000, 65535) + (40000,), interlace=1))
    out("png", "rgb8_1x1.png", make_png(1, 1, 8, 2, lambda x, y: (1, 2, 3)))


# ---- JPEG: PIL (libjpeg-turbo underneath).
def jpegs():
    from PIL import Image

    img = Image.new("RGB", (24, 16))
    img.putdata([((x * 10) % 256, (y * 15) % 256, (x * y) % 256) for y in range(16) for x in range(24)])

    def save(name, im, **kw):
        b = io.BytesIO()
        im.save(b, "JPEG", **kw)
        out("jpeg", name, b.getvalue())

    save("baseline.jpg", img, quality=75)
    save("baseline_444.jpg", img, quality=90, subsampling=0)
    save("baseline_422.jpg", img.resize((13, 9)), quality=50, subsampling=1)
    save("progressive.jpg", img, quality=80, progressive=True)
    save("optimized.jpg", img, quality=60, optimize=True)
    save("gray.jpg", img.convert("L"), quality=85)
    save("gray_progressive.jpg", img.convert("L").resize((7, 5)), quality=70, progressive=True)
    save("cmyk.jpg", img.convert("CMYK").resize((8, 8)), quality=70)
    save("tiny_1x1.jpg", img.resize((1, 1)), quality=95)
    save("exif_comment.jpg", img.resize((9, 9)), quality=70, comment=b"fuzz seed",
         exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")


# ---- safetensors: header JSON + data, written by hand.
def st(tensors, meta=None, pad=0, order=None):
    header, data = {}, b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + data


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16(vals):
    return struct.pack("<%de" % len(vals), *vals)


def bf16(vals):
    return b"".join(struct.pack("<f", v)[2:] for v in vals)


def safetensors():
    out("safetensors", "f32.safetensors", st([("w", "F32", [2, 3], f32([0, 1, -2, 3.5, 1e30, -1e-30]))]))
    out("safetensors", "f16.safetensors",
        st([("x", "F16", [4], f16([0.5, -65504, 6e-8, float("inf")]))], meta={"format": "pt"}))
    out("safetensors", "bf16.safetensors", st([("y", "BF16", [1, 2, 2, 1], bf16([1, -1, 3e38, float("nan")]))]))
    out("safetensors", "mixed_meta.safetensors",
        st([("features.0.weight", "F32", [2, 1, 1, 2], f32([1, 2, 3, 4])),
            ("features.0.bias", "F16", [2], f16([0.25, -0.125])),
            ("scalar", "BF16", [], bf16([2.0])),
            ("empty", "F32", [0, 3], b"")],
           meta={"format": "pt", "source": "nst fuzz seed"}, pad=5))
    out("safetensors", "meta_only.safetensors", st([], meta={"a": "b"}))
    out("safetensors", "f16_subnormal.safetensors",
        st([("s", "F16", [3, 2], struct.pack("<6H", 1, 0x3ff, 0x8001, 0x7c01, 0xfc00, 0x7bff))]))


if __name__ == "__main__":
    pngs()
    jpegs()
    safetensors()
