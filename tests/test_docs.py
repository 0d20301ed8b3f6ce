"""Every example in README.md and docs/*.md runs, so a renamed function or flag fails here, not
for the reader.

The convention (docs/README of the examples, stated in docs/library.md): every fence marked
```python or ```sh is run, offline, on the untrained network, in a fresh temporary folder that
holds ``photo.jpg`` (Chelsea the cat) and ``photos/`` (three small JPEGs); a fence whose line
before is ``<!-- not run -->`` is not (``make run``, a download, a cluster). A page's Python
fences run in order in one process, so a later one may use an earlier one's names; each shell
fence runs in ``bash -e`` with ``alexnet-viz`` and ``python`` from this interpreter's folder; its
``alexnet-viz`` commands run forked from one process that has imported the command line already
(tests/warm_cli.py: the same arguments, folder, environment, input and output, without importing
torch again for each; ``python -m alexnet_viz`` starts a new Python as written).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from warm_cli import warm_cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SKIP = "<!-- not run -->"
RUN = ("python", "sh")


def blocks(page: Path) -> list[tuple[str, int, str, bool]]:
    """``(language, line, code, runs)`` for every fenced block of ``page``."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        out.append((m.group(1), line, m.group(2), m.group(1) in RUN and before != SKIP))
    return out


def test_the_examples_are_found():
    """The extraction itself: each page has runnable examples where it should, and a fence
    marked not to run is left out (a test that found nothing would pass for nothing)."""
    found = {p.name: [b for b in blocks(p) if b[3]] for p in PAGES}
    for name in ("README.md", "library.md", "cli.md"):
        assert found.get(name), f"{name} has no runnable example"
    readme = blocks(ROOT / "README.md")
    assert any("make run" in code and not runs for _, _, code, runs in readme), \
        "README's `make run` fence is marked not to run"
    assert all(lang in RUN or lang in ("", "text", "toml", "nginx") for p in PAGES for lang, *_ in blocks(p)), \
        "a fence in an unknown language: mark it python, sh or text"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder with the examples' photos, and the environment they run in: offline, its own cache,
    ``alexnet-viz`` warm (tests/warm_cli.py)."""
    import skimage.data
    from PIL import Image

    d = tmp_path_factory.mktemp("examples")
    Image.fromarray(skimage.data.chelsea()).save(d / "photo.jpg", quality=90)
    (d / "photos").mkdir()
    for name in ("coffee", "rocket", "astronaut"):
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((320, 240)).save(
            d / "photos" / f"{name}.jpg", quality=85)
    env = dict(os.environ, ALEXNET_VIZ_OFFLINE="1", ALEXNET_VIZ_HOME=str(d / "home"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    with warm_cli(env) as warm:
        yield d, dict(env, PATH=os.pathsep.join([str(warm), env["PATH"]]))


def _cases():
    for page in PAGES:
        bs = [b for b in blocks(page) if b[3]]
        if any(lang == "python" for lang, *_ in bs):
            yield pytest.param(page, "python", id=f"{page.name}-python")
        for lang, line, code, _ in bs:
            if lang == "sh":
                yield pytest.param(page, line, id=f"{page.name}-sh-line{line}")


@pytest.mark.slow
@pytest.mark.parametrize("page, which", list(_cases()))
def test_example_runs(page: Path, which, workdir):
    d, env = workdir
    if which == "python":
        # one process per page; each block is compiled with its line in the page, so a failure names it
        script = "\n".join(
            f"exec(compile({code!r}, {f'{page.name}, line {line}'!r}, 'exec'))"
            for lang, line, code, runs in blocks(page) if runs and lang == "python")
        cmd = [sys.executable, "-c", script]
    else:
        code = next(c for lang, line, c, runs in blocks(page) if line == which)
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    r = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (f"{page.name}'s example ({which}) failed with status {r.returncode}:\n"
                               f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
