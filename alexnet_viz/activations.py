"""Numbers about activations: channel order, per-channel and per-layer statistics, the strongest fc units.

Pure numpy (torch tensors are accepted); the pictures are in ``render``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import as_numpy, chw, one_map

SORTS = ("index", "mean", "max")


def channel_order(act, sort: str = "index") -> np.ndarray:
    """Channel indices of a (C, H, W) activation: 0..C-1, or by mean / max activation, descending.

    Ties keep index order (a stable sort), so the order is reproducible.
    """
    a = chw(act)
    if sort not in SORTS:
        raise ValueError(f"Unknown sort {sort!r}: choose one of {', '.join(SORTS)}.")
    if sort == "index":
        return np.arange(a.shape[0])
    flat = a.reshape(a.shape[0], -1)
    key = flat.mean(axis=1) if sort == "mean" else flat.max(axis=1)
    return np.argsort(-key, kind="stable")


def channel_stats(act_c) -> dict:
    """mean, max, min, std, zero_fraction (exactly 0) and argmax (row, col) of one (H, W) map."""
    m = one_map(act_c)
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
    a = as_numpy(act)
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
    v = as_numpy(vec)
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 1:
        raise ValueError(f"Expected an fc layer's vector of shape (N,), got shape {tuple(v.shape)}.")
    k = max(0, min(int(k), v.size))
    idx = np.argsort(-v, kind="stable")[:k]
    return [(int(i), float(v[i])) for i in idx]
