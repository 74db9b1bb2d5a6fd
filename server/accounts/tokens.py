"""Expiring signed bearer tokens (JWT, HS256) for accounts and guest viewers."""

from __future__ import annotations

import time
import uuid

import jwt

from core.identity import Principal
from core.text import scrub

_ISSUER = "liveshop"
_ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


class TokenSigner:
    def __init__(self, secret: str, account_ttl: int, guest_ttl: int) -> None:
        self._secret = secret
        self._ttl = {"account": account_ttl, "guest": guest_ttl}

    def issue(self, principal: Principal) -> tuple[str, int]:
        """A token and its lifetime in seconds."""
        ttl = self._ttl[principal.kind]
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": principal.subject,
            "typ": principal.kind,
            "name": principal.display_name,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), ttl

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "name"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        kind, sub, name = claims["typ"], claims["sub"], claims["name"]
        if not isinstance(sub, str) or not isinstance(name, str):
            raise InvalidToken("malformed claims")
        # Tokens signed before the text rule may carry a name it refuses (a NUL breaks
        # PostgreSQL writes): the holder keeps their session under the name without those.
        name = scrub(name)
        if kind == "account" and sub.startswith("a:") and sub[2:].isascii() and sub[2:].isdigit():
            return Principal("account", sub, name, account_id=int(sub[2:]))
        if kind == "guest" and sub.startswith("g:"):
            return Principal("guest", sub, name)
        raise InvalidToken("malformed claims")
