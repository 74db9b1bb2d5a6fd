"""Shops, members with roles, invitations, and the wall between shops."""

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import add_member, bearer, error_of, new_shop, sign_up


async def test_creator_owns_the_shop(client: TestClient[Any, Any]) -> None:
    token, ident = await sign_up(client)
    shop_id = await new_shop(client, token, "Ana's")
    body = await (await client.get(f"/api/shops/{shop_id}", headers=bearer(token))).json()
    assert body == {**body, "id": shop_id, "name": "Ana's", "role": "owner"}
    members = await (
        await client.get(f"/api/shops/{shop_id}/members", headers=bearer(token))
    ).json()
    assert [(m["account_id"], m["role"]) for m in members["members"]] == [
        (ident["account_id"], "owner")
    ]


async def test_invite_and_accept(client: TestClient[Any, Any]) -> None:
    owner, _ = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    host, host_ident = await sign_up(client, "Host")
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": host_ident["email"], "role": "host"},
        headers=bearer(owner),
    )
    assert resp.status == 201
    code = (await resp.json())["code"]
    # Before accepting, the shop does not exist for the invitee.
    assert (await client.get(f"/api/shops/{shop_id}", headers=bearer(host))).status == 404
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(host))
    assert resp.status == 200
    assert (await resp.json())["role"] == "host"
    me = await (await client.get("/api/me", headers=bearer(host))).json()
    assert [(s["id"], s["role"]) for s in me["shops"]] == [(shop_id, "host")]
    # A code works once.
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(host))
    assert (await error_of(resp, 404))["code"] == "not_found"


async def test_invite_is_for_the_invited_email_only(client: TestClient[Any, Any]) -> None:
    owner, _ = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": "someone@example.com", "role": "moderator"},
        headers=bearer(owner),
    )
    code = (await resp.json())["code"]
    intruder, _ = await sign_up(client, "Eve")
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(intruder))
    assert resp.status == 404
    assert (await client.get(f"/api/shops/{shop_id}", headers=bearer(intruder))).status == 404


async def test_only_owners_invite_and_change_roles(client: TestClient[Any, Any]) -> None:
    owner, _ = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    host, host_ident = await add_member(client, owner, shop_id, "host")
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": "x@example.com", "role": "owner"},
        headers=bearer(host),
    )
    assert (await error_of(resp, 403))["code"] == "forbidden"
    resp = await client.patch(
        f"/api/shops/{shop_id}/members/{host_ident['account_id']}",
        json={"role": "moderator"},
        headers=bearer(owner),
    )
    assert resp.status == 200
    resp = await client.patch(
        f"/api/shops/{shop_id}/members/{host_ident['account_id']}",
        json={"role": "admin"},
        headers=bearer(owner),
    )
    assert (await error_of(resp, 422))["field"] == "role"


async def test_last_owner_cannot_leave(client: TestClient[Any, Any]) -> None:
    owner, ident = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    resp = await client.delete(
        f"/api/shops/{shop_id}/members/{ident['account_id']}", headers=bearer(owner)
    )
    assert (await error_of(resp, 409))["code"] == "conflict"


async def test_two_owners_demoting_each_other_leave_one_owner(
    client: TestClient[Any, Any],
) -> None:
    for _ in range(5):
        ana, ana_ident = await sign_up(client, "Ana")
        shop_id = await new_shop(client, ana)
        bob, bob_ident = await add_member(client, ana, shop_id, "owner", "Bob")
        results = await asyncio.gather(
            client.patch(
                f"/api/shops/{shop_id}/members/{bob_ident['account_id']}",
                json={"role": "host"},
                headers=bearer(ana),
            ),
            client.patch(
                f"/api/shops/{shop_id}/members/{ana_ident['account_id']}",
                json={"role": "host"},
                headers=bearer(bob),
            ),
        )
        statuses = sorted(r.status for r in results)
        # One wins; the other is refused (409 last owner, or 503 busy on SQLite's one writer).
        assert statuses[0] == 200 and statuses[1] in (409, 503), statuses
        members = await (
            await client.get(f"/api/shops/{shop_id}/members", headers=bearer(ana))
        ).json()
        assert [m["role"] for m in members["members"]].count("owner") == 1


async def test_an_invite_cannot_demote_the_last_owner(client: TestClient[Any, Any]) -> None:
    owner, ident = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": ident["email"], "role": "host"},
        headers=bearer(owner),
    )
    code = (await resp.json())["code"]
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(owner))
    assert (await error_of(resp, 409))["code"] == "conflict"
    shop = await (await client.get(f"/api/shops/{shop_id}", headers=bearer(owner))).json()
    assert shop["role"] == "owner"


async def test_removing_an_owner_revokes_their_pending_invites(
    client: TestClient[Any, Any],
) -> None:
    ana, _ = await sign_up(client, "Ana")
    shop_id = await new_shop(client, ana)
    bob, bob_ident = await add_member(client, ana, shop_id, "owner", "Bob")
    eve, eve_ident = await sign_up(client, "Eve")
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": eve_ident["email"], "role": "owner"},
        headers=bearer(bob),
    )
    code = (await resp.json())["code"]
    resp = await client.delete(
        f"/api/shops/{shop_id}/members/{bob_ident['account_id']}", headers=bearer(ana)
    )
    assert resp.status in (200, 204)
    resp = await client.post("/api/invites/accept", json={"code": code}, headers=bearer(eve))
    assert resp.status == 404
    assert (await client.get(f"/api/shops/{shop_id}", headers=bearer(eve))).status == 404


async def test_other_shops_are_invisible(client: TestClient[Any, Any]) -> None:
    ana, _ = await sign_up(client, "Ana")
    bob, _ = await sign_up(client, "Bob")
    shop_id = await new_shop(client, ana)
    for path in (
        f"/api/shops/{shop_id}",
        f"/api/shops/{shop_id}/members",
        f"/api/shops/{shop_id}/products",
        f"/api/shops/{shop_id}/shows",
    ):
        resp = await client.get(path, headers=bearer(bob))
        assert (await error_of(resp, 404))["code"] == "not_found", path
    resp = await client.post(
        f"/api/shops/{shop_id}/invites",
        json={"email": "bob@example.com", "role": "owner"},
        headers=bearer(bob),
    )
    assert resp.status == 404
    for bad in ("0", "abc", "99999999999999999999", "-1"):
        resp = await client.get(f"/api/shops/{bad}", headers=bearer(ana))
        assert resp.status == 404, bad
