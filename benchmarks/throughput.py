"""Throughput on the deployed topology: one scheduled poll of ``bookings`` new bookings under LocalExecutor (four
components, SQLite) and under Celery with two workers (PostgreSQL, Redis), started natively by sandbox/topology.py.

Wall time is the poll run's own (its start to its end, from ``/api/v2``), per booking, next to the ``airflow dags
test`` figure (one process, one task at a time). Where the time goes comes from the task instances: how long each
waited between queued and running (scheduling and executor latency), how long each ran (task start-up plus the
step), and how many calls reached the services.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from benchmarks.bookings import csv_bytes, upcoming_charters
from benchmarks.report import Row, Section
from sandbox.samples import today_in_san_diego
from sandbox.topology import DAG_ID, Topology

# docs/PERFORMANCE.md, "4. End to end": 20 bookings in one `airflow dags test`, serial (the 2.3 s).
DAGS_TEST_SECONDS_PER_BOOKING = 2.3


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def one_poll(executor: str, bookings: int) -> dict[str, Any]:
    """Start the topology, drop one export of ``bookings``, unpause, and time the scheduled run that took it."""
    with Topology(executor, poll_schedule="*/1 * * * *") as topology:  # type: ignore[arg-type]
        rows = upcoming_charters(bookings, today=today_in_san_diego(), first_number=9_000)
        topology.put_exports({f"boatsetter-throughput-{executor}.csv": csv_bytes(rows)})
        topology.stack.aws.reset_counts()
        topology.api.unpause(DAG_ID)
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            for run in topology.api.runs(DAG_ID):
                if run["state"] in ("queued", "running"):
                    continue
                instances = topology.api.task_instances(DAG_ID, run["dag_run_id"])
                mapped = [ti for ti in instances if ti["map_index"] >= 0]
                if mapped:
                    calendar = len(topology.stack.jada.entries())
                    if run["state"] != "success" or calendar != bookings:
                        raise RuntimeError(f"{executor}: run {run['state']}, {calendar} of {bookings} calendar entries")
                    return {
                        "wall": (_when(run["end_date"]) - _when(run["start_date"])).total_seconds(),
                        "waits": [
                            (_when(ti["start_date"]) - _when(ti["queued_when"])).total_seconds()
                            for ti in instances
                            if ti.get("queued_when") and ti.get("start_date")
                        ],
                        "durations": [float(ti["duration"]) for ti in instances if ti.get("duration")],
                        "instances": len(instances),
                        "hosts": sorted({ti["hostname"] for ti in mapped}),
                        "calls": len(topology.stack.jada.state()["requests"])
                        + len(topology.stack.scc.state()["requests"])
                        + sum(sum(ops.values()) for ops in topology.stack.aws.call_counts().values()),
                    }
            time.sleep(3)
        raise RuntimeError(f"{executor}: no poll finished within 30 minutes")


def run(*, bookings: int = 100) -> Section:
    section = Section("throughput", "6. Throughput on the deployed topology")
    results = {executor: one_poll(executor, bookings) for executor in ("local", "celery")}
    for executor, label in (("local", "LocalExecutor"), ("celery", "Celery, 2 workers")):
        found = results[executor]
        section.rows.append(
            Row(
                name=f"throughput: {bookings} bookings in one scheduled poll, {label}, per booking",
                measured=found["wall"] / bookings,
                baseline=DAGS_TEST_SECONDS_PER_BOOKING,
                unit="s",
                target="none (reported)",
                passed=None,
                baseline_name="airflow dags test, serial",
            )
        )
    section.details.append(
        f"One export of {bookings} new approved charters, dropped before the DAG was unpaused; the scheduled run "
        "that took it is timed from its start to its end as Airflow recorded them, and every booking was checked "
        "to have one calendar entry. Each topology was started fresh (start-up not counted)."
    )
    section.details.append("")
    for executor, found in results.items():
        waits, durations = found["waits"], found["durations"]
        section.details.append(
            f"- {executor}: {found['wall']:.0f} s for {found['instances']} task instances on "
            f"{', '.join(found['hosts'])}; queued to running median {statistics.median(waits):.1f} s "
            f"(max {max(waits):.1f} s: scheduling and executor latency); running median "
            f"{statistics.median(durations):.1f} s (task start-up plus the step; sum {sum(durations):.0f} s, so "
            f"{sum(durations) / found['wall']:.1f} tasks ran at once on average); {found['calls']} calls to the "
            "services."
        )
    return section
