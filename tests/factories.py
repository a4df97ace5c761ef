"""Factories the unit tests share (a helper module, no tests here): one booking, one config, one published record.

Plain functions rather than fixtures, because tests also call them inside ``pytest.mark.parametrize``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import PipelineConfig, load_config
from charter_pipeline.ledger import STEPS, LedgerRecord

TZ = ZoneInfo("America/Los_Angeles")
# The day the factories count from: the base booking sails ten days later, on 2026-12-04 at 10:00 in San Diego.
FACTORY_TODAY = date(2026, 11, 24)
SESSION_ID = "7K3M9QXWZ2ABC"  # the guest page of the published record


def make_booking(*, days_ahead: int | None = None, **changes: Any) -> Booking:
    """A 3 h charter grossing 840.75 for six (CONTRACT.md section 4's example), with ``changes``.

    ``days_ahead`` moves it to that many days after FACTORY_TODAY, same time of day.
    """
    booking = Booking(
        booking_id="BS-1001",
        status="approved",
        boat="Sea Breeze",
        renter_name="Jane Doe",
        trip_date=date(2026, 12, 4),
        start=datetime(2026, 12, 4, 10, 0, tzinfo=TZ),
        duration_hours=Decimal("3"),
        passengers=6,
        gross=Decimal("840.75"),
        renter_email="jane.doe@mail.example",
        renter_phone="+1 858 555 0199",
    )
    if days_ahead is not None:
        day = FACTORY_TODAY + timedelta(days=days_ahead)
        booking = replace(booking, trip_date=day, start=datetime.combine(day, booking.start.timetz()))
    return replace(booking, **changes)


# Sea Breeze's crew on the default roster: a captain with an e-mail, a deckhand with one, a deckhand without.
ROSTER: dict[str, Any] = {
    "default": {
        "captain": {"name": "Sam Skipper", "email": "sam@jada.example"},
        "crew": [{"name": "Ana Deck", "email": "ana@jada.example"}, {"name": "Bo Line"}],
    }
}


def make_config(roster: dict[str, Any] | None = None, **settings: Any) -> PipelineConfig:
    """The validated Variable with ``roster`` (default ROSTER) as its crew_roster, and ``settings``."""
    return load_config({"crew_roster": ROSTER if roster is None else roster, **settings})


def published(booking: Booking, config: PipelineConfig, **changes: Any) -> LedgerRecord:
    """The ledger record publishing leaves: every step done for the snapshot, the hashes of what was sent."""
    from charter_pipeline.reconcile.drift import sent_calendar, sent_scc_event
    from charter_pipeline.service_state import payload_hash

    fp = fingerprint(booking)
    record = LedgerRecord(
        booking_id=booking.booking_id,
        snapshot=booking.to_dict(),
        fingerprint=fp,
        session_id=SESSION_ID,
        calendar_id="cal_1",
        scc_event_id="evt-1",
        page_hash="a" * 64,
        step_fingerprints=dict.fromkeys(STEPS, fp),
    )
    record = replace(
        record,
        calendar_hash=payload_hash(sent_calendar(record, booking, config).payload),
        scc_hash=payload_hash(sent_scc_event(record, booking, config).payload),
    )
    return replace(record, **changes)
