"""The shared sidebar, where a visitor chooses the image, network and weights that every page shows.

Pages call ``selection()`` (the sidebar's ``Selection``, see state.py) and ``page_header()``
(the page's title, labelled with the weights the numbers come from). The sidebar's choices travel
in every page's address (links.py). Adding a page needs no change here.

What a visitor can choose is bounded by the person running the server: weight files are offered
only from the folder named by ``ALEXNET_VIZ_WEIGHT_DIR`` (nothing to type, nothing outside it),
and uploads are kept at most ``KEEP_SIDE`` pixels on the longer side.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

import alexnet_viz as av
import cache
import links
import replica
from alexnet_viz.images import KEEP_SIDE, image_digest
from alexnet_viz.network import PREPROCESS_MODES
from state import ImageChoice, Selection, WeightsChoice

MODELS = {"alexnet2012": "alexnet2012 (two towers)",
          "torchvision": "torchvision (one tower)"}
WEIGHT_CHOICES = {"pretrained": "pretrained (ImageNet)", "untrained": "untrained (paper's init)",
                  "file": "a weight file from the server's folder"}
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]
UPLOAD_MB = av.MAX_BYTES // 2**20  # the loader's cap; the server accepts a little more so it can say why
WEIGHT_DIR_ENV = "ALEXNET_VIZ_WEIGHT_DIR"


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


def weight_dir() -> Path | None:
    """The folder the server's operator exposes weight files from, or None (the default: off)."""
    folder = os.environ.get(WEIGHT_DIR_ENV, "").strip()
    return Path(folder).expanduser() if folder else None


UNTRAINED_WORDS = "This server has no trained weights: the network is untrained, so its predictions are chance."


def get_weights_help() -> str:
    """The operator's how-to, for the server's log: a visitor sees ``weights_words()`` instead."""
    text = ("To use the trained network, run `python -m alexnet_viz download` on a machine with internet "
            "access (it fills the weight cache)")
    if weight_dir() is not None:
        return text + (", or choose **a weight file from the server's folder** under Weights above (a downloaded "
                       "`bvlc_alexnet.caffemodel` or `alexnet-owt-7be5be79.pth` copied there).")
    return text + (f", or ask whoever runs this server to put a weight file in a folder and name it "
                   f"with `{WEIGHT_DIR_ENV}`.")


def weights_words(where: str = "above") -> str:
    """What the untrained fallback means to a visitor: nothing of the server's files or commands.
    ``where``: where the Weights choice is, seen from the sentence ("above" in the sidebar)."""
    if weight_dir() is not None:
        return UNTRAINED_WORDS + f" You can choose **a weight file from the server's folder** under Weights {where}."
    return UNTRAINED_WORDS


def pretrained_unavailable(model: str) -> bool:
    """Whether this server tried the pretrained weights for ``model`` and has none: the untrained
    network runs in their place (never loads anything)."""
    net = cache.loaded(model, "pretrained")
    return net is not None and bool(net.weights_error)


_LOGGED: set[tuple[str, str]] = set()  # (model, sentence) already in the server's log


def log_weights_error(model: str, sentence: str) -> None:
    """The loader's own sentence (paths, commands) and the how-to go to the operator's log, once each."""
    if (model, sentence) not in _LOGGED:
        _LOGGED.add((model, sentence))
        cache._LOG.warning("%s runs untrained: %s %s", model, sentence, get_weights_help().replace("**", ""))


def without_paths(sentence: str) -> str:
    """A weight file's error as a visitor may read it: the server's folder named in words, not by path."""
    folder = weight_dir()
    if folder is not None:
        for spelling in {str(folder.resolve()), str(folder)}:
            sentence = sentence.replace(spelling + os.sep, "").replace(spelling, "the server's weights folder")
    return sentence


# -- what every page gets ---------------------------------------------------------------------
def selection() -> Selection:
    """The shared selection for the page being drawn (the sidebar has run before any page)."""
    sel = st.session_state.get("_selection")
    if sel is None:  # a page run on its own, e.g. in a test: draw the sidebar first
        sel = draw()
    return sel


def page_header(title: str, sel: Selection) -> None:
    """A page's title, with a visible label saying which weights the numbers come from."""
    left, right = st.columns([3, 1.4], vertical_alignment="center")
    left.title(title)
    if sel.untrained:
        right.badge("untrained network", icon=":material/warning:", color="orange")
    else:
        right.badge(f"weights: {sel.net.weights}", icon=":material/check:", color="blue")


# -- the sidebar: image ------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def sample_image(name: str) -> Image.Image:
    """One of the scikit-image sample photos as an RGB PIL image."""
    import skimage.data

    return Image.fromarray(getattr(skimage.data, SAMPLES[name].loader)()).convert("RGB")


def _set_image(img: Image.Image, name: str, credit: str | None) -> None:
    st.session_state["image"] = ImageChoice(img, name, credit, image_digest(img))
    st.session_state.pop("image_error", None)
    if credit is None:  # an upload or a photo: clear the sample box so any sample can be picked again
        st.session_state["sample"] = None


def use_shared_photo(data: bytes, name: str = "the lecturer's photo") -> str | None:
    """A photo a class's lecturer uploaded (its bytes from the room) becomes this session's image;
    returns its digest, or None with the sentence under the uploader."""
    try:
        img = av.load_image(data, max_side=KEEP_SIDE)
    except av.ImageError as exc:
        st.session_state["image_error"] = f"{name}: {exc}"
        return None
    _set_image(img, name, None)
    return st.session_state["image"].digest


def _upload_key() -> str:
    """The uploader's key: a new one empties the widget (Streamlit lets no code clear it)."""
    gen = st.session_state.get("upload_gen", 0)
    return "upload" if gen == 0 else f"upload-{gen}"


def _on_sample(chosen: bool = True) -> None:
    name = st.session_state["sample"]
    if name is None:
        return
    _set_image(sample_image(name), name, SAMPLES[name].credit)
    if chosen:  # the uploader must not go on listing an upload that is no longer in use
        st.session_state["upload_gen"] = st.session_state.get("upload_gen", 0) + 1


def _on_file(key: str) -> None:
    f = st.session_state.get(key)
    if f is None:  # cleared: keep showing the last image, and drop an error about the old file
        st.session_state.pop("image_error", None)
        return
    name = getattr(f, "name", "camera")
    try:
        # reads at most MAX_BYTES + 1 of it; JPEG draft mode: a shared server's memory stays bounded
        img = av.load_image(f, max_side=KEEP_SIDE, draft=True)
    except av.ImageError as exc:
        st.session_state["image_error"] = f"{name}: {exc}"
        return
    _set_image(img, name, None)


def _image_controls() -> None:
    sb = st.sidebar
    sb.header("Image")
    ss = st.session_state
    if "image" not in ss:
        ss.setdefault("sample", next(iter(SAMPLES)))
        _on_sample(chosen=False)
    elif ss.get("sample") is not None and ss["image"].name != ss["sample"]:  # a link named another sample
        _on_sample()
    sb.selectbox("Sample photo", list(SAMPLES), key="sample", on_change=_on_sample,
                 index=None, placeholder="Choose a sample photo…")
    key = _upload_key()
    sb.file_uploader(f"…or upload a photo (up to {UPLOAD_MB} MB)", type=UPLOAD_TYPES, key=key,
                     on_change=_on_file, args=(key,),
                     help=f"jpg, png, webp, gif, bmp or tiff, up to {UPLOAD_MB} MB. A file over "
                          f"{st.get_option('server.maxUploadSize')} MB is refused by the browser before it is "
                          "sent: a red mark beside its name, and the photo stays as it was.")
    if sb.toggle("Use the camera", key="use_camera",
                 help="Off by default so the browser does not ask for the camera on every visit."):
        sb.camera_input("Take a photo", key="camera", on_change=_on_file, args=("camera",))
    if err := st.session_state.get("image_error"):
        sb.error(err)
    choice: ImageChoice = st.session_state["image"]
    # Given a PIL photo, st.image encodes it as a quality-100 JPEG on every run of every page (an
    # 800x600 upload: ~0.07 server CPU-s a walkthrough); the same bytes, encoded once per photo.
    shown = cache.store().get_or_compute(("sidebar_jpeg", choice.digest), lambda: np.frombuffer(
        av.render.jpeg_bytes(choice.image), np.uint8))  # uint8, so the store counts its bytes
    sb.image(shown.tobytes(), caption=choice.caption, width="stretch")


# -- the sidebar: network and weights ------------------------------------------------------------
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


def _forget(key: tuple[str, str]) -> None:
    """After a failed download: drop the network so the next run tries again."""
    cache.forget_network(key)
    st.session_state.pop("net_key", None)
    st.session_state["_retried"] = True  # the next run says how the retry went


def _file_stamp(path: str) -> tuple[int, int] | None:
    """(modification time, size) of a weight file, or None: a changed file is worth trying again."""
    try:
        st_ = Path(path).stat()
    except (OSError, ValueError):
        return None
    return st_.st_mtime_ns, st_.st_size


def _wanted_file(model: str) -> tuple[tuple[str, str] | None, str | None]:
    """The (model, resolved path) the weight-file picker asks for, or (None, a sentence why not)."""
    folder = weight_dir()
    names = av.weights.weight_files_in(folder)
    if not names:
        return None, "The server's weights folder has no weight files yet"
    name = st.sidebar.selectbox("Weight file", names, key="weights_file", index=None,
                                placeholder="Choose a weight file…")
    if name is None:
        return None, f"Choose a weight file for {model}"
    try:
        return (model, str(av.weights.confined_weight_path(folder, name))), None
    except av.WeightsError as exc:  # removed or replaced since the list was made
        return None, str(exc)


def _network_controls() -> None:
    sb = st.sidebar
    sb.header("Network")
    model = sb.selectbox("Variant", list(MODELS), format_func=MODELS.get, key="model")
    choices = [c for c in WEIGHT_CHOICES if c != "file" or weight_dir() is not None]
    if st.session_state.get("weights") not in choices:
        st.session_state["weights"] = "pretrained"
    choice = st.session_state["weights"]  # the radio's value; the radio is drawn once we know what runs
    radio_slot = sb.container()
    waiting = None
    if choice == "file":
        wanted, waiting = _wanted_file(model)
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
            cache.network(*wanted, progress=progress, fallback=choice != "file")
        except (av.WeightsError, OSError, ValueError) as exc:
            sentence = without_paths(str(exc)) + (" The previous network stays in use." if current else "")
            st.session_state["net_failed"] = (attempt, sentence)
            sb.error(sentence)
        else:
            st.session_state["net_key"] = wanted
        holder.empty()
    if st.session_state.get("net_key") is None:  # a file choice with no usable file yet
        st.session_state["net_key"] = (model, "untrained")
    labels = dict(WEIGHT_CHOICES)
    if pretrained_unavailable(model):  # say what really runs
        labels["pretrained"] = "pretrained (not available: the untrained network runs)"
    radio_slot.radio("Weights", choices, format_func=labels.get, key="weights")
    model, weights = st.session_state["net_key"]
    if waiting:
        shown = "weights from a file" if WeightsChoice(weights).is_file else f"{weights} weights"
        sb.info(f"{waiting}; until then the {model} network ({shown}) stays in use.")
    net = cache.network(model, weights)
    if net.weights_error:
        log_weights_error(model, net.weights_error)
        with sb.expander("⚠ Running the **untrained** network", expanded=not st.session_state.get("_told")):
            st.write(weights_words())
            st.button("Try the download again", key="retry_weights", on_click=_forget, args=((model, weights),))
        st.session_state["_told"] = True
        if st.session_state.pop("_retried", False):
            sb.warning("Tried the download again: it failed again, so the untrained network still runs.")
    elif st.session_state.pop("_retried", False):
        sb.success(f"Tried the download again: the {net.weights} weights are loaded.")
    sb.caption(f"Network: **{model}**, weights: **{net.weights}**, device: **{net.device}**")


# -- the sidebar's choices in every page's address ------------------------------------------------
LINKED_WEIGHTS = ("pretrained", "untrained")  # a server's weight file never travels in a link
DEFAULT_SAMPLE = next(iter(SAMPLES))


def _seed_from_link() -> links.Link:
    """Before the sidebar's widgets: a link's sample, network, weights and preprocessing."""
    link = links.Link("sidebar", st.sidebar.empty())
    link.seed("sample", "sample", links.one_of(SAMPLES, lambda n: SAMPLES[n].loader),
              show=lambda n: SAMPLES[n].loader, default=DEFAULT_SAMPLE)
    link.seed("model", "model", links.one_of(MODELS), default=next(iter(MODELS)))
    link.seed("weights", "weights", links.one_of(LINKED_WEIGHTS),
              show=lambda w: w if w in LINKED_WEIGHTS else None, default="pretrained")
    link.seed("mode", "prep_mode", links.one_of(PREPROCESS_MODES), default="aspect")
    return link


def _share_line(link: links.Link) -> None:
    """One line at the foot of the sidebar: a copied address opens this view, less what cannot travel."""
    left_out, instead = [], []
    if st.session_state["image"].credit is None:
        left_out.append("your uploaded photo")
        instead.append(DEFAULT_SAMPLE)
    if st.session_state.get("weights") == "file":
        left_out.append("the weight file")
        instead.append("the pretrained weights")
    if left_out:
        st.sidebar.caption(f"🔗 The address holds this view, except {' and '.join(left_out)}: "
                           f"{'they' if len(left_out) > 1 else 'it'} cannot travel in a link, which opens with "
                           f"{' and '.join(instead)} instead.")
    else:
        st.sidebar.caption("🔗 The address holds this view: copy it to share it.")
    link.write()


def draw() -> Selection:
    """Draw the shared sidebar and return (and remember for this run) the selection."""
    note = st.sidebar.container()  # at the top, filled once the session's image is known
    link = _seed_from_link()
    _image_controls()
    replica.note(note)
    _network_controls()
    _share_line(link)
    model, weights = st.session_state["net_key"]
    net = cache.network(model, weights)
    # the untrained fallback's results must not outlive a retry that works: its own key
    choice = WeightsChoice(weights, fallback=bool(net.weights_error))
    mode = st.session_state.get("prep_mode", "aspect")
    sel = Selection(net, model, choice, st.session_state["image"], mode)
    st.session_state["_selection"] = sel
    return sel
