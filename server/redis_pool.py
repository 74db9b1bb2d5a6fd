"""The app's Redis connection pool.

A blocking pool: a burst (a flash-sale stampede) waits for a free connection instead of failing
with "too many connections".

Its connections write a command without wrapping the write in `asyncio.wait_for`: on Python 3.11
that starts a task, and an extra turn of the event loop, for every command sent, which cost about
a sixth of a checkout's CPU. A write only waits when the socket's buffer is full; the reply is
read under `socket_timeout` as before, so a Redis that stops answering still times out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import Connection, UnixDomainSocketConnection, parse_url


async def _send(conn: Any, parent: Any, command: Any, check_health: bool) -> None:
    if check_health:  # the health check's PING and its reply keep the timeout
        if not conn.is_connected:
            await conn.connect_check_health(check_health=False)
        await conn.check_health()
    timeout, conn.socket_timeout = conn.socket_timeout, None
    try:
        await parent(command, check_health=False)
    finally:
        conn.socket_timeout = timeout


class TcpConnection(Connection):
    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        await _send(self, super().send_packed_command, command, check_health)


class UnixConnection(UnixDomainSocketConnection):
    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        await _send(self, super().send_packed_command, command, check_health)


def pool(url: str, max_connections: int, **options: Any) -> BlockingConnectionPool:
    parsed = parse_url(url)  # as from_url does, but its connection class is ours
    parsed["connection_class"] = UnixConnection if url.startswith("unix:") else TcpConnection
    return BlockingConnectionPool(
        **parsed,
        max_connections=max_connections,
        timeout=10,
        decode_responses=True,
        health_check_interval=30,
        **options,
    )
