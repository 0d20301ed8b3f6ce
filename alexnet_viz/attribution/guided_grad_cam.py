"""Guided Grad-CAM (Selvaraju et al. 2017): Captum's, on a private copy of the network."""
from __future__ import annotations


def run(f, x, p, layer):
    from captum.attr import GuidedGradCam

    return {"raw": GuidedGradCam(f, layer).attribute(x, target=0, interpolate_mode="bilinear")}
