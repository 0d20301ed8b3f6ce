"""Feature maps: a layer's channels tiled per GPU tower, one channel on the input, layer statistics.

A click on a tile picks its channel; a click on the enlarged channel opens "How was this number
made?" for the unit under the pointer. The layer and channel live in the URL
(``?layer=relu2&channel=130``), so a copied link opens the same view (for the sample photos).
"""
import numpy as np
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates as clickable_image

import cache
import links
import sidebar
from alexnet_viz import activations, render
from alexnet_viz.walkthrough import layer_receptive_field, viewable_layers

SEEN = "_fm_seen"  # session key: the last click handled per picture
PAGE = "feature_maps"  # its name among links' pages
sel = sidebar.selection()
ss = st.session_state
arch = sel.net.arch
layers = viewable_layers(arch)
DEFAULT = "relu1" if "relu1" in layers else next(iter(layers))


def from_link(link: dict) -> str | None:
    """Set the layer and channel a link names, clamped into the layer; a sentence if it had to change them."""
    layer = link.get("layer")
    if layer not in layers:
        return (f"The link names a layer “{layer}” that {arch.name} does not have, so this is "
                f"{ss.get('fm_layer', DEFAULT)} instead.") if layer is not None else None
    ss["fm_layer"] = layer
    if layers[layer] != "map" or "channel" not in link:
        return None
    n = sel.acts[layer].shape[0]
    try:
        asked = int(link["channel"])
    except ValueError:
        return f"The link's channel “{link['channel']}” is not a whole number, so the channel is unchanged."
    ss[f"fm_channel_{layer}"] = min(max(asked, 0), n - 1)
    if not 0 <= asked < n:
        return f"The link asks for channel {asked}; {layer} has channels 0–{n - 1}, so this is the nearest one."
    return None


def new_click(key: str, click: dict | None) -> dict | None:
    """The component's value if it is a click not handled yet (a value stays after its rerun)."""
    if not click or not click.get("width") or ss.setdefault(SEEN, {}).get(key) == click.get("unix_time"):
        return None
    ss[SEEN][key] = click.get("unix_time")
    return click


class EncodedPNG:
    """PNG bytes made once and cached, handed to the click component, which asks for ``.save``."""

    def __init__(self, data: bytes):
        self.data = data

    def save(self, fp, **_ignored) -> None:
        fp.write(self.data)


def fast_png(picture: np.ndarray) -> np.ndarray:
    """A picture's PNG bytes at level 1 (about three times faster than the default: each student's
    views are new, so this runs on most views), as uint8 so the cache counts them."""
    return np.frombuffer(render.png_bytes(picture, compress_level=1), np.uint8)


last = {k: v for k, v in links.written(PAGE).items() if k in ("layer", "channel")}  # the view we wrote
link = {k: st.query_params[k] for k in ("layer", "channel") if k in st.query_params}
note = from_link(link) if link and link != last else None
if "fm_layer" not in ss and last:  # back from another page (its widgets are gone): the last view
    from_link(last)
if ss.get("fm_layer") not in layers:  # first visit, or a network without that layer
    ss["fm_layer"] = DEFAULT

# A click on the enlarged channel opens its unit at once, before this page draws anything.
_layer, _channel = ss["fm_layer"], ss.get(f"fm_channel_{ss['fm_layer']}")
_click = new_click(f"fm_unit_{_layer}_{_channel}", ss.get(f"fm_unit_{_layer}_{_channel}"))
if _click and layers[_layer] == "map":
    _r, _q = render.unit_at_pixel(sel.acts[_layer].shape[1:], _click["x"], _click["y"], _click["width"])
    st.switch_page("views/unit.py", query_params={"layer": _layer, "channel": str(_channel),
                                                   "row": str(_r), "col": str(_q)})

sidebar.page_header("Feature maps", sel)
if note:
    st.info(note)
address = links.Link(PAGE)  # the layer and channel above; the order and brightness below
c1, c2, c3 = st.columns([2, 2, 2])
layer = c1.selectbox("Layer", list(layers), key="fm_layer",
                     help="conv rows are before their ReLU; relu rows after it. On the Architecture page, "
                          "a click on a block opens its layer here.")
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
    bars = st.plotly_chart(render.unit_bars(act, k, arch, layer, labels), theme=None, key="fm_units",
                           on_select="rerun", selection_mode="points")
    picked = bars["selection"]["points"]  # a click on a bar opens that unit's computation
    if picked and picked[0].get("customdata") is not None:
        st.switch_page("views/unit.py", query_params={"layer": layer, "channel": str(int(picked[0]["customdata"]))})
    st.caption("Click a bar to see how that unit's number was made.")
    strongest = int(act.argmax())
    st.page_link("views/unit.py", label=f"How was the strongest unit, {layer}[{strongest}], made?",
                 icon=":material/calculate:", query_params={"layer": layer, "channel": str(strongest)})
    written = {"layer": layer}
else:
    address.seed("sort", "fm_sort", links.one_of(activations.SORTS), default=list(activations.SORTS)[1])
    address.seed("shared", "fm_shared", links.flag, show=links.show_flag, default=False)
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
    st.caption("Each tile carries its channel number; the orange frame marks the channel shown below. "
               "**Click a tile** to show another.")
    for tower, grid in grids.items():  # a click on a tile picks its channel, before the tiles are drawn
        click = new_click(f"fm_tiles_{layer}_{tower}", ss.get(f"fm_tiles_{layer}_{tower}"))
        picked = grid.channel_at_pixel(click["x"], click["y"], click["width"]) if click else None
        if picked is not None:  # a click on the white frame between tiles picks nothing
            ss[f"fm_channel_{layer}"] = picked
    order = [ch for g in grids.values() for ch in g.channels]
    chosen = ss.get(f"fm_channel_{layer}", order[0])  # the channel box's value (its default: the first)
    cols = st.columns(len(grids))
    for col, (tower, grid) in zip(cols, grids.items()):
        view_key = sel.key("fm_tiles", layer, sort, shared, tower)
        pic = cache.store().get_or_compute(view_key, lambda grid=grid: render.labelled_tiles(grid, "viridis"))
        if chosen in grid.channels:  # framed: the component encodes this one (it changes with the channel)
            shown = render.mark_tile(pic, grid, chosen)
        else:  # encoded once per view, and only where it is shown as it is
            shown = EncodedPNG(cache.store().get_or_compute(view_key + ("png",), lambda pic=pic: fast_png(pic)).tobytes())
        with col:
            clickable_image(shown, key=f"fm_tiles_{layer}_{tower}", width="stretch", cursor="pointer",
                            png_compression_level=1)
        col.caption(f"{tower}: channels {min(grid.channels)}–{max(grid.channels)}"
                    if grid.tower else f"all {c} channels")
        col.download_button(f"Download {tower} (PNG)", lambda pic=pic: render.png_bytes(pic),  # made on click
                            file_name=f"{layer}_{tower}.png", mime="image/png", on_click="ignore", key=f"fm_dl_{tower}")

    st.header("One channel, on the input")
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
    with a:  # its clicks are handled at the top of the page
        clickable_image(render.channel_picture(m, 220), key=f"fm_unit_{layer}_{channel}", width="stretch",
                        cursor="crosshair", png_compression_level=1)
    a.caption(f"Channel {channel} of {layer}, {h}×{w}, enlarged. **Click a unit** to see how its number was made.")
    b.image(over, caption=f"On the {crop}×{crop} crop; box: the {rf.size:g}-pixel receptive field of the "
                          f"strongest unit {stats['argmax']}", width="stretch")
    b.download_button("Download the overlay (PNG)", lambda over=over: render.png_bytes(over),
                      file_name=f"{layer}_{channel}_overlay.png", mime="image/png", on_click="ignore")
    s.metric("Mean", f"{stats['mean']:.3g}")
    s.metric("Max", f"{stats['max']:.3g}", help=f"at unit (row, column) {stats['argmax']}")
    r, q = stats["argmax"]
    s.page_link("views/unit.py", label="How was the max made?", icon=":material/calculate:",
                help=f"Unit ({r}, {q}) of channel {channel}: its arithmetic on the next page.",
                query_params={"layer": layer, "channel": str(channel), "row": str(r), "col": str(q)})
    if rectified:
        s.metric("Switched off", f"{stats['zero_fraction']:.1%}",  # a short label: not cut at 1024 px
                 help="The share of units the ReLU set to zero (switched off) on this photo.")
    s.caption(f"Units are {rf.jump:g} input pixels apart; each sees {rf.size:g}×{rf.size:g} pixels "
              "(clipped at the edges).")
    written = {"layer": layer, "channel": str(channel)}

for name in ("layer", "channel"):  # the view's address, for a copied link
    address.put(name, written.get(name))
address.write()

st.header(f"The whole of {layer}")
m1, m2, m3 = st.columns(3)
if rectified:
    m1.metric("Switched off", f"{summary.dead_fraction:.1%}", help="Zero (switched off) activations")
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
