"""Shared test set-up, kept minimal: each test module builds the networks it needs."""
import os

# Tests never reach the network; set here too so a bare `pytest` behaves like `make test`.
os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
# The app gives torch half the cores per operation on a shared server (app/cache.py); AppTests run
# the app inside this process, so keep torch's own default here (tests/test_app_cache.py checks it).
os.environ.setdefault("ALEXNET_VIZ_TORCH_THREADS", "0")
