"""The drift report's pure comparison (CONTRACT.md section 12): what differs, per field, and what is not drift."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from charter_pipeline.booking import Booking, fingerprint
from charter_pipeline.config import PipelineConfig
from charter_pipeline.guest_page import page_hash
from charter_pipeline.money_words import holds_amount
from charter_pipeline.reconcile.drift import (
    SKIP_ENDED,
    SKIP_PENDING,
    SKIP_RETIRED,
    Difference,
    alert_text,
    calendar_differences,
    page_difference,
    reported,
    same_number,
    scc_event_differences,
    scrub_difference,
    sent_calendar,
    sent_scc_event,
    situation,
    skip_reason,
)
from tests.factories import SESSION_ID, make_booking, make_config, published

TZ = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def config() -> PipelineConfig:
    return make_config()


@pytest.fixture
def booking() -> Booking:
    return make_booking()


def entry_as_sent(booking: Booking, config: PipelineConfig) -> dict[str, Any]:
    """What JADA holds after publishing: the payload, with its own id and timestamps."""
    sent = dict(sent_calendar(published(booking, config), booking, config).payload)
    return {**sent, "id": "cal_1", "created_at": "2026-11-01T00:00:00+00:00"}


def event_as_stored(booking: Booking, config: PipelineConfig) -> dict[str, Any]:
    """What SCC answers after publishing: its own status and money added (the API shows them; the scrub is on
    the table item)."""
    sent = dict(sent_scc_event(published(booking, config), booking, config).payload)
    return {**sent, "event_id": "evt-1", "status": "scheduled", "crew_pay": 150, "notes": sent["notes"] + "\n$25"}


# --- what is compared at all ----------------------------------------------------------------------------------


def test_a_published_charter_in_sync_and_ahead_is_compared(booking: Booking, config: PipelineConfig) -> None:
    assert skip_reason(published(booking, config), booking.start - timedelta(days=1)) is None


def test_a_newer_snapshot_not_yet_published_is_pending_work_not_drift(booking: Booking, config: PipelineConfig) -> None:
    moved = replace(booking, passengers=8)
    record = replace(published(booking, config), snapshot=moved.to_dict(), fingerprint=fingerprint(moved))
    assert skip_reason(record, booking.start - timedelta(days=1)) == SKIP_PENDING


def test_an_ended_charter_and_a_retired_page_are_not_compared(booking: Booking, config: PipelineConfig) -> None:
    record = published(booking, config)
    assert skip_reason(record, booking.end) == SKIP_ENDED
    assert skip_reason(record, booking.start - timedelta(days=1), retired=True) == SKIP_RETIRED


def test_what_was_sent_is_exact_while_the_settings_are_those_it_was_sent_with(
    booking: Booking, config: PipelineConfig
) -> None:
    record = published(booking, config)
    assert sent_calendar(record, booking, config).exact
    assert sent_scc_event(record, booking, config).exact
    new_rates = make_config(rates={"crew_hourly": "30.00"})
    new_roster = make_config(crew_roster={"default": {"captain": {"name": "Kim Helm"}, "crew": []}})
    assert not sent_calendar(record, booking, new_rates).exact
    assert not sent_scc_event(record, booking, new_roster).exact


# --- the JADA entry ---------------------------------------------------------------------------------------------


def test_an_entry_as_sent_has_no_difference(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    assert calendar_differences(sent, [entry_as_sent(booking, config)], "cal_1") == []


def test_money_fields_compare_as_decimals(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    entry = entry_as_sent(booking, config)
    # JADA may answer money as text, or with another scale: the same amount is no difference.
    entry.update(gross_revenue="840.750", crew_cost="250.00", port_fee=151.340, net_revenue=Decimal("289.41"))
    assert calendar_differences(sent, [entry], "cal_1") == []
    assert same_number("250.00", 250)
    assert not same_number("250.01", 250)
    assert not same_number(None, 0)
    assert not same_number("n/a", 0)


def test_each_edited_field_is_one_difference_naming_it(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    entry = entry_as_sent(booking, config)
    entry.update(
        status="cancelled",
        start="2026-12-04T11:00:00-08:00",
        party_size=8,
        net_revenue=300,
    )
    entry.pop("crew_cost")
    lines = [d.line for d in calendar_differences(sent, [entry], "cal_1")]
    assert lines == [
        "JADA entry cal_1: status is cancelled, the pipeline sent confirmed",
        "JADA entry cal_1: start is 2026-12-04T11:00:00-08:00, the pipeline sent 2026-12-04T10:00:00-08:00",
        "JADA entry cal_1: party_size is 8, the pipeline sent 6",
        "JADA entry cal_1: crew_cost is missing",
        "JADA entry cal_1: net_revenue differs from what the pipeline sent",
    ]
    # Reported, never repaired; and no amount in any line (they go into alerts).
    assert all(not d.repair for d in calendar_differences(sent, [entry], "cal_1"))
    assert not any(holds_amount(line) for line in lines)


def test_an_amount_typed_into_a_field_is_not_quoted(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    entry = {**entry_as_sent(booking, config), "status": "paid $840.75"}
    [edited] = calendar_differences(sent, [entry], "cal_1")
    assert edited.what == "status was edited, the pipeline sent confirmed"


def test_the_same_instant_written_in_utc_is_no_difference(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    entry = entry_as_sent(booking, config)
    entry["start"] = "2026-12-04T18:00:00+00:00"
    assert calendar_differences(sent, [entry], "cal_1") == []


def test_a_deleted_entry_is_one_difference(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_calendar(published(booking, config), booking, config)
    [gone] = calendar_differences(sent, [], "cal_1")
    assert gone.line == "JADA entry: cal_1 is gone (deleted at JADA)"
    other = {**entry_as_sent(booking, config), "id": "cal_9"}
    [replaced] = calendar_differences(sent, [other], "cal_1")
    assert replaced.what.endswith("the booking's external id is now on cal_9")


def test_after_a_rate_change_only_what_the_snapshot_decides_is_compared(booking: Booking) -> None:
    old = make_config()
    record = published(booking, old)
    entry = entry_as_sent(booking, old)
    new_rates = make_config(rates={"crew_hourly": "30.00"})
    sent = sent_calendar(record, booking, new_rates)
    # The crew cost sent under the old rates is not an edit, though today's rates would give another.
    assert calendar_differences(sent, [entry], "cal_1") == []
    entry["gross_revenue"] = 900
    assert [d.what for d in calendar_differences(sent, [entry], "cal_1")] == [
        "gross_revenue differs from what the pipeline sent"
    ]


# --- the SCC event and its item ---------------------------------------------------------------------------------


def test_an_event_as_scc_stores_it_has_no_difference(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_scc_event(published(booking, config), booking, config)
    assert scc_event_differences(sent, [event_as_stored(booking, config)], "evt-1") == []


def test_event_differences_status_times_and_crew_names(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_scc_event(published(booking, config), booking, config)
    event = event_as_stored(booking, config)
    event["crew"] = list(reversed(event["crew"]))  # order alone is no difference
    assert scc_event_differences(sent, [event], "evt-1") == []
    event.update(status="cancelled", end="2026-12-04T14:00:00-08:00")
    event["crew"] = [{"name": "Sam Skipper", "email": "", "role": "captain"}, {"name": "Zed Stranger", "role": "crew"}]
    assert [d.what for d in scc_event_differences(sent, [event], "evt-1")] == [
        "status is cancelled, the pipeline never cancelled it",
        "end is 2026-12-04T14:00:00-08:00, the pipeline sent 2026-12-04T13:00:00-08:00",
        "crew are Sam Skipper, Zed Stranger, the pipeline sent Ana Deck, Bo Line, Sam Skipper",
    ]


def test_a_deleted_event_is_one_difference(booking: Booking, config: PipelineConfig) -> None:
    sent = sent_scc_event(published(booking, config), booking, config)
    assert [d.line for d in scc_event_differences(sent, [], "evt-1")] == ["SCC event: evt-1 is gone (deleted at SCC)"]


def test_a_cancelled_booking_only_needs_its_event_cancelled(booking: Booking, config: PipelineConfig) -> None:
    cancelled = replace(booking, status="cancelled")
    sent = sent_scc_event(published(cancelled, config), cancelled, config)
    assert sent.payload == {"status": "cancelled"}
    event = {**event_as_stored(booking, config), "status": "cancelled"}
    assert scc_event_differences(sent, [event], "evt-1") == []
    event["status"] = "scheduled"
    assert [d.what for d in scc_event_differences(sent, [event], "evt-1")] == [
        "status is scheduled, the pipeline sent cancelled"
    ]


def test_money_back_in_the_scc_item_is_a_repaired_difference() -> None:
    assert scrub_difference([], 0) is None
    found = scrub_difference(["crew_pay", "revenue"], 2)
    assert found is not None
    assert found.repair
    assert found.line == "SCC item: held money again (attributes crew_pay, revenue and 2 note line(s))"


# --- the guest page ------------------------------------------------------------------------------------------------


def test_page_missing_or_altered_is_repaired_same_content_is_nothing() -> None:
    published_hash = page_hash("<p>hello</p>")
    assert page_difference(SESSION_ID, published_hash, published_hash) is None
    missing = page_difference(SESSION_ID, published_hash, None)
    altered = page_difference(SESSION_ID, published_hash, page_hash("<p>defaced</p>"))
    assert missing is not None
    assert missing.what == "is missing from the bucket"
    assert missing.repair
    assert altered is not None
    assert altered.what == "content differs from the page last published"


# --- the alert --------------------------------------------------------------------------------------------------


def test_the_alert_situation_is_the_reported_set_in_any_order(booking: Booking) -> None:
    a = Difference("JADA entry cal_1", "party_size is 8, the pipeline sent 6")
    b = Difference("SCC event", "evt-1 is gone (deleted at SCC)")
    repaired = Difference("guest page X", "is missing from the bucket", repair="uploaded again")
    assert situation([a, b, repaired]) == situation([b, a]) == sorted([a.line, b.line])
    assert reported([a, repaired]) == [a]
    text = alert_text(booking, [a, b], TZ)
    assert text.splitlines()[0].startswith("Drift on booking BS-1001: Sea Breeze, 2026-12-04 10:00.")
    assert f"- {a.line}" in text
    assert f"- {b.line}" in text
    assert "uploaded again" not in text
    assert not any(holds_amount(line) for line in text.splitlines())
