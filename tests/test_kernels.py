"""Kernel statistics: colourfulness, and which tower's conv1 kernels are the colourful ones."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet_viz import kernels as K
from alexnet_viz.architecture import get_architecture

ALEX = get_architecture("alexnet2012")
TV = get_architecture("torchvision")


def _grey_and_colour_kernels(n=48, seed=0):
    rng = np.random.default_rng(seed)
    grey = np.repeat(rng.normal(size=(n, 1, 11, 11)), 3, axis=1)
    colour = rng.normal(size=(n, 3, 11, 11))
    return grey, colour


def test_colourfulness_grey_zero_opponent_high_and_scale_free():
    grey, colour = _grey_and_colour_kernels(4)
    assert np.all(K.colourfulness(grey) < 1e-9)
    checker = np.indices((11, 11)).sum(axis=0) % 2 * 2.0 - 1  # ±1
    red_green = np.stack([checker, -checker, np.zeros((11, 11))])[None]
    assert K.colourfulness(red_green)[0] > 0.95
    s = K.colourfulness(colour)
    np.testing.assert_allclose(K.colourfulness(colour * 1e3), s)
    np.testing.assert_allclose(K.colourfulness(torch.tensor(colour * 1e-4)), s)
    assert np.all((s > 0.3) & (s <= 1.0))
    assert K.colourfulness(np.zeros((1, 3, 11, 11)))[0] == 0.0


def test_colourfulness_is_the_energy_off_the_grey_axis():
    """Opponent patterns score 1 however localised; iid noise 2/3; a grey pattern 0."""
    yy, xx = np.mgrid[-5:6, -5:6]
    blob = np.exp(-(xx ** 2 + yy ** 2) / 4.0)
    gabor = blob * np.cos(xx * 1.2)
    opponent = lambda p: np.stack([p, -p, np.zeros_like(p)])[None]  # noqa: E731
    for pattern in (gabor, blob, np.cos(xx * 1.2)):
        np.testing.assert_allclose(K.colourfulness(opponent(pattern - pattern.mean())), 1.0, atol=1e-9)
    noise = np.random.default_rng(0).normal(size=(4000, 3, 11, 11))
    assert abs(K.colourfulness(noise).mean() - 2 / 3) < 0.005
    np.testing.assert_allclose(K.colourfulness(np.stack([blob] * 3)[None]), 0.0, atol=1e-12)
    # by hand for one kernel: energy off the grey axis over total energy, after removing the mean
    w = np.random.default_rng(1).normal(size=(1, 3, 5, 5))
    v = w - w.mean()
    grey = (v.sum(axis=1) ** 2 / 3).sum()
    assert abs(K.colourfulness(w)[0] - (1 - grey / (v ** 2).sum())) < 1e-12


@pytest.mark.parametrize("colourful_first", [True, False])
def test_tower_comparison_finds_the_tower_made_colourful(colourful_first):
    grey, colour = _grey_and_colour_kernels()
    grey = grey + 0.02 * np.random.default_rng(1).normal(size=grey.shape)  # nearly grey
    w = np.concatenate([colour, grey] if colourful_first else [grey, colour])
    c = K.tower_colour_comparison(w, ALEX)
    want = "GPU 1" if colourful_first else "GPU 2"
    assert c.more_colourful == want and c.clear and c.separation == 1.0
    assert c.towers[want].mean > 0.5 > c.towers["GPU 2" if colourful_first else "GPU 1"].mean
    assert c.towers["GPU 1"].n == 48 and c.less_colourful == ("GPU 2" if colourful_first else "GPU 1")


def test_untrained_conv1_shows_no_clear_tower_difference(alex):
    c = K.tower_colour_comparison(alex.body.conv1.weight, ALEX)
    assert not c.clear and c.separation < K.CLEAR_SEPARATION


def test_one_tower_variant_compares_nothing_and_other_weights_are_refused(tv):
    c = K.tower_colour_comparison(tv.body.features[0].weight, TV)
    assert list(c.towers) == ["all"] and c.towers["all"].channels == range(64)
    assert c.more_colourful is None and not c.clear and c.separation is None
    with pytest.raises(ValueError, match="another layer or network"):
        K.tower_colour_comparison(tv.body.features[0].weight, ALEX)
