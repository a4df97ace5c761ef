"""Benchmark 4: twenty new bookings through one ``airflow dags test`` poll, start to finish, against a sandbox stack.

Wall time per booking includes everything the operator waits for: interpreter start-up, parsing, the poll, six
tasks per booking (calendar entry, SCC event, notes scrub, guest page, invalidation and the financials) and the
summary. By hand the operator spends about 30 minutes a booking.

Orchestration overhead: the same bookings, the same outside calls, made by calling the steps directly
(``Poll.scheduled``, then per booking each ``BookingSteps`` method in the DAG's order, then ``summarize``) in a
plain Python process against a second stack of their own; Airflow's share is the difference. The two stacks
share moto (one per process), so the direct run keeps its own ledger table and exports prefix.
"""

from __future__ import annotations

import cProfile
import importlib
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.airflow_home import REPO, AirflowRun
from benchmarks.bookings import csv_bytes, upcoming_charters
from benchmarks.deployment import VARIABLE_ENV, Deployment, OutsideCalls, deployment
from benchmarks.report import (
    Row,
    Samples,
    Section,
    counted,
    interleaved,
    joined,
    profile_lines,
    profile_total,
)

TARGET_SECONDS_PER_BOOKING = 5.0
BY_HAND_SECONDS = 30 * 60


class NotPublished(RuntimeError):
    """A run left a booking without exactly one calendar entry and one SCC event: its time means nothing."""


def publish_batch(deployed: Deployment, batch: int, bookings: int) -> list[str]:
    """Drop an export with ``bookings`` new charters (numbered by ``batch``); returns their booking ids."""
    today = datetime.now(UTC).astimezone(deployed.config.tz).date()
    rows = upcoming_charters(bookings, today=today, first_number=10_000 * (batch + 1))
    deployed.put_export(f"boatsetter-bookings-batch-{batch}.csv", csv_bytes(rows))
    return [row["Booking ID"] for row in rows]


def check_published(deployed: Deployment, booking_ids: list[str]) -> None:
    """Every booking has exactly one calendar entry and one SCC event, as CONTRACT.md sections 5 and 6 demand."""
    wrong = []
    for booking_id in booking_ids:
        ref = f"boatsetter:{booking_id}"
        entries, events = len(deployed.stack.jada.entries(ref)), len(deployed.stack.scc.events(ref))
        if (entries, events) != (1, 1):
            wrong.append(f"{booking_id}: {entries} calendar entries, {events} SCC events")
    if wrong:
        raise NotPublished("; ".join(wrong[:5]))


def dags_test_batch(deployed: Deployment, bookings: int, batches: list[int], runs: list[AirflowRun],
                    calls: list[OutsideCalls]) -> float:  # fmt: skip
    """One ``airflow dags test`` poll publishing a fresh batch of bookings. Returns its wall time."""
    batch = len(batches)
    batches.append(batch)
    booking_ids = publish_batch(deployed, batch, bookings)
    deployed.reset_calls()
    runs.append(deployed.home.dags_test())
    calls.append(deployed.calls())
    check_published(deployed, booking_ids)
    return runs[-1].seconds


def direct_batch(deployed: Deployment, bookings: int, batches: list[int], calls: list[OutsideCalls], *,
                 profile_to: Path | None = None) -> float:  # fmt: skip
    """The same poll and steps called directly, no Airflow in between, in a process of their own (as the Airflow
    process is: the stand-ins in this one must not share its interpreter lock). Returns the calls' wall time."""
    batch = len(batches)
    batches.append(batch)
    booking_ids = publish_batch(deployed, batch, bookings)
    deployed.reset_calls()
    env = {**deployed.home.environ(), "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.end_to_end", "--direct", *([str(profile_to)] if profile_to else [])],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    calls.append(deployed.calls())
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise NotPublished(f"the direct run failed ({done.returncode}): {deployed.home.tail(done.stderr, 8)}")
    report = json.loads(lines[-1])
    check_published(deployed, booking_ids)
    if report["failed"]:
        raise NotPublished(f"{report['failed']} booking(s) failed in the direct run")
    return float(report["seconds"])


def direct_run(profile_to: Path | None = None) -> dict[str, Any]:
    """``--direct [PROFILE]``: one poll and every booking's steps in the DAG's order, then the summary, timed
    in-process (under cProfile, dumped to PROFILE, when given).

    Runs in a subprocess whose environment holds the connections and the Variable, like a task's.
    """
    from sandbox.bootstrap import put_plugins_on_path

    put_plugins_on_path()
    # Imported before the timer: the calls are measured, not Python loading modules.
    for hook in ("exports", "guest_portal", "jada_calendar", "ledger", "scc", "scc_events"):
        importlib.import_module(f"charter_pipeline.hooks.{hook}")
    from charter_pipeline.config import load_config
    from charter_pipeline.publishing.booking_steps import BookingSteps
    from charter_pipeline.publishing.poll import Poll
    from charter_pipeline.publishing.summary import summarize
    from charter_pipeline.task_runtime import Hooks

    config = load_config(os.environ.get(VARIABLE_ENV))
    profile = cProfile.Profile() if profile_to else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    intake = Poll(config, datetime.now(UTC), Hooks.from_config(config)).scheduled()
    for item in intake.work:
        steps = BookingSteps(config, item, Hooks.from_config(config))
        steps.financials()
        steps.calendar()
        steps.scc_event()
        steps.scrub()
        steps.guest_page()
        steps.invalidation()
    summary = summarize(config, intake.as_xcom()["intake"], intake.work, Hooks.from_config(config))
    if profile and profile_to:
        profile.disable()
        profile.dump_stats(profile_to)
    return {"seconds": time.perf_counter() - started, "bookings": len(intake.work),
            "failed": summary["counts"]["failed"]}  # fmt: skip


# What the steps' time is made of, by the library function each kind of work goes through.
PROFILE_PARTS = (
    ("creating AWS clients", "botocore/session.py(create_client)"),
    ("AWS API calls", "botocore/client.py(_make_api_call)"),
    ("JADA and SCC HTTP calls", "requests/sessions.py(request)"),
)


def direct_profile(stats: pstats.Stats, total: float) -> list[str]:
    """A sentence on the big parts (client creation, AWS calls, HTTP calls), then the pipeline's top functions."""
    parts = []
    for what, place in PROFILE_PARTS:
        seconds, calls = profile_total(stats, place)
        parts.append(f"{what} {seconds:.1f} s ({calls:,} calls, {seconds / total:.0%})")
    return [
        "Of that: " + "; ".join(parts) + ". The pipeline's functions by cumulative time:",
        *profile_lines(stats, total=total, limit=12, within="charter_pipeline/"),
    ]


def run(*, bookings: int = 20, repeats: int = 3) -> Section:
    """``repeats`` batches through ``airflow dags test``, interleaved with as many called directly."""
    section = Section("end_to_end", "4. End to end")
    runs: list[AirflowRun] = []
    dags_calls: list[OutsideCalls] = []
    direct_calls: list[OutsideCalls] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        with (
            deployment(root / "airflow", distribution=True) as airflow_side,
            deployment(
                root / "direct",
                distribution=True,
                ledger_table="charter-booking-ledger-direct",
                exports_uri="s3://jada-boatsetter-exports/direct/incoming/",
                quarantine_uri="s3://jada-boatsetter-exports/direct/quarantine/",
            ) as direct_side,
        ):
            dags_batches: list[int] = []
            direct_batches: list[int] = []
            airflow_times, direct_times = interleaved(
                repeats,
                partial(dags_test_batch, airflow_side, bookings, dags_batches, runs, dags_calls),
                partial(direct_batch, direct_side, bookings, direct_batches, direct_calls),
            )
            # One more direct batch under cProfile: where the calls' own time goes, Airflow aside.
            dump = root / "direct.prof"
            profiled = direct_batch(direct_side, bookings, direct_batches, [], profile_to=dump)
            profile = direct_profile(pstats.Stats(str(dump)), profiled)
    per_booking = Samples(tuple(seconds / bookings for seconds in airflow_times.values))
    direct_per_booking = Samples(tuple(seconds / bookings for seconds in direct_times.values))
    section.rows += [
        Row(
            name=f"end to end: {bookings} bookings in one dags test, per booking",
            measured=per_booking.median, baseline=direct_per_booking.median, unit="s",
            target=f"<= {TARGET_SECONDS_PER_BOOKING:g} s per booking",
            passed=per_booking.median <= TARGET_SECONDS_PER_BOOKING, baseline_name="steps called directly",
        ),
        Row(
            name="end to end: orchestration overhead (dags test vs direct)",
            measured=airflow_times.median, baseline=direct_times.median, unit="s",
            target="none (reported)", passed=None, baseline_name="steps called directly",
        ),
    ]  # fmt: skip
    section.details += describe(bookings, airflow_times, direct_times, runs, dags_calls, direct_calls)
    section.details += [
        "",
        joined(
            f"Where the direct calls' own time goes: one more batch of {bookings} under ",
            f"cProfile ({profiled:.1f} s with the profiler). ",
            profile[0],
        ),
        "",
        *profile[1:],
    ]
    return section


def describe(bookings: int, airflow_times: Samples, direct_times: Samples, runs: list[AirflowRun],
             dags_calls: list[OutsideCalls], direct_calls: list[OutsideCalls]) -> list[str]:  # fmt: skip
    per_booking = airflow_times.median / bookings
    same = dags_calls[-1].by_operation() == direct_calls[-1].by_operation()
    timeline = runs[-1].timeline()
    overhead = airflow_times.median - direct_times.median
    agreement = "the same calls" if same else "they differ: see below"
    lines = [
        joined(
            f"{counted(len(runs), 'batch', 'batches')} of {bookings} new approved charters each (a new export file ",
            "per batch), each published by one `airflow dags test charter_booking_pipeline`, interleaved with as many ",
            "batches whose steps were called directly in a plain Python process against a second stack. After every ",
            "run each booking was checked to have exactly one calendar entry and one SCC event.",
        ),
        "",
        joined(
            f"- `airflow dags test`: median {airflow_times.median:.1f} s for {bookings} bookings, ",
            f"{per_booking:.2f} s a booking (by hand: {BY_HAND_SECONDS // 60} minutes, ",
            f"{BY_HAND_SECONDS / per_booking:,.0f} times as long); ",
            f"runs (s): {airflow_times.shown(1)}",
        ),
        f"- CPU time of the Airflow process: median {Samples(tuple(r.cpu for r in runs)).median:.1f} s a poll",
        f"- steps called directly: median {direct_times.median:.1f} s; runs (s): {direct_times.shown(1)}",
        f"- orchestration overhead: {overhead:.1f} s a poll, {overhead / bookings:.2f} s a booking",
        f"- outside calls per batch: dags test {dags_calls[-1].total}, direct {direct_calls[-1].total} ({agreement})",
        "",
        f"Calls of one dags test batch: {dags_calls[-1].shown()}.",
    ]
    if not same:
        lines.append(f"Calls of one direct batch: {direct_calls[-1].shown()}.")
    slowest = ", ".join(f"`{task}` {count} x {seconds / count:.2f} s" for task, (count, seconds) in
                        list(timeline.by_task().items())[:6])  # fmt: skip
    lines += [
        "",
        f"Where the time of the last dags test went: {timeline.summary()}. Mean time per task instance: {slowest}.",
    ]
    if per_booking > TARGET_SECONDS_PER_BOOKING:
        group = [span for span in timeline.spans if span.map_index >= 0]
        per_group = sum(span.seconds for span in group) / bookings
        fixed = timeline.startup + timeline.shutdown + sum(s.seconds for s in timeline.spans if s.map_index < 0)
        lines += [
            "",
            joined(
                f"The target is missed. Each booking's group costs {per_group:.2f} s of task time ({len(group)} mapped",
                f" task instances in all, run one at a time by `dags test`), the poll's fixed part {fixed:.1f} s ",
                f"(start-up, `collect_bookings`, `run_summary`, shutdown: {fixed / bookings:.2f} s a booking), and ",
                f"{timeline.between_tasks:.1f} s went between tasks. The same calls made directly take ",
                f"{direct_times.median / bookings:.2f} s a booking.",
            ),
        ]
    return lines


if __name__ == "__main__" and sys.argv[1:2] == ["--direct"]:
    print(json.dumps(direct_run(Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
