"""The server API under /v1: bearer-authenticated JSON for the app. Thin: parse, call the
processor inside an idempotent transaction, answer; then apply an armed fault."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from payproc import idempotency, rules
from payproc.rules import ProcessorError
from payproc.service import Processor
from payproc.store import Store, Tx
from payproc.worker import Worker

log = logging.getLogger("payproc.api")
FAULT_ROUTES = ("create", "confirm", "cancel", "refund")


@dataclass(slots=True)
class Faults:
    """Armed "drop after" faults: route name -> how many more calls to drop."""

    armed: dict[str, int] = field(default_factory=dict)

    def take(self, route: str) -> bool:
        left = self.armed.get(route, 0)
        if left <= 0:
            return False
        self.armed[route] = left - 1
        return True


def drop_if_armed(request: web.Request, faults: Faults, route: str) -> None:
    """The operation is committed; now lose the answer, as a crash or a cut network would.
    aiohttp then ignores the write to the closed transport."""
    if faults.take(route) and request.transport is not None:
        log.info("dropping the connection after %s (test fault)", route)
        request.transport.close()


def bearer_ok(request: web.Request, api_key: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), api_key.encode())


class Api:
    def __init__(self, store: Store, processor: Processor, worker: Worker, faults: Faults) -> None:
        self.store = store
        self.processor = processor
        self.worker = worker
        self.faults = faults

    async def _post(self, request: web.Request, route: str, body: Any, op: Any) -> web.Response:
        key = idempotency.idempotency_key(request, required=True)
        response = await idempotency.run(self.store, request, body, "api", key, op)
        self.worker.wake()
        drop_if_armed(request, self.faults, route)
        return response

    async def create(self, request: web.Request) -> web.Response:
        idempotency.idempotency_key(request, required=True)
        body = await idempotency.json_body(request)
        req = rules.parse_create(body)

        async def op(tx: Tx) -> Any:
            return await self.processor.create(tx, req)

        return await self._post(request, "create", body, op)

    async def get(self, request: web.Request) -> web.Response:
        async with self.store.transaction() as tx:
            return web.json_response(await self.processor.get(tx, request.match_info["id"]))

    async def events(self, request: web.Request) -> web.Response:
        """The intent's status history, oldest first (the events its webhooks carry)."""
        async with self.store.transaction() as tx:
            await self.processor.get(tx, request.match_info["id"])
            bodies = await tx.events_of(request.match_info["id"])
        return web.json_response(text='{"events": [' + ",".join(bodies) + "]}")

    async def cancel(self, request: web.Request) -> web.Response:
        intent_id = request.match_info["id"]

        async def op(tx: Tx) -> Any:
            return await self.processor.cancel(tx, intent_id)

        body = await idempotency.json_body(request)
        return await self._post(request, "cancel", body, op)

    async def refund(self, request: web.Request) -> web.Response:
        body = await idempotency.json_body(request)
        if not isinstance(body, dict):
            raise rules.invalid("the body must be a JSON object")

        async def op(tx: Tx) -> Any:
            return await self.processor.refund(tx, body.get("intent"), body.get("amount"))

        return await self._post(request, "refund", body, op)

    async def get_refund(self, request: web.Request) -> web.Response:
        async with self.store.transaction() as tx:
            return web.json_response(await self.processor.get_refund(tx, request.match_info["id"]))

    # Test controls
    async def arm_fault(self, request: web.Request) -> web.Response:
        body = await idempotency.json_body(request)
        route = body.get("drop_after") if isinstance(body, dict) else None
        times = body.get("times", 1) if isinstance(body, dict) else None
        if route not in FAULT_ROUTES or not isinstance(times, int) or times < 0:
            raise rules.invalid(f"drop_after must be one of {list(FAULT_ROUTES)}, times >= 0")
        self.faults.armed[route] = times
        return web.json_response({"armed": dict(self.faults.armed)})

    async def ledger(self, request: web.Request) -> web.Response:
        async with self.store.transaction() as tx:
            return web.json_response(await self.processor.ledger(tx))

    def routes(self, test_controls: bool) -> list[web.RouteDef]:
        routes = [
            web.post("/v1/intents", self.create),
            web.get("/v1/intents/{id}", self.get),
            web.get("/v1/intents/{id}/events", self.events),
            web.post("/v1/intents/{id}/cancel", self.cancel),
            web.post("/v1/refunds", self.refund),
            web.get("/v1/refunds/{id}", self.get_refund),
        ]
        if test_controls:
            routes += [
                web.post("/v1/test/faults", self.arm_fault),
                web.get("/v1/test/ledger", self.ledger),
            ]
        return routes


def error_response(exc: ProcessorError) -> web.Response:
    return web.json_response(idempotency.error_body(exc), status=exc.status)


__all__ = ["FAULT_ROUTES", "Api", "Faults", "ProcessorError", "bearer_ok", "error_response"]
