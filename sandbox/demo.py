"""``make demo``: one pipeline run over the sample exports, start to finish, then what became of each booking.

Starts the stand-ins on free ports and the guest-site preview, creates the buckets, tables and CloudFront
distribution, drops the sample exports, and runs ``airflow dags test charter_booking_pipeline`` in a fresh
temporary AIRFLOW_HOME, exactly as a deployment would (dags/ and plugins/ folders, three connections, the
Variable). Then it prints one row per booking from what the stand-ins and the ledger hold: status, outcome,
calendar entry, SCC event and the guest page in the preview (fetched, so "OK" means it answers 200), and the
quarantined rows with their reasons.

Then aftercare (CONTRACT.md section 11), twice, at instants taken from the earliest published sample charter so
it works whatever day the demo runs: ``airflow dags test charter_aftercare <half crew_confirm_hours before it
sails>`` (nobody of its crew has answered: the alert receiver stand-in gets a crew alert; the demo prints what it
received), and
``airflow dags test charter_aftercare <an hour past its end + guest_page_retention_days>`` (its guest page now
shows the neutral notice in the preview, with one more invalidation naming it).

Exit code: 0 when every run succeeded and every check holds; 1 when an ``airflow dags test`` failed; 2 when the
runs passed but a check did not. Airflow's output goes to .sandbox/demo/airflow-<time>.log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests

from sandbox.bootstrap import REPO, bootstrap, put_plugins_on_path
from sandbox.preview import GuestSitePreview
from sandbox.run import DAG_ID, airflow_bin, airflow_env
from sandbox.samples import SampleBooking, sample_bookings, sample_variable, write_samples
from sandbox.stack import SandboxStack

if TYPE_CHECKING:
    from charter_pipeline.booking import Booking
    from charter_pipeline.config import PipelineConfig

LOG_DIR = REPO / ".sandbox" / "demo"
AFTERCARE_DAG_ID = "charter_aftercare"
DAGS_TEST_TIMEOUT = 900
EMPTY = "-"


@dataclass(frozen=True)
class BookingOutcome:
    """What one booking became, as the stand-ins and the ledger tell it."""

    booking_id: str
    guest: str
    status: str
    outcome: str
    calendar_id: str
    scc_event_id: str
    guest_url: str  # in the demo's preview, which stops with the demo
    page: str  # "OK", "HTTP 404", or "" when there is no page

    def cells(self) -> list[str]:
        return [
            self.booking_id,
            self.guest,
            self.status,
            self.outcome,
            self.calendar_id,
            self.scc_event_id,
            guest_address(self.guest_url),
            self.page,
        ]


@dataclass(frozen=True)
class QuarantinedRow:
    """One quarantine record: which file and row, which booking (as far as it could be read), and why."""

    source: str
    row: str
    booking_id: str
    reason: str


ALERT_HEADER = ["kind", "booking", "message"]
RETIRED_HEADER = ["booking", "guest page", "check", "invalidations"]
BOOKING_HEADER = ["booking", "guest", "status", "outcome", "calendar id", "SCC event id", "guest page", "check"]
QUARANTINE_HEADER = ["source", "row", "booking", "reason"]


def _one_id(items: Sequence[dict[str, Any]], key: str) -> str:
    ids = [str(item.get(key, "")) for item in items]
    if len(ids) > 1:
        return f"DUPLICATE: {' '.join(ids)}"
    return ids[0] if ids else ""


def _ledger(stack: SandboxStack, table: str) -> dict[str, dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items: dict[str, dict[str, Any]] = {}
    for page in stack.boto3_client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            record = {name: plain.deserialize(value) for name, value in item.items()}
            items[str(record["booking_id"])] = record
    return items


def booking_outcomes(
    stack: SandboxStack, config: PipelineConfig, preview_url: str, samples: Iterable[SampleBooking]
) -> list[BookingOutcome]:
    """One row per booking the samples hold or the ledger knows, in sample order, guest pages fetched."""
    ledger = _ledger(stack, config.ledger_table)
    first_names = {s.booking_id: s.first_name for s in samples}
    order = list(dict.fromkeys([*first_names, *sorted(b for b in ledger if not b.startswith("#"))]))
    outcomes = []
    for booking_id in order:
        record = ledger.get(booking_id, {})
        ref = f"boatsetter:{booking_id}"
        session_id = str(record.get("session_id") or "")
        guest_url = f"{preview_url}/g/{session_id}" if session_id else ""
        page = ""
        if guest_url:
            answer = requests.get(guest_url, timeout=15)
            page = "OK" if answer.status_code == 200 else f"HTTP {answer.status_code}"
        outcomes.append(
            BookingOutcome(
                booking_id=booking_id,
                guest=first_names.get(booking_id) or _first_name(record),
                status=str(record.get("status") or ""),
                outcome=str(record.get("state") or ("not in the ledger" if not record else "")),
                calendar_id=_one_id(stack.jada.entries(ref), "id"),
                scc_event_id=_one_id(stack.scc.events(ref), "event_id"),
                guest_url=guest_url,
                page=page,
            )
        )
    return outcomes


def _first_name(record: dict[str, Any]) -> str:
    try:
        snapshot = json.loads(str(record.get("snapshot") or "{}"))
    except ValueError:
        return ""
    parts = str(snapshot.get("renter_name", "")).split()
    return parts[0] if parts else ""


def quarantined_rows(stack: SandboxStack, config: PipelineConfig) -> list[QuarantinedRow]:
    """Every quarantine record under ``quarantine_uri``, by source file and row."""
    records: list[dict[str, Any]] = []
    location = urlparse(config.quarantine_uri)
    if location.scheme == "s3":
        s3 = stack.boto3_client("s3")
        prefix = location.path.lstrip("/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.netloc, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".json"):
                    records.append(json.loads(s3.get_object(Bucket=location.netloc, Key=obj["Key"])["Body"].read()))
    else:
        records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(location.path).rglob("*.json"))]
    rows = []
    for record in records:
        raw = record.get("raw")
        if not isinstance(raw, dict):
            raw = {}
        booking_id = next(
            (str(v) for k, v in raw.items() if k.replace(" ", "").replace("_", "").lower() == "bookingid"), ""
        )
        rows.append(
            QuarantinedRow(
                str(record.get("source", "")), str(record.get("row", "")), booking_id, str(record.get("reason", ""))
            )
        )
    return sorted(rows, key=lambda r: (r.source, int(r.row) if r.row.isdigit() else 0))


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns separated by at least two spaces; an empty cell shows as "-" so every row splits the same way."""
    cells = [list(header)] + [[(c or EMPTY).replace("  ", " ") for c in row] for row in rows]
    sizes = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(s) for c, s in zip(row, sizes, strict=True)).rstrip() for row in cells)


def published_problems(outcomes: Iterable[BookingOutcome], samples: Iterable[SampleBooking]) -> list[str]:
    """Each sample booking that should be published but lacks its calendar entry, SCC event or working page."""
    expected = {s.booking_id for s in samples if s.expect == "published"}
    problems = []
    for outcome in outcomes:
        if outcome.booking_id not in expected:
            continue
        missing = [
            name
            for name, value in (
                ("calendar entry", outcome.calendar_id),
                ("SCC event", outcome.scc_event_id),
                ("guest page", outcome.guest_url),
            )
            if not value or "DUPLICATE" in value
        ]
        if outcome.guest_url and outcome.page != "OK":
            missing.append(f"guest page answers {outcome.page}")
        if missing:
            problems.append(f"{outcome.booking_id}: {', '.join(missing)}")
    return problems


@dataclass(frozen=True)
class AftercareInstants:
    """When the demo runs aftercare: instants (UTC, on the hour) taken from one published sample charter."""

    booking: Booking
    crew_check: datetime  # within crew_confirm_hours before it sails: its crew have not answered yet
    retirement: datetime  # an hour past its end + guest_page_retention_days: its guest page is due


def aftercare_instants(samples: Iterable[SampleBooking], config: PipelineConfig) -> AftercareInstants:
    """From the sample charter that sails first, so the instants follow the samples' dates (relative to today)."""
    from charter_pipeline.booking import parse_booking

    first = min((parse_booking(s.values, config.tz) for s in samples if s.expect == "published"), key=lambda b: b.start)

    def on_the_hour(instant: datetime) -> datetime:
        return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    return AftercareInstants(
        booking=first,
        crew_check=on_the_hour(first.start.astimezone(UTC) - timedelta(hours=config.crew_confirm_hours) / 2),
        # Days added to the local end, as the retirement rule adds them (a DST change in between is honoured).
        retirement=on_the_hour(first.end + timedelta(days=config.guest_page_retention_days)) + timedelta(hours=1),
    )


def alert_rows(alerts: Iterable[dict[str, Any]]) -> list[list[str]]:
    """What the desk received, one row per alert: kind, booking and the message's lines joined by " / "."""
    return [[a["kind"], a["booking_id"], " / ".join(str(a["text"]).splitlines())] for a in alerts]


def crew_alert_problems(alerts: Sequence[dict[str, Any]], booking_id: str) -> list[str]:
    """The charter whose crew have not answered got exactly one crew alert, delivered once."""
    crew = [a for a in alerts if a["booking_id"] == booking_id and a["kind"] in ("crew_pending", "crew_declined")]
    problems = []
    if len(crew) != 1:
        problems.append(f"{booking_id}: {len(crew)} crew alerts reached the alert receiver, not 1")
    problems += [f"{a['booking_id']}: alert {a['alert_id']} was sent again" for a in alerts if a["repeat"]]
    return problems


@dataclass(frozen=True)
class RetiredPage:
    """A guest page aftercare retired: what the preview answers now, and the invalidations that retired it."""

    booking_id: str
    guest_url: str
    check: str  # "neutral notice" when the preview answers 200 with the notice and none of the booking's details
    invalidations: list[list[str]]  # the paths of each invalidation naming the page since the retirement run

    def cells(self) -> list[str]:
        paths = "; ".join(", ".join(batch) for batch in self.invalidations)
        return [self.booking_id, guest_address(self.guest_url), self.check, f"{len(self.invalidations)}: {paths}"]


def guest_address(url: str) -> str:
    """A guest page's address on the guest site (``/g/<SESSION_ID>``): the demo's preview port dies with it, so its
    tables name the page, and the saved copies (``save_guest_pages``) are what stays to be opened."""
    return urlparse(url).path if url else ""


def save_guest_pages(stack: SandboxStack, config: PipelineConfig, session_ids: Iterable[str], folder: Path,
                     suffix: str = "") -> list[Path]:  # fmt: skip
    """Each guest page as the pipeline published it, to ``folder/<SESSION_ID><suffix>.html``: a page holds
    everything it shows (no script, nothing from another origin), so the copy opens in a browser after the demo."""
    from charter_pipeline.hooks.guest_portal import page_key

    s3 = stack.boto3_client("s3")
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for session_id in session_ids:
        body = s3.get_object(Bucket=config.guest_bucket, Key=page_key(session_id))["Body"].read()
        saved.append(folder / f"{session_id}{suffix}.html")
        saved[-1].write_bytes(body)
    return saved


def invalidated_paths(stack: SandboxStack, distribution_id: str) -> dict[str, list[str]]:
    """Every invalidation on the distribution: its id and its paths."""
    cloudfront = stack.boto3_client("cloudfront")
    listing = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    found = {}
    for summary in listing.get("Items", []):
        detail = cloudfront.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])
        found[summary["Id"]] = sorted(detail["Invalidation"]["InvalidationBatch"]["Paths"].get("Items", []))
    return found


def retired_pages(
    stack: SandboxStack,
    config: PipelineConfig,
    preview_url: str,
    before: dict[str, list[str]],
    samples: Iterable[SampleBooking],
) -> list[RetiredPage]:
    """Every booking the ledger holds as retired, its page fetched through the preview; ``before``: the
    invalidations there were before the retirement run."""
    from charter_pipeline.booking import parse_booking
    from charter_pipeline.guest_page import render_retired_page

    notice = render_retired_page(config)
    details = {s.booking_id: parse_booking(s.values, config.tz) for s in samples if s.expect == "published"}
    pages = []
    for booking_id, record in _ledger(stack, config.ledger_table).items():
        if not record.get("retired_at"):
            continue
        session_id = str(record.get("session_id") or "")
        guest_url = f"{preview_url}/g/{session_id}"
        answer = requests.get(guest_url, timeout=15)
        booking = details.get(booking_id)
        told = [d for d in (booking_id, booking.first_name, booking.boat) if d in answer.text] if booking else []
        if answer.status_code != 200:
            check = f"HTTP {answer.status_code}"
        elif told:
            check = f"still shows {', '.join(told)}"
        else:
            check = "neutral notice" if answer.text == notice else "not the neutral notice"
        new = [
            paths
            for key, paths in invalidated_paths(stack, config.cloudfront_distribution_id).items()
            if key not in before and any(session_id in p for p in paths)
        ]
        pages.append(RetiredPage(booking_id, guest_url, check, new))
    return pages


def retirement_problems(pages: Sequence[RetiredPage], booking_id: str) -> list[str]:
    """Exactly the charter due was retired: its page shows the neutral notice and was invalidated once."""
    problems = []
    if [p.booking_id for p in pages] != [booking_id]:
        problems.append(f"retired pages: {', '.join(p.booking_id for p in pages) or 'none'}, not {booking_id}")
    for page in pages:
        if page.check != "neutral notice":
            problems.append(f"{page.booking_id}: retired guest page {page.check}")
        if len(page.invalidations) != 1:
            problems.append(f"{page.booking_id}: {len(page.invalidations)} invalidations since retiring, not 1")
    return problems


def _airflow(args: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    with log.open("ab") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n".encode())
        out.flush()
        try:
            return subprocess.run(
                [airflow_bin(), *args],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n(timed out after {timeout:.0f} s)\n".encode())
            return 124


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def demo() -> int:
    """Run the demo; returns the exit code."""
    put_plugins_on_path()
    from charter_pipeline.config import load_config

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # One log per run: two demos (or a demo and the e2e test) may run side by side on their own ports.
    stamp = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"  # noqa: DTZ005
    log = LOG_DIR / f"airflow-{stamp}.log"
    pages_dir = LOG_DIR / f"pages-{stamp}"
    samples = sample_bookings()
    with tempfile.TemporaryDirectory(prefix="charter-demo-") as scratch:
        home = Path(scratch) / "airflow"
        home.mkdir()
        # Airflow reads its home when first imported (bootstrap's AWS hook imports it): set it first.
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        with SandboxStack(Path(scratch) / "stack") as stack:
            connections = stack.connections_env()
            os.environ.update(connections)
            report = bootstrap(load_config(sample_variable("")), create_distribution=True)
            if not report.ok:
                print("\n".join(report.lines()))
                return 2
            variable = sample_variable(report.distribution_id)
            config = load_config(variable)
            written = write_samples(config.exports_uri, s3_client=stack.boto3_client("s3"))
            print(f"Sample exports: {', '.join(written)}")
            env = airflow_env(home, connections=connections, variable=variable)
            with GuestSitePreview(stack.moto_url, config.guest_bucket, port=0) as preview:
                print(f"airflow db migrate ... (log: {log.relative_to(REPO)})")
                if _airflow(["db", "migrate"], env, log, timeout=300) != 0:
                    print(_tail(log))
                    print("make demo: airflow db migrate failed")
                    return 1
                print(f"airflow dags test {DAG_ID} ...")
                code = _airflow(["dags", "test", DAG_ID], env, log, timeout=DAGS_TEST_TIMEOUT)
                outcomes = booking_outcomes(stack, config, preview.url, samples)
                quarantined = quarantined_rows(stack, config)
                print()
                print(f"Bookings ({len(outcomes)})")
                print(format_table(BOOKING_HEADER, (o.cells() for o in outcomes)))
                print()
                print(f"Quarantined rows ({len(quarantined)})")
                print(format_table(QUARANTINE_HEADER, ([q.source, q.row, q.booking_id, q.reason] for q in quarantined)))
                print()
                published = [guest_address(o.guest_url).rsplit("/", 1)[-1] for o in outcomes if o.guest_url]
                save_guest_pages(stack, config, published, pages_dir)
                print(
                    "Guest pages: the demo's own preview served the addresses above while it ran and stops with it. "
                    f"Copies are saved in {pages_dir.relative_to(REPO)}/<SESSION_ID>.html: open one in a browser. "
                    "For a guest site that stays up, `make run` (its preview: http://127.0.0.1:8090/)."
                )
                print()
                if code != 0:
                    return _failed(log, DAG_ID, code)
                problems = published_problems(outcomes, samples)
                if problems:
                    print("make demo: the run passed but these bookings are not fully published:")
                    print("\n".join(f"  {p}" for p in problems))
                    return 2

                when = aftercare_instants(samples, config)
                first = when.booking.booking_id
                print(f"airflow dags test {AFTERCARE_DAG_ID} {when.crew_check.isoformat()} ...")
                ahead = (when.booking.start - when.crew_check) / timedelta(hours=1)
                print(f"  ({ahead:g} hours before {first} sails; none of its crew has answered the magic link yet)")
                already = len(stack.alerts.received())
                code = _airflow(["dags", "test", AFTERCARE_DAG_ID, when.crew_check.isoformat()], env, log, 300)
                alerts = stack.alerts.received()[already:]
                print()
                print(f"Alerts received by the desk ({len(alerts)})")
                print(format_table(ALERT_HEADER, alert_rows(alerts)))
                print()
                if code != 0:
                    return _failed(log, AFTERCARE_DAG_ID, code)
                problems = crew_alert_problems(alerts, first)

                days = config.guest_page_retention_days
                print(f"airflow dags test {AFTERCARE_DAG_ID} {when.retirement.isoformat()} ...")
                ended = when.booking.end.astimezone(config.tz).strftime("%Y-%m-%d %H:%M")
                print(f"  ({first}'s trip ended {ended} local; guest_page_retention_days is {days})")
                before = invalidated_paths(stack, config.cloudfront_distribution_id)
                code = _airflow(["dags", "test", AFTERCARE_DAG_ID, when.retirement.isoformat()], env, log, 300)
                retired = retired_pages(stack, config, preview.url, before, samples)
                print()
                print(f"Retired guest pages ({len(retired)})")
                print(format_table(RETIRED_HEADER, (r.cells() for r in retired)))
                print()
                retired_ids = [guest_address(r.guest_url).rsplit("/", 1)[-1] for r in retired]
                for saved in save_guest_pages(stack, config, retired_ids, pages_dir, suffix="-retired"):
                    print(f"The retired page as it reads now: {saved.relative_to(REPO)}")
                print()
                if code != 0:
                    return _failed(log, AFTERCARE_DAG_ID, code)
                problems += retirement_problems(retired, first)
    if problems:
        print("make demo: the runs passed but these checks did not:")
        print("\n".join(f"  {p}" for p in problems))
        return 2
    print(
        "make demo: the runs passed; every guest page above answers through the preview, the desk got the crew "
        "alert, and the retired page shows the neutral notice."
    )
    return 0


def _failed(log: Path, dag_id: str, code: int) -> int:
    print(_tail(log))
    print(f"make demo: airflow dags test {dag_id} failed (exit code {code}); the whole log is {log.relative_to(REPO)}")
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.demo``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    return demo()


if __name__ == "__main__":
    sys.exit(main())
