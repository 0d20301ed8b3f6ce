"""The app's one place for caching and shared state: the shared sidebar and ``selection()``.

* Networks: one instance per (model, weights) for every session (``st.cache_resource``),
  read-only: nothing here mutates a network after loading it.
* The forward pass: once per (network, image digest), shared and read-only too; switching
  page, layer, channel or sort order reads it from the cache.
* Per-session choices (which image, which network) live in ``st.session_state``.

Pages call ``selection()`` and nothing else from here to get the network, the image, its
digest, the preprocessed tensor and the cached activations. Adding a page needs no change here.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz.images import image_digest

MODELS = {"alexnet2012": "alexnet2012 (two towers)",
          "torchvision": "torchvision (one tower)"}
WEIGHT_CHOICES = {"pretrained": "pretrained (ImageNet)", "untrained": "untrained (paper's init)",
                  "file": "a weight file on this machine"}
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]


@dataclass(frozen=True)
class Sample:
    """A sample photo shipped with scikit-image, and its credit."""

    loader: str  # function name in skimage.data
    credit: str


SAMPLES: dict[str, Sample] = {
    "Chelsea the cat": Sample("chelsea", "Stefan van der Walt, CC0 (via scikit-image)"),
    "Coffee cup": Sample("coffee", "Rachel Michetti, courtesy of Pikolo Espresso Bar, CC0 (via scikit-image)"),
    "Rocket launch": Sample("rocket", "SpaceX (DSCOVR on Falcon 9), public domain (via scikit-image)"),
    "Astronaut": Sample("astronaut", "NASA (Eileen Collins), public domain (via scikit-image)"),
}

GET_WEIGHTS_HELP = (
    "To use the trained network, run `python -m alexnet_viz download` on a machine with internet "
    "access (it fills the weight cache), or choose **a weight file on this machine** below and "
    "give the path of a downloaded `bvlc_alexnet.caffemodel` or `alexnet-owt-7be5be79.pth`."
)


FALLBACK = ":untrained-fallback"  # added to a weights key while a failed download left the untrained network


def weights_tag(weights: str) -> str:
    """A weights key as a short word fit for a download's file name.

    "file:/home/me/bvlc_alexnet.caffemodel" -> "bvlc_alexnet"; the untrained fallback -> "untrained".
    """
    if weights.endswith(FALLBACK):
        return "untrained"
    if weights.startswith("file:"):
        weights = Path(weights.removeprefix("file:")).stem
    return re.sub(r"[^\w.-]+", "_", weights).strip("_.") or "weights"


# -- networks: one shared instance per (model, weights) ---------------------------------------
MAX_FILE_NETWORKS = 2  # networks loaded from user-given weight files kept at once (~240 MB each)


@st.cache_resource(show_spinner=False)
def _network_store() -> tuple[dict, dict, threading.Lock]:
    """Networks shared by every session, keyed by (model, weights). Filled by ``network``.

    A dict behind ``st.cache_resource`` rather than a cached loader, so the download's progress
    bar is drawn by the session that loads, and is not replayed to others from the cache. One
    lock per key: a session asking for the untrained network never waits behind another
    session's download of the pretrained one. The third item guards the two dicts.
    """
    return {}, {}, threading.Lock()


def network(model: str, weights: str, progress=None, fallback: bool = True) -> av.Network:
    """The shared network for (model, weights); loads it once, showing progress if given.

    Raises ``av.WeightsError`` for a weight file that cannot be used (``fallback=False``).
    """
    store, locks, guard = _network_store()
    key = (model, weights)
    if key in store:  # the usual case: no waiting at all
        return store[key]
    with guard:
        lock = locks.setdefault(key, threading.Lock())
    with lock:  # only sessions wanting this same network wait here, for one load
        if key not in store:
            net = av.load_network(model, weights, device="auto", progress=progress,
                                  fallback_to_untrained=fallback)
            with guard:
                store[key] = net
                files = [k for k in store if k[1] not in ("pretrained", "untrained")]
                for old in files[:-MAX_FILE_NETWORKS]:  # oldest first: bound the memory user files take
                    store.pop(old, None)
        return store[key]


def _forget(key: tuple[str, str]) -> None:
    """Drop a network from the shared store (after a failed download), so the next run retries."""
    store, _locks, guard = _network_store()
    with guard:
        store.pop(key, None)
    st.session_state.pop("net_key", None)


def _progress_bar():
    """A progress(done, total) callback drawing an ``st.progress`` bar in the sidebar."""
    holder = st.sidebar.empty()

    def progress(done: int, total: int | None) -> None:
        mb = done / 1e6
        if total:
            holder.progress(min(done / total, 1.0), text=f"Downloading weights: {mb:.0f} of {total / 1e6:.0f} MB")
        else:
            holder.progress(0.0, text=f"Downloading weights: {mb:.0f} MB")

    return progress, holder


# -- the forward pass: once per (network, image) -----------------------------------------------
@dataclass(frozen=True)
class Forward:
    """Everything one forward pass gives: activations (batch dropped) and class probabilities."""

    acts: dict[str, np.ndarray]  # e.g. acts["conv1"]: (96, 55, 55); read-only arrays
    probs: np.ndarray  # (classes,)


@st.cache_resource(show_spinner=False, max_entries=24)
def _preprocess(model: str, weights: str, digest: str, _net: av.Network, _img: Image.Image) -> torch.Tensor:
    return _net.preprocess(_img)  # (1, 3, crop, crop)


@st.cache_resource(show_spinner="Running the network…", max_entries=24)
def _forward(model: str, weights: str, digest: str, _net: av.Network, _x: torch.Tensor) -> Forward:
    with torch.no_grad():
        acts = _net.activations(_x)
    out = {}
    for name, t in acts.items():
        a = t[0].detach().cpu().numpy()
        a.flags.writeable = False  # shared by sessions: nobody may change it
        out[name] = a
    logits = torch.from_numpy(out[next(reversed(out))].copy())
    probs = torch.softmax(logits, dim=0).numpy()
    probs.flags.writeable = False
    return Forward(out, probs)


@st.cache_resource(show_spinner=False, max_entries=64)
def _weight(model: str, weights: str, layer: str, _net: av.Network) -> np.ndarray:
    w = _net.body.get_submodule(_net.arch.layer(layer).module).weight.detach().cpu().numpy().copy()
    w.flags.writeable = False
    return w


@st.cache_data(show_spinner=False, max_entries=8)
def sample_image(name: str) -> Image.Image:
    """One of the scikit-image sample photos as an RGB PIL image."""
    import skimage.data

    return Image.fromarray(getattr(skimage.data, SAMPLES[name].loader)()).convert("RGB")


# -- what every page sees ---------------------------------------------------------------------
@dataclass
class Selection:
    """The session's choices: the network, the image and everything derived from them."""

    net: av.Network
    model: str
    weights: str  # the cache key of the weights: "pretrained", "untrained" or "file:<path>"
    # (with FALLBACK added while a failed download left the untrained network)
    image: Image.Image
    image_name: str
    credit: str | None
    digest: str

    @property
    def untrained(self) -> bool:
        return self.net.weights == "untrained"

    @cached_property
    def x(self) -> torch.Tensor:
        """The preprocessed input, (1, 3, crop, crop), on the network's device (do not modify)."""
        return _preprocess(self.model, self.weights, self.digest, self.net, self.image)

    @cached_property
    def forward(self) -> Forward:
        """The cached forward pass for this (network, image)."""
        return _forward(self.model, self.weights, self.digest, self.net, self.x)

    @property
    def acts(self) -> dict[str, np.ndarray]:
        return self.forward.acts

    def weight(self, layer: str, weights: str | None = None) -> np.ndarray:
        """A conv / fc layer's weight as a read-only array, e.g. conv1: (96, 3, 11, 11).

        ``weights="untrained"`` gives the same layer of the untrained network, for comparison.
        """
        if weights is None or weights == self.weights:
            return _weight(self.model, self.weights, layer, self.net)
        return _weight(self.model, weights, layer, network(self.model, weights))


def selection() -> Selection:
    """The shared selection for the page being drawn (the sidebar has run before any page)."""
    sel = st.session_state.get("_selection")
    if sel is None:  # a page run on its own, e.g. in a test: draw the sidebar first
        sel = sidebar()
    return sel


def page_header(title: str, sel: Selection) -> None:
    """A page's title, with a visible label saying which weights the numbers come from."""
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.title(title)
    if sel.untrained:
        right.badge("untrained network", icon=":material/warning:", color="orange")
    else:
        right.badge(f"weights: {sel.net.weights}", icon=":material/check:", color="blue")


# -- the sidebar --------------------------------------------------------------------------------
def _set_image(img: Image.Image, name: str, credit: str | None) -> None:
    st.session_state["image"] = (img, name, credit, image_digest(img))  # the key of every per-image cache
    st.session_state.pop("image_error", None)
    if credit is None:  # an upload or a photo: clear the sample box so any sample can be picked again
        st.session_state["sample"] = None


def _on_sample() -> None:
    name = st.session_state["sample"]
    if name is None:
        return
    _set_image(sample_image(name), name, SAMPLES[name].credit)


def _on_file(key: str) -> None:
    f = st.session_state.get(key)
    if f is None:  # cleared: keep showing the last image
        st.session_state.pop("image_error", None)
        return
    try:
        img = av.load_image(f.getvalue())
    except av.ImageError as exc:
        st.session_state["image_error"] = f"{f.name}: {exc}"
        return
    _set_image(img, getattr(f, "name", "camera"), None)


def _image_controls() -> None:
    sb = st.sidebar
    sb.header("Image")
    if "image" not in st.session_state:
        st.session_state.setdefault("sample", next(iter(SAMPLES)))
        _on_sample()
    sb.selectbox("Sample photo", list(SAMPLES), key="sample", on_change=_on_sample,
                 index=None, placeholder="Choose a sample photo…")
    sb.file_uploader("…or upload a photo", type=UPLOAD_TYPES, key="upload",
                     on_change=_on_file, args=("upload",),
                     help="jpg, png, webp, gif, bmp or tiff, up to 20 MB.")
    if sb.toggle("Use the camera", key="use_camera",
                 help="Off by default so the browser does not ask for the camera on every visit."):
        sb.camera_input("Take a photo", key="camera", on_change=_on_file, args=("camera",))
    if err := st.session_state.get("image_error"):
        sb.error(err)
    img, name, credit, _ = st.session_state["image"]
    sb.image(img, caption=name if credit is None else f"{name} — {credit}", width="stretch")


def _file_stamp(path: str) -> tuple[int, int] | None:
    """(modification time, size) of a weight file, or None: a changed file is worth trying again."""
    try:
        st_ = Path(path).expanduser().stat()
    except (OSError, ValueError):
        return None
    return st_.st_mtime_ns, st_.st_size


def _network_controls() -> None:
    sb = st.sidebar
    sb.header("Network")
    model = sb.selectbox("Variant", list(MODELS), format_func=MODELS.get, key="model")
    choice = sb.radio("Weights", list(WEIGHT_CHOICES), format_func=WEIGHT_CHOICES.get, key="weights")
    if choice == "file":
        path = sb.text_input("Weight file path", key="weights_path",
                             placeholder="/path/to/bvlc_alexnet.caffemodel").strip()
        wanted = (model, path) if path else None
    else:
        wanted = (model, choice)
    current = st.session_state.get("net_key")
    failed = st.session_state.get("net_failed")  # (attempt, sentence) of the last file that failed
    attempt = (*wanted, _file_stamp(wanted[1])) if wanted and choice == "file" else wanted
    if wanted is not None and wanted != current and failed and failed[0] == attempt:
        sb.error(failed[1])  # not read again on every rerun: it would only fail again
    elif wanted is not None and wanted != current:
        progress, holder = _progress_bar()
        try:
            network(*wanted, progress=progress, fallback=choice != "file")
        except (av.WeightsError, OSError, ValueError) as exc:
            sentence = str(exc) + (" The previous network stays in use." if current else "")
            st.session_state["net_failed"] = (attempt, sentence)
            sb.error(sentence)
        else:
            st.session_state["net_key"] = wanted
        holder.empty()
    if st.session_state.get("net_key") is None:  # a file choice with no usable file yet
        st.session_state["net_key"] = (model, "untrained")
    if wanted is None:
        in_use = st.session_state["net_key"]
        sb.info(f"Give the path of a weight file for {model}; until then the {in_use[0]} network "
                f"({in_use[1]} weights) stays in use.")
    model, weights = st.session_state["net_key"]
    net = network(model, weights)
    if net.weights_error:
        with sb.expander("⚠ Running the **untrained** network", expanded=not st.session_state.get("_told")):
            st.write(net.weights_error)
            st.write(GET_WEIGHTS_HELP)
            st.button("Try the download again", key="retry_weights", on_click=_forget, args=((model, weights),))
        st.session_state["_told"] = True
    sb.caption(f"Network: **{model}**, weights: **{net.weights}**, device: **{net.device}**")


def sidebar() -> Selection:
    """Draw the shared sidebar and return (and remember for this run) the selection."""
    _image_controls()
    _network_controls()
    model, weights = st.session_state["net_key"]
    net = network(model, weights)
    img, name, credit, digest = st.session_state["image"]
    key = weights if weights in ("pretrained", "untrained") else f"file:{weights}"
    if net.weights_error:  # the untrained fallback: its results must not outlive a retry that works
        key += FALLBACK
    sel = Selection(net, model, key, img, name, credit, digest)
    st.session_state["_selection"] = sel
    return sel
