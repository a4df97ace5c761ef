"""The pipeline on the deployed topology (CONTRACT.md section 9): CeleryExecutor on PostgreSQL and Redis, two
workers with their own hostnames, api-server, scheduler, dag-processor and triggerer as separate processes.

One topology serves the whole module (starting it costs about a minute); the tests run in file order and each
leaves the deployment green for the next. The worker kill comes last: it leaves one worker.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from benchmarks.bookings import csv_bytes, upcoming_charters
from sandbox.topology import DAG_ID, Topology
from tests.deployment.helpers import overlapping_on_two_hosts, require_system_deps, today, when

FIRST_POLL = 20
KILL_POLL = 6
# Starting the topology and the first poll of 20 bookings take minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(1200)
# Only for this test deployment: a SIGKILLed worker's task is failed (then retried) after 20 s without a
# heartbeat, and what was queued to it is queued again after a minute, instead of compose's minutes.
FAST_RECOVERY = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "60",
}


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    require_system_deps()
    home = tmp_path_factory.mktemp("celery-topology")
    with Topology("celery", home=home, poll_schedule="*/2 * * * *", settings=FAST_RECOVERY) as running:
        yield running


def _rows(count: int, first_number: int) -> list[dict[str, str]]:
    return upcoming_charters(count, today=today(), first_number=first_number)


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [row["Booking ID"] for row in rows]


def _ledger(topology: Topology) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    dynamodb = topology.stack.boto3_client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=topology.config.ledger_table, ConsistentRead=True):
        for item in page["Items"]:
            found[item["booking_id"]["S"]] = {key: next(iter(value.values())) for key, value in item.items()}
    return found


def _page_exists(topology: Topology, session_id: str) -> bool:
    s3 = topology.stack.boto3_client("s3")
    listed = s3.list_objects_v2(Bucket=topology.config.guest_bucket, Prefix=f"jada-guest-{session_id}.html")
    return int(listed.get("KeyCount", 0)) == 1


def _invalidations(topology: Topology) -> int:
    return topology.stack.aws.count("cloudfront", "CreateInvalidation")


def _writes(topology: Topology, service: str) -> list[dict[str, Any]]:
    """The requests that change something at JADA or SCC (anything but a GET)."""
    log = getattr(topology.stack, service).state()["requests"]
    return [entry for entry in log if str(entry.get("method", "")).upper() != "GET"]


def _external(booking_id: str) -> str:
    """How the calendar entry and the SCC event name their booking (CONTRACT.md sections 5 and 6)."""
    return f"boatsetter:{booking_id}"


def assert_published_once(topology: Topology, booking_ids: list[str]) -> None:
    ledger = _ledger(topology)
    for booking_id in booking_ids:
        assert len(topology.stack.jada.entries(_external(booking_id))) == 1, f"{booking_id}: calendar entries"
        assert len(topology.stack.scc.events(_external(booking_id))) == 1, f"{booking_id}: SCC events"
        record = ledger.get(booking_id, {})
        assert record.get("state") == "published", f"{booking_id}: ledger {record.get('state')}"
        assert _page_exists(topology, str(record["session_id"])), f"{booking_id}: no guest page"


def _wait_for_scheduled_run_with_work(topology: Topology, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in topology.api.runs(DAG_ID):
            if run["run_type"] != "scheduled" or run["state"] in ("queued", "running"):
                continue
            instances = topology.api.task_instances(DAG_ID, run["dag_run_id"])
            if any(ti["map_index"] >= 0 for ti in instances):
                return {"run": run, "instances": instances}
        time.sleep(3)
    raise AssertionError(f"no scheduled run published the export within {timeout:.0f} s")


@pytest.fixture(scope="module")
def first_poll(topology: Topology) -> dict[str, Any]:
    """20 upcoming charters in one export, picked up by the schedule (the DAG is paused at creation)."""
    rows = _rows(FIRST_POLL, first_number=100)
    topology.put_exports({f"boatsetter-deploy-{today().isoformat()}.csv": csv_bytes(rows)})
    topology.api.unpause(DAG_ID)
    found = _wait_for_scheduled_run_with_work(topology, timeout=900)
    return {**found, "rows": rows, "ids": _ids(rows)}


def test_a_scheduled_poll_publishes_every_booking_once_on_both_workers_at_once(
    topology: Topology, first_poll: dict[str, Any]
) -> None:
    run, instances = first_poll["run"], first_poll["instances"]

    assert run["state"] == "success", run
    assert_published_once(topology, first_poll["ids"])
    assert _invalidations(topology) == FIRST_POLL
    mapped = [ti for ti in instances if ti["map_index"] >= 0]
    assert len(mapped) == 6 * FIRST_POLL
    assert {ti["state"] for ti in mapped} == {"success"}
    assert {ti["hostname"] for ti in mapped} == set(topology.worker_hostnames)
    assert overlapping_on_two_hosts(mapped), "no two task instances ran at the same moment on two workers"


def test_every_mapped_task_is_labelled_with_its_booking_and_guest_first_name(first_poll: dict[str, Any]) -> None:
    expected = {f"{row['Booking ID']} ({row['Renter Name'].split()[0]})" for row in first_poll["rows"]}
    mapped = [ti for ti in first_poll["instances"] if ti["map_index"] >= 0]

    for task_id in {ti["task_id"] for ti in mapped}:
        labels = {ti["rendered_map_index"] for ti in mapped if ti["task_id"] == task_id}
        assert labels == expected, task_id


def test_a_manual_trigger_publishes_its_booking_once_and_an_invalid_one_is_refused_untouched(
    topology: Topology, first_poll: dict[str, Any]
) -> None:
    booking = {
        "booking_id": "BS-790001", "status": "confirmed", "boat": "Harbor Light", "renter_name": "Ada Lovelace",
        "trip_date": (today() + timedelta(days=35)).isoformat(),
        "start_time": "9:00 AM", "duration_hours": "4", "passengers": 3, "gross": "1200.00",
    }  # fmt: skip
    run_id = topology.api.trigger(DAG_ID, conf={"booking": booking})
    assert topology.api.wait_for_run(DAG_ID, run_id, timeout=300) == "success"
    assert_published_once(topology, ["BS-790001"])

    writes = len(_writes(topology, "jada")) + len(_writes(topology, "scc"))
    calls = len(topology.stack.jada.state()["requests"]) + len(topology.stack.scc.state()["requests"])
    invalid = {**booking, "booking_id": "BS-790002", "passengers": 0}
    answer = topology.api.request(
        "POST", f"dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"booking": invalid}}
    )
    if answer.status_code < 400:
        # Accepted by the form: the run must fail before any outside call, naming the field in its log.
        refused = str(answer.json()["dag_run_id"])
        assert topology.api.wait_for_run(DAG_ID, refused, timeout=300) == "failed"
        log = topology.api.task_log(DAG_ID, refused, "collect_bookings", try_number=1)
        assert "assengers" in log, log[-2000:]
    else:
        assert 400 <= answer.status_code < 500
        assert "passengers" in answer.text.lower(), answer.text
    assert len(topology.stack.jada.state()["requests"]) + len(topology.stack.scc.state()["requests"]) == calls
    assert len(_writes(topology, "jada")) + len(_writes(topology, "scc")) == writes
    assert "BS-790002" not in _ledger(topology)


def test_clearing_one_bookings_scc_event_reruns_only_that_branch_and_repeats_nothing(
    topology: Topology, first_poll: dict[str, Any]
) -> None:
    run_id = first_poll["run"]["dag_run_id"]
    before = {(ti["task_id"], ti["map_index"]): ti for ti in topology.api.task_instances(DAG_ID, run_id)}
    index = 3
    booking_id = before[("charter.scc_event", index)]["rendered_map_index"].split()[0]
    outbox = len(topology.stack.scc.outbox())
    jada_writes = len(_writes(topology, "jada"))
    invalidations = _invalidations(topology)

    cleared = topology.api.clear(DAG_ID, run_id, [["charter.scc_event", index]], include_downstream=True)

    assert {(ti["task_id"], ti["map_index"]) for ti in cleared} == {
        ("charter.scc_event", index),
        ("charter.scrub_notes", index),
        ("run_summary", -1),
    }
    assert topology.api.wait_for_run(DAG_ID, run_id, timeout=300) == "success"
    after = {(ti["task_id"], ti["map_index"]): ti for ti in topology.api.task_instances(DAG_ID, run_id)}
    rerun = {key for key in after if after[key]["try_number"] != before[key]["try_number"]}
    assert rerun == {("charter.scc_event", index), ("charter.scrub_notes", index), ("run_summary", -1)}
    assert {ti["state"] for ti in after.values()} <= {"success", "skipped"}
    assert len(topology.stack.scc.events(_external(booking_id))) == 1, "a second SCC event"
    assert len(topology.stack.scc.outbox()) == outbox, "a second crew e-mail"
    assert len(_writes(topology, "jada")) == jada_writes
    assert _invalidations(topology) == invalidations


def _as_conf(row: dict[str, str]) -> dict[str, str]:
    """An export row as the trigger's ``conf.booking`` (CONTRACT.md section 1: section 3's fields, snake_case)."""
    return {name.lower().replace(" ", "_"): value for name, value in row.items() if value}


def _run_summary(topology: Topology, run_id: str) -> dict[str, Any]:
    """What ``run_summary`` returned (its XCom, read through ``/api/v2``): counts and one row per booking."""
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/run_summary/xcomEntries/return_value"
    value = topology.api.call("GET", path, params={"map_index": -1})["value"]
    return dict(json.loads(value) if isinstance(value, str) else value)


def test_a_manual_trigger_racing_a_poll_of_the_same_booking_waits_its_turn_and_repeats_nothing(
    topology: Topology, first_poll: dict[str, Any]
) -> None:
    """Staff trigger a booking by hand just as the poll that holds it in an export is due: max_active_runs keeps
    the runs one after the other, the booking is published once, and each run's summary says what it did."""
    row = _rows(1, first_number=700)[0]
    booking_id, external = row["Booking ID"], _external(row["Booking ID"])
    outbox, invalidations = len(topology.stack.scc.outbox()), _invalidations(topology)
    began = datetime.now(UTC)

    topology.put_exports({f"boatsetter-race-{today().isoformat()}.csv": csv_bytes([row])})
    # The poll first (what the schedule would start now; a scheduled poll may come in between too), then staff.
    poll = topology.api.trigger(DAG_ID)
    manual = topology.api.trigger(DAG_ID, conf={"booking": _as_conf(row)})
    assert topology.api.wait_for_run(DAG_ID, poll, timeout=300) == "success"
    assert topology.api.wait_for_run(DAG_ID, manual, timeout=300) == "success"

    # max_active_runs=1: no two runs of the window ran at the same moment (the manual one waited, queued).
    window = [
        run
        for run in topology.api.runs(DAG_ID)
        if run["start_date"] and (run["end_date"] is None or when(run["end_date"]) > began)
    ]
    assert {poll, manual} <= {run["dag_run_id"] for run in window}
    ordered = sorted(window, key=lambda run: when(run["start_date"]))
    for earlier, later in itertools.pairwise(ordered):
        assert earlier["end_date"], f"{earlier['dag_run_id']} still running when {later['dag_run_id']} started"
        assert when(later["start_date"]) >= when(earlier["end_date"]), (earlier, later)
    assert {run["state"] for run in window if run["end_date"]} == {"success"}

    # Every artifact once: one entry, one event, one invitation per crew member with an address, one page, one
    # invalidation (CONTRACT.md section 7: one per upload of the page).
    assert len(topology.stack.jada.entries(external)) == 1
    (event,) = topology.stack.scc.events(external)
    mails = topology.stack.scc.outbox()[outbox:]
    crew = sorted(member["email"] for member in event["crew"] if member.get("email"))
    assert crew, "the event names no crew member with an address: nothing to count"
    assert sorted(mail["to"] for mail in mails) == crew
    assert {(mail["kind"], mail["external_ref"]) for mail in mails} == {("invitation", external)}
    record = _ledger(topology)[booking_id]
    assert record["state"] == "published"
    page = f"jada-guest-{record['session_id']}.html"
    assert len([call for call in topology.stack.aws.calls("s3", "PutObject") if call["path"].endswith(page)]) == 1
    assert _invalidations(topology) == invalidations + 1

    # The summaries tell the truth: one run published the booking (with the ids the services hold), every other
    # run of the window published, updated and failed nothing, and the one that came second says what it saw.
    summaries = {run["dag_run_id"]: _run_summary(topology, run["dag_run_id"]) for run in window if run["end_date"]}
    listing = {
        run_id: [line for line in found["bookings"] if line["booking_id"] == booking_id]
        for run_id, found in summaries.items()
    }
    (publisher,) = [run_id for run_id, rows in listing.items() if rows]
    (published,) = listing[publisher]
    assert published["outcome"] == "published"
    assert published["calendar_id"] == topology.stack.jada.entries(external)[0]["id"]
    assert published["scc_event_id"] == event["event_id"]
    assert summaries[publisher]["counts"]["published"] == 1
    for run_id, found in summaries.items():
        counts = found["counts"]
        assert counts["failed"] == 0, run_id
        if run_id != publisher:
            assert (counts["published"], counts["updated"], counts["cancelled"]) == (0, 0, 0), (run_id, counts)
    if publisher != manual:
        assert summaries[manual]["counts"]["unchanged"] == 1, summaries[manual]
    else:  # the manual run went first: the poll that read the export after it found its row older
        readers = [found["counts"] for run_id, found in summaries.items() if found["counts"]["files_read"]]
        assert [c["older_rows_ignored"] + c["unchanged"] for c in readers] == [1], readers


def _secrets(topology: Topology) -> dict[str, str]:
    conn = topology.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    return {
        "admin password": topology.admin[1],
        "JWT secret": topology.env["AIRFLOW__API_AUTH__JWT_SECRET"],
        "API secret key": topology.env["AIRFLOW__API__SECRET_KEY"],
        "Fernet key": topology.env["AIRFLOW__CORE__FERNET_KEY"],
        "PostgreSQL password": conn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1],
        "JADA dashboard token": topology.stack.dashboard_token,
        "SCC service key": topology.stack.scc_service_key,
        "AWS secret key": topology.stack.aws_secret_access_key,
    }


def test_no_secret_in_task_logs_component_logs_or_xcoms(topology: Topology, first_poll: dict[str, Any]) -> None:
    secrets = _secrets(topology)
    assert all(len(value) >= 8 for value in secrets.values()), "a secret too short to search for"
    run_id = first_poll["run"]["dag_run_id"]
    haystacks: dict[str, str] = {}
    for ti in topology.api.task_instances(DAG_ID, run_id):
        if ti["state"] == "skipped":
            continue
        for attempt in range(1, ti["try_number"] + 1):
            name = f"task log {ti['task_id']}[{ti['map_index']}] try {attempt}"
            haystacks[name] = topology.api.task_log(
                DAG_ID, run_id, ti["task_id"], try_number=attempt, map_index=ti["map_index"]
            )
    haystacks.update({f"component log {name}": text for name, text in topology.component_logs().items()})
    haystacks["xcoms"] = repr(topology.api.xcom_values(DAG_ID, run_id))

    # The reads found what they should: the logs name the bookings, the XComs hold their results.
    assert any(booking_id in haystacks["task log charter.scc_event[0] try 1"] for booking_id in first_poll["ids"])
    assert all(booking_id in haystacks["xcoms"] for booking_id in first_poll["ids"])
    leaks = [
        f"{secret} in {where}"
        for where, text in haystacks.items()
        for secret, value in secrets.items()
        if value in text
    ]
    assert leaks == []


def test_the_listeners_are_on_loopback_only(topology: Topology) -> None:
    listeners = topology.listeners()
    ports = {port for _, port, _ in listeners}

    assert {address for address, _, _ in listeners} == {"127.0.0.1"}, listeners
    # The API server, PostgreSQL and Redis are among them, and nothing serves logs on another port.
    api_port = int(topology.api_url.rpartition(":")[2])
    assert api_port in ports
    assert len(listeners) >= 3
    for url in (topology.stack.jada_url, topology.stack.scc_url, topology.stack.moto_url, topology.stack.aws_url):
        assert url.startswith("http://127.0.0.1:"), url


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(topology: Topology) -> None:
    rows = _rows(KILL_POLL, first_number=500)
    invalidations = _invalidations(topology)
    topology.put_exports({f"boatsetter-deploy-kill-{today().isoformat()}.csv": csv_bytes(rows)})
    topology.api.trigger(DAG_ID)  # a poll now; a scheduled poll may take the export first, which is as good

    victim = topology.worker_hostnames[1]
    deadline = time.monotonic() + 600
    running: list[dict[str, Any]] = []
    run_id = ""
    while time.monotonic() < deadline and not running:
        for run in topology.api.runs(DAG_ID):
            if run["state"] != "running":
                continue
            instances = topology.api.task_instances(DAG_ID, run["dag_run_id"])
            running = [
                ti for ti in instances if ti["state"] == "running" and ti["hostname"] == victim and ti["map_index"] >= 0
            ]
            if running:
                run_id = run["dag_run_id"]
                break
        else:
            ledger = _ledger(topology)
            done = all(ledger.get(booking_id, {}).get("state") == "published" for booking_id in _ids(rows))
            assert not done, f"the new bookings were published before any of their tasks ran on {victim}"
            time.sleep(0.5)
    assert running, f"no task of the new bookings ran on {victim}"
    topology.kill_worker(2)

    assert topology.api.wait_for_run(DAG_ID, run_id, timeout=420) == "success"
    assert_published_once(topology, _ids(rows))
    assert _invalidations(topology) == invalidations + KILL_POLL
    after = {(ti["task_id"], ti["map_index"]): ti for ti in topology.api.task_instances(DAG_ID, run_id)}
    for ti in running:
        retried = after[(ti["task_id"], ti["map_index"])]
        assert retried["state"] == "success"
        assert retried["try_number"] > ti["try_number"], f"{ti['task_id']}[{ti['map_index']}] was not run again"
