"""The plotly figures the pages draw: right numbers in the right places, towers from the table."""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from alexnet_viz.architecture import get_architecture
from alexnet_viz.render import charts as Ch

ALEX = get_architecture("alexnet2012")


def test_top_k_bar_lists_the_most_probable_classes_most_probable_on_top():
    probs = np.array([0.05, 0.5, 0.1, 0.3, 0.05])
    fig = Ch.top_k_bar(probs, ["a", "b", "c", "d", "e"], k=3)
    bar = fig.data[0]
    assert list(bar.y) == ["c", "d", "b"]  # plotly draws the last category on top
    assert list(bar.x) == [0.1, 0.3, 0.5]


# -- architecture diagram --------------------------------------------------------------------
def _dashed_targets(fig) -> set[str]:
    """Names of the blocks that dashed (cross-tower) connections lead into."""
    names = fig.layout.meta["blocks"]
    return {names[round(s.x1 + 0.39)] for s in fig.layout.shapes if s.type == "line" and s.line.dash == "dash"}


def test_diagram_has_two_lanes_and_crosses_towers_only_where_the_paper_does():
    fig = Ch.architecture_diagram("alexnet2012")
    names = fig.layout.meta["blocks"]
    assert names[:5] == ["input", "conv1", "norm1", "pool1", "conv2"] and names[-1] == "fc8"
    reads_both = {layer.name for layer in get_architecture("alexnet2012").layers if layer.cross_tower}
    assert reads_both == {"conv3", "fc6", "fc7", "fc8"}  # the paper's §3.2, Figure 2
    assert _dashed_targets(fig) == reads_both  # fc8 is one block, fed by both lanes through dashed lines
    labels = [a.text for a in fig.layout.annotations]
    assert labels.count("<b>conv1</b><br>48<br>55×55") == 2, "conv1 split 48 + 48, one block per GPU"
    assert "<b>GPU 1</b>" in labels and "<b>GPU 2</b>" in labels


def test_diagram_hover_shows_the_walkthrough_row():
    fig = Ch.architecture_diagram("alexnet2012")
    hover = [t for t in fig.data[0].hovertext if t.startswith("<b>conv1</b>")]
    assert len(hover) == 2
    assert "105,415,200" in hover[0] and "34,944" in hover[0] and "(227 − 11 + 2·0)/4 + 1 = 55" in hover[0]


def test_diagram_at_224_marks_the_inexact_sizes():
    fig = Ch.architecture_diagram("alexnet2012", 224)
    assert "input 224×224" in fig.layout.title.text
    dotted = [s for s in fig.layout.shapes if s.type == "rect" and s.line.dash == "dot"]
    assert dotted, "layers whose size formula is not whole are outlined"
    conv1 = [t for t in fig.data[0].hovertext if t.startswith("<b>conv1</b>")][0]
    assert "54.25" in conv1


def test_single_tower_variant_draws_one_lane_without_crossings():
    fig = Ch.architecture_diagram("torchvision")
    assert not _dashed_targets(fig)
    assert "<b>GPU 1</b>" not in [a.text for a in fig.layout.annotations]
    assert "<b>conv1</b><br>64<br>55×55" in [a.text for a in fig.layout.annotations]


# -- feature maps and kernels --------------------------------------------------------------------
def test_unit_bars_colour_units_by_tower_strongest_first():
    vec = np.zeros(4096)  # fc6: 2048 units on each GPU
    vec[[1, 2050, 3]] = [3.0, 2.0, 1.0]
    fig = Ch.unit_bars(vec, 3, ALEX, "fc6")
    by_tower = {t.name: list(t.x) for t in fig.data}
    assert by_tower == {"GPU 1": ["unit 1", "unit 3"], "GPU 2": ["unit 2050"]}
    assert {t.name: list(t.customdata) for t in fig.data} == {"GPU 1": [1, 3], "GPU 2": [2050]}, \
        "each bar carries its unit, for a click"
    assert list(fig.layout.xaxis.categoryarray) == ["unit 1", "unit 2050", "unit 3"]
    assert fig.layout.showlegend
    fc8 = np.zeros(1000)
    fc8[[1, 6, 3]] = [3.0, 2.0, 1.0]
    labelled = Ch.unit_bars(fc8, 1, ALEX, "fc8", labels=[f"c{i}" for i in range(1000)])
    assert not labelled.layout.showlegend, "fc8 is one tower"
    assert list(labelled.data[0].x) == ["1: c1"] and labelled.data[0].name == "all"


def test_colourfulness_chart_has_one_column_per_tower_with_every_kernel():
    scores = np.linspace(0, 1, 6)
    from alexnet_viz.kernels import TowerStats

    towers = {"GPU 1": TowerStats(0.2, 0.2, 3, range(0, 3)), "GPU 2": TowerStats(0.8, 0.8, 3, range(3, 6))}
    fig = Ch.colourfulness_chart(scores, towers)
    assert [t.name for t in fig.data] == ["GPU 1", "GPU 2"]
    assert list(fig.data[1].y) == list(scores[3:]) and list(fig.data[1].customdata) == [3, 4, 5]


def test_render_does_not_import_streamlit():
    import subprocess
    import sys

    code = "import sys, alexnet_viz.render; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_sanity_chart_fits_its_axis_to_the_data():
    corr = {"grad_cam": np.array([1.0, 0.3, -0.55, -0.2]), "saliency": np.array([1.0, 0.9, np.nan, 0.2])}
    fig = Ch.sanity_chart(["original", "fc8", "fc7", "fc6"], corr)
    lo, hi = fig.layout.yaxis.range
    assert lo < -0.55 and hi >= 1.0 and lo > -0.8, "Grad-CAM's -0.55 is on the chart, not far below it"
    assert Ch.sanity_range({"m": np.array([1.0, 0.8])})[0] <= 0.0  # the zero line stays in view
    assert any("0.5" in a.text for a in fig.layout.annotations)


def test_the_sanity_charts_threshold_label_fits_in_the_right_margin():
    """The "0.5: above this …" label sits right of the plot: the margin there must hold its longest
    line (about 0.6 em per character of a sans-serif font), or the browser cuts it off."""
    import re

    corr = {"grad_cam": np.array([1.0, 0.3, -0.55, -0.2])}
    fig = Ch.sanity_chart(["original", "fc8", "fc7", "fc6"], corr)
    (label,) = [a for a in fig.layout.annotations if "0.5" in a.text]
    assert label.xref == "paper" and label.x >= 1.0 and label.xanchor == "left", "the label is right of the plot"
    longest = max(len(re.sub(r"<[^>]+>", "", line)) for line in label.text.split("<br>"))
    assert fig.layout.margin.r >= longest * 0.6 * label.font.size, (fig.layout.margin.r, longest)
    assert fig.layout.yaxis.range[0] < 0.5 < fig.layout.yaxis.range[1], "the 0.5 line is inside the plotted range"
    plain = Ch.sanity_chart(["original", "fc8", "fc7", "fc6"], corr, threshold=None)
    assert not plain.layout.annotations and plain.layout.margin.r < fig.layout.margin.r


def test_a_click_on_a_diagram_block_names_a_layer_the_feature_maps_page_shows():
    from alexnet_viz.walkthrough import viewable_layers
    for model in ("alexnet2012", "torchvision"):
        fig = Ch.architecture_diagram(model)
        hover = fig.data[0]
        assert len(hover.customdata) == len(hover.hovertext)
        for block, text in zip(hover.customdata, hover.hovertext):
            assert text.startswith(f"<b>{block}</b>"), "each marker carries the block it sits on"
        viewable = viewable_layers(model)
        opened = {b: Ch.diagram_layer(model, b) for b in fig.layout.meta["blocks"]}
        assert opened.pop("input") is None
        assert all(layer in viewable for layer in opened.values()), opened
        assert opened["conv1"] == "relu1" and opened["fc6"] == "relu6", "conv and fc open their ReLU"
        assert opened["pool1"] == "pool1" and opened["fc8"] == "fc8", "fc8 has no ReLU after it"
    assert Ch.diagram_layer("alexnet2012", "norm2") == "norm2" and Ch.diagram_layer("alexnet2012", "nope") is None


def test_styled_charts_carry_plotly_white_and_still_validate_what_they_set():
    fig = Ch.top_k_bar(np.linspace(0, 1, 10), [f"class {i}" for i in range(10)], k=3)
    sent = json.loads(fig.to_json())["layout"]
    assert sent["template"] == json.loads(go.Figure(layout=dict(template="plotly_white")).to_json())["layout"]["template"]
    assert sent["font"]["size"] == Ch.FONT_SIZE and sent["height"] == 80 + 60 * 3
    with pytest.raises(ValueError):  # the layout still checks what a chart sets on it afterwards
        fig.update_layout(margin=dict(l="wide"))
