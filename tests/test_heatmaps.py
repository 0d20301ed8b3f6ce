"""Turning attribution arrays into pictures: sign modes, clipping, colours, overlay, PNG."""
import io

import numpy as np
import pytest
from PIL import Image

from alexnet_viz import heatmaps as H


def ramp_attr():
    """A (3, 4, 4) attribution: channel sums run from −8 to +7 across the pixels."""
    total = np.arange(-8, 8, dtype=np.float32).reshape(4, 4)
    return np.stack([total, np.zeros_like(total), np.zeros_like(total)])


def test_sign_modes_pick_the_right_part():
    a = ramp_attr()
    total = a.sum(0)
    assert np.array_equal(H.reduce(a, "signed"), total)
    assert np.array_equal(H.reduce(a, "positive"), np.maximum(total, 0))
    assert np.array_equal(H.reduce(a, "negative"), np.maximum(-total, 0))
    assert (H.reduce(a, "positive") >= 0).all() and (H.reduce(a, "negative") >= 0).all()


def test_absolute_sums_magnitudes_so_opposite_channels_do_not_cancel():
    a = np.zeros((3, 2, 2), np.float32)
    a[0], a[1] = 1.0, -1.0  # signed sum is 0 everywhere
    assert np.allclose(H.reduce(a, "signed"), 0)
    assert np.allclose(H.reduce(a, "absolute"), 2)


def test_unknown_sign_mode_is_a_sentence():
    with pytest.raises(ValueError, match="sign mode"):
        H.reduce(ramp_attr(), "both")


def test_percentile_clipping_keeps_one_outlier_from_washing_out_the_map():
    values = np.ones((10, 10), np.float32)
    values[0, 0] = 1000.0  # one hot pixel
    norm = H.normalise(values, "absolute", H.scale_of(values, 95))
    assert norm[5, 5] == pytest.approx(1.0)  # the ordinary pixels reach full colour
    assert norm[0, 0] == 1.0  # the outlier is clipped, not beyond
    unclipped = H.normalise(values, "absolute", H.scale_of(values, 100))
    assert unclipped[5, 5] == pytest.approx(0.001)


def test_signed_normalisation_keeps_zero_in_the_middle():
    norm = H.normalise(H.reduce(ramp_attr(), "signed"), "signed", 8.0)
    assert norm.min() == -1.0 and norm.max() == pytest.approx(7 / 8)
    colours = H.colorize(norm, "signed")
    white = colours[np.argwhere(norm == 0)[0][0], np.argwhere(norm == 0)[0][1]]
    assert (white > 240).all()  # zero attribution is (near) white on the diverging map
    blue, red = colours[0, 0], colours[3, 3]
    assert blue[2] > blue[0] and red[0] > red[2]  # negative blue, positive red


def test_all_zero_map_gives_zero_scale_and_no_colour_error():
    z = np.zeros((5, 5), np.float32)
    assert H.scale_of(z) == 0.0
    pic = H.render(z, sign="absolute")
    assert pic.shape == (5, 5, 3) and pic.dtype == np.uint8
    assert (pic == H.colormap("viridis")[0]).all()


def test_sparse_map_still_gets_a_scale():
    values = np.zeros((100, 100), np.float32)
    values[0, 0] = 3.0  # the 99th percentile of |values| is 0
    assert H.scale_of(values, 99) == 3.0


def test_viridis_is_dark_to_bright_and_monotone_in_luminance():
    lut = H.colormap("viridis").astype(float)
    lum = lut @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(lum) > -0.5).all()  # readable in greyscale too
    assert lum[-1] - lum[0] > 150


def test_shared_scale_makes_colours_comparable_and_per_map_does_not():
    weak = np.full((4, 4), 1.0, np.float32)
    strong = np.full((4, 4), 10.0, np.float32)
    shared, s_scales = H.render_many([weak, strong], sign="absolute", shared=True)
    own, o_scales = H.render_many([weak, strong], sign="absolute", shared=False)
    assert s_scales[0] == s_scales[1] == 10.0
    assert o_scales == [1.0, 10.0]
    assert not np.array_equal(shared[0], shared[1])  # the weak map looks weaker
    assert np.array_equal(own[0], own[1])  # each saturates its own scale


def test_overlay_opacity_blends_from_image_to_map():
    image = Image.new("RGB", (8, 8), (200, 10, 10))
    norm = np.ones((4, 4), np.float32)  # smaller than the image: resized to it
    assert np.array_equal(H.overlay(image, norm, "absolute", opacity=0.0), np.asarray(image))
    full = H.overlay(image, norm, "absolute", opacity=1.0)
    assert full.shape == (8, 8, 3)
    assert (full == H.colormap("viridis")[-1]).all()
    half = H.overlay(image, norm, "absolute", opacity=0.5).astype(int)
    expect = (np.array([200, 10, 10]) + H.colormap("viridis")[-1].astype(int)) / 2
    assert np.abs(half[0, 0] - expect).max() <= 1


def test_alpha_by_value_lets_the_photo_through_where_attribution_is_weak():
    image = np.full((2, 2, 3), 0.5, np.float32)
    norm = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    out = H.overlay(image, norm, "absolute", opacity=1.0, alpha_by_value=True)
    assert (out[0, 0] == 128).all()  # zero attribution: the image
    assert (out[0, 1] == H.colormap("viridis")[-1]).all()


def test_bad_opacity_and_bad_image_are_sentences():
    with pytest.raises(ValueError, match="Opacity"):
        H.overlay(np.zeros((2, 2, 3)), np.zeros((2, 2)), "absolute", opacity=2)
    with pytest.raises(ValueError, match="RGB"):
        H.overlay(np.zeros((2, 2)), np.zeros((2, 2)), "absolute")
    with pytest.raises(ValueError, match="percentile"):
        H.scale_of(np.ones(3), 0)


def test_png_round_trips():
    pic = H.render(ramp_attr(), np.zeros((4, 4, 3), np.uint8), sign="signed", opacity=0.7)
    back = np.asarray(Image.open(io.BytesIO(H.to_png(pic))))
    assert np.array_equal(back, pic)


def test_colorbar_runs_low_to_high():
    bar = H.colorbar("signed", width=11)
    assert bar.shape == (12, 11, 3)
    assert bar[0, 0, 2] > bar[0, 0, 0] and bar[0, -1, 0] > bar[0, -1, 2]


def test_npy_download_round_trips():
    a = np.random.default_rng(0).normal(size=(3, 5, 5)).astype(np.float32)
    back = np.load(io.BytesIO(H.to_npy(a)))
    assert back.dtype == np.float32 and np.array_equal(back, a)
