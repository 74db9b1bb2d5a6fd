"""Property-based fuzzing of the live room: a joined guest throws random events and payloads at a
live server. It stays up, every event gets an error ack, and no other client receives anything.

Hypothesis does not run coroutines, so the property runs in a worker thread and hands each call
to the test's event loop (which keeps serving the app and both clients meanwhile). Each example
is a short batch of (event, arguments); a failure is shrunk and reported as usual (an event
left without an ack costs its 5 s timeout per shrinking step: Hypothesis stops after 5 minutes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from pydantic import BaseModel, ValidationError

from core.db import MAX_ID
from live.room import rules
from tests.conftest import ClientFactory
from tests.room import Room, Viewer, until

# The room's events and their payload schemas, as live/room/socket.py registers them.
SCHEMAS: dict[str, type[BaseModel]] = {
    "join": rules.Join,
    "chat": rules.Chat,
    "ask": rules.Ask,
    "vote": rules.Vote,
    "react": rules.React,
    "pin": rules.Pin,
    "unpin": rules.Unpin,
    "question.close": rules.CloseQuestion,
    "chat.delete": rules.DeleteMessage,
    "user.timeout": rules.Timeout,
    "user.ban": rules.Ban,
    "announce": rules.Announce,
    "slow_mode": rules.SlowMode,
    "blocked_words": rules.BlockedWords,
    "show.start": rules.Empty,
    "show.end": rules.Empty,
}
# Names python-socketio would dispatch to the server's own handlers: unknown events to a client.
RESERVED = ["connect", "disconnect", "connect_error", "*", "message"]
# `leave` takes no payload: whatever it is sent, it leaves (legitimately), so it is not fuzzed.
NOT_FUZZED = {"leave"}

MAX_PAYLOAD = 8000  # bytes of JSON, well under the frame limit that disconnects a sender
EXAMPLES = 200  # batches of 1..4 events: a few hundred events per backend

# Payloads.

EDGE_INTS = [
    *(-1, 0, 1, 2, 49, 50, 51, 3600, 3601, 7 * 24 * 60, 7 * 24 * 60 + 1),
    *(10**6, 10**6 + 1, 10**12, 10**12 + 1, 2**31, 2**32, 2**53, 2**53 + 1),
    *(MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 10**300),
]
EDGE_TEXTS = [
    *("", " ", "\n\t", "hi", "  hi  ", "x" * 301, "x" * 501, "a\x00b", "bell\x07"),
    *("a\rb", "\u200b", "<script>alert(1)</script>", "\uff33\uff23\uff21\uff2d", "नमस्ते", "😀" * 3),
    *("1", "true", "null", "{}", "answered", "g:abc", "a:1", "two words"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**256), max_value=2**256),
    st.sampled_from(EDGE_INTS),
    st.floats(),  # NaN and infinities too: Python clients send them
    st.text(max_size=40),
    st.sampled_from(EDGE_TEXTS),
    st.binary(max_size=16),  # binary attachments
)
FIELD_NAMES = sorted({name for schema in SCHEMAS.values() for name in schema.model_fields})
keys = st.one_of(st.sampled_from([*FIELD_NAMES, "deal", "extra"]), st.text(max_size=12))
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)

ints_ish = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.integers(),
    st.integers().map(str),
    st.booleans(),
    st.floats(),
    st.none(),
    junk,
)
texts_ish = st.one_of(st.sampled_from(EDGE_TEXTS), st.text(max_size=60), ints_ish)


def near_valid(schema: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with the schema's keys (each maybe missing) and likely wrong values."""
    values: dict[str, st.SearchStrategy[Any]] = {}
    for field in schema.model_fields:
        if field in ("text", "subject", "status"):
            values[field] = texts_ish
        elif field == "words":
            values[field] = st.one_of(
                st.lists(texts_ish, max_size=5), st.just(["w"] * 501), texts_ish
            )
        elif field == "deal":
            values[field] = st.one_of(st.none(), near_valid(rules.Deal), junk)
        else:
            values[field] = ints_ish
    if not values:  # Empty: anything but {} is wrong
        return st.dictionaries(keys, junk, min_size=1, max_size=3)
    return st.fixed_dictionaries({}, optional={**values, "extra": junk})


def arguments(schema: type[BaseModel] | None) -> st.SearchStrategy[tuple[Any, ...]]:
    """The event's arguments: usually one payload, sometimes none or several."""
    one = junk if schema is None else st.one_of(near_valid(schema), near_valid(schema), junk)
    return st.one_of(
        st.tuples(one),
        st.tuples(one),
        st.just(()),
        st.lists(one, min_size=2, max_size=3).map(tuple),
    )


event_names = st.one_of(
    st.sampled_from(sorted(SCHEMAS)),
    st.sampled_from(sorted(SCHEMAS)),
    st.sampled_from(RESERVED),
    st.text(max_size=30).filter(lambda name: name not in NOT_FUZZED),
)
cases = event_names.flatmap(lambda name: st.tuples(st.just(name), arguments(SCHEMAS.get(name))))


# Always tried first: every event with each kind of wrong arguments, and a few classics.
Batch = list[tuple[str, tuple[Any, ...]]]
EXPLICIT: list[Batch] = [
    [(name, ({"extra": 1},)) for name in SCHEMAS],
    [(name, ()) for name, schema in SCHEMAS.items() if schema is not rules.Empty],
    [(name, ({}, {})) for name in SCHEMAS],
    [(name, (None,)) for name in SCHEMAS],
    [(name, args) for name in RESERVED for args in [(), ({},), ({}, {"token": "x"})]],
    [
        ("join", ({"show_id": "1"},)),
        ("join", ({"show_id": True},)),
        ("join", ({"show_id": 1.0},)),
        ("join", ({"show_id": MAX_ID + 1},)),
        ("join", ({"show_id": 1, "since": -1},)),
        ("chat", ({"text": 10**300},)),
        ("chat", ({"text": "x" * 501},)),
        ("chat", ({"text": "a\x00b"},)),
        ("chat", ({"text": b"hi"},)),
        ("react", ({"count": float("nan")},)),
        ("react", ({"count": 51},)),
        ("pin", ({"product_id": 1, "deal": {"price": -1}},)),
        ("blocked_words", ({"words": ["two words"]},)),
        ("nonsense", ()),
        ("", (None,)),
        ("frame", ({"seq": 1, "events": []},)),
    ],
]


def accepted(event: str, args: tuple[Any, ...]) -> bool:
    """Whether the server would take this call as valid (it may then legitimately broadcast)."""
    schema = SCHEMAS.get(event)
    if schema is None:
        return False
    if not args:
        return schema is rules.Empty  # socket.py reads no payload as {} for these
    if len(args) != 1:
        return False
    try:
        schema.model_validate(args[0])
    except ValidationError:
        return False
    return True


def size(args: tuple[Any, ...]) -> int:
    return len(json.dumps(args, default=lambda b: "x" * len(b)))


# The room.


@pytest.fixture
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis caches what it learns on disk: keep that out of the working tree."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
async def quiet(client: TestClient[Any, Any]) -> AsyncIterator[tuple[Room, Viewer, Viewer]]:
    """A room with a joined observer and a joined guest attacker, once the viewer count (the
    only frame their joining causes) has been broadcast: from then on the room is silent."""
    room = Room(client)
    try:
        await room.setup(products=1)
        observer = await room.joined("Observer")
        attacker = await room.joined("Attacker")
        await until(
            lambda: any(e["viewers"] == 2 for e in observer.events("stats")),
            within=6,
            what="the viewer count",
        )
        await asyncio.sleep(0.2)
        observer.frames.clear()
        yield room, observer, attacker
    finally:
        await room.close()


@pytest.mark.usefixtures("hypothesis_home")
async def test_random_events_get_error_acks_and_reach_nobody(
    client: TestClient[Any, Any], quiet: tuple[Room, Viewer, Viewer]
) -> None:
    _, observer, attacker = quiet
    loop = asyncio.get_running_loop()
    sent: list[str] = []

    def call(event: str, args: tuple[Any, ...]) -> Any:
        # A tuple is sent as that many arguments; () as none.
        coro = attacker.sio.call(event, args, timeout=5)
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=10)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )
    @given(st.lists(cases, min_size=1, max_size=4))
    def throw(batch: Batch) -> None:
        assert attacker.sio.connected, "the attacker was disconnected earlier"
        for event, args in batch:
            if accepted(event, args) or size(args) > MAX_PAYLOAD:
                continue
            answer = call(event, args)
            assert isinstance(answer, dict), answer
            assert answer.get("ok") is False, answer
            error = answer["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
            assert error["message"]
            assert error["code"] == ("validation_error" if event in SCHEMAS else "unknown_event")
            assert attacker.sio.connected
            sent.append(event)

    for batch in EXPLICIT:
        throw = example(batch)(throw)
    await asyncio.to_thread(throw)

    assert len(sent) >= EXAMPLES, f"only {len(sent)} events were sent"
    assert set(SCHEMAS) <= set(sent), set(SCHEMAS) - set(sent)
    # The server is up, and the attacker is still connected and in its seat.
    assert attacker.sio.connected
    await attacker.refused("vote", {"question_id": 1}, "not_found")
    resp = await client.get("/healthz")
    assert resp.status == 200
    # Nobody else heard a thing...
    await asyncio.sleep(0.5)
    assert observer.frames == []
    # ...though the observer is listening.
    await attacker.ok("chat", {"text": "still here"})
    assert (await observer.wait_event("chat"))[0]["message"]["text"] == "still here"


# Names python-socketio reserves for its own handlers.


async def test_reserved_event_names_are_unknown_events(
    quiet: tuple[Room, Viewer, Viewer],
) -> None:
    room, observer, attacker = quiet
    token = await room.guest_token("Someone else")
    for event in RESERVED:
        for args in [(), ({},), ({}, {"token": token}), ({"x": 1}, "reason")]:
            answer = await attacker.sio.call(event, args, timeout=5)
            assert isinstance(answer, dict), (event, args, answer)
            assert answer["ok"] is False, (event, args, answer)
            assert answer["error"]["code"] == "unknown_event", (event, args, answer)
    # Still connected and in its seat; the viewer count did not move; still itself.
    assert attacker.sio.connected
    await attacker.refused("vote", {"question_id": 1}, "not_found")
    await asyncio.sleep(1.5)  # past a presence report
    assert observer.frames == []
    you = (await attacker.ok("join", {"show_id": room.show_id}))["snapshot"]["you"]
    assert you["name"] == "Attacker"


async def test_a_disconnect_event_does_not_free_a_connection_place(
    make_client: ClientFactory,
) -> None:
    room = await Room(await make_client(sockets_per_ip=2)).setup(products=1)
    try:
        await room.viewer()
        second = await room.viewer()
        answer = await second.call("disconnect", {})
        assert answer["ok"] is False and answer["error"]["code"] == "unknown_event"
        assert second.sio.connected
        with pytest.raises(socketio.exceptions.ConnectionError):
            await room.viewer()
    finally:
        await room.close()
