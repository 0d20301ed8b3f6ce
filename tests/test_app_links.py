"""Every page's state in its address (app/links.py) through AppTest: a link's values reach the
widgets, a changed widget changes the address, the address opened in a fresh session shows the
same view, the sidebar's choices ride along from page to page, an upload or a server's weight
file never enters a link, and garbage in a link is ignored with a sentence, never an exception."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app_support import fresh_caches, offline_pretrained_weights, open_page

SIDEBAR = ("sample", "model", "weights", "mode")


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)
    fresh_caches()


def params(at: AppTest) -> dict:
    """The address as the browser would show it (AppTest keeps a list once the app wrote a value)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def notes(at: AppTest) -> str:
    return " ".join(i.value for i in [*at.main.info, *at.sidebar.info])


def share_line(at: AppTest) -> str:
    (line,) = [c.value for c in at.sidebar.caption if c.value.startswith("🔗")]
    return line


def photo_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# -- the sidebar: sample, network, weights, preprocessing --------------------------------------------
def test_the_sidebar_follows_a_link_and_the_address_follows_the_sidebar():
    at = open_page("views/predict.py", {"sample": "coffee", "model": "torchvision", "weights": "untrained",
                                        "mode": "warp"})
    assert at.sidebar.selectbox(key="sample").value == "Coffee cup"
    assert at.session_state["image"].name == "Coffee cup", "the photo follows the link, not just the box"
    assert at.sidebar.selectbox(key="model").value == "torchvision"
    assert at.sidebar.radio(key="weights").value == "untrained"
    sel = at.session_state["_selection"]
    assert (sel.model, sel.mode, sel.net.weights) == ("torchvision", "warp", "untrained")
    assert at.radio(key="_prep_mode_widget").value == "warp", "Predict's own radio shows the link's mode"
    assert not notes(at).count("link"), notes(at)

    at.sidebar.selectbox(key="model").set_value("alexnet2012").run()
    at.sidebar.selectbox(key="sample").set_value("Rocket launch").run()
    at.radio(key="_prep_mode_widget").set_value("aspect").run()
    assert not at.exception, at.exception
    sidebar = {k: v for k, v in params(at).items() if k in SIDEBAR}
    assert sidebar == {"sample": "rocket", "weights": "untrained"}, "defaults leave the address"


def test_the_sidebar_rides_along_when_the_page_changes():
    at = open_page("views/predict.py", {"sample": "astronaut", "model": "torchvision"})
    at.query_params.clear()  # a page change in the browser starts with a clean address
    at.switch_page("views/kernels.py").run()
    assert not at.exception, at.exception
    assert {"sample": "astronaut", "model": "torchvision"}.items() <= params(at).items()
    assert at.session_state["image"].name == "Astronaut"


def test_an_upload_stays_out_of_the_link_and_the_page_says_so():
    at = open_page("views/predict.py", {"sample": "coffee"})
    assert params(at)["sample"] == "coffee"
    assert "uploaded" not in share_line(at)
    at.sidebar.file_uploader(key="upload").set_value(("mine.png", photo_bytes(), "image/png")).run()
    assert not at.exception, at.exception
    assert at.session_state["image"].name == "mine.png"
    assert "sample" not in params(at), "no sample names an upload"
    line = share_line(at)
    assert "uploaded photo" in line and "cannot travel in a link" in line, line


def test_a_weight_file_stays_out_of_the_link(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_VIZ_WEIGHT_DIR", str(tmp_path))
    at = open_page("views/predict.py", {"weights": "untrained"})
    assert params(at)["weights"] == "untrained"
    at.sidebar.radio(key="weights").set_value("file").run()
    assert not at.exception, at.exception
    assert "weights" not in params(at) and str(tmp_path) not in str(params(at))
    assert "weight file" in share_line(at)
    for bad in ("file", str(tmp_path / "x.pt"), "../../etc/passwd"):  # a link cannot choose a file either
        again = open_page("views/predict.py", {"weights": bad})
        assert again.sidebar.radio(key="weights").value == "pretrained"
        assert "weights=" in notes(again)


# -- each page's own controls -----------------------------------------------------------------------
CASES = {  # page: (a link, {widget key: the value it must show})
    "views/predict.py": ({"class": "281"}, {"predict_class": 281}),
    "views/architecture.py": ({"variant": "keras-tutorial", "size": "other", "other": "300", "differs": "0"},
                              {"arch_variant": "keras-tutorial", "arch_size_other": 300, "arch_only_diff": False}),
    "views/kernels.py": ({"compare": "1", "layer": "conv3", "channel": "77"},
                         {"k_compare": True, "k_layer": "conv3", "k_out_conv3": 77}),
    "views/feature_maps.py": ({"layer": "relu2", "channel": "130", "sort": "max", "shared": "1"},
                              {"fm_layer": "relu2", "fm_channel_relu2": 130, "fm_sort": "max", "fm_shared": True}),
    "views/lab.py": ({"experiment": "knockout", "layer": "conv3", "channels": "4,5,6", "class": "7"},
                     {"lab_experiment": "knockout", "lab_zero_layer": "conv3", "lab_zero_conv3": [4, 5, 6],
                      "lab_class": 7}),
    "views/quiz.py": ({"variant": "torchvision", "size": "223", "question": "12345"},
                      {"quiz_model": "torchvision", "quiz_size": 223}),
    "views/attribution.py": ({"method": "grad_cam", "grad_cam.layer": "conv4", "target": "class", "class": "281",
                              "sign": "signed", "clip": "97.5", "opacity": "0.3"},
                             {"attr_method": "grad_cam", "attr_grad_cam_layer": "conv4", "attr_target_mode": "class",
                              "attr_class": 281, "attr_sign": "signed", "attr_percentile": 97.5,
                              "attr_opacity": 0.3}),
    "views/lookfor.py": ({"layer": "relu3", "channel": "200"}, {"lf_layer": "relu3", "lf_channel_relu3": 200}),
}


def widget_values(at: AppTest, keys) -> dict:
    return {k: at.session_state[k] for k in keys}


@pytest.mark.parametrize("page", list(CASES))
def test_a_link_sets_the_pages_controls_and_the_address_round_trips(page):
    link, shown = CASES[page]
    at = open_page(page, link)
    assert widget_values(at, shown) == shown
    assert not notes(at).count("This link"), notes(at)
    assert link.items() <= params(at).items(), "the page writes back what it shows"
    again = open_page(page, params(at))  # the copied address in a new session
    assert widget_values(again, shown) == shown
    assert params(again) == params(at)


def test_the_quizs_link_asks_the_same_question_but_keeps_the_answer_out():
    at = open_page("views/quiz.py", {"variant": "alexnet2012", "size": "227"})
    at.text_input(key="quiz_answer").input("256x13x13")
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception, at.exception
    question = [m.value for m in at.markdown if m.value.startswith("### ")]
    link = params(at)
    assert "question" in link and not any("256" in v for k, v in link.items() if k != "question")
    again = open_page("views/quiz.py", link)
    assert [m.value for m in again.markdown if m.value.startswith("### ")] == question
    assert again.text_input(key="quiz_answer").value == ""


@pytest.mark.parametrize("page,key,value,name,written", [
    ("views/architecture.py", "arch_variant", "torchvision", "variant", "torchvision"),
    ("views/kernels.py", "k_layer", "conv5", "layer", "conv5"),
    ("views/lab.py", "lab_experiment", "lrn", "experiment", "lrn"),
    ("views/attribution.py", "attr_method", "grad_cam", "method", "grad_cam"),
    ("views/lookfor.py", "lf_layer", "relu2", "layer", "relu2"),
    ("views/predict.py", "predict_class", 281, "class", "281"),
    ("views/quiz.py", "quiz_model", "keras-tutorial", "variant", "keras-tutorial"),
])
def test_changing_a_control_changes_the_address(page, key, value, name, written):
    at = open_page(page)
    assert name not in params(at) or params(at)[name] != written
    at.selectbox(key=key).set_value(value).run()  # each of these controls is a selectbox
    assert not at.exception, at.exception
    assert params(at)[name] == written
    again = open_page(page, params(at))  # the copied address, in another session
    assert again.selectbox(key=key).value == value


def test_a_pages_view_comes_back_after_another_page():
    at = open_page("views/attribution.py", {"method": "grad_cam", "sign": "positive"})
    at.query_params.clear()
    at.switch_page("views/kernels.py").run()
    at.query_params.clear()  # the browser's page change drops the address; the session keeps the view
    at.switch_page("views/attribution.py").run()
    assert not at.exception, at.exception
    assert at.session_state["attr_method"] == "grad_cam" and at.session_state["attr_sign"] == "positive"
    assert {"method": "grad_cam", "sign": "positive"}.items() <= params(at).items()


# -- garbage in a link --------------------------------------------------------------------------------
GARBAGE = {
    "views/predict.py": {"class": "1000", "sample": "/etc/passwd", "model": "resnet", "weights": "file",
                         "mode": "%00"},
    "views/architecture.py": {"variant": "x" * 5000, "size": "nan", "differs": "maybe"},
    "views/kernels.py": {"layer": "conv1", "channel": "-1", "compare": "2"},
    "views/feature_maps.py": {"sort": "random", "shared": "[]"},
    "views/lab.py": {"experiment": "knockout", "channels": "1,2,x", "class": "1e9"},
    "views/quiz.py": {"variant": "vgg", "size": "10000", "question": "-5"},
    "views/attribution.py": {"method": "grad_cam", "grad_cam.layer": "fc8", "clip": "inf", "opacity": "1.5",
                             "view": "all"},
    "views/lookfor.py": {"layer": "conv1", "channel": "3.5"},
}


@pytest.mark.parametrize("page", list(GARBAGE))
def test_garbage_in_a_link_is_ignored_with_a_sentence(page):
    bad = GARBAGE[page]
    at = open_page(page, bad)
    said = notes(at)
    for name, value in bad.items():
        if params(at).get(name) == value:  # only a value the page offers may stay
            assert (name, value) in [("experiment", "knockout"), ("method", "grad_cam")], (name, value)
            continue
        assert f"{name}=" in said, (name, said)
    assert "x" * 31 not in said, "a long value is cut short in the sentence"
    at.run()  # the next run sees the corrected address: nothing more to say
    assert not at.exception and "This link" not in notes(at)


def test_a_link_names_only_a_photo_index_the_server_lists(tmp_path, monkeypatch):
    import alexnet_viz as av

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.open(io.BytesIO(photo_bytes())).rotate(90 * i).save(photos / f"p{i}.png")
    net = av.load_network("alexnet2012", "untrained", "cpu")
    for name in ("alpha", "beta"):
        av.build_index(photos, net, tmp_path / "indexes" / name)
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path))
    at = open_page("views/lookfor.py", {"index": "beta"})
    assert at.sidebar.selectbox(key="photo_index").value == "beta" and params(at)["index"] == "beta"
    for bad in ("../indexes/beta", str(tmp_path / "indexes" / "beta"), "gamma"):
        again = open_page("views/lookfor.py", {"index": bad})
        assert again.sidebar.selectbox(key="photo_index").value == "alpha"
        assert "index=" in notes(again) and "index" not in params(again)


def test_another_layers_channel_box_starts_at_its_own_default():
    at = open_page("views/kernels.py", {"layer": "conv3", "channel": "77"})
    at.selectbox(key="k_layer").set_value("conv4").run()
    assert not at.exception, at.exception
    assert at.number_input(key="k_out_conv4").value == 0 and "channel" not in params(at)
    at.selectbox(key="k_layer").set_value("conv3").run()
    assert params(at)["layer"] == "conv3"
