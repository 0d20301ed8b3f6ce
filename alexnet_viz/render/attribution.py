"""Attribution arrays -> pictures blended onto the crop.

Reduce by sign mode and clip (:mod:`alexnet_viz.heatmaps`), colour for the sign mode, blend onto
the crop. :func:`attribution_picture` does it in one call; :func:`attribution_pictures` does it
for a side-by-side comparison on a shared or per-map scale.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..heatmaps import check_sign, normalise, reduce, scale_of
from .colour import SIGNED_MAP, colourise
from .images import as_rgb, overlay, resize

# Magnitudes run dark to bright (viridis); signed values run purple (lowers the score) through
# white (0) to green (raises it): blue and vermillion are the towers'.
DEFAULT_COLOUR_MAP = {"positive": "viridis", "negative": "viridis", "absolute": "viridis",
                      "signed": SIGNED_MAP}


def colour_by_sign(normalised: np.ndarray, sign: str, cmap: str | None = None) -> np.ndarray:
    """A normalised (H, W) map -> (H, W, 3) uint8 colours: 0..1 spans the map; signed: −1..1."""
    check_sign(sign)
    t = (np.asarray(normalised) + 1) / 2 if sign == "signed" else normalised
    return colourise(t, cmap or DEFAULT_COLOUR_MAP[sign])


def colour_bar(sign: str, cmap: str | None = None, width: int = 256, height: int = 12) -> np.ndarray:
    """A (height, width, 3) uint8 strip of the colours a sign mode uses, low to high."""
    ramp = np.linspace(-1 if sign == "signed" else 0, 1, width, dtype=np.float32)
    return np.repeat(colour_by_sign(ramp[None, :], sign, cmap), height, axis=0)


def on_image(image, normalised: np.ndarray, sign: str, opacity: float = 0.6,
             cmap: str | None = None, alpha_by_value: bool = False) -> np.ndarray:
    """The coloured map, resized to ``image`` (bilinear), blended onto it: (H, W, 3) uint8.

    opacity 0 shows the image, 1 the map. With ``alpha_by_value`` each pixel's opacity is also
    scaled by its |value|, so weak attributions let the photo through.
    """
    size = as_rgb(image).shape[:2]
    norm = resize(normalised, size)  # (H, W)
    alpha = opacity * np.abs(norm)[..., None] if alpha_by_value else opacity
    return overlay(image, colour_by_sign(norm, sign, cmap), alpha)


def attribution_picture(attr: np.ndarray, image=None, sign: str = "absolute", percentile: float = 99.0,
                        opacity: float = 0.6, scale: float | None = None, cmap: str | None = None,
                        alpha_by_value: bool = False) -> np.ndarray:
    """One call from an attribution array to a picture: (H, W, 3) uint8.

    attr: (C, H, W) or (H, W). ``scale`` (from ``heatmaps.scale_of`` over several maps) gives a
    shared colour scale; None scales this map by its own ``percentile``. Without an image the
    bare coloured map is returned.
    """
    values = reduce(attr, sign)
    return _picture(values, image, sign, scale_of(values, percentile) if scale is None else scale,
                    opacity, cmap, alpha_by_value)


def _picture(values: np.ndarray, image, sign: str, scale: float, opacity: float, cmap: str | None,
             alpha_by_value: bool = False) -> np.ndarray:
    """Reduced (H, W) values at a given scale -> the bare coloured map, or on the image."""
    norm = normalise(values, sign, scale)
    if image is None:
        return colour_by_sign(norm, sign, cmap)
    return on_image(image, norm, sign, opacity, cmap, alpha_by_value)


def attribution_pictures(attrs: Sequence[np.ndarray], image=None, sign: str = "absolute",
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
    pictures = [_picture(r, image, sign, s, opacity, cmap) for r, s in zip(reduced, scales)]
    return pictures, scales
