"""The Paper lab page through AppTest: every experiment runs without an exception, and the numbers
on the page are the library's (alexnet_viz.lab) for the same photo and network."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from alexnet_viz import lab
from app_support import APP, fresh_caches, offline_pretrained_weights

PAGE = "views/lab.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)
    fresh_caches()


def open_lab(experiment: str, model: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if model is not None:
        at.run()
        at.sidebar.selectbox(key="model").set_value(model).run()
        at.query_params.clear()  # a page change in the browser starts with a clean address (AppTest keeps it)
    at.switch_page(PAGE).run()
    at.selectbox(key="lab_experiment").set_value(experiment).run()
    assert not at.exception, at.exception
    return at


def sel(at: AppTest):
    return at.session_state["_selection"]


def shows_effect(at: AppTest, e: lab.Effect, cls: int | None = None) -> None:
    """The watched class's metric and both top-5 tables are the library's numbers."""
    names = sel(at).net.categories
    cls = int(np.argmax(sel(at).forward.probs)) if cls is None else cls
    metric = next(m for m in at.metric if m.label.startswith(f"“{names[cls]}”"))
    assert metric.value == f"{100 * e.after[cls]:.2f}%"
    change = f"{100 * e.change(cls):+.2f}"
    assert metric.delta == (f"{change} points" if float(change) != 0 else "0.00 points")  # no "−0.00"
    before, after = [t.value for t in at.dataframe if list(t.value.columns) == ["class", "probability"]]
    for which, df in (("before", before), ("after", after)):
        assert list(df["class"]) == [label for _i, label, _p in e.top(which)]
        assert list(df["probability"]) == [f"{100 * p:.2f}%" for _i, _l, p in e.top(which)]


def test_two_gpus_knocks_out_the_chosen_tower_and_shows_the_bytes_table():
    at = open_lab("towers")
    s = sel(at)
    assert "§3.2" in at.header[0].value and any("1.7% / 1.2%" in m.value for m in at.markdown)
    shows_effect(at, lab.ablation_effect(s.net, s.x, tower_off="gpu2", from_layer="conv1"))
    at.radio(key="lab_tower").set_value("gpu1").run()
    at.selectbox(key="lab_from").set_value("conv3").run()
    assert not at.exception, at.exception
    shows_effect(at, lab.ablation_effect(s.net, s.x, tower_off="gpu1", from_layer="conv3"))
    tb = av.tower_bytes("alexnet2012")
    assert at.metric[1].value == f"{tb.cross_bytes_per_image:,}"
    (rows,) = [t.value for t in at.table if "GPU 1" in t.value.columns]  # a tower per column
    (crossings,) = [t.value for t in at.dataframe if "caffe only" in t.value.columns]
    assert list(crossings["layer"]) == [c["layer"] for c in tb.crossings]
    parameters = rows.set_index(rows.columns[0]).loc["parameters"]
    assert list(parameters.index) == [r["tower"] for r in tb.rows()]
    assert list(parameters) == [f"{r['parameters']:,}" for r in tb.rows()], "28,434,112, not 28434112"
    assert [int(v.replace(",", "")) for v in parameters] == [r["parameters"] for r in tb.rows()]
    words = " ".join(c.value for c in at.caption)
    assert "fc8 is not split: it reads both towers, and this count places it on GPU 1" in words, \
        "the same fact as the Architecture page and the unit page, from the table"


def test_two_gpus_on_the_one_tower_network_is_a_sentence():
    at = open_lab("towers", model="torchvision")
    assert any("torchvision runs as one tower" in i.value for i in at.info)
    assert not at.metric


@pytest.mark.parametrize("mode", ["off", "paper", "k2"])
def test_lrn_off_or_with_the_papers_k(mode):
    at = open_lab("lrn")
    assert at.radio(key="lab_lrn").options == ["off (identity)", "the paper's, as printed", "Caffe's with k = 2"]
    at.radio(key="lab_lrn").set_value(mode).run()
    assert not at.exception, at.exception
    s = sel(at)
    shows_effect(at, lab.ablation_effect(s.net, s.x, lrn=mode))
    assert "§3.3" in at.header[0].value
    assert any("The paper as printed (§3.3): b = a / (k + α · Σ a²)^β with k = 2, α = 0.0001 per term "
               "(not divided by n)" in c.value and "so 2e-05 per term" in c.value for c in at.caption)


def test_overlapping_pooling_draws_the_windows_and_says_it_shows_sensitivity():
    at = open_lab("pool")
    s = sel(at)
    shows_effect(at, lab.ablation_effect(s.net, s.x, pool="non-overlapping"))
    assert at.get("plotly_chart"), "the 3×3/2 windows on a real map"
    assert any("trained for 3×3 windows" in w.value and "not the paper's 0.4%" in w.value for w in at.warning)


def test_ten_crop_shows_each_crops_top1_and_the_average_beside_the_centre():
    at = open_lab("tencrop")
    s = sel(at)
    tc = av.ten_crop(s.net, s.image)
    names = s.net.categories
    captions = [im.proto.imgs[0].caption for im in at.main.get("image")]
    assert captions == [f"{name}: {names[int(p.argmax())]} {100 * p.max():.2f}%"
                        for name, p in zip(lab.CROP_NAMES, tc.crop_probs)]
    shows_effect(at, lab.Effect(tc.crop_probs[4], tc.probs, names))
    (x0, y0, x1, y1), (w, h) = tc.square, tc.resized_size
    assert any(f"({w}×{h}); as the paper does, the corner crops come from its central {x1 - x0}×{y1 - y0} "
               f"square (x {x0}–{x1}, y {y0}–{y1})" in c.value for c in at.caption)


def test_dropout_shows_the_scaling_agreement_and_the_monte_carlo_spread():
    at = open_lab("dropout")
    s = sel(at)
    d = lab.dropout_scaling(s.net, s.x)
    assert at.metric[0].value == f"{np.abs(d.paper - d.torch).max():.2e}"
    mc = lab.mc_dropout(s.net, s.x, n=30)
    probs = s.forward.probs
    shows_effect(at, lab.Effect(probs, mc.mean(axis=0), s.net.categories))
    agree = int((mc.argmax(axis=1) == probs.argmax()).sum())
    assert any(f"In **{agree} of 30** passes" in m.value for m in at.markdown)
    at.slider(key="lab_mc_n").set_value(20).run()
    assert not at.exception, at.exception
    shows_effect(at, lab.Effect(probs, lab.mc_dropout(s.net, s.x, n=20).mean(axis=0), s.net.categories))


def test_channel_knockout_defaults_to_the_five_strongest_conv5_channels():
    at = open_lab("knockout")
    claim = " ".join(m.value for m in at.markdown)
    assert "(§7, Discussion)" in claim and "§6.1" not in claim, "the paper's section for the 2% sentence"
    s = sel(at)
    a = s.acts["conv5"]
    strongest = sorted(int(i) for i in np.argsort(-a.reshape(a.shape[0], -1).max(axis=1))[:5])
    assert sorted(at.multiselect(key="lab_zero_conv5").value) == strongest
    shows_effect(at, lab.ablation_effect(s.net, s.x, zero_channels={"conv5": strongest}))
    at.multiselect(key="lab_zero_conv5").set_value([7]).run()
    shows_effect(at, lab.ablation_effect(s.net, s.x, zero_channels={"conv5": [7]}))


def test_a_change_that_rounds_to_nothing_has_no_arrow():
    """Issue 22 item 9: "−0.00 points" drew a red down-arrow when nothing changed. On the untrained
    network every class sits near 0.1%, so zeroing one conv5 channel moves it by far less than 0.005."""
    at = open_lab("knockout")
    top = int(np.argmax(sel(at).forward.probs))
    for c in range(40):  # the first conv5 channel whose knockout moves the top class by less than 0.005
        e = lab.ablation_effect(sel(at).net, sel(at).x, zero_channels={"conv5": [c]})
        if f"{100 * e.change(top):+.2f}" in ("+0.00", "-0.00") and e.change(top) != 0:
            break
    else:
        pytest.fail("no conv5 channel moves the top class by a hair")
    at.multiselect(key="lab_zero_conv5").set_value([c]).run()
    assert not at.exception, at.exception
    shows_effect(at, e)
    (metric,) = [m for m in at.metric if m.delta is not None]
    assert metric.delta == "0.00 points"
    assert metric.proto.color == metric.proto.MetricColor.GRAY, "no red, no green"
    assert metric.proto.direction == metric.proto.MetricDirection.NONE, "no arrow"


def test_the_watched_class_can_be_any_class():
    at = open_lab("lrn")
    at.selectbox(key="lab_class").set_value(281).run()
    assert not at.exception, at.exception
    s = sel(at)
    shows_effect(at, lab.ablation_effect(s.net, s.x, lrn="off"), cls=281)


def test_each_result_is_computed_once_and_shared(monkeypatch):
    calls = []
    real = lab.ablation_effect

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(lab, "ablation_effect", counting)
    at = open_lab("lrn")
    at.radio(key="lab_lrn").set_value("paper").run()
    at.radio(key="lab_lrn").set_value("off").run()
    at.selectbox(key="lab_class").set_value(3).run()
    assert not at.exception, at.exception
    # the first run draws the default experiment (two GPUs); nothing is computed twice
    assert calls == [{"tower_off": "gpu2", "from_layer": "conv1"}, {"lrn": "off"}, {"lrn": "paper"}], calls
