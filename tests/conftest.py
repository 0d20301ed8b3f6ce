"""Shared test set-up, kept minimal: each test module builds the networks it needs."""
import os

# Tests never reach the network; set here too so a bare `pytest` behaves like `make test`.
os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
