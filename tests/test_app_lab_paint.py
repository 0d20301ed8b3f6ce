"""The Paper lab's what-if painting through AppTest. AppTest cannot draw on a custom component,
so the canvas is checked by what the page sends it (the crop as its background, the brush), and
what it returns is played by a stand-in that renders the real canvas and returns a chosen
painting: the page's numbers are then the library's for the same strokes, and anything malformed
is a sentence. A real stroke in a real browser is tests/test_browser_paint.py."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from alexnet_viz import lab, painting
from app_support import fresh_caches, offline_pretrained_weights
from test_app_lab import open_lab, sel, shows_effect

COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)
    fresh_caches()


def canvas_data(at) -> dict:
    """What the page sent the canvas (its props), from the one drawable canvas on the page."""
    (el,) = at.main.get("bidi_component")
    return json.loads(el.proto.json) | {"id": el.proto.id, "component": el.proto.component_name}


def png_url(img: Image.Image | np.ndarray) -> str:
    buf = io.BytesIO()
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def strokes(size: tuple[int, int], box=(40, 60, 120, 200), colour=(0, 0, 0)) -> np.ndarray:
    """A canvas's RGBA at ``size`` (w, h): ``box`` (top, left, bottom, right) opaque, the rest clear."""
    w, h = size
    a = np.zeros((h, w, 4), np.uint8)
    t, l, b, r = box
    a[t:b, l:r] = (*colour, 255)
    return a


def drawable_canvas():
    """The component's module. It registers its files with the running Streamlit when imported,
    so it is imported inside a (bare) AppTest run, as the page would."""
    AppTest.from_string("import streamlit_drawable_canvas").run()
    import streamlit_drawable_canvas

    return streamlit_drawable_canvas


def returning(monkeypatch, data_url) -> list[dict]:
    """The canvas renders as usual but returns ``data_url`` as its image; its calls are listed."""
    sdc = drawable_canvas()
    real, calls = sdc.st_canvas, []

    def canvas(**kwargs):
        calls.append(kwargs)
        real(**kwargs)
        return sdc.CanvasResult({"objects": [{"type": "path"}]}, data_url, True)

    monkeypatch.setattr(sdc, "st_canvas", canvas)
    return calls


def test_the_canvas_shows_the_crop_the_network_sees_and_asks_for_a_stroke():
    at = open_lab("paint")
    s = sel(at)
    d = canvas_data(at)
    assert d["component"] == COMPONENT
    assert (d["canvasWidth"], d["canvasHeight"]) == (454, 454) and d["drawingMode"] == "freedraw"
    assert d["returnImageData"] is True
    bg = Image.open(io.BytesIO(base64.b64decode(d["backgroundImageURL"].split(",", 1)[1]))).convert("RGB")
    assert np.array_equal(np.asarray(bg), np.asarray(s.view)), "the background is the 227×227 crop itself"
    assert (d["strokeWidth"], d["strokeColor"]) == (24, "#808080")
    assert any("Paint over the photo" in i.value for i in at.info)
    assert not at.metric and not at.dataframe
    assert any("not one of the paper's experiments" in m.value.lower() for m in at.markdown)


def test_the_brush_is_bounded_and_reaches_the_canvas():
    at = open_lab("paint")
    slider = at.slider(key="lab_paint_width")
    assert (slider.min, slider.max) == (1, 60)
    slider.set_value(30).run()
    at.color_picker(key="lab_paint_colour").set_value("#d55e00").run()
    assert not at.exception, at.exception
    d = canvas_data(at)
    assert (d["strokeWidth"], d["strokeColor"]) == (60, "#d55e00"), "brush width in crop pixels, drawn at 2×"


def test_clear_gives_a_new_empty_canvas():
    at = open_lab("paint")
    first = canvas_data(at)["id"]
    at.button(key="lab_paint_clear").click().run()
    assert not at.exception, at.exception
    second = canvas_data(at)["id"]
    assert second != first, "a new canvas (the old strokes are gone)"
    at.selectbox(key="lab_class").set_value(3).run()
    assert canvas_data(at)["id"] == second, "a rerun keeps the painting"


@pytest.mark.parametrize("scale", [1, 2, 3])  # the crop's own size, the page's 2×, a high-density screen
def test_a_painting_gives_the_librarys_before_and_after(monkeypatch, scale):
    rgba = strokes((227 * scale, 227 * scale), tuple(v * scale for v in (40, 60, 120, 200)))
    returning(monkeypatch, png_url(rgba))
    at = open_lab("paint")
    s = sel(at)
    painted = painting.paint_over(s.view, rgba)
    e = lab.painted_effect(s.net, s.view, painted)
    assert not np.allclose(e.after, e.before)
    shows_effect(at, e)
    assert np.allclose(e.before, s.forward.probs, atol=1e-6), "before is the photo's own prediction"
    shown = [im for im in at.main.get("image")
             if im.proto.imgs[0].caption == "What the network reads: your strokes over the 227×227 crop"]
    assert len(shown) == 1
    assert not any("Paint over the photo" in i.value for i in at.info)
    at.selectbox(key="lab_class").set_value(281).run()
    assert not at.exception, at.exception
    shows_effect(at, e, cls=281)


def test_the_painted_crop_runs_once_however_often_the_page_reruns(monkeypatch):
    returning(monkeypatch, png_url(strokes((454, 454))))
    calls, real = [], lab.painted_effect
    monkeypatch.setattr(lab, "painted_effect", lambda *a, **k: calls.append(k) or real(*a, **k))
    at = open_lab("paint")
    at.selectbox(key="lab_class").set_value(3).run()
    at.slider(key="lab_paint_width").set_value(5).run()
    assert not at.exception, at.exception
    assert len(calls) == 1
    assert calls[0]["before"] is sel(at).acts, "the photo's own activations: only the painted crop runs"


@pytest.mark.parametrize("url,words", [
    ("data:image/png;base64,", "not a PNG picture"),
    ("data:image/png,plain", "not a picture"),
    ("data:image/png;base64,%%%%", "not a PNG picture"),
    (png_url(Image.new("RGBA", (painting.PAINT_MAX_SIDE + 2, 4))), "at most 4096 pixels a side"),
    (png_url(strokes((300, 454))), "crop's shape"),
    ("data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff" + bytes(50)).decode(), "not a PNG picture"),
])
def test_a_malformed_canvas_return_is_a_sentence(monkeypatch, url, words):
    returning(monkeypatch, url)
    at = open_lab("paint")
    assert not at.exception, at.exception
    assert any(words in i.value for i in at.info), [i.value for i in at.info]
    assert not at.metric and not at.dataframe


def test_a_clear_painting_asks_for_a_stroke(monkeypatch):
    returning(monkeypatch, png_url(np.zeros((454, 454, 4), np.uint8)))
    at = open_lab("paint")
    assert any("Paint over the photo" in i.value for i in at.info)
    assert not at.metric


def test_the_one_tower_network_paints_its_224_crop(monkeypatch):
    returning(monkeypatch, png_url(strokes((448, 448))))
    at = open_lab("paint", model="torchvision")
    s = sel(at)
    d = canvas_data(at)
    assert (d["canvasWidth"], d["canvasHeight"]) == (448, 448)
    shows_effect(at, lab.painted_effect(s.net, s.view, painting.paint_over(s.view, strokes((448, 448)))))
