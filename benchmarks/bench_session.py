"""The load harness's walkthrough without a browser: the app's own CPU-seconds per session.

    python benchmarks/bench_session.py [--sessions 5] [--device auto|cpu]

Plays bench_load.py's walkthrough (open → upload a photo and Predict → Feature maps → layer
conv2 → layer relu5 → "Why did it say that?" (saliency) → Grad-CAM) through Streamlit's
AppTest, in this process, one session after another, and prints per action the median wall
seconds and this process's CPU-seconds (all threads), and the CPU-seconds per session.

What it measures and what it leaves out. AppTest runs the page scripts as a server does, with
the same caches, pictures and forward passes, but sends nothing over a websocket and serves no
/media request (and scans the installed components once, as a server does at start, not once per
AppTest); so its figure is the script side of a session: below bench_load.py's server
CPU (which adds the web server's work) and free of any browser's cost. It needs no Chromium,
which is why it also runs on a GPU machine: ``--device cpu`` hides the GPU (the app picks its
device itself, CUDA first), so both figures come from one machine.

Each session uploads a different photo (a new forward pass and new attributions, as a class
uploading its own photos would); the first session also pays for loading the network and
is reported apart. Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ["open", "upload_predict", "feature_maps", "layer_1", "layer_2", "saliency", "grad_cam"]


def photo(i: int) -> bytes:
    """A photo-like JPEG that differs per session (so nothing is served from another's cache)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:480, 0:640] / 480
    rgb = np.stack([xx * 0.6, yy, 1 - xx * yy / 2], -1)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 1.2), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
        rgb[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= rng.uniform(0.3, 0.9, 3)
    out = io.BytesIO()
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


_COMPONENTS: list = []


def components():
    """One scan of the installed Streamlit components for every session, as a server does once
    at start (a new AppTest would scan again on its first run: 0.16–0.23 s, not server work)."""
    if not _COMPONENTS:
        from streamlit.components.v2.component_manager import BidiComponentManager

        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        _COMPONENTS.append(manager)
    return _COMPONENTS[0]


def session(i: int, app: str) -> dict[str, tuple[float, float]]:
    """One walkthrough; (wall, CPU) seconds per action."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app, default_timeout=300)
    at._bidi_component_manager = components()  # AppTest's own attribute (Streamlit 1.67)
    steps = {
        "open": lambda: at.run(),
        "upload_predict": lambda: at.sidebar.file_uploader(key="upload").set_value(
            (f"photo{i}.jpg", photo(i), "image/jpeg")).run(),
        "feature_maps": lambda: at.switch_page("views/feature_maps.py").run(),
        "layer_1": lambda: at.selectbox(key="fm_layer").set_value("conv2").run(),
        "layer_2": lambda: at.selectbox(key="fm_layer").set_value("relu5").run(),
        "saliency": lambda: at.switch_page("views/attribution.py").run(),
        "grad_cam": lambda: at.selectbox(key="attr_method").set_value("grad_cam").run(),
    }
    took = {}
    for name in ACTIONS:
        wall, cpu = time.perf_counter(), time.process_time()
        steps[name]()
        took[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        if at.exception:
            raise SystemExit(f"session {i}, {name}: {at.exception[0].message}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=5)
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto",
                    help="cpu hides any GPU from the app (CUDA_VISIBLE_DEVICES='')")
    args = ap.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "app"))
    import torch

    from alexnet_viz.network import pick_device
    from bench_attribution import machine

    print(machine(pick_device("auto")))
    runs = [session(i, str(ROOT / "app" / "streamlit_app.py")) for i in range(args.sessions)]
    warm = runs[1:] or runs
    import server  # the app's own: the threads its script runs get (set once, by the app)

    threads = server.torch_threads(os.environ.get(server.TORCH_THREADS_ENV)) or torch.get_num_threads()
    print(f"\n{args.sessions} sessions in one process (AppTest; the first also loads the network), "
          f"torch threads per operation in the app's runs: {threads}\n")
    print("| action | first: wall (s) | first: CPU (s) | later: median wall (s) | later: median CPU (s) |")
    print("|---|--:|--:|--:|--:|")
    for name in ACTIONS:
        walls = [r[name][0] for r in warm]
        cpus = [r[name][1] for r in warm]
        print(f"| {name} | {runs[0][name][0]:.2f} | {runs[0][name][1]:.2f} | "
              f"{statistics.median(walls):.2f} | {statistics.median(cpus):.2f} |")
    per = [sum(c for _, c in r.values()) for r in warm]
    print(f"\nCPU-seconds per session (the script side): first {sum(c for _, c in runs[0].values()):.2f}, "
          f"later median {statistics.median(per):.2f} (min {min(per):.2f}, max {max(per):.2f})")


if __name__ == "__main__":
    main()
