"""The processor's card form framed by a shop page on another origin, in headless Chromium:
the shop sends the client secret by postMessage, the buyer pays inside the frame, and the shop
hears the outcome by postMessage; card data never touches the shop's origin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from payproc.app import create_app
from tests.browser.conftest import free_port, start_server
from tests.paying import Proc, settings

pytestmark = [pytest.mark.browser, pytest.mark.payments]

SHOP_PAGE = """<!doctype html>
<html><body>
<iframe id="pay" src="{pay_url}" width="420" height="520"></iframe>
<script>
  const origin = {origin};
  window.messages = [];
  window.addEventListener("message", (ev) => {{
    if (ev.origin !== origin) return;
    window.messages.push(ev.data);
    if (ev.data.type === "payproc:ready") {{
      document.getElementById("pay").contentWindow.postMessage(
        {{ type: "payproc:init", client_secret: {secret} }}, origin);
    }}
  }});
</script>
</body></html>"""


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[tuple[Proc, str]]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    app = create_app(settings(tmp_path / "payproc", public_url=origin))
    server = TestServer(app, host="127.0.0.1", port=port)
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    yield Proc(client), origin
    await client.close()


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@pytest.fixture
async def shop() -> AsyncIterator[Callable[[dict[str, Any], str], str]]:
    """A shop on its own origin whose page frames the processor's form for one intent."""
    pages: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.match_info["id"]], content_type="text/html")

    app = web.Application()
    app.router.add_get("/checkout/{id}", page)
    app.router.add_get("/favicon.ico", no_icon)
    server = await start_server(app)

    def for_intent(intent: dict[str, Any], origin: str) -> str:
        pages[intent["id"]] = SHOP_PAGE.format(
            pay_url=intent["pay_url"],
            origin=json.dumps(origin),
            secret=json.dumps(intent["client_secret"]),
        )
        return str(server.make_url(f"/checkout/{intent['id']}"))

    yield for_intent
    await server.close()


async def pay_in_frame(page: Any, number: str) -> Any:
    frame = page.frame_locator("#pay")
    await frame.locator("#number").fill(number)
    await frame.locator("#expiry").fill("12/39")
    await frame.locator("#cvc").fill("123")
    await frame.get_by_role("button", name="Pay", exact=True).click()
    return frame


async def wait_for_status(page: Any, status: str) -> None:
    await page.wait_for_function(
        f"window.messages.some(m => m.type === 'payproc' && m.status === {json.dumps(status)})",
        timeout=15_000,
    )


async def test_pay_with_a_card_inside_the_frame(
    proc: tuple[Proc, str],
    shop: Callable[[dict[str, Any], str], str],
    open_page: Callable[..., Any],
    console_errors: list[str],
) -> None:
    client, origin = proc
    intent = await client.create()
    page = await open_page(shop(intent, origin))
    await page.wait_for_function("window.messages.some(m => m.ready)", timeout=15_000)
    frame = await pay_in_frame(page, "4242 4242 4242 4242")
    await wait_for_status(page, "succeeded")
    await frame.get_by_text("Payment succeeded.").wait_for()
    messages = await page.evaluate("window.messages")
    assert all("client_secret" not in json.dumps(m) for m in messages)
    assert messages[-1] == {"type": "payproc", "intent": intent["id"], "status": "succeeded"}
    line = (await client.ledger())[intent["id"]]
    assert (line["captured"], line["charges"]) == (2500, 1)
    assert console_errors == []


async def test_a_challenge_completed_inside_the_frame(
    proc: tuple[Proc, str],
    shop: Callable[[dict[str, Any], str], str],
    open_page: Callable[..., Any],
    console_errors: list[str],
) -> None:
    client, origin = proc
    intent = await client.create()
    page = await open_page(shop(intent, origin))
    await page.wait_for_function("window.messages.some(m => m.ready)", timeout=15_000)
    frame = await pay_in_frame(page, "4000002500003155")
    await wait_for_status(page, "requires_action")
    action = (await page.evaluate("window.messages"))[-1]["next_action"]
    assert action == {"type": "challenge", "url": f"{origin}/pay/{intent['id']}/challenge"}
    await frame.frame_locator("#challenge").get_by_role("button", name="Complete").click()
    await wait_for_status(page, "succeeded")
    assert (await client.intent(intent["id"]))["status"] == "succeeded"
    assert console_errors == []
