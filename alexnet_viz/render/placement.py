"""One channel placed on the input at the right scale, as the walkthrough's receptive field says.

Unit (i, j) of a map is centred at ``start + jump·(i, j)`` input pixels (rows, columns; pixel
centres at 0, 1, 2, …) and sees a square of ``size`` pixels.

:func:`channel_on_input` draws a channel on the crop with the box its strongest unit sees;
:func:`channel_picture` draws the bare map, enlarged.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..arrays import one_map
from ..walkthrough import ReceptiveField
from .colour import colourise
from .images import draw_box, enlarge, overlay


def _rf(rf) -> ReceptiveField:
    return rf if isinstance(rf, ReceptiveField) else ReceptiveField(*rf)


@functools.lru_cache(maxsize=64)
def _interp_matrix(n_units: int, input_size: int, jump: float, start: float, mode: str) -> np.ndarray:
    """(input_size, n_units) weights taking unit values (at their centres) to input pixels.

    Kept (read-only) per geometry: a page or Grad-CAM asks for the same few again and again."""
    pos = (np.arange(input_size) - start) / jump  # each pixel in unit coordinates
    w = np.zeros((input_size, n_units))
    rows = np.arange(input_size)
    if mode == "nearest":
        # floor(x + 0.5): a pixel exactly half way goes to the later unit
        w[rows, np.clip(np.floor(pos + 0.5).astype(int), 0, n_units - 1)] = 1.0
    elif mode == "bilinear":
        p = np.clip(pos, 0, n_units - 1)
        i0 = np.clip(np.floor(p).astype(int), 0, max(0, n_units - 2))
        f = p - i0
        if n_units == 1:
            w[:, 0] = 1.0
        else:
            w[rows, i0] = 1 - f
            w[rows, i0 + 1] += f
    else:
        raise ValueError(f"Unknown upsampling {mode!r}: choose nearest or bilinear.")
    w.setflags(write=False)
    return w


def upsample_to_input(act_c, input_size: int, rf, mode: str = "bilinear") -> np.ndarray:
    """One channel's (H, W) map as an (input_size, input_size) float map on the network's crop.

    Unit (i, j) is centred at ``start + jump·(i, j)`` (``rf`` is a walkthrough
    ``ReceptiveField`` or a (size, jump, start) tuple). ``"bilinear"`` interpolates between unit
    centres, ``"nearest"`` gives each pixel the unit whose centre is nearest; pixels beyond the
    first or last centre take the edge unit's value.
    """
    m = one_map(act_c)
    wy, wx = placement_matrices(m.shape, input_size, rf, mode)
    return wy @ m @ wx.T  # (size, size)


def placement_matrices(shape: tuple[int, int], input_size: int, rf,
                       mode: str = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """The (input_size, H) and (input_size, W) read-only weights with which
    ``upsample_to_input`` places an (H, W) map on the input: ``wy @ map @ wx.T``. For work on
    another device (Grad-CAM on a GPU), the same product in torch."""
    h, w = (int(n) for n in shape)
    rf = _rf(rf)
    size = int(input_size)
    last = rf.start + rf.jump * (max(h, w) - 1)
    if rf.start < -rf.jump or last > size - 1 + rf.jump:
        raise ValueError(
            f"A {h}×{w} map with units {rf.jump:g} pixels apart from {rf.start:g} would reach "
            f"pixel {last:g}, outside a {size}-pixel input: pass the receptive field of the layer the map comes "
            "from, at the input size the network saw.")
    return _interp_matrix(h, size, rf.jump, rf.start, mode), _interp_matrix(w, size, rf.jump, rf.start, mode)


def receptive_field_box(rf, unit_row: int, unit_col: int, input_size: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) input pixels that unit (unit_row, unit_col) sees, clipped to the image.

    bottom and right are exclusive (a box of ``rf.size`` pixels unclipped), so
    ``crop[top:bottom, left:right]`` is the region.
    """
    rf = _rf(rf)
    half = (rf.size - 1) / 2

    def span(i: int) -> tuple[int, int]:
        centre = rf.start + rf.jump * i
        lo = int(math.floor(centre - half + 0.5))
        return max(0, lo), min(int(input_size), lo + int(round(rf.size)))

    top, bottom = span(int(unit_row))
    left, right = span(int(unit_col))
    return top, left, bottom, right


def channel_on_input(image, act_c, rf, alpha: float = 0.6, unit: tuple[int, int] | None = None,
                     cmap: str = "viridis") -> np.ndarray:
    """One channel's (H, W) map upsampled onto the crop the network saw (``image``, square),
    coloured from its min to its max, blended with weight ``alpha``, and the receptive field of
    ``unit`` (default: the strongest unit) outlined: (S, S, 3) uint8."""
    m = one_map(act_c)
    size = np.asarray(image).shape[0]
    heat = upsample_to_input(m, size, rf)  # (S, S)
    if unit is None:
        unit = np.unravel_index(int(np.argmax(m)), m.shape)
    box = receptive_field_box(rf, int(unit[0]), int(unit[1]), size)
    return draw_box(overlay(image, colourise(heat, cmap, float(heat.min()), float(heat.max())), alpha), box)


def channel_picture(act_c, size: int = 220, cmap: str = "viridis", lo: float | None = None,
                    hi: float | None = None) -> np.ndarray:
    """One channel's (H, W) map coloured from its min to its max (or from ``lo`` to ``hi``, to
    compare two maps on one scale) and enlarged (nearest) by a whole factor to about ``size``
    pixels high: (H·f, W·f, 3) uint8."""
    m = one_map(act_c)
    lo = float(m.min()) if lo is None else lo
    hi = float(m.max()) if hi is None else hi
    return enlarge(colourise(m, cmap, lo, hi), max(1, size // m.shape[0]))


def unit_at_pixel(shape: tuple[int, int], x: float, y: float, displayed_width: float) -> tuple[int, int]:
    """The unit (row, col) of an (H, W) map under a click at (x, y) on its picture
    (:func:`channel_picture`) shown ``displayed_width`` pixels wide, aspect ratio kept; a click on
    the last pixel's edge stays inside the map."""
    h, w = shape
    if displayed_width <= 0:
        raise ValueError(f"The map is shown {displayed_width} pixels wide: a click needs a visible map.")
    per_unit = displayed_width / w  # displayed pixels per unit, across and down alike
    return min(max(int(y // per_unit), 0), h - 1), min(max(int(x // per_unit), 0), w - 1)
