"""Feature maps and kernels as pictures: numpy in, numpy and small dataclasses out.

Everything here is pure numpy (torch tensors are accepted and converted); nothing draws or
knows about pages. The app turns the arrays into figures.

* Feature maps: order channels (:func:`channel_order`), compose them into one tiled image
  (:func:`tile_grid`, :class:`Grid`), split by GPU tower (:func:`tower_grids`), per-channel and
  per-layer numbers (:func:`channel_stats`, :func:`layer_summary`), a channel placed on the
  input at the right scale (:func:`upsample_to_input`, :func:`receptive_field_box`,
  :func:`overlay`), and the strongest fc units (:func:`top_units`).
* Kernels: conv1's colour kernels like the paper's Figure 3 (:func:`conv1_kernels`,
  :func:`kernel_grid`), how colourful each is and which tower is the colourful one, measured
  (:func:`colourfulness`, :func:`tower_colour_comparison`), and one deeper output channel's
  kernels per input channel (:func:`input_kernels`).

Pixel coordinates follow the walkthrough: pixel centres at 0, 1, 2, …; unit (i, j) of a map is
centred at ``start + jump·(i, j)`` input pixels (rows, columns).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .architecture import TOWERS, Architecture, Layer, get_architecture
from .walkthrough import ReceptiveField, walkthrough

SORTS = ("index", "mean", "max")
NORMALISE = ("per_channel", "shared")

# -- small helpers ---------------------------------------------------------------------------


def _np(x) -> np.ndarray:
    """A torch tensor (any device, with or without grad) or array-like -> a float numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _chw(act, what: str = "activation") -> np.ndarray:
    """(C, H, W) from (C, H, W) or a batch of one (1, C, H, W)."""
    a = _np(act)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(
            f"Expected a {what} of shape (channels, height, width), got shape {tuple(a.shape)}; "
            "fc layers have no maps: use top_units for them.")
    return a


def _arch(arch: Architecture | str | None) -> Architecture | None:
    return get_architecture(arch) if isinstance(arch, str) else arch


def _resolve(layer: Layer | str, arch: Architecture | str | None) -> tuple[Layer, Architecture | None]:
    arch = _arch(arch)
    if isinstance(layer, str):
        if arch is None:
            raise ValueError(f"A layer given by name ({layer!r}) needs its architecture too.")
        return arch.layer(layer), arch
    return layer, arch


def layer_towers(layer: Layer | str, arch: Architecture | str | None = None) -> tuple[int, ...] | None:
    """Channels per GPU tower of a layer's output, e.g. (48, 48), or None for one tower.

    relu, norm and pool rows have no ``towers`` of their own: they inherit the split of the conv
    (or fc) row before them, so norm1 and pool1 carry conv1's 48/48. Derived from the table (via
    the walkthrough), never hard-coded. A :class:`Layer` given without its architecture can only
    speak for itself (a conv or linear row).
    """
    layer, arch = _resolve(layer, arch)
    if arch is None:
        if layer.kind not in ("conv", "linear"):
            raise ValueError(
                f"{layer.name} is a {layer.kind} row, which inherits its towers from the layer before "
                "it: pass the architecture too.")
        if layer.towers == 1 or layer.out_channels is None:
            return None
        return (layer.out_channels // layer.towers,) * layer.towers
    for row in walkthrough(arch, arch.input_size):
        if row.name == layer.name:
            return row.towers
    raise KeyError(f"{arch.name} has no layer named {layer.name!r}.")


def viewable_layers(arch: Architecture | str) -> dict[str, str]:
    """The layers ``net.activations`` returns, in order: name -> "map" (C, H, W) or "vector" (fc).

    Flatten and dropout steps are left out, as the network leaves them out of its activations.
    """
    arch = _arch(arch)
    return {row.name: ("map" if len(row.output_shape) == 3 else "vector")
            for row in walkthrough(arch, arch.input_size)
            if row.kind not in ("flatten", "dropout") and row.output_shape is not None}


def layer_receptive_field(layer: Layer | str, arch: Architecture | str,
                          input_size: int | None = None) -> ReceptiveField:
    """The receptive field (size, jump, start) of a map layer at ``input_size`` (default: the crop)."""
    layer, arch = _resolve(layer, arch)
    for row in walkthrough(arch, input_size or arch.input_size):
        if row.name == layer.name:
            if row.receptive_field is None:
                raise ValueError(f"{layer.name} has no spatial map, so no receptive field to place on the input.")
            return row.receptive_field
    raise KeyError(f"{arch.name} has no layer named {layer.name!r}.")


# -- feature maps: order and tiling ----------------------------------------------------------


def channel_order(act, sort: str = "index") -> np.ndarray:
    """Channel indices of a (C, H, W) activation: 0..C-1, or by mean / max activation, descending.

    Ties keep index order (a stable sort), so the order is reproducible.
    """
    a = _chw(act)
    if sort not in SORTS:
        raise ValueError(f"Unknown sort {sort!r}: choose one of {', '.join(SORTS)}.")
    if sort == "index":
        return np.arange(a.shape[0])
    flat = a.reshape(a.shape[0], -1)
    key = flat.mean(axis=1) if sort == "mean" else flat.max(axis=1)
    return np.argsort(-key, kind="stable")


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

    def channel_at(self, row_px: float, col_px: float) -> int | None:
        """The channel whose tile covers pixel (row_px, col_px) of ``image``; None on padding or outside."""
        th, tw = self.tile
        r, c = int(math.floor(row_px)) - self.pad, int(math.floor(col_px)) - self.pad
        if r < 0 or c < 0:
            return None
        gr, rr = divmod(r, th + self.pad)
        gc, rc = divmod(c, tw + self.pad)
        if rr >= th or rc >= tw or gc >= self.cols:
            return None
        k = gr * self.cols + gc
        return int(self.channels[k]) if k < len(self.channels) else None

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
        out = colourise(self.image, cmap)
        out[~self.tile_mask()] = background
        return out

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


def _to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map lo..hi linearly to 0..255; a constant range maps to 0."""
    if not hi > lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


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
    a = _chw(act)
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
    tiles = [_to_uint8(m, lo, hi) for m, (lo, hi) in zip(maps, ranges)]
    image, tile = _compose(tiles, cols, pad, pad_value, scale)
    return Grid(image, tuple(chans), cols, tile, pad, tuple(ranges), tower)


def tower_grids(act, layer: Layer | str, sort: str = "index", arch: Architecture | str | None = None,
                *, cols: int | None = None, pad: int = 1, normalise: str = "per_channel",
                scale: int = 1, pad_value: int = 255) -> dict[str, Grid]:
    """One grid per GPU tower: {"GPU 1": …, "GPU 2": …}, or {"all": grid} without towers.

    GPU 1 holds the first half of the channels, GPU 2 the second; each tower is sorted on its
    own (``sort`` as in :func:`channel_order`). With ``normalise="shared"`` both towers use one
    value range, so their brightness can be compared. ``layer`` is a :class:`Layer` or a name;
    relu/norm/pool rows need ``arch`` to inherit the towers of the conv before them.
    """
    a = _chw(act)
    layer, arch = _resolve(layer, arch)
    towers = layer_towers(layer, arch)
    c = a.shape[0]
    if towers is not None and sum(towers) != c:
        raise ValueError(f"{layer.name} has {sum(towers)} channels in the table but this activation has {c}: "
                         "is it from another layer or network?")
    vrange = (float(a.min()), float(a.max())) if normalise == "shared" else None
    kw = dict(cols=cols, pad=pad, normalise=normalise, scale=scale, pad_value=pad_value, vrange=vrange)
    if towers is None:
        return {"all": tile_grid(a, channel_order(a, sort), **kw)}
    out, first = {}, 0
    for name, n in zip(TOWERS, towers):
        part = a[first:first + n]
        out[name] = tile_grid(a, first + channel_order(part, sort), tower=name, **kw)
        first += n
    return out


# -- numbers -----------------------------------------------------------------------------------


def channel_stats(act_c) -> dict:
    """mean, max, min, std, zero_fraction (exactly 0) and argmax (row, col) of one (H, W) map."""
    m = _np(act_c)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"Expected one channel's map of shape (height, width), got shape {tuple(m.shape)}.")
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    return {
        "mean": float(m.mean()), "max": float(m.max()), "min": float(m.min()), "std": float(m.std()),
        "zero_fraction": float(np.mean(m == 0)), "argmax": (int(r), int(c)),
    }


@dataclass(frozen=True, eq=False)
class LayerSummary:
    """Per-layer numbers: dead (exactly zero) activations and a histogram of all values."""

    channels: int
    dead_fraction: float  # of all values
    dead_per_channel: np.ndarray  # (C,) fraction of zeros in each channel
    dead_channels: int  # channels that are zero everywhere
    hist_counts: np.ndarray  # (bins,)
    hist_edges: np.ndarray  # (bins + 1,)
    mean: float
    max: float


def layer_summary(act, bins: int = 50, nonzero_histogram: bool = False) -> LayerSummary:
    """Dead-activation fractions and a histogram for a (C, H, W) map or an (N,) fc vector.

    An fc vector counts each unit as a channel of one value. ``nonzero_histogram`` leaves the
    exact zeros out of the histogram (after a ReLU they can dwarf everything else).
    """
    a = _np(act)
    if a.ndim in (2, 4) and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1:
        a = a[:, None, None]
    if a.ndim != 3 or a.size == 0:
        raise ValueError(f"Expected an activation of shape (C, H, W) or (N,), got shape {tuple(a.shape)}.")
    zero = a == 0
    per = zero.reshape(a.shape[0], -1).mean(axis=1)
    values = a[~zero] if nonzero_histogram else a.ravel()
    if values.size == 0:
        values = np.zeros(1)
    counts, edges = np.histogram(values, bins=bins)
    return LayerSummary(int(a.shape[0]), float(zero.mean()), per, int(np.sum(per == 1.0)),
                        counts, edges, float(a.mean()), float(a.max()))


def top_units(vec, k: int = 10) -> list[tuple[int, float]]:
    """The ``k`` largest units of an fc vector (N,) or (1, N), as (unit, value), strongest first."""
    v = _np(vec)
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 1:
        raise ValueError(f"Expected an fc layer's vector of shape (N,), got shape {tuple(v.shape)}.")
    k = max(0, min(int(k), v.size))
    idx = np.argsort(-v, kind="stable")[:k]
    return [(int(i), float(v[i])) for i in idx]


# -- placing a channel on the input -----------------------------------------------------------


def _rf(rf) -> ReceptiveField:
    return rf if isinstance(rf, ReceptiveField) else ReceptiveField(*rf)


def _interp_matrix(n_units: int, input_size: int, jump: float, start: float, mode: str) -> np.ndarray:
    """(input_size, n_units) weights taking unit values (at their centres) to input pixels."""
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
    return w


def upsample_to_input(act_c, input_size: int, rf, mode: str = "bilinear") -> np.ndarray:
    """One channel's (H, W) map as an (input_size, input_size) float map on the network's crop.

    Unit (i, j) is centred at ``start + jump·(i, j)`` (``rf`` is a walkthrough
    ``ReceptiveField`` or a (size, jump, start) tuple). ``"bilinear"`` interpolates between unit
    centres, ``"nearest"`` gives each pixel the unit whose centre is nearest; pixels beyond the
    first or last centre take the edge unit's value.
    """
    m = _np(act_c)
    if m.ndim != 2:
        raise ValueError(f"Expected one channel's map of shape (height, width), got shape {tuple(m.shape)}.")
    rf = _rf(rf)
    size = int(input_size)
    last = rf.start + rf.jump * (max(m.shape) - 1)
    if rf.start < -rf.jump or last > size - 1 + rf.jump:
        raise ValueError(
            f"A {m.shape[0]}×{m.shape[1]} map with units {rf.jump:g} pixels apart from {rf.start:g} would reach "
            f"pixel {last:g}, outside a {size}-pixel input: pass the receptive field of the layer the map comes "
            "from, at the input size the network saw.")
    wy = _interp_matrix(m.shape[0], size, rf.jump, rf.start, mode)  # (size, H)
    wx = _interp_matrix(m.shape[1], size, rf.jump, rf.start, mode)  # (size, W)
    return wy @ m @ wx.T  # (size, size)


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


# -- colour -------------------------------------------------------------------------------------


def _lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table from plotly's colour-blind-safe sequential scales."""
    import plotly.colors as pc

    scales = {"viridis": pc.sequential.Viridis, "cividis": pc.sequential.Cividis}
    if name not in scales:
        raise ValueError(f"Unknown colour map {name!r}: choose one of {', '.join(scales)}.")
    stops = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in scales[name]], float)
    x = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, 256)
    return np.rint(np.stack([np.interp(t, x, stops[:, k]) for k in range(3)], axis=1)).astype(np.uint8)


_LUTS: dict[str, np.ndarray] = {}


def colourise(gray_uint8: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """A uint8 (H, W) image -> (H, W, 3) uint8 through a colour-blind-safe map (viridis, cividis)."""
    if cmap not in _LUTS:
        _LUTS[cmap] = _lut(cmap)
    return _LUTS[cmap][np.asarray(gray_uint8, np.uint8)]


def overlay(image_rgb_uint8, heat, alpha: float = 0.5, cmap: str = "viridis",
            vrange: tuple[float, float] | None = None) -> np.ndarray:
    """``heat`` (H, W) coloured with ``cmap`` and blended over the crop: (H, W, 3) uint8.

    The heat's min..max (or ``vrange``) spans the colour map; ``alpha`` is the heat's weight.
    ``image_rgb_uint8`` may be a PIL image (e.g. ``net.view(img)``) or an (H, W, 3) array.
    """
    img = np.asarray(image_rgb_uint8.convert("RGB") if hasattr(image_rgb_uint8, "convert") else image_rgb_uint8)
    h = _np(heat)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"Expected an RGB image of shape (height, width, 3), got shape {tuple(img.shape)}.")
    if h.shape != img.shape[:2]:
        raise ValueError(f"The heat map is {h.shape[0]}×{h.shape[1]} but the image is "
                         f"{img.shape[0]}×{img.shape[1]}: upsample it to the crop first (upsample_to_input).")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha is the heat map's weight, between 0 and 1, not {alpha}.")
    lo, hi = (float(h.min()), float(h.max())) if vrange is None else vrange
    coloured = colourise(_to_uint8(h, lo, hi), cmap).astype(np.float64)
    return np.clip(np.rint((1 - alpha) * img + alpha * coloured), 0, 255).astype(np.uint8)


# -- kernels ------------------------------------------------------------------------------------


def _weight(weight, what: str = "conv weight") -> np.ndarray:
    w = _np(weight)
    if w.ndim != 4:
        raise ValueError(f"Expected a {what} of shape (out, in, k, k), got shape {tuple(w.shape)}.")
    return w


def conv1_kernels(weight, per: str = "kernel") -> np.ndarray:
    """conv1's (N, 3, k, k) weights as (N, k, k, 3) RGB images in 0..1 for display.

    Symmetric around zero: each value w becomes 0.5 + 0.5·w / max|w|, so 0 is mid grey, the
    strongest positive weight 1 and its negative counterpart 0; the sign and the colour balance
    are kept. ``per="kernel"`` takes max|w| of each kernel (every kernel uses the full range, as
    the paper's Figure 3 shows them); ``per="layer"`` one max|w| over all of them, so faint
    kernels look faint. The channels stay in the network's input order, which is RGB.
    """
    w = _weight(weight, "conv1 weight")
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


def _towers_for(n: int, layer: Layer | str, arch, towers: int | None) -> int:
    if towers is None:
        t = layer_towers(layer, arch) if arch is not None else None
        towers = len(t) if t else (1 if arch is not None else 2)
    if towers not in (1, 2) or n % towers:
        raise ValueError(f"Cannot split {n} kernels over {towers} towers.")
    return towers


def kernel_grid(weight, arch: Architecture | str | None = None, layer: Layer | str = "conv1", *,
                towers: int | None = None, cols: int = 8, scale: int = 4, pad: int = 1,
                pad_value: int = 255, per: str = "kernel") -> dict[str, Grid]:
    """conv1's kernels as colour tiles, one composed (H', W', 3) uint8 image per tower.

    With ``arch`` the split comes from the table (alexnet2012: 48 under "GPU 1", 48 under
    "GPU 2"; torchvision: {"all": …}); without it, ``towers`` (default 2) says how many halves.
    Tiles are enlarged ``scale`` times with nearest-neighbour so they stay crisp on a projector;
    ``pad`` is in output pixels. Normalisation as in :func:`conv1_kernels`.
    """
    rgb = conv1_kernels(weight, per)  # (N, k, k, 3)
    n = rgb.shape[0]
    t = _towers_for(n, layer, arch, towers)
    cols = _check_layout(n // t, cols, 0, scale)
    tiles = [np.rint(k * 255).astype(np.uint8) for k in rgb]
    names = TOWERS if t == 2 else ("all",)
    out = {}
    for i, name in enumerate(names):
        chans = list(range(i * n // t, (i + 1) * n // t))
        image, tile = _compose([tiles[c] for c in chans], cols, pad, pad_value, scale)
        out[name] = Grid(image, tuple(chans), cols, tile, pad, ((-1.0, 1.0),) * len(chans),
                         None if name == "all" else name, note="0.5 grey is a zero weight")
    return out


def colourfulness(weight) -> np.ndarray:
    """A per-kernel chroma score in [0, 1] for (N, 3, k, k) weights: 0 grey, near 1 pure colour.

    For each kernel w: remove its overall mean (one number, its DC level), take at every pixel
    the standard deviation across the R, G, B weights, average over the pixels, and divide by
    the root-mean-square of the mean-removed kernel. A grey kernel (R = G = B everywhere)
    scores 0; a red–green opponent pattern scores about 1; scaling the kernel changes nothing;
    an all-zero kernel scores 0. It is at most 1 because the mean of a spread is at most the root
    mean square of the values it spreads.
    """
    w = _weight(weight)
    if w.shape[1] != 3:
        raise ValueError(f"Colourfulness needs kernels over 3 colour channels; this weight has {w.shape[1]}.")
    w = w - w.mean(axis=(1, 2, 3), keepdims=True)
    spread = w.std(axis=1).mean(axis=(1, 2))  # (N,)
    rms = np.sqrt((w ** 2).mean(axis=(1, 2, 3)))  # (N,)
    return np.divide(spread, rms, out=np.zeros_like(spread, dtype=np.float64), where=rms > 1e-12)


def tower_colour_comparison(weight, arch: Architecture | str | None = None, *,
                            towers: int | None = None) -> dict:
    """Which tower's conv1 kernels are the more colour-specific, measured with :func:`colourfulness`.

    Returns {"scores": (N,), "towers": {name: {"mean", "median", "n", "channels": range}},
    "more_colourful": the tower with the higher mean, "separation": the chance that a kernel of
    that tower is more colourful than one of the other (0.5: no difference; 1: every one is),
    "clear": separation ≥ 0.75, "sentence": a plain summary}. The answer is measured, never
    assumed: which half learns colour differs between trainings. One tower gives
    more_colourful None.
    """
    s = colourfulness(weight)
    n = s.size
    t = _towers_for(n, "conv1", arch, towers)
    names = TOWERS if t == 2 else ("all",)
    per = {}
    for i, name in enumerate(names):
        chans = range(i * n // t, (i + 1) * n // t)
        v = s[chans.start:chans.stop]
        per[name] = {"mean": float(v.mean()), "median": float(np.median(v)), "n": len(v), "channels": chans}
    result = {"scores": s, "towers": per, "more_colourful": None, "separation": None, "clear": False}
    if t == 1:
        result["sentence"] = f"One tower: mean colourfulness {per['all']['mean']:.2f}."
        return result
    a, b = s[:n // 2], s[n // 2:]
    hi, lo = (TOWERS[1], TOWERS[0]) if b.mean() > a.mean() else (TOWERS[0], TOWERS[1])
    x, y = (b, a) if hi == TOWERS[1] else (a, b)
    sep = float(np.mean(x[:, None] > y[None, :]) + 0.5 * np.mean(x[:, None] == y[None, :]))
    result.update(more_colourful=hi, separation=sep, clear=sep >= 0.75)
    nums = f"mean colourfulness {per[hi]['mean']:.2f} vs {per[lo]['mean']:.2f}"
    if sep >= 0.75:
        result["sentence"] = (f"{hi}'s kernels are the more colour-specific ({nums}; a {hi} kernel is the "
                              f"more colourful in {sep:.0%} of pairs).")
    else:
        result["sentence"] = (f"The towers do not differ clearly in colour ({nums}; a {hi} kernel is the "
                              f"more colourful in only {sep:.0%} of pairs).")
    return result


def input_channels(layer: Layer | str, arch: Architecture | str, out_channel: int) -> range:
    """Which channels of the previous layer output channel ``out_channel`` of a conv reads.

    From the table's groups: with g groups, output channel o belongs to group
    o // (out/g) and reads that group's slice of the input channels. conv2 channel 200 of
    alexnet2012 reads conv1's 48–95; conv3 (one group) reads all 256.
    """
    layer, arch = _resolve(layer, arch)
    if layer.kind != "conv":
        raise ValueError(f"{layer.name} is a {layer.kind} layer; only conv layers have kernels per input channel.")
    if not 0 <= out_channel < layer.out_channels:
        raise ValueError(f"{layer.name} has output channels 0–{layer.out_channels - 1}, not {out_channel}.")
    row = next(r for r in walkthrough(arch, arch.input_size) if r.name == layer.name)
    cin = row.input_shape[0]
    g = out_channel // (layer.out_channels // layer.groups)
    per = cin // layer.groups
    return range(g * per, (g + 1) * per)


def input_kernels(weight, out_channel: int, layer: Layer | str, arch: Architecture | str, *,
                  cols: int | None = None, scale: int = 8, pad: int = 1, pad_value: int = 255,
                  normalise: str = "shared") -> Grid:
    """One output channel's kernels, one greyscale tile per input channel it reads.

    ``weight`` is the layer's (out, in/groups, k, k) weight. ``grid.channels`` are the input
    channels of the previous layer (conv2 channel 200: 48–95), ``grid.tower`` the tower of the
    output channel, ``grid.note`` says which tower(s) it reads. ``normalise="shared"`` maps
    −max|w|..max|w| over all the tiles to 0..255 (0 is mid grey; tiles comparable);
    ``"per_channel"`` does that per tile.
    """
    layer, arch = _resolve(layer, arch)
    w = _weight(weight)
    chans = input_channels(layer, arch, out_channel)
    if w.shape[0] != layer.out_channels or w.shape[1] != len(chans):
        raise ValueError(f"{layer.name}'s weight should be ({layer.out_channels}, {len(chans)}, k, k) by the table; "
                         f"got {tuple(w.shape)}: is it from another layer or network?")
    if normalise not in NORMALISE:
        raise ValueError(f"Unknown normalisation {normalise!r}: choose one of {', '.join(NORMALISE)}.")
    k = w[out_channel]  # (in/groups, kh, kw)
    if normalise == "shared":
        m = [float(np.abs(k).max())] * len(k)
    else:
        m = [float(np.abs(t).max()) for t in k]
    tiles = [_to_uint8(t, -mm, mm) if mm > 0 else np.full(t.shape, 128, np.uint8) for t, mm in zip(k, m)]
    cols = _check_layout(len(tiles), cols, pad, scale)
    image, tile = _compose(tiles, cols, pad, pad_value, scale)
    note = _reads(layer, arch, chans)
    return Grid(image, tuple(chans), cols, tile, pad, tuple((-mm, mm) for mm in m), None if (t := arch.tower_of(layer.name, out_channel)) == "all" else t, note)


def _reads(layer: Layer, arch: Architecture, chans: range) -> str:
    """A phrase saying which channels, and which towers, a conv output channel reads."""
    i = arch.layers.index(layer)
    if i == 0:
        names = "R, G, B" if len(chans) == 3 else f"{len(chans)}"
        return f"reads the input's colour channels ({names}), one tile each"
    prev = layer_towers(arch.layers[i - 1], arch)
    if prev is None:
        reads = "one tower"
    else:
        bounds = np.cumsum((0,) + prev)
        reads = " and ".join(TOWERS[t] for t in range(len(prev))
                             if chans.start < bounds[t + 1] and chans.stop > bounds[t])
    return f"reads channels {chans.start}–{chans.stop - 1} of the previous layer ({reads})"
