"""The server's one queue for costly jobs (app/work.py): bounded concurrency, one job per visitor,
cancel on Stop and on a closed tab, single flight through the queue and the shared store, and the
operator's ceilings on what a link may ask for. Counted with events, never timed."""
from __future__ import annotations

import threading

import pytest

from app_support import APP, fresh_caches, offline_pretrained_weights  # noqa: F401  (puts app/ on the path)
import cache  # noqa: E402
import server  # noqa: E402
import work  # noqa: E402

WAIT = 30  # seconds an event may take on a loaded machine before the test fails (not a timing check)


class Gate:
    """Jobs that block until released, counting how many run at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.calls = 0

    def fn(self, value, steps: int = 0):
        def run(progress):
            with self.lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            self.started.release()
            try:
                i = 0
                while not self.release.wait(0.01):
                    progress(i, steps or 1)  # the library reports steps as it goes; a cancel raises here
                    i += 1
                return value
            finally:
                with self.lock:
                    self.now -= 1
        return run


def test_at_most_n_jobs_run_at_once_and_all_finish():
    q, g = work.Queue(2), Gate()
    jobs = [q.submit(f"s{i}", ("k", i), g.fn(i)) for i in range(5)]
    for _ in range(2):
        assert g.started.acquire(timeout=WAIT)
    assert not g.started.acquire(timeout=0.2)  # the third waits for a slot
    assert q.running == 2 and q.waiting == 3
    assert [q.place(j) for j in jobs] == [0, 0, 1, 2, 3]
    g.release.set()
    assert [j.finished.wait(WAIT) for j in jobs] == [True] * 5
    assert [j.value() for j in jobs] == [0, 1, 2, 3, 4]
    assert g.most == 2 and q.peak == 2
    assert q.running == 0 and q.waiting == 0


def test_one_job_per_visitor_a_second_request_replaces_the_first():
    q, g = work.Queue(1), Gate()
    first = q.submit("alice", "a", g.fn("A"))
    assert g.started.acquire(timeout=WAIT)
    assert q.submit("alice", "a", g.fn("again")) is first  # the same request: the same job
    second = q.submit("alice", "b", g.fn("B"))
    assert second is not first and q.current("alice") is second
    assert first.finished.wait(WAIT)
    with pytest.raises(work.Cancelled):
        first.value()
    assert g.started.acquire(timeout=WAIT)  # the replacement runs once the first has stopped
    g.release.set()
    assert second.finished.wait(WAIT) and second.value() == "B"
    assert g.most == 1


def test_stop_cancels_a_running_job_at_its_next_progress_report_and_frees_the_slot():
    q, g = work.Queue(1), Gate()
    running = q.submit("alice", "a", g.fn("A", steps=10**6))
    assert g.started.acquire(timeout=WAIT)
    queued = q.submit("bob", "b", g.fn("B"))
    assert q.place(queued) == 1
    assert q.cancel("alice") and q.current("alice") is None
    assert running.finished.wait(WAIT)
    with pytest.raises(work.Cancelled):
        running.value()
    assert g.started.acquire(timeout=WAIT)  # bob's job started in the freed slot
    g.release.set()
    assert queued.finished.wait(WAIT) and queued.value() == "B"
    assert g.calls == 2


def test_stop_of_a_queued_job_removes_it_without_running_it():
    q, g = work.Queue(1), Gate()
    q.submit("alice", "a", g.fn("A"))
    assert g.started.acquire(timeout=WAIT)
    queued = q.submit("bob", "b", g.fn("B"))
    third = q.submit("carol", "c", g.fn("C"))
    assert q.place(third) == 2
    q.cancel("bob")
    assert queued.finished.is_set() and q.place(third) == 1
    with pytest.raises(work.Cancelled):
        queued.value()
    g.release.set()
    assert third.finished.wait(WAIT)
    assert g.calls == 2  # alice's and carol's; bob's never ran


def test_a_closed_tab_cancels_its_job_through_the_session_reaper(monkeypatch):
    q, g = work.Queue(1), Gate()
    monkeypatch.setattr(work, "_queue", q)
    job = q.submit("gone-tab", "a", g.fn("A"))
    assert g.started.acquire(timeout=WAIT)

    class Info:
        def __init__(self, sid):
            self.session = type("S", (), {"id": sid})()

    class Manager:  # the tab closed: its session is listed, but no longer active
        def list_active_sessions(self):
            return [Info("here")]

        def list_sessions(self):
            return [Info("here"), Info("gone-tab")]

    class Loop:
        def call_soon_threadsafe(self, fn):
            pass

    server._reap_once(Manager(), Loop(), {})
    assert job.finished.wait(WAIT)
    with pytest.raises(work.Cancelled):
        job.value()
    assert q.current("gone-tab") is None


def test_two_visitors_same_result_one_job_and_it_survives_one_leaving():
    q, g = work.Queue(2), Gate()
    store = cache.Store(2**20)

    def through_store(progress):
        return store.get_or_compute("key", lambda: g.fn("value")(progress))

    a = q.submit("alice", "key", through_store)
    b = q.submit("bob", "key", through_store)
    assert a is b
    assert g.started.acquire(timeout=WAIT)
    q.cancel("alice")  # bob still waits for it: it goes on
    assert not a.cancelled.is_set()
    g.release.set()
    assert b.finished.wait(WAIT) and b.value() == "value"
    assert g.calls == 1 and store.get("key") == "value"


def test_the_queue_composes_with_the_store_a_direct_caller_waits_for_the_queued_job():
    q, g = work.Queue(1), Gate()
    store = cache.Store(2**20)
    job = q.submit("alice", "key", lambda progress: store.get_or_compute("key", lambda: g.fn("v")(progress)))
    assert g.started.acquire(timeout=WAIT)
    got = []
    direct = threading.Thread(target=lambda: got.append(store.get_or_compute("key", lambda: "second")))
    direct.start()
    g.release.set()
    direct.join(WAIT)
    assert job.value() == "v" and got == ["v"] and g.calls == 1


def test_workers_setting_and_ceilings(monkeypatch):
    assert work.default_workers(2) == 1 and work.default_workers(16) == 8 and work.default_workers(1) == 1
    assert work.workers_setting("3", 2) == 3
    assert work.workers_setting("0", 2) == 1
    assert work.workers_setting("many", 8) == 4
    assert work.workers_setting(None, 8) == 4
    assert work.clamp("integrated_gradients", "steps", 512)[0] == 128
    assert work.clamp("integrated_gradients", "steps", 16) == (16, None)
    value, note = work.clamp("occlusion", "window", 3)
    assert value == 8 and "at least 8" in note and "ALEXNET_VIZ_MIN_OCCLUSION_WINDOW" in note
    monkeypatch.setenv("ALEXNET_VIZ_MAX_IG_STEPS", "300")
    assert work.clamp("integrated_gradients", "max_steps", 512)[0] == 300
    monkeypatch.setenv("ALEXNET_VIZ_MAX_IG_STEPS", "lots")
    assert work.clamp("integrated_gradients", "max_steps", 512)[0] == 128
    assert work.clamp("saliency", "steps", 512) == (512, None)  # no ceiling: unchanged


def test_a_job_runs_at_the_operators_lower_cpu_priority(monkeypatch):
    """A costly job's thread is niced (ALEXNET_VIZ_JOB_NICE, default 10) so visitors' clicks go
    first; the server's own threads keep their priority."""
    import os

    def nice_of_this_thread(progress):
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    server = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for raw, lower in ((None, work.DEFAULT_NICE), ("3", 3), ("0", 0), ("99", 19), ("soon", work.DEFAULT_NICE)):
        if raw is None:
            monkeypatch.delenv(work.NICE_ENV, raising=False)
        else:
            monkeypatch.setenv(work.NICE_ENV, raw)
        job = work.Queue(1).submit("s", ("nice", raw), nice_of_this_thread)
        assert job.finished.wait(WAIT)
        assert job.value() == min(server + lower, 19), raw
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == server


# -- the attribution page: the ceilings on a link, the queue behind Run ---------------------------------------
@pytest.fixture
def page(monkeypatch):
    from app_support import open_page

    offline_pretrained_weights(monkeypatch)
    fresh_caches()
    return open_page


def test_a_links_512_steps_are_clamped_to_the_servers_128_with_a_sentence(page):
    at = page("views/attribution.py", {"method": "integrated_gradients", "integrated_gradients.steps": "512",
                                       "integrated_gradients.max_steps": "512", "integrated_gradients.tolerance": "0"})
    assert at.selectbox(key="attr_method").value == "integrated_gradients"
    assert at.slider(key="attr_integrated_gradients_steps").value == 128
    assert at.slider(key="attr_integrated_gradients_max_steps").value == 128
    assert at.slider(key="attr_integrated_gradients_steps").max == 128, "the slider offers no more"
    notes = " ".join(i.value for i in at.main.info)
    assert "at most 128" in notes and "512 became 128" in notes, notes


def test_a_links_finest_occlusion_is_raised_to_the_servers_floor(page):
    at = page("views/attribution.py", {"method": "occlusion", "occlusion.window": "3", "occlusion.stride": "1"})
    assert at.slider(key="attr_occlusion_window").value == 8
    assert at.slider(key="attr_occlusion_stride").value == 4
    assert at.slider(key="attr_occlusion_window").min == 8
    notes = " ".join(i.value for i in at.main.info)
    assert "3 became 8" in notes and "1 became 4" in notes, notes


def test_run_goes_through_the_queue_and_two_sessions_share_one_job(page, monkeypatch):
    """Run on a costly method is one job of the server's queue; a second session asking for the
    same map while it is queued joins it (one computation), and the page shows the place."""
    from alexnet_viz import attribution

    q = work.Queue(1)
    monkeypatch.setattr(work, "_queue", q)
    calls = []
    original = attribution.explain

    def counting(*args, **kw):
        calls.append(args[2])
        return original(*args, **kw)

    monkeypatch.setattr(attribution, "explain", counting)
    g = Gate()
    blocker = q.submit("someone-else", "blocker", g.fn(None))  # the one slot is busy
    assert g.started.acquire(timeout=WAIT)

    def run_ig(at):
        at.selectbox(key="attr_method").set_value("integrated_gradients").run()
        at.slider(key="attr_integrated_gradients_steps").set_value(4)
        at.button(key="attr_run_integrated_gradients").click()

    import streamlit as st

    # every AppTest has the same session id: here each names its own visitor in its session state
    monkeypatch.setattr(work, "session_id", lambda: st.session_state.get("_visitor", "nobody"))
    a = page("views/attribution.py")
    b = page("views/attribution.py")
    a.session_state["_visitor"], b.session_state["_visitor"] = "a", "b"
    run_ig(a)
    run_ig(b)
    done = []
    ta = threading.Thread(target=lambda: done.append(a.run()))
    tb = threading.Thread(target=lambda: done.append(b.run()))
    ta.start()
    tb.start()
    for _ in range(int(WAIT / 0.05)):  # both sessions wait behind the blocker, on one job
        if q.waiting == 1 and len(q._by_session) == 3:
            break
        threading.Event().wait(0.05)
    assert q.waiting == 1 and len(q._by_session) == 3, (q.waiting, q._by_session)
    g.release.set()
    ta.join(120)
    tb.join(120)
    assert blocker.finished.is_set()
    assert calls.count("integrated_gradients") == 1, ("two sessions, one computation", calls)
    for at in (a, b):
        assert not at.exception, at.exception
        assert any(i.proto.imgs[0].caption.startswith("Integrated gradients for") for i in at.main.get("image"))
    assert q.peak == 1


def test_a_feature_visualisation_is_a_job_of_the_queue(tmp_path, monkeypatch):
    from app_support import open_home_page

    offline_pretrained_weights(monkeypatch)
    monkeypatch.setenv("ALEXNET_VIZ_FEATVIS_STEPS", "3")
    q = work.Queue(1)
    monkeypatch.setattr(work, "_queue", q)
    submitted = []
    real_submit = q.submit
    monkeypatch.setattr(q, "submit", lambda s, key, fn: submitted.append(key) or real_submit(s, key, fn))
    at = open_home_page("views/lookfor.py", tmp_path, monkeypatch)
    at.selectbox(key="lf_layer").set_value("relu1").run()
    at.number_input(key="lf_channel_relu1").set_value(4).run()
    at.button(key="lf_vis_relu1_4").click().run()
    assert not at.exception, at.exception
    assert [k[0] for k in submitted] == ["featvis"] and q.peak == 1
    assert any("Optimised to excite channel 4 of relu1" in i.proto.imgs[0].caption for i in at.main.get("image"))
    assert q.current("test session id") is None, "a finished job leaves the visitor free"
