"""The server process's own set-up (app/server.py), without a server: the closed-session clean-up,
the garbage collector's freeze, torch's and BLAS's threads."""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
import server  # noqa: E402


class FakeManager:
    def __init__(self):
        self.active, self.stored, self.closed = set(), set(), []

    def list_active_sessions(self):
        return [SimpleNamespace(session=SimpleNamespace(id=i)) for i in self.active]

    def list_sessions(self):
        return [SimpleNamespace(session=SimpleNamespace(id=i)) for i in self.active | self.stored]

    def get_active_session_info(self, sid):
        return object() if sid in self.active else None

    def close_session(self, sid):
        self.closed.append(sid)
        self.stored.discard(sid)


class NowLoop:
    def call_soon_threadsafe(self, fn):
        fn()


def test_the_reaper_closes_sessions_gone_long_enough_and_spares_reconnects(monkeypatch):
    monkeypatch.setattr(server, "SESSION_GONE_AFTER_S", 60.0)
    m, seen = FakeManager(), {}
    m.active, m.stored = {"open"}, {"closed", "blip"}
    assert server._reap_once(m, NowLoop(), seen, now=0.0) == []  # first seen gone: the clock starts
    m.stored.discard("blip")
    m.active.add("blip")  # reconnected within the grace period
    assert server._reap_once(m, NowLoop(), seen, now=30.0) == []
    assert server._reap_once(m, NowLoop(), seen, now=61.0) == ["closed"]
    assert m.closed == ["closed"] and "blip" not in seen


class IdleManager:
    """Active sessions with how many runs each finished and whether one is under way."""

    def __init__(self, sessions):
        self.sessions = sessions  # id -> (finished runs, running)
        self.reran = []

    def list_active_sessions(self):
        return [SimpleNamespace(script_run_count=runs, session=SimpleNamespace(
            id=sid, _scriptrunner=object() if running else None, request_rerun=lambda state, sid=sid: self.reran.append(sid)))
            for sid, (runs, running) in self.sessions.items()]

    list_sessions = list_active_sessions


def test_a_session_that_reconnected_from_elsewhere_is_run_once_and_others_are_left_alone(monkeypatch):
    monkeypatch.setattr(server, "WAKE_AFTER_S", 3.0)
    m = IdleManager({"moved": (0, False), "busy": (0, True), "used": (4, False), "new": (0, False)})
    seen, woken = {}, set()
    assert server._wake_once(m, NowLoop(), seen, woken, now=0.0) == []
    m.sessions["new"] = (1, False)  # a new visitor's page asked for its first run at once
    assert server._wake_once(m, NowLoop(), seen, woken, now=3.5) == ["moved"]
    assert m.reran == ["moved"], "only the session that never asked for a run is run"
    assert server._wake_once(m, NowLoop(), seen, woken, now=10.0) == [], "once per session"
    del m.sessions["moved"]
    server._wake_once(m, NowLoop(), seen, woken, now=11.0)
    assert woken == set(), "closed sessions are forgotten"


def test_the_imports_are_frozen_once_and_later_garbage_is_still_collected():
    """Streamlit's full collection after every script run skips the frozen imports; a session's
    garbage made afterwards still goes. In a child process: freezing is for the whole process."""
    import subprocess

    code = """
import gc, sys, weakref
sys.path.insert(0, "app")
import server
server.freeze_long_lived()
frozen = gc.get_freeze_count()
server.freeze_long_lived()  # once per process: a second call freezes nothing more
assert gc.get_freeze_count() == frozen, "frozen twice"
assert "captum.attr" in sys.modules and "torch" in sys.modules
class Node: pass
a, b = Node(), Node(); a.other, b.other = b, a  # a cycle, as a session's objects make
gone = weakref.ref(a); del a, b
gc.collect(2)
assert gone() is None, "garbage made after the freeze must still be collected"
print(frozen)
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) > 100_000, "torch, Captum and plotly's objects are frozen"


@pytest.mark.parametrize("raw, cores, want", [
    (None, 2, 1), ("", 2, 1), (None, 8, 4), (None, 1, 1),  # unset: half the cores, at least one
    ("3", 8, 3), ("64", 8, 8), ("-2", 8, 1),  # the operator's number, kept within 1..cores
    ("0", 8, None),  # torch's own default
    ("many", 2, 1), (" 2 ", 4, 2),
])
def test_torch_threads_come_from_the_operators_setting_within_the_cores(raw, cores, want):
    assert server.torch_threads(raw, cores) == want


def test_the_server_sets_torch_threads_once(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(server, "_threads_set", False)
    monkeypatch.setenv(server.TORCH_THREADS_ENV, "1")
    try:
        server.set_torch_threads()
        assert torch.get_num_threads() == 1
        monkeypatch.setenv(server.TORCH_THREADS_ENV, "2")
        server.set_torch_threads()  # once per process: a later change of the setting is not read
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("raw,cores,want", [
    (None, 2, 1), ("", 16, 1), ("0", 2, None), ("2", 2, 2), ("8", 2, 2), ("-3", 2, 1), ("many", 4, 1),
])
def test_blas_threads_come_from_the_operators_setting_default_one(raw, cores, want):
    assert server.blas_threads(raw, cores) == want


def test_the_server_sets_numpys_blas_threads_once_for_every_thread(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    assert blas(), "numpy's BLAS is visible to threadpoolctl"
    monkeypatch.setattr(server, "_blas_set", False)
    monkeypatch.setenv(server.BLAS_THREADS_ENV, "1")
    with threadpool_limits(limits=2, user_api="blas"):  # restores the process's own limits after
        server.set_blas_threads()
        assert blas() == {1}
        seen = []
        worker = threading.Thread(target=lambda: seen.append(blas()))  # another session's run
        worker.start()
        worker.join()
        assert seen == [{1}]
        monkeypatch.setenv(server.BLAS_THREADS_ENV, "2")
        server.set_blas_threads()  # once per process: a later change of the setting is not read
        assert blas() == {1}


def test_magic_is_off_and_no_page_needs_it():
    """.streamlit/config.toml turns Streamlit's magic off (no rewrite of each page's syntax tree on
    its first run): no page may hold a bare value that magic would have written to the page."""
    import ast
    import tomllib

    root = Path(__file__).resolve().parents[1]
    assert tomllib.loads((root / ".streamlit" / "config.toml").read_text())["runner"]["magicEnabled"] is False
    pages = [root / "app" / "streamlit_app.py", *sorted((root / "app" / "views").glob("*.py"))]
    assert len(pages) > 10
    bare = []

    def walk(body, top=False):
        for i, node in enumerate(body):
            if isinstance(node, ast.Expr) and not isinstance(node.value, (ast.Call, ast.Await)) and not (top and i == 0):
                bare.append(f"{page.name}:{node.lineno}: {ast.unparse(node)[:60]}")
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    if isinstance(getattr(node, field, None), list):
                        walk(getattr(node, field))

    for page in pages:
        walk(ast.parse(page.read_text()).body, top=True)
    assert not bare, "a bare value magic would have shown: " + "; ".join(bare)
