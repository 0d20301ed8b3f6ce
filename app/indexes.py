"""Photo indexes for the pages: those in ``$ALEXNET_VIZ_HOME/indexes/``, chosen in the sidebar.

An index is made on the command line (``alexnet-viz index PHOTOS --out …/indexes/NAME``); the
app only reads them. Results (top images, their patches, neighbours) go through the shared store,
keyed by the index's folder and its database's modification time, so a re-indexed folder is
read again.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

import alexnet_viz as av
import cache
from alexnet_viz.index.store import FILENAME
from alexnet_viz.weights.sources import cache_dir

THUMB_SIDE = 256  # neighbours are shown small: decoded at reduced size, kept at most this


def index_dir() -> Path:
    return cache_dir() / "indexes"


def available() -> list[Path]:
    """The index folders under ``index_dir()``, by name."""
    root = index_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / FILENAME).is_file())


def how_to_make(sel) -> str:
    weights = "pretrained" if sel.net.weights.startswith("pretrained") else "untrained"
    return (f"No photo index yet: run `alexnet-viz index PHOTOS --model {sel.model} --weights {weights} "
            f"--out {index_dir() / 'NAME'}` and reload this page.")


def _stamp(folder: Path) -> int:
    try:
        return (folder / FILENAME).stat().st_mtime_ns
    except OSError:
        return 0


def choose(sel) -> tuple[av.Index | None, str | None]:
    """The sidebar's index picker -> (the opened index, None) or (None, a sentence why not)."""
    folders = available()
    if not folders:
        return None, how_to_make(sel)
    names = [f.name for f in folders]
    if st.session_state.get("photo_index") not in names:
        st.session_state["photo_index"] = names[0]
    name = st.sidebar.selectbox("Photo index", names, key="photo_index",
                                help=f"Indexes in {index_dir()}; make one with `alexnet-viz index`.")
    folder = index_dir() / name
    key = ("index", str(folder), _stamp(folder), sel.model, str(sel.weights))
    try:
        return cache.store().get_or_compute(key, lambda: av.open_index(folder, net=sel.net)), None
    except av.PhotoIndexError as exc:
        return None, f"{exc} Choose that network in the sidebar."


def _key(ix: av.Index, *what) -> tuple:
    return ("photo-index", str(ix.folder), _stamp(ix.folder), *what)


def top_patches(ix: av.Index, layer: str, channel: int, k: int = 9) -> list[tuple[str, float, np.ndarray]]:
    """[(path, value, patch RGB (h, w, 3))] of the k photos that excite the channel most."""
    def compute():
        out = []
        for path, value, _pos in ix.top_images(layer, channel, k):
            try:
                patch = np.asarray(ix.top_patch(path, layer, channel))
            except (av.PhotoIndexError, av.ImageError):
                continue  # a photo changed or gone since indexing: leave it out
            out.append((path, value, patch))
        return out

    return cache.store().get_or_compute(_key(ix, "top", layer, channel, k), compute)


def nearest(ix: av.Index, sel, k: int = 6) -> list[tuple[str, float]]:
    """The k indexed photos nearest the current photo in fc7 space (no second forward pass)."""
    fc7 = sel.acts[av.index.store.FEATURE]
    return cache.store().get_or_compute(_key(ix, "nearest", sel.digest, k), lambda: ix.nearest(fc7, k))


def thumbnail(path: str) -> np.ndarray | None:
    """A small RGB picture of an indexed photo, or None when it cannot be read any more."""
    def compute():
        try:
            return np.asarray(av.load_image(path, max_side=THUMB_SIDE))
        except av.ImageError:
            return None

    return cache.store().get_or_compute(("thumb", path, _file_stamp(path)), compute)


def _file_stamp(path: str) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0
