"""Shows REST: lineup rules, listing, the scheduled -> live -> ended machine, public reads."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import bearer, error_of, new_product, new_shop, sign_up


def soon(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


@pytest.fixture
async def shop(client: TestClient[Any, Any]) -> tuple[str, int, list[int]]:
    token, _ = await sign_up(client, "Host")
    shop_id = await new_shop(client, token)
    products = [(await new_product(client, token, shop_id))["id"] for _ in range(3)]
    return token, shop_id, products


async def _create(client: TestClient[Any, Any], token: str, shop_id: int, **fields: Any) -> Any:
    body = {"title": "Autumn Live", "scheduled_at": soon(), "currency": "EUR", **fields}
    return await client.post(f"/api/shops/{shop_id}/shows", json=body, headers=bearer(token))


async def test_create_get_and_public_view(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, products = shop
    resp = await _create(client, token, shop_id, lineup=products[::-1])
    assert resp.status == 201
    show = await resp.json()
    assert show["status"] == "scheduled"
    assert show["lineup"] == products[::-1]
    # Anyone may read a show's public data, without a token; stock of record stays private.
    public = await (await client.get(f"/api/shows/{show['id']}")).json()
    assert [p["id"] for p in public["lineup"]] == products[::-1]
    assert "stock" not in public["lineup"][0]["variants"][0]
    assert public["lineup"][0]["variants"][0]["in_stock"] is True


async def test_public_lineup_hides_deleted_products(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, products = shop
    show = await (await _create(client, token, shop_id, lineup=products)).json()
    resp = await client.delete(
        f"/api/shops/{shop_id}/products/{products[1]}", headers=bearer(token)
    )
    assert resp.status == 204
    public = await (await client.get(f"/api/shows/{show['id']}")).json()
    assert [p["id"] for p in public["lineup"]] == [products[0], products[2]]


async def test_show_cursor_is_bounded(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, _ = shop
    resp = await client.get(
        f"/api/shops/{shop_id}/shows", params={"after": str(2**63)}, headers=bearer(token)
    )
    assert (await error_of(resp, 422))["field"] == "after"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scheduled_at": "2020-01-01T10:00:00+00:00"}, "scheduled_at"),
        ({"scheduled_at": "2030-13-01T10:00:00Z"}, "scheduled_at"),
        ({"scheduled_at": "2099-01-01T10:00:00+00:00"}, "scheduled_at"),
        ({"scheduled_at": "2030-01-01T10:00:00"}, "scheduled_at"),  # no offset
        ({"currency": "XXQ"}, "currency"),
        ({"title": "x" * 201}, "title"),
        ({"lineup": [1, 1]}, None),
        ({"lineup": ["1"]}, "lineup.0"),
        ({"lineup": [0]}, "lineup.0"),
        ({"lineup": list(range(1, 60))}, "lineup"),
        ({"status": "live"}, "status"),
    ],
)
async def test_bad_shows_are_refused(
    client: TestClient[Any, Any],
    shop: tuple[str, int, list[int]],
    fields: dict[str, Any],
    field: str | None,
) -> None:
    token, shop_id, _ = shop
    err = await error_of(await _create(client, token, shop_id, **fields), 422)
    assert err.get("field") == field
    listing = await (await client.get(f"/api/shops/{shop_id}/shows", headers=bearer(token))).json()
    assert listing["shows"] == []


async def test_lineup_must_be_this_shops_products_in_the_show_currency(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, products = shop
    other, _ = await sign_up(client, "Other")
    other_shop = await new_shop(client, other)
    foreign = (await new_product(client, other, other_shop))["id"]
    err = await error_of(await _create(client, token, shop_id, lineup=[products[0], foreign]), 422)
    assert err["field"] == "lineup.1"
    dollars = (await new_product(client, token, shop_id, currency="USD"))["id"]
    err = await error_of(await _create(client, token, shop_id, lineup=[dollars]), 422)
    assert err["field"] == "lineup.0" and "USD" in err["message"]
    await client.delete(f"/api/shops/{shop_id}/products/{products[2]}", headers=bearer(token))
    err = await error_of(await _create(client, token, shop_id, lineup=[products[2]]), 422)
    assert err["field"] == "lineup.0"


async def test_lifecycle(client: TestClient[Any, Any], shop: tuple[str, int, list[int]]) -> None:
    token, shop_id, products = shop
    show = await (await _create(client, token, shop_id, lineup=products)).json()
    url = f"/api/shops/{shop_id}/shows/{show['id']}"
    err = await error_of(await client.post(f"{url}/end", headers=bearer(token)), 409)
    assert err["code"] == "invalid_transition"
    live = await (await client.post(f"{url}/start", headers=bearer(token))).json()
    assert live["status"] == "live" and live["started_at"]
    assert (await client.post(f"{url}/start", headers=bearer(token))).status == 409
    # While live: the lineup may change, the schedule may not, and it cannot be deleted.
    resp = await client.patch(url, json={"lineup": products[:1]}, headers=bearer(token))
    assert (await resp.json())["lineup"] == products[:1]
    resp = await client.patch(url, json={"scheduled_at": soon(2)}, headers=bearer(token))
    assert (await error_of(resp, 409))["field"] == "scheduled_at"
    assert (await client.delete(url, headers=bearer(token))).status == 409
    ended = await (await client.post(f"{url}/end", headers=bearer(token))).json()
    assert ended["status"] == "ended" and ended["ended_at"]
    resp = await client.patch(url, json={"title": "again"}, headers=bearer(token))
    assert (await error_of(resp, 409))["code"] == "invalid_transition"
    assert (await client.post(f"{url}/start", headers=bearer(token))).status == 409


async def test_list_by_status_and_delete_while_scheduled(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, _ = shop
    ids = [(await (await _create(client, token, shop_id)).json())["id"] for _ in range(3)]
    await client.post(f"/api/shops/{shop_id}/shows/{ids[1]}/start", headers=bearer(token))

    async def listed(status: str) -> list[int]:
        resp = await client.get(
            f"/api/shops/{shop_id}/shows?status={status}", headers=bearer(token)
        )
        return [s["id"] for s in (await resp.json())["shows"]]

    assert await listed("upcoming") == [ids[0], ids[2]]
    assert await listed("live") == [ids[1]]
    assert await listed("ended") == []
    resp = await client.get(f"/api/shops/{shop_id}/shows?status=paused", headers=bearer(token))
    assert (await error_of(resp, 422))["field"] == "status"
    assert (
        await client.delete(f"/api/shops/{shop_id}/shows/{ids[0]}", headers=bearer(token))
    ).status == 204
    assert await listed("upcoming") == [ids[2]]
    assert (await client.get(f"/api/shows/{ids[0]}")).status == 404


async def test_other_shops_cannot_touch_a_show(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, _ = shop
    show = await (await _create(client, token, shop_id)).json()
    other, _ = await sign_up(client, "Other")
    other_shop = await new_shop(client, other)
    for url in (
        f"/api/shops/{shop_id}/shows/{show['id']}",
        f"/api/shops/{other_shop}/shows/{show['id']}",
    ):
        assert (await client.post(f"{url}/start", headers=bearer(other))).status == 404
        assert (await client.delete(url, headers=bearer(other))).status == 404
    got = await (await client.get(f"/api/shows/{show['id']}")).json()
    assert got["status"] == "scheduled"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example/live.m3u8",
        "javascript:alert(1)",
        "https://",
        "https://user:secret@cdn.example/live.m3u8",
        "https://cdn.example/a b.m3u8",
        "https://cdn.example/" + "x" * 2000,
        42,
    ],
)
async def test_playback_url_must_be_a_plain_http_url(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]], url: Any
) -> None:
    token, shop_id, _ = shop
    resp = await _create(client, token, shop_id, playback_url=url)
    error = await error_of(resp, 422)
    assert error["code"] == "validation_error"
    listed = await client.get(f"/api/shops/{shop_id}/shows", headers=bearer(token))
    assert (await listed.json())["shows"] == []  # nothing was created


async def test_playback_url_is_set_changed_while_live_and_removed(
    client: TestClient[Any, Any], shop: tuple[str, int, list[int]]
) -> None:
    token, shop_id, _ = shop
    url = "https://cdn.example/shows/1/index.m3u8"
    show = await (await _create(client, token, shop_id, playback_url=url)).json()
    assert show["playback_url"] == url
    path = f"/api/shops/{shop_id}/shows/{show['id']}"
    assert (await (await client.get(f"/api/shows/{show['id']}")).json())["playback_url"] == url
    assert (await client.post(path + "/start", headers=bearer(token))).status == 200
    other = "http://127.0.0.1:8080/hls/show-1.m3u8"
    resp = await client.patch(path, json={"playback_url": other}, headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["playback_url"] == other
    resp = await client.patch(path, json={"playback_url": None}, headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["playback_url"] is None
    assert (await client.post(path + "/end", headers=bearer(token))).status == 200
    resp = await client.patch(path, json={"playback_url": url}, headers=bearer(token))
    assert (await error_of(resp, 409))["code"] == "invalid_transition"
    assert (await (await client.get(path, headers=bearer(token))).json())["playback_url"] is None
