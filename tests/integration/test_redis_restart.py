"""Redis killed (SIGKILL) and started again from its append-only file, under the real app.

The app talks to its own Valkey here (the embedded server's configuration: AOF, fsync every
second) in a short temporary directory, never to the machine's shared Redis. `appendfsync
everysec` may lose up to about the last second of writes when the machine goes down; the test
makes that loss certain by starting Redis again from a copy of its AOF taken just before the last
writes. What was written more than 2 s before survives; what the loss undid in the deal
counters, the reconciler takes back from the database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from server.embedded_redis import EmbeddedRedis
from server.keys import engine_key, reconciler_key
from tests.conftest import ClientFactory
from tests.helpers import bearer
from tests.room import Room
from tests.shopping import (
    add,
    checkout,
    checkout_body,
    db_figures,
    deal,
    set_stock,
    start_show,
    units_left,
)

UNITS = 15


async def cart_of(room: Room, token: str) -> dict[str, Any]:
    resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def until_redis_answers(room: Room, token: str) -> None:
    """The app's pool reconnects on its own; the first call after the restart may fail."""
    for _ in range(100):
        resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
        if resp.status == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the app did not reach Redis again")


async def test_carts_survive_a_redis_restart_and_deal_counters_are_reconciled(
    make_client: ClientFactory, valkey: EmbeddedRedis
) -> None:
    # One reconcile pass at start-up; the test runs the next one itself, after the restart.
    client: TestClient[Any, Any] = await make_client(
        redis_url=valkey.url, reconcile_interval_seconds=3600, guests_per_ip_per_hour=100_000
    )
    room = await Room(client).setup(products=2)
    await start_show(room)
    host = await room.host()
    product, other = room.products
    await set_stock(room, product, 100)
    variant, other_variant = product["variants"][0]["id"], other["variants"][0]["id"]
    await host.ok("pin", {"product_id": product["id"], "deal": deal(UNITS, 5, seconds=600)})
    names = ("Ana", "Bob", "Cy", "Dee", "Fay", "Eve")
    ana, bob, cy, dee, fay, eve = [await room.guest_token(n) for n in names]
    resp = await checkout(room, ana, checkout_body(await add(room, ana, variant, 2)))
    assert resp.status == 201, await resp.text()
    bob_body = checkout_body(await add(room, bob, variant, 3))
    fay_body = checkout_body(await add(room, fay, variant, 5))
    await add(room, cy, variant, 1)
    cy_cart = await add(room, cy, other_variant, 2)
    await asyncio.sleep(2.2)  # older than the fsync window

    # Redis's files as a machine crash would leave them: the writes of the last moment missing.
    aof = valkey.data_dir / "appendonlydir"
    saved = Path(tempfile.mkdtemp(prefix="lsa", dir="/tmp")) / "appendonlydir"
    shutil.copytree(aof, saved)
    orders = {}
    for token, body in ((bob, bob_body), (fay, fay_body)):
        resp = await checkout(room, token, body)
        assert resp.status == 201, await resp.text()
        orders[token] = (await resp.json())["id"]
    await add(room, dee, variant, 1)
    assert await units_left(room, product["id"]) == UNITS - 10

    assert valkey.pid is not None
    os.kill(valkey.pid, signal.SIGKILL)
    await valkey.stop()  # reaps it and lets the directory go
    shutil.rmtree(aof)
    shutil.move(saved, aof)
    shutil.rmtree(saved.parent)
    await valkey.start()
    await until_redis_answers(room, cy)

    # Carts written more than 2 s before the kill are all there, version and all.
    assert await cart_of(room, cy) == cy_cart
    # The last moment is gone: Dee's cart, the emptying of Bob's and Fay's, their idempotency
    # keys, and their units off the deal's counter (the database has them all).
    assert (await cart_of(room, dee))["lines"] == []
    assert (await cart_of(room, bob))["version"] == bob_body["cart_version"]
    assert await units_left(room, product["id"]) == UNITS - 2
    database_url = str(client.app[engine_key].url.render_as_string(hide_password=False))
    assert await db_figures(database_url, product["id"]) == (3, 100 - 10, UNITS - 10)

    # Bob's client retries now (it never saw the answer, say): the database has the order for
    # his key; the units this attempt took again go back. The same order, his cart empties.
    resp = await checkout(room, bob, bob_body)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["id"] == orders[bob]
    assert await units_left(room, product["id"]) == UNITS - 2
    assert (await cart_of(room, bob))["lines"] == []

    # The reconciler brings Redis back in line with the database.
    done = await client.app[reconciler_key].run_once()
    assert done["recounted"] == 1
    assert await units_left(room, product["id"]) == UNITS - 10
    # Fay retries after it: Redis knows again she has her 5 (the cart would price at full
    # price now); still her order, not a refusal.
    resp = await checkout(room, fay, fay_body)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["id"] == orders[fay]
    assert (await cart_of(room, fay))["lines"] == []

    # And selling goes on, to the last unit and not one more.
    resp = await checkout(room, eve, checkout_body(await add(room, eve, variant, 5)))
    assert resp.status == 201, await resp.text()
    ivy = await room.guest_token("Ivy")
    assert (await add(room, ivy, variant, 1))["lines"][0]["deal_quantity"] == 0
    assert await units_left(room, product["id"]) == 0
    assert await db_figures(database_url, product["id"]) == (4, 100 - 15, 0)
    await room.close()
