"""``build_index``: a folder of photos -> an index of what every conv channel and fc7 make of them.

One pass over the folder: each file is digested on a worker thread; only contents the index does
not hold yet are decoded, resized and cropped there (``image_pixels``, uint8), then normalised a
batch at a time on this thread (``normalize_pixels``: together exactly ``net.preprocess``) and run
through the network up to fc7. Every batch is one committed transaction, so a run that is
killed loses at most the batch in flight, and running again continues from there. A complete run
then forgets the files that have gone and the contents no file refers to any more.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ..network import image_pixels, normalize_pixels
from ..walkthrough import viewable_layers
from . import store as S
from .walk import Item, batches, load_item, walk


@dataclass(frozen=True)
class IndexReport:
    """What one run of ``build_index`` did. ``str(report)`` is the one-line summary."""

    folder: str
    indexed: int  # images run through the network in this run
    reused: int  # files whose content the index already held (unchanged, resumed, renamed or copied)
    removed: int  # files dropped because they are gone or changed
    skipped: list[tuple[str, str]] = field(default_factory=list)
    images: int = 0  # images in the index after the run
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        extra = [f"{self.reused} already indexed"] if self.reused else []
        extra += [f"{self.removed} removed"] if self.removed else []
        return (f"indexed {self.indexed} images" + (f" ({', '.join(extra)})" if extra else "")
                + f", skipped {len(self.skipped)}, in {self.seconds:.1f} s "
                f"({self.images_per_second:.1f} images/s); the index holds {self.images} images")


def map_layers(arch) -> list[str]:
    """relu1..relu5: each conv layer after its ReLU, as ``net.activations`` names them."""
    kinds = {layer.name: layer.kind for layer in arch.layers}
    maps = viewable_layers(arch)
    names = list(kinds)
    out = []
    for name in names:
        if kinds[name] == "relu" and maps.get(name) == "map":
            below = [n for n in names[:names.index(name)] if kinds[n] not in ("dropout", "flatten")]
            if below and kinds[below[-1]] == "conv":
                out.append(name)
    return out


def build_index(folder: str | os.PathLike, net, out_dir: str | os.PathLike,
                progress: Callable[[int, int], None] | None = None, batch_size: int = 32,
                workers: int | None = None, ray: str | None = None, ray_cpus: int | None = None) -> IndexReport:
    """Index every photo under ``folder`` for ``net`` into ``out_dir`` (created, resumed or updated).

    progress(done_files, total_files) is called after every batch (and once at the start); an
    exception it raises stops the run, keeping every batch committed so far. An ``out_dir`` built
    for another network, or from another folder, is refused with a sentence (PhotoIndexError).
    ``ray`` = "local" (start Ray on this machine) or "auto" (join the running cluster) reads,
    decodes and runs the network on Ray Data workers instead of this process's threads
    (``ray_build``; needs the ``scale`` extra); the index written is the same. ``ray_cpus``: the
    CPUs a Ray started here may use (default: all of them).
    """
    if ray is not None and ray not in ("local", "auto"):
        raise ValueError(f"Unknown Ray mode {ray!r}: use 'local' (start Ray here) or 'auto' (join a running cluster).")
    if ray is not None:
        from .ray_build import import_ray

        import_ray()  # without the scale extra: one sentence now, before any work
    t0 = time.perf_counter()
    out = Path(out_dir).expanduser().absolute()
    found = walk(folder, exclude=[out])
    root = found.root
    layers = map_layers(net.arch)
    with torch.no_grad():
        probe = net.activations(torch.zeros(1, 3, net.prep.crop, net.prep.crop, device=net.device), upto=S.FEATURE)
    shapes = {name: tuple(probe[name].shape[1:]) for name in layers}

    con = S.connect(out, create=True)
    try:
        meta = S.read_meta(con)
        if meta:
            S.check_network(meta, net, out)
            if meta.get("root") != str(root):
                raise S.PhotoIndexError(f"The index {out} was built from {meta.get('root')}, not {root}: "
                                        f"give that folder, or another --out for this one.")
        else:
            with con:
                con.executemany("INSERT INTO meta VALUES (?, ?)", S.new_meta(net, root, shapes).items())
        known = dict(con.execute("SELECT path, digest FROM files"))  # relative path -> digest
        have = {d for (d,) in con.execute("SELECT digest FROM features")}

        def rel(path: str) -> str:
            return Path(path).relative_to(root).as_posix()

        if ray is None:
            source = _local_batches(found.files, net, layers, have, batch_size, workers)
        else:
            from .ray_build import ray_batches

            source = ray_batches(found.files, net, layers, frozenset(have), batch_size, ray, ray_cpus)
        total, done, indexed, reused = len(found.files), 0, 0, 0
        skipped = list(found.skipped)
        if progress:
            progress(0, total)
        try:
            for items in source:
                rows, feats = [], []
                for it in items:  # a content met twice (in flight, or by two workers) is written once
                    if it.error is None and it.fc7 is not None and it.digest not in have:
                        rows += it.rows
                        feats.append((it.digest, it.fc7))
                        have.add(it.digest)
                with con:  # one transaction per batch: all of it, or none of it
                    con.executemany("INSERT OR IGNORE INTO maxima VALUES (?, ?, ?, ?)", rows)
                    con.executemany("INSERT OR IGNORE INTO features VALUES (?, ?)", feats)
                    ok = [(rel(it.path), it.digest) for it in items if it.error is None]
                    con.executemany("INSERT OR REPLACE INTO files VALUES (?, ?)", ok)
                skipped += [(it.path, it.error) for it in items if it.error is not None]
                reused += sum(it.error is None for it in items) - len(feats)
                indexed += len(feats)
                done += len(items)
                if progress:
                    progress(done, total)
        finally:
            source.close()  # stops the runner (and a Ray it started) when the loop is left early

        # The walk finished: forget what is gone, and contents no file refers to any more.
        present = {rel(str(p)) for p in found.files}
        ok_now = {rel(p) for p, _ in skipped if _inside(p, root)}
        gone = [p for p in known if p not in present or p in ok_now]
        with con:
            con.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
            con.execute("DELETE FROM maxima WHERE digest NOT IN (SELECT digest FROM files)")
            con.execute("DELETE FROM features WHERE digest NOT IN (SELECT digest FROM files)")
            con.execute("DELETE FROM skipped")
            con.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?)", sorted(skipped))
        images = con.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    finally:
        con.close()
    return IndexReport(str(root), indexed, reused, len(gone), sorted(skipped), images, time.perf_counter() - t0)


def _local_batches(files: list[Path], net, layers: list[str], have: set[str], batch_size: int,
                   workers: int | None) -> Iterator[list[S.Done]]:
    """Files decoded on this process's threads, the network run here a batch at a time."""

    def needs_decoding(path: str, digest: str) -> bool:
        return digest not in have

    def pixels(img) -> torch.Tensor:  # (1, crop, crop, 3) uint8: no torch arithmetic on a decoding thread
        return image_pixels(net.name, img)

    def job(path: Path) -> Item:
        return load_item(path, pixels, needs_decoding)

    for items in batches(files, job, batch_size, workers or min(8, (os.cpu_count() or 2) + 2)):
        fresh, seen = [], set(have)  # a content met twice in flight runs through the network once
        for it in items:
            if it.error is None and it.x is not None and it.digest not in seen:
                fresh.append(it)
                seen.add(it.digest)
        out = {}
        if fresh:
            # numpy's copy, not torch.cat: one plain memcpy, no wake-up of torch's threads for 5 MB
            crops = torch.from_numpy(np.concatenate([it.x.numpy() for it in fresh]))  # (B, crop, crop, 3) uint8
            x = normalize_pixels(net.name, crops).to(net.device)  # (B, 3, crop, crop), exactly net.preprocess's
            with torch.no_grad():
                acts = net.activations(x, upto=S.FEATURE)
            fc7 = acts[S.FEATURE].float().cpu().numpy().astype("<f4")  # (B, 4096)
            rows = S.rows_for([it.digest for it in fresh], acts, layers)
            out = {id(it): (rows[i], fc7[i].tobytes()) for i, it in enumerate(fresh)}
        yield [S.Done(it.path, it.digest, it.error, *out.get(id(it), (None, None))) for it in items]


def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).relative_to(root)
        return True
    except ValueError:
        return False
