"""Scans of every surface the runs left behind: secrets anywhere; money, renter contacts and booking ids where crew
and guests look (CONTRACT.md sections 6, 7 and 8). Each scan reports what it covered, so an empty scan cannot pass
for a clean one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.samples import SAMPLE_ROSTER
from tests.e2e.harness import session_id_of
from tests.reliability.evidence import (
    AMOUNT,
    EMAIL,
    ReliabilityDeployment,
    Section,
    airflow_home_files,
    digits,
    find_secrets,
    guest_pages,
    money_in_value,
    money_words_in,
    page_text,
    xcoms,
)

CREW_NAMES = sorted(
    {m["name"] for boat in SAMPLE_ROSTER.values() for m in [boat["captain"], *boat["crew"]] if m["name"]}
)


def renter_contacts(row: Mapping[str, str]) -> list[str]:
    """The renter's e-mail and phone as written, and the phone's digits."""
    found = [row["Renter Email"], row["Renter Phone"], digits(row["Renter Phone"])]
    return [c for c in found if c]


def check_crew_and_guest_surfaces(
    expect: Section, scope: str, deployments: Sequence[ReliabilityDeployment], rows: Sequence[Mapping[str, str]]
) -> None:
    """SCC's stored items (after the scrub) and the pipeline's SCC request bodies carry no money and no renter
    contact; guest pages carry no money, renter contact, booking id, last name or crew name."""
    stack = deployments[0].stack
    published = [
        (d, r)
        for d in deployments
        for r in rows
        if d.scc_events(r["Booking ID"]) and d.calendar_entries(r["Booking ID"])
    ]
    item_findings: list[str] = []
    items = 0
    for deployment, row in published:
        for event in deployment.scc_events(row["Booking ID"]):
            item = deployment.scc_item(event["event_id"]) or {}
            items += 1
            text = json.dumps(item, default=str)
            item_findings += [f"{row['Booking ID']}: {f}" for f in money_in_value(item)]
            item_findings += [f"{row['Booking ID']}: contact {c!r}" for c in renter_contacts(row) if c in text]
    expect.check(
        "scan SCC's events table after the scrub", f"{scope}: {items} stored event item(s)",
        "no money attribute, no money word or amount in any text, no renter e-mail or phone",
        "; ".join(item_findings) or "nothing found", items > 0 and not item_findings,
    )  # fmt: skip

    sent = [e for e in stack.scc.requests.entries() if isinstance(e.get("body"), dict)]
    all_contacts = [c for r in rows for c in renter_contacts(r)]
    sent_findings = [f"{e['method']} {e['path']}: {f}" for e in sent for f in money_in_value(e["body"])]
    sent_findings += [
        f"{e['method']} {e['path']}: contact {c!r}" for e in sent for c in all_contacts if c in json.dumps(e["body"])
    ]
    expect.check(
        "scan every request body the pipeline sent to SCC", f"{scope}: {len(sent)} request(s) with a body",
        "no money field, word or amount; no renter contact",
        "; ".join(sent_findings) or "nothing found", bool(sent) and not sent_findings,
    )  # fmt: skip

    page_findings: list[str] = []
    pages = 0
    for deployment, row in published:
        booking_id = row["Booking ID"]
        session_id = session_id_of(deployment.calendar_entries(booking_id)[0])
        page = deployment.page(session_id)
        if page is None:
            page_findings.append(f"{booking_id}: no page")
            continue
        pages += 1
        # The page shows its own address; a random session id is no words, though once it spelled "...WAGE...".
        html, shown = page["html"], page_text(page["html"]).replace(session_id, " ")
        last_name = row["Renter Name"].split()[-1]
        problems = [f"amount {m.group(0)!r}" for m in AMOUNT.finditer(shown)]
        problems += [f"money word {w!r}" for w in money_words_in(shown)]
        problems += [f"contact {c!r}" for c in renter_contacts(row) if c in html]
        problems += [f"e-mail address {m.group(0)!r}" for m in EMAIL.finditer(html)]
        problems += [f"booking id {b!r}" for b in {r["Booking ID"] for r in rows} if b in html]
        problems += [f"last name {last_name!r}"] if re.search(rf"\b{re.escape(last_name)}\b", shown) else []
        problems += [f"crew name {n!r}" for n in CREW_NAMES if n in shown]
        page_findings += [f"{booking_id}: {p}" for p in problems]
    expect.check(
        "scan every guest page", f"{scope}: {pages} page(s)",
        "no money, renter e-mail or phone, booking id, last name or crew name",
        "; ".join(page_findings) or "nothing found", pages > 0 and not page_findings,
    )  # fmt: skip


def check_no_secrets(expect: Section, scope: str, deployments: Sequence[ReliabilityDeployment], home: Path) -> None:
    """No token, service key, AWS key or wrong password anywhere the runs wrote or printed."""
    stack = deployments[0].stack
    surfaces: dict[str, dict[str, str]] = {
        "console output of every run": {
            f"{run.deployment} {run.label}": run.result.output for d in deployments for run in d.labelled
        },
        # dags test prints task logs to the console (scanned above); the home keeps airflow.cfg and the database.
        "every file under AIRFLOW_HOME": airflow_home_files(home),
        "XComs (sqlite xcom table)": {
            f"{x['run_id']} {x['task_id']}[{x['map_index']}] {x['key']}": x["value"] for x in xcoms(home)
        },
        "guest bucket pages": guest_pages(stack),
        "quarantine records": {
            key: d.s3.get_object(Bucket="jada-boatsetter-exports", Key=key)["Body"].read().decode("utf-8", "replace")
            for d in deployments for key in d.quarantine_keys()
        },
        "ledger items (errors recorded per booking)": {
            f"{d.name}:{item['booking_id']}": json.dumps(item, default=str)
            for d in deployments for item in d.ledger_items()
        },
        "request bodies received by JADA and SCC": {
            f"{s} #{i}": json.dumps(e, default=str)
            for s in ("jada", "scc") for i, e in enumerate(getattr(stack, s).requests.entries())
        },
    }  # fmt: skip
    for surface, haystacks in surfaces.items():
        leaks = find_secrets(haystacks)
        names = f" ({', '.join(sorted(haystacks))})" if len(haystacks) <= 3 else ""
        expect.check(
            "scan for every secret and wrong password", f"{scope}: {surface}",
            "none appears (and the surface is not empty)",
            f"{len(haystacks)} scanned{names}, {sum(len(t) for t in haystacks.values())} characters; "
            f"leaks: {leaks or 'none'}",
            bool(haystacks) and not leaks,
        )  # fmt: skip
    red = [run for d in deployments for run in d.labelled if not run.result.ok]
    printed = [run for run in red if re.search(r"Error|refused", run.result.output)]
    expect.check(
        "exception messages of the red runs are among the scanned output", f"{scope}: {len(red)} red run(s)",
        "each red run printed its error, so the scans above covered the exception messages",
        f"{len(printed)} of {len(red)} printed one", bool(red) and len(printed) == len(red),
    )  # fmt: skip
