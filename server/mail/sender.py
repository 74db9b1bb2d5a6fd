"""The outbox's sender: delivers pending rows, one node at a time, retrying with backoff.

Each pass (every OUTBOX_INTERVAL_SECONDS on every node):
1. counts the pending rows (the `outbox_pending` gauge);
2. takes the Redis lease, or leaves the pass to the node that holds it;
3. claims a batch of due rows in one short transaction: a conditional UPDATE adds an attempt
   and pushes `next_attempt_at` a claim's length ahead, so a row is claimed by one sender even
   if two ever ran at once (a lease lost to a Redis restart, say);
4. sends each row, then records the batch's outcomes in one transaction: sent; failed at once
   on a permanent refusal (5xx) or a template that cannot render; otherwise retried after a
   backoff doubling from OUTBOX_RETRY_BASE_SECONDS up to OUTBOX_RETRY_MAX_SECONDS, until
   OUTBOX_MAX_ATTEMPTS.

A node that dies while sending leaves its claimed rows to be sent again once the claim runs out:
delivery is at least once (SMTP offers no more); the Message-ID stays the same, so a receiving
system can recognise a duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import utcnow
from core.outbox import OutboxStatus, outbox_table
from core.tasks import Periodic
from server.mail.lease import Lease
from server.mail.render import render
from server.mail.rules import backoff, language_of
from server.mail.transport import Permanent, Temporary, Transport

log = logging.getLogger(__name__)

_outbox = outbox_table()
_PENDING = OutboxStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class SenderConfig:
    mail_from: str
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    interval_seconds: float
    # How long a claimed row is left to its sender before another may take it.
    claim_seconds: float
    batch: int = 20


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: str
    recipient: str
    language: str
    data: dict[str, Any]
    dedupe_key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    row: Claimed
    result: str  # sent | retried | failed (the metric it counts in)
    values: dict[str, Any]


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter("outbox_sent", "Emails delivered by this node", registry=registry)
        self.failed = Counter(
            "outbox_failed",
            "Emails given up on by this node: refused for good, or out of attempts",
            registry=registry,
        )
        self.retried = Counter(
            "outbox_retries",
            "Attempts that failed for a reason a retry may fix (scheduled again)",
            registry=registry,
        )
        self.pending = Gauge(
            "outbox_pending", "Emails waiting to be sent, at the last count", registry=registry
        )


class OutboxSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transport: Transport,
        lease: Lease,
        metrics: OutboxMetrics,
        config: SenderConfig,
        writing: Callable[[], AbstractAsyncContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self._sessions = sessions
        # Held around each write transaction (SQLite's one writer, shared with the orders).
        self._writing = writing
        self._transport = transport
        self._lease = lease
        self._metrics = metrics
        self._config = config
        domain = parseaddr(config.mail_from)[1].rpartition("@")[2]
        self._domain = domain or "localhost"
        self._periodic = Periodic("outbox pass", config.interval_seconds, self._pass, log)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _pass(self) -> None:
        await self.run_once()

    async def run_once(self) -> dict[str, int]:
        """One pass; what it did (for logs and tests)."""
        done = {"sent": 0, "retried": 0, "failed": 0}
        await self._count()
        if not await self._lease.take():
            return done
        try:
            held = True
            while held:
                rows = await self._claim()
                outcomes: list[Outcome] = []
                try:
                    for row in rows:
                        outcomes.append(await self._deliver(row))
                        # Renewed between emails; lost (Redis restarted, a pause past the
                        # lease), this node stops and the rest of its claim waits it out.
                        held = await self._lease.take()
                        if not held:
                            break
                finally:
                    # One write per batch, not per email: on SQLite every commit can fail
                    # another writer's read-then-write transaction (busy).
                    await self._record(outcomes)
                for outcome in outcomes:
                    done[outcome.result] += 1
                if len(rows) < self._config.batch:
                    break
        finally:
            await self._lease.release()
        if any(done.values()):
            await self._count()
        return done

    async def _count(self) -> None:
        async with self._sessions() as session:
            pending = await session.scalar(
                select(func.count()).select_from(_outbox).where(_outbox.c.status == _PENDING)
            )
        self._metrics.pending.set(int(pending or 0))

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        due = (_outbox.c.status == _PENDING) & (_outbox.c.next_attempt_at <= now)
        # Read first, outside any write: most passes find nothing and write nothing.
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(_outbox.c.id)
                    .where(due)
                    .order_by(_outbox.c.next_attempt_at, _outbox.c.id)
                    .limit(self._config.batch)
                )
            )
        if not ids:
            return []
        # The UPDATE checks again that each row is still due: of two senders, the second finds
        # the row claimed (PostgreSQL makes it wait for the first's short transaction, then
        # re-reads the row) and skips it.
        async with self._writing(), self._sessions.begin() as session:
            rows = await session.execute(
                update(_outbox)
                .where(_outbox.c.id.in_(ids), due)
                .values(
                    attempts=_outbox.c.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=self._config.claim_seconds),
                )
                .returning(
                    _outbox.c.id,
                    _outbox.c.kind,
                    _outbox.c.recipient,
                    _outbox.c.language,
                    _outbox.c.data,
                    _outbox.c.dedupe_key,
                    _outbox.c.attempts,
                )
            )
            claimed = [Claimed(*row) for row in rows]
        return sorted(claimed, key=lambda c: c.id)

    async def _deliver(self, row: Claimed) -> Outcome:
        try:
            message = self.message(row)
        except Exception as exc:
            log.exception("outbox email cannot be rendered", extra={"outbox_id": row.id})
            return self._failed(row, f"render: {type(exc).__name__}: {exc}")
        try:
            await self._transport.send(message, f"{row.id:08d}-{row.kind}.eml")
        except Permanent as exc:
            return self._failed(row, str(exc))
        except Temporary as exc:
            return self._retry(row, str(exc))
        except Exception as exc:
            log.exception("outbox transport failed", extra={"outbox_id": row.id})
            return self._retry(row, f"{type(exc).__name__}: {exc}")
        values = {"status": OutboxStatus.SENT.value, "sent_at": utcnow(), "last_error": ""}
        return Outcome(row, "sent", values)

    def _retry(self, row: Claimed, error: str) -> Outcome:
        if row.attempts >= self._config.max_attempts:
            return self._failed(row, error)
        wait = backoff(
            row.attempts, self._config.retry_base_seconds, self._config.retry_max_seconds
        )
        log.warning(
            "outbox email will be retried",
            extra={"outbox_id": row.id, "attempts": row.attempts, "retry_in": wait},
        )
        values = {
            "next_attempt_at": utcnow() + timedelta(seconds=wait),
            "last_error": error[:500],
        }
        return Outcome(row, "retried", values)

    def _failed(self, row: Claimed, error: str) -> Outcome:
        log.error(
            "outbox email failed for good",
            extra={"outbox_id": row.id, "kind": row.kind, "attempts": row.attempts},
        )
        return Outcome(
            row, "failed", {"status": OutboxStatus.FAILED.value, "last_error": error[:500]}
        )

    async def _record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        async with self._writing(), self._sessions.begin() as session:
            for outcome in outcomes:
                row = outcome.row
                # Only the claim this sender holds: a row claimed again meanwhile is another's.
                await session.execute(
                    update(_outbox)
                    .where(_outbox.c.id == row.id, _outbox.c.attempts == row.attempts)
                    .values(**outcome.values)
                )
        for outcome in outcomes:
            getattr(self._metrics, outcome.result).inc()

    def message(self, row: Claimed) -> EmailMessage:
        rendered = render(row.kind, row.language, row.data)
        message = EmailMessage()
        message["From"] = self._config.mail_from
        message["To"] = row.recipient
        message["Subject"] = rendered.subject
        message["Date"] = format_datetime(utcnow())
        # The same for every attempt at one email: a duplicate after a crash can be told.
        digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:20]
        message["Message-ID"] = f"<outbox.{row.id}.{digest}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        # After the parts: setting content clears or moves every Content-* header.
        message["Content-Language"] = language_of(row.language)
        return message
