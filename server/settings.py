"""Typed settings read from the environment. A bad value stops start-up with one line naming it."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cart.orders.service import FAULT_POINTS
from core.faults import Faults

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_ANY_HOST = ("0.0.0.0", "::")  # noqa: S104 - listen addresses, compared, not bound here
_MIN_SECRET = 32


class SettingsError(Exception):
    """Raised with a one-line, user-facing message naming the bad setting."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field("ls:", pattern=r"^[A-Za-z0-9:_\-.]{1,40}$")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = None
    secret_key: SecretStr | None = None
    data_dir: Path = Path("var")
    allowed_origins: Annotated[list[str], NoDecode] = []
    trusted_proxies: Annotated[list[str], NoDecode] = []
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Limits.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    token_ttl_seconds: int = Field(12 * 3600, ge=60, le=30 * 86400)
    guest_token_ttl_seconds: int = Field(30 * 86400, ge=60, le=365 * 86400)
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_ip_max_failures: int = Field(30, ge=1, le=100000)
    login_window_seconds: int = Field(900, ge=1, le=86400)
    guests_per_ip_per_hour: int = Field(30, ge=1, le=100000)
    signups_per_ip_per_hour: int = Field(20, ge=1, le=100000)
    shutdown_timeout: float = Field(10.0, ge=0, le=600)
    password_hash_time_cost: int = Field(3, ge=1, le=10)
    password_hash_memory_kib: int = Field(65536, ge=64, le=4 * 1024 * 1024)

    # The live room.
    room_tick_ms: int = Field(100, ge=10, le=2000)
    # A coalesced frame that cannot be published is retried this long before it is dropped.
    room_flush_retry_seconds: float = Field(30.0, ge=0.1, le=3600)
    room_replay_frames: int = Field(2000, ge=10, le=1_000_000)
    chat_rate_messages: int = Field(5, ge=1, le=1000)
    chat_rate_window_seconds: int = Field(10, ge=1, le=3600)
    socket_queue_frames: int = Field(500, ge=10, le=100_000)
    socket_max_frame_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    sockets_per_ip: int = Field(50, ge=1, le=1_000_000)

    redis_max_connections: int = Field(64, ge=2, le=10_000)
    # The embedded Redis is started again when it exits on its own, with a backoff doubling
    # from 0.1 s up to this; after this many failures in a row it gives up and /healthz fails.
    embedded_redis_restart_attempts: int = Field(10, ge=0, le=1000)
    embedded_redis_restart_backoff_max_seconds: float = Field(5.0, ge=0.1, le=300)

    # Carts.
    cart_ttl_seconds: int = Field(86400, ge=60, le=30 * 86400)

    # Checkout and orders.
    payment_provider: Literal["test"] = "test"
    # How long a checkout holds its idempotency key before a retry may take over (a crashed
    # node's checkouts are finished by the retry after this).
    checkout_lease_seconds: float = Field(10, ge=0.2, le=300)
    idempotency_ttl_hours: int = Field(48, ge=24, le=30 * 24)
    pending_payment_minutes: int = Field(15, ge=1, le=24 * 60)
    reconcile_interval_seconds: float = Field(30, ge=0.1, le=3600)
    # Carts and checkout read a show's lineup and prices through a cache this old at most (so
    # a stampede's adds and sold-out answers never touch the database; stock is checked by the
    # order's own transaction); 0 turns it off.
    offer_cache_ms: int = Field(1000, ge=0, le=60_000)
    # The RTMP ingest (nginx-rtmp) and its publish callbacks.
    ingest_allowed_networks: Annotated[list[str], NoDecode] = ["127.0.0.1/32", "::1/128"]
    ingest_secret: SecretStr | None = None
    ingest_rtmp_url: str | None = None
    hls_public_url: str | None = None
    # The media server `python -m server ingest` runs (nginx-rtmp): its ports, where it calls the
    # app back, its HLS fragment length, and where the app reads playlists to measure the delay.
    ingest_rtmp_port: int = Field(1935, ge=1, le=65535)
    hls_port: int = Field(8088, ge=1, le=65535)
    ingest_callback_url: str | None = None
    hls_fragment_seconds: float = Field(1.0, ge=0.5, le=10)
    hls_internal_url: str | None = None
    # A flash deal keeps taking orders this much longer at most, for viewers behind the host.
    deal_delay_cap_seconds: float = Field(15, ge=0, le=60)
    # How long a stream may stay offline before a show with end_on_stream_end ends.
    stream_grace_seconds: float = Field(120, ge=0.1, le=86400)

    # Email: the outbox and how it is delivered (SMTP, or .eml files in DATA_DIR/outbox).
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = Field(30, ge=1, le=600)
    mail_from: str = "liveshop <no-reply@localhost>"
    mail_transport: Literal["smtp", "file"] | None = None
    outbox_max_attempts: int = Field(10, ge=1, le=100)
    outbox_interval_seconds: float = Field(2, ge=0.05, le=3600)
    outbox_retry_base_seconds: float = Field(30, ge=0.01, le=86400)
    outbox_retry_max_seconds: float = Field(3600, ge=0.01, le=7 * 86400)

    # Tests only: the process kills itself (SIGKILL) at these named points of checkout and
    # refunds. Refused unless TESTING is set, so no production setting can arm them.
    testing: bool = False
    checkout_fault_points: Annotated[list[str], NoDecode] = []

    @field_validator(
        "allowed_origins",
        "trusted_proxies",
        "checkout_fault_points",
        "ingest_allowed_networks",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("checkout_fault_points")
    @classmethod
    def _faults(cls, value: list[str], info: ValidationInfo) -> list[str]:
        unknown = sorted(set(value) - FAULT_POINTS)
        if unknown:
            raise ValueError(f"unknown fault points {unknown}; known: {sorted(FAULT_POINTS)}")
        if value and not info.data.get("testing"):
            raise ValueError(
                "fault points kill the process and are for tests only; "
                "they are refused unless TESTING=1 is set too"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = [o.rstrip("/") for o in value]
        for origin in origins:
            scheme, sep, host = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return origins

    @field_validator("trusted_proxies", "ingest_allowed_networks")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        elif value.startswith("sqlite://") and "+aiosqlite" not in value:
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("use a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("ingest_secret")
    @classmethod
    def _ingest_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_\-]{24,128}", value.get_secret_value()):
            raise ValueError("must be 24 to 128 URL-safe characters (A-Z a-z 0-9 _ -)")
        return value

    @field_validator("ingest_rtmp_url")
    @classmethod
    def _rtmp_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("rtmp", "rtmps") or not parts.hostname:
            raise ValueError("use an rtmp:// or rtmps:// URL")
        return value.rstrip("/")

    @field_validator("hls_public_url", "hls_internal_url", "ingest_callback_url")
    @classmethod
    def _hls_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("smtp_host", "smtp_username")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if "\r" in value or "\n" in value or "@" not in address:
            raise ValueError("use an address like 'Shop <orders@shop.example>'")
        return value

    @field_validator("mail_transport")
    @classmethod
    def _mail_transport(
        cls, value: Literal["smtp", "file"] | None, info: ValidationInfo
    ) -> Literal["smtp", "file"] | None:
        if value == "smtp" and not info.data.get("smtp_host"):
            raise ValueError("smtp needs SMTP_HOST")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < _MIN_SECRET:
            raise ValueError("must be at least 32 characters")
        return value

    # Derived values.

    @property
    def faults(self) -> Faults:
        return Faults(self.checkout_fault_points, FAULT_POINTS)

    @property
    def database_kind(self) -> Literal["sqlite", "postgresql"]:
        return "postgresql" if self.effective_database_url.startswith("postgresql") else "sqlite"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'liveshop.db').resolve()}"

    @property
    def email_transport(self) -> Literal["smtp", "file"]:
        """MAIL_TRANSPORT, or smtp when SMTP_HOST is set, else .eml files."""
        if self.mail_transport is not None:
            return self.mail_transport
        return "smtp" if self.smtp_host else "file"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in _ANY_HOST else self.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def trusted_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)

    @property
    def ingest_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(
            ipaddress.ip_network(item, strict=False) for item in self.ingest_allowed_networks
        )

    @property
    def rtmp_ingest_url(self) -> str:
        """Where encoders publish: INGEST_RTMP_URL, or port 1935 of the public host."""
        if self.ingest_rtmp_url:
            return self.ingest_rtmp_url
        return f"rtmp://{self._public_host}:{self.ingest_rtmp_port}/live"

    @property
    def _public_host(self) -> str:
        host = urlsplit(self.base_url).hostname or "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def hls_base(self) -> str:
        """Where players read HLS: HLS_PUBLIC_URL; behind PUBLIC_URL its /hls (the front proxy
        passes it to the media server); else the local media server's own HTTP port."""
        if self.hls_public_url:
            return self.hls_public_url
        if self.public_url:
            return f"{self.base_url}/hls"
        return f"http://{self._public_host}:{self.hls_port}/hls"

    @property
    def hls_read_base(self) -> str:
        """Where the app itself reads playlists (to measure the stream's delay)."""
        return self.hls_internal_url or self.hls_base

    @property
    def callback_base(self) -> str:
        """The app as the media server reaches it."""
        if self.ingest_callback_url:
            return self.ingest_callback_url
        host = "127.0.0.1" if self.host in _ANY_HOST else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def origins(self) -> frozenset[str]:
        """The Origin allowlist; by default only the server's own address."""
        if self.allowed_origins:
            return frozenset(self.allowed_origins)
        own = {self.base_url}
        if self.host in ("127.0.0.1", "localhost", *_ANY_HOST):
            own |= {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        return frozenset(own)

    def secret(self) -> str:
        """The signing key: SECRET_KEY, or one generated once into DATA_DIR and reused."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Written whole to a temporary file, then linked into place: a crash never leaves a
            # half-written key, and of two processes starting at once the first one wins.
            tmp = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_text().strip()
        if len(key) < _MIN_SECRET:
            raise SettingsError(
                f"invalid setting SECRET_KEY: {path} holds fewer than {_MIN_SECRET} characters; "
                "delete it to generate a new key"
            )
        return key


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (overrides win); one clear line on the first bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise SettingsError(f"invalid setting {name}: {err['msg']}") from None
