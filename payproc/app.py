"""The processor's aiohttp app: routes, the error, auth and rate-limit middlewares, and the
store and background worker opened and closed with the app."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from payproc.api import Api, Faults, bearer_ok, error_response
from payproc.browser import Browser
from payproc.ratelimit import RateLimiter
from payproc.rules import ProcessorError
from payproc.service import Config, Processor
from payproc.settings import Settings
from payproc.store import Store
from payproc.worker import Worker

log = logging.getLogger("payproc")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
store_key = web.AppKey("store_key", Store)
worker_key = web.AppKey("worker_key", Worker)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProcessorError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return error_response(ProcessorError(exc.status, code, exc.reason))
    except Exception:  # no stack trace to clients; logged here
        log.exception("request failed", extra={"path": request.path})
        return error_response(ProcessorError(500, "internal_error", "Internal error."))


def guard(settings: Settings, clock: Callable[[], float] = time.monotonic) -> Middleware:
    """Authentication for /v1, then the rate limit: per route and API key (per client address
    on the browser side)."""
    limiter = RateLimiter(settings.rate_per_second)
    api_key = settings.api_key.get_secret_value()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        is_api = request.path.startswith("/v1/")
        if is_api and not bearer_ok(request, api_key):
            raise ProcessorError(401, "unauthorized", "A valid API key is required.")
        info = request.match_info.route.resource
        route = f"{request.method} {info.canonical if info else request.path}"
        who = (
            hashlib.sha256(api_key.encode()).hexdigest()[:16]
            if is_api
            else request.remote or "unknown"
        )
        wait = limiter.take(route, who, clock())
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            exc = ProcessorError(429, "rate_limited", "Too many requests; retry later.")
            exc.details = {"retry_after": retry}
            response = error_response(exc)
            response.headers["Retry-After"] = str(retry)
            return response
        return await handler(request)

    return middleware


def create_app(settings: Settings) -> web.Application:
    store = Store(settings.db_path)
    processor = Processor(
        Config(
            public_url=settings.base_url,
            settle_delay=settings.settle_delay_seconds,
            refund_delay=settings.refund_delay_seconds,
            deliver_webhooks=bool(settings.webhook_url),
        )
    )
    worker = Worker(store, processor, settings)
    faults = Faults()
    app = web.Application(middlewares=[errors, guard(settings)])
    app[store_key] = store
    app[worker_key] = worker
    app.add_routes(Api(store, processor, worker, faults).routes(settings.test_controls))
    browser = Browser(store, processor, worker, faults, settings.frame_ancestors)
    app.add_routes(browser.routes())
    app.cleanup_ctx.append(_resources)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    store = app[store_key]
    await store.open()
    task = asyncio.create_task(app[worker_key].run(), name="payproc-worker")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
