"""The "What does it look for?" page's feature visualisation (a button, a progress bar, then cached
on disk and in the shared store) and the index built from uploaded photos (off unless the operator
allows it; bounded; names confined to the indexes folder). Untrained weights, offline, 3 steps."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from alexnet_viz import featvis
from app_support import open_home_page, offline_pretrained_weights
import indexes  # noqa: E402  (the app's module, on the path app_support set)

TIMEOUT = 120
PAGE = "views/lookfor.py"


@pytest.fixture(autouse=True)
def setup(monkeypatch):
    offline_pretrained_weights(monkeypatch)
    monkeypatch.setenv("ALEXNET_VIZ_FEATVIS_STEPS", "3")
    monkeypatch.delenv(indexes.UPLOAD_ENV, raising=False)


def open_page(home: Path, monkeypatch) -> AppTest:
    return open_home_page(PAGE, home, monkeypatch, TIMEOUT)


def png(seed: int, size=(120, 100)) -> bytes:
    small = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize(size, Image.BILINEAR).save(buf, format="PNG")
    return buf.getvalue()


def count_optimisations(monkeypatch) -> list:
    calls, real = [], featvis._optimise

    def counting(*args, **kwargs):
        calls.append((args[1], list(args[2])))
        return real(*args, **kwargs)

    monkeypatch.setattr(featvis, "_optimise", counting)
    return calls


def test_the_visualisation_is_computed_on_request_then_cached(tmp_path, monkeypatch):
    calls = count_optimisations(monkeypatch)
    at = open_page(tmp_path, monkeypatch)
    at.selectbox(key="lf_layer").set_value("relu1").run()
    at.number_input(key="lf_channel_relu1").set_value(4).run()
    images = len(at.main.get("image"))
    assert calls == [] and at.button(key="lf_vis_relu1_4").label.endswith("(3 steps)")
    at.button(key="lf_vis_relu1_4").click().run()
    assert not at.exception, at.exception
    assert calls == [("relu1", [4])]
    assert len(at.main.get("image")) == images + 1
    assert any("Optimised to excite channel 4 of relu1" in i.proto.imgs[0].caption for i in at.main.get("image"))
    assert list((tmp_path / "visualizations" / "alexnet2012").glob("relu1-4-*.png"))  # on disk
    assert all(b.key != "lf_vis_relu1_4" for b in at.button)  # the picture took the button's place

    at.run()  # another run: from the shared store, and the button has gone
    assert calls == [("relu1", [4])] and len(at.main.get("image")) == images + 1
    assert all(b.key != "lf_vis_relu1_4" for b in at.button)

    at = open_page(tmp_path, monkeypatch)  # a new session, empty store: from the disk, no button
    at.selectbox(key="lf_layer").set_value("relu1").run()
    at.number_input(key="lf_channel_relu1").set_value(4).run()
    assert calls == [("relu1", [4])]
    assert all(b.key != "lf_vis_relu1_4" for b in at.button)
    assert len(at.main.get("image")) == images + 1


def test_building_an_index_in_the_browser_is_off_unless_the_operator_allows_it(tmp_path, monkeypatch):
    at = open_page(tmp_path, monkeypatch)
    assert any(f"{indexes.UPLOAD_ENV}=1" in c.value for c in at.caption)
    assert not at.get("file_uploader") or all(u.key != "lf_upload_files" for u in at.get("file_uploader"))
    with pytest.raises(indexes.UploadRefused, match="off on this server"):
        indexes.check_upload("x", [object()])


def test_an_index_built_from_uploads_is_confined_bounded_and_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv(indexes.UPLOAD_ENV, "1")
    at = open_page(tmp_path, monkeypatch)
    files = [(f"../../cat {i}.png", png(i), "image/png") for i in range(3)]
    files.append(("notes.png", b"this is not a picture", "image/png"))
    at.file_uploader(key="lf_upload_files").set_value(files)
    at.text_input(key="lf_upload_name").set_value("../My class!")
    at.button(key="lf_upload_build").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    folder = tmp_path / "indexes" / "My-class"
    assert sorted(p.name for p in (tmp_path / "indexes").iterdir()) == ["My-class"]
    assert sorted(p.name for p in (folder / "photos").iterdir()) == ["000-cat-0.png", "001-cat-1.png", "002-cat-2.png"]
    assert not (folder / indexes.BUILDING).exists()
    assert at.sidebar.selectbox(key="photo_index").value == "My-class"
    assert any("Index My-class: 3 photos, 1 files skipped" in s.value for s in at.success)
    assert any("From 3 photos in the index **My-class**" in c.value for c in at.caption)
    assert len(av.open_index(folder).images) == 3

    # the same name again: refused, the index kept as it was
    stamp = (folder / "index.sqlite").stat().st_mtime_ns
    at.file_uploader(key="lf_upload_files").set_value([("other.png", png(9), "image/png")])
    at.text_input(key="lf_upload_name").set_value("My class")
    at.button(key="lf_upload_build").click().run()
    assert any("exists already and is not replaced" in e.value for e in at.error)
    assert (folder / "index.sqlite").stat().st_mtime_ns == stamp

    # too many photos at once: refused before anything is written
    monkeypatch.setattr(indexes, "MAX_UPLOAD_FILES", 2)
    at.file_uploader(key="lf_upload_files").set_value([(f"p{i}.png", png(i), "image/png") for i in range(3)])
    at.text_input(key="lf_upload_name").set_value("bigger")
    at.button(key="lf_upload_build").click().run()
    assert any("3 photos chosen; an index built here takes at most 2" in e.value for e in at.error)
    assert not (tmp_path / "indexes" / "bigger").exists()


class Fake:
    def __init__(self, name: str, size: int):
        self.name, self.size = name, size


@pytest.mark.parametrize("name, files, words", [
    ("", [Fake("a.png", 10)], "Give the index a name"),
    ("../..", [Fake("a.png", 10)], "Give the index a name"),
    ("ok", [], "Choose some photos first"),
    ("ok", [Fake("huge.png", av.MAX_BYTES + 1)], "over 20 MB each, e.g. huge.png"),
    ("ok", [Fake(f"{i}.png", av.MAX_BYTES) for i in range(13)], "MB in all"),
])
def test_uploads_out_of_bounds_are_refused_with_a_sentence(tmp_path, monkeypatch, name, files, words):
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path))
    monkeypatch.setenv(indexes.UPLOAD_ENV, "1")
    with pytest.raises(indexes.UploadRefused, match=words):
        indexes.check_upload(name, files)


def test_names_are_sanitised_into_the_indexes_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path))
    monkeypatch.setenv(indexes.UPLOAD_ENV, "1")
    for raw, safe in [("../../etc/passwd", "etc-passwd"), ("/abs/path", "abs-path"), (".hidden", "hidden"),
                      ("Klasse 5b (2026)", "Klasse-5b-2026"), ("x" * 99, "x" * 40), ("été", "t")]:
        assert indexes.safe_name(raw) == safe
        folder = indexes.check_upload(raw, [Fake("a.png", 10)])
        assert folder.parent == tmp_path / "indexes" and folder.name == safe


def test_the_count_of_browser_built_indexes_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path))
    monkeypatch.setenv(indexes.UPLOAD_ENV, "1")
    monkeypatch.setattr(indexes, "MAX_UPLOADED_INDEXES", 2)
    for name in ("a", "b"):
        (tmp_path / "indexes" / name).mkdir(parents=True)
        (tmp_path / "indexes" / name / indexes.UPLOADED).touch()
    with pytest.raises(indexes.UploadRefused, match="holds 2 indexes built in the browser already"):
        indexes.check_upload("c", [Fake("a.png", 10)])
