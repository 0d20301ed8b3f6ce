"""Numpy helpers that turn an attribution array into a picture: no torch, no plotly, no UI.

The path is reduce (sign mode) -> scale (percentile clipping, per map or shared) -> colour
(a colour-blind-safe map) -> overlay on the image -> PNG bytes. ``render`` does it all in one
call; ``render_many`` does it for a side-by-side comparison on a shared or per-map scale.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

SIGN_MODES = ("positive", "negative", "absolute", "signed")

# Anchor colours, interpolated linearly in sRGB. viridis (perceptually uniform, readable with
# every common colour-vision deficiency and in greyscale) at 10 evenly spaced points;
# blue-white-red is ColorBrewer's RdBu reversed, marked colour-blind safe by ColorBrewer.
COLORMAPS: dict[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"),
    "blue-white-red": ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                       "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"),
}
DEFAULT_COLORMAP = {"positive": "viridis", "negative": "viridis", "absolute": "viridis",
                    "signed": "blue-white-red"}


def _check_sign(sign: str) -> None:
    if sign not in SIGN_MODES:
        raise ValueError(f"Unknown sign mode {sign!r}: choose one of {', '.join(SIGN_MODES)}.")


def reduce(attr: np.ndarray, sign: str = "absolute") -> np.ndarray:
    """(C, H, W) or (H, W) attribution -> the (H, W) values a sign mode shows, as float32.

    positive / negative: the channel sum's positive part / the magnitude of its negative part;
    absolute: the sum of absolute values over channels (as Captum's visualiser does); signed:
    the channel sum.
    """
    _check_sign(sign)
    a = np.asarray(attr, dtype=np.float32)
    if a.ndim == 3:
        total = np.abs(a).sum(0) if sign == "absolute" else a.sum(0)  # (H, W)
    elif a.ndim == 2:
        total = np.abs(a) if sign == "absolute" else a
    else:
        raise ValueError(f"An attribution map is (C, H, W) or (H, W); got shape {a.shape}.")
    if sign == "positive":
        return np.maximum(total, 0)
    if sign == "negative":
        return np.maximum(-total, 0)
    return total.astype(np.float32)


def scale_of(values: np.ndarray | Sequence[np.ndarray], percentile: float = 99.0) -> float:
    """The magnitude mapped to full colour: the ``percentile`` of |values|; larger values clip.

    Several arrays give one shared scale. 0 means the map is all zeros.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"The clipping percentile must be above 0 and at most 100; got {percentile}.")
    arrays = [values] if isinstance(values, np.ndarray) else list(values)
    flat = np.abs(np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in arrays]))
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0
    s = float(np.percentile(flat, percentile))
    return s if s > 0 else float(flat.max())  # a sparse map: its 99th percentile may be zero


def normalise(reduced: np.ndarray, sign: str, scale: float) -> np.ndarray:
    """Values / scale, clipped: to [0, 1], or [-1, 1] for the signed mode. A zero scale gives 0."""
    _check_sign(sign)
    r = np.nan_to_num(np.asarray(reduced, dtype=np.float32))
    if scale <= 0:
        return np.zeros_like(r)
    return np.clip(r / scale, -1.0 if sign == "signed" else 0.0, 1.0)


def colormap(name: str, n: int = 256) -> np.ndarray:
    """An (n, 3) uint8 lookup table for one of ``COLORMAPS``."""
    if name not in COLORMAPS:
        raise ValueError(f"Unknown colormap {name!r}: choose one of {', '.join(COLORMAPS)}.")
    anchors = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in COLORMAPS[name]], float)
    at = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, n)
    return np.stack([np.interp(t, at, anchors[:, c]) for c in range(3)], 1).round().astype(np.uint8)


def colorize(normalised: np.ndarray, sign: str, cmap: str | None = None) -> np.ndarray:
    """A normalised (H, W) map -> (H, W, 3) uint8 colours (signed: −1 blue, 0 white, +1 red)."""
    _check_sign(sign)
    lut = colormap(cmap or DEFAULT_COLORMAP[sign])
    t = (normalised + 1) / 2 if sign == "signed" else normalised
    return lut[np.clip(np.rint(t * (len(lut) - 1)), 0, len(lut) - 1).astype(np.intp)]


def colorbar(sign: str, cmap: str | None = None, width: int = 256, height: int = 12) -> np.ndarray:
    """A (height, width, 3) uint8 strip of the colours a sign mode uses, low to high."""
    ramp = np.linspace(-1 if sign == "signed" else 0, 1, width, dtype=np.float32)
    return np.repeat(colorize(ramp[None, :], sign, cmap), height, axis=0)


def _as_rgb(image) -> np.ndarray:
    """A PIL image or an (H, W, 3) array (uint8, or float in 0..1) -> (H, W, 3) float in 0..1."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"The image must be RGB, (H, W, 3); got shape {a.shape}.")
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float32), 0, 1)


def _resize(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float -> (H, W) float, bilinear; ``size`` is (H, W)."""
    if values.shape == size:
        return values
    img = Image.fromarray(values.astype(np.float32))  # mode "F"
    return np.asarray(img.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)


def overlay(image, normalised: np.ndarray, sign: str, opacity: float = 0.6,
            cmap: str | None = None, alpha_by_value: bool = False) -> np.ndarray:
    """The coloured map blended onto ``image``: (H, W, 3) uint8 at the image's size.

    opacity 0 shows the image, 1 the map. With ``alpha_by_value`` each pixel's opacity is also
    scaled by its |value|, so weak attributions let the photo through.
    """
    if not 0 <= opacity <= 1:
        raise ValueError(f"Opacity must be between 0 and 1; got {opacity}.")
    rgb = _as_rgb(image)  # (H, W, 3)
    norm = _resize(np.asarray(normalised, dtype=np.float32), rgb.shape[:2])
    colour = colorize(norm, sign, cmap).astype(np.float32) / 255.0
    alpha = opacity * (np.abs(norm)[..., None] if alpha_by_value else 1.0)
    return np.clip(np.rint(((1 - alpha) * rgb + alpha * colour) * 255), 0, 255).astype(np.uint8)


def render(attr: np.ndarray, image=None, sign: str = "absolute", percentile: float = 99.0,
           opacity: float = 0.6, scale: float | None = None, cmap: str | None = None,
           alpha_by_value: bool = False) -> np.ndarray:
    """One call from an attribution array to a picture: (H, W, 3) uint8.

    attr: (C, H, W) or (H, W). ``scale`` (from ``scale_of`` over several maps) gives a shared
    colour scale; None scales this map by its own ``percentile``. Without an image the bare
    coloured map is returned.
    """
    values = reduce(attr, sign)
    norm = normalise(values, sign, scale_of(values, percentile) if scale is None else scale)
    if image is None:
        return colorize(norm, sign, cmap)
    return overlay(image, norm, sign, opacity, cmap, alpha_by_value)


def render_many(attrs: Sequence[np.ndarray], image=None, sign: str = "absolute",
                percentile: float = 99.0, opacity: float = 0.6, shared: bool = True,
                cmap: str | None = None) -> tuple[list[np.ndarray], list[float]]:
    """Several maps for a side-by-side comparison, and the scale each was drawn with.

    shared=True: one colour scale for all (the percentile over every map's values), so
    colours compare across maps; shared=False: each map on its own scale.
    """
    reduced = [reduce(a, sign) for a in attrs]
    if shared:
        scales = [scale_of(reduced, percentile)] * len(reduced)
    else:
        scales = [scale_of(r, percentile) for r in reduced]
    pictures = [colorize(normalise(r, sign, s), sign, cmap) if image is None
                else overlay(image, normalise(r, sign, s), sign, opacity, cmap)
                for r, s in zip(reduced, scales)]
    return pictures, scales


def to_png(picture: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 array -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def to_npy(array: np.ndarray) -> bytes:
    """The raw numbers as ``.npy`` bytes (``np.load(io.BytesIO(data))`` reads them back)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()
