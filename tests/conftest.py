"""Shared test set-up, kept minimal: each test module builds the networks it needs."""
import os

# Tests never reach the network; set here too so a bare `pytest` behaves like `make test`.
os.environ.setdefault("ALEXNET_VIZ_OFFLINE", "1")
# The app gives torch half the cores per operation on a shared server (app/cache.py); AppTests run
# the app inside this process, so keep torch's own default here (tests/test_app_cache.py checks it).
os.environ.setdefault("ALEXNET_VIZ_TORCH_THREADS", "0")
# On a GPU, tests compare numbers as the app and the command line compute them: without TF32
# (alexnet_viz.full_float32; tests/test_cuda.py measures what TF32 would change).
import torch  # noqa: E402

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
