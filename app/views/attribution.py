"""Why did it say that? Attribution maps for the chosen image, and whether they show the network.

One method, several side by side, and Adebayo et al.'s sanity check. Results come from ``cache``
(one computation per image, network, weights, method, parameters and target); the display
controls only redraw."""
import numpy as np
import streamlit as st

import cache
import links
import sidebar
import work
from alexnet_viz import ATTRIBUTION_METHODS, Contrast, heatmaps, render
from alexnet_viz.attribution import SANITY_THRESHOLD, occlusion_windows, passes, sanity_steps

# The page's own starting values where the registry's would be slow on a laptop CPU: occlusion
# at window 31, stride 8 is 676 windows (10–50 s on a 2-core CPU); this is 64 at 227.
PAGE_DEFAULTS = {"occlusion": {"window": 57, "stride": 28}}
SIGN_HELP = {"positive": "where the map raises the score", "negative": "where it lowers the score",
             "absolute": "how much, either way",
             "signed": "{positive} raises, {negative} lowers (white: 0)".format(**render.colour.SIGN_WORDS)}
VIEWS = {"one": "One method", "compare": "Compare methods", "sanity": "Sanity check"}

sel = sidebar.selection()
sidebar.page_header("Why did it say that?", sel)
names, probs = sel.net.categories, sel.forward.probs
crop = sel.net.prep.crop
view = sel.view  # the crop the network sees; every map is drawn on it
layer_names = set(sel.net.arch.names())

if sel.untrained and sidebar.pretrained_unavailable(sel.model):  # the sidebar's sentence: none to load here
    st.warning(sidebar.weights_words("in the sidebar") + " These maps explain a *random* network, not a "
               "classifier that has learnt anything.")
elif sel.untrained:  # chosen in the sidebar, where the pretrained weights may be chosen instead
    st.warning("The network is **untrained**: these maps explain a *random* network, not a classifier that has "
               "learnt anything. Choose the pretrained weights in the sidebar for real explanations.")
link = links.Link("attribution")


def title(m: str) -> str:
    return ATTRIBUTION_METHODS[m].title


def stored_params(method: str) -> dict:
    """This session's parameter values for a method (kept while other views are shown)."""
    every = st.session_state.setdefault("attr_params", {})
    if method not in every:
        every[method] = stored_default(method)
    return every[method]


def stored_default(method: str) -> dict:
    """A method's parameters as a fresh visit shows them (the page's starting values)."""
    return {**ATTRIBUTION_METHODS[method].defaults(), **PAGE_DEFAULTS.get(method, {})}


def param_parser(method: str, p) -> links.Parse:
    """A link's text -> a value the parameter's widget offers (the registry checks it), or None."""
    def parse(text: str):
        value = p.check(text, method)
        if p.kind == "choice" and p.name == "layer" and value not in layer_names:
            return None
        if p.name in ("window", "stride") and value > crop:  # the sliders stop at the crop
            return None
        return value
    return parse


def param_widgets(method: str) -> dict:
    """A widget per parameter of ``method``, generated from its registry entry; the values.
    A parameter that acts only with another's value (``Param.when``) is drawn only then."""
    values = stored_params(method)
    for p in ATTRIBUTION_METHODS[method].params:
        if p.when is not None and values.get(p.when[0]) != p.when[1]:
            continue
        key, label = f"attr_{method}_{p.name}", f"{p.name.replace('_', ' ')}"
        link.seed(f"{method}.{p.name}", key, param_parser(method, p), show=lambda v: f"{v:g}" if
                  isinstance(v, float) else str(v), default=stored_default(method)[p.name])
        ceiling = work.ceiling(method, p.name)  # this server's bound on what a visitor may ask for
        if ceiling is not None:
            values[p.name] = work.clamp(method, p.name, values[p.name])[0]
            if key in st.session_state:  # a link's value, or one kept from before the operator's bound
                st.session_state[key], note = work.clamp(method, p.name, st.session_state[key])
                if note:
                    st.info(note, icon=":material/speed:")
        if p.kind == "choice":
            choices = [c for c in p.choices if p.name != "layer" or c in layer_names]
            values[p.name] = st.selectbox(label, choices, index=choices.index(values[p.name]), key=key, help=p.help)
        elif p.kind == "int":
            high = min(int(p.high), crop) if p.name in ("window", "stride") else int(p.high)
            low = int(p.low)
            if ceiling is not None:
                high, low = (min(high, ceiling.value()), low) if ceiling.bound == "most" else (high, max(low, ceiling.value()))
            values[p.name] = st.slider(label, low, high, min(max(int(values[p.name]), low), high), 1, key=key, help=p.help)
        else:
            step = 0.01 if p.high <= 1 else 0.5
            values[p.name] = st.slider(label, float(p.low), float(p.high), float(values[p.name]), step,
                                       key=key, help=p.help)
    return dict(values)


def cost_line(method: str, params: dict) -> str:
    m = ATTRIBUTION_METHODS[method]
    try:
        n = passes(method, (crop, crop), **params)
    except ValueError:
        return f"Cost: {m.cost}."
    return f"Cost: {m.cost}; with these settings, {n} batched forward pass{'es' if n > 1 else ''}."


def params_expander(methods: list[str], heading: str) -> None:
    """An expander with a column of parameter widgets (and its cost) per method that has any."""
    with_params = [m for m in methods if ATTRIBUTION_METHODS[m].params]
    if not with_params:
        return
    with st.expander(heading):
        for m, col in zip(with_params, st.columns(len(with_params))):
            with col:
                st.markdown(f"**{title(m)}**")
                param_widgets(m)
                st.caption(cost_line(m, stored_params(m)))


COSTLY_PASSES = 4  # a method needing more batched passes than this runs only when asked (Run button)


def costly(method: str) -> bool:
    """A method whose library defaults take many passes (integrated gradients, occlusion): its
    parameters go in a form with a Run button, so that dragging a slider never starts a long
    computation (the page may still start it at cheaper settings)."""
    return passes(method, (crop, crop)) > COSTLY_PASSES


def _stop() -> None:
    """The Stop button: forget the request and leave this visitor's job in the server's queue (it
    stops at its next progress report, unless another visitor waits for the same result)."""
    st.session_state.pop("attr_requested", None)
    st.session_state["attr_stopped"] = True
    work.cancel()


def queued(job_key, run, label: str, holder):
    """``run(progress)`` through the server's queue for costly jobs, drawing in ``holder`` this
    visitor's place in the queue, then the progress; the value, or None once stopped."""
    job = work.submit(job_key, run)

    def show(job, place: int) -> None:
        if place:
            holder.info(f"Waiting: place {place} in the queue (the server runs {work.jobs().workers} costly "
                        f"computation{'s' if work.jobs().workers > 1 else ''} at once).", icon=":material/hourglass_top:")
        else:
            done, total = job.done_steps, job.total_steps
            holder.progress(done / total if total else 0.0, text=f"{label}: {done} of {total}")

    try:
        return work.wait(job, show)
    except work.Cancelled:
        return None


def compute(method: str, params: dict, target, where=None):
    """The cached explanation, with a progress bar (and a Stop button) while it is computed;
    None after an error box."""
    where = where or st
    slot = where.empty()  # the bar and the Stop button, removed when the result is in
    box = slot.container()
    holder = box.empty()
    box.button("Stop", key=f"attr_stop_{method}", on_click=_stop, help="Stop this computation.")

    def progress(done: int, total: int) -> None:
        holder.progress(done / total if total else 0.0, text=f"{title(method)}: {done} of {total} forward passes")

    try:
        if passes(method, (crop, crop), **params) > 1:  # more than a forward pass: the server's queue
            chosen = dict(params)
            return queued(cache.explanation_key(sel, method, chosen, target),
                          lambda report: cache.explanation(sel, method, chosen, target, report),
                          f"{title(method)} (forward passes)", holder)
        return cache.explanation(sel, method, params, target, progress)
    except ValueError as exc:
        st.error(f"{title(method)}: {exc}")
        return None
    finally:
        slot.empty()


def explanation_or_run_button(method: str, params: dict, target, run: bool, where):
    """A cheap method's explanation at once; a costly one's from the cache, or after Run."""
    key = cache.explanation_key(sel, method, params, target)
    if run:
        st.session_state["attr_requested"] = key
        st.session_state.pop("attr_stopped", None)
    hit = cache.store().get(key)
    if hit is not None or not costly(method) or st.session_state.get("attr_requested") == key:
        return hit if hit is not None else compute(method, params, target, where)
    n = passes(method, (crop, crop), **params)
    where.info(("Stopped. " if st.session_state.pop("attr_stopped", False) else "")
               + f"{title(method)} with these settings takes {n} batched forward passes: press **Run** to "
               "compute it (a progress bar and a Stop button appear here).")
    return None


def downloads(e, picture: np.ndarray, where, key: str, compact: bool = False) -> None:
    """The map as PNG and its numbers as .npy; ``where`` is one container (split in two) or two."""
    stem = f"{e.method}_{sel.model}_{sel.digest[:8]}"
    a, b = where if isinstance(where, tuple) else where.columns(2)
    a.download_button("PNG" if compact else "Map (PNG)", lambda: render.png_bytes(picture), file_name=f"{stem}.png", mime="image/png",
                      on_click="ignore", key=f"dl_png_{key}", help="The overlay as drawn.")
    b.download_button(".npy" if compact else "Numbers (.npy)", lambda: render.npy_bytes(e.raw), file_name=f"{stem}.npy",
                      mime="application/octet-stream", on_click="ignore", key=f"dl_npy_{key}",
                      help=f"The raw attribution, shape {e.raw.shape} (channels, rows, columns).")


# -- what to explain, how to show it -------------------------------------------------------------------
top = int(probs.argmax())
second = int(np.argsort(probs)[-2])


def target_controls(where) -> int | Contrast:
    """The class (or contrast) to explain, chosen in ``where``."""
    link.seed("target", "attr_target_mode", links.one_of(["top", "class", "contrast"]), default="top")
    mode = where.radio("Explain", ["top", "class", "contrast"], key="attr_target_mode", horizontal=True,
                       format_func={"top": "the top prediction", "class": "any class",
                                    "contrast": "why A rather than B"}.get)
    if mode == "top":
        where.markdown(f"**{names[top]}** (class {top}), probability {probs[top]:.2%}: the network's top choice.")
        return top
    classes = links.integer(0, len(names) - 1)
    if mode == "class":
        link.seed("class", "attr_class", classes, default=top)
        target = where.selectbox(f"Class (type to search all {len(names)})", range(len(names)), index=top,
                                 format_func=lambda i: f"{names[i]} ({i})", key="attr_class")
        where.caption(f"Probability {probs[target]:.2%}, rank {render.class_ranks(probs)[target]} of {len(names)}.")
        return target
    link.seed("a", "attr_class_a", classes, default=top)
    link.seed("b", "attr_class_b", classes, default=second)
    a = where.selectbox("A (type to search)", range(len(names)), index=top,
                        format_func=lambda i: f"{names[i]} ({i})", key="attr_class_a")
    b = where.selectbox("rather than B", range(len(names)), index=second,
                        format_func=lambda i: f"{names[i]} ({i})", key="attr_class_b")
    if a == b:
        st.error("A and B are the same class: choose two different classes to contrast.")
        link.write()
        st.stop()
    up, down = render.colour.SIGN_WORDS["positive"], render.colour.SIGN_WORDS["negative"]
    where.caption(f"The map explains logit(“{names[a]}”) − logit(“{names[b]}”): {up} (signed mode) "
                  f"pushes towards {names[a]}, {down} towards {names[b]}.")
    return Contrast(int(a), int(b))


def display_controls(where) -> tuple[str, float, float]:
    """Sign mode, clipping percentile and opacity: display only, never a recomputation."""
    link.seed("sign", "attr_sign", links.one_of(heatmaps.SIGN_MODES), default="absolute")
    link.seed("clip", "attr_percentile", links.number(90.0, 100.0), show="{:g}".format, default=99.0)
    link.seed("opacity", "attr_opacity", links.number(0.0, 1.0), show="{:g}".format, default=0.6)
    sign = where.radio("Sign", heatmaps.SIGN_MODES, index=heatmaps.SIGN_MODES.index("absolute"), horizontal=True,
                       key="attr_sign", help="; ".join(f"{k}: {v}" for k, v in SIGN_HELP.items()))
    percentile = where.slider("Clip outliers above the percentile", 90.0, 100.0, 99.0, 0.1, key="attr_percentile",
                              help="Values above this percentile of |map| all get the strongest colour.")
    opacity = where.slider("Opacity of the map", 0.0, 1.0, 0.6, 0.05, key="attr_opacity")
    where.caption(f"{sign}: {SIGN_HELP[sign]}. Colours: "
                  + ("purple–white–green (ColorBrewer PRGn, colour-blind safe)." if sign == "signed"
                     else "viridis, dark = weak, yellow = strong (colour-blind safe)."))
    where.image(render.colour_bar(sign, width=320, height=14),
                caption="lowers  ←  0  →  raises" if sign == "signed" else "0  →  strongest")
    return sign, percentile, opacity


link.seed("view", "attr_view", links.one_of(VIEWS), default="one")
what = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, default="one", required=True,
                            key="attr_view")

# -- one method: controls on the left, the map on the right, in the first screen ----------------------
if what == "one":
    left, right = st.columns([1.15, 2.6])
    with left:
        target = target_controls(st)
        link.seed("method", "attr_method", links.one_of(ATTRIBUTION_METHODS), default=next(iter(ATTRIBUTION_METHODS)))
        method = st.selectbox("Method", list(ATTRIBUTION_METHODS), format_func=title, key="attr_method")
        m = ATTRIBUTION_METHODS[method]
        st.caption(f"{m.description} ({m.reference})")
        if costly(method):
            with st.form(f"attr_form_{method}", border=False):
                params = param_widgets(method)
                run = st.form_submit_button("Run", type="primary", key=f"attr_run_{method}")
        else:
            params, run = param_widgets(method), False
        st.caption(cost_line(method, params))
        if method == "occlusion":
            start = PAGE_DEFAULTS["occlusion"]
            lib = {k: m.defaults()[k] for k in ("window", "stride")}
            st.caption(f"The page starts occlusion coarse (window {start['window']}, stride {start['stride']}: "
                       f"{occlusion_windows((crop, crop), **start)} windows, seconds on a laptop CPU). The "
                       f"library's default, window {lib['window']} and stride {lib['stride']} "
                       f"({occlusion_windows((crop, crop), **lib)} windows) takes a few seconds more: each window "
                       "recomputes only the region it changes.")
        with st.expander("How to show it"):
            sign, percentile, opacity = display_controls(st)
            if m.sign != sign:
                st.caption(f"Suggested sign mode for {m.title}: {m.sign}.")
    link.write()
    e = explanation_or_run_button(method, params, target, run, right)
    if e is not None:
        with right:
            picture = render.attribution_picture(e.raw, view, sign, percentile, opacity)
            bare = render.attribution_picture(e.raw, None, sign, percentile)
            c1, c2 = st.columns(2)
            c1.image(picture, caption=f"{m.title} for “{e.target_label}”, on the {crop}×{crop} crop",
                     width="stretch")
            c2.image(bare, caption=f"The map alone ({sign}, clipped at the {percentile:g}th percentile)",
                     width="stretch")
            downloads(e, picture, (c1, c2), "one")  # one button under each picture: labels never cut
            s1, s2, s3 = st.columns(3)
            s1.metric("Score", f"{e.score:.4g}",
                      help="The score explained: the target's logit (for a contrast, logit A − logit B) at this image.")
            s2.metric("Computed in", f"{e.seconds:.2f} s", help="Measured once; shown again from the cache.")
            s3.metric("Sum of the map", f"{float(e.map.sum()):.4g}")
            if e.delta is not None:
                gap = e.score - e.baseline_score
                st.markdown(
                    f"**Convergence delta: {e.delta:.3g}** ({abs(e.delta) / (abs(gap) or 1):.1%} of the score "
                    f"change). Integrated gradients' attributions should add up to score(input) − "
                    f"score(baseline) = {e.score:.4g} − {e.baseline_score:.4g} = {gap:.4g} (the *completeness* "
                    f"axiom); they add up to {float(e.map.sum()):.4g}. The delta is that gap, from approximating "
                    f"the path integral with {e.extras['steps']} gradient evaluations "
                    f"({e.extras['pieces']} pieces of the path).")
                st.caption(f"Integrated gradients: {e.extras['note']}")
            if e.extras.get("approximate"):
                st.warning(f"**Approximate** occlusion map: {e.extras['computed']} of "
                           f"{e.extras['positions']} square positions computed (every other one), the rest "
                           "interpolated from their neighbours. "
                           "Choose mode “exact” for Captum's map.")
            if e.layer_map is not None:
                st.caption(f"Grad-CAM at {e.params['layer']} is {e.layer_map.shape[0]}×{e.layer_map.shape[1]} "
                           f"before it is upsampled to {crop}×{crop}: that is why it is coarse.")

# -- several methods, side by side ----------------------------------------------------------------------
elif what == "compare":
    with st.expander("What to explain, and how to show it", expanded=False):
        t_col, d_col = st.columns(2)
        target = target_controls(t_col)
        sign, percentile, opacity = display_controls(d_col)
    compared = ["saliency", "guided_backprop", "grad_cam"]
    link.seed("methods", "attr_compare", links.some_of(ATTRIBUTION_METHODS), show=links.show_list, default=compared)
    chosen = st.multiselect("Methods to compare", list(ATTRIBUTION_METHODS), format_func=title,
                            default=compared, key="attr_compare")
    groups: dict[str, list[str]] = {}
    for m in chosen:
        if ATTRIBUTION_METHODS[m].units:
            groups.setdefault(ATTRIBUTION_METHODS[m].units, []).append(m)
    sharable = {u: ms for u, ms in groups.items() if len(ms) > 1}
    link.seed("scale", "attr_scale", links.one_of(["per map", "shared"], lambda s: s.split()[-1]),
              show=lambda s: s.split()[-1], default="per map")
    shared = st.radio("Colour scale", ["per map", "shared"], horizontal=True, key="attr_scale",
                      disabled=not sharable,
                      help="per map: each map stretched to its own range, so each shows its shape; shared: "
                           "one scale among methods whose numbers have the same units, so their colours "
                           "compare.") == "shared" and bool(sharable)
    params_expander(chosen, "Parameters of the compared methods")
    link.write()
    results = [e for e in (compute(m, stored_params(m), target) for m in chosen) if e is not None]
    if results:
        pictures, scales = render.attribution_pictures([e.raw for e in results], view, sign, percentile, opacity,
                                                       False)
        if shared:  # one scale within each group of methods that measure the same thing
            for units, members in sharable.items():
                idx = [i for i, e in enumerate(results) if e.method in members]
                pics, sc = render.attribution_pictures([results[i].raw for i in idx], view, sign, percentile,
                                                       opacity, True)
                for i, p, c in zip(idx, pics, sc):
                    pictures[i], scales[i] = p, c
                st.info(f"**One shared colour scale** for {', '.join(title(m) for m in members)}: their numbers "
                        f"are all {units}, so their colours compare (full colour at {sc[0]:.3g}, the "
                        f"{percentile:g}th percentile of those maps together). Every other map keeps its own scale.")
        else:
            st.info("**Each map on its own colour scale** (its own {:g}th percentile): shapes compare, "
                    "colours do not — the methods do not measure the same thing.".format(percentile)
                    + ("" if sharable else " None of the chosen methods share units, so no shared scale "
                       "is offered."))
        per_row = min(len(results), 4)
        for i in range(0, len(results), per_row):
            for e, pic, s, col in zip(results[i:i + per_row], pictures[i:i + per_row], scales[i:i + per_row],
                                      st.columns(per_row)):
                col.image(pic, caption=f"{title(e.method)} — full colour at {s:.3g}", width="stretch")
                downloads(e, pic, col, f"cmp_{e.method}", compact=per_row > 2)
        st.caption(f"Target: “{results[0].target_label}”.")
    elif not chosen:
        st.info("Choose at least one method to compare.")

# -- the sanity check ---------------------------------------------------------------------------------------
else:
    with st.expander("What to explain, and how to show it", expanded=False):
        t_col, d_col = st.columns(2)
        target = target_controls(t_col)
        sign, percentile, opacity = display_controls(d_col)
    st.markdown(
        "**Sanity check** (Adebayo et al. 2018, *Sanity Checks for Saliency Maps*): the weights are replaced "
        "by random ones layer by layer, from fc8 back to conv1, and each method's map is recomputed after "
        "every step. A map that explains the network must change as its weights are destroyed; one that "
        "stays the same is showing the image (edges, colours), not what the network computes.")
    if sel.untrained:
        st.caption("With the untrained network the *original* is itself random: this shows how much each "
                   "map depends on the weights at all, not on what training taught them. Run it with the "
                   "pretrained weights for the real test.")
    checked = ["saliency", "guided_backprop"]
    link.seed("methods", "attr_sanity_methods", links.some_of(ATTRIBUTION_METHODS), show=links.show_list,
              default=checked)
    chosen = st.multiselect("Methods to check", list(ATTRIBUTION_METHODS), format_func=title,
                            default=checked, key="attr_sanity_methods")
    params_expander(chosen, "Parameters of the checked methods")
    link.write()
    methods = {m: stored_params(m) for m in chosen}
    steps = len(sanity_steps(sel.net))
    n = sum(passes(m, (crop, crop), **p) for m, p in methods.items()) * steps
    result = cache.cached_sanity(sel, methods, target) if methods else None
    job_key = cache.sanity_key(sel, methods, target)
    mine = work.jobs().current(work.session_id())
    if st.button("Run the sanity check", type="primary", disabled=not methods, key="attr_sanity_run",
                 help=f"{steps} maps per method, about {n} batched forward passes in all.") or (
            result is None and mine is not None and mine.key == job_key):  # a rerun finds its job again
        slot = st.empty()
        box = slot.container()
        holder = box.empty()
        box.button("Stop", key="attr_sanity_stop", on_click=work.cancel, help="Stop the sanity check.")
        chosen = {m: dict(p) for m, p in methods.items()}
        try:
            result = queued(job_key, lambda report: cache.sanity(sel, chosen, target, report),
                            "Sanity check (maps)", holder)
        except ValueError as exc:
            st.error(str(exc))
        finally:
            slot.empty()
    st.caption(f"{steps} maps per method ({steps - 1} layers randomised in turn); about {n} batched forward "
               "passes for these choices. Results are kept, so pressing again is instant.")
    if result is not None:
        labels = {m: title(m) for m in result.methods}
        st.plotly_chart(render.sanity_chart(result.steps, result.correlation, labels), theme=None,
                        key="attr_sanity_chart")
        bad, slow = result.insensitive(), result.slow_to_change()
        t = SANITY_THRESHOLD
        layers = len(result.steps) - 1
        lines = []
        for m in result.methods:
            i = result.changed_at(m)
            lines.append(f"- **{labels[m]}**: " + (
                f"still above {t} with all {layers} layers random" if i is None else
                f"below {t} once {result.steps[i]} was random ({i} of {layers} layers)"))
        if bad:
            st.warning(f"Barely changed by random weights (rank correlation still above {t} with every layer "
                       f"random): **{', '.join(labels[m] for m in bad)}**. These maps are not explaining the "
                       "network.")
        elif slow:
            st.warning(f"**{', '.join(labels[m] for m in slow)}** stayed close to the original map while "
                       "the top half of the network was random: these maps say little about what the "
                       "higher layers (and so the class) contribute.")
        else:
            st.success("Every checked method's map changed as soon as the top layers were random: they "
                       "depend on the network.")
        st.markdown("\n".join(lines))
        st.caption("Each row: the method's |map| at every step (viridis, without the photo), left to right "
                   f"({', '.join(result.steps)}), each on its own colour scale.")
        gap = np.full((crop, 6, 3), 255, np.uint8)
        for m in result.methods:
            tiles = [render.attribution_picture(s, None, "absolute", percentile) for s in result.maps[m]]  # bare maps
            row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)  # (crop, steps·crop, 3)
            st.markdown(f"**{labels[m]}**")
            for col, tile, step, c in zip(st.columns(len(tiles)), tiles, result.steps, result.correlation[m]):
                col.image(tile, width="stretch",
                          caption=f"{step}: {'—' if not np.isfinite(c) else f'{c:.2f}'}")  # each column labelled
            corr = ", ".join("—" if not np.isfinite(c) else f"{c:.2f}" for c in result.correlation[m])
            st.caption(f"{labels[m]}: rank correlation {corr}")
            stem = f"sanity_{m}_{sel.model}_{sel.digest[:8]}"
            a, b, _ = st.columns([1, 1, 4])
            a.download_button("Row (PNG)", lambda row=row: render.png_bytes(row), file_name=f"{stem}.png", mime="image/png",
                              on_click="ignore", key=f"dl_png_sanity_{m}")
            b.download_button("Maps (.npy)", (lambda m=m: render.npy_bytes(result.maps[m])), file_name=f"{stem}.npy",
                              mime="application/octet-stream", on_click="ignore", key=f"dl_npy_sanity_{m}",
                              help=f"Every step's map, shape {result.maps[m].shape} (steps, rows, columns).")
        st.caption(f"Target: “{result.target_label}”.")
    elif methods:
        st.info("Press **Run the sanity check** to start it: it recomputes every chosen map once per layer.")
