"""Every read-then-write on the ledger, run truly at once from threads against moto in server mode (issue 15,
point 4; docs/ARCHITECTURE.md "Concurrency").

Where a race needs both writers to have read before either writes, a barrier placed right after the read holds
them there, so the interleaving that loses an update without a guard happens on every run, not by luck.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from charter_pipeline.booking import fingerprint, parse_booking
from charter_pipeline.config import load_config
from charter_pipeline.hooks.ledger import LedgerHook
from charter_pipeline.ledger import STEPS, LedgerRecord
from charter_pipeline.publishing.poll import Poll
from charter_pipeline.publishing.summary import summarize
from charter_pipeline.stores.booking_records import BookingRecords, StaleSnapshot
from charter_pipeline.stores.poll_state import PollState, PollStateStore
from charter_pipeline.task_runtime import Hooks
from tests.hooks.stand_ins import ledger_record as record

OLD, NEW = "a" * 32, "b" * 32
ROUNDS = 4  # bookings raced side by side in one test


@pytest.fixture(autouse=True)
def quiet_clients() -> Iterator[None]:
    """The hook tests log at DEBUG; thirty threads of botocore and moto debug lines would be most of the time."""
    loggers = [logging.getLogger(name) for name in ("botocore", "moto", "werkzeug", "urllib3", "boto3")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def shared_client(table: str) -> Any:
    """One DynamoDB client for every racer (boto3 clients are thread-safe; it has a connection per thread), made
    before the race starts, since making one per racer takes longer than the race."""
    return LedgerHook(table).client


class Racer(LedgerHook):
    """A LedgerHook of its own for one racer (as each task process has its own), on the shared client."""

    def __init__(self, table: str, client: Any) -> None:
        super().__init__(table)
        self._client = client

    @property
    def client(self) -> Any:
        return self._client


def records(table: str, client: Any = None) -> BookingRecords:
    """The booking records, on a hook of their own (on the shared client when given)."""
    return BookingRecords(LedgerHook(table) if client is None else Racer(table, client))


@pytest.fixture
def table(ledger_table: str) -> str:
    return ledger_table


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each result, or the exception it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as exc:  # the outcome is what the test inspects
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


class HeldAfterRead(BookingRecords, PollStateStore):
    """A racer's stores, whose first read waits for the other racers' reads: everybody has read before anybody
    writes."""

    def __init__(self, table: str, client: Any, barrier: threading.Barrier, reads: Iterable[str]) -> None:
        super().__init__(Racer(table, client))
        self.barrier, self.held = barrier, set(reads)
        self.write_after: threading.Event | None = None  # write snapshots only once this is set
        self.written: threading.Event | None = None  # set once this racer has written its snapshots

    def get_many(self, booking_ids: Iterable[str]) -> Any:
        found = super().get_many(booking_ids)
        if "get_many" in self.held:
            self.held.discard("get_many")  # only the first read: a retry after a lost race reads freely
            self.barrier.wait(timeout=30)
        return found

    def save_snapshots(self, records: Iterable[LedgerRecord], existing: Mapping[str, LedgerRecord]) -> int:
        if self.write_after is not None:
            assert self.write_after.wait(timeout=30)
        try:
            return super().save_snapshots(records, existing)
        finally:
            if self.written is not None:
                self.written.set()

    def get_poll_state(self) -> PollState:
        state = super().get_poll_state()
        if "get_poll_state" in self.held:
            self.held.discard("get_poll_state")
            self.barrier.wait(timeout=30)
        return state


def test_a_stale_step_record_never_overwrites_the_newer_snapshots_record(table: str) -> None:
    ledger = records(table)
    ids = [f"BS-R{n}" for n in range(ROUNDS)]
    ledger.save_snapshots([record(i, fingerprint=NEW) for i in ids], existing={})
    client = shared_client(table)
    hook = records(table, client)
    calls: list[Callable[[], Any]] = []
    for booking_id in ids:
        calls.append(lambda b=booking_id: hook.record_step(b, "calendar", NEW, "updated", calendar_hash="h-new"))
        calls.append(lambda b=booking_id: hook.record_step(b, "calendar", OLD, "stale", calendar_hash="h-old"))
        calls.append(lambda b=booking_id: hook.record_failure(b, "calendar", "stale failure", fingerprint=OLD))
        calls.append(lambda b=booking_id: hook.record_state(b, "failed", fingerprint=OLD))
    outcomes = at_once(*calls)

    for number, booking_id in enumerate(ids):
        newer, stale, failure, state = outcomes[4 * number : 4 * number + 4]
        assert newer is None
        assert all(isinstance(o, StaleSnapshot) for o in (stale, failure, state)), (stale, failure, state)
        stored = ledger.get(booking_id)
        assert stored is not None
        assert (stored.step_fingerprints["calendar"], stored.calendar_hash) == (NEW, "h-new")
        assert (stored.state, stored.last_error, stored.attempts) == ("pending", "", 0)


def test_three_branches_and_two_session_claims_on_one_item_lose_nothing(table: str) -> None:
    ledger = records(table)
    ids = [f"BS-B{n}" for n in range(ROUNDS)]
    ledger.save_snapshots([record(i, fingerprint=NEW) for i in ids], existing={})
    client = shared_client(table)
    hook = records(table, client)
    calls: list[Callable[[], Any]] = []
    for booking_id in ids:
        calls += [
            lambda b=booking_id: hook.claim_session_id(b, "CALENDAR00001"),
            lambda b=booking_id: hook.claim_session_id(b, "GUESTPAGE0001"),
            lambda b=booking_id: hook.record_step(b, "calendar", NEW, "created", calendar_id="cal"),
            lambda b=booking_id: hook.record_step(b, "scc", NEW, "created", scc_event_id="evt"),
            lambda b=booking_id: hook.record_step(b, "page", NEW, "uploaded", page_hash="p"),
        ]
    outcomes = at_once(*calls)

    for number, booking_id in enumerate(ids):
        first, second, *steps = outcomes[5 * number : 5 * number + 5]
        assert first == second  # whichever claimed first, both branches use its id
        assert steps == [None, None, None]
        stored = ledger.get(booking_id)
        assert stored is not None
        assert stored.session_id == first
        assert {s: stored.step_fingerprints.get(s) for s in ("calendar", "scc", "page")} == dict.fromkeys(
            ("calendar", "scc", "page"), NEW
        )
        assert (stored.calendar_id, stored.scc_event_id, stored.page_hash) == ("cal", "evt", "p")


def manual_row(booking_id: str, start: str) -> dict[str, str]:
    return {
        "booking_id": booking_id, "status": "approved", "boat": "Sea Breeze", "renter_name": "Jane Doe",
        "trip_date": (datetime.now(UTC).date() + timedelta(days=10)).isoformat(), "start_time": start,
        "duration_hours": "3", "passengers": "6", "gross": "840.75",
    }  # fmt: skip


def held(config: Any, stores: HeldAfterRead) -> Hooks:
    """A task's hooks whose booking records and poll state are the racer's."""
    return Hooks.from_config(config, ledger=stores.hook, records=stores, poll_state=stores)


def racing_polls(
    config: Any, now: datetime, table: str, client: Any, barrier: threading.Barrier, booking_id: str
) -> list[Callable[[], Any]]:
    """Two manual collect_bookings of one booking that both read before either writes: the run triggered an hour
    ago (cleared now) writes its 10:00 snapshot only after the newer run wrote 14:00, the order a blind write
    gets wrong."""
    newer_written = threading.Event()
    newer = HeldAfterRead(table, client, barrier, {"get_many"})
    newer.written = newer_written
    older = HeldAfterRead(table, client, barrier, {"get_many"})
    older.write_after = newer_written
    return [
        lambda: Poll(config, now, held(config, newer)).manual(manual_row(booking_id, "14:00"), now),
        lambda: Poll(config, now, held(config, older)).manual(
            manual_row(booking_id, "10:00"), now - timedelta(hours=1)
        ),
    ]


def test_two_polls_recording_one_booking_at_once_keep_the_newer_snapshot(table: str) -> None:
    """A cleared old manual run's collect_bookings beside a newer one: both read the record, then both write."""
    config = load_config({"ledger_table": table})
    now = datetime.now(UTC)
    ids = [f"BS-M{n}" for n in range(ROUNDS)]
    records(table).save_snapshots([record(i, fingerprint=OLD, order_key=None) for i in ids], existing={})
    barrier = threading.Barrier(2 * ROUNDS)
    client = shared_client(table)
    calls: list[Callable[[], Any]] = []
    for booking_id in ids:
        calls += racing_polls(config, now, table, client, barrier, booking_id)
    outcomes = at_once(*calls)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    for booking_id in ids:
        stored = records(table).get(booking_id)
        assert stored is not None
        assert stored.booking is not None
        newer = parse_booking(manual_row(booking_id, "14:00"), config.tz)
        assert (stored.booking.start, stored.fingerprint) == (newer.start, fingerprint(newer))


def test_new_bookings_created_by_two_polls_at_once_keep_the_newer_snapshot(table: str) -> None:
    config = load_config({"ledger_table": table})
    now = datetime.now(UTC)
    ids = [f"BS-N{n}" for n in range(ROUNDS)]
    barrier = threading.Barrier(2 * ROUNDS)
    client = shared_client(table)
    calls: list[Callable[[], Any]] = []
    for booking_id in ids:
        calls += racing_polls(config, now, table, client, barrier, booking_id)
    outcomes = at_once(*calls)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    for booking_id in ids:
        stored = records(table).get(booking_id)
        assert stored is not None
        assert stored.booking is not None
        assert stored.booking.start.hour == 14


def test_the_poll_and_a_summary_rewriting_the_poll_state_at_once_keep_both_changes(table: str) -> None:
    """collect_bookings adds a booking to the backlog while an earlier run's summary takes a finished one off."""
    config = load_config({"ledger_table": table})
    PollStateStore(LedgerHook(table)).save_poll_state(
        PollState(files={"s3://x/a.csv": "v1"}, backlog=["BS-DONE", "BS-OWED"])
    )
    finished = record("BS-DONE", fingerprint=NEW)
    records(table).save_snapshots([finished], existing={})
    for step in STEPS:
        records(table).record_step("BS-DONE", step, NEW, "done")
    done_item = {"booking_id": "BS-DONE", "fingerprint": NEW, "action": "publish", "booking": _booking_dict()}
    barrier = threading.Barrier(2)
    client = shared_client(table)
    poll = Poll(config, datetime.now(UTC), held(config, HeldAfterRead(table, client, barrier, {"get_poll_state"})))
    summary_hooks = held(config, HeldAfterRead(table, client, barrier, {"get_poll_state"}))

    outcomes = at_once(
        lambda: poll.manual(manual_row("BS-NEW", "10:00")),
        lambda: summarize(config, {"counts": {}}, [done_item], summary_hooks),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    state = PollStateStore(LedgerHook(table)).get_poll_state()
    assert state.backlog == ["BS-NEW", "BS-OWED"]
    assert state.files == {"s3://x/a.csv": "v1"}


def _booking_dict() -> dict[str, Any]:
    return parse_booking(manual_row("BS-DONE", "10:00"), load_config({}).tz).to_dict()
