"""Downloading pretrained weights into the cache: open, copy with a stall guard, verify, rename.

``download`` is three steps, each a function: ``_open`` (the request, its errors as sentences),
``_copy`` (bytes to the temp file with progress and the stall guard) and the verification before
the atomic rename. ``fetch`` is the cache around it: verified files are reused, damaged ones
fetched again, caffemodels converted once.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

import torch

from .errors import WeightsError
from .files import load_torch_file, matches, save_state_dict, sidecar_path, temp_beside, unlink, verify_converted
from .shapes import check_state_dict
from .sources import HOME_ENV, OFFLINE_ENV, SOURCES, offline, source, weights_dir

Progress = Callable[[int, "int | None"], None]  # progress(done_bytes, total_bytes_or_None)

TIMEOUT_S = 30.0  # per network operation (connect, each read), not for the whole download
# A host that trickles a byte now and then never trips TIMEOUT_S: the download must also average
# at least MIN_BYTES_PER_S over every STALL_WINDOW_S seconds, or it is given up as stalled.
STALL_WINDOW_S = 60.0
MIN_BYTES_PER_S = 1024
PROGRESS_EVERY_S = 0.1  # progress callbacks at most this often (a page redraws on each), and at the end
CHUNK = 1 << 20


def _offline_error(model: str) -> WeightsError:
    return WeightsError(
        f"Pretrained weights for {model} are not in the cache ({weights_dir()}) and "
        f"{OFFLINE_ENV}=1 forbids downloading them. Two ways out: run "
        f"`python -m alexnet_viz download --model {model}` on a connected machine and copy the "
        f"files it writes into {weights_dir()}, or pass the path of a weight file "
        f"(a .caffemodel or a saved state dict) with --weights, or in the app from the folder named by "
        f"ALEXNET_VIZ_WEIGHT_DIR.")


def _open(url: str, name: str, timeout: float):
    """The HTTP response for ``url``, or a WeightsError saying why the host did not give it."""
    host = urllib.parse.urlparse(url).netloc or url
    request = urllib.request.Request(url, headers={"User-Agent": "alexnet-viz"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"Downloading {name} failed: {host} answered {exc.code} {exc.reason} for {url}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"Could not reach {host} to download {name} ({reason}). Check the connection "
            f"and run again, or pass the path of a weight file you already have.") from None


def _copy(response, out: BinaryIO, h, name: str, host: str, progress: Progress | None) -> tuple[int, int | None]:
    """Response body -> ``out`` and the hash ``h``; returns (bytes, Content-Length or None).

    Reports progress at most every PROGRESS_EVERY_S, and gives up when a STALL_WINDOW_S window
    averages under MIN_BYTES_PER_S (a trickle that never trips the per-read timeout).
    """
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    done = 0
    if progress:
        progress(0, total)
    window_start, window_bytes = time.monotonic(), 0
    last_report = time.monotonic()
    while True:
        try:
            chunk = response.read1(CHUNK)  # returns what has arrived: lets us see a trickle
        except (OSError, http.client.HTTPException) as exc:
            raise WeightsError(
                f"The download of {name} from {host} broke off after {done:,} bytes "
                f"({type(exc).__name__}: {exc}); nothing was kept, run again to retry.") from None
        if not chunk:
            if progress and done != total:
                progress(done, total)  # the last word, when the length was unknown
            return done, total
        out.write(chunk)  # an OSError here is the disk's, reported by fetch
        h.update(chunk)
        done += len(chunk)
        window_bytes += len(chunk)
        if progress and (done == total or time.monotonic() - last_report >= PROGRESS_EVERY_S):
            progress(done, total)
            last_report = time.monotonic()
        elapsed = time.monotonic() - window_start
        if elapsed >= STALL_WINDOW_S:
            if window_bytes < MIN_BYTES_PER_S * elapsed:
                raise WeightsError(
                    f"The download of {name} from {host} has stalled ({window_bytes:,} bytes "
                    f"in the last {elapsed:.0f} s); nothing was kept, run again later to retry.")
            window_start, window_bytes = time.monotonic(), 0


def download(url: str, dest: Path, algo: str, digest: str, progress: Progress | None = None,
             timeout: float | None = None) -> Path:
    """Fetch ``url`` into ``dest`` atomically: a temp file in the same folder, verified, renamed.

    On any failure (network, cut-off body, wrong checksum, Ctrl-C) the temp file is removed and
    ``dest`` is left as it was; errors become WeightsError sentences. ``timeout`` (default
    ``TIMEOUT_S``, read at call time) bounds the connection and each read: a stalled server
    becomes an error, never a hang.
    """
    timeout = TIMEOUT_S if timeout is None else timeout
    host = urllib.parse.urlparse(url).netloc or url
    fd, tmp = temp_beside(dest)
    try:
        h = hashlib.new(algo)
        with os.fdopen(fd, "wb") as out, _open(url, dest.name, timeout) as response:
            done, total = _copy(response, out, h, dest.name, host, progress)
        if total is not None and done != total:
            raise WeightsError(
                f"The download of {dest.name} from {host} stopped after {done:,} of {total:,} bytes; "
                f"nothing was kept, run again to retry.")
        got = h.hexdigest()
        if not got.startswith(digest):
            raise WeightsError(
                f"{dest.name} from {url} failed verification: its {algo} is {got}, but it should "
                f"begin {digest}. The file was removed; run again to retry (if it keeps failing, "
                f"the server is handing out a damaged or different file).")
        os.replace(tmp, dest)
    except BaseException:
        unlink(tmp)
        raise
    return dest


# One download per process at a time: a second session asking for the same weights waits and
# then finds them cached. Across processes, unique temp files and atomic renames keep it safe.
_fetch_lock = threading.Lock()


def _hub_file(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def fetch(model: str, progress: Progress | None = None) -> Path:
    """The verified torch file of ``model``'s pretrained weights, downloaded and converted first
    if the cache does not hold it. A cached file that fails verification is removed and fetched
    again. Offline (``ALEXNET_VIZ_OFFLINE=1``) with nothing cached, raises at once."""
    src = source(model)
    algo, digest = src.expected()
    folder = weights_dir()
    final = folder / src.cached_name
    raw = folder / src.filename
    with _fetch_lock:
        if src.converter is None:
            if final.exists():
                if matches(final, algo, digest):
                    return final
                unlink(final)  # damaged: fetch it again
            hub = _hub_file(src.filename)
            if hub.exists() and matches(hub, algo, digest):
                return hub  # torchvision already downloaded (and checked) it; read it in place
        else:
            if final.exists():
                if verify_converted(final):
                    return final
                unlink(final, sidecar_path(final))
            if raw.exists() and not matches(raw, algo, digest):
                unlink(raw)
        if not raw.exists() and offline():
            raise _offline_error(model)
        try:
            if not raw.exists():
                download(src.url, raw, algo, digest, progress)
            if src.converter is None:
                return raw
            try:
                state = src.converter(raw, model)
            except (WeightsError, FileNotFoundError):
                # The lock covers this process only: another one (the CLI's download beside the
                # app) may have converted the file and removed the download meanwhile.
                if not raw.exists() and verify_converted(final):
                    return final
                raise
            check_state_dict(state, model, raw.name)
            save_state_dict(state, final, sidecar=True)
        except OSError as exc:  # the cache folder itself: not writable, disk full
            raise WeightsError(f"Could not write to the cache folder {folder} ({exc.strerror or exc}); "
                               f"free some space or set {HOME_ENV} to a writable folder.") from None
        unlink(raw)  # the converted file is all that loading needs; saves 233 MB
        return final


def is_cached(model: str) -> bool:
    """Whether ``model``'s pretrained weights are in the cache (not verified; cheap)."""
    src = SOURCES.get((model, "pretrained"))
    if src is None:
        return False
    if (weights_dir() / src.cached_name).exists():
        return True
    return src.converter is None and _hub_file(src.filename).exists()


def load_pretrained(model: str, progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """``model``'s pretrained state dict: fetched (or found) verified, read, checked."""
    path = fetch(model, progress)
    state = load_torch_file(path)
    check_state_dict(state, model, path.name)
    return state
