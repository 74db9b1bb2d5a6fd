"""Checkout in the stream, and the orders it makes.

One checkout, in order:
1. The idempotency key is claimed in Redis (or answers what it answered before, or waits for the
   attempt holding it, or takes over an attempt whose holder died).
2. The cart is priced on the server from the show's offer; the buyer's cart version and quote
   must match what they saw.
3. Flash-deal units are taken in Redis (one script for every deal in the cart): sold-out, limit
   and expiry answers end here, without touching the database.
4. One database transaction writes the order (pending payment), its lines and the conditional
   stock and deal decrements; a refusal gives the Redis units back.
5. The card is charged; the order becomes paid, or is cancelled and gives everything back.

A crash anywhere leaves something a retry with the same key or the reconciler finishes: a key
whose lease runs out is taken over, a claim with no order is released, a pending order past its
timeout is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from cart.carts import rules as cart_rules
from cart.carts.service import ShowOffer, ShowOffers
from cart.carts.store import CartStore, Contents
from cart.orders import rules
from cart.orders.keys import KeyStore
from cart.orders.payments import PaymentProvider, PaymentResult
from cart.orders.store import Draft, DuplicateKey, OrderStore, Record, Refused
from core.db import transient, utcnow
from core.errors import AppError, ErrorCode, not_found
from core.faults import NO_FAULTS, Faults
from core.identity import Principal

log = logging.getLogger(__name__)

Units = list[tuple[int, int, int]]  # (product id, deal id, units)

# Fault points a test can arm (the `checkout_fault_points` setting, with `testing`): the process
# kills itself with SIGKILL there, as a crash would. Around every processor call: before it, and
# after it before the write that records what it answered.
FAULT_POINTS = frozenset(
    {
        "after_gate",
        "before_commit",
        "after_commit",
        "before_charge",
        "after_charge",
        "after_payment",
        "before_refund",
        "after_refund",
    }
)


class DealGate(Protocol):
    """Flash-deal units in the live room (the room's Redis store implements it)."""

    async def take_deals(self, show_id: int, claim: str, subject: str, lines: Units) -> Any: ...

    async def settle_claim(self, show_id: int, claim: str) -> None: ...

    async def release_claim(self, show_id: int, claim: str) -> bool: ...

    async def claim(self, show_id: int, claim: str) -> dict[str, Any] | None: ...

    async def return_units(self, show_id: int, subject: str, lines: Units) -> None: ...


class Announcer(Protocol):
    """What the room hears of sales (coalesced): units left, and who bought what."""

    def units(self, show_id: int, product_ids: list[int]) -> None: ...

    def purchase(self, show_id: int, display_name: str, product_id: int, title: str) -> None: ...


def claim_id(buyer: str, key: str) -> str:
    """A checkout's hold on deal units: the buyer and their idempotency key (subjects hold no
    `|`), so the reconciler can find the order it became."""
    return f"{buyer}|{key}"


def claim_owner(claim: str) -> tuple[str, str]:
    buyer, _, key = claim.partition("|")
    return buyer, key


_GATE_REFUSALS = {
    "sold_out": (ErrorCode.SOLD_OUT, "sold out: the deal has no units left"),
    "limit": (ErrorCode.DEAL_LIMIT, "you already have as many of this deal as one buyer may"),
    "expired": (ErrorCode.DEAL_EXPIRED, "the deal has ended"),
    "no_deal": (ErrorCode.PRICE_CHANGED, "the deal is no longer on; check the new price"),
    "ended": (ErrorCode.SHOW_CLOSED, "the show has ended"),
}
# Refusals a retry of a finished checkout can meet when Redis lost the key's record: the
# database is asked for the key's order before they are answered. (Not sold-out: those answers
# stay off the database; the reconciler restores the buyer's deal count, and then `deal_limit`.)
_MAYBE_ORDERED = frozenset(
    {
        ErrorCode.CART_EMPTY,
        ErrorCode.CART_CHANGED,
        ErrorCode.PRICE_CHANGED,
        ErrorCode.ITEM_UNAVAILABLE,
        ErrorCode.DEAL_LIMIT,
    }
)
_DB_REFUSALS = {
    "out_of_stock": (ErrorCode.OUT_OF_STOCK, "an item in your cart is sold out"),
    "sold_out": (ErrorCode.SOLD_OUT, "sold out: the deal has no units left"),
    "deal_limit": (ErrorCode.DEAL_LIMIT, "you already have as many of this deal as one buyer may"),
    "deal_expired": (ErrorCode.DEAL_EXPIRED, "the deal has ended"),
}


class CheckoutService:
    def __init__(
        self,
        *,
        offers: ShowOffers,
        carts: CartStore,
        gate: DealGate,
        orders: OrderStore,
        keys: KeyStore,
        provider: PaymentProvider,
        announce: Announcer,
        secret: bytes,
        lease_seconds: float,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self._offers = offers
        self._carts = carts
        self._gate = gate
        self._orders = orders
        self._keys = keys
        self._provider = provider
        self._announce = announce
        self._secret = secret
        self._lease = lease_seconds
        self._faults = faults

    async def checkout(
        self, show_id: int, buyer: Principal, body: rules.Checkout
    ) -> dict[str, Any]:
        fingerprint = rules.fingerprint(self._secret, show_id, body)
        key = body.idempotency_key
        state, lease = await self._hold_key(buyer.subject, key, fingerprint)
        if state == "done":
            return await self._replay(buyer.subject, key, fingerprint)
        try:
            if state == "takeover":
                # The attempt before this one died; it may have written the order already.
                existing = await self._orders.find(buyer.subject, key)
                if existing is not None:
                    return await self._resume(existing, fingerprint, body.card)
            return await self._fresh(show_id, buyer, body, fingerprint, state == "takeover")
        except AppError as refusal:
            if refusal.code in _MAYBE_ORDERED:
                # Redis lost this key's record with its last writes (and with it the cart's
                # clearing, the buyer's deal count): the order the key made answers the retry.
                existing = await self._orders.find(buyer.subject, key)
                if existing is not None:
                    return await self._resume(existing, fingerprint, body.card, body.cart_version)
            if not refusal.details or "order" not in refusal.details:
                await self._keys.drop(buyer.subject, key, fingerprint)
            raise
        except Exception as exc:
            if transient(exc):
                # Answered `busy`: the retry it asks for takes the key over at once (and finds
                # the order if this attempt wrote one) instead of waiting the lease out.
                await self._keys.free(buyer.subject, key, fingerprint, lease)
            raise

    async def _hold_key(self, buyer: str, key: str, fingerprint: str) -> tuple[str, int]:
        """new, takeover or done, and the lease deadline (ms) this attempt holds; waits while
        another attempt holds the key."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 2 * self._lease + 1
        pause = 0.02
        while True:
            state, lease = await self._keys.begin(buyer, key, fingerprint)
            if state == "conflict":
                raise AppError(
                    ErrorCode.IDEMPOTENCY_CONFLICT,
                    "this idempotency key was used for a different checkout; use a new key",
                    field="idempotency_key",
                )
            if state != "wait":
                return state, lease
            if loop.time() > give_up:
                raise AppError(ErrorCode.BUSY, "this checkout is still in progress; retry")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def _replay(self, buyer: str, key: str, fingerprint: str) -> dict[str, Any]:
        record = await self._orders.find(buyer, key)
        if record is None:  # finished, but Redis remembers an order the database lost
            raise AppError(ErrorCode.BUSY, "this checkout cannot be replayed now; retry")
        if record.order.request_hash != fingerprint:
            raise AppError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this idempotency key was used for a different checkout; use a new key",
                field="idempotency_key",
            )
        return self._answer(record)

    def _answer(self, record: Record) -> dict[str, Any]:
        """The order, or the refusal its payment answered, exactly as the first time."""
        receipt = rules.receipt(record.order, record.lines, record.payment)
        failure = record.order.failure
        if record.order.status == rules.Status.CANCELLED and failure:
            raise AppError(
                ErrorCode(failure["code"]), failure["message"], details={"order": receipt}
            )
        return receipt

    async def _fresh(
        self,
        show_id: int,
        buyer: Principal,
        body: rules.Checkout,
        fingerprint: str,
        takeover: bool = False,
    ) -> dict[str, Any]:
        subject = buyer.subject
        offer = await self._offers(show_id, subject)
        if offer.status == "ended":
            raise AppError(ErrorCode.SHOW_CLOSED, "the show has ended")
        if offer.status != "live":
            raise AppError(ErrorCode.SHOW_NOT_LIVE, "checkout opens when the show goes live")
        if offer.banned:
            raise AppError(ErrorCode.BANNED, "you were removed from this show")
        if body.card.expired(utcnow()):
            raise AppError(ErrorCode.VALIDATION_ERROR, "the card has expired", field="card")
        contents = await self._carts.contents(show_id, subject)
        if not contents.items:
            raise AppError(ErrorCode.CART_EMPTY, "your cart is empty")
        claim = claim_id(subject, body.idempotency_key)
        # An earlier attempt with this key (which died) may hold deal units already: price as
        # that attempt did, and the gate below takes nothing more for it. Only a key taken over
        # can have one: a claim is written after its key, so a Redis that lost the key (the
        # last writes before a crash) lost the claim too.
        held_before = await self._gate.claim(show_id, claim) if takeover else None
        held = {(int(p), int(d)): int(u) for p, d, u in (held_before or {}).get("l", [])}
        offers = cart_rules.with_held(offer.offers, held)
        cart = cart_rules.price_cart(contents.items, offers, offer.currency, contents.version)
        self._check_seen(cart, body, contents.items, offers, offer.currency)

        takes = cart.deal_takes()
        taken = await self._take(show_id, claim, subject, takes, contents) if takes else "none"
        self._faults.hit("after_gate")
        draft = self._draft(show_id, buyer, body, fingerprint, cart, offer)
        try:
            record = await self._orders.place(draft, self._before_commit)
        except DuplicateKey:
            # Another attempt with this key wrote the order. If this one took units afresh (Redis
            # lost that attempt's claim with its last writes), they are not the order's: give
            # them back; the order's own are in the database, which the reconciler recounts from.
            if taken == "ok":
                await self._release(show_id, claim, takes)
            existing = await self._orders.find(subject, body.idempotency_key)
            assert existing is not None
            return await self._resume(existing, fingerprint, body.card, contents.version)
        except Refused as refused:
            await self._release(show_id, claim, takes)
            code, message = _DB_REFUSALS[refused.reason]
            now = await self._cart_now(show_id, subject, contents)
            raise AppError(code, message, details={"cart": now}) from None
        except asyncio.CancelledError:
            # Its batch may commit it all the same: the claim stays for the reconciler, which
            # settles it if the order was written and gives the units back if not.
            raise
        except BaseException:
            await asyncio.shield(self._release(show_id, claim, takes))
            raise
        self._faults.hit("after_commit")
        if takes:
            await self._gate.settle_claim(show_id, claim)
        return await self._pay(record, body.card, fingerprint, contents.version)

    async def _before_commit(self) -> None:
        self._faults.hit("before_commit")

    def _check_seen(
        self,
        cart: cart_rules.PricedCart,
        body: rules.Checkout,
        items: dict[int, int],
        offers: dict[int, cart_rules.Offer],
        currency: str,
    ) -> None:
        details = {"cart": cart.to_dict()}
        if cart.version != body.cart_version:
            raise AppError(
                ErrorCode.CART_CHANGED,
                "your cart changed; check it and pay again",
                details=details,
            )
        if cart.unavailable:
            raise AppError(
                ErrorCode.ITEM_UNAVAILABLE,
                "an item in your cart is no longer on offer; remove it",
                details=details,
            )
        if cart.quote == body.quote:
            return
        unlimited = cart_rules.price_cart(items, offers, currency, cart.version, unlimited=True)
        if unlimited.quote == body.quote:
            raise AppError(
                ErrorCode.SOLD_OUT, "sold out: the deal has no units left", details=details
            )
        raise AppError(
            ErrorCode.PRICE_CHANGED,
            "prices changed; check your cart and pay again",
            details=details,
        )

    async def _take(
        self,
        show_id: int,
        claim: str,
        subject: str,
        takes: Units,
        contents: Contents,
    ) -> str:
        """ok (taken now) or held (by an earlier attempt's claim); refusals raise."""
        outcome = await self._gate.take_deals(show_id, claim, subject, takes)
        if outcome.status in ("ok", "held"):
            self._announce.units(show_id, [pid for pid, _, _ in takes])
            return str(outcome.status)
        code, message = _GATE_REFUSALS[outcome.status]
        # The cart as priced before the gate still counts the units it refused: a retry with
        # that quote would be refused again.
        now = await self._cart_now(show_id, subject, contents)
        raise AppError(code, message, details={"cart": now})

    async def _cart_now(self, show_id: int, subject: str, contents: Contents) -> dict[str, object]:
        """The cart priced as the room offers it now: what a retry is charged."""
        offer = await self._offers(show_id, subject)
        return cart_rules.price_cart(
            contents.items, offer.offers, offer.currency, contents.version
        ).to_dict()

    async def _release(self, show_id: int, claim: str, takes: Units) -> None:
        if takes and await self._gate.release_claim(show_id, claim):
            self._announce.units(show_id, [pid for pid, _, _ in takes])

    def _draft(
        self,
        show_id: int,
        buyer: Principal,
        body: rules.Checkout,
        fingerprint: str,
        cart: cart_rules.PricedCart,
        offer: ShowOffer,
    ) -> Draft:
        products = [line.product_id for line in cart.lines]
        deal_products = [pid for pid, _, _ in cart.deal_takes()]
        pinned = next((p for p in deal_products + products if p in offer.pinned), None)
        return Draft(
            show_id=show_id,
            shop_id=offer.shop_id,
            buyer=buyer.subject,
            account_id=buyer.account_id,
            display_name=buyer.display_name,
            idempotency_key=body.idempotency_key,
            request_hash=fingerprint,
            currency=offer.currency,
            total=cart.total,
            shipping_address=body.shipping_address.model_dump(),
            pinned_product_id=pinned,
            payment_provider=self._provider.name,
            lines=cart.lines,
            email=str(body.email),
            language=body.language,
        )

    async def _resume(
        self, record: Record, fingerprint: str, card: rules.Card, cart_version: int | None = None
    ) -> dict[str, Any]:
        """Finish an order an earlier attempt with this key wrote. `cart_version`: the cart
        version this retry was made from (Redis may have lost the clearing of that cart)."""
        order = record.order
        if order.request_hash != fingerprint:
            raise AppError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this idempotency key was used for a different checkout; use a new key",
                field="idempotency_key",
            )
        if record.deal_lines:
            await self._gate.settle_claim(
                order.show_id, claim_id(order.buyer, order.idempotency_key)
            )
        if order.status == rules.Status.PENDING_PAYMENT:
            return await self._pay(
                record, card, fingerprint, -1 if cart_version is None else cart_version
            )
        await self._keys.finish(order.buyer, order.idempotency_key, fingerprint, order.id)
        if cart_version is not None and order.status == rules.Status.PAID:
            # Emptied only if it is still the very version this order was made from.
            await self._carts.clear_version(order.show_id, order.buyer, cart_version)
        return self._answer(record)

    async def _pay(
        self, record: Record, card: rules.Card, fingerprint: str, cart_version: int = -1
    ) -> dict[str, Any]:
        """Charge, then the order is paid (and leaves the cart) or cancelled (the cart stays,
        for another try with another card)."""
        order = record.order
        self._faults.hit("before_charge")
        result = await self._provider.charge(
            order.total, order.currency, card, idempotency_key=f"order-{order.id}"
        )
        self._faults.hit("after_charge")
        brand = (card.brand, card.last4)
        paid: Record | None = None
        if result.approved:
            paid = await self._orders.mark_paid(record, result, brand)
            if paid is None:
                # Cancelled meanwhile (it waited past the payment timeout): give the money back.
                self._faults.hit("before_refund")
                await self._provider.refund(result.reference, order.total, order.currency)
                self._faults.hit("after_refund")
                failure = {"code": ErrorCode.ORDER_EXPIRED.value, "message": "the order expired"}
                await self._orders.cancel(order.id, failure)
        else:
            code = (
                ErrorCode.PAYMENT_DECLINED
                if result.status == "declined"
                else ErrorCode.PAYMENT_ERROR
            )
            failure = {"code": code.value, "message": _failure_message(result)}
            cancelled = await self._orders.cancel(order.id, failure, result, brand)
            if cancelled is not None:
                await self.units_returned(cancelled)
        self._faults.hit("after_payment")
        await self._keys.finish(order.buyer, order.idempotency_key, fingerprint, order.id)
        done = paid if paid is not None else await self._orders.get(order.id)
        assert done is not None
        if done.order.status == rules.Status.PAID:
            await self._leave_cart(done, cart_version)
            self._announce_sale(done)
        return self._answer(done)

    async def _leave_cart(self, record: Record, cart_version: int) -> None:
        """A paid order's items leave the cart: all of it if it is still the version ordered."""
        ordered: dict[int, int] = {}
        for line in record.lines:
            ordered[line.variant_id] = ordered.get(line.variant_id, 0) + line.quantity
        order = record.order
        await self._carts.clear_ordered(order.show_id, order.buyer, cart_version, ordered)

    async def units_returned(self, record: Record) -> None:
        """A cancelled order's deal units go back to the room's counters."""
        lines = record.deal_lines
        if lines:
            await self._gate.return_units(record.order.show_id, record.order.buyer, lines)
            self._announce.units(record.order.show_id, [pid for pid, _, _ in lines])

    def _announce_sale(self, record: Record) -> None:
        order = record.order
        line = next(
            (ln for ln in record.lines if ln.product_id == order.pinned_product_id),
            record.lines[0],
        )
        self._announce.purchase(order.show_id, order.display_name, line.product_id, line.title)


def _failure_message(result: PaymentResult) -> str:
    if result.status == "declined":
        return result.message or "the card was declined"
    return result.message or "the payment could not be processed; try again"


class OrderService:
    """Reading orders (a buyer their own; a shop's members a show's) and the shop's actions."""

    def __init__(
        self,
        orders: OrderStore,
        provider: PaymentProvider,
        carts: CartStore,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self._orders = orders
        self._provider = provider
        self._carts = carts
        self._faults = faults

    async def mine(self, buyer: Principal, before: int | None, limit: int) -> dict[str, Any]:
        records = await self._orders.buyer_orders(buyer.subject, before, limit)
        return {"orders": [rules.receipt(r.order, r.lines, r.payment) for r in records]}

    async def one_of_mine(self, buyer: Principal, order_id: int) -> dict[str, Any]:
        record = await self._orders.get(order_id)
        # Another buyer's order answers exactly like a missing one.
        if record is None or record.order.buyer != buyer.subject:
            raise not_found("order")
        return rules.receipt(record.order, record.lines, record.payment)

    async def of_show(self, show_id: int, before: int | None, limit: int) -> dict[str, Any]:
        records = await self._orders.show_orders(show_id, before, limit)
        return {
            "orders": [_for_shop(r) for r in records],
            "summary": {
                **await self._orders.show_summary(show_id),
                "add_to_carts": await self._carts.adds(show_id),
            },
        }

    async def csv_rows(self, show_id: int) -> list[list[str]]:
        records = await self._orders.show_orders(show_id, None, None)
        return [rules.csv_row(_for_shop(r), r.order.display_name) for r in reversed(records)]

    async def _shops_order(self, shop_id: int, order_id: int) -> Record:
        record = await self._orders.get(order_id)
        if record is None or record.order.shop_id != shop_id:
            raise not_found("order")
        return record

    async def refund(self, shop_id: int, order_id: int) -> dict[str, Any]:
        record = await self._shops_order(shop_id, order_id)
        order = record.order
        if order.status not in (rules.Status.PAID, rules.Status.FULFILLED):
            raise AppError(
                ErrorCode.INVALID_TRANSITION, f"a {order.status} order cannot be refunded"
            )
        # A paid order's latest charge is the approved one.
        reference = "" if record.payment is None else record.payment.reference
        self._faults.hit("before_refund")
        result = await self._provider.refund(reference, order.total, order.currency)
        self._faults.hit("after_refund")
        if not result.approved:
            raise AppError(ErrorCode.PAYMENT_ERROR, "the payment provider refused the refund")
        refunded = await self._orders.refund(order_id, shop_id, result)
        if refunded is None:
            raise AppError(ErrorCode.INVALID_TRANSITION, "the order was refunded already")
        return _for_shop(refunded)

    async def fulfil(self, shop_id: int, order_id: int) -> dict[str, Any]:
        record = await self._shops_order(shop_id, order_id)
        if not await self._orders.fulfil(order_id, shop_id):
            raise AppError(
                ErrorCode.INVALID_TRANSITION, f"a {record.order.status} order cannot be fulfilled"
            )
        done = await self._orders.get(order_id)
        assert done is not None
        return _for_shop(done)


def _for_shop(record: Record) -> dict[str, Any]:
    """The shop's view: the receipt plus the buyer's display name (never an email)."""
    return {
        **rules.receipt(record.order, record.lines, record.payment),
        "buyer": {"display_name": record.order.display_name},
    }
