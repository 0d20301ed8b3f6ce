"""AlexNet Explorer: the entry point. Page config, the shared sidebar, then the chosen page.

Run with ``streamlit run app/streamlit_app.py`` (or ``make run``). Adding a page is one line in
``PAGES``; a page gets the network, the image and the cached activations from
``sidebar.selection()``. Pages live in ``views/``, not ``pages/``: a ``pages/`` folder beside the
entry script switches AppTest (and any run before st.navigation) to the old folder navigation.
"""
import functools
import re
import sys
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import alexnet_viz as av

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import sidebar` from the pages
import classroom  # noqa: E402
import presentation  # noqa: E402
import server  # noqa: E402
import sidebar  # noqa: E402

st.set_page_config(page_title="AlexNet Explorer", page_icon="🧠", layout="wide")


def _plain(text: str) -> str:
    """A caption as alt text: its words without markdown's marks."""
    return re.sub(r"[*_`]+", "", text).strip()


def alt_from_caption() -> None:
    """Every picture gets alternative text (WCAG 1.1.1): where a page gives ``caption`` and no
    ``alt``, the caption (which says what the picture shows) becomes the alt text too. Streamlit
    keeps the two apart (a caption never becomes an alt by itself), so st.image is wrapped here,
    once per process; a page that passes ``alt`` keeps its own."""
    if getattr(DeltaGenerator.image, "_alt_from_caption", False):
        return
    image = DeltaGenerator.image

    @functools.wraps(image)
    def with_alt(self, img, caption=None, *args, alt=None, **kwargs):
        if alt is None and caption:
            alt = _plain(caption) if isinstance(caption, str) else [_plain(c) if c else None for c in caption]
        return image(self, img, caption, *args, alt=alt, **kwargs)

    with_alt._alt_from_caption = True
    DeltaGenerator.image = with_alt
    st.image = st._main.image  # st.image was bound to the main area before the wrapping


alt_from_caption()

PAGES = [
    st.Page("views/predict.py", title="Predict", icon=":material/label:", default=True),
    st.Page("views/lesson.py", title="Eight-step lesson", icon=":material/school:", url_path="lesson"),
    st.Page("views/quiz.py", title="Shape quiz", icon=":material/quiz:", url_path="quiz"),
    st.Page("views/architecture.py", title="Architecture", icon=":material/account_tree:"),
    st.Page("views/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
    st.Page("views/unit.py", title="How was this number made?", icon=":material/calculate:", url_path="unit"),
    st.Page("views/lab.py", title="Paper lab", icon=":material/science:", url_path="lab"),
    st.Page("views/kernels.py", title="Kernels", icon=":material/blur_on:"),
    st.Page("views/attribution.py", title="Why did it say that?", icon=":material/visibility:"),
    st.Page("views/lookfor.py", title="What does it look for?", icon=":material/image_search:", url_path="lookfor"),
    st.Page("views/camera.py", title="Live camera", icon=":material/videocam:", url_path="camera"),
]

server.set_torch_threads()  # once per process: threads per operation for a shared server
server.set_blas_threads()  # once per process: numpy's BLAS on one thread (its work is small)
av.full_float32()  # no TF32 on a GPU: every number on screen is the arithmetic the pages explain
server.freeze_long_lived()  # once per process: the collection after each run skips the imports
server.start_session_reaper()  # once per process: a closed tab's photo leaves memory and /media
presentation.from_link()  # before st.navigation: presenting, the page menu is in the top bar
page = st.navigation(PAGES, position="top" if presentation.presenting() else "sidebar")
classroom.arrive(page, PAGES)  # a ?join= link; a follower goes to the lecturer's view
st.sidebar.markdown("## AlexNet Explorer")
presentation.switch()  # before the sidebar's controls: a presenter finds it at the top
classroom.lecturer_controls()
sidebar.draw()
classroom.follow_banner()
page.run()
classroom.publish(page)  # the lecturer's view, as drawn, becomes the class's
