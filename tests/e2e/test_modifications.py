"""Modifications and cancellations: every artifact stays true to the latest export, and only real changes count.

Several bookings change in one run, each in a different way, so three DAG runs cover every kind of change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from tests.e2e.harness import Deployment, row, session_id_of

pytestmark = pytest.mark.e2e

MOVED, REPRICED, NEW_BOAT, CANCELLED, RESTAMPED = "MOD-1", "MOD-2", "MOD-3", "MOD-4", "MOD-5"
T1, T2, T3 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z"


def requests_for(pipeline: Deployment, service: str, booking_id: str, method: str) -> list[dict]:
    return [r for r in pipeline.requests(service, booking_id) if r["method"] == method]


def patches(pipeline: Deployment, service: str, entity_id: str) -> list[dict]:
    return [r for r in pipeline.requests(service) if r["method"] == "PATCH" and entity_id in r["path"]]


def test_changes_update_what_depends_on_them_and_nothing_else(deployment: Callable[..., Deployment]) -> None:
    pipeline = deployment()
    originals = [row(booking_id, updated_at=T1, renter_name=f"Guest{n} Tester") for n, booking_id in
                 enumerate((MOVED, REPRICED, NEW_BOAT, CANCELLED, RESTAMPED), start=1)]  # fmt: skip
    assert pipeline.run().ok  # an empty poll first: nothing to do is fine
    pipeline.drop(originals)
    first = pipeline.run()
    assert first.ok, first.output[-4000:]
    entries = {b: pipeline.calendar_entries(b)[0] for b in (MOVED, REPRICED, NEW_BOAT, CANCELLED, RESTAMPED)}
    events = {b: pipeline.scc_events(b)[0] for b in entries}
    sessions = {b: session_id_of(e) for b, e in entries.items()}
    mails_before = {b: len(pipeline.outbox(b)) for b in entries}
    pages_before = {b: pipeline.page(s)["html"] for b, s in sessions.items()}  # type: ignore[index]

    pipeline.drop(
        [
            row(MOVED, updated_at=T2, renter_name="Guest1 Tester", start_time="14:00", passengers="8"),
            row(REPRICED, updated_at=T2, renter_name="Guest2 Tester", gross="990.00"),
            row(NEW_BOAT, updated_at=T2, renter_name="Guest3 Tester", boat="Harbor Light"),
            row(CANCELLED, updated_at=T2, renter_name="Guest4 Tester", status="canceled"),
            row(RESTAMPED, updated_at=T2, renter_name="Guest5 Tester"),  # same snapshot, newer Updated At
            row(MOVED, updated_at=T1, renter_name="Guest1 Tester", passengers="3"),  # older row: changes nothing
        ]
    )
    second = pipeline.run()
    assert second.ok, second.output[-4000:]
    assert "updated: 3" in second.output
    assert "cancelled: 1" in second.output

    # Moved and resized: calendar and SCC patched, crew told once, page re-rendered at the same address.
    [moved] = pipeline.calendar_entries(MOVED)
    assert moved["id"] == entries[MOVED]["id"]
    assert moved["party_size"] == 8
    assert moved["start"].startswith(f"{moved['charter_date']}T14:00:00")
    assert session_id_of(moved) == sessions[MOVED]
    [moved_event] = pipeline.scc_events(MOVED)
    assert moved_event["guest"]["party_size"] == 8
    assert moved_event["start"] == moved["start"]
    assert [m["kind"] for m in pipeline.outbox(MOVED)[mails_before[MOVED] :]] == ["change"] * mails_before[MOVED]
    moved_page = pipeline.page(sessions[MOVED])
    assert moved_page is not None
    assert moved_page["html"] != pages_before[MOVED]
    assert "2:00" in moved_page["html"]
    assert len(pipeline.invalidations(sessions[MOVED])) == 2

    # Repriced: only the calendar's money changes; SCC is not touched and crew get no e-mail; the page (which
    # never shows money) is not re-uploaded or invalidated.
    [repriced] = pipeline.calendar_entries(REPRICED)
    assert Decimal(str(repriced["gross_revenue"])) == Decimal("990")
    assert Decimal(str(repriced["net_revenue"])) == Decimal("990") - 250 - 150 - Decimal("178.20")
    [repriced_patch] = patches(pipeline, "jada", entries[REPRICED]["id"])
    assert set(repriced_patch["body"]) == {"gross_revenue", "port_fee", "net_revenue"}
    assert patches(pipeline, "scc", events[REPRICED]["event_id"]) == []
    assert len(pipeline.outbox(REPRICED)) == mails_before[REPRICED]
    assert len(pipeline.invalidations(sessions[REPRICED])) == 1

    # New boat: that boat's roster sails; crew who leave and crew who join hear about it.
    [moved_boat] = pipeline.scc_events(NEW_BOAT)
    assert moved_boat["boat"] == "Harbor Light"
    assert {c["name"] for c in moved_boat["crew"]} == {"Eli Sandoval", "Nora Quinn", "Kim Nguyen"}
    assert pipeline.calendar_entries(NEW_BOAT)[0]["captain"] == "Eli Sandoval"

    # Cancelled: calendar says so, SCC event cancelled (crew told), the page is a cancellation notice.
    [cancelled] = pipeline.calendar_entries(CANCELLED)
    assert cancelled["status"] == "cancelled"
    assert pipeline.scc_events(CANCELLED)[0]["status"] == "cancelled"
    assert {m["kind"] for m in pipeline.outbox(CANCELLED)[mails_before[CANCELLED] :]} == {"cancellation"}
    notice = pipeline.page(sessions[CANCELLED])
    assert notice is not None
    assert "cancel" in notice["html"].lower()
    assert len(pipeline.invalidations(sessions[CANCELLED])) == 2
    assert pipeline.ledger(CANCELLED)["state"] == "cancelled"

    # Same snapshot re-exported: nothing sent anywhere.
    for service in ("jada", "scc"):
        assert requests_for(pipeline, service, RESTAMPED, "PATCH") == []
    assert len(pipeline.outbox(RESTAMPED)) == mails_before[RESTAMPED]

    # The cancelled booking comes back approved: published again at the same address.
    pipeline.drop([row(CANCELLED, updated_at=T3, renter_name="Guest4 Tester")])
    third = pipeline.run()
    assert third.ok, third.output[-4000:]
    [back] = pipeline.calendar_entries(CANCELLED)
    assert back["status"] == "confirmed"
    assert session_id_of(back) == sessions[CANCELLED]
    [event_back] = pipeline.scc_events(CANCELLED)
    assert event_back["status"] != "cancelled"
    page_back = pipeline.page(sessions[CANCELLED])
    assert page_back is not None
    assert page_back["html"] == pages_before[CANCELLED]
    assert len(pipeline.invalidations(sessions[CANCELLED])) == 3
    # Never a second entry or event for any booking, whatever changed.
    for booking_id in entries:
        assert len(pipeline.calendar_entries(booking_id)) == 1
        assert len(pipeline.scc_events(booking_id)) == 1
