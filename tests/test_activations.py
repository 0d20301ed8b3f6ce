"""Numbers about activations: channel order, per-channel and per-layer statistics, fc units."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet_viz import activations as A


def test_channel_order_sorts_descending_with_stable_ties():
    act = np.zeros((5, 2, 2))
    act[0] = [[1, 1], [1, 1]]  # mean 1, max 1
    act[1] = [[0, 0], [0, 8]]  # mean 2, max 8
    act[2] = [[3, 3], [3, 3]]  # mean 3, max 3
    act[3] = [[0, 0], [0, 4]]  # mean 1, max 4 (ties channel 0 on mean)
    np.testing.assert_array_equal(A.channel_order(act, "index"), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(A.channel_order(act, "mean"), [2, 1, 0, 3, 4])
    np.testing.assert_array_equal(A.channel_order(torch.tensor(act)[None], "max"), [1, 3, 2, 0, 4])
    with pytest.raises(ValueError, match="index, mean, max"):
        A.channel_order(act, "median")


def test_channel_stats_on_a_handmade_map():
    s = A.channel_stats(np.array([[0.0, 1.0], [3.0, 0.0]]))
    assert s["mean"] == 1.0 and s["max"] == 3.0 and s["min"] == 0.0
    assert s["std"] == pytest.approx(np.sqrt(6 / 4))
    assert s["zero_fraction"] == 0.5 and s["argmax"] == (1, 0)


def test_layer_summary_counts_dead_activations_and_channels():
    act = np.ones((3, 2, 2))
    act[0] = 0  # a dead channel
    act[1, 0] = 0  # half dead
    s = A.layer_summary(act, bins=4)
    assert s.dead_fraction == 0.5 and s.dead_channels == 1
    np.testing.assert_array_equal(s.dead_per_channel, [1.0, 0.5, 0.0])
    assert s.hist_counts.sum() == 12 and len(s.hist_edges) == 5
    assert A.layer_summary(act, nonzero_histogram=True).hist_counts.sum() == 6


def test_relu_of_the_real_network_has_dead_units_and_conv_has_none(alex_acts):
    assert A.layer_summary(alex_acts["relu1"]).dead_fraction > 0.2
    assert A.layer_summary(alex_acts["conv1"]).dead_fraction == 0.0
    assert A.layer_summary(alex_acts["fc7"]).channels == 4096


def test_top_units_strongest_first():
    v = torch.tensor([[0.1, 5.0, -2.0, 3.0]])
    assert A.top_units(v, 2) == [(1, 5.0), (3, 3.0)]
    assert [u for u, _ in A.top_units(v, 10)] == [1, 3, 0, 2]
