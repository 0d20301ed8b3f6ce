"""Weight paths a careless or hostile person might give: each is refused with a sentence, quickly,
without reading it, without building a network, and without the memory or the hang it used to
cost (a device read to the end, a FIFO that never answers, a 1 GB file read whole).

Each hostile path runs in a child process with a time limit (a hang fails the test instead of
hanging the suite) that reports how much its resident memory grew during the call.
"""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import alexnet_viz as av
from alexnet_viz import body as B
from alexnet_viz import network as N
from alexnet_viz import weights as W

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import json, resource, sys
    import alexnet_viz as av
    from alexnet_viz import weights as W
    calls = {"network": lambda p: av.load_network("alexnet2012", p, device="cpu"),
             "caffemodel": av.read_caffemodel,
             "state_dict": lambda p: W.state_dict_from_path(p, "alexnet2012")}
    for line in sys.stdin:
        what, path = json.loads(line)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; a high-water mark
        try:
            calls[what](path)
            error = None
        except av.WeightsError as exc:
            error = str(exc)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({"what": what, "path": path, "error": error, "grew_mib": grew / 1024}), flush=True)
""")

WHATS = ("network", "caffemodel", "state_dict")
KINDS = {
    "/dev/zero": "is a device, not a weight file",
    "/dev/urandom": "is a device, not a weight file",
    "link to /dev/zero": "is a device, not a weight file",
    "fifo": "is a named pipe (FIFO), not a weight file",
    "folder": "is a folder, not a weight file",
    "huge": "1,024 MiB, more than the 512 MiB",
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("paths")
    fifo = d / "weights.fifo"
    os.mkfifo(fifo)
    big = d / "huge.caffemodel"
    with open(big, "wb") as f:
        f.truncate(2**30)  # sparse: 1 GiB on paper, nothing on disk
    link = d / "zero.pt"
    link.symlink_to("/dev/zero")
    folder = d / "folder.pt"
    folder.mkdir()
    return {"fifo": fifo, "huge": big, "link to /dev/zero": link, "folder": folder,
            "/dev/zero": Path("/dev/zero"), "/dev/urandom": Path("/dev/urandom")}


@pytest.fixture(scope="module")
def refusals(paths) -> dict[tuple[str, str], dict]:
    """Every (call, hostile path) in one child process with a time limit; its answers by key."""
    cases = [(what, kind) for kind in KINDS for what in WHATS]
    stdin = "".join(json.dumps([what, str(paths[kind])]) + "\n" for what, kind in cases)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD], input=stdin, env=env, capture_output=True,
                          text=True, timeout=120)  # a hang guard, not a speed check
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(cases)
    return dict(zip(cases, answers))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes and /dev/zero need POSIX")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("what", WHATS)
def test_hostile_paths_are_refused_without_reading_them(refusals, kind, what):
    got = refusals[(what, kind)]
    assert got["error"] is not None and KINDS[kind] in got["error"], got
    # Reading /dev/zero took 2.2 GB a second, and building the network 240 MB: neither happens.
    assert got["grew_mib"] < 64, got


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.pt"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with pytest.raises(av.WeightsError, match="is a socket, not a weight file"):
            W.state_dict_from_path(path, "alexnet2012")


def test_a_missing_file_and_a_nul_in_the_path_are_sentences(tmp_path):
    with pytest.raises(av.WeightsError, match="There is no weight file at"):
        W.check_weight_path(tmp_path / "nope.pt")
    with pytest.raises(av.WeightsError, match="could not be read"):
        W.check_weight_path("bad\0name.pt")


def test_a_fifo_swapped_in_after_the_check_cannot_hang_the_open(tmp_path, monkeypatch):
    """The check is on stat, the open is non-blocking and checked again on the descriptor."""
    path = tmp_path / "w.pt"
    os.mkfifo(path)
    real = os.stat(path)
    fake = os.stat_result((stat.S_IFREG | 0o644, *real[1:6], 1000, *real[7:]))
    monkeypatch.setattr(W.files.os, "stat", lambda p, *a, **k: fake)  # the check sees a regular file
    with pytest.raises(av.WeightsError, match="named pipe"):
        W.open_weight_file(path).close()  # would block forever with a blocking open


def test_no_network_is_built_before_a_bad_path_is_refused(monkeypatch, tmp_path):
    built = []
    real = N.build_body
    monkeypatch.setattr(N, "build_body", lambda arch: built.append(arch.name) or real(arch))
    with pytest.raises(av.WeightsError):
        av.load_network("alexnet2012", str(tmp_path / "missing.pt"), device="cpu")
    with pytest.raises(av.WeightsError):
        av.load_network("alexnet2012", "/dev/zero", device="cpu")
    assert built == []
    av.load_network("alexnet2012", "untrained", device="cpu")
    assert built == ["alexnet2012"]  # the counter counts


def test_a_regular_weight_file_still_loads(tmp_path):
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in B.build_body(av.get_architecture("torchvision")).state_dict().items()}
    state = {k: torch.zeros(s) for k, s in shapes.items()}
    path = W.save_state_dict(state, tmp_path / "tv.pt")
    net = av.load_network("torchvision", str(path), device="cpu")
    assert net.weights == "from file tv.pt"
    assert float(net.body.features[0].weight.abs().sum()) == 0.0


def test_the_cli_refuses_a_device_in_one_line(tmp_path):
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 200, 30)).save(photo)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "alexnet_viz", "predict", str(photo), "--weights", "/dev/zero"],
                          env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["alexnet-viz predict: /dev/zero is a device, not a weight file; give the "
                                        "path of a .caffemodel or a saved PyTorch state dict."]
