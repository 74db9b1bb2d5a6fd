"""Sign-up, log-in (throttled per account and per IP) and guest identities."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.errors import AppError, ErrorCode
from core.identity import Principal
from core.ratelimit import RateLimiter
from server.accounts.models import Account
from server.accounts.passwords import Passwords
from server.accounts.tokens import TokenSigner
from server.settings import Settings


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _email_key(email: str) -> str:
    # Rate-limit keys hold a digest, never the address itself.
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]


class AuthService:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        passwords: Passwords,
        signer: TokenSigner,
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._passwords = passwords
        self._signer = signer
        self._limiter = limiter
        self._settings = settings

    def token_for(self, principal: Principal) -> dict[str, Any]:
        token, ttl = self._signer.issue(principal)
        return {
            "token": token,
            "expires_in": ttl,
            "identity": identity_dict(principal),
        }

    async def sign_up(self, email: str, password: str, display_name: str) -> dict[str, Any]:
        account = Account(
            email=normalize_email(email),
            password_hash=await self._passwords.hash(password),
            display_name=display_name,
        )
        async with self._sessions.begin() as session:
            session.add(account)
            try:
                await session.flush()
            except IntegrityError:
                raise AppError(
                    ErrorCode.EMAIL_TAKEN, "an account with this email exists", field="email"
                ) from None
        return self.token_for(account_principal(account))

    async def log_in(self, email: str, password: str, ip: str) -> dict[str, Any]:
        s = self._settings
        checks = (
            ("login-acct", _email_key(email), s.login_max_failures),
            ("login-ip", ip, s.login_ip_max_failures),
        )
        for name, key, limit in checks:
            window = await self._limiter.peek(name, key, limit)
            if not window.allowed:
                raise AppError(
                    ErrorCode.RATE_LIMITED,
                    "too many failed log-ins; try again later",
                    retry_after=window.retry_after,
                )
        async with self._sessions() as session:
            account = await session.scalar(
                select(Account).where(Account.email == normalize_email(email))
            )
        stored = account.password_hash if account is not None else None
        if account is None or not await self._passwords.verify(stored, password):
            for name, key, limit in checks:
                await self._limiter.hit(name, key, limit, s.login_window_seconds)
            # The same answer for an unknown email and a wrong password.
            raise AppError(ErrorCode.INVALID_CREDENTIALS, "email or password is wrong")
        await self._limiter.reset("login-acct", _email_key(email))
        return self.token_for(account_principal(account))

    async def new_guest(self, display_name: str, ip: str) -> dict[str, Any]:
        window = await self._limiter.hit(
            "guest-ip", ip, self._settings.guests_per_ip_per_hour, 3600
        )
        if not window.allowed:
            raise AppError(
                ErrorCode.RATE_LIMITED,
                "too many guest identities from this address; try again later",
                retry_after=window.retry_after,
            )
        principal = Principal("guest", f"g:{uuid.uuid4().hex}", display_name)
        return self.token_for(principal)

    async def account_exists(self, account_id: int) -> bool:
        async with self._sessions() as session:
            n = await session.scalar(
                select(func.count()).select_from(Account).where(Account.id == account_id)
            )
        return bool(n)


def account_principal(account: Account) -> Principal:
    return Principal("account", f"a:{account.id}", account.display_name, account_id=account.id)


def identity_dict(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "display_name": principal.display_name,
        "account_id": principal.account_id,
    }
