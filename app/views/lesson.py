"""From pixels to a label in eight steps: the session's photo walked through the network.

One stage per screen — what the stage computes, its output shape, its maps for this photo, the
paper's words.

The step lives in the URL (``?step=3``) so a copied link opens the same screen. Every picture is
read from the cached forward pass (``sel.acts``); the network never runs again here.
"""
import streamlit as st

import links
import presentation
import sidebar
import state
from alexnet_viz import handout, lesson, render
from alexnet_viz.render.tables import shape_text

STEP = "_lesson_step"  # session key: the step
TILES = 8  # the strongest channels shown per tower

sel = sidebar.selection()
ss = st.session_state
arch = sel.net.arch
steps = lesson.lesson(arch)
two_towers = len(arch.towers("conv1")) > 1

# -- where we are: a link's step on arrival (or a pasted link), else the session's step ------------
address = links.Link("lesson", st)
link = address.fresh("step")  # a step this session did not write: a link's
note = None
if STEP not in ss or link is not None:
    ss[STEP], note = lesson.clamp_step(link) if link is not None else (1, None)


def go(n: int) -> None:
    ss[STEP] = min(max(n, 1), lesson.STEPS)


def on_jump() -> None:
    if ss.get("lesson_jump") is not None:  # a click on the chosen one clears it: stay put
        go(ss["lesson_jump"])


n = ss[STEP]
step = steps[n - 1]
address.put("step", str(n))
address.write()

sidebar.page_header("From pixels to a label in eight steps", sel)
if note:
    st.info(note)

back, dots, nxt = st.columns([1, 4, 1], vertical_alignment="center")
back.button("← Back", key="lesson_back", on_click=go, args=(n - 1,), disabled=n == 1, width="stretch")
ss["lesson_jump"] = n
dots.segmented_control("Step", list(range(1, lesson.STEPS + 1)), key="lesson_jump", on_change=on_jump,
                       label_visibility="collapsed", width="stretch",
                       help="Jump to a step. The step is in the link: copy it to share this screen.")
nxt.button("Next →", key="lesson_next", on_click=go, args=(n + 1,), disabled=n == lesson.STEPS,
           width="stretch")

st.header(f"Step {n} of {lesson.STEPS}: {step.title}")


# -- the picture: this photo at this stage -----------------------------------------------------------
def picture() -> None:
    if step.number == 1:
        view = sel.view
        a, b = st.columns(3 if presentation.presenting() else 2)[:2]  # on a projector: both in the first screen
        a.image(sel.image, caption=f"Your photo ({state.image_size_words(sel.image)})", width="stretch")
        b.image(view, caption=f"What the network sees: {view.width}×{view.height}", width="stretch")
    elif step.maps is None:  # the output: probabilities
        st.plotly_chart(render.top_k_bar(sel.forward.probs, sel.net.categories, k=5), theme=None,
                        key="lesson_top5")
        if sel.untrained:
            st.caption("The untrained network spreads its probability thinly over all the classes: "
                       "load the pretrained weights to see real predictions.")
    elif sel.acts[step.maps].ndim == 1:
        st.plotly_chart(render.unit_bars(sel.acts[step.maps], 20, arch, step.maps), theme=None,
                        key="lesson_units")
        st.caption(f"The 20 strongest of {step.maps}'s {sel.acts[step.maps].shape[0]:,} units on this photo.")
    else:
        act = sel.acts[step.maps]  # (C, H, W)
        h = act.shape[1]
        scale = max(1, 64 // h)  # small maps are enlarged so a tile is at least ~64 pixels
        grids = render.tower_grids(act, step.maps, "max", arch, top=TILES, cols=4, scale=scale,
                                   pad=max(1, scale // 2))
        cols = st.columns(len(grids))
        for col, (tower, grid) in zip(cols, grids.items()):
            col.image(grid.rgb("viridis"), width="stretch",
                      caption=(f"{tower}: its {len(grid.channels)} strongest channels" if grid.tower
                               else f"The {len(grid.channels)} strongest channels")
                      + f" ({', '.join(map(str, grid.channels))})")
        st.caption(f"{step.maps} on this photo: each tile is one {h}×{act.shape[2]} map, strongest (largest "
                   "maximum) first; bright = strong (viridis), each tile on its own scale.")
        if step.number == 2:
            kernels = render.kernel_grid(sel.weight("conv1"), arch, cols=8, scale=4)
            kcols = st.columns(len(kernels))
            for col, (tower, grid) in zip(kcols, kernels.items()):
                col.image(grid.image, width="stretch",
                          caption=f"conv1's kernels on {tower}" if grid.tower else "conv1's kernels")
            st.caption("The kernels themselves" + (", as in the paper's Figure 3" if two_towers else "")
                       + ": mid grey is a zero weight." + (" These are the untrained network's random kernels."
                                                           if sel.untrained else ""))


def words() -> None:
    st.markdown(step.computes)
    st.caption(f"Shapes: {step.trail}")


def paper() -> None:
    st.markdown(f"**The paper's words** — {lesson.PAPER}")
    st.markdown("\n".join(f"- “{q.text}” ({q.section})" if q.quoted else f"- {q.text} ({q.section}, in other words)"
                          for q in step.paper))
    if not two_towers and step.shape_of:
        own = arch.layer(step.shape_of).note
        st.caption(f"The paper describes its own two-GPU network; {arch.name} is a one-tower variant"
                   + (f". Its {step.shape_of}: {own}" if own else "."))


shape_label = f"Output of {step.shape_of}" if step.shape_of else "The network's input"
if presentation.presenting():  # the picture first, then the words
    picture()
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.metric(shape_label, shape_text(step.shape))
        words()
    with right:
        paper()
else:
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.metric(shape_label, shape_text(step.shape), help="From the walkthrough of this network's layer table.")
        words()
        paper()
    with right:
        picture()

if n < lesson.STEPS:
    st.button(f"Next: {steps[n].title} →", key="lesson_next_bottom", on_click=go, args=(n + 1,))

st.download_button(
    "Download the whole lesson (HTML)", key="lesson_handout", on_click="ignore", mime="text/html",
    file_name=f"alexnet-lesson-{sel.model}.html",
    # made on the click, from the shared forward pass: one file, pictures inside, opens with no network
    data=lambda: handout.lesson_html(sel.net, sel.image, sel.mode, source=sel.image_choice.name, acts=sel.acts),
    help="All eight steps for this photo in one file, pictures included: it opens without the server "
         "and prints one step a page.")
