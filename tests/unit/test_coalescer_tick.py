"""The coalescer keeps a frame whose tick failed in an unexpected way (pure: a stand-in
store and archive, no Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

from live.room.fanout import Coalescer


class _Pipe:
    def __init__(self, store: _Store) -> None:
        self.store = store
        self.queued: list[list[str]] = []

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.store.sent.extend(self.queued)
        self.store.published.set()
        return [1] * len(self.queued)


class _Store:
    """pipeline() fails the first `broken` times (a bug, not a Redis error), then works."""

    def __init__(self, broken: int) -> None:
        self.broken = broken
        self.sent: list[list[str]] = []
        self.published = asyncio.Event()

    def pipeline(self) -> _Pipe:
        if self.broken:
            self.broken -= 1
            raise RuntimeError("unexpected")
        return _Pipe(self)

    async def flush(self, show_id: int, chat: list[str], *_: Any, **__: Any) -> None:
        raise AssertionError("called with the pipeline as its client only")


class _Archive:
    def add_messages(self, rows: list[dict[str, Any]]) -> None:
        pass


async def test_a_tick_that_fails_unexpectedly_keeps_its_chat_for_the_next() -> None:
    store = _Store(broken=2)

    async def flush(show_id: int, chat: list[str], *args: Any) -> None:
        pipe = args[3]
        pipe.queued.append(chat)

    store.flush = flush  # type: ignore[method-assign]
    coalescer = Coalescer(store, _Archive(), tick_ms=10)  # type: ignore[arg-type]
    message = {"id": 1, "user": {"subject": "g:1", "name": "Ana"}, "text": "hi", "ts": 0}
    coalescer.chat(7, message)
    coalescer.start()
    try:
        await asyncio.wait_for(store.published.wait(), 5)
    finally:
        await coalescer.stop()
    assert len(store.sent) == 1 and '"text":"hi"' in store.sent[0][0]
