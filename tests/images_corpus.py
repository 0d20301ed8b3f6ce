"""A corpus of image files for tests/test_images.py, generated here (never downloaded).

Every function returns the bytes of one file. Pictures are tiny unless a test needs size,
so the whole corpus builds in well under a second.
"""
from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def picture(width: int = 48, height: int = 32) -> Image.Image:
    """A smooth RGB picture (compresses well, survives JPEG) with some texture."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    (x + y) * 255 // max(width + height - 2, 1)], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def corner_marks(width: int = 48, height: int = 32) -> Image.Image:
    """Grey, with a red block at the top-left and a green block at the top-right corner.

    Where the two blocks end up after EXIF orientation tells every one of the 8 cases apart.
    """
    img = Image.new("RGB", (width, height), (128, 128, 128))
    block = min(width, height) // 4
    img.paste(RED, (0, 0, block, block))
    img.paste(GREEN, (width - block, 0, width, block))
    return img


def with_orientation(img: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    params = {"quality": 95} if fmt == "JPEG" else {}
    return encode(img, fmt, exif=exif, **params)


def grey16(value: int = 32768, fmt: str = "PNG", size=(24, 16)) -> bytes:
    return encode(Image.fromarray(np.full(size[::-1], value, np.uint16)), fmt)


def alpha_quad(mode: str = "RGBA") -> Image.Image:
    """Left half opaque red, right half fully transparent (LA: opaque white / transparent)."""
    img = Image.new("RGBA", (16, 8), (255, 0, 0, 255))
    img.paste((0, 0, 255, 0), (8, 0, 16, 8))
    if mode == "LA":
        img = Image.new("LA", (16, 8), (255, 255))
        img.paste((0, 0), (8, 0, 16, 8))
    return img


def palette_with_transparency(fmt: str = "PNG") -> bytes:
    """Palette image: index 0 (red) opaque on the left, index 1 transparent on the right."""
    img = Image.new("P", (16, 8), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (8, 0, 16, 8))
    return encode(img, fmt, transparency=1)


def animation(fmt: str) -> bytes:
    """Three frames: red, green, blue. The first frame is red."""
    frames = [Image.new("RGB", (16, 12), c) for c in (RED, GREEN, BLUE)]
    params = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0, **params)


# --- Hand-made headers that claim any size ------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, color_type: int = 2) -> bytes:
    """A well-formed PNG header (valid CRCs) claiming width×height, with a tiny body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose screen and single frame claim width×height, with a few bytes of data."""
    palette = b"\x00" * 3 + b"\xff" * 3  # two colours: black, white
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + palette
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return header + frame + b"\x02\x02\x44\x01\x00\x3b"


def bmp_claiming(width: int, height: int) -> bytes:
    """A 24-bit BMP header claiming width×height, followed by 16 bytes."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = b"\x00" * 16
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(body), 0, 0, 54) + info + body


def tiff_claiming(width: int, height: int) -> bytes:
    """An 8-bit greyscale TIFF whose one IFD claims width×height, with one strip of 16 bytes."""
    entries = [  # (tag, type SHORT=3 / LONG=4, value)
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, height), (279, 4, 16),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHI", tag, kind, 1) + (
            struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF marker is rewritten to claim width×height."""
    data = bytearray(encode(picture(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# --- Things that are not images ---------------------------------------------------------

def not_images() -> dict[str, bytes]:
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("photo.png", encode(picture(8, 8), "PNG"))
    return {
        "text": b"These are my holiday notes.\nDay 1: arrived.\n",
        "empty": b"",
        "zip": zbuf.getvalue(),
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "html": b"<!DOCTYPE html>\n<html><head><title>Photo</title></head><body></body></html>",
        "svg": (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'
                b' width="10" height="10"><rect width="10" height="10" fill="red"/></svg>'),
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "binary": bytes(random.Random(0).randrange(256) for _ in range(512)),
    }


# --- The base files that truncation, corruption and fuzzing start from --------------------

def base_files() -> dict[str, bytes]:
    """One small file per format we claim to read, with texture so decoders do real work."""
    pic = picture(40, 28)
    return {
        "jpeg": encode(pic, "JPEG", quality=90),
        "jpeg-progressive": encode(pic, "JPEG", quality=90, progressive=True),
        "png": encode(pic, "PNG"),
        "png-palette": encode(pic.convert("P"), "PNG"),
        "gif": encode(pic.convert("P"), "GIF"),
        "gif-animated": animation("GIF"),
        "webp-lossy": encode(pic, "WEBP", quality=80),
        "webp-lossless": encode(pic, "WEBP", lossless=True),
        "webp-animated": animation("WEBP"),
        "apng": animation("PNG"),
        "tiff": encode(pic, "TIFF"),
        "tiff-deflate": encode(pic, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-lzw": encode(pic, "TIFF", compression="tiff_lzw"),
        "tiff-16bit": grey16(40000, "TIFF", (40, 28)),
        "bmp": encode(pic, "BMP"),
        "ppm": encode(pic, "PPM"),
        "tga": encode(pic, "TGA"),
        "qoi": encode(pic, "QOI"),
        "jpeg2000": encode(pic, "JPEG2000"),
        "avif": encode(pic, "AVIF", quality=80),
    }


def mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    """Seeded damage: byte flips, cuts, spliced headers, duplicated and dropped runs."""
    rng = random.Random(seed)
    donors = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"II*\x00", b"BM", b"RIFF"]
    out = []
    for _ in range(count):
        d = bytearray(data)
        kind = rng.randrange(6)
        if kind == 0:  # a few random bytes
            for _ in range(rng.randint(1, 8)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        elif kind == 1:  # flips concentrated in the header, where sizes and offsets live
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(min(len(d), 64))] ^= 1 << rng.randrange(8)
        elif kind == 2:  # cut anywhere
            d = d[: rng.randrange(len(d))]
        elif kind == 3:  # another format's signature spliced onto this body
            donor = rng.choice(donors)
            d[: len(donor)] = donor
        elif kind == 4:  # a run duplicated
            i = rng.randrange(len(d))
            d[i:i] = d[i: i + rng.randint(1, 32)]
        else:  # a run dropped
            i = rng.randrange(len(d))
            del d[i: i + rng.randint(1, 32)]
        out.append(bytes(d))
    return out


def png_with_garbage_data(seed: int) -> bytes:
    """A PNG whose IDAT payload is random bytes (with a correct CRC, so only zlib can tell)."""
    rng = random.Random(seed)
    garbage = bytes(rng.randrange(256) for _ in range(200))
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", garbage)
            + _png_chunk(b"IEND", b""))
