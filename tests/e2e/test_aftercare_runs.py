"""Whole ``airflow dags test charter_aftercare <instant>`` runs against the sandbox (CONTRACT.md section 11).

The publishing DAG publishes real bookings first; then aftercare runs at chosen instants, as the acceptance
checks run it, against SCC's crew answers, the alert receiver, S3 and CloudFront in moto.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.run import airflow_env
from tests.e2e.harness import AIRFLOW, REPO, TZ, Deployment, RunResult, days_ahead, row, session_id_of

pytestmark = pytest.mark.e2e


def run_aftercare(deployment: Deployment, instant: datetime) -> RunResult:
    """``airflow dags test charter_aftercare <instant>``: that hour's run, with its "now" at ``instant``."""
    env = airflow_env(
        deployment.airflow_home, connections=deployment.stack.connections_env(), variable=deployment.variable
    )
    started = time.monotonic()
    done = subprocess.run(
        [AIRFLOW, "dags", "test", "charter_aftercare", instant.isoformat()],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return RunResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def alerts_for(deployment: Deployment, *booking_ids: str) -> list[dict[str, Any]]:
    return [a for a in deployment.stack.alerts.received() if a["booking_id"] in booking_ids]


def event_of(deployment: Deployment, booking_id: str) -> dict[str, Any]:
    [event] = deployment.scc_events(booking_id)
    return event


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def test_crew_answers_alert_once_per_situation_then_all_clear_and_one_failing_booking_waits_for_the_next_run(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    # Two charters tomorrow (within crew_confirm_hours of any hour today), one in ten days (outside).
    pipeline.drop(
        [
            row("AC-1", trip_date=days_ahead(1), start_time="10:00"),
            row("AC-2", trip_date=days_ahead(1), start_time="15:00", boat="Marina Star"),
            row("AC-3", trip_date=days_ahead(10)),
        ]
    )
    published = pipeline.run()
    assert published.ok, published.output[-4000:]
    one, two = event_of(pipeline, "AC-1"), event_of(pipeline, "AC-2")
    now = this_hour()

    # SCC's GET for AC-2's event fails through every retry: AC-1 goes on, AC-2 waits, the run says so and is red.
    pipeline.stack.scc.inject(method="GET", path=f"/events/{two['event_id']}", status=503, count=4)
    first = run_aftercare(pipeline, now)
    assert not first.ok
    assert "Not done this run: crew answers of AC-2" in first.output
    [pending] = alerts_for(pipeline, "AC-1", "AC-2", "AC-3")
    assert pending["kind"] == "crew_pending"
    assert pending["booking_id"] == "AC-1"
    lines = pending["text"].splitlines()
    start = datetime.fromisoformat(f"{days_ahead(1)}T10:00:00").replace(tzinfo=TZ)
    assert lines[0] == (
        f"Crew not confirmed yet: booking AC-1, Sea Breeze, {start:%a} {start.day} {start:%b %Y}, 10:00 AM "
        "(America/Los_Angeles)"
    )
    assert "- Dana Whitfield (captain): pending" in lines
    assert "- Luis Ortega (crew): pending" in lines
    assert "@" not in pending["text"]

    # An hour later: Luis declines AC-1; AC-2's event reads fine now.
    pipeline.stack.scc.set_response(one["event_id"], "luis.ortega@example.com", "declined")
    second = run_aftercare(pipeline, now + timedelta(hours=1))
    assert second.ok, second.output[-4000:]
    got = alerts_for(pipeline, "AC-1", "AC-2", "AC-3")
    assert [(a["booking_id"], a["kind"]) for a in got[1:]] == [("AC-1", "crew_declined"), ("AC-2", "crew_pending")]
    assert "- Luis Ortega (crew): declined" in got[1]["text"]

    # Everyone on AC-1 accepts; the receiver answers 503 once, then 200: one all-clear, delivered once. AC-2's
    # answers are the same as an hour ago: nothing for it.
    for member in one["crew"]:
        pipeline.stack.scc.set_response(one["event_id"], member["email"] or member["name"], "accepted")
    pipeline.stack.alerts.inject(method="POST", path="/alerts", status=503, count=1)
    third = run_aftercare(pipeline, now + timedelta(hours=2))
    assert third.ok, third.output[-4000:]
    got = alerts_for(pipeline, "AC-1", "AC-2", "AC-3")
    assert [(a["booking_id"], a["kind"]) for a in got[3:]] == [("AC-1", "crew_all_clear")]
    assert [a["alert_id"] for a in got if a["repeat"]] == []
    assert len({a["alert_id"] for a in got}) == 4
    ledger = pipeline.ledger("AC-1")
    assert set(ledger["alerts_sent"]) == {a["alert_id"] for a in got if a["booking_id"] == "AC-1"}
    assert "Dana Whitfield" in ledger["crew_answers"]
    assert "@" not in ledger["crew_answers"]


def test_pages_retire_once_after_the_retention_days_and_a_change_export_publishes_nothing(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop([row("RT-1", trip_date=days_ahead(1)), row("RT-2", trip_date=days_ahead(20))])
    published = pipeline.run()
    assert published.ok, published.output[-4000:]
    [entry] = pipeline.calendar_entries("RT-1")
    session_id = session_id_of(entry)
    guest_page = pipeline.page(session_id)
    assert guest_page is not None
    assert "Jane" in guest_page["html"]
    [later_entry] = pipeline.calendar_entries("RT-2")

    # RT-1 ends tomorrow at 13:00 local; three days and an hour after that, its page is due.
    ended = datetime.fromisoformat(f"{days_ahead(1)}T13:00:00").replace(tzinfo=TZ).astimezone(UTC)
    due = ended.replace(minute=0) + timedelta(days=3, hours=1)
    retired = run_aftercare(pipeline, due)
    assert retired.ok, retired.output[-4000:]
    notice = pipeline.page(session_id)
    assert notice is not None
    assert notice["content_type"] == "text/html; charset=utf-8"
    for detail in ("Jane", "Sea Breeze", "RT-1", session_id, "10:00"):
        assert detail not in notice["html"]
    assert "no longer available" in notice["html"]
    [retiring, first_publish] = pipeline.invalidations(session_id)  # newest first
    assert retiring["paths"] == sorted([f"/g/{session_id}", f"/jada-guest-{session_id}.html"])
    assert retiring["caller_reference"].startswith(f"{session_id}-")
    assert retiring["caller_reference"] != first_publish["caller_reference"]
    assert pipeline.ledger("RT-1")["retired_at"]
    later_page = pipeline.page(session_id_of(later_entry))
    assert later_page is not None
    assert "Jane" in later_page["html"]  # RT-2 has not sailed yet

    # A change export for the retired booking: recorded, nothing more. No calendar, SCC or page call names it.
    calls_before = len(pipeline.requests("jada", "RT-1")) + len(pipeline.requests("scc", "RT-1"))
    pipeline.drop([row("RT-1", trip_date=days_ahead(1), passengers="8", updated_at="2030-01-01T00:00:00Z")])
    changed = pipeline.run()
    assert changed.ok, changed.output[-4000:]
    assert len(pipeline.requests("jada", "RT-1")) + len(pipeline.requests("scc", "RT-1")) == calls_before
    assert '"passengers": 8' in pipeline.ledger("RT-1")["snapshot"]
    assert pipeline.page(session_id) == notice

    # The next hour's run retires nothing again: still one retirement invalidation.
    again = run_aftercare(pipeline, due + timedelta(hours=1))
    assert again.ok, again.output[-4000:]
    assert len(pipeline.invalidations(session_id)) == 2
