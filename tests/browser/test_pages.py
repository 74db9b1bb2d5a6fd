"""The host console and the viewer player end to end, in headless Chromium, against the real app:
a host sets up and runs a show from the console, two viewers watch, talk and buy on phones."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from server.keys import realtime_key
from tests.browser.conftest import DESKTOP, PHONE, screenshot_path
from tests.helpers import PASSWORD, bearer, new_product, new_shop, sign_up
from tests.room import Viewer

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms, for anything that crosses the server


async def _shop_with_products(live: TestClient[Any, Any]) -> tuple[str, str, int, list[Any]]:
    token, who = await sign_up(live, "Hana")
    shop_id = await new_shop(live, token, "Hana's Boutique")
    images = str(live.make_url("/static/player/demo/")).rstrip("/")
    scarf = await new_product(
        live,
        token,
        shop_id,
        title="Silk Scarf",
        price=3900,
        image_url=f"{images}/blue-silk-scarf.svg",
        variants=[{"sku": "SCARF-1", "options": {"colour": "Blue"}, "stock": 20}],
    )
    tote = await new_product(
        live,
        token,
        shop_id,
        title="Canvas Tote",
        price=2400,
        image_url=f"{images}/canvas-tote.svg",
        variants=[
            {"sku": "TOTE-S", "options": {"colour": "Sand"}, "stock": 10},
            {"sku": "TOTE-N", "options": {"colour": "Navy"}, "stock": 10},
        ],
    )
    return token, who["email"], shop_id, [scarf, tote]


async def _viewer_page(open_page: Any, url: str, name: str) -> Any:
    page = await open_page(url, PHONE)
    await page.get_by_test_id("name-input").fill(name)
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "connected", timeout=WAIT
    )
    return page


def _close_transport_of(live: TestClient[Any, Any], name: str) -> None:
    """Cut a viewer's WebSocket as a network drop would (no goodbye)."""
    conns = live.app[realtime_key].socket._conns
    closed = 0
    for conn in conns.values():
        if conn.principal.display_name == name and conn.transport is not None:
            conn.transport.close()
            closed += 1
    assert closed == 1, f"{closed} connections of {name}"


async def test_a_show_from_the_console_to_a_paid_order(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str]
) -> None:
    base = str(live.make_url("/")).rstrip("/")
    token, email, shop_id, (scarf, tote) = await _shop_with_products(live)

    # The host logs in, schedules a show with both products, and goes live.
    console = await open_page(base + "/console/", DESKTOP)
    await console.get_by_test_id("login-email").fill(email)
    await console.get_by_test_id("login-password").fill(PASSWORD)
    await console.get_by_test_id("login-submit").click()
    await expect(console.get_by_test_id("logout")).to_be_visible(timeout=WAIT)
    await expect(console.get_by_test_id("show-list")).to_be_visible(timeout=WAIT)
    await console.get_by_test_id("new-show").click()
    await expect(console.get_by_test_id("show-title")).to_be_visible(timeout=WAIT)
    await console.get_by_test_id("show-title").fill("Autumn Live")
    when = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    await console.get_by_test_id("show-scheduled").fill(when)
    await console.get_by_test_id("show-currency").fill("EUR")
    for product in (scarf, tote):
        await console.locator(
            f'[data-testid="lineup-choice"][data-product-id="{product["id"]}"]'
        ).check()
    await console.get_by_test_id("show-create").click()
    item = console.get_by_test_id("show-item").first
    await expect(item).to_be_visible(timeout=WAIT)
    show_id = int(await item.get_attribute("data-show-id") or 0)
    await item.click()
    await console.get_by_test_id("go-live").click()
    await expect(console.get_by_test_id("show-status")).to_have_attribute(
        "data-status", "live", timeout=WAIT
    )

    # Two viewers on phones.
    watch = f"{base}/watch/{show_id}"
    ana = await _viewer_page(open_page, watch, "Ana")
    bob = await _viewer_page(open_page, watch, "Bob")
    for page in (ana, bob):
        await expect(page.get_by_test_id("status")).to_have_attribute("data-status", "live")

    # A flash deal on the scarf: 5 units at 29.00, one per buyer, ten minutes.
    row = console.locator(f'[data-testid="lineup-item"][data-product-id="{scarf["id"]}"]')
    await row.get_by_test_id("deal-price").fill("29")
    await row.get_by_test_id("deal-units").fill("5")
    await row.get_by_test_id("deal-per-buyer").fill("1")
    await row.get_by_test_id("deal-seconds").fill("600")
    await row.get_by_test_id("pin-deal").click()
    for page in (ana, bob):
        card = page.get_by_test_id("pin")
        await expect(card).to_have_count(1, timeout=WAIT)
        await expect(card.get_by_test_id("units-left")).to_contain_text("5")
        countdown = card.get_by_test_id("countdown")
        await expect(countdown).to_have_text(re.compile(r"\d"))
        first = await countdown.text_content()
        await expect(countdown).not_to_have_text(first or "", timeout=3000)  # it counts down

    # Ana chats and asks; Bob sees both and upvotes the question.
    await ana.get_by_test_id("chat-input").fill("Is it real silk?")
    await ana.get_by_test_id("chat-send").click()
    await expect(
        bob.get_by_test_id("chat-message").filter(has_text="Is it real silk?")
    ).to_be_visible(timeout=WAIT)
    # The README's picture of the player: a live show with a flash deal and its chat.
    await bob.screenshot(path=screenshot_path("player.png"))
    await ana.get_by_test_id("tab-qa").click()
    await ana.get_by_test_id("ask-input").fill("Does it come in red?")
    await ana.get_by_test_id("ask-send").click()
    await bob.get_by_test_id("tab-qa").click()
    question = bob.get_by_test_id("question").filter(has_text="Does it come in red?")
    await expect(question).to_be_visible(timeout=WAIT)
    await question.get_by_test_id("upvote").click()
    await expect(question.get_by_test_id("votes")).to_have_text("1", timeout=WAIT)

    # Ana buys the scarf at the deal price and pays without leaving the player.
    await ana.get_by_test_id("pin").get_by_test_id("buy").click()
    await expect(ana.get_by_test_id("cart-count")).to_have_text("1", timeout=WAIT)
    await ana.get_by_test_id("cart-button").click()
    await expect(ana.get_by_test_id("cart-total")).to_contain_text("29")
    await ana.get_by_test_id("checkout").click()
    for testid, value in {
        "email": "ana@example.com",
        "addr-name": "Ana Example",
        "addr-line1": "1 Main Street",
        "addr-city": "Berlin",
        "addr-postal": "10115",
        "addr-country": "DE",
        "card-number": "4242424242424242",
        "card-exp-month": "12",
        "card-exp-year": str(datetime.now().year + 2),
        "card-cvc": "123",
    }.items():
        await ana.get_by_test_id(testid).fill(value)
    await ana.get_by_test_id("pay").dblclick()  # a double tap buys once
    await expect(ana.get_by_test_id("confirmation")).to_contain_text("LS-", timeout=WAIT)
    # Bob sees the units drop; the host sees the order, the revenue and the question.
    await expect(bob.get_by_test_id("pin").get_by_test_id("units-left")).to_contain_text(
        "4", timeout=WAIT
    )
    await expect(console.get_by_test_id("stat-orders")).to_have_text("1", timeout=WAIT)
    await expect(console.get_by_test_id("stat-revenue")).to_contain_text("29", timeout=WAIT)
    asked = console.get_by_test_id("console-question").filter(has_text="Does it come in red?")
    await expect(asked.get_by_test_id("question-votes")).to_have_text("1", timeout=WAIT)
    resp = await live.get(f"/api/shops/{shop_id}/shows/{show_id}/orders", headers=bearer(token))
    orders = (await resp.json())["orders"]
    assert [(o["status"], o["total"], o["buyer"]["display_name"]) for o in orders] == [
        ("paid", 2900, "Ana")
    ]

    # The checkout's confirmation in the player, and the console with the sale.
    await ana.screenshot(path=screenshot_path("player-checkout.png"))
    await console.screenshot(path=screenshot_path("console.png"))

    # Bob's connection drops; while he is away the host pins the tote. He comes back with it.
    host = await Viewer(base, token, "Host").connect()
    await host.ok("join", {"show_id": show_id})
    _close_transport_of(live, "Bob")
    await expect(bob.get_by_test_id("connection")).to_have_attribute(
        "data-state", "reconnecting", timeout=WAIT
    )
    await host.ok("pin", {"product_id": tote["id"]})
    await expect(bob.get_by_test_id("connection")).to_have_attribute(
        "data-state", "connected", timeout=WAIT
    )
    await expect(bob.get_by_test_id("pin")).to_have_count(2, timeout=WAIT)
    await host.close()

    # The host bans Ana from her chat message; her page says so.
    message = console.get_by_test_id("console-message").filter(has_text="Is it real silk?")
    await message.get_by_test_id("ban-user").click()
    await expect(ana.get_by_test_id("chat-notice")).to_contain_text(
        re.compile("removed", re.I), timeout=WAIT
    )
    assert console_errors == []


async def test_scheduled_and_ended_states_in_another_language(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str]
) -> None:
    token, _, shop_id, products = await _shop_with_products(live)
    body = {
        "title": "Winter Live",
        "scheduled_at": (datetime.now().astimezone() + timedelta(hours=2)).isoformat(),
        "currency": "EUR",
        "lineup": [p["id"] for p in products],
    }
    resp = await live.post(f"/api/shops/{shop_id}/shows", json=body, headers=bearer(token))
    show = await resp.json()
    base = str(live.make_url("/")).rstrip("/")
    page = await open_page(f"{base}/watch/{show['id']}", PHONE, locale="de-DE")
    await page.get_by_test_id("name-input").fill("Jonas")
    await page.get_by_test_id("name-submit").click()
    status = page.get_by_test_id("status")
    await expect(status).to_have_attribute("data-status", "scheduled", timeout=WAIT)
    assert await page.evaluate("document.documentElement.lang") == "de"
    path = f"/api/shops/{shop_id}/shows/{show['id']}"
    assert (await live.post(path + "/start", headers=bearer(token))).status == 200
    await expect(status).to_have_attribute("data-status", "live", timeout=WAIT)
    await expect(status).to_contain_text("LIVE")
    # The name is remembered: a reload joins without asking again.
    await page.reload()
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "connected", timeout=WAIT
    )
    await expect(page.get_by_test_id("name-input")).to_be_hidden()
    await expect(page.get_by_test_id("chat-input")).to_have_attribute(
        "placeholder", re.compile(".")
    )
    assert (await live.post(path + "/end", headers=bearer(token))).status == 200
    await expect(status).to_have_attribute("data-status", "ended", timeout=WAIT)
    await expect(page.get_by_text("Diese Show ist beendet")).to_be_visible()
    await expect(page.get_by_test_id("chat-input")).to_be_disabled()
    assert console_errors == []
