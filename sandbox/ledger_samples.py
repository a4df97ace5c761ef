"""Charters written into a ledger the way the pipeline records them, for the staff page's tests, screenshots and
benchmark: snapshots saved, steps recorded (done, failed, skipped, pending), the month index, the backlog, crew
answers and quarantine records, all through the pipeline's own hooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sandbox.bootstrap import put_plugins_on_path

put_plugins_on_path()

from charter_pipeline.booking import Booking, fingerprint  # noqa: E402
from charter_pipeline.ledger import STEPS, LedgerRecord, with_snapshot  # noqa: E402

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.stores.aftercare_marks import AftercareMarks
    from charter_pipeline.stores.booking_records import BookingRecords

BOATS = ("Queen of San Diego", "Pacific Spirit", "Harbor Light")
# Names a careless page would turn into markup or a link (tests/reliability/corpus.py has the pipeline's own).
NASTY_NAMES = (
    "<script>alert('owned')</script>Eve Evans",
    '=HYPERLINK("http://evil.example","click") Fields',
    "\"><img src=x onerror=alert(1)> O'Brien",
    "Zoë {{ 7*7 }} Ångström",
)


@dataclass(frozen=True)
class SampleCharter:
    """One booking and how far the pipeline got with it."""

    booking_id: str
    name: str
    boat: str
    start: datetime
    status: str = "approved"
    progress: str = "published"  # published, failed, pending, cancelled
    session_id: str = ""
    crew: list[dict[str, str]] | None = field(default=None)


def charter_booking(sample: SampleCharter) -> Booking:
    return Booking(
        booking_id=sample.booking_id,
        status=sample.status,
        boat=sample.boat,
        renter_name=sample.name,
        trip_date=sample.start.date(),
        start=sample.start,
        duration_hours=Decimal("3"),
        passengers=6,
        gross=Decimal("1250.00"),
        renter_email="guest@example.com",
        renter_phone="+1 858 555 0199",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def staff_samples(today: date, tz: ZoneInfo) -> list[SampleCharter]:
    """A week of charters in every state the page shows, some with names from NASTY_NAMES."""

    def at(days: int, hour: int) -> datetime:
        return datetime.combine(today + timedelta(days=days), time(hour), tzinfo=tz)

    return [
        SampleCharter("STAFF-1001", "Jane Doe", BOATS[0], at(1, 10), session_id="K7M2Q9XW4HB3T",
                      crew=[{"name": "Sam Skipper", "role": "captain", "response": "accepted"},
                            {"name": "Dee Deckhand", "role": "crew", "response": "pending"}]),
        SampleCharter("STAFF-1002", NASTY_NAMES[0], BOATS[1], at(2, 14), session_id="P3R8V1ZC6NJ2D"),
        SampleCharter("STAFF-1003", NASTY_NAMES[1], BOATS[0], at(3, 9), progress="failed"),
        SampleCharter("STAFF-1004", NASTY_NAMES[2], "<b>Bold</b> Boat", at(4, 17), progress="pending"),
        SampleCharter("STAFF-1005", NASTY_NAMES[3], BOATS[2], at(5, 11), status="cancelled", progress="cancelled",
                      session_id="W5T0H7M3QX9KA"),
        SampleCharter("STAFF-1006", "Carlos Rivera", BOATS[2], at(20, 8), session_id="B8N4C2Y6RZ1PE",
                      crew=[{"name": "Sam Skipper", "role": "captain", "response": "declined"}]),
    ]  # fmt: skip


def sample_records(samples: Sequence[SampleCharter], now: datetime) -> list[LedgerRecord]:
    """The records the poll makes of ``samples`` when it first reads them."""
    records = []
    for number, sample in enumerate(samples):
        booking = charter_booking(sample)
        updated = booking.updated_at.isoformat() if booking.updated_at else ""
        order_key = [updated, now.isoformat(), "staff.csv", number]
        state = "pending" if sample.progress in ("pending", "failed") else "published"
        fp = fingerprint(booking)
        records.append(with_snapshot(None, booking, fp, order_key, f"staff.csv#{number}", now, "", state))
    return records


def record_samples(
    ledger: LedgerHook, samples: Sequence[SampleCharter], now: datetime, *, crew: bool = True
) -> list[LedgerRecord]:
    """Write ``samples`` into the ledger with the calls the pipeline makes; returns the new records."""
    from charter_pipeline.stores.aftercare_marks import AftercareMarks
    from charter_pipeline.stores.booking_records import BookingRecords
    from charter_pipeline.stores.charter_index import CharterIndex
    from charter_pipeline.stores.poll_state import PollStateStore

    records = sample_records(samples, now)
    stored = BookingRecords(ledger)
    # As the poll does: bookings already recorded are updated on condition of what was read, new ones created.
    stored.save_snapshots(records, stored.get_many(r.booking_id for r in records))
    CharterIndex(ledger, stored, PollStateStore(ledger)).index_charters(records)
    for sample, record in zip(samples, records, strict=True):
        _record_progress(stored, AftercareMarks(ledger), sample, record, crew=crew)
    return records


def _record_progress(
    ledger: BookingRecords, marks: AftercareMarks, sample: SampleCharter, record: LedgerRecord, *, crew: bool
) -> None:
    fp = record.fingerprint
    if sample.progress == "pending":
        return
    if sample.progress == "failed":
        ledger.record_step(sample.booking_id, "calendar", fp, "created CAL-1", calendar_id="CAL-1")
        ledger.record_failure(
            sample.booking_id, "scc", "ShipCaptainCrew POST /events failed: HTTP 503: event store unavailable"
        )
        return
    if sample.session_id:
        ledger.claim_session_id(sample.booking_id, sample.session_id)
    for step in STEPS:
        if step == "invalidation" and sample.booking_id.endswith("2"):
            ledger.record_step(sample.booking_id, step, fp, "skipped: cloudfront_distribution_id is empty")
        elif step == "page":
            ledger.record_step(sample.booking_id, step, fp, "uploaded", page_hash="h" + fp[:12])
        else:
            ledger.record_step(sample.booking_id, step, fp, f"{step} done")
    if crew and sample.crew is not None:
        marks.record_crew_answers(sample.booking_id, json.dumps(list(sample.crew)))


def backlog_of(samples: Iterable[SampleCharter]) -> list[str]:
    return [sample.booking_id for sample in samples if sample.progress == "failed"]


def quarantine_samples() -> list[tuple[str, dict[str, Any]]]:
    """Quarantine records (name, record) as the poll writes them; one reason carries markup."""
    stamp = datetime(2026, 1, 2, 3, 4, tzinfo=UTC).isoformat()
    return [
        (
            "bookings-0101.csv.abc123.row-4.json",
            {"source": "bookings-0101.csv", "row": 4, "reason": "Trip Date: not a date: '31/02/2026'",
             "raw": {}, "quarantined_at": stamp},
        ),
        (
            "bookings-0101.csv.abc123.row-7.json",
            {"source": "bookings-0101.csv", "row": 7, "reason": "Booking ID: <script>alert(1)</script> is not an id",
             "raw": {}, "quarantined_at": stamp},
        ),
    ]  # fmt: skip
