"""The figure and image helpers the app draws with: right numbers in the right places."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alexnet_viz import figures as F


def test_top_k_bar_lists_the_most_probable_classes_most_probable_on_top():
    probs = np.array([0.05, 0.5, 0.1, 0.3, 0.05])
    fig = F.top_k_bar(probs, ["a", "b", "c", "d", "e"], k=3)
    bar = fig.data[0]
    assert list(bar.y) == ["c", "d", "b"]  # plotly draws the last category on top
    assert list(bar.x) == [0.1, 0.3, 0.5]


def test_class_rank_counts_from_one():
    probs = np.array([0.1, 0.6, 0.3])
    assert [F.class_rank(probs, i) for i in range(3)] == [3, 1, 2]


def test_png_bytes_round_trip_keeps_pixels():
    a = (np.arange(12 * 10 * 3) % 256).astype(np.uint8).reshape(12, 10, 3)
    back = np.asarray(Image.open(io.BytesIO(F.png_bytes(a))))
    assert np.array_equal(back, a)


def test_to_uint8_maps_min_and_max_and_survives_constant_input():
    a = F.to_uint8(np.array([[-1.0, 0.0, 1.0]]))
    assert a.tolist() == [[0, 128, 255]]
    assert F.to_uint8(np.ones((2, 2))).max() == 0


def test_csv_bytes_has_a_header_and_one_line_per_row():
    text = F.csv_bytes([{"class": "tabby, tabby cat", "p": 0.5}, {"class": "x", "p": 0.25}]).decode()
    lines = text.strip().splitlines()
    assert lines[0] == "class,p" and lines[1] == '"tabby, tabby cat",0.5' and len(lines) == 3


# -- architecture diagram --------------------------------------------------------------------
def _dashed_targets(fig) -> set[str]:
    """Names of the blocks that dashed (cross-tower) connections lead into."""
    names = fig.layout.meta["blocks"]
    return {names[round(s.x1 + 0.39)] for s in fig.layout.shapes if s.type == "line" and s.line.dash == "dash"}


def test_diagram_has_two_lanes_and_crosses_towers_only_where_the_paper_does():
    fig = F.architecture_diagram("alexnet2012")
    names = fig.layout.meta["blocks"]
    assert names[:5] == ["input", "conv1", "norm1", "pool1", "conv2"] and names[-1] == "fc8"
    assert _dashed_targets(fig) == {"conv3", "fc6", "fc7"}  # fc8 is one block fed by both lanes
    labels = [a.text for a in fig.layout.annotations]
    assert labels.count("<b>conv1</b><br>48<br>55×55") == 2, "conv1 split 48 + 48, one block per GPU"
    assert "<b>GPU 1</b>" in labels and "<b>GPU 2</b>" in labels


def test_diagram_hover_shows_the_walkthrough_row():
    fig = F.architecture_diagram("alexnet2012")
    hover = [t for t in fig.data[0].hovertext if t.startswith("<b>conv1</b>")]
    assert len(hover) == 2
    assert "105,415,200" in hover[0] and "34,944" in hover[0] and "(227 − 11 + 2·0)/4 + 1 = 55" in hover[0]


def test_diagram_at_224_marks_the_inexact_sizes():
    fig = F.architecture_diagram("alexnet2012", 224)
    assert "input 224×224" in fig.layout.title.text
    dotted = [s for s in fig.layout.shapes if s.type == "rect" and s.line.dash == "dot"]
    assert dotted, "layers whose size formula is not whole are outlined"
    conv1 = [t for t in fig.data[0].hovertext if t.startswith("<b>conv1</b>")][0]
    assert "54.25" in conv1


def test_single_tower_variant_draws_one_lane_without_crossings():
    fig = F.architecture_diagram("torchvision")
    assert not _dashed_targets(fig)
    assert "<b>GPU 1</b>" not in [a.text for a in fig.layout.annotations]
    assert "<b>conv1</b><br>64<br>55×55" in [a.text for a in fig.layout.annotations]


# -- variant comparison ------------------------------------------------------------------------
def test_comparison_flags_the_known_differences_and_only_those():
    cmp = F.variant_comparison()
    row = {(r["stage"], r["aspect"]): (r, d) for r, d in zip(cmp.rows, cmp.differs)}
    r, d = row[("conv2", "kernels")]
    assert d and r["alexnet2012"] == "256 × 5×5" and r["keras-tutorial"] == "256 × 11×11"
    r, d = row[("whole network", "parameters")]
    assert d and r["alexnet2012"] == "60,965,224" and r["torchvision"] == "61,100,840"
    assert row[("conv2", "groups / towers")][1] and "2 groups" in row[("conv2", "groups / towers")][0]["alexnet2012"]
    assert row[("conv1", "normalisation")][0]["keras-tutorial"] == "BatchNorm"
    assert not row[("conv3", "kernels")][1], "all three have 384 × 3×3 at conv3"
    assert row[("fc9", "kernels")][0]["alexnet2012"] == "—"


def test_walk_records_flatten_rows_for_a_table():
    from alexnet_viz import walkthrough

    rec = F.walk_records(walkthrough("alexnet2012"))
    conv1 = rec[0]
    assert conv1["output"] == "96×55×55" and conv1["parameters"] == 34944 and conv1["receptive field (px)"] == 11
    pool5 = next(r for r in rec if r["layer"] == "pool5")
    assert pool5["receptive field (px)"] == 195 and pool5["jump (px)"] == 32


# -- feature maps and kernels --------------------------------------------------------------------
def test_unit_bars_colour_units_by_tower_strongest_first():
    vec = np.zeros(8)
    vec[[1, 6, 3]] = [3.0, 2.0, 1.0]
    fig = F.unit_bars(vec, 3, towers=(4, 4))
    by_tower = {t.name: list(t.x) for t in fig.data}
    assert by_tower == {"GPU 1": ["unit 1", "unit 3"], "GPU 2": ["unit 6"]}
    assert list(fig.layout.xaxis.categoryarray) == ["unit 1", "unit 6", "unit 3"]
    labelled = F.unit_bars(vec, 1, None, labels=[f"c{i}" for i in range(8)])
    assert list(labelled.data[0].x) == ["1: c1"] and labelled.data[0].name == "all"


def test_draw_box_outlines_without_touching_the_original():
    img = np.zeros((10, 10, 3), np.uint8)
    out = F.draw_box(img, (2, 3, 7, 9), "#E69F00", width=1)
    assert img.max() == 0
    assert out[2, 3].tolist() == [0xE6, 0x9F, 0x00] and out[6, 8].tolist() == [0xE6, 0x9F, 0x00]
    assert out[4, 5].max() == 0 and out[1, 3].max() == 0 and out[2, 9].max() == 0


def test_colourfulness_chart_has_one_column_per_tower_with_every_kernel():
    scores = np.linspace(0, 1, 6)
    towers = {"GPU 1": {"channels": range(0, 3)}, "GPU 2": {"channels": range(3, 6)}}
    fig = F.colourfulness_chart(scores, towers)
    assert [t.name for t in fig.data] == ["GPU 1", "GPU 2"]
    assert list(fig.data[1].y) == list(scores[3:]) and list(fig.data[1].customdata) == [3, 4, 5]


def test_enlarge_repeats_pixels():
    a = np.array([[1, 2], [3, 4]], np.uint8)
    assert F.enlarge(a, 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


def test_figures_does_not_import_streamlit():
    import subprocess
    import sys

    code = "import sys, alexnet_viz.figures; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_channel_table_gives_each_channel_its_tower_and_numbers():
    act = np.zeros((4, 2, 2))
    act[3] = [[0, 2], [4, 6]]
    rows = F.channel_table(act, (2, 2))
    assert [r["tower"] for r in rows] == ["GPU 1", "GPU 1", "GPU 2", "GPU 2"]
    assert rows[3] == {"channel": 3, "tower": "GPU 2", "mean": 3.0, "max": 6.0, "zero fraction": 0.25}
    assert rows[0]["zero fraction"] == 1.0
