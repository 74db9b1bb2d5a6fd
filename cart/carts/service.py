"""Cart use cases: view, add (the Buy button), change quantity, remove. Prices and totals are
always computed here from the catalog and the show's running deals; clients send quantities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cart.carts import rules
from cart.carts.store import CartStore, Contents
from core.errors import AppError, ErrorCode, not_found
from core.identity import Principal


@dataclass(frozen=True, slots=True)
class ShowOffer:
    """A show as a shop window: its currency and state, and every variant of its lineup."""

    shop_id: int
    currency: str
    status: str
    banned: bool
    offers: dict[int, rules.Offer]
    in_stock: dict[int, bool]
    pinned: list[int]  # products pinned now


class ShowOffers(Protocol):
    """The show's offer for one buyer (server injects it: shows, catalog and the live room)."""

    async def __call__(self, show_id: int, subject: str) -> ShowOffer: ...


class CartService:
    def __init__(self, store: CartStore, offers: ShowOffers) -> None:
        self._store = store
        self._offers = offers

    async def view(self, show_id: int, buyer: Principal) -> dict[str, Any]:
        offer = await self._offers(show_id, buyer.subject)
        return await self._priced(show_id, buyer, offer)

    async def _priced(
        self, show_id: int, buyer: Principal, offer: ShowOffer, contents: Contents | None = None
    ) -> dict[str, Any]:
        if contents is None:
            contents = await self._store.contents(show_id, buyer.subject)
        cart = rules.price_cart(contents.items, offer.offers, offer.currency, contents.version)
        return {"show_id": show_id, **cart.to_dict()}

    async def _open_offer(self, show_id: int, buyer: Principal) -> ShowOffer:
        offer = await self._offers(show_id, buyer.subject)
        if offer.status == "ended":
            raise AppError(ErrorCode.SHOW_CLOSED, "the show has ended")
        if offer.banned:
            raise AppError(ErrorCode.BANNED, "you were removed from this show")
        return offer

    async def add(self, show_id: int, buyer: Principal, body: rules.AddItem) -> dict[str, Any]:
        offer = await self._open_offer(show_id, buyer)
        if body.variant_id not in offer.offers:
            raise not_found("variant")
        if not offer.in_stock.get(body.variant_id, False):
            raise AppError(ErrorCode.OUT_OF_STOCK, "this item is sold out", field="variant_id")
        change = await self._store.add(
            show_id,
            buyer.subject,
            body.variant_id,
            body.quantity,
            rules.MAX_QUANTITY,
            rules.MAX_LINES,
        )
        if change.status == "too_many":
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"at most {rules.MAX_QUANTITY} of one item per order ({change.value} in the cart)",
                field="quantity",
            )
        if change.status == "too_many_lines":
            raise AppError(ErrorCode.CONFLICT, f"a cart holds at most {rules.MAX_LINES} lines")
        return await self._priced(show_id, buyer, offer, change.cart)

    async def set_quantity(
        self, show_id: int, buyer: Principal, body: rules.SetQuantity
    ) -> dict[str, Any]:
        offer = await self._open_offer(show_id, buyer)
        change = await self._store.set(show_id, buyer.subject, body.variant_id, body.quantity)
        if change.status == "missing":
            raise not_found("cart item")
        return await self._priced(show_id, buyer, offer, change.cart)

    async def remove(
        self, show_id: int, buyer: Principal, body: rules.RemoveItem
    ) -> dict[str, Any]:
        offer = await self._offers(show_id, buyer.subject)
        change = await self._store.remove(show_id, buyer.subject, body.variant_id)
        if change.status == "missing":
            raise not_found("cart item")
        return await self._priced(show_id, buyer, offer, change.cart)
