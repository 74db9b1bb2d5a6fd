"""Background tasks that stop cleanly."""

from __future__ import annotations

import asyncio
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
