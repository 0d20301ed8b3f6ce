"""The attribution page through Streamlit's AppTest, on the untrained network: every method runs
from its generated widgets, targets (top, any class, a contrast), the comparison on a shared or
per-map scale, the sanity check, downloads, and no recomputation on a display-only change."""
from __future__ import annotations

import json
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from alexnet_viz import attribution
from app_support import APP, fresh_caches, offline_pretrained_weights

import sidebar  # noqa: E402  (the app's module: app_support put app/ on the path)

PAGE = "views/attribution.py"
TIMEOUT = 120
CHEAP = {"integrated_gradients": {"steps": 4}, "smoothgrad": {"samples": 2},
         "occlusion": {"window": 75, "stride": 75}}  # set through the page's widgets


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def explain_calls(monkeypatch):
    """Fresh caches, and the (method, params) of every real attribution computed."""
    fresh_caches()
    calls = []
    original = attribution.explain

    def counting(net, x, method, target=None, progress=None, **params):
        calls.append((method, params))
        return original(net, x, method, target, progress, **params)

    monkeypatch.setattr(attribution, "explain", counting)
    return calls


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [i.proto.imgs[0].caption for i in at.main.get("image")]


def pictures(at: AppTest) -> list[str]:
    """The images' media URLs: a changed picture gets a new one."""
    return [i.proto.imgs[0].url for i in at.main.get("image")]


def downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.main.get("download_button")]


def texts(at: AppTest) -> str:
    return " ".join(x.value for kind in ("markdown", "caption", "warning", "info", "success", "error")
                    for x in at.main.get(kind) if hasattr(x, "value"))


def cheap(at: AppTest, method: str) -> None:
    """Set the cheap values; a costly method's form is submitted with its Run button."""
    for name, value in CHEAP.get(method, {}).items():
        at.slider(key=f"attr_{method}_{name}").set_value(value)
    run = [b for b in at.main.button if b.key == f"attr_run_{method}"]
    (run[0].click() if run else at).run()


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.main.warning)


def test_page_explains_the_top_class_and_says_the_network_is_random(explain_calls):
    at = open_page()  # the pretrained weights, which this (offline) server does not have
    assert sidebar.UNTRAINED_WORDS in warnings(at), "the sidebar's sentence: no trained weights to load"
    assert "explain a *random* network" in warnings(at)
    assert "Choose the pretrained weights" not in warnings(at)
    assert any("badge[:material/warning: untrained network]" in m.value for m in at.main.markdown), "the page's untrained label"
    top = at.session_state["_selection"].net.categories[int(at.session_state["_selection"].forward.probs.argmax())]
    assert any(c.startswith(f"Saliency (vanilla gradient) for “{top}”") for c in captions(at))
    assert downloads(at) == ["Map (PNG)", "Numbers (.npy)"]
    assert explain_calls == [("saliency", {})]


@pytest.mark.slow
def test_every_method_runs_from_its_widgets(explain_calls):
    at = open_page()
    assert at.selectbox(key="attr_method").options == [m.title for m in av.ATTRIBUTION_METHODS.values()]
    for name, m in av.ATTRIBUTION_METHODS.items():
        at.selectbox(key="attr_method").set_value(name).run()
        cheap(at, name)
        assert not at.exception, (name, at.exception)
        assert not at.error, (name, [e.value for e in at.error])
        assert any(c.startswith(f"{m.title} for") for c in captions(at)), name
        assert downloads(at) == ["Map (PNG)", "Numbers (.npy)"], name
        if name == "integrated_gradients":
            assert "Convergence delta" in texts(at) and "completeness" in texts(at)
            assert re.search(r"Completeness error [\d.]+% with \d+ gradient evaluations|cap of|says nothing",
                             texts(at)), "the error reached and the evaluations used, as the library reports"
        if name == "grad_cam":  # the layer widget lists the network's conv layers
            assert at.selectbox(key="attr_grad_cam_layer").options == [
                "conv1", "conv2", "conv3", "conv4", "conv5", "relu1", "relu2", "relu3", "relu4", "relu5"]
            assert at.selectbox(key="attr_grad_cam_layer").value == "relu5", "the rectified maps by default"
            at.selectbox(key="attr_grad_cam_layer").set_value("conv3").run()
            assert "Grad-CAM at conv3 is 13×13" in texts(at)
    ran = {(m, tuple(sorted(p.items()))) for m, p in explain_calls}
    for name in av.ATTRIBUTION_METHODS:  # each ran with the cheap values set through the widgets
        want = {**av.ATTRIBUTION_METHODS[name].defaults(), **CHEAP.get(name, {})}
        if name == "grad_cam":
            want["layer"] = "conv3"
        assert any(m == name and all(dict(p).get(k) == v for k, v in want.items()) for m, p in ran), name


def test_occlusion_starts_coarse_and_a_bad_stride_is_explained(explain_calls):
    at = open_page()
    at.selectbox(key="attr_method").set_value("occlusion").run()
    assert at.slider(key="attr_occlusion_stride").value == 28, "the page's coarse default, not the registry's 8"
    assert "64 windows" in texts(at)
    at.slider(key="attr_occlusion_window").set_value(20)  # change both, then Run
    at.slider(key="attr_occlusion_stride").set_value(40)
    at.button(key="attr_run_occlusion").click().run()
    assert not at.exception
    assert "stride (40) must not exceed its window (20)" in " ".join(e.value for e in at.error)


def test_approximate_occlusion_is_labelled_approximate_on_the_page(explain_calls):
    at = open_page()
    at.selectbox(key="attr_method").set_value("occlusion").run()
    at.slider(key="attr_occlusion_window").set_value(57)
    at.slider(key="attr_occlusion_stride").set_value(20)
    at.selectbox(key="attr_occlusion_mode").set_value("approximate")
    at.button(key="attr_run_occlusion").click().run()
    assert not at.exception and not at.error
    ran = [p for m, p in explain_calls if m == "occlusion"]
    assert ran and ran[-1]["mode"] == "approximate"
    warning = " ".join(w.value for w in at.main.warning)
    assert re.search(r"\*\*Approximate\*\* occlusion map: 50 of 100 square positions computed \(every other one\)",
                     warning), warning
    at.selectbox(key="attr_occlusion_mode").set_value("exact")
    at.button(key="attr_run_occlusion").click().run()
    assert "Approximate" not in " ".join(w.value for w in at.main.warning)


def test_display_changes_redraw_without_recomputing(explain_calls):
    at = open_page()
    at.selectbox(key="attr_method").set_value("integrated_gradients").run()
    assert "press **Run**" in texts(at).replace("press Run", "press **Run**") or at.main.info, "costly: waits"
    assert len(explain_calls) == 1, "integrated gradients (6 batched passes) waits for its Run button"
    cheap(at, "integrated_gradients")
    assert len(explain_calls) == 2  # saliency on arrival, then IG at 4 steps
    before = pictures(at)
    at.slider(key="attr_opacity").set_value(0.2).run()
    at.radio(key="attr_sign").set_value("signed").run()
    at.slider(key="attr_percentile").set_value(95.0).run()
    assert pictures(at)[-2:] != before[-2:], "the overlay and the map were redrawn"
    assert len(explain_calls) == 2, "opacity, sign and percentile never recompute"
    at.slider(key="attr_integrated_gradients_steps").set_value(5).run()
    assert len(explain_calls) == 2, "a slider in the form starts nothing until Run"
    at.slider(key="attr_integrated_gradients_steps").set_value(5)
    at.button(key="attr_run_integrated_gradients").click().run()
    assert len(explain_calls) == 3, "a parameter change does recompute, on Run"
    at.slider(key="attr_integrated_gradients_steps").set_value(4)
    at.button(key="attr_run_integrated_gradients").click().run()
    assert len(explain_calls) == 3, "going back to 4 steps reads the cache"


def test_any_class_and_a_contrast(explain_calls):
    at = open_page()
    names = at.session_state["_selection"].net.categories
    at.radio(key="attr_target_mode").set_value("class").run()
    at.selectbox(key="attr_class").set_value(7).run()
    assert any(f"for “{names[7]}”" in c for c in captions(at))
    at.radio(key="attr_target_mode").set_value("contrast").run()
    at.selectbox(key="attr_class_a").set_value(3)
    at.selectbox(key="attr_class_b").set_value(9).run()
    assert any(f"for “{names[3]} rather than {names[9]}”" in c for c in captions(at))
    at.selectbox(key="attr_class_b").set_value(3).run()
    assert not at.exception
    assert "A and B are the same class" in " ".join(e.value for e in at.error)


def test_compare_on_a_shared_or_per_map_scale(explain_calls):
    """Per map by default; a shared scale only among methods whose numbers have the same units."""
    at = open_page()
    at.segmented_control(key="attr_view").set_value("compare").run()
    at.multiselect(key="attr_compare").set_value(["saliency", "grad_cam"]).run()
    assert not at.exception, at.exception
    info = " ".join(i.value for i in at.main.info)
    assert "Each map on its own colour scale" in info and "None of the chosen methods share units" in info
    assert at.radio(key="attr_scale").disabled, "saliency and Grad-CAM measure different things"
    caps = [c for c in captions(at) if " — full colour at " in c]
    assert len(caps) == 2 and caps[0].split(" at ")[-1] != caps[1].split(" at ")[-1]
    assert len(downloads(at)) == 4
    at.multiselect(key="attr_compare").set_value(["saliency", "smoothgrad", "grad_cam"]).run()
    at.radio(key="attr_scale").set_value("shared").run()
    assert not at.exception, at.exception
    info = " ".join(i.value for i in at.main.info)
    assert "One shared colour scale** for Saliency (vanilla gradient), SmoothGrad" in info
    caps = [c for c in captions(at) if " — full colour at " in c]
    assert caps[0].split(" at ")[-1] == caps[1].split(" at ")[-1], "saliency and SmoothGrad share a scale"
    assert caps[2].split(" at ")[-1] != caps[0].split(" at ")[-1], "Grad-CAM keeps its own"
    assert [m for m, _ in explain_calls] == ["saliency", "guided_backprop", "grad_cam", "smoothgrad"], \
        "each method once (saliency on arrival, the default trio, then SmoothGrad); the scale only redraws"


def test_sanity_check_runs_on_the_button_and_shows_each_step(explain_calls):
    at = open_page()
    at.segmented_control(key="attr_view").set_value("sanity").run()
    at.multiselect(key="attr_sanity_methods").set_value(["saliency", "grad_cam"]).run()
    assert "Press **Run the sanity check**" in " ".join(i.value for i in at.main.info)
    before = len(explain_calls)
    at.button(key="attr_sanity_run").click().run()
    assert not at.exception, at.exception
    assert len(explain_calls) - before == 2 * 9, "original + 8 randomised layers, per method"
    chart = json.loads(at.main.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in chart["data"]] == ["Saliency (vanilla gradient)", "Grad-CAM"]
    assert chart["data"][0]["x"][0] == "original" and chart["data"][0]["x"][-1] == "conv1"
    assert chart["data"][0]["y"][0] == pytest.approx(1.0), "the original map correlates fully with itself"
    rows = [c.value for c in at.main.caption if "rank correlation" in c.value]
    assert [c for c in captions(at) if c.startswith("fc8: ")], "every thumbnail column is labelled with its step"
    assert len(rows) == 2 and rows[0].startswith("Saliency") and rows[1].startswith("Grad-CAM")
    assert downloads(at) == ["Row (PNG)", "Maps (.npy)"] * 2, "each method's row and numbers download"
    assert at.main.warning or at.main.success, "says which methods barely change"
    summary = texts(at)
    for title in ("Saliency (vanilla gradient)", "Grad-CAM"):  # when each map stopped looking like the original
        assert re.search(rf"\*\*{re.escape(title)}\*\*: (still above 0\.5 with all 8|below 0\.5 once \w+ was random)",
                         summary), title
    at.slider(key="attr_opacity").set_value(0.3).run()
    assert len(explain_calls) - before == 18, "the result is kept and redrawn, not recomputed"
    assert len(at.main.get("plotly_chart")) == 1


def test_the_untrained_warning_offers_the_pretrained_weights_only_where_the_server_may_have_them(
        explain_calls, monkeypatch, tmp_path):
    monkeypatch.setenv(sidebar.WEIGHT_DIR_ENV, str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["weights"] = "untrained"  # chosen, and the pretrained ones not tried yet
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert "Choose the pretrained weights in the sidebar for real explanations" in warnings(at)
    assert sidebar.UNTRAINED_WORDS not in warnings(at)
    for weights in ("pretrained", "untrained"):  # tried: this server has none, and keeps saying so
        at.sidebar.radio(key="weights").set_value(weights).run()
        assert not at.exception, at.exception
        assert sidebar.UNTRAINED_WORDS in warnings(at) and "explain a *random* network" in warnings(at)
        assert "from the server's folder** under Weights in the sidebar" in warnings(at)
        assert "Choose the pretrained weights" not in warnings(at)


def test_torchvision_maps_are_drawn_on_its_224_crop(explain_calls):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    at.switch_page(PAGE).run()
    at.selectbox(key="attr_method").set_value("grad_cam").run()
    assert not at.exception, at.exception
    assert any(c.endswith("on the 224×224 crop") for c in captions(at))
    at.selectbox(key="attr_method").set_value("occlusion").run()
    assert "stride 28: 49 windows" in texts(at), "occlusion's cost counted on the 224 crop"
    at.selectbox(key="attr_method").set_value("grad_cam").run()
    assert "Grad-CAM at relu5 is 13×13 before it is upsampled to 224×224" in texts(at)


def test_a_parameter_is_shown_only_where_it_acts(explain_calls):
    at = open_page()
    at.selectbox(key="attr_method").set_value("integrated_gradients").run()
    keys = {s.key for s in at.main.slider}
    assert "attr_integrated_gradients_steps" in keys and "attr_integrated_gradients_blur_sigma" not in keys
    at.selectbox(key="attr_integrated_gradients_baseline").set_value("blurred")
    at.button(key="attr_run_integrated_gradients").click().run()
    assert not at.exception, at.exception
    assert "attr_integrated_gradients_blur_sigma" in {s.key for s in at.main.slider}, "blur acts on a blurred baseline"
