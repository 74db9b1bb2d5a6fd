"""The processor's own storage: one SQLite file holding intents, charges, refunds, events (the
status history, also the webhook outbox), deliveries and idempotency records.

Every access goes through `transaction()`, which holds one lock: the processor is one process
with one connection, so operations are serialised and each commits whole or not at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    shop TEXT NOT NULL,
    methods TEXT NOT NULL,
    return_url TEXT NOT NULL,
    created REAL NOT NULL,
    last_error TEXT,
    pending TEXT,
    card_last4 TEXT,
    refunds_fail INTEGER NOT NULL DEFAULT 0,
    settle_at REAL
);
CREATE INDEX IF NOT EXISTS intents_settle ON intents (settle_at) WHERE settle_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents (id),
    amount INTEGER NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_code TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_intent ON charges (intent_id);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL REFERENCES intents (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL,
    fails INTEGER NOT NULL,
    failure_code TEXT,
    created REAL NOT NULL,
    settle_at REAL
);
CREATE INDEX IF NOT EXISTS refunds_intent ON refunds (intent_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    created REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_intent ON events (intent_id, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    event_seq INTEGER PRIMARY KEY REFERENCES events (seq),
    intent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (intent_id, event_seq)
    WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
"""


@dataclass(slots=True)
class IntentRow:
    id: str
    client_secret: str
    status: str
    amount: int
    currency: str
    reference: str
    shop: str
    methods: tuple[str, ...]
    return_url: str
    created: float
    last_error: dict[str, str] | None
    pending: str | None
    card_last4: str | None
    refunds_fail: bool
    settle_at: float | None


@dataclass(slots=True)
class RefundRow:
    id: str
    intent_id: str
    amount: int
    status: str
    fails: bool
    failure_code: str | None
    created: float
    settle_at: float | None


@dataclass(slots=True)
class Delivery:
    event_seq: int
    intent_id: str
    attempts: int
    body: str


def _intent(row: aiosqlite.Row) -> IntentRow:
    return IntentRow(
        id=row["id"],
        client_secret=row["client_secret"],
        status=row["status"],
        amount=row["amount"],
        currency=row["currency"],
        reference=row["reference"],
        shop=row["shop"],
        methods=tuple(json.loads(row["methods"])),
        return_url=row["return_url"],
        created=row["created"],
        last_error=json.loads(row["last_error"]) if row["last_error"] else None,
        pending=row["pending"],
        card_last4=row["card_last4"],
        refunds_fail=bool(row["refunds_fail"]),
        settle_at=row["settle_at"],
    )


def _refund(row: aiosqlite.Row) -> RefundRow:
    return RefundRow(
        id=row["id"],
        intent_id=row["intent_id"],
        amount=row["amount"],
        status=row["status"],
        fails=bool(row["fails"]),
        failure_code=row["failure_code"],
        created=row["created"],
        settle_at=row["settle_at"],
    )


class Tx:
    """The queries of one transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def _one(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, *args: Any) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    # Idempotency
    async def idempotent(self, scope: str, key: str) -> tuple[str, int, str] | None:
        row = await self._one(
            "SELECT fingerprint, status, body FROM idempotency WHERE scope = ? AND key = ?",
            scope,
            key,
        )
        return None if row is None else (row["fingerprint"], row["status"], row["body"])

    async def remember(
        self, scope: str, key: str, fingerprint: str, status: int, body: str, now: float
    ) -> None:
        await self.db.execute(
            "INSERT INTO idempotency (scope, key, fingerprint, status, body, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (scope, key, fingerprint, status, body, now),
        )

    # Intents
    async def insert_intent(self, i: IntentRow) -> None:
        await self.db.execute(
            "INSERT INTO intents (id, client_secret, status, amount, currency, reference, shop,"
            " methods, return_url, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *(i.id, i.client_secret, i.status, i.amount, i.currency, i.reference, i.shop),
                *(json.dumps(list(i.methods)), i.return_url, i.created),
            ),
        )

    async def intent(self, intent_id: str) -> IntentRow | None:
        row = await self._one("SELECT * FROM intents WHERE id = ?", intent_id)
        return None if row is None else _intent(row)

    async def update_intent(self, i: IntentRow) -> None:
        await self.db.execute(
            "UPDATE intents SET status = ?, last_error = ?, pending = ?, card_last4 = ?,"
            " refunds_fail = ?, settle_at = ? WHERE id = ?",
            (
                i.status,
                json.dumps(i.last_error) if i.last_error else None,
                i.pending,
                i.card_last4,
                int(i.refunds_fail),
                i.settle_at,
                i.id,
            ),
        )

    async def intents_due(self, now: float) -> list[str]:
        rows = await self._all(
            "SELECT id FROM intents WHERE settle_at IS NOT NULL AND settle_at <= ?", now
        )
        return [r["id"] for r in rows]

    async def all_intents(self) -> list[IntentRow]:
        return [_intent(r) for r in await self._all("SELECT * FROM intents ORDER BY created, id")]

    # Charges
    async def insert_charge(
        self,
        cid: str,
        intent_id: str,
        amount: int,
        method: str,
        status: str,
        code: str | None,
        now: float,
    ) -> None:
        await self.db.execute(
            "INSERT INTO charges (id, intent_id, amount, method, status, failure_code, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, intent_id, amount, method, status, code, now),
        )

    async def settle_pending_charges(self, intent_id: str, status: str) -> int:
        """Settles the intent's pending charge, if it has one: the number of charges changed."""
        cur = await self.db.execute(
            "UPDATE charges SET status = ? WHERE intent_id = ? AND status = 'pending'",
            (status, intent_id),
        )
        return cur.rowcount

    async def captured(self, intent_id: str) -> tuple[int, int]:
        """The amount captured and the number of succeeded charges."""
        row = await self._one(
            "SELECT COALESCE(SUM(amount), 0) AS s, COUNT(*) AS n FROM charges"
            " WHERE intent_id = ? AND status = 'succeeded'",
            intent_id,
        )
        assert row is not None
        return int(row["s"]), int(row["n"])

    # Refunds
    async def insert_refund(self, r: RefundRow) -> None:
        await self.db.execute(
            "INSERT INTO refunds (id, intent_id, amount, status, fails, created, settle_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r.id, r.intent_id, r.amount, r.status, int(r.fails), r.created, r.settle_at),
        )

    async def refund(self, refund_id: str) -> RefundRow | None:
        row = await self._one("SELECT * FROM refunds WHERE id = ?", refund_id)
        return None if row is None else _refund(row)

    async def update_refund(self, r: RefundRow) -> None:
        await self.db.execute(
            "UPDATE refunds SET status = ?, failure_code = ?, settle_at = ? WHERE id = ?",
            (r.status, r.failure_code, r.settle_at, r.id),
        )

    async def refunded(self, intent_id: str, statuses: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(statuses))
        row = await self._one(
            f"SELECT COALESCE(SUM(amount), 0) AS s FROM refunds"  # noqa: S608 - placeholders only
            f" WHERE intent_id = ? AND status IN ({marks})",
            intent_id,
            *statuses,
        )
        assert row is not None
        return int(row["s"])

    async def refunds_of(self, intent_id: str) -> list[RefundRow]:
        rows = await self._all(
            "SELECT * FROM refunds WHERE intent_id = ? ORDER BY created, id", intent_id
        )
        return [_refund(r) for r in rows]

    async def refunds_due(self, now: float) -> list[str]:
        rows = await self._all(
            "SELECT id FROM refunds WHERE settle_at IS NOT NULL AND settle_at <= ?", now
        )
        return [r["id"] for r in rows]

    # Events and their deliveries
    async def insert_event(
        self, eid: str, kind: str, intent_id: str, body: str, now: float, deliver: bool
    ) -> None:
        cur = await self.db.execute(
            "INSERT INTO events (id, type, intent_id, created, body) VALUES (?, ?, ?, ?, ?)",
            (eid, kind, intent_id, now, body),
        )
        if deliver:
            await self.db.execute(
                "INSERT INTO deliveries (event_seq, intent_id, status, next_attempt_at)"
                " VALUES (?, ?, 'pending', ?)",
                (cur.lastrowid, intent_id, now),
            )

    async def events_of(self, intent_id: str) -> list[str]:
        rows = await self._all(
            "SELECT body FROM events WHERE intent_id = ? ORDER BY seq", intent_id
        )
        return [r["body"] for r in rows]

    async def deliveries_due(self, now: float, limit: int = 50) -> list[Delivery]:
        """The oldest pending delivery of each intent, when it is due: a later event of an
        intent waits until the earlier one is delivered or given up."""
        rows = await self._all(
            "SELECT d.event_seq, d.intent_id, d.attempts, e.body FROM deliveries d"
            " JOIN events e ON e.seq = d.event_seq"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND d.event_seq = ("
            "   SELECT MIN(event_seq) FROM deliveries p"
            "   WHERE p.intent_id = d.intent_id AND p.status = 'pending')"
            " ORDER BY d.event_seq LIMIT ?",
            now,
            limit,
        )
        return [Delivery(r["event_seq"], r["intent_id"], r["attempts"], r["body"]) for r in rows]

    async def next_delivery_at(self) -> float | None:
        row = await self._one(
            "SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE status = 'pending'"
        )
        return None if row is None or row["t"] is None else float(row["t"])

    async def next_settlement_at(self) -> float | None:
        row = await self._one(
            "SELECT MIN(t) AS t FROM (SELECT MIN(settle_at) AS t FROM intents"
            " UNION ALL SELECT MIN(settle_at) FROM refunds)"
        )
        return None if row is None or row["t"] is None else float(row["t"])

    async def delivery_done(
        self, seq: int, status: str, attempts: int, next_at: float, error: str | None
    ) -> None:
        await self.db.execute(
            "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?"
            " WHERE event_seq = ?",
            (status, attempts, next_at, error, seq),
        )


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        assert self._db is not None, "the store is not open"
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
