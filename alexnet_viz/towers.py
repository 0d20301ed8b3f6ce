"""Two GPUs for real (paper §3.2): each tower of alexnet2012 computes on its own device.

``load_network(..., device="cuda:0,cuda:1")`` returns a ``TwoDeviceNetwork``: GPU 1's half of
every split layer runs on the first device, GPU 2's half on the second, and a tensor is copied
from one device to the other only where the towers talk: conv3, fc6 and fc7 read both halves
(each device receives the other's half), fc8 is not split and runs on the first device, and
Caffe's LRN window spans the boundary (the two channels either side of it cross). Its outputs
and activations equal the one-device network's.

A wrapper rather than a change to ``network.py``: the one-device walk stays as it is. What it
does not reproduce is the paper's memory split: the whole body stays on the first device (tower
1's weights are views into it), so every other tool (``trace_unit``, attribution, the weights
the app reads) works unchanged; tower 2's weights are copied to the second device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .network import Network, pick_device
from .network import load_network as _load_one

OWN, BOTH, EDGES, FIRST = "own", "both", "edges", "first"  # what a layer's towers read


def parse_devices(device: str) -> tuple[torch.device, torch.device] | None:
    """``"cuda:0,cuda:1"`` -> the two devices; None for a single device; a sentence for more."""
    if not isinstance(device, str) or "," not in device:
        return None
    names = [d.strip() for d in device.split(",")]
    if len(names) != 2 or not all(names):
        raise ValueError(f"Name two devices for the two towers, e.g. cuda:0,cuda:1 (or cpu,cpu to try it); "
                         f"got {device!r}.")
    if "auto" in names:
        raise ValueError("Name both towers' devices (e.g. cuda:0,cuda:1); auto picks one device for the whole network.")
    return pick_device(names[0]), pick_device(names[1])


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


class TwoDeviceNetwork(Network):
    """alexnet2012 with tower GPU 1 on ``devices[0]`` and tower GPU 2 on ``devices[1]``."""

    def __init__(self, net: Network, devices: tuple[torch.device, torch.device]):
        if max(layer.towers for layer in net.arch.layers) != 2:
            raise ValueError(f"{net.arch.name} runs as one tower, so there is nothing to put on a second device: "
                             "two devices need alexnet2012 (the paper's two towers).")
        super().__init__(net.arch, net.body, net.weights, devices[0])
        self.weights_error = net.weights_error
        self.devices = devices
        # GPU 2's half of every split layer, copied once to the second device: (weight, bias)
        self.tower2: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for layer in self.arch.layers:
            if layer.kind in ("conv", "linear") and layer.towers == 2:
                m = self.body.get_submodule(layer.module)
                ch = self.arch.towers(layer.name)[1].channels  # GPU 2's, from the table
                self.tower2[layer.name] = (m.weight[ch.start:ch.stop].detach().to(devices[1], copy=True),
                                           m.bias[ch.start:ch.stop].detach().to(devices[1], copy=True))

    def tower_weights(self, layer: str, tower: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of one tower's half of a split layer, on that tower's device."""
        if tower == 1:
            return self.tower2[layer]
        m = self.body.get_submodule(self.arch.layer(layer).module)
        ch = self.arch.towers(layer)[0].channels  # GPU 1's, from the table
        return m.weight[ch.start:ch.stop], m.bias[ch.start:ch.stop]  # views into the body, on the first device

    def _walk(self, x: torch.Tensor, out: dict | None, upto: str | None) -> torch.Tensor:
        if upto is not None and upto not in self.arch.names():
            raise ValueError(f"{self.arch.name} has no layer named {upto!r}; it has {', '.join(self.arch.names())}.")
        self._check_input(x, upto)
        d1, d2 = self.devices
        parts: list[torch.Tensor] = [x.to(d1), x.to(d2)]  # each device is given the image
        whole: torch.Tensor | None = None  # set once the towers have joined (fc8)
        split_input = False  # is parts[t] tower t's half (True) or the whole input on each device?
        for layer in self.arch.layers:
            k = layer.kind
            module = self.body.get_submodule(layer.module) if layer.module else None
            if whole is not None:
                whole = whole if k == "dropout" else module(whole)
            elif k == "flatten":
                parts = [torch.flatten(p, 1) for p in parts]  # (C, H, W) order: halves stay in order
            elif k in ("conv", "linear") and layer.towers == 1:  # fc8: both halves on the first device
                whole = module(torch.cat([parts[0], parts[1].to(d1)], dim=1))
            elif k in ("conv", "linear"):
                if split_input and reads(self.arch, layer) == BOTH:  # the towers talk: copy across
                    parts = [torch.cat([parts[0], parts[1].to(d1)], 1), torch.cat([parts[0].to(d2), parts[1]], 1)]
                new = []
                for t, p in enumerate(parts):
                    w, b = self.tower_weights(layer.name, t)
                    new.append(F.conv2d(p, w, b, layer.stride, layer.padding) if k == "conv" else F.linear(p, w, b))
                parts, split_input = new, True
            elif k == "lrn":  # Caffe's window crosses the boundary: borrow the neighbouring channels
                n = layer.lrn.size // 2
                c1 = parts[0].shape[1]
                left = module(torch.cat([parts[0], parts[1][:, :n].to(d1)], 1))[:, :c1]
                right = module(torch.cat([parts[0][:, -n:].to(d2), parts[1]], 1))[:, n:]
                parts = [left, right]
            elif k != "dropout":
                parts = [module(p) for p in parts]
            if out is not None and k not in ("dropout", "flatten"):
                out[layer.name] = whole if whole is not None else torch.cat([parts[0], parts[1].to(d1)], 1)
            if layer.name == upto:
                break
        return whole if whole is not None else torch.cat([parts[0], parts[1].to(d1)], 1)


def place_towers(net: Network, devices: tuple[torch.device, torch.device]) -> TwoDeviceNetwork:
    """``net`` with its two towers on two devices (see the module's docstring)."""
    return TwoDeviceNetwork(net, devices)


def load_network(model: str = "alexnet2012", weights: str = "untrained", device: str | torch.device = "auto",
                 progress=None, fallback_to_untrained: bool = False) -> Network:
    """The public entry point (``alexnet_viz.load_network``): ``network.load_network`` for one
    device; for two, ``"cuda:0,cuda:1"``, alexnet2012's tower GPU 1 on the first and GPU 2 on the
    second (a ``TwoDeviceNetwork``), as the paper ran it."""
    from .architecture import get_architecture

    two = parse_devices(device)
    if two is None:
        return _load_one(model, weights, device, progress, fallback_to_untrained)
    arch = get_architecture(model)
    if max(layer.towers for layer in arch.layers) != 2:
        raise ValueError(f"{arch.name} runs as one tower, so it cannot be split over {device}: two devices "
                         "need alexnet2012 (the paper's two towers).")
    return place_towers(_load_one(model, weights, two[0], progress, fallback_to_untrained), two)
