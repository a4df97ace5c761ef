"""``make run``'s embedded topology on the real scheduler: LocalExecutor on SQLite, the four components as separate
processes, with ``make run``'s parallelism (4), driven only through ``/api/v2`` and the services.

One topology serves the whole module (a start costs about a minute); each test publishes its own bookings and
reads only what concerns them. The poll's and aftercare's schedules never come round during the tests: every run is
one a test triggered.

- Its task instances really run side by side, and nothing listens beyond loopback.
- Issue 14's stale clear: clearing an older run's booking tasks keeps the newer booking everywhere.
- ``charter_aftercare`` (CONTRACT.md section 11): a crew alert reaches the desk once, then a retired guest page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from benchmarks.bookings import csv_bytes, upcoming_charters
from sandbox.topology import DAG_ID, Topology
from tests.deployment.helpers import require_system_deps, today, when
from tests.e2e.harness import row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# A schedule that does not come round while the tests run (its latest slot, New Year, may run at the unpause).
NEVER = "0 0 1 1 *"
PARALLEL_BOOKINGS = 4
BOOKING = "STALE-REST-1"
EXTERNAL = f"boatsetter:{BOOKING}"
T1, T2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"
AFTERCARE = "charter_aftercare"
AFTERCARE_BOOKING = "AFTER-DEPLOY-1"
AFTERCARE_EXTERNAL = f"boatsetter:{AFTERCARE_BOOKING}"
TZ = ZoneInfo("America/Los_Angeles")
RETENTION_DAYS = 3  # guest_page_retention_days: the topology's Variable keeps the contract's default


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_system_deps()
    home = tmp_path_factory.mktemp("local-topology")
    # sandbox/run.py gives `make run` (this topology with LocalExecutor) AIRFLOW__CORE__PARALLELISM=4: the same here.
    settings = {"AIRFLOW__CORE__PARALLELISM": "4", "CHARTER_AFTERCARE_SCHEDULE": NEVER}
    with Topology("local", home=home, poll_schedule=NEVER, settings=settings) as started:
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

    def quiet() -> bool:
        return all(run["state"] not in ("queued", "running") for run in top.api.runs(DAG_ID))

    top.wait("no run queued or running", quiet, timeout)


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


# charter_aftercare


def publish(top: Topology, booking: dict[str, str]) -> None:
    """Drop an export holding ``booking`` and run the pipeline by hand (REST), until its page is invalidated."""
    name = f"after-deploy-{booking['Updated At'][:10]}.csv"
    before = len(invalidations_naming(top, ""))
    top.put_exports({name: csv_bytes([booking])})
    assert top.api.wait_for_run(DAG_ID, top.api.trigger(DAG_ID), timeout=300) == "success"
    # Another run (a scheduled poll) may have taken the export first: wait for its page's invalidation too.
    top.wait("a new invalidation", lambda: len(invalidations_naming(top, "")) > before, timeout=120)


def run_aftercare(top: Topology, now: datetime) -> dict[str, Any]:
    """One manual aftercare run whose logical date, its "now", is ``now``; what each of its tasks returned."""
    run_id = top.api.trigger(AFTERCARE, logical_date=now)
    assert top.api.wait_for_run(AFTERCARE, run_id, timeout=300) == "success"
    run = quote(run_id, safe="")
    returned = {
        task: top.api.call("GET", f"dags/{AFTERCARE}/dagRuns/{run}/taskInstances/{task}/xcomEntries/return_value")[
            "value"
        ]
        for task in ("check_crew_answers", "retire_guest_pages", "run_summary")
    }
    assert datetime.fromisoformat(returned["run_summary"]["now"]) == now
    return returned


def mine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["booking_id"] == AFTERCARE_BOOKING]


def invalidations_naming(top: Topology, session_id: str) -> list[dict[str, Any]]:
    """The invalidations with a path naming ``session_id`` (every one for ""), newest first."""
    cloudfront = top.stack.boto3_client("cloudfront")
    distribution = top.variable["cloudfront_distribution_id"]
    found = []
    for item in cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", []):
        batch = cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"][
            "InvalidationBatch"
        ]
        paths = sorted(batch["Paths"].get("Items", []))
        if any(session_id in path for path in paths):
            found.append({"paths": paths, "caller_reference": batch["CallerReference"]})
    return found


def a_moment_ago() -> datetime:
    """A logical date the scheduler will run now (not in the future), distinct from every other run's."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


def test_aftercare_alerts_the_desk_once_then_retires_the_page_on_the_scheduler(topology: Topology) -> None:
    """A booking published by a manual run, then aftercare runs triggered with a logical date (their "now"): a crew
    alert reaches the alert receiver once and the same answers later send nothing; a correction export moves the trip
    into the past, and the next run puts the neutral notice in place of its guest page with one invalidation.

    On the real scheduler a run's logical date cannot be in the future: Airflow 3.3 holds every task of such a run
    ("Logical date ... is in the future", ``RunnableExecDateDep``; ``airflow dags test`` ignores it), so each "now"
    here is the wall clock's, and the booking is placed around it: it sails exactly ``crew_confirm_hours`` after the
    first run's "now"."""
    top = topology
    top.api.unpause(AFTERCARE)  # its New Year's run may start at once: it looks at New Year, not at this charter
    try:
        crew_check = datetime.now(UTC).replace(second=0, microsecond=0)
        start = (crew_check + timedelta(hours=48)).astimezone(TZ)
        publish(
            top, row(AFTERCARE_BOOKING, trip_date=start.date().isoformat(), start_time=f"{start:%H:%M}", updated_at=T1)
        )
        [entry] = top.stack.jada.entries(AFTERCARE_EXTERNAL)
        [event] = top.stack.scc.events(AFTERCARE_EXTERNAL)
        assert {member["response"] for member in event["crew"]} == {"pending"}
        session_id = str(entry["guest_url"]).rsplit("/", 1)[-1]
        assert "Jane" in page_of(top, session_id)

        # Its crew have not answered: one crew_pending alert reaches the desk.
        first = run_aftercare(top, crew_check)
        [checked] = mine(first["check_crew_answers"]["checked"])
        assert checked["alert"].startswith("crew_pending sent"), checked
        [alert] = [a for a in top.stack.alerts.received() if a["booking_id"] == AFTERCARE_BOOKING]
        assert alert["kind"] == "crew_pending"
        assert alert["text"].startswith(f"Crew not confirmed yet: booking {AFTERCARE_BOOKING}, Sea Breeze, ")
        assert "- Dana Whitfield (captain): pending" in alert["text"].splitlines()
        assert "@" not in alert["text"]

        # A later run, the same answers: nothing more is sent.
        again = run_aftercare(top, a_moment_ago())
        [checked] = mine(again["check_crew_answers"]["checked"])
        assert checked["alert"] == "already sent", checked
        assert [a["alert_id"] for a in top.stack.alerts.received() if a["booking_id"] == AFTERCARE_BOOKING] == [
            alert["alert_id"]
        ]

        # Boatsetter corrects the trip to one that ended RETENTION_DAYS + 2 days ago; the next aftercare run puts
        # the neutral notice in place of its page and invalidates it once.
        sailed = datetime.now(TZ).date() - timedelta(days=RETENTION_DAYS + 2)
        publish(top, row(AFTERCARE_BOOKING, status="completed", trip_date=sailed.isoformat(), updated_at=T2))
        assert "Jane" in page_of(top, session_id)
        before = invalidations_naming(top, session_id)
        retired = run_aftercare(top, a_moment_ago())
        [result] = mine(retired["retire_guest_pages"]["retired"])
        assert result["result"].startswith("retired, invalidation "), result
        notice = page_of(top, session_id)
        for detail in ("Jane", "Sea Breeze", AFTERCARE_BOOKING, session_id):
            assert detail not in notice
        assert "no longer available" in notice
        [retiring] = [i for i in invalidations_naming(top, session_id) if i not in before]
        assert retiring["paths"] == sorted([f"/g/{session_id}", f"/jada-guest-{session_id}.html"])
        assert retiring["caller_reference"] not in {i["caller_reference"] for i in before}
    finally:
        top.api.pause(AFTERCARE)


# Issue 22: a manual booking refused is said where the person is, on the real scheduler


def test_refusals_name_the_field_through_rest_and_make_trigger_wait(topology: Topology) -> None:
    """A bad form field is refused by ``POST /dagRuns`` (HTTP 400 naming the param, no run); a bad conf booking
    fails the run's first task before any outside call, and the line naming the field is on the run's page
    (collect_bookings' rendered map index), which ``make trigger --wait`` prints."""
    top = topology
    seen = len(top.stack.jada.state()["requests"]) + len(top.stack.scc.state()["requests"])
    before = len(top.api.runs(DAG_ID))
    for name, typed in (("gross", "-50"), ("passengers", "0"), ("start_time", "25:99")):
        answer = top.api.request("POST", f"dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {name: typed}})
        assert answer.status_code == 400, answer.text
        assert f"Invalid input for param {name}" in answer.text
    assert len(top.api.runs(DAG_ID)) == before

    booking = {key.lower().replace(" ", "_"): value for key, value in row("REFUSED-1", gross="-50").items()}
    script = Path(__file__).resolve().parents[2] / "bin" / "trigger_booking.py"
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_URL": top.api.base_url, "AIRFLOW_TOKEN": top.api.token()}
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(booking), "--wait", "--every", "1", "--timeout", "300"],
        env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    refusal = "Manual booking refused: Gross: '-50' must be an amount in USD, zero or more"
    assert f"collect_bookings: {refusal}" in done.stdout
    run_id = done.stdout.split("run ", 1)[1].split()[0]
    first = top.api.call("GET", f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/collect_bookings")
    assert first["state"] == "failed"
    assert first["rendered_map_index"].startswith(refusal)
    assert len(top.stack.jada.state()["requests"]) + len(top.stack.scc.state()["requests"]) == seen
