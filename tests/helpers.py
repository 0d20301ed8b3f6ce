"""What several test modules need and the library itself does not: networks built the short
way, the input normalisation undone, a made-up attribution, a canvas's strokes."""
from __future__ import annotations

import numpy as np
import torch

from alexnet_viz.network import Network, load_network


def build_network(model: str, device: str | torch.device = "cpu") -> Network:
    """An untrained network (paper init, seed 0) of variant ``model``, on the CPU by default."""
    return load_network(model, "untrained", device)


def deprocess(net: Network, x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``net``'s normalisation: (N, 3, H, W) input -> (N, 3, H, W) RGB in 0..1."""
    mean = torch.tensor(net.prep.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(net.prep.std, device=x.device).view(1, 3, 1, 1)
    return ((x * std + mean) / (255.0 * net.prep.scale)).clamp(0, 1)


def ramp_attr():
    """A (3, 4, 4) attribution: channel sums run from −8 to +7 across the pixels."""
    total = np.arange(-8, 8, dtype=np.float32).reshape(4, 4)
    return np.stack([total, np.zeros_like(total), np.zeros_like(total)])


def painting(size: tuple[int, int], box=None, colour=(255, 0, 0), alpha: int = 255,
             garbage: bool = True) -> np.ndarray:
    """An (h, w, 4) canvas: ``box`` (top, left, bottom, right) painted, the rest transparent; the
    transparent pixels' RGB is noise (``garbage``), which alpha 0 must hide."""
    w, h = size
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (h, w, 4), dtype=np.uint8) if garbage else np.zeros((h, w, 4), np.uint8)
    a[..., 3] = 0
    if box is not None:
        t, l, b, r = box
        a[t:b, l:r] = (*colour, alpha)
    return a


def structured_photo():
    """A 410×300 photo whose every pixel differs from its neighbours and from any stroke
    (the painting tests draw on its crop)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:410]
    rgb = np.stack([xx * 255 // 409, yy * 255 // 299, rng.integers(40, 200, (300, 410))], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))
