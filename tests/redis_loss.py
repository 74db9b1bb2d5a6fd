"""A Redis that loses its last writes: what `appendfsync everysec` allows on a machine crash.

`AofCheckpoint.take()` copies the server's append-only files; `lose_since()` puts that copy in
place of the live files (by rename: the running server goes on writing to the files it has
open) and SIGKILLs the server, so whoever starts it next, a test or the app's supervisor, loads
the files as they were at the checkpoint.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from server.embedded_redis import EmbeddedRedis


class AofCheckpoint:
    def __init__(self, server: EmbeddedRedis) -> None:
        self.server = server
        self.saved = Path(tempfile.mkdtemp(prefix="lsa", dir="/tmp"))

    @property
    def _live(self) -> Path:
        return self.server.data_dir / "appendonlydir"

    async def take(self) -> None:
        """Copy the files once every answered write is in them: with `appendfsync everysec`
        Redis may hold its AOF buffer back for up to 2 s while a background fsync runs."""
        client = Redis.from_url(self.server.url, decode_responses=True)
        try:
            deadline = time.monotonic() + 10
            while True:
                info = await client.info("persistence")
                if int(info["aof_buffer_length"]) == 0:
                    break
                assert time.monotonic() < deadline, f"the AOF buffer never emptied: {info}"
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()
        shutil.rmtree(self.saved)
        shutil.copytree(self._live, self.saved)

    def lose_since(self) -> None:
        """Kill the server with its files as they were at take()."""
        for stale in self._live.iterdir():
            if not (self.saved / stale.name).exists():
                stale.unlink()
        for name in os.listdir(self.saved):
            os.replace(self.saved / name, self._live / name)
        assert self.server.pid is not None
        os.kill(self.server.pid, signal.SIGKILL)

    def close(self) -> None:
        shutil.rmtree(self.saved, ignore_errors=True)
