"""Issue 14's stale-clear scenario on the real scheduler, driven only through ``/api/v2`` and the services.

A booking is published at 10:00; a later export moves it to 14:00 and a later run publishes that. Then the staff
clear the FIRST run's booking tasks (``clearTaskInstances``, include downstream), as the README tells them to for
a rerun. The services keep the newer values, the crew get no e-mail, the guest page does not change, nothing is
invalidated again, and the cleared run ends green (its summary reports the booking as superseded).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.topology import DAG_ID, Topology
from tests.e2e.harness import csv_bytes, row

pytestmark = pytest.mark.e2e

BOOKING = "STALE-REST-1"
EXTERNAL = f"boatsetter:{BOOKING}"
T1, T2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    # A schedule that never comes round during the test: every run here is one the test triggered.
    with Topology("local", poll_schedule="0 0 1 1 *") as started:
        started.api.unpause(DAG_ID)
        yield started


def settle(top: Topology, timeout: float = 300) -> None:
    """Wait until no run of the DAG is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(run["state"] not in ("queued", "running") for run in top.api.runs(DAG_ID)):
            return
        time.sleep(2)
    raise TimeoutError("runs still going")


def booking_tasks(top: Topology, run_id: str) -> list[dict[str, Any]]:
    return [
        ti
        for ti in top.api.task_instances(DAG_ID, run_id)
        if ti["task_id"].startswith("charter.") and BOOKING in str(ti.get("rendered_map_index") or "")
    ]


def runs_with_the_booking(top: Topology) -> list[str]:
    return [run["dag_run_id"] for run in top.api.runs(DAG_ID) if booking_tasks(top, run["dag_run_id"])]


def changes(top: Topology, service: str) -> list[dict[str, Any]]:
    requests = getattr(top.stack, service).state()["requests"]
    return [r for r in requests if r["method"] in ("POST", "PATCH")]


def page_of(top: Topology, session_id: str) -> str:
    s3 = top.stack.boto3_client("s3")
    answer = s3.get_object(Bucket=top.variable["guest_bucket"], Key=f"jada-guest-{session_id}.html")
    return str(answer["Body"].read().decode())


def invalidations(top: Topology) -> list[str]:
    cloudfront = top.stack.boto3_client("cloudfront")
    listing = cloudfront.list_invalidations(DistributionId=top.variable["cloudfront_distribution_id"])
    return [item["Id"] for item in listing["InvalidationList"].get("Items", [])]


def test_clearing_an_older_runs_booking_tasks_keeps_the_newer_booking(topology: Topology) -> None:
    top = topology
    top.put_exports({"a.csv": csv_bytes([row(BOOKING, updated_at=T1, start_time="10:00")])})
    assert top.api.wait_for_run(DAG_ID, top.api.trigger(DAG_ID), timeout=300) == "success"
    settle(top)
    top.put_exports({"b.csv": csv_bytes([row(BOOKING, updated_at=T2, start_time="14:00")])})
    assert top.api.wait_for_run(DAG_ID, top.api.trigger(DAG_ID), timeout=300) == "success"
    settle(top)
    older, newer = runs_with_the_booking(top)
    [entry] = top.stack.jada.entries(EXTERNAL)
    assert entry["start"].startswith(f"{entry['charter_date']}T14:00:00")
    session_id = str(entry["guest_url"]).rsplit("/", 1)[-1]
    before = {
        "jada": changes(top, "jada"),
        "scc": changes(top, "scc"),
        "mails": top.stack.scc.outbox(),
        "page": page_of(top, session_id),
        "invalidations": invalidations(top),
    }
    [map_index] = {ti["map_index"] for ti in booking_tasks(top, older)}

    cleared = top.api.clear(
        DAG_ID,
        older,
        [[f"charter.{task}", map_index] for task in ("financials", "scc_event", "guest_page")],
        include_downstream=True,
    )
    assert {ti["task_id"] for ti in cleared} >= {"charter.calendar_entry", "charter.scrub_notes", "run_summary"}
    assert top.api.wait_for_run(DAG_ID, older, timeout=300) == "success"

    [kept] = top.stack.jada.entries(EXTERNAL)
    assert kept["start"] == entry["start"]
    [event] = top.stack.scc.events(EXTERNAL)
    assert event["start"] == entry["start"]
    assert changes(top, "jada") == before["jada"]
    assert changes(top, "scc") == before["scc"]
    assert top.stack.scc.outbox() == before["mails"]
    assert page_of(top, session_id) == before["page"]
    assert invalidations(top) == before["invalidations"]
    tries = top.api.tries(DAG_ID, older, "charter.scc_event", map_index)
    log = top.api.task_log(DAG_ID, older, "charter.scc_event", try_number=len(tries), map_index=map_index)
    assert "newer snapshot" in log
    summary_tries = top.api.tries(DAG_ID, older, "run_summary")
    summary_log = top.api.task_log(DAG_ID, older, "run_summary", try_number=len(summary_tries))
    assert "superseded" in summary_log
    assert newer != older
