"""Attribution pictures: colours for each sign mode, shared or per-map scales, the overlay."""
import io

import numpy as np
import pytest
from PIL import Image

from alexnet_viz import heatmaps as H
from alexnet_viz.render import attribution as R
from alexnet_viz.render import colour
from alexnet_viz.render.encode import png_bytes
from helpers import ramp_attr


def test_signed_normalisation_keeps_zero_in_the_middle():
    norm = H.normalise(H.reduce(ramp_attr(), "signed"), "signed", 8.0)
    assert norm.min() == -1.0 and norm.max() == pytest.approx(7 / 8)
    colours = R.colour_by_sign(norm, "signed")
    white = colours[np.argwhere(norm == 0)[0][0], np.argwhere(norm == 0)[0][1]]
    assert (white > 240).all()  # zero attribution is (near) white on the diverging map
    purple, green = colours[0, 0].astype(int), colours[3, 3].astype(int)
    assert purple[0] > purple[1] < purple[2] and green[1] > max(green[0], green[2])  # negative purple, positive green
    # (blue and vermillion are the towers': signs never take them)


def test_all_zero_map_gives_zero_scale_and_no_colour_error():
    z = np.zeros((5, 5), np.float32)
    assert H.scale_of(z) == 0.0
    pic = R.attribution_picture(z, sign="absolute")
    assert pic.shape == (5, 5, 3) and pic.dtype == np.uint8
    assert (pic == colour.lut("viridis")[0]).all()


def test_shared_scale_makes_colours_comparable_and_per_map_does_not():
    weak = np.full((4, 4), 1.0, np.float32)
    strong = np.full((4, 4), 10.0, np.float32)
    shared, s_scales = R.attribution_pictures([weak, strong], sign="absolute", shared=True)
    own, o_scales = R.attribution_pictures([weak, strong], sign="absolute", shared=False)
    assert s_scales[0] == s_scales[1] == 10.0
    assert o_scales == [1.0, 10.0]
    assert not np.array_equal(shared[0], shared[1])  # the weak map looks weaker
    assert np.array_equal(own[0], own[1])  # each saturates its own scale


def test_negative_maps_show_their_magnitude_on_any_scale():
    a = -ramp_attr()[0]  # the channel sum, negated: the negative part is the old positive part
    one = R.attribution_picture(a, sign="negative", percentile=100)
    (shared,), _ = R.attribution_pictures([a], sign="negative", percentile=100)
    assert np.array_equal(one, shared) and (one[3, 3] == colour.lut("viridis")[-1]).all()


def test_overlay_opacity_blends_from_image_to_map():
    image = Image.new("RGB", (8, 8), (200, 10, 10))
    norm = np.ones((4, 4), np.float32)  # smaller than the image: resized to it
    assert np.array_equal(R.on_image(image, norm, "absolute", opacity=0.0), np.asarray(image))
    full = R.on_image(image, norm, "absolute", opacity=1.0)
    assert full.shape == (8, 8, 3)
    assert (full == colour.lut("viridis")[-1]).all()
    half = R.on_image(image, norm, "absolute", opacity=0.5).astype(int)
    expect = (np.array([200, 10, 10]) + colour.lut("viridis")[-1].astype(int)) / 2
    assert np.abs(half[0, 0] - expect).max() <= 1


def test_alpha_by_value_lets_the_photo_through_where_attribution_is_weak():
    image = np.full((2, 2, 3), 0.5, np.float32)
    norm = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    out = R.on_image(image, norm, "absolute", opacity=1.0, alpha_by_value=True)
    assert (out[0, 0] == 128).all()  # zero attribution: the image
    assert (out[0, 1] == colour.lut("viridis")[-1]).all()


def test_bad_opacity_and_bad_image_are_sentences():
    with pytest.raises(ValueError, match="Opacity"):
        R.on_image(np.zeros((2, 2, 3)), np.zeros((2, 2)), "absolute", opacity=2)
    with pytest.raises(ValueError, match="RGB"):
        R.on_image(np.zeros((2, 2)), np.zeros((2, 2)), "absolute")


def test_png_round_trips():
    pic = R.attribution_picture(ramp_attr(), np.zeros((4, 4, 3), np.uint8), sign="signed", opacity=0.7)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(pic))))
    assert np.array_equal(back, pic)


def test_colorbar_runs_low_to_high():
    bar = R.colour_bar("signed", width=11)
    assert bar.shape == (12, 11, 3)
    low, high = bar[0, 0].astype(int), bar[0, -1].astype(int)
    assert low[0] > low[1] < low[2] and high[1] > max(high[0], high[2])  # purple (lowers) to green (raises)
