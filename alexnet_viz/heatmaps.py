"""An attribution array's numbers made ready to show: no torch, no colours, no UI.

reduce (a sign mode picks which values show) -> scale (the percentile that reaches full
colour, per map or shared) -> normalise (clip to 0..1, or −1..1 for the signed mode). The
colours and the picture are :mod:`alexnet_viz.render`'s.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SIGN_MODES = ("positive", "negative", "absolute", "signed")


def check_sign(sign: str) -> None:
    if sign not in SIGN_MODES:
        raise ValueError(f"Unknown sign mode {sign!r}: choose one of {', '.join(SIGN_MODES)}.")


def reduce(attr: np.ndarray, sign: str = "absolute") -> np.ndarray:
    """(C, H, W) or (H, W) attribution -> the (H, W) values a sign mode shows, as float32.

    positive / negative: the channel sum's positive part / the magnitude of its negative part;
    absolute: the sum of absolute values over channels (as Captum's visualiser does); signed:
    the channel sum.
    """
    check_sign(sign)
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
    check_sign(sign)
    r = np.nan_to_num(np.asarray(reduced, dtype=np.float32))
    if scale <= 0:
        return np.zeros_like(r)
    return np.clip(r / scale, -1.0 if sign == "signed" else 0.0, 1.0)
