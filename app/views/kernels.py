"""kernels (to come)."""
import streamlit as st

import state

sel = state.selection()
state.page_header("kernels", sel)
