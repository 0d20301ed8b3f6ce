"""Kernels: conv1's kernels split by GPU like the paper's Figure 3, and a deeper layer's.

Their colourfulness measured, the untrained network beside them, and one deeper output channel's
kernels per input channel."""
import streamlit as st

import links
import sidebar
import state
from alexnet_viz import kernels, render

sel = sidebar.selection()
sidebar.page_header("Kernels", sel)
arch = sel.net.arch
first = arch.conv_layers()[0].name  # conv1
deeper = [c.name for c in arch.conv_layers()[1:]]

link = links.Link("kernels")
link.seed("compare", "k_compare", links.flag, show=links.show_flag, default=False)
compare = st.toggle("Compare with the untrained network", value=False, key="k_compare",
                    help="The same variant with the paper's random initialisation, never trained.")
sources = [(sel.weights, f"{sel.net.weights} weights")]
if compare and not sel.untrained:
    sources.append(("untrained", "untrained (paper's initialisation)"))
elif compare:
    st.info("The network in use is already the untrained one; load the pretrained weights to compare.")

st.header(f"{first}: {arch.layer(first).out_channels} kernels of {arch.layer(first).kernel}×"
             f"{arch.layer(first).kernel}×3")
two = len(arch.towers(first)) > 1
st.caption("Each tile is one kernel, enlarged; mid grey is a zero weight, colours show how the kernel "
           "weighs red, green and blue. "
           + ("The paper's Figure 3 shows GPU 1 learning mostly colour-agnostic kernels and GPU 2 "
              "colour-specific ones; below it is measured, not assumed." if two else
              "This variant is one tower on one device, so the paper's Figure 3 comparison of two halves "
              "does not apply; below, how colour-specific its kernels are is measured."))


def colour_sentence(c: kernels.TowerComparison) -> str:
    """The comparison in words (iid noise scores 2/3 on average: say where the towers stand)."""
    if c.more_colourful is None:
        (only,) = c.towers.values()
        return f"One tower: mean colourfulness {only.mean:.2f} (random noise averages 0.67)."
    hi, lo = c.towers[c.more_colourful], c.towers[c.less_colourful]
    nums = f"mean colourfulness {hi.mean:.2f} vs {lo.mean:.2f}; random noise averages 0.67"
    if c.clear:
        return (f"{c.more_colourful}'s kernels are the more colour-specific ({nums}; a {c.more_colourful} "
                f"kernel is the more colourful in {c.separation:.0%} of pairs).")
    return (f"The towers do not differ clearly in colour ({nums}; a {c.more_colourful} kernel is the more "
            f"colourful in only {c.separation:.0%} of pairs).")


for weights, label in sources:
    w = sel.weight(first, weights)  # (96, 3, 11, 11)
    grids = render.kernel_grid(w, arch, first, cols=8, scale=6, pad=2)
    comparison = kernels.tower_colour_comparison(w, arch)
    if len(sources) > 1:
        st.markdown(f"### {label}")
    cols = st.columns([2] * len(grids) + [1.6])
    for col, (tower, grid) in zip(cols, grids.items()):
        col.image(grid.image, caption=f"{tower}: kernels {min(grid.channels)}–{max(grid.channels)}"
                  if tower != "all" else f"all {len(grid.channels)} kernels", width="stretch")
        col.download_button(f"Download {tower} (PNG)", render.png_bytes(grid.image), mime="image/png",
                            file_name=f"{first}_{tower}_{state.weights_tag(weights)}.png".replace(" ", "_"),
                            on_click="ignore",
                            key=f"k_dl_{tower}_{weights}")
    cols[-1].plotly_chart(render.colourfulness_chart(comparison.scores, comparison.towers), theme=None,
                          key=f"k_colour_{weights}")
    (st.success if comparison.clear else st.info)(colour_sentence(comparison))
    scores = [{"kernel": i, "tower": arch.tower_of(first, i), "colourfulness": float(v)}
              for i, v in enumerate(comparison.scores)]
    st.download_button("Download each kernel's colourfulness (CSV)", render.csv_bytes(scores), mime="text/csv",
                       file_name=f"{first}_colourfulness_{state.weights_tag(weights)}.csv", on_click="ignore",
                       key=f"k_csv_{weights}")

st.header("A deeper layer: one output channel's kernels")
c1, c2 = st.columns(2)
link.seed("layer", "k_layer", links.one_of(deeper), default=deeper[0])
layer = c1.selectbox("Layer", deeper, key="k_layer")
n_out = arch.layer(layer).out_channels
link.seed("channel", f"k_out_{layer}", links.integer(0, n_out - 1), default=0)
out_channel = c2.number_input(f"Output channel (0–{n_out - 1})", 0, n_out - 1, 0, key=f"k_out_{layer}")
link.write()
grid = render.input_kernels(sel.weight(layer), int(out_channel), layer, arch, scale=12, pad=2)
g1, g2 = st.columns([3, 1])
g1.image(grid.image, width="content",
         caption=f"{layer} channel {out_channel}: {len(grid.channels)} greyscale kernels, one per input "
                 f"channel; mid grey = 0, shared scale ±{grid.ranges[0][1]:.3g}")
g2.metric("Tower", grid.tower or "one tower", help="The tower (GPU) that holds this channel")
g2.write(f"It {grid.note}.")
g2.download_button("Download (PNG)", render.png_bytes(grid.image), file_name=f"{layer}_{out_channel}_kernels.png",
                   mime="image/png", on_click="ignore")
