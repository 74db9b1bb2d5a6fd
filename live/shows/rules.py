"""The show state machine and what may change in each state. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from core.errors import AppError, ErrorCode


class Status(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SCHEDULED: frozenset({Status.LIVE}),
    Status.LIVE: frozenset({Status.ENDED}),
    Status.ENDED: frozenset(),
}

# Fields a host may edit in each state.
EDITABLE: dict[Status, frozenset[str]] = {
    Status.SCHEDULED: frozenset(
        {
            "title",
            "description",
            "scheduled_at",
            "lineup",
            "playback_url",
            "go_live_on_publish",
            "end_on_stream_end",
        }
    ),
    Status.LIVE: frozenset(
        {
            "title",
            "description",
            "lineup",
            "playback_url",
            "go_live_on_publish",
            "end_on_stream_end",
        }
    ),
    Status.ENDED: frozenset(),
}

SCHEDULE_SLACK = timedelta(minutes=5)
SCHEDULE_HORIZON = timedelta(days=366)
MAX_LINEUP = 50


def transition(current: Status, target: Status) -> Status:
    if target not in TRANSITIONS[current]:
        raise AppError(
            ErrorCode.INVALID_TRANSITION, f"a {current.value} show cannot become {target.value}"
        )
    return target


def check_edit(status: Status, fields: set[str]) -> None:
    refused = sorted(fields - EDITABLE[status])
    if refused:
        raise AppError(
            ErrorCode.INVALID_TRANSITION,
            f"{refused[0]} cannot change once a show is {status.value}",
            field=refused[0],
        )


def check_delete(status: Status) -> None:
    if status is not Status.SCHEDULED:
        raise AppError(ErrorCode.INVALID_TRANSITION, f"a {status.value} show cannot be deleted")


def check_schedule(when: datetime, now: datetime) -> None:
    if when < now - SCHEDULE_SLACK:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, "scheduled_at is in the past", field="scheduled_at"
        )
    if when > now + SCHEDULE_HORIZON:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "scheduled_at is more than a year away",
            field="scheduled_at",
        )
