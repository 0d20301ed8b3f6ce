"""Presentation mode: for a lecturer at a projector. A sidebar switch, also ``?present=1`` in a link.

What it does, on every page:
* moves the page menu into the top bar (``st.navigation(position="top")``, in ``streamlit_app.py``,
  which reads the mode with ``from_link()`` before it): choosing a page then never opens the
  sidebar, which Streamlit folds only once, when ``initial_sidebar_state`` changes;
* collapses the sidebar, through ``st.set_page_config(initial_sidebar_state="collapsed")``. The
  browser keeps a visitor's own choice: someone who opened or closed the sidebar by hand in this
  browser before keeps it that way (Streamlit stores that choice per app in localStorage). The
  sidebar's » button opens it again, with this switch at its top, to leave the mode;
* sets larger type (text, headings, metrics, buttons: each larger than Streamlit's own size,
  never smaller; a metric's value is a paragraph inside, so its rule is the more specific) and
  trims the page's padding, with a few
  CSS rules scoped to Streamlit 1.67's ``data-testid`` hooks (a later Streamlit may rename them:
  then the type is simply the usual size, nothing breaks);
* keeps the switch in the URL (``present=1``) while it is on, so a copied link opens in it.

What it does not do: it does not lay out other pages anew. The lesson puts its picture first
in this mode (``presenting()``); the other pages keep their order. Streamlit stacks columns
only below 640 pixels, so a page's columns stay side by side at 1024×768.
"""
from __future__ import annotations

import streamlit as st

KEY = "presentation"  # the session's choice: outlives the page (a widget's own key would not)
WIDGET = "_presentation_widget"
WRITTEN = "_present_qp"  # what this session last wrote to the URL: a different value came from a link
PARAM = "present"
ON_WORDS = ("1", "true", "yes", "on")

CSS = """<style>
/* alexnet_viz presentation mode (app/presentation.py): larger type for a projector. */
[data-testid="stMainBlockContainer"] { padding: 3.25rem 2rem 2rem 2rem; max-width: 100%; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.3rem; line-height: 1.5; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] p,
[data-testid="stMain"] .stCaption p,
[data-testid="stMain"] [data-testid="stImageCaption"] { font-size: 1.1rem; }
[data-testid="stMain"] h1 { font-size: 3.1rem; }
[data-testid="stMain"] h2 { font-size: 2.5rem; }
[data-testid="stMain"] h3 { font-size: 2rem; }
[data-testid="stMain"] [data-testid="stMetricValue"],
[data-testid="stMain"] [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  font-size: 2.8rem; line-height: 1.2; }
[data-testid="stMain"] [data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { font-size: 1.15rem; }
[data-testid="stMain"] button p { font-size: 1.2rem; }
</style>"""


# Always, in every mode: the uploader's drop zone would say "32MB per file" (the server's bound,
# set a little above the loader's 20 MB so a 25 MB photo gets the page's sentence), beside a label
# that says 20 MB; the label and its help say what holds, so the zone's own line is hidden.
# The Architecture diagram's labels need about 780 px (what 1280×720 leaves beside the sidebar):
# narrower (1024×768 with the sidebar open) they ran into one strip, so there it scrolls in its box.
# A page's sections are h2 under its h1 (no level skipped), drawn at the h3 size they had, so
# nothing moves down (the Paper lab's result stays in the first screen at 1280×720).
BASE_CSS = """<style>
[data-testid="stMain"] h2 { font-size: 1.75rem; }
[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
.st-key-arch_diagram { overflow-x: auto; }
.st-key-arch_diagram [data-testid="stElementContainer"],
.st-key-arch_diagram [data-testid="stPlotlyChart"] { min-width: 780px; }
</style>"""


def presenting() -> bool:
    """Whether this session is in presentation mode."""
    return bool(st.session_state.get(KEY, False))


def _keep() -> None:
    st.session_state[KEY] = bool(st.session_state[WIDGET])


def from_link() -> None:
    """Adopt ``?present=`` when the URL carries a value this session did not write (a link, a reload)."""
    ss = st.session_state
    value = st.query_params.get(PARAM)
    if value is not None and value != ss.get(WRITTEN):
        ss[KEY] = value.strip().lower() in ON_WORDS
    ss.setdefault(KEY, False)


def to_link() -> None:
    """Keep ``present=1`` in the URL while the mode is on, and no ``present`` while it is off."""
    ss = st.session_state
    value = st.query_params.get(PARAM)
    if ss[KEY] and value != "1":
        st.query_params[PARAM] = "1"
    elif not ss[KEY] and value is not None:
        del st.query_params[PARAM]
    ss[WRITTEN] = "1" if ss[KEY] else None


def switch() -> bool:
    """The sidebar switch, the URL and the page's look; returns whether the mode is on."""
    from_link()
    st.session_state[WIDGET] = st.session_state[KEY]
    st.sidebar.toggle("Presentation mode", key=WIDGET, on_change=_keep,
                      help="For a projector: the sidebar folds away (open it again with » at the top left), "
                           "the pages are chosen in the top bar, the type is larger and the lesson puts its "
                           "picture first. A link copied while it "
                           "is on opens in it (present=1).")
    on = presenting()
    to_link()
    st.set_page_config(initial_sidebar_state="collapsed" if on else "auto")
    st.html(BASE_CSS + (CSS if on else ""))
    return on
