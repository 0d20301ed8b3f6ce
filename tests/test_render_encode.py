"""Download files: PNG, CSV and .npy bytes that read back as what was written."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alexnet_viz.render import encode as E


def test_png_bytes_round_trip_keeps_pixels():
    a = (np.arange(12 * 10 * 3) % 256).astype(np.uint8).reshape(12, 10, 3)
    back = np.asarray(Image.open(io.BytesIO(E.png_bytes(a))))
    assert np.array_equal(back, a)


def test_fast_png_keeps_pixels_and_a_bad_level_is_a_sentence():
    a = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(40, 30, 3)
    fast = E.png_bytes(a, compress_level=1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fast))), a)
    assert fast != E.png_bytes(a), "level 1 is another encoding of the same pixels"
    with pytest.raises(ValueError, match="0-9"):
        E.png_bytes(a, compress_level=12)


def test_csv_bytes_has_a_header_and_one_line_per_row():
    text = E.csv_bytes([{"class": "tabby, tabby cat", "p": 0.5}, {"class": "x", "p": 0.25}]).decode()
    lines = text.strip().splitlines()
    assert lines[0] == "class,p" and lines[1] == '"tabby, tabby cat",0.5' and len(lines) == 3


def test_npy_download_round_trips():
    a = np.random.default_rng(0).normal(size=(3, 5, 5)).astype(np.float32)
    back = np.load(io.BytesIO(E.npy_bytes(a)))
    assert back.dtype == np.float32 and np.array_equal(back, a)


def test_jpeg_bytes_are_the_bytes_streamlit_would_send_for_the_photo():
    """The sidebar hands these bytes to st.image instead of the PIL photo: what the browser gets
    must not change (Streamlit's own encoding of a PIL photo is the independent computation)."""
    pytest.importorskip("streamlit", reason="Streamlit is part of requirements.txt: this compares with its own JPEG encoding")
    from streamlit.elements.lib.image_utils import _pil_to_bytes

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    ours = E.jpeg_bytes(photo)
    assert ours == _pil_to_bytes(photo, "JPEG")
    assert Image.open(io.BytesIO(ours)).size == (80, 60)
    with pytest.raises(ValueError, match="1-100"):
        E.jpeg_bytes(photo, quality=0)
