"""Helpers for the test processor (payproc): its app through aiohttp's test client, and calls
as the app would make them (API key, a fresh idempotency key per call unless one is given)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from payproc.app import create_app
from payproc.settings import Settings

API_KEY = "test-payproc-key"
FUTURE = {"exp_month": 12, "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
OK_CARD = "4242424242424242"


def settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "data_dir": data_dir,
        "test_controls": True,
        "settle_delay_seconds": 0.3,
        "refund_delay_seconds": 0.2,
        "webhook_backoff_seconds": 0.1,
        # Polling tests ask more than 25 times a second; the rate limit has its own test.
        "rate_per_second": 1000,
        **overrides,
    }
    return Settings(**values)


def card(number: str = OK_CARD, **overrides: Any) -> dict[str, Any]:
    return {"number": number, **FUTURE, **overrides}


class Proc:
    """One payproc app and the calls tests make to it."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client

    async def call(
        self, method: str, path: str, body: Any = None, key: str | None = None, auth: bool = True
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
        if method == "POST":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        resp = await self.client.request(method, path, json=body, headers=headers)
        return resp.status, await resp.json()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "amount": 2500,
            "currency": "EUR",
            "reference": f"order-{uuid.uuid4().hex[:8]}",
            "shop": 7,
            "methods": ["card", "bank_redirect", "app"],
            "return_url": "https://shop.example/checkout/return",
            **overrides,
        }
        status, intent = await self.call("POST", "/v1/intents", body)
        assert status == 200, intent
        return dict(intent)

    async def confirm(
        self, intent: dict[str, Any], method: str = "card", number: str = OK_CARD
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {"client_secret": intent["client_secret"], "method": method}
        if method == "card":
            body["card"] = card(number)
        return await self.call("POST", f"/pay/{intent['id']}/confirm", body, auth=False)

    async def intent(self, intent_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/v1/intents/{intent_id}")
        assert status == 200, body
        return dict(body)

    async def ledger(self) -> dict[str, dict[str, Any]]:
        status, body = await self.call("GET", "/v1/test/ledger")
        assert status == 200, body
        return {line["id"]: line for line in body["intents"]}


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition"
) -> Any:
    """Polls `check` until it answers something truthy (and returns it)."""
    deadline = time.monotonic() + within
    while True:
        if result := await check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def make_proc(aiohttp_client: Any, data_dir: Path, **overrides: Any) -> Proc:
    return Proc(await aiohttp_client(create_app(settings(data_dir, **overrides))))
