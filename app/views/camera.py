"""Live camera: the camera's stream through the network, frame by frame.

The top-5 and one layer's maps are drawn into the picture that comes back (the Deep
Visualization Toolbox's live mode).

The stream is ``streamlit-webrtc``: the browser sends its camera over WebRTC, the server calls
the frame callback on a worker thread and sends the returned picture back. With
``async_processing`` the worker is handed only the newest frame, so frames that arrive while one
is processed are dropped, never queued. The callback runs outside the script thread, where
Streamlit's caches and session state cannot be reached, so the network (the shared one from
``cache.network``) and the layer are handed to a ``LiveProcessor`` kept in the session, which
the callback closes over. A fragment reads its counters once a second while the stream plays.
"""
import streamlit as st
from av import VideoFrame
from streamlit_webrtc import WebRtcMode, webrtc_streamer

import links
import server
import sidebar
from alexnet_viz.live import MAX_SIDE, LiveProcessor, live_layers

# No STUN server: nothing outside the machine is reachable here, and a browser on the server's
# own network (localhost, a classroom's LAN) reaches it through its host candidates.
RTC_CONFIGURATION = {"iceServers": []}
# The camera is asked for at most 640×480 and 15 frames a second: every frame is decoded, and the
# picture returned for each is encoded, at the camera's rate, whatever rate the network keeps up.
CONSTRAINTS = {"video": {"width": {"ideal": 640, "max": 1280}, "height": {"ideal": 480, "max": 720},
                         "frameRate": {"ideal": 15, "max": 15}},
               "audio": False}
PROC = "_live_processor"  # session key: this session's processor, shared with its callback
NOTE = "_live_link_note"  # a link's refused layer: (sentence, icon, the layer shown instead)


class KeptNote:
    """Where the link's sentence about a refused value goes: shown, and kept in the session, since
    the stream's component reruns the page at once (the sentence would be gone before it is read)."""

    def __init__(self):
        self.slot = st.empty()

    def info(self, text: str, icon: str | None = None) -> None:
        st.session_state[NOTE] = (text, icon, None)
        self.slot.info(text, icon=icon)

sel = sidebar.selection()  # sel.net is cache.network's shared instance for the sidebar's choice
ss = st.session_state
sidebar.page_header("Live camera", sel)
layers = live_layers(sel.net.arch)
home = "conv1" if "conv1" in layers else layers[0]
if ss.get("live_layer") not in layers:
    ss["live_layer"] = home
note = KeptNote()
link = links.Link("camera", note)
link.seed("layer", "live_layer", links.one_of(layers), default=home)

st.caption("Press **START** and allow the camera. Every frame goes through the network once on this "
           "server: the picture that comes back shows the top-5 on the camera's picture and the chosen "
           f"layer's maps beside it, each map stretched to its own range"
           + (", one block per GPU tower (GPU 1 above)" if len(sel.net.arch.towers("conv1")) > 1 else "")
           + f". Frames are brought down to {MAX_SIDE} px; frames that arrive while one is being processed "
           "are dropped, so the picture stays current. Nothing is stored.")
layer = st.selectbox("Layer to watch", layers, key="live_layer",
                     help="conv, ReLU and pooling layers: the ones whose output is a stack of maps.")
link.write()
if (kept := ss.get(NOTE)) is not None:
    text, icon, shown = kept
    if link.ignored or shown in (None, layer):  # said until the visitor picks another layer
        ss[NOTE] = (text, icon, layer)
        if not link.ignored:
            note.slot.info(text, icon=icon)
    else:
        del ss[NOTE]

proc: LiveProcessor | None = ss.get(PROC)
if proc is None:
    proc = ss[PROC] = LiveProcessor(sel.net, layer, gate=server.live_gate(), mode=sel.mode)
else:
    proc.configure(net=sel.net, layer=layer, mode=sel.mode)  # the next frame follows the sidebar and this layer


def on_frame(frame: VideoFrame) -> VideoFrame:
    """On streamlit-webrtc's worker thread: only ``proc``, never Streamlit, is touched here."""
    return VideoFrame.from_ndarray(proc.picture_for(frame.to_ndarray(format="rgb24")), format="rgb24")


stream, side = st.columns([3, 1])
with stream:
    ctx = webrtc_streamer(key="live", mode=WebRtcMode.SENDRECV, rtc_configuration=RTC_CONFIGURATION,
                          media_stream_constraints=CONSTRAINTS, video_frame_callback=on_frame,
                          async_processing=True)
playing = bool(ctx.state.playing)
if not playing:  # stopped (or not started): no place held, no rate that is not changing any more
    proc.release()


@st.fragment(run_every=1.0 if playing else None)
def live_status() -> None:
    s = proc.stats()
    st.metric("Frames processed", s.frames)
    st.metric("Updates/s", "–" if s.updates_per_s is None or not playing else f"{s.updates_per_s:.1f}",
              help="Frames finished per second over the last few seconds: the rate the picture changes.")
    st.metric("Work per frame", "–" if s.work_ms is None else f"{s.work_ms:.0f} ms",
              help="Median time for one frame: preprocessing, the forward pass, the maps and the drawing.")
    gate = proc.gate
    st.caption(f"Live streams on this server: {gate.active()} of {gate.max_streams} allowed at once.")
    if s.error:
        st.warning(s.error, icon=":material/error:")
    if s.top:
        st.markdown("**Top-5 of the latest frame** (" + s.layer + " shown)  \n" + "  \n".join(
            f"{p * 100:.1f}% {label}" for _i, label, p in s.top))
    elif not playing:
        st.caption("Nothing processed yet.")


with side:
    live_status()
st.info("Browsers give a page the camera only over HTTPS or on localhost: on a class server "
        "reached as http://teacher-laptop.local:8501 the START button cannot open the camera; serve "
        "the app over HTTPS (a proxy with a certificate) for that.", icon=":material/lock:")
if sel.untrained:
    st.caption("This is the untrained network: its top-5 is close to uniform and means nothing yet; "
               "its maps still show how each layer responds to the picture, as random filters do.")
