"""Shape quizzes (alexnet_viz.quiz): what a student types is read leniently, every question's
answer is the walkthrough's, and the verdicts say what went wrong."""
from __future__ import annotations

import numpy as np
import pytest

from alexnet_viz import quiz, render
from alexnet_viz.architecture import ARCHITECTURES, get_architecture
from alexnet_viz.walkthrough import param_formula, walkthrough


@pytest.mark.parametrize("typed,shape", [
    ("256x13x13", (256, 13, 13)), ("256 × 13 × 13", (256, 13, 13)), ("(256, 13, 13)", (256, 13, 13)),
    ("[256,13,13]", (256, 13, 13)), ("256 X 13 X 13", (256, 13, 13)), ("256*13*13", (256, 13, 13)),
    ("256 by 13 by 13", (256, 13, 13)), ("torch.Size([1, 256, 13, 13])", (1, 256, 13, 13)),
    ("4096", (4096,)), ("4,096", (4096,)), ("(4096,)", (4096,)), (" 9216 ", (9216,)),
    ("256\u00a0×\u00a013\u00a0×\u00a013", (256, 13, 13)),
])
def test_shapes_are_read_as_people_write_them(typed, shape):
    assert quiz.parse_shape(typed) == shape


@pytest.mark.parametrize("typed,count", [
    ("37752832", 37_752_832), ("37,752,832", 37_752_832), ("37 752 832", 37_752_832),
    ("37_752_832", 37_752_832), ("37\u202f752\u202f832", 37_752_832), ("3.7752832e7", 37_752_832),
    ("34,944", 34_944), ("0", 0), ("3.7e7", 37_000_000),
])
def test_counts_are_read_as_people_write_them(typed, count):
    assert quiz.parse_count(typed) == count


@pytest.mark.parametrize("typed,words", [
    ("", "Type a shape"), ("256x13xabc", "not a shape"), ("big", "not a shape"),
])
def test_an_unreadable_shape_gets_a_sentence(typed, words):
    with pytest.raises(quiz.AnswerError, match=words):
        quiz.parse_shape(typed)


@pytest.mark.parametrize("typed,words", [
    ("", "Type a number"), ("37.8M", "rounded"), ("about 38 million", "rounded"), ("3.77528325e7", "rounded"),
    ("37,75,2832", "not a whole number"), ("many", "not a whole number"), ("256x13x13", "not a whole number"),
])
def test_an_unreadable_or_rounded_count_gets_a_sentence(typed, words):
    with pytest.raises(quiz.AnswerError, match=words):
        quiz.parse_count(typed)


@pytest.mark.parametrize("model", list(ARCHITECTURES))
def test_runnable_sizes_are_exactly_those_the_walkthrough_runs_at(model):
    sizes = quiz.runnable_sizes(model, 150, 260)
    assert ARCHITECTURES[model].input_size in sizes
    for s in range(150, 261):
        assert (s in sizes) == (walkthrough(model, s)[-1].output_shape is not None)


@pytest.mark.parametrize("model,size", [("alexnet2012", 227), ("alexnet2012", 199), ("torchvision", 224),
                                        ("torchvision", 300), ("keras-tutorial", 240)])
def test_every_answer_is_the_walkthroughs_and_the_seed_fixes_the_question(model, size):
    rows = {r.name: r for r in walkthrough(model, size)}
    seen = set()
    for seed in range(40):
        q = quiz.make_question(model, size, seed)
        assert q == quiz.make_question(model, size, seed)
        row = rows[q.layer]
        assert q.answer == (row.output_shape if q.kind == "shape" else row.params)
        assert quiz.check(q, q.answer_text).right
        assert q.layer in q.text and (str(size) in q.text or q.kind == "params")
        seen.add((q.kind, q.layer))
    assert {k for k, _ in seen} == {"shape", "params"} and len(seen) > 6, "questions vary with the seed"


def test_the_next_question_is_never_the_one_just_asked():
    """Issue 22 item 9: "New question" could ask the same layer and kind again."""
    same = [s for s in range(300) if (lambda a, b: (a.layer, a.kind) == (b.layer, b.kind))(
        quiz.make_question("alexnet2012", 227, s), quiz.make_question("alexnet2012", 227, s + 1))]
    assert same, "seed + 1 alone repeats now and then: the test can fail"
    for seed in same + list(range(20)):
        now, later = quiz.make_question("alexnet2012", 227, seed), quiz.next_seed("alexnet2012", 227, seed)
        q = quiz.make_question("alexnet2012", 227, later)
        assert (q.layer, q.kind) != (now.layer, now.kind) and later > seed
        between = [quiz.make_question("alexnet2012", 227, s) for s in range(seed + 1, later)]
        assert all((b.layer, b.kind) == (now.layer, now.kind) for b in between), "the first different one"


def test_a_size_the_network_cannot_run_at_is_a_sentence():
    with pytest.raises(ValueError, match="cannot run at 256×256"):
        quiz.make_question("alexnet2012", 256, 0)


def question(model, size, kind, layer):
    for seed in range(500):
        q = quiz.make_question(model, size, seed)
        if (q.kind, q.layer) == (kind, layer):
            return q
    raise AssertionError(f"no {kind} question about {layer}")


def test_hint_and_formula_for_conv2s_shape():
    q = question("alexnet2012", 227, "shape", "conv2")
    assert q.answer == (256, 27, 27)
    assert "96 × 27 × 27" in q.hint and "5×5, stride 1, padding 2" in q.hint and "256 output channels" in q.hint
    assert "27" not in q.hint.replace("96 × 27 × 27", ""), "the hint does not give the side away"
    assert q.formula == "side: (27 − 5 + 2·2)/1 + 1 = 27; 256 channels → 256 × 27 × 27"


def test_shape_verdicts_accept_a_batch_dimension_and_channels_last_and_say_what_is_wrong():
    q = question("alexnet2012", 227, "shape", "conv2")
    assert quiz.check(q, "(256, 27, 27)").right
    assert "batch dimension" in quiz.check(q, "1x256x27x27").message and quiz.check(q, "1x256x27x27").right
    assert "channels-last" in quiz.check(q, "27x27x256").message and quiz.check(q, "27x27x256").right
    wrong_side = quiz.check(q, "256x13x13")
    assert not wrong_side.right and "channels are right" in wrong_side.message
    wrong_channels = quiz.check(q, "96x27x27")
    assert not wrong_channels.right and "side is right" in wrong_channels.message
    assert "3 dimensions" in quiz.check(q, "256x27").message


def test_params_verdicts_spot_a_missing_bias_and_a_forgotten_group():
    q = question("alexnet2012", 227, "params", "conv2")
    assert q.answer == 307_456
    assert quiz.check(q, "307,456").right
    assert "add one bias" in quiz.check(q, f"{256 * 48 * 25}").message
    assert "grouped" in quiz.check(q, f"{256 * 96 * 25 + 256}").message
    assert not quiz.check(q, "12").right
    fc6 = question("alexnet2012", 227, "params", "fc6")
    assert quiz.check(fc6, "37,752,832").right and fc6.formula.endswith("= 37,752,832")


@pytest.mark.parametrize("model", list(ARCHITECTURES))
def test_param_formula_ends_in_the_walkthroughs_count(model):
    arch = get_architecture(model)
    for row, layer in zip(walkthrough(arch), arch.layers):
        text = param_formula(row, layer)
        if row.params:
            assert text.split(" = ")[-1].split(" ")[0] == f"{row.params:,}", text
        else:
            assert text.startswith("no parameters")


def test_tower_grids_top_keeps_each_towers_strongest_channels():
    rng = np.random.default_rng(0)
    act = rng.random((96, 5, 5)).astype(np.float32)  # (C, H, W)
    grids = render.tower_grids(act, "conv1", "max", "alexnet2012", top=3)
    maxima = act.reshape(96, -1).max(axis=1)
    assert list(grids["GPU 1"].channels) == list(np.argsort(-maxima[:48])[:3])
    assert list(grids["GPU 2"].channels) == list(48 + np.argsort(-maxima[48:])[:3])
    with pytest.raises(ValueError, match="at least one channel"):
        render.tower_grids(act, "conv1", "max", "alexnet2012", top=0)
