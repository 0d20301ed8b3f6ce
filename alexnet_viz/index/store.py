"""The index on disk: one SQLite file (``index.sqlite`` in the index folder), no server.

Why SQLite: it is in Python's standard library, a commit is atomic (a run killed mid-batch
leaves the batches before it, whole), rows can be deleted when photos are removed, and one
file is easy to copy. Parquet would need a file per batch and a compaction step to do the same.

Tables (numbers are little-endian blobs, one row per distinct image content):

    meta(key, value)                      model, weights, fingerprint, root, crop, layers (JSON)
    files(path, digest)                   path relative to the root; the content digest (SHA-256)
    maxima(digest, layer, value, pos)     per channel of relu1..relu5: max (float32 C), argmax
                                          (uint16 C, row * W + col)
    features(digest, fc7)                 fc7 (float32, 4096)
    skipped(path, reason)                 files that could not be used, from the last full run

Content is keyed by digest, so a renamed or copied photo costs no second forward pass.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FILENAME = "index.sqlite"
FORMAT = "1"
FEATURE = "fc7"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_digest ON files (digest);
CREATE TABLE IF NOT EXISTS maxima (digest TEXT NOT NULL, layer TEXT NOT NULL, value BLOB NOT NULL,
                                   pos BLOB NOT NULL, PRIMARY KEY (digest, layer));
CREATE TABLE IF NOT EXISTS features (digest TEXT PRIMARY KEY, fc7 BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


@dataclass
class Done:
    """One file after the network: what either runner (build.py's threads, or ray_build.py) hands build_index's writer."""

    path: str
    digest: str | None
    error: str | None = None  # why it was skipped
    rows: list[tuple] | None = None  # its maxima rows (store.rows_for), when this run computed them
    fc7: bytes | None = None  # (4096,) little-endian float32, when this run computed it


class PhotoIndexError(ValueError):
    """An index folder that cannot be used as asked; the message says why and what to do."""


def connect(folder: Path, create: bool = False) -> sqlite3.Connection:
    """The index's database; ``create`` makes the folder and tables when they are missing."""
    db = folder / FILENAME
    if not create and not db.is_file():
        raise PhotoIndexError(f"{folder} is not an index (no {FILENAME} in it): make one with "
                              f"`alexnet-viz index PHOTOS --out {folder}`.")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db, check_same_thread=False)  # Index guards it with a lock
    try:
        con.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise PhotoIndexError(f"{db} is not a readable index ({exc}); delete it and index again.") from None
    return con


def read_meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta"))


_FINGERPRINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fingerprint(net) -> str:
    """SHA-256 over the network's parameters and buffers (names and bytes), cached per network."""
    hit = _FINGERPRINTS.get(net)
    if hit is None:
        h = hashlib.sha256(net.name.encode())
        for name, t in net.body.state_dict().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()))
        hit = _FINGERPRINTS[net] = h.hexdigest()
    return hit


def weights_spec(net) -> str:
    """What ``load_network(..., weights=...)`` would rebuild this network from, or "" for a file."""
    if net.weights == "untrained" or net.weights.startswith("pretrained"):
        return net.weights.split(":")[0]
    return ""


def describe(meta: dict[str, str]) -> str:
    return f"{meta.get('model')} with weights {meta.get('weights')!r}"


def check_network(meta: dict[str, str], net, folder: Path) -> None:
    """Refuse a network other than the one the index was built for, with a sentence naming both."""
    if meta.get("model") != net.name or meta.get("fingerprint") != fingerprint(net):
        same = meta.get("model") == net.name and meta.get("weights") == net.weights
        detail = " (the same description, but the weights themselves differ)" if same else ""
        raise PhotoIndexError(
            f"The index {folder} was built for {describe(meta)}; this network is {net.name} with weights "
            f"{net.weights!r}{detail}. Open it with the network it was built for, or index the photos "
            f"again into another folder.")


def new_meta(net, root: Path, layers: dict[str, tuple[int, int, int]]) -> dict[str, str]:
    return {"format": FORMAT, "model": net.name, "weights": net.weights, "weights_spec": weights_spec(net),
            "fingerprint": fingerprint(net), "root": str(root), "crop": str(net.prep.crop),
            "layers": json.dumps({k: list(v) for k, v in layers.items()}), "feature": FEATURE}


def floats(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def positions(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u2")


def rows_for(digests: list[str], acts: dict[str, torch.Tensor], layers) -> list[list[tuple]]:
    """maxima rows for every image of a batch (``digests[i]`` is image i's): per channel the max and
    its flat position. One reduction per layer for the whole batch: per image, the five small
    reductions cost more in torch's thread hand-offs than in arithmetic."""
    out: list[list[tuple]] = [[] for _ in digests]
    for name in layers:
        value, pos = acts[name].flatten(2).max(dim=2)  # (B, C), (B, C): the first maximum, as per image
        value, pos = value.cpu().numpy().astype("<f4"), pos.cpu().numpy().astype("<u2")
        for i, digest in enumerate(digests):
            out[i].append((digest, name, value[i].tobytes(), pos[i].tobytes()))
    return out
