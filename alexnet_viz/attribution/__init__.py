"""One registry of attribution methods behind one signature; each method is its own file.

``attribute(net, x, method, target)`` gives an (H, W) map; ``explain(...)`` gives the same map
with the raw (C, H, W) attribution and the extras a page shows (integrated gradients'
convergence delta, Grad-CAM's map at layer resolution, the scores). ``sanity_check`` runs
Adebayo et al.'s (2018) cascading randomisation on a private copy of the network.

Isolation. Captum's hook-based methods (guided backprop, deconvolution, guided Grad-CAM)
attach hooks to every ReLU or to a layer while they run; on a network shared by many sessions
that would change other sessions' gradients. So those methods run on a private
*structural copy* of the network (the others, Grad-CAM included, attach nothing and only read it): new module objects (with their own, empty hook dicts) whose
parameter and buffer tensors are the very same tensors as the shared network's. Making one
costs a fraction of a millisecond and no memory for weights; the shared network is only ever
read. Parameters never require grad; gradients are taken with respect to the input only.
"""
from __future__ import annotations

import copy
import itertools
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..network import Network
from . import (deconvolution, grad_cam, guided_backprop, guided_grad_cam, input_x_gradient, integrated_gradients,
               occlusion, saliency, smoothgrad)
from .occlusion import occlusion_windows
from .registry import Method, Param

Progress = Callable[[int, int], None]  # progress(done, total)


_baseline, _grad_cam = integrated_gradients.baseline, grad_cam.run  # the names benchmarks/ use

_CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")  # every variant has these five
_CAM_LAYERS = _CONV_LAYERS + ("relu1", "relu2", "relu3", "relu4", "relu5")  # ... and their ReLUs
# Selvaraju et al. (and Caffe, whose conv5 blob is rectified in place) use the rectified maps.
_LAYER = Param("layer", "choice", "relu5", choices=_CAM_LAYERS,
               help="The layer whose activations and gradients make the map: a conv layer, or the "
                    "same layer after its ReLU (relu5, the default, as Selvaraju et al. use).")

ATTRIBUTION_METHODS: dict[str, Method] = {m.name: m for m in (
    Method("saliency", "Saliency (vanilla gradient)",
           "The gradient of the target score with respect to each input pixel: how much a tiny "
           "change of that pixel would move the score.",
           reference="Simonyan, Vedaldi & Zisserman 2014", units="gradient (score per input unit)",
           run=saliency.run),
    Method("integrated_gradients", "Integrated gradients",
           "Gradients averaged along a straight path from a baseline image to the input, times "
           "(input − baseline). The attributions add up to score(input) − score(baseline); the "
           "path integral is taken to a stated accuracy (an adaptive trapezoid rule: the pieces of "
           "the path whose error is largest are halved until the sum is close enough), and the "
           "convergence delta says how far the sum still is.",
           (Param("steps", "int", 16, 2, 512,
                  help="Equal pieces of the path in the first rule (steps + 1 points, one batch)."),
            Param("tolerance", "float", 0.01, 0.0, 1.0,
                  help="Completeness error to reach, as a fraction of |score(input) − score(baseline)|; "
                       "0 takes exactly steps + 1 points, a fixed trapezoid rule."),
            Param("max_steps", "int", 128, 2, 512,
                  help="At most this many gradient evaluations; the result says when it stopped there."),
            Param("baseline", "choice", "black", choices=("black", "blurred", "mean"),
                  help="black: an all-black image; blurred: the input Gaussian-blurred; "
                       "mean: the dataset's mean colour (zeros after normalisation)."),
            Param("blur_sigma", "float", 10.0, 0.5, 50.0, when=("baseline", "blurred"),
                  help="Blur of the 'blurred' baseline, in pixels.")),
           cost="steps + 1 forward + backward passes (in one batch), then batches of 8 more where the "
                "tolerance needs them, up to max_steps", sign="signed",
           reference="Sundararajan, Taly & Yan 2017", units="score (contribution to the target score)",
           run=integrated_gradients.run,
           count=integrated_gradients.count),
    Method("smoothgrad", "SmoothGrad",
           "Saliency averaged over noisy copies of the input, which removes much of the "
           "gradient's speckle. Each run draws fresh noise.",
           (Param("noise", "float", 0.15, 0.0, 1.0,
                  help="Noise standard deviation as a fraction of the input's value range."),
            Param("samples", "int", 16, 1, 256, help="Noisy copies averaged.")),
           cost="samples forward + backward passes (in batches of 8)",
           reference="Smilkov et al. 2017", units="gradient (score per input unit)", run=smoothgrad.run,
           count=smoothgrad.count),
    Method("input_x_gradient", "Input × gradient",
           "The gradient times the input: a first-order estimate of each pixel's contribution "
           "relative to an input of zeros (after normalisation, the dataset mean).",
           sign="signed", reference="Shrikumar et al. 2016", units="score (contribution to the target score)",
           run=input_x_gradient.run),
    Method("guided_backprop", "Guided backpropagation",
           "The gradient with negative gradients stopped at every ReLU on the way back: sharp, "
           "image-like maps that are known to depend little on the network's higher layers.",
           uses_hooks=True, sign="positive", reference="Springenberg et al. 2015", run=guided_backprop.run),
    Method("deconvolution", "Deconvolution",
           "Zeiler & Fergus's deconvnet: the backward pass with ReLU applied to the gradient "
           "itself at every ReLU, ignoring which units were active.",
           uses_hooks=True, sign="positive", reference="Zeiler & Fergus 2014", run=deconvolution.run),
    Method("grad_cam", "Grad-CAM",
           "A layer's activations weighted by the spatial mean of their gradients, summed over "
           "channels, and placed on the input with each unit at its receptive field's centre (as the "
           "Feature maps page places a channel). Coarse; the positive part is the classic Grad-CAM.",
           (_LAYER,), sign="positive", reference="Selvaraju et al. 2017", run=grad_cam.run),
    Method("guided_grad_cam", "Guided Grad-CAM",
           "Guided backpropagation multiplied by the (ReLU'd) Grad-CAM map: fine detail, "
           "restricted to where Grad-CAM points.",
           (_LAYER,), cost="2 forward + 2 backward passes", uses_hooks=True, sign="positive",
           reference="Selvaraju et al. 2017", run=guided_grad_cam.run, count=lambda p, size: 2),
    Method("occlusion", "Occlusion",
           "Slide a grey (dataset-mean) square over the image and record how much the target "
           "score drops: slow, but needs no gradients. Exact mode gives Captum's Occlusion map, "
           "computed by incremental inference (only the region each square changes is "
           "recomputed); approximate mode computes every other square and only approximates "
           "that map.",
           (Param("window", "int", 31, 3, 227, help="Side of the occluding square, in pixels."),
            Param("stride", "int", 8, 1, 227,
                  help="Pixels between window positions; at most the window."),
            Param("mode", "choice", "exact", choices=("exact", "approximate"),
                  help="exact: every square position, the same map as Captum's Occlusion. "
                       "approximate (NOT the exact map): every other position, in a chessboard "
                       "pattern, and each position between them the mean of its four computed "
                       "neighbours (three at an edge, two in a corner).")),
           cost="(⌈(side − window) / stride⌉ + 1)² squares, each recomputing only the region it "
                "changes (in batches of 32); approximate: half of the squares",
           sign="signed", reference="Zeiler & Fergus 2014", units="score (contribution to the target score)",
           run=occlusion.run, check=occlusion.check,
           count=occlusion.count),
)}


def get_method(name: str) -> Method:
    try:
        return ATTRIBUTION_METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown attribution method {name!r}: choose one of "
                         f"{', '.join(ATTRIBUTION_METHODS)}.") from None


# -- targets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Contrast:
    """A contrast target, "why ``a`` rather than ``b``": attributes logit_a − logit_b."""

    a: int
    b: int


Target = int | Contrast | tuple[int, int] | None


def resolve_target(net: Network, x: torch.Tensor, target: Target) -> int | Contrast:
    """``None`` -> the top prediction; a pair -> a Contrast; every index checked."""
    n = net.arch.num_classes
    if target is None:
        with torch.no_grad():
            return int(net(_batch(x, net)).argmax(1)[0])
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError("A contrast target is a pair of classes (A, B): why A rather than B.")
        target = Contrast(*target)
    for t in (target.a, target.b) if isinstance(target, Contrast) else (target,):
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < n:
            raise ValueError(f"Target class {t!r} is not a class of {net.arch.name}: use 0 to {n - 1}.")
    if isinstance(target, Contrast):
        if target.a == target.b:
            raise ValueError("A contrast needs two different classes; A and B are the same.")
        return Contrast(int(target.a), int(target.b))
    return int(target)


def describe_target(net: Network, target: int | Contrast) -> str:
    names = net.categories
    if isinstance(target, Contrast):
        return f"{names[target.a]} rather than {names[target.b]}"
    return names[target]


def find_class(categories: Sequence[str], query: str | int) -> int:
    """A class index from an index or a name: exact (case-insensitive), else a unique substring."""
    text = str(query).strip()
    if text.isdigit():
        i = int(text)
        if i < len(categories):
            return i
        raise ValueError(f"Class {i} does not exist: classes are numbered 0 to {len(categories) - 1}.")
    low = text.lower()
    exact = [i for i, c in enumerate(categories) if c.lower() == low]
    if len(exact) == 1:
        return exact[0]
    if exact:  # torchvision's ImageNet names: "Cardigan" (a corgi) and "cardigan" (a sweater)
        raise ValueError(f"{text!r} names {len(exact)} classes ({', '.join(map(str, exact))}); "
                         f"give the index instead.")
    hits = [i for i, c in enumerate(categories) if low and low in c.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(f"No class is called {text!r}; give a class index (0 to "
                         f"{len(categories) - 1}) or part of a class name, such as {categories[0]!r}.")
    shown = ", ".join(repr(categories[i]) for i in hits[:5]) + (", …" if len(hits) > 5 else "")
    raise ValueError(f"{text!r} matches {len(hits)} classes ({shown}); be more specific.")


# -- results -----------------------------------------------------------------------------------
@dataclass
class Explanation:
    """One attribution map and what goes with it. Arrays are CPU float32 numpy.

    ``map`` is the signed sum over colour channels of ``raw``, so for integrated gradients
    ``map.sum()`` is the attribution total that completeness speaks about.
    """

    method: str
    params: dict[str, Any]
    target: int | Contrast
    target_label: str
    map: np.ndarray  # (H, W)
    raw: np.ndarray  # (3, H, W); (1, H, W) for grad_cam
    score: float  # the attributed score at the input: logit A, or logit A − logit B
    seconds: float
    delta: float | None = None  # integrated gradients: sum(attr) − (score − baseline_score)
    baseline_score: float | None = None
    layer_map: np.ndarray | None = None  # grad_cam: (h, w) at the layer's resolution
    extras: dict[str, Any] = field(default_factory=dict)


# -- isolation ---------------------------------------------------------------------------------
def private_copy(net: Network) -> Network:
    """New module objects sharing ``net``'s parameter and buffer tensors (no weight copies).

    Hooks registered on the copy stay on the copy; weights are the same storage, so results
    equal the shared network's. Never write to the copy's weights.
    """
    memo: dict[int, Any] = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    memo[id(net.arch)] = net.arch
    memo[id(net.prep)] = net.prep
    for layer in net.arch.layers:
        memo[id(layer)] = layer
    clone = copy.deepcopy(net, memo)
    clone.eval()
    return clone


@contextmanager
def _requires_grad_kept(net: nn.Module) -> Iterator[None]:
    """Every parameter's requires_grad flag is restored on the way out, whatever happens."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        yield
    finally:
        for p, flag in flags:
            if p.requires_grad != flag:
                p.requires_grad_(flag)


class _Objective(nn.Module):
    """The scalar a method explains, as a module Captum can hook: (N, 3, H, W) -> (N, 1)."""

    def __init__(self, net: Network, target: int | Contrast, tick: Callable[[], None]):
        super().__init__()
        self.net = net
        self.target = target
        self.tick = tick

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tick()
        return self.pick(self.net(x)).unsqueeze(1)  # (N, 1): Captum's target is then always 0

    def pick(self, logits: torch.Tensor) -> torch.Tensor:
        """The explained score from the logits: (N, classes) -> (N,)."""
        t = self.target
        return logits[:, t.a] - logits[:, t.b] if isinstance(t, Contrast) else logits[:, t]

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> float:
        """The objective at one input, outside the progress count."""
        tick, self.tick = self.tick, lambda: None
        try:
            return float(self(x).flatten()[0])
        finally:
            self.tick = tick


def _batch(x: torch.Tensor, net: Network) -> torch.Tensor:
    """(3, H, W) or (1, 3, H, W) -> a private (1, 3, H, W) copy on the network's device."""
    if not isinstance(x, torch.Tensor):
        raise ValueError("The input must be a tensor from net.preprocess(image).")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != net.arch.in_channels:
        raise ValueError(f"Attribution takes one image shaped (1, {net.arch.in_channels}, H, W); "
                         f"got {tuple(x.shape)}.")
    # a private leaf that requires grad: gradients are taken with respect to the input only
    return x.detach().to(device=net.device, dtype=torch.float32).clone().requires_grad_(True)


def passes(method: str, size: tuple[int, int] = (227, 227), **params: Any) -> int:
    """How many forward evaluations a method makes (batched where it makes many)."""
    return get_method(method).passes(size, **params)


# -- the one entry point -----------------------------------------------------------------------
def explain(net: Network, x: torch.Tensor, method: str, target: Target = None,
            progress: Progress | None = None, **params: Any) -> Explanation:
    """Attribute ``target``'s score (default: the top class) to the pixels of ``x``.

    x: (1, 3, H, W) or (3, H, W), as ``net.preprocess`` gives. target: a class index, a
    ``Contrast(a, b)`` or ``(a, b)`` for "why a rather than b", or None for the top prediction.
    progress(done, total) is called as forward passes complete. ``params`` override the
    method's defaults (see ``ATTRIBUTION_METHODS[method].params``). The shared ``net`` is only
    read: hook-based methods work on ``private_copy(net)``.
    """
    m = get_method(method)
    p = m.resolve(params)
    x = _batch(x, net)  # (1, 3, H, W)
    size = (x.shape[2], x.shape[3])
    m.check(p, size)
    layer_module = None
    if "layer" in p:
        layer_module = net.arch.layer(p["layer"]).module  # the five conv names exist in every variant

    target = resolve_target(net, x, target)
    total = m.count(p, size)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, total), total)

    started = time.perf_counter()
    if progress is not None:
        progress(0, total)
    with _requires_grad_kept(net), torch.inference_mode(False), torch.enable_grad():
        # only hook-based methods need new module objects; the others only read the network
        copy_ = private_copy(net) if m.uses_hooks else net
        objective = _Objective(copy_, target, tick)
        layer = copy_.body.get_submodule(layer_module) if layer_module else None
        with warnings.catch_warnings():
            # Captum warns on every guided-backprop call that it is setting (and will remove)
            # ReLU hooks: true, and harmless here because the hooks live on a private copy.
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
            result = m.run(objective, x, p, layer)
        # a runner that already evaluated the score at the input says so: no second forward pass
        score = result.pop("score") if "score" in result else objective.score(x)
    if progress is not None:
        progress(total, total)
    raw = result.pop("raw").detach()[0].float()  # (C, H, W), where it was computed
    map_ = raw.sum(0).cpu().numpy()  # summed there: on a GPU, one small copy back
    return Explanation(
        method=method, params=p, target=target, target_label=describe_target(net, target),
        map=map_, raw=raw.cpu().numpy(), score=score,
        seconds=time.perf_counter() - started, **result)


def attribute(net: Network, x: torch.Tensor, method: str, target: Target = None,
              progress: Progress | None = None, **params: Any) -> torch.Tensor:
    """The (H, W) attribution map (CPU, float32): ``explain(...).map`` as a tensor.

    The map is the signed sum of the attribution over colour channels (for Grad-CAM, the
    upsampled layer map). Use ``explain`` for the raw (C, H, W) array, IG's delta and scores.
    """
    return torch.from_numpy(explain(net, x, method, target, progress, **params).map)


# -- sanity check (Adebayo et al. 2018) ---------------------------------------------------------
SANITY_THRESHOLD = 0.5
"""A map whose rank correlation with the original stays above this once weights are random is
showing the image more than the network (Adebayo et al. 2018 read their plots the same way)."""


@dataclass
class SanityCheck:
    """Cascading randomisation: step 0 is the network as given; step i has the ``steps[1..i]``
    layers' weights replaced by random ones (from the output back to conv1).

    ``maps[method]`` is (steps, H, W); ``correlation[method]`` is the Spearman rank correlation
    of each step's |map| with the original |map| (``correlation_signed`` without the absolute
    value), NaN where a map is constant. A method that explains the network should lose its
    correlation quickly; one that stays near 1 is showing the image, not the network.
    """

    steps: list[str]
    methods: list[str]
    maps: dict[str, np.ndarray]
    correlation: dict[str, np.ndarray]
    correlation_signed: dict[str, np.ndarray]
    target: int | Contrast
    target_label: str

    def final(self, method: str) -> float:
        """The rank correlation once every layer is random."""
        return float(self.correlation[method][-1])

    def insensitive(self, threshold: float = SANITY_THRESHOLD) -> list[str]:
        """Methods whose maps still correlate above ``threshold`` with a fully random network."""
        return [m for m in self.methods if self.final(m) > threshold]

    def changed_at(self, method: str, threshold: float = SANITY_THRESHOLD) -> int | None:
        """The first step whose map correlates at most ``threshold`` with the original, or None.

        A NaN correlation (the map went constant, e.g. all zero) counts as changed.
        """
        return next((i for i, c in enumerate(self.correlation[method]) if i and not c > threshold), None)

    def slow_to_change(self, threshold: float = SANITY_THRESHOLD) -> list[str]:
        """Methods, other than the insensitive ones, whose maps stayed above ``threshold`` while
        the top half of the layers was randomised: they say little about the higher layers."""
        half = (len(self.steps) - 1) // 2
        bad = self.insensitive(threshold)
        return [m for m in self.methods if m not in bad
                and ((i := self.changed_at(m, threshold)) is None or i > half)]


def sanity_steps(net: Network) -> list[str]:
    """The sanity check's steps: "original", then each conv and linear layer from the output back."""
    return ["original"] + [layer.name for layer in reversed(net.arch.layers) if layer.kind in ("conv", "linear")]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def sanity_check(net: Network, x: torch.Tensor, methods: Sequence[str] | Mapping[str, Mapping[str, Any]],
                 target: Target = None, progress: Progress | None = None,
                 seed: int = 0) -> SanityCheck:
    """Adebayo et al.'s cascading model-parameter randomisation test, on a private deep copy.

    methods: names, or a mapping name -> parameters. Each conv and linear layer, from the
    output back to conv1, in turn gets Gaussian weights and biases with the mean and standard
    deviation of the weights it had (a fixed ``seed``); after each step every method's map is
    recomputed and rank-correlated with the original. The target stays what it was for the
    original network (the top class then, if None). progress(done, total) counts maps.
    """
    chosen = dict(methods) if isinstance(methods, Mapping) else {m: {} for m in methods}
    if not chosen:
        raise ValueError("Choose at least one attribution method for the sanity check.")
    for name, params in chosen.items():
        get_method(name).resolve(params)  # fail early, before any work
    x = _batch(x, net)
    target = resolve_target(net, x, target)
    steps = sanity_steps(net)
    layers = [net.arch.layer(name) for name in steps[1:]]
    total = len(steps) * len(chosen)

    work = copy.deepcopy(net)  # its own weights: randomising them never touches ``net``
    gen = torch.Generator().manual_seed(seed)
    maps: dict[str, list[np.ndarray]] = {m: [] for m in chosen}
    done = 0
    if progress is not None:
        progress(0, total)
    for step, layer in zip(steps, [None] + layers):
        if layer is not None:
            module = work.body.get_submodule(layer.module)
            mean, std = float(module.weight.mean()), float(module.weight.std())
            with torch.no_grad():
                for t in (module.weight, module.bias):
                    if t is not None:
                        t.copy_(torch.randn(t.shape, generator=gen).to(t.device) * std + mean)
        for name, params in chosen.items():
            maps[name].append(explain(work, x, name, target, **params).map)
            done += 1
            if progress is not None:
                progress(done, total)
    stacked = {m: np.stack(v) for m, v in maps.items()}  # (steps, H, W)
    corr = {m: np.array([_spearman(np.abs(v[0]), np.abs(s)) for s in v]) for m, v in stacked.items()}
    signed = {m: np.array([_spearman(v[0], s) for s in v]) for m, v in stacked.items()}
    return SanityCheck(steps, list(chosen), stacked, corr, signed, target, describe_target(net, target))
