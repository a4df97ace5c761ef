"""charter_aftercare's pure decisions: whose crew answers are read, which situation and alert they make, which
guest pages are due for retirement, and that a retired booking is never published again (CONTRACT.md 11)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from charter_pipeline.aftercare.crew_answers import (
    CrewAnswer,
    answers_from_event,
    answers_json,
    crew_alert,
    needs_crew_check,
    situation,
)
from charter_pipeline.aftercare.retirement import due_for_retirement
from charter_pipeline.alerts import alert_findings
from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import load_config
from charter_pipeline.guest_page import render_retired_page
from charter_pipeline.ledger import STEPS, Action, LedgerRecord, decide

TZ = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 12, 4, 10, 0, tzinfo=TZ)  # a 3-hour charter, 10:00 to 13:00 local


def record(status: str = "approved", **changes: object) -> LedgerRecord:
    booking = Booking(
        booking_id="BS-1001",
        status=status,
        boat="Sea Breeze",
        renter_name="Jane Doe",
        trip_date=START.date(),
        start=START,
        duration_hours=Decimal("3"),
        passengers=6,
        gross=Decimal("840.75"),
    )
    fp = fingerprint(booking)
    base = LedgerRecord(
        booking_id="BS-1001",
        snapshot=booking.to_dict(),
        fingerprint=fp,
        status=status,
        session_id="ABCDEFGHJKMNP",
        calendar_id="cal_1",
        scc_event_id="evt_1",
        page_hash="p1",
        step_fingerprints=dict.fromkeys(STEPS, fp),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def crew(**responses: str) -> list[CrewAnswer]:
    roles = {"Alex Rivera": "captain"}
    return [CrewAnswer(name, roles.get(name, "crew"), answer) for name, answer in responses.items()]


ALL_PENDING = {"Alex Rivera": "pending", "Sam Lee": "pending"}


# --- whose answers are read ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - timedelta(hours=49), False),  # beyond crew_confirm_hours
        (START - timedelta(hours=48), True),  # exactly 48 hours ahead: within
        (START - timedelta(minutes=1), True),
        (START, False),  # started: too late to chase anyone
        (START + timedelta(hours=1), False),
    ],
)
def test_answers_are_read_for_charters_starting_after_now_and_within_the_window(now: datetime, expected: bool) -> None:
    assert needs_crew_check(record(), now, 48) is expected


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "cancelled"},
        {"scc_event_id": ""},  # never reached SCC: there is nobody to ask
        {"retired_hash": "n1"},
        {"snapshot": None},
    ],
)
def test_cancelled_unpublished_retired_or_unknown_bookings_are_not_checked(changes: dict[str, object]) -> None:
    status = changes.pop("status", "approved")
    assert needs_crew_check(record(str(status), **changes), START - timedelta(hours=1), 48) is False


def test_answers_from_scc_keep_names_roles_and_answers_never_addresses() -> None:
    event = {
        "crew": [
            {"name": "Alex  Rivera", "email": "alex@example.com", "role": "captain", "response": "ACCEPTED"},
            {"name": "Sam Lee", "email": "sam@example.com", "role": "crew"},  # SCC has no answer yet
            {"name": "Kai Moana", "email": "", "role": "crew", "response": "maybe"},
            "not a member",
        ]
    }
    answers = answers_from_event(event)
    assert answers == [
        CrewAnswer("Alex Rivera", "captain", "accepted"),
        CrewAnswer("Sam Lee", "crew", "pending"),
        CrewAnswer("Kai Moana", "crew", "pending"),
    ]
    assert "@" not in answers_json(answers)
    assert answers_from_event({}) == []


# --- which situation and which alert ---------------------------------------------------------------------------


def test_the_situation_is_the_set_of_answers_in_any_order() -> None:
    one = crew(**{"Sam Lee": "declined", "Alex Rivera": "accepted"})
    assert (
        situation(one)
        == situation(list(reversed(one)))
        == ["Alex Rivera (captain): accepted", "Sam Lee (crew): declined"]
    )


def test_pending_crew_make_one_crew_pending_alert_with_every_answer() -> None:
    alert = crew_alert(record(), crew(**ALL_PENDING), TZ, delivered=(), open_alert="")
    assert alert is not None
    assert alert.kind == "crew_pending"
    first, *members, advice = alert.text.splitlines()
    assert (
        first == "Crew not confirmed yet: booking BS-1001, Sea Breeze, Fri 4 Dec 2026, 10:00 AM (America/Los_Angeles)"
    )
    assert members == ["- Alex Rivera (captain): pending", "- Sam Lee (crew): pending"]
    assert "magic link" in advice
    assert alert_findings(alert.text) == []


def test_anyone_declined_makes_it_a_crew_declined_alert() -> None:
    alert = crew_alert(
        record(), crew(**{"Alex Rivera": "accepted", "Sam Lee": "declined"}), TZ, delivered=(), open_alert=""
    )
    assert alert is not None
    assert alert.kind == "crew_declined"
    assert "- Sam Lee (crew): declined" in alert.text


def test_the_same_answers_once_delivered_make_no_alert() -> None:
    first = crew_alert(record(), crew(**ALL_PENDING), TZ, delivered=(), open_alert="")
    assert first is not None
    assert crew_alert(record(), crew(**ALL_PENDING), TZ, delivered={first.alert_id}, open_alert=first.alert_id) is None


def test_a_new_situation_makes_a_new_alert() -> None:
    first = crew_alert(record(), crew(**ALL_PENDING), TZ, delivered=(), open_alert="")
    assert first is not None
    later = crew_alert(
        record(),
        crew(**{"Alex Rivera": "accepted", "Sam Lee": "pending"}),
        TZ,
        delivered={first.alert_id},
        open_alert=first.alert_id,
    )
    assert later is not None
    assert later.kind == "crew_pending"
    assert later.alert_id != first.alert_id


def test_all_accepted_after_an_alert_makes_one_all_clear_and_nothing_without_one() -> None:
    accepted = crew(**{"Alex Rivera": "accepted", "Sam Lee": "accepted"})
    assert crew_alert(record(), accepted, TZ, delivered=(), open_alert="") is None
    clear = crew_alert(record(), accepted, TZ, delivered={"crew_pending-x"}, open_alert="crew_pending-x")
    assert clear is not None
    assert clear.kind == "crew_all_clear"
    assert "Nothing to do" in clear.text
    assert crew_alert(record(), accepted, TZ, delivered={"crew_pending-x", clear.alert_id}, open_alert="") is None
    # A later decline and a later all-clear are new alerts: the all-clear's id names the alert it resolves.
    again = crew_alert(record(), accepted, TZ, delivered={clear.alert_id}, open_alert="crew_declined-y")
    assert again is not None
    assert again.alert_id != clear.alert_id


def test_no_crew_at_all_makes_no_alert() -> None:
    assert crew_alert(record(), [], TZ, delivered=(), open_alert="") is None


# --- what is due for retirement ----------------------------------------------------------------------------------

END = START + timedelta(hours=3)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (END + timedelta(days=2), False),
        (END + timedelta(days=3), False),  # ended exactly 3 days ago: not yet "more than"
        (END + timedelta(days=3, seconds=1), True),
        (END + timedelta(days=30), True),
    ],
)
def test_a_page_is_due_once_its_charter_ended_more_than_the_retention_days_ago(now: datetime, expected: bool) -> None:
    assert due_for_retirement(record(), now.astimezone(UTC), 3) is expected


def test_cancellation_notices_are_retired_too_and_a_halfway_retirement_is_finished() -> None:
    later = END + timedelta(days=4)
    assert due_for_retirement(record("cancelled"), later, 3) is True
    assert due_for_retirement(record(retired_hash="n1"), later, 3) is True  # notice marked, not yet invalidated
    assert due_for_retirement(record(retired_hash="n1", retired_at="2026-12-08T00:00:00+00:00"), later, 3) is False
    assert due_for_retirement(record(page_hash=""), later, 3) is False  # never had a page


def test_the_retired_notice_holds_nothing_of_the_booking() -> None:
    config = load_config({})
    page = render_retired_page(config)
    assert page == render_retired_page(config)
    assert 'name="robots" content="noindex, nofollow"' in page
    assert config.emergency_contact.phone in page
    for detail in ("Jane", "Doe", "Sea Breeze", "BS-1001", "December", "Dec", "10:00", "ABCDEFGHJKMNP"):
        assert detail not in page


# --- retired is never published again --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["approved", "cancelled"])
def test_a_change_export_for_a_retired_booking_is_recorded_and_nothing_more(status: str) -> None:
    retired = record(retired_hash="n1", retired_at="2026-12-08T00:00:00+00:00")
    changed = replace(retired.booking, status=status, passengers=8)  # type: ignore[type-var]
    assert decide(changed, fingerprint(changed), retired, END + timedelta(days=5)) is Action.RECORD_PAST
    assert decide(changed, fingerprint(changed), record(), END + timedelta(days=5)) is not Action.RECORD_PAST
