"""Feature maps: a layer's channels tiled per GPU tower, one channel on the input, layer statistics."""
import streamlit as st

import state
from alexnet_viz import activations, render
from alexnet_viz.walkthrough import layer_receptive_field, viewable_layers

sel = state.selection()
state.page_header("Feature maps", sel)
arch = sel.net.arch
layers = viewable_layers(arch)

c1, c2, c3 = st.columns([2, 2, 2])
layer = c1.selectbox("Layer", list(layers), index=list(layers).index("relu1") if "relu1" in layers else 0,
                     key="fm_layer", help="conv rows are before their ReLU; relu rows after it.")
act = sel.acts[layer]  # (C, H, W) or (N,)
towers = arch.towers(layer)
per_tower = " in each tower" if len(towers) > 1 else ""


def _after_relu(name: str) -> bool:
    """Whether a ReLU comes between the layer and the last conv / fc before it: only there is a
    zero a unit switched off (before a ReLU, or in fc8's logits, zero means nothing special)."""
    names = [layer_.name for layer_ in arch.layers]
    for layer_ in reversed(arch.layers[:names.index(name) + 1]):
        if layer_.kind == "relu":
            return True
        if layer_.kind in ("conv", "linear"):
            return False
    return False


rectified = _after_relu(layer)
summary = activations.layer_summary(act)

if layers[layer] == "vector":
    k = c2.slider("How many units", 5, 50, 20, key="fm_k")
    labels = sel.net.categories if len(act) == len(sel.net.categories) else None
    st.plotly_chart(render.unit_bars(act, k, arch, layer, labels), theme=None, key="fm_units")
else:
    sort = c2.radio("Order the channels by", list(activations.SORTS), index=1, horizontal=True, key="fm_sort",
                    format_func={"index": "index", "mean": "mean activation", "max": "max activation"}.get)
    shared = c3.toggle("Shared brightness", value=False, key="fm_shared",
                       help="One brightness scale for all channels. Off: each tile uses its own range "
                            "(shows shape). On: tiles are comparable.")
    c, h, w = act.shape
    scale = max(1, 40 // h)  # small maps are enlarged so a tile is at least ~40 pixels
    grids = render.tower_grids(act, layer, sort, arch, scale=scale, pad=max(1, scale // 2),
                               normalise="shared" if shared else "per_channel")
    st.caption(f"{layer}: {c} channels of {h}×{w}"
               + (f", {len(towers[0].channels)} per GPU" if len(towers) > 1 else "")
               + ("; ordered by index" if sort == "index" else f"; ordered by {sort}, strongest first{per_tower}")
               + "; bright = strong (viridis). "
               "Tiles read left to right, top to bottom.")
    cols = st.columns(len(grids))
    for col, (tower, grid) in zip(cols, grids.items()):
        rgb = grid.rgb("viridis")
        col.image(rgb, caption=f"{tower}: channels {min(grid.channels)}–{max(grid.channels)}"
                  if grid.tower else f"all {c} channels", width="stretch")
        # the files are made when a button is clicked, not on every rerun of the page
        col.download_button(f"Download {tower} (PNG)", (lambda rgb=rgb: render.png_bytes(rgb)), file_name=f"{layer}_{tower}.png",
                            mime="image/png", on_click="ignore", key=f"fm_dl_{tower}")

    st.subheader("One channel, on the input")
    order = [ch for g in grids.values() for ch in g.channels]
    cc1, cc2 = st.columns([1, 1])
    channel = cc1.selectbox("Channel (in index order)" if sort == "index" else f"Channel (strongest first{per_tower})",
                            order, key=f"fm_channel_{layer}",
                            format_func=lambda ch: f"{ch}" if len(towers) == 1
                            else f"{ch} — {arch.tower_of(layer, ch)}")
    alpha = cc2.slider("Overlay strength", 0.0, 1.0, 0.6, 0.05, key="fm_alpha")
    m = act[channel]  # (H, W)
    stats = activations.channel_stats(m)
    view = sel.view
    crop = view.width
    rf = layer_receptive_field(layer, arch, crop)
    over = render.channel_on_input(view, m, rf, alpha, unit=stats["argmax"])  # (crop, crop, 3)
    a, b, s = st.columns([1, 1, 1])
    a.image(render.channel_picture(m, 220), caption=f"Channel {channel} of {layer}, {h}×{w}, enlarged",
            width="stretch")
    b.image(over, caption=f"On the {crop}×{crop} crop; box: the {rf.size:g}-pixel receptive field of the "
                          f"strongest unit {stats['argmax']}", width="stretch")
    b.download_button("Download the overlay (PNG)", lambda over=over: render.png_bytes(over),
                      file_name=f"{layer}_{channel}_overlay.png", mime="image/png", on_click="ignore")
    s.metric("Mean", f"{stats['mean']:.3g}")
    s.metric("Max", f"{stats['max']:.3g}", help=f"at unit (row, column) {stats['argmax']}")
    if rectified:
        s.metric("Zero (switched off) fraction", f"{stats['zero_fraction']:.1%}",
                 help="The share of units the ReLU set to zero on this photo.")
    s.caption(f"Units are {rf.jump:g} input pixels apart; each sees {rf.size:g}×{rf.size:g} pixels "
              "(clipped at the edges).")

st.subheader(f"The whole of {layer}")
m1, m2, m3 = st.columns(3)
if rectified:
    m1.metric("Zero (switched off) activations", f"{summary.dead_fraction:.1%}")
    m2.metric("Channels zero everywhere" if layers[layer] == "map" else "Units at zero",
              f"{summary.dead_channels} of {summary.channels}")
else:
    m1.metric("Smallest activation", f"{float(act.min()):.3g}",
              help="Before a ReLU (or in the logits) values can be negative; zero means nothing special here.")
    m2.metric("Mean activation", f"{float(act.mean()):.3g}")
m3.metric("Largest activation", f"{summary.max:.3g}")
st.plotly_chart(render.activation_histogram(summary.hist_counts, summary.hist_edges, f"Activations of {layer}"),
                theme=None, key="fm_hist")
if layers[layer] == "map":
    st.download_button(f"Download per-channel statistics of {layer} (CSV)",
                       lambda act=act, layer=layer: render.csv_bytes(render.channel_table(act, arch, layer)),
                       file_name=f"{layer}_channels.csv", mime="text/csv", on_click="ignore")
