"""Whole DAG runs against the sandbox: the four artifacts per booking, exactly once, whatever is rerun."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.harness import TZ, Deployment, assert_scrubbed, days_ahead, row, session_id_of

pytestmark = pytest.mark.e2e

MONEY_TEXT = re.compile(r"\$\s?\d|\d+\.\d\d\s?USD|revenue|payout", re.IGNORECASE)


def test_publish_four_artifacts_exactly_once_and_reruns_repeat_nothing(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop(
        [
            row("E2E-1001"),
            row(
                "E2E-1002",
                renter_name="Zoë O'Brien",
                boat="Marina Star",
                start_time="6:30 PM",
                passengers="2",
                gross="$1,234.50",
                captain="Eli Sandoval",
            ),
            row("E2E-1003", trip_date=days_ahead(-20)),  # already over: recorded, never published
            row("E2E-1004", status="inquiry"),  # not a charter yet
            row("E2E-1005", passengers="0"),  # bad row: quarantined, names the field
        ]
    )
    first = pipeline.run()
    assert first.ok, first.output[-4000:]

    # 1. calendar entry with the financials of CONTRACT.md section 4's worked example
    [entry] = pipeline.calendar_entries("E2E-1001")
    money = [Decimal(str(entry[k])) for k in ("gross_revenue", "crew_cost", "captain_cost", "port_fee", "net_revenue")]
    assert money == [Decimal("840.75"), Decimal("250"), Decimal("150"), Decimal("151.34"), Decimal("289.41")]
    assert entry["status"] == "confirmed"
    assert entry["event_type"] == "charter"
    assert entry["source"] == "boatsetter"
    start = datetime.fromisoformat(entry["start"])
    assert start.utcoffset() == start.astimezone(TZ).utcoffset()
    assert start.astimezone(TZ).hour == 10
    session_id = session_id_of(entry)
    assert entry["guest_url"] == f"https://queenofsandiego.com/g/{session_id}"

    # 2. one SCC event, money-free as stored after the scrub, one e-mail per crew member with an address
    [event] = pipeline.scc_events("E2E-1001")
    assert event["guest"] == {"name": "Jane D.", "party_size": 6}
    assert {c["role"] for c in event["crew"]} == {"captain", "crew"}
    assert_scrubbed(pipeline, event["event_id"])
    mails = pipeline.outbox("E2E-1001")
    assert sorted(m["to"] for m in mails) == sorted(c["email"] for c in event["crew"] if c["email"])

    # 3. the guest page, and 4. exactly one invalidation of exactly the two paths
    page = pipeline.page(session_id)
    assert page is not None
    assert page["content_type"] == "text/html; charset=utf-8"
    assert page["cache_control"]
    assert "Jane" in page["html"]
    assert "Doe" not in page["html"]
    assert "E2E-1001" not in page["html"]
    assert not MONEY_TEXT.search(page["html"])
    assert "jane.doe@example.com" not in page["html"]
    [invalidation] = pipeline.invalidations(session_id)
    assert invalidation["paths"] == sorted([f"/g/{session_id}", f"/jada-guest-{session_id}.html"])

    # The booked captain replaces the roster's, with the roster's e-mail.
    [event2] = pipeline.scc_events("E2E-1002")
    # What the pipeline sent; SCC adds each crew member's answer (`response`) of its own.
    captains = [{k: c[k] for k in ("name", "email", "role")} for c in event2["crew"] if c["role"] == "captain"]
    assert captains == [{"name": "Eli Sandoval", "email": "eli.sandoval@example.com", "role": "captain"}]
    assert all(c["response"] == "pending" for c in event2["crew"])
    assert event2["guest"]["name"] == "Zoë O."

    # Recorded only, and quarantined
    assert pipeline.calendar_entries("E2E-1003") == []
    assert pipeline.scc_events("E2E-1003") == []
    past = pipeline.ledger("E2E-1003")
    assert past["state"] == "recorded: past charter"
    assert "session_id" not in past  # no guest page either: it never got an address
    assert "page_hash" not in past
    assert pipeline.calendar_entries("E2E-1004") == []
    assert pipeline.ledger("E2E-1004")["status"] == "inquiry"
    [bad] = pipeline.quarantined()
    assert bad["row"] == 5
    assert bad["reason"].startswith("Passengers:")
    assert bad["raw"]["Booking ID"] == "E2E-1005"
    assert bad["source"].endswith("export-001.csv")
    # In the UI each booking's group is labelled with its booking id and guest first name.
    with sqlite3.connect(pipeline.airflow_home / "airflow.db") as db:
        labels = {label for (label,) in db.execute("SELECT rendered_map_index FROM task_instance WHERE map_index >= 0")}
    assert {"E2E-1001 (Jane)", "E2E-1002 (Zoë)"} <= labels
    assert "published: 2" in first.output
    assert "quarantined: 1" in first.output

    posts_before = len([r for r in pipeline.requests("jada") if r["method"] == "POST"])
    scc_posts_before = len([r for r in pipeline.requests("scc") if r["method"] == "POST"])
    mails_before = len(pipeline.stack.scc.outbox())

    # A poll with nothing new, the same snapshot in a new file, and a manual trigger of a done booking: nothing.
    assert pipeline.run().ok
    pipeline.drop([row("E2E-1001"), row("E2E-1003", trip_date=days_ahead(-20))])
    again = pipeline.run()
    assert again.ok, again.output[-3000:]
    manual = pipeline.run({"booking": {k.lower().replace(" ", "_"): v for k, v in row("E2E-1001").items()}})
    assert manual.ok, manual.output[-3000:]

    assert len(pipeline.calendar_entries("E2E-1001")) == 1
    assert len(pipeline.scc_events("E2E-1001")) == 1
    assert len([r for r in pipeline.requests("jada") if r["method"] == "POST"]) == posts_before
    assert len([r for r in pipeline.requests("scc") if r["method"] in ("POST", "PATCH")]) == scc_posts_before
    assert len(pipeline.stack.scc.outbox()) == mails_before
    assert len(pipeline.invalidations(session_id)) == 1


def test_manual_trigger_publishes_one_booking_and_refuses_a_bad_one(deployment: Callable[..., Deployment]) -> None:
    pipeline = deployment()
    pipeline.drop([row("E2E-2999")])  # an export is waiting, but a manual booking skips polling
    booking = {
        "booking_id": "E2E-2001", "status": "confirmed", "boat": "Harbor Light", "renter_name": "Ada Lovelace",
        "trip_date": days_ahead(12), "start_time": "9:00 AM", "duration_hours": "4", "passengers": 3,
        "gross": "1200.00",
    }  # fmt: skip
    good = pipeline.run({"booking": booking})
    assert good.ok, good.output[-4000:]
    assert len(pipeline.calendar_entries("E2E-2001")) == 1
    assert len(pipeline.scc_events("E2E-2001")) == 1
    assert pipeline.calendar_entries("E2E-2999") == []

    seen = len(pipeline.requests("jada")) + len(pipeline.requests("scc"))
    refused = pipeline.run({"booking": {**booking, "booking_id": "E2E-2002", "passengers": 0}})
    assert not refused.ok
    assert "Manual booking refused: Passengers: " in refused.output
    assert len(pipeline.requests("jada")) + len(pipeline.requests("scc")) == seen, "an outside call was made"
    assert pipeline.ledger("E2E-2002") == {}


def test_secrets_never_reach_logs_outputs_or_pages(deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    # This deployment also takes its exports from, and quarantines into, local folders (file:// locations).
    pipeline = deployment(exports_uri=f"file://{tmp_path}/exports/", quarantine_uri=f"file://{tmp_path}/quarantine/")
    pipeline.drop([row("E2E-3001"), row("E2E-3002", passengers="abc")])
    result = pipeline.run()
    assert result.ok, result.output[-3000:]
    stack = pipeline.stack
    secrets = [stack.dashboard_token, stack.scc_service_key, stack.aws_secret_access_key]
    haystacks = {"console": result.output}
    for path in pipeline.airflow_home.rglob("*"):
        if path.is_file() and path.suffix in {".log", ".json", ".txt", ""} and path.stat().st_size < 5_000_000:
            haystacks[str(path)] = path.read_text(errors="replace")
    [entry] = pipeline.calendar_entries("E2E-3001")
    page = pipeline.page(session_id_of(entry))
    assert page is not None
    haystacks["page"] = page["html"]
    [quarantined] = pipeline.quarantined()
    assert quarantined["reason"].startswith("Passengers:")
    haystacks["quarantine"] = str(quarantined)
    leaks = [(where, secret[:6]) for where, text in haystacks.items() for secret in secrets if secret in text]
    assert leaks == []
