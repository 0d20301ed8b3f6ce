"""Weights: the registry, verified downloads into the cache, offline mode, local files, the CLI.

A local HTTP server on 127.0.0.1 stands in for the weight hosts. State dicts with the real
shapes are kept tiny by saving expanded (stride-0) tensors: torch stores one value per tensor.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from alexnet_viz import WeightsError, load_network
from alexnet_viz import weights as W
from alexnet_viz.weights import downloads as D
from alexnet_viz.weights.caffe import read_caffe_state_dict, write_caffemodel
from alexnet_viz.cli import main
from localserver import LocalServer

PAYLOAD = bytes(range(256)) * (12 * 1024)  # 3 MiB: several 1 MiB chunks


def sha(data: bytes, algo: str = "sha1") -> str:
    return hashlib.new(algo, data).hexdigest()


def tiny_state(model: str, offset: float = 0.0) -> dict[str, torch.Tensor]:
    """``model``'s state dict with the real shapes, entry i filled with offset + i (tiny on disk)."""
    return {k: torch.full((), offset + i).expand(shape) if shape else torch.tensor(0)
            for i, (k, shape) in enumerate(W.expected_shapes(model).items())}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder, no torch hub cache, and the network allowed (to 127.0.0.1 only)."""
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ALEXNET_VIZ_OFFLINE", raising=False)
    return tmp_path / "home" / "weights"


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


def serve_as_torchvision(monkeypatch, server: LocalServer, name: str, body: bytes, checksum: str | None) -> None:
    """Point the torchvision source at ``name`` on the local server."""
    server.files[name] = body
    src = W.SOURCES[("torchvision", "pretrained")]
    monkeypatch.setitem(W.SOURCES, ("torchvision", "pretrained"), replace(src, url=server.url(name), checksum=checksum))


# -- the registry ------------------------------------------------------------------------------

def test_registry_names_the_real_sources_and_their_checks():
    caffe = W.source("alexnet2012")
    assert caffe.url == "http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel"
    assert caffe.expected() == ("sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377")
    assert caffe.cached_name == "bvlc_alexnet.pt"
    tv = W.source("torchvision")
    from torchvision.models import AlexNet_Weights

    assert tv.url == AlexNet_Weights.IMAGENET1K_V1.url
    assert tv.expected() == ("sha256", "7be5be79")  # alexnet-owt-7be5be79.pth
    for src in W.SOURCES.values():
        assert src.licence and src.description and src.size_mib > 100


def test_no_pretrained_weights_for_the_keras_variant_says_what_to_use():
    with pytest.raises(WeightsError, match="no pretrained weights for keras-tutorial.*untrained"):
        load_network("keras-tutorial", "pretrained", device="cpu")


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path))
    assert W.cache_dir() == tmp_path
    monkeypatch.delenv("ALEXNET_VIZ_HOME")
    import platformdirs

    assert W.cache_dir() == Path(platformdirs.user_cache_dir("alexnet-viz"))


# -- downloading ----------------------------------------------------------------------------------

def test_download_reports_progress_and_keeps_only_the_verified_file(home, server, monkeypatch):
    server.files["w.bin"] = PAYLOAD
    monkeypatch.setattr(D, "PROGRESS_EVERY_S", 0.0)  # report every chunk
    calls: list[tuple[int, int | None]] = []
    dest = W.download(server.url("w.bin"), home / "w.bin", "sha1", sha(PAYLOAD),
                      progress=lambda done, total: calls.append((done, total)))
    assert dest.read_bytes() == PAYLOAD
    assert calls[0] == (0, len(PAYLOAD)) and calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(calls) >= 4  # one per chunk, not just start and end
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))
    assert {t for _, t in calls} == {len(PAYLOAD)}
    assert leftovers(home) == []


def test_a_file_failing_its_checksum_is_removed(home, server):
    server.files["w.bin"] = PAYLOAD
    with pytest.raises(WeightsError, match="failed verification.*removed"):
        W.download(server.url("w.bin"), home / "w.bin", "sha1", sha(b"something else"))
    assert not (home / "w.bin").exists()
    assert leftovers(home) == []


def test_an_interrupted_download_leaves_nothing_a_later_run_trusts(home, server, monkeypatch):
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", PAYLOAD, "sha1:" + sha(PAYLOAD))
    server.cut["alexnet-x.pth"] = len(PAYLOAD) // 3  # the server hangs up mid-body
    with pytest.raises(WeightsError, match="(broke off|stopped) after .*run again"):
        W.fetch("torchvision")
    assert not (home / "alexnet-x.pth").exists()
    assert leftovers(home) == []
    del server.cut["alexnet-x.pth"]
    assert W.fetch("torchvision").read_bytes() == PAYLOAD  # the next run starts over and succeeds


def test_ctrl_c_during_a_download_leaves_no_file(home, server):
    server.files["w.bin"] = PAYLOAD

    def interrupt(done: int, total: int | None) -> None:
        if done > 1_000_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        W.download(server.url("w.bin"), home / "w.bin", "sha1", sha(PAYLOAD), progress=interrupt)
    assert list(home.iterdir()) == []


def test_temp_files_of_a_killed_download_are_cleared_by_the_next_one(home, server):
    server.files["w.bin"] = PAYLOAD
    home.mkdir(parents=True)
    dead = home / ".w.bin.abc123.part"  # what a killed process leaves behind
    dead.write_bytes(PAYLOAD[:1000])
    os.utime(dead, (0, 0))
    live = home / ".w.bin.def456.part"  # another process, still writing: left alone
    live.write_bytes(b"")
    W.download(server.url("w.bin"), home / "w.bin", "sha1", sha(PAYLOAD))
    assert leftovers(home) == [live.name]


def test_temp_files_of_a_killed_conversion_are_cleared_by_the_next_one(home, monkeypatch):
    home.mkdir(parents=True)
    raw = home / "bvlc_alexnet.caffemodel"  # a verified download whose conversion was killed
    raw.write_bytes(PAYLOAD)
    dead = home / ".bvlc_alexnet.pt.abc123.part"  # the half-written torch file it left
    dead.write_bytes(PAYLOAD[:1000])
    os.utime(dead, (0, 0))
    src = W.SOURCES[("alexnet2012", "pretrained")]
    monkeypatch.setitem(W.SOURCES, ("alexnet2012", "pretrained"), replace(
        src, checksum="sha1:" + sha(PAYLOAD), converter=lambda path, model: tiny_state(model)))
    monkeypatch.setenv("ALEXNET_VIZ_OFFLINE", "1")  # the download is there: converting needs no network
    assert W.fetch("alexnet2012") == home / "bvlc_alexnet.pt"
    assert sorted(p.name for p in home.iterdir()) == ["bvlc_alexnet.pt", "bvlc_alexnet.pt.sha256"]


def test_an_unwritable_cache_folder_is_a_weights_error(home, server, monkeypatch, tmp_path):
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", PAYLOAD, "sha1:" + sha(PAYLOAD))
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path / "file"))
    with pytest.raises(WeightsError, match="Could not write to the cache folder.*ALEXNET_VIZ_HOME"):
        W.fetch("torchvision")


def test_a_damaged_cached_file_is_fetched_again(home, server, monkeypatch):
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", PAYLOAD, "sha1:" + sha(PAYLOAD))
    path = W.fetch("torchvision")
    assert W.fetch("torchvision") == path and server.requests["alexnet-x.pth"] == 1  # cached
    with open(path, "r+b") as f:  # one flipped byte
        f.seek(1000)
        f.write(b"\xff" if PAYLOAD[1000] != 255 else b"\x00")
    assert W.fetch("torchvision").read_bytes() == PAYLOAD
    assert server.requests["alexnet-x.pth"] == 2


def test_network_errors_are_sentences(home, server):
    with pytest.raises(WeightsError, match="answered 404"):
        W.download(server.url("missing.bin"), home / "m.bin", "sha1", "00")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="Could not reach 127.0.0.1"):
        W.download(f"http://127.0.0.1:{port}/w.bin", home / "w.bin", "sha1", "00")
    assert leftovers(home) == [] and not (home / "w.bin").exists()


@pytest.mark.parametrize("sent", [0, 1000])
def test_a_host_that_stops_answering_is_an_error_not_a_hang(home, server, monkeypatch, sent):
    """Headers then silence (sent = 0), or part of the body then silence: each read times out."""
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", PAYLOAD, "sha1:" + sha(PAYLOAD))
    server.stall["alexnet-x.pth"] = sent
    monkeypatch.setattr(D, "TIMEOUT_S", 0.5)  # the app's default is 30 s per read
    with pytest.raises(WeightsError, match="broke off.*timed out.*run again"):
        load_network("torchvision", "pretrained", device="cpu")
    assert leftovers(home) == [] and not (home / "alexnet-x.pth").exists()


def test_a_host_that_accepts_but_never_replies_is_an_error_not_a_hang(home, monkeypatch):
    import socket

    with socket.socket() as s:  # listens, so the connection is made, but nobody ever answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        src = W.SOURCES[("torchvision", "pretrained")]
        url = f"http://127.0.0.1:{s.getsockname()[1]}/alexnet-x.pth"
        monkeypatch.setitem(W.SOURCES, ("torchvision", "pretrained"), replace(src, url=url, checksum="sha1:00"))
        monkeypatch.setattr(D, "TIMEOUT_S", 0.5)
        with pytest.raises(WeightsError, match="Could not reach 127.0.0.1.*timed out"):
            W.fetch("torchvision")
    assert leftovers(home) == []


def test_two_sessions_asking_at_once_share_one_verified_download(home, server, monkeypatch):
    state = tiny_state("torchvision", offset=4.0)
    buf = io.BytesIO()
    torch.save(state, buf)
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", buf.getvalue(), "sha1:" + sha(buf.getvalue()))
    start = threading.Barrier(2)

    def session(_: int):
        start.wait()
        # a slow connection, so the second session asks while the first is still downloading
        return load_network("torchvision", "pretrained", device="cpu", progress=lambda d, t: time.sleep(0.05))

    with ThreadPoolExecutor(2) as pool:
        nets = list(pool.map(session, range(2)))
    assert server.requests["alexnet-x.pth"] == 1
    assert all(float(n.body.features[0].bias[0]) == 5.0 for n in nets)  # offset 4 + index 1
    assert leftovers(home) == []


def test_a_download_converted_meanwhile_by_another_process_is_used(home, monkeypatch, tmp_path):
    """The process lock cannot see another process (the CLI's download beside the app): if it
    converts the file and removes the download between our check and our read, we use its result."""
    raw = home / "bvlc_alexnet.caffemodel"
    home.mkdir(parents=True)
    write_caffemodel(raw, {"conv1": [torch.zeros(2, 3, 1, 1).numpy(), torch.zeros(2).numpy()]})
    state = tiny_state("alexnet2012", offset=3.0)

    def convert_while_another_process_finishes(path: Path, model: str):
        W.save_state_dict(state, home / "bvlc_alexnet.pt", sidecar=True)  # the other process's work
        path.unlink()
        return read_caffe_state_dict(path, model)  # as the real converter does: the file is gone

    src = W.SOURCES[("alexnet2012", "pretrained")]
    monkeypatch.setitem(W.SOURCES, ("alexnet2012", "pretrained"), replace(
        src, url="http://127.0.0.1:9/bvlc_alexnet.caffemodel", checksum="sha1:" + sha(raw.read_bytes()),
        converter=convert_while_another_process_finishes))
    net = load_network("alexnet2012", "pretrained", device="cpu")
    assert float(net.body.conv1.bias[0]) == 4.0  # offset 3 + index 1: the other process's file


# -- offline ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_offline_with_nothing_cached_names_both_ways_out_without_touching_the_network(
        home, server, monkeypatch, model):
    src = W.SOURCES[(model, "pretrained")]
    server.files[src.filename] = PAYLOAD
    monkeypatch.setitem(W.SOURCES, (model, "pretrained"), replace(src, url=server.url(src.filename)))
    monkeypatch.setenv("ALEXNET_VIZ_OFFLINE", "1")
    with pytest.raises(WeightsError) as err:
        load_network(model, "pretrained", device="cpu")
    msg = str(err.value)
    assert "ALEXNET_VIZ_OFFLINE" in msg
    assert f"python -m alexnet_viz download --model {model}" in msg
    assert "--weights" in msg
    assert server.requests == {}
    net = load_network(model, "pretrained", device="cpu", fallback_to_untrained=True)
    assert net.weights == "untrained" and "download" in net.weights_error


# -- torchvision's weights, end to end --------------------------------------------------------------

def test_torchvision_pretrained_downloads_checks_the_hash_prefix_and_loads(home, server, monkeypatch, tmp_path):
    state = tiny_state("torchvision", offset=0.5)
    torch.save(state, tmp_path / "sd.pth")
    body = (tmp_path / "sd.pth").read_bytes()
    name = f"alexnet-test-{sha(body, 'sha256')[:8]}.pth"  # torchvision's naming: hash prefix
    serve_as_torchvision(monkeypatch, server, name, body, checksum=None)
    seen = []
    net = load_network("torchvision", "pretrained", device="cpu", progress=lambda d, t: seen.append((d, t)))
    assert "torchvision" in net.weights and seen[-1] == (len(body), len(body))
    for key, value in net.body.state_dict().items():
        assert torch.equal(value, state[key].expand_as(value)), key
    # a file whose name promises another hash is refused
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path / "other"))
    serve_as_torchvision(monkeypatch, server, "alexnet-test-00000000.pth", body, checksum=None)
    with pytest.raises(WeightsError, match="failed verification.*begin 00000000"):
        load_network("torchvision", "pretrained", device="cpu")


def test_torchvision_weights_already_in_torchs_hub_cache_are_used_offline(home, monkeypatch, tmp_path):
    state = tiny_state("torchvision", offset=2.0)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, tmp_path / "sd.pth")
    body = (tmp_path / "sd.pth").read_bytes()
    name = f"alexnet-owt-{sha(body, 'sha256')[:8]}.pth"
    (hub / name).write_bytes(body)
    src = W.SOURCES[("torchvision", "pretrained")]
    monkeypatch.setitem(W.SOURCES, ("torchvision", "pretrained"), replace(src, url=f"http://127.0.0.1:9/{name}"))
    monkeypatch.setenv("ALEXNET_VIZ_OFFLINE", "1")
    net = load_network("torchvision", "pretrained", device="cpu")
    assert float(net.body.features[0].bias[0]) == 3.0  # offset 2 + index 1 (conv1's bias)


# -- local files -----------------------------------------------------------------------------------

def test_a_state_dict_file_loads_into_its_variant(tmp_path):
    state = tiny_state("alexnet2012", offset=1.0)
    path = tmp_path / "mine.pt"
    torch.save({f"body.{k}": v for k, v in state.items()}, path)  # as Network.state_dict() names them
    net = load_network("alexnet2012", str(path), device="cpu")
    assert net.weights == "from file mine.pt"
    assert float(net.body.conv1.weight[5, 1, 2, 3]) == 1.0 and float(net.body.fc8.bias[7]) == 16.0


def test_weights_for_another_variant_are_refused_with_what_they_are(tmp_path):
    path = tmp_path / "tv.pth"
    torch.save(tiny_state("torchvision"), path)
    with pytest.raises(WeightsError, match=r"single-tower AlexNet \(conv1 has 64 kernels\); choose the torchvision model"):
        load_network("alexnet2012", str(path), device="cpu")
    path2 = tmp_path / "a12.pt"
    torch.save(tiny_state("alexnet2012"), path2)
    with pytest.raises(WeightsError, match="two-tower AlexNet.*choose the alexnet2012 model"):
        load_network("torchvision", str(path2), device="cpu")


def test_a_state_dict_with_a_wrong_shape_names_the_layer(tmp_path):
    state = tiny_state("alexnet2012")
    state["conv2.weight"] = torch.zeros(()).expand(256, 96, 5, 5)  # no groups
    path = tmp_path / "nogroups.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"conv2.weight has shape \(256, 96, 5, 5\) but alexnet2012 needs \(256, 48, 5, 5\)"):
        load_network("alexnet2012", str(path), device="cpu")


def test_a_pickled_model_is_not_unpickled(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: loading it would run pickle code
    with pytest.raises(WeightsError, match="could run code.*state_dict"):
        load_network("alexnet2012", str(path), device="cpu")


def legacy_torch_file() -> bytes:
    """A state dict in torch's pre-1.6 (plain pickle) format, which starts with byte 0x80."""
    buf = io.BytesIO()
    torch.save({"conv1.bias": torch.zeros(96)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "There is no weight file at"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("name,weight\nconv1,0.5\n"), "neither a saved PyTorch state dict nor a Caffe caffemodel"),
    # fixed bytes, not os.urandom: a random first byte of 0x80 (1 in 256) reads as a pickle
    (lambda p: p.write_bytes(b"\x01" + random.Random(0).randbytes(4095)),
     "neither a saved PyTorch state dict nor a Caffe caffemodel"),
    (lambda p: p.write_bytes(b"\x80\x02" + random.Random(1).randbytes(4094)), "is damaged.*download it again"),
    (lambda p: p.write_bytes(b"\x80"), "neither a saved PyTorch state dict nor a Caffe caffemodel"),
    (lambda p: p.write_bytes(b"\x80\xf5" + random.Random(1).randbytes(4094)),
     "neither a saved PyTorch state dict nor a Caffe caffemodel"),
    (lambda p: p.write_bytes(legacy_torch_file()[:40]), "ends early.*partial download"),
    (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "could not be read as a PyTorch file"),
])
def test_bad_paths_get_sentences(tmp_path, make, message):
    path = tmp_path / "weights.bin"
    make(path)
    with pytest.raises(WeightsError, match=message):
        load_network("alexnet2012", str(path), device="cpu")


def test_a_caffemodel_given_to_torchvision_is_refused(tmp_path):
    path = tmp_path / "small.caffemodel"
    write_caffemodel(path, {"conv1": [torch.zeros(96, 3, 11, 11).numpy(), torch.zeros(96).numpy()]})
    with pytest.raises(WeightsError, match="caffemodels load into the alexnet2012 model"):
        load_network("torchvision", str(path), device="cpu")
    with pytest.raises(WeightsError, match="no layer named 'conv2'.*bvlc_alexnet-shaped"):
        load_network("alexnet2012", str(path), device="cpu")


# -- the command line ------------------------------------------------------------------------------

def test_cli_download_shows_progress_and_then_reports_the_cache(home, server, monkeypatch, capsys):
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", PAYLOAD, "sha1:" + sha(PAYLOAD))
    assert main(["download", "--model", "torchvision"]) == 0
    out, err = capsys.readouterr()
    assert "3.1/3.1 MB" in err and "100%" in err
    assert str(home / "alexnet-x.pth") in out
    assert main(["download", "--model", "torchvision"]) == 0  # the second time: checked, not fetched
    assert server.requests["alexnet-x.pth"] == 1


def test_cli_predict_shows_the_progress_of_a_first_download(home, server, monkeypatch, capsys, tmp_path):
    buf = io.BytesIO()
    torch.save(tiny_state("torchvision", offset=0.25), buf)
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", buf.getvalue(), "sha1:" + sha(buf.getvalue()))
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 200, 30)).save(tmp_path / "green.png")
    assert main(["predict", str(tmp_path / "green.png"), "--model", "torchvision", "--top", "1"]) == 0
    out, err = capsys.readouterr()
    assert "downloading alexnet-x.pth" in err and "100%" in err
    assert "torchvision AlexNet_Weights" in out and "  1. " in out


def test_cli_download_offline_fails_with_one_sentence(home, monkeypatch, capsys):
    monkeypatch.setenv("ALEXNET_VIZ_OFFLINE", "1")
    assert main(["download"]) == 2
    err = capsys.readouterr().err
    assert "alexnet-viz download:" in err and "Traceback" not in err and "--weights" in err


def test_cli_convert_caffe_rejects_a_file_that_is_not_a_caffemodel(tmp_path, capsys):
    src = tmp_path / "x.caffemodel"
    src.write_text("hello")
    assert main(["convert-caffe", str(src), str(tmp_path / "out.pt")]) == 2
    assert "not a caffemodel" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def test_cli_convert_caffe_to_a_place_it_cannot_write_names_that_place(tmp_path, monkeypatch, capsys):
    import alexnet_viz.weights.local

    monkeypatch.setattr(alexnet_viz.weights.local, "read_caffe_state_dict", lambda src, model: tiny_state(model))
    (tmp_path / "a-file").write_text("not a folder")
    dst = tmp_path / "a-file" / "out.pt"
    assert main(["convert-caffe", str(tmp_path / "in.caffemodel"), str(dst)]) == 2
    err = capsys.readouterr().err
    assert f"Could not write {dst}" in err and ".part" not in err
    assert main(["convert-caffe", str(tmp_path / "in.caffemodel"), str(tmp_path)]) == 0  # a folder: in.pt inside
    assert load_network("alexnet2012", str(tmp_path / "in.pt"), device="cpu").weights == "from file in.pt"


def test_a_host_that_trickles_bytes_is_given_up_as_stalled(home, server, monkeypatch):
    """One byte every 0.05 s never trips the per-read timeout, but is far below the minimum rate.
    (Small enough that without the guard it would finish in 20 s and the test would fail.)"""
    small = PAYLOAD[:400]
    serve_as_torchvision(monkeypatch, server, "alexnet-x.pth", small, "sha1:" + sha(small))
    server.trickle["alexnet-x.pth"] = 0.05
    monkeypatch.setattr(D, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(D, "STALL_WINDOW_S", 1.0)
    monkeypatch.setattr(D, "MIN_BYTES_PER_S", 1000)
    with pytest.raises(WeightsError, match="has stalled.*run again"):
        load_network("torchvision", "pretrained", device="cpu")
    assert leftovers(home) == [] and not (home / "alexnet-x.pth").exists()


def test_progress_reports_are_throttled_but_always_end_at_the_total(home, server, monkeypatch):
    server.files["w.bin"] = PAYLOAD
    monkeypatch.setattr(D, "PROGRESS_EVERY_S", 3600.0)
    calls: list[tuple[int, int | None]] = []
    W.download(server.url("w.bin"), home / "w.bin", "sha1", sha(PAYLOAD),
               progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, len(PAYLOAD)), (len(PAYLOAD), len(PAYLOAD))]
