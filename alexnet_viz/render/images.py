"""Pictures as (H, W, 3) uint8 arrays, and the few operations every picture needs.

Blending colours onto a photo, enlarging, outlining a box, and resizing a map to a photo. Colours
come from :mod:`.colour`."""
from __future__ import annotations

import numpy as np
from PIL import Image

from .colour import OKABE_ITO, hex_rgb


def as_rgb(image) -> np.ndarray:
    """A PIL image or an (H, W, 3) array (uint8, or float in 0..1) -> (H, W, 3) float in 0..255."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64)
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"Expected an RGB image of shape (height, width, 3), got shape {tuple(a.shape)}.")
    return a.astype(np.float64) if a.dtype == np.uint8 else np.clip(a.astype(np.float64), 0, 1) * 255.0


def overlay(image, colours: np.ndarray, opacity: float | np.ndarray = 0.6) -> np.ndarray:
    """``colours`` (H, W, 3) uint8 blended over ``image`` of the same size: (H, W, 3) uint8.

    ``opacity`` is the colours' weight: 0 shows the image, 1 the colours; an (H, W, 1) array
    gives each pixel its own. ``image`` is a PIL image (e.g. ``net.view(img)``) or an array.
    """
    rgb = as_rgb(image)  # (H, W, 3)
    if colours.shape != rgb.shape:
        raise ValueError(f"The map is {colours.shape[0]}×{colours.shape[1]} but the image is "
                         f"{rgb.shape[0]}×{rgb.shape[1]}: upsample it to the crop first (upsample_to_input).")
    if not np.all((0 <= np.asarray(opacity)) & (np.asarray(opacity) <= 1)):
        raise ValueError(f"Opacity is the map's weight, between 0 and 1; got {opacity}.")
    return np.clip(np.rint((1 - opacity) * rgb + opacity * colours.astype(np.float64)), 0, 255).astype(np.uint8)


def resize(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float -> (H, W) float32, bilinear; ``size`` is (H, W)."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape == tuple(size):
        return values
    img = Image.fromarray(values)  # mode "F"
    return np.asarray(img.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W) or (H, W, C) array, so small tiles stay crisp."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], colour: str = OKABE_ITO["orange"],
             width: int = 2) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with the outline of ``box`` (top, left, bottom, right;
    bottom/right exclusive) drawn in ``colour`` (hex)."""
    out = np.array(image, dtype=np.uint8, copy=True)
    rgb = hex_rgb(colour)
    top, left, bottom, right = box
    h, w = out.shape[:2]
    for t in range(width):
        for r in (top + t, bottom - 1 - t):
            if 0 <= r < h:
                out[r, max(left, 0):min(right, w)] = rgb
        for c in (left + t, right - 1 - t):
            if 0 <= c < w:
                out[max(top, 0):min(bottom, h), c] = rgb
    return out
