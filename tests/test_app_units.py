"""The "How was this number made?" page through AppTest: for every layer kind the page shows the
value the cached forward pass holds, the unit lives in the URL, bad links are explained, the walk
moves where the library says, and the network never runs forward again."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from alexnet_viz.network import Network
from app_support import APP, fresh_caches, offline_pretrained_weights

PAGE = "views/unit.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def passes(monkeypatch):
    """Fresh caches, and every call of Network.activations: True for a gradient pass (the
    effective receptive field), False for a plain forward pass."""
    fresh_caches()  # the untrained networks are kept: rebuilding one costs 1.3 s
    calls: list[bool] = []
    original = Network.activations

    def counting(self, x, upto=None):
        calls.append(bool(x.requires_grad))
        return original(self, x, upto)

    monkeypatch.setattr(Network, "activations", counting)
    return calls


def open_page(query: dict | None = None, model: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if model is not None:
        at.run()
        at.sidebar.selectbox(key="model").set_value(model).run()
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, layer: str, channel: int, row: int | None = None, col: int | None = None) -> None:
    at.selectbox(key="unit_layer").set_value(layer).run()
    at.number_input(key="unit_channel").set_value(channel).run()
    if row is not None:
        at.number_input(key="unit_row").set_value(row).run()
        at.number_input(key="unit_col").set_value(col).run()
    assert not at.exception, at.exception


def on_map(at: AppTest, layer, channel, row=None, col=None) -> float:
    a = at.session_state["_selection"].acts[layer]
    return float(a[channel] if row is None else a[channel, row, col])


def page_text(at: AppTest) -> str:
    return " ".join([m.value for m in at.main.markdown] + [c.value for c in at.main.caption])


def shows_value(at: AppTest, layer, channel, row=None, col=None) -> str:
    """The metric shows the map's value to 4 significant digits, and the text repeats it."""
    want = on_map(at, layer, channel, row, col)
    (metric,) = at.metric
    assert metric.value == f"{want:.4g}", (metric.value, want)
    name = f"{layer}[{channel}]" if row is None else f"{layer}[{channel}, {row}, {col}]"
    assert name in metric.label
    text = page_text(at)
    assert f"holds {name} = **{want:.4g}**" in text
    assert at.session_state["_unit_pos"] == (layer, channel, row, col)
    return text


CASES = [  # (model, layer, channel, row, col, words the computation must show)
    ("alexnet2012", "conv2", 130, 10, 12, ["reads only GPU 2's 48 channels of pool1 (paper §3.2)", "+ bias"]),
    ("alexnet2012", "conv3", 7, 4, 9, ["reads all 256 channels of pool2, from both GPUs", "+ bias"]),
    ("alexnet2012", "conv1", 50, 0, 54, ["reads all 3 colour channels", "11×11 window (rows 0–10, columns 216–226)"]),
    ("alexnet2012", "relu2", 130, 10, 12, ["max(0, "]),
    ("alexnet2012", "norm1", 47, 20, 30, ["(k + α/n · Σ a²)^β = (1 + 0.0001/5 ×", "kept"]),
    ("alexnet2012", "pool1", 3, 26, 26, ["Max pooling keeps the largest", "§3.4", "The winner is row"]),
    ("alexnet2012", "fc6", 1234, None, None, ["reads all 9216 values of pool5", "+ bias"]),
    ("alexnet2012", "fc8", 281, None, None, ["reads all 4096 values of relu7", "fc8 is not split between the GPUs"]),
    ("torchvision", "conv1", 10, 0, 0, ["reads all 3 colour channels", "hangs over the edge"]),
    ("torchvision", "conv2", 100, 5, 6, ["reads all 64 channels of pool1", "+ bias"]),
    ("torchvision", "avgpool", 9, 2, 3, ["Average pooling takes the mean"]),
    ("torchvision", "fc6", 5, None, None, ["reads all 9216 values of avgpool"]),
]


@pytest.mark.parametrize("model,layer,channel,row,col,words", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_layer_kind_shows_the_maps_value_and_its_computation(model, layer, channel, row, col, words):
    at = open_page(model=None if model == "alexnet2012" else model)
    choose(at, layer, channel, row, col)
    text = shows_value(at, layer, channel, row, col)
    for w in words:
        assert w in text, (w, text)
    if model == "torchvision":
        assert "GPU" not in text, "one tower: no GPU words"
    assert "is on all" not in text, "a layer that is not split is not 'on' a tower"
    assert at.main.get("plotly_chart"), "the computation is drawn"
    conv = layer.startswith("conv")  # its patches and kernels are a picture, above the terms chart
    assert len(at.main.get("image")) == 2 + conv, "the receptive field on the photo and the effective one"


def test_the_conv_sum_adds_up_to_the_value_and_the_fc_table_names_channel_and_tower():
    at = open_page()
    choose(at, "conv2", 130, 10, 12)
    sel = at.session_state["_selection"]
    u = av.trace_unit(sel.net, sel.x, "conv2", 130, 10, 12, acts=sel.acts)
    total = float(u.terms.sum())
    assert f"Σ terms = **{total:.4g}**, + bias **{u.bias:.4g}** = value **{total + u.bias:.4g}**" in page_text(at)
    (terms,) = at.main.get("plotly_chart")  # the patches and kernels are a picture (test_unit_figures)
    assert "All 48 per-channel terms" in terms.proto.spec, "all 48 terms as bars"
    patches = at.main.get("image")[0].proto.imgs[0].url
    assert "/media/" in patches and patches.endswith(".png"), "the computation's first picture, as PNG (not re-encoded)"
    choose(at, "fc6", 1234)
    (table,) = at.dataframe
    df = table.value
    assert len(df) == 10 and {"feature", "channel", "row", "col", "tower", "term"} <= set(df.columns)
    assert (df["channel"] == df["feature"] // 36).all(), "pool5 is 256×6×6: channel = index // 36"
    assert set(df["tower"]) <= {"GPU 1", "GPU 2"}
    assert (df["tower"] == np.where(df["channel"] < 128, "GPU 1", "GPU 2")).all()
    assert np.all(np.diff(np.abs(df["term"].to_numpy())) <= 0), "largest |term| first"


def test_a_link_opens_the_unit_and_the_page_writes_it_back():
    at = open_page({"layer": "conv2", "channel": "130", "row": "10", "col": "12"})
    assert not at.info
    shows_value(at, "conv2", 130, 10, 12)
    choose(at, "pool2", 9, 3, 4)
    link = dict(at.query_params)
    assert {k: (v[0] if isinstance(v, list) else v) for k, v in link.items()} == \
        {"layer": "pool2", "channel": "9", "row": "3", "col": "4"}
    again = open_page({k: (v[0] if isinstance(v, list) else v) for k, v in link.items()})
    shows_value(again, "pool2", 9, 3, 4)
    choose(again, "fc7", 12)
    assert {k for k in again.query_params} == {"layer", "channel"}, "no row or column for an fc unit"


def test_no_link_opens_conv2s_strongest_channel_at_its_maximum():
    at = open_page()
    a = at.session_state["_selection"].acts["conv2"]
    c = int(np.argmax(a.reshape(len(a), -1).max(1)))
    r, q = np.unravel_index(int(np.argmax(a[c])), a.shape[1:])
    shows_value(at, "conv2", c, int(r), int(q))


@pytest.mark.parametrize("query,sentence,pos", [
    ({"layer": "conv9", "channel": "1"}, "does not have", None),
    ({"layer": "conv2", "channel": "abc", "row": "1", "col": "2"}, "not all whole numbers", None),
    ({"layer": "conv2", "channel": "999", "row": "-4", "col": "12"}, "nearest unit", ("conv2", 255, 0, 12)),
    ({"layer": "fc7", "channel": "5000", "row": "3"}, "nearest unit", ("fc7", 4095, None, None)),
])
def test_a_bad_link_gives_a_sentence_not_a_traceback(query, sentence, pos):
    at = open_page(query)
    assert not at.exception
    assert len(at.info) == 1 and sentence in at.info[0].value, [i.value for i in at.info]
    if pos is not None:
        shows_value(at, *pos)
    else:
        assert at.metric and at.session_state["_unit_pos"][0] in ("conv2",)


def test_the_walk_moves_where_the_library_says_and_the_trail_goes_back():
    at = open_page({"layer": "conv2", "channel": "130", "row": "10", "col": "12"})
    sel = at.session_state["_selection"]
    start = ("conv2", 130, 10, 12)
    u = av.trace_unit(sel.net, sel.x, *start, acts=sel.acts)
    at.button(key="unit_down").click().run()
    down = av.strongest_input(u)
    assert down[0] == "pool1" and 48 <= down[1] < 96, "conv2's GPU 2 half reads GPU 2's pool1"
    shows_value(at, *down)
    at.button(key="unit_up").click().run()  # from pool1 up again
    up = av.strongest_reader(sel.net, sel.acts, av.trace_unit(sel.net, sel.x, *down, acts=sel.acts))
    assert up[0] == "conv2"
    shows_value(at, *up)
    trail = at.session_state["_unit_trail"]
    assert trail == [start, down, up]
    at.button(key="unit_trail_0").click().run()
    shows_value(at, *start)

    choose(at, "conv1", 3, 5, 5)  # the bottom: the pixels
    assert at.button(key="unit_down").disabled
    assert "The end of the walk down" in page_text(at)
    choose(at, "fc8", 281)  # the top: the class scores
    assert at.button(key="unit_up").disabled
    assert "is the output" in page_text(at) and "tabby" in page_text(at)
    assert not at.exception


def test_the_trail_keeps_the_last_twelve_units():
    at = open_page({"layer": "fc8", "channel": "0"})
    for c in range(1, 15):
        at.number_input(key="unit_channel").set_value(c).run()
    trail = at.session_state["_unit_trail"]
    assert len(trail) == 12 and trail[-1] == ("fc8", 14, None, None) and trail[0] == ("fc8", 3, None, None)


def test_tracing_never_runs_the_forward_pass_again(passes, monkeypatch):
    erf_units = []
    real_erf = av.effective_receptive_field

    def erf(net, x, *unit):
        erf_units.append(unit)
        return real_erf(net, x, *unit)

    monkeypatch.setattr(av, "effective_receptive_field", erf)
    at = open_page()
    assert passes.count(False) == 1, "only the shared forward pass"
    for args in [("conv2", 130, 10, 12), ("norm1", 5, 3, 3), ("pool2", 1, 1, 1), ("fc6", 3)]:
        choose(at, *args)
    at.button(key="unit_down").click().run()
    at.button(key="unit_up").click().run()
    at.button(key="unit_trail_1").click().run()  # back to a unit seen before: its ERF is cached
    assert not at.exception
    assert passes.count(False) == 1, "walking, the trail and every layer kind reuse the cached activations"
    assert passes.count(True) == len(erf_units) > 0, "the only other passes: effective receptive fields"
    assert len(set(erf_units)) == len(erf_units), "each unit's effective receptive field is computed once"
    assert at.session_state["_unit_trail"][1] in erf_units
