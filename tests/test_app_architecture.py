"""The Architecture page builds its diagram once per (variant, input size) per server and sends
every visitor the same bytes: the diagram depends on nothing else."""
from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from alexnet_viz import render
from app_support import APP, fresh_caches, offline_pretrained_weights


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


def title(spec: str) -> str:
    return json.loads(spec)["layout"]["title"]["text"]


def test_the_diagram_is_built_once_per_variant_and_size_and_sent_as_the_same_bytes(monkeypatch):
    built: list[tuple] = []
    real = render.architecture_diagram

    def counted(model, input_size=None):
        built.append((getattr(model, "name", model), input_size))
        return real(model, input_size)

    monkeypatch.setattr(render, "architecture_diagram", counted)
    fresh_caches()
    st.cache_resource.clear()
    specs = []
    for visitor in range(2):  # two visitors, each to the page, to 224 and back
        at = AppTest.from_file(APP, default_timeout=60)
        at.switch_page("views/architecture.py").run()
        assert not at.exception, at.exception
        specs.append(at.main.get("plotly_chart")[0].proto.spec)
        at.radio(key="arch_size_choice").set_value("224 (the paper's text)").run()
        assert "input 224×224" in title(at.main.get("plotly_chart")[0].proto.spec)
        at.switch_page("views/predict.py").run()
        at.switch_page("views/architecture.py").run()
        assert not at.exception, at.exception
        specs.append(at.main.get("plotly_chart")[0].proto.spec)
    assert built == [("alexnet2012", 227), ("alexnet2012", 224)], "one build per (variant, size), not per visit"
    assert "input 227×227" in title(specs[0]) and specs[2] == specs[0], "the second visitor gets the first one's bytes"
    assert specs[1] == specs[3] and "input 224×224" in title(specs[1])
