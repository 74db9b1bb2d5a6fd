"""The email outbox through the real app: a real SMTP server (aiosmtpd) on a free port, real
checkouts and refunds, on both backends."""

from __future__ import annotations

import asyncio
import email
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cart.orders.models import Order
from core.outbox import outbox_table
from server.embedded_redis import EmbeddedRedis
from server.keys import engine_key, settings_key
from server.mail.setup import outbox_key
from tests import backends as b
from tests.conftest import ClientFactory
from tests.helpers import bearer, metric
from tests.room import Room, until
from tests.shopping import BUYER_EMAIL, add, checkout, checkout_body, set_stock, start_show

pytestmark = pytest.mark.payments


class Inbox:
    """An aiosmtpd handler that keeps what it accepts; `data_answers` and `rcpt_answer` make it
    refuse (each DATA answer once, in order; the RCPT answer every time)."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.data_answers: list[str] = []
        self.rcpt_answer: str | None = None
        self.rcpts = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.rcpts += 1
        if self.rcpt_answer is not None:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    handler = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="mx.test", decode_data=False), "127.0.0.1", 0
    )
    handler.port = server.sockets[0].getsockname()[1]
    yield handler
    server.close()
    await asyncio.wait_for(server.wait_closed(), 10)


def mail_settings(inbox: Inbox, **more: Any) -> dict[str, Any]:
    return {
        "guests_per_ip_per_hour": 100_000,
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "smtp_starttls": False,
        "mail_from": "Shop Orders <orders@shop.example>",
        "outbox_interval_seconds": 0.05,
        "outbox_retry_base_seconds": 0.05,
        "outbox_retry_max_seconds": 0.2,
        **more,
    }


async def open_room(client: TestClient[Any, Any]) -> Room:
    room = await Room(client).setup(products=2)
    await start_show(room)
    return room


async def buy(room: Room, quantity: int = 2, **fields: Any) -> dict[str, Any]:
    token = await room.guest_token("Ana")
    variant = room.products[0]["variants"][0]["id"]
    resp = await checkout(
        room, token, checkout_body(await add(room, token, variant, quantity), **fields)
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox_table()).order_by(outbox_table().c.id))
        return list(rows.all())


async def rows_when(
    engine: AsyncEngine, check: Callable[[list[Any]], bool], what: str, within: float = 10
) -> list[Any]:
    deadline = time.monotonic() + within
    while not check(rows := await outbox_rows(engine)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {rows}")
        await asyncio.sleep(0.02)
    return rows


def all_settled(rows: list[Any]) -> bool:
    return bool(rows) and all(r.status != "pending" for r in rows)


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None, message
    return str(plain.get_content()), str(html.get_content())  # type: ignore[attr-defined]


async def test_a_paid_checkout_sends_one_confirmation_in_the_buyers_language(
    make_client: ClientFactory, inbox: Inbox
) -> None:
    client = await make_client(**mail_settings(inbox))
    room = await open_room(client)
    order = await buy(room, language="de")
    await until(lambda: len(inbox.messages) == 1, 10, "the order confirmation")
    message = inbox.messages[0]
    assert message["To"] == BUYER_EMAIL and inbox.envelopes[0][1] == [BUYER_EMAIL]
    assert message["From"] == "Shop Orders <orders@shop.example>"
    assert message["Subject"] == f"Deine Bestellung {order['number']} bei Shop"
    assert message["Content-Language"] == "de"
    plain, html = parts(message)
    for part in (plain, html):
        assert order["number"] in part and "Product 0" in part and "size: M" in part
        assert "50,00\u00a0€" in part  # two at 25,00 €, written the German way
        assert "Hauptstrasse 1" in part and "10115 Berlin" in part and "Live" in part
    assert "Vielen Dank" in plain and html.startswith("<!doctype html>")
    engine = client.app[engine_key]
    rows = await rows_when(engine, all_settled, "the row marked sent")
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("order_confirmation", "sent", 1)]
    assert rows[0].dedupe_key == f"order-paid:{order['id']}"
    assert await metric(client, "outbox_sent_total") == 1
    assert await metric(client, "outbox_failed_total") == 0
    # The order keeps the buyer's email and language; the shop's view shows neither.
    async with engine.connect() as conn:
        kept = (await conn.execute(select(Order.email, Order.language))).one()
    assert tuple(kept) == (BUYER_EMAIL, "de")
    resp = await client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/orders", headers=bearer(room.owner)
    )
    assert BUYER_EMAIL not in await resp.text()
    await room.close()


async def test_a_refund_sends_a_refund_email(make_client: ClientFactory, inbox: Inbox) -> None:
    client = await make_client(**mail_settings(inbox))
    room = await open_room(client)
    order = await buy(room, quantity=1)
    await until(lambda: len(inbox.messages) == 1, 10, "the order confirmation")
    resp = await client.post(
        f"/api/shops/{room.shop_id}/orders/{order['id']}/refund", headers=bearer(room.owner)
    )
    assert resp.status == 200, await resp.text()
    await until(lambda: len(inbox.messages) == 2, 10, "the refund email")
    message = inbox.messages[1]
    assert message["To"] == BUYER_EMAIL
    assert message["Subject"] == f"Your refund for order {order['number']} from Shop"
    plain, html = parts(message)
    for part in (plain, html):
        assert "Refunded: €25.00" in part and order["number"] in part
    rows = await rows_when(
        client.app[engine_key], lambda rows: len(rows) == 2 and all_settled(rows), "both sent"
    )
    assert [(r.kind, r.status) for r in rows] == [
        ("order_confirmation", "sent"),
        ("refund", "sent"),
    ]
    await room.close()


async def test_a_temporary_refusal_is_retried_and_the_email_sent_once(
    make_client: ClientFactory, inbox: Inbox
) -> None:
    inbox.data_answers = ["451 4.3.0 Try again later", "421 4.3.2 Busy"]
    client = await make_client(**mail_settings(inbox))
    room = await open_room(client)
    await buy(room)
    await until(lambda: len(inbox.messages) == 1, 10, "the email, at its third attempt")
    rows = await rows_when(client.app[engine_key], all_settled, "the row marked sent")
    assert (rows[0].attempts, rows[0].status) == (3, "sent")
    assert await metric(client, "outbox_retries_total") == 2
    assert await metric(client, "outbox_sent_total") == 1
    # Later passes send nothing more.
    await client.app[outbox_key].run_once()
    assert len(inbox.messages) == 1
    await room.close()


async def test_a_permanent_refusal_fails_at_once_is_counted_and_never_retried(
    make_client: ClientFactory, inbox: Inbox
) -> None:
    inbox.rcpt_answer = "550 5.1.1 No such user"
    client = await make_client(**mail_settings(inbox))
    room = await open_room(client)
    await buy(room)
    rows = await rows_when(client.app[engine_key], all_settled, "the row given up on")
    assert (rows[0].status, rows[0].attempts) == ("failed", 1)
    assert await metric(client, "outbox_failed_total") == 1
    assert await metric(client, "outbox_sent_total") == 0
    assert "550" in rows[0].last_error
    await client.app[outbox_key].run_once()
    assert await metric(client, "outbox_pending") == 0
    assert inbox.rcpts == 1 and inbox.messages == []
    await room.close()


@pytest.fixture
async def shared_redis(backend: b.Backend) -> AsyncIterator[str | None]:
    """The Redis two nodes share: the external one, or (each app would start an embedded one
    of its own) one embedded server started here."""
    if backend.redis == "external":
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="lso", dir="/tmp"))
    server = EmbeddedRedis(directory)
    await server.start()
    yield server.url
    await server.stop()
    shutil.rmtree(directory, ignore_errors=True)


async def test_two_nodes_send_each_email_exactly_once(
    make_client: ClientFactory, inbox: Inbox, shared_redis: str | None
) -> None:
    # The passes are run here, both nodes at once, rather than on their timers.
    settings = mail_settings(inbox, outbox_interval_seconds=3600)
    if shared_redis is not None:
        settings["redis_url"] = shared_redis
    nodes = [await make_client(**settings), await make_client(**settings)]
    room = await open_room(nodes[0])
    variant = room.products[1]["variants"][0]["id"]
    buyers = [f"buyer{i}@example.com" for i in range(8)]
    for i, address in enumerate(buyers):
        token = await room.guest_token(f"B{i}")
        cart = await add(room, token, variant)
        resp = await nodes[i % 2].post(
            f"/api/shows/{room.show_id}/checkout",
            json=checkout_body(cart, email=address),
            headers=bearer(token),
        )
        assert resp.status == 201, await resp.text()
    senders = [node.app[outbox_key] for node in nodes]
    engine = nodes[0].app[engine_key]
    for _ in range(3):
        await asyncio.gather(*(sender.run_once() for sender in senders))
    rows = await outbox_rows(engine)
    assert [r.status for r in rows] == ["sent"] * len(buyers)
    assert Counter(m["To"] for m in inbox.messages) == dict.fromkeys(buyers, 1)
    sent = [await metric(node, "outbox_sent_total") for node in nodes]
    assert sum(sent) == len(buyers)
    await room.close()


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_payment BEFORE INSERT ON payments WHEN NEW.amount = 7500 "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_payment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.amount = 7500 THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_payment BEFORE INSERT ON payments FOR EACH ROW "
        "EXECUTE FUNCTION refuse_payment()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_payment"],
    "postgresql": [
        "DROP TRIGGER refuse_payment ON payments",
        "DROP FUNCTION refuse_payment()",
    ],
}


async def test_the_email_is_written_in_the_transaction_of_the_event_it_reports(
    make_client: ClientFactory, inbox: Inbox
) -> None:
    client = await make_client(**mail_settings(inbox))
    room = await open_room(client)
    engine = client.app[engine_key]
    kind = engine.dialect.name
    # The database refuses the payment row of a 75.00 order: the paid mark's transaction, which
    # wrote the confirmation before it, rolls back whole.
    async with engine.begin() as conn:
        for statement in _REFUSE[kind]:
            await conn.execute(text(statement))
    try:
        token = await room.guest_token("Ana")
        cart = await add(room, token, room.products[0]["variants"][0]["id"], 3)
        resp = await checkout(room, token, checkout_body(cart))
        assert resp.status == 500, await resp.text()
    finally:
        async with engine.begin() as conn:
            for statement in _ALLOW[kind]:
                await conn.execute(text(statement))
    async with engine.connect() as conn:
        assert (await conn.execute(select(Order.status))).scalars().all() == ["pending_payment"]
    assert await outbox_rows(engine) == []
    # An order the stock check refuses is written and taken back in one transaction: no email.
    other = await room.guest_token("Bo")
    cart = await add(room, other, room.products[1]["variants"][0]["id"])
    await set_stock(room, room.products[1], 0)
    resp = await checkout(room, other, checkout_body(cart))
    assert resp.status == 409, await resp.text()
    assert await outbox_rows(engine) == []
    await client.app[outbox_key].run_once()
    assert inbox.messages == []
    await room.close()


async def test_without_smtp_emails_are_written_as_readable_eml_files(
    make_client: ClientFactory,
) -> None:
    client = await make_client(guests_per_ip_per_hour=100_000, outbox_interval_seconds=0.05)
    room = await open_room(client)
    order = await buy(room)
    directory = Path(client.app[settings_key].data_dir) / "outbox"
    await until(lambda: any(directory.glob("*.eml")), 10, "an .eml file")
    (path,) = directory.glob("*.eml")
    assert path.name.endswith("-order_confirmation.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == BUYER_EMAIL
    assert message["Subject"] == f"Your order {order['number']} from Shop"
    plain, html = parts(message)
    assert "Total: €50.00" in plain and "Total: €50.00" in html
    await room.close()
