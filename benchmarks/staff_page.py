"""Benchmark 5: the "Charter bookings" page for 1,000 upcoming charters, in front of years of history.

One page view as the plugin's route makes it: read the ledger (the month index, then the charters in batches,
the backlog), the newest quarantine records, and render the HTML; in this process, against the sandbox's moto
behind its AWS proxy. Server time is the CPU time of the thread serving the view (``time.thread_time``): what the
api-server itself spends. The wall time is shown beside it but has no target: moto runs in this same process, so
its own work on every read (DynamoDB's, in a deployment) lands in it. Counted: every AWS call one view makes,
which must not grow with the history (no Scan) nor be one per booking.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.deployment import deployment
from benchmarks.report import Row, Samples, Section, counted
from sandbox.ledger_samples import SampleCharter

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook

TARGET_SECONDS = 1.0
TARGET_CALLS = 15


def _charters(count: int, first: datetime, prefix: str) -> list[SampleCharter]:
    boats = ("Queen of San Diego", "Pacific Spirit", "Harbor Light")
    return [
        SampleCharter(f"{prefix}-{n:06d}", f"Guest Number{n}", boats[n % 3], first + timedelta(minutes=50 * n))
        for n in range(count)
    ]


def seed(ledger: LedgerHook, samples: list[SampleCharter], now: datetime) -> None:
    """Snapshots in batches and the month index, as the poll writes them; every step recorded done."""
    from dataclasses import replace

    from charter_pipeline.ledger import STEPS
    from charter_pipeline.stores.booking_records import BookingRecords
    from charter_pipeline.stores.charter_index import CharterIndex
    from charter_pipeline.stores.poll_state import PollStateStore
    from sandbox.ledger_samples import sample_records

    records = [
        replace(r, step_fingerprints=dict.fromkeys(STEPS, r.fingerprint), session_id="K7M2Q9XW4HB3T", page_hash="h")
        for r in sample_records(samples, now)
    ]
    stored = BookingRecords(ledger)
    stored.save_snapshots(records, {})
    CharterIndex(ledger, stored, PollStateStore(ledger)).index_charters(records)


def run(upcoming: int = 1_000, history: int = 5_000, small: int = 10, repeats: int = 5) -> Section:
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.staff_page.app import render_page
    from charter_pipeline.staff_page.board import parse_filters
    from charter_pipeline.staff_page.reading import read_board

    section = Section("staff_page", "5. The Charter bookings page")
    with tempfile.TemporaryDirectory(prefix="bench-staff-") as scratch, deployment(Path(scratch), migrate=False) as d:
        config = d.config
        now = datetime.now(UTC)
        today = now.astimezone(config.tz).date()
        first = datetime.combine(today + timedelta(days=1), clock(8), tzinfo=config.tz)
        ledger = LedgerHook(config.ledger_table)
        seed(ledger, _charters(history, first - timedelta(days=3 * 365), "PAST"), now)
        seed(ledger, _charters(upcoming, first, "SOON"), now)
        # The small page: one day far ahead holding `small` charters of a second ledger-less window.
        far = datetime.combine(today + timedelta(days=300), clock(8), tzinfo=config.tz)
        seed(ledger, _charters(small, far, "FAR"), now)

        def view(raw_from: str, raw_to: str) -> tuple[float, int, int, float]:
            filters = parse_filters(raw_from, raw_to, "", today)
            d.reset_calls()
            started, cpu_started = time.perf_counter(), time.thread_time()
            board = read_board(config, filters)
            render_page(board)
            cpu = time.thread_time() - cpu_started
            return cpu, d.calls().total, len(board.charters), time.perf_counter() - started

        last = first + timedelta(minutes=50 * upcoming)
        big_window = (str(today), str(last.date()))
        small_window = (str(far.date()), str(far.date() + timedelta(days=1)))
        view(*big_window)  # warm: clients built, templates compiled, as in a running api-server
        big = [view(*big_window) for _ in range(repeats)]
        little = [view(*small_window) for _ in range(repeats)]
    assert all(n == upcoming for _, _, n, _ in big), "the page did not show every upcoming charter"
    assert all(n == small for _, _, n, _ in little)
    big_time, small_time = Samples(tuple(v[0] for v in big)), Samples(tuple(v[0] for v in little))
    big_wall, small_wall = Samples(tuple(v[3] for v in big)), Samples(tuple(v[3] for v in little))
    big_calls, small_calls = max(v[1] for v in big), max(v[1] for v in little)
    section.rows = [
        Row(
            name=f"page view, {upcoming:,} upcoming charters ({history:,} past in the ledger): server CPU time",
            measured=big_time.median, baseline=small_time.median, unit="s",
            target=f"< {TARGET_SECONDS:g} s", passed=big_time.median < TARGET_SECONDS,
            baseline_name=f"{small} charters",
        ),
        Row(
            name=f"page view, {upcoming:,} upcoming charters: wall time with moto in-process",
            measured=big_wall.median, baseline=small_wall.median, unit="s",
            target="-", passed=None, baseline_name=f"{small} charters",
        ),
        Row(
            name=f"page view, {upcoming:,} upcoming charters: outside calls",
            measured=big_calls, baseline=small_calls, unit="calls",
            target=f"<= {TARGET_CALLS} calls, no Scan", passed=big_calls <= TARGET_CALLS,
            baseline_name=f"{small} charters",
        ),
    ]  # fmt: skip
    section.details = [
        (
            f"Server CPU time samples ({upcoming:,} charters): {big_time.shown(3)} s; ({small} charters): "
            f"{small_time.shown(3)} s. Wall time: {big_wall.shown(3)} s; {small_wall.shown(3)} s."
        ),
        (
            f"Calls per view: {counted(big_calls, 'call')} for {upcoming:,} charters, {counted(small_calls, 'call')} "
            f"for {small}: one BatchGetItem for the month index, one per 100 charters, the backlog's GetItem, the "
            "quarantine's ListObjectsV2 (and one GetObject per record shown)."
        ),
    ]
    return section
