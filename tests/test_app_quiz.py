"""The shape quiz through AppTest: the question's answer is the walkthrough's for the chosen
variant and size, right and wrong answers are told apart and scored once, the hint and the worked
answer come from the walkthrough, and the quiz never runs the network."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from alexnet_viz import quiz
from alexnet_viz.walkthrough import walkthrough
from app_support import APP, count_forward_passes, offline_pretrained_weights

PAGE = "views/quiz.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def forward_calls(monkeypatch):
    return count_forward_passes(monkeypatch)


def open_quiz(seed: int = 7) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["_quiz"] = {"seed": seed, "number": 1, "hint": False, "shown": False, "scored": False,
                                 "verdict": None}
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def current(at: AppTest) -> quiz.Question:
    """The question on the page, rebuilt from the walkthrough's side: its text must be on the page."""
    state = at.session_state["_quiz"]
    q = quiz.make_question(at.selectbox(key="quiz_model").value, at.select_slider(key="quiz_size").value,
                           state["seed"] + state["number"])
    assert any(q.text in m.value for m in at.markdown)
    return q


def truth(q: quiz.Question):
    row = next(r for r in walkthrough(q.model, q.size) if r.name == q.layer)
    return row.output_shape if q.kind == "shape" else row.params


def answer(at: AppTest, typed: str) -> AppTest:
    at.text_input(key="quiz_answer").input(typed)
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception, at.exception
    return at


def score(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Score this session")


def written(q: quiz.Question) -> str:
    """The walkthrough's answer, typed the way a student might."""
    t = truth(q)
    return "(" + ", ".join(map(str, t)) + ")" if q.kind == "shape" else f"{t:,}"


def test_a_right_answer_scores_and_a_wrong_one_does_not(forward_calls):
    at = open_quiz()
    assert score(at) == "0 of 0"
    q = current(at)
    answer(at, written(q))
    assert at.success and not at.error and score(at) == "1 of 1"
    at.button(key="quiz_new").click().run()
    q2 = current(at)
    assert at.session_state["_quiz"]["number"] == 2 and not at.success
    assert at.text_input(key="quiz_answer").value == ""
    answer(at, "1x2x3" if q2.kind == "shape" else "12")
    assert at.error and score(at) == "1 of 2"
    answer(at, written(q2))  # right at the second try: told so, but the first answer counted
    assert at.success and score(at) == "1 of 2"
    assert forward_calls == [], "the quiz needs no forward pass"


def test_an_unreadable_answer_is_explained_and_not_scored():
    at = open_quiz()
    answer(at, "a few")
    assert at.warning and "read" in at.warning[0].value and score(at) == "0 of 0"


def test_the_hint_then_the_worked_answer_come_from_the_walkthrough():
    at = open_quiz()
    q = current(at)
    assert not at.info
    at.button(key="quiz_hint").click().run()
    assert at.info[0].value == f"**Hint.** {q.hint}" and at.button(key="quiz_hint").disabled
    at.button(key="quiz_show").click().run()
    shown = next(m.value for m in at.markdown if m.value.startswith("**The answer"))
    t = truth(q)
    assert (" × ".join(map(str, t)) if q.kind == "shape" else f"{t:,}") in shown and q.formula in shown
    answer(at, written(q))
    assert score(at) == "0 of 0", "after the answer was shown, the question no longer counts"


@pytest.mark.parametrize("model,size", [("torchvision", 320), ("keras-tutorial", 240), ("alexnet2012", 205)])
def test_any_variant_at_any_size_it_runs_at(model, size):
    at = open_quiz(seed=3)
    at.selectbox(key="quiz_model").set_value(model).run()
    at.select_slider(key="quiz_size").set_value(size).run()
    assert not at.exception, at.exception
    assert at.select_slider(key="quiz_size").options == [str(s) for s in quiz.runnable_sizes(model)]
    for _ in range(3):
        q = current(at)
        assert q.model == model and q.size == size
        answer(at, written(q))
        assert at.success, (q, at.error)
        at.button(key="quiz_new").click().run()
    assert score(at) == "3 of 3"


def test_only_sizes_the_network_runs_at_are_offered():
    at = open_quiz()
    offered = [int(s) for s in at.select_slider(key="quiz_size").options]
    assert offered == list(range(199, 231)) and at.select_slider(key="quiz_size").value == 227


def test_new_question_never_repeats_the_question_just_asked():
    repeats = next(s for s in range(300) if (lambda a, b: (a.layer, a.kind) == (b.layer, b.kind))(
        quiz.make_question("alexnet2012", 227, s + 1), quiz.make_question("alexnet2012", 227, s + 2)))
    at = open_quiz(seed=repeats)  # question 1 is seed + 1; a plain step to seed + 2 would ask it again
    first = current(at)
    at.button(key="quiz_new").click().run()
    assert not at.exception, at.exception
    second = current(at)
    assert at.session_state["_quiz"]["number"] == 2
    assert (second.layer, second.kind) != (first.layer, first.kind)
