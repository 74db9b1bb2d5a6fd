"""A flash deal pinned while the show streams keeps taking orders for the delay the server
measured itself (never a client's word), capped: a stand-in media server serves a live playlist
whose fragment names put the stream a controlled delay behind, through the real app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.keys import probe_key, realtime_key
from tests.conftest import ClientFactory
from tests.helpers import bearer
from tests.integration.test_checkout import variant_of
from tests.integration.test_ingest import callback, stream_key
from tests.room import Room
from tests.shopping import add, checkout, checkout_body, deal, start_show

HOLD_BACK_MS = 3 * 1000  # 3 target durations of 1 s


class Origin:
    """Serves show-<id>.m3u8: 1 s fragments whose newest ends `edge_age_ms` before now."""

    def __init__(self) -> None:
        self.edge_age_ms = 1000
        self.server: TestServer | None = None

    async def playlist(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        end = int(time.time() * 1000) - self.edge_age_ms
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            "#EXT-X-MEDIA-SEQUENCE:1",
            "#EXT-X-TARGETDURATION:1",
        ]
        for i in range(4, 0, -1):
            lines += ["#EXTINF:1.000,", f"{name}-{end - i * 1000}.ts"]
        return web.Response(text="\n".join(lines) + "\n")

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hls")).rstrip("/")


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    o = Origin()
    app = web.Application()
    app.router.add_get("/hls/{name}.m3u8", o.playlist)
    o.server = TestServer(app, host="127.0.0.1")
    await o.server.start_server()
    yield o
    await o.server.close()


async def _on_air(client: TestClient[Any, Any]) -> Room:
    room = await Room(client).setup(products=2)
    await start_show(room)
    key = (await stream_key(room))["stream_key"]
    assert (await callback(client, "publish", key)).status == 302
    return room


async def _measured(client: TestClient[Any, Any], show_id: int) -> int:
    probe = client.app[probe_key]
    deadline = time.monotonic() + 10
    while (estimate := await probe.estimate_ms(show_id)) is None:
        assert time.monotonic() < deadline, "no delay reading"
        await asyncio.sleep(0.1)
    return int(estimate)


async def test_a_deal_takes_orders_for_the_measured_delay_after_its_end(
    make_client: ClientFactory, origin: Origin
) -> None:
    origin.edge_age_ms = 1500  # measured: 1.5 s + the 3 s hold-back
    client = await make_client(hls_internal_url=origin.base)
    room = await _on_air(client)
    try:
        measured = await _measured(client, room.show_id)
        assert abs(measured - (1500 + HOLD_BACK_MS)) < 300
        host = await room.host()
        product = room.products[0]
        terms = deal(units=5, per_buyer=1, seconds=1)
        pinned = (await host.ok("pin", {"product_id": product["id"], "deal": terms}))["pin"]
        grace = pinned["deal"]["grace_ms"]
        assert abs(grace - measured) < 300
        assert pinned["deal"]["ends_at_ms"] == terms["ends_at_ms"]
        assert pinned["deal"]["closes_at_ms"] == terms["ends_at_ms"] + grace

        # After the host's end, within the grace: still the deal price.
        token = await room.guest_token("Late")
        cart = await add(room, token, variant_of(product))
        assert cart["total"] == 100
        await asyncio.sleep(max(0, terms["ends_at_ms"] / 1000 - time.time()) + 0.2)
        resp = await checkout(room, token, checkout_body(cart))
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["total"] == 100

        # After closes_at: the deal takes nothing more.
        await asyncio.sleep(max(0, pinned["deal"]["closes_at_ms"] / 1000 - time.time()) + 0.1)
        store = client.app[realtime_key].store
        taken = await store.take_deals(
            room.show_id, "late", "g:" + "c" * 32, [(product["id"], pinned["deal"]["id"], 1)]
        )
        assert taken.status == "expired"
    finally:
        await room.close()


async def test_the_grace_is_capped_and_nothing_without_a_reading(
    make_client: ClientFactory, origin: Origin
) -> None:
    origin.edge_age_ms = 40_000
    client = await make_client(hls_internal_url=origin.base, deal_delay_cap_seconds=5)
    room = await _on_air(client)
    try:
        assert await _measured(client, room.show_id) > 40_000
        host = await room.host()
        pin = {"product_id": room.products[0]["id"], "deal": deal(units=5, per_buyer=1)}
        assert (await host.ok("pin", pin))["pin"]["deal"]["grace_ms"] == 5000
        # The stream stops: no reading any more, no grace for a deal pinned now.
        done = await callback(client, "done", f"show-{room.show_id}")
        assert done.status == 204
        assert await client.app[probe_key].estimate_ms(room.show_id) is None
        pin = {"product_id": room.products[1]["id"], "deal": deal(units=5, per_buyer=1)}
        assert (await host.ok("pin", pin))["pin"]["deal"]["grace_ms"] == 0
    finally:
        await room.close()


async def test_an_unreadable_playlist_gives_no_grace(make_client: ClientFactory) -> None:
    client = await make_client(hls_internal_url="http://127.0.0.1:9/hls")  # nothing listens
    room = await _on_air(client)
    try:
        await asyncio.sleep(1.5)  # a probe or two
        assert await client.app[probe_key].estimate_ms(room.show_id) is None
        host = await room.host()
        pin = {"product_id": room.products[0]["id"], "deal": deal(units=5, per_buyer=1)}
        assert (await host.ok("pin", pin))["pin"]["deal"]["grace_ms"] == 0
        resp = await client.get(f"/api/shows/{room.show_id}", headers=bearer(room.owner))
        assert resp.status == 200
    finally:
        await room.close()
