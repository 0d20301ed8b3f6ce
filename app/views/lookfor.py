"""What does it look for? A channel's top patches from a photo index beside its feature visualisation.

Also its map on this photo, and (where the operator allows it) an index built from uploaded
photos."""
from pathlib import Path

import streamlit as st

import indexes
import links
import sidebar
import visualisation
import work
from alexnet_viz import activations, render
from alexnet_viz.walkthrough import layer_receptive_field

sel = sidebar.selection()
sidebar.page_header("What does it look for?", sel)
link = links.Link("lookfor")
ix, problem = indexes.choose(sel, link)
arch = sel.net.arch
layers = list(ix.layers) if ix is not None else [f"relu{i}" for i in range(1, 6)]

c1, c2 = st.columns(2)
link.seed("layer", "lf_layer", links.one_of(layers), default=layers[-1])
layer = c1.selectbox("Layer (each conv after its ReLU)", layers, index=len(layers) - 1, key="lf_layer")
channels = sel.acts[layer].shape[0]
link.seed("channel", f"lf_channel_{layer}", links.integer(0, channels - 1), default=0)
channel = int(c2.number_input(f"Channel (0–{channels - 1})", 0, channels - 1, 0, key=f"lf_channel_{layer}"))
link.write()
tower = arch.tower_of(layer, channel) if len(arch.towers(layer)) > 1 else None

left, right = st.columns([3, 1], gap="medium")
with left:
    st.header("The photos that excite it most")
    if ix is None:
        st.info(problem)
    else:
        found = indexes.top_patches(ix, layer, channel, k=9)
        if not found:
            st.info(f"The index {ix.folder.name} holds no photos yet.")
        else:
            st.caption(f"From {len(ix)} photos in the index **{ix.folder.name}**: for each of the strongest, the "
                       f"receptive field of its strongest {layer} unit, cut from the crop the network sees"
                       f"{f' ({tower})' if tower else ''}.")
            cols = st.columns(3)
            for i, (path, value, patch) in enumerate(found):
                factor = max(1, 150 // patch.shape[0])
                cols[i % 3].image(render.enlarge(patch, factor), caption=f"{Path(path).name}: {value:.3g}",
                                  width="stretch")
    indexes.upload_form(sel)
with right:
    st.header("What excites it")
    picture = visualisation.cached(sel, layer, channel)
    if picture is None:
        slot = st.empty()  # the button, then the place in the queue or the progress bar in its place
        mine = work.jobs().current(work.session_id())
        if slot.button(f"Compute it ({visualisation.steps()} steps)", key=f"lf_vis_{layer}_{channel}",
                       help="Optimise an image to excite this channel; it is then kept for everyone.") or (
                mine is not None and mine.key == visualisation.job_key(sel, layer, channel)):  # a rerun
            stop = st.empty()  # gone with the bar
            stop.button("Stop", key=f"lf_vis_stop_{layer}_{channel}", on_click=work.cancel,
                        help="Stop this optimisation.")

            def show(job, place: int) -> None:
                if place:
                    slot.info(f"Waiting: place {place} in the queue.", icon=":material/hourglass_top:")
                else:
                    done, total = job.done_steps, job.total_steps
                    slot.progress(done / total if total else 0.0, text=f"Optimising: step {done} of {total}")

            picture = visualisation.queued(sel, layer, channel, show)
            slot.empty()
            stop.empty()
    if picture is None:
        st.caption("An image optimised to excite this channel as much as possible (Olah et al., Distill "
                   "2017); computed once, then kept for everyone.")
    else:
        st.image(picture, width="stretch", caption=f"Optimised to excite channel {channel} of {layer}: "
                 f"{visualisation.steps()} steps, Fourier-parameterised, decorrelated colour, jittered.")

st.header("Its map on this photo")
m = sel.acts[layer][channel]  # (H, W)
stats = activations.channel_stats(m)
view = sel.net.view(sel.image)
rf = layer_receptive_field(layer, arch, view.width)
a, b = st.columns(2)
a.image(render.channel_picture(m, 220), caption=f"Channel {channel} of {layer}, {m.shape[0]}×{m.shape[1]}, "
        f"max {stats['max']:.3g}", width="stretch")
b.image(render.channel_on_input(view, m, rf, 0.6, unit=stats["argmax"]),
        caption=f"On the {view.width}×{view.height} crop; box: the strongest unit's receptive field",
        width="stretch")
