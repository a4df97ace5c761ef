"""``airflow dags test charter_reconcile <instant>`` against the sandbox (CONTRACT.md section 12).

Bookings are published by the main DAG, then changed behind the pipeline's back: a guest page deleted and money
put back into an SCC item (both repaired by the reconcile run, once), a JADA entry edited and an SCC event deleted
(reported in the summary and as one drift alert each, never overwritten: no POST or PATCH reaches JADA or SCC).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from charter_pipeline.ledger import DRIFT_REPORT_ID
from sandbox.run import airflow_env
from tests.e2e.harness import AIRFLOW, REPO, Deployment, RunResult, assert_scrubbed, row, session_id_of

pytestmark = pytest.mark.e2e

GUEST_BUCKET = "queenofsandiego.com"


def reconcile(deployment: Deployment, instant: datetime) -> RunResult:
    """One ``airflow dags test charter_reconcile <instant>``, as the acceptance checks run it."""
    args = [AIRFLOW, "dags", "test", "charter_reconcile", instant.isoformat()]
    env = airflow_env(
        deployment.airflow_home, connections=deployment.stack.connections_env(), variable=deployment.variable
    )
    started = time.monotonic()
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    return RunResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def drift_report(deployment: Deployment) -> dict[str, Any]:
    dynamodb = deployment.stack.boto3_client("dynamodb")
    item = dynamodb.get_item(TableName=deployment.variable["ledger_table"], Key={"booking_id": {"S": DRIFT_REPORT_ID}})
    report: dict[str, Any] = json.loads(gzip.decompress(item["Item"]["report"]["B"]))
    return report


def writes(deployment: Deployment, since: dict[str, int]) -> list[dict[str, Any]]:
    """Every POST or PATCH JADA and SCC received after ``since`` (request counts per service)."""
    found = []
    for service in ("jada", "scc"):
        log = deployment.requests(service)[since[service] :]
        found += [entry for entry in log if entry.get("method") in ("POST", "PATCH")]
    return found


def request_counts(deployment: Deployment) -> dict[str, int]:
    return {service: len(deployment.requests(service)) for service in ("jada", "scc")}


def test_reconcile_repairs_the_scrub_and_the_page_once_and_reports_the_rest(
    deployment: Callable[..., Deployment],
) -> None:
    pipeline = deployment()
    pipeline.drop([row("REC-1"), row("REC-2", renter_name="Ola Berg"), row("REC-3", renter_name="Kai Moana")])
    published = pipeline.run()
    assert published.ok, published.output[-4000:]
    stack = pipeline.stack
    [entry_1] = pipeline.calendar_entries("REC-1")
    [entry_2] = pipeline.calendar_entries("REC-2")
    [event_1] = pipeline.scc_events("REC-1")
    [event_2] = pipeline.scc_events("REC-2")
    session_1 = session_id_of(entry_1)
    page_hash_1 = pipeline.ledger("REC-1")["page_hash"]

    # Behind the pipeline's back. REC-1: its guest page deleted, SCC's money back in its item.
    pipeline.s3.delete_object(Bucket=GUEST_BUCKET, Key=f"jada-guest-{session_1}.html")
    stack.boto3_client("dynamodb").update_item(
        TableName=stack.scc_events_table,
        Key={"event_id": {"S": event_1["event_id"]}},
        UpdateExpression="SET crew_pay = :pay, notes = :notes",
        ExpressionAttributeValues={
            ":pay": {"N": "150"},
            ":notes": {"S": "Meeting point: dock A\nCaptain fee: $150.00"},
        },
    )
    # REC-2: its JADA entry edited at the dashboard, its SCC event deleted in SCC's console.
    edited = requests.patch(
        f"{stack.jada_url}/calendar/{entry_2['id']}",
        json={"party_size": 9},
        headers={"X-Dashboard-Token": stack.dashboard_token},
        timeout=10,
    )
    assert edited.status_code == 200
    assert stack.scc.delete_by_hand(event_2["event_id"])
    invalidations_before = len(pipeline.invalidations(session_1))
    before = request_counts(pipeline)

    first = reconcile(pipeline, datetime.now(UTC).replace(microsecond=0))
    assert first.ok, first.output[-6000:]

    # Repaired: the page is back as published, invalidated under the repair's reference; the item is clean.
    page = pipeline.page(session_1)
    assert page is not None
    assert hashlib.sha256(page["html"].encode()).hexdigest() == page_hash_1
    repaired = pipeline.invalidations(session_1)
    assert len(repaired) == invalidations_before + 1
    assert [i for i in repaired if "-repair-" in i["caller_reference"]] != []
    assert_scrubbed(pipeline, event_1["event_id"])
    assert pipeline.scc_item(event_1["event_id"])["notes"] == "Meeting point: dock A\n"

    # Reported, never overwritten: the edit stands, the deleted event stays deleted, nothing was sent to either.
    assert [e["party_size"] for e in pipeline.calendar_entries("REC-2")] == [9]
    assert pipeline.scc_events("REC-2") == []
    assert writes(pipeline, before) == []

    report = drift_report(pipeline)
    rows = {r["booking_id"]: r for r in report["bookings"]}
    assert rows["REC-1"]["outcome"] == "repaired"
    assert len(rows["REC-1"]["repairs"]) == 2
    assert rows["REC-2"]["outcome"] == "drift"
    assert rows["REC-2"]["differences"] == sorted(
        [
            f"JADA entry {entry_2['id']}: party_size is 9, the pipeline sent 6",
            f"SCC event: {event_2['event_id']} is gone (deleted at SCC)",
        ]
    )
    assert rows["REC-3"]["outcome"] == "in step"
    # One drift alert, for REC-2 only, listing both differences; nothing for what was repaired.
    [alert] = stack.alerts.received()
    assert alert["kind"] == "drift"
    assert alert["booking_id"] == "REC-2"
    assert rows["REC-2"]["alert"] == f"sent ({alert['alert_id']})"
    assert all(f"- {line}" in alert["text"] for line in rows["REC-2"]["differences"])
    assert "party_size is 9, the pipeline sent 6" in first.output  # the summary table
    assert "Charter drift report at" in first.output

    # A second run repairs nothing and sends nothing: same differences, same alert id, already handled.
    second = reconcile(pipeline, datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    assert second.ok, second.output[-6000:]
    assert len(pipeline.invalidations(session_1)) == invalidations_before + 1
    rows = {r["booking_id"]: r for r in drift_report(pipeline)["bookings"]}
    assert rows["REC-1"]["outcome"] == "in step"
    assert rows["REC-2"]["outcome"] == "drift"
    assert rows["REC-2"]["alert"] == f"already sent ({alert['alert_id']})"
    assert len(stack.alerts.received()) == 1
    assert writes(pipeline, before) == []
    # No secret in the console output, the kept report or the alert (the console is never masked).
    secrets = [stack.dashboard_token, stack.scc_service_key, stack.aws_secret_access_key, stack.alerts_token]
    haystacks = {"console": first.output + second.output, "report": json.dumps(drift_report(pipeline))}
    haystacks["alerts"] = json.dumps(stack.alerts.received())
    assert [(where, secret[:6]) for where, text in haystacks.items() for secret in secrets if secret in text] == []
