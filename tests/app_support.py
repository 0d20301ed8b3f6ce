"""What the AppTest modules share: the app's path, and pretrained weights that fail as offline."""
from __future__ import annotations

from pathlib import Path

import pytest

import alexnet_viz as av

APP = str(Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py")
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
        net = real(model, "untrained", device)
        net.weights_error = OFFLINE
        return net

    monkeypatch.setattr(av, "load_network", load)
