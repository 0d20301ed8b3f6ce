"""Saliency (vanilla gradient, Simonyan et al. 2014): the attribution method's run, one Captum call."""
from __future__ import annotations


def run(f, x, p, layer):
    from captum.attr import Saliency

    return {"raw": Saliency(f).attribute(x, target=0, abs=False)}
