"""Where weights come from: one registry of sources, a verified cache, downloads, local files.

``apply_weights(body, arch, weights)`` is what ``network.load_network`` calls. ``weights`` is

- ``"untrained"``: the paper's initialisation from a fixed seed;
- ``"pretrained"``: the variant's entry in ``SOURCES``, downloaded once into the cache folder,
  verified against its checksum before anything reads it, converted if need be (Caffe's
  bvlc_alexnet becomes a torch file once) and verified again on every load;
- a path: a ``.caffemodel`` (converted on the fly) or a saved state dict for the chosen variant.

Nothing loaded can run code: torch files are read with ``weights_only=True``, caffemodels with
the protobuf runtime. Every failure is a ``WeightsError`` whose message says what to do.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import pickle
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .architecture import ARCHITECTURES, Architecture, get_architecture

Progress = Callable[[int, "int | None"], None]  # progress(done_bytes, total_bytes_or_None)

HOME_ENV = "ALEXNET_VIZ_HOME"
OFFLINE_ENV = "ALEXNET_VIZ_OFFLINE"
TIMEOUT_S = 30.0  # per network operation (connect, each read), not for the whole download
# A host that trickles a byte now and then never trips TIMEOUT_S: the download must also average
# at least MIN_BYTES_PER_S over every STALL_WINDOW_S seconds, or it is given up as stalled.
STALL_WINDOW_S = 60.0
MIN_BYTES_PER_S = 1024
PROGRESS_EVERY_S = 0.1  # progress callbacks at most this often (a page redraws on each), and at the end
CHUNK = 1 << 20
STALE_PART_S = 600  # a temp file untouched this long belongs to a download that died


class WeightsError(RuntimeError):
    """Weights could not be had: the message says what to do about it."""


# -- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightSource:
    """One downloadable set of weights.

    ``checksum`` is ``"sha1:<hex>"`` or ``"sha256:<hex>"``; a file passes when its digest starts
    with the hex given, so a prefix works too. ``None`` means torchvision's convention: the hex
    digits after the last ``-`` of the file name begin the file's SHA-256. ``converter`` turns
    the downloaded file into the variant's state dict once; ``None`` means it already is one.
    """

    model: str
    url: str
    checksum: str | None
    size_mib: float  # approximate, for people; never used to verify
    licence: str
    description: str
    converter: Callable[[Path, str], dict[str, torch.Tensor]] | None = None

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name

    @property
    def cached_name(self) -> str:
        """The file that loading reads: the download itself, or its converted torch file."""
        return self.filename if self.converter is None else Path(self.filename).stem + ".pt"

    def expected(self) -> tuple[str, str]:
        """(hash algorithm, hex digest or prefix) the downloaded file must match."""
        if self.checksum is None:
            m = re.search(r"-([a-f0-9]{8,})\.", self.filename)
            if not m:
                raise WeightsError(f"{self.url} carries no hash in its file name, and its source gives no checksum.")
            return "sha256", m.group(1)
        algo, _, digest = self.checksum.partition(":")
        return algo, digest.lower()


def _convert_caffe(path: Path, model: str) -> dict[str, torch.Tensor]:
    from .caffe import read_caffe_state_dict

    return read_caffe_state_dict(path, model)


def _torchvision_url() -> str:
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.url  # https://download.pytorch.org/models/alexnet-owt-7be5be79.pth


# Tests point these at a local server with ``monkeypatch.setitem(SOURCES, key, replace(...))``.
SOURCES: dict[tuple[str, str], WeightSource] = {
    ("alexnet2012", "pretrained"): WeightSource(
        model="alexnet2012",
        url="http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
        checksum="sha1:9116a64c0fbe4459d18f4bb6b56d647b63920377",
        size_mib=233,
        licence="BVLC model zoo: released for unrestricted use",
        description="pretrained: Caffe's bvlc_alexnet (ILSVRC-2012; 57.1% top-1, centre crop)",
        converter=_convert_caffe,
    ),
    ("torchvision", "pretrained"): WeightSource(
        model="torchvision",
        url=_torchvision_url(),
        checksum=None,  # torchvision's hash prefix in the file name
        size_mib=233,
        licence=("published with torchvision (BSD-3-Clause; no separate licence is stated for "
                 "the weights); trained on ImageNet-1k"),
        description="pretrained: torchvision AlexNet_Weights.IMAGENET1K_V1 (56.5% top-1)",
    ),
}


def source(model: str, kind: str = "pretrained") -> WeightSource:
    """The registry entry for ``model``'s ``kind`` weights, or a WeightsError saying what exists."""
    get_architecture(model)  # ValueError with the list of models for an unknown name
    try:
        return SOURCES[(model, kind)]
    except KeyError:
        have = ", ".join(sorted({m for m, k in SOURCES if k == kind})) or "none"
        raise WeightsError(
            f"There are no {kind} weights for {model} (models with {kind} weights: {have}); "
            f"use untrained, or give the path of a weight file.") from None


# -- the cache folder and the network switch --------------------------------------------------

def cache_dir() -> Path:
    """``$ALEXNET_VIZ_HOME``, else the platform's user cache folder for alexnet-viz."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("alexnet-viz"))


def weights_dir() -> Path:
    return cache_dir() / "weights"


def offline() -> bool:
    """True when ``ALEXNET_VIZ_OFFLINE`` forbids the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _offline_error(model: str) -> WeightsError:
    return WeightsError(
        f"Pretrained weights for {model} are not in the cache ({weights_dir()}) and "
        f"{OFFLINE_ENV}=1 forbids downloading them. Two ways out: run "
        f"`python -m alexnet_viz download --model {model}` on a connected machine and copy the "
        f"files it writes into {weights_dir()}, or pass the path of a weight file "
        f"(a .caffemodel or a saved state dict) with --weights, or with the app's weights-file option.")


# -- checksums -------------------------------------------------------------------------------

def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _matches(path: Path, algo: str, digest: str) -> bool:
    try:
        return file_digest(path, algo).startswith(digest)
    except OSError:
        return False


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _verify_converted(path: Path) -> bool:
    """A converted file is trusted only when its SHA-256 matches the one written beside it."""
    try:
        want = _sidecar(path).read_text().split()[0]
    except (OSError, IndexError):
        return False
    return _matches(path, "sha256", want)


def _unlink(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


# -- downloading -----------------------------------------------------------------------------

def _remove_stale_parts(dest: Path) -> None:
    """Temp files of downloads and conversions that died without cleaning up (a killed process)."""
    now = time.time()
    for p in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            if now - p.stat().st_mtime > STALE_PART_S:
                p.unlink()
        except OSError:
            pass


def download(url: str, dest: Path, algo: str, digest: str, progress: Progress | None = None,
             timeout: float | None = None) -> Path:
    """Fetch ``url`` into ``dest`` atomically: a temp file in the same folder, verified, renamed.

    On any failure (network, cut-off body, wrong checksum, Ctrl-C) the temp file is removed and
    ``dest`` is left as it was; errors become WeightsError sentences. ``timeout`` (default
    ``TIMEOUT_S``, read at call time) bounds the connection and each read: a stalled server
    becomes an error, never a hang.
    """
    timeout = TIMEOUT_S if timeout is None else timeout
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest)
    host = urllib.parse.urlparse(url).netloc or url
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    done, total = 0, None
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "alexnet-viz"})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as exc:
                raise WeightsError(f"Downloading {dest.name} failed: {host} answered {exc.code} {exc.reason} for {url}.") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise WeightsError(
                    f"Could not reach {host} to download {dest.name} ({reason}). Check the connection "
                    f"and run again, or pass the path of a weight file you already have.") from None
            h = hashlib.new(algo)
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if progress:
                    progress(0, total)
                window_start, window_bytes = time.monotonic(), 0
                last_report = time.monotonic()  # progress(0, total) was just reported
                while True:
                    try:
                        chunk = response.read1(CHUNK)  # returns what has arrived: lets us see a trickle
                    except (OSError, http.client.HTTPException) as exc:
                        raise WeightsError(
                            f"The download of {dest.name} from {host} broke off after {done:,} bytes "
                            f"({type(exc).__name__}: {exc}); nothing was kept, run again to retry.") from None
                    if not chunk:
                        if progress and done != total:
                            progress(done, total)  # the last word, when the length was unknown
                        break
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
                                f"The download of {dest.name} from {host} has stalled ({window_bytes:,} bytes "
                                f"in the last {elapsed:.0f} s); nothing was kept, run again later to retry.")
                        window_start, window_bytes = time.monotonic(), 0
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
        _unlink(tmp)
        raise
    return dest


# One download per process at a time: a second session asking for the same weights waits and
# then finds them cached. Across processes, unique temp files and atomic renames keep it safe.
_fetch_lock = threading.Lock()


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
                if _matches(final, algo, digest):
                    return final
                _unlink(final)  # damaged: fetch it again
            hub = Path(torch.hub.get_dir()) / "checkpoints" / src.filename
            if hub.exists() and _matches(hub, algo, digest):
                return hub  # torchvision already downloaded (and checked) it; read it in place
        else:
            if final.exists():
                if _verify_converted(final):
                    return final
                _unlink(final, _sidecar(final))
            if raw.exists() and not _matches(raw, algo, digest):
                _unlink(raw)
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
                if not raw.exists() and _verify_converted(final):
                    return final
                raise
            check_state_dict(state, model, raw.name)
            save_state_dict(state, final, sidecar=True)
        except OSError as exc:  # the cache folder itself: not writable, disk full
            raise WeightsError(f"Could not write to the cache folder {folder} ({exc.strerror or exc}); "
                               f"free some space or set {HOME_ENV} to a writable folder.") from None
        _unlink(raw)  # the converted file is all that loading needs; saves 233 MB
        return final


def is_cached(model: str) -> bool:
    """Whether ``model``'s pretrained weights are in the cache (not verified; cheap)."""
    src = SOURCES.get((model, "pretrained"))
    if src is None:
        return False
    if (weights_dir() / src.cached_name).exists():
        return True
    return src.converter is None and (Path(torch.hub.get_dir()) / "checkpoints" / src.filename).exists()


# -- torch files -----------------------------------------------------------------------------

def save_state_dict(state: dict[str, torch.Tensor], dest: str | os.PathLike, sidecar: bool = False) -> Path:
    """``torch.save`` atomically; with ``sidecar``, its SHA-256 goes beside it (``NAME.sha256``)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest)  # a conversion killed mid-write leaves 233 MB behind otherwise
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        torch.save(state, tmp)
        if sidecar:
            side_tmp = tmp.with_name(tmp.name + ".sha256")
            side_tmp.write_text(f"{file_digest(tmp, 'sha256')}  {dest.name}\n")
            os.replace(side_tmp, _sidecar(dest))
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp, tmp.with_name(tmp.name + ".sha256"))
        raise
    return dest


def _load_torch_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses a class or function by name ("Unsupported global"); any other
        # UnpicklingError is a damaged file, and telling that person about code would mislead.
        if "global" in str(exc).lower():
            raise WeightsError(
                f"{path} holds Python objects besides tensors, and loading those could run code, so it "
                f"was refused; save the model's state_dict() instead of the model.") from None
        raise WeightsError(f"{path} is damaged: it starts like a PyTorch file but cannot be read as one; "
                           f"save or download it again.") from None
    except EOFError:
        raise WeightsError(f"{path} ends early: it may be a partial download or an interrupted copy; "
                           f"save or download it again.") from None
    except Exception as exc:  # torch raises several kinds for a damaged or foreign file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # some carry no message
        raise WeightsError(f"{path} could not be read as a PyTorch file ({detail}).") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # the common checkpoint wrapper
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict (names -> tensors).")
    for prefix in ("body.", "module."):  # Network.state_dict(), DataParallel
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


@lru_cache(maxsize=None)
def expected_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry of ``model`` and its shape (built on the meta device: no memory)."""
    from .network import build_body

    with torch.device("meta"):
        body = build_body(get_architecture(model))
    return {k: tuple(v.shape) for k, v in body.state_dict().items()}


_LOOKS_LIKE = {
    "alexnet2012": "the 2012 two-tower AlexNet (conv1 has 96 kernels, conv2 reads 48 channels per group)",
    "torchvision": "torchvision's single-tower AlexNet (conv1 has 64 kernels)",
    "keras-tutorial": "the Keras-tutorial AlexNet (BatchNorm layers, 17 classes)",
}


def check_state_dict(state: dict[str, torch.Tensor], model: str, source_name: str) -> None:
    """Raise a WeightsError that names the problem unless ``state`` fits ``model`` exactly."""
    want = expected_shapes(model)
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got == want:
        return
    for other in ARCHITECTURES:
        if other != model and got == expected_shapes(other):
            raise WeightsError(
                f"{source_name} holds weights for a different network: this looks like "
                f"{_LOOKS_LIKE.get(other, other)}; choose the {other} model.")
    problems = [f"{k} has shape {got[k]} but {model} needs {want[k]}" for k in want if k in got and got[k] != want[k]]
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        problems.append(f"missing {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:4])}{' …' if len(extra) > 4 else ''}")
    raise WeightsError(f"{source_name} does not fit {model}: {'; '.join(problems[:4])}.")


# -- local files -----------------------------------------------------------------------------

def state_dict_from_path(path: str | os.PathLike, model: str) -> dict[str, torch.Tensor]:
    """A weight file a user gave -> ``model``'s state dict, checked against the network.

    ``.caffemodel`` files (bvlc_alexnet-shaped, for alexnet2012) are converted on the fly; any
    other file must be a torch state dict saved for ``model``.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(
            f"There is no weight file at {p}. Weights are pretrained, untrained, or the path of a "
            f".caffemodel or a saved state dict.")
    if p.is_dir():
        raise WeightsError(f"{p} is a folder; give the path of a weight file (.caffemodel or a saved state dict).")
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise WeightsError(f"{p} could not be read: {exc.strerror or exc}.") from None
    if not head:
        raise WeightsError(f"{p} is empty; it is not a weight file.")
    # torch's zip format, or its legacy pickle (protocol 2 to 5: anything else is not torch's and
    # would only make torch print a warning before failing)
    if head.startswith(b"PK\x03\x04") or head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        state = _load_torch_file(p)
    else:
        state = _caffe_state(p, model)
    check_state_dict(state, model, p.name)
    return state


def _caffe_state(p: Path, model: str) -> dict[str, torch.Tensor]:
    from .caffe import caffe_to_state_dict, read_caffemodel_layers, refuse_caffenet

    is_caffe_name = p.suffix.lower() == ".caffemodel"
    try:
        blobs, names = read_caffemodel_layers(p)
    except WeightsError:
        if is_caffe_name:
            raise
        raise WeightsError(f"{p} is neither a saved PyTorch state dict nor a Caffe caffemodel.") from None
    if model != "alexnet2012":
        raise WeightsError(
            f"{p.name} is a Caffe caffemodel; caffemodels load into the alexnet2012 model "
            f"(Caffe's bvlc_alexnet), not {model}: choose the alexnet2012 model.")
    refuse_caffenet(names, p.name)
    return caffe_to_state_dict(blobs, model, source=p.name)


def convert_caffemodel(src: str | os.PathLike, dst: str | os.PathLike, model: str = "alexnet2012") -> Path:
    """Convert a bvlc_alexnet-shaped caffemodel into a torch state dict file (BGR -> RGB)."""
    from .caffe import read_caffe_state_dict

    dst = Path(dst).expanduser()
    if dst.is_dir():
        dst = dst / (Path(src).stem + ".pt")
    state = read_caffe_state_dict(src, model)
    check_state_dict(state, model, Path(src).name)
    try:
        return save_state_dict(state, dst)
    except OSError as exc:  # name the file the person chose, not our temp file beside it
        raise WeightsError(f"Could not write {dst} ({exc.strerror or exc}): choose a file in a folder "
                           f"you can write to, with room for about 233 MB.") from None


# -- the entry point -------------------------------------------------------------------------

def apply_weights(body: nn.Module, arch: Architecture, weights: str,
                  progress: Progress | None = None) -> str:
    """Fill ``body`` with ``weights`` (untrained, pretrained or a path); return a description."""
    from .network import paper_init

    if weights == "untrained":
        paper_init(body, arch)
        return "untrained"
    if weights == "pretrained":
        src = source(arch.name)
        path = fetch(arch.name, progress)
        state = _load_torch_file(path)
        check_state_dict(state, arch.name, path.name)
        body.load_state_dict(state)
        return src.description
    state = state_dict_from_path(weights, arch.name)
    body.load_state_dict(state)
    return f"from file {Path(weights).name}"
