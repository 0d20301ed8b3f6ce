"""Attribution numbers made ready to show: sign modes, percentile clipping, normalisation."""
import numpy as np
import pytest

from alexnet_viz import heatmaps as H
from helpers import ramp_attr


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


def test_sparse_map_still_gets_a_scale():
    values = np.zeros((100, 100), np.float32)
    values[0, 0] = 3.0  # the 99th percentile of |values| is 0
    assert H.scale_of(values, 99) == 3.0


def test_a_bad_percentile_is_a_sentence():
    with pytest.raises(ValueError, match="percentile"):
        H.scale_of(np.ones(3), 0)
