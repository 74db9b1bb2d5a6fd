"""The test processor's pure rules: test cards and Luhn, status transitions, refund arithmetic,
webhook signatures and the rate limiter."""

from __future__ import annotations

import pytest

from payproc import rules, signature
from payproc.cards import TEST_CARDS, Card, CardOutcome, card_error, luhn_ok, outcome
from payproc.ratelimit import RateLimiter, TokenBucket
from payproc.rules import ProcessorError, Status

pytestmark = pytest.mark.payments


@pytest.mark.parametrize("number", [*TEST_CARDS, "5555555555554444", "378282246310005"])
def test_every_test_card_passes_luhn(number: str) -> None:
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["4242424242424241", "1234", "42424242424242a2", ""])
def test_bad_numbers_fail_luhn(number: str) -> None:
    assert not luhn_ok(number)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("4242424242424242", CardOutcome.SUCCEED),
        ("4000000000000002", CardOutcome.DECLINE),
        ("4000000000009995", CardOutcome.INSUFFICIENT_FUNDS),
        ("4000002500003155", CardOutcome.CHALLENGE),
        ("4000000000000119", CardOutcome.PROCESSING_ERROR),
        ("4000000000000259", CardOutcome.DELAYED),
        ("4000000000005126", CardOutcome.REFUND_FAILS),
        ("5555555555554444", CardOutcome.SUCCEED),
    ],
)
def test_card_outcomes(number: str, expected: CardOutcome) -> None:
    assert outcome(Card(number, 12, 2040, "123")) == expected


@pytest.mark.parametrize(
    ("card", "error"),
    [
        (Card("4242424242424242", 12, 2030, "123"), None),
        (Card("4242424242424242", 6, 30, "1234"), None),
        (Card("4242424242424242", 5, 2026, "123"), "invalid_expiry"),
        (Card("4242424242424242", 6, 2026, "123"), None),
        (Card("4242424242424242", 13, 2030, "123"), "invalid_expiry"),
        (Card("4242424242424242", 12, 2030, "12"), "invalid_cvc"),
        (Card("4242424242424243", 12, 2030, "123"), "incorrect_number"),
    ],
)
def test_card_checks(card: Card, error: str | None) -> None:
    assert card_error(card, 2026, 6) == error


def test_card_steps() -> None:
    assert rules.confirm_card(CardOutcome.SUCCEED, 5).status == Status.SUCCEEDED
    declined = rules.confirm_card(CardOutcome.DECLINE, 5)
    # A decline lets the buyer try another card on the same intent.
    assert declined.status == Status.REQUIRES_PAYMENT_METHOD
    assert declined.last_error is not None and declined.last_error["code"] == "card_declined"
    assert declined.event == "intent.payment_failed"
    error = rules.confirm_card(CardOutcome.PROCESSING_ERROR, 5)
    assert error.last_error is not None and error.last_error["code"] == "processing_error"
    challenge = rules.confirm_card(CardOutcome.CHALLENGE, 5)
    assert (challenge.status, challenge.next_action) == (Status.REQUIRES_ACTION, "challenge")
    delayed = rules.confirm_card(CardOutcome.DELAYED, 5)
    assert (delayed.status, delayed.charge, delayed.settle_in) == (Status.PROCESSING, "pending", 5)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (Status.SUCCEEDED, "intent_succeeded"),
        (Status.CANCELED, "intent_canceled"),
        (Status.PROCESSING, "intent_processing"),
    ],
)
def test_only_open_intents_confirm(status: Status, code: str) -> None:
    with pytest.raises(ProcessorError) as exc:
        rules.check_confirmable(status, ("card",), "card")
    assert (exc.value.status, exc.value.code) == (409, code)


def test_confirm_needs_an_allowed_method() -> None:
    rules.check_confirmable(Status.REQUIRES_ACTION, ("card",), "card")
    with pytest.raises(ProcessorError, match="app"):
        rules.check_confirmable(Status.REQUIRES_PAYMENT_METHOD, ("card",), "app")


def test_resolve_needs_the_matching_pending_action() -> None:
    step = rules.resolve(Status.REQUIRES_ACTION, "redirect", "redirect", "approve")
    assert step.status == Status.SUCCEEDED
    failed = rules.resolve(Status.PROCESSING, "app", "app", "decline")
    assert failed.last_error is not None and failed.last_error["code"] == "app_declined"
    with pytest.raises(ProcessorError) as exc:
        rules.resolve(Status.REQUIRES_ACTION, "challenge", "redirect", "approve")
    assert exc.value.code == "no_pending_action"
    with pytest.raises(ProcessorError):
        rules.resolve(Status.SUCCEEDED, None, "challenge", "approve")


def test_cancel_transitions() -> None:
    step = rules.cancel(Status.REQUIRES_ACTION)
    assert step is not None and step.status == Status.CANCELED
    assert rules.cancel(Status.CANCELED) is None
    for status, code in [
        (Status.SUCCEEDED, "intent_succeeded"),
        (Status.PROCESSING, "intent_processing"),
    ]:
        with pytest.raises(ProcessorError) as exc:
            rules.cancel(status)
        assert (exc.value.status, exc.value.code) == (409, code)


def test_settle_only_a_processing_intent() -> None:
    step = rules.settle(Status.PROCESSING)
    assert step is not None and step.charge == "succeeded"
    assert rules.settle(Status.CANCELED) is None


def test_refund_arithmetic() -> None:
    assert rules.refund_amount(Status.SUCCEEDED, 1000, 300, None) == 700
    assert rules.refund_amount(Status.SUCCEEDED, 1000, 300, 700) == 700
    with pytest.raises(ProcessorError) as too_much:
        rules.refund_amount(Status.SUCCEEDED, 1000, 300, 701)
    assert too_much.value.code == "amount_too_large"
    assert too_much.value.details == {"refundable": 700}
    with pytest.raises(ProcessorError, match="in full"):
        rules.refund_amount(Status.SUCCEEDED, 1000, 1000, None)
    with pytest.raises(ProcessorError, match="succeeded"):
        rules.refund_amount(Status.PROCESSING, 0, 0, 100)
    for bad in (0, -5, "10", True):
        with pytest.raises(ProcessorError, match="positive"):
            rules.refund_amount(Status.SUCCEEDED, 1000, 0, bad)


BODY = {
    "amount": 100,
    "currency": "eur",
    "reference": "o-1",
    "shop": 3,
    "methods": ["card"],
    "return_url": "https://shop.example/back",
}


def test_parse_create() -> None:
    req = rules.parse_create(BODY)
    assert (req.currency, req.shop, req.methods) == ("EUR", "3", ("card",))


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 0},
        {"amount": 1.5},
        {"amount": True},
        {"currency": "EURO"},
        {"currency": "XYZ"},
        {"methods": []},
        {"methods": ["card", "card"]},
        {"methods": ["cash"]},
        {"return_url": "javascript:alert(1)"},
        {"reference": ""},
        {"shop": None},
    ],
)
def test_parse_create_refuses(change: dict[str, object]) -> None:
    with pytest.raises(ProcessorError) as exc:
        rules.parse_create({**BODY, **change})
    assert (exc.value.status, exc.value.code) == (400, "invalid_request")


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [rules.backoff(n, 0.5, cap=3) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


SECRET = "whsec_test"


def test_signature_round_trip() -> None:
    body = b'{"id": "evt_1"}'
    header = signature.sign(SECRET, body, 1_000_000)
    assert header.startswith("t=1000000,v1=")
    assert signature.verify(SECRET, header, body, 300, 1_000_100)


def test_signature_refuses_a_tampered_body_or_secret() -> None:
    body = b'{"amount": 100}'
    header = signature.sign(SECRET, body, 1_000_000)
    assert not signature.verify(SECRET, header, b'{"amount": 900}', 300, 1_000_000)
    assert not signature.verify("other", header, body, 300, 1_000_000)


def test_signature_refuses_a_stale_or_future_timestamp() -> None:
    body = b"{}"
    header = signature.sign(SECRET, body, 1_000_000)
    assert not signature.verify(SECRET, header, body, 300, 1_000_301)
    assert not signature.verify(SECRET, header, body, 300, 999_699)
    # The timestamp is signed: moving it forward breaks the MAC.
    forged = header.replace("t=1000000", "t=1000400")
    assert not signature.verify(SECRET, forged, body, 300, 1_000_400)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1000000", "garbage"])
def test_signature_refuses_malformed_headers(header: str) -> None:
    assert not signature.verify(SECRET, header, b"{}", 300, 1_000_000)


def test_signature_accepts_any_matching_v1() -> None:
    body = b"{}"
    good = signature.sign(SECRET, body, 1_000_000).split(",")[1]
    assert signature.verify(SECRET, f"t=1000000,v1={'0' * 64},{good}", body, 300, 1_000_000)


def test_token_bucket_arithmetic() -> None:
    bucket = TokenBucket(rate=25, capacity=25, tokens=25, updated=0.0)
    assert all(bucket.take(0.0) == 0 for _ in range(25))
    assert bucket.take(0.0) == pytest.approx(1 / 25)
    # 20 ms later 0.5 token is back: half a token short.
    assert bucket.take(0.02) == pytest.approx(0.5 / 25)
    assert bucket.take(0.04) == 0
    # A long pause refills to the burst size, no more.
    assert bucket.take(100.0) == 0
    assert bucket.tokens == pytest.approx(24)


def test_rate_limiter_keys_by_route_and_caller() -> None:
    limiter = RateLimiter(rate=2)
    assert [limiter.take("POST /v1/intents", "k", 0.0) for _ in range(3)] == [0, 0, 0.5]
    assert limiter.take("GET /v1/intents/{id}", "k", 0.0) == 0
    assert limiter.take("POST /v1/intents", "other", 0.0) == 0
