"""``build_index(..., ray="local")``: the same index as the local runner, built on Ray Data.

The one Ray run (slow: Ray and its workers take 20-30 s to start) indexes test_index's folder of
planted patterns on a local Ray with 2 CPUs and compares every stored number with the local
index. The workers' parts also run here as plain classes, without Ray, to check that contents the
index holds are not decoded again and that a different network is refused.
"""
from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import alexnet_viz as av
from alexnet_viz import cli
from alexnet_viz.index import store as S
from alexnet_viz.index.build import map_layers
from helpers import build_network
from test_index import make_folder, noise

ray_missing = None
try:
    import ray  # noqa: F401
    import ray.data  # noqa: F401
except ImportError as exc:  # the default install has no Ray; `make test-scale` installs the scale extra
    ray_missing = (f"Ray is not installed ({exc}): it comes with the optional scale extra, which "
                   f"`make test-scale` installs (or pip install -r requirements-scale.txt).")


def needs_ray(test):
    """A test of the optional scale extra: run by `make test-scale`, skipped with a sentence without Ray."""
    return pytest.mark.scale(pytest.mark.skipif(ray_missing is not None, reason=ray_missing or "")(test))


@pytest.fixture(scope="module")
def net():
    return build_network("alexnet2012")


def tables(out: Path) -> dict:
    """Every row of an index, keyed for comparison: files, skipped, maxima and fc7 per digest."""
    con = sqlite3.connect(out / S.FILENAME)
    try:
        return {"files": dict(con.execute("SELECT path, digest FROM files")),
                "skipped": sorted(con.execute("SELECT path, reason FROM skipped")),
                "maxima": {(d, layer): (S.floats(v), S.positions(p))
                           for d, layer, v, p in con.execute("SELECT digest, layer, value, pos FROM maxima")},
                "fc7": {d: S.floats(f) for d, f in con.execute("SELECT digest, fc7 FROM features")},
                "meta": dict(con.execute("SELECT key, value FROM meta WHERE key != 'root'"))}
    finally:
        con.close()


@pytest.mark.slow
@needs_ray
def test_the_ray_index_equals_the_local_one(net, tmp_path, monkeypatch):
    photos = make_folder(tmp_path / "photos", net)
    local = av.build_index(photos, net, tmp_path / "local", batch_size=4)
    # Ray keeps its sockets and logs under RAY_TMPDIR (default /tmp/ray); a short private one,
    # removed afterwards (a socket path may not exceed 107 characters).
    ray_tmp = tempfile.mkdtemp(prefix="avray", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    calls = []
    try:
        report = av.build_index(photos, net, tmp_path / "ray", batch_size=4, ray="local", ray_cpus=2,
                                progress=lambda d, t: calls.append((d, t)))
        assert not ray.is_initialized()  # the Ray it started is shut down
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)

    assert (report.indexed, report.reused, report.images) == (local.indexed, local.reused, local.images) == (10, 1, 11)
    assert report.skipped == local.skipped and len(report.skipped) == 3
    assert calls[0] == (0, 13) and calls[-1] == (13, 13) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    a, b = tables(tmp_path / "local"), tables(tmp_path / "ray")
    assert a["files"] == b["files"] and a["skipped"] == b["skipped"] and a["meta"] == b["meta"]
    assert set(a["maxima"]) == set(b["maxima"]) and len(a["maxima"]) == 10 * len(map_layers(net.arch))
    for key, (value, pos) in a["maxima"].items():
        np.testing.assert_allclose(b["maxima"][key][0], value, rtol=1e-4, atol=1e-6)
        assert np.array_equal(b["maxima"][key][1], pos), key
    assert set(a["fc7"]) == set(b["fc7"])
    for digest, fc7 in a["fc7"].items():
        # Ray's workers run torch on one thread and this process on two: float32 sums in another
        # order. Near zero that is the vector's rounding, not the element's: 1.3e-6 was seen on an
        # AMD EPYC (element 2.9e-4 of a vector up to ~2), so atol is 1e-5 of the vector's scale.
        np.testing.assert_allclose(b["fc7"][digest], fc7, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(fc7).max())))
    # The Ray index answers as the local one does.
    ix_a, ix_b = av.open_index(tmp_path / "local", net=net), av.open_index(tmp_path / "ray", net=net)
    assert [p for p, _, _ in ix_a.top_images("relu1", 5, k=4)] == [p for p, _, _ in ix_b.top_images("relu1", 5, k=4)]


def test_the_decoding_worker_skips_contents_the_index_holds(net, tmp_path):
    from alexnet_viz.index.ray_build import _Decode
    from alexnet_viz.index.walk import read_digest

    noise(1).save(tmp_path / "old.png")
    noise(2).save(tmp_path / "new.png")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    paths = np.array([str(tmp_path / n) for n in ("old.png", "new.png", "bad.jpg")], dtype=object)
    out = _Decode(net.name, frozenset({read_digest(tmp_path / "old.png")}))({"path": paths})
    assert out["digest"][:2] == [read_digest(tmp_path / "old.png"), read_digest(tmp_path / "new.png")]
    assert out["x"][0] == b"" and out["error"][0] == ""  # held already: digested, not decoded
    x = np.frombuffer(out["x"][1], dtype="<f4").reshape(1, 3, 227, 227)
    assert np.array_equal(x, net.preprocess(av.load_image(tmp_path / "new.png")).numpy())
    assert out["x"][2] == b"" and out["error"][2]  # a file that is not a photo: its reason


@needs_ray
def test_the_network_worker_equals_the_local_pass_and_refuses_other_weights(net, tmp_path):
    import torch

    from alexnet_viz.index.ray_build import _Forward

    state = {k: v.clone() for k, v in net.body.state_dict().items()}
    layers = map_layers(net.arch)
    worker = _Forward(net.name, net.weights, state, S.fingerprint(net), layers, "cpu")
    x = net.preprocess(noise(3))
    out = worker({"path": np.array(["a", "b"], dtype=object), "digest": np.array(["d1", "d2"], dtype=object),
                  "error": np.array(["", ""], dtype=object),
                  "x": np.array([b"", x.numpy().astype("<f4").tobytes()], dtype=object)})
    assert out["fc7"][0] == b"" and out["value:relu5"][0] == b""  # nothing to run for a held content
    with torch.no_grad():
        acts = net.activations(x, upto="fc7")
    np.testing.assert_allclose(S.floats(out["fc7"][1]), acts["fc7"][0].numpy(), rtol=1e-5, atol=1e-6)
    for _, name, value, pos in S.rows_for(["d2"], acts, layers)[0]:
        assert out[f"value:{name}"][1] == value and out[f"pos:{name}"][1] == pos
    state["fc8.weight"] = state["fc8.weight"] + 1
    with pytest.raises(RuntimeError, match="differs from the driver's"):
        _Forward(net.name, net.weights, state, S.fingerprint(net), layers, "cpu")


def test_without_ray_asking_for_it_is_one_sentence(net, tmp_path, monkeypatch, capsys):
    (tmp_path / "photos").mkdir()
    noise(0).save(tmp_path / "photos" / "a.png")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as in the default install
    with pytest.raises(ValueError, match=r"pip install 'alexnet-viz\[scale\]'"):
        av.build_index(tmp_path / "photos", net, tmp_path / "ix", ray="local")
    monkeypatch.setattr(cli, "_network_for", lambda args: net)
    assert cli.main(["index", str(tmp_path / "photos"), "--out", str(tmp_path / "ix2"), "--ray", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "alexnet-viz[scale]" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="'local'"):
        av.build_index(tmp_path / "photos", net, tmp_path / "ix3", ray="cluster")


@needs_ray
def test_ray_auto_without_a_cluster_is_one_sentence(tmp_path, monkeypatch):
    from alexnet_viz.index.ray_build import ray_session

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray_tmp = tempfile.mkdtemp(prefix="avray", dir="/tmp")  # where Ray looks for a running cluster: none
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    try:
        with pytest.raises(ValueError, match="no running Ray cluster.*--ray local"):
            with ray_session("auto"):
                pass
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not ray.is_initialized()
