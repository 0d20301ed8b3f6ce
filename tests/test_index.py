"""Indexing a folder of photos, and asking the index: checked against brute force over the same
folder, with planted patterns that make the top images predictable (untrained weights, offline)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import cli
from alexnet_viz.index import walk as walk_module
from alexnet_viz.index.build import map_layers
from alexnet_viz.index.evaluate import imagenet_wnids
from helpers import build_network

SIDE = 256  # the networks resize the shorter side to 256: these photos reach the crop unchanged
PLANT = (7, 9)  # the conv1 unit (row, col) where the pattern is planted
CHANNEL = 5  # the conv1 channel whose own kernel is planted
STRENGTHS = (0.3, 1.0, 0.6, 0.8)  # plant_0 .. plant_3: the top order is plant_1, plant_3, plant_2, plant_0


@pytest.fixture(scope="module")
def net():
    return build_network("alexnet2012")


def _offset(net) -> int:
    return int(round((SIDE - net.prep.crop) / 2.0))  # torchvision's centre crop


def plant(net, strength: float) -> Image.Image:
    """Mid-grey (the ILSVRC mean) with conv1 channel CHANNEL's own kernel drawn at unit PLANT."""
    mean = np.array(net.prep.mean, dtype=np.float32)
    img = np.broadcast_to(mean, (SIDE, SIDE, 3)).copy()
    w = net.body.get_submodule(net.arch.layer("conv1").module).weight[CHANNEL].numpy()  # (3, 11, 11)
    w = w.transpose(1, 2, 0) / np.abs(w).max()  # (11, 11, 3)
    y, x = _offset(net) + 4 * PLANT[0], _offset(net) + 4 * PLANT[1]  # conv1: stride 4, no padding
    img[y:y + 11, x:x + 11] += 120 * strength * w
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8))


def noise(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)  # blobs, so deeper layers vary too
    return Image.fromarray(small).resize((SIDE + 40 * (seed % 3), SIDE), Image.BILINEAR)


def make_folder(folder: Path, net) -> Path:
    (folder / "sub" / "deeper").mkdir(parents=True)
    for i, s in enumerate(STRENGTHS):
        plant(net, s).save(folder / f"plant_{i}.png")
    for i in range(6):
        noise(i).save(folder / ("sub" if i % 2 else "sub/deeper") / f"noise_{i}.png")
    noise(0).save(folder / "sub" / "copy_of_noise_0.png")  # the same content twice
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    os.symlink("..", folder / "sub" / "loop")
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory, net) -> Path:
    return make_folder(tmp_path_factory.mktemp("photos"), net)


@pytest.fixture(scope="module")
def built(tmp_path_factory, photos, net):
    out = tmp_path_factory.mktemp("ix")
    calls = []
    report = av.build_index(photos, net, out, progress=lambda d, t: calls.append((d, t)), batch_size=4)
    return out, report, calls


@pytest.fixture(scope="module")
def brute(photos, net):
    """Every image's activations, one at a time: path -> {layer: (C, H, W)} and fc7."""
    out = {}
    for path in sorted(photos.rglob("*.png")):
        with torch.no_grad():
            acts = net.activations(net.preprocess(av.load_image(path)), upto="fc7")
        out[str(path)] = {k: v[0].numpy() for k, v in acts.items()}
    return out


def snapshot(ix, layers=("relu1", "relu3", "relu5"), query=None):
    """Everything the index answers, in a form two indexes can be compared by."""
    return (ix.images, ix.skipped,
            [ix.top_images(layer, c, k=20) for layer in layers for c in (0, CHANNEL, 17)],
            ix.nearest(query, k=20) if query is not None else None)


def assert_same(a, b) -> None:
    """Two snapshots hold the same paths, positions and order; numbers agree to float rounding
    (a batch of other photos may round the last bits of a matrix product differently)."""
    images_a, skipped_a, tops_a, near_a = a
    images_b, skipped_b, tops_b, near_b = b
    assert (images_a, skipped_a) == (images_b, skipped_b)
    for ta, tb in zip(tops_a, tops_b, strict=True):
        assert [(p, pos) for p, _, pos in ta] == [(p, pos) for p, _, pos in tb]
        np.testing.assert_allclose([v for _, v, _ in ta], [v for _, v, _ in tb], rtol=1e-5)
    assert [p for p, _ in near_a] == [p for p, _ in near_b]
    np.testing.assert_allclose([d for _, d in near_a], [d for _, d in near_b], rtol=1e-5)


# -- building ---------------------------------------------------------------------------------
def test_the_layers_are_each_conv_after_its_relu_as_activations_names_them():
    assert map_layers(av.get_architecture("alexnet2012")) == ["relu1", "relu2", "relu3", "relu4", "relu5"]
    assert map_layers(av.get_architecture("torchvision")) == ["relu1", "relu2", "relu3", "relu4", "relu5"]


def test_the_report_counts_and_lists_what_was_indexed_and_skipped(built, photos):
    out, report, calls = built
    assert report.indexed == 10 and report.images == 11  # the copy shares its twin's forward pass
    reasons = dict(report.skipped)
    assert set(reasons) == {str(photos / "notes.txt"), str(photos / "broken.jpg"), str(photos / "sub" / "loop")}
    assert "text file" in reasons[str(photos / "notes.txt")]
    assert "loop" in reasons[str(photos / "sub" / "loop")]
    assert calls[0] == (0, 13) and calls[-1] == (13, 13)
    line = str(report)
    assert "indexed 10 images" in line and "skipped 3" in line and "images/s" in line and "\n" not in line
    ix = av.open_index(out)
    assert len(ix.images) == 11 and set(ix.images) == {str(p) for p in photos.rglob("*.png")}
    assert ix.skipped == report.skipped


def test_the_network_is_fed_exactly_net_preprocess_of_every_new_photo(photos, net, tmp_path, monkeypatch):
    """Decoding threads hand over uint8 pixels; the batch normalised at once must equal
    net.preprocess(load_image(path)) of each new content, in walk order, bit for bit."""
    fed, forward = [], net.activations

    def recording(x, upto=None):
        fed.append(x.clone())
        return forward(x, upto=upto)

    monkeypatch.setattr(net, "activations", recording)  # this instance only, undone after the test
    av.build_index(photos, net, tmp_path / "ix", batch_size=4)
    expected, seen = [], set()
    for path in walk_module.walk(photos).files:
        try:
            img = av.load_image(path)
        except av.ImageError:
            continue
        digest = walk_module.read_digest(path)
        if digest not in seen:  # the copy of noise_0 runs once
            seen.add(digest)
            expected.append(net.preprocess(img))
    assert fed[0].shape[0] == 1  # build_index's probe of the layer shapes
    got = torch.cat(fed[1:])  # (10, 3, 227, 227)
    assert len(expected) == 10 and got.dtype == torch.float32
    assert torch.equal(got, torch.cat(expected))


def test_the_planted_pattern_ranks_the_photos_and_places_the_unit(built, photos):
    ix = av.open_index(built[0])
    top = ix.top_images("relu1", CHANNEL, k=4)
    assert [Path(p).name for p, _, _ in top] == ["plant_1.png", "plant_3.png", "plant_2.png", "plant_0.png"]
    assert all(pos == PLANT for _, _, pos in top)
    assert [v for _, v, _ in top] == sorted((v for _, v, _ in top), reverse=True)


def test_top_images_equal_brute_force_for_every_layer(built, brute):
    ix = av.open_index(built[0])
    checked = 0
    for layer, (c, h, w) in ix.layers.items():
        for channel in range(0, c, max(1, c // 12)):
            values = {p: float(a[layer][channel].max()) for p, a in brute.items()}
            order = sorted(values, key=lambda p: (-values[p], p))
            gaps = np.abs(np.diff([values[p] for p in order]))
            gaps = gaps[gaps > 0]  # the two copies of one photo tie exactly, and are ordered by path
            if values[order[0]] <= 0 or np.any(gaps < 1e-3 * values[order[0]]):
                continue  # near-ties (e.g. a dead channel): either order would be right
            top = ix.top_images(layer, channel, k=len(order))
            assert [p for p, _, _ in top] == order
            for p, v, (r, col) in top:
                np.testing.assert_allclose(v, values[p], rtol=1e-4)
                np.testing.assert_allclose(brute[p][layer][channel, r, col], values[p], rtol=1e-4)
            checked += 1
    assert checked >= 20


def test_nearest_equals_brute_force_in_fc7_space(built, brute, net, tmp_path):
    ix = av.open_index(built[0], net=net)
    query = noise(11)
    x = net.preprocess(query)
    with torch.no_grad():
        q = net.activations(x, upto="fc7")["fc7"][0].numpy().astype(np.float64)
    dist = {p: float(np.linalg.norm(a["fc7"].astype(np.float64) - q)) for p, a in brute.items()}
    order = sorted(dist, key=lambda p: (dist[p], p))
    got = ix.nearest(x, k=6)
    assert [p for p, _ in got] == order[:6]
    np.testing.assert_allclose([d for _, d in got], [dist[p] for p in order[:6]], rtol=1e-4)
    assert ix.nearest(q, k=3) == ix.nearest(x, k=3)[:3]  # a precomputed fc7 vector needs no network
    twins = [p for p, _ in ix.nearest(brute[str(Path(order[0]))]["fc7"], k=2)]
    assert order[0] in twins


def test_top_patch_is_the_receptive_field_cut_from_the_crop(built, photos, net):
    ix = av.open_index(built[0], net=net)
    path = str(photos / "plant_1.png")
    patch = ix.top_patch(path, "relu1", CHANNEL)
    assert patch.size == (11, 11)
    view = np.asarray(net.view(av.load_image(path)))
    y, x = 4 * PLANT[0], 4 * PLANT[1]
    assert np.array_equal(np.asarray(patch), view[y:y + 11, x:x + 11])
    # deeper layers: the same box as trace_unit's receptive field, grey where it leaves the crop
    xt = net.preprocess(av.load_image(path))
    for layer in ("relu2", "relu5"):
        value, (r, c) = ix.position(path, layer, 3)
        u = av.trace_unit(net, xt, layer, 3, r, c)
        left, top, right, bottom = ix.box(layer, r, c)
        assert (top, bottom, left, right) == u.receptive_field
        np.testing.assert_allclose(u.value, value, rtol=1e-4)
        assert ix.top_patch(path, layer, 3).size == (right - left, bottom - top)


def test_the_index_loads_its_own_network_when_opened_without_one(built, photos):
    ix = av.open_index(built[0])
    assert ix.top_patch(str(photos / "plant_1.png"), "relu1", CHANNEL).size == (11, 11)
    assert ix.network().name == "alexnet2012"


# -- resumable and incremental ---------------------------------------------------------------
class Killed(Exception):
    pass


def test_a_killed_run_resumes_and_ends_equal_to_an_uninterrupted_one(built, photos, net, tmp_path):
    out = tmp_path / "ix"

    def die_after_two_batches(done, total):
        if done >= 8:
            raise Killed

    with pytest.raises(Killed):
        av.build_index(photos, net, out, progress=die_after_two_batches, batch_size=4)
    # two whole batches were committed: 8 files, of which broken.jpg and notes.txt are no photos
    assert len(av.open_index(out).images) == 6
    report = av.build_index(photos, net, out, batch_size=4)
    assert (report.reused, report.indexed) == (6, 5)  # 5 + 5 distinct contents, as in one run
    q = brute_query(net)
    assert_same(snapshot(av.open_index(out), query=q), snapshot(av.open_index(built[0]), query=q))


def brute_query(net) -> np.ndarray:
    with torch.no_grad():
        return net.activations(net.preprocess(noise(12)), upto="fc7")["fc7"][0].numpy()


def test_a_rerun_indexes_only_new_and_changed_files_and_drops_removed_ones(photos, net, tmp_path):
    folder = make_folder(tmp_path / "photos", net)
    out = tmp_path / "ix"
    av.build_index(folder, net, out, batch_size=4)
    noise(20).save(folder / "new.png")  # new
    noise(21).save(folder / "plant_0.png")  # changed
    (folder / "sub" / "noise_1.png").unlink()  # removed
    (folder / "sub" / "noise_3.png").rename(folder / "moved.png")  # renamed: no second forward pass
    report = av.build_index(folder, net, out, batch_size=4)
    assert (report.indexed, report.removed) == (2, 2)
    fresh = tmp_path / "fresh"
    av.build_index(folder, net, fresh, batch_size=3)
    q = brute_query(net)
    assert_same(snapshot(av.open_index(out), query=q), snapshot(av.open_index(fresh), query=q))
    again = av.build_index(folder, net, out)
    assert (again.indexed, again.removed, again.reused) == (0, 0, len(av.open_index(out).images))


def test_the_index_is_bound_to_its_network_and_weights(built, tmp_path):
    other = build_network("torchvision")
    with pytest.raises(av.PhotoIndexError, match="built for alexnet2012 with weights 'untrained'"):
        av.open_index(built[0], net=other)
    state = {k: v.clone() for k, v in build_network("alexnet2012").body.state_dict().items()}
    state["conv1.weight"][0, 0, 0, 0] += 1
    torch.save(state, tmp_path / "tweaked.pt")
    tweaked = av.load_network("alexnet2012", tmp_path / "tweaked.pt", "cpu")
    with pytest.raises(av.PhotoIndexError, match="this network is alexnet2012 with weights 'from file tweaked.pt'"):
        av.open_index(built[0], net=tweaked)
    with pytest.raises(av.PhotoIndexError, match="built for"):
        av.build_index(built[1].folder, tweaked, built[0])


def test_an_index_refuses_another_folder_and_a_folder_that_is_no_index(built, net, tmp_path):
    (tmp_path / "p").mkdir()
    with pytest.raises(av.PhotoIndexError, match="was built from"):
        av.build_index(tmp_path / "p", net, built[0])
    with pytest.raises(av.PhotoIndexError, match="is not an index"):
        av.open_index(tmp_path / "p")


# -- bad folders ------------------------------------------------------------------------------
def test_an_empty_folder_makes_an_empty_index(net, tmp_path):
    (tmp_path / "empty").mkdir()
    report = av.build_index(tmp_path / "empty", net, tmp_path / "ix")
    assert (report.indexed, report.images, report.skipped) == (0, 0, [])
    ix = av.open_index(tmp_path / "ix")
    assert ix.images == [] and ix.top_images("relu1", 0) == [] and ix.nearest(np.zeros(4096), k=3) == []


def test_a_folder_of_broken_files_is_skipped_file_by_file(net, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    (folder / "empty.jpg").write_bytes(b"")
    os.symlink(folder / "missing.jpg", folder / "dangling.jpg")
    os.symlink(folder / "self.jpg", folder / "self.jpg")
    report = av.build_index(folder, net, tmp_path / "ix")
    assert report.indexed == 0 and len(report.skipped) == 4
    reasons = dict(report.skipped)
    assert "missing" in reasons[str(folder / "dangling.jpg")] and "loop" in reasons[str(folder / "self.jpg")]


def test_a_symlink_loop_is_walked_once(net, tmp_path):
    folder = tmp_path / "loopy"
    (folder / "a").mkdir(parents=True)
    noise(1).save(folder / "a" / "one.png")
    os.symlink(folder, folder / "a" / "back")
    os.symlink(folder / "a", folder / "also_a")
    report = av.build_index(folder, net, tmp_path / "ix")
    assert report.images == 1
    # the link back to the top, and whichever of a / also_a is reached second
    assert len(report.skipped) == 2 and all("already walked" in r for _, r in report.skipped)
    assert any(Path(p).name == "back" for p, _ in report.skipped)


def test_an_unreadable_file_is_skipped(net, tmp_path, monkeypatch):
    # Tests run as root, which chmod 000 does not stop: the read itself is made to fail instead.
    folder = tmp_path / "p"
    folder.mkdir()
    noise(1).save(folder / "ok.png")
    noise(2).save(folder / "secret.png")
    real = walk_module.read_digest

    def read_digest(path):
        if Path(path).name == "secret.png":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(walk_module, "read_digest", read_digest)
    report = av.build_index(folder, net, tmp_path / "ix")
    assert report.images == 1 and report.skipped == [(str(folder / "secret.png"), "cannot be read (Permission denied)")]


# -- the command line -------------------------------------------------------------------------
def test_cli_index_prints_one_line_and_refuses_another_network(photos, tmp_path, capsys):
    out = tmp_path / "ix"
    assert cli.main(["index", str(photos), "--weights", "untrained", "--out", str(out), "--batch-size", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "indexed 10 images" in lines[0] and "images/s" in lines[0]
    assert cli.main(["index", str(photos), "--model", "torchvision", "--weights", "untrained", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "built for alexnet2012" in err[0]
    assert cli.main(["index", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err


# -- accuracy on a labelled folder ------------------------------------------------------------
def test_the_shipped_wordnet_ids_agree_with_torchvision():
    from torchvision.datasets.imagenette import Imagenette

    wnids = imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    names = av.class_names("alexnet2012")
    for wnid, synonyms in Imagenette._WNID_TO_CLASS.items():
        if wnid in wnids:  # Imagenette's parachute id is a different WordNet sense
            assert names[wnids.index(wnid)] in synonyms


def test_evaluate_matches_predict_image_by_image(net, tmp_path, capsys):
    folder = tmp_path / "val"
    for name, seeds in (("n01440764", (1, 2)), ("goldfish", (3,)), ("Great White Shark", (4, 5))):
        (folder / name).mkdir(parents=True)
        for s in seeds:
            noise(s).save(folder / name / f"{s}.png")
    (folder / "goldfish" / "bad.jpg").write_bytes(b"nope")
    labels = {"n01440764": 0, "goldfish": 1, "Great White Shark": 2}
    top1 = top5 = 0
    for name, label in labels.items():
        for path in sorted((folder / name).glob("*.png")):
            got = [i for i, _, _ in net.predict(net.preprocess(av.load_image(path)), top=5)]
            top1 += got[0] == label
            top5 += label in got
    result = av.evaluate(folder, net, batch_size=2)
    assert result.images == 5 and result.top1 == top1 / 5 and result.top5 == top5 / 5
    assert result.per_class["goldfish"]["images"] == 1 and result.per_class["n01440764"]["class"] == "tench"
    assert len(result.skipped) == 1
    assert cli.main(["evaluate", str(folder), "--weights", "untrained", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["images"], data["top1"], data["top5"]) == (5, top1 / 5, top5 / 5)
    assert data["ten_crop"] is False
    assert set(data["per_class"]) == set(labels)
    warped = sum(label in [i for i, _, _ in net.predict(net.preprocess(av.load_image(p), "warp"), top=5)][:1]
                 for name, label in labels.items() for p in sorted((folder / name).glob("*.png")))
    assert cli.main(["evaluate", str(folder), "--weights", "untrained", "--json", "--mode", "warp"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["top1"] == warped / 5 and "warp" in data["preprocessing"]


def test_evaluate_names_unknown_folders_and_valid_ones(tmp_path, capsys):
    for name in ("tench", "kittens"):
        (tmp_path / name).mkdir()
    assert cli.main(["evaluate", str(tmp_path), "--weights", "untrained"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "kittens" in err and "n01440764" in err and "'tench'" in err


# -- evaluate --ten-crop ------------------------------------------------------------------------
def _decisive(net) -> av.Network:
    """A copy of the untrained network whose answer depends on the picture: untrained biases
    (0.1 and 1 in the paper's init) make every photo the same class, so they are zeroed and fc8
    gets unit-variance weights. Ten-crop and the centre crop then disagree on some photos."""
    import copy

    rigged = copy.deepcopy(net)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in rigged.body.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.bias is not None:
                m.bias.zero_()
        fc8 = rigged.body.get_submodule(rigged.arch.layer("fc8").module)
        fc8.weight.copy_(torch.randn(fc8.weight.shape, generator=g))
    return rigged


def _blocks(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # coarse blocks: corners differ from the centre
    return Image.fromarray(small).resize((300 + 20 * (seed % 3), 256), Image.NEAREST)


def _independent_probs(net, img: Image.Image, mode: str, ten: bool) -> torch.Tensor:
    """torchvision's own resize (OpenCV's for warp), the central square's corners by five_crop, the
    centre crop, and hflip (each patch mirrored, as §4.1 says; TF.ten_crop mirrors the image first,
    which moves the mirrored centre by a pixel), one photo's crops as one batch: the mean softmax,
    (classes,)."""
    from torchvision.transforms import functional as TF

    if mode == "aspect":
        big = TF.resize(img.convert("RGB"), net.prep.resize, antialias=True)
    else:  # Caffe's warp: OpenCV's bilinear without antialiasing
        import cv2

        side = net.prep.resize
        big = Image.fromarray(cv2.resize(np.asarray(img.convert("RGB")), (side, side), interpolation=cv2.INTER_LINEAR))
    square = TF.center_crop(big, net.prep.resize)  # §2: the central square; §4.1: its corners
    five = list(TF.five_crop(square, net.prep.crop))[:4] + [TF.center_crop(big, net.prep.crop)]
    crops = five + [TF.hflip(c) for c in five] if ten else [five[4]]
    x = torch.stack([TF.normalize(TF.pil_to_tensor(c).float() * net.prep.scale, net.prep.mean, net.prep.std)
                     for c in crops])
    with torch.no_grad():
        return torch.softmax(net(x), dim=1).mean(dim=0)


@pytest.mark.slow  # about 200 crops through the network: 44 s on a busy 2-core machine
def test_evaluate_ten_crop_averages_the_ten_softmaxes_as_an_independent_computation_does(net, tmp_path, monkeypatch,
                                                                                         capsys):
    rigged = _decisive(net)
    folder = tmp_path / "val"
    photos = {}  # path -> label: each photo filed under its own ten-crop top-1 class (aspect mode)
    known = {}  # (path, mode, ten) -> the independent top 5
    for seed in range(6, 12):  # seeds where the centre crop alone names another class for some
        img = _blocks(seed)
        top = _independent_probs(rigged, img, "aspect", ten=True).topk(5).indices.tolist()
        path = folder / rigged.categories[top[0]] / f"{seed}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        photos[path], known[path, "aspect", True] = top[0], top

    def expected(mode: str, ten: bool) -> tuple[float, float]:
        top = [(known.get((p, mode, ten)) or _independent_probs(rigged, Image.open(p), mode, ten).topk(5).indices.tolist(),
                label) for p, label in photos.items()]
        return (sum(t[0] == label for t, label in top) / len(top), sum(label in t for t, label in top) / len(top))

    ten = av.evaluate(folder, rigged, batch_size=3, ten_crop=True)  # 3 photos = one forward of 30 crops
    centre = av.evaluate(folder, rigged, batch_size=3)
    assert (ten.top1, ten.top5) == expected("aspect", True) == (1.0, 1.0)
    assert (centre.top1, centre.top5) == expected("aspect", False)
    assert centre.top1 < 1.0  # the photos were chosen so that the test can tell the two apart
    assert ten.ten_crop and not centre.ten_crop and "ten 227×227 crops" in ten.preprocessing
    assert "the four corners of the central 256×256 square" in ten.preprocessing
    warped = av.evaluate(folder, rigged, batch_size=3, ten_crop=True, mode="warp")
    assert (warped.top1, warped.top5) == expected("warp", True)

    monkeypatch.setattr(cli, "_network_for", lambda args: rigged)
    assert cli.main(["evaluate", str(folder), "--json", "--ten-crop", "--batch-size", "5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ten_crop"] is True and (data["images"], data["top1"], data["top5"]) == (6, 1.0, 1.0)
    assert sum(c["images"] for c in data["per_class"].values()) == 6
