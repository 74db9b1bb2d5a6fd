"""What outlives a show's room: its timeline (pins, deals, answered questions, transitions) and
its chat archive, both written with server timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdType, UTCDateTime, utcnow


class ShowEvent(Base):
    __tablename__ = "show_events"
    __table_args__ = (Index("ix_show_events_show_id_id", "show_id", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    show_id: Mapped[int] = mapped_column(IdType, ForeignKey("shows.id", ondelete="CASCADE"))
    # The room frame that announced it (None when nothing was broadcast).
    seq: Mapped[int | None] = mapped_column(IdType, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("show_id", "kind", "message_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    show_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("shows.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # chat | question
    message_id: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(80))
    display_name: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
