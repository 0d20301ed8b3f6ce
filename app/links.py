"""Every page's state in its address: which controls a link carries, and how a link's values are read.

A page names each linked control just before drawing it, and writes the address once its
controls are drawn::

    link = links.Link("lookfor")
    link.seed("layer", "lf_layer", links.one_of(layers))      # before the widget keyed "lf_layer"
    layer = st.selectbox("Layer", layers, key="lf_layer")
    ...
    link.write()                                                # after the controls

``seed`` sets the widget's session value from the URL when the URL holds a value this session
did not write (a pasted link, a new tab, the browser's back button), and puts back the page's
last view when the visitor returns to the page (Streamlit drops a widget's value, and the page's
address, when another page is shown). Everything in a URL is untrusted: a value the page does
not offer, a number out of range or of the wrong type is left out (the control keeps its value)
and the page says so in one sentence; nothing in a URL is ever a path. ``write`` puts the
controls' values in the URL, only those that changed (a write sends a message to the browser),
and leaves out values equal to their declared default, so links stay short.

Why not Streamlit 1.67's own ``bind="query-params"`` on each widget: it names the parameter
after the widget's key and writes the option's display label (``fm_channel_relu2=130+—+GPU+2``),
it would put the weight-file choice in links, and its parameters cannot be set by code, so the
links the pages already make (``/feature_maps?layer=relu2&channel=130``, ``st.switch_page`` to a
unit) would need a second way beside it.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import streamlit as st

WRITTEN = "_links_written"  # session key: {page: {name: text}}, what this session last wrote per page
KEYS = "_links_keys"  # session key: {page: {name: widget key}}, whose value each written name was
SHOWN = 30  # characters of a link's bad value repeated on the page: a URL can hold anything

Parse = Callable[[str], Any]  # text -> value; raises (or returns None) for a value the page does not offer


def url_value(name: str) -> str | None:
    """The URL's value for ``name`` (the last one, if repeated), or None."""
    try:
        return st.query_params.get(name)
    except Exception:  # noqa: BLE001 - a malformed address must never stop a page
        return None


def _read(parse: Parse, text: str) -> Any:
    try:
        return parse(text)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None


class Link:
    """One page's linked controls for one script run (see the module's docstring)."""

    def __init__(self, page: str, where=None):
        """``where``: the container for the sentence about a link's bad values (default: here, in
        the main area, so it shows above the controls seeded after this)."""
        self.page = page
        self.where = where if where is not None else st.empty()
        self.written: dict[str, str] = dict(st.session_state.setdefault(WRITTEN, {}).get(page, {}))
        self.written_keys: dict[str, str] = dict(st.session_state.setdefault(KEYS, {}).get(page, {}))
        self.keys: dict[str, tuple[str, Callable[[Any], str | None], Any]] = {}  # name -> (key, show, default)
        self.values: dict[str, str | None] = {}  # name -> text put directly (``put``)
        self.ignored: list[str] = []

    def fresh(self, name: str) -> str | None:
        """The URL's value for ``name`` if this session did not write it (it came from a link), else None."""
        text = url_value(name)
        return text if text is not None and text != self.written.get(name) else None

    def seed(self, name: str, key: str, parse: Parse, show: Callable[[Any], str | None] = str,
             default: Any = None) -> Any:
        """Before the widget keyed ``key`` is drawn: take a link's value for it, or the page's last view.

        ``show`` writes a value as URL text (None: leave it out of links); a value equal to
        ``default`` is left out too. Returns the value taken from the URL, or None."""
        ss = st.session_state
        self.keys[name] = (key, show, default)
        text = self.fresh(name)
        if text is not None:
            value = _read(parse, text)
            if value is None:
                self.ignored.append(f"{name}={text[:SHOWN]}{'…' if len(text) > SHOWN else ''}")
                return None
            ss[key] = value
            return value
        if key not in ss and name in self.written and self.written_keys.get(name) == key:
            # back on this page: its widgets were dropped with it (a new key, e.g. another layer's
            # channel box, starts at its own default)
            value = _read(parse, self.written[name])
            if value is not None:
                ss[key] = value
        return None

    def put(self, name: str, text: str | None) -> None:
        """A value the page works out itself (not one widget's): ``text`` in the URL, or None for none."""
        self.values[name] = text

    def wanted(self) -> dict[str, str]:
        """The URL text of every linked control as it is now drawn."""
        ss = st.session_state
        want: dict[str, str] = {}
        for name, (key, show, default) in self.keys.items():
            value = ss.get(key)
            if value is None or (default is not None and value == default):
                continue
            text = show(value)
            if text is not None:
                want[name] = text
        want.update({k: v for k, v in self.values.items() if v is not None})
        return want

    def write(self) -> dict[str, str]:
        """After the controls: the URL gets their values (changed ones only); this page's names
        that no longer apply leave it. Says in one sentence which of a link's values were left out."""
        want = self.wanted()
        for name in dict.fromkeys([*self.written, *self.keys, *self.values]):
            now = url_value(name)
            if name in want and now != want[name]:
                st.query_params[name] = want[name]
            elif name not in want and now is not None:
                del st.query_params[name]
        st.session_state.setdefault(WRITTEN, {})[self.page] = want
        st.session_state.setdefault(KEYS, {})[self.page] = {name: key for name, (key, _s, _d) in self.keys.items()}
        if self.ignored:
            self.where.info(f"This link's {', '.join(self.ignored)} "
                               f"{'is not a value' if len(self.ignored) == 1 else 'are not values'} this page "
                               "offers, so the page shows its own choice instead.", icon=":material/link_off:")
        return want


def written(page: str) -> dict[str, str]:
    """What this session last wrote to the URL for ``page``."""
    return dict(st.session_state.get(WRITTEN, {}).get(page, {}))


# -- parsers: URL text -> a value the widget offers, or None -------------------------------------------
def one_of(options: Iterable, show: Callable[[Any], str] = str) -> Parse:
    """One of ``options``, written in the URL as ``show(option)``."""
    table = {show(o): o for o in options}
    return table.get


def integer(low: int, high: int) -> Parse:
    """A whole number from ``low`` to ``high``."""
    def parse(text: str) -> int | None:
        value = int(text.strip())
        return value if low <= value <= high else None
    return parse


def number(low: float, high: float) -> Parse:
    """A finite number from ``low`` to ``high``."""
    def parse(text: str) -> float | None:
        value = float(text.strip())
        return value if math.isfinite(value) and low <= value <= high else None
    return parse


def flag(text: str) -> bool | None:
    """``1``/``0`` (also true/false, on/off, yes/no)."""
    word = text.strip().lower()
    return True if word in ("1", "true", "on", "yes") else False if word in ("0", "false", "off", "no") else None


def show_flag(value: bool) -> str:
    return "1" if value else "0"


def some_of(options: Iterable, show: Callable[[Any], str] = str, most: int = 64) -> Parse:
    """A comma-separated list of distinct ``options`` (at most ``most``); any unknown one spoils it."""
    table = {show(o): o for o in options}

    def parse(text: str) -> list | None:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or len(parts) > most or any(p not in table for p in parts):
            return None
        return [table[p] for p in dict.fromkeys(parts)]
    return parse


def show_list(values: Iterable, show: Callable[[Any], str] = str) -> str:
    return ",".join(show(v) for v in values)
