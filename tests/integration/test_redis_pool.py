"""server.redis_pool: commands go out without a task per write, and a Redis that stops
answering still times out (a real socket that accepts and never replies)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeout

from server.app import create_app
from server.keys import redis_key
from server.redis_pool import TcpConnection, UnixConnection, pool
from tests.backends import Backend


async def test_a_silent_redis_times_out_and_the_timeout_stays_set() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass  # reads every command, answers none
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Redis(connection_pool=pool(f"redis://127.0.0.1:{port}/0", 2, socket_timeout=0.3))
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeout):
            # A reply read without the timeout would hang here: wait_for fails it instead.
            await asyncio.wait_for(client.get("anything"), 5)
        assert time.monotonic() - started < 3
        assert client.connection_pool.connection_class is TcpConnection
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_the_app_talks_to_its_redis_through_these_connections(
    backend: Backend, make_settings: Any, aiohttp_client: Any
) -> None:
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    redis = client.app[redis_key]
    await redis.set("pool-test", "1")
    assert await redis.get("pool-test") == "1"
    conn = await redis.connection_pool.get_connection()
    expected = UnixConnection if backend.redis == "embedded" else TcpConnection
    assert isinstance(conn, expected)
    assert conn.socket_timeout == 5  # restored after every write
    await redis.connection_pool.release(conn)
    await redis.delete("pool-test")
