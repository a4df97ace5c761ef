"""What each booking needs next, decided from its snapshot and its ledger record (ledger.decide)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.ledger import POLL_STATE_ID, STEPS, Action, LedgerRecord, decide, is_newer, with_snapshot
from tests.factories import make_booking

TZ = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def synced_record(booking: Booking, **changes: object) -> LedgerRecord:
    fp = fingerprint(booking)
    record = LedgerRecord(
        booking_id=booking.booking_id,
        snapshot=booking.to_dict(),
        fingerprint=fp,
        session_id="ABCDEFGHJKMNP",
        calendar_id="cal_1",
        scc_event_id="evt_1",
        page_hash="p1",
        step_fingerprints=dict.fromkeys(STEPS, fp),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("booking", "record", "expected"),
    [
        pytest.param(make_booking(), None, Action.PUBLISH, id="new charter"),
        pytest.param(make_booking(status="confirmed"), None, Action.PUBLISH, id="confirmed is a charter"),
        pytest.param(make_booking(days_ahead=-3), None, Action.RECORD_PAST, id="ended before first seen"),
        pytest.param(make_booking(status="inquiry"), None, Action.RECORD_ONLY, id="inquiry is not a charter"),
        pytest.param(make_booking(status="cancelled"), None, Action.RECORD_ONLY, id="cancelled never published"),
        pytest.param(make_booking(), synced_record(make_booking()), Action.UNCHANGED, id="already in sync"),
        pytest.param(make_booking(passengers=8), synced_record(make_booking()), Action.UPDATE, id="changed party"),
        pytest.param(make_booking(status="cancelled"), synced_record(make_booking()), Action.CANCEL, id="cancelled"),
        pytest.param(
            make_booking(status="expired"),
            synced_record(make_booking()),
            Action.CANCEL,
            id="published then expired counts as cancelled",
        ),
        pytest.param(
            make_booking(),
            synced_record(make_booking(status="cancelled")),
            Action.UPDATE,
            id="re-approved after cancellation",
        ),
        pytest.param(
            make_booking(status="completed"),
            synced_record(make_booking()),
            Action.UNCHANGED,
            id="completed is the same charter",
        ),
    ],
)
def test_decide(booking: Booking, record: LedgerRecord | None, expected: Action) -> None:
    assert decide(booking, fingerprint(booking), record, NOW) is expected


def test_a_partly_done_booking_is_work_again() -> None:
    booking = make_booking()
    fp = fingerprint(booking)
    record = synced_record(booking)
    partial = replace(record, step_fingerprints={**record.step_fingerprints, "invalidation": "older"})
    assert decide(booking, fp, partial, NOW) is Action.UPDATE
    assert partial.pending_steps() == ["invalidation"]


def test_a_failed_first_publish_is_retried_while_the_charter_is_ahead() -> None:
    booking = make_booking()
    fp = fingerprint(booking)
    failed = LedgerRecord(
        booking_id=booking.booking_id,
        snapshot=booking.to_dict(),
        fingerprint=fp,
        last_error="ServiceUnavailable: 503",
        step_fingerprints={"calendar": fp},
    )
    # The calendar entry id was never recorded: nothing is published yet, so it is a publish again.
    assert decide(booking, fp, failed, NOW) is Action.PUBLISH
    assert decide(booking, fp, failed, NOW + timedelta(days=30)) is Action.RECORD_PAST


def test_newer_snapshot_ordering() -> None:
    record = LedgerRecord(booking_id="BS-1", order_key=[1, "2026-11-01T00:00:00+00:00", "2026-11-02", "a.csv", 3])
    assert is_newer([1, "2026-11-02T00:00:00+00:00", "2026-11-01", "a.csv", 1], record)
    assert not is_newer([1, "2026-10-31T00:00:00+00:00", "2026-12-01", "z.csv", 9], record)
    assert not is_newer([0, "", "2026-12-01", "z.csv", 9], record)
    assert is_newer([0, "", "2026-12-01", "z.csv", 9], None)


def test_with_snapshot_keeps_artifacts_and_progress() -> None:
    booking = make_booking()
    record = synced_record(booking)
    changed = make_booking(passengers=9)
    updated = with_snapshot(record, changed, fingerprint(changed), [1], "b.csv#2", NOW)
    assert updated.calendar_id == "cal_1"
    assert updated.session_id == "ABCDEFGHJKMNP"
    assert updated.step_fingerprints == record.step_fingerprints
    assert updated.snapshot == changed.to_dict()
    assert not updated.in_sync()
    assert date.fromisoformat(updated.snapshot["trip_date"]) == changed.trip_date


def test_the_bookkeeping_item_can_never_be_a_booking() -> None:
    # Boatsetter ids are at most 64 characters (CONTRACT.md section 3).
    assert len(POLL_STATE_ID) > 64
    assert POLL_STATE_ID.startswith("#")


def test_booking_states_read_exactly_as_the_ledger_stores_them() -> None:
    from charter_pipeline.ledger import BookingState

    assert [state.value for state in BookingState] == [
        "pending", "published", "cancelled", "failed", "recorded", "recorded: past charter", "recorded: not a charter"
    ]  # fmt: skip
    assert BookingState.never_published("recorded: past charter")
    assert BookingState.never_published(BookingState.RECORDED_NOT_A_CHARTER)
    assert not BookingState.never_published("published")
    assert not BookingState.never_published("")


def test_a_step_result_says_failed_or_skipped_only_through_its_own_functions() -> None:
    from charter_pipeline.ledger import failed_result, skipped_result, step_result_failed, step_result_skipped

    assert failed_result("JADA answered 503") == "failed: JADA answered 503"
    assert step_result_failed(failed_result("x"))
    assert not step_result_skipped(failed_result("x"))
    assert step_result_skipped(skipped_result("no distribution"))
    assert not step_result_failed(skipped_result("y"))
    assert not step_result_failed("created cal_1")
    assert not step_result_skipped("created cal_1")
