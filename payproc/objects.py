"""The wire shapes of the API: intents, refunds, events and the ledger."""

from __future__ import annotations

from typing import TypedDict


class NextAction(TypedDict):
    type: str
    url: str


class PublicIntent(TypedDict):
    """What the card form sees: nothing the buyer should not."""

    id: str
    status: str
    amount: int
    currency: str
    methods: list[str]
    last_error: dict[str, str] | None
    next_action: NextAction | None


class Intent(PublicIntent):
    object: str
    reference: str
    shop: str
    return_url: str
    created: int
    pay_url: str
    card_last4: str | None
    amount_captured: int
    amount_refunded: int


class ApiIntent(Intent):
    client_secret: str


class Refund(TypedDict):
    id: str
    object: str
    intent: str
    amount: int
    currency: str
    status: str
    failure_code: str | None
    created: int


class LedgerLine(TypedDict):
    id: str
    reference: str
    shop: str
    currency: str
    amount: int
    status: str
    captured: int
    refunded: int
    charges: int
    refunds_pending: int


class Ledger(TypedDict):
    intents: list[LedgerLine]
