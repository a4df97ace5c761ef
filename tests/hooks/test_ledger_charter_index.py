"""LedgerHook's charter index for the staff page, against moto in server mode: bounded reads, safe writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from charter_pipeline.stores.charter_index import CHARTER_INDEX_PREFIX, charter_index_id, index_months
from charter_pipeline.stores.poll_state import PollState
from charter_pipeline.task_runtime import Hooks
from sandbox.ledger_samples import SampleCharter, record_samples, sample_records, staff_samples

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def charters(count: int, first: datetime, prefix: str = "IDX") -> list[SampleCharter]:
    return [
        SampleCharter(f"{prefix}-{n:05d}", f"Guest Number{n}", "Queen of San Diego", first + timedelta(hours=7 * n))
        for n in range(count)
    ]


def save_snapshots_only(ledger: Hooks, samples: list[SampleCharter]) -> None:
    """What the poll writes for new bookings: snapshots in batches, then the month index."""
    records = sample_records(samples, NOW)
    ledger.records.save_snapshots(records, {})
    ledger.charter_index.index_charters(records)


def test_the_index_keys_are_bookkeeping_longer_than_any_booking_id() -> None:
    assert charter_index_id("2026-06").startswith(CHARTER_INDEX_PREFIX)
    assert len(charter_index_id("2026-06")) > 64  # CONTRACT.md section 3: a booking id has at most 64 characters
    assert index_months(datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)) == [
        "2026-11", "2026-12", "2027-01", "2027-02",
    ]  # fmt: skip


def test_a_window_of_a_thousand_charters_is_read_in_eleven_calls_whatever_the_history(ledger: Hooks) -> None:
    first = datetime(2026, 7, 1, 9, tzinfo=LA)
    history = charters(300, datetime(2024, 1, 1, 9, tzinfo=LA), prefix="OLD")  # years ago: never read
    upcoming = charters(1000, first)
    save_snapshots_only(ledger, [*history, *upcoming])

    ledger.ledger.calls = 0
    records, crew = ledger.charter_index.charters_starting(first, first + timedelta(days=400))

    assert {r.booking_id for r in records} == {s.booking_id for s in upcoming}
    assert crew == {}
    # One BatchGetItem for the month items, then one per 100 bookings: no Scan, no call per booking.
    assert ledger.ledger.calls == 1 + 10


def test_only_charters_inside_the_window_come_back(ledger: Hooks) -> None:
    samples = staff_samples(date(2026, 6, 1), LA)
    record_samples(ledger.ledger, samples, NOW)
    start = datetime(2026, 6, 3, tzinfo=LA)
    records, crew = ledger.charter_index.charters_starting(start, start + timedelta(days=2))
    assert sorted(r.booking_id for r in records) == ["STAFF-1002", "STAFF-1003"]  # June 3 and 4, local
    records, crew = ledger.charter_index.charters_starting(
        datetime(2026, 6, 1, tzinfo=LA), datetime(2026, 7, 1, tzinfo=LA)
    )
    assert len(records) == len(samples)
    assert '"declined"' in crew["STAFF-1006"]
    assert '"accepted"' in crew["STAFF-1001"]


def test_a_charter_moved_to_another_month_is_found_there_and_not_where_it_was(ledger: Hooks) -> None:
    june = SampleCharter("MOVE-1", "Jane Doe", "Queen of San Diego", datetime(2026, 6, 20, 10, tzinfo=LA))
    record_samples(ledger.ledger, [june], NOW)
    august = SampleCharter("MOVE-1", "Jane Doe", "Queen of San Diego", datetime(2026, 8, 5, 10, tzinfo=LA))
    [moved] = record_samples(ledger.ledger, [august], NOW)  # the same booking, saved again with a new start
    ledger.charter_index.index_charters([moved])

    in_june, _ = ledger.charter_index.charters_starting(
        datetime(2026, 6, 1, tzinfo=LA), datetime(2026, 7, 1, tzinfo=LA)
    )
    in_august, _ = ledger.charter_index.charters_starting(
        datetime(2026, 8, 1, tzinfo=LA), datetime(2026, 9, 1, tzinfo=LA)
    )
    assert in_june == []  # its stale name in June's item is dropped: the record's own start says August
    assert [r.booking_id for r in in_august] == ["MOVE-1"]


def test_indexing_never_overwrites_what_another_writer_indexed_in_the_same_month(ledger: Hooks) -> None:
    first = datetime(2026, 9, 1, 9, tzinfo=LA)
    batch_a, batch_b = charters(50, first, prefix="A"), charters(50, first, prefix="B")
    save_snapshots_only(ledger, batch_a)
    save_snapshots_only(ledger, batch_b)  # a second poll (or task) writing the same month's item
    records, _ = ledger.charter_index.charters_starting(first, first + timedelta(days=30))
    assert len(records) == 100


def test_the_backlog_is_read_by_projection_and_its_bookings_in_batches(ledger: Hooks) -> None:
    samples = staff_samples(date(2026, 6, 1), LA)
    record_samples(ledger.ledger, samples, NOW)
    ledger.poll_state.save_poll_state(
        PollState(files={f"s3://x/{n}.csv": "v" for n in range(500)}, backlog=["STAFF-1003"])
    )
    ledger.ledger.calls = 0
    records, _ = ledger.charter_index.backlog_records()
    assert [r.booking_id for r in records] == ["STAFF-1003"]
    assert "HTTP 503" in records[0].last_error
    assert ledger.ledger.calls == 2
