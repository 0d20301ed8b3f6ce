"""Numbers -> colours: the colour tables, scaling to 8 bits, and the categorical palette.

Every picture in the project takes its colours from here. Sequential maps are colour-blind
safe and readable in greyscale: viridis and cividis (anchor colours as plotly and matplotlib
publish them); blue-white-red is ColorBrewer's RdBu reversed and purple-white-green its PRGn,
both marked colour-blind safe by ColorBrewer. Categories (the GPU towers among them) use Okabe &
Ito's palette.

One meaning per colour: the towers are blue (GPU 1) and vermillion (GPU 2) everywhere, so signed
values (a weight, a term, an attribution) are purple (negative) and green (positive), the ends
of ``SIGNED_MAP``, through ``sign_colour`` and ``SIGNED_MAP`` only.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..architecture import TOWERS, WHOLE

# Anchor colours, interpolated linearly in sRGB into 256-entry tables.
COLOUR_MAPS: dict[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"),
    "cividis": ("#00224e", "#123570", "#3b496c", "#575d6d", "#707173",
                "#8a8678", "#a59c74", "#c3b369", "#e1cc55", "#fee838"),
    "blue-white-red": ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                       "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"),
    "purple-white-green": ("#40004b", "#762a83", "#9970ab", "#c2a5cf", "#e7d4e8", "#f7f7f7",
                           "#d9f0d3", "#a6dba0", "#5aae61", "#1b7837", "#00441b"),
}

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7",
}
# What is not split (fc8, a one-tower variant) belongs to no tower: a neutral grey, not a hue.
TOWER_COLOURS = {TOWERS[0]: OKABE_ITO["blue"], TOWERS[1]: OKABE_ITO["vermillion"], WHOLE: "#595959"}
# Signs: a pair apart from the towers' (a GPU 1 unit that subtracts must not be drawn in GPU 1's blue).
SIGNED_MAP = "purple-white-green"  # negative .. 0 (white) .. positive
SIGN_COLOURS = {"negative": COLOUR_MAPS[SIGNED_MAP][1], "positive": COLOUR_MAPS[SIGNED_MAP][-2]}
SIGN_WORDS = {"negative": "purple", "positive": "green"}


def sign_colour(value: float) -> str:
    """The colour of a signed number's bar or mark: green for 0 and above (it adds), purple below."""
    return SIGN_COLOURS["positive" if value >= 0 else "negative"]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """"#E69F00" -> (230, 159, 0)."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


@lru_cache(maxsize=None)
def lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 table of one of ``COLOUR_MAPS`` (read-only: shared by every caller)."""
    if name not in COLOUR_MAPS:
        raise ValueError(f"Unknown colour map {name!r}: choose one of {', '.join(COLOUR_MAPS)}.")
    anchors = np.array([hex_rgb(h) for h in COLOUR_MAPS[name]], float)  # (n, 3)
    at = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    table = np.rint(np.stack([np.interp(t, at, anchors[:, c]) for c in range(3)], axis=1)).astype(np.uint8)
    table.setflags(write=False)
    return table


def to_uint8(values, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map ``lo``..``hi`` (default: the values' min and max) linearly to 0..255, clipping
    outside; a constant range maps to 0."""
    x = np.asarray(values)
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    lo = float(x.min()) if lo is None else lo
    hi = float(x.max()) if hi is None else hi
    if not hi > lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def colourise(values, cmap: str = "viridis", lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Values -> colours, shape (..., 3) uint8: uint8 values index the table directly; any other
    values are scaled so ``lo``..``hi`` spans it (see :func:`to_uint8`)."""
    v = np.asarray(values)
    return lut(cmap)[v if v.dtype == np.uint8 else to_uint8(v, lo, hi)]
