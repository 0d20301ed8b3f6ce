"""A live class's rooms (app/rooms.py), in this process and in a real Redis on loopback: codes that
cannot be guessed or misread, only the lecturer leads, followers see each change as a new version,
one answer per student session per question, counts and nothing else kept, rooms that end."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
import rooms as R  # noqa: E402

from streamlit_browser import free_port  # noqa: E402

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port, for this module; skipped without the binary,
    except in CI, where .ci/run installs it."""
    if not Path(REDIS).exists():
        if os.environ.get("CI"):
            raise RuntimeError("redis-server is missing although .ci/run should have installed it")
        pytest.skip("redis-server is missing: install Debian's redis-server (apt-get install redis-server), "
                    "as .ci/run does")
    pytest.importorskip("redis", reason="the redis client library is part of requirements.txt")
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield R.MemoryRooms()
        return
    url = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(url).flushdb()
    s = R.RedisRooms(url)
    yield s
    s.close()


def test_codes_are_long_enough_and_never_ambiguous():
    assert len(R.CODE_ALPHABET) ** R.CODE_LENGTH >= 2**30
    assert not set("01OIL") & set(R.CODE_ALPHABET)
    codes = {R.new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(len(c) == R.CODE_LENGTH and set(c) <= set(R.CODE_ALPHABET) for c in codes)
    assert R.clean_code(" abc-d23 e ".replace("abc-d23 e", "ab2-3cd4")) == "AB23CD4"
    for bad in ("", "ABC", "ABCDEF0", "ABCDEFGH", "<script>"):
        with pytest.raises(R.RoomError, match="not a class code"):
            R.clean_code(bad)


def test_only_the_lecturer_leads_and_each_change_is_a_new_version(store):
    code, token = store.open()
    v0 = store.version(code)
    v1 = store.show(code, token, "feature_maps", {"layer": "conv2", "sample": "chelsea"})
    assert v1 > v0 and store.version(code) == v1
    assert store.show(code, token, "feature_maps", {"layer": "conv2", "sample": "chelsea"}) == v1  # no change
    view = store.view(code)
    assert (view.page, dict(view.params)) == ("feature_maps", {"layer": "conv2", "sample": "chelsea"})
    for intruder in ("", "guess", R.new_code()):
        with pytest.raises(R.RoomError, match="Only the lecturer"):
            store.show(code, intruder, "lesson", {"step": "3"})
        with pytest.raises(R.RoomError, match="Only the lecturer"):
            store.ask(code, intruder, "Which?", ["a", "b"])
        with pytest.raises(R.RoomError, match="Only the lecturer"):
            store.end(code, intruder)
    assert store.view(code).page == "feature_maps" and store.version(code) == v1
    other, other_token = store.open()
    with pytest.raises(R.RoomError, match="Only the lecturer"):
        store.show(code, other_token, "lesson", {})  # another room's lecturer leads only that room
    store.end(other, other_token)


def test_answers_are_counted_once_per_student_and_revealed(store, monkeypatch):
    monkeypatch.setattr(R, "ANSWER_GAP_S", 0.0)  # pacing is tested on its own below
    code, token = store.open()
    q = store.ask(code, token, "After knocking out GPU 2, will the top class stay the same?", ["yes", "no"],
                  answer=0, kind="lab")
    for voter, option in (("s1", 0), ("s2", 1), ("s3", 0)):
        store.answer(code, q.id, option, voter)
    with pytest.raises(R.RoomError, match="already"):
        store.answer(code, q.id, 1, "s1")
    view = store.view(code)
    assert view.question == q and view.counts == (2, 1) and not view.revealed
    with pytest.raises(R.RoomError, match="one of the answers"):
        store.answer(code, q.id, 5, "s4")
    store.reveal(code, token)
    assert store.view(code).revealed
    with pytest.raises(R.RoomError, match="revealed"):
        store.answer(code, q.id, 0, "s4")
    q2 = store.ask(code, token, "Which layer halves the maps?", ["conv1", "pool1", "fc6"], answer=1, kind="quiz")
    assert q2.id == q.id + 1 and store.view(code).counts == (0, 0, 0) and not store.view(code).revealed
    with pytest.raises(R.RoomError, match="closed"):
        store.answer(code, q.id, 0, "s5")  # an answer to the old question
    store.answer(code, q2.id, 1, "s1")  # the same student answers the new question
    assert store.view(code).counts == (0, 1, 0)


def test_answers_are_paced_per_student_session(store):
    code, token = store.open()
    q = store.ask(code, token, "Pick one", ["a", "b", "c"])
    q_next = store.ask(code, token, "Pick another", ["a", "b"])
    store.answer(code, q_next.id, 0, "fast")
    with pytest.raises(R.RoomError, match="wait a second"):
        store.answer(code, q_next.id, 1, "fast")
    store.answer(code, q_next.id, 1, "other")  # another student is not slowed
    assert store.view(code).counts == (1, 1) and q.id < q_next.id


def test_a_question_is_checked_before_it_is_asked(store):
    code, token = store.open()
    for text, options, answer, words in (("", ["a", "b"], None, "Type the question"),
                                         ("Q", ["only"], None, "between 2 and"),
                                         ("Q", ["a", "a"], None, "the same"),
                                         ("Q", ["a", "b"], 2, "one of the choices"),
                                         ("Q" * 400, ["a", "b"], None, "at most")):
        with pytest.raises(R.RoomError, match=words):
            store.ask(code, token, text, options, answer)
    store.ask(code, token, "Opinion?", ["a", "b"])
    with pytest.raises(R.RoomError, match="no right answer"):
        store.reveal(code, token)


def test_the_shared_photo_stays_in_its_room_and_leaves_with_it(store):
    code, token = store.open()
    other, other_token = store.open()
    store.share_photo(code, token, b"\x89PNG...photo", "digest-1")
    assert store.photo(code) == b"\x89PNG...photo" and store.view(code).photo == "digest-1"
    assert store.photo(other) is None
    with pytest.raises(R.RoomError, match="larger"):
        store.share_photo(code, token, b"x" * (R._photo_bound() + 1), "big")
    with pytest.raises(R.RoomError, match="Only the lecturer"):
        store.share_photo(code, other_token, b"theirs", "digest-2")
    assert store.photo(code) == b"\x89PNG...photo"
    version = store.version(code)
    store.share_photo(code, token, None, None)  # the lecturer went back to a sample photo
    assert store.photo(code) is None and store.view(code).photo is None and store.version(code) > version
    store.share_photo(code, token, b"\x89PNG...again", "digest-3")
    assert store.photo(code) == b"\x89PNG...again" and store.view(code).photo == "digest-3"
    store.end(code, token)
    assert store.version(code) is None and store.photo(code) is None
    with pytest.raises(R.RoomError, match="no class with the code"):
        store.view(code)
    store.end(other, other_token)


def test_a_view_a_room_cannot_carry_is_refused(store):
    code, token = store.open()
    with pytest.raises(R.RoomError, match="more than a room can share"):
        store.show(code, token, "lesson", {f"k{i}": "v" for i in range(R.MAX_PARAMS + 1)})
    with pytest.raises(R.RoomError, match="more than a room can share"):
        store.show(code, token, "lesson", {"step": "x" * 1000})


def test_a_room_ends_four_hours_after_its_lecturer_was_last_seen():
    now = [1000.0]
    store = R.MemoryRooms(clock=lambda: now[0])
    code, token = store.open()
    now[0] += R.IDLE_END_S - 1
    store.show(code, token, "lesson", {"step": "2"})  # the lecturer is still there
    now[0] += R.IDLE_END_S - 1
    assert store.version(code) is not None
    now[0] += 2
    assert store.version(code) is None
    with pytest.raises(R.RoomError, match="may have ended"):
        store.show(code, token, "lesson", {"step": "3"})


def test_redis_rooms_expire_with_the_lecturer_and_replicas_hear_each_change(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    lecturer_replica, student_replica = R.RedisRooms(redis_url), R.RedisRooms(redis_url)
    try:
        code, token = lecturer_replica.open()
        assert 0 < client.ttl(f"room:{code}") <= R.IDLE_END_S
        assert student_replica.version(code) == 1
        version = lecturer_replica.show(code, token, "lesson", {"step": "4"})
        for _ in range(200):  # publish/subscribe: the other replica's copy follows without a read
            if student_replica._versions.get(code) == version:
                break
            time.sleep(0.01)
        assert student_replica._versions.get(code) == version == student_replica.version(code)
        assert student_replica.view(code).params == (("step", "4"),)
        lecturer_replica.end(code, token)
        for _ in range(200):
            if code not in student_replica._versions:
                break
            time.sleep(0.01)
        assert student_replica.version(code) is None and not list(client.scan_iter(f"room:{code}*"))
    finally:
        lecturer_replica.close()
        student_replica.close()


def test_the_store_is_chosen_by_the_operator(monkeypatch, redis_url):
    monkeypatch.setattr(R, "_store", None)
    monkeypatch.delenv("ALEXNET_VIZ_ROOMS", raising=False)
    assert isinstance(R.rooms(), R.MemoryRooms)
    monkeypatch.setattr(R, "_store", None)
    monkeypatch.setenv("ALEXNET_VIZ_ROOMS", "http://example.invalid")
    with pytest.raises(R.RoomError, match="not a Redis address"):
        R.rooms()
    monkeypatch.setattr(R, "_store", None)
    monkeypatch.setenv("ALEXNET_VIZ_ROOMS", f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    with pytest.raises(R.RoomError, match="does not answer"):
        R.rooms()
    monkeypatch.setattr(R, "_store", None)
    monkeypatch.setenv("ALEXNET_VIZ_ROOMS", redis_url)
    store = R.rooms()
    assert isinstance(store, R.RedisRooms)
    store.close()
    monkeypatch.setattr(R, "_store", None)


def test_the_join_link_as_a_qr_code_that_a_camera_reads_back():
    cv2 = pytest.importorskip("cv2", reason="OpenCV's QR reader checks the code")
    import io

    import numpy as np
    import segno

    url = R.join_url("http://class.example:8501/", "AB23CD4")
    svg = R.qr_svg(url)
    assert svg.lstrip().startswith("<svg") and "QR code of the class link" in svg
    png = io.BytesIO()
    segno.make(url, error="m").save(png, kind="png", scale=8, border=4)  # the same symbol, as pixels
    pixels = cv2.imdecode(np.frombuffer(png.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert cv2.QRCodeDetector().detectAndDecode(pixels)[0] == url
    assert R.join_url("http://h:1/", "AB23CD4") == "http://h:1/?join=AB23CD4"
