"""How this server process spends its cores and memory, set up once from the operator's settings.

Every function here acts on the whole process, for every session, once (``streamlit_app.py``
calls them before each run; later calls do nothing):

* ``set_torch_threads`` / ``set_blas_threads``: how many threads torch and numpy's BLAS get per
  operation (``ALEXNET_VIZ_TORCH_THREADS``, ``ALEXNET_VIZ_BLAS_THREADS``).
* ``freeze_long_lived``: the modules every page imports are moved out of the garbage collector's
  sight once, so Streamlit's full collection after each script run stops re-walking them.
* ``live_gate``: how many live camera streams the server works on at once, for every session
  (``ALEXNET_VIZ_LIVE_STREAMS``).
* ``start_session_reaper``: a closed tab's session (its photo, its uploads, its ``/media``
  files) is shut down ``SESSION_GONE_AFTER_S`` after its websocket went away, rather than
  whenever another visitor happens to connect; and a browser that reconnected from a server
  that went away gets a first run, so its page can say so. This one reaches
  into Streamlit's runtime; if that changes shape it logs once and stops.
"""
from __future__ import annotations

import gc
import importlib
import logging
import os
import threading
import time

import streamlit as st
import torch

from alexnet_viz.live import StreamGate

_LOG = logging.getLogger("alexnet_viz.app")

SESSION_GONE_AFTER_S = float(os.environ.get("ALEXNET_VIZ_SESSION_GONE_AFTER_S", 60))
REAP_EVERY_S = min(15.0, max(SESSION_GONE_AFTER_S / 4, 0.5))
WAKE_EVERY_S = min(1.0, REAP_EVERY_S)  # how often the same thread looks for sessions to wake
WAKE_AFTER_S = 3.0  # a session connected this long without asking for a run came from elsewhere


_once_lock = threading.Lock()  # guards the process-wide, once-only starts below


# -- the garbage collector ------------------------------------------------------------------------
# Imported before the freeze: what the pages import (torch, Captum, plotly, the library), so their
# hundreds of thousands of long-lived objects are frozen too.
LONG_LIVED_MODULES = ["torch", "torchvision", "captum.attr", "plotly.graph_objects", "skimage.data", "PIL.Image",
                      "alexnet_viz.attribution", "alexnet_viz.render", "alexnet_viz.units"]
_frozen = False


def freeze_long_lived() -> None:
    """Once per process: import the pages' modules and ``gc.freeze()`` everything alive so far.

    Streamlit runs ``gc.collect(2)`` after every script run (``runner.postScriptGC``), which walks
    every object in the process, torch's, Captum's and plotly's included, on each click of each
    student. Frozen objects are skipped by every collection;
    they are modules, classes and functions that live as long as the process anyway. Objects made
    afterwards (sessions, images, results) are collected as before.
    """
    global _frozen
    with _once_lock:
        if _frozen:
            return
        for name in LONG_LIVED_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional page's module: nothing to freeze
                pass
        gc.collect()  # what is garbage now must not become immortal
        gc.freeze()
        _frozen = True


# -- torch's threads ------------------------------------------------------------------------------
TORCH_THREADS_ENV = "ALEXNET_VIZ_TORCH_THREADS"


def torch_threads(raw: str | None, cores: int | None = None) -> int | None:
    """The threads torch gets per operation on this server: ``ALEXNET_VIZ_TORCH_THREADS`` (1 to the
    core count), ``0`` for torch's own default (None: leave it), unset or unreadable for half the
    cores, at least 1.

    A server works for many sessions at once: their requests already run side by side on the
    cores, and torch's worker threads spin while they wait, so more threads per operation cost
    CPU without finishing a session's work sooner (``bench_load.py`` measures it).
    """
    cores = max(1, cores or os.cpu_count() or 1)
    return _threads_setting(raw, max(1, cores // 2), cores)


def _threads_setting(raw: str | None, default: int, cores: int) -> int | None:
    """An operator's thread count: 1 to ``cores``, ``0`` for None (leave the library's own),
    unset or unreadable for ``default``."""
    try:
        n = int((raw or "").strip() or default)
    except ValueError:
        n = default
    if n == 0:
        return None
    return min(max(n, 1), cores)


_threads_set = False


def set_torch_threads() -> None:
    """Once per process: torch's threads per operation from ``torch_threads`` (an operator's
    setting, read from the environment; a visitor has no say)."""
    global _threads_set
    with _once_lock:
        if _threads_set:
            return
        n = torch_threads(os.environ.get(TORCH_THREADS_ENV))
        if n is not None and n != torch.get_num_threads():
            torch.set_num_threads(n)
        _threads_set = True


BLAS_THREADS_ENV = "ALEXNET_VIZ_BLAS_THREADS"


def blas_threads(raw: str | None, cores: int | None = None) -> int | None:
    """The threads numpy's and scipy's BLAS get on this server: ``ALEXNET_VIZ_BLAS_THREADS`` (1 to
    the core count), ``0`` for the library's own default (None: leave it), unset or unreadable: 1.

    The pages' BLAS work is small (placing a map on the input, a unit's terms, kernel statistics):
    more threads only spin, costing CPU at the same wall time (``bench_session.py`` measures it).
    """
    return _threads_setting(raw, 1, max(1, cores or os.cpu_count() or 1))


_blas_set = False


def set_blas_threads() -> None:
    """Once per process: numpy's and scipy's BLAS threads from ``blas_threads`` (an operator's
    setting, read from the environment). OpenBLAS's count is process-wide, so, unlike OpenMP's,
    setting it from the first script run's thread holds for every session."""
    global _blas_set
    with _once_lock:
        if _blas_set:
            return
        n = blas_threads(os.environ.get(BLAS_THREADS_ENV))
        if n is not None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=n, user_api="blas")  # kept: not used as a context manager
        _blas_set = True


# -- live camera streams: a bound for the whole server ----------------------------------------------
LIVE_STREAMS_ENV = "ALEXNET_VIZ_LIVE_STREAMS"
LIVE_STREAMS = 2  # each stream keeps the CPU busy for as long as it runs; two fit a 2-core server


@st.cache_resource(show_spinner=False)
def live_gate() -> StreamGate:
    """The server's one gate for live camera streams, ``ALEXNET_VIZ_LIVE_STREAMS`` at once (1–16)."""
    raw = os.environ.get(LIVE_STREAMS_ENV, str(LIVE_STREAMS))
    try:
        n = min(max(int(raw), 1), 16)
    except ValueError:
        _LOG.warning("%s=%r is not a whole number; allowing %d live streams", LIVE_STREAMS_ENV, raw, LIVE_STREAMS)
        n = LIVE_STREAMS
    return StreamGate(n)


# -- closed sessions ----------------------------------------------------------------------------
_reaper: threading.Thread | None = None


def start_session_reaper() -> None:
    """Start (once per process) the thread that shuts down sessions whose tab has gone.

    Streamlit keeps a disconnected session for ``server.disconnectedSessionTTL`` so a brief
    network blip can resume it, but expires it only lazily, and an expired entry is dropped
    without shutting the session down: its photo stays in memory and at its ``/media`` address
    until some other visitor's run happens to collect orphaned files. This thread closes any
    session that has been disconnected for ``SESSION_GONE_AFTER_S`` through the session
    manager's own ``close_session`` on the server's event loop, which removes its uploads and
    media files. It reaches into Streamlit's runtime; if that ever changes shape, it logs once
    and stops, and the app runs on as before.
    """
    global _reaper
    with _once_lock:
        if _reaper is not None and _reaper.is_alive():
            return
        from streamlit import runtime

        if not runtime.exists():  # bare scripts have no server
            return
        rt = runtime.get_instance()
        if getattr(rt, "_session_mgr", None) is None:  # AppTest's stand-in runtime has no sessions
            return
        _reaper = threading.Thread(target=_reap_forever, args=(rt,),
                                   name="alexnet-viz-session-reaper", daemon=True)
        _reaper.start()


def _reap_forever(rt) -> None:
    first_seen_gone: dict[str, float] = {}
    first_seen_idle: dict[str, float] = {}
    woken: set[str] = set()
    try:
        manager = rt._session_mgr
        loop = rt._get_async_objs().eventloop
        last_reap = time.monotonic()
        while True:
            time.sleep(WAKE_EVERY_S)
            _wake_once(manager, loop, first_seen_idle, woken)
            if time.monotonic() - last_reap >= REAP_EVERY_S:
                last_reap = time.monotonic()
                _reap_once(manager, loop, first_seen_gone)
    except Exception:  # Streamlit's internals moved: stop quietly rather than break the server
        _LOG.warning("The closed-session clean-up stopped; closed sessions now expire as Streamlit "
                     "decides.", exc_info=True)


def _reap_once(manager, loop, first_seen_gone: dict[str, float], now: float | None = None) -> list[str]:
    """Close the sessions disconnected for long enough; returns their ids."""
    now = time.monotonic() if now is None else now
    active = {info.session.id for info in manager.list_active_sessions()}
    gone = {info.session.id for info in manager.list_sessions()} - active
    for sid in list(first_seen_gone):
        if sid not in gone:  # reconnected, or already closed
            del first_seen_gone[sid]
    closing = []
    for sid in gone:
        since = first_seen_gone.setdefault(sid, now)
        if now - since >= SESSION_GONE_AFTER_S:
            closing.append(sid)
            del first_seen_gone[sid]

    import work  # a gone tab's costly job stops at this sweep (its session closes later)

    work.jobs().cancel_sessions(gone)

    def close(ids=tuple(closing)) -> None:
        for sid in ids:
            if manager.get_active_session_info(sid) is None:  # not reconnected meanwhile
                manager.close_session(sid)

    if closing:
        loop.call_soon_threadsafe(close)
    return closing


def _wake_once(manager, loop, first_seen_idle: dict[str, float], woken: set[str],
               now: float | None = None) -> list[str]:
    """Run the script for sessions connected ``WAKE_AFTER_S`` ago that never asked for a run.

    A browser whose server went away reconnects (behind deploy/'s proxy, to another replica) and,
    believing its session resumed, asks for nothing: the page would sit there, connected to a
    fresh, empty session, until the next click. A new visitor asks for a run at once, so a
    session still idle after a moment is one of these; one run (the default page) lets the page
    say what happened (``replica.note``). Once per session; returns the ids woken.
    """
    now = time.monotonic() if now is None else now
    idle = {info.session.id: info for info in manager.list_active_sessions()
            if info.script_run_count == 0 and getattr(info.session, "_scriptrunner", None) is None}
    for sid in list(first_seen_idle):
        if sid not in idle:
            del first_seen_idle[sid]
    waking = []
    for sid, info in idle.items():
        if sid in woken:
            continue
        if now - first_seen_idle.setdefault(sid, now) >= WAKE_AFTER_S:
            waking.append(info.session)
            woken.add(sid)
            del first_seen_idle[sid]
    woken.intersection_update({info.session.id for info in manager.list_sessions()})  # forget closed ones

    def wake(sessions=tuple(waking)) -> None:
        for session in sessions:
            session.request_rerun(None)

    if waking:
        loop.call_soon_threadsafe(wake)
    return [session.id for session in waking]
