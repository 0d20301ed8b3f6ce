"""SmoothGrad (Smilkov et al. 2017): saliency averaged over noisy copies, in batches."""
from __future__ import annotations

import math

BATCH = 8  # inputs per forward pass for SmoothGrad


def run(f, x, p, layer):
    from captum.attr import NoiseTunnel, Saliency

    spread = float(x.detach().max() - x.detach().min()) or 1.0
    attr = NoiseTunnel(Saliency(f)).attribute(
        x, nt_type="smoothgrad", nt_samples=p["samples"], nt_samples_batch_size=BATCH,
        stdevs=p["noise"] * spread, target=0, abs=False)
    return {"raw": attr, "extras": {"noise_std": p["noise"] * spread}}


def count(p: dict, size: tuple[int, int]) -> int:
    return math.ceil(p["samples"] / BATCH)

