"""Per-node coalescing of a room's high-rate traffic and the node's share of presence.

Chat lines, new questions, vote counts and heart counts accepted on this node wait at most one
tick (ROOM_TICK_MS, 100 ms by default) and leave as one frame per show per tick: one Redis
script call (all shows of the tick in one pipeline), one pub/sub message, one packet per viewer.
Counts (votes, hearts) are absolute values read in Redis when the frame is published, so a
frame never carries an older count than the one before it, whichever node sent either.
Staff actions do not wait here: their scripts publish at once.

Presence: every second the node writes how many viewers it holds per show; whichever node wins
that second's lock sums the live entries and broadcasts the numbers if they changed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core.tasks import cancel
from live.room.archive import Archive, from_ms
from live.room.store import RoomStore, dumps

log = logging.getLogger(__name__)

MAX_PURCHASES_PER_FRAME = 3
# A frame that cannot be published is retried for this long before its chat counts as dropped.
RETRY_SECONDS = 30.0
# Events (chat, questions) a show may have waiting while its frames cannot be published.
MAX_WAITING = 1000


@dataclass
class _Pending:
    events: list[str] = field(default_factory=list)
    chat: list[str] = field(default_factory=list)
    votes: set[int] = field(default_factory=set)
    hearts: bool = False
    units: set[int] = field(default_factory=set)
    purchases: list[dict[str, Any]] = field(default_factory=list)
    more_purchases: int = 0

    def encoded_events(self) -> list[str]:
        if not self.purchases:
            return self.events
        purchases = {"type": "purchases", "items": self.purchases, "more": self.more_purchases}
        return [*self.events, dumps(purchases)]

    def frame(self, number: int) -> _Frame:
        return _Frame(
            number,
            self.chat,
            self.encoded_events(),
            self.hearts,
            sorted(self.votes),
            sorted(self.units),
        )


@dataclass
class _Frame:
    """One show's coalesced frame, numbered on this node so that a retry applies it once."""

    number: int
    chat: list[str]
    events: list[str]
    hearts: bool
    votes: list[int]
    units: list[int]
    failed_at: float | None = None  # when its first attempt failed (monotonic)


class Coalescer:
    """A frame whose publish failed (Redis unreachable, a script error) is retried every tick,
    with its number, until it is published or `retry_seconds` passed; only then are its chat
    messages, already acknowledged with their ids, counted as dropped. While a show has a frame
    waiting for its retry, newer traffic waits behind it (at most MAX_WAITING events; past that
    chat and questions are refused with `busy`), so a show's frames keep their order."""

    def __init__(
        self,
        store: RoomStore,
        archive: Archive,
        tick_ms: int,
        node: str = "",
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._store = store
        self._archive = archive
        self._tick = tick_ms / 1000
        self._node = node
        self._retry_seconds = retry_seconds
        self._pending: dict[int, _Pending] = {}
        self._retry: dict[int, _Frame] = {}
        self._numbers = itertools.count(1)
        # One flush at a time: a show's frames leave in their numbers' order.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.frames_published = 0
        self.flush_failures = 0  # frame publishes that failed (each attempt)
        self.chat_dropped = 0  # acknowledged chat messages given up after `retry_seconds`

    @property
    def frames_waiting(self) -> int:
        """Frames waiting for a retry."""
        return len(self._retry)

    def _for(self, show_id: int) -> _Pending:
        pending = self._pending.get(show_id)
        if pending is None:
            pending = self._pending[show_id] = _Pending()
        return pending

    def accepting(self, show_id: int) -> bool:
        """False while a show's frames cannot be published and its backlog is full."""
        waiting = self._retry.get(show_id)
        pending = self._pending.get(show_id)
        count = (len(waiting.events) if waiting else 0) + (len(pending.events) if pending else 0)
        return count < MAX_WAITING

    def chat(self, show_id: int, message: dict[str, Any]) -> None:
        raw = dumps(message)
        pending = self._for(show_id)
        pending.events.append('{"type":"chat","message":' + raw + "}")
        pending.chat.append(raw)
        self._archive.add_messages([_archived(show_id, "chat", message)])

    def question(self, show_id: int, question: dict[str, Any]) -> None:
        self._for(show_id).events.append(dumps({"type": "question", "question": question}))
        self._archive.add_messages([_archived(show_id, "question", question)])

    def votes(self, show_id: int, question_id: int) -> None:
        self._for(show_id).votes.add(question_id)

    def hearts(self, show_id: int) -> None:
        self._for(show_id).hearts = True

    def units(self, show_id: int, product_ids: list[int]) -> None:
        """A deal's units left changed: the next frame carries the count read at publish."""
        self._for(show_id).units.update(product_ids)

    def purchase(self, show_id: int, display_name: str, product_id: int, title: str) -> None:
        """Social proof: a few purchases per tick by name, the rest counted."""
        pending = self._for(show_id)
        if len(pending.purchases) < MAX_PURCHASES_PER_FRAME:
            pending.purchases.append(
                {"display_name": display_name, "product_id": product_id, "title": title}
            )
        else:
            pending.more_purchases += 1

    def _next(self, show_id: int) -> _Frame | None:
        """The show's next frame: the one waiting for its retry, else what is pending."""
        frame = self._retry.pop(show_id, None)
        if frame is None:
            pending = self._pending.pop(show_id, None)
            if pending is not None:
                frame = pending.frame(next(self._numbers))
        return frame

    async def flush(self, show_id: int | None = None) -> None:
        """Publish what waits: one frame per show (called every tick); or, for one show,
        everything it has waiting (before its final frame), raising if that fails."""
        async with self._lock:
            if show_id is None:
                shows = list(self._retry.keys() | self._pending.keys())
                frames = [(s, f) for s in shows if (f := self._next(s)) is not None]
                if frames:
                    await self._send(frames)
                return
            while (frame := self._next(show_id)) is not None:
                if not await self._send([(show_id, frame)]):
                    raise RoomFlushError(show_id)

    async def _send(self, frames: list[tuple[int, _Frame]]) -> bool:
        """One pipeline for the frames; each that failed waits for its retry."""
        results: list[Any]
        try:
            # Building the pipeline may fail too (loading a script): the frames wait all the same.
            pipe = self._store.pipeline()
            for show_id, f in frames:
                await self._store.flush(
                    show_id,
                    f.chat,
                    f.events,
                    f.hearts,
                    f.votes,
                    pipe,
                    f.units,
                    (self._node, f.number),
                )
            results = await pipe.execute(raise_on_error=False)
        except Exception:
            log.warning("room flush failed", extra={"shows": len(frames)}, exc_info=True)
            results = [None] * len(frames)
        now = time.monotonic()
        sent = True
        for (show_id, frame), result in zip(frames, results, strict=True):
            if result is not None and not isinstance(result, Exception):
                self.frames_published += 1
                continue
            sent = False
            self.flush_failures += 1
            if frame.failed_at is None:
                frame.failed_at = now
            if now - frame.failed_at < self._retry_seconds:
                self._retry[show_id] = frame
            else:
                self.chat_dropped += len(frame.chat)
                log.error(
                    "room frame dropped",
                    extra={"show_id": show_id, "chat": len(frame.chat), "error": str(result)},
                )
        return sent

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self._tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if loop.time() - next_at > self._tick:
                next_at = loop.time()  # fell behind: do not burst to catch up
            try:
                await self.flush()
            except Exception:
                # Never let one bad tick end the loop: every later chat would be acked and lost.
                log.exception("room tick failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="room-coalescer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        # Shutting down: each show's waiting frames get one more try each.
        while self._retry or self._pending:
            await self.flush()
            if self._retry:
                dropped = sum(len(f.chat) for f in self._retry.values())
                self.chat_dropped += dropped
                log.error("room frames dropped at shutdown", extra={"chat": dropped})
                self._retry.clear()


class RoomFlushError(Exception):
    def __init__(self, show_id: int) -> None:
        super().__init__(f"the room of show {show_id} could not publish its waiting frames")
        self.show_id = show_id


def _archived(show_id: int, kind: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "show_id": show_id,
        "kind": kind,
        "message_id": item["id"],
        "subject": item["user"]["subject"],
        "display_name": item["user"]["name"],
        "text": item["text"],
        "sent_at": from_ms(item["ts"]),
    }


class Presence:
    """This node's viewers per show, reported to Redis every second."""

    def __init__(self, store: RoomStore, node_id: str, interval_ms: int = 1000) -> None:
        self._store = store
        self._node = node_id
        self._interval_ms = interval_ms
        self._counts: dict[int, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    def enter(self, show_id: int) -> None:
        self._counts[show_id] += 1

    def leave(self, show_id: int) -> None:
        self._counts[show_id] -= 1

    def local(self, show_id: int) -> int:
        return self._counts.get(show_id, 0)

    async def report(self) -> None:
        for show_id, count in list(self._counts.items()):
            try:
                await self._store.presence(
                    show_id, self._node, count, 3 * self._interval_ms, self._interval_ms - 50
                )
            except Exception:
                log.exception("presence report failed", extra={"show_id": show_id})
            # Only forget a show that is still empty: a viewer may have joined meanwhile.
            if count <= 0 and self._counts.get(show_id, 0) <= 0:
                self._counts.pop(show_id, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_ms / 1000)
            await self.report()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="room-presence")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        for show_id in list(self._counts):
            self._counts[show_id] = 0
        await self.report()
