"""Webhook signatures: `Payproc-Signature: t=<unix seconds>,v1=<hex hmac-sha256>`.

The MAC covers f"{t}.{raw body}", so neither the timestamp nor the body can be changed without
the secret. Pure: the app imports this to check webhooks without importing aiohttp.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Payproc-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def _mac(secret: str, body: bytes, t: int) -> str:
    message = str(t).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """The header value for `body` sent at unix time `t`."""
    return f"t={t},{SCHEME}={_mac(secret, body, t)}"


def parse(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and every v1 signature of a header, or None when it is malformed."""
    t: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if not value.isdigit():
                return None
            t = int(value)
        elif name == SCHEME:
            signatures.append(value)
    if t is None or not signatures:
        return None
    return t, signatures


def verify(secret: str, header: str, body: bytes, tolerance_s: float, now: float) -> bool:
    """True when one v1 signature matches and `t` is within `tolerance_s` of `now` (either way:
    a stale timestamp is a replay, a future one a forged clock)."""
    parsed = parse(header)
    if parsed is None:
        return False
    t, signatures = parsed
    if abs(now - t) > tolerance_s:
        return False
    expected = _mac(secret, body, t)
    # Every candidate is compared, in constant time, so timing tells nothing about which failed.
    matches = [hmac.compare_digest(expected, s) for s in signatures]
    return any(matches)
