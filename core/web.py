"""Helpers every aiohttp view uses: typed request keys, body and query parsing, JSON answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import AppError, ErrorCode, not_found
from core.identity import EVERY_ROLE, MembershipLookup, Principal, Role

M = TypeVar("M", bound=BaseModel)

# Set by the auth middleware; None for an anonymous request.
principal_key: web.RequestKey[Principal | None] = web.RequestKey("principal")


def validation_error(exc: ValidationError) -> AppError:
    """One clear message for the first problem, the full list in details."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "json_invalid":
        return AppError(ErrorCode.INVALID_JSON, "request body is not valid JSON")
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in errors
    ]
    return AppError(ErrorCode.VALIDATION_ERROR, message, field=field, details=details)


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


async def read_json(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "request body must be application/json")
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    query: Mapping[str, str] = request.query
    if len(set(query.keys())) != len(query):
        raise AppError(ErrorCode.VALIDATION_ERROR, "a query parameter is repeated")
    return parse(model, dict(query))


def match_int(request: web.Request, name: str) -> int:
    """A positive integer path parameter; anything else is a 404, as for an unknown id."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) == 0:
        raise AppError(ErrorCode.NOT_FOUND, f"{name.removesuffix('_id')} not found")
    return int(raw)


def require_principal(request: web.Request) -> Principal:
    principal: Principal | None = request.get(principal_key)
    if principal is None:
        raise AppError(
            ErrorCode.UNAUTHENTICATED, "sign in first: send Authorization: Bearer <token>"
        )
    return principal


def require_account(request: web.Request) -> Principal:
    principal = require_principal(request)
    if principal.account_id is None:
        raise AppError(ErrorCode.FORBIDDEN, "this needs a signed-in account, not a guest")
    return principal


async def require_member(
    request: web.Request,
    lookup: MembershipLookup,
    shop_id: int,
    roles: frozenset[Role] | None = None,
) -> tuple[Principal, Role]:
    """The caller must belong to the shop; outsiders get 404 so shops cannot be probed."""
    principal = require_account(request)
    assert principal.account_id is not None
    role = await lookup(shop_id, principal.account_id)
    if role is None:
        raise not_found("shop")
    if role not in (roles or EVERY_ROLE):
        raise AppError(ErrorCode.FORBIDDEN, f"a shop {role.value} cannot do this")
    return principal, role


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=_default)


class JSONCodec:
    """A json-module lookalike for python-socketio: datetimes leave as ISO 8601 strings."""

    @staticmethod
    def dumps(data: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", _default)
        return json.dumps(data, **kwargs)

    loads = staticmethod(json.loads)


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)
