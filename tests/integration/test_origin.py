"""The Origin allowlist and CORS."""

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import ClientFactory
from tests.helpers import error_of


async def test_unknown_origin_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/viewers", json={"display_name": "A"}, headers={"Origin": "https://evil.example"}
    )
    assert (await error_of(resp, 403))["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_allowed_origin_gets_cors_headers(make_client: ClientFactory) -> None:
    client = await make_client(allowed_origins="https://shop.example, https://www.shop.example")
    origin = "https://shop.example"
    pre = await client.options(
        "/api/viewers",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    resp = await client.post("/api/viewers", json={"display_name": "A"}, headers={"Origin": origin})
    assert resp.status == 201
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    # The server's own address is not implied once an explicit list is set.
    resp = await client.get("/healthz", headers={"Origin": "http://127.0.0.1:8080"})
    assert resp.status == 403


async def test_own_origin_is_allowed_by_default(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz", headers={"Origin": "http://127.0.0.1:8080"})
    assert resp.status == 200


async def test_errors_to_an_allowed_origin_carry_cors_headers(make_client: ClientFactory) -> None:
    # Without the header a browser hides the error body from the page's script.
    client = await make_client(allowed_origins="https://shop.example")
    headers = {"Origin": "https://shop.example"}
    resp = await client.get("/api/me", headers=headers)
    assert (await error_of(resp, 401))["code"] == "unauthenticated"
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    resp = await client.post("/api/viewers", json={"display_name": ""}, headers=headers)
    assert (await error_of(resp, 422))["code"] == "validation_error"
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    resp = await client.get("/api/me", headers={**headers, "Authorization": "Bearer x.y.z"})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
