"""Asking an index: the photos that excite a channel most, their patches, and fc7 neighbours.

``open_index(folder, net=None)`` needs no network for ``images``, ``skipped`` and
``top_images``. ``top_patch`` and ``nearest`` on an image tensor do: pass the network the index
was built for (it is checked), or leave ``net`` out and the index loads it on first need, when it
was built with "untrained" or "pretrained" weights (a weight file cannot be found again by its
name). ``nearest`` also takes a precomputed fc7 vector, which needs no network at all.
"""
from __future__ import annotations

import heapq
import json
import os
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import BACKGROUND, load_image
from ..walkthrough import layer_receptive_field
from . import store as S
from .walk import read_digest

_CHUNK_ROWS = 2048  # fc7 rows read at a time by nearest (2048 × 16 KiB = 32 MiB)


class Index:
    """An opened index (see ``open_index``). Safe to share between threads."""

    def __init__(self, folder: Path, net=None):
        self.folder = folder
        self._con = S.connect(folder)
        self._lock = threading.Lock()
        self.meta = S.read_meta(self._con)
        if self.meta.get("format") != S.FORMAT:
            raise S.PhotoIndexError(f"{folder} holds an index in format {self.meta.get('format')!r}; this "
                                    f"version reads format {S.FORMAT}: index the photos again.")
        if net is not None:
            S.check_network(self.meta, net, folder)
        self._net = net
        self.model: str = self.meta["model"]
        self.weights: str = self.meta["weights"]
        self.root = Path(self.meta["root"])
        self.crop = int(self.meta["crop"])
        self.layers: dict[str, tuple[int, int, int]] = {k: tuple(v) for k, v in json.loads(self.meta["layers"]).items()}
        self._maxima: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __repr__(self) -> str:
        return f"<Index {self.folder}: {len(self)} images of {self.root}, {S.describe(self.meta)}>"

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM files")[0][0]

    # -- what is in it ---------------------------------------------------------------------------
    @property
    def images(self) -> list[str]:
        """The indexed image paths (absolute, as str)."""
        return [str(self.root / p) for (p,) in self._query("SELECT path FROM files ORDER BY path")]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) for each file the last complete run could not use."""
        return [tuple(r) for r in self._query("SELECT path, reason FROM skipped ORDER BY path")]

    def _rel(self, path: str | os.PathLike) -> str:
        p = Path(path)
        try:
            return (p.relative_to(self.root) if p.is_absolute() else p).as_posix()
        except ValueError:
            raise S.PhotoIndexError(f"{path} is not under {self.root}, the folder this index was built from.") from None

    def _check_layer(self, layer: str, channel: int) -> None:
        if layer not in self.layers:
            raise S.PhotoIndexError(f"The index holds {', '.join(self.layers)}, not {layer!r}.")
        c = self.layers[layer][0]
        if not 0 <= int(channel) < c:
            raise S.PhotoIndexError(f"{layer} has channels 0 to {c - 1}; there is no channel {channel}.")

    def maxima(self, layer: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(paths, values (N, C) float32, flat positions (N, C)) for every image; loaded once."""
        hit = self._maxima.get(layer)
        if hit is None:
            self._check_layer(layer, 0)
            rows = self._query("SELECT f.path, m.value, m.pos FROM files f JOIN maxima m ON m.digest = f.digest "
                               "WHERE m.layer = ? ORDER BY f.path", (layer,))
            c = self.layers[layer][0]
            values = np.array([S.floats(v) for _, v, _ in rows], dtype=np.float32).reshape(len(rows), c)
            pos = np.array([S.positions(p) for _, _, p in rows], dtype=np.int64).reshape(len(rows), c)
            hit = self._maxima[layer] = ([str(self.root / p) for p, _, _ in rows], values, pos)
        return hit

    def top_images(self, layer: str, channel: int, k: int = 9) -> list[tuple[str, float, tuple[int, int]]]:
        """The ``k`` images whose strongest ``layer``/``channel`` unit is highest, descending:
        [(path, value, (row, col)), ...], one per image (ties: path order)."""
        self._check_layer(layer, channel)
        paths, values, pos = self.maxima(layer)
        v = values[:, channel]
        order = np.lexsort((np.arange(len(v)), -v))[:max(0, k)]  # by value descending, then path
        w = self.layers[layer][2]
        return [(paths[i], float(v[i]), divmod(int(pos[i, channel]), w)) for i in order]

    def position(self, path: str | os.PathLike, layer: str, channel: int) -> tuple[float, tuple[int, int]]:
        """(value, (row, col)) of the strongest ``layer``/``channel`` unit on one indexed photo."""
        self._check_layer(layer, channel)
        rows = self._query("SELECT m.value, m.pos FROM files f JOIN maxima m ON m.digest = f.digest "
                           "WHERE f.path = ? AND m.layer = ?", (self._rel(path), layer))
        if not rows:
            raise S.PhotoIndexError(f"{path} is not in the index {self.folder}.")
        value, pos = S.floats(rows[0][0])[channel], int(S.positions(rows[0][1])[channel])
        return float(value), divmod(pos, self.layers[layer][2])

    def box(self, layer: str, row: int, col: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a unit's receptive field on the crop, unclipped."""
        rf = layer_receptive_field(layer, self.model, self.crop)
        top = int(round(rf.start + row * rf.jump - (rf.size - 1) / 2))
        left = int(round(rf.start + col * rf.jump - (rf.size - 1) / 2))
        size = int(round(rf.size))
        return left, top, left + size, top + size

    def top_patch(self, path: str | os.PathLike, layer: str, channel: int) -> Image.Image:
        """The receptive field of the photo's strongest ``layer``/``channel`` unit, cut from the
        crop the network sees (``net.view``); parts outside the crop are mid-grey."""
        _, (row, col) = self.position(path, layer, channel)
        full = self.root / self._rel(path)
        digest = self._query("SELECT digest FROM files WHERE path = ?", (self._rel(path),))[0][0]
        try:
            same = read_digest(full) == digest
        except OSError:
            same = False
        if not same:
            raise S.PhotoIndexError(f"{full} has changed or gone since it was indexed; run "
                                    f"`alexnet-viz index` on {self.root} again.")
        view = self.network().view(load_image(full))
        left, top, right, bottom = self.box(layer, row, col)
        patch = Image.new("RGB", (right - left, bottom - top), BACKGROUND)
        inner = (max(left, 0), max(top, 0), min(right, view.width), min(bottom, view.height))
        patch.paste(view.crop(inner), (inner[0] - left, inner[1] - top))
        return patch

    # -- fc7 neighbours -------------------------------------------------------------------------
    def network(self):
        """The network this index was built for: the one given to ``open_index``, or loaded now."""
        if self._net is None:
            spec = self.meta.get("weights_spec")
            if not spec:
                raise S.PhotoIndexError(f"The index {self.folder} was built for {S.describe(self.meta)}, which "
                                        f"cannot be loaded by name: pass the network, open_index(folder, net=net).")
            from ..network import load_network

            net = load_network(self.model, spec, device="cpu")
            S.check_network(self.meta, net, self.folder)
            self._net = net
        return self._net

    def feature(self, x: torch.Tensor) -> np.ndarray:
        """fc7 of one preprocessed image (1, 3, H, W), as stored: (4096,) float32."""
        net = self.network()
        with torch.no_grad():
            return net.activations(x.to(net.device), upto=S.FEATURE)[S.FEATURE][0].float().cpu().numpy()

    def nearest(self, x: torch.Tensor | np.ndarray, k: int = 6) -> list[tuple[str, float]]:
        """The ``k`` indexed photos nearest ``x`` in fc7 space (L2), nearest first: [(path, distance)].

        ``x``: a preprocessed image (1, 3, H, W) (runs the network), or its fc7 vector (4096,).
        """
        if isinstance(x, torch.Tensor) and x.dim() == 4:
            if x.shape[0] != 1:
                raise ValueError(f"nearest takes one image, (1, 3, H, W); this batch has {x.shape[0]}.")
            q = self.feature(x)
        else:
            q = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32).reshape(-1)
        q = q.astype(np.float64)
        best: list[tuple[float, str]] = []  # a max-heap of the k nearest so far, as (-distance, path)
        offset = 0
        while True:
            rows = self._query("SELECT f.path, e.fc7 FROM files f JOIN features e ON e.digest = f.digest "
                               "ORDER BY f.path LIMIT ? OFFSET ?", (_CHUNK_ROWS, offset))
            if not rows:
                break
            offset += len(rows)
            feats = np.stack([S.floats(b) for _, b in rows]).astype(np.float64)  # (n, 4096)
            if feats.shape[1] != q.size:
                raise ValueError(f"x has {q.size} values; the index's fc7 vectors have {feats.shape[1]}.")
            dist = np.sqrt(((feats - q) ** 2).sum(axis=1))
            for (path, _), d in zip(rows, dist):
                item = (-float(d), _Desc(path))
                if len(best) < k:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
        best.sort(key=lambda t: (-t[0], t[1].path))
        return [(str(self.root / t[1].path), -t[0]) for t in best]


class _Desc:
    """Orders paths backwards, so the heap keeps the first path among equal distances."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    def __lt__(self, other: "_Desc") -> bool:
        return self.path > other.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.path == other.path


def open_index(folder: str | os.PathLike, net=None) -> Index:
    """Open an index made by ``build_index``; a ``net`` other than the one it was built for is refused."""
    return Index(Path(folder).expanduser().absolute(), net)
