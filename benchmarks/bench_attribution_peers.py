"""Occlusion, integrated gradients and Grad-CAM, each as a ratio to its peer timed in this process.

    python benchmarks/bench_attribution_peers.py [--model alexnet2012] [--weights untrained]
                                                 [--repeats 3] [--skip-occlusion] [--samples]
                                                 [--device cpu|cuda]

Peers: Captum's ``Occlusion`` (same window, stride and baseline, 8 squares per pass as before),
Captum's ``IntegratedGradients`` at 50 steps, TorchCAM's ``GradCAM`` (hooks registered once,
outside the timing, as TorchCAM's own README uses it). Each pair is timed alternately (ours, peer, ours,
peer, …) so that a busy machine slows both alike; medians are printed with the ratio
ours / peer. The approximate occlusion mode is also compared with the exact one (speed and
Spearman rank correlation of the maps). Integrated gradients is also given as a multiple of one
forward + backward pass, with the completeness error it reached (--samples: on the four sample
photos too, paper and He initialisation; and the approximate occlusion map's rank correlation
with the exact one on those photos and the synthetic one). On the CPU, torch is held to 2 threads; on a GPU every
timing waits for the GPU to finish (torch.cuda.synchronize). Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_attribution import machine, synthetic_photo  # noqa: E402

from alexnet_viz.attribution import _baseline, _Objective, explain, private_copy  # noqa: E402
from alexnet_viz.network import load_network  # noqa: E402


def _sync() -> None:
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def pair(ours, peer, repeats: int) -> tuple[float, float]:
    """Median seconds of ``ours`` and ``peer``, run alternately after one warm-up each."""
    ours(), peer()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((ours, a), (peer, b)):
            out.append(_timed(fn))
    return statistics.median(a), statistics.median(b)


def he_init(net):
    """The same network with He-initialised weights and zero biases (signal reaches the top)."""
    he = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in he.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                m.bias.zero_()
    return he


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="alexnet2012")
    p.add_argument("--weights", default="untrained")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-occlusion", action="store_true")
    p.add_argument("--samples", action="store_true",
                   help="also: integrated gradients on the four sample photos, as multiples of one pass; "
                        "and (unless --skip-occlusion) the approximate occlusion map's rank correlation "
                        "with the exact one on them and the synthetic photo")
    p.add_argument("--device", default="cpu", help="cpu (the default: 2 threads) or cuda")
    args = p.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))

    net = load_network(args.model, args.weights, args.device)
    x = net.preprocess(synthetic_photo())  # (1, 3, crop, crop)
    target, side = 3, x.shape[2]
    print(f"machine: {machine(net.device)}")
    print(f"network: {net.arch.name}, weights {net.weights}; input {tuple(x.shape)}; target {target}\n")

    # -- Grad-CAM vs TorchCAM -------------------------------------------------------------------
    try:
        from torchcam.methods import GradCAM
    except ImportError:
        GradCAM = None
    for layer in ("conv5", "relu5"):
        if GradCAM is None:
            print("grad_cam: torchcam is not installed; skipped")
            break
        peer_net = private_copy(net)  # TorchCAM's hooks stay on its own copy
        module = net.arch.layer(layer).module
        extractor = GradCAM(peer_net, f"body.{module}", input_shape=tuple(x.shape[1:]))
        xg = x.clone().requires_grad_(True)  # TorchCAM needs a graph back to the layer

        def peer():
            scores = peer_net(xg)
            extractor(target, scores)

        def ours():
            explain(net, x, "grad_cam", target, **({"layer": layer} if layer.startswith("conv") else {}))

        if not layer.startswith("conv"):  # the registry offers conv layers; relu5 through the library
            from alexnet_viz import attribution as A

            def ours():  # noqa: F811 - the same runner, called with relu5
                f = _Objective(net, target, lambda: None)
                A._grad_cam(f, x, {"layer": layer}, None)
        a, b = pair(ours, peer, max(15, args.repeats * 5))
        extractor.remove_hooks()
        print(f"grad_cam ({layer}): ours {a * 1000:.1f} ms, TorchCAM GradCAM {b * 1000:.1f} ms, "
              f"ratio {a / b:.2f}", flush=True)

    # -- integrated gradients vs Captum at 50 steps ----------------------------------------------
    from captum.attr import IntegratedGradients

    def fwd_bwd():
        xi = x.detach().clone().requires_grad_(True)
        torch.autograd.grad(private_copy(net)(xi)[0, target], xi)

    for name, n in (("untrained (paper init)", net), ("He-initialised", he_init(net))):
        work = private_copy(n)
        base = _baseline(_Objective(work, target, lambda: None), x, "black", 10.0)
        last = {}

        def ours():
            last["e"] = explain(n, x, "integrated_gradients", target)

        def peer():
            attr, delta = IntegratedGradients(lambda z: work(z)[:, target]).attribute(
                x, baselines=base, n_steps=50, internal_batch_size=8, return_convergence_delta=True)
            last["peer"] = (float(attr.sum()), float(delta))

        a, b = pair(ours, peer, args.repeats)
        fb = statistics.median([_timed(fwd_bwd) for _ in range(5)])
        e = last["e"]
        gap = e.score - e.baseline_score
        peer_error = abs(last["peer"][1]) / abs(gap)
        print(f"integrated_gradients, {name}: ours {a:.2f} s ({a / fb:.1f}× one fwd+bwd of {fb * 1000:.0f} ms; "
              f"{e.extras['steps']} gradient evaluations in {e.extras['batches']} batches, completeness error {e.extras['error']:.2%}, "
              f"capped {e.extras['capped']}, meaningful {e.extras['meaningful']}), Captum 50 steps {b:.2f} s "
              f"(error {peer_error:.2%}), ratio {a / b:.2f}", flush=True)

    if args.samples:
        _ig_on_samples(net, fwd_bwd, args.repeats)

    # -- occlusion vs Captum --------------------------------------------------------------------
    if args.skip_occlusion:
        return 0
    from captum.attr import Occlusion
    from scipy.stats import spearmanr

    for window, stride in ((31, 8),):
        work = private_copy(net)
        maps = {}

        def ours():
            maps["exact"] = explain(net, x, "occlusion", target, window=window, stride=stride).map

        def peer():
            with torch.no_grad():
                Occlusion(lambda z: work(z)[:, target]).attribute(
                    x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
                    baselines=0.0, perturbations_per_eval=8)

        def approx():
            maps["approx"] = explain(net, x, "occlusion", target, window=window, stride=stride,
                                     mode="approximate").map

        a, b = pair(ours, peer, args.repeats)
        c, a2 = pair(approx, ours, args.repeats)
        rho = spearmanr(maps["exact"].ravel(), maps["approx"].ravel()).statistic
        print(f"occlusion (window {window}, stride {stride}, {side}×{side}): ours exact {a:.2f} s, "
              f"Captum Occlusion {b:.2f} s, ratio {a / b:.2f}; approximate {c:.2f} s = {a2 / c:.1f}× "
              f"faster than exact (same run), ≈{b / c:.1f}× faster than Captum (ratio of medians), rank correlation "
              f"with the exact map {rho:.3f}", flush=True)
    if args.samples:
        _approximate_occlusion_on_samples(net)
    return 0


def _approximate_occlusion_on_samples(net) -> None:
    """The approximate occlusion map's rank correlation with the exact one (window 31, stride 8,
    top class) on the four sample photos and the synthetic one, paper and He init."""
    import skimage.data
    from PIL import Image
    from scipy.stats import spearmanr

    photos = {"synthetic": synthetic_photo()}
    for photo in ("chelsea", "coffee", "rocket", "astronaut"):
        photos[photo] = Image.fromarray(getattr(skimage.data, photo)()).convert("RGB")
    for name, n in (("untrained (paper init)", net), ("He-initialised", he_init(net))):
        for photo, image in photos.items():
            x = n.preprocess(image)
            target = 3 if photo == "synthetic" else None
            exact = explain(n, x, "occlusion", target, window=31, stride=8)
            approx = explain(n, x, "occlusion", target, window=31, stride=8, mode="approximate")
            rho = spearmanr(exact.map.ravel(), approx.map.ravel()).statistic
            print(f"occlusion, approximate, {name}, {photo}: rank correlation with the exact map {rho:.3f} "
                  f"({approx.extras['computed']} of {approx.extras['positions']} squares)", flush=True)


def _ig_on_samples(net, fwd_bwd, repeats: int) -> None:
    """IG at its defaults (black baseline, 1% tolerance, top class) on the app's four sample
    photos, each time as a multiple of one forward + backward pass timed alternately with it."""
    import skimage.data
    from PIL import Image

    for name, n in (("untrained (paper init)", net), ("He-initialised", he_init(net))):
        for photo in ("chelsea", "coffee", "rocket", "astronaut"):
            x = n.preprocess(Image.fromarray(getattr(skimage.data, photo)()).convert("RGB"))
            last = {}

            def ours():
                last["e"] = explain(n, x, "integrated_gradients")

            def one():
                xi = x.detach().clone().requires_grad_(True)
                torch.autograd.grad(n(xi)[0, 0], xi)

            a, b = pair(ours, one, repeats)
            r = last["e"].extras
            print(f"integrated_gradients, {name}, {photo}: {a / b:.1f}× one fwd+bwd ({b * 1000:.0f} ms); "
                  f"{r['steps']} evaluations in {r['batches']} batches, error {r['error']:.2%}, "
                  f"capped {r['capped']}, meaningful {r['meaningful']}", flush=True)


def _timed(fn) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
