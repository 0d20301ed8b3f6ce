"""Numbers about kernels: how colour-specific conv1's kernels are, and which GPU tower's are
the more colourful, measured on the weights loaded. The pictures are in ``render.tiles``."""
from __future__ import annotations

import numpy as np

from .architecture import Architecture, get_architecture
from .arrays import conv_weight


def colourfulness(weight) -> np.ndarray:
    """A per-kernel chroma score in [0, 1] for (N, 3, k, k) weights: 0 grey, near 1 pure colour.

    For each kernel w: remove its overall mean (one number, its DC level), take at every pixel
    the standard deviation across the R, G, B weights, average over the pixels, and divide by
    the root-mean-square of the mean-removed kernel. A grey kernel (R = G = B everywhere)
    scores 0; a red–green opponent pattern scores about 1; scaling the kernel changes nothing;
    an all-zero kernel scores 0. It is at most 1 because the mean of a spread is at most the root
    mean square of the values it spreads.
    """
    w = conv_weight(weight)
    if w.shape[1] != 3:
        raise ValueError(f"Colourfulness needs kernels over 3 colour channels; this weight has {w.shape[1]}.")
    w = w - w.mean(axis=(1, 2, 3), keepdims=True)
    spread = w.std(axis=1).mean(axis=(1, 2))  # (N,)
    rms = np.sqrt((w ** 2).mean(axis=(1, 2, 3)))  # (N,)
    return np.divide(spread, rms, out=np.zeros_like(spread, dtype=np.float64), where=rms > 1e-12)


def tower_colour_comparison(weight, arch: Architecture | str, layer: str = "conv1") -> dict:
    """Which tower's conv1 kernels are the more colour-specific, measured with :func:`colourfulness`.

    Returns {"scores": (N,), "towers": {name: {"mean", "median", "n", "channels": range}},
    "more_colourful": the tower with the higher mean, "separation": the chance that a kernel of
    that tower is more colourful than one of the other (0.5: no difference; 1: every one is),
    "clear": separation ≥ 0.75, "sentence": a plain summary}. The answer is measured, never
    assumed: which half learns colour differs between trainings. One tower gives
    more_colourful None. The towers are the architecture's (``arch.towers(layer)``).
    """
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    s = colourfulness(weight)
    towers = arch.towers(layer)
    if towers[-1].channels.stop != s.size:
        raise ValueError(f"{layer} of {arch.name} has {towers[-1].channels.stop} kernels but this weight has "
                         f"{s.size}: is it from another layer or network?")
    per = {t.name: {"mean": float(s[t.channels].mean()), "median": float(np.median(s[t.channels])),
                    "n": len(t.channels), "channels": t.channels} for t in towers}
    result = {"scores": s, "towers": per, "more_colourful": None, "separation": None, "clear": False}
    if len(towers) == 1:
        result["sentence"] = f"One tower: mean colourfulness {per[towers[0].name]['mean']:.2f}."
        return result
    first, second = towers
    a, b = s[first.channels], s[second.channels]
    hi, lo = (second.name, first.name) if b.mean() > a.mean() else (first.name, second.name)
    x, y = (b, a) if hi == second.name else (a, b)
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
