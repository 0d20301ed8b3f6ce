"""The live camera's per-frame work (alexnet_viz.live): one forward pass per frame, the same top-5
the network predicts for that frame, the chosen layer's maps beside the picture, frames bounded in
size, bad frames explained, safe from several threads; and the streaming component, as the page
configures it (a frame callback with async processing), dropping frames rather than queueing them."""
from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz.live import GAP, MAX_INPUT_SIDE, LiveBusy, LiveProcessor, StreamGate, live_layers


@pytest.fixture(scope="module")
def nets() -> dict[str, av.Network]:
    return {m: av.load_network(m, "untrained", device="cpu") for m in ("alexnet2012", "torchvision")}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """Chelsea the cat as a 640×480 camera frame, (480, 640, 3) uint8."""
    return np.asarray(Image.fromarray(skimage.data.chelsea()).resize((640, 480), Image.BILINEAR))


def test_live_layers_are_the_conv_relu_and_pool_maps(nets):
    assert live_layers(nets["alexnet2012"].arch) == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "conv4", "relu4",
        "conv5", "relu5", "pool5"]  # no LRN, and relu6 / relu7 are vectors
    assert "norm1" not in live_layers(nets["alexnet2012"].arch)
    assert live_layers(nets["torchvision"].arch)[0] == "conv1"
    assert "relu6" not in live_layers(nets["torchvision"].arch)


@pytest.mark.parametrize("model, channels", [("alexnet2012", 96), ("torchvision", 64)])
def test_a_frame_gives_the_networks_own_top5_and_the_layers_maps_beside_it(nets, frame, model, channels):
    net = nets[model]
    out = LiveProcessor(net).process(frame)
    with torch.no_grad():  # what the network says about the same frame, asked the ordinary way
        x = net.preprocess(Image.fromarray(frame))
        expected = net.predict(x)
        conv1 = net.activations(x, upto="conv1")["conv1"][0].numpy()
    assert [i for i, _, _ in out.top] == [i for i, _, _ in expected]
    np.testing.assert_allclose([p for *_, p in out.top], [p for *_, p in expected], rtol=1e-5)
    assert out.layer == "conv1" and out.maps.shape == (channels, 55, 55)
    np.testing.assert_allclose(out.maps, conv1, rtol=1e-5, atol=1e-5)
    h, w = out.picture.shape[:2]
    assert out.picture.dtype == np.uint8 and h == 480 and w > 640 + GAP + 200  # the maps take room beside it
    # the camera's picture is there unchanged away from the two text boxes (top-left, bottom-left)
    np.testing.assert_array_equal(out.picture[100:300, 300:640], frame[100:300, 300:640])
    assert out.picture[:, 640:640 + GAP].min() == 255  # a white gap, then the maps
    assert out.picture[:, 640 + GAP:].std() > 10  # the maps: not a blank
    assert out.seconds > 0


def test_frames_are_brought_down_to_640_pixels_and_small_ones_are_kept(nets, frame):
    proc = LiveProcessor(nets["torchvision"])
    big = np.asarray(Image.fromarray(frame).resize((1920, 1080)))
    assert proc.process(big).picture.shape[0] == 360  # 1920×1080 -> 640×360
    small = np.asarray(Image.fromarray(frame).resize((160, 120)))
    assert proc.process(small).picture.shape[0] == 120
    assert LiveProcessor(nets["torchvision"], max_side=320).process(frame).picture.shape[0] == 240


@pytest.mark.parametrize("bad, words", [
    (np.zeros((480, 640), np.uint8), "(H, W, 3)"),
    (np.zeros((480, 640, 3), np.float32), "8-bit RGB"),
    (np.zeros((480, 640, 4), np.uint8), "(H, W, 3)"),
    (np.zeros((MAX_INPUT_SIDE + 1, 8, 3), np.uint8), "pixels on each side"),
])
def test_a_bad_frame_is_a_sentence_and_the_stream_goes_on(nets, frame, bad, words):
    proc = LiveProcessor(nets["alexnet2012"])
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        proc.process(bad)
    assert proc.picture_for(bad) is bad  # the callback hands the frame back unchanged ...
    assert words in proc.stats().error  # ... and the page can say why
    assert proc.stats().frames == 0
    proc.picture_for(frame)
    assert proc.stats().error is None and proc.stats().frames == 1


def test_layers_and_networks_switch_and_a_wrong_layer_changes_nothing(nets, frame):
    proc = LiveProcessor(nets["alexnet2012"], layer="pool2")
    assert proc.process(frame).maps.shape == (256, 13, 13)
    with pytest.raises(ValueError, match="norm1"):
        proc.configure(layer="norm1")  # a real layer, but not one the live view shows
    with pytest.raises(ValueError, match="fc8"):
        proc.configure(layer="fc8")
    with pytest.raises(ValueError, match="conv1"):
        LiveProcessor(nets["alexnet2012"], layer="fc6")
    assert proc.layer == "pool2"
    proc.configure(net=nets["torchvision"], layer="conv5")
    out = proc.process(frame)
    assert out.layer == "conv5" and out.maps.shape == (256, 13, 13) and proc.net is nets["torchvision"]


def test_counts_rate_and_work_time(nets, frame):
    proc = LiveProcessor(nets["torchvision"])
    first = proc.stats()
    assert first.frames == 0 and first.updates_per_s is None and first.work_ms is None and first.top == ()
    proc.process(frame)
    assert proc.stats().updates_per_s is None  # one frame is not a rate
    for _ in range(3):
        proc.process(frame)
    s = proc.stats()
    assert s.frames == 4 and s.updates_per_s > 0 and s.work_ms > 0 and len(s.top) == 5
    # the rate is of finished frames: four frames in the time they took, not more
    assert s.updates_per_s <= 3 / (3 * s.work_ms / 1000 * 0.5)


def test_the_shared_network_is_left_as_it_was(nets, frame):
    net = nets["alexnet2012"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    LiveProcessor(net, layer="relu3").process(frame)
    for m in net.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_frames_from_several_threads_while_the_layer_changes(nets, frame):
    proc = LiveProcessor(nets["alexnet2012"])
    shapes = {"conv1": (96, 55, 55), "pool1": (96, 27, 27), "conv5": (256, 13, 13)}
    wrong, errors = [], []

    def work():
        try:
            for _ in range(3):
                out = proc.process(frame)
                if out.maps.shape != shapes[out.layer]:  # every frame's layer and maps belong together
                    wrong.append(out.layer)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for layer in ["pool1", "conv5", "conv1", "pool1"]:
        proc.configure(layer=layer)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert not errors and not wrong
    assert proc.stats().frames == 9


def test_the_gate_holds_places_for_streams_at_work_and_frees_them_when_they_stop():
    gate = StreamGate(2, idle_s=0.3)
    a, b, c = object(), object(), object()
    assert gate.admit(a) and gate.admit(b) and not gate.admit(c)  # two places, both taken
    assert gate.admit(a) and gate.active() == 2  # one at work keeps its place
    time.sleep(0.2)
    assert gate.admit(a)  # a goes on; b stops asking ...
    time.sleep(0.2)
    assert gate.admit(c) and gate.active() == 2  # ... and after idle_s its place is c's
    assert not gate.admit(b)
    with pytest.raises(ValueError, match="between 1 and 64"):
        StreamGate(0)


def test_a_stream_past_the_servers_bound_waits_with_a_sentence_and_starts_when_one_stops(nets, frame):
    gate = StreamGate(1, idle_s=0.3)
    first, second = (LiveProcessor(nets["torchvision"], gate=gate) for _ in range(2))
    first.process(frame)
    with pytest.raises(LiveBusy, match="already running 1 live stream,"):
        second.process(frame)
    shown = second.picture_for(frame)
    assert shown.shape == frame.shape and not np.array_equal(shown, frame)  # the camera, with a note on it
    np.testing.assert_array_equal(shown[200:], frame[200:])
    assert "as soon as one of them stops" in second.stats().error and second.stats().frames == 0
    time.sleep(0.4)  # the first stream stopped sending frames
    assert second.process(frame).picture.shape[1] > 640 and second.stats().error is None
    with pytest.raises(LiveBusy):
        first.process(frame)


def test_the_streaming_component_drops_frames_that_arrive_while_one_is_processed(nets):
    """The page hands ``webrtc_streamer`` a ``video_frame_callback`` with ``async_processing=True``;
    that runs the callback on a worker thread given only the newest frame. Frames arrive here every
    5 ms and the callback takes 60 ms: it must see few of them, the newest, never a backlog."""
    import av as pyav
    from aiortc import MediaStreamTrack
    from streamlit_webrtc.models import CallbackAttachableProcessor
    from streamlit_webrtc.process import AsyncVideoProcessTrack

    class Camera(MediaStreamTrack):
        kind = "video"

        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            await asyncio.sleep(0.005)
            f = pyav.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            f.pts, f.time_base, self.n = self.n, Fraction(1, 200), self.n + 1
            return f

    seen: list[int] = []

    def callback(f):
        seen.append(f.pts)
        time.sleep(0.06)
        return f

    async def stream():
        track = AsyncVideoProcessTrack(Camera(), CallbackAttachableProcessor(callback, None, None), stop_timeout=5)
        for _ in range(120):
            await track.recv()
        track.stop()

    asyncio.run(stream())
    assert 2 <= len(seen) <= 40, seen  # 120 frames in ~0.6 s+, 60 ms each: a handful processed
    assert seen == sorted(seen) and max(b - a for a, b in zip(seen, seen[1:])) > 3  # newest only, skipping


def test_the_preprocessing_mode_is_the_networks_own_and_a_wrong_one_changes_nothing(nets, frame):
    net = nets["alexnet2012"]
    proc = LiveProcessor(net, mode="warp")
    out = proc.process(frame)
    with torch.no_grad():
        xw, xa = (net.preprocess(Image.fromarray(frame), m) for m in ("warp", "aspect"))
        warp, aspect = ([i for i, _, _ in net.predict(x)] for x in (xw, xa))
        conv1_warp, conv1_aspect = (net.activations(x, upto="conv1")["conv1"][0].numpy() for x in (xw, xa))
    assert [i for i, _, _ in out.top] == warp
    np.testing.assert_allclose(out.maps, conv1_warp, rtol=1e-5, atol=1e-5)
    assert np.abs(conv1_warp - conv1_aspect).max() > 1e-2  # on a 4:3 frame the two crops differ
    with pytest.raises(ValueError, match="Unknown preprocessing mode"):
        proc.configure(mode="stretch")
    assert proc.mode == "warp"
    proc.configure(mode="aspect")
    assert [i for i, _, _ in proc.process(frame).top] == aspect
