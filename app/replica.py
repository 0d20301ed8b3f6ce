"""This server among deploy/'s replicas: its name in the sidebar, and why a visitor moved here starts over.

Behind deploy/'s proxy each replica is named by ``ALEXNET_VIZ_REPLICA``, and nginx pins each
browser to a replica with a cookie naming it (deploy/nginx_conf.py). A browser whose replica went
away reconnects to another with a fresh session; server.py gives such a session its first run,
and ``note`` tells the visitor why the page started over. Without ``ALEXNET_VIZ_REPLICA`` (one
server, no proxy) nothing is shown.
"""
from __future__ import annotations

import os

import streamlit as st

REPLICA_ENV = "ALEXNET_VIZ_REPLICA"  # set by deploy/: this server's name among its replicas
REPLICA_COOKIE = "alexnet_viz_replica"  # set by deploy/'s nginx: the replica that answered this browser


def note(where) -> None:
    """Behind deploy/'s proxy: name this replica in the sidebar, and tell a visitor whose session
    was on a replica that went away why the page started over (until they choose a photo).

    nginx pins each browser to a replica with a cookie naming it; a session whose first run
    arrives with a cookie naming another replica was moved here by a failover."""
    me = os.environ.get(REPLICA_ENV, "").strip()
    if not me:
        return
    if "_moved_from" not in st.session_state:  # the session's first run
        came_from = st.context.cookies.get(REPLICA_COOKIE)
        st.session_state["_moved_from"] = (came_from, st.session_state["image"].digest) \
            if came_from and came_from != me else None
    moved = st.session_state["_moved_from"]
    if moved and st.session_state["image"].digest == moved[1]:
        where.info("The server your session was on stopped, so you are now on another one: "
                        "your photo and choices were reset.", icon=":material/restart_alt:")
    where.caption(f"Server: {me}")
