"""The attribution page's cache: one result per (image, network, weights, method, parameters, target).

Explanations and sanity checks are kept in one store shared by every session
(``st.cache_resource``), least recently used first out. Why not ``st.cache_data``: the long
methods draw a progress bar while they run, and ``st.cache_data`` records every element a cached
function draws in order to replay it on a hit; a bar drawn into a placeholder made outside the
function cannot be replayed (Streamlit raises ``CacheReplayClosureError``). Here the session that
computes draws its own bar, and a hit draws nothing.

Only values that change the numbers are in a key; display choices (opacity, sign, percentile,
shared or per-map scale) are not, so changing them never recomputes. Results are shared and
read-only: their arrays are marked unwritable.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping

import numpy as np
import streamlit as st

from alexnet_viz import attribution as A
from state import Selection

MAX_ENTRIES = 48  # an explanation is ~1 MB of arrays; a sanity check ~2 MB per method

Progress = Callable[[int, int], None]


@st.cache_resource(show_spinner=False)
def _store() -> tuple[OrderedDict, threading.Lock]:
    return OrderedDict(), threading.Lock()


def _get(key: Hashable) -> Any | None:
    store, lock = _store()
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    return None


def _put(key: Hashable, value: Any) -> Any:
    store, lock = _store()
    with lock:
        store[key] = value
        store.move_to_end(key)
        while len(store) > MAX_ENTRIES:
            store.popitem(last=False)
    return value


def _frozen(arrays) -> None:
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


def explanation_key(sel: Selection, method: str, params: Mapping[str, Any],
                    target: int | A.Contrast) -> tuple:
    """What an explanation depends on, and nothing a display control changes."""
    return ("explain", sel.model, sel.weights, sel.digest, method, _params_key(params), target)


def explanation(sel: Selection, method: str, params: Mapping[str, Any], target: int | A.Contrast,
                progress: Progress | None = None) -> A.Explanation:
    """The cached ``explain(...)`` for the selection; computed (with ``progress``) on a miss.

    Raises ValueError with the library's sentence for parameters it cannot use.
    """
    key = explanation_key(sel, method, params, target)
    hit = _get(key)
    if hit is not None:
        return hit
    # looked up on the module, so a test can count the calls
    result = A.explain(sel.net, sel.x, method, target, progress, **params)
    _frozen([result.map, result.raw, result.layer_map])
    return _put(key, result)


def sanity_key(sel: Selection, methods: Mapping[str, Mapping[str, Any]], target: int | A.Contrast) -> tuple:
    return ("sanity", sel.model, sel.weights, sel.digest,
            tuple((m, _params_key(p)) for m, p in methods.items()), target)


def cached_sanity(sel: Selection, methods: Mapping[str, Mapping[str, Any]],
                  target: int | A.Contrast) -> A.SanityCheck | None:
    """A sanity check already run for exactly these choices, or None (never computes)."""
    return _get(sanity_key(sel, methods, target))


def sanity(sel: Selection, methods: Mapping[str, Mapping[str, Any]], target: int | A.Contrast,
           progress: Progress | None = None) -> A.SanityCheck:
    """The cached ``sanity_check(...)``; computed (with ``progress``) on a miss."""
    key = sanity_key(sel, methods, target)
    hit = _get(key)
    if hit is not None:
        return hit
    result = A.sanity_check(sel.net, sel.x, {m: dict(p) for m, p in methods.items()}, target, progress)
    _frozen([*result.maps.values(), *result.correlation.values(), *result.correlation_signed.values()])
    return _put(key, result)
