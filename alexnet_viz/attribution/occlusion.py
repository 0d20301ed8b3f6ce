"""Occlusion by incremental inference (Krypton: Nakandala, Kumar & Papakonstantinou, SIGMOD 2019).

An occluding square changes only a bounded region of each conv layer's output: the outputs whose
window reads a changed input. So instead of running the whole network once per square, as
Captum's ``Occlusion`` does, the unoccluded activations are computed once and, for each square,
only that region is recomputed, layer by layer: conv, ReLU, LRN (which mixes channels but not
positions), BatchNorm in eval, and max pooling (ceil mode's overhang included). Each region is
computed from a crop of the layer's input: the unoccluded activation around it, with the square's
own recomputed values pasted in. From the first layer that is not spatially local (adaptive
pooling, flatten, fc), or once the region covers the whole map, the full maps are put together
and the rest of the network runs as usual. Many squares go through each layer as one batch: every
square's region has the same size at a given layer (a region near the border is slid inward, and
recomputing a few unchanged positions costs nothing but time).

The map is put together exactly as Captum's ``Occlusion`` does it (each pixel gets the mean score
drop of the windows that cover it, a window cropped where it overhangs the border), so the two
give the same map up to float rounding. ``approximate_drops`` is an approximation of it: see there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..body import max_pool2d
from ..network import Network

Score = Callable[[torch.Tensor], torch.Tensor]  # (N, classes) logits -> (N,) the explained score
_LOCAL = ("relu", "lrn", "batchnorm", "dropout")  # position by position: the region is unchanged


def window_starts(side: int, window: int, stride: int) -> np.ndarray:
    """Where the square starts along one side, as Captum places it: ⌈(side − window) / stride⌉ + 1
    positions at multiples of the stride; the last may overhang the border (and is cropped)."""
    return np.arange(math.ceil(max(side - window, 0) / stride) + 1) * stride


@dataclass(frozen=True)
class _Axis:
    """One spatial layer's geometry along one side: kernel, stride, padding, sizes in and out."""

    k: int
    s: int
    p: int
    n_in: int
    n_out: int

    def touched(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The outputs [lo, hi) whose window [o·s − p, o·s − p + k) meets inputs [a, b)."""
        lo = np.maximum(0, -((self.k - 1 - a - self.p) // self.s))  # ⌈(a + p − k + 1) / s⌉
        hi = np.minimum(self.n_out, (b - 1 + self.p) // self.s + 1)
        return lo, hi

    @property
    def pad_after(self) -> int:
        """Padding needed after the input so the last window fits (ceil mode's overhang)."""
        return max(0, (self.n_out - 1) * self.s + self.k - self.p - self.n_in)


def _axis(layer, module, n_in: int, n_out: int) -> _Axis:
    if layer.kind in _LOCAL:
        return _Axis(1, 1, 0, n_in, n_out)
    k, s, p = (module.kernel_size, module.stride, module.padding)
    one = lambda v: v[0] if isinstance(v, tuple) else v  # square kernels throughout
    return _Axis(one(k), one(s), one(p), n_in, n_out)


class _Plan:
    """The unoccluded pass, kept: each spatially local layer's input (padded for its windows)."""

    def __init__(self, net: Network, x: torch.Tensor):
        self.net = net
        self.steps = []  # (layer, module, row _Axis, column _Axis, padded input (1, C, Hp, Wp))
        self.tail = len(net._steps)  # index of the first step run on whole maps
        h = x  # (1, 3, H, W)
        for i, (layer, module) in enumerate(net._steps):
            if layer.kind not in ("conv", "maxpool") + _LOCAL or h.dim() != 4:
                self.tail = i
                break
            out = module(h)  # (1, C', H', W')
            rows = _axis(layer, module, h.shape[2], out.shape[2])
            cols = _axis(layer, module, h.shape[3], out.shape[3])
            fill = float("-inf") if layer.kind == "maxpool" else 0.0
            padded = h if layer.kind in _LOCAL else F.pad(
                h, (cols.p, cols.pad_after, rows.p, rows.pad_after), value=fill)
            self.steps.append((layer, module, rows, cols, padded))
            h = out
        self.top = h  # the unoccluded output of the last local step
        self.logits = self._finish(h)  # (1, classes)

    def _finish(self, h: torch.Tensor) -> torch.Tensor:
        for layer, module in self.net._steps[self.tail:]:
            h = torch.flatten(h, 1) if layer.kind == "flatten" else module(h)
        return h


def _gather(base: torch.Tensor, changed: torch.Tensor, r_in: np.ndarray, c_in: np.ndarray,
            top: np.ndarray, left: np.ndarray, size: tuple[int, int], offset: tuple[int, int]) -> torch.Tensor:
    """Crops of ``base`` with each patch's changed values pasted in.

    base: (1, C, Hp, Wp), padded by ``offset`` (top, left). changed: (N, C, lr, lc), patch n's
    values for unpadded input rows r_in[n] + [0, lr) and columns c_in[n] + [0, lc). Crop n reads
    padded rows top[n] + [0, R) and columns left[n] + [0, Q), (R, Q) = size. Returns (N, C, R, Q).
    On the CPU one crop at a time by slices (9% less time per batch of 32 squares here); elsewhere
    by one indexing of all crops, which is one launch on a GPU.
    """
    gather = _gather_slices if base.device.type == "cpu" else _gather_indexed
    return gather(base, changed, r_in, c_in, top, left, size, offset)


def _gather_slices(base, changed, r_in, c_in, top, left, size, offset) -> torch.Tensor:
    lr, lc = changed.shape[2:]
    rows, cols = size
    out = torch.stack([base[0, :, t:t + rows, l:l + cols] for t, l in zip(top.tolist(), left.tolist())])
    rr, cc = r_in + offset[0] - top, c_in + offset[1] - left  # each changed block's first crop row, column
    for k, (r, q) in enumerate(zip(rr.tolist(), cc.tolist())):
        r0, q0, r1, q1 = max(r, 0), max(q, 0), min(r + lr, rows), min(q + lc, cols)
        if r1 > r0 and q1 > q0:
            out[k, :, r0:r1, q0:q1] = changed[k, :, r0 - r:r1 - r, q0 - q:q1 - q]
    return out


def _gather_indexed(base, changed, r_in, c_in, top, left, size, offset) -> torch.Tensor:
    n, c, lr, lc = changed.shape
    rows, cols = size
    dev = base.device
    # every crop is a window of the same size: one indexing of the windows' view copies them all
    windows = base[0].unfold(1, rows, 1).unfold(2, cols, 1)  # (C, Hp − R + 1, Wp − Q + 1, R, Q), a view
    out = windows.permute(1, 2, 0, 3, 4)[torch.from_numpy(top).to(dev), torch.from_numpy(left).to(dev)]
    # (N, C, R, Q); then each patch's changed block, where it falls inside its crop
    rr = (r_in + offset[0] - top)[:, None] + np.arange(lr)  # (N, lr): crop row of each changed row
    cc = (c_in + offset[1] - left)[:, None] + np.arange(lc)  # (N, lc)
    inside = ((rr >= 0) & (rr < rows))[:, :, None] & ((cc >= 0) & (cc < cols))[:, None, :]  # (N, lr, lc)
    if inside.all():  # the usual case: the whole block lies in its crop
        k, i, j = (a.ravel() for a in np.indices(inside.shape))
    else:
        k, i, j = np.nonzero(inside)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
    k, i, j = t(k), t(i), t(j)
    out[k, :, t(rr)[k, i], t(cc)[k, j]] = changed[k, :, i, j]  # (K, C) values
    return out


def _local(layer, module, h: torch.Tensor) -> torch.Tensor:
    """A position-by-position layer on a freshly computed region (its own tensor: ReLU may work
    in place; the network's LRN sums its channel window by shifted slices, ``body.local_response_norm``)."""
    if layer.kind == "relu":
        return torch.relu_(h)
    return module(h)


def _occluded_logits(plan: _Plan, x: torch.Tensor, r0: np.ndarray, c0: np.ndarray, window: int,
                     baseline: float) -> torch.Tensor:
    """The logits with the square at rows r0[n] and columns c0[n] occluded, for each n: (N, classes)."""
    n = len(r0)
    h, w = x.shape[2:]
    # the changed block at the input: the square, slid inward where it would overhang
    lr, lc = min(window, h), min(window, w)
    ar, ac = np.minimum(r0, h - lr), np.minimum(c0, w - lc)  # where each block starts
    rows = ar[:, None] + np.arange(lr)  # (N, lr)
    cols = ac[:, None] + np.arange(lc)
    block = torch.stack([x[0, :, r:r + lr, c:c + lc] for r, c in zip(ar, ac)])  # (N, 3, lr, lc)
    occ_r = torch.from_numpy((rows >= r0[:, None]) & (rows < r0[:, None] + window))  # (N, lr)
    occ_c = torch.from_numpy((cols >= c0[:, None]) & (cols < c0[:, None] + window))
    mask = (occ_r[:, :, None] & occ_c[:, None, :])[:, None].to(x.device)  # (N, 1, lr, lc)
    changed = torch.where(mask, torch.as_tensor(baseline, dtype=x.dtype, device=x.device), block)
    # the truly changed interval travels separately from the block (which may be wider)
    a_r, b_r = r0, np.minimum(r0 + window, h)
    a_c, b_c = c0, np.minimum(c0 + window, w)
    start_r, start_c = ar, ac
    for layer, module, ra, ca, padded in plan.steps:
        if layer.kind in _LOCAL:
            changed = _local(layer, module, changed)
            continue
        lo_r, hi_r = ra.touched(a_r, b_r)
        lo_c, hi_c = ca.touched(a_c, b_c)
        size_r, size_c = int((hi_r - lo_r).max()), int((hi_c - lo_c).max())
        out_r, out_c = np.minimum(lo_r, ra.n_out - size_r), np.minimum(lo_c, ca.n_out - size_c)
        read = ((size_r - 1) * ra.s + ra.k, (size_c - 1) * ca.s + ca.k)  # padded rows, columns read
        crop = _gather(padded, changed, start_r, start_c, out_r * ra.s, out_c * ca.s, read, (ra.p, ca.p))
        if layer.kind == "conv":
            changed = F.conv2d(crop, module.weight, module.bias, module.stride, 0, module.dilation,
                               module.groups)  # (N, C', size_r, size_c)
        else:
            changed = max_pool2d(crop, ra.k, ra.s)
        a_r, b_r, a_c, b_c = lo_r, hi_r, lo_c, hi_c
        start_r, start_c = out_r, out_c
    top = plan.top  # (1, C, H', W')
    zero = np.zeros(n, dtype=np.int64)
    whole = _gather(top, changed, start_r, start_c, zero, zero, tuple(top.shape[2:]), (0, 0))  # (N, C, H', W')
    return plan._finish(whole)


def occlusion_drops(net: Network, x: torch.Tensor, score: Score, window: int, stride: int,
                    baseline: float = 0.0, batch: int = 32,
                    tick: Callable[[], None] | None = None) -> tuple[float, np.ndarray]:
    """score(x) and the score drop score(x) − score(occluded) of every square position.

    x: (1, C, H, W). Returns (score, drops) with drops (rows, columns) over the positions of
    ``window_starts``. ``tick`` is called once for the unoccluded pass and once per batch of
    ``batch`` squares.
    """
    tick = tick or (lambda: None)
    with torch.no_grad():
        tick()
        plan = _Plan(net, x)
        s0 = float(score(plan.logits)[0])
        drops = np.full(_positions(x, window, stride), np.nan)
        _fill(plan, x, score, s0, window, stride, baseline, batch, tick, np.ones(drops.shape, bool), drops)
    return s0, drops


def _positions(x: torch.Tensor, window: int, stride: int) -> tuple[int, int]:
    return len(window_starts(x.shape[2], window, stride)), len(window_starts(x.shape[3], window, stride))


def _fill(plan: _Plan, x: torch.Tensor, score: Score, s0: float, window: int, stride: int,
          baseline: float, batch: int, tick: Callable[[], None], where: np.ndarray,
          drops: np.ndarray) -> None:
    """Write the score drop of every position where ``where`` is True into ``drops``, in batches."""
    rs, cs = window_starts(x.shape[2], window, stride), window_starts(x.shape[3], window, stride)
    todo = np.argwhere(where)  # (K, 2)
    for first in range(0, len(todo), batch):
        tick()
        part = todo[first:first + batch]
        logits = _occluded_logits(plan, x, rs[part[:, 0]], cs[part[:, 1]], window, baseline)
        drops[part[:, 0], part[:, 1]] = s0 - score(logits).double().cpu().numpy()


def drops_to_map(drops: np.ndarray, size: tuple[int, int], window: int, stride: int) -> np.ndarray:
    """Captum's occlusion map from the score drops: each pixel, the mean drop of the squares that
    cover it. drops: (rows, columns) of window positions -> (H, W) float64."""
    h, w = size
    covers = []
    for side in (h, w):
        starts = window_starts(side, window, stride)
        pos = np.arange(side)
        covers.append(((pos >= starts[:, None]) & (pos < starts[:, None] + window)).astype(np.float64))
    rows, cols = covers  # (positions, side): which pixels each square covers along that side
    total = rows.T @ drops @ cols  # (H, W)
    count = rows.sum(0)[:, None] * cols.sum(0)[None, :]
    return total / count


def approximate_drops(net: Network, x: torch.Tensor, score: Score, window: int, stride: int,
                      baseline: float = 0.0, batch: int = 32,
                      tick: Callable[[], None] | None = None) -> tuple[np.ndarray, int]:
    """An APPROXIMATE occlusion map's score drops: exact at every other square position, in a
    chequerboard (a quincunx: row + column even), and at each other position the mean of its
    exactly computed neighbours above, below, left and right.

    Returns (drops, computed): drops (rows, columns) like ``occlusion_drops``'s, and how many
    positions were computed exactly rather than interpolated (half, rounded up). The quincunx was
    chosen by measurement over a 2× coarser grid refined where it matters most (coarse-to-fine):
    each missing position has four computed neighbours one step away rather than two or four
    diagonally, which is what interpolation needs on the rough maps of random networks. The
    README gives the rank correlations with the exact map that were measured.
    """
    shape = _positions(x, window, stride)
    where = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) % 2 == 0
    tick = tick or (lambda: None)
    drops = np.full(shape, np.nan)
    with torch.no_grad():
        tick()
        plan = _Plan(net, x)
        s0 = float(score(plan.logits)[0])
        _fill(plan, x, score, s0, window, stride, baseline, batch, tick, where, drops)
    known, count = np.pad(np.where(where, drops, 0.0), 1), np.pad(where.astype(np.float64), 1)
    four = lambda a: a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:]  # noqa: E731 - up, down, left, right
    filled = np.where(where, drops, four(known) / np.maximum(four(count), 1.0))
    return filled, int(where.sum())


def approximate_positions(size: tuple[int, int], window: int, stride: int) -> int:
    """How many square positions ``approximate_drops`` computes exactly: half, rounded up."""
    n = [len(window_starts(side, window, stride)) for side in size]
    return (n[0] * n[1] + 1) // 2


# -- the registry's entry: run, count, check ----------------------------------------------------
# occlusion's squares per batch: each recomputes only a small region of the early layers, so a
# batch costs far less than a full forward pass and bigger batches use the cores better
BATCH = 32


def run(f, x, p, layer):
    """Captum's Occlusion map, computed by incremental inference (see ``occlusion``): the
    unoccluded pass once, then per square only the region of each layer it changes."""
    size, w, s = (x.shape[2], x.shape[3]), p["window"], p["stride"]
    positions = occlusion_windows(size, w, s)
    if p["mode"] == "exact":
        _, drops = occlusion_drops(f.net, x.detach(), f.pick, w, s, 0.0, BATCH, f.tick)
        computed = positions
    else:
        drops, computed = approximate_drops(f.net, x.detach(), f.pick, w, s, 0.0, BATCH, f.tick)
    grid = torch.from_numpy(drops_to_map(drops, size, w, s)).float().to(x.device)  # (H, W)
    # every colour channel of a pixel is occluded together, so all three carry the same value
    return {"raw": grid.expand(1, x.shape[1], *size), "extras": {
        "positions": positions, "computed": computed, "approximate": p["mode"] != "exact"}}


def occlusion_windows(size: tuple[int, int], window: int, stride: int) -> int:
    """How many positions occlusion's square takes on an image of ``size`` (rows, columns)."""
    h, w = size
    return (math.ceil(max(h - window, 0) / stride) + 1) * (math.ceil(max(w - window, 0) / stride) + 1)


def count(p: dict, size: tuple[int, int]) -> int:
    """The unoccluded pass, then the squares in batches (the approximate mode: half of them)."""
    if p["mode"] == "exact":
        squares = occlusion_windows(size, p["window"], p["stride"])
    else:
        squares = approximate_positions(size, p["window"], p["stride"])
    return 1 + math.ceil(squares / BATCH)


def check(p: dict, size: tuple[int, int]) -> None:
    """The square must fit inside the image, and its steps must leave no pixel unoccluded."""
    for name in ("window", "stride"):
        if p[name] > min(size):
            raise ValueError(f"occlusion's {name} ({p[name]}) is larger than the image ({size[0]}×{size[1]}).")
    if p["stride"] > p["window"]:
        raise ValueError(f"occlusion's stride ({p['stride']}) must not exceed its window "
                         f"({p['window']}), or some pixels are never occluded.")
