"""Request middleware: the Origin allowlist (with CORS), JSON errors, and bearer-token identity.

Order matters: the origin middleware wraps the error middleware, so error answers to an
allowed origin carry CORS headers too and a browser can read them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError

from core.db import transient
from core.errors import AppError, ErrorCode
from core.web import dumps, principal_key
from server.accounts.tokens import InvalidToken, TokenSigner

log = logging.getLogger(__name__)

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


REDIS_UNAVAILABLE = AppError(
    ErrorCode.BUSY, "the live store is unavailable; try again", retry_after=1
)


def error_response(err: AppError) -> web.Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    return web.json_response(
        {"error": err.to_dict()}, status=err.status, headers=headers, dumps=dumps
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as {"error": {"code", "message"}}; no stack trace reaches a client."""
    try:
        return await handler(request)
    except AppError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status)
        if code is None:
            code = ErrorCode.INTERNAL_ERROR if exc.status >= 500 else ErrorCode.VALIDATION_ERROR
        message = exc.reason.lower() if exc.status != 413 else "request body is too large"
        resp = error_response(AppError(code, message))
        resp.set_status(exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except DBAPIError as exc:
        if not transient(exc):
            log.exception(
                "unhandled error", extra={"method": request.method, "route": request.path}
            )
            return error_response(AppError(ErrorCode.INTERNAL_ERROR, "internal error"))
        log.warning("database busy", extra={"method": request.method, "route": request.path})
        return error_response(
            AppError(ErrorCode.BUSY, "the database is busy; try again", retry_after=1)
        )
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # Redis restarting (the embedded one is brought back by its supervisor) or out of
        # reach: worth a retry, not a stack trace in the log per request.
        log.warning(
            "redis unavailable",
            extra={"method": request.method, "route": request.path, "error": type(exc).__name__},
        )
        return error_response(REDIS_UNAVAILABLE)
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "route": request.path})
        return error_response(AppError(ErrorCode.INTERNAL_ERROR, "internal error"))


_CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key"
_CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def origin_middleware(allowed: Iterable[str]) -> Middleware:
    """Refuse browser requests from origins not on the allowlist; answer CORS for those that are.

    Requests without an Origin header (curl, server-to-server, same-origin GET) pass: auth is a
    bearer header, never a cookie, so there is no ambient credential to forge.
    """
    allowlist = frozenset(allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if origin not in allowlist:
            return error_response(
                AppError(ErrorCode.ORIGIN_NOT_ALLOWED, "this origin is not allowed")
            )
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    return middleware


def auth_middleware(signer: TokenSigner) -> Middleware:
    """Resolve `Authorization: Bearer <token>` to a Principal; a bad token is refused."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        principal = None
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AppError(ErrorCode.UNAUTHENTICATED, "use Authorization: Bearer <token>")
            try:
                principal = signer.verify(token.strip())
            except InvalidToken:
                raise AppError(
                    ErrorCode.UNAUTHENTICATED, "token is invalid or expired; sign in again"
                ) from None
        request[principal_key] = principal
        return await handler(request)

    return middleware
