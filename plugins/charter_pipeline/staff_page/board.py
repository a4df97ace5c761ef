"""What the "Charter bookings" page shows, from ledger records: pure data in, rows out.

Each artifact of a booking (ledger.STEPS) is in one of a few states, said in the operator's words:
- ``done``: the step completed for the booking's current snapshot (its result says what it did);
- ``skipped``: completed by deciding there was nothing to do (no CloudFront distribution configured, say);
- ``failed``: the step's last attempt failed; the next poll retries it (the error is shown);
- ``pending``: the snapshot changed or the step never ran yet; the next run does it;
- ``not needed``: the booking is recorded only (past, or not a charter) and nothing is published for it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from charter_pipeline.booking import KNOWN_STATUSES, Booking
from charter_pipeline.crew import default_crew_note
from charter_pipeline.ledger import (
    STEPS,
    BookingState,
    LedgerRecord,
    step_result_failed,
    step_result_skipped,
)


class ArtifactState(StrEnum):
    """The state of one artifact on the page (the module's docstring says what each means)."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    PENDING = "pending"
    NOT_NEEDED = "not needed"


ARTIFACT_LABELS = {
    "calendar": "Calendar",
    "scc": "SCC",
    "scrub": "Scrub",
    "page": "Page",
    "invalidation": "Invalidation",
}
# How far ahead the page looks when no end date is asked for.
DEFAULT_DAYS = 60
# The widest range one page view may ask for (the month index reads one item per month).
MAX_DAYS = 731
# Besides Boatsetter's statuses, "failed" selects bookings with an error.
STATUS_CHOICES = ("failed", *sorted(KNOWN_STATUSES - {"canceled"}))


class FilterError(ValueError):
    """A filter the page cannot use; the message names the parameter."""


@dataclass(frozen=True)
class Filters:
    """The page's filters: local dates (inclusive) and an optional status."""

    start: date
    end: date
    status: str = ""

    def window(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The instants [first local midnight, midnight after the last day) in ``tz``."""
        return (
            datetime.combine(self.start, time(), tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time(), tzinfo=tz),
        )

    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "status": self.status}


def parse_filters(raw_from: str | None, raw_to: str | None, raw_status: str | None, today: date) -> Filters:
    """Filters from the query string; blank means today, today + DEFAULT_DAYS, every status."""
    try:
        start = date.fromisoformat(raw_from) if raw_from else today
    except ValueError:
        raise FilterError("from: expected a date as YYYY-MM-DD") from None
    try:
        end = date.fromisoformat(raw_to) if raw_to else start + timedelta(days=DEFAULT_DAYS)
    except ValueError:
        raise FilterError("to: expected a date as YYYY-MM-DD") from None
    if end < start:
        raise FilterError("to: must not be before from")
    if (end - start).days > MAX_DAYS:
        raise FilterError(f"to: at most {MAX_DAYS} days after from")
    status = (raw_status or "").strip().casefold()
    if status == "canceled":
        status = "cancelled"
    if status and status not in STATUS_CHOICES:
        raise FilterError(f"status: one of {', '.join(STATUS_CHOICES)}")
    return Filters(start, end, status)


@dataclass(frozen=True)
class Artifact:
    step: str
    label: str
    state: ArtifactState
    detail: str  # the step's last result, in words ("" when it never ran)


@dataclass(frozen=True)
class CrewAnswer:
    name: str
    role: str
    response: str  # pending, accepted, declined (CONTRACT.md section 11)


@dataclass(frozen=True)
class CharterRow:
    booking_id: str
    starts_at: str  # ISO 8601, local offset: the sort key
    local_date: str
    local_time: str
    boat: str
    guest: str  # first name and last initial, never more
    status: str
    state: str  # what the pipeline last concluded
    artifacts: list[Artifact]
    crew: list[CrewAnswer] | None  # None: no answers stored (crew_note says why)
    guest_url: str
    error: str
    crew_note: str = ""  # what the Crew cell says without answers: "not known yet", or why there is no crew
    roster_note: str = ""  # the default crew sails although the roster names other boats (crew.default_crew_note)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuarantinedRow:
    source: str
    row: int | None
    reason: str
    quarantined_at: str  # as stored: ISO 8601 in UTC
    quarantined_local: str = ""  # the same instant in the page's time zone, as the page shows it


@dataclass
class Board:
    filters: Filters
    timezone: str
    charters: list[CharterRow] = field(default_factory=list)
    failed: list[CharterRow] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "filters": self.filters.query(),
            "timezone": self.timezone,
            "charters": [row.to_json() for row in self.charters],
            "failed": [row.to_json() for row in self.failed],
            "quarantined": [asdict(row) for row in self.quarantined],
        }


def artifact_state(record: LedgerRecord, step: str) -> Artifact:
    """The state of one step's artifact for the record's current snapshot."""
    result = record.step_results.get(step, "")
    completed = bool(record.fingerprint) and record.step_fingerprints.get(step) == record.fingerprint
    if completed:
        state = ArtifactState.SKIPPED if step_result_skipped(result) else ArtifactState.DONE
    elif step_result_failed(result):
        state = ArtifactState.FAILED
    elif BookingState.never_published(record.state) and not record.published:
        state = ArtifactState.NOT_NEEDED
    else:
        state = ArtifactState.PENDING
    return Artifact(step, ARTIFACT_LABELS[step], state, result)


def crew_answers(raw: str) -> list[CrewAnswer] | None:
    """The crew's answers as aftercare stored them (JSON list), or None when not known."""
    if not raw:
        return None
    try:
        answers = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(answers, list):
        return None
    return [
        CrewAnswer(str(a.get("name", "")), str(a.get("role", "")), str(a.get("response", "")))
        for a in answers
        if isinstance(a, Mapping)
    ]


def crew_note(booking: Booking) -> str:
    """What the Crew cell says when no answers are stored: a cancelled charter or an inquiry has no crew to ask
    (aftercare asks only for charters that sail, CONTRACT.md section 11); a charter's crew is asked later."""
    if booking.is_cancelled:
        return "no crew: cancelled"
    if not booking.is_charter:
        return f"no crew: {booking.status}, not a charter"
    return "not known yet"


def local_instant(stored: str, tz: ZoneInfo) -> str:
    """A stored ISO 8601 instant as the page shows times (its local date and time), or as stored if unreadable."""
    try:
        instant = datetime.fromisoformat(stored)
    except ValueError:
        return stored
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(tz).strftime("%a %d %b %Y %H:%M")


def charter_row(
    record: LedgerRecord,
    tz: ZoneInfo,
    guest_base_url: str,
    crew: Mapping[str, str] | None = None,
    known_boats: Collection[str] = (),
) -> CharterRow | None:
    """The page's row for a record with a snapshot (None without one)."""
    booking = record.booking
    if booking is None:
        return None
    local = booking.start.astimezone(tz)
    artifacts = [artifact_state(record, step) for step in STEPS]
    page_published = bool(record.page_hash and record.session_id)
    error = record.last_error if any(a.state is ArtifactState.FAILED for a in artifacts) or not record.in_sync() else ""
    return CharterRow(
        booking_id=record.booking_id,
        starts_at=local.isoformat(),
        local_date=local.strftime("%a %d %b %Y"),
        local_time=local.strftime("%H:%M"),
        boat=booking.boat,
        guest=booking.short_name,
        status=booking.status,
        state=record.state,
        artifacts=artifacts,
        crew=crew_answers((crew or {}).get(record.booking_id, "")),
        guest_url=f"{guest_base_url}{record.session_id}" if page_published else "",
        error=error,
        crew_note=crew_note(booking),
        roster_note=default_crew_note(booking.boat, known_boats) if booking.is_charter else "",
    )


def quarantined_row(record: Mapping[str, Any], tz: ZoneInfo) -> QuarantinedRow:
    row = record.get("row")
    quarantined_at = str(record.get("quarantined_at", ""))
    return QuarantinedRow(
        source=str(record.get("source") or record.get("uri") or ""),
        row=row if isinstance(row, int) and not isinstance(row, bool) else None,
        reason=str(record.get("reason", "")),
        quarantined_at=quarantined_at,
        quarantined_local=local_instant(quarantined_at, tz) if quarantined_at else "",
    )


def build_board(
    filters: Filters,
    tz: ZoneInfo,
    guest_base_url: str,
    in_window: Iterable[LedgerRecord],
    backlog: Iterable[LedgerRecord] = (),
    quarantine: Sequence[Mapping[str, Any]] = (),
    crew: Mapping[str, str] | None = None,
    known_boats: Collection[str] = (),
) -> Board:
    """The page: charters in the window (filtered, sorted by departure), failed bookings, quarantined rows.
    ``known_boats``: the boats crew_roster names, to say which charters sail with the default crew by mistake."""
    board = Board(filters, str(tz))
    rows = [
        row for record in in_window if (row := charter_row(record, tz, guest_base_url, crew, known_boats)) is not None
    ]
    wanted = filters.status
    if wanted == "failed":
        rows = [row for row in rows if row.error]
    elif wanted:
        rows = [row for row in rows if row.status == wanted]
    board.charters = sorted(rows, key=lambda row: (row.starts_at, row.booking_id))
    failed = {row.booking_id: row for row in rows if row.error}
    for record in backlog:
        row = charter_row(record, tz, guest_base_url, crew, known_boats)
        if row is not None and row.error:
            failed.setdefault(row.booking_id, row)
    board.failed = sorted(failed.values(), key=lambda row: (row.starts_at, row.booking_id))
    board.quarantined = [quarantined_row(record, tz) for record in quarantine]
    return board
