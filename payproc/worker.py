"""Background work: settling delayed charges and refunds when they are due, and delivering
webhooks (signed, oldest first per intent, retried with exponential backoff). Both read their
work from the store, so a restart picks up where the last run stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

from payproc import rules
from payproc.service import Processor
from payproc.settings import Settings
from payproc.signature import HEADER, sign
from payproc.store import Delivery, Store

log = logging.getLogger("payproc.worker")
IDLE_S = 1.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


class Worker:
    def __init__(
        self,
        store: Store,
        processor: Processor,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.processor = processor
        self.settings = settings
        self.clock = clock
        self._settle = asyncio.Event()
        self._deliver = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        """Something was written: look for work now instead of at the next tick."""
        self._settle.set()
        self._deliver.set()

    async def run(self) -> None:
        loops = [self._loop(self._settle, self._settle_once)]
        if self.settings.webhook_url:
            loops.append(self._loop(self._deliver, self._deliver_once))
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            self.session = session
            await asyncio.gather(*loops)

    async def _loop(self, wake: asyncio.Event, once: Callable[[], Awaitable[float | None]]) -> None:
        while True:
            wake.clear()
            try:
                next_at = await once()
            except Exception:  # a failed round is logged and retried
                log.exception("background round failed")
                next_at = None
            wait = IDLE_S if next_at is None else min(IDLE_S, max(0.0, next_at - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)

    async def _settle_once(self) -> float | None:
        async with self.store.transaction() as tx:
            if await self.processor.settle_due(tx):
                self._deliver.set()
            return await tx.next_settlement_at()

    async def _deliver_once(self) -> float | None:
        async with self.store.transaction() as tx:
            due = await tx.deliveries_due(self.clock())
        await asyncio.gather(*(self._send(d) for d in due))
        async with self.store.transaction() as tx:
            return await tx.next_delivery_at()

    async def _send(self, delivery: Delivery) -> None:
        assert self.session is not None and self.settings.webhook_url
        assert self.settings.webhook_secret is not None
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self.settings.webhook_secret.get_secret_value(), body, int(self.clock())),
        }
        error: str | None = None
        try:
            async with self.session.post(
                self.settings.webhook_url, data=body, headers=headers
            ) as resp:
                if not 200 <= resp.status < 300:
                    error = f"answered {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        if error is None:
            status, next_at = "delivered", self.clock()
        elif attempts >= self.settings.webhook_max_attempts:
            status, next_at = "failed", self.clock()
            log.warning("webhook given up", extra={"event_seq": delivery.event_seq, "error": error})
        else:
            status = "pending"
            next_at = self.clock() + rules.backoff(attempts, self.settings.webhook_backoff_seconds)
            log.info("webhook retry", extra={"event_seq": delivery.event_seq, "error": error})
        async with self.store.transaction() as tx:
            await tx.delivery_done(delivery.event_seq, status, attempts, next_at, error)
