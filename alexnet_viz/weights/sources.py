"""Where pretrained weights come from: one registry entry per (model, kind), and the cache folder.

Tests point entries at a local server with ``monkeypatch.setitem(SOURCES, key, replace(...))``.
"""
from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..architecture import get_architecture
from .errors import WeightsError

HOME_ENV = "ALEXNET_VIZ_HOME"
OFFLINE_ENV = "ALEXNET_VIZ_OFFLINE"


@dataclass(frozen=True)
class WeightSource:
    """One downloadable set of weights.

    ``checksum`` is ``"sha1:<hex>"`` or ``"sha256:<hex>"``; a file passes when its digest starts
    with the hex given, so a prefix works too. ``None`` means torchvision's convention: the hex
    digits after the last ``-`` of the file name begin the file's SHA-256. ``converter`` turns
    the downloaded file into the variant's state dict once; ``None`` means it already is one.
    """

    model: str
    url: str
    checksum: str | None
    size_mib: float  # approximate, for people; never used to verify
    licence: str
    description: str
    converter: Callable[[Path, str], dict[str, torch.Tensor]] | None = None

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name

    @property
    def cached_name(self) -> str:
        """The file that loading reads: the download itself, or its converted torch file."""
        return self.filename if self.converter is None else Path(self.filename).stem + ".pt"

    def expected(self) -> tuple[str, str]:
        """(hash algorithm, hex digest or prefix) the downloaded file must match."""
        if self.checksum is None:
            m = re.search(r"-([a-f0-9]{8,})\.", self.filename)
            if not m:
                raise WeightsError(f"{self.url} carries no hash in its file name, and its source gives no checksum.")
            return "sha256", m.group(1)
        algo, _, digest = self.checksum.partition(":")
        return algo, digest.lower()


def _convert_caffe(path: Path, model: str) -> dict[str, torch.Tensor]:
    from .caffe import read_caffe_state_dict  # protobuf is imported only when a caffemodel is read

    return read_caffe_state_dict(path, model)


def _torchvision_url() -> str:
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.url  # https://download.pytorch.org/models/alexnet-owt-7be5be79.pth


SOURCES: dict[tuple[str, str], WeightSource] = {
    ("alexnet2012", "pretrained"): WeightSource(
        model="alexnet2012",
        url="http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
        checksum="sha1:9116a64c0fbe4459d18f4bb6b56d647b63920377",
        size_mib=233,
        licence="BVLC model zoo: released for unrestricted use",
        description="pretrained: Caffe's bvlc_alexnet (ILSVRC-2012; 57.1% top-1 with Caffe's warped centre crop)",
        converter=_convert_caffe,
    ),
    ("torchvision", "pretrained"): WeightSource(
        model="torchvision",
        url=_torchvision_url(),
        checksum=None,  # torchvision's hash prefix in the file name
        size_mib=233,
        licence=("published with torchvision (BSD-3-Clause; no separate licence is stated for "
                 "the weights); trained on ImageNet-1k"),
        description="pretrained: torchvision AlexNet_Weights.IMAGENET1K_V1 (56.5% top-1)",
    ),
}


def source(model: str, kind: str = "pretrained") -> WeightSource:
    """The registry entry for ``model``'s ``kind`` weights, or a WeightsError saying what exists."""
    get_architecture(model)  # ValueError with the list of models for an unknown name
    try:
        return SOURCES[(model, kind)]
    except KeyError:
        have = ", ".join(sorted({m for m, k in SOURCES if k == kind})) or "none"
        raise WeightsError(
            f"There are no {kind} weights for {model} (models with {kind} weights: {have}); "
            f"use untrained, or give the path of a weight file.") from None


def cache_dir() -> Path:
    """``$ALEXNET_VIZ_HOME``, else the platform's user cache folder for alexnet-viz."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("alexnet-viz"))


def weights_dir() -> Path:
    return cache_dir() / "weights"


def offline() -> bool:
    """True when ``ALEXNET_VIZ_OFFLINE`` forbids the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
