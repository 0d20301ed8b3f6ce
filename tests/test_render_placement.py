"""A channel placed on the input: units at start + jump·index, boxes clipped, one-call pictures."""
from __future__ import annotations

import numpy as np
import pytest

from alexnet_viz.architecture import get_architecture
from alexnet_viz.render import colour
from alexnet_viz.render import placement as P
from alexnet_viz.walkthrough import ReceptiveField, layer_receptive_field

ALEX = get_architecture("alexnet2012")
TV = get_architecture("torchvision")


@pytest.mark.parametrize("layer, shape, unit", [("conv1", 55, (7, 3)), ("conv2", 27, (20, 1)), ("pool5", 6, (4, 2))])
def test_a_one_hot_unit_lands_at_start_plus_jump_times_index(layer, shape, unit):
    rf = layer_receptive_field(layer, ALEX)
    m = np.zeros((shape, shape))
    m[unit] = 1.0
    want = (int(rf.start + rf.jump * unit[0]), int(rf.start + rf.jump * unit[1]))
    up = P.upsample_to_input(m, 227, rf, mode="bilinear")
    assert up.shape == (227, 227)
    assert np.unravel_index(up.argmax(), up.shape) == want and up[want] == pytest.approx(1.0)
    near = P.upsample_to_input(m, 227, rf, mode="nearest")
    assert near[want] == 1.0
    rows = np.nonzero(near.max(axis=1))[0]
    assert len(rows) == rf.jump  # an inner unit covers one jump of pixels


def test_upsample_refuses_the_receptive_field_of_another_layer():
    with pytest.raises(ValueError, match="receptive field of the layer"):
        P.upsample_to_input(np.zeros((55, 55)), 227, layer_receptive_field("pool5", ALEX))


def test_receptive_field_box_is_clipped_to_the_image():
    rf = layer_receptive_field("conv1", ALEX)  # 11 pixels, jump 4, start 5
    assert P.receptive_field_box(rf, 0, 0, 227) == (0, 0, 11, 11)
    assert P.receptive_field_box(rf, 54, 10, 227) == (216, 40, 227, 51)
    tv_rf = layer_receptive_field("conv1", TV)  # padding 2: unit 0 reaches 2 pixels outside
    assert P.receptive_field_box(tv_rf, 0, 0, 224) == (0, 0, 9, 9)
    big = ReceptiveField(195, 32, 33)  # pool5: the corner unit sees well past the edges
    top, left, bottom, right = P.receptive_field_box(big, 0, 5, 227)
    assert (top, right) == (0, 227) and bottom == 33 + 97 + 1 and left == 33 + 160 - 97


def test_channel_on_input_draws_the_strongest_units_box_on_the_coloured_map():
    rf = layer_receptive_field("conv1", ALEX)  # 11 pixels, jump 4, start 5
    m = np.zeros((55, 55))
    m[10, 20] = 1.0  # the strongest unit
    crop = np.full((227, 227, 3), 100, np.uint8)
    out = P.channel_on_input(crop, m, rf, alpha=1.0)
    assert out.shape == (227, 227, 3) and out.dtype == np.uint8
    top, left, bottom, right = P.receptive_field_box(rf, 10, 20, 227)
    orange = list(colour.hex_rgb(colour.OKABE_ITO["orange"]))
    assert out[top, left + 5].tolist() == orange and out[bottom - 1, right - 1].tolist() == orange
    assert out[top + 5, left + 5].tolist() == colour.lut("viridis")[-1].tolist(), "the unit's centre at full heat"
    assert out[200, 5].tolist() == colour.lut("viridis")[0].tolist()
    assert (P.channel_on_input(crop, m, rf, alpha=0.0, unit=(0, 0))[100:, 100:] == 100).all(), "alpha 0: the photo"


def test_channel_picture_is_the_map_in_viridis_enlarged_by_a_whole_factor():
    m = np.arange(12, dtype=float).reshape(3, 4)
    pic = P.channel_picture(m, 220)
    assert pic.shape == (3 * 73, 4 * 73, 3)
    assert pic[0, 0].tolist() == colour.lut("viridis")[0].tolist()
    assert pic[-1, -1].tolist() == colour.lut("viridis")[255].tolist()
    assert (pic[:73, :73] == pic[0, 0]).all()


@pytest.mark.parametrize("shape,shown", [((13, 13), 220), ((55, 55), 331.7), ((6, 9), 400)])
def test_a_click_on_the_enlarged_map_selects_the_unit_under_it(shape, shown):
    h, w = shape
    per = shown / w
    for r, c in [(0, 0), (h - 1, w - 1), (h // 2, w // 3)]:
        assert P.unit_at_pixel(shape, (c + 0.5) * per, (r + 0.5) * per, shown) == (r, c)
    assert P.unit_at_pixel(shape, shown, h * per, shown) == (h - 1, w - 1), "the far edge stays inside"
    assert P.unit_at_pixel(shape, -3, -1, shown) == (0, 0)
    picture = P.channel_picture(np.arange(h * w, dtype=float).reshape(h, w), 220)
    f = picture.shape[1] / w
    assert picture.shape[0] == h * f, "the picture keeps the map's aspect ratio, so one scale maps both axes"
