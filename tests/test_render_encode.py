"""Download files: PNG, CSV and .npy bytes that read back as what was written."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from alexnet_viz.render import encode as E


def test_png_bytes_round_trip_keeps_pixels():
    a = (np.arange(12 * 10 * 3) % 256).astype(np.uint8).reshape(12, 10, 3)
    back = np.asarray(Image.open(io.BytesIO(E.png_bytes(a))))
    assert np.array_equal(back, a)


def test_csv_bytes_has_a_header_and_one_line_per_row():
    text = E.csv_bytes([{"class": "tabby, tabby cat", "p": 0.5}, {"class": "x", "p": 0.25}]).decode()
    lines = text.strip().splitlines()
    assert lines[0] == "class,p" and lines[1] == '"tabby, tabby cat",0.5' and len(lines) == 3


def test_npy_download_round_trips():
    a = np.random.default_rng(0).normal(size=(3, 5, 5)).astype(np.float32)
    back = np.load(io.BytesIO(E.npy_bytes(a)))
    assert back.dtype == np.float32 and np.array_equal(back, a)
