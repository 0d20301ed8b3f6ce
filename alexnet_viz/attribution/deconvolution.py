"""Deconvolution (Zeiler & Fergus 2014): Captum's hooks, on a private copy of the network."""
from __future__ import annotations


def run(f, x, p, layer):
    from captum.attr import Deconvolution

    return {"raw": Deconvolution(f).attribute(x, target=0)}
