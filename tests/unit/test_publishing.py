"""The poll and the run summary (Poll, summarize) over in-memory stand-ins for the ledger and exports.

Whole runs against real services are in tests/e2e; these pin down the decisions and the bookkeeping quickly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter_pipeline.booking import BookingError
from charter_pipeline.config import load_config
from charter_pipeline.hooks.exports import ExportFile
from charter_pipeline.ledger import STEPS, LedgerRecord, RecordSummary
from charter_pipeline.publishing.poll import ManualOutcome, Poll
from charter_pipeline.publishing.summary import headline, manual_line, summarize, summary_table
from charter_pipeline.service_state import changed_fields
from charter_pipeline.stores.poll_state import PollState
from charter_pipeline.task_runtime import Hooks

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
HEADER = ["Booking ID", "Status", "Boat", "Renter Name", "Trip Date", "Start Time", "Duration Hours", "Passengers",
          "Gross", "Updated At"]  # fmt: skip


def export(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def charter(booking_id: str, days: int = 5, start: str = "10:00", status: str = "approved", updated: str = "") -> list:
    trip = (NOW + timedelta(days=days)).date().isoformat()
    return [booking_id, status, "Sea Breeze", "Jane Doe", trip, start, "3", "6", "840.75", updated]


class Exports:
    """Export files in memory; counts calls the way ExportsHook would make them."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[ExportFile, bytes]] = {}
        self.quarantine: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def drop(self, name: str, data: bytes, minute: int) -> None:
        when = NOW - timedelta(hours=1) + timedelta(minutes=minute)
        uri = f"s3://exports/incoming/{name}"
        self.files[uri] = (ExportFile(uri, name, f"v{len(data)}-{minute}", when, len(data)), data)

    def list_exports(self, uri: str, *, exclude_uri: str | None = None) -> list[ExportFile]:
        self.calls += 1
        return sorted((f for f, _ in self.files.values()), key=lambda f: (f.last_modified, f.name))

    def read(self, file: ExportFile) -> bytes:
        self.calls += 1
        return self.files[file.uri][1]

    def write_quarantine(self, uri: str, name: str, record: dict[str, Any]) -> str:
        self.calls += 1
        self.quarantine[uri + name] = record
        return uri + name


class Ledger:
    """The ledger table in memory."""

    def __init__(self) -> None:
        self.records: dict[str, LedgerRecord] = {}
        self.state = PollState()
        self.index: dict[str, str] = {}  # the staff page's month index: booking id -> start
        self.calls = 0

    def get_poll_state(self) -> PollState:
        self.calls += 1
        return PollState(files=dict(self.state.files), backlog=list(self.state.backlog))

    def save_poll_state(self, state: PollState) -> None:
        self.calls += 1
        self.state = PollState(files=dict(state.files), backlog=list(state.backlog))

    def get_many(self, booking_ids: Iterable[str]) -> dict[str, LedgerRecord]:
        self.calls += 1
        return {i: self.records[i] for i in booking_ids if i in self.records}

    def get_summaries(self, booking_ids: Iterable[str]) -> dict[str, RecordSummary]:
        self.calls += 1
        return {i: self.records[i].summary() for i in booking_ids if i in self.records}

    def save_snapshots(self, records: Iterable[LedgerRecord], existing: Mapping[str, LedgerRecord]) -> int:
        saved = list(records)
        self.calls += 1
        for record in saved:
            old = self.records.get(record.booking_id)
            # Like the real hook: the snapshot moves, artifacts and step progress stay.
            self.records[record.booking_id] = record if old is None else replace(
                old, snapshot=record.snapshot, order_key=record.order_key, fingerprint=record.fingerprint,
                status=record.status, source=record.source, state=record.state,
                row_digest=record.row_digest)  # fmt: skip
        return len(saved)

    def index_charters(self, records: Iterable[LedgerRecord]) -> int:
        self.calls += 1
        for record in records:
            if record.booking is not None:
                self.index[record.booking_id] = record.booking.start.isoformat()
        return 1

    def record_state(self, booking_id: str, state: str, *, clear_error: bool = False, fingerprint: str = "") -> None:
        self.records[booking_id] = replace(self.records[booking_id], state=state)

    def publish(self, booking_id: str) -> None:
        """What the mapped group leaves behind when every step succeeded."""
        record = self.records[booking_id]
        self.records[booking_id] = replace(
            record, calendar_id=f"cal-{booking_id}", session_id="ABCDEFGHJKMNP",
            step_fingerprints=dict.fromkeys(STEPS, record.fingerprint))  # fmt: skip


def hooks(ledger: Any, **others: Any) -> Hooks:
    """The task's hooks, the in-memory ledger standing for the table and each of its stores."""
    stores = dict.fromkeys(("ledger", "records", "poll_state", "charter_index"), ledger)
    return Hooks.from_config(load_config({}), **stores, **others)


def poll(ledger: Ledger, exports: Exports, **config: Any) -> Poll:
    return Poll(load_config(config), NOW, hooks(ledger, exports=exports))


def test_a_first_poll_decides_per_booking_and_quarantines_bad_rows() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-2", days=6), charter("B-1", days=2), charter("B-3", status="inquiry"),
                                  charter("B-4", days=-3), charter("B-5", start="25:61")]), minute=1)  # fmt: skip
    exports.drop("junk.json", b"\x00\x01not json", minute=2)
    intake = poll(ledger, exports).scheduled()

    assert [item["booking_id"] for item in intake.work] == ["B-1", "B-2"]  # soonest charter first
    assert {item["action"] for item in intake.work} == {"publish"}
    assert intake.counts["recorded_only"] == 2  # the inquiry and the past trip
    assert ledger.records["B-4"].state == "recorded: past charter"
    assert intake.counts["quarantined"] == 2
    reasons = sorted(record["reason"] for record in exports.quarantine.values())
    assert reasons[0].startswith("Start Time:")
    assert reasons[1].startswith("unreadable file")
    assert {q["row"] for q in intake.quarantined} == {5, 0}
    assert ledger.state.backlog == ["B-1", "B-2"]
    assert set(ledger.state.files) == set(exports.files)


def test_a_poll_with_nothing_new_costs_two_outside_calls() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1")]), minute=1)
    poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    summarize(load_config({}), {"counts": {}}, [{"booking_id": "B-1", "action": "publish",
              "fingerprint": ledger.records["B-1"].fingerprint, "booking": ledger.records["B-1"].snapshot}],
              hooks(ledger))  # fmt: skip
    assert ledger.state.backlog == []

    ledger.calls = exports.calls = 0
    intake = poll(ledger, exports).scheduled()
    assert intake.work == []
    assert (exports.calls, ledger.calls) == (1, 1)


def test_the_cap_defers_the_rest_to_the_next_run() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter(f"B-{n}", days=n) for n in range(1, 4)]), minute=1)
    first = poll(ledger, exports, max_bookings_per_run=2).scheduled()
    assert [i["booking_id"] for i in first.work] == ["B-1", "B-2"]
    assert first.counts["deferred"] == 1
    for item in first.work:
        ledger.publish(item["booking_id"])
    summary = summarize(load_config({}), first.as_xcom()["intake"], first.work, hooks(ledger))
    assert summary["counts"]["published"] == 2
    assert ledger.state.backlog == ["B-3"]

    second = poll(ledger, exports, max_bookings_per_run=2).scheduled()  # no new file: the backlog is the work
    assert [i["booking_id"] for i in second.work] == ["B-3"]


def test_an_older_row_changes_nothing_and_a_newer_one_is_an_update() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1", updated="2026-11-20T10:00:00Z")]), minute=1)
    poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    exports.drop("b.csv", export([charter("B-1", start="09:00", updated="2026-11-19T10:00:00Z")]), minute=2)
    older = poll(ledger, exports).scheduled()
    assert older.work == []
    assert older.counts["older_rows_ignored"] == 1
    exports.drop("c.csv", export([charter("B-1", start="11:00", updated="2026-11-21T10:00:00Z")]), minute=3)
    newer = poll(ledger, exports).scheduled()
    assert [(i["booking_id"], i["action"]) for i in newer.work] == [("B-1", "update")]


def test_a_cancellation_of_a_published_booking_is_work_and_of_an_unpublished_one_is_not() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1"), charter("B-2")]), minute=1)
    poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    exports.drop("b.csv", export([charter("B-1", status="cancelled"), charter("B-3", status="canceled")]), minute=2)
    intake = poll(ledger, exports).scheduled()
    # Same start time: the booking id breaks the tie.
    assert [(i["booking_id"], i["action"]) for i in intake.work] == [("B-1", "cancel"), ("B-2", "publish")]
    assert ledger.records["B-3"].state == "recorded: not a charter"


def test_a_manual_booking_is_validated_before_any_outside_call() -> None:
    ledger, exports = Ledger(), Exports()
    raw = dict(zip(HEADER, charter("M-1"), strict=True)) | {"Passengers": "0"}
    with pytest.raises(BookingError, match="Passengers"):
        poll(ledger, exports).manual(raw)
    assert (ledger.calls, exports.calls) == (0, 0)
    intake = poll(ledger, exports).manual(raw | {"Passengers": "4"})
    assert [(i["booking_id"], i["action"]) for i in intake.work] == [("M-1", "publish")]
    assert exports.calls == 0  # a manual booking skips polling


def test_the_summary_names_a_failed_booking_and_keeps_it_owed() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1"), charter("B-2", days=6)]), minute=1)
    intake = poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    ledger.records["B-2"] = replace(ledger.records["B-2"], last_error="ServiceRejected: JADA calendar said: boat")
    summary = summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))
    assert summary["counts"]["published"] == 1
    assert summary["counts"]["failed"] == 1
    failed = next(row for row in summary["bookings"] if row["outcome"] == "failed")
    assert failed["booking_id"] == "B-2"
    assert "JADA calendar said" in failed["error"]
    assert ledger.state.backlog == ["B-2"]
    table = summary_table(summary)
    assert "failed: 1" in table
    assert "https://queenofsandiego.com/g/ABCDEFGHJKMNP" in table


def test_a_cleared_old_manual_run_never_passes_its_booking_off_as_newer_than_a_later_export() -> None:
    """The manual booking counts as received when its run was triggered, not when collect_bookings runs again."""
    ledger, exports = Ledger(), Exports()
    raw = dict(zip(HEADER, charter("M-1", start="10:00"), strict=True))
    poll(ledger, exports).manual(raw, NOW - timedelta(hours=2))
    later = (NOW - timedelta(hours=1)).isoformat()  # Updated At an hour after the trigger
    exports.drop("a.csv", export([charter("M-1", start="14:00", updated=later)]), minute=1)
    poll(ledger, exports).scheduled()
    assert ledger.records["M-1"].booking.start.hour == 14  # type: ignore[union-attr]

    cleared = poll(ledger, exports).manual(raw, NOW - timedelta(hours=2))  # the old run's task, cleared at NOW

    assert cleared.work == []
    assert cleared.counts["older_rows_ignored"] == 1
    assert ledger.records["M-1"].booking.start.hour == 14  # type: ignore[union-attr]
    assert cleared.manual is not None
    assert cleared.manual["outcome"] == ManualOutcome.SUPERSEDED
    assert later.replace("+00:00", "") in cleared.manual["detail"]


def published_export_booking(ledger: Ledger, exports: Exports, updated: str) -> None:
    exports.drop("a.csv", export([charter("M-1", start="10:00", updated=updated)]), minute=1)
    intake = poll(ledger, exports).scheduled()
    assert [i["action"] for i in intake.work] == ["publish"]
    ledger.publish("M-1")


def test_a_manual_correction_without_updated_at_beats_the_exported_row_and_an_older_export_after_it() -> None:
    """CONTRACT.md section 1 (issue 22): the desk's word counts as of its trigger, so it updates the booking."""
    ledger, exports = Ledger(), Exports()
    published_export_booking(ledger, exports, updated=(NOW - timedelta(days=3)).isoformat())
    corrected = dict(zip(HEADER, charter("M-1", start="10:00"), strict=True)) | {"Passengers": "5"}

    intake = poll(ledger, exports).manual(corrected, NOW - timedelta(minutes=1))

    assert [(i["booking_id"], i["action"]) for i in intake.work] == [("M-1", "update")]
    assert intake.manual == {"booking_id": "M-1", "outcome": "applied", "detail": "applied: update"}
    assert ledger.records["M-1"].booking.passengers == 5  # type: ignore[union-attr]
    ledger.publish("M-1")
    # A later export still carrying the older row (or a row with no Updated At at all) changes nothing.
    exports.drop("b.csv", export([charter("M-1", updated=(NOW - timedelta(days=2)).isoformat()),
                                   charter("M-1", updated="")]), minute=30)  # fmt: skip
    again = poll(ledger, exports).scheduled()
    assert again.work == []
    assert ledger.records["M-1"].booking.passengers == 5  # type: ignore[union-attr]
    # One with a newer Updated At replaces it.
    exports.drop("c.csv", export([charter("M-1", updated=NOW.isoformat())]), minute=40)
    newer = poll(ledger, exports).scheduled()
    assert [i["action"] for i in newer.work] == ["update"]
    assert ledger.records["M-1"].booking.passengers == 6  # type: ignore[union-attr]


def test_a_manual_booking_that_changes_nothing_says_so_in_the_summary() -> None:
    ledger, exports = Ledger(), Exports()
    published_export_booking(ledger, exports, updated=(NOW - timedelta(days=3)).isoformat())
    same = dict(zip(HEADER, charter("M-1", start="10:00"), strict=True))

    intake = poll(ledger, exports).manual(same, NOW - timedelta(minutes=1))
    summary = summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))

    assert intake.work == []
    assert summary["manual"]["outcome"] == ManualOutcome.UNCHANGED
    assert "Manual booking M-1: nothing changed: it matches what is already published" in summary_table(summary)
    assert headline(summary).startswith("Manual booking M-1: nothing changed")


def test_a_manual_booking_older_than_the_recorded_snapshot_is_not_applied_and_says_why() -> None:
    ledger, exports = Ledger(), Exports()
    published_export_booking(ledger, exports, updated=NOW.isoformat())
    stale = dict(zip(HEADER, charter("M-1", updated=(NOW - timedelta(days=1)).isoformat()), strict=True)) | {
        "Passengers": "9"
    }

    intake = poll(ledger, exports).manual(stale, NOW + timedelta(minutes=1))
    summary = summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))

    assert intake.work == []
    assert ledger.records["M-1"].booking.passengers == 6  # type: ignore[union-attr]
    assert summary["manual"]["outcome"] == ManualOutcome.SUPERSEDED
    assert "not applied: the ledger holds a newer snapshot" in manual_line(summary)
    assert "s3://exports/incoming/a.csv" in manual_line(summary)


def test_a_summary_rerun_after_a_later_run_reports_superseded_and_leaves_the_booking_alone() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1", start="10:00")]), minute=1)
    first = poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    exports.drop("b.csv", export([charter("B-1", start="14:00")]), minute=2)
    poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    ledger.records["B-1"] = replace(ledger.records["B-1"], state="published")

    summary = summarize(load_config({}), first.as_xcom()["intake"], first.work, hooks(ledger))

    assert summary["counts"]["failed"] == 0
    assert summary["counts"]["superseded"] == 1
    assert ledger.records["B-1"].state == "published"
    assert "superseded: 1" in summary_table(summary)


@pytest.mark.parametrize(
    ("current", "wanted", "same"),
    [
        (
            {"crew": [{"name": "Kim", "role": "crew", "invited": True}]},
            {"crew": [{"name": "Kim", "role": "crew"}]},
            True,
        ),
        ({"crew": [{"name": "Kim"}]}, {"crew": [{"name": "Kim"}, {"name": "Luis"}]}, False),
        ({"crew_cost": "250.00"}, {"crew_cost": 250}, True),
        ({"net_revenue": 289.41}, {"net_revenue": 289.4}, False),
        ({"party_size": None}, {"party_size": 6}, False),
        ({"guest": {"name": "Jane D.", "party_size": 6}}, {"guest": {"name": "Jane D.", "party_size": 8}}, False),
        ({"status": "confirmed"}, {"status": "confirmed"}, True),
    ],
)
def test_only_what_the_service_does_not_already_hold_is_sent(current: dict, wanted: dict, same: bool) -> None:
    assert (changed_fields(current, wanted) == {}) is same


# --- rows read again: the ledger's row digests ----------------------------------------------------------------


class CountedParses:
    """Counts the rows parse_booking is given, through the name exports.parse_rows calls it by."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from charter_pipeline import exports

        self.rows: list[str] = []
        real = exports.parse_booking

        def counted(raw: Mapping[str, object], tz: Any) -> Any:
            self.rows.append(str(raw.get("Booking ID")))
            return real(raw, tz)

        monkeypatch.setattr(exports, "parse_booking", counted)


def settle(ledger: Ledger, intake: Any) -> None:
    """What a run's mapped groups and summary leave behind when every booking succeeded."""
    for item in intake.work:
        ledger.publish(item["booking_id"])
    summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))


ROWS = [charter("B-1"), charter("B-2", status="inquiry"), charter("B-3", days=-3), charter("B-4", days=7)]


def test_rows_read_again_as_recorded_are_not_parsed_and_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export(ROWS), minute=1)
    settle(ledger, poll(ledger, exports).scheduled())
    assert all(record.row_digest for record in ledger.records.values())

    parses = CountedParses(monkeypatch)
    exports.drop("tuesday.csv", export(ROWS), minute=2)  # the next full-history export: the same rows
    again = poll(ledger, exports).scheduled()
    assert parses.rows == []
    assert again.work == []
    assert (again.counts["unchanged"], again.counts["recorded_only"]) == (2, 2)  # B-1, B-4; the inquiry, the past trip
    assert again.counts["rows_read"] == 4
    assert ledger.state.backlog == []


def test_a_bad_row_read_again_is_quarantined_again_beside_rows_left_unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = charter("B-9", start="25:61")  # CONTRACT.md section 3: quarantined with a reason naming the field
    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export([*ROWS, bad]), minute=1)
    settle(ledger, poll(ledger, exports).scheduled())
    assert "B-9" not in ledger.records

    parses = CountedParses(monkeypatch)
    exports.drop("tuesday.csv", export([*ROWS, bad]), minute=2)
    again = poll(ledger, exports).scheduled()
    assert parses.rows == ["B-9"]  # only the row no snapshot was ever read from
    assert again.counts["quarantined"] == 1
    assert [q["row"] for q in again.quarantined] == [5]
    assert any(name.startswith("tuesday.csv.") and record["reason"].startswith("Start Time:")
               for name, record in ((k.rsplit("/", 1)[-1], v) for k, v in exports.quarantine.items()))  # fmt: skip


def test_a_row_read_again_is_parsed_when_its_booking_is_owed_work(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export(ROWS), minute=1)
    first = poll(ledger, exports).scheduled()
    ledger.publish("B-1")  # B-4's steps failed: not in sync
    summarize(load_config({}), first.as_xcom()["intake"], first.work, hooks(ledger))

    parses = CountedParses(monkeypatch)
    exports.drop("tuesday.csv", export(ROWS), minute=2)
    again = poll(ledger, exports).scheduled()
    assert parses.rows == ["B-4"]
    assert [(i["booking_id"], i["action"]) for i in again.work] == [("B-4", "publish")]


def test_a_row_read_again_is_parsed_after_the_time_zone_or_the_parser_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from charter_pipeline import exports as export_rules

    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export(ROWS), minute=1)
    settle(ledger, poll(ledger, exports).scheduled())

    parses = CountedParses(monkeypatch)
    exports.drop("tuesday.csv", export(ROWS), minute=2)
    poll(ledger, exports, timezone="America/New_York").scheduled()
    assert sorted(parses.rows) == ["B-1", "B-2", "B-3", "B-4"]

    parses.rows.clear()
    monkeypatch.setattr(export_rules, "_parser_identity", lambda: b"the parsing code after a deploy")
    exports.drop("wednesday.csv", export(ROWS), minute=3)
    poll(ledger, exports).scheduled()
    assert sorted(parses.rows) == ["B-1", "B-2", "B-3", "B-4"]


def test_a_row_written_differently_is_parsed_once_then_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export([charter("B-1")]), minute=1)
    settle(ledger, poll(ledger, exports).scheduled())
    first_digest = ledger.records["B-1"].row_digest

    parses = CountedParses(monkeypatch)
    dollars = charter("B-1")
    dollars[8] = "$840.75"  # the same gross, written another way
    exports.drop("tuesday.csv", export([dollars]), minute=2)
    assert poll(ledger, exports).scheduled().work == []
    assert parses.rows == ["B-1"]
    assert ledger.records["B-1"].row_digest not in ("", first_digest)  # kept, so the next export is not parsed

    exports.drop("wednesday.csv", export([dollars]), minute=3)
    assert poll(ledger, exports).scheduled().work == []
    assert parses.rows == ["B-1"]


@pytest.mark.parametrize(
    ("other", "work"),
    [
        pytest.param(charter("B-1", start="11:00", updated="2026-11-21T10:00:00Z"), [("B-1", "update")], id="newer"),
        pytest.param(charter("B-1", start="09:00", updated="2026-11-19T10:00:00Z"), [], id="older"),
    ],
)
def test_a_row_read_again_beside_another_row_of_its_booking_keeps_the_snapshot_order(
    other: list[str], work: list[tuple[str, str]]
) -> None:
    recorded = charter("B-1", updated="2026-11-20T10:00:00Z")
    ledger, exports = Ledger(), Exports()
    exports.drop("monday.csv", export([recorded]), minute=1)
    settle(ledger, poll(ledger, exports).scheduled())

    exports.drop("tuesday.csv", export([other, recorded]), minute=2)
    intake = poll(ledger, exports).scheduled()
    assert [(i["booking_id"], i["action"]) for i in intake.work] == work
    assert (ledger.records["B-1"].snapshot or {})["start"].startswith(f"{recorded[4]}T{'11' if work else '10'}:00")


@st.composite
def two_polls(draw: st.DrawFn) -> tuple[list[list[list[str]]], list[list[list[str]]], set[str]]:
    """Exports for a first and a second poll (files of rows of bookings B-1..B-4, some rows repeated as they were),
    and the bookings whose steps all succeed after the first poll."""
    variants = st.builds(
        charter,
        st.sampled_from(["B-1", "B-2", "B-3", "B-4"]),
        days=st.sampled_from([5, -3]),
        start=st.sampled_from(["10:00", "11:00"]),
        status=st.sampled_from(["approved", "inquiry", "cancelled"]),
        updated=st.sampled_from(["", "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"]),
    )
    first = draw(st.lists(st.lists(variants, min_size=1, max_size=5), min_size=1, max_size=2))
    seen = [row for file in first for row in file]
    again = st.sampled_from(seen)  # a row read again exactly as it was
    second = draw(st.lists(st.lists(st.one_of(again, again, variants), max_size=5), min_size=1, max_size=3))
    published = draw(st.sets(st.sampled_from(["B-1", "B-2", "B-3", "B-4"])))
    return first, second, published


@given(two_polls())
@settings(max_examples=150, deadline=None)
def test_leaving_settled_rows_unparsed_decides_exactly_what_parsing_every_row_decides(
    polls: tuple[list[list[list[str]]], list[list[list[str]]], set[str]],
) -> None:
    first, second, published = polls
    outcomes = []
    for skip_settled_rows in (True, False):
        ledger, exports = Ledger(), Exports()
        for number, rows in enumerate(first):
            exports.drop(f"first-{number}.csv", export(rows), minute=number)
        intake = poll(ledger, exports).scheduled()
        for item in intake.work:
            if item["booking_id"] in published:
                ledger.publish(item["booking_id"])
        summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))
        for number, rows in enumerate(second):
            exports.drop(f"second-{number}.csv", export(rows), minute=10 + number)
        every_row_parsed = patch("charter_pipeline.ledger.settled", return_value=False)
        with nullcontext() if skip_settled_rows else every_row_parsed:
            intake = poll(ledger, exports).scheduled()
        records = {b: (r.snapshot, r.fingerprint, r.state) for b, r in ledger.records.items()}
        outcomes.append((intake.work, records, sorted(ledger.state.backlog)))
    assert outcomes[0] == outcomes[1]


class MovingLedger:
    """A ledger on which a poll records a newer snapshot of the booking while the step runs (the first write)."""

    def __init__(self, first: LedgerRecord, newer: LedgerRecord) -> None:
        self.current, self.newer = first, newer
        self.recorded: list[tuple[str, str]] = []

    def get(self, booking_id: str) -> LedgerRecord:
        return self.current

    def record_step(self, booking_id: str, step: str, fp: str, result: str, **artifacts: str) -> None:
        from charter_pipeline.stores.booking_records import StaleSnapshot

        if self.current is not self.newer:
            self.current = self.newer  # the poll's write came first: this step's record is for an older snapshot
            raise StaleSnapshot([booking_id])
        self.recorded.append((step, fp))


class SccStandIn:
    """The SCC event as stored, and what was sent to it."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event, self.patches = event, []  # type: ignore[var-annotated]

    def find_events(self, external_ref: str) -> list[dict[str, Any]]:
        return [dict(self.event)]

    def update_event(self, event_id: str, fields: Mapping[str, Any], *, names: Iterable[str] = ()) -> None:
        self.patches.append(dict(fields))
        self.event.update(fields)


def test_a_step_that_loses_to_a_snapshot_recorded_while_it_ran_sends_the_newest_last() -> None:
    from charter_pipeline.booking import fingerprint, parse_booking
    from charter_pipeline.crew import assigned_crew, scc_event_payload
    from charter_pipeline.ledger import Action
    from charter_pipeline.publishing.booking_steps import BookingSteps
    from charter_pipeline.publishing.poll import work_item

    config = load_config({})
    older, newer, oldest = (parse_booking(dict(zip(HEADER, charter("B-1", start=s), strict=True)), config.tz)
                            for s in ("10:00", "14:00", "08:00"))  # fmt: skip

    def record_of(booking: Any) -> LedgerRecord:
        return LedgerRecord("B-1", snapshot=booking.to_dict(), fingerprint=fingerprint(booking), scc_event_id="evt-1")

    ledger = MovingLedger(record_of(older), record_of(newer))
    scc = SccStandIn({"event_id": "evt-1", **scc_event_payload(oldest, config, assigned_crew(oldest, config))})
    steps = BookingSteps(config, work_item(older, fingerprint(older), Action.UPDATE, None), hooks(ledger, scc=scc))

    result = steps.scc_event()

    assert [p["start"][11:16] for p in scc.patches] == ["10:00", "14:00"]
    assert ledger.recorded == [("scc", fingerprint(newer))]
    assert result["event_id"] == "evt-1"


def test_a_poll_indexes_every_booking_it_records_for_the_staff_page() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop(
        "a.csv", export([charter("B-1", days=2), charter("B-2", days=9), charter("B-3", status="inquiry")]), minute=1
    )
    poll(ledger, exports).scheduled()
    assert set(ledger.index) == {"B-1", "B-2", "B-3"}
    assert ledger.index["B-1"] == ledger.records["B-1"].booking.start.isoformat()  # type: ignore[union-attr]

    # A re-export with nothing new records nothing, so it indexes nothing again.
    ledger.index.clear()
    exports.drop("b.csv", export([charter("B-1", days=2)]), minute=5)
    poll(ledger, exports).scheduled()
    assert ledger.index == {}


class RefusingPortal:
    """A guest portal that fails the test if anything is uploaded or invalidated."""

    def uploaded_page_hash(self, session_id: str) -> str:
        raise AssertionError("a retired page was looked up for publishing")

    def upload_page(self, *args: Any) -> str:
        raise AssertionError("a retired page was uploaded again")

    def invalidate_page(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("a retired page was invalidated again")


def test_a_cleared_page_task_of_a_retired_booking_publishes_nothing_and_stays_in_sync() -> None:
    from charter_pipeline.booking import fingerprint, parse_booking
    from charter_pipeline.ledger import Action
    from charter_pipeline.publishing.booking_steps import BookingSteps
    from charter_pipeline.publishing.poll import work_item

    config = load_config({"cloudfront_distribution_id": "E123"})
    booking = parse_booking(dict(zip(HEADER, charter("B-1"), strict=True)), config.tz)
    fp = fingerprint(booking)
    retired = LedgerRecord("B-1", snapshot=booking.to_dict(), fingerprint=fp, session_id="ABCDEFGHJKMNP",
                           page_hash="old-page", retired_hash="notice")  # fmt: skip
    ledger = MovingLedger(retired, retired)
    steps = BookingSteps(config, work_item(booking, fp, Action.UPDATE, None), hooks(ledger, portal=RefusingPortal()))

    page = steps.guest_page()
    invalidation = steps.invalidation()

    assert "retired" in page["result"]
    assert "retired" in invalidation["result"]
    assert invalidation["invalidation_id"] == ""
    assert ledger.recorded == [("page", fp), ("invalidation", fp)]  # recorded, so the summary sees it in sync


def test_the_summary_says_which_charters_sail_with_the_default_crew_for_a_boat_the_roster_does_not_name() -> None:
    ledger, exports = Ledger(), Exports()
    exports.drop("a.csv", export([charter("B-1"), charter("B-2")]), minute=1)  # both on "Sea Breeze"
    intake = poll(ledger, exports).scheduled()
    ledger.publish("B-1")
    ledger.publish("B-2")
    roster = {"default": {"captain": {"name": "Dana"}, "crew": []}, "Harbor Light": {"captain": {"name": "Eli"}}}

    summary = summarize(load_config({"crew_roster": roster}), intake.as_xcom()["intake"], intake.work, hooks(ledger))

    note = "default crew: boat 'Sea Breeze' is not in crew_roster, which lists Harbor Light"
    assert [row["crew_note"] for row in summary["bookings"]] == [note, note]
    table = summary_table(summary)
    assert f"B-1: {note}" in table
    # The booking's table row stays the first line naming it (what a reader, and the reliability suite, looks up).
    assert table.index("  B-1 ") < table.index(f"B-1: {note}")
    assert headline(summary) == f"published 2; B-1: {note}; B-2: {note}"
    plain = summarize(load_config({}), intake.as_xcom()["intake"], intake.work, hooks(ledger))
    assert "default crew" not in summary_table(plain)


def test_every_step_the_dag_names_is_one_booking_task_runs_and_no_other() -> None:
    import re
    from pathlib import Path

    from charter_pipeline.publishing.tasks import BOOKING_STEPS, booking_task

    dag = (Path(__file__).parents[2] / "dags" / "charter_booking_pipeline.py").read_text()
    assert set(re.findall(r'booking_task\(item, "(\w+)"', dag)) == set(BOOKING_STEPS)
    with pytest.raises(ValueError, match="unknown step 'fuel'"):
        booking_task({}, "fuel")
