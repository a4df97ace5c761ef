"""The trigger form through ``airflow dags test -c``: Airflow's own param check, then the pipeline's.

The conf here is what the UI's form sends (every param, unfilled ones null), so these runs take the path a
staff member's click takes. Conf ``{"booking": {...}}`` is covered by test_pipeline.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from charter_pipeline.trigger_form import TRIGGER_PARAMS
from tests.e2e.harness import Deployment, days_ahead, row

EMPTY_FORM: dict[str, Any] = dict.fromkeys(TRIGGER_PARAMS)


def outside_calls(pipeline: Deployment) -> int:
    return len(pipeline.requests("jada")) + len(pipeline.requests("scc"))


def test_the_form_publishes_one_booking_refuses_a_bad_field_and_polls_when_empty(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop([row("E2E-F900")])

    # A filled form: numbers as numbers, the date picker's date; the waiting export is not polled.
    form = {
        **EMPTY_FORM, "booking_id": "E2E-F001", "status": "confirmed", "boat": "Harbor Light",
        "renter_name": "Grace Hopper", "trip_date": days_ahead(14), "start_time": "14:00", "duration_hours": 2.5,
        "passengers": 5, "gross": 1234.5, "renter_phone": "+1 619 555 0123",
    }  # fmt: skip
    done = pipeline.run(form)
    assert done.ok, done.output[-4000:]
    [entry] = pipeline.calendar_entries("E2E-F001")
    assert (entry["party_size"], entry["gross_revenue"], entry["duration_hours"]) == (5, 1234.5, 2.5)
    assert entry["start"].endswith("T14:00:00-08:00") or entry["start"].endswith("T14:00:00-07:00")
    assert len(pipeline.scc_events("E2E-F001")) == 1
    assert pipeline.calendar_entries("E2E-F900") == []

    # A bad field: Airflow refuses the params before any task runs, naming the field.
    seen = outside_calls(pipeline)
    refused = pipeline.run({**form, "booking_id": "E2E-F002", "passengers": 0})
    assert not refused.ok
    assert "Invalid input for param passengers" in refused.output
    assert outside_calls(pipeline) == seen
    assert pipeline.ledger("E2E-F002") == {}

    # An empty form polls like a scheduled run.
    polled = pipeline.run(dict(EMPTY_FORM))
    assert polled.ok, polled.output[-4000:]
    assert len(pipeline.calendar_entries("E2E-F900")) == 1
