"""Orders in the database. `place` is the one transaction that turns a checkout into an order:
the order row (its unique `(buyer, idempotency_key)` refuses a second one), the conditional stock
decrement of every variant, the deal's units and the buyer's per-buyer count, and the lines.
Any refusal rolls all of it back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cart.carts.rules import Line, deal_units
from cart.catalog.models import Variant
from cart.orders.models import DealBuyer, DealQuota, Order, OrderLine, Payment
from cart.orders.payments import PaymentResult
from cart.orders.rules import REVENUE, TRANSITIONS, Status
from core.db import utcnow


@dataclass(frozen=True, slots=True)
class Draft:
    show_id: int
    shop_id: int
    buyer: str
    account_id: int | None
    display_name: str
    idempotency_key: str
    request_hash: str
    currency: str
    total: int
    shipping_address: dict[str, Any]
    pinned_product_id: int | None
    payment_provider: str
    lines: list[Line]  # as priced for the buyer

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class Record:
    """An order with its lines and its latest charge."""

    order: Order
    lines: list[OrderLine]
    payment: Payment | None = None

    @property
    def deal_lines(self) -> list[tuple[int, int, int]]:
        return deal_units(self.lines)


class Refused(Exception):
    """The database would not sell it: `out_of_stock` (a variant), `sold_out`, `deal_limit` or
    `deal_expired` (a deal)."""

    def __init__(self, reason: str, variant_id: int | None = None, deal_id: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.variant_id = variant_id
        self.deal_id = deal_id


class DuplicateKey(Exception):
    """An order for this buyer and idempotency key exists already."""


@dataclass
class RunningDeal:
    id: int
    show_id: int
    product_id: int
    units_left: int
    held: dict[str, int] = field(default_factory=dict)  # buyer -> deal units in live orders


BeforeCommit = Callable[[], Awaitable[None]] | None


class OrderStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sqlite: bool) -> None:
        self._sessions = sessions
        # SQLite has one writer at a time: queueing writes here is fairer and much faster than
        # letting them retry on its busy timeout.
        self._write_lock = asyncio.Lock() if sqlite else None

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        return self._write_lock if self._write_lock is not None else contextlib.nullcontext()

    # Flash deals.

    async def open_deal(
        self,
        show_id: int,
        product_id: int,
        price: int,
        units: int,
        per_buyer: int,
        ends_at: datetime,
    ) -> int:
        async with self._writing(), self._sessions.begin() as session:
            deal = DealQuota(
                show_id=show_id,
                product_id=product_id,
                price=price,
                units=units,
                units_left=units,
                per_buyer=per_buyer,
                ends_at=ends_at,
            )
            session.add(deal)
            await session.flush()
            return deal.id

    async def running_deals(self, now: datetime, show_id: int | None = None) -> list[RunningDeal]:
        async with self._sessions() as session:
            query = select(DealQuota).where(DealQuota.ends_at > now)
            if show_id is not None:
                query = query.where(DealQuota.show_id == show_id)
            deals = {
                d.id: RunningDeal(d.id, d.show_id, d.product_id, d.units_left)
                for d in await session.scalars(query)
            }
            if deals:
                held = await session.execute(
                    select(DealBuyer.deal_id, DealBuyer.buyer, DealBuyer.quantity).where(
                        DealBuyer.deal_id.in_(list(deals)), DealBuyer.quantity > 0
                    )
                )
                for deal_id, buyer, quantity in held:
                    deals[deal_id].held[buyer] = quantity
            return list(deals.values())

    # Placing an order.

    async def place(self, draft: Draft, before_commit: BeforeCommit = None) -> Record:
        """Raises DuplicateKey, or Refused (nothing written)."""
        session = self._sessions()
        try:
            async with self._writing(), session.begin():
                order = _order(draft, utcnow())
                # The order row first: a second order for the key fails here, before any stock
                # is touched (PostgreSQL makes it wait for the first one's commit).
                session.add(order)
                await session.flush()
                lines = [OrderLine(order_id=order.id, **_line_fields(ln)) for ln in draft.lines]
                session.add_all(lines)
                await session.flush()
                await self._take_stock(session, draft)
                if before_commit is not None:
                    await before_commit()
        except IntegrityError as exc:
            if "idempotency" in str(exc.orig).lower() or "unique" in str(exc.orig).lower():
                raise DuplicateKey from exc
            raise
        finally:
            await session.close()
        return Record(order, lines)

    async def _take_stock(self, session: AsyncSession, draft: Draft) -> None:
        """The buyer's deal allowance, then the rows every buyer of a flash sale wants (the
        deal's units, the variants' stock) last: each is locked from its UPDATE to the commit,
        so nothing else runs in the transaction while they are held."""
        per_variant: dict[int, int] = {}
        per_deal: dict[int, int] = {}
        for line in draft.lines:
            per_variant[line.variant_id] = per_variant.get(line.variant_id, 0) + line.quantity
            if line.deal_id is not None and line.deal_quantity:
                per_deal[line.deal_id] = per_deal.get(line.deal_id, 0) + line.deal_quantity
        now = utcnow()
        for deal_id, quantity in sorted(per_deal.items()):
            # Set when the deal is made, never changed: read without a lock.
            per_buyer = await session.scalar(
                select(DealQuota.per_buyer).where(DealQuota.id == deal_id)
            )
            if per_buyer is None:
                raise Refused("sold_out", deal_id=deal_id)
            if quantity > per_buyer or not await self._hold(
                session, deal_id, draft.buyer, quantity, per_buyer
            ):
                raise Refused("deal_limit", deal_id=deal_id)
        # Always deals then variants, each in id order: two orders never wait on each other's
        # rows in a cycle.
        for deal_id, quantity in sorted(per_deal.items()):
            taken = await session.execute(
                update(DealQuota)
                .where(
                    DealQuota.id == deal_id,
                    DealQuota.units_left >= quantity,
                    DealQuota.ends_at > now,
                )
                .values(units_left=DealQuota.units_left - quantity)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                ends_at = await session.scalar(
                    select(DealQuota.ends_at).where(DealQuota.id == deal_id)
                )
                expired = ends_at is not None and ends_at <= now
                raise Refused("deal_expired" if expired else "sold_out", deal_id=deal_id)
        for variant_id, quantity in sorted(per_variant.items()):
            taken = await session.execute(
                update(Variant)
                .where(
                    Variant.id == variant_id,
                    Variant.stock >= quantity,
                    Variant.deleted_at.is_(None),
                )
                .values(stock=Variant.stock - quantity)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise Refused("out_of_stock", variant_id=variant_id)

    async def _hold(
        self, session: AsyncSession, deal_id: int, buyer: str, quantity: int, per_buyer: int
    ) -> bool:
        """Add to the buyer's deal units unless that passes the per-buyer limit."""
        dialect = session.get_bind().dialect.name
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = make(DealBuyer).values(deal_id=deal_id, buyer=buyer, quantity=quantity)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DealBuyer.deal_id, DealBuyer.buyer],
            set_={"quantity": DealBuyer.quantity + stmt.excluded.quantity},
            where=DealBuyer.quantity + stmt.excluded.quantity <= per_buyer,
        )
        result = await session.execute(stmt)
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    # Reading.

    async def find(self, buyer: str, key: str) -> Record | None:
        async with self._sessions() as session:
            order = await session.scalar(
                select(Order).where(Order.buyer == buyer, Order.idempotency_key == key)
            )
            return None if order is None else await self._record(session, order)

    async def ordered(self, owners: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (buyer, idempotency key) pairs have an order."""
        found: set[tuple[str, str]] = set()
        async with self._sessions() as session:
            for i in range(0, len(owners), 500):
                chunk = owners[i : i + 500]
                rows = await session.execute(
                    select(Order.buyer, Order.idempotency_key).where(
                        Order.buyer.in_({b for b, _ in chunk}),
                        Order.idempotency_key.in_({k for _, k in chunk}),
                    )
                )
                found.update((str(b), str(k)) for b, k in rows)
        return found & set(owners)

    async def get(self, order_id: int) -> Record | None:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
            return None if order is None else await self._record(session, order)

    async def _record(self, session: AsyncSession, order: Order) -> Record:
        lines = list(
            await session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
            )
        )
        payment = await session.scalar(
            select(Payment)
            .where(Payment.order_id == order.id, Payment.kind == "charge")
            .order_by(Payment.id.desc())
            .limit(1)
        )
        return Record(order, lines, payment)

    async def _records(self, session: AsyncSession, orders: list[Order]) -> list[Record]:
        ids = [o.id for o in orders]
        lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
        payments: dict[int, Payment] = {}
        if ids:
            for line in await session.scalars(
                select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.id)
            ):
                lines[line.order_id].append(line)
            for p in await session.scalars(
                select(Payment)
                .where(Payment.order_id.in_(ids), Payment.kind == "charge")
                .order_by(Payment.id)
            ):
                payments[p.order_id] = p
        return [Record(o, lines[o.id], payments.get(o.id)) for o in orders]

    async def buyer_orders(self, buyer: str, before: int | None, limit: int) -> list[Record]:
        async with self._sessions() as session:
            query = select(Order).where(Order.buyer == buyer)
            if before is not None:
                query = query.where(Order.id < before)
            orders = list(await session.scalars(query.order_by(Order.id.desc()).limit(limit)))
            return await self._records(session, orders)

    async def show_orders(
        self, show_id: int, before: int | None, limit: int | None
    ) -> list[Record]:
        async with self._sessions() as session:
            query = select(Order).where(Order.show_id == show_id)
            if before is not None:
                query = query.where(Order.id < before)
            query = query.order_by(Order.id.desc())
            if limit is not None:
                query = query.limit(limit)
            return await self._records(session, list(await session.scalars(query)))

    async def show_summary(self, show_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Order.status, func.count(), func.sum(Order.total), func.sum(Order.items))
                .where(Order.show_id == show_id)
                .group_by(Order.status)
            )
            by_status = {
                status: (n, int(total or 0), int(items or 0)) for status, n, total, items in rows
            }
        revenue = sum(by_status.get(s.value, (0, 0, 0))[1] for s in REVENUE)
        return {
            "orders": {s.value: by_status.get(s.value, (0, 0, 0))[0] for s in Status},
            "revenue": revenue,
            "refunded": by_status.get(Status.REFUNDED.value, (0, 0, 0))[1],
            "items_sold": sum(by_status.get(s.value, (0, 0, 0))[2] for s in REVENUE),
        }

    async def stale_pending(self, created_before: datetime, limit: int = 500) -> list[int]:
        async with self._sessions() as session:
            ids = await session.scalars(
                select(Order.id)
                .where(
                    Order.status == Status.PENDING_PAYMENT.value,
                    Order.created_at < created_before,
                )
                .order_by(Order.id)
                .limit(limit)
            )
            return list(ids)

    # State changes: each one conditional on the state it leaves, so two racing callers
    # (a retried checkout and the expiry sweep, two refund clicks) cannot both act.

    async def mark_paid(self, order_id: int, charge: PaymentResult, card: tuple[str, str]) -> bool:
        async with self._writing(), self._sessions.begin() as session:
            moved = await self._move(session, order_id, Status.PAID, paid_at=utcnow())
            order = await session.get(Order, order_id)
            assert order is not None
            session.add(_payment(order, "charge", charge, card))
            return moved

    async def cancel(
        self,
        order_id: int,
        failure: dict[str, str],
        charge: PaymentResult | None = None,
        card: tuple[str, str] = ("", ""),
    ) -> Record | None:
        """Cancel a pending order and give its stock and deal units back to the database; the
        cancelled order, or None when it was no longer pending."""
        async with self._writing(), self._sessions.begin() as session:
            moved = await self._move(
                session, order_id, Status.CANCELLED, cancelled_at=utcnow(), failure=failure
            )
            order = await session.get(Order, order_id)
            assert order is not None
            if charge is not None:
                session.add(_payment(order, "charge", charge, card))
            if not moved:
                return None
            record = await self._record(session, order)
            await self._give_back(session, record, deals=True)
            return record

    async def refund(self, order_id: int, shop_id: int, result: PaymentResult) -> Record | None:
        """Refund a paid or fulfilled order: its stock returns (a flash deal's units do not: the
        deal's moment has passed)."""
        async with self._writing(), self._sessions.begin() as session:
            order = await session.get(Order, order_id)
            if order is None or order.shop_id != shop_id:
                return None
            if not await self._move(session, order_id, Status.REFUNDED, refunded_at=utcnow()):
                return None
            await session.refresh(order)
            charge = await session.scalar(
                select(Payment).where(Payment.order_id == order_id, Payment.kind == "charge")
            )
            card = ("", "") if charge is None else (charge.card_brand, charge.card_last4)
            session.add(_payment(order, "refund", result, card))
            record = await self._record(session, order)
            await self._give_back(session, record, deals=False)
            return record

    async def fulfil(self, order_id: int, shop_id: int) -> bool:
        async with self._writing(), self._sessions.begin() as session:
            order = await session.get(Order, order_id)
            if order is None or order.shop_id != shop_id:
                return False
            return await self._move(session, order_id, Status.FULFILLED, fulfilled_at=utcnow())

    async def _move(self, session: AsyncSession, order_id: int, to: Status, **values: Any) -> bool:
        result = await session.execute(
            update(Order)
            .where(
                Order.id == order_id,
                Order.status.in_([s.value for s in TRANSITIONS[to]]),
            )
            .values(status=to.value, **values)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _give_back(self, session: AsyncSession, record: Record, deals: bool) -> None:
        """In the order `place` locks rows (the buyer's deal allowance, deals, variants), so a
        return and a purchase never wait on each other in a cycle."""
        if deals:
            deal_lines = sorted((deal_id, quantity) for _, deal_id, quantity in record.deal_lines)
            for deal_id, quantity in deal_lines:
                await session.execute(
                    update(DealBuyer)
                    .where(DealBuyer.deal_id == deal_id, DealBuyer.buyer == record.order.buyer)
                    .values(quantity=DealBuyer.quantity - quantity)
                )
            for deal_id, quantity in deal_lines:
                await session.execute(
                    update(DealQuota)
                    .where(DealQuota.id == deal_id)
                    .values(units_left=DealQuota.units_left + quantity)
                )
        per_variant: dict[int, int] = {}
        for line in record.lines:
            per_variant[line.variant_id] = per_variant.get(line.variant_id, 0) + line.quantity
        for variant_id, quantity in sorted(per_variant.items()):
            await session.execute(
                update(Variant)
                .where(Variant.id == variant_id)
                .values(stock=Variant.stock + quantity)
            )


def _order(draft: Draft, now: datetime) -> Order:
    return Order(
        show_id=draft.show_id,
        shop_id=draft.shop_id,
        buyer=draft.buyer,
        account_id=draft.account_id,
        display_name=draft.display_name,
        idempotency_key=draft.idempotency_key,
        request_hash=draft.request_hash,
        status=Status.PENDING_PAYMENT.value,
        currency=draft.currency,
        items=draft.items,
        total=draft.total,
        shipping_address=draft.shipping_address,
        pinned_product_id=draft.pinned_product_id,
        payment_provider=draft.payment_provider,
        failure=None,
        created_at=now,
        paid_at=None,
        fulfilled_at=None,
        cancelled_at=None,
        refunded_at=None,
    )


def _line_fields(line: Line) -> dict[str, Any]:
    return {
        "variant_id": line.variant_id,
        "product_id": line.product_id,
        "title": line.title,
        "options": line.options,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "deal_id": line.deal_id,
        "deal_quantity": line.deal_quantity,
        "deal_price": line.deal_price if line.deal_quantity else None,
        "total": line.total,
    }


def _payment(order: Order, kind: str, result: PaymentResult, card: tuple[str, str]) -> Payment:
    return Payment(
        order_id=order.id,
        kind=kind,
        provider=order.payment_provider,
        status=result.status,
        amount=order.total,
        currency=order.currency,
        reference=result.reference,
        card_brand=card[0],
        card_last4=card[1],
        message=(result.code + ": " + result.message if result.code else "")[:200],
    )
