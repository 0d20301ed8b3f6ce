"""``build_index(..., ray="local" | "auto")``: the same indexing on Ray Data, for very large folders.

For folders one machine cannot get through (ImageNet's 1.28 million training photos).

The driver walks the folder (the files must be readable at the same paths on every worker: one
machine, or a shared file system) and keeps the SQLite writer; Ray Data does the rest in two
stages, streamed so neither waits for the other:

    decode   CPU workers (``_Decode``): read, digest and, for contents the index does not hold
             yet, decode and preprocess exactly as ``net.preprocess`` does (``preprocess_image``)
    network  ``map_batches`` with ``_Forward``, a class holding the network, one per GPU when the
             cluster has GPUs, else on CPU workers: maxima of relu1..relu5 and fc7, per image

Nothing is pickled but plain values: the network is rebuilt on each worker from its model name
and its weights (the state dict, through Ray's object store, so a weight file need not exist on
the workers), and checked against the driver's SHA-256 fingerprint before it runs.

Ray is an optional extra (``pip install 'alexnet-viz[scale]'``); without it, asking for Ray is
one sentence. On two CPU cores this is a correctness path, not a speed-up (docs/library.md,
"Indexing on Ray Data").
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from . import store as S
from .walk import load_item

INSTALL = "pip install 'alexnet-viz[scale]'"


def import_ray():
    """``ray`` and ``ray.data``, or a ValueError saying how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ValueError(f"Indexing on Ray needs Ray Data, which is not installed: {INSTALL} "
                         f"(or index without --ray).") from None
    return ray


@contextlib.contextmanager
def ray_session(mode: str, num_cpus: int | None = None):
    """Ray for one run: "auto" joins the running cluster (and leaves it running); "local" starts
    Ray on this machine and shuts it down afterwards. A Ray this process already started is used
    as it is and left running."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
             "configure_logging": True}
    if mode == "auto":
        try:
            ray.init(address="auto", **{k: v for k, v in quiet.items() if k != "include_dashboard"})
        except (ConnectionError, RuntimeError) as exc:
            raise ValueError(f"--ray auto found no running Ray cluster to join ({' '.join(str(exc).split())[:200]}). "
                             f"Start one (`ray start --head` on this machine, `ray start --address=HEAD:6379` "
                             f"on the others), or use --ray local to start Ray on this machine only.") from None
    else:
        ray.init(num_cpus=num_cpus, **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_data(ray) -> None:
    """Ray Data's own progress bars and execution logs off: the caller's progress callback reports."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _Decode:
    """A Ray worker that reads, digests, and decodes what the index lacks (one per CPU)."""

    def __init__(self, model: str, have: frozenset[str]):
        self.model, self.have = model, have

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from ..network import preprocess_image

        out: dict[str, list] = {"path": [], "digest": [], "error": [], "x": []}
        for path in batch["path"]:
            it = load_item(Path(path), lambda img: preprocess_image(self.model, img),
                           lambda p, d: d not in self.have)
            out["path"].append(it.path)
            out["digest"].append(it.digest or "")
            out["error"].append(it.error or "")
            out["x"].append(b"" if it.x is None else it.x.numpy().astype("<f4").tobytes())  # (1, 3, crop, crop)
        return out


class _Forward:
    """A Ray worker holding the network, rebuilt from (model, weights) and checked by fingerprint."""

    def __init__(self, model: str, weights: str, state, fingerprint: str, layers: list[str], device: str):
        import ray

        from ..architecture import get_architecture
        from ..body import build_body
        from ..network import Network

        arch = get_architecture(model)
        body = build_body(arch)
        body.load_state_dict(ray.get(state) if isinstance(state, ray.ObjectRef) else state)
        self.net = Network(arch, body, weights, torch.device(device))
        if S.fingerprint(self.net) != fingerprint:
            raise RuntimeError(f"The network rebuilt on a Ray worker from {model} and {weights!r} differs from "
                               f"the driver's (SHA-256 of the weights); the index would be inconsistent.")
        self.layers = layers

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        c = self.net.prep.crop
        n = len(batch["path"])
        out: dict[str, list] = {"path": list(batch["path"]), "digest": list(batch["digest"]),
                                "error": list(batch["error"]), "fc7": [b""] * n}
        for name in self.layers:
            out[f"value:{name}"], out[f"pos:{name}"] = [b""] * n, [b""] * n
        todo = [i for i in range(n) if len(batch["x"][i])]
        if todo:
            x = torch.from_numpy(np.stack([np.frombuffer(batch["x"][i], dtype="<f4") for i in todo]))
            x = x.view(len(todo), 3, c, c).to(self.net.device)  # (B, 3, crop, crop)
            with torch.no_grad():
                acts = self.net.activations(x, upto=S.FEATURE)
            fc7 = acts[S.FEATURE].float().cpu().numpy().astype("<f4")  # (B, 4096)
            rows = S.rows_for([batch["digest"][i] for i in todo], acts, self.layers)
            for j, i in enumerate(todo):
                out["fc7"][i] = fc7[j].tobytes()
                for _, name, value, pos in rows[j]:
                    out[f"value:{name}"][i], out[f"pos:{name}"][i] = value, pos
        return out


def _pipeline(ray, files, net, layers, have, batch_size, state, decoders, forward, gpus):
    """The two stages as a lazy Ray dataset; actors restart never (a failed run is resumed instead)."""
    from ray.data import ActorPoolStrategy

    ds = ray.data.from_items([{"path": str(p)} for p in files],
                             override_num_blocks=max(1, min(math.ceil(len(files) / batch_size), 10_000)))
    ds = ds.map_batches(_Decode, fn_constructor_kwargs={"model": net.name, "have": have},
                        batch_size=batch_size, batch_format="numpy", num_cpus=1, max_restarts=0,
                        compute=ActorPoolStrategy(min_size=1, max_size=decoders))
    ds = ds.map_batches(_Forward, fn_constructor_kwargs={
                            "model": net.name, "weights": net.weights, "state": state,
                            "fingerprint": S.fingerprint(net), "layers": layers,
                            "device": "cuda" if gpus else "cpu"},
                        batch_size=batch_size, batch_format="numpy", num_cpus=forward["num_cpus"],
                        num_gpus=forward["num_gpus"], max_restarts=0,
                        compute=ActorPoolStrategy(min_size=1, max_size=forward["size"]))
    return ds


def ray_batches(files: list[Path], net, layers: list[str], have: frozenset[str], batch_size: int,
                mode: str, num_cpus: int | None = None) -> Iterator[list[S.Done]]:
    """``files`` through Ray Data, yielded a batch at a time as workers finish them (in no set
    order). Ray is started (mode "local") or joined ("auto") here, and a Ray started here is shut
    down when the generator ends or is closed."""
    if not files:
        return
    with ray_session(mode, num_cpus) as ray:
        _quiet_data(ray)
        cluster = ray.cluster_resources()
        cpus, gpus = int(cluster.get("CPU", 1)), int(cluster.get("GPU", 0))
        # One network per GPU; without GPUs, the CPUs are split between decoding and the network.
        forward = {"num_gpus": 1, "num_cpus": 1, "size": gpus} if gpus else \
            {"num_gpus": 0, "num_cpus": 1, "size": max(1, cpus // 2)}
        decoders = max(1, cpus - forward["size"] * forward["num_cpus"])
        # The weights go into the object store once (233 MB for alexnet2012), not into every task.
        state = ray.put({k: v.detach().cpu().contiguous() for k, v in net.body.state_dict().items()})
        with warnings.catch_warnings():  # max_restarts=0 is how Ray Data's code says to turn restarts off
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = _pipeline(ray, files, net, layers, have, batch_size, state, decoders, forward, gpus)
        for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
            out = []
            for i, path in enumerate(batch["path"]):
                digest, error = str(batch["digest"][i]) or None, str(batch["error"][i]) or None
                fc7 = bytes(batch["fc7"][i]) or None
                rows = [(digest, name, bytes(batch[f"value:{name}"][i]), bytes(batch[f"pos:{name}"][i]))
                        for name in layers] if fc7 else None
                out.append(S.Done(str(path), digest, error, rows, fc7))
            yield out
