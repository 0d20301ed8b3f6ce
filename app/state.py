"""The session's choices as values: network, weights and image, and the key of every result made from them.

The sidebar (``sidebar.py``) makes a ``Selection`` from its widgets and pages get it from
``sidebar.selection()``; the network, the image, its digest, the preprocessed tensor and the
cached forward pass come from the ``Selection``, and every shared result is keyed by
``Selection.key``. Caching itself lives in ``cache.py``. Adding a page needs no change here.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

import alexnet_viz as av
import cache


# -- the choices, as values ----------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsChoice:
    """Which weights a network runs: ``"pretrained"``, ``"untrained"`` or a file's resolved path;
    ``fallback`` while a failed download left the untrained network in their place."""

    weights: str
    fallback: bool = False

    @property
    def is_file(self) -> bool:
        return self.weights not in ("pretrained", "untrained")

    @property
    def tag(self) -> str:
        """A short word fit for a download's file name: "bvlc_alexnet", "untrained", ..."""
        if self.fallback:
            return "untrained"
        word = Path(self.weights).stem if self.is_file else self.weights
        return re.sub(r"[^\w.-]+", "_", word).strip("_.") or "weights"

    def __str__(self) -> str:  # a stable key for caches and widget keys
        return f"{'file:' if self.is_file else ''}{self.weights}{':untrained-fallback' if self.fallback else ''}"


def weights_tag(weights: WeightsChoice | str) -> str:
    """The word for file names, for a choice or a plain "pretrained" / "untrained"."""
    return (weights if isinstance(weights, WeightsChoice) else WeightsChoice(str(weights))).tag


@dataclass(frozen=True)
class ImageChoice:
    """The session's image, its name and credit, and the digest every per-image cache keys on."""

    image: Image.Image
    name: str
    credit: str | None
    digest: str

    @property
    def caption(self) -> str:
        text = self.name if self.credit is None else f"{self.name} — {self.credit}"
        original = self.image.info.get("original_size")
        if (original and tuple(original) != self.image.size) or self.image.info.get("stretched"):
            text += f" ({image_size_words(self.image)})"
        return text


def image_size_words(img: Image.Image) -> str:
    """"decoded at 1000×750 from 4000×3000", or "1000×750" when nothing was scaled; and whether
    a high-bit-depth image that used a narrow part of its range was stretched."""
    original = img.info.get("original_size")
    words = f"{img.width}×{img.height}"
    if original and tuple(original) != img.size:
        words = f"decoded at {img.width}×{img.height} from {original[0]}×{original[1]}"
    if stretched := img.info.get("stretched"):
        lo, hi, top = stretched
        words += (f"; its values ran only from {lo:g} to {hi:g} of 0–{top:g}, so its contrast was "
                  f"stretched from that range")
    return words


# -- what every page sees ---------------------------------------------------------------------
@dataclass(frozen=True)
class Forward:
    """Everything one forward pass gives: activations (batch dropped) and class probabilities."""

    acts: dict[str, np.ndarray]  # e.g. acts["conv1"]: (96, 55, 55); read-only arrays
    probs: np.ndarray  # (classes,)


def _run_forward(net: av.Network, x: torch.Tensor) -> Forward:
    with torch.no_grad():
        acts = net.activations(x)
    out = {name: t[0].detach().cpu().numpy() for name, t in acts.items()}
    logits = torch.from_numpy(out[next(reversed(out))].copy())
    return Forward(out, torch.softmax(logits, dim=0).numpy())


@dataclass
class Selection:
    """The session's choices: the network, the image and everything derived from them."""

    net: av.Network
    model: str
    weights: WeightsChoice
    image_choice: ImageChoice
    mode: str = "aspect"  # preprocessing: "aspect" or "warp" (Caffe's reference pipeline)

    @property
    def image(self) -> Image.Image:
        return self.image_choice.image

    @property
    def image_name(self) -> str:
        return self.image_choice.name

    @property
    def credit(self) -> str | None:
        return self.image_choice.credit

    @property
    def digest(self) -> str:
        return self.image_choice.digest

    @property
    def untrained(self) -> bool:
        return self.net.weights == "untrained"

    def key(self, what: str, *params, photo: bool = True) -> tuple:
        """The shared store's key for a result of this selection: ``what`` it is, the network
        (model and weights) and, unless ``photo=False``, the input the network reads (the photo's
        digest and the preprocessing mode), then ``params`` (``cache.key_part``: equal
        parameters, equal keys). Every shared result is keyed here, so none can be keyed by less
        than the selection it was computed from; ``photo=False`` is for results of the network
        alone (a layer's weights, a feature visualisation, an index opened for it)."""
        network = (self.model, str(self.weights))
        seen = (self.digest, self.mode) if photo else ()
        return (what, *network, *seen, *(cache.key_part(p) for p in params))

    @cached_property
    def x(self) -> torch.Tensor:
        """The preprocessed input, (1, 3, crop, crop), on the network's device (do not modify)."""
        return cache.store().get_or_compute(self.key("x"), lambda: self.net.preprocess(self.image, self.mode))

    @cached_property
    def view(self) -> Image.Image:
        """The crop the network sees, as an RGB image (every map is drawn on it)."""
        return self.net.view(self.image, self.mode)

    @cached_property
    def forward(self) -> Forward:
        """The shared forward pass for this (network, image): computed once for every session."""
        key = self.key("forward")
        hit = cache.store().get(key)
        if hit is not None:
            return hit
        with st.spinner("Running the network…"):
            return cache.store().get_or_compute(key, lambda: _run_forward(self.net, self.x))

    @property
    def acts(self) -> dict[str, np.ndarray]:
        return self.forward.acts

    def weight(self, layer: str, weights: WeightsChoice | str | None = None) -> np.ndarray:
        """A conv / fc layer's weight as a read-only array, e.g. conv1: (96, 3, 11, 11).

        ``weights="untrained"`` gives the same layer of the untrained network, for comparison.
        """
        if weights is None or str(weights) == str(self.weights):
            net, choice = self.net, self.weights
        else:
            choice = weights if isinstance(weights, WeightsChoice) else WeightsChoice(str(weights))
            net = cache.network(self.model, choice.weights)
        module = net.body.get_submodule(net.arch.layer(layer).module)
        key = dataclasses.replace(self, net=net, weights=choice).key("weight", layer, photo=False)
        return cache.store().get_or_compute(key, lambda: module.weight.detach().cpu().numpy().copy())
