"""Composition of email: the transport the settings choose, the outbox sender, its metrics, and
its start and stop with the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.mail.lease import Lease
from server.mail.sender import OutboxMetrics, OutboxSender, SenderConfig
from server.mail.transport import FileTransport, SmtpTransport, Transport
from server.settings import Settings

log = logging.getLogger(__name__)

outbox_key = web.AppKey("outbox", OutboxSender)


def transport_for(settings: Settings) -> Transport:
    if settings.email_transport == "file":
        return FileTransport(settings.data_dir / "outbox")
    assert settings.smtp_host is not None  # the settings refuse smtp without a host
    password = settings.smtp_password
    return SmtpTransport(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username,
        password=None if password is None else password.get_secret_value(),
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
        timeout=settings.smtp_timeout_seconds,
    )


def attach_mail(
    app: web.Application,
    settings: Settings,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    registry: CollectorRegistry,
    node_id: str,
    writing: Callable[[], AbstractAsyncContextManager[Any]],
) -> OutboxSender:
    transport = transport_for(settings)
    # A claimed row waits this long for its sender: longer than a slow SMTP exchange.
    claim_seconds = max(60.0, 3 * settings.smtp_timeout_seconds)
    lease = Lease(redis, f"{settings.redis_prefix}outbox:sender", node_id, claim_seconds)
    sender = OutboxSender(
        sessions,
        transport,
        lease,
        OutboxMetrics(registry),
        SenderConfig(
            mail_from=settings.mail_from,
            max_attempts=settings.outbox_max_attempts,
            retry_base_seconds=settings.outbox_retry_base_seconds,
            retry_max_seconds=settings.outbox_retry_max_seconds,
            interval_seconds=settings.outbox_interval_seconds,
            claim_seconds=claim_seconds,
        ),
        writing,
    )
    app[outbox_key] = sender

    async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
        if isinstance(transport, FileTransport):
            log.info(
                "emails are written to files, not sent", extra={"dir": str(transport.directory)}
            )
        sender.start()
        yield
        await sender.stop()

    app.cleanup_ctx.append(outbox_ctx)
    return sender
