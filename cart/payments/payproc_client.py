"""The provider adapter for the test processor (`python -m payproc`, docs/payments.md).

Over HTTP with the processor's API key. Every POST carries its idempotency key, so any call
is retried as it is: after a 429 (its Retry-After), a 5xx, a dropped connection or a timeout,
up to the retry policy's attempts; after that the call raises a retryable ProviderError, its
outcome unknown: the caller asks again later (the same key answers the same outcome).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from cart.payments.provider import (
    Intent,
    IntentSucceeded,
    Method,
    ProviderError,
    Refund,
    intent_from,
    refund_from,
)
from cart.payments.retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)


class PayprocProvider:
    """One deployment-wide processor account (the shop goes with each intent as `shop`)."""

    name = "payproc"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        # What went wrong on the way, for metrics and tests.
        self.rate_limited = 0
        self.transient_failures = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        return self._session

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
    ) -> Intent:
        body = {
            "amount": amount,
            "currency": currency,
            "reference": reference,
            "shop": str(shop_id),
            "methods": [m.value for m in methods],
            "return_url": return_url,
        }
        return intent_from(await self._call("POST", "/v1/intents", body, idempotency_key))

    async def retrieve(self, intent_id: str, *, shop_id: int) -> Intent:
        return intent_from(await self._call("GET", f"/v1/intents/{_segment(intent_id)}"))

    async def cancel(self, intent_id: str, *, shop_id: int, idempotency_key: str) -> Intent:
        path = f"/v1/intents/{_segment(intent_id)}/cancel"
        try:
            return intent_from(await self._call("POST", path, {}, idempotency_key))
        except ProviderError as err:
            if err.code == "intent_succeeded" and isinstance(err.details, dict):
                raise IntentSucceeded(intent_from(err.details["intent"])) from None
            raise

    async def refund(
        self, intent_id: str, *, shop_id: int, amount: int, idempotency_key: str
    ) -> Refund:
        body = {"intent": intent_id, "amount": amount}
        return refund_from(await self._call("POST", "/v1/refunds", body, idempotency_key))

    async def retrieve_refund(self, refund_id: str, *, shop_id: int) -> Refund:
        return refund_from(await self._call("GET", f"/v1/refunds/{_segment(refund_id)}"))

    async def _call(
        self, method: str, path: str, body: Any = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        why = "no attempt"
        for attempt in range(self._retry.attempts):
            retry_after: float | None = None
            try:
                async with self._client().request(
                    method, self._base + path, json=body, headers=headers
                ) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status == 429:
                        self.rate_limited += 1
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        why = "rate limited"
                    elif resp.status >= 500:
                        self.transient_failures += 1
                        why = f"status {resp.status}"
                    elif resp.status >= 400:
                        raise _refusal(data, resp.status)
                    else:
                        return dict(data)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # A dropped connection or a timeout: the call may have happened. The same key
                # makes the retry the same call, so asking again settles it.
                self.transient_failures += 1
                why = type(exc).__name__
            if attempt + 1 < self._retry.attempts:
                await asyncio.sleep(self._retry.delay(attempt, retry_after))
        log.warning("payment processor unreachable", extra={"path": _route(path), "why": why})
        raise ProviderError(
            "processor_unavailable", f"the payment processor did not answer ({why})", retryable=True
        )


def _refusal(data: Any, status: int) -> ProviderError:
    error = data.get("error", {}) if isinstance(data, dict) else {}
    return ProviderError(
        str(error.get("code", f"http_{status}")),
        str(error.get("message", "refused")),
        details=error.get("details"),
    )


def _segment(value: str) -> str:
    """An id as one path segment (ids come from the processor, but never trust a path)."""
    if not value or not all(c.isalnum() or c in "_-" for c in value):
        raise ProviderError("invalid_id", "not a processor id")
    return value


def _route(path: str) -> str:
    # Logged without ids.
    return "/".join(p if not any(c.isdigit() for c in p) else "{id}" for p in path.split("/"))
