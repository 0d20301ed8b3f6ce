"""AlexNet Explorer: placeholder page until the app lands (loads the untrained network)."""
import streamlit as st

import alexnet_viz as av

st.set_page_config(page_title="AlexNet Explorer", layout="wide")


@st.cache_resource
def network(model: str, weights: str):
    return av.load_network(model, weights=weights, device="auto")


net = network("alexnet2012", "untrained")
st.title("AlexNet Explorer")
st.write(f"Network: **{net.name}**, weights: **{net.weights}**, device: **{net.device}**")
