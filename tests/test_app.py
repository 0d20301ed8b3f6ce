"""The app through Streamlit's AppTest: every page draws, and the forward pass runs once per image
however the user moves around. The sidebar's own choices (photos, uploads, weights) are
tests/test_app_sidebar.py's."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_support import APP, OFFLINE, count_forward_passes, offline_pretrained_weights

PAGES = ["views/predict.py", "views/architecture.py", "views/feature_maps.py", "views/kernels.py"]
TIMEOUT = 60


@pytest.fixture(autouse=True)
def no_pretrained_weights(monkeypatch):
    offline_pretrained_weights(monkeypatch)


@pytest.fixture
def forward_calls(monkeypatch):
    """Fresh caches, and a count of real forward passes through any network."""
    return count_forward_passes(monkeypatch)


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def image_captions(at: AppTest) -> list[str]:
    return [i.proto.imgs[0].caption for i in at.main.get("image")]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def sidebar_words(at: AppTest) -> str:
    """Everything the sidebar says in words: markdown, captions, expander labels and alerts."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success")
    return " ".join([str(e.value) for k in kinds for e in at.sidebar.get(k)]
                    + [e.label for e in at.sidebar.get("expander")])


def test_first_visit_shows_the_cat_predictions_and_the_untrained_label(forward_calls, caplog):
    import sidebar

    sidebar._LOGGED.clear()
    caplog.set_level("WARNING", logger="alexnet_viz.app")
    at = start()
    assert at.sidebar.selectbox(key="sample").value == "Chelsea the cat"
    # Offline: the pretrained download fails; a visitor reads what that means for them, and the
    # loader's sentence with the operator's how-to goes to the server's log (issue 22, item 6).
    sidebar_text = sidebar_words(at)
    assert "python -m alexnet_viz download" not in sidebar_text
    assert OFFLINE not in sidebar_text  # the loader's own sentence is the operator's
    assert "no trained weights" in sidebar_text and "predictions are chance" in sidebar_text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "python -m alexnet_viz download" in logged
    assert OFFLINE in logged  # the loader's own sentence
    assert any("untrained" in m.value for m in at.main.markdown), "the page is labelled untrained"
    assert at.main.get("plotly_chart"), "the top-5 chart is drawn"
    assert len(at.main.get("image")) == 2, "the original and the crop the network sees"
    assert len(forward_calls) == 1


def test_every_picture_has_alt_text_saying_what_it_shows(forward_calls):
    """WCAG 1.1.1 (issue 22, item 10): a caption is what a picture shows, so it is the alt text too;
    the sidebar's photo on every page among them. tests/test_browser_a11y.py runs axe-core on all."""
    at = start()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        for element in at.get("image"):
            for img in element.proto.imgs:
                assert img.alt.strip(), (page, img.caption)
                if img.caption:
                    assert img.alt == img.caption.replace("**", "").strip(), (page, img.caption)
    sidebar = at.sidebar.get("image")[0].proto.imgs[0]
    assert sidebar.alt.startswith("Chelsea the cat")


def test_class_search_shows_probability_and_rank(forward_calls):
    at = start()
    at.selectbox(key="predict_class").set_value(281).run()  # tabby cat
    labels = [m.label for m in at.metric]
    values = [m.value for m in at.metric]
    assert any("tabby" in label for label in labels)
    rank = values[1]
    assert rank.endswith("of 1000") and 1 <= int(rank.split()[0]) <= 1000


def weight_folder(monkeypatch, folder: Path) -> Path:
    """The server's operator exposes ``folder``'s weight files (off unless named)."""
    monkeypatch.setenv("ALEXNET_VIZ_WEIGHT_DIR", str(folder))
    return folder


def test_switching_pages_and_models(forward_calls):
    at = start()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert any("badge[:material/warning: untrained network]" in m.value for m in at.main.markdown), (page, "labelled untrained")
    assert len(forward_calls) == 1, "switching page never reruns the forward pass"
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    at.switch_page("views/predict.py").run()
    assert not at.exception
    assert forward_calls[-1] == (1, 3, 224, 224), "torchvision's network sees a 224 crop"
    assert "224×224" in " ".join(c.value for c in at.main.caption)
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    assert len(forward_calls) == 2


def test_architecture_page_tells_the_224_vs_227_story(forward_calls):
    at = start()
    at.switch_page("views/architecture.py").run()
    assert not at.exception
    assert at.radio(key="arch_size_choice").value.startswith("227")
    assert at.success and not at.warning
    legend = next(c.value for c in at.main.caption if "dashed black lines" in c.value)
    assert "(conv3, fc6, fc7, fc8)" in legend, "the layers the table says read both towers, not conv1"
    at.radio(key="arch_size_choice").set_value("224 (the paper's text)").run()
    assert at.warning and "54.25" in at.warning[0].value
    assert len(at.main.get("plotly_chart")) == 1
    assert len(at.dataframe) == 1 and len(at.table) == 1, "the walkthrough, and the comparison (wrapped)"
    at.selectbox(key="arch_variant").set_value("keras-tutorial").run()
    assert not at.exception, at.exception
    assert "keras-tutorial" in at.main.get("plotly_chart")[0].proto.spec
    assert len(forward_calls) == 1, "only the first (Predict) page ran the network"


def test_at_256_the_network_cannot_run_and_that_comes_first_as_an_error(forward_calls):
    at = start()
    at.switch_page("views/architecture.py").run()
    at.radio(key="arch_size_choice").set_value("other").run()
    at.number_input(key="arch_size_other").set_value(256).run()
    assert not at.exception, at.exception
    assert at.error and "cannot run at 256×256" in at.error[0].value and "12544" in at.error[0].value
    assert any("rounded down" in w.value for w in at.warning), "the lesser problems still follow"


def test_one_tower_pages_use_no_gpu_words(forward_calls):
    at = start()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    for page in ["views/architecture.py", "views/kernels.py", "views/feature_maps.py"]:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        words = " ".join([c.value for c in at.main.caption] + [m.value for m in at.main.markdown]
                         + [str(getattr(s, "label", "")) for s in at.main.selectbox])
        assert "GPU" not in words and "per GPU" not in words, (page, words)


def test_feature_maps_change_layer_sort_and_channel_without_rerunning_the_network(forward_calls):
    at = start()
    at.switch_page("views/feature_maps.py").run()
    assert not at.exception, at.exception
    assert len(at.main.get("image")) == 1, "the overlay; the two grids and the channel are clickable pictures"
    caps = [c.value for c in at.main.caption]
    assert "GPU 1: channels 0–47" in caps and "GPU 2: channels 48–95" in caps
    at.radio(key="fm_sort").set_value("max").run()
    at.selectbox(key="fm_layer").set_value("conv3").run()
    assert not at.exception, at.exception
    channels = at.selectbox(key="fm_channel_conv3").options
    assert len(channels) == 384
    at.selectbox(key="fm_channel_conv3").set_value(channels[200]).run()
    at.selectbox(key="fm_layer").set_value("fc7").run()
    assert not at.exception, at.exception
    assert len(at.main.get("plotly_chart")) == 2, "the strongest units and the histogram"
    assert len(forward_calls) == 1, "layer, sort and channel changes reuse the cached forward pass"


def test_kernels_page_splits_conv1_by_gpu_and_measures_colour(forward_calls):
    at = start()
    at.switch_page("views/kernels.py").run()
    assert not at.exception, at.exception
    caps = image_captions(at)
    assert caps[0] == "GPU 1: kernels 0–47" and caps[1] == "GPU 2: kernels 48–95"
    assert any("colourfulness" in m.value for m in [*at.success, *at.info]), "the tower comparison is stated"
    at.selectbox(key="k_layer").set_value("conv2").run()
    at.number_input(key="k_out_conv2").set_value(200).run()
    assert not at.exception, at.exception
    assert any(m.value == "GPU 2" for m in at.metric), "conv2 channel 200 lives on GPU 2"
    assert "channels 48–95" in " ".join(m.value for m in at.main.markdown)
    # Offline the network in use is untrained: the comparison says so instead of failing.
    at.toggle(key="k_compare").set_value(True).run()
    assert not at.exception and any("already the untrained" in m.value for m in at.info)


def test_kernels_compare_a_trained_network_with_the_untrained_one(forward_calls):
    """With pretrained weights in the cache (faked here: a perturbed untrained network), the
    toggle shows the untrained kernels beside them."""
    import sys

    import torch

    sys.path.insert(0, str(Path(APP).parent))
    import cache as state
    from helpers import build_network

    trained = build_network("alexnet2012")
    with torch.no_grad():
        trained.body.conv1.weight.mul_(-1)
    trained.weights = "test weights"
    store, _, _ = state._network_store()
    store[("alexnet2012", "pretrained")] = trained
    at = start()
    assert not any("untrained" in m.value for m in at.main.markdown), "not labelled untrained"
    at.switch_page("views/kernels.py").run()
    assert len(at.main.get("image")) == 3  # GPU 1, GPU 2, one deeper channel
    at.toggle(key="k_compare").set_value(True).run()
    assert not at.exception, at.exception
    caps = image_captions(at)
    assert caps.count("GPU 1: kernels 0–47") == 2 and caps.count("GPU 2: kernels 48–95") == 2
    assert len(at.main.get("plotly_chart")) == 2, "a colourfulness chart for each network"


def test_torchvision_feature_maps_are_one_tower(forward_calls):
    at = start()
    at.sidebar.selectbox(key="model").set_value("torchvision").run()
    at.switch_page("views/feature_maps.py").run()
    assert not at.exception, at.exception
    caps = [c.value for c in at.main.caption]
    assert "all 64 channels" in caps
    assert not any(c.startswith("GPU") for c in caps)


def test_download_names_from_a_weight_file_are_plain_file_names(forward_calls, monkeypatch, tmp_path):
    """Kernels loaded from /some/dir/my_weights.pth download as conv1_GPU_1_my_weights.png,
    not as a name with the file's whole path (and its slashes) in it."""
    import torch
    from streamlit.delta_generator import DeltaGenerator

    from helpers import build_network

    names = []
    real = DeltaGenerator.download_button

    def recording(self, label, data, file_name=None, *args, **kwargs):
        names.append(file_name)
        return real(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)  # col.download_button(…)
    monkeypatch.setattr(st, "download_button", lambda *a, **k: recording(st.container(), *a, **k))
    path = weight_folder(monkeypatch, tmp_path / "some dir") / "my_weights.pth"
    path.parent.mkdir()
    torch.save(build_network("alexnet2012").body.state_dict(), path)
    at = start()
    at.sidebar.radio(key="weights").set_value("file").run()
    at.sidebar.selectbox(key="weights_file").set_value("my_weights.pth").run()
    assert not errors(at), errors(at)
    names.clear()
    at.switch_page("views/kernels.py").run()
    assert not at.exception, at.exception
    assert "conv1_GPU_1_my_weights.png" in names and "conv1_colourfulness_my_weights.csv" in names, names
    assert not any("/" in n or ":" in n for n in names), names


def _cache_module():
    import sys

    sys.path.insert(0, str(Path(APP).parent))
    import cache

    return cache


def test_a_download_in_one_session_does_not_block_another_network(monkeypatch):
    """One lock per (model, weights): the untrained network loads while pretrained is still loading."""
    import threading

    import alexnet_viz as av

    state = _cache_module()
    store, _locks, _guard = state._network_store()
    store.clear()
    release, started = threading.Event(), threading.Event()
    real = av.load_network

    def slow_or_real(model, weights, **kw):
        if weights == "pretrained":
            started.set()
            assert release.wait(120), "the test never released the download"
        return real(model, "untrained", device="cpu")

    monkeypatch.setattr(av, "load_network", slow_or_real)
    downloading = threading.Thread(target=state.network, args=("alexnet2012", "pretrained"))
    downloading.start()
    try:
        assert started.wait(30)
        done = threading.Event()
        other = threading.Thread(target=lambda: (state.network("alexnet2012", "untrained"), done.set()))
        other.start()
        # the untrained network must arrive while the pretrained one is still being "downloaded"
        assert done.wait(20), "the untrained network waited behind the pretrained download"
        assert ("alexnet2012", "pretrained") not in store
    finally:
        release.set()
        downloading.join(60)
        store.clear()


def test_networks_from_weight_files_are_bounded(monkeypatch):
    """Networks loaded from user-given files are evicted oldest first; the shared ones stay."""
    import alexnet_viz as av
    from helpers import build_network

    state = _cache_module()
    store, _locks, _guard = state._network_store()
    store.clear()
    net = build_network("alexnet2012")
    monkeypatch.setattr(av, "load_network", lambda model, weights, **kw: net)
    state.network("alexnet2012", "untrained")
    paths = [f"/weights/{i}.pt" for i in range(state.MAX_FILE_NETWORKS + 2)]
    for p in paths:
        state.network("alexnet2012", p, fallback=False)
    kept = [k[1] for k in store]
    assert "untrained" in kept
    assert [k for k in kept if k != "untrained"] == paths[-state.MAX_FILE_NETWORKS:]
    store.clear()


def test_warp_preprocessing_is_chosen_on_predict_and_followed_by_every_page(forward_calls):
    at = start()
    at.radio(key="_prep_mode_widget").set_value("warp").run()
    assert not at.exception, at.exception
    assert at.session_state["_selection"].mode == "warp"
    assert any("57.1%" in c.value for c in at.main.caption), "the published accuracy is tied to this pipeline"
    assert len(forward_calls) == 2, "a new input, so one more forward pass"
    at.switch_page("views/feature_maps.py").run()
    assert at.session_state["_selection"].mode == "warp" and len(forward_calls) == 2
    at.switch_page("views/predict.py").run()
    assert at.radio(key="_prep_mode_widget").value == "warp"


def test_the_app_turns_tf32_off_for_its_process(forward_calls, monkeypatch):
    """On a GPU, TF32 would move every number a page explains (alexnet_viz.full_float32)."""
    import torch

    from alexnet_viz.network import full_float32

    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        at = start()
        assert not at.exception
        assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    finally:  # as the rest of the suite runs (conftest.py)
        full_float32()




def test_predicts_untrained_note_offers_the_pretrained_weights_only_until_the_server_finds_none():
    """Chosen untrained, the note offers the pretrained weights; once this server has tried them
    and has none (offline here), it points to the sidebar's sentence instead of offering them."""
    from app_support import fresh_caches

    fresh_caches()  # a server that has not tried the pretrained weights yet
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["weights"] = "untrained"
    at.run()
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "Choose the pretrained weights in the sidebar" in infos
    at.sidebar.radio(key="weights").set_value("pretrained").run()  # tried: none here
    at.sidebar.radio(key="weights").set_value("untrained").run()
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "mean nothing yet" in infos and "The sidebar says which weights this server has" in infos
    assert "Choose the pretrained weights" not in infos
