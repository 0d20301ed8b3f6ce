"""The shared sidebar (app/sidebar.py) through AppTest: photos, samples, uploads and the camera;
the network and its weights (downloads, retries, the server's weight files); and how each mistake
is explained while the previous choice stays in use."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app_support import OFFLINE, count_forward_passes, offline_pretrained_weights
from test_app import PAGES, errors, sidebar_words, start, weight_folder


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
    import sidebar

    sidebar._LOGGED.clear()
    at = start()
    assert seen == ["alexnet2012"]
    assert "The download stopped half way." not in sidebar_words(at), "the loader's sentence is for the log"
    assert sidebar.UNTRAINED_WORDS in [m.value for m in at.sidebar.markdown]
    assert ("alexnet2012", "The download stopped half way.") in sidebar._LOGGED
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


def test_a_narrow_16bit_photo_is_stretched_and_the_caption_says_so(forward_calls):
    ramp = np.linspace(291, 694, 320 * 240).reshape(240, 320).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "TIFF")
    at = start()
    at.sidebar.file_uploader(key="upload").set_value(("sensor.tiff", buf.getvalue(), "image/tiff")).run()
    assert not at.exception, at.exception
    assert "contrast was stretched" in at.session_state["image"].caption


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
