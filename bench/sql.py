"""The `sql` baseline for flash-sale throughput: the bare hot-row transaction, one per order,
straight to PostgreSQL through asyncpg — a conditional stock UPDATE and an order INSERT, at the
same concurrency as our buyers, on the same server. Its tables live in their own schema.

`python -m bench.sql DSN CONCURRENCY SECONDS WARMUP` prints one JSON line:
{"orders": [[start s from the measured window's start, latency ms], ...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import asyncpg

SCHEMA = """
DROP SCHEMA IF EXISTS bench_sql CASCADE;
CREATE SCHEMA bench_sql;
CREATE TABLE bench_sql.stock (
    id integer PRIMARY KEY,
    units integer NOT NULL CHECK (units >= 0)
);
CREATE TABLE bench_sql.orders (
    id bigserial PRIMARY KEY,
    buyer integer NOT NULL,
    stock_id integer NOT NULL REFERENCES bench_sql.stock (id),
    quantity integer NOT NULL,
    total bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO bench_sql.stock VALUES (1, 1000000000);
"""

TAKE = "UPDATE bench_sql.stock SET units = units - 1 WHERE id = 1 AND units >= 1 RETURNING units"
ORDER = "INSERT INTO bench_sql.orders (buyer, stock_id, quantity, total) VALUES ($1, 1, 1, 100)"


async def run(dsn: str, concurrency: int, seconds: float, warmup: float) -> dict[str, object]:
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(SCHEMA)
    finally:
        await setup.close()
    conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    start = time.monotonic() + warmup
    end = start + seconds
    orders: list[tuple[float, float]] = []

    async def buyer(b: int, conn: asyncpg.Connection) -> None:
        while (began := time.monotonic()) < end:
            async with conn.transaction():
                left = await conn.fetchval(TAKE)
                if left is None:
                    raise RuntimeError("the baseline's stock ran out")
                await conn.execute(ORDER, b)
            if began >= start:
                orders.append((began - start, (time.monotonic() - began) * 1000))

    try:
        await asyncio.gather(*(buyer(b, c) for b, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
        cleanup = await asyncpg.connect(dsn)
        try:
            await cleanup.execute("DROP SCHEMA bench_sql CASCADE")
        finally:
            await cleanup.close()
    return {"orders": orders}


def main() -> int:
    dsn, concurrency, seconds, warmup = sys.argv[1:5]
    result = asyncio.run(run(dsn, int(concurrency), float(seconds), float(warmup)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
