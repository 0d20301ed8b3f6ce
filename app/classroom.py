"""A live class in the app: the lecturer leads a room, students follow it and answer its questions.

* The lecturer, in presentation mode, presses "Start a class" in the sidebar: the room's code, its
  join link and a QR code of it are shown (large, on demand, for the projector). After every run
  of the lecturer's page, the page and its link parameters — the whole view, as a copied link
  carries it — become the room's view. Only this session holds the room's lead token.
* A student opens ``?join=CODE``. Followers are woken, not polling: one thread per server
  (``_watch_forever``) looks at the versions of the rooms that have followers here every
  ``WATCH_S`` seconds (a dictionary read: Redis's publish/subscribe keeps it current) and, when
  what a follower shows has changed (the view, the photo, the question, the reveal — not the
  counts), asks that session for a run, as Streamlit does for a changed source file. An idle
  follower costs the server nothing. Where that thread cannot run (Streamlit's internals moved;
  AppTest), a follower polls instead with a 1 s fragment. "Explore on my own" stops following;
  "Back to the lecturer" rejoins at the lecturer's current view.
* A question pushed by the lecturer shows on every follower's screen under the banner; the
  projector shows the live count and the histogram, and "Reveal" the right answer everywhere.

The rooms themselves (codes, tokens, counts, expiry, Redis) are ``rooms.py``'s.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time

import streamlit as st

import presentation
import rooms as R

LEAD = "_class_lead"  # the lecturer's session: (code, lead token)
FOLLOW = "_class_follow"  # a student's session: the code it follows
ALONE = "_class_alone"  # a student exploring on their own (still in the class)
SEEN = "_class_seen"  # the room version this follower last read
APPLIED = "_class_applied"  # the (page, params) this follower's page was last sent to
ROOM_VIEW = "_class_view"  # the room as this follower last read it (the question)
PHOTO = "_class_photo_taken"  # (the room's photo digest, the digest this follower's copy decoded to)
ENDED = "_class_ended"  # the class this follower followed has just ended: say so once
VOTER = "_class_voter"  # a random token of this session: one answer per question, nothing else
JOIN = "join"
COUNT_COLOUR = "#595959"  # neutral: blue and vermillion mean the two GPU towers everywhere
POLL_S = 1.0  # the fallback poll, and the lecturer's counts while a question is open
WATCH_S = 0.2  # how often the server looks for rooms whose followers need a run
_LOG = logging.getLogger("alexnet_viz.app")
PRIVATE = (JOIN, presentation.PARAM)  # the lecturer's own switch and the join link are not the class's


def _store() -> R.Rooms | None:
    try:
        return R.rooms()
    except R.RoomError as exc:  # the operator's store is misconfigured or down: say so, nothing more
        st.sidebar.warning(f"Live classes are not available on this server: {exc}")
        return None


def page_key(page) -> str:
    return page.url_path or "/"


def _view_params() -> dict[str, str]:
    return {k: v for k, v in st.query_params.to_dict().items() if k not in PRIVATE}


def arrive(page, pages) -> None:
    """Before the sidebar: take a ``?join=`` link, and send a follower to the lecturer's view."""
    ss = st.session_state
    code_text = st.query_params.get(JOIN)
    if code_text is not None:
        del st.query_params[JOIN]
        try:
            code = R.clean_code(code_text)
            store = _store()
            if store is not None:
                store.view(code)  # a wrong or ended code is told here
                ss[FOLLOW], ss[ALONE] = code, False
                ss.pop(SEEN, None), ss.pop(APPLIED, None)
        except R.RoomError as exc:
            st.error(str(exc), icon=":material/group_off:")
    if ss.get(FOLLOW) and not ss.get(ALONE):
        _go_to_lecturer(page, pages)


def _go_to_lecturer(page, pages) -> None:
    ss = st.session_state
    store = _store()
    if store is None:
        return
    try:
        view = store.view(ss[FOLLOW])
    except R.RoomError as exc:
        ss.pop(FOLLOW, None)
        st.info(f"{exc}", icon=":material/group_off:")
        return
    ss[SEEN], ss[ROOM_VIEW] = view.version, view
    _take_photo(store, view)
    target = (view.page, view.params)
    if view.page is None or ss.get(APPLIED) == target:
        return
    ss[APPLIED] = target
    here = (page_key(page), tuple(_view_params().items()))
    by_key = {page_key(p): p for p in pages}
    if here != target and view.page in by_key:
        st.switch_page(by_key[view.page], query_params=dict(view.params))


def _take_photo(store: R.Rooms, view: R.RoomView) -> None:
    """The photo the lecturer uploaded becomes this follower's image (its bytes from the room)."""
    if not _photo_differs(view):
        return
    data = store.photo(view.code)
    if data is not None:
        import sidebar

        # remembered with the digest it decoded to: even a photo that decodes to other pixels
        # here is taken once, not on every poll
        st.session_state[PHOTO] = (view.photo, sidebar.use_shared_photo(data))


def _photo_differs(view: R.RoomView) -> bool:
    """Whether the room shares a photo this follower's page does not show."""
    image = st.session_state.get("image")
    here = image.digest if image is not None else None
    return bool(view.photo) and here != view.photo and st.session_state.get(PHOTO) != (view.photo, here)


def follow_banner() -> None:
    """At the top of a follower's page: the banner, the question, and the poll for changes.

    The banner is drawn by the page's own run; the poll (a fragment, every ``POLL_S``) draws
    nothing but an open question, so an idle follower's poll is a version read and no drawing."""
    ss = st.session_state
    if ss.pop(ENDED, False):
        st.info("The class has ended: you can go on exploring on your own.", icon=":material/group_off:")
    if not ss.get(FOLLOW):
        return
    if ss.get(ALONE):
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.caption(f"You are exploring on your own (class {ss[FOLLOW]}).")
        right.button("Back to the lecturer", key="class_back", on_click=_rejoin, icon=":material/group:")
        return
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.markdown(f":material/group: **Following the lecturer** · class {ss[FOLLOW]}")
    right.button("Explore on my own", key="class_alone", on_click=_alone)
    view = ss.get(ROOM_VIEW)
    if view is not None and _watch(ss[FOLLOW], _signature(view)):
        st.fragment(_question_panel)()  # reruns on its own only when the student answers
    else:
        _follower_panel()  # no server-side wake-up here: poll


def _question_panel() -> None:
    ss = st.session_state
    store = _store()
    if store is not None and ss.get(FOLLOW):
        _question_for_student(store, ss[FOLLOW], ss.get(ROOM_VIEW))


def _rejoin() -> None:
    st.session_state[ALONE] = False
    st.session_state.pop(APPLIED, None)


def _alone() -> None:
    st.session_state[ALONE] = True
    _unwatch()


@st.fragment(run_every=POLL_S)
def _follower_panel() -> None:
    ss = st.session_state
    store = _store()
    code = ss.get(FOLLOW)
    if store is None or code is None or ss.get(ALONE):
        return
    version = store.version(code)
    if version is None:
        ss.pop(FOLLOW, None)
        ss[ENDED] = True
        st.rerun(scope="app")  # the banner goes, the sentence comes
    if version != ss.get(SEEN):
        try:
            view = store.view(code)
        except R.RoomError:
            return
        ss[SEEN], ss[ROOM_VIEW] = version, view
        if (view.page, view.params) != ss.get(APPLIED) or _photo_differs(view):
            st.rerun(scope="app")  # the lecturer's view changed: the whole page follows
    _question_for_student(store, code, ss.get(ROOM_VIEW))


def _question_for_student(store: R.Rooms, code: str, view: R.RoomView | None) -> None:
    q = view.question if view else None
    if q is None:
        return
    ss = st.session_state
    voter = ss.setdefault(VOTER, secrets.token_urlsafe(16))
    answered = ss.get(f"_class_answered_{code}_{q.id}")
    with st.container(border=True):
        st.markdown(f"**Question:** {q.text}")
        if view.revealed and q.answer is not None:
            mine = "" if answered is None else (" — you got it right." if answered == q.answer
                                                else f" — you answered “{q.options[answered]}”.")
            st.success(f"The answer: **{q.options[q.answer]}**{mine}")
            return
        if answered is not None:
            st.caption(f"Your answer: “{q.options[answered]}”. Wait for the lecturer to reveal it.")
            return
        choice = st.radio("Your answer", range(len(q.options)), format_func=lambda i: q.options[i],
                          index=None, key=f"class_choice_{q.id}")
        if st.button("Answer", key=f"class_answer_{q.id}", disabled=choice is None, type="primary"):
            try:
                store.answer(code, q.id, choice, voter)
                ss[f"_class_answered_{code}_{q.id}"] = choice
                st.rerun(scope="fragment")  # both callers draw this inside a fragment
            except R.RoomError as exc:
                st.warning(str(exc))


# -- the lecturer ---------------------------------------------------------------------------------
def lecturer_controls() -> None:
    """In the sidebar, in presentation mode: start a class, or run the one this session leads."""
    ss = st.session_state
    lead = ss.get(LEAD)
    if lead is None:
        if presentation.presenting() and not ss.get(FOLLOW):
            st.sidebar.button("Start a class", key="class_start", on_click=_start, icon=":material/groups:",
                              help="Students open a link (or scan a QR code) and their screens follow yours.")
        return
    code, _token = lead
    box = st.sidebar.container(border=True)
    box.markdown(f"**Class {code}**")
    box.button("Show the join code", key="class_show", on_click=_show_join, width="stretch")
    with box.expander("Ask the class"):
        st.text_input("Question", key="class_q_text", max_chars=R.MAX_QUESTION_CHARS)
        st.text_area("Answers, one per line", key="class_q_options", height=100)
        st.number_input("The right answer's line (0: none, an opinion)", 0, R.MAX_OPTIONS, 0, key="class_q_right")
        st.button("Ask", key="class_ask", on_click=_ask, type="primary")
    with box:
        view = _lecturer_view()
        open_question = view is not None and view.question is not None and not view.revealed
        # the counts move only while a question is open: only then poll for them
        st.fragment(_lecturer_counts, run_every=POLL_S if open_question else None)()
    box.button("End the class", key="class_end", on_click=_end, width="stretch")


def _start() -> None:
    store = R.rooms()
    st.session_state[LEAD] = store.open()
    st.session_state["_class_show_join"] = True


def _end() -> None:
    code, token = st.session_state.pop(LEAD)
    try:
        R.rooms().end(code, token)
    except R.RoomError:
        pass  # already over (expired): nothing left to close


def _ask() -> None:
    ss = st.session_state
    code, token = ss[LEAD]
    options = [line for line in str(ss.get("class_q_options", "")).splitlines() if line.strip()]
    right = int(ss.get("class_q_right") or 0)
    try:
        R.rooms().ask(code, token, ss.get("class_q_text", ""), options, right - 1 if right else None)
        ss["_class_ask_error"] = None
    except R.RoomError as exc:
        ss["_class_ask_error"] = str(exc)


def _show_join() -> None:
    st.session_state["_class_show_join"] = True


def _lecturer_view() -> R.RoomView | None:
    lead = st.session_state.get(LEAD)
    try:
        return R.rooms().view(lead[0]) if lead else None
    except R.RoomError:
        return None


def _lecturer_counts() -> None:
    ss = st.session_state
    if ss.get("_class_ask_error"):
        st.warning(ss["_class_ask_error"])
    lead = ss.get(LEAD)
    if lead is None:
        return
    try:
        view = R.rooms().view(lead[0])
    except R.RoomError as exc:
        ss.pop(LEAD, None)
        st.info(str(exc))
        return
    q = view.question
    if q is None:
        st.caption("No question asked yet.")
        return
    total = sum(view.counts)
    st.markdown(f"**{q.text}** — {total} answer{'s' if total != 1 else ''}")
    st.bar_chart({"answers": {o: c for o, c in zip(q.options, view.counts)}}, horizontal=True,
                 height=60 + 30 * len(q.options), color=COUNT_COLOUR)
    if q.answer is not None and not view.revealed:
        if st.button("Reveal", key=f"class_reveal_{q.id}"):
            R.rooms().reveal(*lead)
            st.rerun(scope="app")  # the counts stop moving: the sidebar stops polling for them
    elif view.revealed:
        st.caption(f"Revealed: {q.options[q.answer]}")


def app_root(url: str | None, page) -> str:
    """The app's own address from this page's (``st.context.url``): the page's path taken off."""
    base = (url or "").split("?")[0].split("#")[0].rstrip("/")
    if page.url_path and base.endswith("/" + page.url_path):
        base = base[: -len(page.url_path) - 1]
    return base


@st.dialog("Join the class", width="large")
def _join_dialog(code: str, base: str) -> None:
    link = R.join_url(base, code)
    left, right = st.columns([1, 1], vertical_alignment="center")
    left.markdown(f"## {code}")
    left.markdown(f"Open **{link}** or scan the code.")
    right.image(R.qr_svg(link, scale=12), width="stretch", alt=f"QR code of the class link {link}")


def publish(page) -> None:
    """After the lecturer's page ran: its view becomes the room's (a no-op when nothing changed)."""
    ss = st.session_state
    lead = ss.get(LEAD)
    if lead is None:
        return
    if ss.pop("_class_show_join", False):
        _join_dialog(lead[0], app_root(st.context.url, page))
    try:
        R.rooms().show(lead[0], lead[1], page_key(page), _view_params())
        _share_photo(lead)
    except R.RoomError as exc:
        ss.pop(LEAD, None)
        st.sidebar.info(str(exc))


def _share_photo(lead: tuple[str, str]) -> None:
    """The lecturer's own upload goes to the room (a sample travels by name, in the link)."""
    ss = st.session_state
    image = ss.get("image")
    digest = image.digest if image is not None and image.credit is None else None
    if ss.get("_class_photo") == (lead[0], digest):
        return  # shared already: no PNG to make on every run
    data = None
    if digest is not None:
        import io

        out = io.BytesIO()
        image.image.save(out, format="PNG", compress_level=1)  # lossless: the same pixels, the same digest
        data = out.getvalue()
    R.rooms().share_photo(lead[0], lead[1], data, digest)
    ss["_class_photo"] = (lead[0], digest)


# -- questions from the pages ---------------------------------------------------------------------
def leading() -> bool:
    """Whether this session leads a class (a page then offers "Ask the class" for its question)."""
    return st.session_state.get(LEAD) is not None


def ask_button(kind: str, text: str, options: list[str], answer: int | None, help: str | None = None) -> None:
    """A page's own question, with its right answer, pushed to the room in one click (lecturer only)."""
    if not leading():
        return
    # a callback: it runs before the sidebar draws, which then polls for the new question's counts
    st.button("Ask the class", key=f"class_ask_{kind}", icon=":material/how_to_vote:",
              on_click=_ask_from_page, args=(kind, text, list(options), answer),
              help=help or "Every student's screen shows this question; the sidebar counts the answers.")


def _ask_from_page(kind: str, text: str, options: list[str], answer: int | None) -> None:
    ss = st.session_state
    code, token = ss[LEAD]
    try:
        R.rooms().ask(code, token, text, options, answer, kind)
        ss["_class_ask_error"] = None
    except R.RoomError as exc:
        ss["_class_ask_error"] = str(exc)


def quiz_options(question, seed: int, n: int = 4) -> tuple[list[str], int]:
    """A shape-quiz question as multiple choice: the right answer among other layers' answers
    of the same kind (the same network and size), in an order fixed by ``seed``."""
    import random

    from alexnet_viz import quiz

    right = question.answer_text
    wrong = []
    for s in range(seed + 1, seed + 200):  # other layers' questions: plausible, and all true somewhere
        other = quiz.make_question(question.model, question.size, seed=s)
        if other.kind == question.kind and other.answer_text != right and other.answer_text not in wrong:
            wrong.append(other.answer_text)
        if len(wrong) == n - 1:
            break
    options = [right, *wrong]
    random.Random(seed).shuffle(options)
    return options, options.index(right)


# -- waking followers: one thread per server, no timer in any follower's page ----------------------
def _signature(view: R.RoomView) -> tuple:
    """What a follower's page shows of the room: a change here needs a run; new counts do not."""
    q = view.question
    return (view.page, view.params, view.photo, q.id if q else None, view.revealed)


_followers: dict[str, dict[str, tuple]] = {}  # room code -> {session id: signature its page shows}
_followers_lock = threading.Lock()
_watcher: threading.Thread | None = None
_watcher_failed = False


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _watch(code: str, signature: tuple) -> bool:
    """Register this session as following ``code`` and showing ``signature``; whether the server
    will wake it on a change (False: the page must poll)."""
    if not _start_watcher():
        return False
    sid = _session_id()
    if sid is None:
        return False
    with _followers_lock:
        for sessions in _followers.values():
            sessions.pop(sid, None)
        _followers.setdefault(code, {})[sid] = signature
    return True


def _unwatch() -> None:
    sid = _session_id()
    with _followers_lock:
        for sessions in _followers.values():
            sessions.pop(sid, None)


def _start_watcher() -> bool:
    global _watcher
    if _watcher_failed:
        return False
    with _followers_lock:
        if _watcher is not None and _watcher.is_alive():
            return True
        from streamlit import runtime

        if not runtime.exists():
            return False
        rt = runtime.get_instance()
        if getattr(rt, "_session_mgr", None) is None:  # AppTest's stand-in runtime has no sessions
            return False
        _watcher = threading.Thread(target=_watch_forever, args=(rt,), name="alexnet-viz-class-watcher",
                                    daemon=True)
        _watcher.start()
        return True


def _watch_forever(rt) -> None:
    global _watcher_failed
    try:
        manager = rt._session_mgr
        loop = rt._get_async_objs().eventloop
        seen: dict[str, int | None] = {}
        while True:
            time.sleep(WATCH_S)
            _watch_once(manager, loop, R.rooms(), seen)
    except Exception:  # Streamlit's internals moved, or the store broke: followers poll instead
        _watcher_failed = True
        _LOG.warning("The class watcher stopped; followers now poll once a second.", exc_info=True)


def _watch_once(manager, loop, store: R.Rooms, seen: dict[str, int | None]) -> list[str]:
    """Wake the followers whose room changed what they show; returns the session ids woken.

    ``seen`` holds each room's version at the last look, so an unchanged room costs one
    version read. A room that ended wakes all its followers (their page says so) and is dropped;
    sessions that closed are forgotten."""
    live = {info.session.id for info in manager.list_sessions()}
    with _followers_lock:
        rooms = {code: dict(sessions) for code, sessions in _followers.items() if sessions}
    waking: list[str] = []
    for code, sessions in rooms.items():
        version = store.version(code)
        if code in seen and seen[code] == version:
            continue
        seen[code] = version
        try:
            signature = _signature(store.view(code)) if version is not None else None
        except R.RoomError:
            signature = None
        due = [sid for sid, shown in sessions.items() if sid in live and (signature is None or shown != signature)]
        away = [sid for sid in due if manager.get_active_session_info(sid) is None]
        if away and signature is not None:  # a tab that lost its connection is woken when it is back
            seen.pop(code, None)
            due = [sid for sid in due if sid not in away]
        with _followers_lock:
            current = _followers.get(code, {})
            for sid in list(current):
                if sid not in live or signature is None:
                    current.pop(sid, None)
                elif sid in due:
                    current[sid] = signature  # asked once; its run registers what it drew
            if not current:
                _followers.pop(code, None)
                seen.pop(code, None)
        waking += due

    def wake(ids=tuple(waking)) -> None:
        for sid in ids:
            info = manager.get_active_session_info(sid)
            if info is not None:  # connected: run with the state it last sent, as on a saved file
                info.session.request_rerun(getattr(info.session, "_client_state", None))

    if waking:
        loop.call_soon_threadsafe(wake)
    return waking
