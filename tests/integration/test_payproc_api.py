"""The test processor's API through its real app: intents, test cards, the challenge, bank and
app flows, cancel, refunds, idempotency, the rate limit and the drop-after fault."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.paying import API_KEY, Proc, card, eventually, make_proc

pytestmark = pytest.mark.payments


@pytest.fixture
async def proc(aiohttp_client: Any, tmp_path: Path) -> Proc:
    return await make_proc(aiohttp_client, tmp_path / "payproc")


async def test_create_and_get_an_intent(proc: Proc) -> None:
    intent = await proc.create(amount=1999, currency="usd", shop=12, reference="order-1")
    assert intent["id"].startswith("pi_")
    assert intent["client_secret"].startswith(intent["id"] + "_secret_")
    assert intent["status"] == "requires_payment_method"
    assert (intent["amount"], intent["currency"], intent["shop"]) == (1999, "USD", "12")
    assert intent["reference"] == "order-1"
    assert intent["methods"] == ["card", "bank_redirect", "app"]
    assert intent["pay_url"].endswith(f"/pay/{intent['id']}")
    assert await proc.intent(intent["id"]) == intent
    status, body = await proc.call("GET", "/v1/intents/pi_nope")
    assert (status, body["error"]["code"]) == (404, "intent_not_found")


@pytest.mark.parametrize(
    "change", [{"amount": 0}, {"currency": "EURO"}, {"methods": ["cash"]}, {"return_url": "x"}]
)
async def test_create_refuses_bad_bodies(proc: Proc, change: dict[str, Any]) -> None:
    body = {"amount": 1, "currency": "EUR", "reference": "r", "shop": 1, **change}
    body.setdefault("return_url", "https://shop.example/")
    status, answer = await proc.call("POST", "/v1/intents", body)
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


async def test_the_api_needs_the_key(proc: Proc) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
        resp = await proc.client.get("/v1/test/ledger", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_every_post_needs_an_idempotency_key(proc: Proc) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    resp = await proc.client.post("/v1/intents", json={}, headers=auth)
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "idempotency_key_missing")
    resp = await proc.client.post("/v1/intents", json={}, headers={**auth, "Idempotency-Key": ""})
    assert (await resp.json())["error"]["code"] == "idempotency_key_invalid"
    long_key = {**auth, "Idempotency-Key": "k" * 256}
    resp = await proc.client.post("/v1/intents", json={}, headers=long_key)
    assert (await resp.json())["error"]["code"] == "idempotency_key_invalid"


BODY = {
    "amount": 500,
    "currency": "EUR",
    "reference": "order-9",
    "shop": "3",
    "methods": ["card"],
    "return_url": "https://shop.example/back",
}


async def test_the_same_key_answers_the_stored_answer(proc: Proc) -> None:
    first = await proc.call("POST", "/v1/intents", BODY, key="order-9:create")
    again = await proc.call("POST", "/v1/intents", BODY, key="order-9:create")
    assert first == again
    assert list(await proc.ledger()) == [first[1]["id"]]
    # Stored errors replay too: canceling twice under one key after it succeeded.
    intent = first[1]
    assert (await proc.confirm(intent))[0] == 200
    cancel = await proc.call("POST", f"/v1/intents/{intent['id']}/cancel", key="c1")
    assert cancel[0] == 409
    assert await proc.call("POST", f"/v1/intents/{intent['id']}/cancel", key="c1") == cancel


async def test_the_same_key_with_another_body_conflicts(proc: Proc) -> None:
    assert (await proc.call("POST", "/v1/intents", BODY, key="k"))[0] == 200
    status, body = await proc.call("POST", "/v1/intents", {**BODY, "amount": 501}, key="k")
    assert (status, body["error"]["code"]) == (409, "idempotency_conflict")
    assert len(await proc.ledger()) == 1


async def test_concurrent_requests_with_one_key_run_once(proc: Proc) -> None:
    answers = await asyncio.gather(
        *(proc.call("POST", "/v1/intents", BODY, key="same") for _ in range(5))
    )
    assert all(a == answers[0] for a in answers)
    assert len(await proc.ledger()) == 1


@pytest.mark.parametrize(
    ("number", "status", "error"),
    [
        ("4242424242424242", "succeeded", None),
        ("4000000000000002", "requires_payment_method", "card_declined"),
        ("4000000000009995", "requires_payment_method", "insufficient_funds"),
        ("4000000000000119", "requires_payment_method", "processing_error"),
        ("4000002500003155", "requires_action", None),
        ("4000000000000259", "processing", None),
    ],
)
async def test_test_cards(proc: Proc, number: str, status: str, error: str | None) -> None:
    intent = await proc.create()
    code, state = await proc.confirm(intent, number=number)
    assert code == 200, state
    assert state["status"] == status
    assert (state["last_error"] or {}).get("code") == error
    line = (await proc.ledger())[intent["id"]]
    assert (line["captured"], line["charges"]) == ((2500, 1) if status == "succeeded" else (0, 0))
    assert (await proc.intent(intent["id"]))["status"] == status


async def test_a_declined_buyer_retries_with_another_card(proc: Proc) -> None:
    intent = await proc.create()
    assert (await proc.confirm(intent, number="4000000000000002"))[1]["last_error"]
    code, state = await proc.confirm(intent)
    assert (code, state["status"], state["last_error"]) == (200, "succeeded", None)
    assert (await proc.intent(intent["id"]))["card_last4"] == "4242"
    assert (await proc.ledger())[intent["id"]]["charges"] == 1
    code, again = await proc.confirm(intent)
    assert (code, again["error"]["code"]) == (409, "intent_succeeded")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4242424242424241", "incorrect_number"),
        ("4242 4242 4242 4242", None),
    ],
)
async def test_card_numbers_are_checked(proc: Proc, number: str, code: str | None) -> None:
    intent = await proc.create()
    status, body = await proc.confirm(intent, number=number)
    assert (body.get("error") or {}).get("code") == code
    assert status == (400 if code else 200)


async def test_an_expired_card_is_refused(proc: Proc) -> None:
    intent = await proc.create()
    body = {"client_secret": intent["client_secret"], "card": card(exp_year=2001)}
    status, answer = await proc.call("POST", f"/pay/{intent['id']}/confirm", body, auth=False)
    assert (status, answer["error"]["code"]) == (400, "invalid_expiry")


async def test_the_form_needs_the_client_secret(proc: Proc) -> None:
    intent = await proc.create()
    status, body = await proc.confirm({**intent, "client_secret": intent["id"] + "_secret_x"})
    assert (status, body["error"]["code"]) == (404, "intent_not_found")
    resp = await proc.client.get(f"/pay/{intent['id']}/state")
    assert resp.status == 404
    headers = {"Payproc-Client-Secret": intent["client_secret"]}
    resp = await proc.client.get(f"/pay/{intent['id']}/state", headers=headers)
    state = await resp.json()
    assert state["status"] == "requires_payment_method"
    assert "client_secret" not in state and "reference" not in state


@pytest.mark.parametrize(("decision", "status"), [("approve", "succeeded"), ("decline", "fail")])
async def test_the_challenge(proc: Proc, decision: str, status: str) -> None:
    intent = await proc.create()
    _, state = await proc.confirm(intent, number="4000002500003155")
    action = state["next_action"]
    assert action["type"] == "challenge"
    assert action["url"].endswith(f"/pay/{intent['id']}/challenge")
    assert (await proc.client.get(f"/pay/{intent['id']}/challenge")).status == 200
    body = {"client_secret": intent["client_secret"], "decision": decision}
    code, after = await proc.call("POST", f"/pay/{intent['id']}/challenge", body, auth=False)
    assert code == 200, after
    if status == "succeeded":
        assert after["status"] == "succeeded"
        assert (await proc.ledger())[intent["id"]]["captured"] == 2500
    else:
        assert after["status"] == "requires_payment_method"
        assert after["last_error"]["code"] == "authentication_failed"
    code, again = await proc.call("POST", f"/pay/{intent['id']}/challenge", body, auth=False)
    assert (code, again["error"]["code"]) == (409, "no_pending_action")


async def test_a_delayed_card_settles_later(proc: Proc) -> None:
    intent = await proc.create()
    _, state = await proc.confirm(intent, number="4000000000000259")
    assert state["status"] == "processing"
    status, body = await proc.call("POST", f"/v1/intents/{intent['id']}/cancel")
    assert (status, body["error"]["code"]) == (409, "intent_processing")

    async def settled() -> bool:
        return (await proc.intent(intent["id"]))["status"] == "succeeded"

    await eventually(settled, what="the delayed charge to settle")
    line = (await proc.ledger())[intent["id"]]
    assert (line["captured"], line["charges"]) == (2500, 1)


@pytest.mark.parametrize(("decision", "status"), [("approve", "succeeded"), ("decline", "fail")])
async def test_the_bank_redirect(proc: Proc, decision: str, status: str) -> None:
    intent = await proc.create(return_url="https://shop.example/back?show=5")
    _, state = await proc.confirm(intent, method="bank_redirect")
    assert state["status"] == "requires_action"
    assert state["next_action"]["type"] == "redirect"
    assert state["next_action"]["url"].endswith(f"/bank/{intent['id']}")
    page = await proc.client.get(f"/bank/{intent['id']}")
    assert (
        page.status == 200 and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )
    code, after = await proc.call("POST", f"/bank/{intent['id']}", {"decision": decision})
    assert code == 200, after
    assert after["return_to"] == f"https://shop.example/back?show=5&intent={intent['id']}"
    expected = "succeeded" if status == "succeeded" else "requires_payment_method"
    assert (await proc.intent(intent["id"]))["status"] == expected


async def test_approval_in_another_app(proc: Proc) -> None:
    intent = await proc.create()
    _, state = await proc.confirm(intent, method="app")
    assert state["status"] == "processing"
    assert state["next_action"]["url"].endswith(f"/app/{intent['id']}")
    assert (await proc.client.get(f"/app/{intent['id']}")).status == 200
    _, declined = await proc.call("POST", f"/app/{intent['id']}", {"decision": "decline"})
    assert declined["last_error"]["code"] == "app_declined"
    await proc.confirm(intent, method="app")
    _, approved = await proc.call("POST", f"/app/{intent['id']}", {"decision": "approve"})
    assert approved["status"] == "succeeded"
    assert (await proc.ledger())[intent["id"]]["charges"] == 1


async def test_a_method_the_intent_does_not_take(proc: Proc) -> None:
    intent = await proc.create(methods=["card"])
    status, body = await proc.confirm(intent, method="app")
    assert (status, body["error"]["code"]) == (400, "method_not_allowed")


async def test_cancel(proc: Proc) -> None:
    intent = await proc.create()
    status, canceled = await proc.call("POST", f"/v1/intents/{intent['id']}/cancel")
    assert (status, canceled["status"]) == (200, "canceled")
    status, again = await proc.call("POST", f"/v1/intents/{intent['id']}/cancel")
    assert (status, again["status"]) == (200, "canceled")
    code, body = await proc.confirm(intent)
    assert (code, body["error"]["code"]) == (409, "intent_canceled")
    assert (await proc.ledger())[intent["id"]]["charges"] == 0


async def test_cancel_of_a_succeeded_intent_is_refused(proc: Proc) -> None:
    intent = await proc.create()
    await proc.confirm(intent)
    status, body = await proc.call("POST", f"/v1/intents/{intent['id']}/cancel")
    assert (status, body["error"]["code"]) == (409, "intent_succeeded")
    assert body["error"]["details"]["intent"]["status"] == "succeeded"
    assert body["error"]["details"]["intent"]["amount_captured"] == 2500


async def test_refund_accounting(proc: Proc) -> None:
    intent = await proc.create(amount=1000)
    status, early = await proc.call("POST", "/v1/refunds", {"intent": intent["id"]})
    assert (status, early["error"]["code"]) == (409, "intent_not_succeeded")
    await proc.confirm(intent)
    _, first = await proc.call("POST", "/v1/refunds", {"intent": intent["id"], "amount": 300})
    assert (first["status"], first["amount"], first["currency"]) == ("pending", 300, "EUR")
    # A pending refund already holds its amount: no refunding past what was captured.
    status, over = await proc.call("POST", "/v1/refunds", {"intent": intent["id"], "amount": 701})
    assert (status, over["error"]["code"]) == (400, "amount_too_large")
    assert over["error"]["details"] == {"refundable": 700}
    _, rest = await proc.call("POST", "/v1/refunds", {"intent": intent["id"]})
    assert rest["amount"] == 700
    status, done = await proc.call("POST", "/v1/refunds", {"intent": intent["id"]})
    assert (status, done["error"]["code"]) == (409, "already_refunded")

    async def refunded() -> bool:
        line = (await proc.ledger())[intent["id"]]
        return bool(line["refunded"] == 1000 and line["refunds_pending"] == 0)

    await eventually(refunded, what="both refunds to settle")
    _, got = await proc.call("GET", f"/v1/refunds/{first['id']}")
    assert (got["status"], got["intent"]) == ("succeeded", intent["id"])
    assert (await proc.intent(intent["id"]))["amount_refunded"] == 1000
    status, missing = await proc.call("GET", "/v1/refunds/re_nope")
    assert (status, missing["error"]["code"]) == (404, "refund_not_found")


async def test_a_refund_can_fail(proc: Proc) -> None:
    intent = await proc.create()
    await proc.confirm(intent, number="4000000000005126")
    _, refund = await proc.call("POST", "/v1/refunds", {"intent": intent["id"]})

    async def failed() -> Any:
        got = (await proc.call("GET", f"/v1/refunds/{refund['id']}"))[1]
        return got if got["status"] == "failed" else None

    assert (await eventually(failed))["failure_code"] == "refund_declined"
    line = (await proc.ledger())[intent["id"]]
    assert (line["captured"], line["refunded"]) == (2500, 0)
    # A failed refund frees its amount again.
    status, again = await proc.call("POST", "/v1/refunds", {"intent": intent["id"]})
    assert (status, again["amount"]) == (200, 2500)


async def test_the_status_history(proc: Proc) -> None:
    intent = await proc.create()
    await proc.confirm(intent, number="4000000000000002")
    await proc.confirm(intent, number="4000002500003155")
    body = {"client_secret": intent["client_secret"], "decision": "approve"}
    await proc.call("POST", f"/pay/{intent['id']}/challenge", body, auth=False)
    _, history = await proc.call("GET", f"/v1/intents/{intent['id']}/events")
    assert [e["type"] for e in history["events"]] == [
        "intent.created",
        "intent.payment_failed",
        "intent.requires_action",
        "intent.succeeded",
    ]


async def test_the_rate_limit(aiohttp_client: Any, tmp_path: Path) -> None:
    proc = await make_proc(aiohttp_client, tmp_path / "p", rate_per_second=25)
    answers = await asyncio.gather(
        *(proc.client.get("/v1/intents/pi_x", headers=auth()) for _ in range(40))
    )
    limited = [r for r in answers if r.status == 429]
    assert limited, [r.status for r in answers]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert (await limited[0].json())["error"]["code"] == "rate_limited"
    assert sum(r.status == 404 for r in answers) >= 25
    # Another route has a bucket of its own.
    assert (await proc.client.get("/v1/refunds/re_x", headers=auth())).status == 404


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


async def test_drop_after_create(proc: Proc) -> None:
    status, _ = await proc.call("POST", "/v1/test/faults", {"drop_after": "create", "times": 1})
    assert status == 200
    with pytest.raises(aiohttp.ClientConnectionError):
        await proc.call("POST", "/v1/intents", BODY, key="order-9:create")
    # The intent was made and committed before the connection went.
    assert len(await proc.ledger()) == 1
    status, intent = await proc.call("POST", "/v1/intents", BODY, key="order-9:create")
    assert status == 200
    assert list(await proc.ledger()) == [intent["id"]]


async def test_drop_after_confirm_charges_once(proc: Proc) -> None:
    intent = await proc.create()
    await proc.call("POST", "/v1/test/faults", {"drop_after": "confirm", "times": 1})
    body = {"client_secret": intent["client_secret"], "method": "card", "card": card()}
    path = f"/pay/{intent['id']}/confirm"
    with pytest.raises(aiohttp.ClientConnectionError):
        await proc.call("POST", path, body, key="attempt-1", auth=False)
    status, state = await proc.call("POST", path, body, key="attempt-1", auth=False)
    assert (status, state["status"]) == (200, "succeeded")
    line = (await proc.ledger())[intent["id"]]
    assert (line["captured"], line["charges"]) == (2500, 1)


async def test_drop_after_refund_refunds_once(proc: Proc) -> None:
    intent = await proc.create()
    await proc.confirm(intent)
    await proc.call("POST", "/v1/test/faults", {"drop_after": "refund", "times": 2})
    body = {"intent": intent["id"], "amount": 100}
    for _ in range(2):
        with pytest.raises(aiohttp.ClientConnectionError):
            await proc.call("POST", "/v1/refunds", body, key="refund-1")
    status, refund = await proc.call("POST", "/v1/refunds", body, key="refund-1")
    assert (status, refund["amount"]) == (200, 100)
    line = (await proc.ledger())[intent["id"]]
    assert line["refunds_pending"] + line["refunded"] == 100


async def test_test_controls_are_off_by_default(aiohttp_client: Any, tmp_path: Path) -> None:
    proc = await make_proc(aiohttp_client, tmp_path / "p", test_controls=False)
    assert (await proc.call("GET", "/v1/test/ledger"))[0] == 404
    assert (await proc.call("POST", "/v1/test/faults", {"drop_after": "create"}))[0] == 404


async def test_pages_and_assets(proc: Proc) -> None:
    intent = await proc.create()
    page = await proc.client.get(f"/pay/{intent['id']}")
    text = await page.text()
    assert page.status == 200 and f'data-intent="{intent["id"]}"' in text
    assert intent["client_secret"] not in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for name in ("pay.js", "pages.js", "style.css"):
        assert (await proc.client.get(f"/assets/{name}")).status == 200
    assert (await proc.client.get("/assets/..%2Fstore.py")).status == 404
