"""bench_load.py --sequential's report: the memory growth over the later half of the walks, the
threads after the last close and each action's server CPU-s, as a reader of the numbers needs them
(the walks themselves need a browser: tests/test_bench_load.py)."""
from __future__ import annotations

import sys

from streamlit_browser import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_load  # noqa: E402


def test_sequential_report_gives_growth_over_the_later_half_and_threads_after_the_close():
    sessions = []
    for i, cpu in enumerate([0.30, 0.10, 0.20, 0.40]):
        s = bench_load.Session(i, times={"open": 1.0, "saliency": 2.0}, cpu={"open": cpu, "saliency": 0.5})
        sessions.append(s)
    sessions[3].failure = "saliency: an exception box"
    after = [(1100.0, 15), (1150.0, 16), (1210.0, 15), (1230.0, 17)]
    settling = [(0.0, 1230.0, 17), (15.0, 1225.0, 16), (180.0, 1220.0, 14)]
    text = bench_load.sequential_report(sessions, (1000.0, 14), after, settling, "here")
    assert "growth over the last 2: +80 MB" in text  # 1230 after walk 4 - 1150 after walk 2
    assert "threads: idle 14, max after a walk 17, after the last 17" in text
    assert "180 s 14" in text and "180 s 1220 MB" in text
    # the failed walk is left out of the per-walk CPU: medians of 0.8, 0.6, 0.7
    assert "server CPU-s per walk: median 0.70 (first 0.80, min 0.60, max 0.80)" in text
    open_row = next(line for line in text.splitlines() if line.startswith("open"))
    assert open_row.split()[1:3] == ["4", "0.250"]  # median of 0.1, 0.2, 0.3, 0.4
    assert "failures: 1 of 4" in text and "walk 3: saliency" in text
