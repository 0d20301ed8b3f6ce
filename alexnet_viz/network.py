"""The network loaded onto one device or two, and its one walk: every activation from one pass.

``Network`` wraps the variant's module (``net.body``) and walks the table in order, so
``net.activations(x)`` needs no hooks: one network instance can serve many sessions at once.
Everything that runs the network runs that one walk (``_walk``); what differs (the lab's
experiments, the towers on two devices) comes as ``body.Overrides`` of some rows' steps.
``load_network`` is the one way in; ``preprocess`` turns a photo into the input.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from torch import nn
from .architecture import PREPROCESSING, Architecture, get_architecture
from .body import Overrides, as_built, build_body, paper_init
from .towers import Placement
from . import weights as W

KERAS_17_FLOWERS = (
    "daffodil", "snowdrop", "lily of the valley", "bluebell", "crocus", "iris", "tiger lily",
    "tulip", "fritillary", "sunflower", "daisy", "colts' foot", "dandelion", "cowslip",
    "buttercup", "windflower", "pansy",
)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; anything else is honoured as given."""
    if isinstance(device, torch.device):
        return device
    if device != "auto":
        if isinstance(device, str) and "," in device:
            raise ValueError(f"{device!r} names two devices: alexnet_viz.load_network puts one tower on each.")
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"Unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps.") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"Device {device!r} was asked for, but this machine has no CUDA GPU; use auto or cpu.")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"Device {device!r} was asked for, but this machine has only "
                             f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0.")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"Device {device!r} was asked for, but Apple's MPS is not available here; use auto or cpu.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def full_float32() -> None:
    """Turn off TF32 for this process's CUDA convolutions and matrix products.

    On Ampere and later GPUs cuDNN's default (``torch.backends.cudnn.allow_tf32``) rounds a
    convolution's inputs to 10-bit mantissas, so activations and attribution maps drift from the
    CPU's, and a unit's value would carry TF32's rounding, which the float64 terms shown beside it
    do not. With it off, a GPU computes in full float32 like the CPU. A process-wide switch, so the
    library never flips it on import: the app and the command line call it once, since they own
    their process. No effect on the CPU.
    """
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


PREPROCESS_MODES = {
    "aspect": "shorter side resized to 256 keeping the aspect ratio, then the centre crop",
    "warp": "the whole image warped to 256×256 ignoring the aspect ratio by OpenCV's bilinear resize, as "
            "Caffe's reference pipeline does, then the centre crop",
}


def _check_mode(mode: str) -> None:
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"Unknown preprocessing mode {mode!r}: use {' or '.join(PREPROCESS_MODES)}.")


class Network(nn.Module):
    """An AlexNet variant in eval mode, with its table, preprocessing, labels and device.

    Parameters never require grad: attribution needs gradients with respect to the input only,
    and a network shared by many sessions must not accumulate ``.grad`` on its weights.
    """

    def __init__(self, arch: Architecture, body: nn.Module, weights: str = "untrained",
                 device: torch.device | None = None):
        super().__init__()
        self.arch = arch
        self.body = body
        self.weights = weights  # a human-readable description of where the weights came from
        self.prep = PREPROCESSING[arch.name]
        self.weights_error: str | None = None  # set when a fallback replaced the asked-for weights
        self._steps = [(layer, body.get_submodule(layer.module) if layer.module else None)
                       for layer in arch.layers]
        self.placement: Overrides | None = None  # where rows run, when not all on one device
        self.eval()
        self.requires_grad_(False)
        if device is not None:
            self.to(device)

    # -- where it runs ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def name(self) -> str:
        return self.arch.name

    @property
    def categories(self) -> list[str]:
        return class_names(self.arch.name)

    # -- the forward pass: one walk over the table ----------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, classes) logits
        return self._walk(x, None, None)

    def activations(self, x: torch.Tensor, upto: str | None = None) -> "OrderedDict[str, torch.Tensor]":
        """Every named intermediate, in forward order, from one forward pass (no hooks).

        Dropout (inactive in eval) and flatten steps are not listed. ``upto`` stops after that
        layer. ``activations(x)["fc8"]`` equals ``net(x)`` for the ImageNet variants.
        """
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._walk(x, out, upto)
        return out

    def walk(self, x: torch.Tensor, overrides: Overrides | None = None, *, keep: bool = False,
             upto: str | None = None) -> tuple[torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        """(output, every named activation if ``keep``) of the one walk with ``overrides``: rows
        whose steps they replace run those, the rest run as built; the shared modules are never
        changed. Given overrides replace a two-device network's placement (its rows then run on
        the first device, where the whole body lives)."""
        acts: OrderedDict[str, torch.Tensor] = OrderedDict()
        return self._walk(x, acts if keep else None, upto, overrides), acts

    def forward_from(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """The rest of the network after layer ``name``, from its output ``h``: (N, classes).

        With ``activations(x, upto=name)[name]`` this is ``net(x)``; a method that needs
        gradients only as far back as ``name`` (Grad-CAM) runs the first part without them.
        """
        return self._walk(h, None, None, after=name)

    def _check_input(self, x: torch.Tensor, upto: str | None) -> None:
        """A sentence instead of a deep torch error when x cannot go through this network."""
        c = self.arch.in_channels
        if x.dim() != 4 or x.shape[1] != c:
            raise ValueError(f"{self.arch.name} takes a batch of {c}-channel images shaped (N, {c}, H, W); "
                             f"this tensor is shaped {tuple(x.shape)}.")
        for side in sorted(set(x.shape[2:])):
            for row in _side_rows(self.arch, int(side)):
                if row.output_shape is None:  # a window larger than what reaches it
                    raise ValueError(f"{self.arch.name} cannot run on a {x.shape[2]}×{x.shape[3]} input: "
                                     f"{row.problem}")
                if row.name == upto:
                    break

    def _walk(self, x: torch.Tensor, out: dict | None, upto: str | None, overrides: Overrides | None = None,
              after: str | None = None) -> torch.Tensor:
        """The one walk over the layer table: the input checked once, each row's step (as built,
        or as ``overrides`` or this network's placement replace it), each named activation put in
        ``out``, stopping after ``upto``. ``after``: ``x`` is that layer's output; the rest runs."""
        names = self.arch.names()
        for name in (upto, after):
            if name is not None and name not in names:
                raise ValueError(f"{self.arch.name} has no layer named {name!r}; it has {', '.join(names)}.")
        o = self.placement if overrides is None else overrides
        steps = o.steps if o is not None else {}
        join = o.join if o is not None and o.join is not None else None
        if after is None:
            self._check_input(x, upto)
            h = o.enter(x) if o is not None and o.enter is not None else x
        else:
            h = x  # a layer's output: the checks ran on the way to it
        for layer, module in self._steps[names.index(after) + 1 if after else 0:]:
            if layer.kind == "flatten" and after is None:
                self._check_fc(x, h, join, o.note if o is not None else "")
            h = steps.get(layer.name, as_built)(layer, module, h)
            if out is not None and layer.kind not in ("dropout", "flatten"):
                out[layer.name] = h if join is None else join(h)
            if layer.name == upto:
                break
        return h if join is None else join(h)

    def _check_fc(self, x: torch.Tensor, h, join, note: str) -> None:
        """A sentence when what reaches the first fc layer is not what it was built for."""
        given = h.shape[1:].numel() if isinstance(h, torch.Tensor) else sum(p.shape[1:].numel() for p in h)
        if given != self._fc_inputs():
            shape = (h if join is None else join(h)).shape[1:]
            raise ValueError(
                f"{note}{self.arch.name} cannot run on a {x.shape[2]}×{x.shape[3]} input: its first fc layer "
                f"expects {self._fc_inputs()} inputs, but the last pooling layer gives "
                f"{' × '.join(map(str, shape))} = {given}; it was built for "
                f"{self.arch.input_size}×{self.arch.input_size} (the walkthrough shows why).")

    def _fc_inputs(self) -> int:
        for layer, module in self._steps:
            if layer.kind == "linear":
                return module.in_features
        raise AssertionError("every variant has a linear layer")

    # -- input -------------------------------------------------------------------------------
    def view(self, img, mode: str = "aspect") -> "PIL.Image.Image":  # noqa: F821
        """The RGB crop the network actually sees (see ``PREPROCESS_MODES``)."""
        return view_image(self.arch.name, img, mode)

    def preprocess(self, img, mode: str = "aspect") -> torch.Tensor:
        """A PIL image -> the (1, 3, crop, crop) float tensor the network expects, on its device.

        ``mode="aspect"`` (the default): shorter side to 256 keeping the aspect ratio, centre crop.
        ``mode="warp"``: Caffe's reference pipeline, with which bvlc_alexnet's 57.1% / 80.2% were
        measured: the whole image warped to 256×256 ignoring its aspect ratio by OpenCV's bilinear
        resize, then the centre crop (offset 14); Caffe subtracts a 256×256 mean image, approximated
        here by its channel means.
        """
        return preprocess_image(self.arch.name, img, mode).to(self.device)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, top: int = 5) -> list[tuple[int, str, float]]:
        """Top-``top`` (index, label, probability) for a batch of one."""
        if top < 1:
            raise ValueError(f"Asked for the top {top} classes; ask for at least 1.")
        if x.shape[0] != 1:
            raise ValueError(f"predict takes a batch of one image; this batch has {x.shape[0]}.")
        return self.top_classes(self(x)[0], top)

    def top_classes(self, logits: torch.Tensor, top: int = 5) -> list[tuple[int, str, float]]:
        """Top-``top`` (index, label, probability) from one image's logits, (classes,): what
        ``predict`` reports, for a caller that already ran the forward pass (``activations``)."""
        if top < 1:
            raise ValueError(f"Asked for the top {top} classes; ask for at least 1.")
        probs = torch.softmax(logits.detach(), dim=0)
        p, idx = probs.topk(min(top, probs.numel()))
        names = self.categories
        return [(int(i), names[int(i)], float(q)) for q, i in zip(p.cpu(), idx.cpu())]


def resize_image(model: str, img, mode: str = "aspect") -> "PIL.Image.Image":  # noqa: F821
    """The RGB image resized as ``model``'s preprocessing does before its crop(s): the shorter side
    to ``prep.resize`` ("aspect", torchvision's antialiased bilinear), or the whole image to
    ``prep.resize`` square ("warp", OpenCV's ``INTER_LINEAR`` without antialiasing, which Caffe's
    ``convert_imageset`` and ``caffe.io`` use)."""
    _check_mode(mode)
    img = img if img.mode == "RGB" else img.convert("RGB")
    side = PREPROCESSING[model].resize
    if mode == "warp":
        import cv2  # here: only warp needs OpenCV
        from PIL import Image

        # (H, W, 3) uint8; OpenCV treats the channels alike, so RGB stays RGB (Caffe's BGR is the same numbers)
        return Image.fromarray(cv2.resize(np.asarray(img), (side, side), interpolation=cv2.INTER_LINEAR))
    from torchvision.transforms import functional as TF  # here: torchvision takes seconds to import

    return TF.resize(img, side, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)  # an int: the shorter side


def view_image(model: str, img, mode: str = "aspect") -> "PIL.Image.Image":  # noqa: F821
    """``Network.view`` without a network: the centre crop of ``resize_image``."""
    from torchvision.transforms import functional as TF

    return TF.center_crop(resize_image(model, img, mode), PREPROCESSING[model].crop)


def preprocess_image(model: str, img, mode: str = "aspect") -> torch.Tensor:
    """``Network.preprocess`` without a network (so a worker that only decodes builds none):
    the (1, 3, crop, crop) float tensor on the CPU; ``normalize_pixels(image_pixels(...))``."""
    return normalize_pixels(model, image_pixels(model, img, mode), mode)


def image_pixels(model: str, img, mode: str = "aspect") -> torch.Tensor:
    """The first half of ``preprocess_image``: the crop the network sees (``view_image``) as its
    uint8 pixels, (1, crop, crop, 3), channels last as decoded. No torch arithmetic runs here, so
    a decoding thread can call it without waking torch's intra-op threads."""
    return torch.from_numpy(np.array(view_image(model, img, mode)))[None]  # (1, crop, crop, 3) uint8


def normalize_pixels(model: str, pixels: torch.Tensor, mode: str = "aspect") -> torch.Tensor:
    """The second half of ``preprocess_image``: (N, crop, crop, 3) uint8 pixels -> the
    (N, 3, crop, crop) float tensor the network expects, on ``pixels``' device. The same
    element-wise operations in the same order whatever N is, so a batch normalised at once equals
    its images preprocessed one by one, bit for bit (``build_index`` relies on that)."""
    _check_mode(mode)
    x = pixels.permute(0, 3, 1, 2).contiguous()  # (N, 3, crop, crop) uint8, laid out as pil_to_tensor does
    # torchvision "aspect" divides by 255, as AlexNet_Weights.transforms() does, bit for bit
    return PREPROCESSING[model].normalize(x, divide=model == "torchvision" and mode == "aspect")


@lru_cache(maxsize=64)  # bounded: the sides come from whatever tensors callers pass
def _side_rows(arch: Architecture, side: int) -> tuple:
    """The walkthrough of one side of the input, without the fc check (flatten checks that)."""
    from .walkthrough import walkthrough

    return tuple(walkthrough(arch, side, _check_fc=False))


def class_names(model: str) -> list[str]:
    """Class names in the network's output order (ImageNet's from torchvision's metadata)."""
    get_architecture(model)  # an unknown model is a sentence, not ImageNet's names
    if model == "keras-tutorial":
        return list(KERAS_17_FLOWERS)
    return list(_imagenet_names())


@lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...]:
    from torchvision.models import AlexNet_Weights

    return tuple(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])




class TwoDeviceNetwork(Network):
    """alexnet2012 with tower GPU 1 on ``devices[0]`` and tower GPU 2 on ``devices[1]``: the one
    walk with ``towers.Placement``'s overrides."""

    def __init__(self, net: Network, devices: tuple[torch.device, torch.device]):
        if max(layer.towers for layer in net.arch.layers) != 2:
            raise ValueError(f"{net.arch.name} runs as one tower, so there is nothing to put on a second device: "
                             "two devices need alexnet2012 (the paper's two towers).")
        super().__init__(net.arch, net.body, net.weights, devices[0])
        self.weights_error = net.weights_error
        self.devices = devices
        self._towers = Placement(self.arch, self.body, devices)
        self.placement = self._towers.overrides

    @property
    def tower2(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """GPU 2's half of every split layer, its own copy on the second device: (weight, bias)."""
        return self._towers.tower2

    def tower_weights(self, layer: str, tower: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of one tower's half of a split layer, on that tower's device."""
        return self._towers.tower_weights(layer, tower)


def place_towers(net: Network, devices: tuple[torch.device, torch.device]) -> TwoDeviceNetwork:
    """``net`` with its two towers on two devices (see the module's docstring)."""
    return TwoDeviceNetwork(net, devices)


def load_network(model: str = "alexnet2012", weights: str = "untrained", device: str | torch.device = "auto",
                 progress: Callable[[int, int | None], None] | None = None,
                 fallback_to_untrained: bool = False) -> Network:
    """A variant and its weights, on one device, or on two with one tower on each
    (``alexnet_viz.load_network``).

    device: ``"auto"``, ``"cpu"``, ``"cuda:0"``, ...; or two, ``"cuda:0,cuda:1"``: alexnet2012's
    tower GPU 1 on the first and GPU 2 on the second (a ``TwoDeviceNetwork``), as the paper ran it.
    weights: ``"untrained"`` (the paper's initialisation from a fixed seed), ``"pretrained"``
    (downloaded, verified and cached on first use), or a path to a weight file.
    progress(done_bytes, total_bytes_or_None) is called while a download runs.
    With ``fallback_to_untrained``, a weights error gives the untrained network instead, with
    the error's sentence in ``net.weights_error`` so the caller can tell the user.
    """
    arch = get_architecture(model)
    two = parse_devices(device)
    if two is not None and max(layer.towers for layer in arch.layers) != 2:
        raise ValueError(f"{arch.name} runs as one tower, so it cannot be split over {device}: two devices "
                         "need alexnet2012 (the paper's two towers).")
    dev = pick_device(device) if two is None else two[0]
    error = None
    try:  # weights first: a bad path is refused before 61 million parameters are allocated
        state, description = W.state_dict_for(arch.name, weights, progress=progress)
    except W.WeightsError as exc:
        if not fallback_to_untrained:
            raise
        state, description, error = None, "untrained", str(exc)
    body = build_body(arch)
    if state is None:
        paper_init(body, arch)
    else:
        body.load_state_dict(state)
    net = Network(arch, body, description, dev)
    net.weights_error = error
    return net if two is None else place_towers(net, two)
