"""An order's emails, enqueued in the outbox inside the transaction that changes the order (so a
paid mark or a refund that rolls back leaves no email, and one that commits always has one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, column, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cart.orders import rules
from core.outbox import Email, enqueue_all

ORDER_CONFIRMATION = "order_confirmation"
REFUND = "refund"

# The show's title and the shop's name, by table name: cart imports neither live nor server.
_shows = table("shows", column("id"), column("title"))
_shops = table("shops", column("id"), column("name"))
_orders = table("orders", column("id"), column("show_id"), column("shop_id"))
_NAMES = (
    select(_orders.c.id, _shows.c.title, _shops.c.name)
    .join(_shows, _shows.c.id == _orders.c.show_id)
    .join(_shops, _shops.c.id == _orders.c.shop_id)
    .where(_orders.c.id.in_(bindparam("ids", expanding=True)))
)


async def _names(conn: AsyncConnection, ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = await conn.execute(_NAMES, {"ids": ids})
    return {row.id: (str(row.name), str(row.title)) for row in rows}


async def enqueue_paid(db: AsyncSession | AsyncConnection, records: list[Any]) -> None:
    """An order confirmation per newly paid order with an email (one read, one INSERT)."""
    await _enqueue(db, records, ORDER_CONFIRMATION, "order-paid")


async def enqueue_refund(db: AsyncSession | AsyncConnection, record: Any) -> None:
    await _enqueue(db, [record], REFUND, "order-refunded")


async def _enqueue(
    db: AsyncSession | AsyncConnection, records: list[Any], kind: str, key: str
) -> None:
    records = [r for r in records if r.order.email]
    if not records:
        return
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    names = await _names(conn, [r.order.id for r in records])
    emails = []
    for record in records:
        order = record.order
        shop, show = names[order.id]
        data = rules.email_data(order, record.lines, shop, show)
        if kind == REFUND:
            data["refund_amount"] = order.total
        emails.append(Email(kind, order.email, order.language or "en", data, f"{key}:{order.id}"))
    await enqueue_all(conn, emails)
