"""``make run``'s embedded topology on the real scheduler: LocalExecutor on SQLite, the four components as separate
processes, with ``make run``'s parallelism (4), driven only through ``/api/v2`` and the services.

One topology serves the whole module (a start costs about a minute); each test publishes its own bookings and
reads only what concerns them. The schedule never comes round during the tests: every run is one a test triggered.

- Its task instances really run side by side, and nothing listens beyond loopback.
- Issue 14's stale clear: clearing an older run's booking tasks keeps the newer booking everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from benchmarks.bookings import csv_bytes, upcoming_charters
from sandbox.topology import DAG_ID, Topology
from tests.deployment.conftest import require_system_deps, today, when
from tests.e2e.harness import row

pytestmark = pytest.mark.timeout(900)

PARALLEL_BOOKINGS = 4
BOOKING = "STALE-REST-1"
EXTERNAL = f"boatsetter:{BOOKING}"
T1, T2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_system_deps()
    home = tmp_path_factory.mktemp("local-topology")
    # sandbox/run.py gives `airflow standalone` AIRFLOW__CORE__PARALLELISM=4: the same here.
    settings = {"AIRFLOW__CORE__PARALLELISM": "4"}
    with Topology("local", home=home, poll_schedule="0 0 1 1 *", settings=settings) as started:
        started.api.unpause(DAG_ID)
        yield started


def test_local_executor_runs_a_bookings_tasks_at_the_same_time_on_loopback_only(topology: Topology) -> None:
    rows = upcoming_charters(PARALLEL_BOOKINGS, today=today(), first_number=300)
    topology.put_exports({f"boatsetter-local-{today().isoformat()}.csv": csv_bytes(rows)})
    # The run of the yearly slot that unpausing started may be the one that finds them; this one then finds nothing.
    assert topology.api.wait_for_run(DAG_ID, topology.api.trigger(DAG_ID), timeout=600) == "success"
    settle(topology)
    ours = {row["Booking ID"] for row in rows}
    instances = [
        ti
        for run in topology.api.runs(DAG_ID)
        for ti in topology.api.task_instances(DAG_ID, run["dag_run_id"])
        if ti["map_index"] >= 0 and any(booking in str(ti.get("rendered_map_index")) for booking in ours)
    ]
    assert len(instances) == 6 * PARALLEL_BOOKINGS
    assert {ti["state"] for ti in instances} == {"success"}

    spans: list[tuple[datetime, datetime]] = sorted(
        (when(ti["start_date"]), when(ti["end_date"])) for ti in instances if ti["start_date"] and ti["end_date"]
    )
    most_at_once = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert most_at_once >= 2, "the task instances ran one after the other"
    assert {address for address, _, _ in topology.listeners()} == {"127.0.0.1"}


def settle(top: Topology, timeout: float = 300) -> None:
    """Wait until no run of the DAG is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(run["state"] not in ("queued", "running") for run in top.api.runs(DAG_ID)):
            return
        time.sleep(2)
    raise TimeoutError("runs still going")


def booking_tasks(top: Topology, run_id: str, booking: str = BOOKING) -> list[dict[str, Any]]:
    return [
        ti
        for ti in top.api.task_instances(DAG_ID, run_id)
        if ti["task_id"].startswith("charter.") and booking in str(ti.get("rendered_map_index") or "")
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
    """Issue 14's stale clear: a booking published at 10:00 is moved to 14:00 by a later export and run; the staff
    then clear the FIRST run's booking tasks (include downstream), as the README tells them to for a rerun. The
    services keep the newer values, the crew get no e-mail, the page does not change, nothing is invalidated again,
    and the cleared run ends green (its summary reports the booking as superseded)."""
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
