"""The durable side of a room: timeline events (written at once) and the chat archive (written
in batches by a background writer, so a busy chat costs one INSERT per batch, not per line)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import utcnow
from core.tasks import cancel
from core.text import spreadsheet_safe
from live.room.models import ChatMessage, ShowEvent

log = logging.getLogger(__name__)

BATCH = 500
MAX_BACKLOG = 100_000
Deletion = tuple[int, int, datetime]


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def refused_for_good(exc: Exception) -> bool:
    """The database or its driver refused the row itself (a data or integrity error): written
    again, it is refused again. Anything else (a lost connection, a timeout) may pass on the
    next flush.

    asyncpg's data errors (a NUL in a text, SQLSTATE 22021; a number out of range, 22000) reach
    SQLAlchemy as a plain DBAPIError, so the SQLSTATE class decides: 22 data exception, 23
    integrity violation. sqlite3 raises OverflowError itself for an integer past 64 bits."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state[:2] in ("22", "23")
    # Refused before it reached the database: a value no bind parameter takes.
    return isinstance(exc, StatementError | ValueError | TypeError | OverflowError)


class Archive:
    def __init__(self, sessions: async_sessionmaker[Any], flush_interval: float = 0.5) -> None:
        self._sessions = sessions
        self._interval = flush_interval
        self._pending: list[dict[str, Any]] = []
        self._deleted: list[Deletion] = []
        self.rejected = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # Timeline.

    async def record(
        self, show_id: int, kind: str, payload: dict[str, Any], seq: int | None
    ) -> None:
        async with self._sessions.begin() as session:
            session.add(ShowEvent(show_id=show_id, seq=seq, kind=kind, payload=payload))

    async def timeline(self, show_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ShowEvent).where(ShowEvent.show_id == show_id).order_by(ShowEvent.id)
            )
            return [{"seq": r.seq, "kind": r.kind, "payload": r.payload, "at": r.at} for r in rows]

    # Chat archive.

    def add_messages(self, rows: Iterable[dict[str, Any]]) -> None:
        """Queue messages for the next batch; never blocks the caller."""
        self._pending.extend(rows)
        if len(self._pending) >= BATCH:
            self._wake.set()

    def mark_deleted(self, show_id: int, message_id: int) -> None:
        self._deleted.append((show_id, message_id, utcnow()))
        self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            deleted, self._deleted = self._deleted, []
            if not rows and not deleted:
                return
            try:
                await self._write(rows, deleted)
            except Exception:
                # One bad row (its show was deleted, a duplicate id after Redis lost a counter)
                # must not hold back the rest: write row by row, set aside what cannot be written.
                log.warning("chat archive batch failed; writing row by row", exc_info=True)
                await self._write_each(rows, deleted)

    async def _write(self, rows: list[dict[str, Any]], deleted: list[Deletion]) -> None:
        async with self._sessions.begin() as session:
            for start in range(0, len(rows), BATCH):
                await session.execute(insert(ChatMessage), rows[start : start + BATCH])
            for show_id, message_id, at in deleted:
                await session.execute(
                    update(ChatMessage)
                    .where(
                        ChatMessage.show_id == show_id,
                        ChatMessage.kind == "chat",
                        ChatMessage.message_id == message_id,
                    )
                    .values(deleted_at=at)
                )

    async def _write_each(self, rows: list[dict[str, Any]], deleted: list[Deletion]) -> None:
        retry: list[dict[str, Any]] = []
        for row in rows:
            try:
                await self._write([row], [])
            except Exception as exc:  # noqa: BLE001 - sorted into for good or for now
                if not refused_for_good(exc):
                    retry.append(row)  # the database is unreachable: keep it for the next flush
                    continue
                # Set aside and counted (chat_archive_rejected_rows), never written again.
                self.rejected += 1
                log.warning(
                    "chat archive row rejected",
                    extra={
                        "show_id": row["show_id"],
                        "message_id": row["message_id"],
                        "kind": row["kind"],
                        "error": getattr(getattr(exc, "orig", None), "sqlstate", None)
                        or type(exc).__name__,
                    },
                )
        try:
            await self._write([], deleted)
        except Exception as exc:  # noqa: BLE001 - sorted into for good or for now
            if refused_for_good(exc):
                log.warning("chat archive deletions rejected", extra={"count": len(deleted)})
            else:
                self._deleted[:0] = deleted
        # Bounded: past MAX_BACKLOG rows waiting for a database that does not come back, the
        # oldest are dropped (and counted) rather than growing without limit.
        backlog = retry + self._pending
        if len(backlog) > MAX_BACKLOG:
            self.rejected += len(backlog) - MAX_BACKLOG
            log.error("chat archive backlog full; dropping the oldest rows")
            backlog = backlog[-MAX_BACKLOG:]
        self._pending = backlog

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                # The writer must outlive any one failure, or the archive stops for good.
                log.exception("chat archive flush failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="chat-archive")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        await self.flush()

    async def chat_csv(self, show_id: int) -> str:
        await self.flush()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["sent_at", "kind", "message_id", "subject", "display_name", "text", "deleted"]
        )
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ChatMessage)
                .where(ChatMessage.show_id == show_id)
                .order_by(ChatMessage.sent_at, ChatMessage.id)
            )
            for r in rows:
                writer.writerow(
                    [
                        r.sent_at.isoformat(),
                        r.kind,
                        r.message_id,
                        r.subject,
                        spreadsheet_safe(r.display_name),
                        spreadsheet_safe(r.text),
                        "yes" if r.deleted_at is not None else "",
                    ]
                )
        return out.getvalue()
