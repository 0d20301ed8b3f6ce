"""Numbers about kernels: how colour-specific conv1's kernels are, and which GPU tower's are the more colourful.

Measured on the weights loaded. The pictures are in ``render.tiles``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .architecture import Architecture, get_architecture
from .arrays import conv_weight


def colourfulness(weight) -> np.ndarray:
    """The fraction of each kernel's energy that lies off the grey axis: (N, 3, k, k) -> (N,) in [0, 1].

    For each kernel w: remove its mean (one number, its DC level); split every pixel's
    (R, G, B) weights into the part along the grey axis (1, 1, 1)/√3 and the rest; the score is
    the energy of the rest over the total energy. A grey kernel (R = G = B everywhere) scores 0,
    a colour-opponent pattern (R + G + B = 0 at every pixel) scores 1 however localised it is,
    and iid noise scores 2/3 in expectation (two of the three colour directions are off the grey
    axis). Scaling the kernel changes nothing; an all-zero kernel scores 0.
    """
    w = conv_weight(weight).astype(np.float64)
    if w.shape[1] != 3:
        raise ValueError(f"Colourfulness needs kernels over 3 colour channels; this weight has {w.shape[1]}.")
    w = w - w.mean(axis=(1, 2, 3), keepdims=True)
    total = (w ** 2).sum(axis=(1, 2, 3))  # (N,)
    grey = (w.sum(axis=1) ** 2 / 3.0).sum(axis=(1, 2))  # (N,): (r + g + b)² / 3 = the grey part's energy
    return np.divide(total - grey, total, out=np.zeros_like(total), where=total > 1e-24).clip(0.0, 1.0)


@dataclass(frozen=True)
class TowerStats:
    mean: float
    median: float
    n: int
    channels: range


@dataclass(frozen=True, eq=False)
class TowerComparison:
    """Numbers for "which tower's kernels are the colourful ones" (sentences are the app's).

    ``separation``: the chance that a kernel of ``more_colourful`` is more colourful than one of
    the other tower (0.5: no difference; 1: every one is); ``clear``: separation >= 0.75. One
    tower: ``more_colourful`` and ``separation`` are None.
    """

    scores: np.ndarray  # (N,)
    towers: dict[str, TowerStats]
    more_colourful: str | None = None
    separation: float | None = None
    clear: bool = False

    @property
    def less_colourful(self) -> str | None:
        return next((t for t in self.towers if t != self.more_colourful), None) if self.more_colourful else None


CLEAR_SEPARATION = 0.75


def tower_colour_comparison(weight, arch: Architecture | str, layer: str = "conv1") -> TowerComparison:
    """Which tower's conv1 kernels are the more colour-specific, measured with :func:`colourfulness`.

    The answer is measured, never assumed: which half learns colour differs between trainings.
    The towers are the architecture's (``arch.towers(layer)``).
    """
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    s = colourfulness(weight)
    towers = arch.towers(layer)
    if towers[-1].channels.stop != s.size:
        raise ValueError(f"{layer} of {arch.name} has {towers[-1].channels.stop} kernels but this weight has "
                         f"{s.size}: is it from another layer or network?")
    per = {t.name: TowerStats(float(s[t.channels].mean()), float(np.median(s[t.channels])), len(t.channels),
                              t.channels) for t in towers}
    if len(towers) == 1:
        return TowerComparison(s, per)
    first, second = towers
    a, b = s[first.channels], s[second.channels]
    hi = second.name if b.mean() > a.mean() else first.name
    x, y = (b, a) if hi == second.name else (a, b)
    sep = float(np.mean(x[:, None] > y[None, :]) + 0.5 * np.mean(x[:, None] == y[None, :]))
    return TowerComparison(s, per, hi, sep, sep >= CLEAR_SEPARATION)
