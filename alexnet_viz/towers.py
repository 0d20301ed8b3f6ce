"""alexnet2012's two towers on two devices (paper §3.2): where they talk, and the walk's overrides.

``load_network(..., device="cuda:0,cuda:1")`` (in ``network``) returns a ``TwoDeviceNetwork``,
whose one walk runs this module's ``Placement``: GPU 1's half of every split layer runs on the
first device, GPU 2's half on the second, and a tensor is copied from one device to the other only
where the towers talk: conv3, fc6 and fc7 read both halves (each device receives the other's
half), fc8 is not split and runs on the first device, and Caffe's LRN window spans the boundary
(the two channels either side of it cross). Its outputs and activations equal the one-device
network's.

What it does not reproduce is the paper's memory split: the whole body stays on the first device
(tower 1's weights are views into it), so every other tool (``trace_unit``, attribution, the
weights the app reads) works unchanged; tower 2's weights are copied to the second device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture, Layer
from .body import Overrides

OWN, BOTH, EDGES, FIRST = "own", "both", "edges", "first"  # what a layer's towers read


def reads(arch, layer) -> str:
    """What the towers of one row read: their own half (OWN), both halves (BOTH: the input is
    copied across), their own half plus the neighbouring channels across the boundary (EDGES:
    Caffe's LRN), or an unsplit layer on the first device reading both (FIRST: fc8). From the
    table's ``towers`` and ``cross_tower``."""
    if layer.kind in ("conv", "linear"):
        if layer.towers == 1:
            return FIRST
        return BOTH if layer.cross_tower else OWN
    return EDGES if layer.kind == "lrn" else OWN


def crossing_layers(arch) -> list[str]:
    """The rows where a tensor goes from one device to the other (conv1 reads the image, which
    each device is given, so it is not one)."""
    first = arch.layers[0].name
    return [layer.name for layer in arch.layers if reads(arch, layer) != OWN and layer.name != first]


class Placement:
    """The two towers' placement as overrides on the network's one walk (``overrides``).

    What flows is a pair, one tensor per device (tower t's half, or at first the image on each),
    until an unsplit layer (fc8) joins them on the first device; each activation is recorded
    joined, so it equals the one-device network's.
    """

    def __init__(self, arch: Architecture, body: nn.Module, devices: tuple[torch.device, torch.device]):
        self.arch, self.body, self.devices = arch, body, devices
        # GPU 2's half of every split layer, copied once to the second device: (weight, bias)
        self.tower2: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for layer in arch.layers:
            if layer.kind in ("conv", "linear") and layer.towers == 2:
                m = body.get_submodule(layer.module)
                ch = arch.towers(layer.name)[1].channels  # GPU 2's, from the table
                self.tower2[layer.name] = (m.weight[ch.start:ch.stop].detach().to(devices[1], copy=True),
                                           m.bias[ch.start:ch.stop].detach().to(devices[1], copy=True))
        # until the first conv or fc layer has run, each device holds the whole input, not a half
        self._first = next(layer.name for layer in arch.layers if layer.kind in ("conv", "linear"))
        self.overrides = Overrides({layer.name: self._step for layer in arch.layers},
                                   enter=self._enter, join=self._join)

    def tower_weights(self, layer: str, tower: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of one tower's half of a split layer, on that tower's device."""
        if tower == 1:
            return self.tower2[layer]
        m = self.body.get_submodule(self.arch.layer(layer).module)
        ch = self.arch.towers(layer)[0].channels  # GPU 1's, from the table
        return m.weight[ch.start:ch.stop], m.bias[ch.start:ch.stop]  # views into the body, on the first device

    def _enter(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.to(self.devices[0]), x.to(self.devices[1])  # each device is given the image

    def _join(self, h) -> torch.Tensor:
        """Both halves side by side on the first device (or the tensor the towers joined into)."""
        return h if isinstance(h, torch.Tensor) else torch.cat([h[0], h[1].to(self.devices[0])], 1)

    def _step(self, layer: Layer, module: nn.Module | None, h):
        k = layer.kind
        d1, d2 = self.devices
        if isinstance(h, torch.Tensor):  # the towers have joined (fc8 on): the first device, as built
            return h if k == "dropout" else (torch.flatten(h, 1) if k == "flatten" else module(h))
        if k == "flatten":
            return tuple(torch.flatten(p, 1) for p in h)  # (C, H, W) order: halves stay in order
        if k in ("conv", "linear") and layer.towers == 1:  # fc8: both halves on the first device
            return module(self._join(h))
        if k in ("conv", "linear"):
            if layer.name != self._first and reads(self.arch, layer) == BOTH:  # the towers talk: copy across
                h = (torch.cat([h[0], h[1].to(d1)], 1), torch.cat([h[0].to(d2), h[1]], 1))
            out = []
            for t, p in enumerate(h):
                w, b = self.tower_weights(layer.name, t)
                out.append(F.conv2d(p, w, b, layer.stride, layer.padding) if k == "conv" else F.linear(p, w, b))
            return tuple(out)
        if k == "lrn":  # Caffe's window crosses the boundary: borrow the neighbouring channels
            n = layer.lrn.size // 2
            c1 = h[0].shape[1]
            left = module(torch.cat([h[0], h[1][:, :n].to(d1)], 1))[:, :c1]
            right = module(torch.cat([h[0][:, -n:].to(d2), h[1]], 1))[:, n:]
            return left, right
        if k == "dropout":
            return h
        return tuple(module(p) for p in h)
