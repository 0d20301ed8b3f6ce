"""Predict: the top-5 classes, any class's probability and rank, and the crop the network sees."""
from pathlib import Path

import streamlit as st

import indexes
import links
import sidebar
import state
from alexnet_viz import render
from alexnet_viz.network import PREPROCESS_MODES


def _keep_mode() -> None:
    """The choice outlives this page (a widget's own state is dropped when it is not drawn)."""
    st.session_state["prep_mode"] = st.session_state["_prep_mode_widget"]


sel = sidebar.selection()
sidebar.page_header("Predict", sel)
probs, names = sel.forward.probs, sel.net.categories
link = links.Link("predict")
link.seed("class", "predict_class", links.integer(0, len(names) - 1), default=int(probs.argmax()))

left, right = st.columns([3, 2])
with left:
    st.plotly_chart(render.top_k_bar(probs, names, k=5), theme=None, key="top5")
    cls = st.selectbox(f"Any of the {len(names)} classes (type to search)", range(len(names)),
                       index=int(probs.argmax()), format_func=names.__getitem__, key="predict_class")
    a, b = st.columns(2)
    a.metric(f"Probability of “{names[cls]}”", f"{probs[cls]:.3%}")
    b.metric("Rank", f"{render.class_ranks(probs)[cls]} of {len(names)}")
    st.download_button("Download all class probabilities (CSV)",
                       lambda probs=probs: render.csv_bytes(render.probability_rows(probs, names)),  # made on click
                       file_name=f"probabilities_{sel.model}_{sel.digest[:8]}.csv", mime="text/csv",
                       on_click="ignore")
with right:
    st.session_state["_prep_mode_widget"] = sel.mode  # the session's choice (a link may have set it)
    st.radio("Preprocessing", list(PREPROCESS_MODES), key="_prep_mode_widget", horizontal=True, on_change=_keep_mode,
             format_func={"aspect": "keep the aspect ratio", "warp": "warp to a square (Caffe)"}.get,
             help="How the photo becomes the 227×227 input: every page follows this choice.")
    view = sel.view
    o, c = st.columns(2)
    o.image(sel.image, caption=state.image_size_words(sel.image), width="stretch")
    c.image(view, caption=f"What the network sees: {view.width}×{view.height} centre crop", width="stretch")
    st.caption(f"Preprocessing: {PREPROCESS_MODES[sel.mode].replace('256', str(sel.net.prep.resize))}, "
               f"{sel.net.prep.crop}×{sel.net.prep.crop}. {sel.net.prep.note}"
               + (" Caffe subtracts a 256×256 mean image; its channel means stand in for it here. "
                  "bvlc_alexnet's published 57.1% / 80.2% were measured this way."
                  if sel.mode == "warp" else ""))
    st.download_button("Download the crop (PNG)", lambda view=view: render.png_bytes(view), file_name="crop.png",
                       mime="image/png", on_click="ignore")
if sel.untrained:  # offer the pretrained weights only where this server has not found them missing
    st.info("These probabilities come from the **untrained** network: they are spread thinly over "
            "all the classes and mean nothing yet. "
            + ("The sidebar says which weights this server has." if sidebar.pretrained_unavailable(sel.model)
               else "Choose the pretrained weights in the sidebar to see real predictions."))

st.header("Photos like this one")
ix, problem = indexes.choose(sel, link)
link.write()
if ix is None:
    st.caption(problem)
else:
    st.caption(f"The 6 photos of the index **{ix.folder.name}** nearest this one in fc7, the last 4096-unit "
               "hidden layer (straight-line distance), as in the paper's Figure 4.")
    cols = st.columns(6)
    for col, (path, distance) in zip(cols, indexes.nearest(ix, sel, k=6)):
        thumb = indexes.thumbnail(path)
        if thumb is not None:
            col.image(thumb, width="stretch", alt=f"The indexed photo {Path(path).name}")
        col.caption(f"{Path(path).name}: {distance:.3g}")
