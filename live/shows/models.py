"""Shows and their lineups. A show has one currency; its lineup is products of the same shop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, IdType, UTCDateTime, utcnow


class Show(Base):
    __tablename__ = "shows"
    __table_args__ = (CheckConstraint("status IN ('scheduled', 'live', 'ended')", name="status"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("shops.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Where viewers watch (an HLS playlist), or None before the shop sets one.
    playback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # The secret RTMP stream key (shown to the shop's owners and hosts, never on a public
    # route nor in a log); None until first asked for. Rotating it replaces it.
    stream_key: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    # A publish to the RTMP ingest makes a scheduled show live; the show ends by itself when its
    # stream stays offline for STREAM_GRACE_SECONDS (only if the host chose so).
    go_live_on_publish: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    end_on_stream_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lineup: Mapped[list[ShowProduct]] = relationship(
        order_by="ShowProduct.position", lazy="selectin", cascade="all, delete-orphan"
    )


class ShowProduct(Base):
    __tablename__ = "show_products"

    show_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    # Products are soft-deleted, never removed, so a lineup entry cannot dangle.
    product_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
