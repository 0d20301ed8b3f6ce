"""How was this number made? One unit of one layer: its value and the arithmetic that made it.

Also a walk to its strongest input or reader, and where it looks on the photo.

The unit lives in the URL (``?layer=conv2&channel=130&row=10&col=12``) so a copied link opens
it again. Tracing reads the cached activations (``sel.acts``): the network never runs again,
except once per unit for the effective receptive field (a gradient), which is cached.
"""
import numpy as np
import streamlit as st

import alexnet_viz as av
import cache
import links
import sidebar
from alexnet_viz import render
from alexnet_viz.architecture import WHOLE
from alexnet_viz.render.colour import OKABE_ITO
from alexnet_viz import unit_figures as UF
from alexnet_viz.units import KINDS

POS, TRAIL = "_unit_pos", "_unit_trail"  # session keys: the unit, the trail
PAGE = "unit"  # its name among links' pages
PARAMS = ("layer", "channel", "row", "col")
TRAIL_MAX = 12

sel = sidebar.selection()
ss = st.session_state
arch = sel.net.arch
acts = sel.acts  # the one cached forward pass: (C, H, W) or (features,) per layer, no batch
LAYERS = [n for n in acts if arch.layer(n).kind in KINDS]
HOME = "conv2" if "conv2" in LAYERS else LAYERS[0]


def strongest_unit(layer: str) -> tuple:
    """The default unit of a layer: its strongest channel on this photo, at that channel's maximum."""
    a = acts[layer]
    if a.ndim == 1:
        return layer, int(np.argmax(a)), None, None
    c = int(np.argmax(a.reshape(a.shape[0], -1).max(axis=1)))
    r, q = np.unravel_index(int(np.argmax(a[c])), a.shape[1:])
    return layer, c, int(r), int(q)


def valid(pos) -> bool:
    if not isinstance(pos, tuple) or len(pos) != 4 or pos[0] not in LAYERS:
        return False
    shape = acts[pos[0]].shape
    if len(shape) == 1:
        return pos[2] is None and pos[3] is None and 0 <= pos[1] < shape[0]
    return pos[2] is not None and all(0 <= v < n for v, n in zip(pos[1:], shape))


def from_link(qp: dict) -> tuple[tuple, str | None]:
    """The unit a link names, clamped into its layer; or the default, with a sentence saying why."""
    layer = qp.get("layer")
    if layer is None:
        return strongest_unit(HOME), None
    if layer not in LAYERS:
        return strongest_unit(HOME), (f"The link names a layer “{layer}” that {arch.name} does not have, so "
                                      f"this is the strongest unit of {HOME} instead.")
    shape = acts[layer].shape
    wanted = ["channel"] if len(shape) == 1 else ["channel", "row", "col"]
    try:
        nums = [int(qp[k]) for k in wanted]
    except (KeyError, TypeError, ValueError):
        return strongest_unit(layer), (f"The link's {', '.join(wanted)} are not all whole numbers, so this is "
                                       f"the strongest unit of {layer} instead.")
    clamped = [min(max(v, 0), n - 1) for v, n in zip(nums, shape)]
    pos = (layer, *clamped, *([None, None] if len(shape) == 1 else []))
    if clamped != nums:
        return pos, (f"The link asks for {UF.unit_name(layer, *nums, *([None, None] if len(shape) == 1 else []))}, "
                     f"outside {layer}'s {'×'.join(map(str, shape))}; this is the nearest unit inside it.")
    return pos, None


# -- where we are: the URL on arrival (or a pasted link), else the session's unit ----------------
link = {k: st.query_params[k] for k in PARAMS if k in st.query_params}
last = links.written(PAGE)  # the unit's address this session last wrote
note = None
if POS not in ss or (link and link != last) or not valid(ss[POS]):
    if POS in ss and (not link or link == last):  # the network or image changed under the unit
        ss[POS], note = strongest_unit(ss[POS][0] if ss[POS][0] in LAYERS else HOME), None
    else:
        ss[POS], note = from_link(link)
layer, channel, row, col = ss[POS]
shape = acts[layer].shape
is_map = len(shape) == 3


def go_to(pos) -> None:
    ss[POS] = pos


def on_layer() -> None:
    go_to(strongest_unit(ss["unit_layer"]))


def on_index() -> None:
    go_to((ss["unit_layer"], ss["unit_channel"], ss.get("unit_row"), ss.get("unit_col")) if is_map
          else (ss["unit_layer"], ss["unit_channel"], None, None))


# -- the controls: set from the unit before they are drawn, so links and walks move them ----------
sidebar.page_header("How was this number made?", sel)
if note:
    st.info(note)
ss["unit_layer"], ss["unit_channel"] = layer, channel
if is_map:
    ss["unit_row"], ss["unit_col"] = row, col
k1, k2, k3, k4, k5 = st.columns([1.3, 1, 1, 1, 2.2], vertical_alignment="bottom")
k1.selectbox("Layer", LAYERS, key="unit_layer", on_change=on_layer,
             help="Every activation of the network, in forward order (conv before its ReLU, relu after).")
k2.number_input(f"Channel (0–{shape[0] - 1})", 0, shape[0] - 1, step=1, key="unit_channel", on_change=on_index)
if is_map:
    k3.number_input(f"Row (0–{shape[1] - 1})", 0, shape[1] - 1, step=1, key="unit_row", on_change=on_index)
    k4.number_input(f"Column (0–{shape[2] - 1})", 0, shape[2] - 1, step=1, key="unit_col", on_change=on_index)
tower = arch.tower_of(layer, channel)
k5.caption(f"{layer}: " + (f"{shape[0]} channels of {shape[1]}×{shape[2]} units" if is_map
                           else f"a vector of {shape[0]} units")
           + (f"; channel {channel} is on {tower}" if tower != WHOLE
              else f"; {layer} is not split between the GPUs" if arch.tower_names else "")
           + ". The unit's address is in the link: copy it to share this unit.")

address = links.Link(PAGE, k5)
for name, value in {"layer": layer, "channel": channel, "row": row, "col": col}.items():
    address.put(name, None if value is None else str(value))
address.write()

try:
    u = av.trace_unit(sel.net, sel.x, layer, channel, row, col, acts=acts)
except ValueError as exc:  # the library's sentence, never a traceback
    st.error(str(exc))
    st.stop()

name = UF.unit_name(*u.position())
on_map = float(acts[layer][(channel,) if row is None else (channel, row, col)])
spec = arch.layer(layer)

# -- the walk and the trail ---------------------------------------------------------------------
trail_key = (sel.model, str(sel.weights), sel.digest)
if ss.get(TRAIL + "_key") != trail_key:
    ss[TRAIL], ss[TRAIL + "_key"] = [], trail_key
trail = ss[TRAIL]
if not trail or trail[-1] != u.position():
    trail.append(u.position())
    del trail[:-TRAIL_MAX]

down = av.strongest_input(u)
up = av.strongest_reader(sel.net, acts, u)


def walk_buttons(box) -> None:
    """Two buttons, one above the other, each naming the unit it moves to."""
    if down[0] == "input":
        box.button("⬇ strongest input: the pixels", disabled=True, key="unit_down", width="stretch")
        box.caption(f"The end of the walk down: {layer} reads the pixels. Its strongest input is the "
                    f"{UF.COLOURS[down[1]]} value of pixel ({down[2]}, {down[3]}).")
    else:
        box.button(f"⬇ strongest input: {UF.unit_name(*down)}", key="unit_down", on_click=go_to, args=(down,),
                   width="stretch", help="Move to the unit of the layer below that contributed most to this value.")
    if up is None:
        box.button("⬆ strongest reader: none", disabled=True, key="unit_up", width="stretch")
        box.caption(f"The end of the walk up: {layer} is the output, the {shape[0]} class scores fed to "
                    "the softmax." + (f" This is “{sel.net.categories[channel]}”." if layer == arch.layers[-1].name
                                      and shape[0] == len(sel.net.categories) else ""))
    else:
        box.button(f"⬆ strongest reader: {UF.unit_name(*up)}", key="unit_up", on_click=go_to, args=(up,),
                   width="stretch", help="Move to the unit of the layer above that this value pushes hardest.")


# -- the value and its computation: the first screen ----------------------------------------------
left, right = st.columns([1.15, 2.3], gap="medium")
left.metric(name, f"{u.value:.4g}",  # its address alone: "The value of conv2[…]" was cut at 1024 px
            help=f"The value of {name}: one number of the layer's output on this photo, read from the cached "
                 "forward pass.")

if u.kind == "conv":
    kh, kw = u.weight.shape[1:]
    total = float(u.terms.sum())
    left.markdown(f"This unit {UF.reads_sentence(u, arch)}: a {kh}×{kw} window ({UF.window_words(u.window)}) "
                  f"of each, multiplied number by number with its own {kh}×{kw} kernel and added up.")
    left.markdown(f"Σ terms = **{total:.4g}**, + bias **{u.bias:.4g}** = value **{total + u.bias:.4g}**  \n"
                  f"The map holds {name} = **{on_map:.4g}**.")
    if any(v < 0 for v in (u.window[0], u.window[2])) or u.window[1] > u.source_shape[1] \
            or u.window[3] > u.source_shape[2]:
        left.caption("The window hangs over the edge of the map: the zero padding there adds nothing.")
    right.markdown(f"**The {min(8, len(u.in_channels))} input channels that matter most** (by |term|): "
                   "each input patch above its kernel, titled with its channel and its term Σ patch·kernel; "
                   f"{render.colour.SIGN_WORDS['positive']} weights add, "
                   f"{render.colour.SIGN_WORDS['negative']} subtract.")
    # A picture, not a plotly grid of heat maps: the browser draws it at once (README "Speed");
    # every term's value is in the chart below. PNG named, or Streamlit re-encodes it as JPEG.
    right.image(render.png_bytes(UF.conv_patches_picture(u).image, compress_level=1), output_format="PNG",
                alt=f"The input patches of {name}, each above its kernel")
elif u.kind == "linear":
    total = float(u.terms.sum())
    rows = UF.linear_contributions(u, arch)
    left.markdown(f"This unit {UF.reads_sentence(u, arch)}: each is multiplied by its own weight and the "
                  f"{len(u.terms)} products are added up.")
    left.markdown(f"Σ weight × input = **{total:.4g}**, + bias **{u.bias:.4g}** = value "
                  f"**{total + u.bias:.4g}**  \nThe layer holds {name} = **{on_map:.4g}**.")
    right.plotly_chart(UF.contributions_figure(rows, u.source), theme=None, key="unit_contrib")
elif u.kind == "relu":
    x = float(u.patch.reshape(-1)[0])
    left.markdown(f"A ReLU keeps a positive number and turns a negative one into 0. It reads the same "
                  f"unit of {u.source}: max(0, {x:.4g}) = **{max(x, 0.0):.4g}**  \n"
                  f"The map holds {name} = **{on_map:.4g}**.")
    right.plotly_chart(UF.relu_figure(x), theme=None, key="unit_relu")
elif u.kind == "lrn":
    b = UF.lrn_breakdown(u, spec.lrn)
    s = spec.lrn
    left.markdown(f"Local response normalisation divides the value by a number that grows with the activity "
                  f"of the {s.size} neighbouring channels at the same position (paper §3.3): strong "
                  f"neighbours damp each other. Channels past the first or last add nothing.")
    left.markdown(f"Σ a² over channels {b.channels[0]}–{b.channels[-1]} = **{b.sum_sq:.4g}**  \n"
                  f"(k + α/n · Σ a²)^β = ({s.k:g} + {s.alpha:g}/{s.size} × {b.sum_sq:.4g})^{s.beta:g} "
                  f"= **{b.denominator:.6g}**  \n"
                  f"{b.centre:.4g} / {b.denominator:.6g} = value **{b.value:.4g}**  \n"
                  f"The map holds {name} = **{on_map:.4g}**.")
    left.caption("The normalisation kept the whole value (this channel's neighbours are all 0)." if b.shrink is None
                 else f"The normalisation kept {b.shrink:.4%} of the value: it shrank it by "
                      f"{1 - b.shrink:.4%}.")
    right.plotly_chart(UF.lrn_figure(b), theme=None, key="unit_lrn")
else:  # pool, avgpool
    src = acts[u.source][u.channel]  # (H, W)
    patch = u.patch[0]
    if u.kind == "pool":
        r, q = UF.pool_winner(u)
        left.markdown(f"Max pooling keeps the largest of the {patch.size} values in its "
                      f"{patch.shape[0]}×{patch.shape[1]} window of {u.source}, channel {u.channel} "
                      f"({UF.window_words(u.window)}). The winner is row {r}, column {q}: **{src[r, q]:.4g}**.  \n"
                      f"The map holds {name} = **{on_map:.4g}**.")
        left.caption(UF.overlap_words(u, spec.kernel, spec.stride)
                     + (" This window hangs over the edge (Caffe rounds the map size up); the missing "
                        "positions never win." if np.isinf(patch).any() else ""))
        stride = spec.stride
    else:
        left.markdown(f"Average pooling takes the mean of the {patch.size} values in its "
                      f"{patch.shape[0]}×{patch.shape[1]} window of {u.source}, channel {u.channel} "
                      f"({UF.window_words(u.window)}): {patch.sum():.4g} / {patch.size} = "
                      f"**{patch.mean():.4g}**  \nThe map holds {name} = **{on_map:.4g}**.")
        stride = None
    right.plotly_chart(UF.pool_figure(src, u, stride), theme=None, key="unit_pool")

walk_buttons(left)

# -- the rest of the computation ------------------------------------------------------------------
if u.kind == "conv":
    st.plotly_chart(UF.terms_figure(u, arch), theme=None, key="unit_terms")
elif u.kind == "linear":
    st.dataframe(rows, hide_index=True, width="stretch")

st.markdown("**Visited units** (click one to go back)")
tcols = st.columns(TRAIL_MAX)
for i, pos in enumerate(trail):
    tcols[i].button(UF.unit_name(*pos), key=f"unit_trail_{i}", on_click=go_to, args=(pos,),
                    disabled=pos == u.position(), width="stretch")

# -- where it looks on the photo ----------------------------------------------------------------
st.header("Where it looks on the photo")
view = np.asarray(sel.view)  # (crop, crop, 3) uint8: what the network sees
h, w = view.shape[:2]
box = UF.clip_box(u.receptive_field, h, w)
y0, y1, x0, x1 = box
erf = cache.store().get_or_compute(sel.key("erf", layer, channel, row, col),
                                   lambda: av.effective_receptive_field(sel.net, sel.x, layer, channel, row, col))
share = UF.erf_share(erf, u.receptive_field)
cy0, cy1, cx0, cx1 = share.centre
p1, p2, p3 = st.columns([1, 1, 1.2])
p1.image(render.draw_box(view, (y0, x0, y1, x1)), width="stretch",
         caption=f"The receptive field: the {y1 - y0}×{x1 - x0} pixels of the {h}×{w} crop that can change "
                 f"this unit (rows {y0}–{y1 - 1}, columns {x0}–{x1 - 1}).")
heat = render.draw_box(render.colourise(render.to_uint8(erf), "viridis"), (y0, x0, y1, x1))
heat = render.draw_box(heat, (cy0, cx0, cy1, cx1), colour=OKABE_ITO["sky blue"], width=1)
p2.image(heat, width="stretch",
         caption="The effective receptive field: how much each pixel moves the unit, |∂unit/∂pixel| summed "
                 "over red, green and blue (bright = more). Orange: the receptive field; blue: its central half.")
if share.total == 0:
    p3.markdown("This unit does not move when any pixel changes (it is 0 behind a ReLU that is off, so "
                "no gradient flows back): its effective receptive field is empty.")
else:
    p3.markdown(f"**{share.in_centre:.0%}** of the effective receptive field's total mass "
                f"(Σ |∂unit/∂pixel|) lies inside the central half of the box (half its side, a quarter of "
                f"its area), where an even spread would put {share.uniform:.0%}; {share.in_box:.0%} lies "
                f"inside the box at all.")
    p3.caption("The box is every pixel that can matter; the heat map shows which ones do. Pixels near "
               "the middle reach the unit along many more paths, so the effective field is usually much "
               "smaller than the box.")
