"""Test cards: what each number does, Luhn, expiry and CVC checks. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CardOutcome(enum.StrEnum):
    SUCCEED = "succeed"
    DECLINE = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CHALLENGE = "challenge"
    PROCESSING_ERROR = "processing_error"
    DELAYED = "delayed"
    REFUND_FAILS = "refund_fails"


# Stripe's test numbers, so anyone who knows them knows these.
TEST_CARDS: dict[str, CardOutcome] = {
    "4242424242424242": CardOutcome.SUCCEED,
    "4000000000000002": CardOutcome.DECLINE,
    "4000000000009995": CardOutcome.INSUFFICIENT_FUNDS,
    "4000002500003155": CardOutcome.CHALLENGE,
    "4000000000000119": CardOutcome.PROCESSING_ERROR,
    "4000000000000259": CardOutcome.DELAYED,
    "4000000000005126": CardOutcome.REFUND_FAILS,
}

ERROR_MESSAGES = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "processing_error": "The processor could not process the card; try again.",
    "authentication_failed": "The card's authentication (challenge) failed.",
    "bank_declined": "The bank declined the payment.",
    "app_declined": "The payment was declined in the app.",
    "incorrect_number": "The card number is not valid.",
    "invalid_expiry": "The card's expiry date is not valid or has passed.",
    "invalid_cvc": "The card's security code is not valid.",
}


@dataclass(frozen=True, slots=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalise_number(raw: str) -> str:
    return "".join(ch for ch in raw if ch not in " -")


def card_error(card: Card, year: int, month: int) -> str | None:
    """The error code for a card that cannot be charged at all, given today's year and month."""
    if not luhn_ok(card.number):
        return "incorrect_number"
    if not 1 <= card.exp_month <= 12:
        return "invalid_expiry"
    exp_year = card.exp_year + 2000 if card.exp_year < 100 else card.exp_year
    if (exp_year, card.exp_month) < (year, month):
        return "invalid_expiry"
    if not (card.cvc.isdigit() and 3 <= len(card.cvc) <= 4):
        return "invalid_cvc"
    return None


def outcome(card: Card) -> CardOutcome:
    """Any other valid number succeeds, as in a processor's test mode."""
    return TEST_CARDS.get(card.number, CardOutcome.SUCCEED)
