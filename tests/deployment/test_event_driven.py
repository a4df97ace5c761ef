"""Event-driven intake on the scheduler topology (CONTRACT.md section 10; issue 16).

One LocalExecutor topology (sandbox.topology: api-server, scheduler, dag-processor, triggerer as separate
processes) serves the whole module, with ``CHARTER_EXPORTS_QUEUE_URL`` set and a one-minute cron. bootstrap creates
the queue and the exports bucket's notification in moto, exactly as ``make bootstrap`` does for a deployment, so
an export put on S3 reaches the asset watcher through S3's own notification, not through anything the test sends.

What each test shows: an export starts an asset-triggered run that publishes it; a burst of 20 export files gives
a few runs and every booking once; a malformed and a duplicated message wake the pipeline and change nothing; a
message lost before the watcher read it, and an export dropped while the triggerer is down, are both published by
the next scheduled poll; a signed booking webhook delivery (CONTRACT.md section 14) is published once by the run
its stored object starts, an unsigned one changes nothing, and an invalid one is quarantined with the reason the
webhook answered.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from benchmarks.bookings import csv_bytes, upcoming_charters
from charter_pipeline.crew import external_ref
from charter_pipeline.exports_queue import EXPORTS_ASSET, RECEIVE_WAIT_SECONDS
from sandbox.samples import today_in_san_diego
from sandbox.topology import DAG_ID, Topology, signal_session

SENDER = Path(__file__).resolve().parents[2] / "bin" / "send_booking_webhook.py"
# The safety-net poll: short, so a lost message is caught within the test's patience.
CRON = "*/1 * * * *"
# From the export's put to its booking being published by the run the watcher started.
PUBLISH_WITHIN = 90
# A scheduled poll is at most a minute away, plus the run itself.
CRON_WITHIN = 150


class EventStack:
    """The started topology, plus what the tests need to drop exports and read what happened."""

    def __init__(self, topology: Topology, queue_url: str) -> None:
        self.top = topology
        self.queue_url = queue_url
        self.sqs = topology.stack.boto3_client("sqs")

    def drop(self, first_number: int, count: int = 1) -> list[str]:
        """``count`` exports of one new approved charter each; their booking ids."""
        rows = upcoming_charters(count, today=today_in_san_diego(), first_number=first_number)
        self.top.put_exports({f"event-{first_number + n}.csv": csv_bytes([row]) for n, row in enumerate(rows)})
        return [row["Booking ID"] for row in rows]

    def published(self, booking: str) -> tuple[int, int]:
        """(JADA calendar entries, SCC events) filed under ``booking``."""
        ref = external_ref(booking)
        return len(self.top.stack.jada.entries(ref)), len(self.top.stack.scc.events(ref))

    def queue_depth(self) -> int:
        """Messages waiting in the queue or received and not yet deleted."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(found[name]) for name in names)

    def invalidations(self) -> int:
        return self.top.stack.aws.count("cloudfront", "CreateInvalidation")

    def runs(self, after: datetime, run_type: str | None = None) -> list[dict[str, Any]]:
        """Runs for something after ``after``: a cron tick, or asset events, after it (``run_after``)."""
        return [
            run
            for run in self.top.api.runs(DAG_ID)
            if _when(run.get("run_after")) > after and (run_type is None or run["run_type"] == run_type)
        ]

    def wait(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(1)
        raise AssertionError(f"not within {timeout:.0f} s: {what}\n{self._recent_runs()}")

    def settled(self) -> bool:
        """No run queued or running, and no asset event waiting for one (it waits while a run is going)."""
        if [r for r in self.top.api.runs(DAG_ID) if r["state"] in ("queued", "running")]:
            return False
        return not self.top.api.call("GET", f"dags/{DAG_ID}/assets/queuedEvents")["total_entries"]

    def clear_of_the_cron(self, latest: int = 40) -> None:
        """Wait until this minute's scheduled poll has run and finished, nothing else is going on, and the next
        one is at least ``60 - latest`` s away, so that what a test drops is found by the run its message starts,
        not by a scheduled poll (on a busy machine the scheduler creates those up to a minute late)."""

        def quiet() -> bool:
            now = _now()
            if now.second > latest:
                return False
            scheduled = [r for r in self.top.api.runs(DAG_ID) if r["run_type"] == "scheduled"]
            this_minute = now.replace(second=0, microsecond=0)
            return bool(scheduled) and _when(scheduled[-1]["run_after"]) >= this_minute and self.settled()

        self.wait("a quiet moment between scheduled polls", quiet, 240)

    def run_log(self, run_id: str, task_id: str = "collect_bookings") -> str:
        return self.top.api.task_log(DAG_ID, run_id, task_id, try_number=1)

    def publishing_run(self, booking: str, runs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Of ``runs``, the one whose poll handed ``booking`` to a charter group."""
        for run in runs:
            if booking in json.dumps(self.top.api.xcom_values(DAG_ID, run["dag_run_id"]), default=str):
                return run
        return None

    def _recent_runs(self) -> str:
        runs = self.top.api.runs(DAG_ID)[-8:]
        return "\n".join(f"  {r['dag_run_id']} {r['run_type']} {r['state']} queued {r['queued_at']}" for r in runs)


def _when(stamp: str | None) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else datetime.min.replace(tzinfo=UTC)


def _second() -> int:
    return datetime.now(UTC).second


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def events() -> Iterator[EventStack]:
    with Topology("local", poll_schedule=CRON, exports_queue=True) as topology:
        # Bootstrap, unpause, and wait for the triggerer to run the watcher and take S3's test event.
        report = topology.watch_exports()
        assert [s.resource for s in report.created] == ["SQS queue", "bucket notification"]
        assets = topology.api.call("GET", "assets", params={"name_pattern": EXPORTS_ASSET})["assets"]
        assert [w["name"] for a in assets for w in a.get("watchers", [])] == ["charter_exports_queue"]
        yield EventStack(topology, topology.exports_queue_url)


def test_an_export_put_on_s3_starts_a_run_that_publishes_it(events: EventStack) -> None:
    events.clear_of_the_cron()
    before = _now()
    invalidations = events.invalidations()

    [booking] = events.drop(100)

    events.wait(f"{booking} published", lambda: events.published(booking) == (1, 1), PUBLISH_WITHIN)
    events.wait("the runs to finish", events.settled, PUBLISH_WITHIN)
    took = (_now() - before).total_seconds()
    triggered = events.runs(before, "asset_triggered")
    run = events.publishing_run(booking, triggered)
    assert run is not None, f"no asset-triggered run published {booking}:\n{events._recent_runs()}"
    assert run["state"] == "success"
    assert run["logical_date"] is None
    assert events.invalidations() == invalidations + 1
    # The run names the export that woke it (S3's test event may share the batch after the bucket's setup).
    assert re.search(
        r"woken by \d+ exports queue message\(s\) \([^)]*ObjectCreated:Put: incoming/event-100\.csv",
        events.run_log(run["dag_run_id"]),
    )
    print(f"export to published: {took:.1f} s")


def test_a_burst_of_exports_gives_few_runs_and_every_booking_once(events: EventStack) -> None:
    events.clear_of_the_cron()
    before = _now()
    invalidations = events.invalidations()
    # 20 files in a few seconds, as a re-export storm looks: 5 bookings, each in 4 files (kept small so the runs
    # stay short on a shared 2-core machine; the point is the messages, not the bookings).
    rows = upcoming_charters(5, today=today_in_san_diego(), first_number=200)
    bookings = [row["Booking ID"] for row in rows]
    events.top.put_exports({f"burst-{n:02d}.csv": csv_bytes([rows[n % 5]]) for n in range(20)})

    events.wait(
        "all 5 bookings published",
        lambda: all(events.published(b) != (0, 0) for b in bookings),
        PUBLISH_WITHIN + 60,
    )
    events.wait("the runs to finish", events.settled, PUBLISH_WITHIN)
    assert {b: events.published(b) for b in bookings} == dict.fromkeys(bookings, (1, 1))
    assert events.invalidations() == invalidations + 5
    assert all(len(events.top.stack.jada.entries(external_ref(b))) == 1 for b in bookings)
    runs = events.runs(before)
    triggered = [r for r in runs if r["run_type"] == "asset_triggered"]
    # 20 messages, at most 10 a receive, one run at a time: a few runs, not twenty.
    assert 1 <= len(triggered) <= 4, events._recent_runs()
    # A later scheduled poll may have started meanwhile: none failed is what counts.
    assert [r["dag_run_id"] for r in runs if r["state"] == "failed"] == []
    assert events.queue_depth() == 0


def test_a_malformed_and_a_duplicated_message_change_nothing(events: EventStack) -> None:
    events.clear_of_the_cron()
    before = _now()
    jada, invalidations = events.top.stack.jada.entries(), events.invalidations()
    bucket = events.top.config.exports_uri.removeprefix("s3://").split("/")[0]
    # What S3 sent for an export published in the first test, sent again (SQS delivers at least once).
    s3 = {"bucket": {"name": bucket}, "object": {"key": "incoming/event-100.csv"}}
    duplicate = {"Records": [{"eventName": "ObjectCreated:Put", "s3": s3}]}
    events.sqs.send_message(QueueUrl=events.queue_url, MessageBody="{not json")
    events.sqs.send_message(QueueUrl=events.queue_url, MessageBody=json.dumps(duplicate))

    events.wait("an asset-triggered run", lambda: bool(events.runs(before, "asset_triggered")), PUBLISH_WITHIN)
    events.wait("the runs to finish", events.settled, PUBLISH_WITHIN)

    runs = events.runs(before, "asset_triggered")
    # A later scheduled poll may have started meanwhile: none failed is what counts.
    assert [r["dag_run_id"] for r in runs if r["state"] == "failed"] == []
    logs = "".join(events.run_log(r["dag_run_id"]) for r in runs)
    assert "not an S3 notification, ignored" in logs
    assert "ObjectCreated:Put: incoming/event-100.csv" in logs
    assert events.top.stack.jada.entries() == jada
    assert events.invalidations() == invalidations
    assert events.queue_depth() == 0


def _as_webhook_booking(row: dict[str, str], **changes: str) -> dict[str, str]:
    """An export row as a webhook sender writes it: section 3's fields in snake_case."""
    return {name.lower().replace(" ", "_"): value for name, value in row.items() if value} | changes


def _send_webhook(url: str, body: bytes, secret: str) -> tuple[int, dict[str, Any]]:
    """The signed sender an integrator runs (bin/send_booking_webhook.py): its status line and answer."""
    sent = subprocess.run(
        [sys.executable, str(SENDER), body.decode()],
        env={**os.environ, "CHARTER_WEBHOOK_URL": url, "CHARTER_WEBHOOK_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    status, _, answer = sent.stdout.partition("\n")
    return int(status.removeprefix("HTTP ")), json.loads(answer)


def test_a_signed_webhook_delivery_publishes_once_unsigned_changes_nothing_invalid_is_quarantined(
    events: EventStack,
) -> None:
    """CONTRACT.md section 14 end to end: the stack's webhook (the Lambda handler behind sandbox/webhook.py)
    stores into the exports bucket, S3 notifies the queue, the watcher starts a run."""
    top = events.top
    url, secret = top.stack.webhook.url + "/", top.stack.webhook_secrets
    good_row, unsigned_row, bad_row = upcoming_charters(3, today=today_in_san_diego(), first_number=400)
    good, unsigned = good_row["Booking ID"], unsigned_row["Booking ID"]
    events.clear_of_the_cron()
    before = _now()
    invalidations = events.invalidations()

    refused = requests.post(url, json=_as_webhook_booking(unsigned_row), timeout=30)
    assert refused.status_code == 401
    body = json.dumps(_as_webhook_booking(good_row)).encode()
    first = _send_webhook(url, body, secret)
    assert first[0] == 202
    assert _send_webhook(url, body, secret) == first  # a retried delivery answers as the first
    invalid_body = json.dumps([_as_webhook_booking(bad_row, trip_date="2027-02-30")]).encode()
    status, invalid = _send_webhook(url, invalid_body, secret)
    assert (status, [(i["index"], i["field"]) for i in invalid["invalid"]]) == (422, [(0, "Trip Date")])

    events.wait(f"{good} published", lambda: events.published(good) == (1, 1), PUBLISH_WITHIN)
    bucket, _, prefix = top.config.exports_uri.removeprefix("s3://").partition("/")
    quarantine_prefix = top.config.quarantine_uri.removeprefix(f"s3://{bucket}/")
    s3 = top.stack.boto3_client("s3")

    def quarantined() -> list[dict[str, Any]]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=quarantine_prefix).get("Contents", [])
        records = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed]
        return [r for r in records if r["source"] == f"s3://{bucket}/{prefix}{invalid['key']}"]

    events.wait("the invalid booking quarantined", lambda: bool(quarantined()), PUBLISH_WITHIN)
    events.wait("the runs to finish", events.settled, PUBLISH_WITHIN)

    [record] = quarantined()
    assert (record["row"], record["reason"]) == (1, invalid["invalid"][0]["reason"])
    assert events.published(good) == (1, 1)
    assert events.published(unsigned) == (0, 0)
    assert events.invalidations() == invalidations + 1
    stored = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}webhook/")["Contents"]
    assert sorted(o["Key"] for o in stored) == sorted({f"{prefix}{first[1]['key']}", f"{prefix}{invalid['key']}"})
    runs = events.runs(before)
    assert events.publishing_run(good, [r for r in runs if r["run_type"] == "asset_triggered"]) is not None
    assert [r["dag_run_id"] for r in runs if r["state"] == "failed"] == []


def test_a_lost_message_and_a_stopped_triggerer_are_caught_by_the_scheduled_poll(events: EventStack) -> None:
    triggerer = events.top.processes["triggerer"]
    # What follows takes about 25 s and must be over before the next scheduled poll.
    events.clear_of_the_cron(latest=22)
    before = _now()
    # Frozen, the watcher cannot read; once its long poll has run out, the message waits in the queue alone.
    signal_session(triggerer.pid, signal.SIGSTOP)
    try:
        time.sleep(RECEIVE_WAIT_SECONDS + 2)
        [lost] = events.drop(300)
        events.sqs.purge_queue(QueueUrl=events.queue_url)
    finally:
        signal_session(triggerer.pid, signal.SIGCONT)
    # The watcher is back and finds nothing: no run is started for the lost message.
    time.sleep(8)
    assert events.runs(before, "asset_triggered") == []
    assert events.published(lost) == (0, 0)

    # Then the triggerer goes down for good, and an export lands with its message unread.
    signal_session(triggerer.pid, signal.SIGTERM)
    with contextlib.suppress(Exception):
        triggerer.wait(timeout=30)
    assert triggerer.poll() is not None
    [unheard] = events.drop(301)

    events.wait(
        "the scheduled poll to publish both",
        lambda: events.published(lost) == (1, 1) and events.published(unheard) == (1, 1),
        CRON_WITHIN,
    )
    events.wait("the runs to finish", events.settled, PUBLISH_WITHIN)
    runs = events.runs(before)
    assert [r["run_type"] for r in runs]
    assert {r["run_type"] for r in runs} == {"scheduled"}
    # A later scheduled poll may have started meanwhile: none failed is what counts.
    assert [r["dag_run_id"] for r in runs if r["state"] == "failed"] == []
