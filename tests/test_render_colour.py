"""Colours: one table per colour map, dark to bright; scaling to 8 bits."""
from __future__ import annotations

import numpy as np
import pytest

from alexnet_viz.render import colour as C


def test_to_uint8_maps_min_and_max_and_survives_constant_input():
    a = C.to_uint8(np.array([[-1.0, 0.0, 1.0]]))
    assert a.tolist() == [[0, 128, 255]]
    assert C.to_uint8(np.ones((2, 2))).max() == 0


def test_viridis_is_dark_to_bright_and_monotone_in_luminance():
    lut = C.lut("viridis").astype(float)
    lum = lut @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(lum) > -0.5).all()  # readable in greyscale too
    assert lum[-1] - lum[0] > 150


def test_every_sequential_map_rises_steadily_in_brightness():
    for cmap in ("viridis", "cividis"):  # brightness rises steadily: readable without hue
        lut = C.colourise(np.arange(256).astype(np.uint8), cmap).astype(float)
        luma = lut @ [0.2126, 0.7152, 0.0722]
        assert np.all(np.diff(luma) > -0.5)


def test_colourise_scales_floats_and_indexes_with_bytes():
    assert C.colourise(np.array([0.0, 1.0])).tolist() == [[0x44, 0x01, 0x54], [0xFD, 0xE7, 0x25]]
    assert C.colourise(np.array([-2.0, 2.0]), lo=-2, hi=2).tolist() == C.lut("viridis")[[0, 255]].tolist()
    assert C.colourise(np.array([128], np.uint8)).tolist() == [C.lut("viridis")[128].tolist()]
    with pytest.raises(ValueError, match="viridis, cividis, blue-white-red"):
        C.lut("jet")
