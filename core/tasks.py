"""Background tasks that stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from logging import Logger
from typing import Any


async def cancel(task: asyncio.Task[Any] | None, again_after: float = 0.5) -> None:
    """Cancel a task and wait until it has finished.

    A loop can swallow its cancellation without meaning to: a library call it catches errors
    from may turn the CancelledError into an error of its own. Such a task would run on, and
    awaiting it would hang the shutdown; so it is cancelled again every `again_after` seconds
    until it ends. An error the task ended with is raised here."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=again_after)
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error


class Periodic:
    """A background step run every `interval` seconds, stopped between runs, never in the
    middle of one (a step is a few short transactions; cancelling inside a database call can
    leave its connection unusable). A step that fails is logged and the next one runs."""

    def __init__(
        self, name: str, interval: float, step: Callable[[], Awaitable[None]], log: Logger
    ) -> None:
        self._name = name
        self._interval = interval
        self._step = step
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._step()
            except Exception:  # noqa: BLE001 - logged; the next step runs
                self._log.exception("%s failed", self._name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self._name)

    async def stop(self, within: float = 10) -> None:
        """Let the step under way finish (cancelled after `within` seconds)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), within)
            except TimeoutError:
                await cancel(task)
