"""Clicks in a real browser, on the untrained two-tower network and Chelsea the cat: a click on a
Feature maps tile picks its channel, a click on the enlarged channel opens "How was this number
made?" for the unit under the pointer, which shows the value the network computes for it here,
independently; a click on an Architecture diagram block opens its feature maps. Screenshots at
1400×900 and 1280×720 go to ``tests/artifacts/browser/clicks_*.png``, the server's output beside them."""
from __future__ import annotations

import skimage.data
import pytest
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import render
from streamlit_browser import ROOT, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
LAYER = "conv2"
COMPONENT = 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def chelsea():
    """The untrained alexnet2012 and its conv2 on the app's first sample photo, computed here."""
    net = av.load_network("alexnet2012", "untrained", device="cpu")
    img = Image.fromarray(skimage.data.chelsea()).convert("RGB")  # sidebar.SAMPLES["Chelsea the cat"]
    with torch.no_grad():
        acts = net.activations(net.preprocess(img), upto=LAYER)
    return net, acts[LAYER][0].numpy()  # (256, 27, 27)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One server for the module, offline, with an empty weight cache: the untrained network."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("home")
    with running_app(SHOTS / "clicks-server.log", env={"ALEXNET_VIZ_HOME": str(home)}) as url:
        yield url


def click_picture(pg, i: int, fx: float, fy: float) -> None:
    """Click the i-th clickable picture of the page at fractions (fx, fy) of its width and height."""
    frame = pg.frame_locator(COMPONENT).nth(i)
    img = frame.locator("img#image")
    img.wait_for(state="visible")
    box = img.bounding_box()
    img.click(position={"x": fx * box["width"], "y": fy * box["height"]})


def test_click_a_tile_then_a_unit_and_read_the_maps_value(app, chelsea):
    net, act = chelsea
    with chromium_page(app + f"/feature_maps?layer={LAYER}&channel=0") as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        main = pg.locator('[data-testid="stMain"]')
        assert pg.locator('[data-testid="stException"]').count() == 0
        pg.frame_locator(COMPONENT).nth(1).locator("img#image").wait_for(state="visible")
        pg.wait_for_timeout(500)
        pg.screenshot(path=SHOTS / "clicks_feature_maps_1400x900.png")
        pg.set_viewport_size({"width": 1280, "height": 720})
        pg.wait_for_timeout(800)
        pg.screenshot(path=SHOTS / "clicks_feature_maps_1280x720.png")
        pg.set_viewport_size({"width": 1400, "height": 900})
        pg.wait_for_timeout(500)

        # The page orders each tower by mean activation, strongest first: GPU 2's grid, row 2, column 3.
        g = render.tower_grids(act, LAYER, "mean", net.arch, scale=1, pad=1)["GPU 2"]
        want = g.channels[2 * g.cols + 3]
        top, left, bottom, right = g.box_of(want)
        h, w = g.image.shape
        click_picture(pg, 1, (left + right) / 2 / w, (top + bottom) / 2 / h)
        settle(pg)
        assert f"channel={want}" in pg.url, (pg.url, want)
        assert main.get_by_text(f"Channel {want} of {LAYER}, 27×27").count() == 1

        pg.frame_locator(COMPONENT).nth(2).locator("img#image").scroll_into_view_if_needed()
        pg.screenshot(path=SHOTS / "clicks_channel_1400x900.png")
        row, col = 10, 12
        click_picture(pg, 2, (col + 0.5) / 27, (row + 0.5) / 27)
        pg.wait_for_url("**/unit?**", timeout=60_000)
        settle(pg)
        main.get_by_text("How was this number made?").first.wait_for(state="visible")
        assert "/unit?" in pg.url and f"channel={want}" in pg.url and "row=10" in pg.url and "col=12" in pg.url
        label = main.locator('[data-testid="stMetricLabel"]').inner_text()
        assert f"{LAYER}[{want}, {row}, {col}]" in label, label
        shown = float(main.locator('[data-testid="stMetricValue"]').first.inner_text())
        expected = float(act[want, row, col])
        assert shown == pytest.approx(expected, rel=1e-3, abs=1e-6), (shown, expected)
        assert pg.locator('[data-testid="stException"]').count() == 0
        pg.screenshot(path=SHOTS / "clicks_unit_1400x900.png")


def test_a_click_on_a_diagram_block_opens_its_feature_maps(app):
    fig = render.architecture_diagram("alexnet2012")
    i = list(fig.data[0].customdata).index("conv3")  # GPU 1's conv3 block
    with chromium_page(app + "/architecture") as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        chart = pg.locator('[data-testid="stPlotlyChart"]').first
        chart.wait_for(state="visible")
        pg.wait_for_timeout(800)  # let plotly draw
        pg.screenshot(path=SHOTS / "clicks_architecture_1400x900.png")
        point = chart.locator(".scatterlayer .trace").first.locator("path.point").nth(i)
        box = point.bounding_box()
        assert box is not None
        pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        settle(pg)
        pg.wait_for_url("**/feature_maps**", timeout=60_000)
        settle(pg)
        main = pg.locator('[data-testid="stMain"]')
        assert main.get_by_text("relu3: 384 channels of 13×13").count() == 1, main.inner_text()[:500]
        assert "layer=relu3" in pg.url
        assert pg.locator('[data-testid="stException"]').count() == 0
