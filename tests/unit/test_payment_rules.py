"""The provider interface's pure parts: idempotency keys per operation, retry delays, and the
processor's JSON read into intents and refunds."""

from __future__ import annotations

import pytest

from cart.payments.provider import (
    IntentStatus,
    RefundStatus,
    intent_from,
    operation_key,
    refund_from,
)
from cart.payments.retry import RetryPolicy, parse_retry_after


def test_one_key_per_order_and_operation() -> None:
    assert operation_key(12, "create") == "order-12-create"
    assert operation_key(12, "cancel") == "order-12-cancel"
    assert operation_key(12, "refund", 3) == "order-12-refund-3"
    assert operation_key(12, "refund", 3) != operation_key(12, "refund", 4)
    assert operation_key(12, "create") != operation_key(13, "create")
    with pytest.raises(ValueError, match="not an operation name"):
        operation_key(12, "refund-3")


def test_retry_delays_double_up_to_a_cap_and_honour_retry_after() -> None:
    policy = RetryPolicy(first_delay_s=0.1, max_delay_s=1.0, max_retry_after_s=5.0)
    assert [policy.delay(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert policy.delay(0, retry_after=2.0) == 2.0
    assert policy.delay(3, retry_after=60.0) == 5.0  # a processor's long wait is cut
    assert policy.delay(0, retry_after=0.0) == 0.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1", 1.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        (None, None),
        ("", None),
        ("-1", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),
    ],
)
def test_retry_after_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_an_intent_is_read_from_the_processors_json() -> None:
    intent = intent_from(
        {
            "id": "pi_1",
            "status": "requires_action",
            "amount": 2500,
            "currency": "eur",
            "reference": "order-7",
            "client_secret": "pi_1_secret_x",
            "pay_url": "http://127.0.0.1:8790/pay/pi_1",
            "next_action": {"type": "challenge", "url": "http://127.0.0.1:8790/pay/pi_1/c"},
            "last_error": None,
            "amount_captured": 0,
            "amount_refunded": 0,
        }
    )
    assert intent.status is IntentStatus.REQUIRES_ACTION and not intent.final
    assert intent.currency == "EUR"
    assert intent.next_action is not None and intent.next_action.type == "challenge"
    failed = intent_from(
        {
            "id": "pi_2",
            "status": "requires_payment_method",
            "amount": 1,
            "currency": "EUR",
            "last_error": {"code": "card_declined", "message": "declined"},
        }
    )
    assert failed.last_error is not None and failed.last_error.code == "card_declined"
    with pytest.raises(ValueError, match="paid"):
        intent_from({"id": "pi_3", "status": "paid", "amount": 1, "currency": "EUR"})


def test_a_refund_is_read_from_the_processors_json() -> None:
    refund = refund_from(
        {
            "id": "re_1",
            "intent": "pi_1",
            "amount": 500,
            "currency": "EUR",
            "status": "pending",
            "failure_code": None,
        }
    )
    assert refund.status is RefundStatus.PENDING and refund.amount == 500
