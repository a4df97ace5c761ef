"""Faults during whole DAG runs: nothing duplicated, nothing lost, failures contained (CONTRACT.md section 8).

One deployment, eight bookings, four runs, each run proving many things at once:

1. Every fault armed at once: 503 and 429 bursts, a hang past the client timeout, dropped connections, "created,
   then the answer was lost" on the calendar POST and on the SCC POST, CloudFront's TooManyInvalidationsInProgress,
   S3 and DynamoDB hiccups; one booking's ledger write dies right after its SCC create on every try; JADA refuses
   another booking with 422. The six others are published in this run; the run is red and names the two.
2. Both service secrets are wrong: each owed booking fails fast (one call, no retry), naming ``scc_api`` for the
   one whose calendar is done and ``jada_dashboard`` for the other.
3. Everything fixed: the later poll publishes both (failed bookings are retried by later polls), creating
   nothing twice.
4. The ledger is wiped: the rerun over the same exports duplicates nothing, changes nothing, e-mails nobody and
   keeps every guest page's address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from charter_pipeline.guest_page import page_hash
from charter_pipeline.hooks.guest_portal import caller_reference
from tests.e2e.harness import RunResult, days_ahead, row, session_id_of
from tests.reliability.evidence import (
    FAULTS,
    SECRETS_AREA,
    SURFACES,
    ReliabilityDeployment,
    Report,
    Saboteur,
    Section,
    faulted,
    outbox_by_event,
    request_booking,
    successful_creates,
    summary_counts,
    summary_row,
)
from tests.reliability.surfaces import check_crew_and_guest_surfaces, check_no_secrets

pytestmark = pytest.mark.reliability

GUESTS = [
    ("REL-F01", "Sea Breeze", "Maya Lindqvist", 5, "09:00"),
    ("REL-F02", "Marina Star", "Omar Haddad", 5, "13:30"),
    ("REL-F03", "Harbor Light", "Priya Raman", 6, "10:00"),
    ("REL-F04", "Sea Breeze", "Tom Becker", 6, "15:00"),
    ("REL-F05", "Marina Star", "Lena Duarte", 7, "11:00"),
    ("REL-F06", "Harbor Light", "Sam Okafor", 7, "16:00"),
]
DIES = ("REL-R01", "Sea Breeze", "Rita Moreau", 20, "10:00")  # its ledger write after the SCC create fails
REFUSED = ("REL-P01", "Marina Star", "Paul Nakamura", 21, "12:00")  # JADA answers 422 for this booking only
REFUSAL = "charter date is blocked for maintenance on this boat"
ALL = [*GUESTS, DIES, REFUSED]
IDS = [b[0] for b in ALL]


def export_row(booking_id: str, boat: str, name: str, days: int, start: str) -> dict[str, str]:
    first, last = name.split()
    number = IDS.index(booking_id) + 1
    return row(
        booking_id, boat=boat, renter_name=name, trip_date=days_ahead(days), start_time=start,
        renter_email=f"{first}.{last}@renters.example.org".lower(), renter_phone=f"+1 858 555 01{number:02d}",
        gross=f"{700 + 37 * number}.{number:02d}",
    )  # fmt: skip


def ext(booking_id: str) -> str:
    return f"boatsetter:{booking_id}"


def arm_every_fault(pipeline: ReliabilityDeployment) -> None:
    """The faults of run 1, consumed in this order by whichever bookings call first."""
    jada, scc, aws = pipeline.stack.jada, pipeline.stack.scc, pipeline.stack.aws
    jada.inject(method="GET", path="/calendar", mode="status", status=429, count=2)
    jada.inject(method="POST", path="/calendar", mode="status", status=503, count=2)
    jada.inject(method="POST", path="/calendar", mode="lose_answer")
    jada.inject(method="POST", path="/calendar", mode="drop")
    scc.inject(method="GET", path="/events", mode="drop")
    scc.inject(method="POST", path="/events", mode="status", status=503)
    scc.inject(method="POST", path="/events", mode="status", status=429)
    scc.inject(method="POST", path="/events", mode="lose_answer")
    # Past the pipeline's 20 s read timeout: the event is made, the answer comes too late.
    scc.inject(method="POST", path="/events", mode="hang", seconds=26)
    aws.too_many_invalidations(count=2)
    aws.inject_error("s3", "PutObject", status=503, count=1)
    aws.inject_error("dynamodb", "GetItem", code="ProvisionedThroughputExceededException", count=2)


def test_faults_reruns_and_a_lost_ledger_duplicate_nothing_and_lose_nothing(
    reliability_deployment: Callable[..., ReliabilityDeployment],
    saboteur: Saboteur,
    reliability_report: Report,
    reliability_home: Path,
) -> None:
    expect = reliability_report.section(FAULTS)
    pipeline = reliability_deployment()
    stack = pipeline.stack
    dies, refused = DIES[0], REFUSED[0]
    # One bad row too, so that the secret scan has a quarantine record to read.
    pipeline.drop([export_row(*b) for b in ALL] + [row("REL-Q01", passengers="many")])

    # --- run 1: every fault at once ----------------------------------------------------------------------------
    arm_every_fault(pipeline)
    saboteur.spare(ext(dies), ext(refused))
    saboteur.kill_ledger_after_create("scc", ext(dies))
    saboteur.refuse("jada", ext(refused), 422, REFUSAL)
    first = _run(pipeline, reliability_report, "1: every fault armed at once")
    counts = summary_counts(first.output)

    pending = {name: getattr(stack, name).faults.pending() for name in ("jada", "scc", "aws")}
    expect.check(
        "every armed fault", "JADA, SCC, AWS proxy", "all fired during run 1",
        f"still armed: {sum(len(p) for p in pending.values())}", not any(pending.values()),
    )  # fmt: skip
    published = [b for b, *_ in GUESTS if _published(pipeline, b)]
    expect.check(
        "503/429 bursts, hang, drops, lost answers, CloudFront refusals", "run 1",
        "the 6 bookings without a persistent fault published in the same run",
        f"published: {len(published)} of 6; summary counts {counts}",
        len(published) == len(GUESTS) and counts.get("published") == len(GUESTS),
    )  # fmt: skip
    _check_fault_kinds(expect, pipeline)
    _check_aws_faults(expect, pipeline)

    scc_creates = successful_creates(stack, "scc")
    kills = sum(1 for s in saboteur.log if s.service == "aws")
    expect.check(
        "ledger write fails (DynamoDB UpdateItem 500) right after the SCC create, on every try", dies,
        "the task dies after its create; Airflow's retries look the event up instead of creating it again; "
        "the run summary names the booking failed",
        f"SCC events: {len(pipeline.scc_events(dies))}, creates: {scc_creates[ext(dies)]}, lookups after the "
        f"create: {_lookups_after_create(stack, 'scc', dies)}, tries killed: {kills}; "
        f"summary: {summary_row(first.output, dies)!r}",
        len(pipeline.scc_events(dies)) == 1 and scc_creates[ext(dies)] == 1
        and _lookups_after_create(stack, "scc", dies) >= 2 and kills >= 3
        and "failed" in summary_row(first.output, dies),
    )  # fmt: skip
    expect.check(
        "JADA answers 422 for one booking only", refused,
        "that booking fails at once (one POST, no retry); the others go on; the run is red; the summary names it "
        "with the service's message",
        f"exit code {first.returncode}; POSTs for it: {_calls(stack, 'jada', refused, 'POST')}; "
        f"summary: {summary_row(first.output, refused)!r}",
        first.returncode != 0
        and _calls(stack, "jada", refused, "POST") == 1
        and "failed" in summary_row(first.output, refused)
        and REFUSAL in summary_row(first.output, refused)
        and counts.get("failed") == 2,
    )  # fmt: skip
    saboteur.lift()

    # --- run 2: both service secrets wrong ---------------------------------------------------------------------
    before = {s: len(getattr(stack, s).requests.entries()) for s in ("jada", "scc")}
    pipeline.wrong_connections = {"jada_dashboard", "scc_api"}
    second = _run(pipeline, reliability_report, "2: wrong secrets in jada_dashboard and scc_api")
    for service, conn_id, booking_id in (("scc", "scc_api", dies), ("jada", "jada_dashboard", refused)):
        during = getattr(stack, service).requests.entries()[before[service] :]
        per_booking = Counter(request_booking(service, e) for e in during)
        error = next((x.strip() for x in second.output.splitlines() if f"connection '{conn_id}'" in x), "")
        expect.check(
            f"401: wrong secret in connection {conn_id}", f"{booking_id} ({service} step)",
            f"fails fast: one call, no retry; the error line names {conn_id}",
            f"calls: {dict(per_booking)}, statuses: {sorted({e['status'] for e in during})}; line: {error[:160]!r}",
            not second.ok and per_booking == Counter({ext(booking_id): 1})
            and {e["status"] for e in during} == {401} and bool(error),
        )  # fmt: skip

    # --- run 3: everything fixed -------------------------------------------------------------------------------
    pipeline.wrong_connections = set()
    third = _run(pipeline, reliability_report, "3: every fault cleared")
    counts = summary_counts(third.output)
    done = [b for b in (dies, refused) if _published(pipeline, b)]
    expect.check(
        "failed bookings are retried by later polls", f"{dies}, {refused}",
        "both completed by the next run once the faults clear (the summary calls them updated: something of "
        "theirs already existed); run green",
        f"exit code {third.returncode}, summary counts {counts}, published now: {done}",
        third.ok and counts.get("published", 0) + counts.get("updated", 0) == 2 and len(done) == 2,
    )  # fmt: skip
    _check_exactly_once(expect, pipeline, "after runs 1-3")
    sessions = {b: session_id_of(pipeline.calendar_entries(b)[0]) for b in IDS}

    # --- run 4: the ledger is lost -----------------------------------------------------------------------------
    wiped = pipeline.wipe_ledger()
    before = {s: len(getattr(stack, s).requests.entries()) for s in ("jada", "scc")}
    mails_before = len(stack.scc.outbox())
    fourth = _run(pipeline, reliability_report, "4: ledger wiped, same exports")
    writes = [
        e for s in ("jada", "scc") for e in getattr(stack, s).requests.entries()[before[s] :]
        if e["method"] in ("POST", "PATCH")
    ]  # fmt: skip
    changed = sorted({f"{e['method']} {k}" for e in writes for k in (e.get("body") or {})})
    new_mails = Counter(m["kind"] for m in stack.scc.outbox()[mails_before:])
    expect.check(
        f"ledger wiped ({wiped} items deleted), rerun over the same exports", "all 8 bookings",
        "nothing created or changed at JADA or SCC, no crew e-mail, run green",
        f"exit code {fourth.returncode}; POST/PATCH calls: {len(writes)} (fields: {changed or 'none'}); "
        f"new crew mails: {dict(new_mails) or 'none'}",
        fourth.ok and not writes and not new_mails,
    )  # fmt: skip
    recovered = {b: pipeline.ledger(b).get("session_id") for b in IDS}
    expect.check(
        "ledger wiped", "guest page addresses",
        "each booking keeps its session id, recovered from its calendar entry's guest_url; page still there",
        f"same session id: {sum(recovered[b] == sessions[b] for b in IDS)} of {len(IDS)}",
        recovered == sessions and all(pipeline.page(s) is not None for s in sessions.values()),
    )  # fmt: skip
    _check_exactly_once(expect, pipeline, "after the wiped-ledger rerun")
    finished = [b for b in IDS if _published(pipeline, b)]
    expect.check(
        "every valid booking published in the end", "all 8 bookings",
        "calendar entry, SCC event, guest page and its invalidation for each", f"{len(finished)} of {len(IDS)}",
        finished == IDS,
    )  # fmt: skip

    reliability_report.note(expect.area, "calls a fault made misbehave (JADA / SCC / AWS proxy)",
                            " / ".join(str(len(faulted(stack, s))) for s in ("jada", "scc", "aws")))  # fmt: skip
    reliability_report.note(expect.area, "Airflow task retries in run 1", first.output.count("new_state=up_for_retry"))
    for run in pipeline.labelled:
        reliability_report.note(expect.area, f"run {run.label}", f"{run.result.seconds:.1f} s, exit code "
                                f"{run.result.returncode}, summary {summary_counts(run.result.output)}")  # fmt: skip

    surfaces = reliability_report.section(SURFACES)
    secrets = reliability_report.section(SECRETS_AREA)
    check_crew_and_guest_surfaces(surfaces, "fault runs", [pipeline], [export_row(*b) for b in ALL])
    check_no_secrets(secrets, "fault runs", [pipeline], reliability_home)
    for section in (expect, surfaces, secrets):
        section.verify()


def _run(pipeline: ReliabilityDeployment, report: Report, label: str) -> RunResult:
    result = pipeline.run(label=label)
    report.runs.append(pipeline.labelled[-1])
    return result


# --- what each check reads ----------------------------------------------------------------------------------------


def _published(pipeline: ReliabilityDeployment, booking_id: str) -> bool:
    """One calendar entry, one SCC event, the page at the entry's address and its invalidation."""
    entries, events = pipeline.calendar_entries(booking_id), pipeline.scc_events(booking_id)
    if len(entries) != 1 or len(events) != 1:
        return False
    session_id = session_id_of(entries[0])
    return pipeline.page(session_id) is not None and bool(pipeline.invalidations(session_id))


def _calls(stack: Any, service: str, booking_id: str, method: str) -> int:
    log = getattr(stack, service).requests.entries()
    return sum(1 for e in log if e["method"] == method and request_booking(service, e) == ext(booking_id))


def _lookups_after_create(stack: Any, service: str, booking_id: str) -> int:
    log = getattr(stack, service).requests.entries()
    mine = [e for e in log if request_booking(service, e) == ext(booking_id)]
    created = next((i for i, e in enumerate(mine) if e["method"] == "POST" and e["status"] == 201), None)
    return 0 if created is None else sum(1 for e in mine[created:] if e["method"] == "GET")


def _check_fault_kinds(expect: Section, pipeline: ReliabilityDeployment) -> None:
    """For each kind of fault that fired on a create or a lookup: whose call it hit, and how that booking ended."""
    stack = pipeline.stack
    creates = {s: successful_creates(stack, s) for s in ("jada", "scc")}
    for service, method, mode, status, what in (
        ("jada", "GET", "status", 429, "429 burst on the calendar lookup (retried in the hook)"),
        ("jada", "POST", "status", 503, "503 burst on the calendar POST (retried in the hook)"),
        ("jada", "POST", "lose_answer", 201, "calendar POST created, then the answer was lost"),
        ("jada", "POST", "drop", None, "calendar POST: connection dropped before the work"),
        ("scc", "GET", "drop", None, "SCC lookup: connection dropped"),
        ("scc", "POST", "status", 503, "503 on the SCC POST (retried in the hook)"),
        ("scc", "POST", "status", 429, "429 on the SCC POST (retried in the hook)"),
        ("scc", "POST", "lose_answer", 201, "SCC POST created, then the answer was lost"),
        ("scc", "POST", "hang", 201, "SCC POST answered after 26 s, past the 20 s client timeout"),
    ):
        hits = [
            e for e in faulted(stack, service)
            if e["method"] == method and e["fault"] == mode and (mode != "status" or e["status"] == status)
        ]  # fmt: skip
        bookings = sorted({request_booking(service, e) for e in hits})
        ids = [b.removeprefix("boatsetter:") for b in bookings]
        exact = [len(pipeline.calendar_entries(b)) == 1 and len(pipeline.scc_events(b)) == 1 for b in ids]
        once = [creates["jada"][ext(b)] == 1 and creates["scc"][ext(b)] <= 1 for b in ids]
        expect.check(
            what, ", ".join(ids) or "no booking",
            "fired; the booking ends with exactly one entry and one event, each created once",
            f"fired {len(hits)}x; entries/events exactly one: {exact}; created once: {once}",
            bool(hits) and all(exact) and all(once),
        )  # fmt: skip


def _check_aws_faults(expect: Section, pipeline: ReliabilityDeployment) -> None:
    calls = pipeline.stack.aws.calls("cloudfront", "CreateInvalidation")
    refused = [c for c in calls if c.get("fault")]
    sessions = {b: session_id_of(pipeline.calendar_entries(b)[0]) for b, *_ in GUESTS}
    per_page = {b: len(pipeline.invalidations(s)) for b, s in sessions.items()}
    expect.check(
        "CloudFront TooManyInvalidationsInProgress x2", "invalidation step",
        "retried; exactly one invalidation per page",
        f"refused calls: {len(refused)}, CreateInvalidation calls: {len(calls)}, invalidations per page: {per_page}",
        len(refused) == 2 and set(per_page.values()) == {1},
    )  # fmt: skip
    for service, operation in (("s3", "PutObject"), ("dynamodb", "GetItem")):
        hits = [c for c in pipeline.stack.aws.calls(service, operation) if c.get("fault")]
        expect.check(
            f"{service} {operation} answered {'503' if service == 's3' else 'throttled'}", "AWS proxy",
            "retried by botocore; nothing lost", f"faulted calls: {len(hits)}", bool(hits),
        )  # fmt: skip


def _check_exactly_once(expect: Section, pipeline: ReliabilityDeployment, when: str) -> None:
    stack = pipeline.stack
    creates = {s: successful_creates(stack, s) for s in ("jada", "scc")}
    entries = {b: len(pipeline.calendar_entries(b)) for b in IDS}
    events = {b: len(pipeline.scc_events(b)) for b in IDS}
    expect.check(
        "no duplicate anywhere", f"all 8 bookings, {when}",
        "one calendar entry and one SCC event per booking; one successful POST per external id at each service",
        f"entries {sorted(Counter(entries.values()).items())}, events {sorted(Counter(events.values()).items())}, "
        f"calendar creates {sorted(Counter(creates['jada'][ext(b)] for b in IDS).items())}, "
        f"SCC creates {sorted(Counter(creates['scc'][ext(b)] for b in IDS).items())} (count: how many bookings)",
        set(entries.values()) == {1} and set(events.values()) == {1}
        and all(creates["jada"][ext(b)] == 1 and creates["scc"][ext(b)] == 1 for b in IDS),
    )  # fmt: skip
    mails = outbox_by_event(stack)
    bad_mail = {}
    for b in IDS:
        [event] = pipeline.scc_events(b)
        wanted = Counter({(c["email"], "invitation"): 1 for c in event["crew"] if c["email"]})
        if mails.get(event["event_id"], Counter()) != wanted:
            bad_mail[b] = dict(mails.get(event["event_id"], Counter()))
    expect.check(
        "no duplicate crew e-mail", f"SCC outbox, {when}",
        "one invitation per crew member with an address per event; nothing else",
        f"events whose mails differ: {bad_mail or 'none'}", not bad_mail,
    )  # fmt: skip
    versions: dict[str, set[str]] = {}
    for b in IDS:
        session_id = session_id_of(pipeline.calendar_entries(b)[0])
        page = pipeline.page(session_id)
        assert page is not None, f"{b}: no guest page at {session_id}"
        versions[b] = {i["caller_reference"] for i in pipeline.invalidations(session_id)}
        versions[b].discard(caller_reference(session_id, page_hash(page["html"])))
    raw = {b: len(pipeline.invalidations(session_id_of(pipeline.calendar_entries(b)[0]))) for b in IDS}
    expect.check(
        "exactly one invalidation per page version", f"CloudFront, {when}",
        "every invalidation of a page carries the CallerReference of its one version (CloudFront answers a repeat "
        "with the first invalidation; moto does not deduplicate, so repeats are counted here by reference)",
        f"invalidation requests per page: {sorted(Counter(raw.values()).items())} (count: pages); "
        f"references other than the page's version: {sum(len(v) for v in versions.values())}",
        all(not v for v in versions.values()) and all(n >= 1 for n in raw.values()),
    )  # fmt: skip
