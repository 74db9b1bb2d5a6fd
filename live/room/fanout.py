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
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core.tasks import cancel
from live.room.archive import Archive, from_ms
from live.room.store import RoomStore, dumps

log = logging.getLogger(__name__)

MAX_PURCHASES_PER_FRAME = 3


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


class Coalescer:
    def __init__(self, store: RoomStore, archive: Archive, tick_ms: int) -> None:
        self._store = store
        self._archive = archive
        self._tick = tick_ms / 1000
        self._pending: dict[int, _Pending] = {}
        self._task: asyncio.Task[None] | None = None
        self.frames_published = 0

    def _for(self, show_id: int) -> _Pending:
        pending = self._pending.get(show_id)
        if pending is None:
            pending = self._pending[show_id] = _Pending()
        return pending

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

    async def flush(self, show_id: int | None = None) -> None:
        """Publish what waits (for one show, or all); called every tick."""
        if show_id is not None:
            if show_id in self._pending:
                one = self._pending.pop(show_id)
                pipe = self._store.pipeline()
                await self._store.flush(
                    show_id,
                    one.chat,
                    one.encoded_events(),
                    one.hearts,
                    sorted(one.votes),
                    pipe,
                    sorted(one.units),
                )
                await pipe.execute()
            return
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        pipe = self._store.pipeline()
        for show_id, pending in batch.items():
            await self._store.flush(
                show_id,
                pending.chat,
                pending.encoded_events(),
                pending.hearts,
                sorted(pending.votes),
                pipe,
                sorted(pending.units),
            )
        try:
            await pipe.execute()
            self.frames_published += len(batch)
        except Exception:
            log.exception("room flush failed", extra={"shows": len(batch)})

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self._tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if loop.time() - next_at > self._tick:
                next_at = loop.time()  # fell behind: do not burst to catch up
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="room-coalescer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        await self.flush()


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
