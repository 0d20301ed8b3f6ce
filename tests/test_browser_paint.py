"""What-if painting in a real browser, on the untrained two-tower network and Chelsea the cat: a
stroke drawn with the mouse on the Paper lab's canvas (streamlit-drawable-canvas, a Streamlit v2
component: it sits in the page itself, not in an iframe) gives a top-5 "after" that equals what the
library computes from the same strokes (read back from the canvas) over the same crop; the crop the
page shows as "what the network reads" is that composite, pixel for pixel; Clear empties it.
Screenshots at 1400×900 and 1280×720 go to ``tests/artifacts/browser/paint_*.png``."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import lab, painting
from streamlit_browser import ROOT, choose, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
CANVAS = '[data-testid="stMain"] canvas.dc-canvas.upper-canvas'  # where the pointer draws
STROKES = '[data-testid="stMain"] canvas.dc-canvas.lower-canvas'  # the strokes, without the photo
SCALE = 2  # the page draws the 227×227 crop at 2×
BOX = (60, 50, 150, 130)  # (top, left, bottom, right) of the crop to paint over

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def chelsea():
    net = av.load_network("alexnet2012", "untrained", device="cpu")
    img = Image.fromarray(skimage.data.chelsea()).convert("RGB")  # sidebar.SAMPLES["Chelsea the cat"]
    with torch.no_grad():  # the photo's own activations, as the app keeps them (state._run_forward)
        acts = {k: v[0].numpy() for k, v in net.activations(net.preprocess(img)).items()}
    return net, net.view(img), acts


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("home")
    with running_app(SHOTS / "paint-server.log", env={"ALEXNET_VIZ_HOME": str(home)}) as url:
        yield url


def stroke(pg, box: tuple[int, int, int, int], step: int = 8) -> None:
    """One mouse-down, a zig-zag over ``box`` (crop pixels) in rows ``step`` apart, mouse-up."""
    canvas = pg.locator(CANVAS)
    canvas.scroll_into_view_if_needed()
    b = canvas.bounding_box()
    top, left, bottom, right = box
    at = lambda x, y: (b["x"] + SCALE * x, b["y"] + SCALE * y)  # noqa: E731
    pg.mouse.move(*at(left, top))
    pg.mouse.down()
    for i, y in enumerate(range(top, bottom + 1, step)):
        xs = range(left, right + 1, 4) if i % 2 == 0 else range(right, left - 1, -4)
        for x in xs:
            pg.mouse.move(*at(x, y))
    pg.mouse.up()


def top5_tables(pg) -> list[list[tuple[str, str]]]:
    """Each (class, probability) table in the main area, as the browser shows it."""
    tables = pg.locator('[data-testid="stMain"] [data-testid="stDataFrame"] table').evaluate_all(
        "ts => ts.map(t => [...t.querySelectorAll('tr')].map(r => [...r.querySelectorAll('td, th')]"
        ".map(c => c.innerText.trim())))")
    out = []
    for rows in tables:
        cells = [r[-2:] for r in rows if len(r) >= 2]
        if cells and cells[0][0] == "class" and cells[0][1].split()[0] in ("p", "probability"):  # "p": its help says probability
            out.append([tuple(r) for r in cells[1:]])
    return out


def png_at(pg, src: str) -> Image.Image:
    if src.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    return Image.open(io.BytesIO(pg.request.get(src).body()))


def shots(pg, name: str, anchor: str = CANVAS) -> None:
    """Screenshots at 1400×900 and 1280×720 with ``anchor`` scrolled into view."""
    for width, height in ((1400, 900), (1280, 720)):
        pg.set_viewport_size({"width": width, "height": height})
        pg.wait_for_timeout(800)
        pg.locator(anchor).first.scroll_into_view_if_needed()
        pg.wait_for_timeout(300)
        pg.screenshot(path=SHOTS / f"paint_{name}_{width}x{height}.png")
    pg.set_viewport_size({"width": 1400, "height": 900})
    pg.wait_for_timeout(500)


def test_a_stroke_gives_the_top5_of_the_painted_crop_and_clear_empties_it(app, chelsea):
    net, view, acts = chelsea
    with chromium_page(app + "/lab") as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        choose(pg, "Experiment", "What-if painting")
        pg.locator(CANVAS).wait_for(state="visible")
        assert pg.locator("iframe").count() == 0, "a v2 component: no iframe"
        assert pg.locator(CANVAS).bounding_box()["width"] == SCALE * view.size[0]
        main = pg.locator('[data-testid="stMain"]')
        assert main.get_by_text("Paint over the photo: the top-5 before and after").count() == 1
        assert not top5_tables(pg)
        shots(pg, "empty")

        stroke(pg, BOX)
        settle(pg)
        main.get_by_text("Top 5, painted").wait_for(state="visible")
        settle(pg)
        assert pg.locator('[data-testid="stException"]').count() == 0

        # the strokes as the canvas holds them: the painted region is where the mouse went
        data = pg.locator(STROKES).evaluate("c => c.toDataURL('image/png')")
        rgba = painting.read_painting(base64.b64decode(data.split(",", 1)[1]))
        assert rgba.shape == (SCALE * view.size[1], SCALE * view.size[0], 4)
        ys, xs = np.nonzero(rgba[..., 3])
        top, left, bottom, right = (SCALE * v for v in BOX)
        assert len(ys) > 0.8 * (bottom - top) * (right - left), "the zig-zag covers the box"
        pad = SCALE * 8  # half the default brush (12 crop pixels), and a little
        assert ys.min() >= top - pad and ys.max() <= bottom + pad and xs.min() >= left - pad and xs.max() <= right + pad

        painted = painting.paint_over(view, rgba)
        e = lab.painted_effect(net, view, painted, before=acts)
        before, after = top5_tables(pg)
        assert before == [(label, f"{100 * p:.2f}%") for _i, label, p in e.top("before")]
        assert after == [(label, f"{100 * p:.2f}%") for _i, label, p in e.top("after")]
        assert after != before, "painting a third of the crop grey moves the untrained network's top-5"
        cls = e.top_class
        metric = main.locator('[data-testid="stMetric"]').first
        assert metric.locator('[data-testid="stMetricValue"]').inner_text() == f"{100 * e.after[cls]:.2f}%"
        assert metric.locator('[data-testid="stMetricDelta"]').inner_text().endswith(
            f"{100 * e.change(cls):+.2f} points".lstrip("+-"))

        shown = main.locator('[data-testid="stImage"] img').first
        assert "What the network reads" in main.locator('[data-testid="stImage"]').first.inner_text()
        got = np.asarray(png_at(pg, shown.get_attribute("src")).convert("RGB"))
        assert np.array_equal(got, np.asarray(painted)), "the page composites the strokes as the library does"
        shots(pg, "stroke")
        shots(pg, "stroke_top5", '[data-testid="stMain"] [data-testid="stMetric"]')

        pg.get_by_role("button", name="Clear the painting").click()
        settle(pg)
        main.get_by_text("Paint over the photo: the top-5 before and after").wait_for(state="visible")
        assert not top5_tables(pg)
        empty = pg.locator(STROKES).evaluate("c => c.toDataURL('image/png')")
        assert not painting.read_painting(base64.b64decode(empty.split(",", 1)[1]))[..., 3].any()
        assert pg.locator('[data-testid="stException"]').count() == 0
