"""A Redis that loses its last writes: what `appendfsync everysec` allows on a machine crash.

`AofCheckpoint.take()` copies the server's append-only files; `lose_since()` puts that copy in
place of the live files (by rename: the running server goes on writing to the files it has
open) and SIGKILLs the server, so whoever starts it next, a test or the app's supervisor, loads
the files as they were at the checkpoint.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from server.embedded_redis import EmbeddedRedis


class AofCheckpoint:
    def __init__(self, server: EmbeddedRedis) -> None:
        self.server = server
        self.saved = Path(tempfile.mkdtemp(prefix="lsa", dir="/tmp"))

    @property
    def _live(self) -> Path:
        return self.server.data_dir / "appendonlydir"

    def take(self) -> None:
        # Redis writes the AOF before it answers a command, so the copy holds every answered
        # write (fsync matters for a machine crash only, which this stands for).
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
