"""Benchmark 3: a 100,000-row export through the pure intake path, against plain ``csv.reader`` over the same bytes.

The pipeline's path is what ``collect_bookings`` does between reading the file and writing the ledger:
``read_export`` -> ``parse_rows`` -> ``newest_per_booking`` -> per booking its snapshot order, ``is_newer``,
``fingerprint`` and ``decide`` against its ledger record (a dict of 100,000 ``LedgerRecord`` in memory, so no
I/O is timed). The baseline decodes the bytes and iterates ``csv.reader`` over them, nothing more: the least any
CSV intake can cost in Python. Parsing caches are cleared before each run, as a fresh task process starts cold.
"""

from __future__ import annotations

import cProfile
import csv
import gc
import io
import json
import logging
import pstats
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.bookings import BookingMix, csv_bytes, export_rows
from benchmarks.report import Row, Samples, Section, counted, interleaved, joined, profile_lines

TARGET_RATIO = 3.0
EXPORT_NAME = "s3://jada-boatsetter-exports/incoming/boatsetter-bookings-full-history.csv"
TZ = ZoneInfo("America/Los_Angeles")
STAGES = ("read_export", "parse_rows", "newest_per_booking", "decide")


@dataclass
class IntakeRun:
    """One pass of the intake path: what it found and how long each stage took."""

    rows: int = 0
    candidates: int = 0
    problems: int = 0
    bookings: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.stage_seconds.values())


@dataclass
class Cost:
    """What one measured call cost: wall and CPU time, and the cyclic garbage collector's share of it."""

    wall: float = 0.0
    cpu: float = 0.0
    gc: float = 0.0
    full_collections: int = 0  # generation 2: these walk every object alive, the in-memory ledger included


@contextmanager
def metered() -> Iterator[Cost]:
    """Measure the block: wall time, CPU time (barely moved by other users of the machine), GC pauses."""
    cost = Cost()
    began: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            cost.gc += time.perf_counter() - began.pop()
            cost.full_collections += info.get("generation") == 2

    gc.callbacks.append(on_gc)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield cost
    finally:
        cost.wall, cost.cpu = time.perf_counter() - wall, time.process_time() - cpu
        gc.callbacks.remove(on_gc)


def clear_parse_caches() -> None:
    """Empty every ``lru_cache`` of the parsing modules: a poll runs in a fresh task process, caches cold."""
    from charter_pipeline import booking, exports

    for module in (booking, exports):
        for value in vars(module).values():
            if callable(clear := getattr(value, "cache_clear", None)):
                clear()


def intake_path(data: bytes, ledger: Mapping[str, Any], *, last_modified: datetime, now: datetime) -> IntakeRun:
    """The pipeline's intake of one export file, stage by stage, as ``Poll`` runs it (no I/O)."""
    from charter_pipeline.booking import fingerprint
    from charter_pipeline.exports import newest_per_booking, order_key_to_json, parse_rows, read_export, snapshot_order
    from charter_pipeline.ledger import decide, is_newer

    run = IntakeRun()
    clock = time.perf_counter
    started = clock()
    rows = read_export(EXPORT_NAME, data)
    read = clock()
    candidates, problems = parse_rows(EXPORT_NAME, rows, TZ, last_modified=last_modified)
    parsed = clock()
    newest = newest_per_booking(candidates)
    picked = clock()
    actions: Counter[str] = Counter()
    for booking_id, candidate in newest.items():
        record = ledger.get(booking_id)
        if not is_newer(order_key_to_json(snapshot_order(candidate.booking, candidate.source)), record):
            actions["older than recorded"] += 1
            continue
        actions[decide(candidate.booking, fingerprint(candidate.booking), record, now).value] += 1
    decided = clock()
    run.stage_seconds = {"read_export": read - started, "parse_rows": parsed - read,
                         "newest_per_booking": picked - parsed, "decide": decided - picked}  # fmt: skip
    run.rows, run.candidates, run.problems = len(rows), len(candidates), len(problems)
    run.bookings, run.actions = len(newest), actions
    return run


def plain_csv(data: bytes) -> int:
    """The baseline: decode the bytes and iterate ``csv.reader`` over every record. Returns the records read."""
    records = 0
    for _ in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        records += 1
    return records


def ledger_for(data: bytes, size: int, *, last_modified: datetime, now: datetime) -> dict[str, Any]:
    """A ledger of ``size`` records as the pipeline keeps it, for the bookings of ``data`` and more.

    Most bookings of the export are recorded in sync from an older file (the poll finds them unchanged), one in
    twenty is recorded with an older snapshot (a modification), one in twenty is not recorded (new); records of
    bookings the export no longer holds fill the ledger up to ``size``.
    """
    from charter_pipeline.booking import fingerprint
    from charter_pipeline.exports import newest_per_booking, order_key_to_json, parse_rows, read_export, snapshot_order
    from charter_pipeline.ledger import STEPS, LedgerRecord

    older = last_modified - timedelta(days=1)
    candidates, _ = parse_rows(EXPORT_NAME, read_export(EXPORT_NAME, data), TZ, last_modified=older)
    newest = newest_per_booking(candidates)
    ledger: dict[str, Any] = {}
    template: Any = None
    for number, (booking_id, candidate) in enumerate(newest.items()):
        if number % 20 == 19:
            continue  # new to the ledger
        booking = candidate.booking
        fp = fingerprint(booking) if number % 20 else "0" * 32  # one in twenty was modified since it was recorded
        template = LedgerRecord(
            booking_id=booking_id,
            snapshot=booking.to_dict(),
            order_key=order_key_to_json(snapshot_order(booking, candidate.source)),
            fingerprint=fp,
            status=booking.status,
            state="published" if booking.is_charter else "recorded: not a charter",
            session_id=f"{number:013d}"[-13:],
            calendar_id=f"cal_{number}",
            scc_event_id=f"evt_{number}",
            step_fingerprints=dict.fromkeys(STEPS, fp),
            first_seen_at=now.isoformat(),
            updated_at=now.isoformat(),
            source=f"{EXPORT_NAME}#{candidate.source.row}",
        )
        ledger[booking_id] = template
    filler = 0
    while len(ledger) < size and template is not None:
        filler += 1
        booking_id = f"BS-OLD-{filler}"
        ledger[booking_id] = replace(template, booking_id=booking_id)
    return ledger


class ExportsInMemory:
    """The ExportsHook's interface over one export held in memory; quarantine records are serialised, not written."""

    calls = 0

    def __init__(self, export: Any, data: bytes) -> None:
        self.export = export
        self.data = data
        self.quarantined: dict[str, str] = {}

    def list_exports(self, uri: str, **_: Any) -> list[Any]:
        return [self.export]

    def read(self, export: Any) -> bytes:
        return self.data

    def write_quarantine(self, uri: str, name: str, record: Mapping[str, Any]) -> str:
        self.quarantined[uri + name] = json.dumps(record, sort_keys=True)
        return uri + name


class LedgerInMemory:
    """The LedgerHook's interface over a dict of records. Nothing the poll saves changes them, so every run of the
    benchmark starts from the same ledger."""

    calls = 0

    def __init__(self, records: Mapping[str, Any]) -> None:
        self.records = records
        self.saved = 0

    def get_poll_state(self) -> Any:
        from charter_pipeline.hooks.ledger import PollState

        return PollState()

    def save_poll_state(self, state: Any) -> None:
        self.state = state

    def get_many(self, booking_ids: Iterable[str]) -> dict[str, Any]:
        return {booking_id: self.records[booking_id] for booking_id in booking_ids if booking_id in self.records}

    def save_snapshots(self, records: Iterable[Any], existing: Mapping[str, Any]) -> int:
        self.saved = sum(1 for _ in records)
        return self.saved


def whole_poll(data: bytes, ledger: Mapping[str, Any], *, last_modified: datetime, now: datetime) -> int:
    """``Poll.scheduled()``, the whole of ``collect_bookings``, with in-memory hooks; returns the work items."""
    from charter_pipeline.config import load_config
    from charter_pipeline.hooks.exports import ExportFile
    from charter_pipeline.steps import Poll

    config = load_config({})
    name = EXPORT_NAME.rsplit("/", 1)[-1]
    export = ExportFile(uri=config.exports_uri + name, name=name, version="bench-1", last_modified=last_modified,
                        size=len(data))  # fmt: skip
    poll = Poll(config, now, ledger=LedgerInMemory(ledger), exports=ExportsInMemory(export, data))  # type: ignore[arg-type]
    # The task writes its log to a file; here log records are made but go nowhere (1% of rows are quarantined).
    pipeline_log = logging.getLogger("charter_pipeline")
    handlers, propagate = pipeline_log.handlers, pipeline_log.propagate
    pipeline_log.handlers, pipeline_log.propagate = [logging.NullHandler()], False
    try:
        return len(poll.scheduled().work)
    finally:
        pipeline_log.handlers, pipeline_log.propagate = handlers, propagate


@dataclass(frozen=True)
class Memory:
    pipeline_mb: float
    baseline_mb: float


def peak_mb(work: Callable[[], object]) -> float:
    """Peak memory allocated while ``work`` runs, in MB (tracemalloc: Python allocations, not the process RSS)."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1_000_000


def run(*, rows: int = 100_000, ledger_size: int = 100_000, repeats: int = 3) -> Section:
    """Time the intake path against ``csv.reader`` on one generated export; profile it if the target is missed."""
    from sandbox.bootstrap import put_plugins_on_path

    put_plugins_on_path()
    section = Section("intake", "3. Intake of a large export")
    now = datetime.now(UTC)
    last_modified = now - timedelta(minutes=5)
    data = csv_bytes(export_rows(rows, today=now.astimezone(TZ).date(), mix=BookingMix()))
    ledger = ledger_for(data, ledger_size, last_modified=last_modified, now=now)
    runs: list[IntakeRun] = []
    costs: dict[str, list[Cost]] = {"intake": [], "csv.reader": [], "whole poll": [], "csv.reader beside the poll": []}

    def pipeline() -> float:
        clear_parse_caches()
        with metered() as cost:
            runs.append(intake_path(data, ledger, last_modified=last_modified, now=now))
        costs["intake"].append(cost)
        return cost.wall

    def baseline(into: str = "csv.reader") -> float:
        with metered() as cost:
            plain_csv(data)
        costs[into].append(cost)
        return cost.wall

    def poll() -> float:
        clear_parse_caches()
        with metered() as cost:
            whole_poll(data, ledger, last_modified=last_modified, now=now)
        costs["whole poll"].append(cost)
        return cost.wall

    ours, plain = interleaved(repeats, pipeline, baseline)
    polls, plain_again = interleaved(repeats, poll, partial(baseline, "csv.reader beside the poll"))
    ratio = ours.median / plain.median
    section.rows += [
        Row(
            name=f"intake: {rows:,}-row export vs csv.reader",
            measured=ours.median, baseline=plain.median, unit="s",
            target=f"ratio <= {TARGET_RATIO:g}x", passed=ratio <= TARGET_RATIO, baseline_name="csv.reader",
        ),
        Row(
            name="intake: the whole Poll.scheduled() (in-memory hooks) vs csv.reader",
            measured=polls.median, baseline=plain_again.median, unit="s",
            target="none (reported)", passed=None, baseline_name="csv.reader",
        ),
    ]  # fmt: skip
    clear_parse_caches()
    memory = Memory(
        pipeline_mb=peak_mb(lambda: intake_path(data, ledger, last_modified=last_modified, now=now)),
        baseline_mb=peak_mb(lambda: plain_csv(data)),
    )
    section.rows.append(Row(
        name="intake: peak memory vs csv.reader", measured=memory.pipeline_mb, baseline=memory.baseline_mb,
        unit="MB", target="none (reported)", passed=None, baseline_name="csv.reader",
    ))  # fmt: skip
    section.details += describe(runs, costs, data, ledger, memory)
    if ratio > TARGET_RATIO:
        section.details += profile_details(data, ledger, last_modified=last_modified, now=now)
    return section


def describe(runs: list[IntakeRun], costs: Mapping[str, list[Cost]], data: bytes, ledger: Mapping[str, Any],
             memory: Memory) -> list[str]:  # fmt: skip
    last = runs[-1]
    actions = ", ".join(f"{name} {count:,}" for name, count in sorted(last.actions.items()))
    stage_medians = {stage: Samples(tuple(r.stage_seconds[stage] for r in runs)).median for stage in STAGES}
    wall = {name: Samples(tuple(c.wall for c in found)) for name, found in costs.items()}
    cpu = {name: Samples(tuple(c.cpu for c in found)) for name, found in costs.items()}
    collector = Samples(tuple(c.gc for c in costs["intake"]))
    full = max(c.full_collections for c in costs["intake"])
    per_row_us = wall["intake"].median / max(last.rows, 1) * 1_000_000
    size_mb = len(data) / 1_000_000
    memory_line = (
        f"- peak Python memory (tracemalloc): intake {memory.pipeline_mb:.0f} MB, `csv.reader` {memory.baseline_mb:.1f}"
        f" MB, for a {size_mb:.0f} MB export (the ledger is built before tracing starts)"
    )
    return [
        f"One generated CSV export of {size_mb:.1f} MB: {last.rows:,} rows, {last.problems:,} quarantined,",
        f"{last.candidates - last.bookings:,} older snapshots of a booking the file holds again, {last.bookings:,}",
        f"bookings, against a ledger of {len(ledger):,} records in memory. Decisions: {actions}.",
        f"{counted(len(runs), 'run')} of each, interleaved, parse caches cleared before each pipeline run.",
        "",
        joined(f"- intake path: median {wall['intake'].median:.2f} s wall ({per_row_us:.1f} us a row), ",
               f"{cpu['intake'].median:.2f} s CPU; wall runs (s): {wall['intake'].shown()}"),
        joined(f"- `csv.reader` over the same bytes: median {wall['csv.reader'].median:.3f} s wall, ",
               f"{cpu['csv.reader'].median:.3f} s CPU; wall runs (s): {wall['csv.reader'].shown(3)}"),
        joined("- ratio of the CPU-time medians (moves less with load): ",
               f"{cpu['intake'].median / cpu['csv.reader'].median:.1f}x"),
        joined("- the whole `Poll.scheduled()` with in-memory hooks (quarantine records, ledger snapshots and work ",
               f"items too): median {wall['whole poll'].median:.2f} s wall, {cpu['whole poll'].median:.2f} s CPU"),
        "- median time per stage: " + ", ".join(f"`{s}` {stage_medians[s]:.2f} s" for s in STAGES),
        joined(f"- of the intake's time, the cyclic garbage collector: median {collector.median:.2f} s, ",
               f"{counted(full, 'full (generation 2) collection') if full else 'no full collection'} in a run (a full",
               " one walks every live object, the in-memory ledger too)"),
        memory_line,
    ]  # fmt: skip


def profile_details(data: bytes, ledger: Mapping[str, Any], *, last_modified: datetime, now: datetime) -> list[str]:
    """Where the intake path spends its time: one run under cProfile, by cumulative and by own time."""
    clear_parse_caches()
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    intake_path(data, ledger, last_modified=last_modified, now=now)
    profile.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profile, stream=sys.stderr)
    return [
        "",
        f"The target is missed. One run under cProfile ({total:.2f} s with the profiler's overhead, which inflates",
        "small functions called per row) shows where the time goes:",
        "",
        "By cumulative time:",
        "",
        *profile_lines(stats, total=total, limit=18),
        "",
        "By own time (the function's body, callees excluded):",
        "",
        *profile_lines(stats, total=total, limit=15, sort="own"),
    ]
