"""The intent model's rules: request validation, status transitions and refund arithmetic.
Pure: every function takes what it needs and answers what should change."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import pycountry

from payproc.cards import ERROR_MESSAGES, CardOutcome


class Status(enum.StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


METHODS = ("card", "bank_redirect", "app")
Method = Literal["card", "bank_redirect", "app"]
ActionKind = Literal["challenge", "redirect", "app"]
Decision = Literal["approve", "decline"]
MAX_AMOUNT = 99_999_999


class ProcessorError(Exception):
    """An answer that is not a success: `code` is stable, `status` the HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def invalid(message: str) -> ProcessorError:
    return ProcessorError(400, "invalid_request", message)


@dataclass(frozen=True, slots=True)
class CreateIntent:
    amount: int
    currency: str
    reference: str
    shop: str
    methods: tuple[str, ...]
    return_url: str


def _text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise invalid(f"{name} must be a string of 1 to {limit} characters")
    return value


def parse_create(body: Any) -> CreateIntent:
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise invalid(f"amount must be an integer of minor units from 1 to {MAX_AMOUNT}")
    currency = body.get("currency")
    if (
        not isinstance(currency, str)
        or not re.fullmatch(r"[A-Za-z]{3}", currency)
        or pycountry.currencies.get(alpha_3=currency.upper()) is None
    ):
        raise invalid("currency must be an ISO 4217 code such as EUR")
    methods = body.get("methods", ["card"])
    if (
        not isinstance(methods, list)
        or not methods
        or any(m not in METHODS for m in methods)
        or len(set(methods)) != len(methods)
    ):
        raise invalid(f"methods must be a non-empty list of distinct {list(METHODS)}")
    return_url = _text(body, "return_url", 2000)
    parts = urlsplit(return_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("return_url must be an http or https URL")
    return CreateIntent(
        amount=amount,
        currency=currency.upper(),
        reference=_text(body, "reference"),
        shop=_text(body, "shop"),
        methods=tuple(methods),
        return_url=return_url,
    )


def error_info(code: str) -> dict[str, str]:
    return {"code": code, "message": ERROR_MESSAGES.get(code, code)}


@dataclass(frozen=True, slots=True)
class Step:
    """What an action does to an intent: its new status, the event to write, the charge to
    record (its status) and, for a delayed settlement, when it settles."""

    status: Status
    event: str
    last_error: dict[str, str] | None = None
    next_action: ActionKind | None = None
    charge: Literal["succeeded", "failed", "pending"] | None = None
    settle_in: float | None = None


def check_confirmable(status: str, methods: tuple[str, ...], method: str) -> None:
    if status == Status.SUCCEEDED:
        raise ProcessorError(409, "intent_succeeded", "The intent has already succeeded.")
    if status == Status.CANCELED:
        raise ProcessorError(409, "intent_canceled", "The intent was canceled.")
    if status == Status.PROCESSING:
        raise ProcessorError(409, "intent_processing", "The intent is being processed.")
    if method not in methods:
        raise ProcessorError(400, "method_not_allowed", f"This intent does not accept {method}.")


def _failed(code: str) -> Step:
    return Step(
        Status.REQUIRES_PAYMENT_METHOD,
        "intent.payment_failed",
        last_error=error_info(code),
        charge="failed",
    )


def confirm_card(outcome: CardOutcome, settle_delay: float) -> Step:
    if outcome in (CardOutcome.SUCCEED, CardOutcome.REFUND_FAILS):
        return Step(Status.SUCCEEDED, "intent.succeeded", charge="succeeded")
    if outcome == CardOutcome.CHALLENGE:
        return Step(Status.REQUIRES_ACTION, "intent.requires_action", next_action="challenge")
    if outcome == CardOutcome.DELAYED:
        return Step(
            Status.PROCESSING, "intent.processing", charge="pending", settle_in=settle_delay
        )
    return _failed(outcome.value)


def confirm_other(method: str) -> Step:
    if method == "bank_redirect":
        return Step(Status.REQUIRES_ACTION, "intent.requires_action", next_action="redirect")
    return Step(Status.PROCESSING, "intent.processing", next_action="app")


DECLINE_CODES: dict[ActionKind, str] = {
    "challenge": "authentication_failed",
    "redirect": "bank_declined",
    "app": "app_declined",
}


def resolve(status: str, pending: str | None, kind: ActionKind, decision: Decision) -> Step:
    """The buyer's answer to a challenge, at the bank, or in the app."""
    expected = Status.PROCESSING if kind == "app" else Status.REQUIRES_ACTION
    if status != expected or pending != kind:
        raise ProcessorError(409, "no_pending_action", f"The intent awaits no {kind} answer.")
    if decision == "approve":
        return Step(Status.SUCCEEDED, "intent.succeeded", charge="succeeded")
    return _failed(DECLINE_CODES[kind])


def settle(status: str) -> Step | None:
    """A delayed charge settling: None when the intent moved on meanwhile."""
    if status != Status.PROCESSING:
        return None
    return Step(Status.SUCCEEDED, "intent.succeeded", charge="succeeded")


def cancel(status: str) -> Step | None:
    """None when it is already canceled (canceling again answers the intent as it is)."""
    if status == Status.SUCCEEDED:
        raise ProcessorError(409, "intent_succeeded", "The intent has already succeeded.")
    if status == Status.PROCESSING:
        raise ProcessorError(409, "intent_processing", "The intent is being processed.")
    if status == Status.CANCELED:
        return None
    return Step(Status.CANCELED, "intent.canceled")


def refund_amount(status: str, captured: int, committed: int, requested: Any) -> int:
    """The amount to refund: `committed` is what pending and succeeded refunds already hold."""
    if status != Status.SUCCEEDED:
        raise ProcessorError(409, "intent_not_succeeded", "Only a succeeded intent is refunded.")
    remaining = captured - committed
    if remaining <= 0:
        raise ProcessorError(409, "already_refunded", "The intent is refunded in full.")
    if requested is None:
        return remaining
    if not isinstance(requested, int) or isinstance(requested, bool) or requested <= 0:
        raise invalid("amount must be a positive integer of minor units")
    if requested > remaining:
        raise ProcessorError(
            400,
            "amount_too_large",
            f"At most {remaining} can still be refunded.",
            {"refundable": remaining},
        )
    return requested


def backoff(attempt: int, base: float, cap: float = 300.0) -> float:
    """Seconds before retry number `attempt` (1-based): base, 2 base, 4 base, … up to cap."""
    return float(min(cap, base * 2 ** (attempt - 1)))
