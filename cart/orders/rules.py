"""Checkout and order rules, without I/O: what a checkout request may hold, how its fingerprint
is made (for idempotency), the order's states and what a receipt shows.

Checkout semantics (as Stripe documents idempotent requests):
- The client makes an idempotency key (1-255 printable characters) per purchase attempt. The
  same key with the same request gives the same answer (the same order), even when sent many
  times at once; the same key with a different request is refused (`idempotency_conflict`).
- A request that is refused before any order exists (the cart changed, sold out, invalid
  address...) leaves the key unused: fix the request and send it again with the same key.
- Once an order exists for a key, the key answers with that order: paid, or the payment's
  refusal (a declined card answers `payment_declined` again). A new attempt needs a new key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from core.db import MAX_ID
from core.text import plain_text, spreadsheet_safe

PENDING_PAYMENT_MINUTES = 15

IdempotencyKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$"),
    Field(strict=True),
]


class _Strict(BaseModel):
    # Unknown fields are refused: a client-sent price, total or currency never gets through.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


AddressLine = Annotated[str, plain_text(100)]
OptionalLine = Annotated[str, plain_text(100, optional=True)]


class Address(_Strict):
    name: AddressLine
    line1: AddressLine
    line2: OptionalLine = ""
    city: AddressLine
    region: OptionalLine = ""
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{0,24}$")] = ""

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value) is None:
            raise ValueError("must be an ISO 3166 country code, like DE or US")
        return value


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Card(_Strict):
    """Card details for the payment provider. Only the brand and last four digits are kept."""

    number: Annotated[str, StringConstraints(pattern=r"^[0-9]{12,19}$")]
    exp_month: Annotated[int, Field(ge=1, le=12, strict=True)]
    exp_year: Annotated[int, Field(ge=2000, le=2100, strict=True)]
    cvc: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,4}$")]

    @field_validator("number")
    @classmethod
    def _luhn(cls, value: str) -> str:
        if not luhn_ok(value):
            raise ValueError("is not a valid card number")
        return value

    def expired(self, now: datetime) -> bool:
        return (self.exp_year, self.exp_month) < (now.year, now.month)

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def brand(self) -> str:
        n = self.number
        if n.startswith("4"):
            return "visa"
        if n[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(n[:4]) <= 2720:
            return "mastercard"
        if n[:2] in {"34", "37"}:
            return "amex"
        return "card"


# The languages emails are written in (the player's too).
Language = Literal["en", "de"]


class Checkout(_Strict):
    """What the buyer sends: the cart they saw (its version and quote), where to ship, where
    to email the confirmation and in which language, how to pay, and their idempotency key.
    Never a price, a total or a currency."""

    idempotency_key: IdempotencyKey
    cart_version: Annotated[int, Field(ge=0, le=2**53, strict=True)]
    quote: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    shipping_address: Address
    email: EmailStr
    language: Language = "en"
    card: Card


def fingerprint(secret: bytes, show_id: int, body: Checkout) -> str:
    """The request, for comparing retries: a keyed hash (the card number never lies in the clear
    or as a guessable hash)."""
    raw = json.dumps(
        [show_id, body.model_dump(exclude={"idempotency_key"})],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()


class Status(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


# Which states an order may move to, and from where.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PAID: frozenset({Status.PENDING_PAYMENT}),
    Status.CANCELLED: frozenset({Status.PENDING_PAYMENT}),
    Status.FULFILLED: frozenset({Status.PAID}),
    Status.REFUNDED: frozenset({Status.PAID, Status.FULFILLED}),
}

# Orders that hold stock and deal units (a cancelled order gave them back).
HOLDING = frozenset({Status.PENDING_PAYMENT, Status.PAID, Status.FULFILLED, Status.REFUNDED})
# Orders whose money the shop keeps.
REVENUE = frozenset({Status.PAID, Status.FULFILLED})


def order_number(order_id: int) -> str:
    return f"LS-{order_id:06d}"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def receipt(order: Any, lines: list[Any], payment: Any | None) -> dict[str, Any]:
    """What the buyer sees of their order (and the shop, with the buyer's display name)."""
    return {
        "id": order.id,
        "number": order_number(order.id),
        "show_id": order.show_id,
        "status": order.status,
        "currency": order.currency,
        "items": order.items,
        "total": order.total,
        "lines": [
            {
                "variant_id": ln.variant_id,
                "product_id": ln.product_id,
                "title": ln.title,
                "options": ln.options,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "deal_quantity": ln.deal_quantity,
                "deal_price": ln.deal_price,
                "total": ln.total,
            }
            for ln in lines
        ],
        "shipping_address": order.shipping_address,
        "pinned_product_id": order.pinned_product_id,
        "payment": None
        if payment is None
        else {"brand": payment.card_brand, "last4": payment.card_last4, "status": payment.status},
        "created_at": iso(order.created_at),
        "paid_at": iso(order.paid_at),
        "fulfilled_at": iso(order.fulfilled_at),
        "cancelled_at": iso(order.cancelled_at),
        "refunded_at": iso(order.refunded_at),
    }


def email_data(order: Any, lines: list[Any], shop: str, show: str) -> dict[str, Any]:
    """What an order's emails show (kept in the outbox row as it was when they were written)."""
    return {
        "number": order_number(order.id),
        "shop": shop,
        "show": show,
        "currency": order.currency,
        "total": order.total,
        "lines": [
            {
                "title": ln.title,
                "variant": ", ".join(f"{k}: {v}" for k, v in sorted(ln.options.items())),
                "quantity": ln.quantity,
                "price": ln.total,
            }
            for ln in lines
        ],
        "shipping_address": order.shipping_address,
    }


CSV_COLUMNS = [
    "number",
    "created_at",
    "status",
    "buyer",
    "items",
    "total",
    "currency",
    "lines",
    "ship_to",
    "country",
]


def csv_row(order: dict[str, Any], buyer: str) -> list[str]:
    address = order["shipping_address"]
    lines = "; ".join(f"{ln['quantity']} x {ln['title']}" for ln in order["lines"])
    return [
        order["number"],
        order["created_at"] or "",
        order["status"],
        spreadsheet_safe(buyer),
        str(order["items"]),
        str(order["total"]),
        order["currency"],
        spreadsheet_safe(lines),
        spreadsheet_safe(
            f"{address['name']}, {address['line1']}, {address['postal_code']} {address['city']}"
        ),
        address["country"],
    ]


class OrderQuery(BaseModel):
    """Paging through orders, newest first: `before` an order id."""

    model_config = ConfigDict(extra="forbid")

    before: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
