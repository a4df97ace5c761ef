"""The inspector's section for the last drift report (sandbox/inspector.py, CONTRACT.md section 12)."""

from __future__ import annotations

import gzip
import json

from boto3.dynamodb.types import Binary

from charter_pipeline.ledger import DRIFT_REPORT_ID
from sandbox.inspector import _drift_report, render_text

REPORT = {
    "checked_at": "2026-12-01T08:00:00+00:00",
    "counts": {"in step": 1, "repaired": 1, "drift": 1, "skipped": 0, "error": 0, "ended": 4},
    "bookings": [
        {
            "booking_id": "BS-1",
            "guest": "Jane",
            "charter_date": "2026-12-04",
            "outcome": "repaired",
            "differences": [],
            "repairs": ["guest page X: is missing from the bucket -> uploaded again"],
            "alert": "",
            "note": "",
        },
        {
            "booking_id": "BS-2",
            "guest": "Ola",
            "charter_date": "2026-12-05",
            "outcome": "drift",
            "differences": ["JADA entry cal_1: party_size is 9, the pipeline sent 6", "SCC event: evt-2 is gone"],
            "repairs": [],
            "alert": "sent (drift-abc)",
            "note": "",
        },
        {"booking_id": "BS-3", "guest": "Kai", "charter_date": "2026-12-06", "outcome": "in step"},
    ],
}


def stored(report: dict[str, object]) -> dict[str, object]:
    """The item as the inspector's scan reads it (boto3's resource deserialises binary as Binary)."""
    body = gzip.compress(json.dumps(report).encode())
    return {"booking_id": DRIFT_REPORT_ID, "report": Binary(body), "updated_at": "2026-12-01T08:00:05+00:00"}


def test_every_difference_repair_and_alert_is_a_row() -> None:
    section = _drift_report([{"booking_id": "BS-1"}, stored(REPORT)])
    assert [row[0] for row in section.rows] == ["BS-1", "BS-2", "BS-2", "BS-2", "BS-3"]
    details = [row[4] for row in section.rows]
    assert details[0] == "repaired: guest page X: is missing from the bucket -> uploaded again"
    assert details[1] == "differs: JADA entry cal_1: party_size is 9, the pipeline sent 6"
    assert details[3] == "alert sent (drift-abc)"
    assert section.note.startswith("checked at 2026-12-01T08:00:00+00:00: in step 1, repaired 1, drift 1")
    assert "party_size is 9" in render_text([section], width=80)


def test_before_the_first_run_it_says_so() -> None:
    assert _drift_report([{"booking_id": "BS-1"}]).note == "no reconcile run yet"
