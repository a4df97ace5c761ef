"""The plumbing every DAG's tasks share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pendulum

from charter_pipeline.task_runtime import run_now


def test_run_now_is_the_logical_date_in_utc_when_the_run_has_one() -> None:
    logical = pendulum.datetime(2026, 12, 20, 0, 0, tz="America/Los_Angeles")
    now = run_now({"logical_date": logical})
    assert now == datetime(2026, 12, 20, 8, 0, tzinfo=UTC)
    assert now.utcoffset() == timedelta(0)


def test_run_now_is_the_wall_clock_for_a_run_without_a_logical_date() -> None:
    before = datetime.now(UTC)
    now = run_now({"logical_date": None})
    assert before <= now <= datetime.now(UTC)
    assert run_now({}).tzinfo is not None


def test_run_now_accepts_a_plain_aware_datetime() -> None:
    logical = datetime(2026, 12, 20, 1, 0, tzinfo=timezone(timedelta(hours=-7)))
    assert run_now({"logical_date": logical}) == datetime(2026, 12, 20, 8, 0, tzinfo=UTC)
