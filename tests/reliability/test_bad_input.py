"""Bad input: every malformed row and file is quarantined with its reason, every good neighbour goes through, and
nothing read is dropped (CONTRACT.md section 3); a malformed manual conf is refused before any outside call,
naming the field (section 1).

One poll over a corpus of sixteen export files (see corpus.py), then three refused manual triggers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import days_ahead, session_id_of
from tests.reliability.corpus import FORMULA_NAME, PUBLISHED, RECORDED, SCRIPT_NAME, corpus
from tests.reliability.evidence import (
    BAD_INPUT,
    SECRETS_AREA,
    SURFACES,
    ReliabilityDeployment,
    Report,
    Section,
    summary_counts,
)
from tests.reliability.surfaces import check_crew_and_guest_surfaces, check_no_secrets

pytestmark = pytest.mark.reliability

_FILES_AND_ROWS = re.compile(r"export files read: (\d+), rows: (\d+)")
# The manual trigger's refusal: the pipeline's own line, or Airflow's check of the ``booking`` param's type.
_REFUSAL_LINE = re.compile(r"Manual booking refused: |Invalid input for param \w")
MANUAL = {
    "booking_id": "REL-M01", "status": "approved", "boat": "Sea Breeze", "renter_name": "Noor Haddad",
    "trip_date": days_ahead(9), "start_time": "10:00", "duration_hours": "3", "passengers": 4, "gross": "900.00",
}  # fmt: skip
REFUSED_CONFS = [
    ("booking is not an object", {"booking": "REL-M01"}, r"booking"),
    ("booking without booking_id", {"booking": {k: v for k, v in MANUAL.items() if k != "booking_id"}}, r"Booking ID"),
    ("booking with trip_date 13/45/2026", {"booking": {**MANUAL, "trip_date": "13/45/2026"}}, r"Trip Date"),
]


def test_bad_rows_and_files_are_quarantined_and_good_neighbours_processed(
    reliability_deployment: Callable[..., ReliabilityDeployment],
    reliability_report: Report,
    reliability_home: Path,
) -> None:
    expect = reliability_report.section(BAD_INPUT)
    pipeline = reliability_deployment()
    files = corpus()
    for export in files:
        # Straight to the bucket: no booking repeats across files, so their order does not matter here.
        pipeline.s3.put_object(Bucket="jada-boatsetter-exports", Key=f"{pipeline.name}/incoming/{export.name}",
                               Body=export.body)  # fmt: skip
    result = pipeline.run(label="poll over the malformed corpus")
    reliability_report.runs.append(pipeline.labelled[-1])
    expect.check(
        "a poll over 16 files holding 34 malformed rows and files", "the run", "green (bad input is not a failure)",
        f"exit code {result.returncode}", result.ok,
    )  # fmt: skip

    records = pipeline.quarantined()
    by_place = {(str(r["source"]).rsplit("/", 1)[-1], int(r["row"])): r for r in records}
    for export in files:
        for number, case in export.bad:
            found = by_place.get((export.name, number))
            reason = str(found["reason"]) if found else ""
            expect.check(
                case.what, f"{export.name} row {number}", f"quarantined; reason matches /{case.reason}/; raw kept",
                f"reason {reason!r}" if found else "not quarantined",
                found is not None and bool(re.search(case.reason, reason)) and bool(found.get("raw")),
            )  # fmt: skip
        if export.unreadable:
            found = by_place.get((export.name, 0))
            expect.check(
                f"unreadable file: {export.what}", export.name,
                f"quarantined whole; reason matches /{export.unreadable}/",
                f"reason {found['reason']!r}" if found else "not quarantined",
                found is not None and bool(re.search(export.unreadable, str(found["reason"]))),
            )  # fmt: skip
        if not export.bad and not export.unreadable:
            quarantined = [r for (name, _), r in by_place.items() if name == export.name]
            expect.check(
                export.what, export.name,
                "ignored (not an export)" if export.ignored else "read: no rows, nothing to quarantine",
                f"quarantine records: {len(quarantined)}", not quarantined,
            )  # fmt: skip

    bad_rows = sum(len(f.bad) for f in files)
    unreadable = sum(1 for f in files if f.unreadable)
    good = [r for f in files for r in f.good]
    counts = summary_counts(result.output)
    files_and_rows = _FILES_AND_ROWS.search(result.output)
    rows_read = int(files_and_rows.group(2)) if files_and_rows else -1
    processed = counts.get("published", 0) + counts.get("recorded_only", 0)
    expect.check(
        "nothing dropped", "run summary",
        f"rows read = processed + quarantined rows ({len(good)} + {bad_rows}); quarantined = {bad_rows} rows + "
        f"{unreadable} unreadable files; {len(records)} records written",
        f"rows read {rows_read}, processed {processed}, summary quarantined {counts.get('quarantined')}, "
        f"records {len(records)}",
        rows_read == processed + bad_rows == len(good) + bad_rows
        and counts.get("quarantined") == bad_rows + unreadable == len(records),
    )  # fmt: skip
    _check_good_neighbours(expect, pipeline, good)
    _check_injection(expect, pipeline)

    # --- malformed manual conf ---------------------------------------------------------------------------------
    stack = pipeline.stack
    for what, conf, field_name in REFUSED_CONFS:
        before = {s: len(getattr(stack, s).requests.entries()) for s in ("jada", "scc", "aws")}
        refused = pipeline.run(conf, label=f"manual conf: {what}")
        reliability_report.runs.append(pipeline.labelled[-1])
        calls = {s: len(getattr(stack, s).requests.entries()) - before[s] for s in ("jada", "scc", "aws")}
        line = next((x.strip() for x in refused.output.splitlines() if _REFUSAL_LINE.search(x)), "")
        expect.check(
            f"manual conf: {what}", "collect_bookings",
            f"run fails before any outside call; the error line names {field_name}",
            f"exit code {refused.returncode}; outside calls {calls}; line {line[:200]!r}",
            not refused.ok and not any(calls.values()) and bool(re.search(field_name, line)),
        )  # fmt: skip
    expect.check(
        "refused manual bookings", "ledger", "nothing recorded for them", repr(pipeline.ledger("REL-M01")),
        pipeline.ledger("REL-M01") == {},
    )  # fmt: skip

    surfaces = reliability_report.section(SURFACES)
    secrets = reliability_report.section(SECRETS_AREA)
    published = [r for r in good if r["Booking ID"] in PUBLISHED]
    check_crew_and_guest_surfaces(surfaces, "bad-input runs", [pipeline], published)
    check_no_secrets(secrets, "bad-input runs", [pipeline], reliability_home)
    for section in (expect, surfaces, secrets):
        section.verify()


def _check_good_neighbours(expect: Section, pipeline: ReliabilityDeployment, good: list[dict[str, str]]) -> None:
    outcome = {}
    for booking in good:
        booking_id = booking["Booking ID"]
        state = str(pipeline.ledger(booking_id).get("state", ""))
        entries = len(pipeline.calendar_entries(booking_id))
        outcome[booking_id] = f"{state or 'no ledger record'}, {entries} entr{'y' if entries == 1 else 'ies'}"
    published = all(outcome[b].startswith("published, 1 entry") for b in PUBLISHED)
    recorded = all(outcome[b].startswith("recorded") and outcome[b].endswith(", 0 entries") for b in RECORDED)
    expect.check(
        "good rows next to bad ones", f"{len(good)} good rows in 5 files",
        f"each processed: {len(PUBLISHED)} future charters published, {len(RECORDED)} recorded only "
        "(inquiry, past, expired, cancelled before publishing)",
        "; ".join(f"{b}: {o}" for b, o in sorted(outcome.items())),
        published and recorded and set(outcome) == PUBLISHED | RECORDED,
    )  # fmt: skip


def _check_injection(expect: Section, pipeline: ReliabilityDeployment) -> None:
    """A formula or markup in a name is data: published, and inert on the page."""
    for booking_id, name, shown, forbidden in (
        ("REL-B-G4", FORMULA_NAME, "=HYPERLINK(", re.compile(r"""(href|src|action)\s*=\s*["']?http://evil""", re.I)),
        ("REL-B-G5", SCRIPT_NAME, "&lt;script&gt;", re.compile(r"<script>alert", re.I)),
    ):
        entries = pipeline.calendar_entries(booking_id)
        page: dict[str, Any] | None = pipeline.page(session_id_of(entries[0])) if entries else None
        html = page["html"] if page else ""
        expect.check(
            f"renter name {name!r}", booking_id,
            "processed as data: the calendar keeps the name as given; the page shows it escaped, never as "
            "a link or a script",
            f"calendar guest_name {entries[0]['guest_name']!r}; page shows {shown!r}: {shown in html}; "
            f"live markup: {bool(forbidden.search(html))}" if entries else "not published",
            bool(entries) and entries[0]["guest_name"] == name and shown in html and not forbidden.search(html),
        )  # fmt: skip
