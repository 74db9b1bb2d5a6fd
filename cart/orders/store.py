"""Orders in the database. `place` is the one transaction that turns checkouts into orders: the
order rows (the unique `(buyer, idempotency_key)` refuses a second one), their lines, and the
stock of every variant, the deal's units and each buyer's per-buyer count, checked against the
locked rows and decremented once per row. Orders arriving while one batch is written go in the
next (group commit): a flash sale's hot rows are locked once per batch, not once per order. A
refused order is not written; the others of its batch are."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from cart.carts.rules import Line, deal_units
from cart.catalog.models import Variant
from cart.orders import allotment, emails
from cart.orders.models import DealBuyer, DealQuota, Order, OrderLine, Payment
from cart.orders.payments import PaymentResult
from cart.orders.rules import REVENUE, TRANSITIONS, Status
from core.batch import Batcher
from core.db import Base, utcnow


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
    email: str | None = None
    language: str | None = None

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

# The checkout path's statements, built once: parameters travel apart, so each is compiled once
# and then found in SQLAlchemy's cache.


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_deals, _variants, _allowances = _table(DealQuota), _table(Variant), _table(DealBuyer)
_orders, _lines, _payments = _table(Order), _table(OrderLine), _table(Payment)
_LOCK_DEALS = (
    select(_deals.c.id, _deals.c.units_left, _deals.c.per_buyer, _deals.c.ends_at)
    .where(_deals.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_deals.c.id)
    .with_for_update()
)
_LOCK_VARIANTS = (
    select(_variants.c.id, _variants.c.stock, _variants.c.deleted_at)
    .where(_variants.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_variants.c.id)
    .with_for_update()
)


def _lock_allowances(make: Any) -> Any:
    stmt = make(_allowances)
    return stmt.on_conflict_do_update(
        index_elements=[_allowances.c.deal_id, _allowances.c.buyer],
        set_={"quantity": _allowances.c.quantity},
    ).returning(_allowances.c.deal_id, _allowances.c.buyer, _allowances.c.quantity)


def _insert_orders(make: Any) -> Any:
    return (
        make(_orders)
        .on_conflict_do_nothing(index_elements=[_orders.c.buyer, _orders.c.idempotency_key])
        .returning(_orders.c.id, _orders.c.buyer, _orders.c.idempotency_key)
    )


_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_LOCK_ALLOWANCES = {name: _lock_allowances(make) for name, make in _DIALECTS.items()}
_INSERT_ORDERS = {name: _insert_orders(make) for name, make in _DIALECTS.items()}
_DELETE_ORDERS = delete(_orders).where(_orders.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_LINES = insert(_lines)
_INSERT_PAYMENTS = insert(_payments)
_TAKE_DEAL_UNITS = (
    update(_deals)
    .where(_deals.c.id == bindparam("b_id"))
    .values(units_left=_deals.c.units_left - bindparam("b_units"))
)
_TAKE_STOCK = (
    update(_variants)
    .where(_variants.c.id == bindparam("b_id"))
    .values(stock=_variants.c.stock - bindparam("b_units"))
)
_ADD_HELD = (
    update(_allowances)
    .where(
        _allowances.c.deal_id == bindparam("b_deal"),
        _allowances.c.buyer == bindparam("b_buyer"),
    )
    .values(quantity=_allowances.c.quantity + bindparam("b_units"))
)
_MARK_PAID = (
    update(_orders)
    .where(
        _orders.c.id.in_(bindparam("ids", expanding=True)),
        _orders.c.status.in_([s.value for s in TRANSITIONS[Status.PAID]]),
    )
    .values(status=Status.PAID.value, paid_at=bindparam("now"))
    .returning(_orders.c.id)
)


class OrderStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sqlite: bool) -> None:
        self._sessions = sessions
        # SQLite has one writer at a time: queueing writes here is fairer and much faster than
        # letting them retry on its busy timeout.
        self._write_lock = asyncio.Lock() if sqlite else None
        self._placing: Batcher[tuple[Draft, BeforeCommit], Record] = Batcher(self._place_batch)
        self._paying: Batcher[tuple[Record, PaymentResult, tuple[str, str]], Record | None] = (
            Batcher(self._mark_paid_all)
        )

    async def close(self) -> None:
        """Let the batches under way finish."""
        await self._placing.close()
        await self._paying.close()

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        return self._write_lock if self._write_lock is not None else contextlib.nullcontext()

    def writing(self) -> AbstractAsyncContextManager[Any]:
        """For other writers to the same database in this process (the email outbox): on
        SQLite, a write between an order batch's reads and its writes would fail the batch."""
        return self._writing()

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
        """Raises DuplicateKey, or Refused (nothing written). Orders placed meanwhile are
        written together, in one transaction (see `_place_all`). A caller cancelled while
        waiting may still have its order written: what it holds is the reconciler's to
        settle."""
        return await self._placing.submit((draft, before_commit))

    async def _place_batch(
        self, items: list[tuple[Draft, BeforeCommit]]
    ) -> list[Record | Exception]:
        try:
            return await self._place_all(items)
        except SQLAlchemyError:
            if len(items) == 1:
                raise
        # An error none of the checks foresaw: each order alone, so it fails only its own.
        out: list[Record | Exception] = []
        for item in items:
            try:
                out.extend(await self._place_all([item]))
            except SQLAlchemyError as exc:
                out.append(exc)
        return out

    async def _place_all(self, items: list[tuple[Draft, BeforeCommit]]) -> list[Record | Exception]:
        """One transaction for every order of the batch. The rows they want are locked and
        read once, always in the same order (deals, variants, the buyers' deal allowances,
        each by id), then `allot` decides in arrival order exactly what one-by-one orders
        would have got; the accepted orders' lines and one decrement per row are written."""
        drafts = [draft for draft, _ in items]
        out: list[Record | Exception | None] = [None] * len(drafts)
        wants = [_want(d) for d in drafts]
        async with self._writing(), self._sessions() as session, session.begin():
            conn = await session.connection()
            dialect = conn.dialect.name
            now = utcnow()
            deal_ids = sorted({d for w in wants for d in w.deals})
            variant_ids = sorted({v for w in wants for v in w.variants})
            deals: dict[int, allotment.Deal] = {}
            if deal_ids:
                for deal in await conn.execute(_LOCK_DEALS, {"ids": deal_ids}):
                    deals[deal.id] = allotment.Deal(deal.units_left, deal.per_buyer, deal.ends_at)
            stock: dict[int, int | None] = {}
            if variant_ids:
                for variant in await conn.execute(_LOCK_VARIANTS, {"ids": variant_ids}):
                    stock[variant.id] = None if variant.deleted_at is not None else variant.stock
            pairs = sorted({(d, w.buyer) for w in wants for d in w.deals if d in deals})
            held: dict[tuple[int, str], int] = {}
            if pairs:
                # Creates the missing allowance rows (0 units) and locks them all.
                rows = await conn.execute(
                    _LOCK_ALLOWANCES[dialect],
                    [{"deal_id": d, "buyer": b, "quantity": 0} for d, b in pairs],
                )
                held = {(row.deal_id, row.buyer): row.quantity for row in rows}

            # The order rows first: one whose key has an order already is not written (the
            # unique key decides, whichever node wrote the other one).
            first: dict[tuple[str, str], int] = {}
            for i, draft in enumerate(drafts):
                if (draft.buyer, draft.idempotency_key) in first:
                    out[i] = DuplicateKey()
                else:
                    first[(draft.buyer, draft.idempotency_key)] = i
            orders = {i: _order(drafts[i], now) for i in first.values()}
            rows = await conn.execute(
                _INSERT_ORDERS[dialect], [_columns(order) for order in orders.values()]
            )
            ids = {(row.buyer, row.idempotency_key): row.id for row in rows}
            new = []
            for key, i in first.items():
                if key in ids:
                    orders[i].id = ids[key]
                    new.append(i)
                else:
                    out[i] = DuplicateKey()

            allotted = allotment.allot([wants[i] for i in new], deals, stock, held, now)
            refused = []
            for i, refusal in zip(new, allotted.outcomes, strict=True):
                if refusal is not None:
                    out[i] = Refused(refusal.reason, refusal.variant_id, refusal.deal_id)
                    refused.append(orders[i].id)
            if refused:
                await conn.execute(_DELETE_ORDERS, {"ids": refused})
            placed = [i for i, refusal in zip(new, allotted.outcomes, strict=True) if not refusal]
            if placed:
                lines = {
                    i: [
                        OrderLine(order_id=orders[i].id, **_line_fields(ln))
                        for ln in drafts[i].lines
                    ]
                    for i in placed
                }
                await conn.execute(_INSERT_LINES, [_columns(ln) for i in placed for ln in lines[i]])
                await self._take(conn, allotted)
                for i in placed:
                    before_commit = items[i][1]
                    if before_commit is not None:
                        await before_commit()
                    out[i] = Record(orders[i], lines[i])
        assert all(o is not None for o in out)
        return [o for o in out if o is not None]

    async def _take(self, conn: AsyncConnection, allotted: allotment.Allotment) -> None:
        """One decrement per row, in the order the rows were locked (the CHECKs stay the last
        guard)."""
        if allotted.deal_units:
            await conn.execute(
                _TAKE_DEAL_UNITS,
                [{"b_id": d, "b_units": n} for d, n in sorted(allotted.deal_units.items())],
            )
        if allotted.stock:
            await conn.execute(
                _TAKE_STOCK,
                [{"b_id": v, "b_units": n} for v, n in sorted(allotted.stock.items())],
            )
        if allotted.held:
            await conn.execute(
                _ADD_HELD,
                [
                    {"b_deal": d, "b_buyer": b, "b_units": n}
                    for (d, b), n in sorted(allotted.held.items())
                ],
            )

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

    async def mark_paid(
        self, record: Record, charge: PaymentResult, card: tuple[str, str]
    ) -> Record | None:
        """Record the charge; the order paid, as it now is, or None if it was no longer
        pending (the charge is recorded either way). Orders paid meanwhile are marked
        together: one UPDATE ... RETURNING and one INSERT, and the receipt needs no read."""
        return await self._paying.submit((record, charge, card))

    async def _mark_paid_all(
        self, items: list[tuple[Record, PaymentResult, tuple[str, str]]]
    ) -> list[Record | Exception | None]:
        now = utcnow()
        payments = [_payment(r.order, "charge", charge, card, now) for r, charge, card in items]
        async with self._writing(), self._sessions() as session, session.begin():
            conn = await session.connection()
            rows = await conn.execute(
                _MARK_PAID, {"ids": [r.order.id for r, _, _ in items], "now": now}
            )
            moved = {row.id for row in rows}
            # Each newly paid order's confirmation commits (or rolls back) with its paid mark.
            paid = {r.order.id: r for r, _, _ in items if r.order.id in moved}
            await emails.enqueue_paid(conn, list(paid.values()))
            await conn.execute(_INSERT_PAYMENTS, [_columns(p) for p in payments])
        out: list[Record | Exception | None] = []
        for (record, _, _), payment in zip(items, payments, strict=True):
            if record.order.id in moved:
                moved.discard(record.order.id)  # twice in a batch: paid once
                record.order.status = Status.PAID.value
                record.order.paid_at = now
                out.append(Record(record.order, record.lines, payment))
            else:
                out.append(None)
        return out

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
            await emails.enqueue_refund(session, record)
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
        """In the order `place` locks rows (deals, variants, then the buyers' deal
        allowances), so a return and a purchase never wait on each other in a cycle."""
        deal_lines = sorted((d, n) for _, d, n in record.deal_lines) if deals else []
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
        for deal_id, quantity in deal_lines:
            await session.execute(
                update(DealBuyer)
                .where(DealBuyer.deal_id == deal_id, DealBuyer.buyer == record.order.buyer)
                .values(quantity=DealBuyer.quantity - quantity)
            )


def _columns(row: Order | OrderLine | Payment) -> dict[str, Any]:
    """A new row's column values (its id comes from the database)."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "id"}


def _want(draft: Draft) -> allotment.Want:
    variants: dict[int, int] = {}
    deals: dict[int, int] = {}
    for line in draft.lines:
        variants[line.variant_id] = variants.get(line.variant_id, 0) + line.quantity
        if line.deal_id is not None and line.deal_quantity:
            deals[line.deal_id] = deals.get(line.deal_id, 0) + line.deal_quantity
    return allotment.Want(draft.buyer, variants, deals)


def _order(draft: Draft, now: datetime) -> Order:
    return Order(
        show_id=draft.show_id,
        shop_id=draft.shop_id,
        buyer=draft.buyer,
        account_id=draft.account_id,
        display_name=draft.display_name,
        email=draft.email,
        language=draft.language,
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


def _payment(
    order: Order,
    kind: str,
    result: PaymentResult,
    card: tuple[str, str],
    now: datetime | None = None,
) -> Payment:
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
        created_at=now or utcnow(),
    )
