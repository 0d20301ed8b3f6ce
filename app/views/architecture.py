"""Architecture: the two towers as a diagram, the walkthrough at any input size, and the variants."""
import pandas as pd
import streamlit as st

import links
import sidebar
from alexnet_viz import render
from alexnet_viz import ARCHITECTURES, get_architecture, total_params, walkthrough
from alexnet_viz.walkthrough import viewable_layers

SIZES = {"224": "224 (the paper's text)", "227": "227 (Caffe; what the arithmetic needs)", "other": "other"}


@st.cache_resource(show_spinner=False, max_entries=32)
def _diagram(variant: str, size: int):
    """The diagram depends only on the variant and the input size: built once per server and
    shared, never changed (Streamlit copies it as it sends it)."""
    return render.architecture_diagram(variant, size)


sel = sidebar.selection()
sidebar.page_header("Architecture", sel)
names = list(ARCHITECTURES)
link = links.Link("architecture")
v, c1, c2 = st.columns([2.2, 2.6, 1])
link.seed("variant", "arch_variant", links.one_of(names), default=sel.model)
arch = get_architecture(v.selectbox("Variant to draw", names, index=names.index(sel.model), key="arch_variant",
                                    format_func=lambda n: ARCHITECTURES[n].title))
choices = list(SIZES.values())
link.seed("size", "arch_size_choice", links.one_of(choices, lambda c: c.split()[0]), show=lambda c: c.split()[0])
choice = c1.radio("Input size", choices, index=0 if arch.input_size == 224 else 1, horizontal=True,
                  key="arch_size_choice")
if choice == "other":
    link.seed("other", "arch_size_other", links.integer(32, 1024))
size = (c2.number_input("Other size (pixels)", 32, 1024, arch.input_size, key="arch_size_other")
        if choice == "other" else int(choice.split()[0]))
rows = walkthrough(arch, size)
fatal = next((r.problem for r in rows if r.problem and r.problem.startswith("The network cannot run")), None)
problems = list(dict.fromkeys(r.problem for r in rows if r.problem and r.problem != fatal))
if fatal:  # the problem that stops the network comes first, as an error
    st.error(fatal)
for p in problems:
    st.warning(f"At {size}×{size}: {p}")
if not fatal and not problems:
    st.success(f"At {size}×{size} every layer's size works out exactly, "
               f"{total_params(rows):,} parameters in all.")

shown = arch.name == sel.net.arch.name  # blocks open feature maps of the sidebar's network only
fig = _diagram(arch.name, size)
box = st.container(key="arch_diagram")  # at least 780 px wide, scrolled within (presentation.BASE_CSS)
NO_TOOLBAR = {"displayModeBar": False}  # it covered the title; a click on a block needs none of it
if shown:
    clicked = box.plotly_chart(fig, theme=None, key="diagram", on_select="rerun", selection_mode="points",
                               config=NO_TOOLBAR)
    points = clicked["selection"]["points"]  # a dict-like PlotlyState
    target = render.diagram_layer(arch, points[0].get("customdata")) if points else None
    if target in viewable_layers(arch):
        st.session_state["fm_layer"] = target  # read by the Feature maps page's layer box
        st.switch_page("views/feature_maps.py")
else:
    box.plotly_chart(fig, theme=None, key="diagram_other", config=NO_TOOLBAR)
click = ("Click a block to open its feature maps (a conv or fc block opens its ReLU)." if shown else
         f"The sidebar's network is {sel.net.arch.name}: draw that variant to open feature maps by clicking a block.")
crossing = [layer.name for layer in arch.layers if layer.cross_tower]  # the table's own word
if len(arch.towers(arch.layers[0].name)) > 1:
    st.caption(f"One lane per GPU ({len(arch.towers(arch.layers[0].name))} towers). Solid lines stay within a "
               f"tower; dashed black lines lead into the layers that read both towers, only where the paper has "
               f"them ({', '.join(crossing)}). Hover a block for its walkthrough row. A dotted black outline marks a "
               f"size that does not work out exactly. {click}")
else:
    st.caption("One lane: this variant is one tower on one device, every layer reading all of the one "
               "before. Hover a block for its walkthrough row. A dotted black outline marks a size that does "
               f"not work out exactly. {click}")

st.header("Input size: the 224 vs 227 story")
st.markdown("The paper says its inputs are **224×224**, but conv1 (11×11 kernels at stride 4, no "
            "padding) only fits a whole number of times into **227**: (227 − 11)/4 + 1 = 55. "
            "Pick a size above and watch the shapes.")

st.header(f"Walkthrough at {size}×{size}")
records = render.walk_records(rows)
ROW = 34
st.dataframe(pd.DataFrame(records), hide_index=True, width="stretch", row_height=ROW,
             height=ROW * (len(records) + 1) + 3,  # every row, fc8's too, without scrolling
             column_order=["layer", "kind", "output", "output size", "parameters", "multiply-adds",
                           "memory (KiB)", "receptive field (px)", "jump (px)", "towers"],
             column_config={
                 "layer": st.column_config.TextColumn(width="small", pinned=True),
                 "kind": st.column_config.TextColumn(width="small"),
                 "output": st.column_config.TextColumn(width="small"),
                 "output size": st.column_config.TextColumn(width="medium"),
                 "parameters": st.column_config.NumberColumn(format="localized", width="small"),
                 "multiply-adds": st.column_config.NumberColumn(format="localized", width="small"),
                 "memory (KiB)": st.column_config.NumberColumn("memory KiB", width="small"),
                 "receptive field (px)": st.column_config.NumberColumn("RF px", width="small",
                                                                       help="receptive field on the input, pixels"),
                 "jump (px)": st.column_config.NumberColumn("jump px", width="small",
                                                            help="input pixels between neighbouring units"),
                 "towers": st.column_config.TextColumn(width="small")})
st.caption("The CSV below has every column, the input shapes and each row's problem too.")
st.download_button("Download the walkthrough (CSV)", render.csv_bytes(records),
                   file_name=f"walkthrough_{arch.name}_{size}.csv", mime="text/csv", on_click="ignore")

st.header("Three AlexNets compared")
cmp = render.variant_comparison()
link.seed("differs", "arch_only_diff", links.flag, show=links.show_flag, default=True)
only = st.toggle("Show only the rows where they differ", value=True, key="arch_only_diff")
link.write()
df = pd.DataFrame(cmp.rows)
df.insert(2, "differs", ["≠" if d else "" for d in cmp.differs])
if only:
    df = df[[bool(d) for d in cmp.differs]]
ref = cmp.variants[0]


def _highlight(row: pd.Series) -> list[str]:
    """Shade every cell that differs from the first variant's (the paper's network)."""
    mark = "background-color: #F6EE9A; font-weight: bold"  # a light tint of Okabe-Ito yellow
    return [mark if (v in cmp.variants and row[v] != row[ref]) else "" for v in row.index]


st.table(df.style.apply(_highlight, axis=1).hide(axis="index"))  # wraps long cells: nothing cut off
st.caption(f"Shaded: differs from **{ref}**. " + " ".join(
    f"**{v}**: {get_architecture(v).source}." for v in cmp.variants))
st.download_button("Download the comparison (CSV)", render.csv_bytes(cmp.rows), file_name="alexnet_variants.csv",
                   mime="text/csv", on_click="ignore")
