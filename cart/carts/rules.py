"""Cart rules, without I/O: what a client may send (quantities only, never prices), and how the
server prices a cart: unit price per line (the flash-deal price while the deal runs and the
buyer is within its per-buyer limit), line totals and the cart total, in integer minor units.

Design for the checkout work that builds on this (recorded here so the next step follows it):
- Reservation policy: first paid, first served. Adding to a cart holds nothing; stock of record
  is decremented in the order's transaction with a conditional UPDATE (CHECK stock >= 0 is the
  last guard). Flash-deal units are gated in Redis at checkout by one Lua script
  (check-and-decrement of the deal's units and the buyer's per-buyer count), so a sold-out
  answer never reaches the database. A buyer sees "sold out" at checkout, never a cart that
  silently shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.db import MAX_ID
from core.errors import AppError, ErrorCode

MAX_QUANTITY = 10  # per line, default; a setting can lower it
MAX_LINES = 50

Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]


class _Strict(BaseModel):
    # Unknown fields are refused: a client-sent price, total or currency never gets through.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AddItem(_Strict):
    variant_id: Id
    quantity: Quantity = 1


class SetQuantity(_Strict):
    variant_id: Id
    quantity: Quantity


class QuantityBody(_Strict):
    """The body of a quantity change: the variant is in the URL."""

    quantity: Quantity


class RemoveItem(_Strict):
    variant_id: Id


class Empty(_Strict):
    pass


@dataclass(frozen=True, slots=True)
class Offer:
    """What the server knows about one variant when it prices a cart."""

    variant_id: int
    product_id: int
    title: str
    options: dict[str, str]
    price: int  # the catalog price of the variant, minor units
    deal_price: int | None = None  # set while a flash deal on the product runs
    deal_left: int = 0  # units of the deal still on offer
    per_buyer_left: int = 0  # how many more this buyer may take at the deal price


@dataclass(frozen=True, slots=True)
class Line:
    variant_id: int
    product_id: int
    title: str
    options: dict[str, str]
    quantity: int
    unit_price: int
    deal_quantity: int  # how many of `quantity` are at the deal price
    deal_price: int | None
    total: int

    def to_dict(self) -> dict[str, object]:
        return {
            "variant_id": self.variant_id,
            "product_id": self.product_id,
            "title": self.title,
            "options": self.options,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "deal_quantity": self.deal_quantity,
            "deal_price": self.deal_price,
            "total": self.total,
        }


def price_line(offer: Offer, quantity: int) -> Line:
    """Units within the deal's remaining and per-buyer limits at the deal price, the rest at the
    catalog price: a buyer never gets more deal units than the deal allows them."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"quantity must be between 1 and {MAX_QUANTITY}",
            field="quantity",
        )
    at_deal = 0
    if offer.deal_price is not None:
        at_deal = max(0, min(quantity, offer.deal_left, offer.per_buyer_left))
    total = at_deal * (offer.deal_price or 0) + (quantity - at_deal) * offer.price
    return Line(
        variant_id=offer.variant_id,
        product_id=offer.product_id,
        title=offer.title,
        options=offer.options,
        quantity=quantity,
        unit_price=offer.price,
        deal_quantity=at_deal,
        deal_price=offer.deal_price,
        total=total,
    )


def price_cart(
    items: dict[int, int], offers: dict[int, Offer], currency: str, version: int
) -> dict[str, object]:
    """The cart as the buyer sees it. Items whose variant is no longer on offer are listed as
    unavailable and count for nothing."""
    lines = []
    unavailable = []
    for variant_id, quantity in sorted(items.items()):
        offer = offers.get(variant_id)
        if offer is None:
            unavailable.append(variant_id)
            continue
        lines.append(price_line(offer, quantity))
    return {
        "version": version,
        "currency": currency,
        "lines": [line.to_dict() for line in lines],
        "unavailable": unavailable,
        "items": sum(line.quantity for line in lines),
        "total": sum(line.total for line in lines),
    }
