"""The payment provider interface: payment intents, as current processors model them (Stripe
PaymentIntents, Adyen, Mollie).

Checkout creates an intent for an order's total; the buyer confirms it in the processor's own
component (card data goes from the browser to the processor, never through this server); the
server believes only the processor's word (a verified webhook, or asking it). Every call names
the shop the money is for (so a shop can later have its own processor account) and carries an
idempotency key derived from the order and the operation (`operation_key`), so a retried call is
the same call at the processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class IntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # new, or after a failed attempt
    REQUIRES_ACTION = "requires_action"  # a challenge or a redirect awaits the buyer
    PROCESSING = "processing"  # settles later (a slow method, approval in another app)
    SUCCEEDED = "succeeded"  # captured: final
    CANCELED = "canceled"  # final


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Method(StrEnum):
    CARD = "card"
    BANK_REDIRECT = "bank_redirect"
    APP = "app"


@dataclass(frozen=True, slots=True)
class NextAction:
    type: str  # challenge | redirect | app
    url: str


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    status: IntentStatus
    amount: int
    currency: str
    reference: str
    client_secret: str | None  # only in answers to the server, never logged
    pay_url: str  # the processor's own payment component, for the player to frame
    next_action: NextAction | None
    last_error: Failure | None
    amount_captured: int
    amount_refunded: int

    @property
    def final(self) -> bool:
        return self.status in (IntentStatus.SUCCEEDED, IntentStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    intent: str
    amount: int
    currency: str
    status: RefundStatus
    failure_code: str | None


class ProviderError(Exception):
    """The processor refused the call or could not be reached.

    `retryable`: the same call (same idempotency key) may succeed later; the outcome of the
    call itself may be unknown (a timeout), so it must be asked again, never assumed."""

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, details: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details = details


class IntentSucceeded(ProviderError):
    """A cancel the processor refused because the intent had already succeeded: the money is
    captured, and the order is paid."""

    def __init__(self, intent: Intent) -> None:
        super().__init__("intent_succeeded", "the payment succeeded before the cancel")
        self.intent = intent


class PaymentProvider(Protocol):
    name: str

    async def create_intent(
        self,
        *,
        shop_id: int,
        reference: str,
        amount: int,
        currency: str,
        methods: list[Method],
        return_url: str,
        idempotency_key: str,
    ) -> Intent: ...

    async def retrieve(self, intent_id: str, *, shop_id: int) -> Intent: ...

    async def cancel(self, intent_id: str, *, shop_id: int, idempotency_key: str) -> Intent:
        """Cancels an intent not yet paid; raises IntentSucceeded when it already was."""
        ...

    async def refund(
        self, intent_id: str, *, shop_id: int, amount: int, idempotency_key: str
    ) -> Refund: ...

    async def retrieve_refund(self, refund_id: str, *, shop_id: int) -> Refund: ...


def operation_key(order_id: int, operation: str, number: int | None = None) -> str:
    """The idempotency key of one operation on one order: `order-12-create`,
    `order-12-cancel`, `order-12-refund-3` (the order's third refund). The same operation
    retried (a timeout, a crash and a resume) is the same call at the processor."""
    if not operation.isidentifier():
        raise ValueError(f"not an operation name: {operation!r}")
    key = f"order-{order_id}-{operation}"
    return key if number is None else f"{key}-{number}"


def intent_from(raw: dict[str, Any]) -> Intent:
    """An intent from the processor's JSON (the test processor's and Stripe's field names)."""
    action = raw.get("next_action")
    error = raw.get("last_error")
    return Intent(
        id=str(raw["id"]),
        status=IntentStatus(raw["status"]),
        amount=int(raw["amount"]),
        currency=str(raw["currency"]).upper(),
        reference=str(raw.get("reference", "")),
        client_secret=raw.get("client_secret"),
        pay_url=str(raw.get("pay_url", "")),
        next_action=NextAction(str(action["type"]), str(action["url"])) if action else None,
        last_error=Failure(str(error["code"]), str(error.get("message", ""))) if error else None,
        amount_captured=int(raw.get("amount_captured", 0)),
        amount_refunded=int(raw.get("amount_refunded", 0)),
    )


def refund_from(raw: dict[str, Any]) -> Refund:
    return Refund(
        id=str(raw["id"]),
        intent=str(raw["intent"]),
        amount=int(raw["amount"]),
        currency=str(raw["currency"]).upper(),
        status=RefundStatus(raw["status"]),
        failure_code=raw.get("failure_code"),
    )
