"""A live class: rooms a lecturer leads and students follow, and the class's answers, counted.

A room holds what the lecturer's screen shows (a page and the link parameters that carry its view:
the photo, the network, the layer, the step…), a version that grows with every change, the
question being asked and its counts. Followers poll the version, which is cheap, and redraw only
when it changed. Only the lecturer's session holds the room's lead token, so only it can change
what the room shows. Nothing about a person is kept: an answer adds one to a count, and a
one-way token per student session stops a second answer to the same question.

Two stores with one interface: ``MemoryRooms`` in this process (the default: one server, nothing
to install) and ``RedisRooms`` when the operator sets ``ALEXNET_VIZ_ROOMS=redis://host:port/db``,
so that a lecturer and students on different replicas share the room; Redis's publish/subscribe
carries each new version to every replica. This module imports no Streamlit: the pages use it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud or off a projector
CODE_LENGTH = 7  # 31**7 ≈ 2.8e10 codes, 34 bits: not guessable in a class's lifetime
IDLE_END_S = 4 * 3600.0  # a room ends this long after its lecturer was last seen
MAX_ROOMS = 100  # rooms open at once on one store: a visitor cannot fill the server with rooms
MAX_PARAMS = 40  # link parameters a view may carry, each bounded below
MAX_PARAM_CHARS = 200
MAX_QUESTION_CHARS = 300
MAX_OPTIONS = 6
MAX_OPTION_CHARS = 100
ANSWER_GAP_S = 1.0  # one answer a second from one student session, at most
_LOG = logging.getLogger("alexnet_viz.app")
CHANNEL = "alexnet_viz:rooms"  # Redis publish/subscribe: "<code> <version>" for every change


class RoomError(ValueError):
    """A room cannot do what was asked; the message is a sentence for the person who asked."""


@dataclass(frozen=True)
class Question:
    """A question to the class: its words, its choices and, for a quiz, the right one."""

    id: int
    text: str
    options: tuple[str, ...]
    answer: int | None = None  # the right option's index; None: an opinion, nothing to reveal
    kind: str = "choice"  # "choice" (typed by the lecturer), "quiz" (shapes), "lab" (a prediction)


@dataclass(frozen=True)
class RoomView:
    """What a follower needs to draw the lecturer's view, and the class's answers."""

    code: str
    version: int
    page: str | None  # the page's name as the links use it ("lesson", "attribution", …)
    params: tuple[tuple[str, str], ...]  # the view's link parameters, in order
    question: Question | None
    counts: tuple[int, ...]  # answers per option of ``question``
    revealed: bool
    photo: str | None  # the digest of the photo the lecturer shared with this room, if any


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(text: object) -> str:
    """A code as typed or read off a link: upper case, spaces and dashes dropped; or RoomError."""
    code = "".join(str(text or "").split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise RoomError(f"“{str(text)[:20]}” is not a class code: a code is {CODE_LENGTH} letters and digits, "
                        "as shown on the lecturer's screen.")
    return code


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_view(page: str, params: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not page or len(page) > 40:
        raise RoomError("A room shows one of the app's pages.")
    items = [(str(k), str(v)) for k, v in params.items()]
    if len(items) > MAX_PARAMS or any(len(k) > MAX_PARAM_CHARS or len(v) > MAX_PARAM_CHARS for k, v in items):
        raise RoomError("This view carries more than a room can share; share a simpler view.")
    return page, tuple(items)


def _check_question(text: str, options: list[str] | tuple[str, ...], answer: int | None) -> tuple[str, tuple[str, ...]]:
    text = " ".join(str(text).split())
    opts = tuple(" ".join(str(o).split()) for o in options if str(o).strip())
    if not text:
        raise RoomError("Type the question before asking it.")
    if len(text) > MAX_QUESTION_CHARS:
        raise RoomError(f"A question has at most {MAX_QUESTION_CHARS} characters; this one has {len(text)}.")
    if not 2 <= len(opts) <= MAX_OPTIONS:
        raise RoomError(f"Give between 2 and {MAX_OPTIONS} answers to choose from (this has {len(opts)}).")
    if any(len(o) > MAX_OPTION_CHARS for o in opts):
        raise RoomError(f"An answer has at most {MAX_OPTION_CHARS} characters.")
    if len(set(opts)) != len(opts):
        raise RoomError("Two of the answers are the same; make each one different.")
    if answer is not None and not 0 <= answer < len(opts):
        raise RoomError("The right answer must be one of the choices.")
    return text, opts


def _gone(code: str) -> RoomError:
    return RoomError(f"There is no class with the code {code}: it may have ended. Check the code on the "
                     "lecturer's screen, or explore on your own.")


class Rooms:
    """The interface both stores share (and the checks they share)."""

    def open(self) -> tuple[str, str]:
        """A new room: its code, and the lead token only the lecturer's session keeps."""
        raise NotImplementedError

    def view(self, code: str) -> RoomView:
        raise NotImplementedError

    def version(self, code: str) -> int | None:
        """The room's version, or None when it has ended: what a follower polls."""
        raise NotImplementedError

    def show(self, code: str, token: str, page: str, params: dict[str, str]) -> int:
        """The lecturer's view becomes the room's; returns the version (new only on a change)."""
        raise NotImplementedError

    def ask(self, code: str, token: str, text: str, options, answer: int | None = None,
            kind: str = "choice") -> Question:
        raise NotImplementedError

    def answer(self, code: str, question_id: int, option: int, voter: str) -> None:
        """One answer from one student session (``voter``: a random token of that session)."""
        raise NotImplementedError

    def reveal(self, code: str, token: str) -> None:
        raise NotImplementedError

    def share_photo(self, code: str, token: str, data: bytes | None, digest: str | None) -> None:
        """The lecturer's uploaded photo, for this room's followers only (gone with the room);
        ``None, None`` stops sharing it (the lecturer went back to a sample photo)."""
        raise NotImplementedError

    def photo(self, code: str) -> bytes | None:
        raise NotImplementedError

    def end(self, code: str, token: str) -> None:
        raise NotImplementedError


def _photo_bound() -> int:
    from alexnet_viz.images import MAX_BYTES

    return MAX_BYTES


def _check_photo(data: bytes | None, digest: str | None) -> None:
    if bool(digest) != (data is not None) or (digest and len(digest) > 128):
        raise RoomError("A shared photo comes with its digest; stopping sharing takes neither.")
    if data is not None and len(data) > _photo_bound():
        raise RoomError("This photo is larger than a room can share.")


@dataclass
class _Room:
    lead: str  # the lead token's digest
    seen: float  # when the lecturer was last heard from
    version: int = 1
    page: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    question: Question | None = None
    counts: list[int] = dataclasses.field(default_factory=list)
    voters: set[str] = dataclasses.field(default_factory=set)
    revealed: bool = False
    photo: str | None = None
    photo_bytes: bytes | None = None
    last_answer: dict[str, float] = dataclasses.field(default_factory=dict)


class MemoryRooms(Rooms):
    """Rooms in this process: for one server, which is every visitor's (the default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._rooms: dict[str, _Room] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, code: str) -> _Room:
        room = self._rooms.get(code)
        if room is None:
            raise _gone(code)
        if self._clock() - room.seen > IDLE_END_S:
            del self._rooms[code]
            raise _gone(code)
        return room

    def _led(self, code: str, token: str) -> _Room:
        room = self._live(code)
        if not hmac.compare_digest(room.lead, _digest(token or "")):
            raise RoomError("Only the lecturer who started this class can change what it shows.")
        room.seen = self._clock()
        return room

    def open(self) -> tuple[str, str]:
        with self._lock:
            now = self._clock()
            for code in [c for c, r in self._rooms.items() if now - r.seen > IDLE_END_S]:
                del self._rooms[code]
            if len(self._rooms) >= MAX_ROOMS:
                raise RoomError("This server has as many classes running as it allows; try again later.")
            code = new_code()
            while code in self._rooms:
                code = new_code()
            token = secrets.token_urlsafe(24)
            self._rooms[code] = _Room(_digest(token), now)
            return code, token

    def view(self, code: str) -> RoomView:
        with self._lock:
            r = self._live(code)
            return RoomView(code, r.version, r.page, r.params, r.question, tuple(r.counts), r.revealed, r.photo)

    def version(self, code: str) -> int | None:
        with self._lock:
            try:
                return self._live(code).version
            except RoomError:
                return None

    def show(self, code: str, token: str, page: str, params: dict[str, str]) -> int:
        page, items = _check_view(page, params)
        with self._lock:
            r = self._led(code, token)
            if (page, items) != (r.page, r.params):
                r.page, r.params, r.version = page, items, r.version + 1
            return r.version

    def ask(self, code, token, text, options, answer=None, kind="choice") -> Question:
        text, opts = _check_question(text, options, answer)
        with self._lock:
            r = self._led(code, token)
            q = Question((r.question.id + 1) if r.question else 1, text, opts, answer, kind)
            r.question, r.counts, r.voters, r.revealed = q, [0] * len(opts), set(), False
            r.version += 1
            return q

    def answer(self, code, question_id, option, voter) -> None:
        with self._lock:
            r = self._live(code)
            q = r.question
            if q is None or q.id != question_id:
                raise RoomError("That question is closed: the lecturer has moved on.")
            if r.revealed:
                raise RoomError("The answer has been revealed: this question takes no more answers.")
            if not 0 <= option < len(q.options):
                raise RoomError("Choose one of the answers shown.")
            now = self._clock()
            if now - r.last_answer.get(voter, -1e9) < ANSWER_GAP_S:
                raise RoomError("One answer at a time: wait a second and try again.")
            r.last_answer[voter] = now
            key = _digest(f"{q.id}:{voter}")
            if key in r.voters:
                raise RoomError("You have answered this question already; one answer each.")
            r.voters.add(key)
            r.counts[option] += 1
            r.version += 1

    def reveal(self, code, token) -> None:
        with self._lock:
            r = self._led(code, token)
            if r.question is None or r.question.answer is None:
                raise RoomError("This question has no right answer to reveal.")
            r.revealed, r.version = True, r.version + 1

    def share_photo(self, code, token, data, digest) -> None:
        _check_photo(data, digest)
        with self._lock:
            r = self._led(code, token)
            if r.photo != digest:
                r.photo, r.photo_bytes = digest, (bytes(data) if digest else None)
                r.version += 1

    def photo(self, code) -> bytes | None:
        with self._lock:
            try:
                return self._live(code).photo_bytes
            except RoomError:
                return None

    def end(self, code, token) -> None:
        with self._lock:
            self._led(code, token)
            del self._rooms[code]


class RedisRooms(Rooms):
    """Rooms in Redis, shared by every replica; each change is published on ``CHANNEL``.

    Keys (all expire ``IDLE_END_S`` after the lecturer was last heard from):
    ``room:<code>`` a hash (lead, version, page, params, question, revealed, photo),
    ``room:<code>:counts:<question>`` a hash option → count, ``room:<code>:voters:<question>`` the
    set of one-way voter tokens, ``room:<code>:photo`` the shared photo's bytes, and
    ``room:<code>:gap:<voter>`` a one-second marker that paces one session's answers.
    """

    def __init__(self, url: str):
        import redis

        self._r = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._versions: dict[str, int] = {}  # fed by publish/subscribe: polls cost no round trip
        self._listener = None
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise RoomError(f"The class store at {url} does not answer ({exc}); start Redis or unset "
                            "ALEXNET_VIZ_ROOMS.") from exc
        self._listen()

    # -- publish/subscribe: every replica learns each room's new version as it happens -----------
    def _listen(self) -> None:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)

        def on_message(message) -> None:
            code, _, version = message["data"].decode().partition(" ")
            if version == "0":
                self._versions.pop(code, None)
            else:
                self._versions[code] = int(version)

        def on_error(exc, _pubsub, _thread) -> None:
            # Redis went away: forget what we heard (polls read Redis again) and keep listening;
            # the client resubscribes when Redis is back.
            self._versions.clear()
            _LOG.warning("the class store stopped answering (%s); retrying", exc)
            time.sleep(1.0)

        pubsub.subscribe(**{CHANNEL: on_message})
        self._listener = pubsub.run_in_thread(sleep_time=1.0, daemon=True, exception_handler=on_error)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener.join(5)
            self._listener = None

    def _publish(self, code: str, version: int) -> None:
        self._versions[code] = version
        self._r.publish(CHANNEL, f"{code} {version}")

    def _keys(self, code: str) -> list[bytes]:
        return list(self._r.scan_iter(f"room:{code}*", count=100))

    def _hash(self, code: str) -> dict[str, str]:
        raw = self._r.hgetall(f"room:{code}")
        if not raw:
            raise _gone(code)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def _led(self, code: str, token: str) -> dict[str, str]:
        h = self._hash(code)
        if not hmac.compare_digest(h["lead"], _digest(token or "")):
            raise RoomError("Only the lecturer who started this class can change what it shows.")
        pipe = self._r.pipeline()
        for key in self._keys(code):
            pipe.expire(key, int(IDLE_END_S))
        pipe.execute()
        return h

    def _bump(self, code: str, **fields: str) -> int:
        pipe = self._r.pipeline()
        if fields:
            pipe.hset(f"room:{code}", mapping=fields)
        pipe.hincrby(f"room:{code}", "version", 1)
        version = int(pipe.execute()[-1])
        self._publish(code, version)
        return version

    def open(self) -> tuple[str, str]:
        if sum(1 for _ in self._r.scan_iter("room:???????", count=500)) >= MAX_ROOMS:
            raise RoomError("This server has as many classes running as it allows; try again later.")
        token = secrets.token_urlsafe(24)
        while True:
            code = new_code()
            if self._r.hsetnx(f"room:{code}", "lead", _digest(token)):
                break
        self._r.hset(f"room:{code}", mapping={"version": 1, "revealed": 0})
        self._r.expire(f"room:{code}", int(IDLE_END_S))
        self._publish(code, 1)
        return code, token

    def view(self, code: str) -> RoomView:
        h = self._hash(code)
        q = json.loads(h["question"]) if h.get("question") else None
        question = Question(q["id"], q["text"], tuple(q["options"]), q["answer"], q["kind"]) if q else None
        counts = ()
        if question is not None:
            raw = self._r.hgetall(f"room:{code}:counts:{question.id}")
            counts = tuple(int(raw.get(str(i).encode(), 0)) for i in range(len(question.options)))
        params = tuple((k, v) for k, v in json.loads(h.get("params", "[]")))
        return RoomView(code, int(h["version"]), h.get("page") or None, params, question, counts,
                        h.get("revealed") == "1", h.get("photo") or None)

    def version(self, code: str) -> int | None:
        if code in self._versions:
            return self._versions[code]
        raw = self._r.hget(f"room:{code}", "version")
        if raw is None:
            self._versions.pop(code, None)
            return None
        self._versions[code] = int(raw)
        return int(raw)

    def show(self, code, token, page, params) -> int:
        page, items = _check_view(page, params)
        h = self._led(code, token)
        if h.get("page") == page and json.loads(h.get("params", "[]")) == [list(p) for p in items]:
            return int(h["version"])
        return self._bump(code, page=page, params=json.dumps(items))

    def ask(self, code, token, text, options, answer=None, kind="choice") -> Question:
        text, opts = _check_question(text, options, answer)
        h = self._led(code, token)
        last = json.loads(h["question"])["id"] if h.get("question") else 0
        q = Question(last + 1, text, opts, answer, kind)
        self._bump(code, question=json.dumps(dataclasses.asdict(q)), revealed="0")
        return q

    def answer(self, code, question_id, option, voter) -> None:
        h = self._hash(code)
        q = json.loads(h["question"]) if h.get("question") else None
        if q is None or q["id"] != question_id:
            raise RoomError("That question is closed: the lecturer has moved on.")
        if h.get("revealed") == "1":
            raise RoomError("The answer has been revealed: this question takes no more answers.")
        if not 0 <= option < len(q["options"]):
            raise RoomError("Choose one of the answers shown.")
        gap = f"room:{code}:gap:{_digest(voter)[:16]}"
        if ANSWER_GAP_S > 0 and not self._r.set(gap, 1, px=max(1, int(ANSWER_GAP_S * 1000)), nx=True):
            raise RoomError("One answer at a time: wait a second and try again.")
        voters, counts = f"room:{code}:voters:{question_id}", f"room:{code}:counts:{question_id}"
        if not self._r.sadd(voters, _digest(f"{question_id}:{voter}")):
            raise RoomError("You have answered this question already; one answer each.")
        pipe = self._r.pipeline()
        pipe.hincrby(counts, str(option), 1)
        pipe.expire(voters, int(IDLE_END_S))
        pipe.expire(counts, int(IDLE_END_S))
        pipe.execute()
        self._bump(code)

    def reveal(self, code, token) -> None:
        h = self._led(code, token)
        q = json.loads(h["question"]) if h.get("question") else None
        if q is None or q["answer"] is None:
            raise RoomError("This question has no right answer to reveal.")
        self._bump(code, revealed="1")

    def share_photo(self, code, token, data, digest) -> None:
        _check_photo(data, digest)
        h = self._led(code, token)
        if (h.get("photo") or None) != digest:
            if digest:
                self._r.set(f"room:{code}:photo", bytes(data), ex=int(IDLE_END_S))
            else:
                self._r.delete(f"room:{code}:photo")
            self._bump(code, photo=digest or "")

    def photo(self, code) -> bytes | None:
        return self._r.get(f"room:{code}:photo")

    def end(self, code, token) -> None:
        self._led(code, token)
        keys = self._keys(code)
        if keys:
            self._r.delete(*keys)
        self._publish(code, 0)
        self._versions.pop(code, None)


_store: Rooms | None = None
_store_lock = threading.Lock()


def rooms() -> Rooms:
    """The server's one room store: Redis when ``ALEXNET_VIZ_ROOMS`` names it, else this process."""
    global _store
    with _store_lock:
        if _store is None:
            url = os.environ.get("ALEXNET_VIZ_ROOMS", "").strip()
            if url and not url.startswith(("redis://", "rediss://", "unix://")):
                raise RoomError(f"ALEXNET_VIZ_ROOMS={url!r} is not a Redis address (redis://host:port/db); "
                                "unset it to keep rooms in this server.")
            _store = RedisRooms(url) if url else MemoryRooms()
        return _store


def join_url(base: str, code: str) -> str:
    """The link a student opens to follow room ``code`` (``base``: the server's address)."""
    return f"{base.rstrip('/')}/?join={code}"


def qr_svg(text: str, scale: int = 10) -> str:
    """``text`` as a QR code, an SVG document (segno: a maintained QR library), black on white."""
    import segno

    import io

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=scale, border=2, dark="#000", light="#fff",
                                     xmldecl=False, svgns=True, title="QR code of the class link")
    return out.getvalue().decode()
