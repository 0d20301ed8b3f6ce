"""Blending colours onto a photo, enlarging, outlining a box."""
from __future__ import annotations

import numpy as np
import pytest

from alexnet_viz.render import colour
from alexnet_viz.render import images as I


def test_overlay_blends_a_colour_blind_safe_map():
    img = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4))
    heat[1, 2] = 1.0
    coloured = colour.colourise(heat, "viridis", float(heat.min()), float(heat.max()))
    np.testing.assert_array_equal(I.overlay(img, coloured, 0.0), img)
    top = I.overlay(img, coloured, 1.0)
    assert tuple(top[1, 2]) == (0xFD, 0xE7, 0x25) and tuple(top[0, 0]) == (0x44, 0x01, 0x54)
    with pytest.raises(ValueError, match="upsample it"):
        I.overlay(img, colour.colourise(np.zeros((5, 5))))
    with pytest.raises(ValueError, match="between 0 and 1"):
        I.overlay(img, colour.colourise(heat), 1.5)


def test_draw_box_outlines_without_touching_the_original():
    img = np.zeros((10, 10, 3), np.uint8)
    out = I.draw_box(img, (2, 3, 7, 9), "#E69F00", width=1)
    assert img.max() == 0
    assert out[2, 3].tolist() == [0xE6, 0x9F, 0x00] and out[6, 8].tolist() == [0xE6, 0x9F, 0x00]
    assert out[4, 5].max() == 0 and out[1, 3].max() == 0 and out[2, 9].max() == 0


def test_enlarge_repeats_pixels():
    a = np.array([[1, 2], [3, 4]], np.uint8)
    assert I.enlarge(a, 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
