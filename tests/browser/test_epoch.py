"""The player across a Redis restart that lost the last writes: it shows the room as Redis has
it afterwards, not a mix of two histories (the room's epoch, docs/protocol.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from server.app import create_app
from server.embedded_redis import EmbeddedRedis
from server.keys import engine_key
from server.settings import Settings
from tests import backends as b
from tests.browser.conftest import PHONE, free_port
from tests.redis_loss import AofCheckpoint
from tests.room import Room, Viewer
from tests.shopping import start_show

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms


@pytest.fixture
async def live_on_valkey(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    valkey: EmbeddedRedis,
) -> TestClient[Any, Any]:
    """The real app on a real port, on a Redis of the test's own."""
    port = free_port()
    app = create_app(
        make_settings(port=port, data_dir=tmp_path / "var-browser", redis_url=valkey.url)
    )
    client: TestClient[Any, Any] = await aiohttp_client(app, server_kwargs={"port": port})
    await b.truncate_all(app[engine_key])
    return client


async def pin_when_redis_is_back(host: Viewer, product_id: int) -> None:
    for _ in range(200):
        if (await host.call("pin", {"product_id": product_id}))["ok"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the pin never went through after the restart")


async def test_the_player_takes_a_new_epoch_snapshot_after_redis_lost_writes(
    live_on_valkey: TestClient[Any, Any],
    valkey: EmbeddedRedis,
    open_page: Any,
    console_errors: list[str],
) -> None:
    room = await Room(live_on_valkey).setup(products=3)
    checkpoint = AofCheckpoint(valkey)
    try:
        await start_show(room)
        host = await room.host()
        p0, p1, p2 = (p["id"] for p in room.products)
        await host.ok("pin", {"product_id": p0})
        page = await open_page(f"{room.url}/watch/{room.show_id}", PHONE)
        await page.get_by_test_id("name-input").fill("Ana")
        await page.get_by_test_id("name-submit").click()
        cards = page.get_by_test_id("pin")
        await expect(cards).to_have_count(1, timeout=WAIT)
        await checkpoint.take()

        await host.ok("pin", {"product_id": p1})  # shown, then lost by Redis
        await expect(cards).to_have_count(2, timeout=WAIT)
        checkpoint.lose_since()
        await valkey.stop()
        await valkey.start()

        # Redis numbers the next frame with the seq the lost pin had: a player comparing seqs
        # alone would drop it and keep showing the lost pin.
        await pin_when_redis_is_back(host, p2)
        await expect(page.locator(f'[data-testid="pin"][data-product-id="{p2}"]')).to_have_count(
            1, timeout=WAIT
        )
        await expect(page.locator(f'[data-testid="pin"][data-product-id="{p1}"]')).to_have_count(
            0, timeout=WAIT
        )
        await expect(cards).to_have_count(2, timeout=WAIT)
        await expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "connected", timeout=WAIT
        )
        assert console_errors == []
    finally:
        checkpoint.close()
        await room.close()
