"""The app's shared store, without a server."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
import cache  # noqa: E402


def test_the_store_is_bounded_in_bytes_least_recently_used_first_out():
    s = cache.Store(max_bytes=3 * 800)
    for k in "abc":
        s.put(k, np.zeros(100))  # 800 bytes each
    assert s.get("a") is not None  # a is now the most recent
    s.put("d", np.zeros(100))
    assert s.get("b") is None and all(s.get(k) is not None for k in "acd")
    assert s.bytes == 2400


def test_results_are_frozen_and_computed_once_for_concurrent_callers():
    s = cache.Store(max_bytes=2**20)
    started, release = threading.Event(), threading.Event()
    calls, got = [], []

    def compute():
        calls.append(1)
        started.set()
        assert release.wait(10)
        return {"map": np.ones(4)}

    threads = [threading.Thread(target=lambda: got.append(s.get_or_compute("k", compute))) for _ in range(4)]
    for t in threads:
        t.start()
    assert started.wait(10)
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    with pytest.raises(ValueError):
        got[0]["map"][0] = 2  # shared by sessions: read-only


def test_a_failed_computation_lets_the_next_caller_try():
    s = cache.Store(max_bytes=2**20)

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        s.get_or_compute("k", fail)
    assert s.get_or_compute("k", lambda: 5) == 5
