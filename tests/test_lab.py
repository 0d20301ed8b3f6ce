"""The paper lab (alexnet_viz.lab): each experiment equals the same change made by hand to an
independent copy of the network, and the shared network is never changed."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T
from torchvision.transforms import functional as TF

import alexnet_viz as av
from alexnet_viz import lab

SPLIT = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]


@pytest.fixture(scope="module")
def net() -> av.Network:
    return av.load_network("alexnet2012", "untrained", device="cpu")


@pytest.fixture(scope="module")
def tv() -> av.Network:
    return av.load_network("torchvision", "untrained", device="cpu")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A structured picture (not flat colour) of an aspect ratio that makes every crop differ."""
    yy, xx = np.mgrid[0:300, 0:410]
    rgb = np.stack([(xx * 255 // 409), (yy * 255 // 299), ((xx + yy) % 97) * 2], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture(scope="module")
def x(net, photo) -> torch.Tensor:
    return net.preprocess(photo)


def rebuilt(net: av.Network, body: nn.Module) -> av.Network:
    """A network object around a (changed) copy of the body: its own module references."""
    return av.Network(net.arch, body, "copy", torch.device("cpu"))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# -- two GPUs (§3.2) ---------------------------------------------------------------------------
@pytest.mark.parametrize("tower,from_layer", [("gpu1", "conv1"), ("gpu2", "conv1"), ("gpu2", "conv3"),
                                              ("gpu1", "fc6")])
def test_a_knocked_out_tower_equals_a_copy_whose_tower_weights_and_biases_are_zero(net, x, tower, from_layer):
    body = copy.deepcopy(net.body)
    with torch.no_grad():
        for name in SPLIT[SPLIT.index(from_layer):]:
            m = getattr(body, name)
            half = m.weight.shape[0] // 2  # GPU 1 holds the first half of the outputs, GPU 2 the rest
            rows = slice(0, half) if tower == "gpu1" else slice(half, None)
            m.weight[rows] = 0
            m.bias[rows] = 0
    want = rebuilt(net, body)(x)
    got = av.ablate(net, x, tower_off=tower, from_layer=from_layer)
    assert close(got, want), (got - want).abs().max()
    assert not close(got, net(x)), "knocking out a tower must change the logits"


def test_the_knockout_covers_exactly_the_split_layers_from_the_chosen_one(net):
    plan = lab.knocked_out(net.arch, "gpu2", "conv4")
    assert list(plan) == ["conv4", "conv5", "fc6", "fc7"]
    assert plan["conv4"] == range(192, 384) and plan["fc6"] == range(2048, 4096)


def test_a_tower_on_the_one_tower_network_is_a_sentence(tv):
    x = tv.preprocess(Image.new("RGB", (256, 256), (10, 200, 30)))
    with pytest.raises(ValueError, match=r"torchvision runs as one tower.*no gpu2 to knock out.*\.$"):
        av.ablate(tv, x, tower_off="gpu2")


@pytest.mark.parametrize("kwargs,words", [
    (dict(tower_off="gpu3"), "tower_off must be gpu1 or gpu2"),
    (dict(tower_off="gpu1", from_layer="fc8"), "from_layer must be a layer split over the two GPUs"),
    (dict(lrn="maybe"), "lrn must be one of caffe, paper, k2, off"),
    (dict(lrn="on"), "lrn must be one of caffe, paper, k2, off, not 'on'"),  # the old name of "caffe"
    (dict(pool="3x3"), "pool must be one of overlapping, non-overlapping"),
    (dict(zero_channels={"conv5": [256]}), "conv5 has channels 0 to 255; there is no channel 256"),
    (dict(zero_channels={"conv9": [1]}), "zero_channels names 'conv9'"),
])
def test_mistakes_are_sentences(net, x, kwargs, words):
    with pytest.raises(ValueError, match=words):
        av.ablate(net, x, **kwargs)


# -- LRN (§3.3) and pooling (§3.4) -----------------------------------------------------------------
def test_an_input_the_network_cannot_take_is_a_sentence(net):
    with pytest.raises(ValueError, match="alexnet2012 cannot run on a 50×50 input"):
        av.ablate(net, torch.zeros(1, 3, 50, 50), lrn="off")
    with pytest.raises(ValueError, match="3-channel images"):
        av.ablate(net, torch.zeros(1, 1, 227, 227))


def test_lrn_off_equals_the_network_with_identity_in_place_of_the_norm_layers(net, x):
    body = copy.deepcopy(net.body)
    body.norm1, body.norm2 = nn.Identity(), nn.Identity()
    want = rebuilt(net, body)(x)
    got = av.ablate(net, x, lrn="off")
    assert close(got, want) and not torch.equal(got, net(x))


def test_lrn_k2_is_k_2_with_the_networks_other_constants(net, x):
    body = copy.deepcopy(net.body)
    body.norm1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    body.norm2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    assert close(av.ablate(net, x, lrn="k2"), rebuilt(net, body)(x))


def hand_lrn(a: np.ndarray, k: float, alpha_per_term: float, beta: float, n: int = 5) -> np.ndarray:
    """b_c = a_c / (k + α' Σ_{j=c-n//2}^{c+n//2} a_j²)^β over the channels that exist, float64, by loops."""
    out = np.empty_like(a)
    for c in range(a.shape[0]):
        total = np.zeros(a.shape[1:])
        for j in range(max(0, c - n // 2), min(a.shape[0], c + n // 2 + 1)):
            total += a[j] ** 2
        out[c] = a[c] / (k + alpha_per_term * total) ** beta
    return out


@pytest.mark.parametrize("choice,k,alpha_per_term", [("caffe", 1.0, 2e-5),  # α = 1e-4 divided by n = 5
                                                     ("paper", 2.0, 1e-4),  # §3.3 as printed
                                                     ("k2", 2.0, 2e-5)])
def test_each_lrn_choice_equals_a_hand_written_lrn(net, x, choice, k, alpha_per_term):
    acts = lab.ablate_activations(net, x * 8, lrn=choice)  # brighter input: sums of squares that matter
    for before, after in (("relu1", "norm1"), ("relu2", "norm2")):
        a = acts[before][0].double().numpy()
        want = hand_lrn(a, k, alpha_per_term, 0.75)
        np.testing.assert_allclose(acts[after][0].double().numpy(), want, rtol=1e-5, atol=1e-6)
        others = [hand_lrn(a, k2, a2, 0.75) for k2, a2 in ((1.0, 2e-5), (2.0, 1e-4), (2.0, 2e-5))
                  if (k2, a2) != (k, alpha_per_term)]
        assert all(np.abs(o - want).max() > 1e-3 * np.abs(want).max() for o in others), "the readings must differ here"
    if choice == "caffe":
        assert torch.equal(av.ablate(net, x, lrn="caffe"), net(x)), "caffe is the network as built"


def test_non_overlapping_pooling_gives_6x6_at_pool5_and_equals_2x2_pools_by_hand(net, x):
    acts = lab.ablate_activations(net, x, pool="non-overlapping")
    assert [tuple(acts[p].shape[2:]) for p in ("pool1", "pool2", "pool5")] == [(27, 27), (13, 13), (6, 6)]
    body = copy.deepcopy(net.body)
    body.pool1, body.pool2, body.pool5 = (nn.MaxPool2d(2, 2) for _ in range(3))
    got = av.ablate(net, x, pool="non-overlapping")
    assert close(got, rebuilt(net, body)(x)) and not close(got, net(x))
    assert close(acts["fc8"], got)


def test_zero_channels_equals_zeroing_them_by_hand(net, x):
    chans = [3, 40, 200]
    acts = net.activations(x)
    h = acts["pool5"].clone()
    h[:, chans] = 0
    b = net.body
    by_hand = b.fc8(b.relu7(b.fc7(b.relu6(b.fc6(torch.flatten(h, 1))))))
    got = av.ablate(net, x, zero_channels={"pool5": chans})
    assert close(got, by_hand) and not close(got, net(x))
    inside = lab.ablate_activations(net, x, zero_channels={"conv5": [7]})
    assert inside["conv5"][0, 7].abs().max() == 0 and inside["relu5"][0, 7].abs().max() == 0
    assert torch.equal(inside["conv5"][0, 8], acts["conv5"][0, 8])


def test_nothing_changed_gives_the_networks_own_logits(net, x):
    assert torch.equal(av.ablate(net, x), net(x))
    unchanged = lab.ablate_activations(net, x)
    assert list(unchanged) == list(net.activations(x))


def test_lrn_and_pool_choices_on_torchvision(tv):
    x = tv.preprocess(Image.new("RGB", (300, 256), (120, 60, 200)))
    with pytest.raises(ValueError, match="torchvision has no local response normalisation"):
        av.ablate(tv, x, lrn="off")
    assert av.ablate(tv, x, pool="non-overlapping").shape == (1, 1000)


# -- the shared network is never changed --------------------------------------------------------------
def test_no_call_changes_the_shared_network(net, x, photo):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls = [
        lambda: av.ablate(net, x, tower_off="gpu1", lrn="paper", pool="non-overlapping",
                          zero_channels={"conv2": [1, 2]}),
        lambda: lab.ablate_activations(net, x, tower_off="gpu2", from_layer="conv3"),
        lambda: lab.ablation_effect(net, x, lrn="off"),
        lambda: av.ten_crop(net, photo),
        lambda: lab.mc_dropout(net, x, n=4),
        lambda: lab.dropout_scaling(net, x, n=8),
    ]
    for call in calls:
        call()
        after = net.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
        assert isinstance(net.body.norm1, nn.LocalResponseNorm) and net.body.norm1.k == 1.0
        assert net.body.pool1.kernel_size == 3


# -- ten-crop testing (§4.1) -------------------------------------------------------------------------
def independent_ten_crop(net: av.Network, img: Image.Image) -> tuple[list[Image.Image], np.ndarray]:
    """torchvision's own transforms: resize, the central square, its four corner crops, the centre crop
    (net.view's), their mirrors, the network's normalisation."""
    big = T.Resize(net.prep.resize, interpolation=T.InterpolationMode.BILINEAR, antialias=True)(img)
    square = TF.center_crop(big, net.prep.resize)  # §2: the central 256×256 patch
    five = list(TF.five_crop(square, net.prep.crop))[:4] + [TF.center_crop(big, net.prep.crop)]  # tl tr bl br centre
    crops = five + [TF.hflip(c) for c in five]
    norm = T.Compose([T.PILToTensor(), T.ConvertImageDtype(torch.float32)])
    batch = torch.stack([norm(c) * (255 * net.prep.scale) for c in crops])
    batch = T.Normalize(net.prep.mean, net.prep.std)(batch)
    with torch.no_grad():
        return crops, torch.softmax(net(batch), dim=1).numpy()


@pytest.mark.parametrize("which", ["alexnet2012", "torchvision"])
def test_ten_crop_equals_an_independent_computation(which, net, tv, photo):
    n = net if which == "alexnet2012" else tv
    got = av.ten_crop(n, photo)
    crops, probs = independent_ten_crop(n, photo)
    assert len(got.crops) == 10 and all(c.size == (n.prep.crop, n.prep.crop) for c in got.crops)
    for mine, theirs in zip(got.crops, crops):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))
    assert got.crop_probs.shape == (10, 1000) and got.probs.shape == (1000,)
    np.testing.assert_allclose(got.crop_probs, probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.probs, probs.mean(axis=0), rtol=1e-4, atol=1e-6)
    # the centre crop is exactly what net.preprocess feeds the network
    assert np.array_equal(np.asarray(got.crops[4]), np.asarray(n.view(photo)))
    with torch.no_grad():
        centre = torch.softmax(n(n.preprocess(photo)), dim=1)[0].numpy()
    np.testing.assert_allclose(got.centre_probs, centre, rtol=1e-4, atol=1e-6)
    assert len({np.asarray(c).tobytes() for c in got.crops}) == 10, "ten different crops"


def test_ten_crops_come_from_the_central_square_as_the_paper_says(net):
    """chelsea's 451×300 resizes to 384×256: the paper's corner crops start at x = 64 and x = 93 (the
    central 256×256 square's corners), not at 0 and 157 (the whole resized image's). Positions and
    pixels computed by hand with numpy slicing."""
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (300, 451, 3), dtype=np.uint8))
    got = av.ten_crop(net, img)
    assert got.resized_size == (384, 256) and got.square == (64, 0, 320, 256)
    assert got.boxes == ((64, 0, 291, 227), (93, 0, 320, 227), (64, 29, 291, 256), (93, 29, 320, 256),
                         (78, 14, 305, 241))
    big = np.asarray(lab.resized(net, img))  # (256, 384, 3)
    want = [big[y:y + 227, x:x + 227] for x, y in [(64, 0), (93, 0), (64, 29), (93, 29), (78, 14)]]
    want += [a[:, ::-1] for a in want]
    for mine, theirs in zip(got.crops, want):
        assert np.array_equal(np.asarray(mine), theirs)
    # a tall photo: the square is central vertically; warp mode: the square is the whole 256×256
    tall = av.ten_crop(net, Image.fromarray(rng.integers(0, 256, (451, 300, 3), dtype=np.uint8)))
    assert tall.square == (0, 64, 256, 320) and tall.boxes[3] == (29, 93, 256, 320)
    warped = av.ten_crop(net, img, mode="warp")
    assert warped.square == (0, 0, 256, 256) and warped.boxes[1] == (29, 0, 256, 227)


# -- dropout (§4.2) -------------------------------------------------------------------------------------
def test_mc_dropout_gives_n_reproducible_different_softmaxes(net, x):
    probs = lab.mc_dropout(net, x, n=6, seed=1)
    assert probs.shape == (6, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert not np.allclose(probs[0], probs[1])
    np.testing.assert_array_equal(probs, lab.mc_dropout(net, x, n=6, seed=1))
    assert not np.array_equal(probs, lab.mc_dropout(net, x, n=6, seed=2))
    none_dropped = lab.mc_dropout(net, x, n=3, p=0.0)
    with torch.no_grad():
        plain = torch.softmax(net(x), dim=1)[0].numpy()
    np.testing.assert_allclose(none_dropped, np.broadcast_to(plain, (3, 1000)), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="at least one pass"):
        lab.mc_dropout(net, x, n=0)


def test_the_papers_times_half_equals_torchs_inverted_dropout(net, x):
    d = lab.dropout_scaling(net, x, n=1000)
    assert d.layer == "fc7"
    np.testing.assert_allclose(d.paper, d.torch, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(d.torch, net(x)[0].numpy())
    # in expectation: the mean over masks approaches the test-time value (fc7 reads drop6 linearly)
    err = np.abs(d.train_mean - d.test).mean() / np.abs(d.test).mean()
    few = lab.dropout_scaling(net, x, n=10)
    assert err < 0.05 and err < np.abs(few.train_mean - few.test).mean() / np.abs(few.test).mean()


def test_the_effect_reports_top5_before_and_after_and_the_change(net, x):
    e = lab.ablation_effect(net, x, tower_off="gpu2")
    with torch.no_grad():
        before = torch.softmax(net(x), 1)[0].numpy()
        after = torch.softmax(av.ablate(net, x, tower_off="gpu2"), 1)[0].numpy()
    assert [i for i, _l, _p in e.top("before")] == list(np.argsort(-before)[:5])
    assert [i for i, _l, _p in e.top("after")] == list(np.argsort(-after)[:5])
    top = int(np.argmax(before))
    assert e.change() == pytest.approx(float(after[top] - before[top]), abs=1e-7)
    assert e.top()[0][1] == net.categories[e.top()[0][0]]


# -- the command line ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_file(photo, tmp_path_factory):
    path = tmp_path_factory.mktemp("lab") / "photo.png"
    photo.save(path)
    return str(path)


def cli_json(capsys, *args: str) -> dict:
    import json

    from alexnet_viz import cli

    assert cli.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_ablate_prints_top5_before_after_and_the_top_class_change(net, photo, photo_file, capsys):
    out = cli_json(capsys, "ablate", photo_file, "--weights", "untrained", "--device", "cpu",
                   "--tower-off", "gpu2", "--from-layer", "conv3", "--lrn", "off", "--json")
    e = lab.ablation_effect(net, net.preprocess(photo), tower_off="gpu2", from_layer="conv3", lrn="off")
    assert out["change"] == {"tower_off": "gpu2", "from_layer": "conv3", "lrn": "off"}
    assert [r["index"] for r in out["before"]] == [i for i, _l, _p in e.top("before")]
    assert [r["index"] for r in out["after"]] == [i for i, _l, _p in e.top("after")]
    assert out["top_class"]["index"] == e.top_class
    assert out["top_class"]["change"] == pytest.approx(e.change(), abs=1e-6)
    out = cli_json(capsys, "ablate", photo_file, "--weights", "untrained", "--device", "cpu",
                   "--pool", "non-overlapping", "--zero", "conv5:1,2", "--json")
    assert out["change"] == {"pool": "non-overlapping", "zero_channels": {"conv5": [1, 2]}}
    for choice in ("paper", "k2", "caffe"):  # the library's names; "caffe", as built, alone changes nothing
        args = ["ablate", photo_file, "--weights", "untrained", "--device", "cpu", "--lrn", choice, "--json"]
        if choice == "caffe":
            args += ["--pool", "non-overlapping"]
        out = cli_json(capsys, *args)
        e = lab.ablation_effect(net, net.preprocess(photo), lrn=choice,
                                pool="non-overlapping" if choice == "caffe" else "overlapping")
        assert out["change"] == ({"lrn": choice} if choice != "caffe" else {"pool": "non-overlapping"})
        assert out["top_class"]["change"] == pytest.approx(e.change(), abs=1e-6)


def test_cli_predict_ten_crop_adds_the_averaged_top5_and_each_crops_top1(net, photo, photo_file, capsys):
    out = cli_json(capsys, "predict", photo_file, "--weights", "untrained", "--device", "cpu", "--ten-crop", "--json")
    tc = av.ten_crop(net, photo)
    assert [r["index"] for r in out["ten_crop"]["top"]] == list(np.argsort(-tc.probs)[:5])
    assert [c["crop"] for c in out["ten_crop"]["crops"]] == list(lab.CROP_NAMES)
    assert [c["top1"]["index"] for c in out["ten_crop"]["crops"]] == list(tc.crop_probs.argmax(axis=1))
    assert out["ten_crop"]["square"] == [46, 0, 302, 256] and out["ten_crop"]["resized_size"] == [349, 256]  # 410×300
    assert "ten_crop" not in cli_json(capsys, "predict", photo_file, "--weights", "untrained", "--json")


def test_cli_lrn_choices_are_the_librarys():
    from alexnet_viz import cli

    ablate = cli.build_parser()._subparsers._group_actions[0].choices["ablate"]
    lrn = next(a for a in ablate._actions if a.dest == "lrn")
    assert set(lrn.choices) == set(lab.LRN_CHOICES) and lrn.default == "caffe"


@pytest.mark.parametrize("args,words", [
    (["--model", "torchvision", "--tower-off", "gpu1"], "torchvision runs as one tower"),
    ([], "nothing to change"),
    (["--lrn", "of"], "invalid choice: 'of'"),
    (["--lrn", "on"], "invalid choice: 'on'"),  # the old name of "caffe"
    (["--tower-off", "gpu1", "--from-layer", "pool2"], "from_layer must be a layer split over the two GPUs"),
    (["--zero", "conv5"], "--zero takes LAYER:CHANNELS"),
    (["--lrn", "off", "--from-layer", "conv3"], "add --tower-off gpu1 or gpu2"),
    (["--zero", "conv5:999"], "conv5 has channels 0 to 255"),
])
def test_cli_ablate_mistakes_exit_2_with_one_line(photo_file, capsys, args, words):
    from alexnet_viz import cli

    try:
        code = cli.main(["ablate", photo_file, "--weights", "untrained", "--device", "cpu", *args])
    except SystemExit as exc:  # argparse's own mistakes
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_the_effect_says_which_activations_changed_and_shows_the_most_changed_map(net, x):
    e = lab.ablation_effect(net, x, tower_off="gpu2", from_layer="conv3")
    assert all(e.layer_change[n] == 0 for n in ("conv1", "relu1", "norm1", "pool1", "conv2", "pool2"))
    assert all(e.layer_change[n] > 0 for n in ("conv3", "conv4", "pool5", "fc6", "fc8"))
    c, before, after = e.maps["conv3"]
    assert 192 <= c < 384, "the most changed conv3 channel is one of GPU 2's"
    acts = net.activations(x)
    np.testing.assert_array_equal(before, acts["conv3"][0, c].numpy())
    assert not after.any(), "a knocked-out channel outputs zero"
    assert "fc6" not in e.maps, "only maps have channels to draw"
