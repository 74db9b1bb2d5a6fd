"""Payment providers. Checkout charges synchronously through one of these; the built-in `test`
provider behaves like a card processor's test mode, so the whole flow runs without a network.

Test cards (any future expiry, any CVC):

| number             | answer                                   |
|--------------------|------------------------------------------|
| 4242424242424242   | approved (so is any other valid number)  |
| 4000000000000002   | declined: `card_declined`                |
| 4000000000009995   | declined: `insufficient_funds`           |
| 4000000000000069   | declined: `expired_card`                 |
| 4000000000000119   | processor error: `processing_error`      |
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from cart.orders.rules import Card

Outcome = Literal["approved", "declined", "error"]


@dataclass(frozen=True, slots=True)
class PaymentResult:
    status: Outcome
    reference: str  # the provider's id for the charge or refund
    code: str = ""  # why it was declined or failed
    message: str = ""

    @property
    def approved(self) -> bool:
        return self.status == "approved"


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self, amount: int, currency: str, card: Card, idempotency_key: str
    ) -> PaymentResult:
        """Charge the card. `idempotency_key` (one per order) makes a retried charge the same
        charge at a provider that supports it."""
        ...

    async def refund(self, reference: str, amount: int, currency: str) -> PaymentResult: ...


_DECLINES = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": ("expired_card", "Your card has expired."),
}
_ERRORS = {"4000000000000119": ("processing_error", "The card processor had an error; try again.")}


class TestProvider:
    """Answers at once from the card number (see the table above). Charges are remembered per
    idempotency key for the life of the process, like a real provider's idempotent charges."""

    __test__ = False  # not a pytest class
    name = "test"

    def __init__(self, latency_s: float = 0.0) -> None:
        self._latency = latency_s
        self._charges: dict[str, PaymentResult] = {}

    async def charge(
        self, amount: int, currency: str, card: Card, idempotency_key: str
    ) -> PaymentResult:
        if self._latency:
            await asyncio.sleep(self._latency)
        done = self._charges.get(idempotency_key)
        if done is not None:
            return done
        if card.number in _DECLINES:
            code, message = _DECLINES[card.number]
            result = PaymentResult("declined", _ref("ch"), code, message)
        elif card.number in _ERRORS:
            code, message = _ERRORS[card.number]
            result = PaymentResult("error", _ref("ch"), code, message)
        else:
            result = PaymentResult("approved", _ref("ch"))
        if len(self._charges) > 100_000:
            self._charges.clear()
        self._charges[idempotency_key] = result
        return result

    async def refund(self, reference: str, amount: int, currency: str) -> PaymentResult:
        return PaymentResult("approved", _ref("re"))


def _ref(kind: str) -> str:
    return f"{kind}_test_{uuid.uuid4().hex[:20]}"
