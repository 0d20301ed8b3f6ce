"""Paper lab: change one of the 2012 paper's choices and watch this photo's prediction.

One experiment at a time, each naming its paper section: two GPUs (§3.2), LRN (§3.3),
overlapping pooling (§3.4), ten-crop testing (§4.1), dropout (§4.2), a channel knockout, and
what-if painting on the crop (streamlit-drawable-canvas).
Widgets -> one library call (``alexnet_viz.lab``, shared through ``cache.store()``) -> render.
The shared network is never changed: the library walks a private copy of the computation.
"""
import re

import numpy as np
import streamlit as st
import streamlit_drawable_canvas as canvas

import alexnet_viz as av
import cache
import classroom
import links
import sidebar
from alexnet_viz import lab, render
from alexnet_viz import unit_figures as UF
from alexnet_viz.painting import paint_over, read_painting
from alexnet_viz.walkthrough import split_layers

sel = sidebar.selection()
sidebar.page_header("Paper lab", sel)
net, arch = sel.net, sel.net.arch
names, probs = net.categories, sel.forward.probs

EXPERIMENTS = {name: e.title for name, e in lab.EXPERIMENTS.items()}  # the library's registry, in its order
CLAIMS = {name: e.claim for name, e in lab.EXPERIMENTS.items()}

PAINT_SCALE = 2  # the crop is drawn at twice its size, so a stroke lands where the pointer is
PAINT_COLOUR = "#808080"
PAINT_MAX_BRUSH = 60  # pixels of the crop

top = int(probs.argmax())
link = links.Link("lab")
link.seed("experiment", "lab_experiment", links.one_of(EXPERIMENTS), default=next(iter(EXPERIMENTS)))
link.seed("class", "lab_class", links.integer(0, len(names) - 1), default=top)
c1, c2 = st.columns([1, 1])
exp = c1.selectbox("Experiment", list(EXPERIMENTS), format_func=EXPERIMENTS.get, key="lab_experiment")
cls = c2.selectbox("Class to watch (type to search)", range(len(names)), index=top,
                   format_func=lambda i: f"{names[i]} ({i})", key="lab_class",
                   help="Its probability before and after the change is shown with each experiment; "
                        "by default the network's top class on this photo.")
if exp in ("pool", "tencrop"):  # no settings of their own
    link.write()
st.header(EXPERIMENTS[exp])
st.markdown(CLAIMS[exp])
if sel.untrained:  # a line, not a box: the result must stay in a projector's first screen
    st.caption(":material/warning: These numbers come from the **untrained** network: the experiments run, "
               "but their effect on a prediction means little until the pretrained weights are loaded.")


def effect(**change) -> lab.Effect:
    """The shared before/after of one change; a change this network cannot make stops the page
    with the library's sentence."""
    try:
        return cache.store().get_or_compute(sel.key("lab-effect", change),
                                            lambda: lab.ablation_effect(net, sel.x, **change))
    except ValueError as exc:
        st.info(str(exc))
        st.stop()


# A short header: two top-5 tables side by side are 185 px wide each at 1024×768 beside the sidebar.
TOP_COLUMNS = {"probability": st.column_config.TextColumn("p", help="probability")}


def top_rows(top5) -> list[dict]:
    return [{"class": label, "probability": f"{100 * p:.2f}%"} for _i, label, p in top5]


def points(change: float) -> tuple[str, dict]:
    """A probability's change as the metric's delta, and its arrow: none where it rounds to 0.00
    (a "−0.00" would draw a red down-arrow for nothing)."""
    text = f"{100 * change:+.2f}"
    if float(text) == 0:
        return "0.00 points", {"delta_color": "off", "delta_arrow": "off"}
    return f"{text} points", {"delta_color": "normal"}


def show_effect(e: lab.Effect, after: str, before: str = "as built") -> None:
    """Top-5 before and after, the watched class's change, and the maps that changed."""
    b, a, m = st.columns([2, 2, 1.4])
    b.markdown(f"**Top 5, {before}**")
    b.dataframe(top_rows(e.top("before")), hide_index=True, width="stretch", key=f"lab_{exp}_before",
                column_config=TOP_COLUMNS)
    a.markdown(f"**Top 5, {after}**")
    a.dataframe(top_rows(e.top("after")), hide_index=True, width="stretch", key=f"lab_{exp}_after",
                column_config=TOP_COLUMNS)
    delta, arrow = points(e.change(cls))
    m.metric(f"“{names[cls]}”", f"{100 * e.after[cls]:.2f}%", delta=delta, **arrow,
             help=f"Its probability, {after}")  # the label alone: with the setting it was cut at 1024 px
    m.caption(f"{before}: {100 * e.before[cls]:.2f}%")
    changed = [layer for layer, v in e.layer_change.items() if v > 0]
    if not changed:
        return
    with st.expander("What changed inside the network", expanded=False):
        st.caption("For each activation, ‖after − before‖ / ‖before‖: 0 where nothing changed.")
        st.dataframe([{"layer": layer, "relative change": v} for layer, v in e.layer_change.items()],
                     hide_index=True, key=f"lab_{exp}_changes",
                     column_config={"relative change": st.column_config.ProgressColumn(
                         format="%.3f", min_value=0.0, max_value=max(1.0, max(e.layer_change.values())))})
        maps = [layer for layer in changed if layer in e.maps]
        if maps:
            layer = st.selectbox("The most changed channel of", maps, key=f"lab_{exp}_maps")
            c, before_map, after_map = e.maps[layer]
            lo = float(min(before_map.min(), after_map.min()))
            hi = float(max(before_map.max(), after_map.max()))
            p, q = st.columns(2)
            p.image(render.channel_picture(before_map, lo=lo, hi=hi), width="stretch",
                    caption=f"{layer}, channel {c}, {before} (one colour scale for both: {lo:.3g} to {hi:.3g})")
            q.image(render.channel_picture(after_map, lo=lo, hi=hi), width="stretch",
                    caption=f"{layer}, channel {c}, {after}")


# -- the experiments: one function each, dispatched by the registry's name -----------------------
def show_towers() -> None:
    if not split_layers(arch):
        st.info(f"{arch.name} runs as one tower: no layer is split over two GPUs. Choose alexnet2012 "
                "(the paper's two towers) under Network in the sidebar.")
        link.write()
        st.stop()
    k1, k2 = st.columns(2)
    link.seed("tower", "lab_tower", links.one_of(["gpu2", "gpu1"]), default="gpu2")
    link.seed("from", "lab_from", links.one_of(split_layers(arch)), default=split_layers(arch)[0])
    tower = k1.radio("Knock out", ["gpu2", "gpu1"], format_func=lab.ABLATE_SETTINGS["tower_off"].choices.get,
                     horizontal=True, key="lab_tower",
                     help="Every unit of that tower in conv1–conv5, fc6 and fc7 outputs zero from the chosen "
                          "layer on, as if its weights and biases were zero.")
    start = k2.selectbox("From this layer on", split_layers(arch), key="lab_from")
    link.write()
    label = lab.ABLATE_SETTINGS["tower_off"].choices[tower]
    show_effect(effect(tower_off=tower, from_layer=start), f"{label} off from {start}")
    if classroom.leading():  # a prediction for the class, its answer from the effect just shown
        stays = effect(tower_off=tower, from_layer=start).top("after")[0][0] == top
        classroom.ask_button("lab", f"After knocking out {label} from {start}, will the top class stay "
                             f"“{names[top]}”?", ["Yes", "No"], 0 if stays else 1)
    tb = av.tower_bytes(arch)
    st.markdown("**The two towers in numbers** (from the layer table at 227×227, float32)")
    rows = tb.rows()
    # On its side, a tower per column: six columns of 9-digit numbers were cut at the right beside
    # the sidebar even at 1400 px; a static table wraps its labels instead of scrolling.
    st.table([{"": k, **{r["tower"]: f"{r[k]:.2%}" if isinstance(r[k], float) else f"{r[k]:,}" for r in rows}}
              for k in rows[0] if k != "tower"], border="horizontal")
    SHORT = {"values crossing": "values", "bytes per image": "bytes/image"}  # fits 1024×768 beside the sidebar
    SHORT[f"bytes per {tb.batch}-image batch"] = f"bytes/{tb.batch} images"
    st.markdown("**Where the towers talk**: each GPU receives the other's half of what these layers read")
    st.dataframe(tb.crossings, hide_index=True, width="stretch", key="lab_crossings",
                 column_config={k: st.column_config.NumberColumn(SHORT.get(k, k), format="localized", help=k)
                                for k, v in tb.crossings[0].items() if isinstance(v, int) and not isinstance(v, bool)})
    b1, b2 = st.columns(2)
    b1.metric("Bytes between the GPUs per image", f"{tb.cross_bytes_per_image:,}")
    b2.metric(f"… per {tb.batch}-image batch", f"{tb.cross_bytes_per_batch / 2**20:.1f} MiB")
    # which layer is one block reading both towers, and what it reads: from the layer table
    whole = [r.name for r in arch.layers if r.kind in ("conv", "linear") and r.towers == 1 and r.cross_tower]
    fed = [r.name for r in arch.layers[:arch.names().index(whole[-1])] if r.kind in ("conv", "linear")][-1:] \
        if whole else []
    st.caption("Forward pass only; training sends the gradients of the same values back. "
               + (f"{whole[-1]} is not split: it reads both towers, and this count places it on "
                  f"{arch.tower_names[0]}, so only {arch.tower_names[1]}'s half of {fed[0]} crosses. "
                  if whole and fed else "") + "Caffe's LRN window runs across "
               "the boundary (rows marked caffe only); the paper's cuda-convnet normalised within each GPU. "
               "The 3 GB also had to hold gradients and momentum, about twice the weights again.")


def show_lrn() -> None:
    link.seed("lrn", "lab_lrn", links.one_of(["off", "paper", "k2"]), default="off")
    mode = st.radio("Normalisation", ["off", "paper", "k2"], horizontal=True, key="lab_lrn",
                    format_func={"off": "off (identity)", "paper": "the paper's, as printed",
                                 "k2": "Caffe's with k = 2"}.get)
    link.write()
    e = effect(lrn=mode)
    spec = next(layer.lrn for layer in arch.layers if layer.kind == "lrn")
    show_effect(e, {"off": "LRN off", "paper": "the paper's LRN as printed", "k2": "Caffe's LRN with k = 2"}[mode])
    paper = av.architecture.PAPER_LRN
    st.caption(f"As built (Caffe): b = a / (k + α/n · Σ a²)^β with k = {spec.k:g}, n = {spec.size}, α = {spec.alpha:g}, "
               f"β = {spec.beta:g}, so {spec.alpha / spec.size:g} per term. The paper as printed (§3.3): "
               f"b = a / (k + α · Σ a²)^β with k = {paper.k:g}, α = {paper.alpha / paper.size:g} per term (not divided "
               f"by n). “Caffe's with k = 2” changes only k.")


def show_pool() -> None:
    pools = [layer for layer in arch.layers if layer.kind == "maxpool"]
    first = pools[0]
    before_pool = arch.layers[arch.layers.index(first) - 1].name
    src = sel.acts[before_pool]  # (C, H, W): what pool1 reads
    c = int(src.reshape(src.shape[0], -1).max(axis=1).argmax())
    mid = sel.acts[first.name].shape[1] // 2
    u = av.trace_unit(net, sel.x, first.name, c, mid, mid, acts=sel.acts)
    left, right = st.columns([1.2, 1])
    left.plotly_chart(UF.pool_figure(src[c], u, first.stride), theme=None, key="lab_pool_windows")
    right.markdown(f"{before_pool}, channel {c} (this photo's strongest), with {first.name}'s window for unit "
                   f"({mid}, {mid}) in orange and its neighbours' dashed: each {first.kernel}×{first.kernel} "
                   f"window steps only {first.stride}, so neighbours share a row or a column.")
    right.caption(UF.overlap_words(u, first.kernel, first.stride))
    e = effect(pool="non-overlapping")
    show_effect(e, "2×2 windows at stride 2")
    st.warning("These weights were trained for 3×3 windows, so this shows how sensitive the trained network is "
               "to the swap, not the paper's 0.4% comparison (that needs two networks, each trained with its "
               "own pooling).")


def show_tencrop() -> None:
    def _ten() -> dict:
        t = av.ten_crop(net, sel.image, sel.mode)
        return {"probs": t.probs, "crop_probs": t.crop_probs, "crops": np.stack([np.asarray(c) for c in t.crops]),
                "square": t.square, "size": t.resized_size}

    with st.spinner("Running the ten crops…"):
        tc = cache.store().get_or_compute(sel.key("lab-tencrop"), _ten)
    for row in (0, 5):
        cols = st.columns(5)
        for i in range(row, row + 5):
            j = int(tc["crop_probs"][i].argmax())
            cols[i - row].image(tc["crops"][i], width="stretch",
                                caption=f"{lab.CROP_NAMES[i]}: {names[j]} {100 * tc['crop_probs'][i][j]:.2f}%")
    (w, h), (x0, y0, x1, y1), side = tc["size"], tc["square"], net.prep.resize
    resized_how = (f"The photo's shorter side resized to {side}" if sel.mode == "aspect"
                   else f"The photo warped to {side}×{side}")
    st.caption(f"{resized_how} ({w}×{h}); as the paper does, the corner crops come from its central "
               f"{x1 - x0}×{y1 - y0} square (x {x0}–{x1}, y {y0}–{y1}); {net.prep.crop}×{net.prep.crop} crops "
               "(the paper says 224; Caffe's AlexNet takes 227). The centre crop is the one every other page "
               "uses (within a pixel of the square's centre).")
    show_effect(lab.Effect(tc["crop_probs"][4], tc["probs"], names), "ten-crop average", "centre crop")


def show_dropout() -> None:
    d = cache.store().get_or_compute(sel.key("lab-dropout-scaling"), lambda: lab.dropout_scaling(net, sel.x))
    s1, s2 = st.columns(2)
    s1.markdown("**Why it is off at test time.** The paper keeps each unit with probability 0.5 while "
                "training and multiplies the outputs by 0.5 at test time; torch instead multiplies the kept "
                "units by 2 while training and does nothing at test time. Either way the next layer sees at "
                "test time what it saw on average in training.")
    s2.metric("Largest logit difference, paper's rule vs torch's", f"{np.abs(d.paper - d.torch).max():.2e}",
              help="The paper's rule on the weights it would have learned (twice torch's after each dropout) "
                   "beside this network at test time.")
    err = np.abs(d.train_mean - d.test).mean() / max(np.abs(d.test).mean(), 1e-12)
    s2.metric(f"{d.layer}: mean of {d.n} training-mode passes vs test time", f"{100 * err:.2f}% apart",
              help=f"Mean absolute difference over {d.layer}'s units, relative to their mean size: shrinks "
                   "as the number of passes grows (equal in expectation).")
    link.seed("passes", "lab_mc_n", links.one_of(range(10, 101, 10)), default=30)
    n = st.slider("Monte-Carlo passes with dropout on", 10, 100, 30, step=10, key="lab_mc_n")
    link.write()
    mc = cache.store().get_or_compute(sel.key("lab-mc", n), lambda: lab.mc_dropout(net, sel.x, n=n))
    five = [int(i) for i in np.argsort(-probs, kind="stable")[:5]]
    st.plotly_chart(render.mc_dropout_figure(mc, names, five), theme=None, key="lab_mc_figure")
    agree = int((mc.argmax(axis=1) == top).sum())
    st.markdown(f"In **{agree} of {n}** passes the top class is still “{names[top]}”.")
    show_effect(lab.Effect(probs, mc.mean(axis=0), names), f"mean of {n} passes with dropout on", "dropout off")


def show_knockout() -> None:
    maps = [name for name, a in sel.acts.items() if a.ndim == 3]
    home = maps.index("conv5") if "conv5" in maps else 0
    link.seed("layer", "lab_zero_layer", links.one_of(maps), default=maps[home])
    layer = st.selectbox("Layer", maps, index=home, key="lab_zero_layer")
    a = sel.acts[layer]
    strongest = [int(i) for i in np.argsort(-a.reshape(a.shape[0], -1).max(axis=1), kind="stable")[:5]]
    link.seed("channels", f"lab_zero_{layer}", links.some_of(range(a.shape[0]), most=a.shape[0]),
              show=links.show_list, default=strongest)
    chans = st.multiselect(f"Channels to zero (0–{a.shape[0] - 1}); by default this photo's five strongest",
                           range(a.shape[0]), default=strongest, key=f"lab_zero_{layer}")
    link.write()
    if not chans:
        st.info("Choose at least one channel to zero.")
        st.stop()
    show_effect(effect(zero_channels={layer: sorted(chans)}),
                f"{len(chans)} channel{'s' if len(chans) > 1 else ''} of {layer} zeroed")


def show_paint() -> None:
    view = sel.view  # the crop the network sees, e.g. 227×227
    w, h = view.size
    clears = st.session_state.setdefault("lab_paint_clears", 0)
    left, right = st.columns([PAINT_SCALE * w + 40, 360])
    colour = right.color_picker("Brush colour", PAINT_COLOUR, key="lab_paint_colour",
                                help="Mid-grey is close to the training images' mean: it hides a part "
                                     "without adding much of its own.")
    colour = colour if re.fullmatch(r"#[0-9a-fA-F]{6}", str(colour)) else PAINT_COLOUR
    brush = right.slider("Brush width (pixels of the crop)", 1, PAINT_MAX_BRUSH, 12, key="lab_paint_width")
    if right.button("Clear the painting", key="lab_paint_clear"):
        st.session_state["lab_paint_clears"] = clears = clears + 1
    with left:
        # the photo is the background (not sent back); the canvas returns only the strokes, RGBA
        result = canvas.st_canvas(
            background_image=view, width=PAINT_SCALE * w, height=PAINT_SCALE * h, drawing_mode="freedraw",
            stroke_width=PAINT_SCALE * brush, stroke_color=colour, return_image_data=True,
            key=f"lab_paint_{sel.model}_{sel.mode}_{sel.digest[:16]}_{clears}")
    st.caption(f"The canvas is the {w}×{h} crop drawn at {PAINT_SCALE}×; its toolbar undoes, redoes and "
               "clears strokes. Your strokes are laid over the crop by their transparency and the network "
               "runs once on the result.")
    try:
        png = result.image_bytes  # None until the first stroke
        painting = None if png is None else read_painting(png)
        painted = None if painting is None or not painting[..., 3].any() else paint_over(view, painting)
    except (ValueError, TypeError, AttributeError) as exc:  # ImageError is a ValueError
        st.info(str(exc) if isinstance(exc, av.ImageError) else
                "The canvas sent something that is not a picture: press Clear the painting and paint again.")
        st.stop()
    if painted is None:
        st.info("Paint over the photo: the top-5 before and after appear here as soon as you lift the pen.")
        st.stop()
    right.image(painted, width=w, output_format="PNG", caption=f"What the network reads: your strokes over the {w}×{h} crop")
    e = cache.store().get_or_compute(sel.key("lab-paint", av.image_digest(painted)),
                                     lambda: lab.painted_effect(net, view, painted, before=sel.acts))
    show_effect(e, "painted", "unpainted")


SHOW = {"towers": show_towers, "lrn": show_lrn, "pool": show_pool, "tencrop": show_tencrop,
        "dropout": show_dropout, "knockout": show_knockout, "paint": show_paint}
assert list(SHOW) == list(lab.EXPERIMENTS), "every experiment in the library's registry has its section here"
SHOW[exp]()
