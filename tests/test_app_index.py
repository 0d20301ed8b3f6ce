"""The "What does it look for?" page and Predict's "Photos like this one" through AppTest, with an
index of generated photos in ``$ALEXNET_VIZ_HOME/indexes/`` (untrained weights, offline)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from app_support import open_home_page, offline_pretrained_weights, tiny_index_home

TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tiny_index_home(tmp_path_factory.mktemp("home"), av.load_network("alexnet2012", "untrained", "cpu"))


def open_page(page: str, env_home: Path, monkeypatch) -> AppTest:
    return open_home_page(page, env_home, monkeypatch, TIMEOUT)


def test_lookfor_shows_the_top_patches_and_the_map(home, monkeypatch):
    at = open_page("views/lookfor.py", home, monkeypatch)
    assert at.sidebar.selectbox(key="photo_index").value == "class"
    at.selectbox(key="lf_layer").set_value("relu1").run()
    at.number_input(key="lf_channel_relu1").set_value(5).run()
    assert not at.exception, at.exception
    ix = av.open_index(home / "indexes" / "class")
    top = ix.top_images("relu1", 5, k=9)
    captions = [c.value for c in at.caption]
    assert any("From 7 photos in the index **class**" in c for c in captions)
    shown = [i.proto.imgs[0].caption for i in at.main.get("image")]
    assert len(shown) == 7 + 2  # seven patches (the index holds seven photos), the map twice
    expected = [f"{Path(p).name}: {v:.3g}" for p, v, _ in top]  # strongest first, row by row
    assert shown[:7] == [expected[i] for i in (0, 3, 6, 1, 4, 2, 5)]  # read column by column


def test_lookfor_without_an_index_says_how_to_make_one(tmp_path, monkeypatch):
    at = open_page("views/lookfor.py", tmp_path, monkeypatch)
    assert any("alexnet-viz index PHOTOS" in i.value for i in at.info)
    assert len(at.main.get("image")) == 2  # the channel's map on the photo still shows


def test_predict_shows_the_photos_like_this_one(home, monkeypatch):
    at = open_page("views/predict.py", home, monkeypatch)
    captions = [c.value for c in at.caption]
    assert any("nearest this one in fc7" in c for c in captions)
    assert sum(c.startswith("photo_") for c in captions) == 6
    assert len(at.main.get("image")) == 2 + 6  # the photo, its crop, six neighbours
