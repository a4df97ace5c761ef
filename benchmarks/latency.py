"""Benchmark 7: seconds from an export landing on S3 to its booking's CloudFront invalidation being created, on the
LocalExecutor topology (sandbox/topology.py: api-server, scheduler, dag-processor and triggerer, SQLite), in two
modes, each on a topology started for it:

- **the watcher**: ``CHARTER_EXPORTS_QUEUE_URL`` set, the queue and the exports bucket's notification bootstrapped
  in moto as ``make bootstrap`` does, and a cron that cannot fire during the measurement (once a year), so each
  drop is published by the run its own S3 notification started; each publishing run's type is read back and
  reported, never assumed. One export at a time, each dropped when nothing is running or waiting: the latency of a
  booking that arrives alone.
- **the cron alone**: ``*/2 * * * *``, no queue. Exports are dropped every ``spacing`` seconds, so they land at
  every point of the cron period as real bookings would; several may share a run.

Start: this process's wall clock just before ``put_object`` (S3's LastModified has whole seconds only). End: the
invalidation's ``CreateTime`` as moto records it (microseconds, the same machine's clock), found through the
invalidation id the booking's ``charter.cloudfront_invalidation`` task returned in the run whose
``collect_bookings`` handed the booking to its group.

Where the seconds go (watcher mode) comes from /api/v2 on the same clock: the asset event's ``timestamp``
(assets/events), the run's ``queued_at`` and ``start_date`` (dagRuns), and ``queued_when``, ``start_date`` and
``end_date`` of the three task instances on the booking's path to its invalidation: ``collect_bookings``, the
booking's ``charter.guest_page`` and ``charter.cloudfront_invalidation`` (taskInstances).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from benchmarks.bookings import csv_bytes, upcoming_charters
from benchmarks.report import Row, Section, counted, joined, load_average
from sandbox.samples import today_in_san_diego
from sandbox.topology import DAG_ID, Topology

# Issue 16: a booking published within 10 s of its export (the median), with the watcher, on this 2-core machine.
TARGET_P50_SECONDS = 10.0
CRON = "*/2 * * * *"
CRON_PERIOD_SECONDS = 120
# The watcher's measurement must not share its runs with the cron: once a year, never during a benchmark.
QUIET_CRON = "0 0 1 1 *"
COLLECT = "collect_bookings"
PAGE_TASK = "charter.guest_page"
INVALIDATION_TASK = "charter.cloudfront_invalidation"
# Patience: one export through the watcher, and the last cron drop (a full period plus its run).
PUBLISH_WITHIN = 180
CRON_PUBLISH_WITHIN = CRON_PERIOD_SECONDS + 300


@dataclass(frozen=True)
class Phase:
    """One stretch of a drop's timeline: from one mark to the next, and which part of the system it belongs to."""

    start: str
    end: str
    what: str
    part: str


WATCHER, SCHEDULER, START_UP, TASKS = "watcher", "scheduler", "task start-up", "tasks and outside calls"
PARTS = (WATCHER, SCHEDULER, START_UP, TASKS)
# The watcher-mode timeline in order; consecutive, so the phases of a drop add up to its latency.
PHASES = (
    Phase("put", "event", "export put -> asset event (S3 notification, SQS receive, triggerer)", WATCHER),
    Phase("event", "run_queued", "asset event -> run created (queued)", SCHEDULER),
    Phase("run_queued", "run_started", "run queued -> run started", SCHEDULER),
    Phase("run_started", "collect_queued", "run started -> collect_bookings queued", SCHEDULER),
    Phase("collect_queued", "collect_started", "collect_bookings queued -> started", START_UP),
    Phase("collect_started", "collect_parsed", "collect_bookings started -> DAG file parsed", START_UP),
    Phase("collect_parsed", "collect_ended", "collect_bookings: the poll (S3, DynamoDB)", TASKS),
    Phase("collect_ended", "page_queued", "collect_bookings ended -> guest_page queued (group expanded)", SCHEDULER),
    Phase("page_queued", "page_started", "guest_page queued -> started", START_UP),
    Phase("page_started", "page_parsed", "guest_page started -> DAG file parsed", START_UP),
    Phase("page_parsed", "page_ended", "guest_page: render, ledger, S3 upload", TASKS),
    Phase("page_ended", "invalidation_queued", "guest_page ended -> cloudfront_invalidation queued", SCHEDULER),
    Phase("invalidation_queued", "invalidation_started", "cloudfront_invalidation queued -> started", START_UP),
    Phase(
        "invalidation_started", "invalidation_parsed", "cloudfront_invalidation started -> DAG file parsed", START_UP
    ),
    Phase("invalidation_parsed", "created", "cloudfront_invalidation: ledger, CloudFront call", TASKS),
)
# What the task runner logs once the task process has parsed the DAG file (Airflow 3.3), with dag_file_parse_ms.
PARSED_EVENT = "Worker startup parse complete"
PATH_TASKS = (("collect", COLLECT, False), ("page", PAGE_TASK, True), ("invalidation", INVALIDATION_TASK, True))


# --- the numbers (pure) ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, linear between the closest ranks (numpy's default): p50 is the median, p0 the
    minimum, p100 the maximum; with 10 values p95 lies between the two largest."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(frozen=True)
class Spread:
    """p50, p95, min and max of one mode's latencies (seconds)."""

    count: int
    p50: float
    p95: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(len(values), percentile(values, 50), percentile(values, 95), min(values), max(values))

    def text(self) -> str:
        return f"p50 {self.p50:.1f} s, p95 {self.p95:.1f} s, min {self.low:.1f} s, max {self.high:.1f} s"


def phase_seconds(marks: Mapping[str, datetime]) -> list[tuple[Phase, float]]:
    """Each phase of one drop's timeline and its seconds; raises KeyError naming a missing mark."""
    return [(phase, (marks[phase.end] - marks[phase.start]).total_seconds()) for phase in PHASES]


@dataclass(frozen=True)
class PhaseFigures:
    phase: Phase
    median: float
    high: float


def breakdown(timelines: Sequence[Mapping[str, datetime]]) -> list[PhaseFigures]:
    """Median and max seconds of each phase over the drops' timelines, in the timeline's order."""
    if not timelines:
        raise ValueError("no timelines")
    per_drop = [phase_seconds(marks) for marks in timelines]
    return [
        PhaseFigures(phase, statistics.median(d[i][1] for d in per_drop), max(d[i][1] for d in per_drop))
        for i, phase in enumerate(PHASES)
    ]


def by_part(timelines: Sequence[Mapping[str, datetime]]) -> dict[str, float]:
    """Median over the drops of each part's seconds (a drop's part is the sum of its phases of that part)."""
    if not timelines:
        raise ValueError("no timelines")
    sums: dict[str, list[float]] = {part: [] for part in PARTS}
    for marks in timelines:
        totals: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        for phase, seconds in phase_seconds(marks):
            totals[phase.part] += seconds
        for part in PARTS:
            sums[part].append(totals[part])
    return {part: statistics.median(values) for part, values in sums.items()}


def parsed_at(task_log: str) -> tuple[datetime, int] | None:
    """When the task process had parsed the DAG file, and how many ms the parse itself took (Airflow's own
    ``dag_file_parse_ms``), from a task log as /api/v2 gives it (one JSON object a line); None if not logged."""
    for line in task_log.splitlines():
        if PARSED_EVENT not in line:
            continue
        try:
            entry = json.loads(line)
            return _when(entry["timestamp"]), int(entry.get("dag_file_parse_ms", 0))
        except (ValueError, KeyError, TypeError):
            return None
    return None


# --- measuring ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drop:
    booking: str
    file_name: str
    put_at: datetime


@dataclass
class Publication:
    """A drop, the run that published it and its timeline (``put`` ... ``created``; see PHASES)."""

    drop: Drop
    run_id: str
    run_type: str
    marks: dict[str, datetime] = field(default_factory=dict)
    # Other tasks of the run that ran at some moment while the booking's guest_page ran (they share the cores).
    beside_page: int = 0
    # Airflow's dag_file_parse_ms of each task on the path whose log said it.
    parse_ms: list[int] = field(default_factory=list)

    @property
    def latency(self) -> float:
        return (self.marks["created"] - self.drop.put_at).total_seconds()


def _when(stamp: Any) -> datetime:
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


class Bench:
    """One started topology, what the benchmark drops into it and what it reads back."""

    def __init__(self, topology: Topology, *, first_number: int) -> None:
        self.top = topology
        self.s3 = topology.stack.boto3_client("s3")
        self.cloudfront = topology.stack.boto3_client("cloudfront")
        self.bucket, _, self.prefix = topology.config.exports_uri.removeprefix("s3://").partition("/")
        self.number = first_number
        self.drops: list[Drop] = []

    def drop(self) -> Drop:
        """One export of one new approved charter; the clock is read just before the put."""
        [row] = upcoming_charters(1, today=today_in_san_diego(), first_number=self.number)
        name = f"latency-{self.number}.csv"
        self.number += 1
        body = csv_bytes([row])
        put_at = datetime.now(UTC)
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        self.drops.append(Drop(row["Booking ID"], name, put_at))
        return self.drops[-1]

    def invalidations(self) -> int:
        return self.top.stack.aws.count("cloudfront", "CreateInvalidation")

    def settled(self, *, watcher: bool) -> bool:
        """No run queued or running (and, with the watcher, no asset event waiting for a run)."""
        if any(run["state"] in ("queued", "running") for run in self.top.api.runs(DAG_ID)):
            return False
        return not watcher or not self.top.api.call("GET", f"dags/{DAG_ID}/assets/queuedEvents")["total_entries"]

    def wait(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        self.top.wait(what, done, timeout)

    def xcom(self, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
        answer = self.top.api.request("GET", path, params={"map_index": map_index})
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return answer.json()["value"]

    def asset_events(self) -> list[dict[str, Any]]:
        found = self.top.api.call("GET", "assets/events", params={"limit": 1000, "order_by": "timestamp"})
        return list(found["asset_events"])

    def publications(self) -> list[Publication]:
        """Each drop's publishing run and timeline; raises when a drop has none (its time would mean nothing)."""
        wanted = {drop.booking: drop for drop in self.drops}
        events = self.asset_events()
        distribution = self.top.variable["cloudfront_distribution_id"]
        found: dict[str, Publication] = {}
        for run in self.top.api.runs(DAG_ID):
            work = self.xcom(run["dag_run_id"], COLLECT) or []
            ours = [(index, item["booking_id"]) for index, item in enumerate(work) if item["booking_id"] in wanted]
            if not ours:
                continue
            instances = {
                (ti["task_id"], ti["map_index"]): ti for ti in self.top.api.task_instances(DAG_ID, run["dag_run_id"])
            }
            for index, booking in ours:
                result = self.xcom(run["dag_run_id"], INVALIDATION_TASK, index) or {}
                if booking in found or not result.get("invalidation_id"):
                    continue
                created = self.cloudfront.get_invalidation(DistributionId=distribution, Id=result["invalidation_id"])
                drop = wanted[booking]
                publication = Publication(drop, run["dag_run_id"], run["run_type"])
                publication.marks = timeline(drop, run, instances, index, events)
                publication.marks["created"] = _when(created["Invalidation"]["CreateTime"])
                publication.beside_page = ran_beside(instances.values(), instances[(PAGE_TASK, index)])
                self.add_parse_marks(publication, instances, index)
                found[booking] = publication
        missing = [drop.booking for drop in self.drops if drop.booking not in found]
        if missing:
            raise RuntimeError(f"no run invalidated the page of {', '.join(missing)}")
        return [found[drop.booking] for drop in self.drops]

    def add_parse_marks(
        self, publication: Publication, instances: Mapping[tuple[str, int], Mapping[str, Any]], index: int
    ) -> None:
        """``<task>_parsed`` for each task on the path, from its task log (its last try)."""
        for prefix, task_id, mapped in PATH_TASKS:
            instance = instances[(task_id, index if mapped else -1)]
            task_log = self.top.api.task_log(
                DAG_ID, publication.run_id, task_id, try_number=int(instance.get("try_number") or 1),
                map_index=index if mapped else -1,
            )  # fmt: skip
            found = parsed_at(task_log)
            if found is not None:
                publication.marks[f"{prefix}_parsed"] = found[0]
                publication.parse_ms.append(found[1])


def timeline(
    drop: Drop, run: Mapping[str, Any], instances: Mapping[tuple[str, int], Mapping[str, Any]], index: int,
    events: Sequence[Mapping[str, Any]],
) -> dict[str, datetime]:  # fmt: skip
    """The marks /api/v2 gives for one drop (all but ``created``); ``event`` only when an asset event of the run
    carries the drop's own S3 notification."""
    marks = {"put": drop.put_at, "run_queued": _when(run["queued_at"]), "run_started": _when(run["start_date"])}
    for event in events:
        # S3 URL-encodes the key in its notification; the file name itself has nothing to encode.
        if drop.file_name in json.dumps(event.get("extra")) and any(
            created["run_id"] == run["dag_run_id"] for created in event.get("created_dagruns", [])
        ):
            marks["event"] = _when(event["timestamp"])
    for prefix, task_id, map_index in (
        ("collect", COLLECT, -1),
        ("page", PAGE_TASK, index),
        ("invalidation", INVALIDATION_TASK, index),
    ):
        instance = instances[(task_id, map_index)]
        for suffix, key in (("queued", "queued_when"), ("started", "start_date"), ("ended", "end_date")):
            if instance.get(key):
                marks[f"{prefix}_{suffix}"] = _when(instance[key])
    return marks


def ran_beside(instances: Iterable[Mapping[str, Any]], task: Mapping[str, Any]) -> int:
    """How many of ``instances`` (other than ``task``) were running at some moment while ``task`` ran."""
    if not task.get("start_date") or not task.get("end_date"):
        return 0
    start, end = _when(task["start_date"]), _when(task["end_date"])
    return sum(
        1
        for other in instances
        if other is not task
        and other.get("start_date")
        and other.get("end_date")
        and _when(other["start_date"]) < end
        and _when(other["end_date"]) > start
    )


def watcher_mode(drops: int) -> list[Publication]:
    """Drops one at a time through the S3 notification and the watcher; each waits for the previous to settle."""
    with Topology("local", poll_schedule=QUIET_CRON, exports_queue=True) as topology:
        topology.watch_exports()
        bench = Bench(topology, first_number=7_000)
        bench.wait("the runs S3's test event started to finish", lambda: bench.settled(watcher=True), PUBLISH_WITHIN)
        for _ in range(drops):
            before = bench.invalidations()
            drop = bench.drop()
            bench.wait(f"{drop.booking} invalidated", lambda b=before: bench.invalidations() > b, PUBLISH_WITHIN)  # type: ignore[misc]
            bench.wait("the run to finish", lambda: bench.settled(watcher=True), PUBLISH_WITHIN)
        return bench.publications()


def cron_mode(drops: int, spacing: float) -> list[Publication]:
    """Drops every ``spacing`` s while the two-minute cron polls; waits until every drop is invalidated."""
    with Topology("local", poll_schedule=CRON) as topology:
        topology.api.unpause(DAG_ID)
        bench = Bench(topology, first_number=7_500)
        before = bench.invalidations()
        began = time.monotonic()
        for number in range(drops):
            time.sleep(max(0.0, began + number * spacing - time.monotonic()))
            bench.drop()
        bench.wait(
            f"all {drops} drops invalidated", lambda: bench.invalidations() >= before + drops, CRON_PUBLISH_WITHIN
        )
        bench.wait("the runs to finish", lambda: bench.settled(watcher=False), PUBLISH_WITHIN)
        return bench.publications()


# --- the section ----------------------------------------------------------------------------------------------


def run(*, drops: int = 10, cron_drops: int = 10, spacing: float = 12.0) -> Section:
    """``drops`` through the watcher, then ``cron_drops`` (0: that mode is skipped) every ``spacing`` s under the
    two-minute cron. Defaults: 10 each, the cron drops spread evenly over one period."""
    section = Section("latency", "7. Latency from export to invalidation")
    loads: list[str] = []
    before = load_average()
    watched = watcher_mode(drops)
    loads.append(
        f"Load average (1, 5, 15 min) in the watcher mode: {before} at its start, {load_average()} at its end."
    )
    polled: list[Publication] = []
    if cron_drops:
        before = load_average()
        polled = cron_mode(cron_drops, spacing)
        loads.append(f"In the cron mode: {before} at its start, {load_average()} at its end.")
    section.rows, section.details = rows_and_details(watched, polled, spacing=spacing, loads=loads)
    return section


def rows_and_details(
    watched: Sequence[Publication], polled: Sequence[Publication], *, spacing: float, loads: Sequence[str] = ()
) -> tuple[list[Row], list[str]]:
    """The section's rows and notes; ``loads`` are lines saying how loaded the machine was in each mode."""
    watcher = Spread.of([p.latency for p in watched])
    cron = Spread.of([p.latency for p in polled]) if polled else None
    label = f"latency: export put to invalidation created, watcher, {counted(watcher.count, 'drop')}"
    rows = [
        Row(
            name=f"{label}, p50",
            measured=watcher.p50,
            baseline=cron.p50 if cron else 0.0,
            unit="s",
            target=f"<= {TARGET_P50_SECONDS:.0f} s",
            passed=watcher.p50 <= TARGET_P50_SECONDS,
            baseline_name="cron alone (*/2), p50",
        ),
        Row(
            name=f"{label}, p95",
            measured=watcher.p95,
            baseline=cron.p95 if cron else 0.0,
            unit="s",
            target="none (reported)",
            passed=None,
            baseline_name="cron alone (*/2), p95",
        ),
    ]
    details = [
        joined(
            "From an export's `put_object` on S3 (this process's clock just before the put; S3's LastModified has ",
            "whole ",
            "seconds only) to the creation of its booking's CloudFront invalidation (moto's `CreateTime`, found ",
            "through ",
            "the invalidation id the booking's `charter.cloudfront_invalidation` task returned), on the LocalExecutor ",
            "topology (api-server, scheduler, dag-processor, triggerer; SQLite), one topology start per mode. The ",
            "baseline column is the cron alone's figure from the same run.",
        ),
        "",
        "| mode | drops | p50 | p95 | min | max | runs that published them |",
        "|---|---|---|---|---|---|---|",
        mode_row("watcher (`CHARTER_EXPORTS_QUEUE_URL`, cron once a year)", watcher, watched),
    ]
    if cron is not None:
        details.append(mode_row("cron alone (`*/2 * * * *`, no queue)", cron, polled))
    details += [
        "",
        "Watcher: one export at a time, each dropped when no run was going or waiting (a booking arriving alone). "
        "Per drop, s: " + ", ".join(f"{p.latency:.1f}" for p in watched) + ".",
    ]
    if cron is not None:
        # Not the cron tick: under load, or behind a run still going, a run may start well after its tick.
        waits = [(p.marks["collect_started"] - p.drop.put_at).total_seconds() for p in polled]
        details.append(
            joined(
                f"Cron alone: a drop every {spacing:.0f} s, so the drops land all over the {CRON_PERIOD_SECONDS} s ",
                "period. Per drop, s: ",
                ", ".join(f"{p.latency:.1f}" for p in polled),
                ". Of that, waiting for the poll that found it (its put to that run's collect_bookings start): ",
                f"median {statistics.median(waits):.1f} s.",
            )
        )
    details += loads
    details += ["", *where_the_seconds_go(watched)]
    return rows, details


def mode_row(mode: str, spread: Spread, publications: Sequence[Publication]) -> str:
    types = Counter(p.run_type for p in publications)
    runs = len({p.run_id for p in publications})
    kinds = ", ".join(f"{count} drops by {kind}" for kind, count in sorted(types.items()))
    return (
        f"| {mode} | {spread.count} | {spread.p50:.1f} s | {spread.p95:.1f} s | {spread.low:.1f} s | "
        f"{spread.high:.1f} s | {counted(runs, 'run')} ({kinds}) |"
    )


def where_the_seconds_go(watched: Sequence[Publication]) -> list[str]:
    """The watcher mode's breakdown table, the parts' medians, and one line each on what would shorten it."""
    timelines = [p.marks for p in watched if all(ph.start in p.marks and ph.end in p.marks for ph in PHASES)]
    if not timelines:
        return ["Where the seconds go: no drop had a complete timeline in /api/v2 (no asset event named it)."]
    figures = breakdown(timelines)
    parts = by_part(timelines)
    return [
        joined(
            f"Where the seconds go with the watcher ({counted(len(timelines), 'drop')} with a complete timeline; ",
            "timestamps from /api/v2: assets/events, dagRuns, taskInstances; the phases of a drop add up to its ",
            "latency):",
        ),
        "",
        "| phase | part | median s | max s |",
        "|---|---|---|---|",
        *(f"| {f.phase.what} | {f.phase.part} | {f.median:.2f} | {f.high:.2f} |" for f in figures),
        "",
        "Medians per part: " + ", ".join(f"{part} {seconds:.1f} s" for part, seconds in parts.items()) + ".",
        joined(
            "While a booking's guest_page ran, other tasks of its run ran beside it on the 2 cores (its group's ",
            "financials, SCC event, calendar entry, scrub): median ",
            f"{statistics.median(p.beside_page for p in watched):.0f}, max {max(p.beside_page for p in watched)}.",
        ),
        joined(
            "Of each task's start-up, parsing the DAG file itself (Airflow's `dag_file_parse_ms` in the task log): ",
            f"median {statistics.median(ms for p in watched for ms in p.parse_ms) / 1000:.2f} s."
            if any(p.parse_ms for p in watched)
            else "not logged.",
        ),
        "",
        "What would shorten each:",
        joined(
            f"- watcher ({parts[WATCHER]:.1f} s): the receive is a 10 s long poll, so a message is returned as it ",
            "arrives; `waiter_delay` (1 s) only spaces empty receives and saves at most that second. The rest is the ",
            "triggerer handing the trigger's event to the database as an asset event.",
        ),
        joined(
            f"- scheduler ({parts[SCHEDULER]:.1f} s): creating the run from the asset event, starting it and queuing ",
            "each of the three tasks on the path each wait for a scheduler loop; a shorter ",
            "`[scheduler] scheduler_idle_sleep_time` and a less loaded machine shorten each wait.",
        ),
        joined(
            f"- task start-up ({parts[START_UP]:.1f} s): LocalExecutor handing each task to a supervisor that starts ",
            "its task process, which then parses the DAG file, three times on the path (collect_bookings, guest_page, ",
            "cloudfront_invalidation); fewer tasks on the path (say, the invalidation inside the guest page task) ",
            "would save one start-up, and a DAG file that imports less would shorten each.",
        ),
        joined(
            f"- tasks and outside calls ({parts[TASKS]:.1f} s): the steps themselves (the poll's S3 and DynamoDB ",
            "reads, the page's render, ledger and upload, the invalidation's ledger read and CloudFront call), while ",
            "the group's other branches run beside them on the same cores; fewer tasks per booking (one process ",
            "instead of six) would leave the path the cores to itself.",
        ),
    ]
