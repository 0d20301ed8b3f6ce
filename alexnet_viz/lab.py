"""The paper lab: experiments that change one of the 2012 paper's choices and run the photo again.

Every experiment is the network's one walk (``net.walk``) with overrides that change only the
tensors flowing between the shared network's own modules: a knocked-out GPU
tower, LRN off or read another way (the paper's as printed, or Caffe's with k = 2), 2×2 pooling,
zeroed channels, dropout left on. The shared ``net`` is never modified (other sessions use it at
the same time), no hooks are attached, and nothing is copied: a knocked-out unit's output is set
to zero, which is exactly what zero weights and a zero bias would give it.

Paper sections: two GPUs §3.2, LRN §3.3, overlapping pooling §3.4, ten-crop testing §4.1,
dropout §4.2; ``EXPERIMENTS`` lists them for the page and the command line. The two towers'
bytes (``tower_bytes``) are arithmetic from the table: walkthrough.py. Not from the paper:
what-if painting (``painted_effect``) runs a crop painted over (painting.py reads and
composites the canvas's strokes) beside the photo's own.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .architecture import PAPER_LRN, Architecture, Layer
from .body import Overrides, Step, as_built, local_response_norm, max_pool2d
from .walkthrough import split_layers

TOWER_OFF = {"gpu1": 0, "gpu2": 1}  # tower_off -> index into arch.tower_names ("GPU 1", "GPU 2")
LRN_CHOICES = {
    "caffe": "as built, Caffe's bvlc_alexnet: k = 1, n = 5, α = 10⁻⁴ divided by n (2·10⁻⁵ per term), β = 0.75",
    "paper": "§3.3 as printed: k = 2, n = 5, α = 10⁻⁴ per term (not divided by n), β = 0.75",
    "k2": "Caffe's with k = 2: k = 2, n = 5, α = 10⁻⁴ divided by n (2·10⁻⁵ per term), β = 0.75",
    "off": "no normalisation (identity)",
}
"""The ways ``ablate(..., lrn=...)`` can normalise, each name -> what it computes. "caffe" changes
nothing (alexnet2012 is built with Caffe's LRN); until this table "paper" meant what is now "k2"."""
POOL_CHOICES = ("overlapping", "non-overlapping")

Dropout = Callable[[Layer, torch.Tensor], torch.Tensor]


# -- what to change, checked once, with sentences ---------------------------------------------------
def knocked_out(arch: Architecture, tower_off: str | None, from_layer: str = "conv1") -> dict[str, range]:
    """{layer: the output channels to zero} for knocking out one tower from ``from_layer`` on.

    ``tower_off`` is ``"gpu1"`` or ``"gpu2"`` (the table's "GPU 1" / "GPU 2"); a one-tower
    network has no tower to knock out, which is a ValueError with a sentence.
    """
    if tower_off is None:
        return {}
    if tower_off not in TOWER_OFF:
        raise ValueError(f"tower_off must be gpu1 or gpu2 (or None), not {tower_off!r}.")
    split = split_layers(arch)
    if not split:
        raise ValueError(f"{arch.name} runs as one tower: no layer is split over two GPUs, so there is no "
                         f"{tower_off} to knock out. Choose alexnet2012 (the paper's two towers).")
    if from_layer not in split:
        raise ValueError(f"from_layer must be a layer split over the two GPUs ({', '.join(split)}), "
                         f"not {from_layer!r}.")
    name = arch.tower_names[TOWER_OFF[tower_off]]
    return {layer: next(t.channels for t in arch.towers(layer) if t.name == name)
            for layer in split[split.index(from_layer):]}


def _zero_plan(arch: Architecture, zero_channels: Mapping[str, Sequence[int]] | None,
               viewable: Sequence[str]) -> dict[str, list[int]]:
    plan: dict[str, list[int]] = {}
    for layer, channels in (zero_channels or {}).items():
        if layer not in viewable:
            raise ValueError(f"zero_channels names {layer!r}; {arch.name}'s activations are "
                             f"{', '.join(viewable)}.")
        width = arch.towers(layer)[-1].channels.stop
        chans = sorted({int(c) for c in channels})
        bad = [c for c in chans if not 0 <= c < width]
        if bad:
            raise ValueError(f"{layer} has channels 0 to {width - 1}; there is no channel {bad[0]}.")
        plan[layer] = chans
    return plan


def _check(arch: Architecture, lrn: str, pool: str) -> None:
    if lrn not in LRN_CHOICES:
        raise ValueError(f"lrn must be one of {', '.join(LRN_CHOICES)}, not {lrn!r}.")
    if pool not in POOL_CHOICES:
        raise ValueError(f"pool must be one of {', '.join(POOL_CHOICES)}, not {pool!r}.")
    if lrn != "caffe" and not any(layer.kind == "lrn" for layer in arch.layers):
        raise ValueError(f"{arch.name} has no local response normalisation to turn {lrn}: "
                         "choose alexnet2012, which has it after conv1 and conv2.")
    if pool != "overlapping" and not any(_overlapping(layer) for layer in arch.layers):
        raise ValueError(f"{arch.name} has no overlapping pooling to replace.")


def _overlapping(layer: Layer) -> bool:
    return layer.kind == "maxpool" and layer.kernel > layer.stride


# -- the changes, as overrides on the network's one walk --------------------------------------------
def _overrides(arch: Architecture, *, knock: Mapping[str, range] = {}, zero: Mapping[str, list[int]] = {},
               lrn: str = "caffe", pool: str = "overlapping", dropout: Dropout | None = None,
               weight_scale: Mapping[str, float] = {}) -> Overrides:
    """The changes asked for, as the rows' steps that replace the built ones on ``net.walk``."""
    steps: dict[str, Step] = {}
    for layer in arch.layers:
        step = _changed_step(layer, lrn, pool, dropout, weight_scale)
        zeroed = [list(plan[layer.name]) for plan in (knock, zero) if layer.name in plan]
        if zeroed:
            step = _then_zero(step or as_built, zeroed)
        if step is not None:
            steps[layer.name] = step
    return Overrides(steps, note="With these changes, ")


def _changed_step(layer: Layer, lrn: str, pool: str, dropout: Dropout | None,
                  weight_scale: Mapping[str, float]) -> Step | None:
    """What one row runs instead of its module, or None where it runs as built."""
    if layer.kind == "lrn" and lrn != "caffe":
        if lrn == "off":
            return lambda layer, module, h: h
        s = PAPER_LRN if lrn == "paper" else layer.lrn  # "k2": the network's own n, α, β with k = 2
        return lambda layer, module, h: local_response_norm(h, s.size, s.alpha, s.beta, PAPER_LRN.k)
    if pool == "non-overlapping" and _overlapping(layer):
        return lambda layer, module, h: max_pool2d(h, 2, 2)  # floor rounding: 55 → 27 → 13 → 6, as §3.4 says
    if layer.kind == "dropout":  # inactive at test time unless a rule is given
        return (lambda layer, module, h: dropout(layer, h)) if dropout is not None else None
    if layer.name in weight_scale:  # a private product: the module's weight is untouched
        scale = weight_scale[layer.name]
        return lambda layer, module, h: F.linear(h, module.weight * scale, module.bias)
    return None


def _then_zero(step: Step, plans: list[list[int]]) -> Step:
    def zeroing(layer: Layer, module, h: torch.Tensor) -> torch.Tensor:
        h = step(layer, module, h)
        for channels in plans:
            h = h.clone()
            h[:, channels] = 0  # as zero weights and a zero bias would give
        return h

    return zeroing


def _walk(net, x: torch.Tensor, *, keep: bool = False, **changes) -> tuple[torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
    """(output, activations if ``keep``): the network's one walk with these changes."""
    return net.walk(x, _overrides(net.arch, **changes), keep=keep)


def _plan(net, tower_off, from_layer, lrn, pool, zero_channels) -> dict:
    arch = net.arch
    _check(arch, lrn, pool)
    viewable = [layer.name for layer in arch.layers if layer.kind not in ("flatten", "dropout")]
    return dict(knock=knocked_out(arch, tower_off, from_layer),
                zero=_zero_plan(arch, zero_channels, viewable), lrn=lrn, pool=pool)


@torch.no_grad()
def ablate(net, x: torch.Tensor, tower_off: str | None = None, from_layer: str = "conv1", lrn: str = "caffe",
           pool: str = "overlapping", zero_channels: Mapping[str, Sequence[int]] | None = None) -> torch.Tensor:
    """(N, classes) logits of ``net`` on ``x`` with one or more of the paper's choices changed.

    tower_off: None | "gpu1" | "gpu2" — every unit of that tower in conv1–conv5, fc6 and fc7
    from ``from_layer`` on outputs zero (§3.2). lrn: one of ``LRN_CHOICES`` — "caffe" (as built) |
    "paper" (§3.3 as printed: k = 2, α = 10⁻⁴ per term) | "k2" (Caffe's α/n with k = 2) | "off"
    (identity). pool: "overlapping"
    (3×3/2, as built) | "non-overlapping" (2×2/2, floor rounding; §3.4). zero_channels:
    {layer: [channels]} zeroes those channels of that activation. ``net`` is never modified.
    """
    return _walk(net, x, **_plan(net, tower_off, from_layer, lrn, pool, zero_channels))[0]


@torch.no_grad()
def ablate_activations(net, x: torch.Tensor, tower_off: str | None = None, from_layer: str = "conv1",
                       lrn: str = "caffe", pool: str = "overlapping",
                       zero_channels: Mapping[str, Sequence[int]] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """Every named activation of the changed network, as ``net.activations`` lists them."""
    return _walk(net, x, keep=True, **_plan(net, tower_off, from_layer, lrn, pool, zero_channels))[1]


# -- before and after, for the page and the command line --------------------------------------------
@dataclass(frozen=True)
class Effect:
    """The softmax of one image before and after a change, and what changed."""

    before: np.ndarray  # (classes,)
    after: np.ndarray  # (classes,)
    categories: list[str]
    layer_change: dict[str, float] = field(default_factory=dict)  # ‖after − before‖ / ‖before‖ per activation
    maps: dict[str, tuple[int, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # per map layer: (the channel that changed most, its (H, W) before, after)

    def top(self, which: str = "after", k: int = 5) -> list[tuple[int, str, float]]:
        """[(index, label, probability)] of the ``k`` most probable classes before or after."""
        p = self.before if which == "before" else self.after
        idx = np.argsort(-p, kind="stable")[:k]
        return [(int(i), self.categories[int(i)], float(p[i])) for i in idx]

    @property
    def top_class(self) -> int:
        """The class the unchanged network ranks first."""
        return int(np.argmax(self.before))

    def change(self, cls: int | None = None) -> float:
        """after − before for class ``cls`` (default: the unchanged network's top class)."""
        cls = self.top_class if cls is None else cls
        return float(self.after[cls] - self.before[cls])


def _probs(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.float(), dim=1)[0].cpu().numpy()


@torch.no_grad()
def ablation_effect(net, x: torch.Tensor, **change) -> Effect:
    """``ablate(net, x, **change)`` beside the unchanged network: softmax probabilities, how much
    each activation changed, and each map layer's most changed channel (for a batch of one)."""
    return _compare(net, net.activations(x), ablate_activations(net, x, **change))


def _compare(net, before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor]) -> Effect:
    """The Effect of two batches of one: softmax of the last activation, each activation's
    relative change, and each map layer's most changed channel."""
    layer_change, maps = {}, {}
    for name, b in before.items():
        a = after[name]
        if a.shape != b.shape:  # e.g. 2×2 pooling at an input size where the maps differ
            continue
        d = a - b  # one difference per activation, for both numbers below
        norm = float(b.norm())
        layer_change[name] = float(d.norm()) / norm if norm > 0 else float(a.norm() > 0)
        if b.dim() == 4:
            c = int(d[0].flatten(1).norm(dim=1).argmax())
            maps[name] = (c, b[0, c].cpu().numpy(), a[0, c].cpu().numpy())
    last = next(reversed(before))
    return Effect(_probs(before[last]), _probs(after[last]), net.categories, layer_change, maps)


# -- ten-crop testing (§4.1) ---------------------------------------------------------------------
CROP_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right", "centre",
              "top-left, mirrored", "top-right, mirrored", "bottom-left, mirrored", "bottom-right, mirrored",
              "centre, mirrored")


@dataclass(frozen=True)
class TenCrop:
    """§4.1's test: five crops of the central square of the resized image and their mirrors, softmax averaged.

    ``crops`` are in ``CROP_NAMES`` order: the four corners of the square, the centre (the crop
    ``net.view`` gives), then the horizontal mirror of each of those five in the same order.
    ``boxes`` are where each of the five lies in the resized image, (left, top, right, bottom);
    ``square`` is the central ``resize`` × ``resize`` square they come from; ``resized_size`` is
    the resized image's (width, height).
    """

    probs: np.ndarray  # (classes,): the mean of the ten softmaxes
    crops: list  # 10 PIL images, crop × crop
    crop_probs: np.ndarray  # (10, classes)
    names: tuple[str, ...] = CROP_NAMES
    boxes: tuple = ()  # 5 × (left, top, right, bottom) in the resized image
    square: tuple = ()  # (left, top, right, bottom) of the central square
    resized_size: tuple = ()  # (width, height)

    @property
    def centre_probs(self) -> np.ndarray:
        return self.crop_probs[4]


def resized(net, img, mode: str = "aspect"):
    """The image resized as ``net.preprocess(img, mode)`` does before the centre crop."""
    from .network import resize_image

    return resize_image(net.name, img, mode)


def crop_tensor(net, crops) -> torch.Tensor:
    """Crops already at the network's input size -> the (N, 3, crop, crop) normalised batch."""
    from torchvision.transforms import functional as TF

    return net.prep.normalize(torch.stack([TF.pil_to_tensor(c) for c in crops])).to(net.device)  # (N, 3, crop, crop)


def _centred(outer: int, inner: int) -> int:
    return int(round((outer - inner) / 2.0))  # torchvision's center_crop rounding, which net.view uses


def ten_crop_boxes(size: tuple[int, int], side: int, crop: int) -> tuple[tuple, list[tuple]]:
    """(square, five boxes) for a resized image of ``size`` (width, height), as §2 and §4.1 describe:
    the central ``side`` × ``side`` square, then its four corner ``crop`` × ``crop`` patches; the centre
    patch is the image's centre crop (``net.view``'s), which lies within a pixel of the square's centre
    (where rounding puts them apart). Boxes are (left, top, right, bottom)."""
    w, h = size
    side = min(side, w, h)
    x0, y0 = _centred(w, side), _centred(h, side)
    square = (x0, y0, x0 + side, y0 + side)
    far = side - crop
    corners = [(x0, y0), (x0 + far, y0), (x0, y0 + far), (x0 + far, y0 + far)]
    cx, cy = _centred(w, crop), _centred(h, crop)
    return square, [(x, y, x + crop, y + crop) for x, y in corners + [(cx, cy)]]


def ten_crops(net, img, mode: str = "aspect") -> list:
    """The ten crops of §4.1 (``CROP_NAMES`` order) of the image resized as ``mode`` says."""
    return _ten_crops(net, img, mode)[0]


def _ten_crops(net, img, mode: str) -> tuple[list, tuple, list[tuple], tuple]:
    from PIL import ImageOps

    big = resized(net, img, mode)
    square, boxes = ten_crop_boxes(big.size, net.prep.resize, net.prep.crop)
    five = [big.crop(box) for box in boxes]
    return five + [ImageOps.mirror(im) for im in five], square, boxes, big.size


@torch.no_grad()
def ten_crop(net, img, mode: str = "aspect") -> TenCrop:
    """The ten crops of §4.1 and the softmax averaged over them: one batched forward of 10."""
    crops, square, boxes, size = _ten_crops(net, img, mode)
    probs = torch.softmax(net(crop_tensor(net, crops)).float(), dim=1).cpu().numpy()  # (10, classes)
    return TenCrop(probs.mean(axis=0), crops, probs, boxes=tuple(boxes), square=square, resized_size=size)


# -- what-if painting (the strokes come from painting.py) -------------------------------------------
@torch.no_grad()
def painted_effect(net, view, painted, before: Mapping[str, "np.ndarray | torch.Tensor"] | None = None) -> Effect:
    """The crop ``view`` beside the same crop painted over (``painting.paint_over``), both already at the
    network's input size (no second resize or crop): an Effect as the other experiments give,
    with the activations' changes.

    ``before``: the unpainted crop's activations if they are already at hand (``net.activations``
    of it, or the same with the batch dropped, as the app keeps them); then only the painted crop
    runs. Without it, the two crops run as one batch of two.
    """
    c = net.prep.crop
    for name, im in (("crop", view), ("painted crop", painted)):
        if im.size != (c, c):
            raise ValueError(f"{net.arch.name} reads {c}×{c} crops; the {name} is {im.size[0]}×{im.size[1]}.")
    if before is None:
        acts = net.activations(crop_tensor(net, [view.convert("RGB"), painted.convert("RGB")]))  # (2, ...) each
        return _compare(net, {k: v[:1] for k, v in acts.items()}, {k: v[1:] for k, v in acts.items()})
    after = net.activations(crop_tensor(net, [painted.convert("RGB")]))  # (1, ...) each
    known = {}
    for name, a in after.items():
        b = before.get(name)
        if b is not None and not isinstance(b, torch.Tensor):
            b = torch.from_numpy(np.array(b))  # a copy: the app's arrays are read-only
        if b is not None and b.shape == a.shape[1:]:
            b = b.unsqueeze(0)  # the batch of one, dropped
        if b is None or b.shape != a.shape:
            raise ValueError(f"The unpainted activations given are not {net.arch.name}'s for a {c}×{c} crop "
                             f"({name} is {None if b is None else tuple(b.shape)}, not {tuple(a.shape)}).")
        known[name] = b.to(a.device, a.dtype)
    return _compare(net, known, after)


# -- dropout (§4.2) ------------------------------------------------------------------------------
def _dropout_masks(p: float, n: int, seed: int, device) -> Dropout:
    """Dropout as torch trains with it (keep with 1 − p, scale by 1/(1 − p)), reproducibly: at
    the first dropout the batch of one becomes ``n`` copies, each with its own masks."""
    gen = torch.Generator().manual_seed(seed)

    def drop(layer: Layer, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and n > 1:
            x = x.expand(n, *x.shape[1:])
        keep = (torch.rand(x.shape, generator=gen) >= p).to(device=x.device, dtype=x.dtype)
        return x * keep / (1 - p)

    return drop


@torch.no_grad()
def mc_dropout(net, x: torch.Tensor, n: int = 20, p: float = 0.5, seed: int = 0) -> np.ndarray:
    """(n, classes) softmax of ``n`` passes with dropout left on where the table has it (§4.2).

    The conv layers run once; the fc layers run on ``n`` copies, each with its own masks.
    """
    if n < 1:
        raise ValueError(f"Monte-Carlo dropout needs at least one pass, not {n}.")
    if not 0 <= p < 1:
        raise ValueError(f"The dropout probability must be at least 0 and below 1, not {p}.")
    if x.shape[0] != 1:
        raise ValueError(f"mc_dropout takes a batch of one image; this batch has {x.shape[0]}.")
    if not any(layer.kind == "dropout" for layer in net.arch.layers):
        raise ValueError(f"{net.arch.name} has no dropout layers.")
    out, _ = _walk(net, x, dropout=_dropout_masks(p, n, seed, x.device))
    return torch.softmax(out.float(), dim=1).cpu().numpy()


@dataclass(frozen=True)
class DropoutScaling:
    """§4.2's test-time rule beside torch's, on one image.

    The paper trains with plain masks (a unit is kept or zeroed) and multiplies outputs by
    1 − p = 0.5 at test time; torch scales the kept outputs by 1/(1 − p) while training and does
    nothing at test time. A network trained the paper's way would have learned the weights after
    each dropout 1/(1 − p) times torch's (the same function during training), so its test-time
    logits are ``paper``; ``torch`` are the network's own. They agree up to rounding.
    ``train_mean`` is the mean over ``n`` training-mode passes (torch's masks) of the layer that
    reads the first dropout, beside ``test`` (that layer at test time): equal in expectation.
    """

    torch: np.ndarray  # (classes,) logits, dropout off
    paper: np.ndarray  # (classes,) logits, paper's weights × 0.5 at test time
    layer: str  # the layer that reads the first dropout (fc7 in alexnet2012)
    train_mean: np.ndarray  # (units,) its mean over n training-mode passes
    test: np.ndarray  # (units,) its test-time value
    n: int


@torch.no_grad()
def dropout_scaling(net, x: torch.Tensor, n: int = 200, seed: int = 0) -> DropoutScaling:
    """The paper's "multiply by 0.5" and torch's inverted dropout, computed side by side."""
    arch = net.arch
    drops = [i for i, layer in enumerate(arch.layers) if layer.kind == "dropout"]
    if not drops:
        raise ValueError(f"{arch.name} has no dropout layers.")
    keep = {arch.layers[i].name: 1 - arch.layers[i].p for i in drops}  # 1 − p per dropout
    readers = {next(r for r in arch.layers[i:] if r.kind == "linear").name: 1 / keep[arch.layers[i].name]
               for i in drops}  # the layer after each dropout, and how the paper's weights compare

    def paper_rule(layer: Layer, h: torch.Tensor) -> torch.Tensor:
        return h * keep[layer.name]  # the paper's test time: every unit, output × (1 − p)

    paper, _ = _walk(net, x, dropout=paper_rule, weight_scale=readers)
    first = arch.layers[drops[0]].name
    masks = _dropout_masks(1 - keep[first], n, seed, x.device)

    def first_only(layer: Layer, h: torch.Tensor) -> torch.Tensor:
        return masks(layer, h) if layer.name == first else h

    reader = next(iter(readers))
    _, trained = _walk(net, x, dropout=first_only, keep=True)
    test = net.activations(x, upto=reader)[reader][0]
    return DropoutScaling(net(x)[0].cpu().numpy(), paper[0].cpu().numpy(), reader,
                          trained[reader].mean(dim=0).cpu().numpy(), test.cpu().numpy(), n)


# -- the registry: one entry per experiment -------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One keyword of ``ablate``: its command-line flag, the values it takes (value -> what it
    does; empty where any layer name or channel list goes), and the value that changes nothing."""

    keyword: str  # ablate's keyword, e.g. "lrn"
    flag: str  # the command line's, e.g. "--lrn"
    choices: Mapping[str, str]
    unchanged: object
    help: str
    metavar: str | None = None
    repeatable: bool = False  # a flag given once per item (--zero conv5:3 --zero conv4:1)


@dataclass(frozen=True)
class Experiment:
    """One of the lab's experiments: what the page lists and claims, and the library call it makes.

    ``settings`` are the ``ablate`` keywords it changes (the command line's ``ablate`` flags and
    the page's controls come from them); an experiment without settings has its own call in
    ``call`` (``ten_crop``, ``mc_dropout`` and ``dropout_scaling``, ``painted_effect``)."""

    name: str
    title: str  # with the paper's section, e.g. "Local response normalisation (§3.3)"
    claim: str  # what the paper claimed, or what the experiment is when it is not the paper's
    settings: tuple[Setting, ...] = ()
    call: Callable | None = None


ABLATE_SETTINGS = {
    "tower_off": Setting("tower_off", "--tower-off", {"gpu1": "GPU 1", "gpu2": "GPU 2"}, None,
                         "knock out every unit of one GPU tower in conv1-conv5, fc6, fc7 (paper §3.2)"),
    "from_layer": Setting("from_layer", "--from-layer", {}, "conv1",
                          "knock the tower out from this layer on (default conv1)"),
    "lrn": Setting("lrn", "--lrn", LRN_CHOICES, "caffe",
                   "local response normalisation (§3.3): caffe (as built: k=1, alpha/n=2e-5 per term), "
                   "off, paper (as printed: k=2, alpha=1e-4 per term, not divided by n), "
                   "or k2 (Caffe's alpha/n with k=2)"),
    "pool": Setting("pool", "--pool", dict(zip(POOL_CHOICES, ("3×3 windows at stride 2, as built",
                                                              "2×2 windows at stride 2"))), "overlapping",
                    "3×3/2 pooling as trained, or 2×2/2 (§3.4)"),
    "zero_channels": Setting("zero_channels", "--zero", {}, {},
                             "zero channels of an activation, e.g. conv5:3,17,40 (repeatable)",
                             metavar="LAYER:CHANNELS", repeatable=True),
}
"""``ablate``'s keywords, in the order the command line lists its flags."""

_S = ABLATE_SETTINGS
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("towers", "Two GPUs (§3.2)",
               "The paper claimed: spreading the kernels over two GTX 580s (3 GB each), which talk only in "
               "conv3 and the fully connected layers, cut top-1 / top-5 error by 1.7% / 1.2% against a net "
               "with half as many kernels in each conv layer on one GPU.",
               (_S["tower_off"], _S["from_layer"]), ablation_effect),
    Experiment("lrn", "Local response normalisation (§3.3)",
               "The paper claimed: local response normalisation (k = 2, n = 5, α = 10⁻⁴, β = 0.75, after the "
               "ReLUs of conv1 and conv2) cut top-1 / top-5 error by 1.4% / 1.2%.",
               (_S["lrn"],), ablation_effect),
    Experiment("pool", "Overlapping pooling (§3.4)",
               "The paper claimed: overlapping pooling (3×3 windows at stride 2) cut top-1 / top-5 error by "
               "0.4% / 0.3% against non-overlapping 2×2 windows at stride 2, which produce output of "
               "equivalent dimensions.",
               (_S["pool"],), ablation_effect),
    Experiment("tencrop", "Ten-crop testing (§4.1)",
               "The paper claimed: at test time, averaging the softmax over ten patches — the four corners, "
               "the centre and their horizontal reflections — predicts better than one patch.",
               call=ten_crop),
    Experiment("dropout", "Dropout (§4.2)",
               "The paper claimed: dropout (p = 0.5 in the first two fully connected layers) stops the "
               "substantial overfitting; at test time it uses all the neurons and multiplies their "
               "outputs by 0.5.",
               call=mc_dropout),
    Experiment("knockout", "Channel knockout",
               "The paper reports (§7, Discussion) that removing any of the middle layers costs about 2% "
               "top-1; here you remove single channels of one layer instead.",
               (_S["zero_channels"],), ablation_effect),
    Experiment("paint", "What-if painting",
               "Not one of the paper's experiments: paint over part of the crop the network sees and its top-5 "
               "is recomputed as soon as you lift the pen. Covering what a class depends on (a cat's face, say) "
               "usually lowers it most: the idea behind occlusion maps (Zeiler & Fergus, 2014), which "
               "“Why did it say that?” computes for every patch.",
               call=painted_effect),
)}
"""The lab's experiments in the page's order: name -> Experiment."""
