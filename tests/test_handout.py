"""The lesson as a handout (alexnet_viz.handout): one self-contained HTML file with all eight steps
and their pictures, the same numbers as the network, nothing fetched from anywhere when opened;
``alexnet-viz lesson`` writes it whole or not at all; the lesson page offers it for download."""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import lesson as lessons
from alexnet_viz.handout import lesson_html
from alexnet_viz.render.tiles import tower_grids


@pytest.fixture(scope="module")
def net():
    return av.load_network("alexnet2012", "untrained")


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(skimage.data.chelsea())


@pytest.fixture(scope="module")
def page(net, photo):
    return lesson_html(net, photo, source="chelsea")


def pictures(page: str) -> list[tuple[str, np.ndarray]]:
    """Every <img> in the page: its alt text and its decoded pixels."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">', page)
    return [(alt, np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))) for data, alt in found]


def test_all_eight_steps_in_order_with_the_lessons_shapes(net, page):
    steps = lessons.lesson(net.arch)
    headings = re.findall(r"<h2>Step (\d) of 8: (.*?)</h2>", page)
    assert [int(n) for n, _ in headings] == list(range(1, 9))
    for (_n, title), step in zip(headings, steps):
        assert title == step.title.replace("&", "&amp;")
    for step in steps:
        assert av.render.tables.shape_text(step.shape) in page


def test_nothing_outside_the_file_every_picture_embedded_and_described(page):
    assert page.count("<img") == len(pictures(page)) > 10  # every picture is a data: PNG
    lowered = page.lower()
    for outside in ("http://", "https://", "<script", "<link", "@import", "url(", "src=\"//"):
        assert outside not in lowered, outside
    for alt, pixels in pictures(page):
        assert alt.strip(), "every picture says what it shows"
        assert pixels.std() > 0, f"{alt}: a blank picture"


def test_the_pictures_are_the_networks_own_maps(net, photo, page):
    """Step 2's GPU 1 tiles are conv1's strongest GPU 1 channels on this photo, pixel for pixel."""
    with torch.no_grad():
        acts = net.activations(net.preprocess(photo))
    conv1 = acts["conv1"][0].numpy()
    grids = tower_grids(conv1, "conv1", "max", net.arch, top=8, cols=4, scale=1, pad=1)
    shown = dict(pictures(page))
    alt = f"GPU 1: its 8 strongest channels of conv1 ({', '.join(map(str, grids['GPU 1'].channels))})"
    assert alt in shown
    np.testing.assert_array_equal(shown[alt], grids["GPU 1"].rgb("viridis"))


def test_the_top5_is_the_networks_prediction(net, photo, page):
    top = net.predict(net.preprocess(photo), top=5)
    step8 = page[page.index('id="step-8"'):]
    listed = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">([0-9.e+-]+) %</td>", step8)
    assert [name for name, _p in listed] == [name.replace("&", "&amp;").replace("<", "&lt;") for _i, name, _p in top]
    np.testing.assert_allclose([float(p) for _n, p in listed], [p * 100 for *_x, p in top], rtol=1e-2)


def test_given_activations_give_the_same_page(net, photo, page):
    with torch.no_grad():
        acts = {k: v[0].numpy() for k, v in net.activations(net.preprocess(photo)).items()}
    assert lesson_html(net, photo, source="chelsea", acts=acts) == page


def test_a_one_tower_network_and_warp_mode(photo):
    tv = av.load_network("torchvision", "untrained")
    page = lesson_html(tv, photo, "warp")
    assert "GPU 1" not in page and "preprocessing: warp" in page
    assert len(re.findall(r"<h2>Step \d of 8", page)) == 8


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alexnet_viz", "lesson", *args], capture_output=True, text=True)


def test_the_command_line_writes_the_handout_whole_or_not_at_all(tmp_path):
    src = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(src)
    out = tmp_path / "lesson.html"
    done = cli(str(src), "--out", str(out), "--weights", "untrained")
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").count('class="step"') == 8 and "coffee.png" in done.stdout

    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    failed = cli(str(bad), "--out", str(tmp_path / "bad.html"), "--weights", "untrained")
    assert failed.returncode == 2 and "not an image" in failed.stderr and "Traceback" not in failed.stderr
    missing = cli(str(src), "--out", str(tmp_path / "nowhere" / "x.html"), "--weights", "untrained")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coffee.png", "lesson.html", "notes.jpg"]


def test_the_lesson_page_offers_the_handout_from_the_shared_forward_pass(monkeypatch):
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import AppTest

    from app_support import APP, count_forward_passes, offline_pretrained_weights

    offline_pretrained_weights(monkeypatch)
    calls = count_forward_passes(monkeypatch)
    offered = {}
    real = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        offered[kwargs.get("key")] = (data, kwargs.get("file_name"))
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    monkeypatch.setattr(st, "download_button", lambda *a, **k: recording(st.container(), *a, **k))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["step"] = "2"  # a step with maps: the page has run the forward pass
    at.switch_page("views/lesson.py").run()
    assert not at.exception, at.exception
    data, name = offered["lesson_handout"]
    before = len(calls)
    assert before == 1
    page = data()  # what the click downloads
    assert len(calls) == before, "the handout reuses the page's forward pass"
    assert name.endswith(".html") and page.count('class="step"') == 8 and "Chelsea" in page


@pytest.mark.browser
def test_the_handout_opens_offline_in_chromium_with_every_picture(tmp_path, page):
    from streamlit_browser import chromium_page, require_chromium

    require_chromium()
    path = tmp_path / "lesson.html"
    path.write_text(page, encoding="utf-8")
    with chromium_page(path.as_uri()) as pg:
        asked = []
        pg.on("request", lambda r: asked.append(r.url))
        pg.reload()
        pg.wait_for_load_state("load")
        assert pg.locator("h2").count() == 8
        widths = pg.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        assert len(widths) > 10 and min(widths) > 0
    assert all(u.startswith(("file:", "data:")) for u in asked), asked
