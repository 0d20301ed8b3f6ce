"""Every shared result follows the selection it was computed from (issue 21, item 1).

The server shares results between visitors, so a result keyed by less than it depends on shows one
visitor another's picture: a link opened with ``mode=warp`` once got the map of the ``aspect``
crop. Here each page that shows a computed result is driven through one change at a time — the
preprocessing mode, the photo, the model, the weights (a weight file) — and after each the result
it shows must equal the library's own computation on the new input, made here from the choices
alone, and must differ from the one before. A photo index is bound to the network it was built
with, so Predict's neighbours walk through the mode and the photo only.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import alexnet_viz as av
from alexnet_viz import attribution, lab, render
from app_support import APP, fresh_caches, offline_pretrained_weights, tiny_index_home

import cache  # noqa: E402  (the app's modules: app_support put app/ on the path)
import sidebar  # noqa: E402
import state  # noqa: E402

TIMEOUT = 180
SAMPLES = {"Chelsea the cat": "chelsea", "Coffee cup": "coffee"}


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """A weight file per model, each a network other than the untrained one (its weights scaled)."""
    folder = tmp_path_factory.mktemp("weights")
    for model in ("alexnet2012", "torchvision"):
        body = av.load_network(model, "untrained", device="cpu").body
        state_dict = {k: (v * 1.5 if v.is_floating_point() else v) for k, v in body.state_dict().items()}
        torch.save(state_dict, folder / f"{model}.pt")
    return folder


_NETS: dict[tuple[str, str], av.Network] = {}


def library_net(model: str, weights: str) -> av.Network:
    """The network the library loads for these choices, made here, not taken from the app."""
    if (model, weights) not in _NETS:
        _NETS[model, weights] = av.load_network(model, weights, device="cpu")
    return _NETS[model, weights]


@dataclasses.dataclass
class Choice:
    """What the sidebar is set to, as a test sets it."""

    model: str = "alexnet2012"
    weights: str = "untrained"  # or a weight file's name in the folder
    sample: str = "Chelsea the cat"
    mode: str = "aspect"

    def net(self, folder) -> av.Network:
        return library_net(self.model, self.weights if self.weights == "untrained" else str(folder / self.weights))

    def x(self, folder) -> torch.Tensor:
        img = Image.fromarray(getattr(skimage.data, SAMPLES[self.sample])()).convert("RGB")
        return self.net(folder).preprocess(img, self.mode)


# One change at a time: the mode, the photo, the model, then the weights.
STEPS = [("mode", "warp"), ("sample", "Coffee cup"), ("model", "torchvision"), ("weights", "torchvision.pt")]


def start(page: str, monkeypatch, folder, query: dict | None = None) -> AppTest:
    monkeypatch.setenv(sidebar.WEIGHT_DIR_ENV, str(folder))
    fresh_caches()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in {"weights": "untrained", **(query or {})}.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def change(at: AppTest, what: str, value: str) -> None:
    """Set one sidebar choice as a visitor does (the mode: as the Predict page's radio stores it)."""
    if what == "mode":
        at.session_state["prep_mode"] = value
        at.run()
    elif what == "sample":
        at.sidebar.selectbox(key="sample").set_value(value).run()
    elif what == "model":
        at.sidebar.selectbox(key="model").set_value(value).run()
    else:
        at.sidebar.radio(key="weights").set_value("file").run()
        at.sidebar.selectbox(key="weights_file").set_value(value).run()
    assert not at.exception, at.exception
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]


def close(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal up to float32 rounding, relative to the result's own size (an untrained network's
    saliency is ~1e-5 everywhere, so no absolute tolerance)."""
    return got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-4 * float(np.abs(want).max())


def differ(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape != b.shape or not np.allclose(a, b)
    return a != b


def walk(at: AppTest, folder, shown, expected, steps=STEPS, agree=close) -> None:
    """Through every step: the shown result equals the library's on the new input and differs from
    the previous one. ``shown(at)`` reads the page's result; ``expected(choice)`` computes it;
    ``agree(shown, expected)`` says whether they are equal (by default: ``close``)."""
    choice = Choice()
    before = shown(at)
    assert before is not None, "the page shows a result at the start"
    assert agree(before, expected(choice))
    for what, value in steps:
        change(at, what, value)
        choice = dataclasses.replace(choice, **{what: value})
        sel = at.session_state["_selection"]
        assert (sel.model, sel.mode, sel.image_name) == (choice.model, choice.mode, choice.sample)
        now = shown(at)
        assert now is not None, f"after changing the {what}, the page shows a result"
        want = expected(choice)
        assert agree(now, want), \
            f"after changing the {what} to {value}, the page shows a result of another input"
        assert differ(now, before), f"changing the {what} changed nothing"
        before = now


def _selection(at: AppTest):
    return at.session_state["_selection"]


def test_predict_shows_the_probabilities_of_the_new_input(monkeypatch, weight_files):
    at = start("views/predict.py", monkeypatch, weight_files)

    def shown(at):
        return cache.store().get(_selection(at).key("forward")).probs

    def expected(choice):
        with torch.no_grad():
            return torch.softmax(choice.net(weight_files).forward(choice.x(weight_files))[0], 0).numpy()

    walk(at, weight_files, shown, expected)


def test_the_attribution_map_follows_mode_photo_model_and_weights(monkeypatch, weight_files):
    asked = []
    real_key = cache.explanation_key

    def spy(sel, method, params, target):  # what the page asked the store for
        asked.append((method, dict(params), target))
        return real_key(sel, method, params, target)

    monkeypatch.setattr(cache, "explanation_key", spy)
    at = start("views/attribution.py", monkeypatch, weight_files, {"method": "saliency"})

    def shown(at):
        method, params, target = asked[-1]
        assert method == "saliency"
        return cache.store().get(real_key(_selection(at), method, params, target)).raw

    def expected(choice):
        _method, params, target = asked[-1]
        net = choice.net(weight_files)
        return attribution.explain(net, choice.x(weight_files), "saliency", target, **params).raw

    walk(at, weight_files, shown, expected)


def test_the_shared_link_of_issue_21_gives_each_mode_its_own_map(monkeypatch, weight_files):
    """Visitor A opens the link with mode=aspect, visitor B the same link with mode=warp: B's map
    is the map of B's crop, and the shared store holds two maps."""
    link = {"sample": "chelsea", "model": "alexnet2012", "weights": "untrained", "method": "saliency"}
    fresh_caches()
    maps = {}
    for mode in ("aspect", "warp"):
        monkeypatch.setenv(sidebar.WEIGHT_DIR_ENV, str(weight_files))
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a new visitor; the store is kept
        for k, v in {**link, "mode": mode}.items():
            at.query_params[k] = v
        at.switch_page("views/attribution.py").run()
        assert not at.exception, at.exception
        sel = _selection(at)
        assert sel.mode == mode
        explained = [v for k, (v, _n) in cache.store()._items.items() if k[0] == "explain"]
        assert len(explained) == len(maps) + 1, "each mode's map is kept apart in the shared store"
        want = attribution.explain(library_net("alexnet2012", "untrained"),
                                   Choice(mode=mode).x(weight_files), "saliency").raw  # the top class
        maps[mode] = explained[-1].raw
        assert close(maps[mode], want)
    assert not np.allclose(maps["aspect"], maps["warp"])


def test_the_lab_effect_follows_mode_photo_model_and_weights(monkeypatch, weight_files):
    at = start("views/lab.py", monkeypatch, weight_files, {"experiment": "pool"})

    def shown(at):
        return cache.store().get(_selection(at).key("lab-effect", {"pool": "non-overlapping"})).after

    def expected(choice):
        net = choice.net(weight_files)
        return lab.ablation_effect(net, choice.x(weight_files), pool="non-overlapping").after

    walk(at, weight_files, shown, expected)


def test_the_units_receptive_field_follows_mode_photo_model_and_weights(monkeypatch, weight_files):
    unit = ("conv2", 5, 10, 12)  # in both models' conv2 (alexnet2012: 27×27, torchvision: 27×27)
    at = start("views/unit.py", monkeypatch, weight_files,
               {"layer": unit[0], "channel": str(unit[1]), "row": str(unit[2]), "col": str(unit[3])})

    def shown(at):
        return cache.store().get(_selection(at).key("erf", *unit))

    def expected(choice):
        return av.effective_receptive_field(choice.net(weight_files), choice.x(weight_files), *unit)

    walk(at, weight_files, shown, expected)


@pytest.fixture(scope="module")
def photo_home(tmp_path_factory) -> Path:
    """``$ALEXNET_VIZ_HOME`` with a photo index of seven photos, built for the untrained alexnet2012."""
    return tiny_index_home(tmp_path_factory.mktemp("home"), library_net("alexnet2012", "untrained"))


def neighbours_shown(at: AppTest) -> list[tuple[str, float]]:
    """Predict's "Photos like this one" as its captions say: [(photo's name, distance)], nearest first."""
    found = [c.value.rsplit(": ", 1) for c in at.main.caption if c.value.startswith("photo_")]
    return [(name, float(d)) for name, d in found]


def same_neighbours(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> bool:
    """The same photos in the same order, at the distances the captions print (3 significant digits)."""
    return len(got) == len(want) and [n for n, _ in got] == [n for n, _ in want] and \
        np.allclose([d for _, d in got], [d for _, d in want], rtol=5e-3, atol=0)


def test_predicts_neighbours_follow_mode_and_photo(monkeypatch, weight_files, photo_home):
    monkeypatch.setenv("ALEXNET_VIZ_HOME", str(photo_home))
    at = start("views/predict.py", monkeypatch, weight_files)
    ix = av.open_index(photo_home / "indexes" / "class")

    def expected(choice):  # the index runs the network on the preprocessed photo itself
        return [(Path(p).name, d) for p, d in ix.nearest(choice.x(weight_files), k=6)]

    walk(at, weight_files, neighbours_shown, expected, steps=STEPS[:2], agree=same_neighbours)
    change(at, "model", "torchvision")  # the index is alexnet2012's: it is refused, not answered
    assert not neighbours_shown(at), "no neighbours from another network's index"
    assert any("Choose that network in the sidebar" in c.value for c in at.main.caption)


def test_the_sanity_check_follows_mode_photo_model_and_weights(monkeypatch, weight_files):
    asked = []
    real_key = cache.sanity_key

    def spy(sel, methods, target):  # what the page asked the store for
        asked.append((dict(methods), target))
        return real_key(sel, methods, target)

    monkeypatch.setattr(cache, "sanity_key", spy)
    # the original map and fc8 randomised (the check's first step) keep it cheap: 2 maps a check, not 9
    all_steps = attribution.sanity_steps
    monkeypatch.setattr(attribution, "sanity_steps", lambda net: all_steps(net)[:2])
    at = start("views/attribution.py", monkeypatch, weight_files, {"view": "sanity", "methods": "saliency"})

    def shown(at):
        sel = _selection(at)
        assert "Press **Run the sanity check**" in " ".join(i.value for i in at.main.info), \
            f"{sel.image_name} ({sel.model}, {sel.weights.tag}, {sel.mode}) shows an earlier input's check"
        at.button(key="attr_sanity_run").click().run()
        assert not at.exception, at.exception
        methods, target = asked[-1]
        assert list(methods) == ["saliency"]
        return cache.store().get(real_key(sel, methods, target)).maps["saliency"]  # (2, crop, crop)

    def expected(choice):  # of the top class, as the page's "Explain: the top prediction" asks
        methods, _target = asked[-1]
        return attribution.sanity_check(choice.net(weight_files), choice.x(weight_files), methods).maps["saliency"]

    walk(at, weight_files, shown, expected)


FM_LAYER, FM_CHANNEL = "conv2", 5  # before its ReLU, after a bias of 1: a weight file scaled by 1.5
# changes its pictures (conv1's would only be brighter, and each tile is scaled to its own range)


def tiles_shown(at: AppTest) -> np.ndarray:
    """Feature maps' tile pictures as the page sends them to the click component, one per tower."""
    sent = [json.loads(e.proto.json_args) for e in at.main.get("component_instance")]
    pictures = {a["key"]: a["src"] for a in sent if a["key"].startswith(f"fm_tiles_{FM_LAYER}_")}
    return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
                     for _key, src in sorted(pictures.items())]).astype(np.float32)  # (towers, H, W, 3)


def test_the_feature_map_tiles_follow_mode_photo_model_and_weights(monkeypatch, weight_files):
    at = start("views/feature_maps.py", monkeypatch, weight_files,
               {"layer": FM_LAYER, "channel": str(FM_CHANNEL)})
    assert (at.radio(key="fm_sort").value, at.toggle(key="fm_shared").value) == ("mean", False)

    def shown(at):
        assert at.selectbox(key=f"fm_channel_{FM_LAYER}").value == FM_CHANNEL
        return tiles_shown(at)

    def expected(choice):  # ordered by mean, each tile on its own range, the chosen channel framed
        net = choice.net(weight_files)
        with torch.no_grad():
            act = net.activations(choice.x(weight_files))[FM_LAYER][0].numpy()  # (C, H, W)
        scale = max(1, 40 // act.shape[1])
        grids = render.tower_grids(act, FM_LAYER, "mean", net.arch, scale=scale, pad=max(1, scale // 2))
        pictures = []
        for _tower, grid in sorted(grids.items()):
            pic = render.labelled_tiles(grid, "viridis")
            pictures.append(render.mark_tile(pic, grid, FM_CHANNEL) if FM_CHANNEL in grid.channels else pic)
        return np.stack(pictures).astype(np.float32)

    walk(at, weight_files, shown, expected)


# -- the key itself -----------------------------------------------------------------------------
def _sel(**change) -> state.Selection:
    img = Image.new("RGB", (8, 8), (10, 20, 30))
    base = dict(net=None, model="alexnet2012", weights=state.WeightsChoice("untrained"),
                image_choice=state.ImageChoice(img, "grey", None, "digest-a"), mode="aspect")
    return state.Selection(**{**base, **change})


@pytest.mark.parametrize("change", [
    {"mode": "warp"},
    {"model": "torchvision"},
    {"weights": state.WeightsChoice("/srv/weights/other.pt")},
    {"weights": state.WeightsChoice("pretrained", fallback=True)},
    {"image_choice": state.ImageChoice(Image.new("RGB", (8, 8)), "grey", None, "digest-b")},
], ids=["mode", "model", "weights", "fallback", "digest"])
def test_the_key_changes_with_each_choice_the_input_depends_on(change):
    a, b = _sel(), _sel(**change)
    assert a.key("explain", "saliency", {}, 3) != b.key("explain", "saliency", {}, 3)
    assert cache.explanation_key(a, "saliency", {}, 3) != cache.explanation_key(b, "saliency", {}, 3)
    assert cache.sanity_key(a, {"saliency": {}}, 3) != cache.sanity_key(b, {"saliency": {}}, 3)


def test_equal_parameters_give_equal_keys_and_others_do_not():
    sel = _sel()
    assert sel.key("lab-effect", {"a": 1, "b": [1, 2]}) == sel.key("lab-effect", {"b": (1, 2), "a": np.int64(1)})
    assert sel.key("lab-effect", {"a": 1}) != sel.key("lab-effect", {"a": 2})
    assert sel.key("erf", "conv2", 5, 10, 12) != sel.key("erf", "conv2", 5, 12, 10)
    assert sel.key("x") != sel.key("forward")
    hash(sel.key("lab-effect", {"zero_channels": {"conv5": [1, 2]}}))  # a store key must hash


def test_a_result_of_the_network_alone_is_shared_across_photos_and_modes_but_not_networks():
    a = _sel()
    assert a.key("weight", "conv1", photo=False) == _sel(mode="warp").key("weight", "conv1", photo=False)
    assert a.key("weight", "conv1", photo=False) != _sel(model="torchvision").key("weight", "conv1", photo=False)
    assert a.key("weight", "conv1", photo=False) != \
        _sel(weights=state.WeightsChoice("pretrained")).key("weight", "conv1", photo=False)
