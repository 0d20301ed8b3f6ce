"""Rows for tables and CSV files: ranks from one sort, towers from the table, variants compared."""
from __future__ import annotations

import numpy as np

from alexnet_viz.architecture import TOWERS, Architecture, Layer
from alexnet_viz.render import tables as Tb

# Four channels, two on each tower: small enough to check every row by hand.
TWO_TOWERS = Architecture("tiny", "two towers of two channels", 4, 3, 2,
                          (Layer("conv", "conv", "conv", 4, 3, towers=2),), "a test", tower_names=TOWERS)


def test_class_rank_counts_from_one():
    probs = np.array([0.1, 0.6, 0.3])
    assert Tb.class_ranks(probs).tolist() == [3, 1, 2]


def test_ties_share_a_rank_and_probability_rows_run_most_probable_first():
    probs = np.array([0.2, 0.3, 0.2, 0.3])
    assert Tb.class_ranks(probs).tolist() == [3, 1, 3, 1]
    rows = Tb.probability_rows(probs, ["a", "b", "c", "d"])
    assert [r["class"] for r in rows] == ["b", "d", "a", "c"]
    assert rows[0] == {"rank": 1, "class": "b", "probability": 0.3}
    big = np.random.default_rng(0).dirichlet(np.ones(1000))
    ranks = Tb.class_ranks(big)
    assert all(ranks[i] == (big > big[i]).sum() + 1 for i in range(0, 1000, 37)), "as counting, class by class"


# -- variant comparison ------------------------------------------------------------------------
def test_comparison_flags_the_known_differences_and_only_those():
    cmp = Tb.variant_comparison()
    row = {(r["stage"], r["aspect"]): (r, d) for r, d in zip(cmp.rows, cmp.differs)}
    r, d = row[("conv2", "kernels")]
    assert d and r["alexnet2012"] == "256 × 5×5" and r["keras-tutorial"] == "256 × 11×11"
    r, d = row[("whole network", "parameters")]
    assert d and r["alexnet2012"] == "60,965,224" and r["torchvision"] == "61,100,840"
    assert row[("conv2", "groups / towers")][1] and "2 groups" in row[("conv2", "groups / towers")][0]["alexnet2012"]
    assert row[("conv1", "normalisation")][0]["keras-tutorial"] == "BatchNorm"
    assert not row[("conv3", "kernels")][1], "all three have 384 × 3×3 at conv3"
    assert row[("fc9", "kernels")][0]["alexnet2012"] == "—"


def test_walk_records_flatten_rows_for_a_table():
    from alexnet_viz import walkthrough

    rec = Tb.walk_records(walkthrough("alexnet2012"))
    conv1 = rec[0]
    assert conv1["output"] == "96×55×55" and conv1["parameters"] == 34944 and conv1["receptive field (px)"] == 11
    pool5 = next(r for r in rec if r["layer"] == "pool5")
    assert pool5["receptive field (px)"] == 195 and pool5["jump (px)"] == 32


def test_channel_table_gives_each_channel_its_tower_and_numbers():
    act = np.zeros((4, 2, 2))
    act[3] = [[0, 2], [4, 6]]
    rows = Tb.channel_table(act, TWO_TOWERS, "conv")
    assert [r["tower"] for r in rows] == ["GPU 1", "GPU 1", "GPU 2", "GPU 2"]
    assert rows[3] == {"channel": 3, "tower": "GPU 2", "mean": 3.0, "max": 6.0, "zero fraction": 0.25}
    assert rows[0]["zero fraction"] == 1.0
