"""The app's one place for shared caches: networks and per-image results, bounded, and their keys.

* ``network``: one instance per (model, weights) for every session, read-only once loaded. One
  load lock per key, so a session asking for the untrained network never waits behind another
  session's download. Networks from weight files are bounded (``MAX_FILE_NETWORKS``).
* ``Store``: every per-image result (the preprocessed input, the forward pass, a layer's weights,
  explanations, sanity checks) lives in one store shared by all sessions, bounded in bytes and
  least recently used first out. It is single-flight: when several sessions ask for the same
  missing result at once, one computes it and the others wait for that answer.
  Results are shared and read-only: their arrays are marked unwritable.
* ``key_part``, ``explanation_key``, ``sanity_key``: the parts of a result's key; the key itself
  is made by ``state.Selection.key``.

How the server process spends its cores and memory (threads, the garbage collector, live
streams, closed sessions) is server.py's.

Why not ``st.cache_data`` for results: the long attribution methods draw a progress bar while
they run, and ``st.cache_data`` records every element a cached function draws to replay it on
a hit; a bar drawn into a placeholder made outside the function cannot be replayed. Here the
session that computes draws its own bar, and a hit draws nothing. Only values that change the
numbers are in a key; display choices are not, so changing them never recomputes.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np
import streamlit as st
import torch

import alexnet_viz as av

_LOG = logging.getLogger("alexnet_viz.app")

MAX_FILE_NETWORKS = 2  # networks loaded from weight files kept at once (~240 MB each)
STORE_BYTES = 768 * 2**20  # every cached result together: ~110 alexnet2012 forward passes


# -- networks: one shared instance per (model, weights) ---------------------------------------
@st.cache_resource(show_spinner=False)
def _network_store() -> tuple[dict, dict, threading.Lock]:
    """Networks shared by every session, keyed by (model, weights), with one load lock per key.

    A dict behind ``st.cache_resource`` rather than a cached loader, so the download's progress
    bar is drawn by the session that loads, and is not replayed to others from the cache. The
    third item guards the two dicts.
    """
    return {}, {}, threading.Lock()


def network(model: str, weights: str, progress=None, fallback: bool = True) -> av.Network:
    """The shared network for (model, weights); loads it once, showing progress if given.

    Raises ``av.WeightsError`` for a weight file that cannot be used (``fallback=False``).
    """
    store, locks, guard = _network_store()
    key = (model, weights)
    if key in store:  # the usual case: no waiting at all
        return store[key]
    with guard:
        lock = locks.setdefault(key, threading.Lock())
    with lock:  # only sessions wanting this same network wait here, for one load
        if key not in store:
            net = av.load_network(model, weights, device="auto", progress=progress,
                                  fallback_to_untrained=fallback)
            with guard:
                store[key] = net
                files = [k for k in store if k[1] not in ("pretrained", "untrained")]
                for old in files[:-MAX_FILE_NETWORKS]:  # oldest first: bound the memory user files take
                    store.pop(old, None)
        return store[key]


def loaded(model: str, weights: str) -> av.Network | None:
    """The shared network for (model, weights) if it is loaded already; never loads."""
    return _network_store()[0].get((model, weights))


def forget_network(key: tuple[str, str]) -> None:
    """Drop a network from the shared store (after a failed download), so the next run retries."""
    store, _locks, guard = _network_store()
    with guard:
        store.pop(key, None)


# -- results: one bounded, single-flight store --------------------------------------------------
def nbytes(value: Any) -> int:
    """Roughly what a cached value holds in memory: its arrays and tensors, one level down."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = [getattr(value, f.name) for f in dataclasses.fields(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) if isinstance(v, (np.ndarray, torch.Tensor, dict, list, tuple)) else 64 for v in value)
    return 64


def freeze(value: Any) -> Any:
    """Mark every numpy array in a result (one level down) read-only: sessions share it."""
    items = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    for item in items:
        for a in (item.values() if isinstance(item, dict) else [item]):
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
    return value


class Store:
    """A thread-safe LRU mapping bounded by bytes, computing each missing key once."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, threading.Event] = {}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        return None

    def put(self, key: Hashable, value: Any) -> Any:
        size = nbytes(value)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _old, (_v, old_size) = self._items.popitem(last=False)
                self._bytes -= old_size
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value for ``key``; computed by ``compute()`` if missing, by one caller at a time.

        Callers asking for a key already being computed wait for that result; if the computing
        caller fails, one of the waiters tries in its turn (and raises its own error).
        """
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
                event = self._inflight.get(key)
                if event is None:
                    event = self._inflight[key] = threading.Event()
                    mine = True
                else:
                    mine = False
            if not mine:
                event.wait()
                continue  # computed (now in the store) or failed (then try ourselves)
            try:
                return self.put(key, freeze(compute()))
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                event.set()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


@st.cache_resource(show_spinner=False)
def store() -> Store:
    """The one shared store of per-image results."""
    return Store(STORE_BYTES)


# -- attribution results --------------------------------------------------------------------------
# ``sel`` below is a ``state.Selection`` (not imported: state imports this module); every key is
# made by ``sel.key``, which names what the result depends on.
def key_part(value) -> Hashable:
    """A parameter as a key's part: equal parameters give equal parts, whatever order a dict's
    items came in or whether a sequence is a list or a tuple; numpy scalars become numbers."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), key_part(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(key_part(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(key_part(v) for v in value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def explanation_key(sel, method: str, params, target) -> tuple:
    """What an explanation depends on, and nothing a display control changes."""
    return sel.key("explain", method, params, target)


def explanation(sel, method: str, params, target, progress=None):
    """The shared ``explain(...)`` for the selection; computed (with ``progress``) on a miss.

    Raises ValueError with the library's sentence for parameters it cannot use.
    """
    from alexnet_viz import attribution as A  # looked up on the module, so a test can count the calls

    return store().get_or_compute(explanation_key(sel, method, params, target),
                                  lambda: A.explain(sel.net, sel.x, method, target, progress, **params))


def sanity_key(sel, methods, target) -> tuple:
    """What a sanity check depends on: the methods in their order, each with its parameters."""
    return sel.key("sanity", tuple(methods.items()), target)


def cached_sanity(sel, methods, target):
    """A sanity check already run for exactly these choices, or None (never computes)."""
    return store().get(sanity_key(sel, methods, target))


def sanity(sel, methods, target, progress=None):
    """The shared ``sanity_check(...)``; computed (with ``progress``) on a miss."""
    from alexnet_viz import attribution as A

    return store().get_or_compute(
        sanity_key(sel, methods, target),
        lambda: A.sanity_check(sel.net, sel.x, {m: dict(p) for m, p in methods.items()}, target, progress))
