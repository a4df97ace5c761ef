"""Throughput on the deployed topology: one scheduled poll of ``bookings`` new bookings under LocalExecutor (four
components, SQLite) and under Celery with two workers (PostgreSQL, Redis), started natively by sandbox/topology.py.

Wall time is the poll run's own (its start to its end, from ``/api/v2``), per booking, next to the ``airflow dags
test`` figure (one process, one task at a time). Where the time goes comes from Airflow's own timestamps of every
task instance, read through ``/api/v2``:

- ready to queued (``scheduled_when`` -> ``queued_when``): waiting for a free slot, under ``parallelism`` and the
  DAG's per-task caps (``max_active_tis_per_dag``), plus the scheduler loop that hands it to the executor;
- queued to running (``queued_when`` -> ``start_date``): the executor (and under Celery the broker and a free worker
  slot) up to the task's process telling the API server it started;
- running (``start_date`` -> ``end_date``): task start-up in that process (parsing the DAG file, imports, the
  Execution API round trips) plus the step itself with its outside calls.

Besides, the CPU the machine spent during the run (``/proc/stat``: the machine is shared, so this counts every user),
and the calls that reached the services, per booking.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bookings import csv_bytes, upcoming_charters
from benchmarks.deployment import OutsideCalls, outside_calls
from benchmarks.report import Row, Section
from sandbox.samples import today_in_san_diego
from sandbox.topology import DAG_ID, Topology

# docs/PERFORMANCE.md, "4. End to end": 20 bookings in one `airflow dags test`, serial (the 2.3 s).
DAGS_TEST_SECONDS_PER_BOOKING = 2.3
# docs/PERFORMANCE.md, "4. End to end": the six steps of one booking called directly in one process, 18.6 s for 20.
DIRECT_SECONDS_PER_BOOKING = 0.93
# The poll fires every minute; the run that takes the export is timed from its own start, so this only bounds
# how long the benchmark waits for it.
POLL_SCHEDULE = "*/1 * * * *"
GIVE_UP_AFTER = 1800
# Task logs read per task (spread over the bookings) to split a task's running time at the task runner's milestones.
LOGS_PER_TASK = 10
EXECUTORS = (("local", "LocalExecutor"), ("celery", "Celery, 2 workers"))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds(start: str | None, end: str | None) -> float | None:
    return (_when(end) - _when(start)).total_seconds() if start and end else None


def p95(values: Sequence[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, in clock ticks (``/proc/stat``'s first line)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True)
class Phases:
    """One task instance's three intervals (seconds), as Airflow recorded them."""

    task: str
    ready_to_queued: float
    queued_to_running: float
    running: float


def phases(instances: Iterable[dict[str, Any]]) -> list[Phases]:
    """Every task instance that ran once, start to end, with each of its timestamps recorded."""
    found = []
    for ti in instances:
        ready = _seconds(ti.get("scheduled_when"), ti.get("queued_when"))
        queued = _seconds(ti.get("queued_when"), ti.get("start_date"))
        running = _seconds(ti.get("start_date"), ti.get("end_date"))
        if ready is None or queued is None or running is None or ti.get("try_number") != 1:
            continue
        found.append(Phases(str(ti["task_id"]), ready, queued, running))
    return found


@dataclass(frozen=True)
class InsideTask:
    """Where one task instance's running time went, from its own log's timestamps (seconds)."""

    task: str
    handover: float  # from the first line to parsing: start-up details (after the Execution API's run), plugins
    parse: float  # the DAG file parsed in the task's process
    step: float  # the step itself, its outside calls and its XCom push, to the log's last line
    unlogged: float  # the rest of ``running``: before the first log line and after the last (the final state)


def inside_task(task: str, running: float, log_text: str) -> InsideTask | None:
    """Cut one task log (the JSON lines ``/api/v2`` serves) at the task runner's own milestones."""
    import json

    stamps: list[tuple[datetime, str]] = []
    for line in log_text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("timestamp"):
            stamps.append((_when(str(event["timestamp"])), str(event.get("event", ""))))
    loaded = next((at for at, text in stamps if text.startswith("DAG bundles loaded")), None)
    parsed = next((at for at, text in stamps if text == "Worker startup parse complete"), None)
    if not stamps or loaded is None or parsed is None:
        return None
    first, last = stamps[0][0], stamps[-1][0]
    logged = (last - first).total_seconds()
    return InsideTask(
        task=task,
        handover=(loaded - first).total_seconds(),
        parse=(parsed - loaded).total_seconds(),
        step=(last - parsed).total_seconds(),
        unlogged=max(0.0, running - logged),
    )


def sampled_logs(topology: Topology, run_id: str, instances: list[dict[str, Any]], per_task: int) -> list[InsideTask]:
    """``inside_task`` for up to ``per_task`` task instances of each task, spread over the map indexes."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ti in instances:
        if ti.get("try_number") == 1 and ti.get("state") == "success" and ti.get("duration") is not None:
            by_task[str(ti["task_id"])].append(ti)
    found = []
    for task, tis in by_task.items():
        tis.sort(key=lambda ti: int(ti["map_index"]))
        step = max(1, len(tis) // per_task)
        for ti in tis[::step][:per_task]:
            text = topology.api.task_log(DAG_ID, run_id, task, try_number=1, map_index=int(ti["map_index"]))
            cut = inside_task(task, float(ti["duration"]), text)
            if cut is not None:
                found.append(cut)
    return found


def most_at_once(instances: Iterable[dict[str, Any]]) -> int:
    """The most task instances that were running at the same moment."""
    events = []
    for ti in instances:
        if ti.get("start_date") and ti.get("end_date"):
            events += [(_when(ti["start_date"]), 1), (_when(ti["end_date"]), -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda event: (event[0], event[1])):
        running += step
        peak = max(peak, running)
    return peak


def one_poll(executor: str, bookings: int) -> dict[str, Any]:
    """Start the topology, drop one export of ``bookings``, unpause, and time the scheduled run that took it."""
    with Topology(executor, poll_schedule=POLL_SCHEDULE) as topology:  # type: ignore[arg-type]
        rows = upcoming_charters(bookings, today=today_in_san_diego(), first_number=9_000)
        topology.put_exports({f"boatsetter-throughput-{executor}.csv": csv_bytes(rows)})
        topology.stack.aws.reset_counts()
        topology.stack.jada.requests.clear()
        topology.stack.scc.requests.clear()
        cpu_before, unpaused = _busy_jiffies(), datetime.now(UTC)
        topology.api.unpause(DAG_ID)
        deadline = time.monotonic() + GIVE_UP_AFTER
        while time.monotonic() < deadline:
            try:
                runs = topology.api.runs(DAG_ID)
            except RuntimeError as exc:  # an HTTP 5xx: SQLite locked under LocalExecutor's load; ask again
                print(f"{executor}: {str(exc)[:200]}; asking again", flush=True)
                time.sleep(3)
                continue
            for run in runs:
                if run["state"] in ("queued", "running"):
                    continue
                instances = topology.api.task_instances(DAG_ID, run["dag_run_id"])
                if not any(ti["map_index"] >= 0 for ti in instances):
                    continue
                cpu_after = _busy_jiffies()
                expected = {f"boatsetter:{row['Booking ID']}" for row in rows}
                entries = sorted(str(entry.get("external_id")) for entry in topology.stack.jada.entries())
                events = sorted(str(event.get("external_ref")) for event in topology.stack.scc.events())
                invalidations = topology.stack.aws.count("cloudfront", "CreateInvalidation")
                if run["state"] != "success" or entries != sorted(expected) or events != sorted(expected):
                    raise RuntimeError(
                        f"{executor}: run {run['state']}, {len(entries)} calendar entries and {len(events)} SCC "
                        f"events for {bookings} bookings"
                    )
                if invalidations != bookings:
                    raise RuntimeError(f"{executor}: {invalidations} invalidations for {bookings} bookings")
                return {
                    "run": run,
                    "instances": instances,
                    "inside": sampled_logs(topology, run["dag_run_id"], instances, LOGS_PER_TASK),
                    "unpaused": unpaused,
                    "cpu": (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1]),
                    "calls": outside_calls(topology.stack),
                    "slots": _slots(topology),
                }
            time.sleep(3)
        raise RuntimeError(f"{executor}: no poll of {bookings} bookings finished within {GIVE_UP_AFTER // 60} minutes")


def _slots(topology: Topology) -> int:
    """How many task instances the deployment runs at once: ``parallelism``, and under Celery at most the workers'
    concurrency."""
    parallelism = int(topology.env.get("AIRFLOW__CORE__PARALLELISM", "32"))
    if topology.executor != "celery":
        return parallelism
    return min(parallelism, topology.workers * int(topology.env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "16")))


def run(*, bookings: int = 100) -> Section:
    return section_of({executor: one_poll(executor, bookings) for executor, _ in EXECUTORS}, bookings)


def section_of(results: dict[str, dict[str, Any]], bookings: int) -> Section:
    """The rows and the text of the page's section from each executor's poll (``one_poll``)."""
    section = Section("throughput", "6. Throughput on the deployed topology")
    for executor, label in EXECUTORS:
        run_ = results[executor]["run"]
        wall = _seconds(run_["start_date"], run_["end_date"]) or 0.0
        section.rows.append(
            Row(
                name=f"throughput: {bookings} bookings in one scheduled poll, {label}, per booking",
                measured=wall / bookings,
                baseline=DAGS_TEST_SECONDS_PER_BOOKING,
                unit="s",
                target="none (reported)",
                passed=None,
                baseline_name="airflow dags test, serial",
            )
        )
    section.details += [
        (
            f"One export of {bookings} new approved charters, dropped before the DAG was unpaused; the scheduled run "
            "that took it is timed from its start to its end as Airflow recorded them (`/api/v2`). Every booking was "
            "checked to have exactly one calendar entry, one SCC event and one invalidation. Each topology was started "
            "fresh (its start-up is not counted) with compose's settings (`x-airflow-common`), as `make run-celery` "
            "runs them. The baseline is section 4's `airflow dags test` figure (one process, one task at a time), "
            f"{DAGS_TEST_SECONDS_PER_BOOKING} s a booking; it was not measured again in this run."
        ),
        "",
        *_summary_table(results, bookings),
        "",
        *_task_table(results),
        "",
        *_inside_table(results),
        "",
        *_reading(results, bookings),
    ]
    return section


def _summary_table(results: dict[str, dict[str, Any]], bookings: int) -> list[str]:
    shown = {executor: figures(results[executor], bookings) for executor, _ in EXECUTORS}
    lines = [
        "| | " + " | ".join(label for _, label in EXECUTORS) + " |",
        "|---|" + "---|" * len(EXECUTORS),
    ]
    for name in shown[EXECUTORS[0][0]]:
        lines.append(f"| {name} | " + " | ".join(shown[executor][name] for executor, _ in EXECUTORS) + " |")
    return lines


def figures(found: dict[str, Any], bookings: int) -> dict[str, str]:
    """One poll's figures for the summary table, by line name."""
    run_, instances, unpaused = found["run"], found["instances"], found["unpaused"]
    wall = _seconds(run_["start_date"], run_["end_date"]) or 0.0
    mapped = [ti for ti in instances if ti["map_index"] >= 0]
    by_id = {ti["task_id"]: ti for ti in instances if ti["map_index"] < 0}
    collect, summary = by_id["collect_bookings"], by_id["run_summary"]
    done = phases(instances)
    ti_seconds = sum(p.ready_to_queued + p.queued_to_running + p.running for p in done) or 1.0
    running = [p.running for p in done]

    def spread(part: str) -> str:
        values = [getattr(p, part) for p in done]
        return f"{statistics.median(values):.1f} s / {p95(values):.1f} s"

    def share(part: str) -> str:
        return f"{sum(getattr(p, part) for p in done) / ti_seconds:.0%}"

    first_start = min(ti["start_date"] for ti in mapped)
    last_end = max(ti["end_date"] for ti in mapped)
    return {
        "run wall time (start to end)": f"{wall:.0f} s",
        "per booking": f"**{wall / bookings:.2f} s**",
        "unpaused to run start (the cron tick)": f"{(_when(run_['start_date']) - unpaused).total_seconds():.0f} s",
        "task instances (6 a booking, 2 of the run's own)": f"{len(instances)}",
        "`collect_bookings`, queued to end": f"{_seconds(collect['queued_when'], collect['end_date']) or 0:.1f} s",
        "first mapped task start to last end": f"{_seconds(first_start, last_end) or 0:.0f} s",
        "last mapped task end to `run_summary` end": f"{_seconds(last_end, summary['end_date']) or 0:.1f} s",
        "ready to queued, median / p95 (a slot, a cap)": spread("ready_to_queued"),
        "queued to running, median / p95 (executor, process start)": spread("queued_to_running"),
        "running, median / p95 (task start-up plus step)": spread("running"),
        "share of task-instance time: ready to queued": share("ready_to_queued"),
        "share of task-instance time: queued to running": share("queued_to_running"),
        "share of task-instance time: running": share("running"),
        "slots (parallelism; Celery: workers x concurrency)": f"{found['slots']}",
        "running at once: average / most": f"{sum(running) / wall:.1f} / {most_at_once(instances)}",
        "running time per booking (sum over its 6 tasks)": f"{sum(p.running for p in phases(mapped)) / bookings:.1f} s",
        "machine CPU busy during the run (2 cores, every user)": f"{found['cpu']:.0%}",
        "worker hostnames": ", ".join(sorted({str(ti["hostname"]) for ti in mapped})),
        "calls to the services, per booking": f"{found['calls'].total / bookings:.1f}",
    }


def _task_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Per task, the median of each interval: which step queues behind a cap, which runs long."""
    lines = [
        "Median seconds per task instance (ready to queued / queued to running / running):",
        "",
        "| task | instances | cap at once | " + " | ".join(label for _, label in EXECUTORS) + " |",
        "|---|---|---|" + "---|" * len(EXECUTORS),
    ]
    caps = caps_at_once()
    by_task: dict[str, dict[str, list[Phases]]] = defaultdict(lambda: defaultdict(list))
    for executor, _ in EXECUTORS:
        for found in phases(results[executor]["instances"]):
            by_task[found.task][executor].append(found)
    for task, per_executor in by_task.items():
        cells = []
        for executor, _ in EXECUTORS:
            done = per_executor.get(executor, [])
            cells.append(
                " / ".join(f"{statistics.median(getattr(p, part) for p in done):.1f}"
                           for part in ("ready_to_queued", "queued_to_running", "running")) if done else "-"
            )  # fmt: skip
        count = max(len(done) for done in per_executor.values())
        lines.append(f"| `{task}` | {count} | {caps.get(task, '-')} | " + " | ".join(cells) + " |")
    return lines


def _inside_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Inside ``running``: the hand-over, the DAG parse, the step, and what no log line covers."""
    parts = ("handover", "parse", "step", "unlogged")
    lines = [
        (
            f"Inside a running task, from the task logs of up to {LOGS_PER_TASK} task instances per task read through "
            "`/api/v2` (median seconds): start-up before the parse (waiting for the start-up details the supervisor "
            "sends once the Execution API marked the task running, then loading Airflow's plugins) / parsing the DAG "
            "file / the step with its outside calls and XCom "
            "push / the rest of `running` outside the log (mostly reporting the final state):"
        ),
        "",
        "| task | " + " | ".join(label for _, label in EXECUTORS) + " |",
        "|---|" + "---|" * len(EXECUTORS),
    ]
    tasks = sorted({cut.task for executor, _ in EXECUTORS for cut in results[executor].get("inside", [])})
    sampled = ", ".join(str(len(results[executor].get("inside", []))) for executor, _ in EXECUTORS)
    for task in [*tasks, ""]:
        cells = []
        for executor, _ in EXECUTORS:
            cuts = [cut for cut in results[executor].get("inside", []) if task in (cut.task, "")]
            medians = [statistics.median(getattr(cut, part) for cut in cuts) for part in parts] if cuts else []
            cells.append(" / ".join(f"{value:.1f}" for value in medians) or "-")
        name = f"`{task}`" if task else f"all sampled ({sampled})"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def caps_at_once() -> dict[str, int]:
    """``max_active_tis_per_dag`` of each task, read from the DAG file's source (the benchmark never imports it)."""
    import re

    source = (Path(__file__).resolve().parents[1] / "dags" / "charter_booking_pipeline.py").read_text()
    caps = {}
    for cap, name in re.findall(r"max_active_tis_per_dag=(\d+)\)\ndef (\w+)\(", source):
        caps[f"charter.{name}"] = int(cap)
    return caps


def _reading(results: dict[str, dict[str, Any]], bookings: int) -> list[str]:
    """The sentences under the tables: the figures read out, nothing concluded that they do not show."""
    lines = []
    for executor, label in EXECUTORS:
        found = results[executor]
        calls: OutsideCalls = found["calls"]
        done = phases(found["instances"])
        total = sum(p.ready_to_queued + p.queued_to_running + p.running for p in done) or 1.0
        waiting = sum(p.ready_to_queued for p in done) / total
        cuts: list[InsideTask] = found.get("inside", [])
        start_up = statistics.median(c.handover + c.parse for c in cuts) if cuts else 0.0
        step = statistics.median(c.step for c in cuts) if cuts else 0.0
        lines.append(
            f"- {label}: {waiting:.0%} of all task-instance time was spent ready but waiting for a slot or a cap "
            f"({found['slots']} slots, and the per-task caps); once running, a sampled task's start-up "
            f"(hand-over and DAG parse) took a median {start_up:.1f} s and its step {step:.1f} s, with the machine's "
            f"2 cores {found['cpu']:.0%} busy, so every running task shared the CPU with the others (the steps of "
            f"one booking take about {DIRECT_SECONDS_PER_BOOKING} s called directly, one at a time: section 4). "
            f"Calls of the poll: {calls.shown()}."
        )
    return lines
