"""The command line, as a user meets it: `python -m alexnet_viz …` and the `alexnet-viz` script."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from alexnet_viz import cli
from alexnet_viz import weights as W
from alexnet_viz.architecture import get_architecture
from alexnet_viz.network import class_names

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, script: bool = False) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, importing this checkout's alexnet_viz."""
    exe = [str(Path(sys.executable).with_name("alexnet-viz"))] if script else [sys.executable, "-m", "alexnet_viz"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ALEXNET_VIZ_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*exe, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "orange.png"
    Image.new("RGB", (320, 240), (240, 140, 20)).save(path)
    return path


# -- shapes --------------------------------------------------------------------------------------
def test_shapes_prints_an_aligned_table_of_every_layer(capsys):
    assert cli.main(["shapes"]) == 0
    out = capsys.readouterr().out
    assert "60,965,224 parameters" in out and "724,406,816 multiply-accumulates" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    table = lines[header + 2:header + 2 + len(get_architecture("alexnet2012").layers)]
    assert [line.split()[0] for line in table] == get_architecture("alexnet2012").names()
    conv1 = next(line for line in table if line.startswith("conv1 "))
    assert "96×55×55" in conv1 and "105,415,200" in conv1 and "(227 − 11 + 2·0)/4 + 1 = 55" in conv1
    # Aligned: every row's output column starts where the header's does; numbers end together.
    col = lines[header].index("output")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in table)
    params_end = lines[header].index("params") + len("params")
    assert table[0][params_end - len("34,944"):params_end] == "34,944"
    assert "!" not in out  # 227 is exact everywhere


def test_shapes_json_has_the_documented_fields():
    done = run("shapes", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"model", "input_size", "total_params", "layers"}
    assert (data["model"], data["input_size"], data["total_params"]) == ("alexnet2012", 227, 60_965_224)
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert list(layers) == get_architecture("alexnet2012").names()
    assert {"name", "kind", "output_shape", "params", "macs", "receptive_field", "exact"} <= set(layers["conv1"])
    assert layers["conv1"]["output_shape"] == [96, 55, 55] and layers["fc6"]["output_shape"] == [4096]
    assert layers["conv1"]["macs"] == 105_415_200 and layers["conv1"]["kind"] == "conv"
    assert layers["pool5"]["receptive_field"] == {"size": 195, "jump": 32, "start": 33.0}
    assert layers["conv5"]["towers"] == [128, 128] and layers["conv1"]["exact"] is True


def test_shapes_for_other_models_and_sizes(capsys):
    assert cli.main(["shapes", "--model", "torchvision", "--input-size", "256", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 61_100_840 and data["layers"][0]["output_shape"] == [64, 63, 63]
    assert cli.main(["shapes", "--input-size", "224"]) == 0
    out = capsys.readouterr().out
    assert "conv1 !" in out and "! conv1: conv1's output side is 54.25" in out


def test_shapes_at_a_size_the_net_cannot_take_shows_why_and_is_not_an_error(capsys):
    assert cli.main(["shapes", "--input-size", "256"]) == 0
    out = capsys.readouterr().out
    assert "it cannot run at this size" in out
    assert out.rstrip().endswith("The network cannot run at 256×256: its first fc layer expects 9216 inputs, "
                                 "but the last pooling layer gives 256 × 7 × 7 = 12544.")
    assert cli.main(["shapes", "--input-size", "256", "--json"]) == 0
    layers = {layer["name"]: layer for layer in json.loads(capsys.readouterr().out)["layers"]}
    assert layers["pool5"]["output_shape"] == [256, 7, 7] and layers["fc6"]["output_shape"] is None
    assert "expects 9216 inputs" in layers["fc6"]["problem"]


# -- predict -------------------------------------------------------------------------------------
def test_predict_json_gives_the_top_classes(photo, capsys):
    assert cli.main(["predict", str(photo), "--weights", "untrained", "--top", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"model", "weights", "device", "top"}
    assert (data["model"], data["weights"], data["device"]) == ("alexnet2012", "untrained", "cpu")
    assert [set(t) for t in data["top"]] == [{"index", "label", "probability"}] * 3
    names = class_names("alexnet2012")
    assert all(names[t["index"]] == t["label"] for t in data["top"])
    probs = [t["probability"] for t in data["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1


def test_predict_as_text_lists_ranked_classes(photo, capsys):
    assert cli.main(["predict", str(photo), "--model", "torchvision", "--weights", "untrained", "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "torchvision, weights untrained, on cpu" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2."] and all("%" in line for line in lines[1:])


def test_predict_uses_pretrained_weights_by_default_and_a_weights_error_is_one_line(photo, monkeypatch, capsys):
    asked = []

    def unavailable(model, weights, progress=None):
        asked.append(weights)
        raise W.WeightsError("The pretrained weights are not cached and downloads are off; run alexnet-viz download.")

    monkeypatch.setattr(W, "state_dict_for", unavailable)
    assert cli.main(["predict", str(photo)]) == 2
    err = capsys.readouterr().err
    assert asked == ["pretrained"]
    assert err.splitlines() == ["alexnet-viz predict: The pretrained weights are not cached and downloads are off; "
                                "run alexnet-viz download."]


@pytest.fixture(scope="module")
def not_an_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "holiday.jpg"
    path.write_text("this is a text file, not a photo\n")
    return path


def main(args: list[str], capsys) -> tuple[int, str, str]:
    """The CLI in this process (argparse's own exit included): (status, stdout, stderr)."""
    try:
        status = cli.main(args)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("case,args,expected", [
    ("text file named .jpg", ["predict", "{bad}", "--weights", "untrained"], "holiday.jpg"),
    ("missing file", ["predict", "{missing}", "--weights", "untrained"], "nowhere.jpg"),
    ("--top 0", ["predict", "{photo}", "--weights", "untrained", "--top", "0"], "at least 1"),
    ("unknown model", ["predict", "{photo}", "--model", "vgg16"], "invalid choice: 'vgg16'"),
    ("no image given", ["predict"], "required: image"),
    ("not a number", ["shapes", "--input-size", "big"], "invalid int value: 'big'"),
    ("no size", ["shapes", "--input-size", "0"], "positive number of pixels"),
    ("bad port", ["serve", "--port", "70000"], "not a port number"),
])
def test_user_mistakes_exit_2_with_one_line(case, args, expected, photo, not_an_image, capsys):
    paths = {"bad": not_an_image, "missing": photo.with_name("nowhere.jpg"), "photo": photo}
    status, out, err = main([a.format(**paths) for a in args], capsys)
    assert status == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("alexnet-viz") and expected in line


def test_asking_for_cuda_without_a_gpu_is_a_mistake_too(photo, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status, _, err = main(["predict", str(photo), "--weights", "untrained", "--device", "cuda"], capsys)
    assert status == 2 and err.splitlines() == [
        "alexnet-viz predict: Device 'cuda' was asked for, but this machine has no CUDA GPU; use auto or cpu."]


def test_a_real_process_given_a_bad_image_prints_one_line_and_no_traceback(not_an_image):
    done = run("predict", str(not_an_image), "--weights", "untrained")
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("alexnet-viz predict: ") and "holiday.jpg" in line


def test_the_console_script_is_declared_and_runs():
    pyproject = (ROOT / "pyproject.toml").read_text()  # (tomllib is 3.11+; the project supports 3.10)
    assert re.search(r'^\[project\.scripts\]\nalexnet-viz = "alexnet_viz\.cli:main"$', pyproject, re.M)
    if not Path(sys.executable).with_name("alexnet-viz").exists():
        pytest.skip("the package is not installed in this environment (pip install -e .), so there is no script")
    done = run("shapes", "--model", "keras-tutorial", "--json", script=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["layers"][4]["params"] == 2_973_952  # conv2


# -- serve ---------------------------------------------------------------------------------------
def test_serve_runs_streamlit_on_the_apps_file_with_this_python(monkeypatch):
    ran = []
    monkeypatch.setattr(cli, "_run_app", lambda cmd, cwd: ran.append((cmd, cwd)) or 0)
    assert cli.main(["serve", "--port", "8999"]) == 0
    [(cmd, cwd)] = ran
    assert cmd == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "streamlit_app.py"),
                   "--server.port", "8999"]
    assert cwd == ROOT and (cwd / ".streamlit" / "config.toml").exists()


def test_serve_without_the_app_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "app_path", lambda: tmp_path / "app" / "streamlit_app.py")
    assert cli.main(["serve"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "The app is not where serve looks for it" in line and "source checkout" in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_really_starts_a_server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STREAMLIT_SERVER_HEADLESS": "true",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "alexnet_viz", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline, health = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert health == "ok", proc.stderr.read().decode() if proc.poll() is not None else "no answer"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the session this test started: streamlit and nothing else
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_reader_that_stops_early_is_not_an_error():
    """`alexnet-viz shapes | head -1`: the closed pipe ends the command quietly, status 0."""
    proc = subprocess.Popen([sys.executable, "-m", "alexnet_viz", "shapes"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, ALEXNET_VIZ_OFFLINE="1"))
    proc.stdout.close()  # the reader leaves before anything is written (importing takes seconds)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Broken pipe" not in err and "Traceback" not in err


def test_the_command_line_turns_tf32_off_for_its_process(photo, capsys, monkeypatch):
    """On a GPU, TF32 would move the numbers the CLI prints (alexnet_viz.full_float32)."""
    import torch

    from alexnet_viz.network import full_float32

    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        status, _, _ = main(["shapes"], capsys)
        assert status == 0
        assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    finally:  # as the rest of the suite runs (conftest.py)
        full_float32()
