"""Shared test set-up, kept minimal: each test module builds the networks it needs."""
import os

# Tests never reach the network; set here too so a bare `pytest` behaves like `make test`.
os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
# The app gives torch half the cores per operation on a shared server (app/cache.py); AppTests run
# the app inside this process, so keep torch's own default here (tests/test_app_cache.py checks it).
os.environ.setdefault("ALEXNET_VIZ_TORCH_THREADS", "0")
# On a GPU, tests compare numbers as the app and the command line compute them: without TF32
# (alexnet_viz.full_float32; tests/test_cuda.py measures what TF32 would change).
from alexnet_viz.network import full_float32  # noqa: E402

full_float32()


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
