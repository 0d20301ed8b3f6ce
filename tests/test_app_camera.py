"""The Live camera page through AppTest (the WebRTC component itself is a placeholder here; the
browser test drives it): it renders, offers conv1 … pool5 with conv1 first, never runs the
network on the session's photo, hands the sidebar's network and the chosen layer to the session's
processor, and shows what the processor has done."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from alexnet_viz.live import live_layers
from app_support import APP, count_forward_passes, offline_pretrained_weights

PAGE = "views/camera.py"
PROC = "_live_processor"


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture(autouse=True)
def no_live_runtime(monkeypatch):
    """AppTest's runtime is a mock without a session manager, so streamlit-webrtc's look-up of the
    session (``Runtime.instance()._session_mgr``) raises AttributeError where it expects None
    outside a live run; give it that None, as it gets in a bare script."""
    import streamlit_webrtc.component as component

    monkeypatch.setattr(component, "get_this_session_info", lambda: None)


@pytest.fixture
def forward_calls(monkeypatch):
    return count_forward_passes(monkeypatch)


def open_camera() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.main.metric if m.label == label)


def test_the_page_renders_with_conv1_and_runs_nothing_on_the_photo(forward_calls):
    at = open_camera()
    assert at.main.title[0].value == "Live camera"
    box = at.selectbox(key="live_layer")
    assert box.value == "conv1"
    assert list(box.options) == live_layers(at.session_state[PROC].net.arch)
    assert "norm1" not in box.options and "fc8" not in box.options
    assert metric(at, "Frames processed") == "0" and metric(at, "Updates/s") == "–"
    assert any("HTTPS or on localhost" in i.value for i in at.main.info)
    assert forward_calls == [], "the page itself runs no forward pass: only frames do"


@pytest.fixture
def stream(monkeypatch):
    """The WebRTC component as a stand-in whose ``playing`` the test sets (START and STOP)."""
    from types import SimpleNamespace

    import streamlit_webrtc

    ctx = SimpleNamespace(state=SimpleNamespace(playing=False))
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda *a, **k: ctx)
    return ctx.state


def test_the_processor_follows_the_layer_and_the_network_and_the_page_shows_its_work(forward_calls, stream):
    stream.playing = True
    at = open_camera()
    proc = at.session_state[PROC]
    assert proc.net.name == "alexnet2012" and proc.layer == "conv1"
    at.selectbox(key="live_layer").set_value("pool2").run()
    assert not at.exception
    assert at.session_state[PROC] is proc and proc.layer == "pool2"
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    assert not at.exception
    assert proc.net.name == "torchvision" and proc.layer == "pool2"

    frame = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for _ in range(2):  # what the stream's callback does, on this thread instead
        proc.picture_for(frame)
    at.run()
    assert not at.exception
    assert metric(at, "Frames processed") == "2"
    assert metric(at, "Updates/s") != "–" and metric(at, "Work per frame").endswith(" ms")
    top = [m.value for m in at.main.markdown if m.value.startswith("**Top-5 of the latest frame**")]
    assert top and proc.stats().top[0][1] in top[0] and "pool2 shown" in top[0]
    proc.picture_for(np.zeros((10, 10), np.uint8))  # a frame the processor cannot use
    at.run()
    assert any("(H, W, 3)" in w.value for w in at.main.warning), "the failure is a sentence on the page"


@pytest.mark.parametrize("setting, allowed", [(None, 2), ("1", 1), ("99", 16), ("many", 2)])
def test_the_server_says_how_many_streams_it_allows(monkeypatch, setting, allowed):
    import streamlit as st

    if setting is None:
        monkeypatch.delenv("ALEXNET_VIZ_LIVE_STREAMS", raising=False)
    else:
        monkeypatch.setenv("ALEXNET_VIZ_LIVE_STREAMS", setting)
    st.cache_resource.clear()  # the gate is made once per server
    at = open_camera()
    assert at.session_state[PROC].gate.max_streams == allowed
    assert any(f"Live streams on this server: 0 of {allowed} allowed at once." in c.value for c in at.main.caption)


def test_the_layer_travels_in_the_link_and_a_bad_one_is_ignored():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["layer"] = "relu3"
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="live_layer").value == "relu3"
    assert at.session_state[PROC].layer == "relu3"
    at.selectbox(key="live_layer").select("pool5").run()
    assert at.query_params["layer"] in ("pool5", ["pool5"])

    bad = AppTest.from_file(APP, default_timeout=120)
    bad.query_params["layer"] = "fc8"  # not a stack of maps: not offered
    bad.switch_page(PAGE).run()
    assert not bad.exception, bad.exception
    assert bad.selectbox(key="live_layer").value == "conv1"
    assert any("layer=fc8" in w.value for w in list(bad.main.warning) + list(bad.main.info) + list(bad.main.caption))


def test_the_processor_follows_the_sidebars_preprocessing_mode():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["mode"] = "warp"
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.session_state[PROC].mode == "warp"
    at.query_params.clear()
    fresh = AppTest.from_file(APP, default_timeout=120)
    fresh.switch_page(PAGE).run()
    assert fresh.session_state[PROC].mode == "aspect"


def test_after_stop_the_rate_and_the_streams_line_say_it_stopped(stream):
    """Issue 22 item 9: after STOP, '13.3 updates/s' and '1 of 2 streams' stayed on screen."""
    stream.playing = True
    at = open_camera()
    proc = at.session_state[PROC]
    frame = np.random.default_rng(4).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    for _ in range(3):
        proc.picture_for(frame)
    at.run()
    assert metric(at, "Updates/s") != "–"
    allowed = proc.gate.max_streams
    assert any(f"Live streams on this server: 1 of {allowed}" in c.value for c in at.main.caption)
    stream.playing = False  # STOP: the component reruns the page
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Updates/s") == "–", "no rate for a stream that stopped"
    assert metric(at, "Frames processed") == "3", "what it did stays"
    assert any(f"Live streams on this server: 0 of {allowed}" in c.value for c in at.main.caption)
    assert proc.gate.active() == 0, "its place is given up at once, not after the gate's idle time"


def test_a_links_unknown_layer_is_said_and_stays_said_through_the_streams_rerun():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["layer"] = "fc9"
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    said = lambda: [i.value for i in at.main.info if "layer=fc9" in i.value]  # noqa: E731
    assert at.selectbox(key="live_layer").value == "conv1" and len(said()) == 1
    at.run()  # what the stream's component does as it starts
    assert len(said()) == 1, "the sentence is still there to be read"
    at.selectbox(key="live_layer").select("pool5").run()
    assert not said(), "gone once the visitor picks a layer"
