"""Where weights come from, one way along: sources -> a verified file -> a checked state dict.

- ``sources``: the registry of pretrained weights, the cache folder, the offline switch;
- ``downloads``: verified, atomic downloads into the cache (``fetch``), with a stall guard;
- ``files``: weight files on disk, checked before they are opened, read within a size cap;
- ``local``: a file a person names -> a checked state dict (torch or Caffe, sniffed);
- ``caffe``: the protobuf-runtime reader of Caffe's caffemodels and the BGR -> RGB conversion;
- ``shapes``: what each variant's state dict must hold; ``errors``: ``WeightsError``.

``state_dict_for(model, weights)`` puts them together for ``network.load_network``. ``weights``
is ``"untrained"`` (no state dict: the body keeps the paper's initialisation), ``"pretrained"``
(downloaded once, verified, converted if need be) or a path (a ``.caffemodel`` converted on the
fly, or a saved state dict). Nothing loaded can run code: torch files are read with
``weights_only=True``, caffemodels with the protobuf runtime.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .downloads import (
    MIN_BYTES_PER_S, PROGRESS_EVERY_S, STALL_WINDOW_S, TIMEOUT_S, Progress, download, fetch, is_cached,
    load_pretrained,
)
from .errors import WeightsError
from .files import (
    MAX_WEIGHT_FILE_BYTES, check_weight_path, confined_weight_path, file_digest, load_torch_file, open_weight_file,
    save_state_dict, weight_files_in,
)
from .local import convert_caffemodel, state_dict_from_path
from .shapes import check_state_dict, expected_shapes
from .sources import HOME_ENV, OFFLINE_ENV, SOURCES, WeightSource, cache_dir, offline, source, weights_dir


def state_dict_for(model: str, weights: str, progress: Progress | None = None
                   ) -> tuple[dict[str, torch.Tensor] | None, str]:
    """(state dict or None for untrained, a description of where it came from).

    A path is checked (regular file, size cap) before anything is read, so a bad path costs
    neither memory nor a network build.
    """
    if weights == "untrained":
        return None, "untrained"
    if weights == "pretrained":
        return load_pretrained(model, progress), source(model).description
    return state_dict_from_path(weights, model), f"from file {Path(os.fspath(weights)).name}"


__all__ = [
    "WeightsError", "WeightSource", "SOURCES", "source", "cache_dir", "weights_dir", "offline", "HOME_ENV",
    "OFFLINE_ENV", "download", "fetch", "is_cached", "load_pretrained", "TIMEOUT_S", "STALL_WINDOW_S",
    "MIN_BYTES_PER_S", "PROGRESS_EVERY_S", "Progress", "MAX_WEIGHT_FILE_BYTES", "check_weight_path",
    "open_weight_file", "load_torch_file", "save_state_dict", "state_dict_from_path", "convert_caffemodel",
    "file_digest", "weight_files_in", "confined_weight_path", "check_state_dict", "expected_shapes", "state_dict_for",
]
