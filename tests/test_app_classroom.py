"""A live class through AppTest (app/classroom.py): the lecturer starts a class in presentation mode,
a student's ``?join=`` session follows the lecturer's page and its controls, a student's own clicks
never change the room, questions reach the student and count once, a wrong code gets a sentence."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from app_support import APP, offline_pretrained_weights

TIMEOUT = 120


@pytest.fixture(autouse=True)
def fresh_rooms(monkeypatch):
    offline_pretrained_weights(monkeypatch)
    monkeypatch.delenv("ALEXNET_VIZ_ROOMS", raising=False)
    import rooms

    monkeypatch.setattr(rooms, "_store", rooms.MemoryRooms())
    yield rooms


def lecturer() -> tuple[AppTest, str]:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    at.sidebar.button(key="class_start").click().run()
    assert not at.exception, at.exception
    return at, at.session_state["_class_lead"][0]


def student(code: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["join"] = code
    at.run()
    assert not at.exception, at.exception
    return at


def banner(at: AppTest) -> str:
    return " ".join(m.value for m in at.main.markdown)


def test_start_a_class_only_in_presentation_mode():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert "class_start" not in [b.key for b in at.sidebar.button]
    at, code = lecturer()
    assert f"Class {code}" in " ".join(m.value for m in at.sidebar.markdown)


def test_the_student_follows_a_page_a_step_and_a_layer(fresh_rooms):
    lead, code = lecturer()
    lead.query_params["step"] = "3"
    lead.switch_page("views/lesson.py").run()
    stu = student(code)
    assert "Following the lecturer" in banner(stu)
    assert [h.value for h in stu.main.header][0].startswith("Step 3 of 8")

    lead.button(key="lesson_next").click().run()  # the lecturer goes on to step 4
    assert fresh_rooms.rooms().view(code).params == (("step", "4"),)
    stu.run()  # what the student's poll does when the version changed
    assert [h.value for h in stu.main.header][0].startswith("Step 4 of 8")

    lead.switch_page("views/feature_maps.py").run()
    lead.selectbox(key="fm_layer").set_value("conv2").run()
    stu.run()
    assert not stu.exception, stu.exception
    assert stu.selectbox(key="fm_layer").value == "conv2"


def test_a_student_cannot_change_what_the_room_shows(fresh_rooms):
    lead, code = lecturer()
    lead.query_params["step"] = "2"
    lead.switch_page("views/lesson.py").run()
    before = fresh_rooms.rooms().view(code)
    stu = student(code)
    stu.button(key="lesson_next").click().run()  # the student clicks on: only their page moves
    stu.query_params["present"] = "1"
    stu.run()
    assert "class_start" not in [b.key for b in stu.sidebar.button], "a follower is offered no lead"
    assert fresh_rooms.rooms().view(code) == before


def test_explore_on_my_own_and_back(fresh_rooms):
    lead, code = lecturer()
    lead.query_params["step"] = "5"
    lead.switch_page("views/lesson.py").run()
    stu = student(code)
    stu.button(key="class_alone").click().run()
    assert "exploring on your own" in " ".join(c.value for c in stu.main.caption)
    lead.button(key="lesson_next").click().run()  # step 6: the student stays where they are
    stu.run()
    assert [h.value for h in stu.main.header][0].startswith("Step 5 of 8")
    stu.button(key="class_back").click().run()
    stu.run()
    assert [h.value for h in stu.main.header][0].startswith("Step 6 of 8")


def test_a_question_is_answered_once_and_revealed(fresh_rooms, monkeypatch):
    monkeypatch.setattr(fresh_rooms, "ANSWER_GAP_S", 0.0)
    lead, code = lecturer()
    lead.sidebar.text_input(key="class_q_text").set_value("Which layer halves the maps?")
    lead.sidebar.text_area(key="class_q_options").set_value("conv1\npool1\nfc6")
    lead.sidebar.number_input(key="class_q_right").set_value(2)
    lead.sidebar.button(key="class_ask").click().run()
    q = fresh_rooms.rooms().view(code).question
    assert q.options == ("conv1", "pool1", "fc6") and q.answer == 1
    stu = student(code)
    assert "Which layer halves the maps?" in banner(stu)
    stu.radio(key=f"class_choice_{q.id}").set_value(1).run()
    stu.button(key=f"class_answer_{q.id}").click().run()
    assert fresh_rooms.rooms().view(code).counts == (0, 1, 0)
    stu.run()
    assert "Your answer" in " ".join(c.value for c in stu.main.caption)
    assert not any(r.key == f"class_choice_{q.id}" for r in stu.radio), "one answer per student"
    lead.run()
    lead.button(key=f"class_reveal_{q.id}").click().run()
    stu.run()
    assert any("The answer: **pool1**" in s.value and "right" in s.value for s in stu.success)


def test_a_wrong_or_ended_code_gets_a_sentence(fresh_rooms):
    stu = student("NOTACODE")
    assert any("not a class code" in e.value for e in stu.error)
    stu = student("ABCDEFG")
    assert any("no class with the code ABCDEFG" in e.value for e in stu.error)
    lead, code = lecturer()
    stu = student(code)
    lead.sidebar.button(key="class_end").click().run()
    stu.run()
    assert "Following the lecturer" not in banner(stu)
    assert any("ended" in i.value for i in stu.info)


def test_the_lecturers_uploaded_photo_reaches_the_student_and_leaves_with_the_room(fresh_rooms):
    import numpy as np
    import state
    from PIL import Image

    from alexnet_viz.images import image_digest

    lead, code = lecturer()
    rng = np.random.default_rng(24)
    mine = Image.fromarray(rng.integers(0, 256, (180, 240, 3), dtype=np.uint8))  # no sample looks like it
    digest = image_digest(mine)
    lead.session_state["image"] = state.ImageChoice(mine, "mine.png", None, digest)  # as an upload sets it
    lead.session_state["sample"] = None
    lead.run()
    assert not lead.exception, lead.exception
    assert fresh_rooms.rooms().view(code).photo == digest
    stu = student(code)
    got = stu.session_state["image"]
    assert got.digest == digest and got.credit is None
    assert np.array_equal(np.asarray(got.image), np.asarray(mine)), "the same pixels, not a re-encoded copy"
    other = student("ABCDEFG")  # a session in no class keeps its own photo
    assert other.session_state["image"].digest != digest

    lead.sidebar.selectbox(key="sample").set_value("Coffee cup").run()  # back to a sample: it travels by name
    assert fresh_rooms.rooms().view(code).photo is None and fresh_rooms.rooms().photo(code) is None
    stu.run()
    assert stu.session_state["image"].name == "Coffee cup"

    lead.session_state["image"] = state.ImageChoice(mine, "mine.png", None, digest)
    lead.session_state["sample"] = None
    lead.run()
    assert fresh_rooms.rooms().photo(code) is not None
    lead.sidebar.button(key="class_end").click().run()
    assert fresh_rooms.rooms().photo(code) is None, "gone when the room ends"


def test_the_shape_quiz_asks_the_class_its_question_with_the_right_answer(fresh_rooms):
    from alexnet_viz import quiz

    plain = AppTest.from_file(APP, default_timeout=TIMEOUT)
    plain.switch_page("views/quiz.py").run()
    assert "class_ask_quiz" not in [b.key for b in plain.button], "only a lecturer asks the class"
    lead, code = lecturer()
    lead.switch_page("views/quiz.py").run()
    assert not lead.exception, lead.exception
    lead.button(key="class_ask_quiz").click().run()
    q = fresh_rooms.rooms().view(code).question
    seed = int(lead.query_params["question"][0] if isinstance(lead.query_params["question"], list)
               else lead.query_params["question"])
    want = quiz.make_question(lead.session_state["quiz_model"], lead.session_state["quiz_size"], seed=seed)
    assert q.kind == "quiz" and q.text == want.text
    assert q.options[q.answer] == want.answer_text and len(set(q.options)) == len(q.options) >= 3
    assert all(quiz.check(want, o).right is False for i, o in enumerate(q.options) if i != q.answer)
    assert "0 answers" in " ".join(m.value for m in lead.sidebar.markdown), "the projector counts it"
    stu = student(code)
    assert want.text in banner(stu)


def test_the_paper_lab_asks_whether_the_top_class_survives_a_tower_knockout(fresh_rooms):
    from alexnet_viz import lab

    lead, code = lecturer()
    lead.switch_page("views/lab.py").run()
    lead.selectbox(key="lab_from").set_value("conv3").run()
    assert not lead.exception, lead.exception
    lead.button(key="class_ask_lab").click().run()
    q = fresh_rooms.rooms().view(code).question
    sel = lead.session_state["_selection"]
    e = lab.ablation_effect(sel.net, sel.x, tower_off="gpu2", from_layer="conv3")  # computed here
    stays = int(e.after.argmax()) == int(e.before.argmax())
    assert q.kind == "lab" and q.text.startswith("After knocking out GPU 2 from conv3, will the top class stay")
    assert e.categories[int(e.before.argmax())] in q.text
    assert q.options == ("Yes", "No") and q.answer == (0 if stays else 1)


class _Session:
    def __init__(self, sid):
        self.id, self.reruns, self._client_state = sid, 0, f"state-of-{sid}"

    def request_rerun(self, client_state):
        assert client_state == self._client_state, "a woken session runs with the state it last sent"
        self.reruns += 1


class _Manager:
    """Streamlit's session manager, as the watcher uses it: sessions, some connected."""

    def __init__(self, *sids):
        self.sessions = {sid: _Session(sid) for sid in sids}
        self.connected = set(sids)

    def list_sessions(self):
        return [type("Info", (), {"session": s}) for s in self.sessions.values()]

    def get_active_session_info(self, sid):
        return type("Info", (), {"session": self.sessions[sid]}) if sid in self.connected else None


class _Loop:
    def call_soon_threadsafe(self, fn):
        fn()


def test_the_server_wakes_followers_when_what_they_show_changes_and_not_for_counts(fresh_rooms, monkeypatch):
    """The watcher (one thread per server) asks a follower's session for a run when the view, the
    question or the reveal changed; new answers (counts) wake nobody; an ended room wakes all;
    a closed session is forgotten."""
    import classroom as C

    monkeypatch.setattr(C, "_followers", {})
    monkeypatch.setattr(fresh_rooms, "ANSWER_GAP_S", 0.0)
    store = fresh_rooms.rooms()
    code, token = store.open()
    store.show(code, token, "lesson", {"step": "2"})
    manager, loop, seen = _Manager("a", "b", "c"), _Loop(), {}
    shown = C._signature(store.view(code))
    C._followers[code] = {"a": shown, "b": shown}  # c is in another room's class, or none
    reruns = lambda: {sid: s.reruns for sid, s in manager.sessions.items()}  # noqa: E731

    assert C._watch_once(manager, loop, store, seen) == [] and reruns() == {"a": 0, "b": 0, "c": 0}
    store.show(code, token, "lesson", {"step": "3"})
    assert sorted(C._watch_once(manager, loop, store, seen)) == ["a", "b"]
    assert C._watch_once(manager, loop, store, seen) == [], "asked once per change"
    q = store.ask(code, token, "Which?", ["x", "y"], answer=0)
    assert sorted(C._watch_once(manager, loop, store, seen)) == ["a", "b"]  # the question appears
    store.answer(code, q.id, 1, "a-voter")
    assert C._watch_once(manager, loop, store, seen) == [], "a new count wakes nobody"
    manager.connected.discard("b")  # b's tab lost its connection for now
    store.reveal(code, token)
    assert C._watch_once(manager, loop, store, seen) == ["a"]  # b is not asked while away...
    assert C._watch_once(manager, loop, store, seen) == []
    manager.connected.add("b")
    assert C._watch_once(manager, loop, store, seen) == ["b"] and reruns()["b"] == 3  # ...but once back
    del manager.sessions["b"]  # b's session closed
    store.show(code, token, "feature_maps", {})
    assert C._watch_once(manager, loop, store, seen) == ["a"] and "b" not in C._followers[code]
    store.end(code, token)
    assert C._watch_once(manager, loop, store, seen) == ["a"] and code not in C._followers
    assert reruns() == {"a": 5, "c": 0}
