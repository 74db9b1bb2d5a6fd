"""One text rule for everything people write, through the real app: names, chat, questions,
announcements, product and show texts, addresses; and the chat archive when the database
refuses a row anyway."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from core.identity import Principal
from live.room.models import ChatMessage
from server.accounts.tokens import TokenSigner
from server.keys import realtime_key, sessions_key, settings_key
from tests import backends as b
from tests.conftest import ClientFactory
from tests.helpers import PASSWORD, bearer, error_of, metric, product_body, sign_up
from tests.room import Room, until
from tests.shopping import ADDRESS, add, checkout, checkout_body, start_show

# NUL, ESC, CR/LF, a right-to-left override, an isolate, a C1 control.
BAD = ["Ana\x00", "\x1b[2JAna", "Ana\r\nAdmin", "Ana\u202egpj.exe", "\u2066Ana", "A\x85na"]
# Devanagari conjuncts, emoji ZWJ sequences, right-to-left scripts: all kept as written.
GOOD = ["क्षत्रिय", "👩\u200d💻 👨\u200d👩\u200d👧", "مرحبا", "שלום\u200f!"]


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(guests_per_ip_per_hour=100_000)


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup(products=1)
    yield r
    await r.close()


async def test_names_with_controls_are_refused_and_nothing_is_created(
    client: TestClient[Any, Any],
) -> None:
    owner, _ = await sign_up(client, "Owner")
    for name in BAD:
        email = f"{uuid.uuid4().hex}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": name}
        err = await error_of(await client.post("/api/auth/signup", json=body), 422)
        assert (err["code"], err["field"]) == ("validation_error", "display_name"), (name, err)
        resp = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert resp.status == 401  # no account was made
        resp = await client.post("/api/viewers", json={"display_name": name})
        err = await error_of(resp, 422)
        assert (err["code"], err["field"]) == ("validation_error", "display_name"), (name, err)
        resp = await client.post("/api/shops", json={"name": name}, headers=bearer(owner))
        err = await error_of(resp, 422)
        assert (err["code"], err["field"]) == ("validation_error", "name"), (name, err)
    shops = await (await client.get("/api/shops", headers=bearer(owner))).json()
    assert shops["shops"] == []
    for name in GOOD:
        resp = await client.post("/api/viewers", json={"display_name": name})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["identity"]["display_name"] == name
        body = {"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD}
        resp = await client.post("/api/auth/signup", json={**body, "display_name": name})
        assert resp.status == 201, await resp.text()
        token = (await resp.json())["token"]
        me = await (await client.get("/api/me", headers=bearer(token))).json()
        assert me["display_name"] == name


async def test_chat_questions_and_announcements_follow_the_rule(room: Room) -> None:
    host = await room.host()
    ana = await room.joined("Ana")
    watcher = await room.joined("Watcher")
    for text in [*BAD, "one\ntwo", "a\tb"]:
        for event in ("chat", "ask"):
            error = await ana.refused(event, {"text": text}, "validation_error")
            assert error["field"] == "text", (event, text, error)
    await host.refused("announce", {"text": "Sale\u202e!"}, "validation_error")
    await host.refused("announce", {"text": "Sale\x00"}, "validation_error")
    await host.refused("blocked_words", {"words": ["sc\u202eam"]}, "validation_error")
    for text in GOOD:
        await ana.ok("chat", {"text": text})
    # An announcement is written in a text area: its lines are kept, a pasted CRLF becomes LF.
    await host.ok("announce", {"text": "Free shipping\r\ntoday only"})
    announcement = (await watcher.wait_event("announcement"))[0]["announcement"]
    assert announcement["text"] == "Free shipping\ntoday only"
    # Only what passed reached the room.
    messages = await watcher.wait_event("chat", len(GOOD))
    assert [m["message"]["text"] for m in messages] == GOOD
    assert watcher.events("question") == []


async def test_product_and_show_texts_follow_the_rule(room: Room) -> None:
    client, owner, shop = room.client, room.owner, room.shop_id
    products = f"/api/shops/{shop}/products"
    before = await (await client.get(products, headers=bearer(owner))).json()
    for field, value in [
        ("title", "Mug\u202e"),
        ("title", "Mug\nfree"),
        ("description", "Lovely\x00"),
        ("description", "Lovely\u2067mug"),
    ]:
        body = product_body(sku=f"S-{uuid.uuid4().hex[:8]}", **{field: value})
        err = await error_of(await client.post(products, json=body, headers=bearer(owner)), 422)
        assert err["field"] == field, err
    body = product_body(sku="S-OPT", variants=[{"sku": "S-OPT", "options": {"size": "M\x1b"}}])
    err = await error_of(await client.post(products, json=body, headers=bearer(owner)), 422)
    assert err["field"] == "variants.0.options.size", err
    assert await (await client.get(products, headers=bearer(owner))).json() == before
    # A description is multi-line.
    body = product_body(sku="S-OK", title="क्षत्रिय", description="line 1\r\nline 2\ttab")
    resp = await client.post(products, json=body, headers=bearer(owner))
    assert resp.status == 201, await resp.text()
    product = await resp.json()
    assert (product["title"], product["description"]) == ("क्षत्रिय", "line 1\nline 2\ttab")
    resp = await client.patch(
        f"{products}/{product['id']}", json={"title": "\u202dx"}, headers=bearer(owner)
    )
    assert (await error_of(resp, 422))["field"] == "title"

    show = f"/api/shops/{shop}/shows/{room.show_id}"
    for change in [{"title": "Live\u202e"}, {"title": "Li\rve"}, {"description": "d\x07"}]:
        err = await error_of(await client.patch(show, json=change, headers=bearer(owner)), 422)
        assert err["field"] == next(iter(change)), err
    shown = await (await client.get(show, headers=bearer(owner))).json()
    assert shown["title"] == "Live"
    resp = await client.patch(show, json={"description": "a\nb"}, headers=bearer(owner))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["description"] == "a\nb"


async def test_an_address_with_controls_is_refused(room: Room) -> None:
    await start_show(room)
    token = await room.guest_token("Ana")
    cart = await add(room, token, int(room.products[0]["variants"][0]["id"]))
    for field, value in [("name", "Ana\x00"), ("line1", "Main\u202e 1"), ("city", "Ber\nlin")]:
        body = checkout_body(cart, shipping_address={**ADDRESS, field: value})
        err = await error_of(await checkout(room, token, body), 422)
        assert err["field"] == f"shipping_address.{field}", err
    resp = await room.client.get("/api/orders", headers=bearer(token))
    assert (await resp.json())["orders"] == []


async def test_a_name_signed_before_the_rule_cannot_break_checkout_or_chat(room: Room) -> None:
    # A guest token lives 30 days: one issued before the rule may carry a NUL in its name.
    # On PostgreSQL that NUL made the guest's checkout answer 500 (the order's buyer name could
    # not be written) and the chat archive retry its batch forever.
    settings = room.client.app[settings_key]
    signer = TokenSigner(settings.secret(), 600, 600)
    token, _ = signer.issue(Principal("guest", f"g:{uuid.uuid4().hex}", "Eve\x00\u202e"))
    me = await (await room.client.get("/api/me", headers=bearer(token))).json()
    assert me["display_name"] == "Eve"
    await start_show(room)
    eve = await room.joined("Eve", token)
    await eve.ok("chat", {"text": "hello"})
    cart = await add(room, token, int(room.products[0]["variants"][0]["id"]))
    resp = await checkout(room, token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    orders = f"/api/shops/{room.shop_id}/shows/{room.show_id}/orders"
    listed = await (await room.client.get(orders, headers=bearer(room.owner))).json()
    assert [o["buyer"]["display_name"] for o in listed["orders"]] == ["Eve"]
    await until(lambda: bool(eve.events("chat")), what="the chat to go out")
    assert await archived(room) == [("Eve", "hello")]
    assert room.client.app[realtime_key].archive.rejected == 0


async def archived(room: Room) -> list[tuple[str, str]]:
    """(display name, text) of the show's archived chat, after a flush."""
    await room.client.app[realtime_key].archive.flush()
    async with room.client.app[sessions_key]() as session:
        rows = await session.execute(
            select(ChatMessage.display_name, ChatMessage.text)
            .where(ChatMessage.show_id == room.show_id)
            .order_by(ChatMessage.message_id)
        )
        return [(name, text) for name, text in rows]


def _row(show_id: int, message_id: int, text: str) -> dict[str, Any]:
    return {
        "show_id": show_id,
        "kind": "chat",
        "message_id": message_id,
        "subject": "g:" + "0" * 32,
        "display_name": "Old",
        "text": text,
        "sent_at": datetime.now(UTC),
    }


async def test_the_archive_sets_aside_a_row_the_database_refuses_and_writes_the_rest(
    room: Room, backend: b.Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A row the database refuses as a data error is set aside and counted once; it is never
    retried (before, a NUL made PostgreSQL refuse the batch on every flush, forever)."""
    caplog.set_level(logging.WARNING, logger="live.room.archive")
    archive = room.client.app[realtime_key].archive
    # What can no longer come in may still be in flight (Redis's recent chat from before the
    # rule): PostgreSQL refuses a NUL in text; SQLite stores it. A row whose show is gone (an
    # integrity error) and a number past 64 bits (a data error) are refused by both.
    refused_by_pg = _row(room.show_id, 900_001, "old\x00text")
    orphan = _row(room.show_id + 1000, 900_002, "show gone")
    too_big = _row(room.show_id, 2**64, "too big")
    archive.add_messages([_row(room.show_id, 900_000, "before"), refused_by_pg, orphan, too_big])
    archive.add_messages([_row(room.show_id, 900_003, "after")])
    expected = 3 if backend.database == "postgresql" else 2

    # The archive's own loop writes the batch (every half second): wait for it.
    await until(lambda: archive.rejected >= expected, what="the refused rows to be set aside")
    texts = [text for _, text in await archived(room)]
    kept = (
        ["before", "old\x00text", "after"] if backend.database == "sqlite" else ["before", "after"]
    )
    assert texts == kept
    assert archive.rejected == expected
    assert await metric(room.client, "chat_archive_rejected_rows") == expected

    # Nothing is retried: flushing again writes nothing and fails nothing.
    failed = len([r for r in caplog.records if "batch failed" in r.getMessage()])
    rejected = [r for r in caplog.records if r.getMessage() == "chat archive row rejected"]
    assert len(rejected) == expected
    for _ in range(3):
        await archive.flush()
    assert len([r for r in caplog.records if "batch failed" in r.getMessage()]) == failed
    assert archive.rejected == expected
    # The archive still takes new rows.
    archive.add_messages([_row(room.show_id, 900_004, "later")])
    assert [text for _, text in await archived(room)] == [*kept, "later"]
