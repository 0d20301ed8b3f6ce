"""A channel's feature visualisation for the pages: computed on request, then kept.

Kept on disk (by the library, in ``$ALEXNET_VIZ_HOME/visualizations/``) and in the shared store.

Every session asking for the same (network, layer, channel) shares one result: the store is
single-flight, so two visitors pressing the button together run one optimisation.
"""
from __future__ import annotations

import os

import numpy as np

import alexnet_viz as av
import cache
import work

STEPS_ENV = "ALEXNET_VIZ_FEATVIS_STEPS"  # the operator (or a test) may ask for fewer or more steps
DEFAULT_STEPS = 256
MAX_STEPS = 1024  # bounded: one button press costs at most this many forward and backward passes
SEED = 0


def steps() -> int:
    try:
        n = int(os.environ.get(STEPS_ENV, DEFAULT_STEPS))
    except ValueError:
        n = DEFAULT_STEPS
    return min(max(n, 1), MAX_STEPS)


def _params(sel) -> dict:
    return {"steps": steps(), "size": sel.net.prep.crop, "seed": SEED}


def _key(sel, layer: str, channel: int, p: dict) -> tuple:
    return sel.key("featvis", layer, channel, p, photo=False)


def cached(sel, layer: str, channel: int) -> np.ndarray | None:
    """The visualisation if the store or the disk has it (RGB array), else None; never optimises."""
    p = _params(sel)
    key = _key(sel, layer, channel, p)
    hit = cache.store().get(key)
    if hit is None:
        img = av.cached_visualization(sel.net, layer, channel, **p)
        if img is not None:
            hit = cache.store().get_or_compute(key, lambda: np.asarray(img))
    return hit


def compute(sel, layer: str, channel: int, progress=None) -> np.ndarray:
    """The visualisation, optimised now (reporting ``progress(done, total)``) unless cached."""
    p = _params(sel)
    return cache.store().get_or_compute(
        _key(sel, layer, channel, p),
        lambda: np.asarray(av.visualize(sel.net, layer, channel, progress=progress, **p)))


def job_key(sel, layer: str, channel: int) -> tuple:
    """What a queued optimisation of this channel is known by (the store's key)."""
    return _key(sel, layer, channel, _params(sel))


def queued(sel, layer: str, channel: int, show) -> np.ndarray | None:
    """``compute`` as this visitor's job in the server's queue (``work``), calling ``show(job, place)``
    while it waits or runs; None if it was stopped."""
    job = work.submit(job_key(sel, layer, channel), lambda progress: compute(sel, layer, channel, progress))
    try:
        return work.wait(job, show)
    except work.Cancelled:
        return None
