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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Protocol

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
    deal_id: int | None = None


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
    deal_id: int | None
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
            "deal_id": self.deal_id,
            "total": self.total,
        }


def price_line(offer: Offer, quantity: int, unlimited: bool = False) -> Line:
    """Units within the deal's remaining and per-buyer limits at the deal price, the rest at the
    catalog price: a buyer never gets more deal units than the deal allows them. `unlimited`
    prices as if the deal had units left (to tell "sold out" from "price changed")."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"quantity must be between 1 and {MAX_QUANTITY}",
            field="quantity",
        )
    at_deal = 0
    # A deal never raises a price: a variant priced at or below the deal price (its price was
    # lowered after the deal was pinned) keeps its own price and takes none of the deal's units.
    deal_price = offer.deal_price
    if deal_price is not None and deal_price >= offer.price:
        deal_price = None
    if deal_price is not None:
        left = quantity if unlimited else offer.deal_left
        at_deal = max(0, min(quantity, left, offer.per_buyer_left))
    total = at_deal * (deal_price or 0) + (quantity - at_deal) * offer.price
    return Line(
        variant_id=offer.variant_id,
        product_id=offer.product_id,
        title=offer.title,
        options=offer.options,
        quantity=quantity,
        unit_price=offer.price,
        deal_quantity=at_deal,
        deal_price=deal_price,
        deal_id=offer.deal_id if at_deal else None,
        total=total,
    )


class DealLine(Protocol):
    @property
    def product_id(self) -> int: ...
    @property
    def deal_id(self) -> int | None: ...
    @property
    def deal_quantity(self) -> int: ...


def deal_units(lines: Sequence[DealLine]) -> list[tuple[int, int, int]]:
    """(product id, deal id, units) per flash deal among the lines, summed over variants."""
    takes: dict[tuple[int, int], int] = {}
    for line in lines:
        if line.deal_id is not None and line.deal_quantity:
            key = (line.product_id, line.deal_id)
            takes[key] = takes.get(key, 0) + line.deal_quantity
    return [(pid, deal_id, units) for (pid, deal_id), units in sorted(takes.items())]


@dataclass(frozen=True, slots=True)
class PricedCart:
    version: int
    currency: str
    lines: list[Line]
    unavailable: list[int]

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def quote(self) -> str:
        """A short digest of what the buyer is shown (version, lines, prices, total). Checkout
        sends it back, so a buyer is never charged a price they did not see."""
        seen = [
            self.version,
            self.currency,
            [
                [ln.variant_id, ln.quantity, ln.unit_price, ln.deal_quantity, ln.deal_price]
                for ln in self.lines
            ],
            self.unavailable,
            self.total,
        ]
        raw = json.dumps(seen, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def deal_takes(self) -> list[tuple[int, int, int]]:
        return deal_units(self.lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "quote": self.quote,
            "currency": self.currency,
            "lines": [line.to_dict() for line in self.lines],
            "unavailable": self.unavailable,
            "items": self.items,
            "total": self.total,
        }


def with_held(offers: dict[int, Offer], held: dict[tuple[int, int], int]) -> dict[int, Offer]:
    """The offers as the buyer saw them before their own pending checkout took deal units
    (`held`: units by (product id, deal id)): a retried checkout is priced as its first attempt
    was."""
    out = {}
    for vid, o in offers.items():
        units = held.get((o.product_id, o.deal_id or 0), 0)
        if units:
            o = replace(o, deal_left=o.deal_left + units, per_buyer_left=o.per_buyer_left + units)
        out[vid] = o
    return out


def price_cart(
    items: dict[int, int],
    offers: dict[int, Offer],
    currency: str,
    version: int,
    unlimited: bool = False,
) -> PricedCart:
    """The cart as the buyer sees it. Items whose variant is no longer on offer are listed as
    unavailable and count for nothing."""
    lines = []
    unavailable = []
    for variant_id, quantity in sorted(items.items()):
        offer = offers.get(variant_id)
        if offer is None:
            unavailable.append(variant_id)
            continue
        lines.append(price_line(offer, quantity, unlimited))
    return PricedCart(version, currency, lines, unavailable)
