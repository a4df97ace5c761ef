"""What the pipeline has done per booking, and what each booking needs next.

The ledger (DynamoDB, partition key ``booking_id``) is the pipeline's memory: the winning snapshot of every booking
seen, the id of every artifact made for it, and, per step, the fingerprint the step last completed for. A booking
is in sync when every step has completed for its current fingerprint; anything else is work. Keeping that per step
is what makes a rerun or a cleared task repeat nothing that is already done.

This module is pure: records in, decisions out. ``hooks/ledger.py`` does the DynamoDB I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from charter_pipeline.booking import Booking

# The pipeline's own bookkeeping item in the ledger table. Its key is longer than the 64 characters a Boatsetter
# booking id may have (CONTRACT.md section 3), so no booking can ever collide with it; tools that list the ledger
# recognise bookkeeping by the leading "#".
POLL_STATE_ID = "#poll-state: export files read and bookings owed work (pipeline bookkeeping, not a booking)"

# The per-booking steps that leave something in the outside world, in the order the DAG runs them. Financials
# are computed, not stored anywhere outside, so they are not a step of the ledger.
STEPS = ("calendar", "scc", "scrub", "page", "invalidation")


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
    """One booking's row in the ledger. Unknown attributes of the stored item are kept in ``extra``."""

    booking_id: str
    snapshot: dict[str, Any] | None = None  # Booking.to_dict() of the winning row
    order_key: list[Any] | None = None  # exports.snapshot_order of that row, JSON form
    fingerprint: str = ""
    status: str = ""  # Boatsetter status of the snapshot
    state: str = ""  # what the pipeline last concluded: see Outcome in steps
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
    attempts: int = 0
    last_error: str = ""
    first_seen_at: str = ""
    updated_at: str = ""
    source: str = ""  # "file#row" of the winning snapshot, for the operator

    @property
    def booking(self) -> Booking | None:
        return Booking.from_dict(self.snapshot) if self.snapshot else None

    @property
    def published(self) -> bool:
        """True once anything exists outside for this booking (so a status change must be carried out there)."""
        return bool(self.calendar_id or self.scc_event_id or self.page_hash)

    def in_sync(self, fingerprint: str | None = None) -> bool:
        """Every step has completed for ``fingerprint`` (default: the recorded snapshot's)."""
        wanted = fingerprint or self.fingerprint
        if not wanted:
            return False
        done = self.step_fingerprints
        # One list comparison rather than a generator: the poll asks this of every booking it reads.
        return [done.get(step) for step in STEPS] == [wanted] * len(STEPS)

    def pending_steps(self, fingerprint: str | None = None) -> list[str]:
        wanted = fingerprint or self.fingerprint
        return [step for step in STEPS if self.step_fingerprints.get(step) != wanted]


def decide(booking: Booking, fingerprint: str, record: LedgerRecord | None, now: datetime) -> Action:
    """What ``booking`` (whose fingerprint is ``fingerprint``) needs, given what the ledger says was done.

    CONTRACT.md section 3: a charter that has already ended when first seen is recorded and never published (that
    would e-mail crew about a past trip). We extend that to a charter that ended before it could ever be published
    (say it kept failing): publishing it late helps nobody.
    """
    if record is not None and record.in_sync(fingerprint):
        return Action.UNCHANGED
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
) -> LedgerRecord:
    """The record after a newer snapshot of its booking was read. Artifact ids and step progress are kept."""
    stamp = now.isoformat()
    base = record or LedgerRecord(booking_id=booking.booking_id, first_seen_at=stamp)
    return replace(
        base,
        snapshot=booking.to_dict(),
        order_key=order_key,
        fingerprint=fingerprint,
        status=booking.status,
        source=source,
        updated_at=stamp,
    )


def is_newer(order_key: list[Any], record: LedgerRecord | None) -> bool:
    """True when a row with ``order_key`` should replace the recorded snapshot (CONTRACT.md section 3)."""
    if record is None or record.order_key is None:
        return True
    # Order keys are flat JSON lists (exports.order_key_to_json); lists compare element by element.
    return list(order_key) > list(record.order_key)
