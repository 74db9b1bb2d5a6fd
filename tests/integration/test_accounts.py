"""Sign-up, log-in, guests, tokens and their throttles, through the real app."""

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import ClientFactory
from tests.helpers import PASSWORD, bearer, error_of, sign_up


async def test_sign_up_then_log_in_and_read_me(client: TestClient[Any, Any]) -> None:
    _, ident = await sign_up(client, "Ana")
    assert ident["kind"] == "account"
    resp = await client.post(
        "/api/auth/login", json={"email": ident["email"].upper(), "password": PASSWORD}
    )
    assert resp.status == 200
    login = await resp.json()
    assert login["identity"]["account_id"] == ident["account_id"]
    assert login["expires_in"] > 0
    me = await (await client.get("/api/me", headers=bearer(login["token"]))).json()
    assert me["display_name"] == "Ana"
    assert me["shops"] == []


async def test_email_is_taken_once(client: TestClient[Any, Any]) -> None:
    _, ident = await sign_up(client)
    resp = await client.post(
        "/api/auth/signup",
        json={"email": ident["email"], "password": PASSWORD, "display_name": "Other"},
    )
    err = await error_of(resp, 409)
    assert err["code"] == "email_taken"
    assert err["field"] == "email"


async def test_sign_up_validation(client: TestClient[Any, Any]) -> None:
    bad = [
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "display_name": "A"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "display_name": "   "}, "display_name"),
        ({"email": "a@example.com", "password": PASSWORD}, "display_name"),
        ({"email": "a@example.com", "password": 12345678, "display_name": "A"}, "password"),
        (
            {"email": "a@example.com", "password": PASSWORD, "display_name": "A", "role": "x"},
            "role",
        ),
    ]
    for body, field in bad:
        err = await error_of(await client.post("/api/auth/signup", json=body), 422)
        assert err["code"] == "validation_error"
        assert err["field"] == field, (body, err)
    # Nothing was created: the address is still free.
    resp = await client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": PASSWORD}
    )
    assert resp.status == 401


async def test_wrong_password_and_unknown_email_look_alike(client: TestClient[Any, Any]) -> None:
    _, ident = await sign_up(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": ident["email"], "password": "wrong password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong password"}
    )
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_log_in_is_throttled_per_account(make_client: ClientFactory) -> None:
    client = await make_client(login_max_failures=3)
    _, ident = await sign_up(client)
    for _ in range(3):
        resp = await client.post(
            "/api/auth/login", json={"email": ident["email"], "password": "wrong password"}
        )
        assert resp.status == 401
    # Locked now, even with the right password, and the answer says when to retry.
    resp = await client.post(
        "/api/auth/login", json={"email": ident["email"], "password": PASSWORD}
    )
    err = await error_of(resp, 429)
    assert err["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0


async def test_log_in_is_throttled_per_ip(make_client: ClientFactory) -> None:
    client = await make_client(login_ip_max_failures=4)
    _, ident = await sign_up(client)
    for i in range(4):
        resp = await client.post(
            "/api/auth/login", json={"email": f"guess{i}@example.com", "password": "x" * 8}
        )
        assert resp.status == 401
    resp = await client.post(
        "/api/auth/login", json={"email": ident["email"], "password": PASSWORD}
    )
    assert (await error_of(resp, 429))["code"] == "rate_limited"


async def test_successful_log_in_clears_the_account_counter(make_client: ClientFactory) -> None:
    client = await make_client(login_max_failures=3)
    _, ident = await sign_up(client)
    for _ in range(3):
        for password in ("wrong password", "wrong password"):
            await client.post(
                "/api/auth/login", json={"email": ident["email"], "password": password}
            )
        resp = await client.post(
            "/api/auth/login", json={"email": ident["email"], "password": PASSWORD}
        )
        assert resp.status == 200


async def test_parallel_guesses_cannot_outrun_the_throttle(make_client: ClientFactory) -> None:
    client = await make_client(login_max_failures=3)
    _, ident = await sign_up(client)
    guesses = [
        client.post("/api/auth/login", json={"email": ident["email"], "password": f"guess {i}"})
        for i in range(12)
    ]
    statuses = sorted(r.status for r in await asyncio.gather(*guesses))
    # Exactly the allowed number of passwords was tried; every other attempt was refused.
    assert statuses == [401] * 3 + [429] * 9


async def test_successful_log_ins_do_not_spend_the_ip_budget(make_client: ClientFactory) -> None:
    client = await make_client(login_ip_max_failures=2)
    _, ident = await sign_up(client)
    for _ in range(5):
        resp = await client.post(
            "/api/auth/login", json={"email": ident["email"], "password": PASSWORD}
        )
        assert resp.status == 200


async def test_sign_up_is_limited_per_ip(make_client: ClientFactory) -> None:
    client = await make_client(signups_per_ip_per_hour=2)
    await sign_up(client)
    await sign_up(client)
    body = {"email": "third@example.com", "password": PASSWORD, "display_name": "C"}
    resp = await client.post("/api/auth/signup", json=body)
    assert (await error_of(resp, 429))["code"] == "rate_limited"
    resp = await client.post("/api/auth/login", json={"email": body["email"], "password": PASSWORD})
    assert resp.status == 401  # the refused sign-up created nothing


async def test_a_taken_email_keeps_its_password(client: TestClient[Any, Any]) -> None:
    _, ident = await sign_up(client)
    body = {"email": ident["email"], "password": "another password", "display_name": "X"}
    assert (await client.post("/api/auth/signup", json=body)).status == 409
    login = {"email": ident["email"], "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status == 200


async def test_guest_identity(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/viewers", json={"display_name": "  Bea  "})
    assert resp.status == 201
    body = await resp.json()
    assert body["identity"]["kind"] == "guest"
    assert body["identity"]["display_name"] == "Bea"
    assert body["identity"]["account_id"] is None
    me = await (await client.get("/api/me", headers=bearer(body["token"]))).json()
    assert me["subject"] == body["identity"]["subject"]
    assert "shops" not in me
    # A guest is not an account: shop actions are refused.
    resp = await client.post("/api/shops", json={"name": "x"}, headers=bearer(body["token"]))
    assert (await error_of(resp, 403))["code"] == "forbidden"


async def test_guest_creation_is_limited_per_ip(make_client: ClientFactory) -> None:
    client = await make_client(guests_per_ip_per_hour=2)
    for _ in range(2):
        assert (await client.post("/api/viewers", json={"display_name": "G"})).status == 201
    resp = await client.post("/api/viewers", json={"display_name": "G"})
    assert (await error_of(resp, 429))["code"] == "rate_limited"


async def test_bad_tokens_are_refused(client: TestClient[Any, Any]) -> None:
    token, _ = await sign_up(client)
    for header in (f"Bearer {token}x", "Bearer ", f"Basic {token}", "Bearer a.b.c"):
        resp = await client.get("/api/me", headers={"Authorization": header})
        assert (await error_of(resp, 401))["code"] == "unauthenticated"
    assert (await error_of(await client.get("/api/me"), 401))["code"] == "unauthenticated"


async def test_a_token_from_another_secret_is_refused(make_client: ClientFactory) -> None:
    other = await make_client(secret_key="another-secret-" + "y" * 32)
    token, _ = await sign_up(other)
    client = await make_client()
    resp = await client.get("/api/me", headers=bearer(token))
    assert resp.status == 401


async def test_body_errors(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/auth/login", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert (await error_of(resp, 400))["code"] == "invalid_json"
    resp = await client.post(
        "/api/auth/login",
        data="email=a",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await error_of(resp, 415))["code"] == "unsupported_media_type"
    resp = await client.post("/api/auth/login", json=["a", "b"])
    assert (await error_of(resp, 422))["code"] == "validation_error"


async def test_oversized_body_is_refused(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=2048)
    resp = await client.post(
        "/api/viewers",
        data='{"display_name": "' + "x" * 5000 + '"}',
        headers={"Content-Type": "application/json"},
    )
    assert (await error_of(resp, 413))["code"] == "payload_too_large"


async def test_forwarded_for_counts_only_from_a_trusted_proxy(make_client: ClientFactory) -> None:
    # Untrusted peer: X-Forwarded-For is ignored, so spoofed addresses share one budget.
    client = await make_client(guests_per_ip_per_hour=1)
    for ip, status in (("203.0.113.1", 201), ("203.0.113.2", 429)):
        resp = await client.post(
            "/api/viewers", json={"display_name": "G"}, headers={"X-Forwarded-For": ip}
        )
        assert resp.status == status
    # Behind a trusted proxy (the test client connects from loopback), each client has its own.
    client = await make_client(guests_per_ip_per_hour=1, trusted_proxies="127.0.0.0/8,::1")
    for ip, status in (("203.0.113.1", 201), ("203.0.113.2", 201), ("203.0.113.1", 429)):
        resp = await client.post(
            "/api/viewers",
            json={"display_name": "G"},
            headers={"X-Forwarded-For": f"10.9.9.9, {ip}"},
        )
        assert resp.status == status
