"""The one bound on costly jobs (STYLE.md principle 12): one queue for the server, and visitors' ceilings.

A queue shared by every session of a server, and the ceilings a visitor may ask for.

* ``Queue``: at most ``workers`` jobs run at once, in their own threads, first come first served;
  each visitor (a session) has at most one job queued or running — a second request replaces the
  first (which stops unless another visitor waits for it too). Two visitors asking for the same
  result (the same key) share one job. A job stops when every visitor waiting for it has cancelled
  it (Stop, or a closed tab): the job's progress callback raises ``Cancelled`` at the next step the
  library reports, which every long loop of the library already does.
* ``jobs()``: the server's one queue, ``ALEXNET_VIZ_WORKERS`` jobs at once.
* ``CEILINGS``: what a visitor of a shared server may ask for, set by the operator; the library and
  the command line keep their own, wider limits.
* ``submit`` / ``wait`` / ``cancel``: the pages' side, for the session running the script.

Jobs run in worker threads rather than in the visitor's script thread so that a rerun (a slider
moved while a job runs) reattaches to the job instead of killing it, a job shared by two visitors
survives the first one leaving, and the worker's thread ends with its job: a closed tab leaves no
thread behind.

Nothing above ``submit`` imports Streamlit: the queue is tested as plain Python.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any, Callable, Hashable

WORKERS_ENV = "ALEXNET_VIZ_WORKERS"
NICE_ENV = "ALEXNET_VIZ_JOB_NICE"
DEFAULT_NICE = 10  # a costly job yields the cores to visitors' clicks (a forward pass, a page)
POLL_S = 0.25  # how often a waiting page redraws its place or progress (and notices a Stop)


class Cancelled(Exception):
    """A job stopped because every visitor waiting for it left (Stop, or a closed tab)."""


Progress = Callable[[int, int], None]


class Job:
    """One costly computation: ``fn(progress)``; its place, progress and result are read by pages."""

    def __init__(self, key: Hashable, fn: Callable[[Progress], Any]):
        self.key = key
        self.fn = fn
        self.sessions: set[Hashable] = set()  # the visitors waiting for it
        self.state = "waiting"  # -> "running" -> "done"
        self.done_steps, self.total_steps = 0, 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    def progress(self, done: int, total: int) -> None:
        """The library's progress callback: records the step, or stops the job if cancelled."""
        if self.cancelled.is_set():
            raise Cancelled("Stopped.")
        self.done_steps, self.total_steps = done, total

    def value(self) -> Any:
        """The result once finished; raises the job's error (``Cancelled`` if it was stopped)."""
        if self.error is not None:
            raise self.error
        return self.result


class Queue:
    """At most ``workers`` jobs at once; one job per session; one job per key (see the module)."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._lock = threading.Lock()
        self._waiting: list[Job] = []
        self._running: set[Job] = set()
        self._by_key: dict[Hashable, Job] = {}
        self._by_session: dict[Hashable, Job] = {}
        self.peak = 0  # the most jobs ever running at once (for tests and the load harness)

    def submit(self, session: Hashable, key: Hashable, fn: Callable[[Progress], Any]) -> Job:
        """The job computing ``key`` for ``session``: the session's own if it asked for it already,
        another session's if one is computing it, else a new one at the end of the queue. A session's
        earlier job for another key is left (and stops if nobody else waits for it)."""
        with self._lock:
            mine = self._by_session.get(session)
            if mine is not None and mine.key == key and not mine.finished.is_set():
                return mine
            if mine is not None:
                self._leave(mine, session)
            job = self._by_key.get(key)
            if job is None or job.cancelled.is_set():
                job = Job(key, fn)
                self._by_key[key] = job
                self._waiting.append(job)
            job.sessions.add(session)
            self._by_session[session] = job
            self._start_ready()
            return job

    def current(self, session: Hashable) -> Job | None:
        """The session's queued or running job, if any."""
        with self._lock:
            return self._by_session.get(session)

    def place(self, job: Job) -> int:
        """0 while the job runs (or has finished), else its place in the queue (1: next to start)."""
        with self._lock:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    def cancel(self, session: Hashable) -> bool:
        """The session stops waiting for its job (Stop, or its tab closed); the job itself stops if
        nobody else waits for it. True if the session had a job."""
        with self._lock:
            job = self._by_session.get(session)
            if job is None:
                return False
            self._leave(job, session)
            return True

    def cancel_sessions(self, sessions) -> list[Hashable]:
        """``cancel`` for each of ``sessions`` that has a job; returns those."""
        return [s for s in list(sessions) if self.cancel(s)]

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    # -- under the lock ------------------------------------------------------------------------
    def _leave(self, job: Job, session: Hashable) -> None:
        job.sessions.discard(session)
        if self._by_session.get(session) is job:
            del self._by_session[session]
        if job.sessions or job.finished.is_set():
            return
        job.cancelled.set()  # a running job stops at its next progress report
        if self._by_key.get(job.key) is job:
            del self._by_key[job.key]
        if job in self._waiting:  # never started: finished now
            self._waiting.remove(job)
            job.error = Cancelled("Stopped.")
            job.state = "done"
            job.finished.set()

    def _start_ready(self) -> None:
        while self._waiting and len(self._running) < self.workers:
            job = self._waiting.pop(0)
            job.state = "running"
            self._running.add(job)
            self.peak = max(self.peak, len(self._running))
            threading.Thread(target=self._run, args=(job,), name="alexnet-viz-job", daemon=True).start()

    def _run(self, job: Job) -> None:
        lower_priority(nice_setting(os.environ.get(NICE_ENV)))
        try:
            if job.cancelled.is_set():
                raise Cancelled("Stopped.")
            job.result = job.fn(job.progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the page that waits for it
            job.error = exc
        finally:
            with self._lock:
                self._running.discard(job)
                if self._by_key.get(job.key) is job:
                    del self._by_key[job.key]
                for s in list(job.sessions):
                    if self._by_session.get(s) is job:
                        del self._by_session[s]
                job.state = "done"
                job.finished.set()
                self._start_ready()


def default_workers(cores: int | None = None) -> int:
    """Half the cores, at least 1: the other half stays free for every visitor's clicks (a forward
    pass, a page), so a class keeps working while the queue is full. On the 2-core server of the
    load test: one costly job at a time."""
    return max(1, (cores or os.cpu_count() or 1) // 2)


def workers_setting(raw: str | None, cores: int | None = None) -> int:
    """``ALEXNET_VIZ_WORKERS``: 1 to 64 jobs at once; unset or unreadable: ``default_workers``."""
    try:
        return min(max(int((raw or "").strip()), 1), 64)
    except ValueError:
        return default_workers(cores)


def nice_setting(raw: str | None) -> int:
    """``ALEXNET_VIZ_JOB_NICE``: how much lower a job's CPU priority is than the server's, 0 (the
    same) to 19 (lowest); unset or unreadable: ``DEFAULT_NICE``."""
    try:
        return min(max(int((raw or "").strip()), 0), 19)
    except ValueError:
        return DEFAULT_NICE


def lower_priority(nice: int) -> bool:
    """Lower the calling thread's CPU priority by ``nice`` (Linux keeps a nice value per thread), so
    a costly job runs on what the visitors' clicks leave of the cores. False where the system has no
    per-thread priority; the job then runs at the server's."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        return True
    except OSError:
        return False


_queue: Queue | None = None
_queue_lock = threading.Lock()


def jobs() -> Queue:
    """The server's one queue (made on first use, from ``ALEXNET_VIZ_WORKERS``)."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = Queue(workers_setting(os.environ.get(WORKERS_ENV)))
        return _queue


# -- ceilings: what a visitor of a shared server may ask for ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class Ceiling:
    """One operator's bound on a method's parameter: ``most`` (at most) or ``least`` (at least)."""

    method: str
    param: str
    env: str
    bound: str  # "most" or "least"
    default: int

    def value(self) -> int:
        """The operator's value from the environment (a whole number, 1 or more), else the default."""
        try:
            return max(1, int(os.environ.get(self.env, "").strip()))
        except ValueError:
            return self.default

    def clamp(self, value):
        limit = self.value()
        return min(value, limit) if self.bound == "most" else max(value, limit)


# The defaults a class needs: an integrated-gradients map in at most 128 gradient evaluations
# (129 points, ~8 batched passes) and occlusion no finer than window 8, stride 4 (99 passes), where
# the library allows 512 steps and window 3, stride 1 (1,584 passes: minutes on a 2-core server).
CEILINGS: tuple[Ceiling, ...] = (
    Ceiling("integrated_gradients", "steps", "ALEXNET_VIZ_MAX_IG_STEPS", "most", 128),
    Ceiling("integrated_gradients", "max_steps", "ALEXNET_VIZ_MAX_IG_STEPS", "most", 128),
    Ceiling("occlusion", "window", "ALEXNET_VIZ_MIN_OCCLUSION_WINDOW", "least", 8),
    Ceiling("occlusion", "stride", "ALEXNET_VIZ_MIN_OCCLUSION_STRIDE", "least", 4),
    Ceiling("smoothgrad", "samples", "ALEXNET_VIZ_MAX_SMOOTHGRAD_SAMPLES", "most", 64),
)


def ceiling(method: str, param: str) -> Ceiling | None:
    for c in CEILINGS:
        if c.method == method and c.param == param:
            return c
    return None


def clamp(method: str, param: str, value) -> tuple[Any, str | None]:
    """A visitor's value within this server's ceiling, and a sentence if it was changed."""
    c = ceiling(method, param)
    if c is None or not isinstance(value, (int, float)):
        return value, None
    new = type(value)(c.clamp(value))
    if new == value:
        return value, None
    side = "at most" if c.bound == "most" else "at least"
    return new, (f"This server allows {method.replace('_', ' ')}'s {param.replace('_', ' ')} {side} "
                 f"{c.value()} (its operator's {c.env}), so {value:g} became {new:g}.")


# -- the pages' side: the session running the script ------------------------------------------------------
def session_id() -> Hashable:
    """This script run's session (a visitor's tab)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "bare"


def submit(key: Hashable, fn: Callable[[Progress], Any]) -> Job:
    """This visitor's job for ``key`` (see ``Queue.submit``)."""
    return jobs().submit(session_id(), key, fn)


def cancel() -> bool:
    """This visitor's Stop: leave the job (it stops unless another visitor waits for it)."""
    return jobs().cancel(session_id())


def wait(job: Job, show: Callable[[Job, int], None]) -> Any:
    """Wait for ``job``, calling ``show(job, place)`` every ``POLL_S`` (a page draws the place in the
    queue or the progress there, which also lets Streamlit stop the script run for a Stop or a rerun:
    the job goes on, and the next run finds it again). Returns the value; raises its error."""
    q = jobs()
    while not job.finished.wait(POLL_S):
        show(job, q.place(job))
    return job.value()
