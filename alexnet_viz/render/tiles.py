"""Many small maps composed into one picture, with which channel every tile shows.

A layer's channels per GPU tower, conv1's colour kernels like the paper's Figure 3, one output
channel's kernels per input channel. Each grid is one uint8 image plus which channel every tile
shows (:class:`Grid`).

Towers come from the architecture (``arch.towers(layer)``), never assumed.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..activations import channel_order
from ..architecture import WHOLE, Architecture, get_architecture
from ..arrays import chw, conv_weight
from .colour import OKABE_ITO, colourise, to_uint8
from .images import draw_box, enlarge

NORMALISE = ("per_channel", "shared")


@dataclass(frozen=True, eq=False)
class Grid:
    """Tiles composed into one image, and which channel each tile shows.

    ``image`` is uint8, (H', W') for maps or (H', W', 3) for colour kernels. Tile k (in the order
    of ``channels``) sits at row k // cols, column k % cols; its top-left pixel is
    (pad + row·(tile_h + pad), pad + col·(tile_w + pad)). ``tile`` is (tile_h, tile_w) in pixels
    of ``image`` (after any upscaling); ``pad`` pixels separate tiles and frame the grid.
    ``ranges[k]`` is the (low, high) value mapped to 0 and 255 in tile k, for a colour bar.
    ``tower`` names the GPU tower the tiles belong to, where that is one tower.
    """

    image: np.ndarray
    channels: tuple[int, ...]
    cols: int
    tile: tuple[int, int]
    pad: int
    ranges: tuple[tuple[float, float], ...] = ()
    tower: str | None = None
    note: str = ""

    @property
    def rows(self) -> int:
        return max(1, math.ceil(len(self.channels) / self.cols))

    def tile_mask(self) -> np.ndarray:
        """(H', W') bool: True on tile pixels, False on padding and on empty slots in the last row."""
        mask = np.zeros(self.image.shape[:2], bool)
        for c in self.channels:
            top, left, bottom, right = self.box_of(c)
            mask[top:bottom, left:right] = True
        return mask

    def rgb(self, cmap: str = "viridis", background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
        """The greyscale grid through a colour-blind-safe map, (H', W', 3) uint8; padding stays
        ``background`` so it is never mistaken for a strong activation. Colour grids pass through."""
        if self.image.ndim == 3:
            return self.image
        out = colourise(self.image, cmap)  # (H', W', 3)
        out[~self.tile_mask()] = background
        return out

    def channel_at(self, row_px: float, col_px: float) -> int | None:
        """The channel whose tile covers pixel (row_px, col_px) of ``image``; None on padding,
        on an empty slot of the last row, or outside the grid."""
        th, tw = self.tile
        r, c = math.floor(row_px) - self.pad, math.floor(col_px) - self.pad
        if r < 0 or c < 0:
            return None
        gr, rr = divmod(r, th + self.pad)
        gc, rc = divmod(c, tw + self.pad)
        if rr >= th or rc >= tw or gc >= self.cols:
            return None
        k = gr * self.cols + gc
        return int(self.channels[k]) if k < len(self.channels) else None

    def channel_at_pixel(self, x: float, y: float, displayed_width: float) -> int | None:
        """The channel under a click at (x, y) on the grid shown ``displayed_width`` pixels wide
        (x to the right, y down, as a browser reports them; the aspect ratio kept), or None on
        padding. Any uniform enlargement of ``image`` (:func:`labelled_tiles`) maps the same way."""
        if displayed_width <= 0:
            raise ValueError(f"The grid is shown {displayed_width} pixels wide: a click needs a visible grid.")
        f = self.image.shape[1] / displayed_width  # image pixels per displayed pixel
        return self.channel_at(y * f, x * f)

    def box_of(self, channel: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of ``channel``'s tile in ``image``; bottom/right exclusive."""
        try:
            k = list(self.channels).index(int(channel))
        except ValueError:
            raise ValueError(f"Channel {channel} is not in this grid.") from None
        th, tw = self.tile
        top = self.pad + (k // self.cols) * (th + self.pad)
        left = self.pad + (k % self.cols) * (tw + self.pad)
        return top, left, top + th, left + tw


def labelled_tiles(grid: Grid, cmap: str = "viridis", width: int = 720) -> np.ndarray:
    """``grid.rgb(cmap)`` enlarged (nearest, by the whole factor that comes nearest ``width`` pixels),
    each tile's channel number written in its top-left corner, white on a dark box, large enough
    to read on a projector: (H'·f, W'·f, 3) uint8. Clicks map back with ``grid.channel_at_pixel``."""
    f = max(1, round(width / grid.image.shape[1]))
    out = enlarge(grid.rgb(cmap), f)  # (H'·f, W'·f, 3)
    th, tw = grid.tile[0] * f, grid.tile[1] * f
    size = int(min(40, max(12, 0.4 * min(th, tw))))  # shown ~40 % of a tile high, whatever the zoom
    for c in grid.channels:
        top, left = (v * f for v in grid.box_of(c)[:2])
        ink = _label(str(c), size, th, tw)  # (h, w) float32: the text's coverage over its box
        h, w = ink.shape
        region = out[top:top + h, left:left + w].astype(np.float32) * _BOX_SHOWS  # the dark box
        region += (255 - region) * ink[..., None]  # white text over it
        out[top:top + h, left:left + w] = np.rint(region).astype(np.uint8)
    return out


_BOX_SHOWS = 1 - 170 / 255  # how much of the map shows through a label's box


@functools.lru_cache(maxsize=2048)
def _label(text: str, size: int, tile_h: int, tile_w: int) -> np.ndarray:
    """A channel number's box on a tile (clipped to the tile) and the text's coverage in it, from
    0 to 1: (h, w) float32. Rendered once per number and size: glyphs were most of a grid's cost."""
    from PIL import Image, ImageDraw

    font = _font(size)
    x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((2, 1), text, font=font)[2:]
    w, h = min(x1 + 2, tile_w - 1) + 1, min(y1 + 2, tile_h - 1) + 1
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).text((2, 1), text, fill=255, font=font)
    ink = np.asarray(mask, dtype=np.float32) / 255
    ink.setflags(write=False)  # shared by every later grid
    return ink


@functools.lru_cache(maxsize=32)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def mark_tile(picture: np.ndarray, grid: Grid, channel: int, colour: str = OKABE_ITO["orange"]) -> np.ndarray:
    """A copy of ``picture`` (``grid`` drawn by :func:`labelled_tiles`, any whole enlargement) with a
    thick frame around ``channel``'s tile, over the padding around it: the selected tile."""
    f = picture.shape[1] // grid.image.shape[1]
    top, left, bottom, right = (v * f for v in grid.box_of(channel))
    m = grid.pad * f  # the frame covers the padding first, then the tile's edge
    return draw_box(picture, (top - m, left - m, bottom + m, right + m), colour, width=max(4, m + 3))


def _compose(tiles: list[np.ndarray], cols: int, pad: int, pad_value: int,
             scale: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Lay uint8 tiles (h, w) or (h, w, 3), all the same shape, on one canvas."""
    if scale > 1:
        tiles = [t.repeat(scale, axis=0).repeat(scale, axis=1) for t in tiles]
    th, tw = tiles[0].shape[:2]
    rows = max(1, math.ceil(len(tiles) / cols))
    extra = tiles[0].shape[2:]
    canvas = np.full((pad + rows * (th + pad), pad + cols * (tw + pad)) + extra, pad_value, np.uint8)
    for k, t in enumerate(tiles):
        top = pad + (k // cols) * (th + pad)
        left = pad + (k % cols) * (tw + pad)
        canvas[top:top + th, left:left + tw] = t
    return canvas, (th, tw)


def _check_layout(n: int, cols: int | None, pad: int, scale: int) -> int:
    if n == 0:
        raise ValueError("No channels to show: pick at least one.")
    cols = math.ceil(math.sqrt(n)) if cols is None else int(cols)
    if cols < 1:
        raise ValueError(f"A grid needs at least one column, not {cols}.")
    if pad < 0 or scale < 1:
        raise ValueError(f"Padding must be 0 or more and scale 1 or more (got pad={pad}, scale={scale}).")
    return min(cols, n)


def tile_grid(act, channels: Sequence[int] | None = None, cols: int | None = None, pad: int = 1,
              normalise: str = "per_channel", *, scale: int = 1, pad_value: int = 255,
              vrange: tuple[float, float] | None = None, tower: str | None = None) -> Grid:
    """The given channels of a (C, H, W) activation as ONE greyscale uint8 image of tiles.

    ``normalise="per_channel"`` stretches each tile's own min..max to 0..255 (a constant tile,
    e.g. a dead channel, is black); ``"shared"`` uses one min..max over all the tiles shown, or
    ``vrange`` where given, so tiles can be compared. ``cols`` defaults to ⌈√n⌉; ``scale``
    repeats pixels (nearest) so small maps stay visible. Padding is white (``pad_value``).
    """
    a = chw(act)
    chans = list(range(a.shape[0])) if channels is None else [int(c) for c in channels]
    bad = [c for c in chans if not 0 <= c < a.shape[0]]
    if bad:
        raise ValueError(f"Channel {bad[0]} does not exist: this layer has channels 0–{a.shape[0] - 1}.")
    if normalise not in NORMALISE:
        raise ValueError(f"Unknown normalisation {normalise!r}: choose one of {', '.join(NORMALISE)}.")
    cols = _check_layout(len(chans), cols, pad, scale)
    maps = a[chans]  # (n, H, W)
    if vrange is not None:
        ranges = [(float(vrange[0]), float(vrange[1]))] * len(chans)
    elif normalise == "shared":
        ranges = [(float(maps.min()), float(maps.max()))] * len(chans)
    else:
        ranges = [(float(m.min()), float(m.max())) for m in maps]
    tiles = [to_uint8(m, lo, hi) for m, (lo, hi) in zip(maps, ranges)]
    image, tile = _compose(tiles, cols, pad, pad_value, scale)
    return Grid(image, tuple(chans), cols, tile, pad, tuple(ranges), tower)


def tower_grids(act, layer: str, sort: str = "index", arch: Architecture | str | None = None,
                *, cols: int | None = None, pad: int = 1, normalise: str = "per_channel",
                scale: int = 1, pad_value: int = 255, top: int | None = None) -> dict[str, Grid]:
    """One grid per GPU tower, keyed by the tower's name: {"GPU 1": …, "GPU 2": …}, or
    {"all": grid} where the layer is not split (``arch.towers(layer)``).

    Each tower is sorted on its own (``sort`` as in ``activations.channel_order``). With
    ``normalise="shared"`` all towers use one value range, so their brightness can be compared.
    ``top`` keeps only each tower's first ``top`` channels in that order (its strongest, when
    sorted by mean or max).
    """
    a = chw(act)
    if arch is None:
        raise ValueError(f"A layer's towers ({layer!r}) come from its architecture: pass the architecture too.")
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    towers = arch.towers(layer)
    if towers[-1].channels.stop != a.shape[0]:
        raise ValueError(f"{layer} has {towers[-1].channels.stop} channels in the table but this activation has "
                         f"{a.shape[0]}: is it from another layer or network?")
    vrange = (float(a.min()), float(a.max())) if normalise == "shared" else None
    if top is not None and top < 1:
        raise ValueError(f"Show at least one channel per tower, not top={top}.")
    kw = dict(cols=cols, pad=pad, normalise=normalise, scale=scale, pad_value=pad_value, vrange=vrange)
    return {t.name: tile_grid(a, t.channels.start + channel_order(a[t.channels.start:t.channels.stop], sort)[:top],
                              tower=None if t.name == WHOLE else t.name, **kw)
            for t in towers}


def conv1_kernels(weight, per: str = "kernel") -> np.ndarray:
    """conv1's (N, 3, k, k) weights as (N, k, k, 3) RGB images in 0..1 for display.

    Symmetric around zero: each value w becomes 0.5 + 0.5·w / max|w|, so 0 is mid grey, the
    strongest positive weight 1 and its negative counterpart 0; the sign and the colour balance
    are kept. ``per="kernel"`` takes max|w| of each kernel (every kernel uses the full range, as
    the paper's Figure 3 shows them); ``per="layer"`` one max|w| over all of them, so faint
    kernels look faint. The channels stay in the network's input order, which is RGB.
    """
    w = conv_weight(weight, "conv1 weight")
    if w.shape[1] != 3:
        raise ValueError(f"conv1 kernels have 3 input channels (RGB); this weight has {w.shape[1]}.")
    if per == "kernel":
        m = np.abs(w).reshape(w.shape[0], -1).max(axis=1)[:, None, None, None]
    elif per == "layer":
        m = np.full((1, 1, 1, 1), np.abs(w).max())
    else:
        raise ValueError(f"Unknown normalisation {per!r}: choose kernel or layer.")
    out = 0.5 + 0.5 * np.divide(w, m, out=np.zeros_like(w, dtype=np.float64), where=m > 0)
    return out.transpose(0, 2, 3, 1)  # (N, k, k, 3)


def kernel_grid(weight, arch: Architecture | str, layer: str = "conv1", *, cols: int = 8, scale: int = 4,
                pad: int = 1, pad_value: int = 255, per: str = "kernel") -> dict[str, Grid]:
    """conv1's kernels as colour tiles, one composed (H', W', 3) uint8 image per tower.

    The split is the architecture's (alexnet2012: 48 under "GPU 1", 48 under "GPU 2";
    torchvision: {"all": …}). Tiles are enlarged ``scale`` times with nearest-neighbour so they
    stay crisp on a projector; ``pad`` is in output pixels. Normalisation as in
    :func:`conv1_kernels`.
    """
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    rgb = conv1_kernels(weight, per)  # (N, k, k, 3)
    towers = arch.towers(layer)
    if towers[-1].channels.stop != rgb.shape[0]:
        raise ValueError(f"{layer} of {arch.name} has {towers[-1].channels.stop} kernels but this weight has "
                         f"{rgb.shape[0]}: is it from another layer or network?")
    tiles = [np.rint(k * 255).astype(np.uint8) for k in rgb]
    out = {}
    for t in towers:
        chans = list(t.channels)
        n_cols = _check_layout(len(chans), cols, 0, scale)
        image, tile = _compose([tiles[c] for c in chans], n_cols, pad, pad_value, scale)
        out[t.name] = Grid(image, tuple(chans), n_cols, tile, pad, ((-1.0, 1.0),) * len(chans),
                           None if t.name == WHOLE else t.name, note="0.5 grey is a zero weight")
    return out


def input_kernels(weight, out_channel: int, layer: str, arch: Architecture | str, *,
                  cols: int | None = None, scale: int = 8, pad: int = 1, pad_value: int = 255,
                  normalise: str = "shared") -> Grid:
    """One output channel's kernels, one greyscale tile per input channel it reads.

    ``weight`` is the layer's (out, in/groups, k, k) weight. ``grid.channels`` are the input
    channels of the previous layer (conv2 channel 200: 48–95), ``grid.tower`` the tower of the
    output channel, ``grid.note`` says which tower(s) it reads. ``normalise="shared"`` maps
    −max|w|..max|w| over all the tiles to 0..255 (0 is mid grey; tiles comparable);
    ``"per_channel"`` does that per tile.
    """
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    w = conv_weight(weight)
    chans = arch.input_channels(layer, out_channel)
    width = arch.layer(layer).out_channels
    if w.shape[0] != width or w.shape[1] != len(chans):
        raise ValueError(f"{layer}'s weight should be ({width}, {len(chans)}, k, k) by the table; "
                         f"got {tuple(w.shape)}: is it from another layer or network?")
    if normalise not in NORMALISE:
        raise ValueError(f"Unknown normalisation {normalise!r}: choose one of {', '.join(NORMALISE)}.")
    k = w[out_channel]  # (in/groups, kh, kw)
    if normalise == "shared":
        m = [float(np.abs(k).max())] * len(k)
    else:
        m = [float(np.abs(t).max()) for t in k]
    tiles = [to_uint8(t, -mm, mm) if mm > 0 else np.full(t.shape, 128, np.uint8) for t, mm in zip(k, m)]
    cols = _check_layout(len(tiles), cols, pad, scale)
    image, tile = _compose(tiles, cols, pad, pad_value, scale)
    note = _reads(layer, arch, chans)
    tower = arch.tower_of(layer, out_channel)
    return Grid(image, tuple(chans), cols, tile, pad, tuple((-mm, mm) for mm in m),
                None if tower == WHOLE else tower, note)


def _reads(layer: str, arch: Architecture, chans: range) -> str:
    """A phrase saying which channels, and which towers, a conv output channel reads."""
    i = arch.names().index(layer)
    if i == 0:
        names = "R, G, B" if len(chans) == 3 else f"{len(chans)}"
        return f"reads the input's colour channels ({names}), one tile each"
    towers = arch.towers(arch.layers[i - 1].name)
    if len(towers) == 1:
        reads = "one tower"
    else:
        reads = " and ".join(t.name for t in towers
                             if chans.start < t.channels.stop and chans.stop > t.channels.start)
    return f"reads channels {chans.start}–{chans.stop - 1} of the previous layer ({reads})"
