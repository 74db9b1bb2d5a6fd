"""The show state machine: transitions, per-state edits, deletion and scheduling bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import AppError, ErrorCode
from live.shows.rules import (
    SCHEDULE_HORIZON,
    SCHEDULE_SLACK,
    Status,
    check_delete,
    check_edit,
    check_schedule,
    transition,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ALLOWED = {(Status.SCHEDULED, Status.LIVE), (Status.LIVE, Status.ENDED)}
REFUSED = [(a, b) for a in Status for b in Status if (a, b) not in ALLOWED]


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions_return_the_target(current: Status, target: Status) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_transition_is_refused(current: Status, target: Status) -> None:
    with pytest.raises(AppError) as info:
        transition(current, target)
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert info.value.status == 409
    assert info.value.message == f"a {current.value} show cannot become {target.value}"


def test_refused_transitions_cover_skips_reversals_and_self_loops() -> None:
    assert (Status.SCHEDULED, Status.ENDED) in REFUSED
    assert (Status.ENDED, Status.LIVE) in REFUSED
    assert (Status.LIVE, Status.LIVE) in REFUSED
    assert len(REFUSED) == 7


def test_full_lifecycle() -> None:
    status = transition(Status.SCHEDULED, Status.LIVE)
    status = transition(status, Status.ENDED)
    assert status is Status.ENDED


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (Status.SCHEDULED, {"title", "description", "scheduled_at", "lineup"}),
        (Status.LIVE, {"title", "description", "lineup"}),
        (Status.SCHEDULED, set()),
        (Status.LIVE, set()),
        (Status.ENDED, set()),
    ],
)
def test_editable_fields_pass(status: Status, fields: set[str]) -> None:
    check_edit(status, fields)


@pytest.mark.parametrize(
    ("status", "fields", "refused"),
    [
        (Status.LIVE, {"title", "scheduled_at"}, "scheduled_at"),
        (Status.ENDED, {"title"}, "title"),
        (Status.ENDED, {"lineup", "description"}, "description"),
        (Status.SCHEDULED, {"title", "status"}, "status"),
        (Status.SCHEDULED, {"zeta", "alpha"}, "alpha"),
    ],
)
def test_non_editable_field_is_named(status: Status, fields: set[str], refused: str) -> None:
    with pytest.raises(AppError) as info:
        check_edit(status, fields)
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert info.value.field == refused
    assert info.value.message == f"{refused} cannot change once a show is {status.value}"


def test_only_a_scheduled_show_can_be_deleted() -> None:
    check_delete(Status.SCHEDULED)
    for status in (Status.LIVE, Status.ENDED):
        with pytest.raises(AppError) as info:
            check_delete(status)
        assert info.value.code is ErrorCode.INVALID_TRANSITION
        assert info.value.message == f"a {status.value} show cannot be deleted"


@pytest.mark.parametrize(
    "when",
    [
        NOW,
        NOW - SCHEDULE_SLACK,
        NOW - timedelta(minutes=4, seconds=59),
        NOW + timedelta(days=30),
        NOW + SCHEDULE_HORIZON,
    ],
)
def test_schedule_within_bounds(when: datetime) -> None:
    check_schedule(when, NOW)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (NOW - SCHEDULE_SLACK - timedelta(microseconds=1), "scheduled_at is in the past"),
        (NOW - timedelta(days=1), "scheduled_at is in the past"),
        (NOW + SCHEDULE_HORIZON + timedelta(microseconds=1), "more than a year away"),
        (NOW + timedelta(days=400), "more than a year away"),
    ],
)
def test_schedule_out_of_bounds(when: datetime, message: str) -> None:
    with pytest.raises(AppError) as info:
        check_schedule(when, NOW)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.status == 422
    assert info.value.field == "scheduled_at"
    assert message in info.value.message


def test_status_values_are_the_stored_strings() -> None:
    assert [s.value for s in Status] == ["scheduled", "live", "ended"]
    assert Status("live") is Status.LIVE
