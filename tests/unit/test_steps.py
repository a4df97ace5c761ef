"""The poll and the run summary (steps.Poll, steps.summarize) over in-memory stand-ins for the ledger and exports.

Whole runs against real services are in tests/e2e; these pin down the decisions and the bookkeeping quickly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from charter_pipeline.booking import BookingError
from charter_pipeline.config import load_config
from charter_pipeline.hooks.exports import ExportFile
from charter_pipeline.hooks.ledger import PollState
from charter_pipeline.ledger import STEPS, LedgerRecord
from charter_pipeline.steps import Poll, changed_fields, summarize, summary_table

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

    def save_snapshots(self, records: Iterable[LedgerRecord], existing: Mapping[str, LedgerRecord]) -> int:
        saved = list(records)
        self.calls += 1
        for record in saved:
            old = self.records.get(record.booking_id)
            # Like the real hook: the snapshot moves, artifacts and step progress stay.
            self.records[record.booking_id] = record if old is None else replace(
                old, snapshot=record.snapshot, order_key=record.order_key, fingerprint=record.fingerprint,
                status=record.status, source=record.source, state=record.state)  # fmt: skip
        return len(saved)

    def record_state(self, booking_id: str, state: str, *, clear_error: bool = False) -> None:
        self.records[booking_id] = replace(self.records[booking_id], state=state)

    def publish(self, booking_id: str) -> None:
        """What the mapped group leaves behind when every step succeeded."""
        record = self.records[booking_id]
        self.records[booking_id] = replace(
            record, calendar_id=f"cal-{booking_id}", session_id="ABCDEFGHJKMNP",
            step_fingerprints=dict.fromkeys(STEPS, record.fingerprint))  # fmt: skip


def poll(ledger: Ledger, exports: Exports, **config: Any) -> Poll:
    return Poll(load_config(config), NOW, ledger=ledger, exports=exports)  # type: ignore[arg-type]


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
              ledger=ledger)  # type: ignore[arg-type]  # fmt: skip
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
    summary = summarize(load_config({}), first.as_xcom()["intake"], first.work, ledger=ledger)  # type: ignore[arg-type]
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
    summary = summarize(load_config({}), intake.as_xcom()["intake"], intake.work, ledger=ledger)  # type: ignore[arg-type]
    assert summary["counts"]["published"] == 1
    assert summary["counts"]["failed"] == 1
    failed = next(row for row in summary["bookings"] if row["outcome"] == "failed")
    assert failed["booking_id"] == "B-2"
    assert "JADA calendar said" in failed["error"]
    assert ledger.state.backlog == ["B-2"]
    table = summary_table(summary)
    assert "failed: 1" in table
    assert "https://queenofsandiego.com/g/ABCDEFGHJKMNP" in table


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
