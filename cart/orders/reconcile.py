"""The reconciler: brings Redis's flash-deal counters back in line with the database, at start-up
and then periodically (one node at a time).

Each pass:
1. cancels orders left in `pending_payment` past the payment timeout (stock and deal units go
   back);
2. looks at every deal claim older than a few leases: if its order is in the database the claim
   is settled, otherwise (the app died between the Redis gate and the commit) its units go back;
3. recounts every running deal: units left = the database's units left, less the units of
   claims still pending; each buyer's count likewise. This also repairs a Redis that lost its
   last second of writes.

Redis can only ever be wrong on the side the database corrects: a count too high lets a buyer
through the gate to a conditional UPDATE that refuses them (`sold_out`); a count too low is
raised again by the next pass. No unit is sold twice, none is lost for good.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from cart.orders.keys import KeyStore
from cart.orders.service import Announcer, CheckoutService, DealGate, claim_owner
from cart.orders.store import OrderStore
from core.db import utcnow
from core.errors import ErrorCode
from core.tasks import Periodic

log = logging.getLogger(__name__)


class CountingGate(DealGate, Protocol):
    async def claims(self, show_id: int) -> tuple[int, dict[str, dict[str, Any]]]: ...

    async def recount(
        self,
        show_id: int,
        product_id: int,
        deal_id: int,
        generation: int,
        left: int,
        held: dict[str, int],
    ) -> Any: ...


class Reconciler:
    def __init__(
        self,
        *,
        orders: OrderStore,
        gate: CountingGate,
        keys: KeyStore,
        checkout: CheckoutService,
        announce: Announcer,
        lock: Callable[[], Awaitable[bool]],
        lease_seconds: float,
        pending_minutes: int,
        interval_seconds: float,
    ) -> None:
        self._orders = orders
        self._gate = gate
        self._keys = keys
        self._checkout = checkout
        self._announce = announce
        self._lock = lock
        self._claim_age_ms = int(lease_seconds * 3 * 1000)
        self._pending = timedelta(minutes=pending_minutes)
        self._periodic = Periodic("reconcile pass", interval_seconds, self._pass, log)

    async def run_once(self) -> dict[str, int]:
        """One pass; returns what it did (for logs and tests)."""
        done = {"expired": 0, "settled": 0, "released": 0, "recounted": 0, "busy": 0}
        now = utcnow()
        for order_id in await self._orders.stale_pending(now - self._pending):
            failure = {"code": ErrorCode.ORDER_EXPIRED.value, "message": "the order expired"}
            cancelled = await self._orders.cancel(order_id, failure)
            if cancelled is not None:
                await self._checkout.units_returned(cancelled)
                done["expired"] += 1
        shows = {d.show_id for d in await self._orders.running_deals(now)}
        for show_id in sorted(shows):
            await self._old_claims(show_id, done)
            await self._recount(show_id, done)
        return done

    async def _old_claims(self, show_id: int, done: dict[str, int]) -> None:
        """Claims of checkouts that should have finished long ago."""
        oldest = int(time.time() * 1000) - self._claim_age_ms
        _, claims = await self._gate.claims(show_id)
        for claim, held in claims.items():
            if int(held.get("t", 0)) > oldest:
                continue
            buyer, key = claim_owner(claim)
            if await self._keys.in_flight(buyer, key):
                continue
            if await self._orders.find(buyer, key) is not None:
                # The order holds the units (or, cancelled, gave them back itself).
                await self._gate.settle_claim(show_id, claim)
                done["settled"] += 1
            elif await self._gate.release_claim(show_id, claim):
                log.warning("released the deal units of an unfinished checkout")
                self._announce.units(show_id, [int(line[0]) for line in held.get("l", [])])
                done["released"] += 1

    async def _recount(self, show_id: int, done: dict[str, int]) -> None:
        """Redis's counters := the database's, less the claims whose order is not written yet.
        Read in this order (Redis, then the database) and applied only if Redis did not change
        meanwhile, it is exact: an order committed after the database read still has its claim
        counted as pending."""
        generation, claims = await self._gate.claims(show_id)
        deals = await self._orders.running_deals(utcnow(), show_id)
        ordered = await self._orders.ordered([claim_owner(c) for c in claims])
        pending: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for claim, held in claims.items():
            if claim_owner(claim) in ordered:
                continue
            for pid, deal_id, units in held.get("l", []):
                pending[(int(pid), int(deal_id))][str(held["s"])] += int(units)
        for deal in deals:
            waiting = pending.get((deal.product_id, deal.id), {})
            held_now = dict(deal.held)
            for buyer, units in waiting.items():
                held_now[buyer] = held_now.get(buyer, 0) + units
            left = deal.units_left - sum(waiting.values())
            outcome = await self._gate.recount(
                show_id, deal.product_id, deal.id, generation, left, held_now
            )
            if outcome.status == "busy":
                done["busy"] += 1
            elif outcome.status == "ok":
                done["recounted"] += 1
                now_left, before = int(outcome.values[0]), int(outcome.values[1])
                if now_left != before:
                    log.warning(
                        "deal counter corrected",
                        extra={"deal_id": deal.id, "was": before, "now": now_left},
                    )
                    self._announce.units(show_id, [deal.product_id])

    async def _pass(self) -> None:
        if await self._lock():
            done = await self.run_once()
            if any(done.values()):
                log.info("reconciled", extra=done)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
