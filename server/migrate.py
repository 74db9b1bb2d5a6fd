"""Schema migrations with alembic, run from the CLI (`python -m server migrate`) and the tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from server.db import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _in_thread(fn: object, *args: object) -> None:
    # env.py runs its own event loop; keep it off any loop already running in this thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(fn, *args).result()  # type: ignore[arg-type]


def upgrade(url: str, revision: str = "head") -> None:
    _in_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    _in_thread(command.downgrade, alembic_config(url), revision)


def revisions(url: str) -> list[str]:
    """Every revision from base to head, in order."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


async def pending(url: str) -> bool:
    """True when the database is not at the latest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())

    def current(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(current) != heads
    finally:
        await engine.dispose()


def pending_sync(url: str) -> bool:
    return asyncio.run(pending(url))
