"""Where alexnet2012's two towers talk, for running each tower on its own device (paper §3.2).

``load_network(..., device="cuda:0,cuda:1")`` (in ``network``) returns a ``TwoDeviceNetwork``: GPU 1's half of
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
