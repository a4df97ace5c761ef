"""Drive whole ``airflow dags test charter_booking_pipeline`` runs against the sandbox, as a deployment would.

Nothing of the pipeline is mocked: Airflow runs the DAG from dags/ and plugins/ in a subprocess with only the three
connections and the Variable, against real HTTP stand-ins and moto in server mode. Each ``Deployment`` has its own
exports prefix and ledger table, so tests sharing one stack never see each other's bookings.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox.bootstrap import bootstrap
from sandbox.run import airflow_env
from sandbox.samples import SAMPLE_ROSTER
from sandbox.stack import SandboxStack

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "charter_booking_pipeline"
TZ = ZoneInfo("America/Los_Angeles")
HEADER = [
    "Booking ID", "Status", "Boat", "Renter Name", "Renter Email", "Renter Phone", "Trip Date", "Start Time",
    "Duration Hours", "Passengers", "Captain", "Gross", "Updated At",
]  # fmt: skip


def migrated_home(home: Path) -> Path:
    """``home`` as a fresh AIRFLOW_HOME after ``airflow db migrate``, as the acceptance checks prepare theirs."""
    env = airflow_env(home, connections={}, variable={})
    done = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return home


def bootstrap_on(stack: SandboxStack, variable: dict[str, Any], *, create_distribution: bool = False) -> str:
    """Create what a deployment with ``variable`` expects on the stack (through its aws_default connection);
    returns the distribution id when one was asked for."""
    from charter_pipeline.config import load_config

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.connections_env().items():
            patch.setenv(name, value)
        report = bootstrap(load_config(variable), create_distribution=create_distribution)
    assert report.ok, report.lines()
    return report.distribution_id or ""


def days_ahead(days: int) -> str:
    return (datetime.now(TZ).date() + timedelta(days=days)).isoformat()


def row(booking_id: str, **values: Any) -> dict[str, str]:
    """One export row with sensible defaults: a 3 h charter grossing 840.75 ten days ahead (CONTRACT 4's example)."""
    base = {
        "Booking ID": booking_id, "Status": "approved", "Boat": "Sea Breeze", "Renter Name": "Jane Doe",
        "Renter Email": "jane.doe@example.com", "Renter Phone": "+1 619 555 0199", "Trip Date": days_ahead(10),
        "Start Time": "10:00", "Duration Hours": "3", "Passengers": "6", "Captain": "", "Gross": "840.75",
        "Updated At": "",
    }  # fmt: skip
    base.update({key.replace("_", " ").title().replace("Id", "ID"): str(v) for key, v in values.items()})
    return base


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@dataclass
class RunResult:
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Deployment:
    """One deployment of the pipeline on a shared sandbox stack."""

    stack: SandboxStack
    airflow_home: Path
    name: str
    distribution_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    _files: int = 0

    @property
    def variable(self) -> dict[str, Any]:
        prefix = f"s3://jada-boatsetter-exports/{self.name}"
        variable = {
            "exports_uri": f"{prefix}/incoming/",
            "quarantine_uri": f"{prefix}/quarantine/",
            "ledger_table": f"ledger-{self.name}",
            "cloudfront_distribution_id": self.distribution_id,
            "crew_roster": SAMPLE_ROSTER,
        }
        variable.update(self.overrides)
        return variable

    # --- input ---------------------------------------------------------------------------------------------
    def drop(self, rows: list[dict[str, str]], name: str | None = None) -> str:
        """Drop an export file where the contract says; a new name each time unless given."""
        self._files += 1
        return self.drop_bytes(csv_bytes(rows), name or f"export-{self._files:03d}.csv")

    def drop_bytes(self, body: bytes, name: str) -> str:
        """Drop raw bytes as an export file, in an S3 or a file:// exports location."""
        exports_uri = str(self.variable["exports_uri"])
        if exports_uri.startswith("file://"):
            path = Path(exports_uri.removeprefix("file://")) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            key = str(path)
        else:
            key = f"{self.name}/incoming/{name}"
            self.s3.put_object(Bucket="jada-boatsetter-exports", Key=key, Body=body)
        # Last-modified times have one-second resolution on S3; keep files in the order they were dropped.
        time.sleep(1.05)
        return key

    # --- running -------------------------------------------------------------------------------------------
    def run(self, conf: dict[str, Any] | None = None, *, timeout: float = 600) -> RunResult:
        """One ``airflow dags test`` (with ``-c`` for a manual conf), exactly as the acceptance checks run it."""
        args = [AIRFLOW, "dags", "test", DAG_ID]
        if conf is not None:
            args += ["-c", json.dumps(conf)]
        env = airflow_env(self.airflow_home, connections=self.stack.connections_env(), variable=self.variable)
        started = time.monotonic()
        done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
        result = RunResult(done.returncode, done.stdout + done.stderr, time.monotonic() - started)
        self.runs.append(result)
        return result

    # --- what landed where ---------------------------------------------------------------------------------
    @property
    def s3(self) -> Any:
        return self.stack.boto3_client("s3")

    def calendar_entries(self, booking_id: str) -> list[dict[str, Any]]:
        return self.stack.jada.entries(f"boatsetter:{booking_id}")

    def scc_events(self, booking_id: str) -> list[dict[str, Any]]:
        return self.stack.scc.events(f"boatsetter:{booking_id}")

    def scc_item(self, event_id: str) -> dict[str, Any] | None:
        return self.stack.scc.table_item(event_id)

    def outbox(self, booking_id: str) -> list[dict[str, Any]]:
        ids = {e["event_id"] for e in self.scc_events(booking_id)}
        return [mail for mail in self.stack.scc.outbox() if mail.get("event_id") in ids]

    def requests(self, service: str, booking_id: str | None = None) -> list[dict[str, Any]]:
        """The service's request log (never holds auth headers), optionally only what names the booking."""
        log = getattr(self.stack, service).state()["requests"]
        if booking_id is None:
            return list(log)
        return [r for r in log if booking_id in json.dumps(r, default=str)]

    def ledger(self, booking_id: str) -> dict[str, Any]:
        dynamodb = self.stack.boto3_client("dynamodb")
        item = dynamodb.get_item(TableName=self.variable["ledger_table"], Key={"booking_id": {"S": booking_id}})
        return {k: next(iter(v.values())) for k, v in item.get("Item", {}).items()}

    def page(self, session_id: str) -> dict[str, Any] | None:
        try:
            answer = self.s3.get_object(Bucket="queenofsandiego.com", Key=f"jada-guest-{session_id}.html")
        except self.s3.exceptions.NoSuchKey:
            return None
        return {
            "html": answer["Body"].read().decode(),
            "content_type": answer.get("ContentType"),
            "cache_control": answer.get("CacheControl"),
        }

    def invalidations(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Every invalidation on the distribution (newest first), optionally only those naming the session id."""
        cloudfront = self.stack.boto3_client("cloudfront")
        listing = cloudfront.list_invalidations(DistributionId=self.distribution_id)["InvalidationList"]
        found = []
        for summary in listing.get("Items", []):
            detail = cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=summary["Id"])
            batch = detail["Invalidation"]["InvalidationBatch"]
            paths = sorted(batch["Paths"].get("Items", []))
            if session_id is None or any(session_id in p for p in paths):
                found.append({"id": summary["Id"], "paths": paths, "caller_reference": batch["CallerReference"]})
        return found

    def quarantined(self) -> list[dict[str, Any]]:
        """Every quarantine record, from an S3 or a file:// quarantine location."""
        quarantine_uri = str(self.variable["quarantine_uri"])
        if quarantine_uri.startswith("file://"):
            folder = Path(quarantine_uri.removeprefix("file://"))
            return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))]
        listing = self.s3.list_objects_v2(Bucket="jada-boatsetter-exports", Prefix=f"{self.name}/quarantine/")
        return [
            json.loads(self.s3.get_object(Bucket="jada-boatsetter-exports", Key=o["Key"])["Body"].read())
            for o in listing.get("Contents", [])
        ]


SESSION_IN_URL = re.compile(r"/g/([0-9A-Z]{13})$")


def session_id_of(entry: dict[str, Any]) -> str:
    match = SESSION_IN_URL.search(str(entry["guest_url"]))
    assert match, f"guest_url {entry['guest_url']!r} does not end in a session id"
    return match.group(1)


def trip_date_of(entry: dict[str, Any]) -> date:
    return date.fromisoformat(entry["charter_date"])


def assert_scrubbed(deployment: Deployment, event_id: str) -> None:
    """The SCC item of ``event_id`` holds no money attribute and no money line (CONTRACT.md section 6)."""
    from charter_pipeline.money_words import is_money_attribute, is_money_line

    item = deployment.scc_item(event_id)
    assert item is not None, f"SCC item {event_id} is missing from the events table"
    assert [name for name in item if is_money_attribute(name)] == []
    notes = str(item.get("notes", ""))
    assert [line for line in notes.splitlines() if is_money_line(line)] == []
