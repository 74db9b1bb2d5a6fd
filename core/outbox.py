"""The email outbox: every email the product sends is first a row here, written in the same
transaction as the event it reports (an order paid, a refund), so the two commit or roll back
together. A sender (server.mail) delivers the rows later, retrying with backoff.

`dedupe_key` is unique: enqueuing the same email twice (a retried transaction, two paths
reporting one event) writes one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdType, UTCDateTime, utcnow


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # Which template renders it (order_confirmation, refund...).
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    # What the template shows, as it was when the event happened.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the sender may take it next: now for a new row, later after a failed attempt, or a
    # claim's lease while a sender works on it.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True, slots=True)
class Email:
    """One email to enqueue."""

    kind: str
    to: str
    language: str
    data: dict[str, Any]
    dedupe_key: str


def outbox_table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


def _insert(make: Any) -> Any:
    table = outbox_table()
    return make(table).on_conflict_do_nothing(index_elements=[table.c.dedupe_key])


_INSERT = {"postgresql": _insert(postgresql.insert), "sqlite": _insert(sqlite.insert)}


async def enqueue_all(db: AsyncSession | AsyncConnection, emails: list[Email]) -> None:
    """Write the emails inside the caller's transaction (one INSERT); a dedupe key already
    enqueued is skipped."""
    if not emails:
        return
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    now = utcnow()
    rows = [
        {
            "kind": e.kind,
            "recipient": e.to,
            "language": e.language,
            "data": e.data,
            "dedupe_key": e.dedupe_key,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
            "sent_at": None,
        }
        for e in emails
    ]
    await conn.execute(_INSERT[conn.dialect.name], rows)


async def enqueue(
    db: AsyncSession | AsyncConnection,
    *,
    kind: str,
    to: str,
    language: str,
    data: dict[str, Any],
    dedupe_key: str,
) -> None:
    """Write one email inside the caller's transaction (nothing if its dedupe key is in)."""
    await enqueue_all(db, [Email(kind, to, language, data, dedupe_key)])
