"""The lesson page and the presentation switch through AppTest: every step draws the shape the
walkthrough gives, next / back and the URL's ?step= agree, nothing runs the network again, and
presentation mode follows the session from page to page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from alexnet_viz import lesson
from alexnet_viz.render.tables import shape_text
from alexnet_viz.walkthrough import walkthrough
from app_support import APP, count_forward_passes, offline_pretrained_weights

PAGE = "views/lesson.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def forward_calls(monkeypatch):
    return count_forward_passes(monkeypatch)


def open_lesson(step: str | None = None, model: str | None = None, present: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if model is not None:
        at.run()
        at.sidebar.selectbox(key="model").set_value(model).run()
    if step is not None:
        at.query_params["step"] = step
    if present is not None:
        at.query_params["present"] = present
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def shown_step(at: AppTest) -> int:
    title = at.header[0].value
    assert title.startswith("Step ")
    return int(title.split()[1])


def param(at: AppTest, name: str) -> str | None:
    """The URL's value for ``name`` (AppTest keeps a string, or a list once the app wrote it)."""
    value = at.query_params.get(name)
    return value[-1] if isinstance(value, list) else value


def expected_shape(model: str, step: int) -> str:
    s = lesson.lesson(model)[step - 1]
    rows = {r.name: r for r in walkthrough(model, 227 if model == "alexnet2012" else 224)}
    return shape_text(rows["conv1"].input_shape if s.shape_of is None else rows[s.shape_of].output_shape)


@pytest.mark.parametrize("step", range(1, 9))
def test_each_step_shows_the_walkthroughs_shape_and_its_picture_from_the_cached_pass(forward_calls, step):
    at = open_lesson(str(step))
    assert shown_step(at) == step and param(at, "step") == str(step)
    (metric,) = at.metric
    assert metric.value == expected_shape("alexnet2012", step)
    assert any("The paper's words" in m.value for m in at.markdown)
    pictures = at.main.get("image") + at.main.get("plotly_chart")
    assert pictures, "every step shows this photo at its stage"
    assert len(forward_calls) == (0 if step == 1 else 1), "the photo needs none; the maps the cached one"


@pytest.mark.parametrize("step", [2, 4, 5])
def test_the_one_tower_network_gets_its_own_shapes_and_no_gpu_words(step):
    at = open_lesson(str(step), model="torchvision")
    assert at.metric[0].value == expected_shape("torchvision", step)
    text = " ".join(m.value for m in at.main.markdown) + at.header[0].value
    assert "GPU" not in text and "tower" not in text.replace("one-tower", "")


def test_next_and_back_move_one_step_and_write_the_url(forward_calls):
    at = open_lesson()
    assert shown_step(at) == 1 and at.button(key="lesson_back").disabled
    for want in (2, 3, 4):
        at.button(key="lesson_next").click().run()
        assert shown_step(at) == want and param(at, "step") == str(want)
    at.button(key="lesson_back").click().run()
    assert shown_step(at) == 3 and param(at, "step") == "3"
    at.segmented_control(key="lesson_jump").set_value(8).run()
    assert shown_step(at) == 8 and at.button(key="lesson_next").disabled
    assert param(at, "step") == "8"
    assert len(forward_calls) == 1


def test_the_step_survives_a_trip_to_another_page_and_a_link_wins_over_the_session():
    at = open_lesson("5")
    at.switch_page("views/architecture.py").run()
    at.query_params.pop("step", None)  # a browser drops the lesson's parameters on a page change
    at.switch_page(PAGE).run()
    assert shown_step(at) == 5
    at.query_params["step"] = "2"  # a pasted link
    at.run()
    assert shown_step(at) == 2


@pytest.mark.parametrize("value,step", [("0", 1), ("99", 8), ("three", 1)])
def test_a_bad_step_in_a_link_is_explained(value, step):
    at = open_lesson(value)
    assert shown_step(at) == step
    assert at.info and "step" in at.info[0].value


def test_presentation_mode_persists_across_pages_and_lives_in_the_url():
    at = open_lesson("2")
    assert not any("presentation mode" in h.proto.body for h in at.get("html")) and param(at, "present") is None
    at.sidebar.toggle(key="_presentation_widget").set_value(True).run()
    assert at.session_state["presentation"] and param(at, "present") == "1"
    assert any("presentation mode" in h.proto.body for h in at.get("html"))
    for page in ("views/predict.py", "views/quiz.py", PAGE):
        at.query_params.pop("present", None)  # a page change in the browser starts with a clean URL
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert at.sidebar.toggle(key="_presentation_widget").value is True, page
        assert any("presentation mode" in h.proto.body for h in at.get("html")), page
        assert param(at, "present") == "1", "written back, so a copied link keeps it"
    at.sidebar.toggle(key="_presentation_widget").set_value(False).run()
    assert not any("presentation mode" in h.proto.body for h in at.get("html")) and param(at, "present") is None


def test_a_link_with_present_turns_it_on_and_present_0_off():
    at = open_lesson("2", present="1")
    assert at.session_state["presentation"] and at.sidebar.toggle(key="_presentation_widget").value
    assert at.get("image"), "the picture comes first and is drawn"
    at.query_params["present"] = "0"
    at.run()
    assert not at.session_state["presentation"] and param(at, "present") is None
