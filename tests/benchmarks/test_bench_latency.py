"""The latency benchmark's arithmetic: percentiles, a drop's timeline from /api/v2's answers, the breakdown into
parts, and the rows with their target. Pure: no topology is started here (``python -m benchmarks --only latency``
does that)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.latency import (
    INVALIDATION_TASK,
    PAGE_TASK,
    PHASES,
    SCHEDULER,
    START_UP,
    TASKS,
    WATCHER,
    Drop,
    Publication,
    Spread,
    breakdown,
    by_part,
    parsed_at,
    percentile,
    phase_seconds,
    ran_beside,
    rows_and_details,
    timeline,
)

PUT = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)
# Seconds after the put of each mark, in the timeline's order; 9.0 s in all.
OFFSETS = {
    "put": 0.0,
    "event": 1.5,  # watcher 1.5
    "run_queued": 2.0,  # scheduler 0.5
    "run_started": 2.5,  # scheduler 0.5
    "collect_queued": 3.0,  # scheduler 0.5
    "collect_started": 3.5,  # start-up 0.5
    "collect_parsed": 4.0,  # start-up 0.5
    "collect_ended": 5.0,  # tasks 1.0
    "page_queued": 5.25,  # scheduler 0.25
    "page_started": 5.75,  # start-up 0.5
    "page_parsed": 6.25,  # start-up 0.5
    "page_ended": 7.0,  # tasks 0.75
    "invalidation_queued": 7.25,  # scheduler 0.25
    "invalidation_started": 7.75,  # start-up 0.5
    "invalidation_parsed": 8.25,  # start-up 0.5
    "created": 9.0,  # tasks 0.75
}


def marks(scale: float = 1.0) -> dict[str, datetime]:
    return {name: PUT + timedelta(seconds=seconds * scale) for name, seconds in OFFSETS.items()}


def publication(latency: float, run_type: str = "asset_triggered", run_id: str = "r1") -> Publication:
    found = Publication(Drop("BS-1", "latency-1.csv", PUT), run_id, run_type)
    found.marks = marks(latency / OFFSETS["created"])
    return found


def stamp(seconds: float) -> str:
    return (PUT + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_percentiles_interpolate_between_ranks_whatever_the_order() -> None:
    values = [7.0, 1.0, 10.0, 3.0, 2.0, 9.0, 4.0, 6.0, 5.0, 8.0]
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile([4.0], 95) == 4.0
    spread = Spread.of(values)
    assert (spread.count, spread.low, spread.high) == (10, 1.0, 10.0)
    assert spread.text() == "p50 5.5 s, p95 9.6 s, min 1.0 s, max 10.0 s"
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="not between 0 and 100"):
        percentile(values, 101)


def test_a_drops_phases_follow_each_other_and_add_up_to_its_latency() -> None:
    phases = phase_seconds(marks())
    assert [phase for phase, _ in phases] == list(PHASES)
    assert [phase.start for phase in PHASES[1:]] == [phase.end for phase in PHASES[:-1]]
    assert (PHASES[0].start, PHASES[-1].end) == ("put", "created")
    assert sum(seconds for _, seconds in phases) == pytest.approx(9.0)
    assert phases[0][1] == pytest.approx(1.5)
    incomplete = marks()
    del incomplete["event"]
    with pytest.raises(KeyError, match="event"):
        phase_seconds(incomplete)


def test_the_breakdown_takes_each_phases_median_and_max_and_sums_the_parts() -> None:
    figures = breakdown([marks(1.0), marks(2.0), marks(4.0)])
    assert figures[0].phase.part == WATCHER
    assert (figures[0].median, figures[0].high) == pytest.approx((3.0, 6.0))
    parts = by_part([marks(1.0), marks(2.0), marks(4.0)])
    assert parts == pytest.approx({WATCHER: 3.0, SCHEDULER: 4.0, START_UP: 6.0, TASKS: 5.0})
    assert sum(parts.values()) == pytest.approx(18.0)  # the median drop's latency
    with pytest.raises(ValueError, match="no timelines"):
        breakdown([])


def test_a_timeline_is_read_from_the_run_its_task_instances_and_the_asset_event_naming_the_export() -> None:
    drop = Drop("BS-7000", "latency-7000.csv", PUT)
    run: dict[str, Any] = {
        "dag_run_id": "asset_triggered__1",
        "run_type": "asset_triggered",
        "queued_at": stamp(2),
        "start_date": stamp(2.5),
        "run_after": stamp(1.9),
    }
    instances: dict[tuple[str, int], dict[str, Any]] = {
        ("collect_bookings", -1): {"queued_when": stamp(3), "start_date": stamp(3.5), "end_date": stamp(5)},
        (PAGE_TASK, 0): {"queued_when": stamp(5.25), "start_date": stamp(5.75), "end_date": stamp(7)},
        (INVALIDATION_TASK, 0): {"queued_when": stamp(7.25), "start_date": stamp(7.75), "end_date": stamp(9.5)},
        (PAGE_TASK, 1): {"queued_when": stamp(99), "start_date": stamp(99), "end_date": stamp(99)},
    }
    this_run = [{"run_id": "asset_triggered__1", "triggering": True}]

    def event(at: float, key: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"timestamp": stamp(at), "extra": {"payload": f"incoming%2F{key}"}, "created_dagruns": runs}

    # S3's key is URL-encoded in the notification; an event naming another export, or not starting this run, is not
    # this drop's.
    events = [
        event(0.9, "latency-6999.csv", []),
        event(1.0, "latency-7000.csv", []),
        event(1.5, "latency-7000.csv", this_run),
        event(1.6, "latency-7001.csv", this_run),
    ]

    found = timeline(drop, run, instances, 0, events)
    found["created"] = PUT + timedelta(seconds=9)
    assert found.pop("invalidation_ended") == PUT + timedelta(seconds=9.5)
    # The "parsed" marks come from the task logs (parsed_at), not from the task instances.
    assert found == {name: at for name, at in marks().items() if not name.endswith("_parsed")}

    scheduled = {**run, "run_type": "scheduled"}
    from_the_cron = timeline(drop, scheduled, instances, 0, events[:2])
    assert "event" not in from_the_cron
    assert from_the_cron["collect_started"] == PUT + timedelta(seconds=3.5)


def test_the_watcher_p50_is_held_to_ten_seconds_against_the_cron_alone() -> None:
    watched = [publication(s) for s in (8.0, 9.0, 9.5, 11.0)]
    polled = [publication(s, "scheduled", f"s{n}") for n, s in enumerate((30.0, 60.0, 90.0, 120.0))]
    rows, details = rows_and_details(watched, polled, spacing=12, loads=["Load average: 1.00"])
    p50, p95 = rows
    assert p50.measured == pytest.approx(9.25)
    assert p50.baseline == pytest.approx(75.0)
    assert p50.verdict == "PASS"
    assert p95.verdict == "info"
    assert p95.measured == pytest.approx(percentile([8.0, 9.0, 9.5, 11.0], 95))
    text = "\n".join(details)
    assert "| watcher (`CHARTER_EXPORTS_QUEUE_URL`, cron once a year) | 4 | 9.2 s |" in text
    assert "1 run (4 drops by asset_triggered)" in text
    assert "4 runs (4 drops by scheduled)" in text
    # Each made-up drop's poll started 1/3 of the way to its invalidation (3.5 s of 9 s scaled).
    assert "waiting for the poll that found it (its put to that run's collect_bookings start): median 29.2 s" in text
    assert "Load average: 1.00" in text
    assert f"| {PHASES[0].what} | watcher |" in text

    slow = [publication(s) for s in (10.5, 12.0)]
    [miss, _] = rows_and_details(slow, [], spacing=12)[0]
    assert (miss.verdict, miss.baseline, miss.ratio) == ("MISS", 0.0, None)


def test_tasks_beside_are_those_running_at_some_moment_of_the_task() -> None:
    page: dict[str, Any] = {"start_date": stamp(5), "end_date": stamp(7)}
    instances: list[dict[str, Any]] = [
        page,
        {"start_date": stamp(4), "end_date": stamp(5.5)},  # ends while the page runs
        {"start_date": stamp(6), "end_date": stamp(9)},  # starts while it runs
        {"start_date": stamp(1), "end_date": stamp(5)},  # ended as it started
        {"start_date": stamp(7), "end_date": stamp(8)},  # started as it ended
        {"start_date": None, "end_date": None},  # never ran
    ]
    assert ran_beside(instances, page) == 2
    assert ran_beside(instances, {"start_date": None}) == 0


def test_the_dag_file_parse_is_read_from_the_task_log() -> None:
    task_log = "\n".join(
        [
            '{"timestamp": "2026-11-30T06:00:03.600000Z", "event": "DAG bundles loaded: dags-folder"}',
            "not json at all",
            '{"timestamp": "2026-11-30T06:00:04Z", "event": "Worker startup parse complete", "dag_file_parse_ms": 412}',
            '{"timestamp": "2026-11-30T06:00:04.5Z", "event": "Uploaded guest page s3://guest/g/abc/index.html"}',
        ]
    )
    assert parsed_at(task_log) == (PUT + timedelta(seconds=4), 412)
    assert parsed_at("\n".join(task_log.splitlines()[:2])) is None
    assert parsed_at("Worker startup parse complete, but not as JSON") is None
