"""Small request helpers for integration tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

_n = itertools.count(1)

PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def send(client: TestClient[Any, Any], method: str, path: str, **kw: Any) -> ClientResponse:
    """A set-up request, sent again while the API answers `busy` (503), as its Retry-After
    contract asks: on SQLite a background writer (the chat archive, the outbox sender) that
    commits inside a request's read-then-write makes it answer busy at once."""
    deadline = time.monotonic() + 10
    while True:
        resp = await client.request(method, path, **kw)
        if resp.status != 503 or time.monotonic() > deadline:
            return resp
        await asyncio.sleep(0.05)


async def sign_up(client: TestClient[Any, Any], name: str = "Ana") -> tuple[str, dict[str, Any]]:
    """A new account; returns its token and identity."""
    email = f"{name.lower()}{next(_n)}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": name}
    resp = await send(client, "POST", "/api/auth/signup", json=body)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return body["token"], {**body["identity"], "email": email}


async def new_shop(client: TestClient[Any, Any], token: str, name: str = "Shop") -> int:
    resp = await send(client, "POST", "/api/shops", json={"name": name}, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


def product_body(sku: str = "SKU-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Blue Scarf",
        "currency": "EUR",
        "price": 2500,
        "variants": [{"sku": sku, "options": {"colour": "Blue"}, "stock": 10}],
    }
    body.update(fields)
    return body


async def new_product(
    client: TestClient[Any, Any], token: str, shop_id: int, **fields: Any
) -> dict[str, Any]:
    resp = await send(
        client,
        "POST",
        f"/api/shops/{shop_id}/products",
        json=product_body(sku=f"SKU-{next(_n)}", **fields),
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def metric(client: TestClient[Any, Any], name: str) -> float:
    """The value of an unlabelled sample in /metrics."""
    text = await (await client.get("/metrics")).text()
    values = [line.split()[1] for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in /metrics:\n{text}"
    return float(values[0])


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    """Assert the status and the JSON error shape; return the error object."""
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return dict(body["error"])


async def add_member(
    client: TestClient[Any, Any], owner: str, shop_id: int, role: str, name: str = "Member"
) -> tuple[str, dict[str, Any]]:
    """A new account, invited with this role and accepted: returns its token and identity."""
    token, ident = await sign_up(client, name)
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": ident["email"], "role": role},
        headers=bearer(owner),
    )
    assert resp.status == 201, await resp.text()
    code = (await resp.json())["code"]
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return token, ident
