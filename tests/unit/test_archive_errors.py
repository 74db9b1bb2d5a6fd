"""Which write errors the chat archive sets aside for good, and which it keeps for the next
flush (pure: the exceptions are made here, as SQLAlchemy wraps the drivers' ones)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError

from live.room.archive import refused_for_good


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def _wrapped(kind: type[DBAPIError], sqlstate: str | None) -> DBAPIError:
    return kind("INSERT INTO chat_messages ...", {}, _DriverError(sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(DBAPIError, "22021"),  # asyncpg: a NUL in text (a plain DBAPIError)
        _wrapped(DBAPIError, "22000"),  # asyncpg: a number out of the column's range
        _wrapped(DBAPIError, "22001"),  # string too long
        _wrapped(DBAPIError, "23505"),  # unique violation
        _wrapped(IntegrityError, None),  # sqlite: foreign key
        _wrapped(DataError, None),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        ValueError("bad value"),
    ],
    ids=repr,
)
def test_what_the_row_itself_causes_is_refused_for_good(exc: Exception) -> None:
    assert refused_for_good(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(OperationalError, None),  # sqlite: database is locked
        _wrapped(DBAPIError, "08006"),  # connection failure
        _wrapped(DBAPIError, "57P01"),  # admin shutdown
        _wrapped(DBAPIError, "40001"),  # serialization failure
        _wrapped(InterfaceError, None),  # connection closed
        _wrapped(DBAPIError, None),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
    ids=repr,
)
def test_what_may_pass_next_time_is_kept(exc: Exception) -> None:
    assert not refused_for_good(exc)
