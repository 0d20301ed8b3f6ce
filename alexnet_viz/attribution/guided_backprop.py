"""Guided backpropagation (Springenberg et al. 2015): Captum's hooks, on a private copy of the network."""
from __future__ import annotations


def run(f, x, p, layer):
    from captum.attr import GuidedBackprop

    return {"raw": GuidedBackprop(f).attribute(x, target=0)}
