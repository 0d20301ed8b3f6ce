"""Shared test set-up, kept minimal: each test module builds the networks it needs."""
import os

import pytest

# Tests never reach the network; set here too so a bare `pytest` behaves like `make test`.
os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
# The app gives torch half the cores per operation on a shared server (app/server.py); AppTests run
# the app inside this process, so keep torch's own default here (tests/test_app_server.py checks it).
os.environ.setdefault("ALEXNET_VIZ_TORCH_THREADS", "0")
# A server runs its costly jobs at a lower CPU priority than visitors' clicks (app/work.py); here the
# other pytest-xdist worker's tests would take their place, so tests run them at the process's own
# (tests/test_app_work.py sets the variable itself to check the default).
os.environ.setdefault("ALEXNET_VIZ_JOB_NICE", "0")
# On a GPU, tests compare numbers as the app and the command line compute them: without TF32
# (alexnet_viz.full_float32; tests/test_cuda.py measures what TF32 would change).
from alexnet_viz.network import full_float32  # noqa: E402

full_float32()

# Under pytest-xdist (`make test` runs one worker per core), each worker's torch gets its share of
# the cores, so two workers do not each run two threads on two cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch  # noqa: E402

    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, _workers)))


# How `make test` shares the work among its pytest-xdist workers (``--dist loadgroup``, with the
# grouping below): a test file runs on one worker, so its server, browser and module fixtures are
# built once, except the long files named here, whose parts share nothing costly and may run at
# once on different workers: "test" (each test, each parameter, on its own) or "page" (the docs'
# examples of one page together, in order: a later one may use an earlier one's files).
SPLIT = {"tests/test_browser_a11y.py": "test", "tests/test_browser_classroom.py": "test",
         "tests/test_docs.py": "page"}


def work_group(nodeid: str) -> str:
    """The unit of work a test belongs to (see ``SPLIT``), from its node id."""
    path, _, name = nodeid.partition("::")
    how = SPLIT.get(path)
    if how == "test":
        return nodeid
    if how == "page" and "[" in name:  # test_example_runs[cli.md-sh-line53] -> cli.md
        return f"{path}::{name.split('[', 1)[1].split('-', 1)[0]}"
    return path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown without it (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """Schedule by ``work_group`` (pytest-xdist's own loadgroup reads a mark it can no longer attach
    under pytest 9, and would send each test anywhere, building a file's fixtures on each worker)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep this file's order (the long files first), not xdist's by size

    class ByWorkGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_group(nodeid)

    return ByWorkGroup(config, log)


def pytest_collection_modifyitems(config, items):
    """The files with browser or slow tests first, so the long ones start early and the short ones
    fill the workers' time around them instead of leaving one worker to finish alone."""
    heavy = {item.module.__name__ for item in items
             if item.get_closest_marker("browser") or item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in heavy)  # stable: each file keeps its order


def _one_component_scan() -> None:
    """Every AppTest scans the installed packages for Streamlit components on its first run
    (0.16–0.23 s here, ~250 times a suite); a server does it once, at start. Share one scan, as
    a server does. Leaves AppTest alone if its internals ever change shape."""
    try:
        from streamlit.components.v2.component_manager import BidiComponentManager
        from streamlit.testing.v1 import AppTest
    except ImportError:
        return
    original = AppTest.__init__
    shared: list = []

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if getattr(self, "_bidi_component_manager", ...) is None:
            if not shared:
                manager = BidiComponentManager()
                manager.discover_and_register_components(start_file_watching=False)
                shared.append(manager)
            self._bidi_component_manager = shared[0]

    AppTest.__init__ = init


_one_component_scan()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's, driven by Playwright) for a browser-test module; the
    module is skipped with a sentence where Chromium is missing (except in CI)."""
    from playwright.sync_api import sync_playwright

    from streamlit_browser import ARGS, CHROMIUM, require_chromium

    require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# -- networks several test modules use (plain helper functions stay in tests/helpers.py) ----------
import torch  # noqa: E402

from helpers import build_network  # noqa: E402


@pytest.fixture(scope="module")
def alex():
    """The untrained alexnet2012, once per test module that uses it."""
    return build_network("alexnet2012")


@pytest.fixture(scope="module")
def alex_acts(alex):
    """Every activation of ``alex`` for one random (1, 3, 227, 227) input."""
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(1)) * 50
    return alex.activations(x)


@pytest.fixture(scope="module")
def tv():
    """The untrained torchvision variant."""
    return build_network("torchvision")
