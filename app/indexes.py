"""Photo indexes for the pages: those in ``$ALEXNET_VIZ_HOME/indexes/``, chosen in the sidebar.

An index is made on the command line (``alexnet-viz index PHOTOS --out …/indexes/NAME``), or, where
the operator allows it (``ALEXNET_VIZ_ALLOW_UPLOAD_INDEX=1``), in the browser from up to
``MAX_UPLOAD_FILES`` uploaded photos: they are written to ``…/indexes/NAME/photos/`` and indexed
into ``…/indexes/NAME``, a new folder whose name is sanitised and confined to the indexes folder;
an existing index is never replaced. Results (top images, their patches, neighbours) go through the shared store,
keyed by the index's folder and its database's modification time, so a re-indexed folder is
read again.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import streamlit as st

import alexnet_viz as av
import cache
import links
from alexnet_viz.index.store import FILENAME
from alexnet_viz.weights.sources import cache_dir

THUMB_SIDE = 256  # neighbours are shown small: decoded at reduced size, kept at most this

UPLOAD_ENV = "ALEXNET_VIZ_ALLOW_UPLOAD_INDEX"  # "1": visitors may build indexes from uploads
MAX_UPLOAD_FILES = 200  # photos in one browser-built index
MAX_UPLOAD_TOTAL = 256 * 2**20  # bytes in one browser-built index, all photos together
MAX_UPLOADED_INDEXES = 20  # browser-built indexes kept at once: the disk they take is bounded too
NAME_CHARS = 40
BUILDING = ".building"  # marker file while an index is being built: not offered until it is done
UPLOADED = ".uploaded"  # marker file: this index was built in the browser


def index_dir() -> Path:
    return cache_dir() / "indexes"


def available() -> list[Path]:
    """The index folders under ``index_dir()``, by name."""
    root = index_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / FILENAME).is_file() and not (p / BUILDING).exists())


def how_to_make(sel) -> str:
    weights = "pretrained" if sel.net.weights.startswith("pretrained") else "untrained"
    return (f"No photo index yet: run `alexnet-viz index PHOTOS --model {sel.model} --weights {weights} "
            f"--out $ALEXNET_VIZ_HOME/indexes/NAME` on the server and reload this page.")  # no server paths to visitors


def _stamp(folder: Path) -> int:
    try:
        return (folder / FILENAME).stat().st_mtime_ns
    except OSError:
        return 0


def choose(sel, link=None) -> tuple[av.Index | None, str | None]:
    """The sidebar's index picker -> (the opened index, None) or (None, a sentence why not).
    With a page's ``links.Link``, the index's name is in the page's address (only names listed here)."""
    folders = available()
    if not folders:
        return None, how_to_make(sel)
    names = [f.name for f in folders]
    if link is not None:
        link.seed("index", "photo_index", links.one_of(names), default=names[0])
    pending = st.session_state.pop("photo_index_pending", None)  # just built in the browser
    if pending in names:
        st.session_state["photo_index"] = pending
    if st.session_state.get("photo_index") not in names:
        st.session_state["photo_index"] = names[0]
    name = st.sidebar.selectbox("Photo index", names, key="photo_index",
                                help="Indexes in the server's index folder, made with `alexnet-viz index`.")
    folder = index_dir() / name
    key = sel.key("index", str(folder), _stamp(folder), photo=False)
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
    return cache.store().get_or_compute(sel.key("nearest", str(ix.folder), _stamp(ix.folder), k), lambda: ix.nearest(fc7, k))


def thumbnail(path: str) -> np.ndarray | None:
    """A small RGB picture of an indexed photo, or None when it cannot be read any more."""
    def compute():
        try:
            # display only: a reduced decode will do (the index itself was built from full decodes)
            return np.asarray(av.load_image(path, max_side=THUMB_SIDE, draft=True))
        except av.ImageError:
            return None

    return cache.store().get_or_compute(("thumb", path, _file_stamp(path)), compute)


def _file_stamp(path: str) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


# -- building a small index from uploads ------------------------------------------------------------
class UploadRefused(ValueError):
    """An upload index that will not be built; the message says why in one sentence."""


def upload_allowed() -> bool:
    return os.environ.get(UPLOAD_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def safe_name(raw: str) -> str:
    """Letters, digits, "-" and "_" only (anything else becomes "-"), at most NAME_CHARS; may be ""."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", raw.strip()).strip("-_")[:NAME_CHARS].strip("-_")


def _file_name(i: int, name: str) -> str:
    stem, dot, ext = Path(name).name.rpartition(".")
    stem, ext = (stem, ext) if dot else (ext, "")
    ext = re.sub(r"[^a-z0-9]", "", ext.lower())[:5]
    return f"{i:03d}-{safe_name(stem)[:NAME_CHARS] or 'photo'}" + (f".{ext}" if ext else "")


def check_upload(raw_name: str, files) -> Path:
    """The folder a browser-built index would go to, or UploadRefused with the reason."""
    if not upload_allowed():
        raise UploadRefused(f"Building indexes in the browser is off on this server; whoever runs it can "
                            f"turn it on with {UPLOAD_ENV}=1.")
    name = safe_name(raw_name or "")
    if not name:
        raise UploadRefused("Give the index a name: letters, digits, - and _.")
    root = index_dir()
    folder = root / name
    if folder.exists():
        raise UploadRefused(f"An index named {name} exists already and is not replaced: choose another name.")
    if not files:
        raise UploadRefused("Choose some photos first.")
    if len(files) > MAX_UPLOAD_FILES:
        raise UploadRefused(f"{len(files)} photos chosen; an index built here takes at most {MAX_UPLOAD_FILES} "
                            f"(index a bigger folder with `alexnet-viz index`).")
    big = [f.name for f in files if f.size > av.MAX_BYTES]
    if big:
        raise UploadRefused(f"{len(big)} photo(s) over {av.MAX_BYTES // 2**20} MB each, e.g. {big[0]}: leave them "
                            f"out or save them smaller.")
    total = sum(f.size for f in files)
    if total > MAX_UPLOAD_TOTAL:
        raise UploadRefused(f"The photos come to {total / 2**20:.0f} MB; an index built here takes at most "
                            f"{MAX_UPLOAD_TOTAL // 2**20} MB in all.")
    made = [p for p in root.iterdir() if (p / UPLOADED).exists()] if root.is_dir() else []
    if len(made) >= MAX_UPLOADED_INDEXES:
        raise UploadRefused(f"This server holds {len(made)} indexes built in the browser already, its limit; "
                            f"whoever runs it can remove some from {root}.")
    return folder


def build_from_uploads(sel, raw_name: str, files, progress=None) -> av.IndexReport:
    """Write the uploaded photos into a new index folder and index them there for ``sel.net``.

    Refused (UploadRefused) unless the operator allows it and the upload is within bounds; the
    folder is claimed atomically (two sessions cannot both get one name), hidden from the picker
    while it is built, and removed again if the build fails or is stopped. Files that are not
    readable images are skipped by the index and not kept.
    """
    folder = check_upload(raw_name, files)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        raise UploadRefused(f"An index named {folder.name} exists already and is not replaced: "
                            f"choose another name.") from None
    try:
        (folder / BUILDING).touch()
        (folder / UPLOADED).touch()
        photos = folder / "photos"
        photos.mkdir()
        for i, f in enumerate(files):
            (photos / _file_name(i, f.name)).write_bytes(f.getvalue()[:av.MAX_BYTES + 1])
        report = av.build_index(photos, sel.net, folder, progress=progress, workers=2)
        for path, _reason in report.skipped:  # not images: nothing to keep them for
            p = Path(path)
            if p.parent == photos:
                p.unlink(missing_ok=True)
        (folder / BUILDING).unlink()
        return report
    except BaseException:  # a failure, or the visitor stopping the run: leave nothing half made
        shutil.rmtree(folder, ignore_errors=True)
        raise


def upload_form(sel) -> None:
    """The expander that builds an index from uploaded photos (or says it is off on this server)."""
    done = st.session_state.pop("lf_upload_done", None)
    if done:
        st.success(done)
    with st.expander("Build an index from your own photos"):
        if not upload_allowed():
            st.caption(f"Off on this server: whoever runs it can allow visitors to build small indexes "
                       f"with `{UPLOAD_ENV}=1`; otherwise use `alexnet-viz index` on the command line.")
            return
        st.caption(f"Up to {MAX_UPLOAD_FILES} photos, {av.MAX_BYTES // 2**20} MB each and "
                   f"{MAX_UPLOAD_TOTAL // 2**20} MB in all, for {sel.net.name} with its current weights. "
                   "They are kept on this server, and the index is offered to everyone who uses it.")
        files = st.file_uploader("Photos", type=["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
                                 accept_multiple_files=True, key="lf_upload_files")
        name = st.text_input("Index name (letters, digits, - and _)", key="lf_upload_name", max_chars=NAME_CHARS)
        if not st.button("Build the index", key="lf_upload_build"):
            return
        bar = st.empty()

        def progress(done_files: int, total: int) -> None:
            bar.progress(done_files / total if total else 0.0, text=f"Indexing: {done_files} of {total} photos")

        try:
            report = build_from_uploads(sel, name, files or [], progress)
        except (UploadRefused, av.PhotoIndexError, ValueError) as exc:
            st.error(str(exc))
            return
        bar.empty()
        st.session_state["photo_index_pending"] = safe_name(name)
        st.session_state["lf_upload_done"] = (f"Index {safe_name(name)}: {report.images} photos"
                                              + (f", {len(report.skipped)} files skipped (not readable images)"
                                                 if report.skipped else "") + "; it is chosen in the sidebar.")
        st.rerun()
