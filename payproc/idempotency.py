"""Idempotent POSTs: the same key with the same body answers the stored answer (status and
body); with another body, 409 `idempotency_conflict`. The answer is stored in the operation's
own transaction, so an operation is never done without its answer being kept.

Requests are serialised by the store's lock, so a request whose key is in flight waits for it
and then gets its answer, instead of a 409.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from payproc.rules import ProcessorError
from payproc.store import Store, Tx

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Answers not kept: the request never ran, so a retry with the same key may run it.
NOT_KEPT = {"invalid_request"}


def error_body(exc: ProcessorError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        error["details"] = exc.details
    return {"error": error}


def idempotency_key(request: web.Request, required: bool) -> str | None:
    key = request.headers.get(KEY_HEADER)
    if key is None:
        if required:
            raise ProcessorError(400, "idempotency_key_missing", f"{KEY_HEADER} is required.")
        return None
    if not 1 <= len(key) <= 255:
        raise ProcessorError(400, "idempotency_key_invalid", f"{KEY_HEADER}: 1 to 255 characters.")
    return key


async def json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ProcessorError(400, "invalid_request", "The body is not JSON.") from None


def fingerprint(request: web.Request, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


async def run(
    store: Store,
    request: web.Request,
    body: Any,
    scope: str,
    key: str | None,
    op: Callable[[Tx], Awaitable[Any]],
) -> web.Response:
    """Runs `op` once per key; business errors (409s, 404s) are kept like successes."""
    digest = fingerprint(request, body)
    async with store.transaction() as tx:
        if key is not None and (kept := await tx.idempotent(scope, key)) is not None:
            kept_digest, status, text = kept
            if kept_digest != digest:
                raise ProcessorError(
                    409, "idempotency_conflict", "This key was used with another request."
                )
            return web.json_response(text=text, status=status, headers={REPLAYED_HEADER: "true"})
        try:
            status, answer = 200, await op(tx)
        except ProcessorError as exc:
            if exc.code in NOT_KEPT or key is None:
                raise
            status, answer = exc.status, error_body(exc)
        text = json.dumps(answer)
        if key is not None:
            await tx.remember(scope, key, digest, status, text, time.time())
    return web.json_response(text=text, status=status)
