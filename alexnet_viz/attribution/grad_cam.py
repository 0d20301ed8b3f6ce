"""Grad-CAM (Selvaraju et al. 2017) without hooks, its layer map placed on the input by receptive fields."""
from __future__ import annotations

import functools

import numpy as np
import torch

def run(f, x, p, layer):
    """Grad-CAM without hooks, back-propagating only as far as the layer: its activation comes
    from a pass without gradients, then becomes the leaf the rest of the network starts from.
    The same arithmetic as Captum's LayerGradCam (relu_attributions=False)."""
    name = p["layer"]
    f.tick()
    with torch.no_grad():
        acts = f.net.activations(x.detach(), upto=name)[name]  # (1, C, h, w)
    acts.requires_grad_(True)
    score = f.pick(f.net.forward_from(name, acts))  # (1,)
    (grad,) = torch.autograd.grad(score.sum(), acts)  # (1, C, h, w)
    with torch.no_grad():
        cam = (grad.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True)  # (1, 1, h, w)
    return {"raw": _to_input(cam, f.net, name, x), "layer_map": cam[0, 0].cpu().numpy(),
            "score": float(score[0].detach())}


@functools.lru_cache(maxsize=64)
def _placement(arch, name: str, size: int, shape: tuple[int, int], device: torch.device,
               dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's placement weights on the input (``render.placement.placement_matrices``) as
    tensors on the map's device, kept: they depend on the geometry, not on the input, so Grad-CAM
    neither walks the table nor copies weights on every call."""
    from ..render.placement import placement_matrices
    from ..walkthrough import layer_receptive_field

    wy, wx = placement_matrices(shape, size, layer_receptive_field(name, arch, size))
    return tuple(torch.from_numpy(np.array(w)).to(device=device, dtype=dtype) for w in (wy, wx))  # copies: wy, wx are read-only


def _to_input(cam: torch.Tensor, net, name: str, x: torch.Tensor) -> torch.Tensor:
    """A (1, 1, h, w) layer map on the (H, W) input, each unit at its receptive field's centre
    (the mapping the Feature maps page uses), bilinear between centres: plain bilinear resizing
    puts conv5's 13 units up to 8.8 pixels away from where they look. Computed where the map
    is, in float64 as the page's own placement is (a GPU map is not copied back to be placed)."""
    shape = (int(cam.shape[-2]), int(cam.shape[-1]))
    wy, wx = _placement(net.arch, name, int(x.shape[-1]), shape, cam.device, torch.float64)
    return (wy @ cam[0, 0].double() @ wx.T).to(cam.dtype)[None, None]  # (1, 1, H, W)
