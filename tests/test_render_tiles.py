"""Tiled grids: every tile shows its channel, towers split from the table, kernels as tiles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet_viz.architecture import get_architecture
from alexnet_viz.render import tiles as T

ALEX = get_architecture("alexnet2012")
TV = get_architecture("torchvision")


def test_each_tile_shows_exactly_its_channel_and_channel_at_round_trips():
    rng = np.random.default_rng(0)
    act = rng.integers(0, 256, size=(7, 4, 6)).astype(np.float32)  # non-square maps
    chans = [3, 0, 6, 5, 1]
    g = T.tile_grid(act, chans, cols=2, pad=2, normalise="shared", vrange=(0, 255))
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
    g = T.tile_grid(act, [0, 1, 2], cols=3)
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
    g = T.tile_grid(act, [1, 0], cols=2, pad=1, normalise="shared", vrange=(0, 17), scale=4)
    assert g.tile == (12, 12)
    t, l, b, r = g.box_of(1)
    assert (g.image[t:t + 4, l:l + 4] == g.image[t, l]).all()
    assert g.channel_at(t + 11, l + 11) == 1 and g.channel_at(t + 12, l) is None


def test_bad_channel_and_layout_get_sentences():
    act = np.zeros((4, 3, 3))
    with pytest.raises(ValueError, match="channels 0–3"):
        T.tile_grid(act, [4])
    with pytest.raises(ValueError, match="at least one"):
        T.tile_grid(act, [])
    with pytest.raises(ValueError, match="top_units"):
        T.tile_grid(np.zeros(10), [0])


@pytest.mark.parametrize("layer, half", [
    ("conv1", 48), ("relu1", 48), ("norm1", 48), ("pool1", 48),
    ("conv2", 128), ("pool2", 128), ("conv3", 192), ("relu4", 192), ("conv5", 128), ("pool5", 128),
])
def test_towers_split_the_real_activations_in_half(alex_acts, layer, half):
    act = alex_acts[layer]  # (1, C, H, W) straight from the network
    grids = T.tower_grids(act, layer, "mean", ALEX)
    assert list(grids) == ["GPU 1", "GPU 2"]
    assert sorted(grids["GPU 1"].channels) == list(range(half))
    assert sorted(grids["GPU 2"].channels) == list(range(half, 2 * half))
    assert grids["GPU 2"].tower == "GPU 2"
    # each tower is sorted on its own, strongest mean first
    means = act[0].mean(dim=(1, 2)).numpy()
    assert np.all(np.diff(means[list(grids["GPU 2"].channels)]) <= 0)


def test_torchvision_and_fc8_have_no_towers(tv, alex_acts):
    acts = tv.activations(torch.zeros(1, 3, 224, 224))
    grids = T.tower_grids(acts["pool1"], "pool1", "max", TV)
    assert list(grids) == ["all"] and len(grids["all"].channels) == 64
    assert [t.name for t in ALEX.towers("fc8")] == ["all"]
    assert [len(t.channels) for t in ALEX.towers("fc6")] == [2048, 2048]
    pool5 = T.tower_grids(alex_acts["pool5"], "pool5", "index", ALEX)
    assert [g.tower for g in pool5.values()] == ["GPU 1", "GPU 2"]


def test_towers_reject_an_activation_from_another_layer(alex_acts):
    with pytest.raises(ValueError, match="96 channels in the table but this activation has 256"):
        T.tower_grids(alex_acts["conv2"], "norm1", "index", ALEX)
    with pytest.raises(ValueError, match="pass the architecture"):
        T.tower_grids(alex_acts["norm1"], "norm1", "index")


def test_shared_normalisation_uses_one_range_for_both_towers(alex_acts):
    grids = T.tower_grids(alex_acts["relu1"], "relu1", "index", ALEX, normalise="shared")
    assert grids["GPU 1"].ranges[0] == grids["GPU 2"].ranges[0]


def test_conv1_kernels_are_symmetric_rgb_images(alex):
    k = T.conv1_kernels(alex.body.conv1.weight)
    assert k.shape == (96, 11, 11, 3) and k.min() >= 0 and k.max() <= 1
    per = np.abs(k - 0.5).reshape(96, -1).max(axis=1)
    np.testing.assert_allclose(per, 0.5)  # every kernel uses the full symmetric range
    w = torch.zeros(2, 3, 11, 11)
    w[0, 0, 5, 5] = 2.0  # red input channel only
    k = T.conv1_kernels(w)
    assert tuple(k[0, 5, 5]) == (1.0, 0.5, 0.5) and (k[1] == 0.5).all()


def test_kernel_grid_splits_conv1_into_two_towers_of_48(alex, tv):
    grids = T.kernel_grid(alex.body.conv1.weight, ALEX, cols=8, scale=4)
    assert list(grids) == ["GPU 1", "GPU 2"]
    g = grids["GPU 2"]
    assert g.channels == tuple(range(48, 96)) and g.image.shape == (1 + 6 * 45, 1 + 8 * 45, 3)
    t, l, b, r = g.box_of(50)
    want = np.rint(T.conv1_kernels(alex.body.conv1.weight)[50] * 255).astype(np.uint8)
    np.testing.assert_array_equal(g.image[t:b:4, l:r:4], want)
    assert g.channel_at(t + 20, l + 20) == 50
    assert list(T.kernel_grid(tv.body.features[0].weight, TV)) == ["all"]


def test_input_kernels_shows_one_greyscale_tile_per_input_channel(alex):
    w = alex.body.conv2.weight  # (256, 48, 5, 5)
    g = T.input_kernels(w, 200, "conv2", ALEX, scale=1, cols=8)
    assert g.channels == tuple(range(48, 96)) and g.tower == "GPU 2" and "GPU 2" in g.note
    assert g.image.ndim == 2 and g.tile == (5, 5)
    m = float(w[200].abs().max())
    t, l, b, r = g.box_of(60)
    want = np.clip(np.rint((w[200, 60 - 48].numpy() + m) * 255 / (2 * m)), 0, 255)
    np.testing.assert_array_equal(g.image[t:b, l:r], want)
    g3 = T.input_kernels(alex.body.conv3.weight, 200, "conv3", ALEX)
    assert len(g3.channels) == 256 and "GPU 1 and GPU 2" in g3.note
    with pytest.raises(ValueError, match="another layer"):
        T.input_kernels(alex.body.conv3.weight, 0, "conv2", ALEX)
    with pytest.raises(ValueError, match="0–255"):
        T.input_kernels(w, 256, "conv2", ALEX)


def test_coloured_grid_keeps_padding_and_empty_slots_neutral():
    act = np.ones((5, 3, 3))  # every tile shows its top value
    g = T.tile_grid(act, range(5), cols=3, normalise="shared", vrange=(0, 1))
    rgb = g.rgb("viridis", background=(255, 255, 255))
    assert rgb.shape == g.image.shape + (3,)
    t, l, b, r = g.box_of(4)
    assert tuple(rgb[t, l]) == (0xFD, 0xE7, 0x25)  # a tile: viridis' top colour
    assert tuple(rgb[0, 0]) == (255, 255, 255)  # padding
    assert tuple(rgb[t + 1, r + 2]) == (255, 255, 255)  # the empty sixth slot
    assert g.tile_mask().sum() == 5 * 9


def test_one_tower_kernels_and_channels_name_no_tower(tv):
    (g,) = T.kernel_grid(tv.body.features[0].weight, TV).values()
    assert g.tower is None and g.channels == tuple(range(64))
    k = T.input_kernels(tv.body.features[3].weight, 100, "conv2", TV)
    assert k.tower is None and "one tower" in k.note
    with pytest.raises(ValueError, match="another layer or network"):
        T.kernel_grid(tv.body.features[0].weight, ALEX)


@pytest.mark.parametrize("shown", [393, 640, 250.5])
def test_a_click_on_the_shown_grid_lands_on_the_tile_under_it(alex_acts, shown):
    """conv1's GPU 2 grid as the Feature maps page draws it: a click at the centre of each tile,
    at any displayed width, selects that tile's channel; a click on the frame selects nothing."""
    grids = T.tower_grids(alex_acts["relu1"][0], "relu1", "max", ALEX)
    g = grids["GPU 2"]
    f = shown / g.image.shape[1]  # displayed pixels per image pixel
    for c in g.channels:
        top, left, bottom, right = g.box_of(c)
        assert g.channel_at_pixel((left + right) / 2 * f, (top + bottom) / 2 * f, shown) == c
        assert g.channel_at_pixel((left + 0.1) * f, (bottom - 0.1) * f, shown) == c, "corners count"
    assert g.channel_at_pixel(0.2 * f, 0.2 * f, shown) is None, "the white frame"
    with pytest.raises(ValueError, match="visible"):
        g.channel_at_pixel(1, 1, 0)


def test_labelled_tiles_write_each_channel_number_and_keep_the_click_geometry(alex_acts):
    g = T.tower_grids(alex_acts["relu5"][0], "relu5", "index", ALEX, scale=3, pad=1)["GPU 1"]
    plain = g.rgb("viridis")
    out = T.labelled_tiles(g, width=720)
    f = out.shape[1] // plain.shape[1]
    assert out.shape == (plain.shape[0] * f, plain.shape[1] * f, 3) and 720 * 2 / 3 <= out.shape[1] <= 720 * 1.5
    assert out.dtype == np.uint8
    for c in (g.channels[0], g.channels[-1]):
        top, left, bottom, right = (v * f for v in g.box_of(c))
        corner = out[top:top + 14, left:left + 14].astype(int)
        assert (corner.max(axis=2) > 240).any() and (corner.max(axis=2) < 60).any(), "white digits on a dark box"
        np.testing.assert_array_equal(out[bottom - 2, right - 2], plain[(bottom - 2) // f, (right - 2) // f])
    top, left, bottom, right = g.box_of(100)
    assert g.channel_at_pixel((left + 1) * f, (top + 1) * f, out.shape[1]) == 100, "a click on the label"


def test_mark_tile_frames_the_chosen_tile_and_nothing_else(alex_acts):
    g = T.tower_grids(alex_acts["relu2"][0], "relu2", "index", ALEX)["GPU 1"]
    pic = T.labelled_tiles(g)
    before = pic.copy()
    marked = T.mark_tile(pic, g, 30)
    f = pic.shape[1] // g.image.shape[1]
    top, left, bottom, right = (v * f for v in g.box_of(30))
    changed = np.argwhere((marked != pic).any(axis=2))
    assert len(changed) > 0 and np.array_equal(pic, before), "a copy is marked"
    m = g.pad * f
    assert changed[:, 0].min() >= top - m and changed[:, 0].max() < bottom + m
    assert changed[:, 1].min() >= left - m and changed[:, 1].max() < right + m
    np.testing.assert_array_equal(marked[top + 10:bottom - 10, left + 10:right - 10],
                                  pic[top + 10:bottom - 10, left + 10:right - 10]), "the map inside stays visible"
