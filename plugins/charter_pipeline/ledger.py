"""What the pipeline has done per booking, and what each booking needs next.

The ledger (DynamoDB, partition key ``booking_id``) is the pipeline's memory: the winning snapshot of every booking
seen, the id of every artifact made for it, and, per step, the fingerprint the step last completed for. A booking
is in sync when every step has completed for its current fingerprint; anything else is work. Keeping that per step
is what makes a rerun or a cleared task repeat nothing that is already done.

This module is pure: records in, decisions out. ``hooks/ledger.py`` does the DynamoDB I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from charter_pipeline.booking import Booking

if TYPE_CHECKING:
    from charter_pipeline.exports import Candidate, RawRow, RowProblem

# The pipeline's own bookkeeping item in the ledger table. Its key is longer than the 64 characters a Boatsetter
# booking id may have (CONTRACT.md section 3), so no booking can ever collide with it; tools that list the ledger
# recognise bookkeeping by the leading "#".
POLL_STATE_ID = "#poll-state: export files read and bookings owed work (pipeline bookkeeping, not a booking)"

# The last drift report of charter_reconcile (CONTRACT.md section 12), for the operator and the sandbox's inspector.
DRIFT_REPORT_ID = "#drift-report: the last charter_reconcile run's findings (pipeline bookkeeping, not a booking)"

# The per-booking steps that leave something in the outside world, in the order the DAG runs them. Financials
# are computed, not stored anywhere outside, so they are not a step of the ledger.
STEPS = ("calendar", "scc", "scrub", "page", "invalidation")
_step_fingerprints = itemgetter(*STEPS)

# How often the poll weighs a booking again, or a step does its work again, when a newer snapshot of it was
# recorded at the same moment (the ledger's conditional write refused theirs). Beyond that a step's task fails and
# Airflow's retry starts it afresh; each new snapshot needs a poll, so this is never reached in practice.
SNAPSHOT_ROUNDS = 3


# How a step's result (``LedgerRecord.step_results``, "what it last did, in words") marks the two outcomes the
# staff page tells apart from plain "done". Written and read only through the functions below, so the words a
# step writes can change without anything deciding on them.
_FAILED_RESULT = "failed"
_SKIPPED_RESULT = "skipped"


def failed_result(message: str) -> str:
    """A failed step's result: its error, as ``step_result_failed`` recognises it."""
    return f"{_FAILED_RESULT}: {message}"


def skipped_result(reason: str) -> str:
    """A step that completed by deciding there was nothing to do (no CloudFront distribution, say)."""
    return f"{_SKIPPED_RESULT}: {reason}"


def step_result_failed(result: str) -> bool:
    return result.startswith(_FAILED_RESULT)


def step_result_skipped(result: str) -> bool:
    return result.startswith(_SKIPPED_RESULT)


class BookingState(StrEnum):
    """What the pipeline last concluded for a booking (``LedgerRecord.state``), exactly as the ledger stores it.

    The poll writes PENDING (work owed) or one of the RECORDED states; the run summary writes PUBLISHED, CANCELLED
    or FAILED once the steps have run. A record read from the ledger holds the plain string; compare it with these.
    """

    PENDING = "pending"  # the poll decided the booking needs work; its steps have not all run yet
    PUBLISHED = "published"  # every step done for a charter
    CANCELLED = "cancelled"  # every step done for a booking that is no longer a charter
    FAILED = "failed"  # a step failed; later polls retry it
    RECORDED = "recorded"  # recorded without a more precise conclusion (kept for records written that way)
    # Recorded and never published. Re-reading the very same row can never change either conclusion: the status
    # stays what it was, and an ended charter stays ended.
    RECORDED_PAST = "recorded: past charter"
    RECORDED_NOT_A_CHARTER = "recorded: not a charter"

    @classmethod
    def never_published(cls, state: str) -> bool:
        """True for the states of a booking recorded and never to be published."""
        return state in (cls.RECORDED_PAST, cls.RECORDED_NOT_A_CHARTER)


class Action(StrEnum):
    """What a booking needs, as decided from its snapshot and its ledger record."""

    PUBLISH = "publish"  # a charter never published: make every artifact
    UPDATE = "update"  # a published booking whose snapshot changed, or a retry after a partial failure
    CANCEL = "cancel"  # a published booking that is no longer a charter
    UNCHANGED = "unchanged"  # every artifact already matches the snapshot
    RECORD_PAST = "record_past"  # a charter that ended before it was ever published: record, never publish
    RECORD_ONLY = "record_only"  # not a charter (inquiry, expired...) or cancelled before it was published

    @property
    def needs_work(self) -> bool:
        return self in (Action.PUBLISH, Action.UPDATE, Action.CANCEL)


@dataclass(frozen=True)
class LedgerRecord:
    """One booking's row in the ledger."""

    booking_id: str
    snapshot: dict[str, Any] | None = None  # Booking.to_dict() of the winning row
    order_key: list[Any] | None = None  # exports.snapshot_order of that row, JSON form
    fingerprint: str = ""
    status: str = ""  # Boatsetter status of the snapshot
    state: str = ""  # what the pipeline last concluded: a BookingState value ("" before the poll decides)
    session_id: str = ""
    calendar_id: str = ""
    scc_event_id: str = ""
    calendar_hash: str = ""  # hash of the calendar payload last sent (a rerun with the same payload sends nothing)
    scc_hash: str = ""  # same for the SCC event, so nothing re-e-mails crew unless what they see changed
    page_hash: str = ""  # hash of the guest page last uploaded
    invalidated_hash: str = ""  # page hash the last CloudFront invalidation was made for
    invalidation_id: str = ""
    step_fingerprints: dict[str, str] = field(default_factory=dict)  # step -> fingerprint it last completed for
    step_results: dict[str, str] = field(default_factory=dict)  # step -> what it last did, in words
    # step -> the kind of answer its last failure got (publishing.desk_alerts.FailureKind), until it completes
    step_failures: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    last_error: str = ""
    first_seen_at: str = ""
    updated_at: str = ""
    source: str = ""  # "file#row" of the winning snapshot, for the operator
    row_digest: str = ""  # exports.RawRow.digest of the row the snapshot was read from ("" if not from CSV)
    # Aftercare (CONTRACT.md section 11), written by hooks/ledger.py's record_alert_sent, record_crew_answers and
    # record_page_retiring/record_page_retired only, never by the poll or the per-booking steps.
    alerts_sent: frozenset[str] = frozenset()  # alert ids the desk's receiver answered 2xx (or logged): never again
    crew_alert_open: str = ""  # id of the last crew_declined/crew_pending alert delivered and not yet all-cleared
    stuck_alert_open: str = ""  # id of the last publish_failed alert delivered and not yet followed by a recovery
    crew_answers: str = ""  # JSON list of {name, role, response} as SCC last answered (no e-mail addresses)
    crew_checked_at: str = ""  # when the aftercare DAG last read those answers
    retired_hash: str = ""  # hash of the neutral notice the guest page was (being) replaced with: set = retiring
    retired_at: str = ""  # when the retired page's invalidation was made: the retirement is complete

    @property
    def booking(self) -> Booking | None:
        return Booking.from_dict(self.snapshot) if self.snapshot else None

    @property
    def retired(self) -> bool:
        """The guest page is retired or being retired: nothing may publish it again (CONTRACT.md section 11)."""
        return bool(self.retired_hash or self.retired_at)

    @property
    def published(self) -> bool:
        """True once anything exists outside for this booking (so a status change must be carried out there)."""
        return bool(self.calendar_id or self.scc_event_id or self.page_hash)

    def in_sync(self, fingerprint: str | None = None) -> bool:
        """Every step has completed for ``fingerprint`` (default: the recorded snapshot's)."""
        wanted = fingerprint or self.fingerprint
        if not wanted:
            return False
        # One C-level lookup of every step rather than a loop: the poll asks this of every booking it reads.
        try:
            return _step_fingerprints(self.step_fingerprints) == (wanted,) * len(STEPS)
        except KeyError:  # a step that never completed
            return False

    def pending_steps(self, fingerprint: str | None = None) -> list[str]:
        wanted = fingerprint or self.fingerprint
        return [step for step in STEPS if self.step_fingerprints.get(step) != wanted]

    def summary(self) -> RecordSummary:
        """The record as ``LedgerHook.get_summaries`` reads it."""
        return RecordSummary(
            self.booking_id,
            self.row_digest,
            self.state,
            self.fingerprint,
            tuple(self.step_fingerprints.get(step, "") for step in STEPS),
            json.dumps(self.order_key) if self.order_key is not None else "",
        )


class RecordSummary(NamedTuple):
    """The part of a booking's record that tells whether an export row is one the poll has read and settled.

    The poll reads it for every booking an export names, a full history's worth every poll, so it is a handful
    of short attributes (``LedgerHook.get_summaries``); whole records are read only for the bookings to decide.
    """

    booking_id: str
    row_digest: str  # exports.RawRow.digest of the row the recorded snapshot was read from
    state: str
    fingerprint: str
    step_fingerprints: tuple[str, ...]  # per step of STEPS, in order: "" for a step that never completed
    # The recorded snapshot's order key as the ledger stores it, JSON text ("" for none): read only for a booking
    # that has other rows beside its settled one, so it is not decoded for all the others.
    order_key_text: str

    def order_key(self) -> list[Any]:
        """The recorded snapshot's order key (``LedgerRecord.order_key``); [] for none."""
        return list(json.loads(self.order_key_text)) if self.order_key_text else []

    def in_sync(self) -> bool:
        """Every step has completed for the recorded snapshot (``LedgerRecord.in_sync``)."""
        return bool(self.fingerprint) and self.step_fingerprints == (self.fingerprint,) * len(STEPS)

    @property
    def recorded_only(self) -> bool:
        """Recorded and never to be published, with nothing in sync outside: the run summary's ``recorded_only``."""
        return BookingState.never_published(self.state) and not self.in_sync()


def settled(summary: RecordSummary | None, row_digest: str) -> bool:
    """Whether an export row needs no reading at all: it is the very row the recorded snapshot was read from
    (same digest, which also stands for the code and the time zone it was read with), and nothing is owed for
    that snapshot.

    For such a row ``decide`` could only answer UNCHANGED (every step is done) or record it again
    (``BookingState.never_published``). A full-history export is mostly such rows, every poll, so the poll skips them
    without parsing (issue 9's intake benchmark). Anything else, a failed step included, is read and decided.
    """
    return (
        summary is not None
        and bool(row_digest)
        and summary.row_digest == row_digest
        and bool(summary.order_key_text)
        and (BookingState.never_published(summary.state) or summary.in_sync())
    )


@dataclass
class Sifted:
    """A poll's export rows against the ledger: what must be decided, and what was read again as it stands."""

    newest: dict[str, Candidate] = field(default_factory=dict)  # per booking, its newest snapshot to decide
    settled: set[str] = field(default_factory=set)  # bookings whose newest row is the settled recorded one
    problems: list[list[RowProblem]] = field(default_factory=list)  # per file: rows to quarantine
    unparsed: list[int] = field(default_factory=list)  # per file: settled rows left unparsed


def sift(
    files: Sequence[tuple[str, datetime, Sequence[RawRow]]],
    summaries: Mapping[str, RecordSummary],
    tz: ZoneInfo,
    *,
    progress: Callable[[Sequence[RawRow], str], Iterable[RawRow]] | None = None,
) -> Sifted:
    """Parse the rows of ``files`` (uri, last-modified time, rows) that may change something, and pick each
    booking's newest snapshot (CONTRACT.md section 3's order), exactly as if every row had been parsed.
    ``summaries`` holds what the ledger records of the bookings the rows name.

    A ``settled`` row is not parsed: it is placed in the order by its recorded Updated At. When it is its
    booking's newest row, the booking is settled and nothing is decided for it; when another row is newer, that
    row is decided as usual. ``progress`` wraps each file's rows as they are parsed (for a progress line).
    """
    from charter_pipeline.exports import (
        SnapshotOrder,
        Source,
        newest_per_booking,
        parse_rows,
        placed_order,
        snapshot_order,
    )

    get = summaries.get
    held: dict[str, tuple[int, RawRow]] = {}  # booking -> (file, row) of its settled row (the later, if two)

    def placed(file: int, row: RawRow) -> SnapshotOrder:
        uri, last_modified, _ = files[file]
        return placed_order(summaries[row.booking_id].order_key(), Source(uri, last_modified, row.row))

    sifted = Sifted()
    candidates: list[Candidate] = []
    for file, (uri, last_modified, rows) in enumerate(files):
        unread: list[RawRow] = []
        for row in rows:
            summary = get(row.booking_id)
            # The digest comparison first: it turns away every new or changed row at the cost of one lookup.
            if summary is None or summary.row_digest != row.digest or not settled(summary, row.digest):
                unread.append(row)
                continue
            earlier = held.setdefault(row.booking_id, (file, row))
            if earlier[1] is not row and placed(file, row) > placed(*earlier):
                held[row.booking_id] = (file, row)
        parsed = progress(unread, uri) if progress else unread
        found, problems = parse_rows(uri, parsed, tz, last_modified=last_modified)
        candidates += found
        sifted.problems.append(problems)
        sifted.unparsed.append(len(rows) - len(unread))
    newest = newest_per_booking(candidates)
    for booking_id in held.keys() & newest.keys():
        # The booking has other rows too (a later snapshot, say): the newest of all its rows wins.
        if placed(*held[booking_id]) > snapshot_order(*newest[booking_id]):
            del newest[booking_id]
        else:
            del held[booking_id]
    sifted.newest, sifted.settled = newest, set(held)
    return sifted


def decide(booking: Booking, fingerprint: str, record: LedgerRecord | None, now: datetime) -> Action:
    """What ``booking`` (whose fingerprint is ``fingerprint``) needs, given what the ledger says was done.

    CONTRACT.md section 3: a charter that has already ended when first seen is recorded and never published (that
    would e-mail crew about a past trip). We extend that to a charter that ended before it could ever be published
    (say it kept failing): publishing it late helps nobody.
    """
    if record is not None and record.in_sync(fingerprint):
        return Action.UNCHANGED
    if record is not None and record.retired:
        # CONTRACT.md section 11: a retired guest page is never published again, whatever an export says; a
        # retired charter has ended, so like one that ended before it was published it is recorded, nothing more.
        return Action.RECORD_PAST
    published = record is not None and record.published
    if booking.is_charter:
        if published:
            return Action.UPDATE
        if booking.end <= now:
            return Action.RECORD_PAST
        return Action.PUBLISH
    # Cancelled, or a status that is not (or no longer) a charter: CONTRACT.md section 3 counts a published
    # booking turning to anything but approved/in progress/completed as a cancellation.
    return Action.CANCEL if published else Action.RECORD_ONLY


def with_snapshot(
    record: LedgerRecord | None,
    booking: Booking,
    fingerprint: str,
    order_key: list[Any],
    source: str,
    now: datetime,
    row_digest: str = "",
    state: str | None = None,
) -> LedgerRecord:
    """The record after a newer snapshot of its booking was read. Artifact ids and step progress are kept, and
    so is the state unless ``state`` is given."""
    stamp = now.isoformat()
    base = record or LedgerRecord(booking_id=booking.booking_id, first_seen_at=stamp)
    return replace(
        base,
        state=base.state if state is None else state,
        snapshot=booking.to_dict(),
        order_key=order_key,
        fingerprint=fingerprint,
        status=booking.status,
        source=source,
        updated_at=stamp,
        row_digest=row_digest,
    )


def is_newer(order_key: list[Any], record: LedgerRecord | None) -> bool:
    """True when a row with ``order_key`` should replace the recorded snapshot (CONTRACT.md section 3)."""
    if record is None or record.order_key is None:
        return True
    # Order keys are flat JSON lists (exports.order_key_to_json); lists compare element by element.
    return list(order_key) > list(record.order_key)
