"""A cleared task of an OLDER run never sends the snapshot frozen in its run's XCom (issue 14, points 1 and 2).

Two real ``airflow dags test`` runs publish a booking at 10:00, then move it to 14:00. Then every per-booking step
of the first run is run again with that run's own work item and XComs, as clearing them in the UI would, against
the same stand-ins and moto; then the first run's summary. The services keep 14:00, crew get no e-mail, the page
keeps the new check-in time, nothing is invalidated again, and the summary reports the booking as superseded
without failing the run or touching the ledger's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from charter_pipeline.booking import fingerprint, parse_booking
from charter_pipeline.config import load_config
from charter_pipeline.ledger import STEPS, Action
from charter_pipeline.publishing.booking_steps import BookingSteps
from charter_pipeline.publishing.poll import work_item
from charter_pipeline.publishing.summary import summarize
from charter_pipeline.task_runtime import Hooks
from tests.e2e.harness import Deployment, row, session_id_of

pytestmark = pytest.mark.e2e

BOOKING = "STALE-1"
T1, T2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"


def sent(pipeline: Deployment, service: str) -> list[dict[str, Any]]:
    """Every request that changed something at the service (creates and updates) for the booking."""
    return [r for r in pipeline.requests(service) if r["method"] in ("POST", "PATCH")]


def test_a_cleared_older_run_keeps_the_newer_booking_everywhere(deployment: Callable[..., Deployment]) -> None:
    pipeline = deployment()
    first_row = row(BOOKING, updated_at=T1, start_time="10:00", renter_name="Ada Lovelace")
    pipeline.drop([first_row])
    first = pipeline.run()
    assert first.ok, first.output[-4000:]
    config = load_config(pipeline.variable)
    booking = parse_booking(first_row, config.tz)
    # The first run's work item, as Airflow kept it for that run.
    item = work_item(booking, fingerprint(booking), Action.PUBLISH, None)
    assert pipeline.ledger(BOOKING)["fingerprint"] == item["fingerprint"]
    [entry] = pipeline.calendar_entries(BOOKING)
    session_id = session_id_of(entry)
    old_page = pipeline.page(session_id)
    assert old_page is not None
    assert len(pipeline.scc_events(BOOKING)) == 1
    pipeline.drop([row(BOOKING, updated_at=T2, start_time="14:00", renter_name="Ada Lovelace")])
    second = pipeline.run()
    assert second.ok, second.output[-4000:]
    newer = pipeline.ledger(BOOKING)
    assert newer["fingerprint"] != item["fingerprint"]
    [moved] = pipeline.calendar_entries(BOOKING)
    assert moved["start"].startswith(f"{moved['charter_date']}T14:00:00")
    page = pipeline.page(session_id)
    assert page is not None
    assert "1:30" in page["html"]
    before = {
        "jada": sent(pipeline, "jada"),
        "scc": sent(pipeline, "scc"),
        "mails": pipeline.outbox(BOOKING),
        "invalidations": pipeline.invalidations(session_id),
    }

    # Clear the first run's booking tasks: each task is a new process with the first run's work item.
    def step() -> BookingSteps:
        return BookingSteps(config, item, Hooks.from_config(config))

    step().calendar()
    step().scrub()  # scrub cleared alone
    step().scc_event()
    step().scrub()
    step().invalidation()  # invalidation cleared alone
    step().guest_page()
    step().invalidation()
    summary = summarize(config, {"counts": {}, "quarantined": []}, [item], Hooks.from_config(config))

    [kept] = pipeline.calendar_entries(BOOKING)
    assert kept["start"] == moved["start"]
    [kept_event] = pipeline.scc_events(BOOKING)
    assert kept_event["start"] == moved["start"]
    assert sent(pipeline, "jada") == before["jada"]
    assert sent(pipeline, "scc") == before["scc"]
    assert pipeline.outbox(BOOKING) == before["mails"]
    assert pipeline.page(session_id) == page
    assert pipeline.invalidations(session_id) == before["invalidations"]
    after = pipeline.ledger(BOOKING)
    assert after["fingerprint"] == newer["fingerprint"]
    assert {after[f"{s}_fp"] for s in STEPS} == {newer["fingerprint"]}
    assert after["state"] == "published"
    assert not after.get("last_error")
    # The summary reports; it never degrades a healthy booking nor turns the run red.
    assert summary["counts"]["failed"] == 0
    assert summary["counts"]["superseded"] == 1
    assert [r["outcome"] for r in summary["bookings"]] == ["superseded"]
