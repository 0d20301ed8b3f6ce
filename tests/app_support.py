"""What the AppTest modules share: the app's path, pretrained weights that fail as offline, and
fresh caches that keep the (deterministic, read-only) untrained networks between tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st

import alexnet_viz as av
from alexnet_viz.network import load_network as _load_network  # never a test's stand-in

APP = str(Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py")
sys.path.insert(0, str(Path(APP).parent))
import cache  # noqa: E402  (the app's own module: AppTest's runs import this same one)

_UNTRAINED: dict[str, av.Network] = {}


def fresh_caches() -> None:
    """Empty every cached result and every network but the untrained ones.

    Untrained networks are built from a fixed seed and never changed after loading, so a test
    cannot tell a kept one from a new one; rebuilding them cost 1.3 s in each of ~30 tests.
    """
    cache.store().clear()
    st.cache_data.clear()
    store, _locks, guard = cache._network_store()
    with guard:
        for key in [k for k in store if k[1] != "untrained"]:
            del store[key]


def _untrained(model: str, device) -> av.Network:
    """A new Network object on a shared untrained body (its weights_error is its own)."""
    if model not in _UNTRAINED:
        _UNTRAINED[model] = _load_network(model, "untrained", device="cpu")
    shared = _UNTRAINED[model]
    return av.Network(shared.arch, shared.body, "untrained", shared.device)
OFFLINE = "No internet connection: the pretrained weights could not be downloaded."


def offline_pretrained_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretrained weights fail as they do offline with an empty cache, whatever this machine has
    cached, so every test sees the same untrained network (the other weight choices load as usual)."""
    real = av.load_network

    def load(model, weights="untrained", device="auto", progress=None, fallback_to_untrained=False):
        if weights != "pretrained":
            return real(model, weights, device, progress, fallback_to_untrained)
        if not fallback_to_untrained:
            raise av.WeightsError(OFFLINE)
        net = _untrained(model, device)
        net.weights_error = OFFLINE
        return net

    monkeypatch.setattr(av, "load_network", load)


def tiny_index_home(home: Path, net: av.Network) -> Path:
    """``home`` as an ``$ALEXNET_VIZ_HOME`` with one small photo index, ``indexes/class``: seven
    generated photos (``home/photos/photo_0.png`` …) indexed for ``net``."""
    import numpy as np
    from PIL import Image

    photos = home / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(7):
        small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(small).resize((300, 260), Image.BILINEAR).save(photos / f"photo_{i}.png")
    av.build_index(photos, net, home / "indexes" / "class")
    return home


def open_home_page(page: str, home: Path, monkeypatch: pytest.MonkeyPatch, timeout: int = 120):
    """A fresh AppTest on ``page`` with ``$ALEXNET_VIZ_HOME`` at ``home`` and empty caches, run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(home))
    fresh_caches()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def count_forward_passes(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Fresh caches, and a list that grows by the input's shape at every real forward pass."""
    from alexnet_viz.network import Network

    fresh_caches()
    calls: list[tuple] = []
    original = Network.activations

    def counting(self, x, upto=None):
        calls.append(tuple(x.shape))
        return original(self, x, upto)

    monkeypatch.setattr(Network, "activations", counting)
    return calls


def open_page(page: str, query: dict | None = None, timeout: int = 120):
    """A fresh AppTest on ``page``, its address carrying ``query``, run once without an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
