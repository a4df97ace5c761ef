"""LedgerHook keeps the last drift report (CONTRACT.md section 12) beside the bookings, never among them."""

from __future__ import annotations

from charter_pipeline.task_runtime import Hooks
from tests.hooks.stand_ins import ledger_record as record


def test_the_last_drift_report_replaces_the_one_before_and_is_no_booking(ledger: Hooks) -> None:
    assert ledger.drift_reports.get_drift_report() is None
    published = record()
    ledger.records.save_snapshots([published], existing={})
    ledger.records.record_step(published.booking_id, "calendar", published.fingerprint, "created", calendar_id="cal_1")
    ledger.drift_reports.save_drift_report(
        {"checked_at": "2026-12-01T08:00:00+00:00", "bookings": [{"booking_id": "BS-1"}]}
    )
    later = {"checked_at": "2026-12-02T08:00:00+00:00", "counts": {"drift": 0}, "bookings": []}
    ledger.drift_reports.save_drift_report(later)
    assert ledger.drift_reports.get_drift_report() == later
    assert [r.booking_id for r in ledger.records.published_records()] == [published.booking_id]
