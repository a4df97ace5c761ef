"""The staff page's month index (one item ``#charters starting in YYYY-MM`` a month: booking id -> UTC start).

The ledger's only key is ``booking_id`` (CONTRACT.md section 2), so "charters starting between two dates" cannot be
queried, and a Scan costs the whole history: the page reads the few month items its dates cover, then the bookings
they name in batches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from charter_pipeline.hooks.ledger import BATCH_GET

if TYPE_CHECKING:
    from charter_pipeline.hooks.ledger import LedgerHook
    from charter_pipeline.ledger import LedgerRecord
    from charter_pipeline.stores.booking_records import BookingRecords
    from charter_pipeline.stores.poll_state import PollStateStore

# The month items ("#" like POLL_STATE_ID: longer than any booking id).
CHARTER_INDEX_PREFIX = "#charters starting in "
# Booking ids per UpdateItem: 40 names of up to 64 characters stay well inside the 4 KB expression limit.
_INDEX_NAMES_PER_CALL = 40


class CharterIndex:
    """Bookings by the month their charter starts in, written by the poll, read by the staff page."""

    def __init__(self, hook: LedgerHook, records: BookingRecords, poll_state: PollStateStore) -> None:
        self.hook, self.records, self.poll_state = hook, records, poll_state

    def index_charters(self, records: Iterable[LedgerRecord]) -> int:
        """Note each record's booking under the month its charter starts in; returns the number of calls made.

        Each booking is one attribute of its month's item (name: booking id, value: UTC start), set without reading
        first, so concurrent writers never overwrite each other; a booking that moved to another month stays behind
        as a stale name, which the page drops when the record's own start disagrees."""
        by_month: dict[str, dict[str, str]] = {}
        for record in records:
            booking = record.booking
            if booking is not None:
                start = booking.start.astimezone(UTC)
                by_month.setdefault(start.strftime("%Y-%m"), {})[record.booking_id] = start.isoformat()
        calls = 0
        for month, starts in sorted(by_month.items()):
            entries = sorted(starts.items())
            for first in range(0, len(entries), _INDEX_NAMES_PER_CALL):
                calls += 1
                self.hook.update(charter_index_id(month), dict(entries[first : first + _INDEX_NAMES_PER_CALL]))
        return calls

    def charters_starting(self, start: datetime, end: datetime) -> tuple[list[LedgerRecord], dict[str, str]]:
        """Records of the bookings whose charter starts in [start, end), as the month index names them, and
        each one's crew answers as stored (JSON text; absent when not known).

        Outside calls: one BatchGetItem for the month items (up to 100 months), then one per 100 bookings.
        """
        low, high = start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()
        named: set[str] = set()
        for item in self.hook.batch_get([charter_index_id(month) for month in index_months(start, end)]):
            named.update(name for name, value in item.items() if name != "booking_id" and low <= str(value) < high)
        # The record's own start decides (a stale index name of a moved charter is dropped); read from the
        # snapshot alone, without building the whole Booking.
        records = self.records.get_many(named).values()
        found = [r for r in records if r.snapshot and start <= datetime.fromisoformat(r.snapshot["start"]) < end]
        return found, {r.booking_id: r.crew_answers for r in found if r.crew_answers}

    def backlog_records(self, limit: int = 200) -> tuple[list[LedgerRecord], dict[str, str]]:
        """Records of the bookings the poll state says are still owed work (failed, or beyond a run's maximum),
        and their crew answers as ``charters_starting`` gives them.

        Outside calls: one GetItem reading only the backlog, then one BatchGetItem per 100 bookings.
        """
        records = list(self.records.get_many(self.poll_state.backlog()[:limit]).values())
        return records, {r.booking_id: r.crew_answers for r in records if r.crew_answers}


def charter_index_id(month: str) -> str:
    """The key of the index item for charters starting in ``month`` (YYYY-MM, UTC)."""
    return f"{CHARTER_INDEX_PREFIX}{month} (pipeline bookkeeping, not a booking)"


def index_months(start: datetime, end: datetime) -> list[str]:
    """The UTC months (YYYY-MM) that [start, end) touches, at most 100 (one BatchGetItem)."""
    months: list[str] = []
    year, month = start.astimezone(UTC).year, start.astimezone(UTC).month
    last = end.astimezone(UTC)
    while (year, month) <= (last.year, last.month) and len(months) < BATCH_GET:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
