"""The variant's nn.Module built from its layer table: how each row runs, as built or overridden.

Also the paper's initialisation, and the vocabulary of the network's one walk (``Network._walk``):
a row's step as built (``as_built``) and ``Overrides``, which replace rows' steps without touching
the shared modules (the lab's experiments, the towers' placement on two devices).
Below ``network`` (which wraps a body for use), ``weights`` (which checks files against a body's
shapes), ``towers`` and ``lab``, so imports run one way: architecture -> body -> weights -> network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from .architecture import Architecture, Layer

Step = Callable[[Layer, "nn.Module | None", Any], Any]
"""What one row does to what flows into it: (the row, its module or None, the input) -> its output."""


def as_built(layer: Layer, module: nn.Module | None, h: torch.Tensor) -> torch.Tensor:
    """A row's step as the network is built: its module, in eval mode (dropout passes ``h`` on);
    a flatten row lays (N, C, H, W) out as (N, C·H·W), in Caffe's (C, H, W) order."""
    return torch.flatten(h, 1) if layer.kind == "flatten" else module(h)


@dataclass(frozen=True)
class Overrides:
    """Changes to the one walk: ``steps`` replace rows' steps by name (the others run
    ``as_built``); ``enter`` turns the input into what flows (two devices: a copy on each) and
    ``join`` turns what flows back into the tensor recorded and returned. ``note`` begins the
    sentence for an input the changed network cannot take ("With these changes, ")."""

    steps: Mapping[str, Step] = field(default_factory=dict)
    enter: Callable[[torch.Tensor], Any] | None = None
    join: Callable[[Any], torch.Tensor] | None = None
    note: str = ""


def local_response_norm(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """Torch's ``F.local_response_norm`` on (N, C, H, W), the same numbers (to float rounding) in
    about half the time: b = a / (k + α/n · Σ a²)^β, the sum over ``size`` neighbouring channels,
    zero-padded at the ends, as Caffe and torch place them.

    Torch sums the window with a 3-D average pooling, the slow part of a pass here (a third of a
    batched forward + backward pass of alexnet2012 on a 2-core CPU); shifted slices do it with
    ``size`` additions. Without a graph the sums are made in place.
    """
    if x.dim() != 4:
        return F.local_response_norm(x, size, alpha, beta, k)
    c = x.shape[1]
    sq = F.pad(x * x, (0, 0, 0, 0, size // 2, (size - 1) // 2))  # (N, C + size − 1, H, W)
    if torch.is_grad_enabled() and x.requires_grad:
        total = sq[:, :c]
        for d in range(1, size):
            total = total + sq[:, d:d + c]
        return x / (total * (alpha / size) + k) ** beta
    total = sq[:, :c].clone()
    for d in range(1, size):
        total += sq[:, d:d + c]
    return x / total.mul_(alpha / size).add_(k).pow_(beta)


class LocalResponseNorm(nn.LocalResponseNorm):
    """``nn.LocalResponseNorm`` (same constants, no parameters, the same state dict) computed by
    :func:`local_response_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)


def max_pool2d(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int],
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False) -> torch.Tensor:
    """``F.max_pool2d``, the same numbers and gradients; on the CPU pooled in channels-last order.

    Torch's CPU kernel for (N, C, H, W) max pooling was 5–10 times slower here than its kernel for
    the channels-last layout, even counting the two copies between the layouts (pool1 of one
    image: 1.16 ms → 0.19 ms; 32 occlusion crops at pool2: 5.6 ms → 0.8 ms). The result is
    returned in the usual layout. With a graph to build, the backward pass is torch's own in the
    usual layout, from the positions of the maxima the forward pass found (letting autograd go
    back through the copies instead was slower than not copying at all). Elsewhere (a GPU, other
    ranks) it is torch's own.
    """
    if x.device.type != "cpu" or x.dim() != 4:
        return F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    if torch.is_grad_enabled() and x.requires_grad:
        return _ChannelsLastMaxPool.apply(x, kernel, stride, padding, ceil_mode)
    y = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel, stride, padding, ceil_mode=ceil_mode)
    return y.contiguous()


class _ChannelsLastMaxPool(torch.autograd.Function):
    """Max pooling forward in channels-last order; backward by torch's (N, C, H, W) kernel from the
    maxima's positions (flat indices within each channel's plane, the same in either layout)."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode):
        y, where = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel, stride, padding,
                                ceil_mode=ceil_mode, return_indices=True)
        ctx.save_for_backward(x, where.contiguous())
        ctx.geometry = (kernel, stride, padding, ceil_mode)
        return y.contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, where = ctx.saved_tensors
        kernel, stride, padding, ceil_mode = ctx.geometry
        two = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        gx = torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, two(kernel), two(stride), two(padding), (1, 1), ceil_mode, where)
        return gx, None, None, None, None


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` (no state) computed by :func:`max_pool2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.return_indices or self.dilation not in (1, (1, 1)):
            return super().forward(x)
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


def _make(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    """One nn.Module for one table row, given the shape it receives (without the batch)."""
    c = in_shape[0]
    here = torch.get_default_device()  # the meta device while only shapes are wanted
    if layer.kind == "conv":  # left uninitialised: every caller fills it (paper_init or a state dict)
        return skip_init(nn.Conv2d, c, layer.out_channels, layer.kernel, layer.stride, layer.padding,
                         groups=layer.groups, device=here)
    if layer.kind == "linear":
        return skip_init(nn.Linear, c, layer.out_channels, device=here)
    if layer.kind == "relu":
        return nn.ReLU(inplace=False)  # in-place ReLU breaks hook-based attribution
    if layer.kind == "lrn":
        s = layer.lrn
        return LocalResponseNorm(s.size, alpha=s.alpha, beta=s.beta, k=s.k)
    if layer.kind == "maxpool":
        return MaxPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
    if layer.kind == "batchnorm":
        return nn.BatchNorm2d(c) if len(in_shape) == 3 else nn.BatchNorm1d(c)
    if layer.kind == "dropout":
        return nn.Dropout(layer.p)
    raise ValueError(f"no module for a {layer.kind} layer")


def build_body(arch: Architecture) -> nn.Module:
    """The variant's nn.Module, with the attribute names its table (and its weight files) use.

    Its convolutions and linear layers are left uninitialised (torch's own random initialisation
    of 61 million numbers took most of a build, only to be overwritten): the caller fills every one
    of them, with ``paper_init`` or a checked state dict (``load_network`` does)."""
    if arch.name == "torchvision":
        import torchvision

        here = torch.get_default_device()
        with torch.device("meta"):  # no initialisation; torchvision's AlexNet holds no buffers
            body = torchvision.models.alexnet(weights=None)
        body = body.to_empty(device=here)
        for m in body.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = False  # keeps every activation intact; the state dict is unchanged
        for i, m in enumerate(body.features):
            if type(m) is nn.MaxPool2d:  # the faster pooling; a pool has no state
                body.features[i] = MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)
        return body
    from .walkthrough import trace_shapes

    body = nn.Module()
    for layer, in_shape, _out, _exact in trace_shapes(arch, arch.input_size):
        if layer.module is not None:
            body.add_module(layer.module, _make(layer, in_shape))
    return body


def paper_init(body: nn.Module, arch: Architecture, seed: int = 0) -> None:
    """The paper's initialisation, from a fixed seed: weights ~ N(0, 0.01); biases 1 in conv2,
    conv4, conv5 and the hidden fc layers (to give ReLUs positive inputs early), 0 elsewhere."""
    gen = torch.Generator().manual_seed(seed)
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    with torch.no_grad():
        for layer in arch.layers:
            if layer.kind not in ("conv", "linear"):
                continue
            m = body.get_submodule(layer.module)
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.01)
            m.bias.fill_(1.0 if layer.name in ones else 0.0)
