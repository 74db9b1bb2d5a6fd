"""Webhooks from the test processor to a real local receiver: signed, in order per intent,
retried while the receiver fails, and still delivered after the processor restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from payproc import signature
from tests.paying import Proc, eventually, make_proc

pytestmark = pytest.mark.payments
SECRET = "whsec_test_secret"


class Receiver:
    """Records every delivery; answers 500 to the first `fail_first` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls: list[tuple[str, bytes]] = []
        self.app = web.Application()
        self.app.router.add_post("/hooks", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        self.calls.append((request.headers.get(signature.HEADER, ""), await request.read()))
        if len(self.calls) <= self.fail_first:
            return web.Response(status=500)
        return web.Response(status=204)

    def accepted(self) -> list[dict[str, Any]]:
        """The events answered 2xx, in the order they came, each checked for its signature."""
        events = []
        for i, (header, body) in enumerate(self.calls):
            assert signature.verify(SECRET, header, body, 300, time.time()), header
            if i >= self.fail_first:
                events.append(json.loads(body))
        return events


async def start(aiohttp_server: Any, receiver: Receiver) -> TestServer:
    server: TestServer = await aiohttp_server(receiver.app)
    return server


def hook_settings(server: TestServer | str) -> dict[str, Any]:
    url = server if isinstance(server, str) else str(server.make_url("/hooks"))
    return {"webhook_url": url, "webhook_secret": SECRET}


async def test_webhooks_are_signed_ordered_and_retried(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    receiver = Receiver(fail_first=2)
    server = await start(aiohttp_server, receiver)
    proc = await make_proc(aiohttp_client, tmp_path / "p", **hook_settings(server))
    intent = await proc.create()
    await proc.confirm(intent, number="4000000000000002")
    await proc.confirm(intent)
    _, refund = await proc.call("POST", "/v1/refunds", {"intent": intent["id"], "amount": 100})

    async def all_in() -> bool:
        return len(receiver.accepted()) == 5

    await eventually(all_in, what="five events accepted")
    events = receiver.accepted()
    assert [e["type"] for e in events] == [
        "intent.created",
        "intent.payment_failed",
        "intent.succeeded",
        "refund.created",
        "refund.succeeded",
    ]
    assert events[2]["data"]["id"] == intent["id"]
    assert events[2]["data"]["amount_captured"] == 2500
    assert "client_secret" not in events[2]["data"]
    assert events[4]["data"] == {**refund, "status": "succeeded"}
    # The first event was tried three times: two 500s, then accepted.
    assert [json.loads(b)["type"] for _, b in receiver.calls[:3]] == ["intent.created"] * 3
    assert len({json.loads(b)["id"] for _, b in receiver.calls}) == 5


async def test_a_delayed_charge_sends_processing_then_succeeded(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    receiver = Receiver()
    server = await start(aiohttp_server, receiver)
    proc = await make_proc(aiohttp_client, tmp_path / "p", **hook_settings(server))
    intent = await proc.create()
    await proc.confirm(intent, number="4000000000000259")

    async def settled() -> bool:
        return [e["type"] for e in receiver.accepted()][-1:] == ["intent.succeeded"]

    await eventually(settled, what="intent.succeeded")
    types = [e["type"] for e in receiver.accepted()]
    assert types == ["intent.created", "intent.processing", "intent.succeeded"]


async def test_deliveries_survive_a_restart(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    receiver = Receiver()
    server = await start(aiohttp_server, receiver)
    url, port = str(server.make_url("/hooks")), server.port
    await server.close()
    # The receiver is down: the first processor only stores its events.
    first = await make_proc(aiohttp_client, tmp_path / "p", **hook_settings(url))
    intent = await first.create()
    await first.confirm(intent)
    await first.client.close()

    receiver = Receiver()
    await aiohttp_server(receiver.app, port=port)
    proc: Proc = await make_proc(aiohttp_client, tmp_path / "p", **hook_settings(url))

    async def delivered() -> bool:
        return len(receiver.accepted()) == 2

    await eventually(delivered, what="the stored events delivered after the restart")
    assert [e["type"] for e in receiver.accepted()] == ["intent.created", "intent.succeeded"]
    assert (await proc.intent(intent["id"]))["status"] == "succeeded"
