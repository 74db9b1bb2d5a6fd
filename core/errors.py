"""Error codes shared by HTTP answers and socket acks, and the one exception that carries them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    EMAIL_TAKEN = "email_taken"
    DUPLICATE_SKU = "duplicate_sku"
    INVALID_TRANSITION = "invalid_transition"
    RATE_LIMITED = "rate_limited"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    IMPORT_FAILED = "import_failed"
    BUSY = "busy"
    UNKNOWN_EVENT = "unknown_event"
    NOT_JOINED = "not_joined"
    SHOW_CLOSED = "show_closed"
    BANNED = "banned"
    TIMED_OUT = "timed_out"
    SLOW_MODE = "slow_mode"
    BLOCKED_WORD = "blocked_word"
    OUT_OF_STOCK = "out_of_stock"
    SHOW_NOT_LIVE = "show_not_live"
    CART_EMPTY = "cart_empty"
    CART_CHANGED = "cart_changed"
    PRICE_CHANGED = "price_changed"
    ITEM_UNAVAILABLE = "item_unavailable"
    SOLD_OUT = "sold_out"
    DEAL_LIMIT = "deal_limit"
    DEAL_EXPIRED = "deal_expired"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_ERROR = "payment_error"
    ORDER_EXPIRED = "order_expired"
    INTERNAL_ERROR = "internal_error"


# The HTTP status each code maps to; socket acks carry the code alone.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.DUPLICATE_SKU: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.IMPORT_FAILED: 422,
    ErrorCode.BUSY: 503,
    ErrorCode.UNKNOWN_EVENT: 400,
    ErrorCode.NOT_JOINED: 409,
    ErrorCode.SHOW_CLOSED: 409,
    ErrorCode.BANNED: 403,
    ErrorCode.TIMED_OUT: 403,
    ErrorCode.SLOW_MODE: 429,
    ErrorCode.BLOCKED_WORD: 422,
    ErrorCode.OUT_OF_STOCK: 409,
    ErrorCode.SHOW_NOT_LIVE: 409,
    ErrorCode.CART_EMPTY: 409,
    ErrorCode.CART_CHANGED: 409,
    ErrorCode.PRICE_CHANGED: 409,
    ErrorCode.ITEM_UNAVAILABLE: 409,
    ErrorCode.SOLD_OUT: 409,
    ErrorCode.DEAL_LIMIT: 409,
    ErrorCode.DEAL_EXPIRED: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.PAYMENT_DECLINED: 402,
    ErrorCode.PAYMENT_ERROR: 502,
    ErrorCode.ORDER_EXPIRED: 409,
    ErrorCode.INTERNAL_ERROR: 500,
}


class AppError(Exception):
    """A refusal the client should see: a code, a human message, optionally the field at fault."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        details: Any = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(what: str) -> AppError:
    return AppError(ErrorCode.NOT_FOUND, f"{what} not found")
