"""What callers hand the library, as numpy arrays of the shape a function needs, or a ValueError.

Torch tensors on any device, numpy arrays and lists are accepted; the ValueError says what shape
was expected."""
from __future__ import annotations

import numpy as np


def as_numpy(x) -> np.ndarray:
    """A torch tensor (any device, with or without grad) or array-like -> a float numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def chw(act, what: str = "activation") -> np.ndarray:
    """(C, H, W) from (C, H, W) or a batch of one (1, C, H, W)."""
    a = as_numpy(act)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(
            f"Expected a {what} of shape (channels, height, width), got shape {tuple(a.shape)}; "
            "fc layers have no maps: use top_units for them.")
    return a


def one_map(act_c) -> np.ndarray:
    """One channel's (H, W) map, from (H, W) or (1, H, W)."""
    m = as_numpy(act_c)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"Expected one channel's map of shape (height, width), got shape {tuple(m.shape)}.")
    return m


def conv_weight(weight, what: str = "conv weight") -> np.ndarray:
    """A conv layer's (out, in, k, k) weight as numpy."""
    w = as_numpy(weight)
    if w.ndim != 4:
        raise ValueError(f"Expected a {what} of shape (out, in, k, k), got shape {tuple(w.shape)}.")
    return w
