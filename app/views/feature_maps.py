"""Feature maps: a layer's channels tiled per GPU tower, one channel on the input, layer statistics."""
import streamlit as st

import state
from alexnet_viz import figures as F
from alexnet_viz import maps

sel = state.selection()
state.page_header("Feature maps", sel)
arch = sel.net.arch
layers = maps.viewable_layers(arch)

c1, c2, c3 = st.columns([2, 2, 2])
layer = c1.selectbox("Layer", list(layers), index=list(layers).index("relu1") if "relu1" in layers else 0,
                     key="fm_layer", help="conv rows are before their ReLU; relu rows after it.")
act = sel.acts[layer]  # (C, H, W) or (N,)
towers = maps.layer_towers(layer, arch)
summary = maps.layer_summary(act)

if layers[layer] == "vector":
    k = c2.slider("How many units", 5, 50, 20, key="fm_k")
    labels = sel.net.categories if len(act) == len(sel.net.categories) else None
    st.plotly_chart(F.unit_bars(act, k, towers, labels), theme=None, key="fm_units")
else:
    sort = c2.radio("Order the channels by", list(maps.SORTS), index=1, horizontal=True, key="fm_sort",
                    format_func={"index": "index", "mean": "mean activation", "max": "max activation"}.get)
    shared = c3.toggle("One brightness scale for all channels", value=False, key="fm_shared",
                       help="Off: each tile uses its own range (shows shape). On: tiles are comparable.")
    c, h, w = act.shape
    scale = max(1, 40 // h)  # small maps are enlarged so a tile is at least ~40 pixels
    grids = maps.tower_grids(act, layer, sort, arch, scale=scale, pad=max(1, scale // 2),
                             normalise="shared" if shared else "per_channel")
    st.caption(f"{layer}: {c} channels of {h}×{w}" + (f", {towers[0]} per GPU" if towers else "")
               + f"; ordered by {sort}, strongest first; bright = strong (viridis). "
               "Tiles read left to right, top to bottom.")
    cols = st.columns(len(grids))
    for col, (tower, grid) in zip(cols, grids.items()):
        rgb = grid.rgb("viridis")
        col.image(rgb, caption=f"{tower}: channels {min(grid.channels)}–{max(grid.channels)}"
                  if tower != "all" else f"all {c} channels", width="stretch")
        col.download_button(f"Download {tower} (PNG)", F.png_bytes(rgb), file_name=f"{layer}_{tower}.png",
                            mime="image/png", on_click="ignore", key=f"fm_dl_{tower}")

    st.subheader("One channel, on the input")
    order = [ch for g in grids.values() for ch in g.channels]
    cc1, cc2 = st.columns([1, 1])
    tower_of = {ch: t for t, g in grids.items() for ch in g.channels}
    channel = cc1.selectbox("Channel (strongest first in each tower)", order, key=f"fm_channel_{layer}",
                            format_func=lambda ch: f"{ch}" if tower_of[ch] == "all" else f"{ch} — {tower_of[ch]}")
    alpha = cc2.slider("Overlay strength", 0.0, 1.0, 0.6, 0.05, key="fm_alpha")
    m = act[channel]  # (H, W)
    stats = maps.channel_stats(m)
    view = sel.net.view(sel.image)
    crop = view.width
    rf = maps.layer_receptive_field(layer, arch, crop)
    heat = maps.upsample_to_input(m, crop, rf)
    box = maps.receptive_field_box(rf, *stats["argmax"], crop)
    over = F.draw_box(maps.overlay(view, heat, alpha), box)
    big = F.enlarge(maps.colourise(F.to_uint8(m), "viridis"), max(1, 220 // h))
    a, b, s = st.columns([1, 1, 1])
    a.image(big, caption=f"Channel {channel} of {layer}, {h}×{w}, enlarged", width="stretch")
    b.image(over, caption=f"On the {crop}×{crop} crop; box: the {rf.size:g}-pixel receptive field of the "
                          f"strongest unit {stats['argmax']}", width="stretch")
    b.download_button("Download the overlay (PNG)", F.png_bytes(over), file_name=f"{layer}_{channel}_overlay.png",
                      mime="image/png", on_click="ignore")
    s.metric("Mean", f"{stats['mean']:.3g}")
    s.metric("Max", f"{stats['max']:.3g}", help=f"at unit (row, column) {stats['argmax']}")
    s.metric("Zero (dead) fraction", f"{stats['zero_fraction']:.1%}")
    s.caption(f"Units are {rf.jump:g} input pixels apart; each sees {rf.size:g}×{rf.size:g} pixels "
              "(clipped at the edges).")

st.subheader(f"The whole of {layer}")
m1, m2, m3 = st.columns(3)
m1.metric("Zero (dead) activations", f"{summary.dead_fraction:.1%}")
m2.metric("Channels zero everywhere" if layers[layer] == "map" else "Units at zero",
          f"{summary.dead_channels} of {summary.channels}")
m3.metric("Largest activation", f"{summary.max:.3g}")
st.plotly_chart(F.activation_histogram(summary.hist_counts, summary.hist_edges, f"Activations of {layer}"),
                theme=None, key="fm_hist")
if layers[layer] == "map":
    st.download_button(f"Download per-channel statistics of {layer} (CSV)", F.csv_bytes(F.channel_table(act, towers)),
                       file_name=f"{layer}_channels.csv", mime="text/csv", on_click="ignore")
