"""The trigger form and manual bookings through ``airflow dags test -c``: Airflow's own param check, then the
pipeline's, and what a manual booking does to a booking that came from an export (CONTRACT.md section 1).

The form's conf here is what the UI's form sends (every param, unfilled ones null, typed values as text), so these
runs take the path a staff member's click takes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from charter_pipeline.trigger_form import TRIGGER_PARAMS
from tests.e2e.harness import DAG_ID, Deployment, days_ahead, row, session_id_of

pytestmark = pytest.mark.e2e

EMPTY_FORM: dict[str, Any] = dict.fromkeys(TRIGGER_PARAMS)


def outside_calls(pipeline: Deployment) -> int:
    return len(pipeline.requests("jada")) + len(pipeline.requests("scc"))


def run_notes(pipeline: Deployment) -> dict[str, tuple[str, str]]:
    """The last run's line on its page in the UI, per task: state and rendered map index (publishing/tasks.py
    show_on_run), as the metadata database holds them for the API server."""
    with sqlite3.connect(pipeline.airflow_home / "airflow.db") as db:
        [run_id] = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, state, rendered_map_index FROM task_instance WHERE run_id = ? AND map_index = -1",
            (run_id,),
        ).fetchall()
    return {task_id: (state, note or "") for task_id, state, note in rows}


def as_conf(export_row: dict[str, str]) -> dict[str, Any]:
    """An export row as conf ``{"booking": {...}}``, snake_case, without ``updated_at`` (as the desk sends it)."""
    booking = {key.lower().replace(" ", "_"): value for key, value in export_row.items()}
    del booking["updated_at"]
    return {"booking": booking}


def test_a_manual_correction_updates_an_exported_booking_and_an_older_export_changes_nothing(
    deployment: Callable[..., Deployment],
) -> None:
    """Issue 22 point 1: a correction without updated_at counted as older than the export row and did nothing."""
    pipeline = deployment()
    exported = row("E2E-C001", updated_at="2026-11-20T10:00:00Z", renter_name="Rae Carson")
    pipeline.drop([exported])
    first = pipeline.run()
    assert first.ok, first.output[-4000:]
    [entry] = pipeline.calendar_entries("E2E-C001")
    [event] = pipeline.scc_events("E2E-C001")
    session_id = session_id_of(entry)
    page_before = pipeline.page(session_id)
    mails_before = len(pipeline.outbox("E2E-C001"))
    crew_with_mail = sorted(c["email"] for c in event["crew"] if c["email"])
    assert mails_before == len(crew_with_mail) > 0

    # The desk moves the charter to 14:00 for five guests, as the README's "Rerun a booking" does (no updated_at).
    corrected = pipeline.run(as_conf({**exported, "Start Time": "14:00", "Passengers": "5"}))
    assert corrected.ok, corrected.output[-4000:]
    assert "updated: 1" in corrected.output
    assert "Manual booking E2E-C001: applied: update" in corrected.output
    [moved] = pipeline.calendar_entries("E2E-C001")
    assert (moved["id"], moved["party_size"]) == (entry["id"], 5)
    assert moved["start"].startswith(f"{moved['charter_date']}T14:00:00")
    [moved_event] = pipeline.scc_events("E2E-C001")
    assert (moved_event["event_id"], moved_event["guest"]["party_size"]) == (event["event_id"], 5)
    page = pipeline.page(session_id)
    assert page is not None
    assert page_before is not None
    assert page["html"] != page_before["html"]
    assert "2:00" in page["html"]
    news = pipeline.outbox("E2E-C001")[mails_before:]
    assert sorted(m["to"] for m in news) == crew_with_mail  # one "Updated" e-mail per crew member
    assert {m["kind"] for m in news} == {"change"}
    assert run_notes(pipeline)["run_summary"][1].startswith("Manual booking E2E-C001: applied: update")

    # A later export still carrying the older row (Updated At before the trigger) changes nothing anywhere.
    calls = outside_calls(pipeline)
    pipeline.drop([exported])
    later = pipeline.run()
    assert later.ok, later.output[-4000:]
    assert "older rows ignored" in later.output or "unchanged" in later.output
    assert pipeline.calendar_entries("E2E-C001")[0]["start"] == moved["start"]
    assert pipeline.scc_events("E2E-C001")[0]["guest"]["party_size"] == 5
    assert [r for r in pipeline.requests("jada")[calls:] if r["method"] != "GET"] == []
    assert len(pipeline.outbox("E2E-C001")) == mails_before + len(news)

    # The same correction again changes nothing, and the run says so (green, with the line on its page).
    calls = len(pipeline.requests("jada")) + len(pipeline.requests("scc"))
    again = pipeline.run(as_conf({**exported, "Start Time": "14:00", "Passengers": "5"}))
    assert again.ok, again.output[-4000:]
    assert "Manual booking E2E-C001: nothing changed: it matches what is already published" in again.output
    state, note = run_notes(pipeline)["run_summary"]
    assert state == "success"
    assert note.startswith("Manual booking E2E-C001: nothing changed")
    assert [r for r in [*pipeline.requests("jada"), *pipeline.requests("scc")][calls:] if r["method"] != "GET"] == []


def test_a_manual_booking_older_than_the_recorded_snapshot_fails_its_run_saying_why(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    exported = row("E2E-C002", updated_at="2026-11-20T10:00:00Z")
    pipeline.drop([exported])
    assert pipeline.run().ok
    stale = {**as_conf({**exported, "Passengers": "9"})["booking"], "updated_at": "2026-11-19T10:00:00Z"}

    lost = pipeline.run({"booking": stale})

    assert not lost.ok
    assert "Manual booking E2E-C002: not applied: the ledger holds a newer snapshot" in lost.output
    state, note = run_notes(pipeline)["run_summary"]
    assert (state, note.split(" (")[0]) == (
        "failed",
        "Manual booking E2E-C002: not applied: the ledger holds a newer snapshot of it",
    )
    assert pipeline.calendar_entries("E2E-C002")[0]["party_size"] == 6


def test_a_bad_conf_booking_is_refused_before_any_outside_call_naming_the_field_on_the_runs_page(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    booking = as_conf(row("E2E-C003"))["booking"]
    seen = outside_calls(pipeline)
    for field, typed, named in (("gross", "-50", "Gross"), ("passengers", "0", "Passengers"),
                                ("start_time", "25:99", "Start Time")):  # fmt: skip
        refused = pipeline.run({"booking": {**booking, field: typed}})
        assert not refused.ok
        assert f"Manual booking refused: {named}: '{typed}' must be" in refused.output
        state, note = run_notes(pipeline)["collect_bookings"]
        assert (state, note.split(":")[:2]) == ("failed", ["Manual booking refused", f" {named}"])
    assert outside_calls(pipeline) == seen
    assert pipeline.ledger("E2E-C003") == {}


def test_the_form_publishes_one_booking_refuses_a_bad_field_and_polls_when_empty(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop([row("E2E-F900")])

    # A filled form: every field as typed, the date picker's date; the waiting export is not polled.
    form = {
        **EMPTY_FORM, "booking_id": "E2E-F001", "status": "confirmed", "boat": "Harbor Light",
        "renter_name": "Grace Hopper", "trip_date": days_ahead(14), "start_time": "14:00", "duration_hours": "2.5",
        "passengers": "5", "gross": "$1,234.50", "renter_phone": "+1 619 555 0123",
    }  # fmt: skip
    done = pipeline.run(form)
    assert done.ok, done.output[-4000:]
    [entry] = pipeline.calendar_entries("E2E-F001")
    assert (entry["party_size"], entry["gross_revenue"], entry["duration_hours"]) == (5, 1234.5, 2.5)
    assert entry["start"].endswith("T14:00:00-08:00") or entry["start"].endswith("T14:00:00-07:00")
    assert len(pipeline.scc_events("E2E-F001")) == 1
    assert pipeline.calendar_entries("E2E-F900") == []

    # Bad fields (issue 22's): Airflow refuses the params before any task runs, naming the field.
    seen = outside_calls(pipeline)
    for name, typed in (("gross", "-50"), ("passengers", "0"), ("start_time", "25:99")):
        refused = pipeline.run({**form, "booking_id": "E2E-F002", name: typed})
        assert not refused.ok
        assert f"Invalid input for param {name}" in refused.output
    assert outside_calls(pipeline) == seen
    assert pipeline.ledger("E2E-F002") == {}

    # What only the pipeline checks (a required field left empty) fails the run's first task, in the form's words,
    # and says so on the run's page.
    refused = pipeline.run({**form, "booking_id": "E2E-F003", "renter_name": None})
    assert not refused.ok
    assert "Manual booking refused: Renter name: must not be empty" in refused.output
    assert run_notes(pipeline)["collect_bookings"] == (
        "failed",
        "Manual booking refused: Renter name: must not be empty",
    )
    assert outside_calls(pipeline) == seen

    # An empty form polls like a scheduled run.
    polled = pipeline.run(dict(EMPTY_FORM))
    assert polled.ok, polled.output[-4000:]
    assert len(pipeline.calendar_entries("E2E-F900")) == 1
