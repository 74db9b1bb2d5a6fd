"""Helpers for live-room tests: real socketio.AsyncClient viewers against a real app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from tests.helpers import bearer, new_product, new_shop, sign_up


async def until(check: Callable[[], bool], within: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Viewer:
    """A connected Socket.IO client that records every frame it receives."""

    def __init__(self, url: str, token: str, name: str = "viewer") -> None:
        self.url = url
        self.token = token
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.frames: list[dict[str, Any]] = []
        self.sio.on("frame", self.frames.append)

    async def connect(self, headers: dict[str, str] | None = None) -> Viewer:
        await self.sio.connect(
            self.url,
            transports=["websocket"],
            auth={"token": self.token},
            headers=headers or {},
            wait_timeout=5,
        )
        return self

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        if data is None:
            answer = await self.sio.call(event, timeout=5)
        else:
            answer = await self.sio.call(event, data, timeout=5)
        assert isinstance(answer, dict), answer
        return answer

    async def ok(self, event: str, data: Any = None) -> dict[str, Any]:
        answer = await self.call(event, data)
        assert answer["ok"] is True, (event, data, answer)
        return answer

    async def refused(self, event: str, data: Any, code: str) -> dict[str, Any]:
        answer = await self.call(event, data)
        assert answer["ok"] is False, (event, data, answer)
        assert set(answer["error"]) >= {"code", "message"}
        assert answer["error"]["code"] == code, (event, data, answer)
        return dict(answer["error"])

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for f in self.frames for e in f["events"] if e["type"] == kind]

    def seqs(self) -> list[int]:
        return [int(f["seq"]) for f in self.frames]

    async def wait_event(self, kind: str, n: int = 1, within: float = 5) -> list[dict[str, Any]]:
        await until(lambda: len(self.events(kind)) >= n, within, f"{n} {kind} event(s)")
        return self.events(kind)

    async def close(self) -> None:
        if self.sio.connected:
            await asyncio.wait_for(self.sio.disconnect(), 10)


class Room:
    """A shop with an owner, a lineup of products and a scheduled show, plus viewer factories."""

    def __init__(self, client: TestClient[Any, Any] | Any, url: str | None = None) -> None:
        # An aiohttp TestClient, or a ClientSession with base_url (url: where sockets connect).
        self.client = client
        self.url = url or str(client.make_url("/")).rstrip("/")
        self.viewers: list[Viewer] = []
        self.owner = ""
        self.shop_id = 0
        self.show_id = 0
        self.products: list[dict[str, Any]] = []

    async def setup(self, products: int = 4) -> Room:
        self.owner, _ = await sign_up(self.client, "Owner")
        self.shop_id = await new_shop(self.client, self.owner)
        for i in range(products):
            self.products.append(
                await new_product(
                    self.client,
                    self.owner,
                    self.shop_id,
                    title=f"Product {i}",
                    variants=[{"sku": f"SKU-{i}", "options": {"size": "M"}, "stock": 10}],
                )
            )
        when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        resp = await self.client.post(
            f"/api/shops/{self.shop_id}/shows",
            json={
                "title": "Live",
                "scheduled_at": when,
                "currency": "EUR",
                "lineup": [p["id"] for p in self.products],
            },
            headers=bearer(self.owner),
        )
        assert resp.status == 201, await resp.text()
        self.show_id = (await resp.json())["id"]
        return self

    async def heavy_lineup(self) -> int:
        """Make the show's lineup one product whose pin frame carries about 40 KB; its id."""
        variants = [
            {"sku": f"H-{i}", "options": {f"o{j}": "v" * 60 for j in range(5)}, "stock": 1}
            for i in range(100)
        ]
        resp = await self.client.post(
            f"/api/shops/{self.shop_id}/products",
            json={"title": "Heavy", "currency": "EUR", "price": 100, "variants": variants},
            headers=bearer(self.owner),
        )
        assert resp.status == 201, await resp.text()
        heavy = int((await resp.json())["id"])
        resp = await self.client.patch(
            f"/api/shops/{self.shop_id}/shows/{self.show_id}",
            json={"lineup": [heavy]},
            headers=bearer(self.owner),
        )
        assert resp.status == 200, await resp.text()
        return heavy

    async def guest_token(self, name: str = "Guest") -> str:
        resp = await self.client.post("/api/viewers", json={"display_name": name})
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["token"])

    async def viewer(
        self, name: str = "Guest", token: str | None = None, url: str | None = None
    ) -> Viewer:
        token = token or await self.guest_token(name)
        viewer = await Viewer(url or self.url, token, name).connect()
        self.viewers.append(viewer)
        return viewer

    async def joined(
        self, name: str = "Guest", token: str | None = None, url: str | None = None
    ) -> Viewer:
        viewer = await self.viewer(name, token, url)
        await viewer.ok("join", {"show_id": self.show_id})
        return viewer

    async def host(self, url: str | None = None) -> Viewer:
        return await self.joined("Owner", self.owner, url)

    async def close(self) -> None:
        for viewer in self.viewers:
            await viewer.close()
