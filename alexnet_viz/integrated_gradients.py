"""Integrated gradients to a stated accuracy, by adaptive composite Gauss–Legendre quadrature.

IG integrates the gradient along the straight path γ(α) = b + α (x − b) from the baseline b to
the input x. Completeness says the attributions add up to f(x) − f(b), and for any piece
[α0, α1] of the path the exact integral of the scalar g(α) = ∇f(γ(α)) · (x − b) is known from
two forward passes: f(γ(α1)) − f(γ(α0)). So each piece's quadrature error is measured, not
guessed, and the piece whose error is largest is split in two (its Gauss–Legendre points do not
nest, so its gradients are dropped; the forward values at the piece's ends are kept) until the
completeness error is within the tolerance or the cap on gradient evaluations is reached.

ReLU networks make g piecewise smooth with many kinks along the path, which is why a single
high-order rule can stay far from completeness however many points it takes: splitting puts the
points where the kinks are. The result reports what was reached, honestly: the error, the
points used, whether the cap stopped it, and whether f(x) − f(b) is too small against the
scores themselves for a relative error to mean anything (float32 rounding dominates it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

Objective = Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) -> (N,) the explained score

TOO_SMALL = 1e-4
"""|f(x) − f(b)| below this fraction of max(|f(x)|, |f(b)|) is within a few hundred float32
roundings of the scores: a relative completeness error is then noise, and is reported as such."""


@dataclass
class Result:
    attribution: torch.Tensor  # (1, C, H, W)
    error: float  # |sum(attribution) − (f(x) − f(b))| / |f(x) − f(b)|
    delta: float  # sum(attribution) − (f(x) − f(b))
    steps: int  # gradient evaluations made, dropped ones included
    pieces: int  # pieces of the path in the final rule
    score: float  # f(x)
    baseline_score: float  # f(b)
    capped: bool  # stopped by the cap before reaching the tolerance
    meaningful: bool  # f(x) − f(b) is large enough for a relative error to mean something
    note: str


def _nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)  # on [−1, 1]
    return a + (t + 1) * (b - a) / 2, w * (b - a) / 2


def integrated_gradients(f: Objective, x: torch.Tensor, base: torch.Tensor, steps: int = 8,
                         tolerance: float = 0.01, max_steps: int = 64, batch: int = 8,
                         tick: Callable[[], None] | None = None) -> Result:
    """IG of ``f`` at x (1, C, H, W) from ``base``: a ``steps``-point Gauss–Legendre rule on the
    whole path, then the worst piece split in halves (``steps`` points each) until the
    completeness error is at most ``tolerance`` of |f(x) − f(b)| or ``max_steps`` gradient
    evaluations are spent. ``tolerance=0`` takes exactly ``steps`` points (a fixed rule).
    ``tick`` is called once per batch of gradient evaluations and once per forward batch.
    """
    tick = tick or (lambda: None)
    x, base = x.detach(), base.detach()
    diff = x - base  # (1, C, H, W)

    def forward(alphas: list[float]) -> list[float]:
        tick()
        with torch.no_grad():
            a = torch.tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
            return [float(v) for v in f(base + a * diff)]

    def gradients(alphas: np.ndarray, weights: np.ndarray) -> torch.Tensor:
        """Σ weight · ∇f at the points, (1, C, H, W), in batches."""
        total = torch.zeros_like(x)
        for i in range(0, len(alphas), batch):
            tick()
            a = torch.tensor(alphas[i:i + batch], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
            w = torch.tensor(weights[i:i + batch], dtype=x.dtype, device=x.device)
            z = (base + a * diff).requires_grad_(True)  # (k, C, H, W)
            with torch.enable_grad():
                (g,) = torch.autograd.grad((f(z) * w).sum(), z)
            total += g.sum(0, keepdim=True)
        return total

    fb, fx = forward([0.0, 1.0])
    gap = fx - fb
    meaningful = abs(gap) >= TOO_SMALL * max(abs(fx), abs(fb), 1e-30)
    ends = {0.0: fb, 1.0: fx}
    pieces: dict[tuple[float, float], tuple[torch.Tensor, float]] = {}  # (α0, α1) -> (Σw∇f, error)
    used = 0

    def solve(a: float, b: float) -> None:
        nonlocal used
        alphas, weights = _nodes(a, b, steps)
        g = gradients(alphas, weights)
        used += len(alphas)
        pieces[(a, b)] = (g, float((g * diff).double().sum()) - (ends[b] - ends[a]))

    solve(0.0, 1.0)
    capped = False
    while True:
        delta = sum(e for _, e in pieces.values())
        if not tolerance or abs(delta) <= tolerance * abs(gap):
            break
        if used + 2 * steps > max_steps:
            capped = True
            break
        (a, b), _ = max(pieces.items(), key=lambda kv: abs(kv[1][1]))
        mid = (a + b) / 2
        ends[mid] = forward([mid])[0]
        del pieces[(a, b)]
        solve(a, mid)
        solve(mid, b)
    total = sum(g for g, _ in pieces.values())
    attribution = diff * total  # (1, C, H, W)
    delta = float(attribution.double().sum()) - gap
    error = abs(delta) / abs(gap) if gap else float("inf")
    if not meaningful:
        note = (f"f(input) − f(baseline) = {gap:.3g} is below {TOO_SMALL:g} of the scores themselves "
                f"({fx:.3g}, {fb:.3g}): float rounding alone is that large, so the relative error "
                f"({error:.1%}) says nothing. An untrained network barely responds to its input.")
    elif capped:
        note = (f"Stopped at the cap of {max_steps} gradient evaluations with a completeness error of "
                f"{error:.1%} (asked for {tolerance:.1%}).")
    elif tolerance:
        note = f"Completeness error {error:.2%} with {used} gradient evaluations (asked for {tolerance:.1%})."
    else:
        note = f"A fixed {steps}-point rule: completeness error {error:.2%}."
    return Result(attribution, error, delta, used, len(pieces), fx, fb, capped, meaningful, note)
