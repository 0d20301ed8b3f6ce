"""Input × gradient: the attribution method's run, one Captum call."""
from __future__ import annotations


def run(f, x, p, layer):
    from captum.attr import InputXGradient

    return {"raw": InputXGradient(f).attribute(x, target=0)}
