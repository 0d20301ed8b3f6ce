"""Turning whatever a user hands us into a clean RGB image, or ImageError.

`load_image` runs one short pipeline; each step is a small function below:

    _read_source   path / bytes / file-like -> a binary stream (byte cap on in-memory input)
    _open_header   Image.open reads only the header: refuse non-images, unsupported formats,
                   empty and oversized images before a single pixel is decoded
    _decode        JPEG draft mode if asked (``draft=True``), then the decode of the first frame
    _orient        EXIF orientation
    _to_rgb        16-bit / float rescale, alpha over BACKGROUND, any mode -> RGB

Everything that goes wrong becomes an `ImageError` whose message says what was wrong and what
to do. No global state is touched (not Pillow's LOAD_TRUNCATED_IMAGES or MAX_IMAGE_PIXELS,
not the warning filters), so many app sessions can load images at once.
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps

MAX_BYTES = 20 * 1024 * 1024
"""Largest in-memory input (bytes or file-like), the app's upload cap (Streamlit's 20 MB)."""

MAX_PIXELS = 50_000_000
"""Largest image accepted, in pixels (50 megapixels): a 50 MP RGBA decode is about 200 MB."""

DRAFT_SIDE = 512
"""With ``load_image(..., draft=True)`` (the app's uploads) large JPEGs are decoded at 1/2, 1/4 or
1/8 scale, never below this on the shorter side. That bounds a shared server's memory but is not
the full decode: libjpeg's reduced-scale IDCT gives other pixels (the crop up to 35 grey levels
apart on a 1411×1411 photo), so the library and the command line decode in full by default."""

KEEP_SIDE = 1024
"""``load_image(..., max_side=KEEP_SIDE)`` (what the app asks for) shrinks an image until its
longer side is this, unless that would take its shorter side below ``DRAFT_SIDE`` (panoramas).
A 50-megapixel upload is then kept as about 3 MB, not 150 MB; nothing the networks see is lost."""

BACKGROUND = (128, 128, 128)
"""Transparent pixels are composited onto mid-grey: dark and light artwork both stay visible,
and it is close to the ILSVRC mean, so the background adds little to the activations."""

SUPPORTED_FORMATS = (
    "JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "TGA", "AVIF", "JPEG2000", "QOI",
)
"""Pillow format names we decode (JPEG includes MPO). Other Pillow plugins are never tried:
fewer parsers face hostile input, and EPS would run Ghostscript."""

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Image.Image]

_MEGA = 1_000_000


class ImageError(ValueError):
    """The input is not an image we can use; the message says why and what to do."""


def load_image(source: Source, max_side: int | None = None, draft: bool = False) -> Image.Image:
    """A path, bytes or a binary file-like object (e.g. Streamlit's UploadedFile) -> RGB image.

    Also accepts an already-open PIL image, which gets the same checks and conversions.
    Raises ImageError, and nothing else, for anything that is not a usable image; the
    byte cap MAX_BYTES applies to in-memory input and to paths that are pipes or devices, the
    pixel cap MAX_PIXELS to all input. With ``max_side`` the result is shrunk (see
    ``KEEP_SIDE``); either way ``img.info["original_size"]`` is the stored image's (width,
    height), upright, so a caption can say "decoded at 1024×768 from 4000×3000".
    ``draft=True`` lets libjpeg decode a large JPEG at reduced scale (see ``DRAFT_SIDE``): far less
    memory and time, other pixels; the default is the full decode every computation should use.
    """
    if isinstance(source, Image.Image):
        _check_size(source.size)
        return _finish(_load_pixels(source), source.size, max_side, own=False)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            stream = open(path, "rb")
        except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
            raise ImageError(_path_problem(path, exc)) from None
        with stream:
            try:
                if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                    # A pipe (`<(curl …)`) or a device: Pillow would read it to the end into
                    # memory, so it gets the in-memory byte cap instead.
                    return _load_stream(_read_source(stream), max_side, draft)
                return _load_stream(stream, max_side, draft)
            except ImageError as exc:  # name the file: the user may have passed several
                raise ImageError(f"{path.name}: {exc}") from None
    return _load_stream(_read_source(source), max_side, draft)


def image_digest(img: Image.Image) -> str:
    """A stable hex key for an image's decoded RGB pixels and size (for caches)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def _load_stream(stream: IO[bytes], max_side: int | None = None, draft: bool = False) -> Image.Image:
    img = _open_header(stream)
    stored = img.size  # before JPEG draft mode decodes it smaller
    return _finish(_decode(img, draft), stored, max_side, own=True)


def _finish(img: Image.Image, stored: tuple[int, int], max_side: int | None, own: bool) -> Image.Image:
    """Orientation, RGB, the optional shrink, and the original size recorded in ``info``.
    ``own``: ``img`` was decoded here, so it may be changed in place; a caller's image never is."""
    decoded = img.size
    out = _shrink(_to_rgb(_orient(img, own)), max_side)
    upright = stored if (out.width >= out.height) == (decoded[0] >= decoded[1]) else stored[::-1]
    out.info["original_size"] = upright
    return out


def _shrink(img: Image.Image, max_side: int | None) -> Image.Image:
    """Scale down so the longer side is ``max_side``, keeping the shorter side >= DRAFT_SIDE."""
    if not max_side:
        return img
    long_, short = max(img.size), min(img.size)
    scale = min(1.0, max(max_side / long_, DRAFT_SIDE / short))
    if scale >= 1.0:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    try:
        return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except MemoryError:
        raise ImageError("There is not enough memory to scale this image down: scale it down and try again.") from None


# --- 1. Reading the source ---------------------------------------------------------------

def _read_source(source: object) -> IO[bytes]:
    """In-memory input -> BytesIO, refusing more than MAX_BYTES without reading it all."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, io.TextIOBase):
        raise ImageError("The file was opened as text: open it in binary mode ('rb').")
    elif hasattr(source, "read"):
        try:
            if getattr(source, "seekable", lambda: False)():
                source.seek(0)  # like Image.open: an UploadedFile read once still works
            data = source.read(MAX_BYTES + 1)
        except Exception as exc:  # closed files, sockets that fail, ...
            raise ImageError(f"Could not read the file ({exc}): choose it again.") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):  # e.g. str from a text stream
            raise ImageError("The file did not give bytes: open it in binary mode ('rb').")
        data = bytes(data)
    else:
        raise ImageError(
            f"load_image needs a path, bytes or a binary file, not {type(source).__name__}."
        )
    if len(data) > MAX_BYTES:
        raise ImageError(
            f"The file is over the {MAX_BYTES // 2**20} MB limit: "
            "save it as a smaller JPEG or PNG and try again."
        )
    return io.BytesIO(data)


def _path_problem(path: Path, exc: Exception) -> str:
    if not isinstance(exc, OSError):  # e.g. a NUL character in the path
        return f"{str(path)!r} is not a usable file path ({exc}): check the path."
    if isinstance(exc, FileNotFoundError):
        return f"There is no file at {path}: check the path and the spelling."
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return f"{path} is a folder, not an image file: choose an image inside it."
    if isinstance(exc, PermissionError):
        return f"{path} cannot be read (permission denied): copy it somewhere you can read."
    return f"{path} cannot be read ({exc.strerror or exc}): check the file and try again."


# --- 2. The header: what is it, and how big ----------------------------------------------

def _open_header(stream: IO[bytes]) -> Image.Image:
    """Image.open parses only the header, so size and format are known before decoding."""
    try:
        img = Image.open(stream, formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own check, at 2x its MAX_IMAGE_PIXELS
        raise ImageError(_too_many_pixels(None)) from None
    except Image.DecompressionBombWarning:
        # Raised only where warnings are errors. Otherwise Pillow prints it for 89-179 MP
        # headers and we refuse just below; we leave the process-wide warning filters alone.
        raise ImageError(_too_many_pixels(None)) from None
    except Exception as exc:  # not an image, or a plugin that chokes on a damaged header
        if _container_ends_early(stream):
            raise ImageError(_TRUNCATED) from None
        if isinstance(exc, Image.UnidentifiedImageError):
            raise ImageError(_not_an_image(_peek(stream))) from None
        raise ImageError(_broken(exc)) from None
    _check_size(img.size)
    return img


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(
            f"The image has no pixels ({width}×{height}): save it again from the original."
        )
    if width * height > MAX_PIXELS:
        raise ImageError(_too_many_pixels(size))


def _too_many_pixels(size: tuple[int, int] | None) -> str:
    what = f"{size[0]}×{size[1]} pixels" if size else "too large"
    return (
        f"The image is {what}, over the limit of {MAX_PIXELS // _MEGA} megapixels: "
        "scale it down (e.g. to 4000 pixels on the longer side) and try again."
    )


def _container_ends_early(stream: IO[bytes]) -> bool:
    """WebP (RIFF) states its length and TIFF points to its directory, often at the end:
    either beyond the end of the data means the file was cut short."""
    try:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        head = stream.read(8)
    except Exception:  # a stream we cannot rewind: no verdict
        return False
    if len(head) < 8:
        return False
    if head[:4] == b"RIFF":
        return int.from_bytes(head[4:8], "little") + 8 > size
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return int.from_bytes(head[4:8], "little" if head[:2] == b"II" else "big") >= size
    return False


def _peek(stream: IO[bytes]) -> bytes:
    try:
        stream.seek(0)
        return stream.read(1024)
    except Exception:  # a stream we cannot rewind: the generic message will do
        return b"\x00"


_WEB_PAGE = "This is a web page (HTML), not an image: save the image itself, not the page."
# A signature found near the start -> what to tell the person.
_NOT_IMAGES = (
    (b"%PDF", "This is a PDF document, not an image: export the page as PNG or JPEG."),
    (b"PK\x03\x04", "This is a ZIP archive, not an image: unzip it and choose an image inside."),
    (b"<svg", "SVG is not supported: export it as PNG."),
    (b"<html", _WEB_PAGE),
    (b"<!doctype html", _WEB_PAGE),
    (b"ftypheic", "HEIC photos are not supported: export it as JPEG."),
    (b"ftypmif1", "HEIF photos are not supported: export it as JPEG."),
    (b"8BPS", "Photoshop files are not supported: export it as PNG or JPEG."),
    (b"%!PS", "PostScript/EPS files are not supported: export it as PNG."),
)
# Known image signatures (offset, bytes, name): Pillow failing to identify one means a
# damaged or exotic header.
_IMAGE_SIGNATURES = (
    (0, b"\x89PNG", "a PNG"), (0, b"\xff\xd8", "a JPEG"), (0, b"GIF8", "a GIF"),
    (0, b"RIFF", "a WebP"), (0, b"II*\x00", "a TIFF"), (0, b"MM\x00*", "a TIFF"),
    (0, b"BM", "a BMP"),
    (4, b"ftypavif", "an AVIF"), (0, b"\x00\x00\x00\x0cjP  ", "a JPEG 2000"),
)


def _not_an_image(head: bytes) -> str:
    if not head:
        return "The file is empty (0 bytes): it may be a failed download; save it again."
    lowered = head.lower()
    for signature, sentence in _NOT_IMAGES:
        if signature.lower() in lowered:
            return sentence
    for offset, signature, name in _IMAGE_SIGNATURES:
        if head[offset:].startswith(signature):
            return (
                f"This looks like {name} file, but its header cannot be read (it may be "
                "damaged, claim zero pixels, or use a rare variant): open it in an image "
                "editor and save it again as PNG or JPEG."
            )
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "This is a text file, not an image: choose a photo (JPEG, PNG, GIF, WebP, BMP or TIFF)."
        except UnicodeDecodeError:
            pass  # a partial multi-byte character at the cut, or simply binary
    return (
        "This file is not an image in a format we read (JPEG, PNG, GIF, WebP, BMP, TIFF, ...): "
        "save it as PNG or JPEG."
    )


# --- 3. Decoding ---------------------------------------------------------------------------

def _decode(img: Image.Image, draft: bool = False) -> Image.Image:
    """Decode the first frame; with ``draft``, JPEGs at reduced scale when they are large."""
    if not draft:
        return _load_pixels(img)
    try:
        # Draft mode makes libjpeg decode at 1/2, 1/4 or 1/8 scale and skip most of the IDCT
        # and colour work (a 12 MP photo: ~2.5x faster here; entropy decoding still reads
        # every byte). Other formats ignore it. Both sides stay at least DRAFT_SIDE.
        img.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
    except Exception as exc:
        raise ImageError(_broken(exc)) from None
    return _load_pixels(img)


def _load_pixels(img: Image.Image) -> Image.Image:
    """img.load(), with every failure turned into a sentence. Animations stay on frame 0."""
    try:
        img.load()
    except Image.DecompressionBombError:
        raise ImageError(_too_many_pixels(img.size)) from None
    except MemoryError:
        raise ImageError(
            "There is not enough memory to decode this image: scale it down and try again."
        ) from None
    except Exception as exc:
        raise ImageError(_broken(exc)) from None
    return img


_TRUNCATED = (
    "The file ends early: it may be a partial download or an interrupted copy; "
    "download or save it again."
)


def _broken(exc: Exception) -> str:
    """A decoder's complaint -> a sentence: cut short, or damaged inside."""
    detail = str(exc).strip() or type(exc).__name__
    lowered = detail.lower()
    if isinstance(exc, EOFError) or any(
        word in lowered for word in ("truncated", "premature", "end of file", "not enough")
    ):
        return _TRUNCATED
    return (
        f"The image data is damaged ({detail[:80]}): open it in an image editor and save it "
        "again, or use another copy."
    )


# --- 4. Orientation and colour -------------------------------------------------------------

def _orient(img: Image.Image, own: bool) -> Image.Image:
    """Apply the EXIF orientation, so phone photos stand the right way up. The result is always
    ours to change: an image decoded here is turned in place (no copy when it stands upright, as
    most do), a caller's image is copied."""
    try:
        if own:
            ImageOps.exif_transpose(img, in_place=True)
            return img
        return ImageOps.exif_transpose(img)
    except Exception:
        # Damaged EXIF metadata should not cost the user a good picture: keep it as stored.
        return img if own else img.copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; alpha is composited onto BACKGROUND. ``img`` is ours (``_orient``):
    an RGB image without transparency comes back as a plain Image sharing its pixels, not a copy."""
    mode = img.mode
    try:
        if mode in ("I", "F") or mode.startswith("I;16"):
            grey = _rescale_to_l(img)
            rgb = grey.convert("RGB")
            rgb.info.update(grey.info)
            return rgb
        if img.has_transparency_data:
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        if mode == "RGB":
            return img._new(img.im)  # what convert("RGB") gives (info included), minus copying the pixels
        return img.convert("RGB")
    except MemoryError:
        raise ImageError(
            "There is not enough memory to convert this image: scale it down and try again."
        ) from None
    except Exception:  # a mode Pillow decodes but cannot convert
        raise ImageError(
            f"This image's colour mode ({mode}) cannot be converted to RGB: "
            "save it as an 8-bit RGB PNG or JPEG."
        ) from None


NARROW_FRACTION = 1 / 16
"""A high-bit-depth image whose values span less than this fraction of its type's range (a 12-bit
sensor stored in 16 bits, a TIFF running from 291 to 694) is stretched from its own range."""
STRETCH_PERCENTILES = (0.5, 99.5)


def _rescale_to_l(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit int / float greyscale -> 8-bit L, by the data's nominal range.

    Pillow's own convert clips these to 0..255, so a mid-grey 16-bit image comes out white.
    I;16 (and I holding 0..65535) use the 16-bit range; F holding 0..1 or 0..255 uses that
    range; anything else is stretched from its minimum to its maximum. An image that uses less
    than NARROW_FRACTION of its nominal range would come out flat (one or two grey levels), so
    it is stretched from its own 0.5–99.5 percentiles instead, and ``info["stretched"]`` says
    from which values (for a caption).
    """
    a = np.array(img, dtype=np.float32)  # (H, W), our own copy: scaled in place below
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0, copy=False)
    lo, hi = float(a.min()), float(a.max())
    nominal = None
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        nominal = 65535.0
    elif img.mode == "F" and lo >= 0 and hi <= 1:
        nominal = 1.0
    elif img.mode == "F" and lo >= 0 and hi <= 255:
        nominal = 255.0
    stretched = None
    if nominal is not None and 0 < hi - lo < nominal * NARROW_FRACTION:
        p_lo, p_hi = (float(v) for v in np.percentile(a, STRETCH_PERCENTILES))
        if p_hi <= p_lo:
            p_lo, p_hi = lo, hi
        a -= p_lo
        a *= 255.0 / (p_hi - p_lo)
        stretched = (p_lo, p_hi, nominal)
    elif nominal is not None:
        a *= 255.0 / nominal
    elif hi > lo:
        a -= lo
        a *= 255.0 / (hi - lo)
    else:
        a[...] = 0.0  # a constant image outside any nominal range: nothing to show
    np.rint(a, out=a)
    np.clip(a, 0, 255, out=a)
    out = Image.fromarray(a.astype(np.uint8))  # mode L
    if stretched:
        out.info["stretched"] = stretched
    return out
