"""The provider adapter against the real test processor (payproc on a real port): idempotency
keys per operation, 429s and dropped connections retried as the same call, a cancel refused
because the intent succeeded, refunds, and an unreachable processor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from cart.payments.payproc_client import PayprocProvider
from cart.payments.provider import (
    IntentStatus,
    IntentSucceeded,
    Method,
    ProviderError,
    RefundStatus,
    operation_key,
)
from cart.payments.retry import RetryPolicy
from payproc.app import create_app
from tests.paying import API_KEY, card, eventually, settings
from tests.processes import free_port

pytestmark = pytest.mark.payments

FAST = RetryPolicy(attempts=8, first_delay_s=0.02, max_delay_s=0.2, max_retry_after_s=1.5)


class Processor:
    """payproc on a real port, the adapter pointed at it, and the calls a buyer's browser and a
    test make directly."""

    def __init__(self, server: TestServer, provider: PayprocProvider) -> None:
        self.server = server
        self.provider = provider
        self.url = str(server.make_url("")).rstrip("/")

    async def _http(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=body, headers=headers) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def arm(self, route: str, times: int = 1) -> None:
        await self._http("POST", "/v1/test/faults", {"drop_after": route, "times": times})

    async def ledger(self) -> dict[str, dict[str, Any]]:
        return {
            line["id"]: line for line in (await self._http("GET", "/v1/test/ledger"))["intents"]
        }

    async def pay(self, intent_id: str, secret: str, number: str = "4242424242424242") -> Any:
        body = {"client_secret": secret, "method": "card", "card": card(number)}
        return await self._http("POST", f"/pay/{intent_id}/confirm", body, auth=False)

    async def create(self, order_id: int, amount: int = 2500) -> Any:
        return await self.provider.create_intent(
            shop_id=3,
            reference=f"order-{order_id}",
            amount=amount,
            currency="EUR",
            methods=[Method.CARD],
            return_url="http://127.0.0.1:8080/watch/1",
            idempotency_key=operation_key(order_id, "create"),
        )


async def start(tmp_path: Path, **overrides: Any) -> AsyncIterator[Processor]:
    port = free_port()
    app = create_app(
        settings(tmp_path / "payproc", public_url=f"http://127.0.0.1:{port}", **overrides)
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    provider = PayprocProvider(str(server.make_url("")), API_KEY, retry=FAST)
    try:
        yield Processor(server, provider)
    finally:
        await provider.close()
        await server.close()


@pytest.fixture
async def processor(tmp_path: Path) -> AsyncIterator[Processor]:
    async for proc in start(tmp_path):
        yield proc


async def test_the_same_operation_is_the_same_intent(processor: Processor) -> None:
    first = await processor.create(41)
    again = await processor.create(41)
    assert again.id == first.id and first.status is IntentStatus.REQUIRES_PAYMENT_METHOD
    assert first.client_secret and first.pay_url.startswith(processor.url)
    other = await processor.create(42)
    assert other.id != first.id
    assert (await processor.provider.retrieve(first.id, shop_id=3)).amount == 2500


async def test_an_answer_lost_after_the_processor_acted_is_asked_again(
    processor: Processor,
) -> None:
    # The processor creates the intent and commits, then drops the connection: the adapter's
    # retry with the same key gets that intent, not a second one.
    await processor.arm("create")
    intent = await processor.create(51)
    assert processor.provider.transient_failures >= 1
    assert list(await processor.ledger()) == [intent.id]
    await processor.pay(intent.id, str(intent.client_secret))
    await processor.arm("refund")
    refund = await processor.provider.refund(
        intent.id, shop_id=3, amount=1000, idempotency_key=operation_key(51, "refund", 1)
    )
    again = await processor.provider.refund(
        intent.id, shop_id=3, amount=1000, idempotency_key=operation_key(51, "refund", 1)
    )
    assert again.id == refund.id

    async def settled() -> bool:
        done = await processor.provider.retrieve_refund(refund.id, shop_id=3)
        return done.status is RefundStatus.SUCCEEDED

    await eventually(settled, what="the refund to settle")
    line = (await processor.ledger())[intent.id]
    assert (line["captured"], line["charges"], line["refunded"]) == (2500, 1, 1000)


async def test_a_cancel_after_the_buyer_paid_says_so_with_the_intent(
    processor: Processor,
) -> None:
    paid = await processor.create(61)
    await processor.pay(paid.id, str(paid.client_secret))
    with pytest.raises(IntentSucceeded) as refused:
        await processor.provider.cancel(
            paid.id, shop_id=3, idempotency_key=operation_key(61, "cancel")
        )
    assert refused.value.intent.status is IntentStatus.SUCCEEDED
    assert refused.value.intent.amount_captured == 2500
    unpaid = await processor.create(62)
    canceled = await processor.provider.cancel(
        unpaid.id, shop_id=3, idempotency_key=operation_key(62, "cancel")
    )
    assert canceled.status is IntentStatus.CANCELED and canceled.final


async def test_a_refused_call_is_not_retried(processor: Processor) -> None:
    intent = await processor.create(71)
    with pytest.raises(ProviderError) as refused:
        await processor.provider.refund(
            intent.id, shop_id=3, amount=100, idempotency_key=operation_key(71, "refund", 1)
        )
    assert refused.value.code == "intent_not_succeeded" and not refused.value.retryable
    assert processor.provider.transient_failures == 0


async def test_a_processor_rate_limit_is_waited_out(tmp_path: Path) -> None:
    async for proc in start(tmp_path, rate_per_second=2):
        intents = await asyncio.gather(*(proc.create(100 + n) for n in range(6)))
        assert len({i.id for i in intents}) == 6
        assert proc.provider.rate_limited >= 1
        assert len(await proc.ledger()) == 6


async def test_an_unreachable_processor_is_a_retryable_error() -> None:
    provider = PayprocProvider(
        f"http://127.0.0.1:{free_port()}",
        API_KEY,
        retry=RetryPolicy(attempts=3, first_delay_s=0.01),
    )
    try:
        with pytest.raises(ProviderError) as failed:
            await provider.retrieve("pi_1", shop_id=1)
        assert failed.value.code == "processor_unavailable" and failed.value.retryable
        assert provider.transient_failures == 3
    finally:
        await provider.close()
