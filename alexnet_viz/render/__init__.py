"""Numbers -> pictures, charts and download files. Pure numpy, Pillow and plotly; no UI.

One place for each step: colours and scaling to 8 bits (:mod:`.colour`), blending, enlarging
and boxes (:mod:`.images`), PNG / CSV / .npy bytes (:mod:`.encode`), tiled grids of channels
and kernels (:mod:`.tiles`), a channel placed on the input (:mod:`.placement`), attribution
pictures (:mod:`.attribution`), plotly figures (:mod:`.charts`) and table rows
(:mod:`.tables`). A page makes one picture with one call from here.
"""
from .attribution import attribution_picture, attribution_pictures, colour_bar
from .charts import (activation_histogram, architecture_diagram, colourfulness_chart, diagram_layer, mc_dropout_figure,
                     sanity_chart, top_k_bar, unit_bars)
from .colour import colourise, lut, to_uint8
from .encode import csv_bytes, jpeg_bytes, npy_bytes, png_bytes
from .images import draw_box, enlarge, overlay
from .placement import channel_on_input, channel_picture, receptive_field_box, unit_at_pixel, upsample_to_input
from .tables import channel_table, class_ranks, probability_rows, variant_comparison, walk_records
from .tiles import Grid, input_kernels, kernel_grid, labelled_tiles, mark_tile, tile_grid, tower_grids

__all__ = [
    "attribution_picture", "attribution_pictures", "colour_bar",
    "activation_histogram", "architecture_diagram", "colourfulness_chart", "diagram_layer", "mc_dropout_figure",
    "sanity_chart", "top_k_bar", "unit_bars",
    "colourise", "lut", "to_uint8", "csv_bytes", "npy_bytes", "png_bytes", "jpeg_bytes", "draw_box", "enlarge", "overlay",
    "channel_on_input", "channel_picture", "receptive_field_box", "unit_at_pixel", "upsample_to_input",
    "channel_table", "class_ranks", "probability_rows", "variant_comparison", "walk_records",
    "Grid", "input_kernels", "kernel_grid", "labelled_tiles", "mark_tile", "tile_grid", "tower_grids",
]
