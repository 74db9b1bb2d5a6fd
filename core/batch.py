"""Group commit: calls that arrive while a batch is being written wait, and go together in the
next one.

A flash sale's orders all want the same rows (the deal's units, the variant's stock). One
transaction per order holds those rows locked from its UPDATE to its COMMIT, round trips and
event-loop turns included, so orders queue on the lock one by one. Written together, the rows
are locked once per batch: the batch costs about what one order did. No call waits for a timer:
the first call of a quiet moment goes alone, at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Each item's result, or the exception its caller gets.
Run = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class Batcher(Generic[T, R]):
    """One batch at a time, of at most `max_size` items, in arrival order. `run` answers each
    item with a result or an exception; an exception `run` raises goes to every item of its
    batch.

    A caller cancelled before its batch starts is left out of it. One cancelled while its batch
    runs does not stop the batch: its item may be written all the same."""

    def __init__(self, run: Run[T, R], max_size: int = 100) -> None:
        self._run = run
        self._max = max_size
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Wait for the batches under way (nothing new may be submitted meanwhile)."""
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch = [(i, f) for i, f in self._queue[: self._max] if not f.done()]
                del self._queue[: self._max]
                if not batch:
                    continue
                try:
                    results = list(await self._run([item for item, _ in batch]))
                    if len(results) != len(batch):
                        raise RuntimeError("a batch must answer each of its items")
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        finally:
            # Cancelled (shutdown): nobody will answer these.
            for _, future in batch + self._queue:
                future.cancel()
            self._queue.clear()
