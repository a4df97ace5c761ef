"""Benchmark 8: the booking webhook (CONTRACT.md section 14). Seconds from a delivery's 202 to its booking's
CloudFront invalidation being created, beside the export-drop latency (benchmark 7's watcher mode) measured in the
same run on the same topology; and the handler's own time.

One LocalExecutor topology (sandbox/topology.py) with the exports queue and a cron that cannot fire (once a year).
Deliveries and export drops alternate, one at a time, each when nothing is running or waiting, so both kinds see
the same machine: a webhook delivery is a signed POST of one new approved charter to the stack's webhook (the
Lambda handler behind sandbox/webhook.py, storing through the AWS proxy into moto, whose S3 notification reaches the
watcher); a drop is ``put_object`` of a one-row CSV. Start: this process's clock just after the 202 arrived (a
delivery) or just before the put (a drop). End: the invalidation's ``CreateTime`` in moto, found as benchmark 7
finds it (latency.Bench.publications).

The handler's own time: a fresh interpreter importing ``charter_pipeline.webhook`` and answering its first signed
delivery (into a folder, so no boto3), then boto3's import and S3 client in that process (what the first ``s3://``
delivery adds); and warm calls in this process (one booking, and a batch of 100), each a new body so each stores.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from benchmarks.bookings import upcoming_charters
from benchmarks.latency import (
    PUBLISH_WITHIN,
    QUIET_CRON,
    TARGET_P50_SECONDS,
    Bench,
    Drop,
    Publication,
    Spread,
    mode_row,
)
from benchmarks.report import Row, Section, counted, joined, load_average
from sandbox.samples import today_in_san_diego
from sandbox.topology import Topology

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
COLD_RUNS = 5
WARM_CALLS = 200
BATCH_CALLS = 20

# A fresh process: import the handler, answer one signed delivery into a folder, then import boto3 and make the
# S3 client the first s3:// delivery would make. Prints the three durations in seconds.
_COLD_SCRIPT = """
import json, os, sys, time
began = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from charter_pipeline import webhook
imported = time.perf_counter()
body = json.dumps(json.loads(sys.argv[2])).encode()
event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}, "requestId": "cold"},
         "headers": {"x-charter-signature": webhook.sign(body, "bench-secret", int(time.time()))},
         "body": body.decode(), "isBase64Encoded": False}
answer = webhook.handler(event, None)
answered = time.perf_counter()
assert answer["statusCode"] == 202, answer
import boto3
boto3.client("s3", region_name="us-east-1")
clients = time.perf_counter()
print(json.dumps([imported - began, answered - imported, clients - answered]))
"""


def _snake(row: dict[str, str]) -> dict[str, str]:
    return {name.lower().replace(" ", "_"): value for name, value in row.items() if value}


class WebhookBench(Bench):
    """benchmark 7's Bench, plus deliveries through the stack's webhook."""

    def __init__(self, topology: Topology, *, first_number: int) -> None:
        super().__init__(topology, first_number=first_number)
        self.url = topology.stack.webhook.url + "/"
        self.secret = topology.stack.webhook_secrets.split(",")[0].strip()
        self.delivered: set[str] = set()

    def deliver(self) -> Drop:
        """One signed delivery of one new approved charter; the clock is read once its 202 is in."""
        from charter_pipeline.webhook import sign

        [row] = upcoming_charters(1, today=today_in_san_diego(), first_number=self.number)
        self.number += 1
        body = json.dumps(_snake(row)).encode()
        headers = {"Content-Type": "application/json", "X-Charter-Signature": sign(body, self.secret, int(time.time()))}
        answer = requests.post(self.url, data=body, headers=headers, timeout=30)
        accepted_at = datetime.now(UTC)
        if answer.status_code != 202:
            raise RuntimeError(f"the webhook answered {answer.status_code}: {answer.text[:300]}")
        key = answer.json()["key"]
        self.drops.append(Drop(row["Booking ID"], key.rsplit("/", 1)[-1], accepted_at))
        self.delivered.add(row["Booking ID"])
        return self.drops[-1]


def measure_latency(deliveries: int) -> tuple[list[Publication], list[Publication]]:
    """``deliveries`` webhook deliveries and as many export drops, alternating; (webhook, drops) publications."""
    with Topology("local", poll_schedule=QUIET_CRON, exports_queue=True) as topology:
        topology.watch_exports()
        bench = WebhookBench(topology, first_number=8_000)
        bench.wait("the runs S3's test event started to finish", lambda: bench.settled(watcher=True), PUBLISH_WITHIN)
        for _ in range(deliveries):
            for send in (bench.deliver, bench.drop):
                before = bench.invalidations()
                drop = send()
                bench.wait(f"{drop.booking} invalidated", lambda b=before: bench.invalidations() > b, PUBLISH_WITHIN)  # type: ignore[misc]
                bench.wait("the run to finish", lambda: bench.settled(watcher=True), PUBLISH_WITHIN)
        published = bench.publications()
    return (
        [p for p in published if p.drop.booking in bench.delivered],
        [p for p in published if p.drop.booking not in bench.delivered],
    )


def measure_handler() -> dict[str, Any]:
    """Cold (fresh process) and warm (this process) handler times, in seconds."""
    from charter_pipeline.webhook import Settings, respond, sign

    rows = [_snake(row) for row in upcoming_charters(100, today=today_in_san_diego(), first_number=9_000)]
    colds: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as scratch:
        for n in range(COLD_RUNS):
            env = {
                "CHARTER_EXPORTS_URI": Path(scratch, f"cold-{n}").as_uri(),
                "CHARTER_WEBHOOK_SECRETS": "bench-secret",
                "PATH": "/usr/bin:/bin",
            }
            done = subprocess.run(
                [sys.executable, "-c", _COLD_SCRIPT, str(PLUGINS), json.dumps(rows[0])],
                env=env, capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
            colds.append(json.loads(done.stdout))
        settings = Settings(Path(scratch, "warm").as_uri(), (b"bench-secret",), ZoneInfo("America/Los_Angeles"))

        def call(bookings: list[dict[str, str]], number: int) -> float:
            body = json.dumps({"bookings": bookings, "n": number}).encode()
            event = {
                "requestContext": {"http": {"method": "POST"}, "requestId": "warm"},
                "headers": {"x-charter-signature": sign(body, "bench-secret", int(time.time()))},
                "body": body.decode(),
                "isBase64Encoded": False,
            }
            began = time.perf_counter()
            answer = respond(event, settings)
            took = time.perf_counter() - began
            if answer["statusCode"] != 202:
                raise RuntimeError(f"warm call answered {answer['statusCode']}")
            return took

        one = [call(rows[:1], n) for n in range(WARM_CALLS)]
        batch = [call(rows, n) for n in range(BATCH_CALLS)]
    return {
        "import": statistics.median(c[0] for c in colds),
        "first_call": statistics.median(c[1] for c in colds),
        "boto3": statistics.median(c[2] for c in colds),
        "warm_one": statistics.median(one),
        "warm_batch": statistics.median(batch),
    }


def run(*, deliveries: int = 10) -> Section:
    """``deliveries`` webhook deliveries beside as many export drops on one topology, then the handler's time."""
    section = Section("webhook", "8. Booking webhook to invalidation")
    before = load_average()
    hooked, dropped = measure_latency(deliveries)
    during = f"Load average (1, 5, 15 min): {before} at the topology's start, {load_average()} at its end."
    if max(os.getloadavg()[:2]) > (os.cpu_count() or 1):
        during += joined(
            " More runnable processes than cores: these are a loaded machine's figures, slower than a quiet one's; ",
            "the drops of the same run, slowed alike, are the fair comparison (the webhook path differs from a drop ",
            "only by the handler's put).",
        )
    handler = measure_handler()
    webhook, drops = Spread.of([p.latency for p in hooked]), Spread.of([p.latency for p in dropped])
    label = f"webhook: 202 to invalidation created, {counted(webhook.count, 'delivery', 'deliveries')}"
    section.rows = [
        Row(f"{label}, p50", webhook.p50, drops.p50, "s", f"<= {TARGET_P50_SECONDS:.0f} s",
            webhook.p50 <= TARGET_P50_SECONDS, "export drop (watcher), p50"),
        Row(f"{label}, p95", webhook.p95, drops.p95, "s", "none (reported)", None, "export drop (watcher), p95"),
        Row("webhook handler: cold start (fresh process: import, first delivery into a folder)",
            (handler["import"] + handler["first_call"]) * 1000, 0.0, "ms", "none (reported)", None),
        Row("webhook handler: warm call, 1 booking", handler["warm_one"] * 1000, 0.0, "ms", "none (reported)", None),
        Row("webhook handler: warm call, 100 bookings", handler["warm_batch"] * 1000, 0.0, "ms", "none (reported)",
            None),
    ]  # fmt: skip
    section.details = [
        joined(
            "From a delivery's 202 (this process's clock as the answer arrived) to the creation of its booking's ",
            "CloudFront invalidation (moto's `CreateTime`), beside an export's `put_object` to the same, on one ",
            "LocalExecutor topology with the exports queue (cron once a year). Deliveries and drops alternate, one ",
            "at a time, each when nothing is running or waiting. The baseline column is the drops' figure.",
        ),
        "",
        "| kind | count | p50 | p95 | min | max | runs that published them |",
        "|---|---|---|---|---|---|---|",
        mode_row("webhook delivery (signed POST, 202)", webhook, hooked),
        mode_row("export drop (`put_object`)", drops, dropped),
        "",
        "Per delivery, s: " + ", ".join(f"{p.latency:.1f}" for p in hooked) + ".",
        "Per drop, s: " + ", ".join(f"{p.latency:.1f}" for p in dropped) + ".",
        during,
        "",
        joined(
            "The handler (medians): a fresh interpreter imports `charter_pipeline.webhook` in ",
            f"{handler['import'] * 1000:.0f} ms and answers its first delivery in {handler['first_call'] * 1000:.0f} ",
            f"ms ({COLD_RUNS} processes); the first `s3://` delivery adds boto3's import and client, ",
            f"{handler['boto3'] * 1000:.0f} ms, once per Lambda container. Warm, in one process: ",
            f"{handler['warm_one'] * 1000:.2f} ms for one booking ({WARM_CALLS} calls), ",
            f"{handler['warm_batch'] * 1000:.1f} ms for a batch of 100 ({BATCH_CALLS} calls): verify, parse, ",
            "validate with the poll's own reader and parser, and an exclusive create in a folder (S3's put is a ",
            "network call on top).",
        ),
    ]
    return section
