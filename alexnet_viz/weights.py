"""Where weights come from. (Stage 1: untrained only; downloads and files follow.)"""
from __future__ import annotations

from torch import nn

from .architecture import Architecture


class WeightsError(RuntimeError):
    """Weights could not be had: the message says what to do about it."""


def apply_weights(body: nn.Module, arch: Architecture, weights: str, progress=None) -> str:
    from .network import paper_init

    if weights == "untrained":
        paper_init(body, arch)
        return "untrained"
    raise WeightsError(f"Weights {weights!r} are not available yet.")
