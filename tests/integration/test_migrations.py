"""Migrations: the stairway (each revision up, down, up) and models matching the migrated schema."""

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from server import migrate
from server.db import create_engine
from server.models import metadata
from tests import backends as b


@pytest.fixture
def empty_url(backend: b.Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend.database == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('stairs') / 'stairs.db'}"
        return
    url = b.create_pg_database()
    try:
        yield url
    finally:
        b.drop_pg_database(url)


def test_stairway(empty_url: str) -> None:
    revisions = migrate.revisions(empty_url)
    assert revisions, "no migrations found"
    previous = "base"
    for revision in revisions:
        migrate.upgrade(empty_url, revision)
        migrate.downgrade(empty_url, previous)
        migrate.upgrade(empty_url, revision)
        previous = revision


async def test_models_match_migrations(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert not await migrate.pending(empty_url)

    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    engine = create_engine(empty_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
