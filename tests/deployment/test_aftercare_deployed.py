"""``charter_aftercare`` on the scheduler topology (CONTRACT.md section 11), driven only through ``/api/v2`` and the
services, as staff would: a booking published by a manual run, then aftercare runs triggered with a logical date
(their "now"): a crew alert reaches the alert receiver once and the same answers later send nothing; a correction
export moves the trip into the past, and the next run puts the neutral notice in place of its guest page with one
invalidation.

On the real scheduler a run's logical date cannot be in the future: Airflow 3.3 holds every task of such a run
("Logical date ... is in the future", ``RunnableExecDateDep``; ``airflow dags test`` ignores it), so each "now"
here is the wall clock's, and the booking is placed around it: it sails exactly ``crew_confirm_hours`` after the
first run's "now", later than the hourly scheduled run of the current hour looks.

The topology may be shared with other tests: everything read here is filtered by this test's own booking id, and
aftercare is paused again at the end so no hourly run of it touches the other tests' charters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from sandbox.topology import DAG_ID, Topology
from tests.deployment.conftest import require_system_deps
from tests.e2e.harness import csv_bytes, row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

AFTERCARE = "charter_aftercare"
BOOKING = "AFTER-DEPLOY-1"
EXTERNAL = f"boatsetter:{BOOKING}"
TZ = ZoneInfo("America/Los_Angeles")
T1, T2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"
RETENTION_DAYS = 3  # guest_page_retention_days: the topology's Variable keeps the contract's default
TEST_SECONDS = 120  # more than this test takes (about 45 s on a quiet machine): it must not straddle an hour


@pytest.fixture(scope="module")
def local_topology() -> Iterator[Topology]:
    require_system_deps()
    # A poll schedule that never comes round during the tests: every poll here is one a test triggered.
    with Topology("local", poll_schedule="0 0 1 1 *", settings={"AIRFLOW__CORE__PARALLELISM": "4"}) as started:
        yield started


def on_the_hour(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def wait_until(what: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(2)
    raise TimeoutError(f"still {what} after {timeout:.0f} s")


def publish(top: Topology, booking: dict[str, str]) -> None:
    """Drop an export holding ``booking`` and run the pipeline by hand (REST), until its page is invalidated."""
    name = f"after-deploy-{booking['Updated At'][:10]}.csv"
    before = len(invalidations_naming(top, ""))
    top.put_exports({name: csv_bytes([booking])})
    assert top.api.wait_for_run(DAG_ID, top.api.trigger(DAG_ID), timeout=300) == "success"
    # Another run (a scheduled poll) may have taken the export first: wait for its page's invalidation too.
    wait_until("no new invalidation", lambda: len(invalidations_naming(top, "")) > before, timeout=120)


def page(top: Topology, session_id: str) -> str:
    s3 = top.stack.boto3_client("s3")
    answer = s3.get_object(Bucket=top.variable["guest_bucket"], Key=f"jada-guest-{session_id}.html")
    return str(answer["Body"].read().decode())


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
    return [r for r in rows if r["booking_id"] == BOOKING]


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


def clear_of_the_hourly_runs() -> datetime:
    """Now, once it is at least a minute past the hour with the whole test before the next hour (else it waits):
    no scheduled hourly run may look as far ahead as this test's charter, or retire its page before the test."""
    now = datetime.now(UTC)
    hour = on_the_hour(now)
    settled = timedelta(seconds=70)
    if now - hour < settled:
        time.sleep((hour + settled - now).total_seconds())
    elif hour + timedelta(hours=1) - now < timedelta(seconds=TEST_SECONDS):
        time.sleep((hour + timedelta(hours=1) + settled - now).total_seconds())
    return datetime.now(UTC)


def hourly_run_done(top: Topology) -> bool:
    hour = on_the_hour(datetime.now(UTC))
    return any(
        run["run_type"] == "scheduled"
        and datetime.fromisoformat(run["logical_date"].replace("Z", "+00:00")) == hour
        and run["state"] not in ("queued", "running")
        for run in top.api.runs(AFTERCARE)
    )


def a_moment_ago() -> datetime:
    """A logical date the scheduler will run now (not in the future), distinct from every other run's."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


def test_aftercare_alerts_the_desk_once_then_retires_the_page_on_the_scheduler(local_topology: Topology) -> None:
    top = local_topology
    top.api.unpause(DAG_ID)
    top.api.unpause(AFTERCARE)  # its run for the current hour may start at once: it does not reach this charter
    try:
        crew_check = clear_of_the_hourly_runs().replace(second=0, microsecond=0)
        start = (crew_check + timedelta(hours=48)).astimezone(TZ)
        publish(top, row(BOOKING, trip_date=start.date().isoformat(), start_time=f"{start:%H:%M}", updated_at=T1))
        [entry] = top.stack.jada.entries(EXTERNAL)
        [event] = top.stack.scc.events(EXTERNAL)
        assert {member["response"] for member in event["crew"]} == {"pending"}
        session_id = str(entry["guest_url"]).rsplit("/", 1)[-1]
        assert "Jane" in page(top, session_id)
        # The scheduled run of the current hour, due since the unpause, must be over before the page could retire.
        wait_until("the current hour's scheduled run of aftercare", lambda: hourly_run_done(top), timeout=180)

        # Its crew have not answered: one crew_pending alert reaches the desk.
        first = run_aftercare(top, crew_check)
        [checked] = mine(first["check_crew_answers"]["checked"])
        assert checked["alert"].startswith("crew_pending sent"), checked
        [alert] = [a for a in top.stack.alerts.received() if a["booking_id"] == BOOKING]
        assert alert["kind"] == "crew_pending"
        assert alert["text"].startswith(f"Crew not confirmed yet: booking {BOOKING}, Sea Breeze, ")
        assert "- Dana Whitfield (captain): pending" in alert["text"].splitlines()
        assert "@" not in alert["text"]

        # A later run, the same answers: nothing more is sent.
        again = run_aftercare(top, a_moment_ago())
        [checked] = mine(again["check_crew_answers"]["checked"])
        assert checked["alert"] == "already sent", checked
        assert [a["alert_id"] for a in top.stack.alerts.received() if a["booking_id"] == BOOKING] == [alert["alert_id"]]

        # Boatsetter corrects the trip to one that ended RETENTION_DAYS + 2 days ago; the next aftercare run puts
        # the neutral notice in place of its page and invalidates it once.
        sailed = datetime.now(TZ).date() - timedelta(days=RETENTION_DAYS + 2)
        publish(top, row(BOOKING, status="completed", trip_date=sailed.isoformat(), updated_at=T2))
        assert "Jane" in page(top, session_id)
        before = invalidations_naming(top, session_id)
        retired = run_aftercare(top, a_moment_ago())
        [result] = mine(retired["retire_guest_pages"]["retired"])
        assert result["result"].startswith("retired, invalidation "), result
        notice = page(top, session_id)
        for detail in ("Jane", "Sea Breeze", BOOKING, session_id):
            assert detail not in notice
        assert "no longer available" in notice
        [retiring] = [i for i in invalidations_naming(top, session_id) if i not in before]
        assert retiring["paths"] == sorted([f"/g/{session_id}", f"/jada-guest-{session_id}.html"])
        assert retiring["caller_reference"] not in {i["caller_reference"] for i in before}
    finally:
        # Other tests may share this topology: no hourly aftercare run of theirs.
        top.api.pause(AFTERCARE)
