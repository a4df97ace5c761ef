"""Benchmark 3: a 100,000-row export through the whole poll, against plain ``csv.reader`` over the same bytes.

What is timed is ``Poll.scheduled()``, all of ``collect_bookings`` but the network: the export and the ledger are
in-memory stand-ins for the hooks (the ledger a dict of 100,000 DynamoDB items, answered as BatchGetItem answers,
converted by the hook's own functions), so reading, sifting the rows against the ledger, parsing, quarantining,
choosing each booking's newest snapshot, deciding and building the work list are the pipeline's own code, and no
I/O is timed. The baseline decodes the bytes and iterates ``csv.reader`` over them, nothing more: the least any
CSV intake can cost in Python. Parsing caches are cleared before each run, as a fresh task process starts cold.

Two ledgers, because what a poll costs depends on how much of the export it has seen before:
- a day's re-export: the ledger holds the export's bookings as an earlier poll recorded them, and one booking in
  two hundred is new or changed since. This is the steady state of a full-history export, every poll.
- heavy churn: one booking in twenty is new and one in twenty changed, as after a long outage.
Both carry later snapshots of bookings the file holds again (5% of rows) and rows that fail validation (1%).

A floor row (``recognising_floor``) shows the least any intake does that recognises rows by a digest kept in the
ledger, so that the target can be read against it.
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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from benchmarks.bookings import BookingMix, csv_bytes, export_rows
from benchmarks.report import Row, Samples, Section, counted, interleaved, joined, profile_lines

if TYPE_CHECKING:
    from charter_pipeline.publishing.poll import Intake

TARGET_RATIO = 3.0
EXPORT_NAME = "s3://jada-boatsetter-exports/incoming/boatsetter-bookings-full-history.csv"
TZ = ZoneInfo("America/Los_Angeles")
# One booking in this many is new, and one in this many changed, since the ledger last recorded the export.
STEADY_STATE = 200
HEAVY_CHURN = 20


@dataclass
class Cost:
    """What one measured call cost: wall and CPU time, and the cyclic garbage collector's share of it."""

    wall: float = 0.0
    cpu: float = 0.0
    gc: float = 0.0
    full_collections: int = 0  # generation 2: these walk every object alive, the in-memory ledger included
    left_out: float = 0.0  # the in-memory ledger building its answers, standing for the network: taken off


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


def plain_csv(data: bytes) -> int:
    """The baseline: decode the bytes and iterate ``csv.reader`` over every record. Returns the records read."""
    records = 0
    for _ in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        records += 1
    return records


def recognising_floor(data: bytes, ledger: Mapping[str, Any]) -> int:
    """The least any intake does that recognises rows it has read before, by a digest kept in the ledger: decode,
    split every record with ``csv.reader``, hash its cells and look its booking up. Nothing is parsed, checked
    beyond the digest, decided or kept, and the ledger read is not included. Returns the rows whose digest matches.

    Reported beside the poll so that the intake target can be read against what this design cannot go below.
    """
    from charter_pipeline.exports import row_digest_key

    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = [cell.strip() for cell in next(reader)]
    column = header.index("Booking ID")  # the generated export's own header: no variants to resolve
    key = row_digest_key(header, TZ.key)  # the pipeline's, so that rows recorded by a poll match
    get = ledger.get
    matched = 0
    for cells in reader:
        digest = blake2b("\x00".join(cells).encode(), digest_size=16, key=key).hexdigest()
        record = get(cells[column].strip())
        matched += record is not None and record.row_digest == digest
    return matched


def ledger_for(
    data: bytes, size: int, *, last_modified: datetime, now: datetime, changed_every: int = 20
) -> dict[str, Any]:
    """A ledger of ``size`` records as the pipeline keeps it, for the bookings of ``data`` and more.

    Most bookings of the export are recorded in sync from an older file of the same rows (the poll finds them
    as recorded), one in ``changed_every`` is recorded from another row (changed since), one in ``changed_every``
    is not recorded (new); records of bookings the export no longer holds fill the ledger up to ``size``.
    """
    from charter_pipeline.booking import fingerprint
    from charter_pipeline.exports import newest_per_booking, order_key_to_json, parse_rows, read_export, snapshot_order
    from charter_pipeline.ledger import STEPS, LedgerRecord

    older = last_modified - timedelta(days=1)
    candidates, _ = parse_rows(EXPORT_NAME, read_export(EXPORT_NAME, data, zone=TZ.key), TZ, last_modified=older)
    newest = newest_per_booking(candidates)
    ledger: dict[str, Any] = {}
    template: Any = None
    for number, (booking_id, candidate) in enumerate(newest.items()):
        if number % changed_every == changed_every - 1:
            continue  # new to the ledger
        booking = candidate.booking
        modified = number % changed_every == 0  # changed since it was recorded: another row, another print
        fp = "0" * 32 if modified else fingerprint(booking)
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
            row_digest="0" * 32 if modified else candidate.source.row_digest,
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


def as_items(records: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ledger as DynamoDB holds it: each record as the typed item ``BookingRecords`` writes."""
    from charter_pipeline.hooks.ledger import typed
    from charter_pipeline.stores.booking_records import item_from_record

    return {booking_id: typed(item_from_record(record)) for booking_id, record in records.items()}


class LedgerInMemory:
    """The interface of the poll's stores (BookingRecords, PollStateStore, CharterIndex) over a dict of DynamoDB
    items, answering like BatchGetItem: 100 items a call, built fresh as botocore builds them from a response, with
    only the projected attributes when a projection is asked for. The hook's own ``plain`` and the store's
    ``record_from_item`` and ``summary_from_item`` turn the answers into records.

    Building the answers stands for the network and botocore, which the benchmark leaves out: its time is kept in
    ``answer_seconds`` and taken off the poll's. Nothing the poll saves changes the items, so every run of the
    benchmark starts from the same ledger.
    """

    calls = 0

    def __init__(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        self.items = items
        self.saved = 0
        self.answer_seconds = 0.0

    def get_poll_state(self) -> Any:
        from charter_pipeline.stores.poll_state import PollState

        return PollState()

    def save_poll_state(self, state: Any) -> None:
        self.state = state

    def get_many(self, booking_ids: Iterable[str]) -> dict[str, Any]:
        from charter_pipeline.hooks.ledger import plain
        from charter_pipeline.stores.booking_records import record_from_item

        answers = map(plain, self._answers(booking_ids))
        return {record.booking_id: record for record in map(record_from_item, answers)}

    def get_summaries(self, booking_ids: Iterable[str]) -> dict[str, Any]:
        from charter_pipeline.hooks.ledger import plain
        from charter_pipeline.stores.booking_records import SUMMARY_ATTRIBUTES, summary_from_item

        answers = map(plain, self._answers(booking_ids, SUMMARY_ATTRIBUTES))
        return {summary.booking_id: summary for summary in map(summary_from_item, answers)}

    def save_snapshots(self, records: Iterable[Any], existing: Mapping[str, Any]) -> int:
        self.saved = sum(1 for _ in records)
        return self.saved

    def index_charters(self, records: Iterable[Any]) -> int:
        # The real hook writes one small item per month per 40 bookings; like save_snapshots, not timed here.
        return 0

    def _answers(self, booking_ids: Iterable[str], projection: Collection[str] = ()) -> Iterator[dict[str, Any]]:
        ids = sorted(set(booking_ids))  # as the hook sorts and batches them: its own work, so it stays timed
        for start in range(0, len(ids), 100):
            began = time.perf_counter()
            answer = [
                {name: dict(value) for name, value in self.items[booking_id].items()
                 if not projection or name in projection}
                for booking_id in ids[start : start + 100] if booking_id in self.items
            ]  # fmt: skip
            self.answer_seconds += time.perf_counter() - began
            yield from answer


def whole_poll(data: bytes, ledger: LedgerInMemory, *, last_modified: datetime, now: datetime) -> Intake:
    """``Poll.scheduled()``, the whole of ``collect_bookings``, with in-memory hooks; returns what it found."""
    from charter_pipeline.config import load_config
    from charter_pipeline.hooks.exports import ExportFile
    from charter_pipeline.publishing.poll import Poll

    config = load_config({})
    name = EXPORT_NAME.rsplit("/", 1)[-1]
    export = ExportFile(uri=config.exports_uri + name, name=name, version="bench-1", last_modified=last_modified,
                        size=len(data))  # fmt: skip
    from charter_pipeline.task_runtime import Hooks

    given = Hooks.from_config(
        config,
        ledger=ledger,
        records=ledger,
        poll_state=ledger,
        charter_index=ledger,
        exports=ExportsInMemory(export, data),
    )
    poll = Poll(config, now, given)
    # The task writes its log to a file; here log records are made but go nowhere (1% of rows are quarantined).
    pipeline_log = logging.getLogger("charter_pipeline")
    handlers, propagate = pipeline_log.handlers, pipeline_log.propagate
    pipeline_log.handlers, pipeline_log.propagate = [logging.NullHandler()], False
    try:
        return poll.scheduled()
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


@dataclass
class Scenario:
    """One ledger the export is polled against, and what the polls against it cost."""

    name: str
    title: str
    ledger: dict[str, Any]  # booking id -> LedgerRecord
    table: LedgerInMemory = field(init=False)  # the same as DynamoDB items, which the polls read
    costs: list[Cost] = field(default_factory=list)
    baseline: list[Cost] = field(default_factory=list)
    intake: Intake | None = None

    def __post_init__(self) -> None:
        self.table = LedgerInMemory(as_items(self.ledger))


def run(*, rows: int = 100_000, ledger_size: int = 100_000, repeats: int = 3) -> Section:
    """Time whole polls of one generated export against two ledgers, each beside ``csv.reader``; profile the
    steady state if it misses the target."""
    from sandbox.bootstrap import put_plugins_on_path

    put_plugins_on_path()
    section = Section("intake", "3. Intake of a large export")
    now = datetime.now(UTC)
    last_modified = now - timedelta(minutes=5)
    data = csv_bytes(export_rows(rows, today=now.astimezone(TZ).date(), mix=BookingMix()))
    scenarios = [
        Scenario("re-export (0.5% new, 0.5% changed)", "a day's re-export (1 in 200 bookings new, 1 in 200 changed)",
                 ledger_for(data, ledger_size, last_modified=last_modified, now=now, changed_every=STEADY_STATE)),
        Scenario("heavy churn (5% new, 5% changed)", "heavy churn (1 in 20 bookings new, 1 in 20 changed)",
                 ledger_for(data, ledger_size, last_modified=last_modified, now=now, changed_every=HEAVY_CHURN)),
    ]  # fmt: skip
    # One untimed poll first: it pays for importing the pipeline, Airflow and the providers, which a task process
    # does once at start-up (benchmark 4 measures start-up), not per row.
    whole_poll(data, scenarios[0].table, last_modified=last_modified, now=now)
    for scenario in scenarios:

        def poll(scenario: Scenario = scenario) -> float:
            clear_parse_caches()
            scenario.table.answer_seconds = 0.0
            with metered() as cost:
                scenario.intake = whole_poll(data, scenario.table, last_modified=last_modified, now=now)
            cost.left_out = scenario.table.answer_seconds
            cost.wall -= cost.left_out
            cost.cpu -= cost.left_out
            scenario.costs.append(cost)
            return cost.wall

        def baseline(scenario: Scenario = scenario) -> float:
            with metered() as cost:
                plain_csv(data)
            scenario.baseline.append(cost)
            return cost.wall

        ours, plain = interleaved(repeats, poll, baseline)
        section.rows.append(Row(
            name=f"intake: {rows:,} rows, {scenario.name} vs csv.reader",
            measured=ours.median, baseline=plain.median, unit="s", target=f"ratio <= {TARGET_RATIO:g}x",
            passed=ours.median / plain.median <= TARGET_RATIO, baseline_name="csv.reader",
        ))  # fmt: skip
    steady = scenarios[0]
    recognised: list[int] = []

    def floor() -> float:
        with metered() as cost:
            recognised.append(recognising_floor(data, steady.ledger))
        return cost.wall

    def floor_baseline() -> float:
        with metered() as cost:
            plain_csv(data)
        return cost.wall

    least, plain = interleaved(repeats, floor, floor_baseline)
    section.rows.append(Row(
        name="intake floor: csv.reader, row digest and ledger lookup only, nothing parsed, vs csv.reader",
        measured=least.median, baseline=plain.median, unit="s", target="none (reported)", passed=None,
        baseline_name="csv.reader",
    ))  # fmt: skip
    clear_parse_caches()
    memory = Memory(
        pipeline_mb=peak_mb(lambda: whole_poll(data, steady.table, last_modified=last_modified, now=now)),
        baseline_mb=peak_mb(lambda: plain_csv(data)),
    )
    section.rows.append(Row(
        name="intake: peak memory of the re-export poll vs csv.reader", measured=memory.pipeline_mb,
        baseline=memory.baseline_mb, unit="MB", target="none (reported)", passed=None, baseline_name="csv.reader",
    ))  # fmt: skip
    section.details += describe(scenarios, data, rows, ledger_size, memory)
    section.details += describe_floor(least, plain, recognised[-1], rows)
    if any(row.passed is False for row in section.rows):
        section.details += profile_details(data, steady.table, last_modified=last_modified, now=now)
    return section


def describe(scenarios: list[Scenario], data: bytes, rows: int, ledger_size: int, memory: Memory) -> list[str]:
    size_mb = len(data) / 1_000_000
    lines = [
        f"One generated CSV export of {size_mb:.1f} MB, {rows:,} rows, polled by `Poll.scheduled()`",
        f"against a ledger of {ledger_size:,} DynamoDB items in memory. {counted(len(scenarios[0].costs), 'run')} of",
        "each, interleaved with `csv.reader` over the same bytes, parse caches cleared before each poll. The",
        "in-memory ledger answers 100 items a call, built fresh as botocore builds them; the hook's own functions",
        "turn them into summaries and records. Building the answers stands for the network and is taken off.",
        "",
    ]
    for scenario in scenarios:
        wall = Samples(tuple(c.wall for c in scenario.costs))
        cpu = Samples(tuple(c.cpu for c in scenario.costs))
        plain_cpu = Samples(tuple(c.cpu for c in scenario.baseline))
        counts = scenario.intake.counts if scenario.intake else {}
        found = ", ".join(f"{name.replace('_', ' ')} {counts[name]:,}" for name in sorted(counts) if counts[name])
        lines += [
            joined(f"- {scenario.title}: median {wall.median:.2f} s wall ",
                   f"({wall.median / max(rows, 1) * 1_000_000:.1f} us a row), {cpu.median:.2f} s CPU ",
                   f"({cpu.median / plain_cpu.median:.1f}x `csv.reader` by CPU time); wall runs (s): {wall.shown()}"),
            f"  - the poll found: {found}; work items {len(scenario.intake.work) if scenario.intake else 0:,}",
            joined("  - taken off, the in-memory ledger building its answers: median ",
                   f"{Samples(tuple(c.left_out for c in scenario.costs)).median:.2f} s a poll"),
        ]  # fmt: skip
    plain = Samples(tuple(c.wall for c in scenarios[0].baseline))
    lines += [
        f"- `csv.reader` over the same bytes: median {plain.median:.3f} s wall; runs (s): {plain.shown(3)}",
        joined(f"- peak Python memory (tracemalloc), re-export poll: {memory.pipeline_mb:.0f} MB, `csv.reader` ",
               f"{memory.baseline_mb:.1f} MB, for a {size_mb:.0f} MB export ",
               "(the ledger is built before tracing starts)"),
        "",
        "A row the ledger already holds, and has settled, is not parsed again: the poll reads a summary of each",
        "named booking's record (`BookingRecords.get_summaries`, a projection without the snapshot) and compares a",
        "digest of the row as written with the one kept beside the snapshot (`ledger.sift`). Whole records are",
        "read only for the bookings left to decide. What remains is reading the file into rows, hashing each row,",
        "turning each summary into a `RecordSummary` and checking it, plus the full parse and decision of every",
        "row that may change something (new, changed, later snapshots, bad rows).",
    ]  # fmt: skip
    return lines


def describe_floor(least: Samples, plain: Samples, recognised: int, rows: int) -> list[str]:
    return [
        "",
        joined("The floor row times `recognising_floor`: the least an intake does that recognises rows read before ",
               "by a digest in the ledger. It splits every record with `csv.reader`, hashes its cells, and looks ",
               f"its booking up in the same ledger ({recognised:,} of {rows:,} rows matched their record). It ",
               "parses, checks and keeps nothing, and it leaves out the ledger read. Median ",
               f"{least.median:.3f} s, {least.median / plain.median:.2f}x `csv.reader`; runs (s): {least.shown(3)}. ",
               "A whole poll adds to that the ledger read, the check that nothing is owed, and a full parse of the ",
               "rows that may change something (new, changed, later snapshots, bad rows)."),
    ]  # fmt: skip


def profile_details(data: bytes, ledger: LedgerInMemory, *, last_modified: datetime, now: datetime) -> list[str]:
    """Where the poll spends its time: one run under cProfile, by cumulative and by own time."""
    from charter_pipeline.config import load_config
    from charter_pipeline.task_runtime import Hooks

    Hooks.from_config(load_config({}))  # the hook modules imported before the profile, as run()'s warm-up poll does
    clear_parse_caches()
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    whole_poll(data, ledger, last_modified=last_modified, now=now)
    profile.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profile, stream=sys.stderr)
    return [
        "",
        f"The target is missed. One re-export poll under cProfile ({total:.2f} s with the profiler's overhead, which",
        "inflates small functions called per row) shows where the time goes. Lines of `benchmarks/intake.py` are",
        "the in-memory ledger building its answers, which the measured time leaves out:",
        "",
        "By cumulative time:",
        "",
        *profile_lines(stats, total=total, limit=20),
        "",
        "By own time (the function's body, callees excluded):",
        "",
        *profile_lines(stats, total=total, limit=15, sort="own"),
    ]
