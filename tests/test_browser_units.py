"""The unit page in a real browser: a link to conv2[130, 10, 12] opens the page, which shows the
value the network computes for that unit on Chelsea the cat, recomputed here independently; the
value and its computation fit the first screen at 1400×900. Screenshots at 1400×900 and 1280×720
go to ``tests/artifacts/browser/unit_*.png``, the server's output beside them."""
from __future__ import annotations

import skimage.data
import pytest
import torch
from PIL import Image

import alexnet_viz as av
from streamlit_browser import ROOT, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
UNIT = ("conv2", 130, 10, 12)
LINK = "/unit?layer=conv2&channel=130&row=10&col=12"

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def expected() -> float:
    """conv2[130, 10, 12] of the untrained two-tower network on the app's first sample photo."""
    net = av.load_network("alexnet2012", "untrained", device="cpu")
    img = Image.fromarray(skimage.data.chelsea()).convert("RGB")  # sidebar.SAMPLES["Chelsea the cat"]
    with torch.no_grad():
        acts = net.activations(net.preprocess(img), upto="conv2")
    layer, c, r, q = UNIT
    return float(acts[layer][0, c, r, q])


def test_a_link_opens_the_unit_with_the_maps_value_in_the_first_screen(expected, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    # An empty weight cache, offline: the server shows the untrained network whatever this machine has.
    with running_app(SHOTS / "unit-server.log", env={"ALEXNET_VIZ_HOME": str(tmp_path)}) as url, \
            chromium_page(url + LINK) as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        main = pg.locator('[data-testid="stMain"]')
        assert pg.locator('[data-testid="stException"]').count() == 0
        assert main.locator('[data-testid="stAlertContentInfo"]').count() == 0, "the link is valid"
        assert main.get_by_text("untrained network").count() == 1
        label = main.locator('[data-testid="stMetricLabel"]').inner_text()
        assert "conv2[130, 10, 12]" in label
        value = main.locator('[data-testid="stMetricValue"]').first
        shown = float(value.inner_text())
        assert shown == pytest.approx(expected, rel=1e-3), (shown, expected)
        assert "reads only GPU 2's 48 channels of pool1" in main.inner_text()
        assert "layer=conv2" in pg.url and "channel=130" in pg.url, "the page keeps the unit in the link"

        # The computation's first picture (patches above kernels) is an image the server drew.
        picture = main.locator('[data-testid="stImage"] img').first
        picture.wait_for(state="visible")
        pg.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
        assert picture.evaluate("(img) => img.naturalWidth") > 300, "the patches and kernels, not a thumbnail"
        main.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")  # the terms, below it
        pg.wait_for_timeout(800)  # let plotly draw
        pg.screenshot(path=SHOTS / "unit_1400x900.png")
        for what in (value, picture):  # the value and its computation in the first screen
            box = what.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box

        pg.set_viewport_size({"width": 1280, "height": 720})
        pg.wait_for_timeout(1000)
        pg.screenshot(path=SHOTS / "unit_1280x720.png")
        box = value.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 720, "the value is visible at 1280×720 too"
