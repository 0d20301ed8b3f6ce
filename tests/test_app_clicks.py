"""Clicks through AppTest: a click on a feature-map tile picks its channel, a click on the enlarged
map opens "How was this number made?" for the unit under it, a click on an Architecture diagram
block opens that layer's feature maps, and the Feature maps page keeps its layer and channel in the
URL. AppTest cannot click inside a component or a plotly chart, so each test sets the value the
browser would send (the widget's session state); tests/test_browser_clicks.py clicks for real."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from alexnet_viz import render
from alexnet_viz.walkthrough import viewable_layers
from app_support import fresh_caches, offline_pretrained_weights, open_page

FM, UNIT, ARCH = "views/feature_maps.py", "views/unit.py", "views/architecture.py"


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


def params(at: AppTest) -> dict:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def grids_as_drawn(at: AppTest, layer: str) -> dict:
    """The tower grids the page draws, rebuilt from the page's own activations and choices."""
    act = at.session_state["_selection"].acts[layer]
    scale = max(1, 40 // act.shape[1])
    return render.tower_grids(act, layer, at.radio(key="fm_sort").value, at.session_state["_selection"].net.arch,
                              scale=scale, pad=max(1, scale // 2))


def click(at: AppTest, key: str, x: float, y: float, width: float, height: float, when: int) -> None:
    """What streamlit-image-coordinates sends on a click, then the rerun it causes."""
    at.session_state[key] = {"x": x, "y": y, "width": width, "height": height, "unix_time": when}
    at.run()
    assert not at.exception, at.exception


def test_a_click_on_a_tile_picks_its_channel_and_the_url_follows():
    at = open_page(FM)
    assert params(at) == {"layer": "relu1", "channel": str(at.selectbox(key="fm_channel_relu1").value)}
    at.radio(key="fm_sort").set_value("max").run()
    g = grids_as_drawn(at, "relu1")["GPU 2"]
    shown = 600  # the grid's width on the page, in browser pixels
    f = shown / g.image.shape[1]
    target = g.channels[9]  # tenth strongest of GPU 2: row 1, column 2 of a 7-wide grid
    top, left, bottom, right = g.box_of(target)
    click(at, "fm_tiles_relu1_GPU 2", (left + right) / 2 * f, (top + bottom) / 2 * f, shown, shown, 1)
    assert at.selectbox(key="fm_channel_relu1").value == target
    assert params(at) == {"layer": "relu1", "channel": str(target), "sort": "max"}  # the order rides along
    assert any(f"Channel {target} of relu1" in c.value for c in at.main.caption)

    at.selectbox(key="fm_channel_relu1").set_value(g.channels[0]).run()  # the fallback still rules
    assert at.selectbox(key="fm_channel_relu1").value == g.channels[0], "an old click is not replayed"
    click(at, "fm_tiles_relu1_GPU 2", 0.3 * f, 0.3 * f, shown, shown, 2)  # the white frame
    assert at.selectbox(key="fm_channel_relu1").value == g.channels[0], "a click between tiles picks nothing"


def test_a_view_encodes_its_unframed_grid_once_and_its_downloads_on_click(monkeypatch):
    """Server work per view (docs/serving.md, "What one student costs"): the tower grid shown
    without the frame is encoded once, fast, and kept; the framed one is the click component's to
    encode; the download buttons encode nothing until clicked."""
    fresh_caches()
    levels = []
    real = render.png_bytes

    def recording(image, compress_level=6):
        levels.append(compress_level)
        return real(image, compress_level)

    monkeypatch.setattr(render, "png_bytes", recording)
    at = open_page(FM, {"layer": "conv2", "channel": "3"})  # channel 3 is on GPU 1: GPU 2's grid is unframed
    assert levels == [1], levels
    at.slider(key="fm_alpha").set_value(0.3).run()
    assert not at.exception, at.exception
    assert levels == [1], "a rerun of the same view encodes no grid again"
    at.selectbox(key="fm_channel_conv2").set_value(200).run()  # now GPU 2's is framed, GPU 1's plain
    assert levels == [1, 1], levels


def test_a_click_on_the_enlarged_map_opens_the_units_computation():
    at = open_page(FM, {"layer": "conv2", "channel": "130"})
    assert at.selectbox(key="fm_layer").value == "conv2" and at.selectbox(key="fm_channel_conv2").value == 130
    assert not at.info
    shown = 300.0  # 27 units across: 11.1 browser pixels each
    per = shown / 27
    click(at, "fm_unit_conv2_130", 12.5 * per, 10.5 * per, shown, shown, 7)  # row 10, column 12
    assert at.session_state["_unit_pos"] == ("conv2", 130, 10, 12), "the unit page opened on that unit"
    acts = at.session_state["_selection"].acts
    (metric,) = at.metric
    assert "conv2[130, 10, 12]" in metric.label and metric.value == f"{float(acts['conv2'][130, 10, 12]):.4g}"
    assert params(at) == {"layer": "conv2", "channel": "130", "row": "10", "col": "12"}


@pytest.mark.parametrize("query,layer,channel,sentence", [
    ({"layer": "norm2", "channel": "200"}, "norm2", 200, None),
    ({"layer": "relu5", "channel": "999"}, "relu5", 255, "nearest one"),
    ({"layer": "relu5", "channel": "-3"}, "relu5", 0, "nearest one"),
    ({"layer": "conv2", "channel": "ten"}, "conv2", None, "not a whole number"),
    ({"layer": "conv9", "channel": "1"}, "relu1", None, "does not have"),
    ({"layer": "fc7", "channel": "12"}, "fc7", None, None),
])
def test_a_link_opens_the_layer_and_channel_and_a_bad_one_is_explained(query, layer, channel, sentence):
    at = open_page(FM, query)
    assert at.selectbox(key="fm_layer").value == layer
    if channel is not None:
        assert at.selectbox(key=f"fm_channel_{layer}").value == channel
    if sentence is None:
        assert not at.info
    else:
        assert len(at.info) == 1 and sentence in at.info[0].value, [i.value for i in at.info]
    want = {"layer": layer} if viewable_layers("alexnet2012")[layer] == "vector" else \
        {"layer": layer, "channel": str(at.selectbox(key=f"fm_channel_{layer}").value)}
    assert params(at) == want, "the page writes back the view it shows"


@pytest.mark.parametrize("block,layer", [("conv2", "relu2"), ("norm1", "norm1"), ("fc8", "fc8")])
def test_a_click_on_a_diagram_block_opens_its_feature_maps(block, layer):
    at = open_page(ARCH)
    fig = render.architecture_diagram("alexnet2012")
    i = list(fig.data[0].customdata).index(block)
    at.session_state["diagram"] = {"selection": {"points": [{"curve_number": 0, "point_index": i,
                                                             "customdata": block}],
                                                 "point_indices": [i], "box": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="fm_layer").value == layer, "the Feature maps page, on that layer"
    assert at.title[0].value == "Feature maps"


def test_a_click_on_the_input_block_or_another_variant_stays_on_the_architecture_page():
    at = open_page(ARCH)
    at.session_state["diagram"] = {"selection": {"points": [{"point_index": 0, "customdata": "input"}],
                                                 "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    assert not at.exception and at.title[0].value == "Architecture"
    at.selectbox(key="arch_variant").set_value("torchvision").run()
    assert any("sidebar" in c.value for c in at.main.caption), "says why its blocks do not open feature maps"
    assert at.title[0].value == "Architecture"


def test_a_click_on_an_fc_bar_opens_that_units_computation():
    at = open_page(FM, {"layer": "fc8"})
    fig = render.unit_bars(at.session_state["_selection"].acts["fc8"], 20, at.session_state["_selection"].net.arch,
                           "fc8")
    unit = int(fig.data[0].customdata[3])
    at.session_state["fm_units"] = {"selection": {"points": [{"curve_number": 0, "point_index": 3,
                                                              "customdata": unit}],
                                                  "point_indices": [3], "box": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["_unit_pos"] == ("fc8", unit, None, None)
    assert params(at) == {"layer": "fc8", "channel": str(unit)}


def test_coming_back_from_the_unit_page_shows_the_same_layer_and_channel():
    at = open_page(FM, {"layer": "conv4", "channel": "300"})
    shown = 300.0
    click(at, "fm_unit_conv4_300", 6.5 * shown / 13, 2.5 * shown / 13, shown, shown, 11)
    assert at.session_state["_unit_pos"] == ("conv4", 300, 2, 6)
    at.query_params.clear()  # the browser drops the unit's address on the way back
    at.switch_page(FM).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="fm_layer").value == "conv4" and at.selectbox(key="fm_channel_conv4").value == 300
    assert not at.info


def test_a_channel_the_other_variant_lacks_falls_back_to_the_first():
    at = open_page(FM, {"layer": "conv2", "channel": "250"})  # alexnet2012's conv2 has 256 channels
    at.query_params.clear()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()  # torchvision's conv2 has 192
    assert not at.exception, at.exception
    assert at.selectbox(key="fm_layer").value == "conv2"
    assert at.selectbox(key="fm_channel_conv2").value in range(192)
