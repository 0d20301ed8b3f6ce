"""Architecture: the two towers as a diagram, the walkthrough at any input size, and the variants."""
import pandas as pd
import streamlit as st

import state
from alexnet_viz import render
from alexnet_viz import ARCHITECTURES, get_architecture, total_params, walkthrough

sel = state.selection()
state.page_header("Architecture", sel)
names = list(ARCHITECTURES)
arch = get_architecture(st.selectbox("Variant to draw", names, index=names.index(sel.model), key="arch_variant",
                                     format_func=lambda n: ARCHITECTURES[n].title))

st.subheader("Input size: the 224 vs 227 story")
st.markdown("The paper says its inputs are **224×224**, but conv1 (11×11 kernels at stride 4, no "
            "padding) only fits a whole number of times into **227**: (227 − 11)/4 + 1 = 55. "
            "Pick a size and watch the shapes.")
c1, c2 = st.columns([2, 1])
choice = c1.radio("Input size", ["224 (the paper's text)", "227 (Caffe; what the arithmetic needs)", "other"],
                  index=0 if arch.input_size == 224 else 1, horizontal=True, key="arch_size_choice")
size = (c2.number_input("Other size (pixels)", 32, 1024, arch.input_size, key="arch_size_other")
        if choice == "other" else int(choice.split()[0]))
rows = walkthrough(arch, size)
problems = [r for r in rows if r.problem]
if problems:
    st.warning(f"At {size}×{size}: " + problems[0].problem)
else:
    st.success(f"At {size}×{size} every layer's size works out exactly, "
               f"{total_params(rows):,} parameters in all.")

st.plotly_chart(render.architecture_diagram(arch, size), theme=None, key="diagram")
st.caption("One lane per GPU. Solid lines stay within a tower; dashed black lines cross between "
           "towers, only where the paper has them (conv3, fc6, fc7, fc8). Hover a block for its "
           "walkthrough row. A dotted black outline marks a size that does not work out exactly.")

st.subheader(f"Walkthrough at {size}×{size}")
records = render.walk_records(rows)
st.dataframe(pd.DataFrame(records), hide_index=True, width="stretch", height=36 * (len(records) + 1) + 4,
             column_config={"parameters": st.column_config.NumberColumn(format="localized"),
                            "multiply-adds": st.column_config.NumberColumn(format="localized")})
st.download_button("Download the walkthrough (CSV)", render.csv_bytes(records),
                   file_name=f"walkthrough_{arch.name}_{size}.csv", mime="text/csv", on_click="ignore")

st.subheader("Three AlexNets compared")
cmp = render.variant_comparison()
only = st.toggle("Show only the rows where they differ", value=False, key="arch_only_diff")
df = pd.DataFrame(cmp.rows)
df.insert(2, "differs", ["≠" if d else "" for d in cmp.differs])
if only:
    df = df[[bool(d) for d in cmp.differs]]
ref = cmp.variants[0]


def _highlight(row: pd.Series) -> list[str]:
    """Shade every cell that differs from the first variant's (the paper's network)."""
    mark = "background-color: #F6EE9A; font-weight: bold"  # a light tint of Okabe-Ito yellow
    return [mark if (v in cmp.variants and row[v] != row[ref]) else "" for v in row.index]


st.dataframe(df.style.apply(_highlight, axis=1), hide_index=True, width="stretch", height=600)
st.caption(f"Shaded: differs from **{ref}**. " + " ".join(
    f"**{v}**: {get_architecture(v).source}." for v in cmp.variants))
st.download_button("Download the comparison (CSV)", render.csv_bytes(cmp.rows), file_name="alexnet_variants.csv",
                   mime="text/csv", on_click="ignore")
