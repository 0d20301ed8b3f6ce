"""The app through Streamlit's AppTest: every page draws, uploads work, bad ones are explained,
and the forward pass runs once per image however the user moves around."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from app_support import APP, OFFLINE, count_forward_passes, offline_pretrained_weights

PAGES = ["views/predict.py", "views/architecture.py", "views/feature_maps.py", "views/kernels.py"]
TIMEOUT = 60


def photo_bytes(fmt: str = "PNG", size=(320, 240), seed: int = 1) -> bytes:
    """A generated 'photo': smooth colour gradients plus noise, encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], -1)
    img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def forward_calls(monkeypatch):
    """Fresh caches, and a count of real forward passes through any network."""
    return count_forward_passes(monkeypatch)


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def image_captions(at: AppTest) -> list[str]:
    return [i.proto.imgs[0].caption for i in at.main.get("image")]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def sidebar_words(at: AppTest) -> str:
    """Everything the sidebar says in words: markdown, captions, expander labels and alerts."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success")
    return " ".join([str(e.value) for k in kinds for e in at.sidebar.get(k)]
                    + [e.label for e in at.sidebar.get("expander")])


def test_first_visit_shows_the_cat_predictions_and_the_untrained_label(forward_calls, caplog):
    import state

    state._LOGGED.clear()
    caplog.set_level("WARNING", logger="alexnet_viz.app")
    at = start()
    assert at.sidebar.selectbox(key="sample").value == "Chelsea the cat"
    # Offline: the pretrained download fails; a visitor reads what that means for them, and the
    # loader's sentence with the operator's how-to goes to the server's log (issue 22, item 6).
    sidebar_text = sidebar_words(at)
    assert "python -m alexnet_viz download" not in sidebar_text
    assert OFFLINE not in sidebar_text  # the loader's own sentence is the operator's
    assert "no trained weights" in sidebar_text and "predictions are chance" in sidebar_text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "python -m alexnet_viz download" in logged
    assert OFFLINE in logged  # the loader's own sentence
    assert any("untrained" in m.value for m in at.main.markdown), "the page is labelled untrained"
    assert at.main.get("plotly_chart"), "the top-5 chart is drawn"
    assert len(at.main.get("image")) == 2, "the original and the crop the network sees"
    assert len(forward_calls) == 1


def test_every_picture_has_alt_text_saying_what_it_shows(forward_calls):
    """WCAG 1.1.1 (issue 22, item 10): a caption is what a picture shows, so it is the alt text too;
    the sidebar's photo on every page among them. tests/test_browser_a11y.py runs axe-core on all."""
    at = start()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        for element in at.get("image"):
            for img in element.proto.imgs:
                assert img.alt.strip(), (page, img.caption)
                if img.caption:
                    assert img.alt == img.caption.replace("**", "").strip(), (page, img.caption)
    sidebar = at.sidebar.get("image")[0].proto.imgs[0]
    assert sidebar.alt.startswith("Chelsea the cat")


def test_class_search_shows_probability_and_rank(forward_calls):
    at = start()
    at.selectbox(key="predict_class").set_value(281).run()  # tabby cat
    labels = [m.label for m in at.metric]
    values = [m.value for m in at.metric]
    assert any("tabby" in label for label in labels)
    rank = values[1]
    assert rank.endswith("of 1000") and 1 <= int(rank.split()[0]) <= 1000


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_upload_replaces_the_image_and_survives_page_changes(forward_calls, fmt, mime):
    at = start()
    first_digest = at.session_state["image"].digest
    at.sidebar.file_uploader(key="upload").set_value((f"photo.{fmt.lower()}", photo_bytes(fmt), mime)).run()
    assert not at.exception and not errors(at)
    name, digest = at.session_state["image"].name, at.session_state["image"].digest
    assert name == f"photo.{fmt.lower()}" and digest != first_digest
    at.switch_page("views/architecture.py").run()
    assert at.session_state["image"].digest == digest
    assert len(forward_calls) == 2  # the cat, then the upload
    at.sidebar.selectbox(key="sample").set_value("Chelsea the cat").run()  # back to the cat
    assert at.session_state["image"].name == "Chelsea the cat" and at.session_state["image"].digest == first_digest


def test_bad_upload_is_explained_and_the_previous_image_survives(forward_calls):
    at = start()
    before = at.session_state["image"].digest
    at.sidebar.file_uploader(key="upload").set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not at.exception
    msgs = errors(at)
    assert msgs and "notes.png" in msgs[0]
    assert "Traceback" not in msgs[0]
    assert at.session_state["image"].digest == before
    assert at.get("plotly_chart"), "the page still draws with the previous image"


def weight_folder(monkeypatch, folder: Path) -> Path:
    """The server's operator exposes ``folder``'s weight files (off unless named)."""
    monkeypatch.setenv("ALEXNET_VIZ_WEIGHT_DIR", str(folder))
    return folder


def test_bad_weight_file_is_explained_and_the_previous_network_stays(forward_calls, tmp_path, monkeypatch):
    (weight_folder(monkeypatch, tmp_path) / "broken.caffemodel").write_bytes(b"\x08\x96" * 40)
    at = start()
    at.sidebar.radio(key="weights").set_value("untrained").run()
    assert at.session_state["net_key"] == ("alexnet2012", "untrained")
    at.sidebar.radio(key="weights").set_value("file").run()
    at.sidebar.selectbox(key="weights_file").set_value("broken.caffemodel").run()
    assert not at.exception
    assert errors(at), "a bad weight file gets an error box"
    assert at.session_state["net_key"] == ("alexnet2012", "untrained")


def test_switching_pages_and_models(forward_calls):
    at = start()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert any("badge[:material/warning: untrained network]" in m.value for m in at.main.markdown), (page, "labelled untrained")
    assert len(forward_calls) == 1, "switching page never reruns the forward pass"
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    at.switch_page("views/predict.py").run()
    assert not at.exception
    assert forward_calls[-1] == (1, 3, 224, 224), "torchvision's network sees a 224 crop"
    assert "224×224" in " ".join(c.value for c in at.main.caption)
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    assert len(forward_calls) == 2


def test_architecture_page_tells_the_224_vs_227_story(forward_calls):
    at = start()
    at.switch_page("views/architecture.py").run()
    assert not at.exception
    assert at.radio(key="arch_size_choice").value.startswith("227")
    assert at.success and not at.warning
    legend = next(c.value for c in at.main.caption if "dashed black lines" in c.value)
    assert "(conv3, fc6, fc7, fc8)" in legend, "the layers the table says read both towers, not conv1"
    at.radio(key="arch_size_choice").set_value("224 (the paper's text)").run()
    assert at.warning and "54.25" in at.warning[0].value
    assert len(at.main.get("plotly_chart")) == 1
    assert len(at.dataframe) == 1 and len(at.table) == 1, "the walkthrough, and the comparison (wrapped)"
    at.selectbox(key="arch_variant").set_value("keras-tutorial").run()
    assert not at.exception, at.exception
    assert "keras-tutorial" in at.main.get("plotly_chart")[0].proto.spec
    assert len(forward_calls) == 1, "only the first (Predict) page ran the network"


def test_at_256_the_network_cannot_run_and_that_comes_first_as_an_error(forward_calls):
    at = start()
    at.switch_page("views/architecture.py").run()
    at.radio(key="arch_size_choice").set_value("other").run()
    at.number_input(key="arch_size_other").set_value(256).run()
    assert not at.exception, at.exception
    assert at.error and "cannot run at 256×256" in at.error[0].value and "12544" in at.error[0].value
    assert any("rounded down" in w.value for w in at.warning), "the lesser problems still follow"


def test_one_tower_pages_use_no_gpu_words(forward_calls):
    at = start()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    for page in ["views/architecture.py", "views/kernels.py", "views/feature_maps.py"]:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        words = " ".join([c.value for c in at.main.caption] + [m.value for m in at.main.markdown]
                         + [str(getattr(s, "label", "")) for s in at.main.selectbox])
        assert "GPU" not in words and "per GPU" not in words, (page, words)


def test_feature_maps_change_layer_sort_and_channel_without_rerunning_the_network(forward_calls):
    at = start()
    at.switch_page("views/feature_maps.py").run()
    assert not at.exception, at.exception
    assert len(at.main.get("image")) == 1, "the overlay; the two grids and the channel are clickable pictures"
    caps = [c.value for c in at.main.caption]
    assert "GPU 1: channels 0–47" in caps and "GPU 2: channels 48–95" in caps
    at.radio(key="fm_sort").set_value("max").run()
    at.selectbox(key="fm_layer").set_value("conv3").run()
    assert not at.exception, at.exception
    channels = at.selectbox(key="fm_channel_conv3").options
    assert len(channels) == 384
    at.selectbox(key="fm_channel_conv3").set_value(channels[200]).run()
    at.selectbox(key="fm_layer").set_value("fc7").run()
    assert not at.exception, at.exception
    assert len(at.main.get("plotly_chart")) == 2, "the strongest units and the histogram"
    assert len(forward_calls) == 1, "layer, sort and channel changes reuse the cached forward pass"


def test_kernels_page_splits_conv1_by_gpu_and_measures_colour(forward_calls):
    at = start()
    at.switch_page("views/kernels.py").run()
    assert not at.exception, at.exception
    caps = image_captions(at)
    assert caps[0] == "GPU 1: kernels 0–47" and caps[1] == "GPU 2: kernels 48–95"
    assert any("colourfulness" in m.value for m in [*at.success, *at.info]), "the tower comparison is stated"
    at.selectbox(key="k_layer").set_value("conv2").run()
    at.number_input(key="k_out_conv2").set_value(200).run()
    assert not at.exception, at.exception
    assert any(m.value == "GPU 2" for m in at.metric), "conv2 channel 200 lives on GPU 2"
    assert "channels 48–95" in " ".join(m.value for m in at.main.markdown)
    # Offline the network in use is untrained: the comparison says so instead of failing.
    at.toggle(key="k_compare").set_value(True).run()
    assert not at.exception and any("already the untrained" in m.value for m in at.info)


def test_camera_is_off_until_asked_for_and_a_photo_from_it_is_used(forward_calls):
    at = start()
    assert len(at.camera_input) == 0, "no camera widget, so the browser does not ask for the camera"
    at.sidebar.toggle(key="use_camera").set_value(True).run()
    assert len(at.camera_input) == 1
    at.camera_input(key="camera").set_value(("camera.jpg", photo_bytes("JPEG", seed=5), "image/jpeg")).run()
    assert not at.exception and not errors(at)
    assert at.session_state["image"].name == "camera.jpg"


def test_other_upload_formats_are_accepted(forward_calls):
    at = start()
    seen = set()
    for fmt, mime in [("GIF", "image/gif"), ("BMP", "image/bmp"), ("TIFF", "image/tiff")]:
        upload = (f"p.{fmt.lower()}", photo_bytes(fmt, seed=len(seen)), mime)
        at.sidebar.file_uploader(key="upload").set_value(upload).run()
        assert not at.exception and not errors(at), fmt
        assert at.session_state["image"].name == f"p.{fmt.lower()}"
        seen.add(at.session_state["image"].digest)
    assert len(seen) == 3


def test_kernels_compare_a_trained_network_with_the_untrained_one(forward_calls):
    """With pretrained weights in the cache (faked here: a perturbed untrained network), the
    toggle shows the untrained kernels beside them."""
    import sys

    import torch

    sys.path.insert(0, str(Path(APP).parent))
    import cache as state
    from helpers import build_network

    trained = build_network("alexnet2012")
    with torch.no_grad():
        trained.body.conv1.weight.mul_(-1)
    trained.weights = "test weights"
    store, _, _ = state._network_store()
    store[("alexnet2012", "pretrained")] = trained
    at = start()
    assert not any("untrained" in m.value for m in at.main.markdown), "not labelled untrained"
    at.switch_page("views/kernels.py").run()
    assert len(at.main.get("image")) == 3  # GPU 1, GPU 2, one deeper channel
    at.toggle(key="k_compare").set_value(True).run()
    assert not at.exception, at.exception
    caps = image_captions(at)
    assert caps.count("GPU 1: kernels 0–47") == 2 and caps.count("GPU 2: kernels 48–95") == 2
    assert len(at.main.get("plotly_chart")) == 2, "a colourfulness chart for each network"


def test_torchvision_feature_maps_are_one_tower(forward_calls):
    at = start()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    at.switch_page("views/feature_maps.py").run()
    assert not at.exception, at.exception
    caps = [c.value for c in at.main.caption]
    assert "all 64 channels" in caps
    assert not any(c.startswith("GPU") for c in caps)


def test_offline_no_sidebar_text_names_a_server_path(forward_calls, monkeypatch, tmp_path):
    """The real offline sentence names the weight cache's folder: a visitor never reads it, on any page."""
    import alexnet_viz as av
    from alexnet_viz.weights import downloads

    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path / "home"))
    real = av.load_network
    sentence = str(downloads._offline_error("alexnet2012"))
    folder = str(downloads.weights_dir())
    assert folder in sentence  # the operator's sentence does name it

    def load(model, weights="untrained", device="auto", progress=None, fallback_to_untrained=False):
        net = real(model, "untrained", "cpu")
        if weights == "pretrained":
            net.weights_error = sentence
        return net

    monkeypatch.setattr(av, "load_network", load)
    at = start()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        words = sidebar_words(at) + " ".join(str(e.value) for k in ("markdown", "caption", "error", "warning", "info")
                                             for e in at.main.get(k))
        assert folder not in words and str(tmp_path) not in words, page
        assert "no trained weights" in words, page


def test_download_progress_is_shown_and_a_retry_loads_again(forward_calls, monkeypatch):
    import alexnet_viz as av

    real = av.load_network
    seen = []

    def fake_load(model, weights="untrained", device="auto", progress=None, fallback_to_untrained=False):
        if weights == "pretrained" and progress is not None:
            for done in (0, 100_000_000, 233_000_000):
                progress(done, 233_000_000)
            progress(5_000_000, None)  # a server that does not say how big the file is
            seen.append(model)
        net = real(model, "untrained", "cpu", None, fallback_to_untrained)
        net.weights_error = "The download stopped half way."  # as an interrupted download would
        return net

    monkeypatch.setattr(av, "load_network", fake_load)
    import state

    state._LOGGED.clear()
    at = start()
    assert seen == ["alexnet2012"]
    assert "The download stopped half way." not in sidebar_words(at), "the loader's sentence is for the log"
    assert state.UNTRAINED_WORDS in [m.value for m in at.sidebar.markdown]
    assert ("alexnet2012", "The download stopped half way.") in state._LOGGED
    at.button(key="retry_weights").click().run()
    assert not at.exception, at.exception
    assert seen == ["alexnet2012", "alexnet2012"], "the retry button loads the weights again"


def test_a_retry_that_succeeds_shows_the_new_weights_not_the_cached_untrained_results(forward_calls, monkeypatch):
    """Offline at first, the untrained fallback is cached under "pretrained"; once the retry
    downloads real weights, predictions and kernels must come from them, not from that cache."""
    import alexnet_viz as av
    import torch

    real = av.load_network
    online = []

    def load(model, weights="untrained", device="auto", progress=None, fallback_to_untrained=False):
        if weights != "pretrained":
            return real(model, weights, device, progress, fallback_to_untrained)
        net = real(model, "untrained", device)
        if online:  # "downloaded" weights: visibly different from the untrained ones
            with torch.no_grad():
                net.body.get_submodule(net.arch.layer("conv1").module).weight.mul_(-1)
                net.body.get_submodule(net.arch.layer("fc8").module).bias.add_(torch.linspace(0, 5, 1000))
            net.weights = "test weights"
        else:
            net.weights_error = OFFLINE
        return net

    monkeypatch.setattr(av, "load_network", load)
    at = start()
    untrained = at.session_state["_selection"].forward.probs.copy()
    at.switch_page("views/kernels.py").run()
    online.append(True)
    at.button(key="retry_weights").click().run()
    assert not at.exception, at.exception
    sel = at.session_state["_selection"]
    assert sel.net.weights == "test weights" and not sel.untrained
    assert not np.allclose(sel.forward.probs, untrained), "predictions from the new weights"
    conv1 = sel.net.body.get_submodule(sel.net.arch.layer("conv1").module).weight.detach().numpy()
    assert np.array_equal(sel.weight("conv1"), conv1), "the kernels page shows the new kernels"
    assert len(forward_calls) == 2


def test_a_bad_weight_file_is_not_read_again_on_every_rerun(forward_calls, monkeypatch, tmp_path):
    """A weight file that failed is tried once: moving around the app does not re-read a
    possibly 233 MB file just to fail again, and the sentence stays in view."""
    import alexnet_viz as av

    real = av.load_network
    tried = []

    def load(model, weights="untrained", device="auto", progress=None, fallback_to_untrained=False):
        tried.append(weights)
        return real(model, weights, device, progress, fallback_to_untrained)

    monkeypatch.setattr(av, "load_network", load)
    bad = weight_folder(monkeypatch, tmp_path) / "junk.caffemodel"
    bad.write_bytes(b"not a caffemodel" * 10)
    bad = bad.resolve()
    at = start()
    at.sidebar.radio(key="weights").set_value("file").run()
    at.sidebar.selectbox(key="weights_file").set_value("junk.caffemodel").run()
    message = errors(at)
    assert message and "junk.caffemodel" in message[0]
    assert str(tmp_path) not in message[0], "the server's folder is named in words, not by its path"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert errors(at)[:1] == message[:1], "the sentence stays in view"
    assert tried.count(str(bad)) == 1, "the bad file was read once"
    bad.write_bytes(b"still not a caffemodel" * 10)  # the file changed (say, a copy finished): try again
    at.run()
    assert tried.count(str(bad)) == 2
    assert not at.exception and errors(at)


def test_a_file_choice_without_a_path_says_which_network_stays_in_use(forward_calls, tmp_path, monkeypatch):
    """Choosing "a weight file" and then another variant, before picking a file, must not leave
    the sidebar saying torchvision while every page silently shows alexnet2012."""
    (weight_folder(monkeypatch, tmp_path) / "w.pt").write_bytes(b"PK\x03\x04")
    at = start()
    at.sidebar.radio(key="weights").set_value("file").run()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    assert not at.exception, at.exception
    note = " ".join(i.value for i in at.sidebar.info)
    assert "weight file" in note and "alexnet2012" in note, note


def test_download_names_from_a_weight_file_are_plain_file_names(forward_calls, monkeypatch, tmp_path):
    """Kernels loaded from /some/dir/my_weights.pth download as conv1_GPU_1_my_weights.png,
    not as a name with the file's whole path (and its slashes) in it."""
    import torch
    from streamlit.delta_generator import DeltaGenerator

    from helpers import build_network

    names = []
    real = DeltaGenerator.download_button

    def recording(self, label, data, file_name=None, *args, **kwargs):
        names.append(file_name)
        return real(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)  # col.download_button(…)
    monkeypatch.setattr(st, "download_button", lambda *a, **k: recording(st.container(), *a, **k))
    path = weight_folder(monkeypatch, tmp_path / "some dir") / "my_weights.pth"
    path.parent.mkdir()
    torch.save(build_network("alexnet2012").body.state_dict(), path)
    at = start()
    at.sidebar.radio(key="weights").set_value("file").run()
    at.sidebar.selectbox(key="weights_file").set_value("my_weights.pth").run()
    assert not errors(at), errors(at)
    names.clear()
    at.switch_page("views/kernels.py").run()
    assert not at.exception, at.exception
    assert "conv1_GPU_1_my_weights.png" in names and "conv1_colourfulness_my_weights.csv" in names, names
    assert not any("/" in n or ":" in n for n in names), names


def test_weight_files_are_off_unless_the_server_names_a_folder(forward_calls, monkeypatch):
    """No path box for visitors: without ALEXNET_VIZ_WEIGHT_DIR the option is not offered."""
    monkeypatch.delenv("ALEXNET_VIZ_WEIGHT_DIR", raising=False)
    at = start()
    options = at.sidebar.radio(key="weights").options
    assert len(options) == 2 and options[1] == "untrained (paper's init)" and not any("file" in o for o in options)
    assert not at.sidebar.text_input, "nothing for a visitor to type a path into"


def test_the_weights_folder_offers_only_its_own_regular_files(forward_calls, monkeypatch, tmp_path):
    import os

    import torch

    from helpers import build_network

    outside = tmp_path / "outside.pt"
    torch.save(build_network("alexnet2012").body.state_dict(), outside)
    folder = weight_folder(monkeypatch, tmp_path / "weights")
    folder.mkdir()
    (folder / "good.pt").symlink_to(outside)  # inside the folder by name, outside by target: refused
    os.link(outside, folder / "copy.pt")  # a hard link is a regular file in the folder: offered
    (folder / "zero.pt").symlink_to("/dev/zero")
    (folder / "sub").mkdir()
    os.mkfifo(folder / "pipe.pt")
    (folder / ".hidden.pt").write_bytes(b"x")
    at = start()
    at.sidebar.radio(key="weights").set_value("file").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="weights_file").options == ["copy.pt"]
    at.sidebar.selectbox(key="weights_file").set_value("copy.pt").run()
    assert not at.exception and not errors(at), errors(at)
    assert at.session_state["net_key"] == ("alexnet2012", str((folder / "copy.pt").resolve()))
    assert at.session_state["_selection"].net.weights == "from file copy.pt"


def _cache_module():
    import sys

    sys.path.insert(0, str(Path(APP).parent))
    import cache

    return cache


def test_a_download_in_one_session_does_not_block_another_network(monkeypatch):
    """One lock per (model, weights): the untrained network loads while pretrained is still loading."""
    import threading

    import alexnet_viz as av

    state = _cache_module()
    store, _locks, _guard = state._network_store()
    store.clear()
    release, started = threading.Event(), threading.Event()
    real = av.load_network

    def slow_or_real(model, weights, **kw):
        if weights == "pretrained":
            started.set()
            assert release.wait(120), "the test never released the download"
        return real(model, "untrained", device="cpu")

    monkeypatch.setattr(av, "load_network", slow_or_real)
    downloading = threading.Thread(target=state.network, args=("alexnet2012", "pretrained"))
    downloading.start()
    try:
        assert started.wait(30)
        done = threading.Event()
        other = threading.Thread(target=lambda: (state.network("alexnet2012", "untrained"), done.set()))
        other.start()
        # the untrained network must arrive while the pretrained one is still being "downloaded"
        assert done.wait(20), "the untrained network waited behind the pretrained download"
        assert ("alexnet2012", "pretrained") not in store
    finally:
        release.set()
        downloading.join(60)
        store.clear()


def test_networks_from_weight_files_are_bounded(monkeypatch):
    """Networks loaded from user-given files are evicted oldest first; the shared ones stay."""
    import alexnet_viz as av
    from helpers import build_network

    state = _cache_module()
    store, _locks, _guard = state._network_store()
    store.clear()
    net = build_network("alexnet2012")
    monkeypatch.setattr(av, "load_network", lambda model, weights, **kw: net)
    state.network("alexnet2012", "untrained")
    paths = [f"/weights/{i}.pt" for i in range(state.MAX_FILE_NETWORKS + 2)]
    for p in paths:
        state.network("alexnet2012", p, fallback=False)
    kept = [k[1] for k in store]
    assert "untrained" in kept
    assert [k for k in kept if k != "untrained"] == paths[-state.MAX_FILE_NETWORKS:]
    store.clear()


def test_offline_the_weights_control_says_the_untrained_network_runs(forward_calls):
    at = start()
    radio = at.sidebar.radio(key="weights")
    assert radio.value == "pretrained" and radio.options[0] == "pretrained (not available: the untrained network runs)"


def test_choosing_a_sample_empties_the_uploader(forward_calls):
    at = start()
    at.sidebar.file_uploader(key="upload").set_value(("p.png", photo_bytes(), "image/png")).run()
    assert at.session_state["image"].name == "p.png"
    at.sidebar.selectbox(key="sample").set_value("Coffee cup").run()
    assert not at.exception, at.exception
    assert at.session_state["image"].name == "Coffee cup"
    uploaders = [u for u in at.sidebar.get("file_uploader")]
    assert len(uploaders) == 1 and not uploaders[0].value, "the old upload is no longer listed"


def test_a_retry_that_fails_again_says_so(forward_calls):
    at = start()
    at.button(key="retry_weights").click().run()
    assert not at.exception, at.exception
    assert any("failed again" in w.value for w in at.sidebar.warning)


def test_a_big_photo_is_captioned_with_its_original_size(forward_calls):
    at = start()
    at.sidebar.file_uploader(key="upload").set_value(("big.png", photo_bytes(size=(3000, 2000)), "image/png")).run()
    assert not at.exception, at.exception
    assert at.session_state["image"].image.size == (1024, 683)
    caps = [i.caption for i in at.sidebar.get("imgs")] if hasattr(at.sidebar, "get") else []
    assert "big.png (decoded at 1024×683 from 3000×2000)" in at.session_state["image"].caption, caps


def test_an_upload_alone_is_decoded_in_jpeg_draft_mode(forward_calls, monkeypatch):
    """The server bounds an upload's memory by asking for draft decoding itself; the library's default
    is the full decode."""
    import alexnet_viz as av
    from alexnet_viz.images import KEEP_SIDE

    asked, real = [], av.load_image
    monkeypatch.setattr(av, "load_image", lambda *a, **k: asked.append(k) or real(*a, **k))
    at = start()
    at.sidebar.file_uploader(key="upload").set_value(("big.jpg", photo_bytes("JPEG", size=(3000, 2000)),
                                                      "image/jpeg")).run()
    assert not at.exception, at.exception
    assert asked[-1] == {"max_side": KEEP_SIDE, "draft": True}
    assert at.session_state["image"].image.size == (1024, 683)


def test_warp_preprocessing_is_chosen_on_predict_and_followed_by_every_page(forward_calls):
    at = start()
    at.radio(key="_prep_mode_widget").set_value("warp").run()
    assert not at.exception, at.exception
    assert at.session_state["_selection"].mode == "warp"
    assert any("57.1%" in c.value for c in at.main.caption), "the published accuracy is tied to this pipeline"
    assert len(forward_calls) == 2, "a new input, so one more forward pass"
    at.switch_page("views/feature_maps.py").run()
    assert at.session_state["_selection"].mode == "warp" and len(forward_calls) == 2
    at.switch_page("views/predict.py").run()
    assert at.radio(key="_prep_mode_widget").value == "warp"


def test_a_narrow_16bit_photo_is_stretched_and_the_caption_says_so(forward_calls):
    ramp = np.linspace(291, 694, 320 * 240).reshape(240, 320).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "TIFF")
    at = start()
    at.sidebar.file_uploader(key="upload").set_value(("sensor.tiff", buf.getvalue(), "image/tiff")).run()
    assert not at.exception, at.exception
    assert "contrast was stretched" in at.session_state["image"].caption


def test_the_app_turns_tf32_off_for_its_process(forward_calls, monkeypatch):
    """On a GPU, TF32 would move every number a page explains (alexnet_viz.full_float32)."""
    import torch

    from alexnet_viz.network import full_float32

    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        at = start()
        assert not at.exception
        assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    finally:  # as the rest of the suite runs (conftest.py)
        full_float32()


def test_the_sidebar_photo_is_encoded_once_and_follows_an_upload(forward_calls, monkeypatch):
    """The sidebar's photo is encoded once per photo (not on every run of every page), and a new
    photo gets its own picture, not the cached one of the photo before."""
    import alexnet_viz.render as render

    calls = []
    real = render.jpeg_bytes
    monkeypatch.setattr(render, "jpeg_bytes", lambda img, **kw: calls.append(img.size) or real(img, **kw))
    at = start()
    cat = at.sidebar.get("image")[0].proto.imgs[0].url
    for page in ("views/feature_maps.py", "views/architecture.py"):
        at.switch_page(page).run()
        assert at.sidebar.get("image")[0].proto.imgs[0].url == cat
    at.sidebar.file_uploader(key="upload").set_value(("photo.png", photo_bytes(), "image/png")).run()
    assert not at.exception and not errors(at)
    assert at.sidebar.get("image")[0].proto.imgs[0].url != cat
    assert len(calls) <= 2, calls  # the cat (unless an earlier test cached it), then the upload
    assert calls[-1] == at.session_state["image"].image.size
