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

    async def sign_up(
        self, email: str, password: str, display_name: str, ip: str
    ) -> dict[str, Any]:
        window = await self._limiter.hit(
            "signup-ip", ip, self._settings.signups_per_ip_per_hour, 3600
        )
        if not window.allowed:
            raise AppError(
                ErrorCode.RATE_LIMITED,
                "too many sign-ups from this address; try again later",
                retry_after=window.retry_after,
            )
        email = normalize_email(email)
        if await self._email_taken(email):
            # Checked before hashing so a taken address costs no argon2 work; the unique
            # index below still decides a race between two sign-ups.
            raise _email_taken_error()
        account = Account(
            email=email,
            password_hash=await self._passwords.hash(password),
            display_name=display_name,
        )
        async with self._sessions.begin() as session:
            session.add(account)
            try:
                await session.flush()
            except IntegrityError:
                raise _email_taken_error() from None
        return self.token_for(account_principal(account))

    async def _email_taken(self, email: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(select(Account.id).where(Account.email == email))
        return found is not None

    async def log_in(self, email: str, password: str, ip: str) -> dict[str, Any]:
        s = self._settings
        checks = (
            ("login-acct", _email_key(email), s.login_max_failures),
            ("login-ip", ip, s.login_ip_max_failures),
        )
        # Every attempt is counted before the password is checked, so parallel guesses cannot
        # all slip past a read-then-write check; a successful attempt is taken back afterwards.
        for name, key, limit in checks:
            window = await self._limiter.hit(name, key, limit, s.login_window_seconds)
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
            # The same answer for an unknown email and a wrong password.
            raise AppError(ErrorCode.INVALID_CREDENTIALS, "email or password is wrong")
        await self._limiter.reset("login-acct", _email_key(email))
        await self._limiter.undo("login-ip", ip)
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


def _email_taken_error() -> AppError:
    return AppError(ErrorCode.EMAIL_TAKEN, "an account with this email exists", field="email")


def account_principal(account: Account) -> Principal:
    return Principal("account", f"a:{account.id}", account.display_name, account_id=account.id)


def identity_dict(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "display_name": principal.display_name,
        "account_id": principal.account_id,
    }
