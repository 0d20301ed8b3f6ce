"""A browser canvas's strokes: its PNG read within bounds, then laid over the crop the network sees.

What-if painting (the Paper lab's last experiment; ``lab.painted_effect`` runs the result) starts
here: ``read_painting`` turns the canvas's PNG into RGBA pixels, refusing anything too large
before a pixel is decoded, and ``paint_over`` composites them over the crop by their alpha. The
bytes come from a browser, so every mistake is an ``ImageError`` with a sentence, as a photo's are.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from .images import ImageError

PAINT_MAX_BYTES = 4 * 2**20
"""Largest canvas PNG read: a 454×454 canvas of strokes is tens of KB, a full-colour one about 800 KB."""

PAINT_MAX_SIDE = 4096
"""Largest canvas side read, in pixels: the page draws the crop at 2×, a 4× screen doubles it again."""

PAINT_ASPECT_TOLERANCE = 0.02  # a painting this close to the crop's shape is resized onto it


def read_painting(png: bytes) -> np.ndarray:
    """A canvas's PNG -> its (H, W, 4) uint8 RGBA pixels, or ImageError with a sentence.

    The bytes come from a browser, so they are bounded before any pixel is decoded: at most
    ``PAINT_MAX_BYTES``, a PNG signature, at most ``PAINT_MAX_SIDE`` pixels a side.
    """
    if not isinstance(png, (bytes, bytearray)):
        raise ImageError(f"The canvas sent {type(png).__name__}, not a picture: paint again or press Clear.")
    if len(png) > PAINT_MAX_BYTES:
        raise ImageError(f"The canvas sent {len(png) / 2**20:.1f} MB; a painting is read only up to "
                         f"{PAINT_MAX_BYTES // 2**20} MB. Press Clear and paint again.")
    if not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
        raise ImageError("The canvas sent something that is not a PNG picture: press Clear and paint again.")
    try:
        img = Image.open(io.BytesIO(png))  # reads the header only
        w, h = img.size
        if not (0 < w <= PAINT_MAX_SIDE and 0 < h <= PAINT_MAX_SIDE):
            raise ImageError(f"The canvas sent a {w}×{h} picture; at most {PAINT_MAX_SIDE} pixels a side "
                             "are read. Press Clear and paint again.")
        img.load()
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageError(f"The canvas's picture could not be read ({exc}): press Clear and paint again.") from None
    return np.asarray(img.convert("RGBA"))  # (H, W, 4)


def paint_over(view, rgba) -> Image.Image:
    """Strokes composited over the crop the network sees: an RGB image of ``view``'s size.

    ``view`` is a PIL image (``net.view(img)``); ``rgba`` an (H, W, 4) uint8 array or a PIL image
    (converted to RGBA) whose alpha says how much each pixel covers the photo: 0 keeps the photo,
    255 replaces it with the stroke's colour, in between blends. A painting of another size but
    the crop's shape (a canvas drawn at 2×, a high-density screen) is resized onto the crop, its
    colours weighted by alpha; any other shape is an ImageError.
    """
    if isinstance(rgba, Image.Image):
        paint = rgba.convert("RGBA")
    else:
        a = np.asarray(rgba)
        if a.ndim != 3 or a.shape[2] != 4 or a.dtype != np.uint8:
            raise ImageError(f"A painting is an (height, width, 4) array of bytes (RGBA); this one is "
                             f"{a.dtype} shaped {tuple(a.shape)}.")
        paint = Image.fromarray(a, "RGBA")
    (w, h), (pw, ph) = view.size, paint.size
    if (pw, ph) != (w, h):
        if not (0 < pw <= PAINT_MAX_SIDE and 0 < ph <= PAINT_MAX_SIDE) or \
                abs(pw * h - ph * w) > PAINT_ASPECT_TOLERANCE * w * ph:
            raise ImageError(f"The painting is {pw}×{ph} but the crop is {w}×{h}: a painting must have the "
                             f"crop's shape and at most {PAINT_MAX_SIDE} pixels a side.")
        paint = paint.resize((w, h), Image.BILINEAR)  # Pillow weights RGBA by alpha when resizing
    p = np.asarray(paint, dtype=np.float64)  # (h, w, 4)
    photo = np.asarray(view.convert("RGB"), dtype=np.float64)  # (h, w, 3)
    alpha = p[..., 3:] / 255.0
    out = photo + alpha * (p[..., :3] - photo)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
