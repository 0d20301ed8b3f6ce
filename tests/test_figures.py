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
