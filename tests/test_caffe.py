"""Reading Caffe files, converting bvlc_alexnet, and the proof: OpenCV's independent Caffe
importer gives the same probabilities as this project on bvlc_alexnet-shaped random weights.

The full-size files (~233 MB each, both layouts) are written once per module into pytest's tmp.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from alexnet_viz import WeightsError, load_network, read_caffemodel
from alexnet_viz import weights as W
from alexnet_viz.weights.caffe import NetParameter, caffe_to_state_dict, write_caffemodel
from alexnet_viz.cli import main
from localserver import LocalServer

DEPLOY = Path(__file__).parent / "data" / "bvlc_alexnet_deploy.prototxt"
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2), for hand-made files."""
    from alexnet_viz.weights.caffe import _varint

    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# -- the reader and writer, on small files -----------------------------------------------------

@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_write_then_read_gives_the_same_arrays(tmp_path, layout):
    rng = np.random.default_rng(1)
    blobs = {"conv1": [rng.standard_normal((4, 3, 2, 2), dtype=np.float32), rng.standard_normal(4, dtype=np.float32)],
             "fc": [rng.standard_normal((5, 6), dtype=np.float32), rng.standard_normal(5, dtype=np.float32)]}
    write_caffemodel(tmp_path / "m.caffemodel", blobs, layout)
    back = read_caffemodel(tmp_path / "m.caffemodel")
    assert list(back) == ["conv1", "fc"]
    if layout == "v1":  # legacy num/channels/height/width, as the 2014 file stores them
        assert [a.shape for a in back["fc"]] == [(1, 1, 5, 6), (1, 1, 1, 5)]
    else:
        assert [a.shape for a in back["fc"]] == [(5, 6), (5,)]
    for name in blobs:
        for a, b in zip(blobs[name], back[name]):
            np.testing.assert_array_equal(a, b.reshape(a.shape))


def test_unknown_fields_and_layers_without_weights_are_skipped(tmp_path):
    blob = NetParameter().layer.add().blobs.add()
    blob.shape.dim.extend([2])
    blob.data.extend([1.5, -2.0])
    conv = (_field(1, b"conv1") + _field(2, b"Convolution") + _field(3, b"data") + _field(4, b"conv1")
            + _field(106, _field(1, b"\x08\x60")) + _field(7, blob.SerializeToString()))
    relu = _field(1, b"relu1") + _field(2, b"ReLU") + _field(3, b"conv1") + _field(4, b"conv1")
    data = _field(1, b"AlexNet") + _field(3, b"data") + _field(100, conv) + _field(100, relu)
    (tmp_path / "m.caffemodel").write_bytes(data)
    blobs = read_caffemodel(tmp_path / "m.caffemodel")
    assert list(blobs) == ["conv1"]
    np.testing.assert_array_equal(blobs["conv1"][0], [1.5, -2.0])


@pytest.mark.parametrize("content, message", [
    (b"", "is empty; it is not a weight file"),  # refused from stat alone, before reading
    (b"name: 'AlexNet'\nlayer { name: 'conv1' }\n", "not a caffemodel"),  # a prototxt, not weights
    (_field(1, b"AlexNet"), "holds no layers with weights"),  # a NetParameter, but empty
])
def test_files_that_are_not_caffemodels_are_refused(tmp_path, content, message):
    path = tmp_path / "x.caffemodel"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        read_caffemodel(path)


def test_a_file_over_the_weight_file_cap_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "movie.caffemodel"
    with open(path, "wb") as f:
        f.truncate(3 * 2**30)  # sparse: 3 GiB on paper, nothing on disk; reading it would take 3 GiB
    with pytest.raises(WeightsError, match=r"3,072 MiB, more than the 512 MiB"):
        read_caffemodel(path)


def test_a_blob_whose_data_does_not_fill_its_shape_is_refused(tmp_path):
    net = NetParameter()
    blob = net.layer.add(name="conv1", type="Convolution").blobs.add()
    blob.shape.dim.extend([2, 3])
    blob.data.extend([1.0] * 5)
    (tmp_path / "x.caffemodel").write_bytes(net.SerializeToString())
    with pytest.raises(WeightsError, match=r"'conv1', blob 0 is damaged: it declares shape \(2, 3\) \(6 values\) but holds 5"):
        read_caffemodel(tmp_path / "x.caffemodel")


# -- the converter -----------------------------------------------------------------------------

def legacy_blobs(fill) -> dict[str, list[np.ndarray]]:
    """bvlc_alexnet's layers with the 2014 file's legacy 4-d dims; ``fill(shape)`` makes arrays."""
    shapes = W.expected_shapes("alexnet2012")
    out = {}
    for name in LAYERS:
        w, b = shapes[f"{name}.weight"], shapes[f"{name}.bias"]
        out[name] = [fill((1,) * (4 - len(w)) + w), fill((1, 1, 1) + b)]
    return out


def test_converter_reshapes_legacy_dims_and_turns_conv1_from_bgr_to_rgb():
    blobs = legacy_blobs(lambda s: np.arange(np.prod(s), dtype=np.float32).reshape(s))
    state = caffe_to_state_dict(blobs)
    assert state["fc6.weight"].shape == (4096, 9216) and state["fc8.bias"].shape == (1000,)
    np.testing.assert_array_equal(state["fc6.weight"].numpy(), blobs["fc6"][0][0, 0])
    caffe_w = blobs["conv1"][0]  # (96, 3, 11, 11), input channels B, G, R
    for rgb, bgr in ((0, 2), (1, 1), (2, 0)):
        np.testing.assert_array_equal(state["conv1.weight"][:, rgb].numpy(), caffe_w[:, bgr])
    # the other convs keep their channel order
    np.testing.assert_array_equal(state["conv2.weight"].numpy(), blobs["conv2"][0])


def test_converter_names_the_layer_that_does_not_fit():
    blobs = legacy_blobs(lambda s: np.zeros(s, np.float32))
    blobs["conv4"][0] = np.zeros((384, 384, 3, 3), np.float32)  # an ungrouped conv4
    with pytest.raises(WeightsError, match=r"'conv4' has weights of shape \(384, 384, 3, 3\), but alexnet2012 needs \(384, 192, 3, 3\)"):
        caffe_to_state_dict(blobs)
    blobs["conv4"][0] = np.zeros((1, 1, 384, 1728), np.float32)  # right size, wrong shape
    with pytest.raises(WeightsError, match=r"'conv4' has weights of shape \(1, 1, 384, 1728\)"):
        caffe_to_state_dict(blobs)
    blobs = legacy_blobs(lambda s: np.zeros(s, np.float32))
    blobs["fc8_flowers"] = blobs.pop("fc8")  # a fine-tuned net with a renamed classifier
    with pytest.raises(WeightsError, match="no layer named 'fc8' with weights.*fc8_flowers"):
        caffe_to_state_dict(blobs)


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_caffenet_is_refused_by_its_layer_order_and_bvlc_alexnets_order_passes(tmp_path, layout):
    """CaffeNet's weights have bvlc_alexnet's names and shapes; only pool1-before-norm1 tells.
    The order is checked first, so small arrays are enough here."""
    small = [np.zeros((2, 3, 1, 1), np.float32), np.zeros(2, np.float32)]
    types = {"relu1": "ReLU", "pool1": "Pooling", "norm1": "LRN"}

    def net(order: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
        return {name: small if name in LAYERS else [] for name in (*order, *LAYERS[1:])}

    caffenet, alexnet = tmp_path / "caffenet.caffemodel", tmp_path / "alexnet.caffemodel"
    write_caffemodel(caffenet, net(("conv1", "relu1", "pool1", "norm1")), layout, types=types)
    write_caffemodel(alexnet, net(("conv1", "relu1", "norm1", "pool1")), layout, types=types)
    with pytest.raises(WeightsError, match="caffenet.caffemodel looks like CaffeNet.*use bvlc_alexnet"):
        load_network("alexnet2012", str(caffenet), device="cpu")
    with pytest.raises(WeightsError, match="looks like CaffeNet"):
        W.convert_caffemodel(caffenet, tmp_path / "out.pt")
    assert list(read_caffemodel(caffenet)) == list(LAYERS)  # the reader itself takes any caffemodel
    with pytest.raises(WeightsError, match=r"'conv1' has weights of shape \(2, 3, 1, 1\)"):  # past the order check
        load_network("alexnet2012", str(alexnet), device="cpu")


# -- the proof against OpenCV's Caffe importer (full size) ---------------------------------------

def random_bvlc_blobs(seed: int = 0) -> dict[str, list[np.ndarray]]:
    """bvlc_alexnet-shaped random weights (Caffe's BGR conv1), He-scaled so activations neither
    vanish nor explode through 8 layers and the softmax has a clear top-5."""
    rng = np.random.default_rng(seed)
    shapes = W.expected_shapes("alexnet2012")
    blobs = {}
    for name in LAYERS:
        w = shapes[f"{name}.weight"]
        std = np.sqrt(2.0 / np.prod(w[1:]))
        if name == "conv1":
            std /= 60.0  # inputs are on the 0–255 scale, not unit scale
        blobs[name] = [rng.standard_normal(w, dtype=np.float32) * np.float32(std),
                       rng.standard_normal(shapes[f"{name}.bias"], dtype=np.float32) * np.float32(0.1)]
    return blobs


def test_images() -> list[Image.Image]:
    """Two generated pictures whose red and blue channels differ everywhere (so a BGR/RGB mix-up
    changes the answer)."""
    yy, xx = np.mgrid[0:300, 0:400]
    gradient = np.stack([xx * 255 // 400, yy * 255 // 300, 255 - xx * 255 // 400], -1).astype(np.uint8)
    rng = np.random.default_rng(3)
    shapes = Image.fromarray((rng.random((260, 320, 3)) * 80).astype(np.uint8))
    draw = ImageDraw.Draw(shapes)
    draw.ellipse((40, 30, 200, 190), fill=(230, 40, 20))
    draw.rectangle((150, 120, 300, 240), fill=(20, 60, 220))
    draw.line((0, 250, 320, 10), fill=(250, 250, 60), width=9)
    return [Image.fromarray(gradient), shapes]


test_images.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def bvlc_shaped(tmp_path_factory) -> dict[str, Path]:
    """Random bvlc_alexnet-shaped caffemodels in both layouts (~233 MB each)."""
    folder = tmp_path_factory.mktemp("caffe")
    blobs = random_bvlc_blobs()
    paths = {}
    for layout in ("v1", "v2"):
        paths[layout] = folder / f"bvlc_alexnet_{layout}.caffemodel"
        write_caffemodel(paths[layout], blobs, layout)
    return paths


def our_probabilities(net, images) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    xs = [net.preprocess(img) for img in images]  # (1, 3, 227, 227) RGB minus the mean
    with torch.no_grad():
        return xs, [torch.softmax(net(x), dim=1)[0].numpy() for x in xs]


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_probabilities_match_opencvs_caffe_importer(bvlc_shaped, layout):
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed: pip install -r requirements.txt "
                              "brings opencv-python-headless<5.")
    path = bvlc_shaped[layout]
    net = load_network("alexnet2012", str(path), device="cpu")
    reference = cv2.dnn.readNetFromCaffe(str(DEPLOY), str(path))
    xs, ours = our_probabilities(net, test_images())
    for x, p in zip(xs, ours):
        reference.setInput(np.ascontiguousarray(x.flip(1).numpy()))  # OpenCV wants BGR
        q = reference.forward("prob").reshape(-1)  # the deploy net ends in a Softmax
        assert p.max() > 0.02  # 20× the uniform 0.001: the random net has a clear top-5
        assert list(np.argsort(-p)[:5]) == list(np.argsort(-q)[:5])
        np.testing.assert_allclose(p, q, atol=1e-4, rtol=0)
    assert not np.array_equal(np.argsort(-ours[0])[:5], np.argsort(-ours[1])[:5])  # the images matter


@pytest.mark.slow
def test_download_convert_load_end_to_end(bvlc_shaped, tmp_path, monkeypatch, capsys):
    """bvlc_alexnet from a (local) server: verified by SHA-1, converted once, loaded from the cache."""
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ALEXNET_VIZ_OFFLINE", raising=False)
    path = bvlc_shaped["v1"]
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    expected = our_probabilities(load_network("alexnet2012", str(path), device="cpu"), test_images()[:1])[1][0]
    with LocalServer() as server:
        server.files["bvlc_alexnet.caffemodel"] = path
        src = W.SOURCES[("alexnet2012", "pretrained")]
        monkeypatch.setitem(W.SOURCES, ("alexnet2012", "pretrained"),
                            replace(src, url=server.url("bvlc_alexnet.caffemodel"), checksum=f"sha1:{sha1}"))
        assert main(["download"]) == 0
        assert "MB" in capsys.readouterr().err
        cache = tmp_path / "home" / "weights"
        assert sorted(p.name for p in cache.iterdir()) == ["bvlc_alexnet.pt", "bvlc_alexnet.pt.sha256"]

        monkeypatch.setenv("ALEXNET_VIZ_OFFLINE", "1")  # loading needs no network now
        net = load_network("alexnet2012", "pretrained", device="cpu")
        assert "bvlc_alexnet" in net.weights
        np.testing.assert_array_equal(our_probabilities(net, test_images()[:1])[1][0], expected)

        with open(cache / "bvlc_alexnet.pt", "r+b") as f:  # damage the converted file
            f.seek(os.path.getsize(cache / "bvlc_alexnet.pt") // 2)
            f.write(b"\x00" * 64)
        with pytest.raises(WeightsError, match="not in the cache"):  # removed, and offline
            load_network("alexnet2012", "pretrained", device="cpu")
        monkeypatch.delenv("ALEXNET_VIZ_OFFLINE")
        net = load_network("alexnet2012", "pretrained", device="cpu")  # fetched and converted again
        np.testing.assert_array_equal(our_probabilities(net, test_images()[:1])[1][0], expected)
        assert server.requests["bvlc_alexnet.caffemodel"] == 2


@pytest.mark.slow
def test_cli_convert_caffe_writes_a_file_that_loads(bvlc_shaped, tmp_path, capsys):
    dst = tmp_path / "converted.pt"
    assert main(["convert-caffe", str(bvlc_shaped["v2"]), str(dst)]) == 0
    assert str(dst) in capsys.readouterr().out
    a = load_network("alexnet2012", str(dst), device="cpu")
    b = load_network("alexnet2012", str(bvlc_shaped["v2"]), device="cpu")
    for (k, v), w in zip(a.body.state_dict().items(), b.body.state_dict().values()):
        assert torch.equal(v, w), k
    with pytest.raises(WeightsError, match="looks like the 2012 two-tower AlexNet.*choose the alexnet2012 model"):
        load_network("torchvision", str(dst), device="cpu")


# -- the real bvlc_alexnet, when a reader has it ------------------------------------------------

BVLC = os.environ.get("ALEXNET_VIZ_BVLC")


@pytest.mark.slow
@pytest.mark.skipif(not BVLC, reason="set ALEXNET_VIZ_BVLC to a downloaded bvlc_alexnet.caffemodel to run this")
def test_real_bvlc_alexnet_classifies_photos():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the photos")
    net = load_network("alexnet2012", BVLC, device="cpu")
    cat = {int(i) for i, *_ in net.predict(net.preprocess(Image.fromarray(skimage_data.chelsea())))}
    assert cat & {281, 282, 283, 284, 285}, "chelsea() should be a cat: tabby, tiger cat, Persian, Siamese, Egyptian"
    coffee = {int(i) for i, *_ in net.predict(net.preprocess(Image.fromarray(skimage_data.coffee())))}
    assert coffee & {504, 967, 968}, "coffee() should be a coffee mug, an espresso or a cup"
