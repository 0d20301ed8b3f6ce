"""The guided lesson's steps (alexnet_viz.lesson): eight stages in forward order, shapes from the
walkthrough, the paper's words attributed, and no GPU words for a one-tower network."""
from __future__ import annotations

import pytest

from alexnet_viz import lesson
from alexnet_viz.architecture import PREPROCESSING, get_architecture
from alexnet_viz.walkthrough import walkthrough


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_eight_steps_cover_every_layer_once_in_order_with_the_walkthroughs_shapes(model):
    arch = get_architecture(model)
    steps = lesson.lesson(arch)
    assert [s.number for s in steps] == list(range(1, 9))
    assert [n for s in steps for n in s.layers] == arch.names()
    rows = {r.name: r for r in walkthrough(arch, PREPROCESSING[model].crop)}
    assert steps[0].shape == rows["conv1"].input_shape
    for s in steps[1:]:
        assert s.shape_of in s.layers and s.shape == rows[s.shape_of].output_shape
        assert all(q.section for q in s.paper) and s.computes
    assert [s.shape_of for s in steps[1:]][:2] == ["conv1", "pool1"] and steps[-1].shape_of == "fc8"


def test_two_towers_get_the_gpu_words_and_one_tower_none():
    two = " ".join(s.title + s.computes + " ".join(q.text for q in s.paper) for s in lesson.lesson("alexnet2012"))
    one = " ".join(s.title + s.computes + " ".join(q.text for q in s.paper) for s in lesson.lesson("torchvision"))
    assert "GPU" in two and "towers talk" in two and "grouped" in two
    assert "modulo a renumbering of the GPUs" in two, "which tower is coloured is not fixed (§6.1)"
    assert "GPU" not in one and "tower" not in one
    assert "LRN is left out" in one and "Adaptive average pooling" in one


def test_the_words_use_the_variants_own_numbers():
    a, t = lesson.lesson("alexnet2012"), lesson.lesson("torchvision")
    assert a[1].title == "conv1: 96 kernels of 11×11, stride 4" and t[1].title.startswith("conv1: 64 kernels")
    assert "only that GPU's 48 of the 96 maps" in a[3].computes
    assert "reads all 64 maps" in t[3].computes
    assert "(224 − 11)/4 + 1 = 54.25" in a[0].paper[-1].text  # the paper's 224 does not fit conv1
    assert a[5].trail.endswith("pool5 256×6×6") and t[5].trail.endswith("avgpool")


def test_quotations_are_short():
    for model in ("alexnet2012", "torchvision"):
        for s in lesson.lesson(model):
            for q in s.paper:
                assert len(q.text.split()) <= 25, q.text


@pytest.mark.parametrize("value,step,told", [("3", 3, False), (" 8 ", 8, False), ("0", 1, True), ("12", 8, True),
                                             ("three", 1, True), (None, 1, True)])
def test_a_links_step_is_clamped_with_a_sentence(value, step, told):
    n, note = lesson.clamp_step(value)
    assert n == step and (note is not None) == told
