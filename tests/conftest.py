"""Fixtures: every integration test runs through the real app on real backends.

Each app-level test runs once per backend pairing: SQLite with the embedded Valkey (always), and
PostgreSQL with the external Redis (when reachable; required under CI=true).
"""

from __future__ import annotations

import itertools
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import migrate
from server.app import create_app
from server.embedded_redis import EmbeddedRedis
from server.keys import engine_key
from server.settings import Settings, load_settings
from tests import backends as b

PAIRS = [b.Backend("sqlite", "embedded"), b.Backend("postgresql", "external")]


def pytest_configure(config: pytest.Config) -> None:
    missing = {}
    if why := b.postgres_reachable():
        missing["postgresql"] = f"PostgreSQL at {b.PG_URL} ({why})"
    if why := b.redis_reachable():
        missing["external"] = f"Redis at {b.REDIS_URL} ({why})"
    if missing and b.IN_CI:
        raise pytest.UsageError(
            "CI=true needs every backend; unreachable: " + "; ".join(missing.values())
        )
    config.stash[_missing_key] = missing
    config.stash[_pairs_key] = [
        p for p in PAIRS if p.database not in missing and p.redis not in missing
    ]


_missing_key = pytest.StashKey[dict[str, str]]()
_pairs_key = pytest.StashKey[list[b.Backend]]()


def _backend_line(config: pytest.Config) -> str:
    pairs = ", ".join(p.id for p in config.stash[_pairs_key])
    missing = config.stash[_missing_key]
    line = f"backends: {pairs}"
    if missing:
        line += "; skipped: " + "; ".join(missing.values())
    return line


def pytest_report_header(config: pytest.Config) -> str:
    return _backend_line(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.stash[_missing_key]:
        terminalreporter.write_line(_backend_line(config))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        pairs = metafunc.config.stash[_pairs_key]
        metafunc.parametrize("backend", pairs, ids=[p.id for p in pairs], scope="module")


@pytest.fixture(scope="module")
def database_url(backend: b.Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this test module; tables are emptied before each test."""
    if backend.database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    url = b.create_pg_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        b.drop_pg_database(url)


# Cheap password hashing: the suite signs up hundreds of accounts.
FAST_HASH = {"password_hash_time_cost": 1, "password_hash_memory_kib": 64}


@pytest.fixture
def make_settings(
    backend: b.Backend, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., Settings]]:
    prefix = f"t{uuid.uuid4().hex[:10]}:"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": b.REDIS_URL if backend.redis == "external" else None,
            "redis_prefix": prefix,
            "data_dir": tmp_path / "var",
            "secret_key": "test-secret-" + "x" * 32,
            **FAST_HASH,
        }
        values.update(overrides)
        return load_settings(**values)

    yield make
    if backend.redis == "external":
        b.delete_prefix(b.REDIS_URL, prefix)


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> ClientFactory:
    apps = itertools.count()

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        # Each app gets its own data dir: one embedded server per directory.
        overrides.setdefault("data_dir", tmp_path / f"var{next(apps)}")
        app = create_app(make_settings(**overrides))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        await b.truncate_all(app[engine_key])
        return client

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture
async def valkey() -> AsyncIterator[EmbeddedRedis]:
    """A Redis of the test's own (the embedded server's configuration: AOF, fsync every
    second), to kill and start again; never the machine's shared one. A short path, so it
    listens on a unix socket that stays the same across restarts."""
    directory = Path(tempfile.mkdtemp(prefix="lsr", dir="/tmp"))
    server = EmbeddedRedis(directory)
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _dump_tasks(*_: object) -> None:
    """`kill -USR1 <pytest pid>` writes every asyncio task's stack to
    <tmp>/asyncio-tasks-<pid>.txt (to debug a hung test; pytest captures stderr)."""
    import asyncio
    import os
    import tempfile

    path = Path(tempfile.gettempdir()) / f"asyncio-tasks-{os.getpid()}.txt"
    with path.open("w") as out:
        loop = asyncio._get_running_loop()
        if loop is None:
            print("no running loop", file=out)
            return
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=out)
            task.print_stack(file=out)


signal.signal(signal.SIGUSR1, _dump_tasks)
