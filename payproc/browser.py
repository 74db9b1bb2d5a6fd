"""The browser side, on the processor's own origin and without the API key: the card form
(framed by the player), the challenge, the test bank and the "other app"."""

from __future__ import annotations

import functools
import html
import time
from pathlib import Path
from string import Template
from typing import Any, cast

from aiohttp import web

from payproc import idempotency
from payproc.api import Faults, drop_if_armed
from payproc.cards import Card, card_error, normalise_number
from payproc.rules import ActionKind, Decision, ProcessorError, invalid
from payproc.service import Processor
from payproc.store import Store, Tx
from payproc.worker import Worker

PAGES = Path(__file__).parent / "pages"
ASSETS = {"pay.js": "text/javascript", "pages.js": "text/javascript", "style.css": "text/css"}
SECRET_HEADER = "Payproc-Client-Secret"  # noqa: S105 - a header name


@functools.cache
def _template(name: str) -> Template:
    return Template((PAGES / name).read_text())


def _page(name: str, frame_ancestors: str, **values: str) -> web.Response:
    text = _template(name).substitute({k: html.escape(v) for k, v in values.items()})
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        f" frame-ancestors {frame_ancestors}; form-action 'none'; base-uri 'none'"
    )
    headers = {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"}
    return web.Response(text=text, content_type="text/html", headers=headers)


def _secret(body: Any) -> str:
    secret = body.get("client_secret") if isinstance(body, dict) else None
    if not isinstance(secret, str) or not secret:
        raise invalid("client_secret is required")
    return secret


def _decision(body: Any) -> Decision:
    decision = body.get("decision") if isinstance(body, dict) else None
    if decision not in ("approve", "decline"):
        raise invalid("decision must be approve or decline")
    return cast(Decision, decision)


def parse_card(raw: Any, now: float) -> Card:
    if not isinstance(raw, dict):
        raise invalid("card must be an object with number, exp_month, exp_year and cvc")
    number, month, year, cvc = (raw.get(k) for k in ("number", "exp_month", "exp_year", "cvc"))
    if not (isinstance(number, str) and isinstance(cvc, str)):
        raise invalid("card number and cvc must be strings")
    if not (isinstance(month, int) and isinstance(year, int)):
        raise invalid("card exp_month and exp_year must be integers")
    card = Card(normalise_number(number), month, year, cvc.strip())
    today = time.gmtime(now)
    if (code := card_error(card, today.tm_year, today.tm_mon)) is not None:
        raise ProcessorError(400, code, f"The card was refused: {code}.")
    return card


class Browser:
    def __init__(
        self,
        store: Store,
        processor: Processor,
        worker: Worker,
        faults: Faults,
        frame_ancestors: str,
    ) -> None:
        self.store = store
        self.processor = processor
        self.worker = worker
        self.faults = faults
        self.frame_ancestors = frame_ancestors

    async def pay_page(self, request: web.Request) -> web.Response:
        intent_id = request.match_info["id"]
        return _page("pay.html", self.frame_ancestors, intent=intent_id)

    async def challenge_page(self, request: web.Request) -> web.Response:
        # frame-ancestors checks every ancestor: the card form and the shop's page above it.
        ancestors = self.frame_ancestors
        if ancestors.strip() != "*":
            ancestors = f"'self' {ancestors}"
        return _page("challenge.html", ancestors, intent=request.match_info["id"])

    async def _action_page(self, request: web.Request, name: str) -> web.Response:
        async with self.store.transaction() as tx:
            row = await self.processor.intent_page(tx, request.match_info["id"])
        amount = f"{row.amount / 100:.2f} {row.currency}"
        return _page(name, "'none'", intent=row.id, amount=amount, shop=row.shop)

    async def bank_page(self, request: web.Request) -> web.Response:
        return await self._action_page(request, "bank.html")

    async def app_page(self, request: web.Request) -> web.Response:
        return await self._action_page(request, "app.html")

    async def asset(self, request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.FileResponse(PAGES / name, headers={"Content-Type": ASSETS[name]})

    async def state(self, request: web.Request) -> web.Response:
        secret = request.headers.get(SECRET_HEADER, "")
        async with self.store.transaction() as tx:
            answer = await self.processor.state(tx, request.match_info["id"], secret)
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def _post(self, request: web.Request, route: str, body: Any, op: Any) -> web.Response:
        key = idempotency.idempotency_key(request, required=False)
        response = await idempotency.run(self.store, request, body, "browser", key, op)
        self.worker.wake()
        drop_if_armed(request, self.faults, route)
        return response

    async def confirm(self, request: web.Request) -> web.Response:
        body = await idempotency.json_body(request)
        secret = _secret(body)
        method = body.get("method", "card")
        card = parse_card(body.get("card"), time.time()) if method == "card" else None
        intent_id = request.match_info["id"]

        async def op(tx: Tx) -> Any:
            return await self.processor.confirm(tx, intent_id, secret, method, card)

        # Only a hash of the body (with its random client secret) is kept, never the card.
        return await self._post(request, "confirm", body, op)

    async def _resolve(
        self, request: web.Request, kind: ActionKind, with_secret: bool
    ) -> web.Response:
        body = await idempotency.json_body(request)
        secret = _secret(body) if with_secret else None
        decision = _decision(body)
        intent_id = request.match_info["id"]

        async def op(tx: Tx) -> Any:
            answer = await self.processor.resolve(tx, intent_id, kind, decision, secret)
            if kind == "redirect":
                row = await self.processor.intent_page(tx, intent_id)
                sep = "&" if "?" in row.return_url else "?"
                return {**answer, "return_to": f"{row.return_url}{sep}intent={intent_id}"}
            return answer

        return await self._post(request, kind, body, op)

    async def challenge(self, request: web.Request) -> web.Response:
        return await self._resolve(request, "challenge", with_secret=True)

    async def bank(self, request: web.Request) -> web.Response:
        return await self._resolve(request, "redirect", with_secret=False)

    async def app(self, request: web.Request) -> web.Response:
        return await self._resolve(request, "app", with_secret=False)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/pay/{id}", self.pay_page),
            web.get("/pay/{id}/state", self.state),
            web.post("/pay/{id}/confirm", self.confirm),
            web.get("/pay/{id}/challenge", self.challenge_page),
            web.post("/pay/{id}/challenge", self.challenge),
            web.get("/bank/{id}", self.bank_page),
            web.post("/bank/{id}", self.bank),
            web.get("/app/{id}", self.app_page),
            web.post("/app/{id}", self.app),
            web.get("/assets/{name}", self.asset),
        ]
