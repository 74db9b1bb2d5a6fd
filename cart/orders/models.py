"""Orders, their lines and payments, and the database side of flash deals.

The database is the stock of record and the last guard: `variants.stock` and
`deal_quotas.units_left` never go below zero (CHECK), a buyer's deal units never exceed the
deal's per-buyer limit (checked in the upsert), and `(buyer, idempotency_key)` is unique, so one
key can never make two orders whatever Redis says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdType, UTCDateTime, utcnow


class DealQuota(Base):
    """A flash deal as inventory: the units it may still sell, whatever Redis counts."""

    __tablename__ = "deal_quotas"
    __table_args__ = (
        CheckConstraint("units_left >= 0", name="units_left_not_negative"),
        CheckConstraint("units_left <= units", name="units_left_within_units"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    show_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("shows.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id", ondelete="CASCADE"))
    price: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(Integer)
    units_left: Mapped[int] = mapped_column(Integer)
    per_buyer: Mapped[int] = mapped_column(Integer)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DealBuyer(Base):
    """Deal units a buyer holds in live orders (never more than the deal's per-buyer limit)."""

    __tablename__ = "deal_buyers"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    deal_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("deal_quotas.id", ondelete="CASCADE"), primary_key=True
    )
    buyer: Mapped[str] = mapped_column(String(80), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("buyer", "idempotency_key"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_orders_show_id_id", "show_id", "id"),
        Index("ix_orders_buyer_id", "buyer", "id"),
        Index("ix_orders_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    show_id: Mapped[int] = mapped_column(IdType, ForeignKey("shows.id", ondelete="RESTRICT"))
    shop_id: Mapped[int] = mapped_column(IdType, ForeignKey("shops.id", ondelete="RESTRICT"))
    # The buyer's subject ("a:<account id>" or "g:<guest id>") and the name shown in the room.
    buyer: Mapped[str] = mapped_column(String(80))
    account_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    display_name: Mapped[str] = mapped_column(String(80))
    # Where the order's emails go, and their language (None on orders from before either).
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The product pinned when the buyer checked out (what the host was showing), if any.
    pinned_product_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    payment_provider: Mapped[str] = mapped_column(String(32))
    # The refusal a declined or failed payment answered with (replayed for the same key).
    failure: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("deal_quantity >= 0 AND deal_quantity <= quantity", name="deal_quantity"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(IdType, ForeignKey("variants.id"))
    product_id: Mapped[int] = mapped_column(IdType, ForeignKey("products.id"))
    title: Mapped[str] = mapped_column(String(200))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    deal_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("deal_quotas.id"), nullable=True, index=True
    )
    deal_quantity: Mapped[int] = mapped_column(Integer, default=0)
    deal_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    total: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """One charge or refund at the payment provider, as it answered."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # charge | refund
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # approved | declined | error
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(100))
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
