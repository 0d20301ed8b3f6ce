"""Feature-map and kernel pictures: layouts, towers, numbers and placement on the input.

Runs offline on the real (untrained) networks and on small handmade tensors.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet_viz import maps as M
from alexnet_viz.architecture import get_architecture
from alexnet_viz.network import build_network
from alexnet_viz.walkthrough import ReceptiveField

ALEX = get_architecture("alexnet2012")
TV = get_architecture("torchvision")


@pytest.fixture(scope="module")
def alex():
    return build_network("alexnet2012")


@pytest.fixture(scope="module")
def alex_acts(alex):
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(1)) * 50
    return alex.activations(x)


@pytest.fixture(scope="module")
def tv():
    return build_network("torchvision")


# -- tiling ------------------------------------------------------------------------------------


def test_each_tile_shows_exactly_its_channel_and_channel_at_round_trips():
    rng = np.random.default_rng(0)
    act = rng.integers(0, 256, size=(7, 4, 6)).astype(np.float32)  # non-square maps
    chans = [3, 0, 6, 5, 1]
    g = M.tile_grid(act, chans, cols=2, pad=2, normalise="shared", vrange=(0, 255))
    assert g.image.dtype == np.uint8 and g.image.ndim == 2
    assert g.tile == (4, 6) and g.rows == 3
    assert g.image.shape == (2 + 3 * (4 + 2), 2 + 2 * (6 + 2))
    owner = np.full(g.image.shape, -1)
    for c in chans:
        top, left, bottom, right = g.box_of(c)
        np.testing.assert_array_equal(g.image[top:bottom, left:right], act[c])
        owner[top:bottom, left:right] = c
    for r in range(g.image.shape[0]):
        for col in range(g.image.shape[1]):
            got = g.channel_at(r, col)
            assert (got if got is not None else -1) == owner[r, col], (r, col)
    assert g.channel_at(-1, 3) is None and g.channel_at(3, 10_000) is None


def test_per_channel_normalisation_stretches_every_tile_and_dead_tiles_are_black():
    act = np.zeros((3, 5, 5))
    act[0] = np.arange(25).reshape(5, 5)  # 0..24
    act[1] = np.arange(25).reshape(5, 5) * 100 + 7  # another scale
    g = M.tile_grid(act, [0, 1, 2], cols=3)
    for c in (0, 1):
        t, l, b, r = g.box_of(c)
        tile = g.image[t:b, l:r]
        assert tile.min() == 0 and tile.max() == 255
        np.testing.assert_array_equal(tile, g.image[slice(*g.box_of(0)[::2]), slice(*g.box_of(0)[1::2])])
    t, l, b, r = g.box_of(2)
    assert (g.image[t:b, l:r] == 0).all()  # a dead channel is black, not noise
    assert g.ranges[1] == (7.0, 2407.0)


def test_scale_enlarges_tiles_with_nearest_and_channel_at_follows():
    act = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    g = M.tile_grid(act, [1, 0], cols=2, pad=1, normalise="shared", vrange=(0, 17), scale=4)
    assert g.tile == (12, 12)
    t, l, b, r = g.box_of(1)
    assert (g.image[t:t + 4, l:l + 4] == g.image[t, l]).all()
    assert g.channel_at(t + 11, l + 11) == 1 and g.channel_at(t + 12, l) is None


def test_bad_channel_and_layout_get_sentences():
    act = np.zeros((4, 3, 3))
    with pytest.raises(ValueError, match="channels 0–3"):
        M.tile_grid(act, [4])
    with pytest.raises(ValueError, match="at least one"):
        M.tile_grid(act, [])
    with pytest.raises(ValueError, match="top_units"):
        M.tile_grid(np.zeros(10), [0])


def test_channel_order_sorts_descending_with_stable_ties():
    act = np.zeros((5, 2, 2))
    act[0] = [[1, 1], [1, 1]]  # mean 1, max 1
    act[1] = [[0, 0], [0, 8]]  # mean 2, max 8
    act[2] = [[3, 3], [3, 3]]  # mean 3, max 3
    act[3] = [[0, 0], [0, 4]]  # mean 1, max 4 (ties channel 0 on mean)
    np.testing.assert_array_equal(M.channel_order(act, "index"), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(M.channel_order(act, "mean"), [2, 1, 0, 3, 4])
    np.testing.assert_array_equal(M.channel_order(torch.tensor(act)[None], "max"), [1, 3, 2, 0, 4])
    with pytest.raises(ValueError, match="index, mean, max"):
        M.channel_order(act, "median")


# -- towers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, half", [
    ("conv1", 48), ("relu1", 48), ("norm1", 48), ("pool1", 48),
    ("conv2", 128), ("pool2", 128), ("conv3", 192), ("relu4", 192), ("conv5", 128), ("pool5", 128),
])
def test_towers_split_the_real_activations_in_half(alex_acts, layer, half):
    act = alex_acts[layer]  # (1, C, H, W) straight from the network
    grids = M.tower_grids(act, layer, "mean", ALEX)
    assert list(grids) == ["GPU 1", "GPU 2"]
    assert sorted(grids["GPU 1"].channels) == list(range(half))
    assert sorted(grids["GPU 2"].channels) == list(range(half, 2 * half))
    assert grids["GPU 2"].tower == "GPU 2"
    # each tower is sorted on its own, strongest mean first
    means = act[0].mean(dim=(1, 2)).numpy()
    assert np.all(np.diff(means[list(grids["GPU 2"].channels)]) <= 0)


def test_torchvision_and_fc8_have_no_towers(tv, alex_acts):
    acts = tv.activations(torch.zeros(1, 3, 224, 224))
    grids = M.tower_grids(acts["pool1"], "pool1", "max", TV)
    assert list(grids) == ["all"] and len(grids["all"].channels) == 64
    assert M.layer_towers("fc8", ALEX) is None and M.layer_towers("fc6", ALEX) == (2048, 2048)


def test_towers_reject_an_activation_from_another_layer(alex_acts):
    with pytest.raises(ValueError, match="96 channels in the table but this activation has 256"):
        M.tower_grids(alex_acts["conv2"], "norm1", "index", ALEX)
    with pytest.raises(ValueError, match="pass the architecture"):
        M.tower_grids(alex_acts["norm1"], ALEX.layer("norm1"), "index")


def test_shared_normalisation_uses_one_range_for_both_towers(alex_acts):
    grids = M.tower_grids(alex_acts["relu1"], "relu1", "index", ALEX, normalise="shared")
    assert grids["GPU 1"].ranges[0] == grids["GPU 2"].ranges[0]


# -- numbers -----------------------------------------------------------------------------------


def test_channel_stats_on_a_handmade_map():
    s = M.channel_stats(np.array([[0.0, 1.0], [3.0, 0.0]]))
    assert s["mean"] == 1.0 and s["max"] == 3.0 and s["min"] == 0.0
    assert s["std"] == pytest.approx(np.sqrt(6 / 4))
    assert s["zero_fraction"] == 0.5 and s["argmax"] == (1, 0)


def test_layer_summary_counts_dead_activations_and_channels():
    act = np.ones((3, 2, 2))
    act[0] = 0  # a dead channel
    act[1, 0] = 0  # half dead
    s = M.layer_summary(act, bins=4)
    assert s.dead_fraction == 0.5 and s.dead_channels == 1
    np.testing.assert_array_equal(s.dead_per_channel, [1.0, 0.5, 0.0])
    assert s.hist_counts.sum() == 12 and len(s.hist_edges) == 5
    assert M.layer_summary(act, nonzero_histogram=True).hist_counts.sum() == 6


def test_relu_of_the_real_network_has_dead_units_and_conv_has_none(alex_acts):
    assert M.layer_summary(alex_acts["relu1"]).dead_fraction > 0.2
    assert M.layer_summary(alex_acts["conv1"]).dead_fraction == 0.0
    assert M.layer_summary(alex_acts["fc7"]).channels == 4096


def test_top_units_strongest_first():
    v = torch.tensor([[0.1, 5.0, -2.0, 3.0]])
    assert M.top_units(v, 2) == [(1, 5.0), (3, 3.0)]
    assert [u for u, _ in M.top_units(v, 10)] == [1, 3, 0, 2]


# -- on the input -----------------------------------------------------------------------------


@pytest.mark.parametrize("layer, shape, unit", [("conv1", 55, (7, 3)), ("conv2", 27, (20, 1)), ("pool5", 6, (4, 2))])
def test_a_one_hot_unit_lands_at_start_plus_jump_times_index(layer, shape, unit):
    rf = M.layer_receptive_field(layer, ALEX)
    m = np.zeros((shape, shape))
    m[unit] = 1.0
    want = (int(rf.start + rf.jump * unit[0]), int(rf.start + rf.jump * unit[1]))
    up = M.upsample_to_input(m, 227, rf, mode="bilinear")
    assert up.shape == (227, 227)
    assert np.unravel_index(up.argmax(), up.shape) == want and up[want] == pytest.approx(1.0)
    near = M.upsample_to_input(m, 227, rf, mode="nearest")
    assert near[want] == 1.0
    rows = np.nonzero(near.max(axis=1))[0]
    assert len(rows) == rf.jump  # an inner unit covers one jump of pixels


def test_upsample_refuses_the_receptive_field_of_another_layer():
    with pytest.raises(ValueError, match="receptive field of the layer"):
        M.upsample_to_input(np.zeros((55, 55)), 227, M.layer_receptive_field("pool5", ALEX))


def test_receptive_field_box_is_clipped_to_the_image():
    rf = M.layer_receptive_field("conv1", ALEX)  # 11 pixels, jump 4, start 5
    assert M.receptive_field_box(rf, 0, 0, 227) == (0, 0, 11, 11)
    assert M.receptive_field_box(rf, 54, 10, 227) == (216, 40, 227, 51)
    tv_rf = M.layer_receptive_field("conv1", TV)  # padding 2: unit 0 reaches 2 pixels outside
    assert M.receptive_field_box(tv_rf, 0, 0, 224) == (0, 0, 9, 9)
    big = ReceptiveField(195, 32, 33)  # pool5: the corner unit sees well past the edges
    top, left, bottom, right = M.receptive_field_box(big, 0, 5, 227)
    assert (top, right) == (0, 227) and bottom == 33 + 97 + 1 and left == 33 + 160 - 97


def test_overlay_blends_a_colour_blind_safe_map():
    img = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 4))
    heat[1, 2] = 1.0
    np.testing.assert_array_equal(M.overlay(img, heat, alpha=0.0), img)
    top = M.overlay(img, heat, alpha=1.0, cmap="viridis")
    assert tuple(top[1, 2]) == (0xFD, 0xE7, 0x25) and tuple(top[0, 0]) == (0x44, 0x01, 0x54)
    for cmap in ("viridis", "cividis"):  # brightness rises steadily: readable without hue
        lut = M.colourise(np.arange(256), cmap).astype(float)
        luma = lut @ [0.2126, 0.7152, 0.0722]
        assert np.all(np.diff(luma) > -0.5)
    with pytest.raises(ValueError, match="upsample it"):
        M.overlay(img, np.zeros((5, 5)))


# -- kernels -----------------------------------------------------------------------------------


def test_conv1_kernels_are_symmetric_rgb_images(alex):
    k = M.conv1_kernels(alex.body.conv1.weight)
    assert k.shape == (96, 11, 11, 3) and k.min() >= 0 and k.max() <= 1
    per = np.abs(k - 0.5).reshape(96, -1).max(axis=1)
    np.testing.assert_allclose(per, 0.5)  # every kernel uses the full symmetric range
    w = torch.zeros(2, 3, 11, 11)
    w[0, 0, 5, 5] = 2.0  # red input channel only
    k = M.conv1_kernels(w)
    assert tuple(k[0, 5, 5]) == (1.0, 0.5, 0.5) and (k[1] == 0.5).all()


def test_kernel_grid_splits_conv1_into_two_towers_of_48(alex, tv):
    grids = M.kernel_grid(alex.body.conv1.weight, ALEX, cols=8, scale=4)
    assert list(grids) == ["GPU 1", "GPU 2"]
    g = grids["GPU 2"]
    assert g.channels == tuple(range(48, 96)) and g.image.shape == (1 + 6 * 45, 1 + 8 * 45, 3)
    t, l, b, r = g.box_of(50)
    want = np.rint(M.conv1_kernels(alex.body.conv1.weight)[50] * 255).astype(np.uint8)
    np.testing.assert_array_equal(g.image[t:b:4, l:r:4], want)
    assert g.channel_at(t + 20, l + 20) == 50
    assert list(M.kernel_grid(tv.body.features[0].weight, TV)) == ["all"]


def _grey_and_colour_kernels(n=48, seed=0):
    rng = np.random.default_rng(seed)
    grey = np.repeat(rng.normal(size=(n, 1, 11, 11)), 3, axis=1)
    colour = rng.normal(size=(n, 3, 11, 11))
    return grey, colour


def test_colourfulness_grey_zero_opponent_high_and_scale_free():
    grey, colour = _grey_and_colour_kernels(4)
    assert np.all(M.colourfulness(grey) < 1e-9)
    checker = np.indices((11, 11)).sum(axis=0) % 2 * 2.0 - 1  # ±1
    red_green = np.stack([checker, -checker, np.zeros((11, 11))])[None]
    assert M.colourfulness(red_green)[0] > 0.95
    s = M.colourfulness(colour)
    np.testing.assert_allclose(M.colourfulness(colour * 1e3), s)
    np.testing.assert_allclose(M.colourfulness(torch.tensor(colour * 1e-4)), s)
    assert np.all((s > 0.3) & (s <= 1.0))
    assert M.colourfulness(np.zeros((1, 3, 11, 11)))[0] == 0.0


@pytest.mark.parametrize("colourful_first", [True, False])
def test_tower_comparison_finds_the_tower_made_colourful(colourful_first):
    grey, colour = _grey_and_colour_kernels()
    grey = grey + 0.02 * np.random.default_rng(1).normal(size=grey.shape)  # nearly grey
    w = np.concatenate([colour, grey] if colourful_first else [grey, colour])
    c = M.tower_colour_comparison(w, ALEX)
    want = "GPU 1" if colourful_first else "GPU 2"
    assert c["more_colourful"] == want and c["clear"] and c["separation"] == 1.0
    assert c["towers"][want]["mean"] > 0.5 > c["towers"]["GPU 2" if colourful_first else "GPU 1"]["mean"]
    assert c["towers"]["GPU 1"]["n"] == 48 and want in c["sentence"]


def test_untrained_conv1_shows_no_clear_tower_difference(alex):
    c = M.tower_colour_comparison(alex.body.conv1.weight, ALEX)
    assert not c["clear"] and "do not differ clearly" in c["sentence"]


# -- deeper kernels ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch, layer, out, first, last, tower", [
    (ALEX, "conv2", 200, 48, 95, "GPU 2"),
    (ALEX, "conv2", 5, 0, 47, "GPU 1"),
    (ALEX, "conv3", 200, 0, 255, "GPU 2"),
    (ALEX, "conv4", 10, 0, 191, "GPU 1"),
    (ALEX, "conv5", 255, 192, 383, "GPU 2"),
    (TV, "conv2", 100, 0, 63, None),
])
def test_input_channels_follow_the_groups(arch, layer, out, first, last, tower):
    r = M.input_channels(layer, arch, out)
    assert (r.start, r.stop - 1) == (first, last)
    assert arch.tower_of(layer, out) == (tower or "all")


def test_input_kernels_shows_one_greyscale_tile_per_input_channel(alex):
    w = alex.body.conv2.weight  # (256, 48, 5, 5)
    g = M.input_kernels(w, 200, "conv2", ALEX, scale=1, cols=8)
    assert g.channels == tuple(range(48, 96)) and g.tower == "GPU 2" and "GPU 2" in g.note
    assert g.image.ndim == 2 and g.tile == (5, 5)
    m = float(w[200].abs().max())
    t, l, b, r = g.box_of(60)
    want = np.clip(np.rint((w[200, 60 - 48].numpy() + m) * 255 / (2 * m)), 0, 255)
    np.testing.assert_array_equal(g.image[t:b, l:r], want)
    g3 = M.input_kernels(alex.body.conv3.weight, 200, "conv3", ALEX)
    assert len(g3.channels) == 256 and "GPU 1 and GPU 2" in g3.note
    with pytest.raises(ValueError, match="another layer"):
        M.input_kernels(alex.body.conv3.weight, 0, "conv2", ALEX)
    with pytest.raises(ValueError, match="0–255"):
        M.input_kernels(w, 256, "conv2", ALEX)


def test_viewable_layers_match_what_the_network_returns(alex_acts):
    kinds = M.viewable_layers(ALEX)
    assert list(kinds) == list(alex_acts)
    assert all((kinds[n] == "map") == (a.ndim == 4) for n, a in alex_acts.items())


def test_coloured_grid_keeps_padding_and_empty_slots_neutral():
    act = np.ones((5, 3, 3))  # every tile shows its top value
    g = M.tile_grid(act, range(5), cols=3, normalise="shared", vrange=(0, 1))
    rgb = g.rgb("viridis", background=(255, 255, 255))
    assert rgb.shape == g.image.shape + (3,)
    t, l, b, r = g.box_of(4)
    assert tuple(rgb[t, l]) == (0xFD, 0xE7, 0x25)  # a tile: viridis' top colour
    assert tuple(rgb[0, 0]) == (255, 255, 255)  # padding
    assert tuple(rgb[t + 1, r + 2]) == (255, 255, 255)  # the empty sixth slot
    assert g.tile_mask().sum() == 5 * 9
